//! A DynamoDB stand-in in front of a real endpoint (DynamoDB Local), on a real socket: it passes
//! requests through and counts them per operation, or misbehaves on demand, as DynamoDB does
//! under load or in an outage. The fault tests, the load run and the benchmark's call counts
//! use it. With `record_capacity(true)` it also asks DynamoDB for the capacity every request
//! consumes (`ReturnConsumedCapacity = INDEXES`, added to the request on its way through) and
//! records it per operation, for the cost figures.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    sync::{
        atomic::{AtomicBool, AtomicU8, Ordering},
        Arc, Mutex,
    },
};

use http_body_util::{BodyExt, Full};
use hyper::{body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// How the proxy answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Forward to the real endpoint.
    Pass = 0,
    /// Accept the request and never answer, like a paused DynamoDB.
    Stall = 1,
    /// Answer `ProvisionedThroughputExceededException`, as a throttled table does.
    Throttle = 2,
    /// Answer a 500 `InternalServerError`.
    ServerError = 3,
}

pub struct DynamoProxy {
    pub endpoint: String,
    mode: Arc<AtomicU8>,
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
    capacity: Arc<Capacity>,
}

/// Capacity one request consumed, as DynamoDB reported it (`ConsumedCapacity`, every table
/// and index summed), or, for a write refused by its condition, which reports none, nothing but
/// the failure.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumed {
    pub operation: String,
    pub read_units: f64,
    pub write_units: f64,
    /// The part of `write_units` spent on global secondary indexes.
    pub index_write_units: f64,
    /// The request failed (e.g. `ConditionalCheckFailedException`, `TransactionCanceledException`).
    pub failed: Option<String>,
}

#[derive(Default)]
struct Capacity {
    on: AtomicBool,
    seen: Mutex<Vec<Consumed>>,
}

/// The operations that accept `ReturnConsumedCapacity`.
const CAPACITY_OPERATIONS: &[&str] = &[
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
];

impl DynamoProxy {
    /// Listens on a free loopback port and forwards to `upstream` (e.g. `http://127.0.0.1:8000`).
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let counts = Arc::new(Mutex::new(BTreeMap::new()));
        let capacity = Arc::new(Capacity::default());
        let shared = Arc::new(Shared {
            capacity: Arc::clone(&capacity),
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            mode: Arc::clone(&mode),
            counts: Arc::clone(&counts),
        });
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, Infallible>(shared.answer(req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(DynamoProxy {
            endpoint,
            mode,
            counts,
            capacity,
        })
    }

    pub fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Requests seen per operation (`GetItem`, `TransactWriteItems`, ...), whatever the mode.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn reset_counts(&self) {
        if let Ok(mut c) = self.counts.lock() {
            c.clear();
        }
    }

    pub fn total(&self) -> usize {
        self.counts().values().sum()
    }

    /// Asks DynamoDB for the consumed capacity of every request from now on (or stops asking).
    pub fn record_capacity(&self, on: bool) {
        self.capacity.on.store(on, Ordering::SeqCst);
    }

    /// The capacity recorded since the last call, in request order; clears it.
    pub fn take_capacity(&self) -> Vec<Consumed> {
        self.capacity
            .seen
            .lock()
            .map(|mut seen| std::mem::take(&mut *seen))
            .unwrap_or_default()
    }
}

struct Shared {
    capacity: Arc<Capacity>,
    upstream: String,
    client: reqwest::Client,
    mode: Arc<AtomicU8>,
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Shared {
    async fn answer(&self, req: hyper::Request<hyper::body::Incoming>) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let operation = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("?")
            .to_owned();
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(operation.clone()).or_default() += 1;
        }
        let mut body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        let recording = self.capacity.on.load(Ordering::SeqCst)
            && CAPACITY_OPERATIONS.contains(&operation.as_str())
            && self.mode.load(Ordering::SeqCst) == Mode::Pass as u8;
        if recording {
            body = ask_for_capacity(body);
            return match self.send(parts, body).await {
                Some((status, headers, bytes)) => {
                    self.record(operation, status, &bytes);
                    respond(status, &headers, bytes)
                }
                None => error(502, "BadGateway", "upstream unreachable"),
            };
        }
        match self.mode.load(Ordering::SeqCst) {
            m if m == Mode::Stall as u8 => std::future::pending().await,
            m if m == Mode::Throttle as u8 => error(
                400,
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
            ),
            m if m == Mode::ServerError as u8 => error(500, "InternalServerError", "Internal server error"),
            _ => self.forward(parts, body).await,
        }
    }

    async fn forward(&self, parts: http::request::Parts, body: Bytes) -> hyper::Response<Full<Bytes>> {
        match self.send(parts, body).await {
            Some((status, headers, bytes)) => respond(status, &headers, bytes),
            // The real endpoint is down: the client sees a broken gateway.
            None => error(502, "BadGateway", "upstream unreachable"),
        }
    }

    async fn send(
        &self,
        parts: http::request::Parts,
        body: Bytes,
    ) -> Option<(http::StatusCode, http::HeaderMap, Bytes)> {
        let url = format!(
            "{}{}",
            self.upstream,
            parts.uri.path_and_query().map_or("/", |p| p.as_str())
        );
        let mut request = self.client.request(parts.method, url).body(body);
        for (name, value) in &parts.headers {
            if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
                request = request.header(name, value);
            }
        }
        let upstream = request.send().await.ok()?;
        let status = upstream.status();
        let headers = upstream.headers().clone();
        let bytes = upstream.bytes().await.unwrap_or_default();
        Some((status, headers, bytes))
    }
}

fn respond(
    status: http::StatusCode,
    headers: &http::HeaderMap,
    bytes: Bytes,
) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(bytes));
    *response.status_mut() = status;
    for (name, value) in headers {
        if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

impl Shared {
    fn record(&self, operation: String, status: http::StatusCode, body: &Bytes) {
        let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let mut consumed = Consumed {
            operation,
            read_units: 0.0,
            write_units: 0.0,
            index_write_units: 0.0,
            failed: None,
        };
        if !status.is_success() {
            consumed.failed = Some(
                value["__type"]
                    .as_str()
                    .and_then(|t| t.rsplit('#').next())
                    .unwrap_or("error")
                    .to_owned(),
            );
        }
        let entries = match &value["ConsumedCapacity"] {
            serde_json::Value::Array(list) => list.clone(),
            serde_json::Value::Null => Vec::new(),
            one => vec![one.clone()],
        };
        for entry in &entries {
            let units = |v: &serde_json::Value, name: &str| v[name].as_f64().unwrap_or(0.0);
            let (read, write, total) = (
                units(entry, "ReadCapacityUnits"),
                units(entry, "WriteCapacityUnits"),
                units(entry, "CapacityUnits"),
            );
            // GetItem and Query report only `CapacityUnits`; writes report both.
            if read == 0.0 && write == 0.0 {
                if is_write(&consumed.operation) {
                    consumed.write_units += total;
                } else {
                    consumed.read_units += total;
                }
            } else {
                consumed.read_units += read;
                consumed.write_units += write;
            }
            if let Some(indexes) = entry["GlobalSecondaryIndexes"].as_object() {
                for index in indexes.values() {
                    let write = units(index, "WriteCapacityUnits");
                    consumed.index_write_units += if write == 0.0 && is_write(&consumed.operation) {
                        units(index, "CapacityUnits")
                    } else {
                        write
                    };
                }
            }
        }
        if let Ok(mut seen) = self.capacity.seen.lock() {
            seen.push(consumed);
        }
    }
}

fn is_write(operation: &str) -> bool {
    matches!(
        operation,
        "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems"
    )
}

/// The request with `"ReturnConsumedCapacity": "INDEXES"` added (unchanged if it is not JSON).
fn ask_for_capacity(body: Bytes) -> Bytes {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(mut request)) => {
            request.insert(
                "ReturnConsumedCapacity".to_owned(),
                serde_json::Value::String("INDEXES".to_owned()),
            );
            Bytes::from(serde_json::Value::Object(request).to_string())
        }
        _ => body,
    }
}

/// An error the way DynamoDB's JSON protocol reports it.
fn error(status: u16, code: &str, message: &str) -> hyper::Response<Full<Bytes>> {
    let body = serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"),
        "message": message,
    })
    .to_string();
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    if let Ok(value) = http::HeaderValue::from_str(code) {
        response.headers_mut().insert("x-amzn-errortype", value);
    }
    response
}
