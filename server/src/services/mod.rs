//! Client-facing gRPC services.

pub mod admin;
pub mod checkpoint;
pub mod coord;
mod fields;
pub mod gateway;
pub mod keep_alive;
pub mod kv;
mod kv_convert;
pub mod step;
pub mod watch;
pub mod workflow;
