//! Bootstraps run as Lambda runs them: spawned against a Runtime API stand-in with a Lambda-like
//! environment, timed from spawn to the first poll (init) and to the first answer, then kept
//! warm for the latency, CPU and memory figures.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use local::runtime_api::{lambda_env, Answer, RuntimeApi};

pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// One function under test: its x86_64 bootstrap, extra environment and the event it is
/// invoked with.
#[derive(Clone)]
pub struct Function {
    pub name: &'static str,
    pub bootstrap: PathBuf,
    pub env: Vec<(String, String)>,
    pub event: String,
}

/// A running bootstrap and its stand-in.
pub struct Running {
    pub child: Child,
    pub api: RuntimeApi,
    pub spawned: Instant,
}

impl Running {
    pub async fn spawn(function: &Function, endpoint: &str, table: &str) -> Result<Self, String> {
        let api = RuntimeApi::start().await.map_err(|e| e.to_string())?;
        let spawned = Instant::now();
        let child = Command::new(&function.bootstrap)
            .env_clear()
            .envs(lambda_env(&api.address, endpoint, table))
            .envs(function.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", function.bootstrap.display()))?;
        Ok(Running { child, api, spawned })
    }

    /// Invokes `event` once the function polls; fails on anything but a 2xx (or a non-HTTP answer).
    pub async fn invoke(&mut self, name: &str, event: &str) -> Result<Answer, String> {
        self.api.wait_next(STEP_TIMEOUT).await?;
        let answer = self.api.invoke(event, STEP_TIMEOUT).await?;
        match answer.status {
            Some(status) if !(200..300).contains(&status) => Err(format!(
                "{name} answered HTTP {status}: {}",
                String::from_utf8_lossy(&answer.body)
            )),
            _ => Ok(answer),
        }
    }

    /// utime + stime of the whole process so far.
    pub fn cpu_time(&self) -> Result<Duration, String> {
        cpu_time(self.child.id())
    }

    /// Peak resident set (VmHWM), in bytes.
    pub fn peak_rss(&self) -> Result<u64, String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .map_err(|e| e.to_string())?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .ok_or_else(|| "no VmHWM in /proc/<pid>/status".to_owned())
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cpu_time(pid: u32) -> Result<Duration, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    // Fields after the command name (which may contain spaces) start at field 3 (state).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the state (field 3).
    let total = ticks(11) + ticks(12);
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Ok(Duration::from_nanos(total * 1_000_000_000 / hz))
}

/// Cold-start times of one spawn.
pub struct Cold {
    pub init: Duration,
    pub first_response: Duration,
}

pub async fn cold_start(function: &Function, endpoint: &str, table: &str) -> Result<Cold, String> {
    let mut running = Running::spawn(function, endpoint, table).await?;
    let outcome = async {
        let initialised = running.api.wait_next(STEP_TIMEOUT).await?;
        let answer = running.api.invoke(function.event.as_str(), STEP_TIMEOUT).await?;
        if let Some(status) = answer.status.filter(|s| !(200..300).contains(s)) {
            return Err(format!(
                "{}: the first request was answered with HTTP {status}: {}",
                function.name,
                String::from_utf8_lossy(&answer.body)
            ));
        }
        Ok(Cold {
            init: initialised.duration_since(running.spawned),
            first_response: answer.at.duration_since(running.spawned),
        })
    }
    .await;
    running.stop();
    outcome
}

/// Warm figures of one function.
pub struct Warm {
    pub latencies: Vec<Duration>,
    pub cpu_per_invocation: Duration,
    pub peak_rss: u64,
}

/// Runs `invocations` warm invocations of every function, interleaved one by one so that the
/// machine's noise falls on all of them alike, after `warmup` unmeasured ones.
pub async fn warm(
    functions: &[Function],
    endpoint: &str,
    table: &str,
    warmup: usize,
    invocations: usize,
) -> Result<Vec<Warm>, String> {
    let mut running = Vec::new();
    for function in functions {
        running.push(Running::spawn(function, endpoint, table).await?);
    }
    let outcome = async {
        for _ in 0..warmup {
            for (f, r) in functions.iter().zip(running.iter_mut()) {
                r.invoke(f.name, &f.event).await?;
            }
        }
        let mut cpu_before = Vec::new();
        for r in &running {
            cpu_before.push(r.cpu_time()?);
        }
        let mut latencies = vec![Vec::with_capacity(invocations); functions.len()];
        for _ in 0..invocations {
            for (i, (f, r)) in functions.iter().zip(running.iter_mut()).enumerate() {
                let answer = r.invoke(f.name, &f.event).await?;
                latencies[i].push(answer.latency().unwrap_or_default());
            }
        }
        let mut out = Vec::new();
        for ((r, before), latencies) in running.iter().zip(cpu_before).zip(latencies) {
            let cpu = r.cpu_time()?.saturating_sub(before);
            out.push(Warm {
                latencies,
                cpu_per_invocation: cpu / invocations as u32,
                peak_rss: r.peak_rss()?,
            });
        }
        Ok(out)
    }
    .await;
    for r in running {
        r.stop();
    }
    outcome
}
