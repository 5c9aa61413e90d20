//! Riding out a database outage, with a real `ferry serve` and a private
//! PostgreSQL cluster the test stops and starts (never the shared server
//! the other tests use): requests get a quick 503 with `Retry-After` while
//! it is down and recover after, and a replica started during the outage
//! waits for the database and then serves.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{Serve, create_token, free_port, quick_sim};

/// A private cluster on a free port in a temporary directory, stopped and
/// deleted when dropped.
struct PrivatePg {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePg {
    fn new() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql")
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::Builder::new()
            .prefix("ferry-outage-pg-")
            .tempdir()
            .unwrap();
        if is_root() {
            run(Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path()));
        }
        run(pg(&bin, "initdb")
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-U", "postgres", "--auth=trust"]));
        let pg = Self {
            bin,
            dir,
            port: free_port(),
        };
        pg.start();
        pg
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn ctl(&self) -> Command {
        let mut c = pg(&self.bin, "pg_ctl");
        c.arg("-D").arg(self.dir.path().join("data"));
        c
    }

    fn start(&self) {
        run(self
            .ctl()
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .arg("-w")
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                self.dir.path().display()
            ))
            .arg("start"));
    }

    fn stop(&self) {
        run(self.ctl().args(["-m", "fast", "-w", "stop"]));
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = self.ctl().args(["-m", "immediate", "stop"]).output();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// PostgreSQL refuses to run as root: its tools run as `postgres` then.
fn pg(bin: &Path, tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The sim (for the config's AWS endpoint) and a config file using `port`.
async fn setup(port: u16) -> (ferry_sim::SimHandle, tempfile::TempDir, PathBuf) {
    let sim = quick_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferry.toml");
    std::fs::write(&config, ferry::dev::dev_config(port, &sim).unwrap()).unwrap();
    (sim, dir, config)
}

/// A 503 problem saying the database is unavailable, with `Retry-After`.
async fn assert_database_unavailable(res: reqwest::Response) {
    assert_eq!(res.status().as_u16(), 503);
    let retry_after: u64 = res
        .headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "unavailable");
    assert_eq!(body["status"], 503);
    let text = body.to_string();
    assert!(
        !text.contains("Connection refused")
            && !text.contains("sqlx")
            && !text.contains("127.0.0.1"),
        "a 5xx body says nothing internal: {text}"
    );
}

#[tokio::test]
async fn requests_get_a_quick_503_while_the_database_is_down_and_recover_after() {
    let pg = PrivatePg::new();
    let port = free_port();
    let (sim, _dir, config) = setup(port).await;
    let token = create_token(&config, &pg.url(), "outage", &["--role", "admin"]);
    let researcher = create_token(
        &config,
        &pg.url(),
        "outage",
        &["--role", "researcher", "--team", "research"],
    );

    let mut serve = Serve::spawn(&config, &pg.url(), port);
    let http = reqwest::Client::new();
    let imports = format!("{}/v1/imports", serve.base);
    let readyz = format!("{}/readyz", serve.base);
    serve.until_answer(&http, "/readyz", &token, 200).await;
    serve.until_answer(&http, "/v1/imports", &token, 200).await;

    pg.stop();
    let started = Instant::now();
    let res = http.get(&imports).bearer_auth(&token).send().await.unwrap();
    let took = started.elapsed();
    assert_database_unavailable(res).await;
    // Loose on purpose: the point is not waiting out the pool's 5 s acquire timeout.
    assert!(took < Duration::from_secs(4), "the 503 took {took:?}");
    let res = http.get(&readyz).send().await.unwrap();
    assert_database_unavailable(res).await;
    // A request that authenticates against the database is refused the same way: a token
    // this replica has not seen yet (a recently used one answers from the token cache).
    let res = http
        .get(format!("{}/v1/me", serve.base))
        .bearer_auth(&researcher)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 503);

    pg.start();
    serve.until_answer(&http, "/readyz", &token, 200).await;
    serve.until_answer(&http, "/v1/imports", &token, 200).await;

    // The worker lived through the outage and takes new work by itself.
    let res = http
        .post(&imports)
        .bearer_auth(&researcher)
        .json(&serde_json::json!({
            "source": sim.scenario().env("SAMPLE_MODEL_URI").unwrap(),
            "environment": "dev",
            "model_name": "after-the-outage",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let id = res.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = serve
        .until_status(&http, &researcher, &id, &["completed", "failed"])
        .await;
    assert_eq!(status, "completed", "log:\n{}", serve.log());

    let status = serve.terminate().await;
    assert!(status.success(), "ferry exits cleanly: {status:?}");
}

#[tokio::test]
async fn a_replica_started_while_the_database_is_down_waits_for_it_then_serves() {
    let pg = PrivatePg::new();
    pg.stop();
    let port = free_port();
    let (_sim, _dir, config) = setup(port).await;
    let mut serve = Serve::spawn(&config, &pg.url(), port);
    let mut waited = false;
    for _ in 0..300 {
        if serve.log().contains("waiting for the database") {
            waited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(waited, "ferry logs that it waits; log:\n{}", serve.log());

    pg.start();
    let http = reqwest::Client::new();
    serve.until_answer(&http, "/readyz", "", 200).await;
    let status = serve.terminate().await;
    assert!(status.success(), "ferry exits cleanly: {status:?}");
}

#[tokio::test]
async fn a_replica_waiting_for_the_database_stops_on_sigterm() {
    // Nothing listens on this port: the database never comes.
    let db = format!("postgres://postgres@127.0.0.1:{}/postgres", free_port());
    let port = free_port();
    let (_sim, _dir, config) = setup(port).await;
    let mut serve = Serve::spawn(&config, &db, port);
    for _ in 0..300 {
        if serve.log().contains("waiting for the database") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        serve.log().contains("waiting for the database"),
        "log:\n{}",
        serve.log()
    );
    let status = serve.terminate().await;
    assert!(
        status.success(),
        "a SIGTERM while waiting exits cleanly: {status:?}"
    );
}
