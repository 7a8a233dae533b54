//! Encryption at rest: the key ring read from `--encryption-key-file`, the sealed envelope of
//! a checkpoint chunk ([`KeyRing::seal_chunk`]) and of a snapshot or backup file (`stream`).
//!
//! Every key has an id; sealed data names the id it was sealed with, so a new key can become
//! the active one (the first in the file) while older data still opens with the older keys,
//! and nothing is rewritten. AES-256-GCM from ring; each key file entry is a 32-byte master
//! key from which HKDF-SHA256 derives separate keys for chunks, chunk nonces and streams.
//!
//! A missing key or data that does not open is an error naming the key id, never garbage:
//! AES-GCM authenticates every sealed byte and the context it belongs to.

mod keyring;
mod stream;

pub use keyring::{KeyFileError, KeyRing, sealed_chunk_key_id};
pub(crate) use stream::{OpenReader, STREAM_MAGIC, SealWriter};

/// Why sealed data could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Sealed data, and no key file at all.
    #[error("data is encrypted with key id {0}, and no encryption key file is configured")]
    NoKeyFile(u32),
    /// The key file does not hold the id the data was sealed with.
    #[error("data is encrypted with key id {0}, which the encryption key file does not hold")]
    MissingKey(u32),
    /// Authentication failed: a different key under the same id, or damaged data.
    #[error("data encrypted with key id {0} does not decrypt: wrong key, or damaged data")]
    Open(u32),
    #[error("sealed data is malformed: {0}")]
    Malformed(String),
}
