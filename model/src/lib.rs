//! cairn-model: what the cluster replicates and the pure rules over it. The replicated
//! [`Command`] set and its replies, the records the state machine stores, and the checks that
//! need no I/O (workflow definitions and legal transitions, task graphs, record limits, merge
//! patches, etcd-style transaction compares). No Raft, no storage, no gRPC: the state machine
//! (cairn-storage), the server (cairn-server) and the Rust client (cairn-client, for the
//! enums and references it shares instead of mirroring them) build on these types.
//!
//! - [`command`]: a log entry's payload ([`Request`]), the command set and typed replies.
//! - [`workflow`], [`checkpoint`], [`coord`], [`txn`], [`kv`]: each domain's commands, records
//!   and rules.
//! - [`step`]: atomic steps, a batch of workflow changes, task upserts, variable updates and
//!   checkpoints applied all or nothing.
//! - [`alarm`]: etcd's alarms (NOSPACE) and which commands a standing one holds back.
//! - [`auth`]: users, roles, permissions and the pure permission check.
//! - [`codec`]: the deterministic binary encoding of all of the above.
//! - [`input`]: the checks a request meets before it is proposed ([`Request::check_input`]),
//!   for a client's request and for one forwarded to the leader alike.

pub mod alarm;
pub mod auth;
pub mod checkpoint;
pub mod codec;
pub mod command;
pub mod coord;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
pub mod input;
pub mod kv;
pub mod step;
pub mod txn;
pub mod workflow;

pub use command::{Command, CommandError, Request, Response, Session};
pub use input::{InputError, InputLimits};
pub use kv::KvRecord;
