//! An example job worker: the loop a real worker runs against the API, to copy and fill in.
//!
//! ```sh
//! job-worker [--url URL] [--token TOKEN] [--sub SUB] [--tenant TENANT] [--types a,b]
//!            [--lease-seconds N] [--work-seconds N] [--poll-seconds N] [--max-jobs N]
//! ```
//!
//! It claims the oldest claimable job (`POST /v1/jobs/claim`), "works" on it for
//! `--work-seconds`, sending a heartbeat whenever a third of the lease has passed so the lease
//! never runs out while it is alive, and reports the outcome (`POST /v1/jobs/{id}/complete`).
//! Every report carries the claim's `attempt`, so a process that lost its job to a takeover is
//! told so (409) even when another process of the same worker holds it now. A 409 on a
//! heartbeat means the job was cancelled or taken over: stop working on it. With nothing to
//! claim (204) it waits `--poll-seconds`; a 503 is retried after `Retry-After`.
//!
//! Defaults suit `make run`: `--url http://127.0.0.1:3000`, a dev token for `--sub worker-1` in
//! `--tenant dev-tenant` with the role `job_worker` (signed with `JWT_HS256_SECRET` when set,
//! else the public dev secret), `--lease-seconds 30 --work-seconds 5 --poll-seconds 2`, and no
//! limit on the number of jobs. `--token` (or `JOB_WORKER_TOKEN`) uses a real token instead,
//! e.g. a client-credentials token of your identity provider.

use std::time::{Duration, Instant};

use local::token::{dev_token, DEV_JWT_SECRET};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const USAGE: &str = "usage: job-worker [--url URL] [--token TOKEN] [--sub SUB] [--tenant TENANT] \
[--types a,b] [--lease-seconds N] [--work-seconds N] [--poll-seconds N] [--max-jobs N]";

struct Options {
    url: String,
    token: String,
    job_types: Option<Vec<String>>,
    lease_seconds: u64,
    work: Duration,
    poll: Duration,
    max_jobs: Option<u64>,
}

fn options() -> Result<Option<Options>, String> {
    let mut url = "http://127.0.0.1:3000".to_owned();
    let mut token = std::env::var("JOB_WORKER_TOKEN").ok().filter(|t| !t.is_empty());
    let mut sub = "worker-1".to_owned();
    let mut tenant = "dev-tenant".to_owned();
    let mut job_types = None;
    let (mut lease_seconds, mut work_seconds, mut poll_seconds) = (30u64, 5u64, 2u64);
    let mut max_jobs = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|_| format!("{arg} needs a number"));
        match arg.as_str() {
            "--url" => url = value()?,
            "--token" => token = Some(value()?),
            "--sub" => sub = value()?,
            "--tenant" => tenant = value()?,
            "--types" => job_types = Some(value()?.split(',').map(|t| t.trim().to_owned()).collect()),
            "--lease-seconds" => lease_seconds = number(value()?)?,
            "--work-seconds" => work_seconds = number(value()?)?,
            "--poll-seconds" => poll_seconds = number(value()?)?,
            "--max-jobs" => max_jobs = Some(number(value()?)?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let token = token.unwrap_or_else(|| {
        let secret = std::env::var("JWT_HS256_SECRET")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEV_JWT_SECRET.to_owned());
        dev_token(secret.as_bytes(), &sub, Some(&tenant), &["job_worker"], 24 * 3600)
    });
    Ok(Some(Options {
        url: url.trim_end_matches('/').to_owned(),
        token,
        job_types,
        lease_seconds,
        work: Duration::from_secs(work_seconds),
        poll: Duration::from_secs(poll_seconds),
        max_jobs,
    }))
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(Some(options)) => options,
        Ok(None) => return,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(message) = run(&options).await {
        eprintln!("job-worker: {message}");
        std::process::exit(1);
    }
}

/// One API call: the status and the JSON body (`Null` when there is none).
async fn post(client: &Client, o: &Options, path: &str, body: Value) -> Result<(StatusCode, Value), String> {
    let response = client
        .post(format!("{}{path}", o.url))
        .bearer_auth(&o.token)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("POST {path}: {e}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| format!("POST {path}: {e}"))?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

async fn run(o: &Options) -> Result<(), String> {
    let client = Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| e.to_string())?;
    let mut done = 0u64;
    while o.max_jobs.is_none_or(|max| done < max) {
        let mut claim = json!({"lease_seconds": o.lease_seconds});
        if let Some(types) = &o.job_types {
            claim["job_types"] = json!(types);
        }
        let (status, job) = post(&client, o, "/v1/jobs/claim", claim).await?;
        match status {
            StatusCode::OK => {}
            StatusCode::NO_CONTENT => {
                tokio::time::sleep(o.poll).await;
                continue;
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            other => return Err(format!("claim answered {other}: {job}")),
        }
        let id = job["id"].as_str().unwrap_or_default().to_owned();
        let attempt = job["attempts"].clone();
        println!("claimed {id} ({}, attempt {attempt})", job["job_type"]);
        match work(&client, o, &id, &attempt, &job).await? {
            Some(result) => {
                let report = json!({"status": "succeeded", "result": result, "attempt": attempt});
                let (status, body) = post(&client, o, &format!("/v1/jobs/{id}/complete"), report).await?;
                match status {
                    StatusCode::OK => println!("completed {id}"),
                    // Cancelled or taken over between the last heartbeat and now: not ours.
                    StatusCode::CONFLICT => println!("lost {id} before completing it: {}", body["detail"]),
                    other => return Err(format!("complete answered {other}: {body}")),
                }
            }
            None => println!("stopped working on {id}: the lease was lost (cancelled or taken over)"),
        }
        done += 1;
    }
    Ok(())
}

/// Does the job's work, keeping the lease alive; `None` if the lease was lost meanwhile.
/// Replace the sleep with the real work, and check in at least every third of the lease.
async fn work(
    client: &Client,
    o: &Options,
    id: &str,
    attempt: &Value,
    job: &Value,
) -> Result<Option<Value>, String> {
    let started = Instant::now();
    let beat_every = Duration::from_secs((o.lease_seconds / 3).max(1));
    let mut last_beat = Instant::now();
    while started.elapsed() < o.work {
        tokio::time::sleep(Duration::from_millis(200).min(o.work)).await;
        if last_beat.elapsed() >= beat_every {
            let beat = json!({"lease_seconds": o.lease_seconds, "attempt": attempt});
            let (status, body) = post(client, o, &format!("/v1/jobs/{id}/heartbeat"), beat).await?;
            match status {
                StatusCode::OK => last_beat = Instant::now(),
                StatusCode::CONFLICT => return Ok(None),
                other => return Err(format!("heartbeat answered {other}: {body}")),
            }
        }
    }
    Ok(Some(json!({
        "job_type": job["job_type"],
        "params": job["params"],
        "worked_ms": started.elapsed().as_millis() as u64,
    })))
}
