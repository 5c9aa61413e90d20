//! What the suites that run the `ferry` binary share: free ports, tokens made
//! with `ferry token create`, a `ferry serve` process, stopping children when a
//! test ends, and polling a request until it reaches a status.
//!
//! Each suite is its own crate and uses only some of these.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

pub const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `ferry token create --name NAME ROLE…` against the database `db`.
pub fn create_token(config: &Path, db: &str, name: &str, role: &[&str]) -> String {
    let out = Command::new(FERRY)
        .args([
            "--config",
            config.to_str().unwrap(),
            "token",
            "create",
            "--name",
            name,
        ])
        .args(role)
        .env("DATABASE_URL", db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A sim whose import jobs take 300 ms.
pub async fn quick_sim() -> ferry_sim::SimHandle {
    ferry_sim::Sim::start(ferry_sim::SimOptions {
        faults: ferry_sim::FaultConfig {
            job_duration_ms: 300,
            ..ferry_sim::FaultConfig::default()
        },
        ..ferry_sim::SimOptions::default()
    })
    .await
    .unwrap()
}

/// Polls the import request `id` on the API at `base` (at most `rounds`
/// times, 100 ms apart) until its status is one of `until`; returns the
/// request as last read.
pub async fn import_until(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    until: &[&str],
    rounds: usize,
) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    for _ in 0..rounds {
        last = http
            .get(format!("{base}/v1/imports/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if last["status"].as_str().is_some_and(|s| until.contains(&s)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last
}

/// Stops (SIGTERM, then SIGKILL after 5 s) a child process when the test
/// ends, passed or not.
#[derive(Debug)]
pub struct Stop(pub Option<Child>);

impl Drop for Stop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            for _ in 0..50 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A `ferry serve` process, killed when dropped; its log goes to a file
/// beside the config.
#[derive(Debug)]
pub struct Serve {
    child: Child,
    log: PathBuf,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl Serve {
    /// `ferry --config CONFIG serve` on `port` against `db`, the worker
    /// ticking fast, with no OpenTelemetry settings from the environment.
    pub fn spawn(config: &Path, db: &str, port: u16) -> Self {
        let log = config.with_file_name(format!("serve-{port}.log"));
        let child = Command::new(FERRY)
            .args(["--config", config.to_str().unwrap(), "serve"])
            .env("DATABASE_URL", db)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("FERRY_WORKER__TICK_MILLIS", "100")
            .env_remove("RUST_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_SDK_DISABLED")
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self {
            child,
            log,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status (bounded wait).
    pub async fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("ferry did not stop on SIGTERM; log:\n{}", self.log());
    }

    /// Polls `path` (bounded) until it answers `want`.
    pub async fn until_answer(&self, http: &reqwest::Client, path: &str, token: &str, want: u16) {
        let url = format!("{}{path}", self.base);
        let mut last = None;
        for _ in 0..600 {
            last = match http.get(&url).bearer_auth(token).send().await {
                Ok(r) if r.status().as_u16() == want => return,
                Ok(r) => Some(r.status().as_u16()),
                Err(_) => None,
            };
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{url} never answered {want} (last: {last:?}); log:\n{}",
            self.log()
        );
    }

    /// Polls the import request `id` (bounded) until its status is one of
    /// `until`; returns the status it last had.
    pub async fn until_status(
        &self,
        http: &reqwest::Client,
        token: &str,
        id: &str,
        until: &[&str],
    ) -> String {
        let last = import_until(http, &self.base, token, id, until, 600).await;
        last["status"].as_str().unwrap_or_default().to_owned()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
