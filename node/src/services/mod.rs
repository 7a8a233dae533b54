//! Client-facing gRPC services.

pub mod admin;
pub mod kv;
