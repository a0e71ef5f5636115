//! Metrics in CloudWatch Embedded Metric Format: recorded through the `metrics` facade and, in
//! Lambda, written to stdout as one EMF document per dimension set after every invocation, which
//! CloudWatch turns into metrics without an API call or an agent. Without a recorder (local
//! runs, most tests) every call here is a no-op.
//!
//! Metrics (namespace from `METRICS_NAMESPACE`, dimension `function` on all):
//! - `requests` and `latency` (ms) by `method` and `route`, `server_errors` (5xx) likewise;
//! - `cold_starts`;
//! - `dynamodb_throttles` by `operation`, `transaction_conflicts` by `operation` (attempts that
//!   collided with another transaction and were retried), `write_rounds_retried` (versioned
//!   read-modify-writes that lost a race and went round again).

use std::sync::OnceLock;

use metrics::{counter, histogram, Unit};
use metrics_cloudwatch_embedded::{Builder, Collector};

static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();

/// Installs the EMF recorder for `function` under `namespace`; `false` when one is installed
/// already (by this or another call).
pub fn init(namespace: &str, function: &'static str) -> bool {
    if COLLECTOR.get().is_some() {
        return false;
    }
    let built = Builder::new()
        .cloudwatch_namespace(namespace.to_owned())
        .with_dimension("function", function)
        .init();
    match built {
        Ok(collector) => {
            metrics::describe_histogram!("latency", Unit::Milliseconds, "time to answer a request");
            COLLECTOR.set(collector).is_ok()
        }
        Err(error) => {
            tracing::warn!(%error, "metrics recorder not installed");
            false
        }
    }
}

/// Writes what was recorded since the last flush as EMF lines to `writer`.
pub fn flush(writer: impl std::io::Write) {
    if let Some(collector) = COLLECTOR.get() {
        if let Err(error) = collector.flush(writer) {
            tracing::warn!(%error, "writing metrics failed");
        }
    }
}

/// One served request. `route` is the matched path template (`unmatched` for a 404 path).
pub fn request(method: &'static str, route: &'static str, status: u16, latency_ms: f64, cold: bool) {
    let labels = [("method", method), ("route", route)];
    counter!("requests", &labels).increment(1);
    histogram!("latency", &labels).record(latency_ms);
    if status >= 500 {
        counter!("server_errors", &labels).increment(1);
    }
    if cold {
        counter!("cold_starts").increment(1);
    }
}

pub fn dynamodb_throttled(operation: &'static str) {
    counter!("dynamodb_throttles", "operation" => operation).increment(1);
}

pub fn transaction_conflict(operation: &'static str) {
    counter!("transaction_conflicts", "operation" => operation).increment(1);
}

pub fn write_round_retried() {
    counter!("write_rounds_retried").increment(1);
}
