//! Password hashing: argon2id (RustCrypto's `argon2`, default parameters) into a PHC string.
//! The node that receives a password hashes it before proposing, so the log, snapshots and
//! backups hold only hashes, and apply stays cheap and deterministic. Both directions cost
//! tens of milliseconds on purpose; callers run them off the async threads.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// The PHC string of `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| "no randomness for a salt".to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the stored `phc` string (false for an unreadable one).
pub fn matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_matches_its_password_only() {
        let h = hash("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(matches("s3cret", &h));
        assert!(!matches("s3cret ", &h));
        assert!(!matches("s3cret", "not a hash"));
        assert_ne!(h, hash("s3cret").unwrap(), "salted");
    }
}
