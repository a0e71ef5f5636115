//! A load and fault run the team can repeat: its own DynamoDB Local (data on disk, so it can be
//! killed and restarted), the local API over it, and workers sending mixed reads and writes at
//! a given concurrency; optionally DynamoDB Local is paused (SIGSTOP) or killed mid-run. It ends
//! with one summary line and a consistency check of every organization's `campaign_count` and
//! `member_count` against its lists, and exits non-zero on any 5xx other than 503 or on a
//! counter that does not match.
//!
//! ```sh
//! cargo run --release -p local --bin load-run -- --seconds 60 --concurrency 32 --pause-at 20 --pause-for 5
//! cargo run --release -p local --bin load-run -- --seconds 60 --kill-at 30 --down-for 5
//! ```

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use local::{
    dynamodb_local::{free_port, DynamoDbLocal},
    schema::TableSchema,
    token::dev_token,
};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use shared::{config::Config, App};

const TABLE: &str = "load-run";
const SECRET: &str = "load-run-secret-0123456789abcdef0123456789";
const TENANTS: usize = 4;

struct Args {
    seconds: u64,
    concurrency: usize,
    pause: Option<(u64, u64)>,
    kill: Option<(u64, u64)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seconds: 20,
        concurrency: 8,
        pause: None,
        kill: None,
    };
    let mut pause_at = None;
    let mut pause_for = 3;
    let mut kill_at = None;
    let mut down_for = 3;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a whole number"))
        };
        match flag.as_str() {
            "--seconds" => args.seconds = number("--seconds")?,
            "--concurrency" => args.concurrency = number("--concurrency")?.max(1) as usize,
            "--pause-at" => pause_at = Some(number("--pause-at")?),
            "--pause-for" => pause_for = number("--pause-for")?,
            "--kill-at" => kill_at = Some(number("--kill-at")?),
            "--down-for" => down_for = number("--down-for")?,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: load-run [--seconds N] [--concurrency N] \
                     [--pause-at S --pause-for S] [--kill-at S --down-for S]"
                ))
            }
        }
    }
    args.pause = pause_at.map(|at| (at, pause_for));
    args.kill = kill_at.map(|at| (at, down_for));
    Ok(args)
}

/// What the workers of one tenant know exists.
#[derive(Default)]
struct Known {
    orgs: Vec<String>,
    campaigns: Vec<String>,
    members: Vec<(String, String)>,
}

struct Run {
    client: Client,
    base: String,
    tenants: Vec<(String, Mutex<Known>)>,
    stop: AtomicBool,
    results: Mutex<Vec<(u16, f64)>>,
}

impl Run {
    fn token(tenant: &str, sub: &str) -> String {
        dev_token(SECRET.as_bytes(), sub, Some(tenant), &["tenant_admin"], 3600)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Option<(StatusCode, Value)> {
        let started = Instant::now();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .timeout(Duration::from_secs(15));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let outcome = request.send().await;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        let (status, body) = match outcome {
            Ok(response) => {
                let status = response.status();
                let body = response.json::<Value>().await.unwrap_or(Value::Null);
                (status, body)
            }
            // No answer at all is the worst outcome: count it as a 599.
            Err(_) => (
                StatusCode::from_u16(599).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                Value::Null,
            ),
        };
        if let Ok(mut results) = self.results.lock() {
            results.push((status.as_u16(), elapsed));
        }
        if status.as_u16() >= 500 && status != StatusCode::SERVICE_UNAVAILABLE {
            eprintln!("unexpected {status} for {path}: {body}");
        }
        Some((status, body))
    }

    fn pick(list: &[String], n: usize) -> Option<String> {
        (!list.is_empty()).then(|| list[n % list.len()].clone())
    }

    async fn worker(self: Arc<Self>, index: usize) {
        let mut n = index.wrapping_mul(7919);
        while !self.stop.load(Ordering::Relaxed) {
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let roll = (n >> 33) % 100;
            let (tenant, known) = &self.tenants[(n >> 20) % self.tenants.len()];
            let token = Self::token(tenant, &format!("owner-{}", index % 2));
            let (org, campaign, member) = {
                let k = known.lock().expect("known");
                (
                    Self::pick(&k.orgs, n),
                    Self::pick(&k.campaigns, n),
                    (!k.members.is_empty()).then(|| k.members[n % k.members.len()].clone()),
                )
            };
            match (roll, org, campaign, member) {
                (0..=9, _, _, _) => {
                    let name = format!("org {}", uuid::Uuid::now_v7());
                    if let Some((StatusCode::CREATED, body)) = self
                        .send(
                            Method::POST,
                            "/v1/organizations",
                            &token,
                            Some(json!({ "name": name })),
                        )
                        .await
                    {
                        if let Some(id) = body["id"].as_str() {
                            known.lock().expect("known").orgs.push(id.to_owned());
                        }
                    }
                }
                (10..=29, Some(org), _, _) => {
                    let body = json!({"organization_id": org, "name": format!("campaign {n}")});
                    if let Some((StatusCode::CREATED, body)) =
                        self.send(Method::POST, "/v1/campaigns", &token, Some(body)).await
                    {
                        if let Some(id) = body["id"].as_str() {
                            known.lock().expect("known").campaigns.push(id.to_owned());
                        }
                    }
                }
                (30..=39, Some(org), Some(campaign), _) => {
                    let body = json!({"organization_id": org, "description": format!("d{n}")});
                    self.send(
                        Method::PATCH,
                        &format!("/v1/campaigns/{campaign}"),
                        &token,
                        Some(body),
                    )
                    .await;
                }
                (40..=46, _, Some(campaign), _) => {
                    if let Some((StatusCode::NO_CONTENT | StatusCode::NOT_FOUND, _)) = self
                        .send(Method::DELETE, &format!("/v1/campaigns/{campaign}"), &token, None)
                        .await
                    {
                        known.lock().expect("known").campaigns.retain(|c| *c != campaign);
                    }
                }
                (47..=56, Some(org), _, _) => {
                    let user = format!("user-{}", n % 50);
                    let body = json!({"user_id": user, "role": "member"});
                    if let Some((StatusCode::CREATED, _)) = self
                        .send(
                            Method::POST,
                            &format!("/v1/organizations/{org}/members"),
                            &token,
                            Some(body),
                        )
                        .await
                    {
                        known.lock().expect("known").members.push((org, user));
                    }
                }
                (57..=61, _, _, Some((org, user))) => {
                    if let Some((StatusCode::NO_CONTENT | StatusCode::NOT_FOUND, _)) = self
                        .send(
                            Method::DELETE,
                            &format!("/v1/organizations/{org}/members/{user}"),
                            &token,
                            None,
                        )
                        .await
                    {
                        known
                            .lock()
                            .expect("known")
                            .members
                            .retain(|m| *m != (org.clone(), user.clone()));
                    }
                }
                (62..=74, Some(org), _, _) => {
                    self.send(
                        Method::GET,
                        &format!("/v1/organizations/{org}/campaigns?limit=20"),
                        &token,
                        None,
                    )
                    .await;
                }
                (75..=84, _, Some(campaign), _) => {
                    self.send(Method::GET, &format!("/v1/campaigns/{campaign}"), &token, None)
                        .await;
                }
                (85..=92, Some(org), _, _) => {
                    self.send(
                        Method::GET,
                        &format!("/v1/organizations/{org}/members"),
                        &token,
                        None,
                    )
                    .await;
                }
                _ => {
                    self.send(Method::GET, "/v1/organizations?limit=20", &token, None)
                        .await;
                }
            }
        }
    }

    /// Every item of a list, all pages.
    async fn walk(&self, path: &str, token: &str) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}{}cursor={c}", if path.contains('?') { '&' } else { '?' }),
                None => path.to_owned(),
            };
            let response = self
                .client
                .get(format!("{}{url}", self.base))
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("{url}: {}", response.status()));
            }
            let page: Value = response.json().await.map_err(|e| e.to_string())?;
            items.extend(page["data"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(items),
            }
        }
    }

    /// Counters against lists, for every organization of every tenant.
    async fn check_counters(&self) -> Result<usize, String> {
        let mut orgs_checked = 0;
        for (tenant, _) in &self.tenants {
            let token = Self::token(tenant, "checker");
            for org in self.walk("/v1/organizations?limit=100", &token).await? {
                let id = org["id"].as_str().unwrap_or_default();
                let campaigns = self
                    .walk(&format!("/v1/organizations/{id}/campaigns?limit=100"), &token)
                    .await?;
                let members = self
                    .walk(&format!("/v1/organizations/{id}/members?limit=100"), &token)
                    .await?;
                if org["campaign_count"] != campaigns.len() || org["member_count"] != members.len() {
                    return Err(format!(
                        "organization {id}: campaign_count {} for {} campaigns, member_count {} for {} members",
                        org["campaign_count"],
                        campaigns.len(),
                        org["member_count"],
                        members.len()
                    ));
                }
                orgs_checked += 1;
            }
        }
        Ok(orgs_checked)
    }
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a child process id we own.
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The API's own log lines only when asked for (RUST_LOG=warn shows every 503's cause).
    if std::env::var_os("RUST_LOG").is_some() {
        shared::logging::init();
    }
    let args = parse_args()?;
    let data = tempdir()?;
    let port = free_port()?;
    let dynamodb = Arc::new(Mutex::new(DynamoDbLocal::start(Some(port), Some(&data))?));
    let endpoint = format!("http://127.0.0.1:{port}");
    let config = Config::from_lookup(|name| match name {
        "TABLE_NAME" => Some(TABLE.into()),
        "JWT_HS256_SECRET" => Some(SECRET.into()),
        "CURSOR_SECRET" => Some(SECRET.into()),
        other => std::env::var(other).ok(),
    })?;
    let client = local::local_client(&endpoint, &config.dynamodb);
    TableSchema::from_repo_template()
        .ensure_table(&client, TABLE)
        .await?;
    let app = Arc::new(App::new(config, client));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(local::server::serve(app, listener, std::future::pending()));

    let run = Arc::new(Run {
        client: Client::builder().pool_max_idle_per_host(0).build()?,
        base,
        tenants: (0..TENANTS)
            .map(|i| {
                (
                    format!("load-{i}-{}", uuid::Uuid::now_v7().simple()),
                    Mutex::new(Known::default()),
                )
            })
            .collect(),
        stop: AtomicBool::new(false),
        results: Mutex::new(Vec::new()),
    });
    println!(
        "load run: {} s, {} workers, {} tenants{}{}",
        args.seconds,
        args.concurrency,
        TENANTS,
        args.pause
            .map(|(at, d)| format!(", DynamoDB Local paused at {at} s for {d} s"))
            .unwrap_or_default(),
        args.kill
            .map(|(at, d)| format!(", killed at {at} s, back {d} s later"))
            .unwrap_or_default(),
    );
    let workers: Vec<_> = (0..args.concurrency)
        .map(|i| tokio::spawn(Arc::clone(&run).worker(i)))
        .collect();

    let started = Instant::now();
    let at = move |s: u64| started + Duration::from_secs(s);
    if let Some((pause_at, pause_for)) = args.pause {
        let dynamodb = Arc::clone(&dynamodb);
        tokio::spawn(async move {
            tokio::time::sleep_until(at(pause_at).into()).await;
            let pid = dynamodb.lock().map(|d| d.pid()).unwrap_or(0);
            println!(
                "{:>5.1} s: pausing DynamoDB Local",
                started.elapsed().as_secs_f64()
            );
            signal(pid, libc::SIGSTOP);
            tokio::time::sleep(Duration::from_secs(pause_for)).await;
            signal(pid, libc::SIGCONT);
            println!(
                "{:>5.1} s: resumed DynamoDB Local",
                started.elapsed().as_secs_f64()
            );
        });
    }
    if let Some((kill_at, down_for)) = args.kill {
        let dynamodb = Arc::clone(&dynamodb);
        let data = data.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at(kill_at).into()).await;
            println!(
                "{:>5.1} s: killing DynamoDB Local",
                started.elapsed().as_secs_f64()
            );
            if let Ok(mut d) = dynamodb.lock() {
                d.stop();
            }
            tokio::time::sleep(Duration::from_secs(down_for)).await;
            let restarted = tokio::task::spawn_blocking(move || {
                DynamoDbLocal::start_on_own_thread(Some(port), Some(data))
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            match restarted {
                Ok(fresh) => {
                    if let Ok(mut d) = dynamodb.lock() {
                        *d = fresh;
                    }
                    println!(
                        "{:>5.1} s: restarted DynamoDB Local",
                        started.elapsed().as_secs_f64()
                    );
                }
                Err(e) => eprintln!("restarting DynamoDB Local failed: {e}"),
            }
        });
    }
    tokio::time::sleep_until(at(args.seconds).into()).await;
    run.stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.await;
    }

    let results = run.results.lock().map(|r| r.clone()).unwrap_or_default();
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    let mut latencies: Vec<f64> = Vec::with_capacity(results.len());
    for (status, ms) in &results {
        *by_status.entry(*status).or_default() += 1;
        latencies.push(*ms);
    }
    latencies.sort_by(f64::total_cmp);
    let unexpected: usize = by_status
        .iter()
        .filter(|(s, _)| **s >= 500 && **s != 503)
        .map(|(_, n)| n)
        .sum();
    let unavailable = by_status.get(&503).copied().unwrap_or(0);
    let counters = run.check_counters().await;
    let statuses: Vec<String> = by_status.iter().map(|(s, n)| format!("{s}:{n}")).collect();
    println!(
        "summary: requests={} unexpected_5xx={unexpected} 503={unavailable} p50={:.1}ms p99={:.1}ms statuses=[{}] counters={}",
        results.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        statuses.join(" "),
        match &counters {
            Ok(n) => format!("consistent({n} organizations)"),
            Err(e) => format!("INCONSISTENT: {e}"),
        }
    );
    if let Ok(mut d) = dynamodb.lock() {
        d.stop();
    }
    let _ = std::fs::remove_dir_all(&data);
    if unexpected > 0 || counters.is_err() || results.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

fn tempdir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("campaign-api-load-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
