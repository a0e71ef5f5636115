//! `make bench`: our campaigns function against reference functions built the same way (same
//! release profile, same `cargo lambda` build), measured interleaved in one run, on DynamoDB
//! Local, with a stand-in for the Lambda Runtime API. Prints one table (figure | ours |
//! reference | ratio), writes it as `docs/bench.csv` and `docs/bench.svg`, the per-route
//! DynamoDB cost as `docs/cost.csv`, and refreshes the generated parts of `README.md` and
//! `docs/cost.md`.
//!
//! Usage: `bench [--spawns N] [--invocations N] [--items N] [--depth N] [--rounds N]
//! [--reps N] [--no-write]`; run it through `make bench`, which builds what it measures first.

mod inproc;
mod procs;
mod report;
mod routes;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::types::AttributeValue;
use local::{dynamodb_local::DynamoDbLocal, schema::TableSchema};
use serde_json::json;

use crate::{
    inproc::{answer_body, apigw_event, tenant_id, token, InProcess},
    procs::{Function, Running},
    report::Row,
    routes::{Fixture, CASES},
};

const TABLE: &str = "bench";

/// List prices, us-east-1 (see docs/cost.md for the sources and the date).
const PRICE_WRU: f64 = 0.625; // $ per million on-demand write request units
const PRICE_RRU: f64 = 0.125; // $ per million on-demand read request units
const PRICE_LAMBDA_REQUEST: f64 = 0.20; // $ per million requests
const PRICE_LAMBDA_ARM_GB_S: f64 = 0.000_013_333_4; // $ per GB-second, arm64
const MEMORY_GB: f64 = 256.0 / 1024.0; // template.yaml Globals.Function.MemorySize

struct Args {
    spawns: usize,
    invocations: usize,
    warmup: usize,
    items: usize,
    depth: usize,
    rounds: usize,
    reps: usize,
    write: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        spawns: 20,
        invocations: 2000,
        warmup: 100,
        items: 10_000,
        depth: 50,
        rounds: 200,
        reps: 5,
        write: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--no-write" {
            args.write = false;
            continue;
        }
        let value: usize = it
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or(format!("{flag} needs a number"))?;
        match flag.as_str() {
            "--spawns" => args.spawns = value,
            "--invocations" => args.invocations = value,
            "--warmup" => args.warmup = value,
            "--items" => args.items = value,
            "--depth" => args.depth = value,
            "--rounds" => args.rounds = value,
            "--reps" => args.reps = value.max(1),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn repo_root() -> PathBuf {
    local::dynamodb_local::repo_root()
}

/// Where cargo put the builds: `CARGO_TARGET_DIR`, else `target/`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => repo_root().join("target"),
    }
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

fn percentile(values: &[Duration], p: f64) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// Bootstrap (uncompressed, stripped) and zip sizes from a `cargo lambda --output-format zip` build.
fn sizes(lambda_dir: &Path, bin: &str) -> Option<(u64, u64)> {
    let zip = std::fs::read(lambda_dir.join(bin).join("bootstrap.zip")).ok()?;
    Some((report::zip_entry_size(&zip)?, zip.len() as u64))
}

fn say(text: &str) {
    eprintln!("[bench] {text}");
}

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("bench: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let args = parse_args()?;
    let started = Instant::now();
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    let target = target_dir();
    let bin_dir = target.join("x86_64-unknown-linux-gnu/release");
    let bin = |name: &str| bin_dir.join(name);
    for name in ["campaigns", "ref-bare-sdk", "ref-hello-http", "ref-hello-runtime"] {
        if !bin(name).is_file() {
            return Err(format!(
                "{} is missing: `make bench` builds it (cargo lambda build --release --x86-64)",
                bin(name).display()
            ));
        }
    }

    say("starting DynamoDB Local");
    let dynamodb = DynamoDbLocal::start(None, None)?;
    let endpoint = dynamodb.endpoint();
    let ip = InProcess::new(&endpoint, TABLE).await?;
    TableSchema::from_repo_template()
        .ensure_table(&ip.direct, TABLE)
        .await
        .map_err(|e| e.to_string())?;

    // The warm data: one campaign that our function and the bare-SDK reference both read.
    let tenant = tenant_id("warm");
    let admin = token(&tenant, "bench-admin", &["tenant_admin"]);
    let org = ip.create_org(&admin, "Bench org").await?;
    let campaign = ip.create_campaign(&admin, &org, "Bench campaign").await?;
    let key = shared::store::keys::campaign(&tenant, &campaign);
    let key_part = |name: &str| match key.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => String::new(),
    };
    let functions = vec![
        Function {
            name: "ours (campaigns)",
            bootstrap: bin("campaigns"),
            // As template.yaml deploys it: metrics on.
            env: vec![("METRICS_NAMESPACE".into(), "CampaignApi".into())],
            event: apigw_event("GET", &format!("/v1/campaigns/{campaign}"), &[], Some(&admin)),
        },
        Function {
            name: "bare SDK",
            bootstrap: bin("ref-bare-sdk"),
            env: vec![
                ("REF_PK".into(), key_part("pk")),
                ("REF_SK".into(), key_part("sk")),
            ],
            event: apigw_event("GET", "/item", &[], None),
        },
        Function {
            name: "hello-http",
            bootstrap: bin("ref-hello-http"),
            env: Vec::new(),
            event: apigw_event("GET", "/hello", &[], None),
        },
        Function {
            name: "hello-runtime",
            bootstrap: bin("ref-hello-runtime"),
            env: Vec::new(),
            event: json!({ "hello": "world" }).to_string(),
        },
        Function {
            // The same binary with the Embedded Metric Format flush turned off: what metrics
            // cost per request.
            name: "ours, metrics off",
            bootstrap: bin("campaigns"),
            env: vec![("METRICS_NAMESPACE".into(), String::new())],
            event: apigw_event("GET", &format!("/v1/campaigns/{campaign}"), &[], Some(&admin)),
        },
    ];

    say(&format!(
        "cold starts: {} spawns of each, interleaved",
        args.spawns
    ));
    let mut init = vec![Vec::new(); functions.len()];
    let mut first = vec![Vec::new(); functions.len()];
    for round in 0..=args.spawns {
        for (i, f) in functions.iter().enumerate() {
            let cold = procs::cold_start(f, &endpoint, TABLE).await?;
            // Round 0 warms the page cache and DynamoDB Local; it is not counted.
            if round > 0 {
                init[i].push(cold.init);
                first[i].push(cold.first_response);
            }
        }
    }

    say(&format!(
        "warm: {} invocations of each after {} unmeasured, interleaved",
        args.invocations, args.warmup
    ));
    let warm = procs::warm(&functions, &endpoint, TABLE, args.warmup, args.invocations).await?;

    say("DynamoDB calls and consumed capacity per route");
    let fixture = Fixture::new(&ip).await?;
    let mut route_rows = Vec::new();
    for case in CASES {
        let mut durations = Vec::new();
        let mut last = None;
        for n in 0..args.reps {
            let measured = routes::run(&ip, &fixture, case.label, n).await?;
            durations.push(measured.elapsed);
            // The last repetition's calls and units: the steady state, after any one-off
            // repair an earlier case left for the first one (e.g. detaching memberships of a
            // deleted organization from a user's list).
            last = Some(measured);
        }
        let measured = last.ok_or("no repetitions")?;
        route_rows.push((case, measured, median(&durations)));
    }

    say(&format!(
        "list depth: {} items, page {} against page 1, {} rounds",
        args.items, args.depth, args.rounds
    ));
    let depth = list_depth(&ip, &functions[0], &endpoint, &args).await?;

    drop(dynamodb);

    // Sizes, from the cargo lambda builds make bench made.
    let x86_dir = target.join("lambda");
    let arm_dir = target.join("lambda-arm64");

    let mut rows = Vec::new();
    let (ours, bare, http, hello, unmetered) = (0, 1, 2, 3, 4);
    let name = |i: usize| functions[i].name;
    for reference in [hello, http, bare] {
        rows.push(Row::new(
            format!("init (spawn → first /next), vs {}", name(reference)),
            "ms",
            ms(median(&init[ours])),
            name(reference),
            ms(median(&init[reference])),
        ));
    }
    rows.push(Row::new(
        "first response (spawn → first /response)",
        "ms",
        ms(median(&first[ours])),
        name(bare),
        ms(median(&first[bare])),
    ));
    rows.push(Row::new(
        format!("warm p50, GET campaign vs GetItem (n={})", args.invocations),
        "ms",
        ms(median(&warm[ours].latencies)),
        name(bare),
        ms(median(&warm[bare].latencies)),
    ));
    rows.push(Row::new(
        "warm p99, GET campaign vs GetItem",
        "ms",
        ms(percentile(&warm[ours].latencies, 0.99)),
        name(bare),
        ms(percentile(&warm[bare].latencies, 0.99)),
    ));
    rows.push(Row::new(
        "warm p50 vs no DynamoDB at all",
        "ms",
        ms(median(&warm[ours].latencies)),
        name(http),
        ms(median(&warm[http].latencies)),
    ));
    rows.push(Row::new(
        "CPU per warm invocation (utime+stime)",
        "µs",
        warm[ours].cpu_per_invocation.as_secs_f64() * 1e6,
        name(bare),
        warm[bare].cpu_per_invocation.as_secs_f64() * 1e6,
    ));
    rows.push(Row::new(
        "CPU per warm invocation, metrics on vs off",
        "µs",
        warm[ours].cpu_per_invocation.as_secs_f64() * 1e6,
        name(unmetered),
        warm[unmetered].cpu_per_invocation.as_secs_f64() * 1e6,
    ));
    rows.push(Row::new(
        "warm p50, metrics on vs off",
        "ms",
        ms(median(&warm[ours].latencies)),
        name(unmetered),
        ms(median(&warm[unmetered].latencies)),
    ));
    for reference in [bare, hello] {
        rows.push(Row::new(
            format!("peak RSS (VmHWM), vs {}", name(reference)),
            "MB",
            mb(warm[ours].peak_rss),
            name(reference),
            mb(warm[reference].peak_rss),
        ));
    }
    let bins = ["campaigns", "ref-bare-sdk", "ref-hello-runtime"];
    for (arch, dir) in [("x86_64", &x86_dir), ("arm64", &arm_dir)] {
        let found: Vec<Option<(u64, u64)>> = bins.iter().map(|b| sizes(dir, b)).collect();
        match (found[0], found[1], found[2]) {
            (Some(o), Some(b), Some(h)) => {
                rows.push(Row::new(
                    format!("{arch} bootstrap (stripped), vs bare SDK"),
                    "MB",
                    mb(o.0),
                    name(bare),
                    mb(b.0),
                ));
                rows.push(Row::new(
                    format!("{arch} bootstrap (stripped), vs hello-runtime"),
                    "MB",
                    mb(o.0),
                    name(hello),
                    mb(h.0),
                ));
                rows.push(Row::new(
                    format!("{arch} zip, vs bare SDK"),
                    "MB",
                    mb(o.1),
                    name(bare),
                    mb(b.1),
                ));
            }
            _ => rows.push(Row::text(
                format!("{arch} bootstrap and zip"),
                "not built",
                format!(
                    "`make bench` builds it (BENCH_ARM64=0 skips arm64); looked in {}",
                    dir.strip_prefix(&target).unwrap_or(dir).display()
                ),
            )),
        }
    }
    for (case, measured, _) in &route_rows {
        let Some((compared_with, calls)) = case.compare_calls else {
            continue;
        };
        let mut row = Row::new(
            format!("DynamoDB calls: {}", case.label),
            "calls",
            measured.total_calls() as f64,
            compared_with,
            calls as f64,
        );
        row.ours = measured.calls_text();
        rows.push(row);
    }
    let mut row = Row::new(
        format!(
            "list page {} ÷ page 1, {} items (p50 ratio)",
            args.depth, args.items
        ),
        "×",
        depth.ours_ratio(),
        "raw SDK Query",
        depth.raw_ratio(),
    );
    row.ours = format!(
        "{:.2}× ({:.2} / {:.2} ms)",
        depth.ours_ratio(),
        ms(depth.ours_deep),
        ms(depth.ours_first)
    );
    row.reference = format!(
        "raw SDK Query {:.2}× ({:.2} / {:.2} ms)",
        depth.raw_ratio(),
        ms(depth.raw_deep),
        ms(depth.raw_first)
    );
    rows.push(row);
    rows.push(Row::new(
        "organization's campaigns vs all campaigns, page 1 p50",
        "ms",
        ms(depth.org_first),
        "plain list",
        ms(depth.ours_first),
    ));

    let table = report::markdown(&rows);
    let note = format!(
        "{}, x86_64 release builds (`{}`); {} spawns and {} warm invocations of each function, \
         medians unless stated; load average {} at the start; the run took {:.0} s.\n",
        machine(),
        "make bench",
        args.spawns,
        args.invocations,
        load_average,
        started.elapsed().as_secs_f64()
    );
    println!("\n{table}\n{note}");

    // The per-route cost goes to docs/cost.md and docs/cost.csv; printed only when not written.
    let cost = cost_table(&route_rows);
    if !args.write {
        println!("\n{cost}");
    }

    if args.write {
        let docs = repo_root().join("docs");
        report::write(&docs.join("bench.csv"), &report::csv(&rows))?;
        report::write(
            &docs.join("bench.svg"),
            &report::svg(
                &rows,
                "campaigns function against reference functions (make bench)",
            ),
        )?;
        report::write(&docs.join("cost.csv"), &cost_csv(&route_rows))?;
        replace_between(
            &repo_root().join("README.md"),
            "bench-table",
            &format!("{table}\n{note}"),
        )?;
        replace_between(&docs.join("cost.md"), "cost-table", &cost)?;
        say("wrote docs/bench.csv, docs/bench.svg, the table in README.md; the cost per route in docs/cost.md and docs/cost.csv");
    }
    Ok(())
}

/// The date, CPU and core count, for the note under the table.
fn machine() -> String {
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("Run of {date} on {cpu}, {cores} cores shared with other work")
}

/// Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` in `path`, if both
/// markers are there.
fn replace_between(path: &Path, name: &str, text: &str) -> Result<(), String> {
    let Ok(current) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let (start, end) = (format!("<!-- {name}:start -->"), format!("<!-- {name}:end -->"));
    let (Some(a), Some(b)) = (current.find(&start), current.find(&end)) else {
        say(&format!(
            "{} has no {start} … {end} markers; left alone",
            path.display()
        ));
        return Ok(());
    };
    let updated = format!("{}{start}\n{text}{}", &current[..a], &current[b..]);
    report::write(path, &updated)
}

type RouteRow<'a> = (&'a routes::Case, inproc::Measured, Duration);

/// Price per million requests of one route: DynamoDB on-demand units plus Lambda arm64 at the
/// template's memory size, its duration billed in whole milliseconds.
fn price(measured: &inproc::Measured, duration: Duration) -> (f64, f64, f64) {
    // A write refused by its condition reports no capacity but is billed one write unit per
    // item (up to 1 KB) it was conditioned on; counted here as one unit per refused call.
    let refused = measured.failed_writes().len() as f64;
    let dynamodb = measured.read_units() * PRICE_RRU + (measured.write_units() + refused) * PRICE_WRU;
    let billed_ms = ms(duration).ceil().max(1.0);
    let lambda = PRICE_LAMBDA_REQUEST + billed_ms / 1000.0 * MEMORY_GB * PRICE_LAMBDA_ARM_GB_S * 1e6;
    (dynamodb, lambda, billed_ms)
}

fn cost_table(rows: &[RouteRow]) -> String {
    let mut out = String::from(
        "| request | route | DynamoDB calls | read units | write units (of which indexes) | refused writes | local duration | $ per million: DynamoDB | Lambda | total |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (case, m, duration) in rows {
        let (dynamodb, lambda, _) = price(m, *duration);
        let refused = m.failed_writes();
        let label = match m.page_items {
            Some(n) => format!("{} (page of {n})", case.label),
            None => case.label.to_owned(),
        };
        out.push_str(&format!(
            "| {} | `{}` | {} | {} | {} ({}) | {} | {:.1} ms | {:.3} | {:.3} | {:.3} |\n",
            label,
            case.route,
            m.calls_text(),
            routes::units(m.read_units()),
            routes::units(m.write_units()),
            routes::units(m.index_write_units()),
            if refused.is_empty() {
                "0".to_owned()
            } else {
                refused.join(", ")
            },
            ms(*duration),
            dynamodb,
            lambda,
            dynamodb + lambda
        ));
    }
    out
}

fn cost_csv(rows: &[RouteRow]) -> String {
    let mut out = String::from(
        "request,route,page_items,calls,read_units,write_units,index_write_units,refused_writes,duration_ms,usd_per_million_dynamodb,usd_per_million_lambda,usd_per_million_total\n",
    );
    for (case, m, duration) in rows {
        let (dynamodb, lambda, _) = price(m, *duration);
        out.push_str(&format!(
            "\"{}\",\"{}\",{},{},{},{},{},{},{:.3},{:.4},{:.4},{:.4}\n",
            case.label,
            case.route,
            m.page_items.map_or_else(String::new, |n| n.to_string()),
            m.total_calls(),
            m.read_units(),
            m.write_units(),
            m.index_write_units(),
            m.failed_writes().len(),
            ms(*duration),
            dynamodb,
            lambda,
            dynamodb + lambda
        ));
    }
    out
}

struct Depth {
    ours_first: Duration,
    ours_deep: Duration,
    raw_first: Duration,
    raw_deep: Duration,
    org_first: Duration,
}

impl Depth {
    fn ours_ratio(&self) -> f64 {
        self.ours_deep.as_secs_f64() / self.ours_first.as_secs_f64().max(1e-9)
    }

    fn raw_ratio(&self) -> f64 {
        self.raw_deep.as_secs_f64() / self.raw_first.as_secs_f64().max(1e-9)
    }
}

/// `GET /v1/campaigns?limit=50` at page 1 and at page `depth` of a tenant with `items`
/// campaigns, through our warm function, against a raw SDK Query of the same pages from this
/// process (DynamoDB Local itself slows down with depth), interleaved.
async fn list_depth(ip: &InProcess, ours: &Function, endpoint: &str, args: &Args) -> Result<Depth, String> {
    const LIMIT: usize = 50;
    let tenant = tenant_id("depth");
    let admin = token(&tenant, "bench-admin", &["tenant_admin"]);
    let org = ip.create_org(&admin, "Depth org").await?;
    let first = ip.create_campaign(&admin, &org, "Depth campaign").await?;
    ip.clone_campaign(&tenant, &first, args.items).await?;

    let mut function = ours.clone();
    function.event = String::new();
    let mut running = Running::spawn(&function, endpoint, TABLE).await?;
    let outcome = async {
        let limit = LIMIT.to_string();
        let page = |cursor: Option<&str>| {
            let mut query = vec![("limit", limit.as_str())];
            if let Some(c) = cursor {
                query.push(("cursor", c));
            }
            apigw_event("GET", "/v1/campaigns", &query, Some(&admin))
        };
        // Walk to the deep page, keeping its cursor.
        let mut cursor: Option<String> = None;
        for _ in 1..args.depth {
            let answer = running.invoke("ours", &page(cursor.as_deref())).await?;
            let body = answer_body(&answer.body);
            cursor = Some(
                body["next_cursor"]
                    .as_str()
                    .ok_or_else(|| format!("no next_cursor before page {}: {body}", args.depth))?
                    .to_owned(),
            );
        }
        let first_event = page(None);
        let deep_event = page(cursor.as_deref());
        let org_event = apigw_event(
            "GET",
            &format!("/v1/organizations/{org}/campaigns"),
            &[("limit", limit.as_str())],
            Some(&admin),
        );

        // The same pages with a raw Query: Limit 51 as ours reads, newest first.
        let pk = match shared::store::keys::campaign(&tenant, &first).get("pk") {
            Some(AttributeValue::S(pk)) => pk.clone(),
            _ => return Err("no pk in the campaign key".to_owned()),
        };
        let query = |start: Option<std::collections::HashMap<String, AttributeValue>>, limit: usize| {
            ip.direct
                .query()
                .table_name(TABLE)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .scan_index_forward(false)
                .limit(limit as i32)
                .set_exclusive_start_key(start)
                .send()
        };
        let mut start = None;
        for _ in 1..args.depth {
            let out = query(start, LIMIT).await.map_err(|e| format!("{e:?}"))?;
            start = Some(out.last_evaluated_key.ok_or("the raw Query ran out of items")?);
        }

        let (mut ours_first, mut ours_deep, mut org_first) = (Vec::new(), Vec::new(), Vec::new());
        let (mut raw_first, mut raw_deep) = (Vec::new(), Vec::new());
        for _ in 0..args.rounds {
            ours_first.push(
                running
                    .invoke("ours", &first_event)
                    .await?
                    .latency()
                    .unwrap_or_default(),
            );
            ours_deep.push(
                running
                    .invoke("ours", &deep_event)
                    .await?
                    .latency()
                    .unwrap_or_default(),
            );
            org_first.push(
                running
                    .invoke("ours", &org_event)
                    .await?
                    .latency()
                    .unwrap_or_default(),
            );
            let t = Instant::now();
            query(None, LIMIT + 1).await.map_err(|e| format!("{e:?}"))?;
            raw_first.push(t.elapsed());
            let t = Instant::now();
            query(start.clone(), LIMIT + 1)
                .await
                .map_err(|e| format!("{e:?}"))?;
            raw_deep.push(t.elapsed());
        }
        Ok(Depth {
            ours_first: median(&ours_first),
            ours_deep: median(&ours_deep),
            raw_first: median(&raw_first),
            raw_deep: median(&raw_deep),
            org_first: median(&org_first),
        })
    }
    .await;
    running.stop();
    outcome
}
