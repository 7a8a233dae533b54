//! The raft-log type binding: how openraft's log ids, votes and payloads are encoded in the
//! WAL (postcard via cairn-model's codec, behind codeq's length-prefixed framing), and the
//! flush callback that bridges raft-log's FlushWorker to openraft's `IOFlushed`.

use std::fmt;
use std::io;
use std::io::Read;
use std::time::Instant;

use cairn_model::codec;
use cairn_raft::TypeConfig;
use cairn_raft::types::{LogId, Vote};
use openraft::alias::PayloadOf;
use openraft::storage::IOFlushed;
use serde::Serialize;

/// The largest field of a WAL record: no entry can be larger and still replicate, as peer
/// messages are bounded by the same limit.
const MAX_RECORD_FIELD: usize = cairn_raft::channels::MAX_PEER_MESSAGE;
use serde::de::DeserializeOwned;

pub(crate) type Payload = PayloadOf<TypeConfig>;

/// A value stored in the WAL in cairn's codec. codeq frames each record with a checksum;
/// this wrapper supplies the bytes: a u32 big-endian length, then the postcard encoding.
/// Ordering is the wrapped value's, which raft-log relies on for log ids and votes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Cd<T>(pub(crate) T);

impl<T: fmt::Debug> fmt::Debug for Cd<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: Serialize> codeq::Encode for Cd<T> {
    fn encode<W: io::Write>(&self, mut w: W) -> Result<usize, io::Error> {
        let bytes = codec::encode(&self.0)?;
        // What decode refuses is never written: the log must stay readable.
        if bytes.len() > MAX_RECORD_FIELD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "WAL record field of {} bytes (limit {MAX_RECORD_FIELD})",
                    bytes.len()
                ),
            ));
        }
        let len = u32::try_from(bytes.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "WAL record over 4 GiB"))?;
        w.write_all(&len.to_be_bytes())?;
        w.write_all(&bytes)?;
        Ok(4 + bytes.len())
    }
}

impl<T: DeserializeOwned> codeq::Decode for Cd<T> {
    fn decode<R: Read>(mut r: R) -> Result<Self, io::Error> {
        let mut len = [0u8; 4];
        r.read_exact(&mut len)?;
        let len = u32::from_be_bytes(len) as usize;
        // No entry is this large (a peer message is at most `MAX_PEER_MESSAGE`): a length
        // past it is damage, not a torn write, so it must fail the open rather than read as
        // an end-of-file, which the WAL would truncate, dropping an acknowledged entry.
        if len > MAX_RECORD_FIELD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("WAL record field of {len} bytes (limit {MAX_RECORD_FIELD}): damaged"),
            ));
        }
        // Read through `take` instead of pre-allocating `len`: a corrupt length must not
        // trigger a huge allocation.
        let mut bytes = Vec::new();
        r.take(len as u64).read_to_end(&mut bytes)?;
        if bytes.len() != len {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(Cd(codec::decode(&bytes)?))
    }
}

/// Completion of a WAL flush: either openraft's append callback or a waiter in `save_vote`,
/// with when the write was handed to the WAL.
pub(crate) enum FlushCallback {
    Raft(IOFlushed<TypeConfig>, Instant),
    Wait(tokio::sync::oneshot::Sender<io::Result<()>>, Instant),
}

/// Seconds from handing a write to the WAL until its fdatasync completed (group-commit wait,
/// queueing behind the previous sync, and the sync itself), by what was written.
pub const WAL_DURABLE_SECONDS: &str = "cairn_wal_durable_seconds";

impl raft_log::Callback for FlushCallback {
    // Runs on raft-log's FlushWorker thread after the batch's fdatasync (or with its error).
    fn send(self, res: Result<(), io::Error>) {
        match self {
            FlushCallback::Raft(cb, since) => {
                metrics::histogram!(WAL_DURABLE_SECONDS, "write" => "append")
                    .record(since.elapsed().as_secs_f64());
                cb.io_completed(res)
            }
            FlushCallback::Wait(tx, since) => {
                metrics::histogram!(WAL_DURABLE_SECONDS, "write" => "vote")
                    .record(since.elapsed().as_secs_f64());
                // The waiter may have been cancelled; nothing else to notify then.
                let _ = tx.send(res);
            }
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LogTypes;

impl raft_log::Types for LogTypes {
    type LogId = Cd<LogId>;
    type LogPayload = Cd<Payload>;
    type Vote = Cd<Vote>;
    type Callback = FlushCallback;
    type UserData = ();

    fn log_index(log_id: &Self::LogId) -> u64 {
        log_id.0.index()
    }

    fn payload_size(payload: &Self::LogPayload) -> u64 {
        // Only sizes the payload cache; a size walk is cheap and needs no allocation.
        postcard::experimental::serialized_size(&payload.0).map_or(0, |n| n as u64)
    }
}
