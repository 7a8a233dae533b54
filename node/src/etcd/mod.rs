//! The etcd v3 API on the client port, backed by the same replicated state machine as
//! Cairn's own services (see docs/etcd-compat.md for the subset and every difference).

pub mod header;
pub mod kv;
mod kv_convert;
pub mod recipes;
pub mod store;
pub mod watch;
