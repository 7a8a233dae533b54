//! The snapshot file format, streamed both ways (a snapshot is never held in memory whole).
//!
//! ```text
//! file    = zstd( header record* end ) trailer
//! header  = "CAIRNSNP" version:u32 meta_len:u32 meta:postcard(SnapshotMeta)
//! record  = 0x01 space:u8 key_len:u32 key value_len:u32 value
//! end     = 0x00 record_count:u64
//! trailer = crc32(all preceding file bytes):u32 "CAIRNEND"
//! ```
//! Integers are big-endian. The trailer makes truncation and corruption detectable before a
//! single record is trusted.
//!
//! With an encryption key file, the zstd stream is sealed before it is written (the file is
//! `seal(zstd(...)) trailer`, see `seal::stream`), so snapshots, the copies followers receive
//! and backups hold no plaintext; the trailer's checksum is over the sealed bytes, so it is
//! checked without the key.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_model::codec;
use cairn_raft::types::SnapshotMeta;

use crate::error::StorageError;
use crate::keyspace::Space;
use crate::seal::{KeyRing, OpenReader, STREAM_MAGIC, SealError, SealWriter};

const MAGIC: &[u8; 8] = b"CAIRNSNP";
pub(crate) const TRAILER_MAGIC: &[u8; 8] = b"CAIRNEND";
pub(crate) const TRAILER_LEN: u64 = 12;
pub(crate) const FORMAT_VERSION: u32 = 1;
const TAG_RECORD: u8 = 1;
const TAG_END: u8 = 0;
/// Fast level: snapshots are written while the cluster runs; size matters less than time.
const ZSTD_LEVEL: i32 = 3;
/// Refuse absurd lengths from a corrupt stream instead of allocating them.
const MAX_FIELD_LEN: u32 = 256 * 1024 * 1024;

/// One state-machine record inside a snapshot.
pub(crate) struct Record {
    pub(crate) space: Space,
    pub(crate) key: Vec<u8>,
    pub(crate) value: Vec<u8>,
}

/// fsync a directory so a rename or create inside it survives a crash.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Passes bytes through while computing their crc32.
struct Crc<W> {
    inner: W,
    hasher: crc32fast::Hasher,
}

impl<W: Write> Write for Crc<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

type FileOut = Crc<BufWriter<File>>;

/// Where the zstd stream goes: the file, or a seal in front of it.
enum Sink {
    Plain(FileOut),
    Sealed(SealWriter<FileOut>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Sealed(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Sealed(w) => w.flush(),
        }
    }
}

impl Sink {
    fn finish(self) -> io::Result<FileOut> {
        match self {
            Sink::Plain(w) => Ok(w),
            Sink::Sealed(w) => w.finish(),
        }
    }
}

/// Streams a snapshot into `path` (normally a `.tmp` name the caller renames afterwards),
/// sealed with the active key when `keys` is given.
pub(crate) struct SnapshotWriter {
    path: PathBuf,
    encoder: zstd::stream::write::Encoder<'static, Sink>,
    count: u64,
}

impl SnapshotWriter {
    pub(crate) fn create(
        path: &Path,
        meta: &SnapshotMeta,
        keys: Option<&Arc<KeyRing>>,
    ) -> Result<Self, StorageError> {
        let file = File::create(path)?;
        let crc = Crc {
            inner: BufWriter::new(file),
            hasher: crc32fast::Hasher::new(),
        };
        let sink = match keys {
            Some(k) => Sink::Sealed(SealWriter::new(crc, k.clone())?),
            None => Sink::Plain(crc),
        };
        let mut encoder = zstd::stream::write::Encoder::new(sink, ZSTD_LEVEL)?;
        let meta = codec::encode(meta)?;
        encoder.write_all(MAGIC)?;
        encoder.write_all(&FORMAT_VERSION.to_be_bytes())?;
        write_field(&mut encoder, &meta)?;
        Ok(Self {
            path: path.to_path_buf(),
            encoder,
            count: 0,
        })
    }

    pub(crate) fn write_record(
        &mut self,
        space: Space,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), StorageError> {
        self.encoder.write_all(&[TAG_RECORD, space.id()])?;
        write_field(&mut self.encoder, key)?;
        write_field(&mut self.encoder, value)?;
        self.count += 1;
        Ok(())
    }

    /// Ends the stream, writes the trailer and fsyncs the file. The caller renames it.
    pub(crate) fn finish(mut self) -> Result<PathBuf, StorageError> {
        self.encoder.write_all(&[TAG_END])?;
        self.encoder.write_all(&self.count.to_be_bytes())?;
        let crc = self.encoder.finish()?.finish()?;
        let checksum = crc.hasher.finalize();
        let mut out = crc.inner;
        out.write_all(&checksum.to_be_bytes())?;
        out.write_all(TRAILER_MAGIC)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(self.path)
    }
}

fn write_field(w: &mut impl Write, bytes: &[u8]) -> Result<(), StorageError> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|l| *l <= MAX_FIELD_LEN)
        .ok_or_else(|| {
            StorageError::CorruptRecord(format!("record field of {} bytes", bytes.len()))
        })?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(bytes)?;
    Ok(())
}

/// Checks a snapshot file (e.g. one just received from a peer) without loading it: the
/// checksum over the whole file, then the header (which needs the key of a sealed file:
/// without it, [`StorageError::Encryption`] after the checksum passed). Returns the
/// snapshot's meta.
pub fn verify_snapshot(
    path: &Path,
    keys: Option<&Arc<KeyRing>>,
) -> Result<SnapshotMeta, StorageError> {
    verify(path, keys)
}

/// Checks the trailer checksum over the whole file, then reads the header. Nothing in the
/// file is trusted before this passes.
pub(crate) fn verify(
    path: &Path,
    keys: Option<&Arc<KeyRing>>,
) -> Result<SnapshotMeta, StorageError> {
    let corrupt = |reason: String| StorageError::corrupt(path, reason);
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    if len < TRAILER_LEN {
        return Err(corrupt(format!("{len} bytes is shorter than the trailer")));
    }
    let mut hasher = crc32fast::Hasher::new();
    let mut body = BufReader::new((&mut file).take(len - TRAILER_LEN));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = body.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    drop(body);
    let mut trailer = [0u8; TRAILER_LEN as usize];
    file.read_exact(&mut trailer)?;
    if &trailer[4..] != TRAILER_MAGIC {
        return Err(corrupt(
            "missing trailer (truncated or not a snapshot)".into(),
        ));
    }
    let expected = u32::from_be_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let actual = hasher.finalize();
    if expected != actual {
        return Err(corrupt(format!(
            "checksum mismatch: trailer {expected:08x}, content {actual:08x}"
        )));
    }
    Ok(SnapshotReader::open(path, keys)?.meta)
}

type FileIn = io::Take<File>;

/// Where the zstd stream comes from: the file (its first bytes, read to tell, put back in
/// front), or a seal opened in front of it.
enum Source {
    Plain(io::Chain<io::Cursor<[u8; 8]>, FileIn>),
    Sealed(OpenReader<FileIn>),
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Plain(r) => r.read(buf),
            Source::Sealed(r) => r.read(buf),
        }
    }
}

/// A read error as the storage error it stands for: a seal that does not open (no key, a
/// wrong key) is an encryption error, not a corrupt file, so a node started without its key
/// refuses to start instead of setting its snapshot aside.
fn read_error(path: &Path, e: io::Error) -> StorageError {
    if e.get_ref().is_some_and(|inner| inner.is::<SealError>()) {
        if let Some(Ok(seal)) = e.into_inner().map(|b| b.downcast::<SealError>()) {
            return StorageError::Encryption(*seal);
        }
        return StorageError::corrupt(path, "sealed data");
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => StorageError::corrupt(path, "unexpected end of data"),
        _ => StorageError::corrupt(path, format!("read: {e}")),
    }
}

/// Streams the records of a snapshot file. Call [`verify`] first.
pub(crate) struct SnapshotReader {
    path: PathBuf,
    decoder: zstd::stream::read::Decoder<'static, BufReader<Source>>,
    pub(crate) meta: SnapshotMeta,
    count: u64,
    done: bool,
}

impl SnapshotReader {
    pub(crate) fn open(path: &Path, keys: Option<&Arc<KeyRing>>) -> Result<Self, StorageError> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut body = file.take(len.saturating_sub(TRAILER_LEN));
        let mut first = [0u8; 8];
        read_exact(path, &mut body, &mut first)?;
        let source = if &first == STREAM_MAGIC {
            Source::Sealed(OpenReader::new(body, keys).map_err(|e| read_error(path, e))?)
        } else {
            Source::Plain(io::Cursor::new(first).chain(body))
        };
        let mut decoder = zstd::stream::read::Decoder::new(source)
            .map_err(|e| StorageError::corrupt(path, format!("zstd: {e}")))?;
        let mut magic = [0u8; 8];
        read_exact(path, &mut decoder, &mut magic)?;
        if &magic != MAGIC {
            return Err(StorageError::corrupt(path, "bad magic"));
        }
        let mut version = [0u8; 4];
        read_exact(path, &mut decoder, &mut version)?;
        let version = u32::from_be_bytes(version);
        if version != FORMAT_VERSION {
            return Err(StorageError::corrupt(
                path,
                format!("format version {version}, this build reads {FORMAT_VERSION}"),
            ));
        }
        let meta = read_field(path, &mut decoder)?;
        let meta = codec::decode(&meta)
            .map_err(|e| StorageError::corrupt(path, format!("header: {e}")))?;
        Ok(Self {
            path: path.to_path_buf(),
            decoder,
            meta,
            count: 0,
            done: false,
        })
    }

    /// The next record, or `None` after the end marker (whose count is checked).
    pub(crate) fn next_record(&mut self) -> Result<Option<Record>, StorageError> {
        if self.done {
            return Ok(None);
        }
        let path = self.path.as_path();
        let mut tag = [0u8; 1];
        read_exact(path, &mut self.decoder, &mut tag)?;
        match tag[0] {
            TAG_END => {
                let mut count = [0u8; 8];
                read_exact(path, &mut self.decoder, &mut count)?;
                let count = u64::from_be_bytes(count);
                if count != self.count {
                    return Err(StorageError::corrupt(
                        path,
                        format!("end marker counts {count} records, read {}", self.count),
                    ));
                }
                self.done = true;
                Ok(None)
            }
            TAG_RECORD => {
                let mut id = [0u8; 1];
                read_exact(path, &mut self.decoder, &mut id)?;
                let space = Space::from_id(id[0]).ok_or_else(|| {
                    StorageError::corrupt(path, format!("unknown key space {}", id[0]))
                })?;
                let key = read_field(path, &mut self.decoder)?;
                let value = read_field(path, &mut self.decoder)?;
                self.count += 1;
                Ok(Some(Record { space, key, value }))
            }
            other => Err(StorageError::corrupt(path, format!("unknown tag {other}"))),
        }
    }
}

fn read_exact(path: &Path, r: &mut impl Read, buf: &mut [u8]) -> Result<(), StorageError> {
    r.read_exact(buf).map_err(|e| read_error(path, e))
}

fn read_field(path: &Path, r: &mut impl Read) -> Result<Vec<u8>, StorageError> {
    let mut len = [0u8; 4];
    read_exact(path, r, &mut len)?;
    let len = u32::from_be_bytes(len);
    if len > MAX_FIELD_LEN {
        return Err(StorageError::corrupt(path, format!("field length {len}")));
    }
    let mut buf = vec![0u8; len as usize];
    read_exact(path, r, &mut buf)?;
    Ok(buf)
}

/// Removes a file, treating "already gone" as success.
pub(crate) fn remove_file_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
