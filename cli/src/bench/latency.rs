//! Latency recording and the JSON numbers the benchmarks print.

use hdrhistogram::Histogram;

/// Latencies above this (60 s in microseconds) are clamped; far beyond the client's retry
/// deadline anyway.
const MAX_LATENCY_US: u64 = 60_000_000;

/// A histogram of latencies in microseconds, 1 us to [`MAX_LATENCY_US`], 3 significant digits.
pub(super) fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?)
}

/// A JSON number (`null` if not finite, which JSON cannot express).
pub(super) fn num(x: f64) -> String {
    serde_json::Value::from(x).to_string()
}
