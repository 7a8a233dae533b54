//! Checks of request fields every service shares: ids and bounded text.

use cairn_model::workflow::names::is_valid_id;
use tonic::Status;

use crate::error::Error;

/// `value` must be an id (1-256 of [A-Za-z0-9_.:/-]); the error names `field`.
pub fn id(field: &str, value: &str) -> Result<(), Status> {
    if is_valid_id(value) {
        return Ok(());
    }
    Err(Error::InvalidId {
        field: field.to_string(),
        value: value.to_string(),
    }
    .into())
}

/// `value` must be at most `limit` bytes; the error names `field` and both sizes.
pub fn text(field: &str, value: &str, limit: usize) -> Result<(), Status> {
    if value.len() > limit {
        return Err(Error::too_large(field, value.len(), limit).into());
    }
    Ok(())
}
