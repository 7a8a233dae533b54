//! Accepted TLS connections as the stream of connections tonic serves. The TLS handshake runs
//! in a task of its own per connection, under a deadline and a cap on handshakes in progress,
//! so a client that connects and sends nothing delays nobody else.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

use super::reload::Reloading;
use crate::conn_limit::{Limited, PerAddress};

/// A handshake not finished by then is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; further connections wait in the kernel's accept queue.
const MAX_HANDSHAKES: usize = 256;

/// The current acceptor (with the certificates on disk now).
pub fn acceptor(tls: &Reloading<rustls::ServerConfig>) -> TlsAcceptor {
    TlsAcceptor::from(tls.current().1)
}

/// Connections on `listener`, each through a TLS handshake with the config current when it
/// was accepted. Ends when the consumer drops the stream (the server stopped).
pub fn incoming(
    listener: TcpListener,
    tls: Arc<Reloading<rustls::ServerConfig>>,
    limit: Arc<PerAddress>,
) -> impl Stream<Item = Result<Limited<TlsStream<TcpStream>>, std::io::Error>> {
    let (tx, rx) = mpsc::channel(MAX_HANDSHAKES);
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = handshakes.clone().acquire_owned().await else {
                return;
            };
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = tx.closed() => return,
            };
            let (stream, remote) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    // Out of file descriptors and the like: do not spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Over the client address's share: closed before any handshake work.
            let Some(slot) = limit.admit(remote.ip()) else {
                tracing::debug!(%remote, "connection refused: too many from this address");
                continue;
            };
            // Small gRPC frames would otherwise wait for delayed ACKs.
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor(&tls);
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(Limited::new(tls, slot))).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%remote, "TLS handshake failed: {e}"),
                    Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                }
                drop(permit);
            });
        }
    });
    ReceiverStream::new(rx)
}
