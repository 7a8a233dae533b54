//! Coordination primitives replicated through the log: leases (TTL decided by the leader's
//! clock, applied as commands), distributed locks with FIFO waiters and fencing tokens, and
//! leader elections with terms. Tokens and terms are the revision of the entry that granted
//! them, so they strictly increase, and a write carrying a stale one (a [`Fence`]) is refused
//! by the state machine itself.

pub mod command;
mod input;
pub mod record;

pub use command::{CoordCommand, CoordError, CoordReply, Fence, LeaseChoice};
pub use record::{Attachment, ElectionRecord, Holder, LeaseRecord, LockRecord};
