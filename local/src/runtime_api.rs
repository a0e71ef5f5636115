//! A stand-in for the Lambda Runtime API on loopback, for timing a function's `bootstrap`
//! without AWS: the cold-start run and the benchmark spawn a bootstrap against it with a
//! Lambda-like environment (`lambda_env`), hand it events one at a time and time its answers.
//!
//! One instance serves one process: a killed process may leave a poll of
//! `/invocation/next` pending, which must not take the next process's event, so every spawn gets
//! a fresh instance (a loopback listener is cheap). Dropping the instance stops its server.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use http_body_util::{BodyExt, Full};
use hyper::{body::Bytes, server::conn::http1, service::service_fn, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, sync::mpsc, task::JoinSet};

/// The deadline every invocation is given.
const DEADLINE: Duration = Duration::from_secs(20);

/// What the function did, as the stand-in saw it.
#[derive(Debug)]
pub enum Signal {
    /// It asked for work: `GET /2018-06-01/runtime/invocation/next` (the first one ends init).
    Next(Instant),
    /// It answered the event handed out at `handed_out` (`POST .../response`).
    Response(Answer),
    /// It reported an init or invocation error.
    Error(String),
}

#[derive(Debug)]
pub struct Answer {
    pub at: Instant,
    pub handed_out: Option<Instant>,
    /// `statusCode` of an API Gateway response; `None` for other payloads.
    pub status: Option<u16>,
    pub body: Bytes,
}

impl Answer {
    /// From handing the event out to receiving the answer: the invocation as the runtime sees it.
    pub fn latency(&self) -> Option<Duration> {
        self.handed_out.map(|h| self.at.duration_since(h))
    }
}

pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    events: mpsc::UnboundedSender<String>,
    signals: mpsc::UnboundedReceiver<Signal>,
    server: tokio::task::JoinHandle<()>,
}

struct Inner {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>,
    signals: mpsc::UnboundedSender<Signal>,
    handed_out: Mutex<Option<Instant>>,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?.to_string();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (signals_tx, signals_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            events: tokio::sync::Mutex::new(events_rx),
            signals: signals_tx,
            handed_out: Mutex::new(None),
        });
        let server = tokio::spawn(async move {
            // Owned here, so aborting the server aborts every connection (and pending poll).
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let inner = Arc::clone(&inner);
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        let inner = Arc::clone(&inner);
                        async move { Ok::<_, Infallible>(inner.serve(req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(RuntimeApi {
            address,
            events: events_tx,
            signals: signals_rx,
            server,
        })
    }

    /// Queues `event` for the function's next poll.
    pub fn hand_out(&self, event: impl Into<String>) {
        let _ = self.events.send(event.into());
    }

    /// The function's next call, or an error after `timeout`.
    pub async fn next_signal(&mut self, timeout: Duration) -> Result<Signal, String> {
        tokio::time::timeout(timeout, self.signals.recv())
            .await
            .map_err(|_| "the function did not call the Runtime API in time".to_owned())?
            .ok_or_else(|| "the Runtime API stand-in stopped".to_owned())
    }

    /// Waits for a poll of `/next` (init done, or the previous event answered).
    pub async fn wait_next(&mut self, timeout: Duration) -> Result<Instant, String> {
        match self.next_signal(timeout).await? {
            Signal::Next(at) => Ok(at),
            Signal::Error(error) => Err(format!("the function reported an error: {error}")),
            Signal::Response(_) => Err("the function answered without an event".to_owned()),
        }
    }

    /// Waits for the answer to the event handed out.
    pub async fn wait_answer(&mut self, timeout: Duration) -> Result<Answer, String> {
        match self.next_signal(timeout).await? {
            Signal::Response(answer) => Ok(answer),
            Signal::Error(error) => Err(format!("the function reported an error: {error}")),
            Signal::Next(_) => Err("the function asked for work twice".to_owned()),
        }
    }

    /// Hands out `event` once the function polls, and returns its answer.
    pub async fn invoke(&mut self, event: impl Into<String>, timeout: Duration) -> Result<Answer, String> {
        self.hand_out(event);
        self.wait_answer(timeout).await
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Inner {
    async fn serve(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let at = Instant::now();
        let path = req.uri().path().to_owned();
        if path.ends_with("/invocation/next") {
            let _ = self.signals.send(Signal::Next(at));
            let Some(event) = self.events.lock().await.recv().await else {
                return std::future::pending().await;
            };
            let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + DEADLINE;
            let response = Response::builder()
                .header("lambda-runtime-aws-request-id", uuid::Uuid::now_v7().to_string())
                .header("lambda-runtime-deadline-ms", deadline.as_millis().to_string())
                .header(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:bench",
                )
                .header(
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000;Sampled=0",
                )
                .body(Full::new(Bytes::from(event)))
                .unwrap_or_default();
            if let Ok(mut handed_out) = self.handed_out.lock() {
                *handed_out = Some(Instant::now());
            }
            return response;
        }
        let body = req
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        if path.ends_with("/response") {
            let status = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("statusCode").and_then(serde_json::Value::as_u64))
                .and_then(|s| u16::try_from(s).ok());
            let handed_out = self.handed_out.lock().ok().and_then(|mut h| h.take());
            let _ = self.signals.send(Signal::Response(Answer {
                at,
                handed_out,
                status,
                body,
            }));
        } else if path.ends_with("/error") {
            let _ = self
                .signals
                .send(Signal::Error(String::from_utf8_lossy(&body).into_owned()));
        }
        let mut accepted = Response::new(Full::new(Bytes::from_static(b"{}")));
        *accepted.status_mut() = http::StatusCode::ACCEPTED;
        accepted
    }
}

/// The environment Lambda gives a function (`provided.al2023`, JSON logs), pointed at the
/// stand-in `runtime_api` and at DynamoDB `endpoint`, with dummy credentials and the dev secrets.
pub fn lambda_env(runtime_api: &str, endpoint: &str, table: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", "bench"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_SESSION_TOKEN", "local"),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
        ("TABLE_NAME", table),
        ("JWT_HS256_SECRET", crate::token::DEV_JWT_SECRET),
        ("CURSOR_SECRET", crate::token::DEV_CURSOR_SECRET),
        ("TZ", ":UTC"),
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}
