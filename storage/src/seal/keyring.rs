//! The key file and the keys derived from it.
//!
//! ```text
//! # comments and blank lines are ignored
//! <id> <64 hex digits: 32 random bytes>     <- the first key seals new data
//! <id> <64 hex digits>                      <- older keys: open what they sealed
//! ```
//! Ids are 1..=4294967295 and unique. `cairn keygen` prints a new line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::{hkdf, hmac};

use super::SealError;
use cairn_model::checkpoint::SEALED_CHUNK_OVERHEAD;

/// Chunk envelope: version, key id, nonce, then ciphertext and tag.
const CHUNK_VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("encryption key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("encryption key file, line {line}: {reason}")]
    Invalid { line: usize, reason: String },
    #[error("encryption key file holds no key")]
    Empty,
}

struct Keys {
    /// Seals checkpoint chunks.
    chunk: LessSafeKey,
    /// Derives a chunk's nonce from its context and content (see [`KeyRing::seal_chunk`]).
    chunk_nonce: hmac::Key,
    /// Seals snapshot and backup streams.
    pub(super) stream: LessSafeKey,
}

/// HKDF output of one 32-byte key.
struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

fn derive(master: &[u8; 32], info: &'static str) -> [u8; 32] {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"cairn encryption at rest").extract(master);
    let mut out = [0u8; 32];
    // Infallible for a 32-byte output of SHA-256 HKDF (at most 255 * 32 bytes).
    if let Ok(okm) = prk.expand(&[info.as_bytes()], Len32) {
        let _ = okm.fill(&mut out);
    }
    out
}

fn aead_key(bytes: &[u8; 32]) -> LessSafeKey {
    // AES-256 takes any 32 bytes.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).unwrap_or_else(|_| unreachable!()))
}

impl Keys {
    fn new(master: &[u8; 32]) -> Self {
        Self {
            chunk: aead_key(&derive(master, "checkpoint chunk")),
            chunk_nonce: hmac::Key::new(hmac::HMAC_SHA256, &derive(master, "chunk nonce")),
            stream: aead_key(&derive(master, "stream")),
        }
    }
}

/// The keys of one key file: the first seals, all open. Cheap to share behind an `Arc`.
pub struct KeyRing {
    active: u32,
    keys: BTreeMap<u32, Keys>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key bytes.
        f.debug_struct("KeyRing")
            .field("active", &self.active)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl PartialEq for KeyRing {
    /// Same ids and same active id (configuration comparison; keys are not compared).
    fn eq(&self, other: &Self) -> bool {
        self.active == other.active && self.keys.keys().eq(other.keys.keys())
    }
}

impl Eq for KeyRing {}

/// The chunk's context, authenticated with it: a sealed chunk moved to another workflow or
/// position does not open.
fn chunk_aad(workflow_id: &str, index: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(workflow_id.len() + 24);
    aad.extend_from_slice(b"cairn checkpoint chunk\0");
    aad.extend_from_slice(&index.to_be_bytes());
    aad.extend_from_slice(workflow_id.as_bytes());
    aad
}

impl KeyRing {
    pub fn load(path: &Path) -> Result<Self, KeyFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let mut active = None;
        let mut keys = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let invalid = |reason: &str| KeyFileError::Invalid {
                line: n + 1,
                reason: reason.to_string(),
            };
            let mut parts = line.split_whitespace();
            let (Some(id), Some(key), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(invalid("expected `<id> <64 hex digits>`"));
            };
            let id: u32 = id
                .parse()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| invalid("the id must be a number from 1 to 4294967295"))?;
            let mut master = [0u8; 32];
            hex::decode_to_slice(key, &mut master)
                .map_err(|_| invalid("the key must be 64 hex digits (32 bytes)"))?;
            if keys.insert(id, Keys::new(&master)).is_some() {
                return Err(invalid(&format!("key id {id} appears twice")));
            }
            active.get_or_insert(id);
        }
        Ok(Self {
            active: active.ok_or(KeyFileError::Empty)?,
            keys,
        })
    }

    /// A new key-file line with a random key (for `cairn keygen`).
    pub fn generate_line(id: u32) -> Result<String, ring::error::Unspecified> {
        let mut key = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)?;
        Ok(format!("{id} {}", hex::encode(key)))
    }

    /// Every key id, ascending.
    pub fn ids(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// The id new data is sealed with.
    pub fn active_id(&self) -> u32 {
        self.active
    }

    pub(super) fn stream_key(&self, id: u32) -> Result<&LessSafeKey, SealError> {
        self.keys
            .get(&id)
            .map(|k| &k.stream)
            .ok_or(SealError::MissingKey(id))
    }

    /// Seals chunk `index` of a checkpoint payload of `workflow_id` with the active key.
    ///
    /// Deterministic: the nonce is an HMAC of the context and the content (a synthetic IV),
    /// so a retried upload that sends the same chunk again produces the same stored bytes,
    /// which the machine accepts as a repeat. Equal chunks at the same place of the same
    /// workflow therefore look equal when sealed; nothing else about them shows.
    pub fn seal_chunk(&self, workflow_id: &str, index: u32, plain: &[u8]) -> Vec<u8> {
        let id = self.active;
        let keys = &self.keys[&id];
        let aad = chunk_aad(workflow_id, index);
        let mut ctx = hmac::Context::with_key(&keys.chunk_nonce);
        ctx.update(&(aad.len() as u64).to_be_bytes());
        ctx.update(&aad);
        ctx.update(plain);
        let tag = ctx.sign();
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&tag.as_ref()[..NONCE_LEN]);

        let mut out = Vec::with_capacity(plain.len() + SEALED_CHUNK_OVERHEAD);
        out.push(CHUNK_VERSION);
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&nonce);
        let mut body = plain.to_vec();
        // Sealing in place fails only for inputs over AES-GCM's 64 GiB limit; chunks are 1 MiB.
        keys.chunk
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut body,
            )
            .unwrap_or_else(|_| unreachable!("chunk larger than AES-GCM allows"));
        out.extend_from_slice(&body);
        out
    }

    /// Opens what [`seal_chunk`](Self::seal_chunk) sealed for the same workflow and index.
    pub fn open_chunk(
        &self,
        workflow_id: &str,
        index: u32,
        sealed: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let id = sealed_chunk_key_id(sealed)?;
        let keys = self.keys.get(&id).ok_or(SealError::MissingKey(id))?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[5..HEADER_LEN]);
        let mut body = sealed[HEADER_LEN..].to_vec();
        let plain = keys
            .chunk
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(chunk_aad(workflow_id, index)),
                &mut body,
            )
            .map_err(|_| SealError::Open(id))?;
        let n = plain.len();
        body.truncate(n);
        Ok(body)
    }
}

/// The key id a sealed chunk names (checking its shape).
pub fn sealed_chunk_key_id(sealed: &[u8]) -> Result<u32, SealError> {
    if sealed.len() < HEADER_LEN + TAG_LEN {
        return Err(SealError::Malformed(format!(
            "{} bytes is shorter than a sealed chunk's envelope",
            sealed.len()
        )));
    }
    if sealed[0] != CHUNK_VERSION {
        return Err(SealError::Malformed(format!(
            "envelope version {}, this build reads {CHUNK_VERSION}",
            sealed[0]
        )));
    }
    Ok(u32::from_be_bytes([
        sealed[1], sealed[2], sealed[3], sealed[4],
    ]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ring(text: &str) -> KeyRing {
        KeyRing::parse(text).unwrap()
    }

    const K1: &str = "1 0101010101010101010101010101010101010101010101010101010101010101";
    const K2: &str = "2 0202020202020202020202020202020202020202020202020202020202020202";

    #[test]
    fn the_first_key_seals_and_every_key_opens() {
        let old = ring(K1);
        let rotated = ring(&format!("# new key first\n{K2}\n\n{K1}\n"));
        assert_eq!(rotated.active_id(), 2);
        let a = old.seal_chunk("wf", 0, b"state one");
        let b = rotated.seal_chunk("wf", 0, b"state one");
        assert_eq!(a.len(), b"state one".len() + SEALED_CHUNK_OVERHEAD);
        assert_ne!(a, b, "different keys");
        assert_eq!(rotated.open_chunk("wf", 0, &a).unwrap(), b"state one");
        assert_eq!(rotated.open_chunk("wf", 0, &b).unwrap(), b"state one");
        assert_eq!(old.open_chunk("wf", 0, &b), Err(SealError::MissingKey(2)));
    }

    #[test]
    fn sealing_is_deterministic_and_bound_to_its_place() {
        let k = ring(K1);
        let a = k.seal_chunk("wf", 3, b"payload");
        assert_eq!(
            a,
            k.seal_chunk("wf", 3, b"payload"),
            "a retried chunk matches"
        );
        assert_ne!(a, k.seal_chunk("wf", 3, b"payloaD"));
        assert!(!a.windows(7).any(|w| w == b"payload"), "no plaintext");
        assert_eq!(k.open_chunk("wf", 4, &a), Err(SealError::Open(1)));
        assert_eq!(k.open_chunk("wf2", 3, &a), Err(SealError::Open(1)));
        let mut flipped = a.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(k.open_chunk("wf", 3, &flipped), Err(SealError::Open(1)));
        // Same id, different key: refused, not garbage.
        let other = ring("1 0909090909090909090909090909090909090909090909090909090909090909");
        assert_eq!(other.open_chunk("wf", 3, &a), Err(SealError::Open(1)));
        assert!(matches!(
            k.open_chunk("wf", 3, &a[..10]),
            Err(SealError::Malformed(_))
        ));
    }

    #[test]
    fn bad_key_files_are_refused_with_their_line() {
        let line = |text: &str| match KeyRing::parse(text) {
            Err(KeyFileError::Invalid { line, .. }) => line,
            other => panic!("{other:?}"),
        };
        assert_eq!(line("0 00"), 1);
        assert_eq!(line(&format!("{K1}\n1 {}", "ab".repeat(32))), 2);
        assert_eq!(line("# c\n5 abcd"), 2);
        assert_eq!(line("7"), 1);
        assert!(matches!(
            KeyRing::parse("# only\n"),
            Err(KeyFileError::Empty)
        ));
        let generated = KeyRing::generate_line(9).unwrap();
        assert_eq!(ring(&generated).active_id(), 9);
        assert!(
            !format!("{:?}", ring(K1)).contains("0101"),
            "Debug hides keys"
        );
    }
}
