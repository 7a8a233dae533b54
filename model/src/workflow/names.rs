//! Identifier rules shared by workflows, tasks, definitions and states.

/// Longest identifier accepted.
pub const MAX_ID_LEN: usize = 256;

/// Whether `id` is 1..=256 characters of `[A-Za-z0-9_.:/-]`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'/' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_rule() {
        assert!(is_valid_id("wf_abc-123:x/y.z"));
        assert!(is_valid_id(&"a".repeat(MAX_ID_LEN)));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id(&"a".repeat(MAX_ID_LEN + 1)));
        assert!(!is_valid_id("has space"));
        assert!(!is_valid_id("ünï"));
    }
}
