//! A bound on transaction nesting while decoding. Transactions are recursive (`TxnOp::Txn`,
//! `OpReply::Txn`) and postcard has no recursion limit, so a forwarded request or a reply
//! from a peer nested a few thousand levels deep would overflow the stack while being decoded,
//! before validation could refuse it. The recursion point counts its depth per thread
//! (decoding is synchronous) and fails past [`MAX_DECODE_DEPTH`].

use std::cell::Cell;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::MAX_TXN_DEPTH;

/// Deepest nesting decoded: above what validation accepts, so a request just too deep still
/// decodes and gets validation's typed error, and far below what the stack can take.
pub const MAX_DECODE_DEPTH: usize = 2 * MAX_TXN_DEPTH;

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// One level of nesting being decoded; leaving it (however decoding ends) counts it off.
struct Level;

impl Level {
    fn enter() -> (Self, usize) {
        let depth = DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        });
        (Level, depth)
    }
}

impl Drop for Level {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// `deserialize_with` for a nested transaction or reply.
pub(super) fn nested<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let (_level, depth) = Level::enter();
    if depth > MAX_DECODE_DEPTH {
        return Err(D::Error::custom(format!(
            "transactions nested deeper than {MAX_DECODE_DEPTH}"
        )));
    }
    T::deserialize(d)
}
