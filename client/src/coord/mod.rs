//! Coordination: leases, distributed locks with fencing tokens, and leader elections, kept by
//! the cluster as replicated state.
//!
//! - [`Client::lock`] / [`Client::try_lock`] give a [`LockGuard`]: its lease is kept alive in
//!   the background, [`LockGuard::lost`] fires when it could not be, and dropping it releases
//!   the lock. Locks are not re-entrant: the same owner asking again gets the same grant.
//! - [`Client::campaign`] waits until elected and gives a [`Leadership`] (term, `is_leader`,
//!   proclaim, resign on drop); [`Client::observe`] follows a leader's changes.
//! - Tokens and terms strictly increase with every grant. Pass them as a [`Fence`] with
//!   [`Client::fenced`] and the cluster refuses the write ([`crate::Error::StaleFence`]) once
//!   the lock or leadership has moved on.
//! - Raw leases: [`Client::grant_lease`], [`Client::keep_alive`], [`Client::revoke_lease`],
//!   [`Client::lease_time_to_live`].

mod election;
mod fenced;
mod keeper;
mod lease;
mod lock;
mod types;
mod write;

pub use election::{CampaignOptions, ElectionObserver, Leadership};
pub use fenced::Fenced;
pub use keeper::KeepAlive;
pub use lock::{LockGuard, LockOptions};
pub use types::{
    CoordOutcome, Fence, Holder, LeaderChange, LeaderState, LeaseAttachment, LeaseDetails,
    LeaseInfo, LockState,
};
