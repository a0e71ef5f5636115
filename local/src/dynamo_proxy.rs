//! A DynamoDB stand-in in front of a real endpoint (DynamoDB Local), on a real socket: it passes
//! requests through and counts them per operation, or misbehaves on demand, as DynamoDB does
//! under load or in an outage. The fault tests, the load run and the benchmark's call counts
//! use it.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    sync::{
        atomic::{AtomicU8, Ordering},
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
}

impl DynamoProxy {
    /// Listens on a free loopback port and forwards to `upstream` (e.g. `http://127.0.0.1:8000`).
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let counts = Arc::new(Mutex::new(BTreeMap::new()));
        let shared = Arc::new(Shared {
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
}

struct Shared {
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
            *counts.entry(operation).or_default() += 1;
        }
        let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
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
        match request.send().await {
            Ok(upstream) => {
                let status = upstream.status();
                let headers = upstream.headers().clone();
                let bytes = upstream.bytes().await.unwrap_or_default();
                let mut response = hyper::Response::new(Full::new(bytes));
                *response.status_mut() = status;
                for (name, value) in &headers {
                    if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
                        response.headers_mut().insert(name, value.clone());
                    }
                }
                response
            }
            // The real endpoint is down: the client sees a broken gateway.
            Err(_) => error(502, "BadGateway", "upstream unreachable"),
        }
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
