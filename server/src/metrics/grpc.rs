//! A tower layer on the client gRPC server: `cairn_grpc_requests_total{method,code}` and
//! `cairn_grpc_request_duration_seconds{method}`.
//!
//! The code is read from the response headers: tonic sends an error as a trailers-only
//! response (grpc-status in the headers), and a success carries its status in the trailers,
//! so a response without one in the headers is OK. Latency is to the response headers, which
//! for unary calls is the whole call. Methods outside Cairn's own services, and paths the
//! server does not implement, are counted as "other", so request paths cannot grow the label
//! set.
//!
//! Handles are registered once per method and kept: resolving a labelled metric through the
//! recorder builds and hashes its key on every call, a visible per-request cost on a busy
//! leader.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use metrics::{Counter, Histogram, counter, histogram};
use tower_layer::Layer;
use tower_service::Service;

#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcMetricsLayer;

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics { inner }
    }
}

#[derive(Clone, Debug)]
pub struct GrpcMetrics<S> {
    inner: S,
}

/// Path prefixes whose methods are labelled by name.
const KNOWN: [&str; 3] = ["/cairn.v1.", "/grpc.health.v1.", "/etcdserverpb."];

fn method_label(path: &str) -> &str {
    if KNOWN.iter().any(|p| path.starts_with(p)) && path.len() <= 128 {
        path.trim_start_matches('/')
    } else {
        OTHER
    }
}

const OTHER: &str = "other";

/// gRPC status code names (as in grpc's own metrics), by number; index 17 is a transport
/// failure (no status at all).
const CODES: [&str; 18] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
    "TRANSPORT",
];
const UNKNOWN: usize = 2;
const UNIMPLEMENTED: usize = 12;
const TRANSPORT: usize = 17;

/// Index into [`CODES`] of a grpc-status header value.
fn code_index(code: &str) -> usize {
    match code.parse::<usize>() {
        Ok(i) if i < TRANSPORT => i,
        _ => UNKNOWN,
    }
}

/// One method's registered metrics.
struct MethodMetrics {
    duration: Histogram,
    label: String,
    calls: [OnceLock<Counter>; CODES.len()],
}

impl MethodMetrics {
    fn new(label: &str) -> Self {
        Self {
            duration: histogram!("cairn_grpc_request_duration_seconds", "method" => label.to_string()),
            label: label.to_string(),
            calls: Default::default(),
        }
    }

    fn record(&self, code: usize, start: Instant) {
        self.calls[code]
            .get_or_init(|| {
                counter!("cairn_grpc_requests_total", "method" => self.label.clone(), "code" => CODES[code])
            })
            .increment(1);
        self.duration.record(start.elapsed().as_secs_f64());
    }
}

/// Metrics by method label; only labels of implemented methods (and "other") get in.
static METHODS: LazyLock<RwLock<HashMap<String, Arc<MethodMetrics>>>> =
    LazyLock::new(Default::default);

fn cached(label: &str) -> Option<Arc<MethodMetrics>> {
    METHODS.read().ok()?.get(label).cloned()
}

fn register(label: &str) -> Arc<MethodMetrics> {
    let mut map = match METHODS.write() {
        Ok(map) => map,
        // A panic while registering left the map usable: every insert is a single call.
        Err(poisoned) => poisoned.into_inner(),
    };
    map.entry(label.to_string())
        .or_insert_with(|| Arc::new(MethodMetrics::new(label)))
        .clone()
}

impl<S, B, RB> Service<http::Request<B>> for GrpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let label = method_label(req.uri().path());
        // A method seen before is known to exist; a new label waits for the response to show
        // whether the server implements it.
        let known = cached(label).ok_or_else(|| label.to_string());
        let start = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            let code = match &res {
                Ok(r) => r
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .map_or(0, code_index),
                Err(_) => TRANSPORT,
            };
            let metrics = match known {
                Ok(metrics) => metrics,
                Err(_) if code == UNIMPLEMENTED => register(OTHER),
                Err(label) => register(&label),
            };
            metrics.record(code, start);
            res
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(method_label("/cairn.v1.Kv/Put"), "cairn.v1.Kv/Put");
        assert_eq!(method_label("/evil/path"), "other");
        assert_eq!(CODES[code_index("0")], "OK");
        assert_eq!(CODES[code_index("14")], "UNAVAILABLE");
        assert_eq!(CODES[code_index("17")], "UNKNOWN");
        assert_eq!(CODES[code_index("99")], "UNKNOWN");
    }
}
