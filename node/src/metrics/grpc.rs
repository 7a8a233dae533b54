//! A tower layer on the client gRPC server: `cairn_grpc_requests_total{method,code}` and
//! `cairn_grpc_request_duration_seconds{method}`.
//!
//! The code is read from the response headers: tonic sends an error as a trailers-only
//! response (grpc-status in the headers), and a success carries its status in the trailers,
//! so a response without one in the headers is OK. Latency is to the response headers, which
//! for unary calls is the whole call. Methods outside Cairn's own services are counted as
//! "other", so arbitrary request paths cannot grow the label set.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use metrics::{counter, histogram};
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

fn method_label(path: &str) -> String {
    if KNOWN.iter().any(|p| path.starts_with(p)) && path.len() <= 128 {
        path.trim_start_matches('/').to_string()
    } else {
        "other".to_string()
    }
}

/// gRPC status code names (as in grpc's own metrics), by number.
pub fn code_name(code: &str) -> &'static str {
    match code {
        "0" => "OK",
        "1" => "CANCELLED",
        "2" => "UNKNOWN",
        "3" => "INVALID_ARGUMENT",
        "4" => "DEADLINE_EXCEEDED",
        "5" => "NOT_FOUND",
        "6" => "ALREADY_EXISTS",
        "7" => "PERMISSION_DENIED",
        "8" => "RESOURCE_EXHAUSTED",
        "9" => "FAILED_PRECONDITION",
        "10" => "ABORTED",
        "11" => "OUT_OF_RANGE",
        "12" => "UNIMPLEMENTED",
        "13" => "INTERNAL",
        "14" => "UNAVAILABLE",
        "15" => "DATA_LOSS",
        "16" => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
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
        let method = method_label(req.uri().path());
        let start = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            let code = match &res {
                Ok(r) => r
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .map_or("OK", code_name),
                Err(_) => "TRANSPORT",
            };
            counter!("cairn_grpc_requests_total", "method" => method.clone(), "code" => code)
                .increment(1);
            histogram!("cairn_grpc_request_duration_seconds", "method" => method)
                .record(start.elapsed().as_secs_f64());
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
        assert_eq!(code_name("14"), "UNAVAILABLE");
        assert_eq!(code_name("99"), "UNKNOWN");
    }
}
