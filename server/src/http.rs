//! The node's small HTTP/1.1 endpoint: `GET /livez`, `/readyz` and `/metrics`.
//!
//! Hand-rolled on tokio rather than pulling an HTTP server crate in: three GET routes, one
//! response per connection (`Connection: close`), which probes and Prometheus handle fine.
//! Requests are bounded in size and time so a slow or hostile client cannot pin a task.
//! With `--cert-file`, the port speaks HTTPS with the client port's certificate.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openraft::rt::WatchReceiver;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::health;
use crate::metrics::Metrics;
use crate::raft_handle::CairnRaft;
use crate::tls::Reloading;
use crate::tls::incoming::acceptor;

const MAX_REQUEST: usize = 8 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

pub struct HttpState {
    pub raft: CairnRaft,
    pub metrics: Option<Arc<Metrics>>,
    pub tls: Option<Arc<Reloading<rustls::ServerConfig>>>,
}

/// Serves until `stop` turns true.
pub async fn serve(listener: TcpListener, state: Arc<HttpState>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        match accepted {
            Ok((stream, _)) => {
                let state = state.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(REQUEST_TIMEOUT, accept(stream, &state)).await;
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "http accept failed");
                // Out of file descriptors and the like: do not spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Runs `serve` as a task that ends with the node.
pub fn spawn(
    listener: TcpListener,
    state: HttpState,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(serve(listener, Arc::new(state), stop))
}

/// The TLS handshake (when on), then the request; the caller bounds both in time.
async fn accept(stream: TcpStream, state: &HttpState) -> std::io::Result<()> {
    match &state.tls {
        Some(tls) => handle(acceptor(tls).accept(stream).await?, state).await,
        None => handle(stream, state).await,
    }
}

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    state: &HttpState,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_REQUEST {
            return respond(&mut stream, 431, "text/plain", "request too large\n").await;
        }
    }
    let line = buf.split(|b| *b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = route(method, path, state).await;
    respond(&mut stream, status, content_type, &body).await
}

async fn route(method: &str, path: &str, state: &HttpState) -> (u16, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    if method != "GET" && method != "HEAD" {
        return (405, TEXT, "only GET\n".into());
    }
    let verdict = |r: Result<(), String>| match r {
        Ok(()) => (200, TEXT, "ok\n".to_string()),
        Err(e) => (503, TEXT, format!("{e}\n")),
    };
    match path {
        "/livez" | "/healthz" => verdict(health::liveness(&state.raft.metrics().borrow_watched())),
        "/readyz" => verdict(health::readiness(&state.raft.metrics().borrow_watched())),
        "/metrics" => match &state.metrics {
            Some(m) => (
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                m.render().await,
            ),
            None => (
                404,
                TEXT,
                "metrics are not enabled in this process\n".into(),
            ),
        },
        _ => (
            404,
            TEXT,
            "not found; try /livez, /readyz or /metrics\n".into(),
        ),
    }
}

async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// A minimal GET for tests and `cairn up`'s own checks: the status code and body.
#[allow(dead_code)]
pub fn get(addr: &str, path: &str) -> impl Future<Output = std::io::Result<(u16, String)>> {
    let (addr, path) = (addr.to_string(), path.to_string());
    async move {
        let mut s = TcpStream::connect(&addr).await?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        let code = out
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = out.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        Ok((code, body.to_string()))
    }
}
