//! The sealed envelope of a snapshot or backup file: the bytes a plain snapshot would hold,
//! cut into segments, each sealed with AES-256-GCM (the STREAM construction: a random
//! per-file nonce prefix, a segment counter and a last-segment flag in every nonce, so
//! segments cannot be reordered, dropped or the stream cut short unnoticed).
//!
//! ```text
//! stream  = header segment*            (the last segment has flag 1, and only the last)
//! header  = "CAIRNSEC" version:u8 key_id:u32 nonce_prefix:[u8; 7]
//! segment = flag:u8 len:u32 ciphertext_and_tag
//! nonce   = nonce_prefix counter:u32 flag:u8
//! ```
//! The header is the associated data of every segment. Integers are big-endian.

use std::io::{self, Read, Write};
use std::sync::Arc;

use ring::aead::{Aad, NONCE_LEN, Nonce};
use ring::rand::{SecureRandom, SystemRandom};

use super::{KeyRing, SealError};

pub(crate) const STREAM_MAGIC: &[u8; 8] = b"CAIRNSEC";
const VERSION: u8 = 1;
const PREFIX_LEN: usize = 7;
const HEADER_LEN: usize = 8 + 1 + 4 + PREFIX_LEN;
/// Plaintext bytes per segment.
const SEGMENT: usize = 64 * 1024;
const TAG_LEN: usize = 16;

fn nonce(prefix: &[u8; PREFIX_LEN], counter: u32, last: bool) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[..PREFIX_LEN].copy_from_slice(prefix);
    n[PREFIX_LEN..PREFIX_LEN + 4].copy_from_slice(&counter.to_be_bytes());
    n[NONCE_LEN - 1] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

fn invalid(e: SealError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Seals everything written through it; [`finish`](Self::finish) writes the last segment.
pub(crate) struct SealWriter<W: Write> {
    inner: W,
    keys: Arc<KeyRing>,
    id: u32,
    header: [u8; HEADER_LEN],
    prefix: [u8; PREFIX_LEN],
    counter: u32,
    buf: Vec<u8>,
}

impl<W: Write> SealWriter<W> {
    pub(crate) fn new(mut inner: W, keys: Arc<KeyRing>) -> io::Result<Self> {
        let mut prefix = [0u8; PREFIX_LEN];
        SystemRandom::new()
            .fill(&mut prefix)
            .map_err(|_| io::Error::other("no randomness for a nonce"))?;
        let id = keys.active_id();
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(STREAM_MAGIC);
        header[8] = VERSION;
        header[9..13].copy_from_slice(&id.to_be_bytes());
        header[13..].copy_from_slice(&prefix);
        inner.write_all(&header)?;
        Ok(Self {
            inner,
            keys,
            id,
            header,
            prefix,
            counter: 0,
            buf: Vec::with_capacity(SEGMENT + TAG_LEN),
        })
    }

    fn seal_segment(&mut self, last: bool) -> io::Result<()> {
        let key = self.keys.stream_key(self.id).map_err(invalid)?;
        key.seal_in_place_append_tag(
            nonce(&self.prefix, self.counter, last),
            Aad::from(&self.header),
            &mut self.buf,
        )
        .map_err(|_| io::Error::other("sealing a segment failed"))?;
        let len = u32::try_from(self.buf.len()).map_err(io::Error::other)?;
        self.inner.write_all(&[u8::from(last)])?;
        self.inner.write_all(&len.to_be_bytes())?;
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or_else(|| io::Error::other("sealed stream too long"))?;
        Ok(())
    }

    /// Seals what is buffered as the last segment and returns the inner writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.seal_segment(true)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(SEGMENT - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == SEGMENT {
            self.seal_segment(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Opens a sealed stream whose magic the caller has already read.
pub(crate) struct OpenReader<R: Read> {
    inner: R,
    keys: Arc<KeyRing>,
    id: u32,
    header: [u8; HEADER_LEN],
    prefix: [u8; PREFIX_LEN],
    counter: u32,
    plain: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<R: Read> OpenReader<R> {
    /// Reads the rest of the header; fails at once if the key it names is not in `keys`.
    pub(crate) fn new(mut inner: R, keys: Option<&Arc<KeyRing>>) -> io::Result<Self> {
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(STREAM_MAGIC);
        inner.read_exact(&mut header[8..])?;
        if header[8] != VERSION {
            return Err(invalid(SealError::Malformed(format!(
                "stream version {}, this build reads {VERSION}",
                header[8]
            ))));
        }
        let id = u32::from_be_bytes([header[9], header[10], header[11], header[12]]);
        let keys = keys.ok_or_else(|| invalid(SealError::NoKeyFile(id)))?;
        keys.stream_key(id).map_err(invalid)?;
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&header[13..]);
        Ok(Self {
            inner,
            keys: keys.clone(),
            id,
            header,
            prefix,
            counter: 0,
            plain: Vec::new(),
            pos: 0,
            done: false,
        })
    }

    fn next_segment(&mut self) -> io::Result<()> {
        let truncated = |e: io::Error| match e.kind() {
            io::ErrorKind::UnexpectedEof => invalid(SealError::Malformed(
                "the stream ends before its last segment".into(),
            )),
            _ => e,
        };
        let mut head = [0u8; 5];
        self.inner.read_exact(&mut head).map_err(truncated)?;
        let last = match head[0] {
            0 => false,
            1 => true,
            f => return Err(invalid(SealError::Malformed(format!("segment flag {f}")))),
        };
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if !(TAG_LEN..=SEGMENT + TAG_LEN).contains(&len) {
            return Err(invalid(SealError::Malformed(format!(
                "segment of {len} bytes"
            ))));
        }
        self.plain.resize(len, 0);
        self.inner.read_exact(&mut self.plain).map_err(truncated)?;
        let key = self.keys.stream_key(self.id).map_err(invalid)?;
        let n = key
            .open_in_place(
                nonce(&self.prefix, self.counter, last),
                Aad::from(&self.header),
                &mut self.plain,
            )
            .map_err(|_| invalid(SealError::Open(self.id)))?
            .len();
        self.plain.truncate(n);
        self.pos = 0;
        self.done = last;
        self.counter = self.counter.wrapping_add(1);
        Ok(())
    }
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.plain.len() {
            if self.done {
                return Ok(0);
            }
            self.next_segment()?;
        }
        let n = out.len().min(self.plain.len() - self.pos);
        out[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn keys(text: &str) -> Arc<KeyRing> {
        Arc::new(KeyRing::parse(text).unwrap())
    }

    const K1: &str = "1 0101010101010101010101010101010101010101010101010101010101010101";

    fn seal(k: &Arc<KeyRing>, data: &[u8]) -> Vec<u8> {
        let mut w = SealWriter::new(Vec::new(), k.clone()).unwrap();
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    fn open(k: Option<&Arc<KeyRing>>, sealed: &[u8]) -> io::Result<Vec<u8>> {
        let mut r = &sealed[8..];
        assert_eq!(&sealed[..8], STREAM_MAGIC);
        let mut out = Vec::new();
        OpenReader::new(&mut r, k)?.read_to_end(&mut out)?;
        Ok(out)
    }

    fn seal_error(e: io::Error) -> SealError {
        e.into_inner()
            .unwrap()
            .downcast::<SealError>()
            .map(|b| *b)
            .unwrap()
    }

    #[test]
    fn round_trips_any_length_and_hides_the_content() {
        let k = keys(K1);
        for len in [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 7] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = seal(&k, &data);
            assert_eq!(open(Some(&k), &sealed).unwrap(), data, "len {len}");
        }
        let sealed = seal(&k, b"secret workflow state");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn cut_reordered_flipped_or_keyless_streams_fail_clearly() {
        let k = keys(K1);
        let data = vec![7u8; 2 * SEGMENT + 5];
        let sealed = seal(&k, &data);
        // Cut at a segment boundary: a whole stream minus its last segment.
        let boundary = HEADER_LEN + 2 * (5 + SEGMENT + TAG_LEN);
        let e = seal_error(open(Some(&k), &sealed[..boundary]).unwrap_err());
        assert!(matches!(e, SealError::Malformed(_)), "{e:?}");
        let mut flipped = sealed.clone();
        flipped[HEADER_LEN + 100] ^= 1;
        assert_eq!(
            seal_error(open(Some(&k), &flipped).unwrap_err()),
            SealError::Open(1)
        );
        // The first segment claims to be the last: its nonce differs, so it does not open.
        let mut early = sealed.clone();
        early[HEADER_LEN] = 1;
        assert_eq!(
            seal_error(open(Some(&k), &early).unwrap_err()),
            SealError::Open(1)
        );
        assert_eq!(
            seal_error(open(None, &sealed).unwrap_err()),
            SealError::NoKeyFile(1)
        );
        let other = keys("2 0202020202020202020202020202020202020202020202020202020202020202");
        assert_eq!(
            seal_error(open(Some(&other), &sealed).unwrap_err()),
            SealError::MissingKey(1)
        );
        let wrong = keys("1 0909090909090909090909090909090909090909090909090909090909090909");
        assert_eq!(
            seal_error(open(Some(&wrong), &sealed).unwrap_err()),
            SealError::Open(1)
        );
    }
}
