//! Harness for real multi-process Cairn clusters: starts `cairn serve` processes on free
//! loopback ports in a temporary directory, kills and restarts them, and waits on cluster
//! conditions with deadlines. Dropping a [`Cluster`] kills every process it started.

pub mod chaos;
pub mod cluster;
pub mod linearizability;
pub mod net;
pub mod ops;
pub mod ports;
pub mod powerloss;
mod wait;

pub use cluster::{Cluster, ClusterOptions, NodeProc};
pub use wait::{Deadline, now_ms, wait_until};
