//! The transaction part of `Request::check_input` (see `crate::input`): what etcd checks
//! before proposing ([`TxnCommand::validate`]), the operations per level, and every key,
//! range end and value against the node's KV limits, at every nesting level.

use super::{KeyRange, MAX_TXN_OPS, TxnCommand, TxnOp};
use crate::input::{InputError, InputLimits, count, size};

impl TxnCommand {
    /// This command's part of `Request::check_input`.
    pub fn check_input(&self, limits: &InputLimits) -> Result<(), InputError> {
        self.validate().map_err(InputError::Kv)?;
        self.check_sizes(limits)
    }

    /// Sizes and counts; `validate` has bounded the nesting already.
    fn check_sizes(&self, limits: &InputLimits) -> Result<(), InputError> {
        // Per level, as etcd counts.
        let ops = self
            .compare
            .len()
            .max(self.success.len())
            .max(self.failure.len());
        count("operations in one transaction level", ops, MAX_TXN_OPS)?;
        for c in &self.compare {
            check_range(limits, &c.range)?;
        }
        for op in self.success.iter().chain(&self.failure) {
            match op {
                TxnOp::Range(spec) => check_range(limits, &spec.range)?,
                TxnOp::Put(p) => {
                    size("key", p.key.len(), limits.max_key_bytes)?;
                    size("value", p.value.len(), limits.max_value_bytes)?;
                }
                TxnOp::DeleteRange { range, .. } => check_range(limits, range)?,
                TxnOp::Txn(t) => t.check_sizes(limits)?,
            }
        }
        Ok(())
    }
}

fn check_range(limits: &InputLimits, r: &KeyRange) -> Result<(), InputError> {
    size("key", r.key.len(), limits.max_key_bytes)?;
    size("range_end", r.range_end.len(), limits.max_key_bytes)
}
