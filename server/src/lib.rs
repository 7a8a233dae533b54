//! cairn-server: one Cairn node. [`serve`] opens storage, starts Raft, serves the peer port
//! (cairn-raft's transport) and the client port (the Cairn API, the etcd v3 API, admin, health)
//! and runs the leader's background duties until its shutdown future resolves.
//!
//! A client request's path through this crate:
//! - `auth/`: the client port's auth layer names the caller (token or certificate) and
//!   whether the method is open to them, while auth is on;
//! - `services/` (Cairn API) or `etcd/` (etcd v3 API): validate the request and build a
//!   replicated command, or read through cairn-storage's readers;
//! - `services/gateway.rs`: stamp the idempotency session, check the request's input
//!   (`input`: the node's limits for cairn-model's `Request::check_input`, which the peer port
//!   runs again on a forwarded write) and hand the command to cairn-raft's `Proposer`
//!   (propose as leader, forward otherwise); it also authorizes the caller for the command
//!   and stamps the user for apply's second check;
//! - `error.rs`: the server's one error type, wrapping every layer's; `status/`: its one map
//!   to `tonic::Status` for the Cairn API and one for the etcd API.
//!
//! Beside the request path: `config` (flags, env, TOML), `tls` (TLS on every port, reloading
//! certificates), `ops`, `health`, `http` and `metrics`
//! (operations), `lease_keeper`, `checkpoint_retention`, `workflow_retention`, `cluster_id` and
//! `cluster_settings`, and on every member `quota` (raises NOSPACE)
//! (duties of the leader, each proposing commands on a timer: `leader_tick`), `raft_watch` (role changes).

mod auth;
mod bootstrap;
mod checkpoint_retention;
mod cluster_id;
mod cluster_settings;
pub mod config;
mod conn_limit;
mod coord_config;
mod error;
mod etcd;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod health;
mod http;
pub mod input;
mod leader_tick;
mod lease_keeper;
mod metrics;
mod ops;
mod quota;
mod raft_handle;
mod raft_watch;
mod server;
mod services;
mod shutdown;
mod status;
pub mod tls;
mod watch_config;
mod workflow_retention;

pub use config::{NodeConfig, ServeArgs};
pub use server::serve;
pub use shutdown::Shutdown;
