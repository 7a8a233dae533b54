//! TLS on the node's three ports (client gRPC, peer gRPC, HTTP), on rustls.
//!
//! tonic's own `ServerTlsConfig` is fixed at start, so the server side is our acceptor: each
//! new connection takes the current rustls config, and the config is rebuilt when its PEM files
//! change on disk, so certificates rotate without a restart (connections already open keep the
//! certificate they started with).
//!
//! - [`config`]: the etcd-named flags, `CAIRN_*` env and `[tls]` TOML table -> [`TlsConfig`].
//! - [`reload`]: a value built from files, rebuilt when they change ([`Reloading`]).
//! - [`pem`]: reading certificates and keys, and the rustls server configs.
//! - [`incoming`]: accepted, handshaken TLS connections as the stream tonic serves.
//! - [`node`]: all of the above for one node ([`NodeTls`]).
//! - [`dial`]: this node's outgoing TLS: to peers ([`PeerDialer`]) and to other members' client
//!   ports ([`ClientDialer`]).

pub mod config;
pub mod dial;
pub mod incoming;
pub mod node;
pub mod pem;
pub mod reload;

pub use config::{TlsArgs, TlsConfig, TlsFile};
pub use dial::{ClientDialer, PeerDialer};
pub use node::{NodeTls, ServerTls};
pub use reload::Reloading;
