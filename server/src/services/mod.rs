//! Client-facing gRPC services.

pub mod admin;
pub mod checkpoint;
pub mod coord;
pub mod gateway;
pub mod kv;
pub mod watch;
pub mod workflow;
