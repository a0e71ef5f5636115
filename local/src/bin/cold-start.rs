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
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use local::{
    dynamodb_local::{repo_root, DynamoDbLocal},
    runtime_api::{lambda_env, RuntimeApi},
    schema::TableSchema,
};

const TABLE: &str = "cold-start-bench";
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let event = std::fs::read_to_string(&args.event)?;

    let dynamodb = DynamoDbLocal::start(None, None)?;
    let endpoint = dynamodb.endpoint();
    TableSchema::from_repo_template()
        .ensure_table(&local::local_client(&endpoint, &Default::default()), TABLE)
        .await?;

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
        let mut api = RuntimeApi::start().await?;
        let started = Instant::now();
        let mut child = Command::new(&args.bootstrap)
            .env_clear()
            .envs(lambda_env(&api.address, &endpoint, TABLE))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let outcome = async {
            let initialised = api.wait_next(STEP_TIMEOUT).await?;
            let answer = api.invoke(event.clone(), STEP_TIMEOUT).await?;
            Ok::<_, String>((initialised, answer))
        }
        .await;
        let _ = child.kill();
        let _ = child.wait();
        let (initialised, answer) = outcome?;
        let status = answer.status.unwrap_or(0);
        if !(200..300).contains(&status) {
            return Err(format!("the first request was answered with HTTP {status}").into());
        }
        if run > 0 {
            init_ms.push(initialised.duration_since(started).as_secs_f64() * 1000.0);
            first_response_ms.push(answer.at.duration_since(started).as_secs_f64() * 1000.0);
        }
    }
    summary("spawn -> first /invocation/next", init_ms);
    summary("spawn -> first response (cold)", first_response_ms);
    drop(dynamodb);
    Ok(())
}
