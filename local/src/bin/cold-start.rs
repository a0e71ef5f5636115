//! Cold-start benchmark without AWS: a stand-in for the Lambda Runtime API on loopback, and a
//! function's `bootstrap` spawned against it again and again with a Lambda-like environment.
//!
//! Per run it records the time from spawning the process to
//! - its first `GET /2018-06-01/runtime/invocation/next` (the init phase Lambda bills as
//!   "Init Duration": configuration, SDK set-up, runtime client), and
//! - its first `POST .../response` for the event it was handed (init plus the first request,
//!   which includes the JWT check and the first DynamoDB round trips, against DynamoDB Local).
//!
//! Usage: `cold-start [--bootstrap PATH] [--event FILE] [--runs N]`
//! (defaults: target/lambda/tenants/bootstrap, events/tenants-get-current.json, 20 runs).

use std::{
    convert::Infallible,
    path::PathBuf,
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use http_body_util::{BodyExt, Full};
use hyper::{body::Bytes, server::conn::http1, service::service_fn, Request, Response};
use hyper_util::rt::TokioIo;
use local::{
    dynamodb_local::{repo_root, DynamoDbLocal},
    schema::TableSchema,
    token::{DEV_CURSOR_SECRET, DEV_JWT_SECRET},
};
use tokio::{net::TcpListener, sync::mpsc};

const TABLE: &str = "cold-start-bench";
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug)]
enum Signal {
    Next(Instant),
    Response(Instant, u16),
    Error(String),
}

/// The stand-in Runtime API: hands out `event` once per run, then holds further polls open.
struct RuntimeApi {
    event: String,
    handed_out: AtomicBool,
    signals: mpsc::UnboundedSender<Signal>,
}

impl RuntimeApi {
    async fn serve(self: Arc<Self>, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let at = Instant::now();
        let path = req.uri().path().to_owned();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        if path.ends_with("/invocation/next") {
            let _ = self.signals.send(Signal::Next(at));
            if self.handed_out.swap(true, Ordering::SeqCst) {
                // The function is warm and idle now; it is killed before this ever resolves.
                std::future::pending::<()>().await;
            }
            let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + STEP_TIMEOUT;
            return Response::builder()
                .header("lambda-runtime-aws-request-id", uuid::Uuid::now_v7().to_string())
                .header("lambda-runtime-deadline-ms", deadline.as_millis().to_string())
                .header(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:eu-west-1:123456789012:function:bench",
                )
                .header(
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000",
                )
                .body(Full::new(Bytes::from(self.event.clone())))
                .unwrap_or_default();
        }
        if path.ends_with("/response") {
            let status = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["statusCode"].as_u64())
                .unwrap_or(0) as u16;
            let _ = self.signals.send(Signal::Response(at, status));
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

struct Args {
    bootstrap: PathBuf,
    event: PathBuf,
    runs: usize,
}

fn parse_args() -> Result<Args, String> {
    let root = repo_root();
    let mut args = Args {
        bootstrap: root.join("target/lambda/tenants/bootstrap"),
        event: root.join("events/tenants-get-current.json"),
        runs: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--bootstrap" => args.bootstrap = value.into(),
            "--event" => args.event = value.into(),
            "--runs" => args.runs = value.parse().map_err(|_| "--runs must be a number")?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if !args.bootstrap.is_file() {
        return Err(format!(
            "{} not found: build it with `cargo lambda build --release`",
            args.bootstrap.display()
        ));
    }
    Ok(args)
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn summary(label: &str, mut values: Vec<f64>) {
    values.sort_by(f64::total_cmp);
    let p90 = values[((values.len() as f64 * 0.9).ceil() as usize).saturating_sub(1)];
    println!(
        "{label:<34} median {:7.2} ms   min {:7.2}   p90 {:7.2}   max {:7.2}   (n={})",
        median(&values),
        values[0],
        p90,
        values[values.len() - 1],
        values.len()
    );
}

async fn next_signal(rx: &mut mpsc::UnboundedReceiver<Signal>) -> Result<Signal, String> {
    tokio::time::timeout(STEP_TIMEOUT, rx.recv())
        .await
        .map_err(|_| "the function did not call the Runtime API in time".to_owned())?
        .ok_or_else(|| "the Runtime API stand-in stopped".to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let event = std::fs::read_to_string(&args.event)?;

    let dynamodb = DynamoDbLocal::start(None, None)?;
    let endpoint = dynamodb.endpoint();
    TableSchema::from_repo_template()
        .ensure_table(&local::local_client(&endpoint, &Default::default()), TABLE)
        .await?;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let api = Arc::new(RuntimeApi {
        event,
        handed_out: AtomicBool::new(false),
        signals: tx,
    });
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let runtime_api = listener.local_addr()?.to_string();
    let server_api = Arc::clone(&api);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let api = Arc::clone(&server_api);
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let api = Arc::clone(&api);
                    async move { Ok::<_, Infallible>(api.serve(req).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let bootstrap_bytes = std::fs::metadata(&args.bootstrap)?.len();
    println!(
        "bootstrap {} ({:.2} MiB), event {}, {} runs after one unmeasured warm-up",
        args.bootstrap.display(),
        bootstrap_bytes as f64 / (1024.0 * 1024.0),
        args.event.display(),
        args.runs
    );
    let mut init_ms = Vec::new();
    let mut first_response_ms = Vec::new();
    for run in 0..=args.runs {
        while rx.try_recv().is_ok() {}
        api.handed_out.store(false, Ordering::SeqCst);
        let started = Instant::now();
        let mut child = Command::new(&args.bootstrap)
            .env_clear()
            .envs([
                ("AWS_LAMBDA_RUNTIME_API", runtime_api.as_str()),
                ("AWS_LAMBDA_FUNCTION_NAME", "bench"),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
                ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
                ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                ("AWS_REGION", "eu-west-1"),
                ("AWS_DEFAULT_REGION", "eu-west-1"),
                ("AWS_ACCESS_KEY_ID", "local"),
                ("AWS_SECRET_ACCESS_KEY", "local"),
                ("AWS_SESSION_TOKEN", "local"),
                ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
                ("TABLE_NAME", TABLE),
                ("JWT_HS256_SECRET", DEV_JWT_SECRET),
                ("CURSOR_SECRET", DEV_CURSOR_SECRET),
                ("TZ", ":UTC"),
                ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let outcome = async {
            let Signal::Next(initialised) = next_signal(&mut rx).await? else {
                return Err("the function answered before asking for work".to_owned());
            };
            match next_signal(&mut rx).await? {
                Signal::Response(answered, status) => Ok((initialised, answered, status)),
                Signal::Error(error) => Err(format!("the function reported an error: {error}")),
                Signal::Next(_) => Err("the function asked for work twice".to_owned()),
            }
        }
        .await;
        let _ = child.kill();
        let _ = child.wait();
        let (initialised, answered, status) = outcome?;
        if !(200..300).contains(&status) {
            return Err(format!("the first request was answered with HTTP {status}").into());
        }
        if run > 0 {
            init_ms.push(initialised.duration_since(started).as_secs_f64() * 1000.0);
            first_response_ms.push(answered.duration_since(started).as_secs_f64() * 1000.0);
        }
    }
    summary("spawn -> first /invocation/next", init_ms);
    summary("spawn -> first response (cold)", first_response_ms);
    drop(dynamodb);
    Ok(())
}
