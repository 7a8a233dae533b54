//! Generated code for the node-to-node protocol (proto/peer.proto).

#![allow(clippy::all, missing_docs)]

tonic::include_proto!("cairn.peer.v1");
