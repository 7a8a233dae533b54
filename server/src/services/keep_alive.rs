//! A lease keep-alive stream, as the Cairn and the etcd Lease services both serve it: each
//! request on the client's stream is answered in order on ours; the stream ends when the
//! client closes its side or stops reading, or after the first failed answer (as in etcd: the
//! client opens a new stream).

use std::future::Future;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

/// Answers buffered per stream before the sender waits for the client to read.
const BUFFER: usize = 16;

pub fn serve<Req, Resp, F, Fut>(
    mut incoming: Streaming<Req>,
    mut answer: F,
) -> ReceiverStream<Result<Resp, Status>>
where
    Req: Send + 'static,
    Resp: Send + 'static,
    F: FnMut(Req) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Resp, Status>> + Send,
{
    let (tx, rx) = mpsc::channel(BUFFER);
    // The renewals are the caller's writes: they carry the caller's user.
    tokio::spawn(crate::auth::caller::inherit(async move {
        loop {
            let next = tokio::select! {
                next = incoming.message() => next,
                // The client stopped reading answers: stop renewing for it.
                _ = tx.closed() => return,
            };
            let reply = match next {
                Ok(Some(req)) => answer(req).await,
                // The client closed its side, or the connection broke.
                Ok(None) | Err(_) => return,
            };
            let failed = reply.is_err();
            if tx.send(reply).await.is_err() || failed {
                return;
            }
        }
    }));
    ReceiverStream::new(rx)
}
