//! The node's Raft handle: openraft over Cairn's types and state machine. Its own module so
//! every part of the server can name it without importing the startup code.

use cairn_raft::TypeConfig;
use cairn_storage::StateMachineStore;

pub type CairnRaft = openraft::Raft<TypeConfig, StateMachineStore>;
