//! The `ferry` binary as an operator runs it: a real process, a fresh database.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sqlx::{Connection, PgConnection};

mod common;

use common::{FERRY, Stop, free_port, import_until};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn master_url() -> String {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must point at a Postgres server for the tests")
}

/// A database of its own for one test, dropped at the end.
struct TempDb {
    name: String,
    url: String,
}

impl TempDb {
    async fn new() -> Self {
        let name = format!("ferry_cli_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&master_url()).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let mut url = master_url();
        let cut = url.rfind('/').unwrap();
        url.truncate(cut);
        let base = url.split('?').next().unwrap().to_owned();
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }

    async fn drop_db(self) {
        let mut conn = PgConnection::connect(&master_url()).await.unwrap();
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    }
}

fn ferry(args: &[&str], config: &Path, db: Option<&str>) -> Output {
    let mut cmd = Command::new(FERRY);
    cmd.args(["--config", config.to_str().unwrap()])
        .args(args)
        .env_remove("RUST_LOG");
    match db {
        Some(url) => cmd.env("DATABASE_URL", url),
        None => cmd.env_remove("DATABASE_URL"),
    };
    cmd.output().unwrap()
}

fn example() -> PathBuf {
    repo().join("ferry.example.toml")
}

#[test]
fn openapi_check_passes_on_the_committed_file_and_fails_on_drift() {
    let committed = repo().join("openapi/ferry.json");
    let out = ferry(
        &["openapi", "--check", committed.to_str().unwrap()],
        &example(),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let drifted = dir.path().join("ferry.json");
    std::fs::write(
        &drifted,
        std::fs::read_to_string(&committed)
            .unwrap()
            .replace("Ferry", "Dinghy"),
    )
    .unwrap();
    let out = ferry(
        &["openapi", "--check", drifted.to_str().unwrap()],
        &example(),
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("out of date"));
}

#[test]
fn config_check_names_the_bad_key() {
    let out = ferry(&["config", "check"], &example(), None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("environment prod: account 777788889999 in us-east-1, approval required"),
        "{stdout}"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ferry.toml");
    let text = std::fs::read_to_string(example()).unwrap();
    std::fs::write(
        &bad,
        text.replacen("account_id = \"777788889999\"", "account_id = \"7777\"", 1),
    )
    .unwrap();
    let out = ferry(&["config", "check"], &bad, None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("environments.dev.account_id"), "{stderr}");
    assert!(stderr.contains("12 digits"), "{stderr}");

    let out = ferry(
        &["config", "check"],
        Path::new("/nonexistent/ferry.toml"),
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn config_check_reports_oidc_mistakes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferry.toml");
    let jwks = dir.path().join("jwks.json");
    let text = std::fs::read_to_string(example()).unwrap();
    let with_oidc = |extra: &str| {
        let section = format!(
            "{text}\n[auth.oidc]\nissuer = \"https://idp.example.com\"\naudience = \"ferry\"\n\
             jwks_file = {:?}\n{extra}",
            jwks.display().to_string()
        );
        std::fs::write(&config, section).unwrap();
        ferry(&["config", "check"], &config, None)
    };

    let out = with_oidc("");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("auth.oidc.jwks_file: reading"), "{stderr}");

    std::fs::write(
        &jwks,
        r#"{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#,
    )
    .unwrap();
    let out = with_oidc("");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("oidc: issuer https://idp.example.com, audience ferry"),
        "{stdout}"
    );

    let out = with_oidc("algorithms = [\"HS256\"]\n");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing is called valid");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("auth.oidc.algorithms"), "{stderr}");
}

#[tokio::test]
async fn token_create_refuses_researchers_without_a_team() {
    let db = TempDb::new().await;
    let out = ferry(
        &["token", "create", "--role", "researcher", "--name", "x"],
        &example(),
        Some(&db.url),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--team is required"));
    let out = ferry(
        &["token", "create", "--role", "root", "--name", "x"],
        &example(),
        Some(&db.url),
    );
    assert!(!out.status.success());
    let out = ferry(
        &[
            "token",
            "create",
            "--role",
            "researcher",
            "--team",
            "ghosts",
            "--name",
            "x",
        ],
        &example(),
        Some(&db.url),
    );
    assert!(!out.status.success());
    db.drop_db().await;
}

#[tokio::test]
async fn serve_answers_with_a_created_token_and_stops_cleanly_on_sigterm() {
    let db = TempDb::new().await;
    let out = ferry(
        &[
            "token",
            "create",
            "--role",
            "researcher",
            "--team",
            "research",
            "--name",
            "alice",
        ],
        &example(),
        Some(&db.url),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("ferry_"));

    let port = free_port();
    let child = Command::new(FERRY)
        .args(["--config", example().to_str().unwrap(), "serve"])
        .env("DATABASE_URL", &db.url)
        .env("FERRY_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("FERRY_LOG__FORMAT", "json")
        // This test is about the API process; the pipeline has its own suite
        // against the sim, and no AWS credentials exist here.
        .env("FERRY_WORKER__ENABLED", "false")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = Stop(Some(child));
    let pid = guard.0.as_ref().unwrap().id();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "ferry serve did not become ready");

    let res = client
        .post(format!("{base}/v1/imports"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "source": "s3://model-artifacts-111122223333/llama3-8b/v1/",
            "environment": "dev",
            "model_name": "llama3-8b",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let kill = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let mut child = guard.0.take().unwrap();
    assert!(kill.success());
    let out = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        (status, stderr)
    })
    .await
    .unwrap();
    assert!(out.0.success(), "exit {:?}; log:\n{}", out.0, out.1);
    // JSON logs, one object per line, with the request's route template and no token.
    let lines: Vec<serde_json::Value> = out
        .1
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        lines.iter().any(|l| l["message"] == "ferry stopped"),
        "{}",
        out.1
    );
    assert!(
        lines.iter().any(|l| l["span"]["route"] == "/v1/imports"),
        "{}",
        out.1
    );
    assert!(!out.1.contains(&token), "the token reached the logs");
    db.drop_db().await;
}

/// What a newcomer does: `ferry dev`, paste the printed request, watch it land.
#[tokio::test]
async fn ferry_dev_imports_the_sample_model_end_to_end() {
    let db = TempDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".ferry");
    let port = free_port();
    let metrics_port = free_port();
    let child = Command::new(FERRY)
        .args([
            "dev",
            "--port",
            &port.to_string(),
            "--metrics-port",
            &metrics_port.to_string(),
            "--sim-port",
            "0",
            "--job-duration",
            "1",
            "--dir",
        ])
        .arg(&state)
        .current_dir(dir.path())
        .env("DATABASE_URL", &db.url)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("FERRY_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut guard = Stop(Some(child));
    let env_file = state.join("dev.env");
    let client = reqwest::Client::new();
    let mut vars = std::collections::BTreeMap::new();
    for _ in 0..300 {
        if let Ok(text) = std::fs::read_to_string(&env_file)
            && let Ok(r) = client
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
            && r.status() == 200
        {
            for line in text.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    vars.insert(k.to_owned(), v.to_owned());
                }
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for key in [
        "FERRY_URL",
        "FERRY_TOKEN_RESEARCHER",
        "FERRY_TOKEN_HOSTING",
        "FERRY_SAMPLE_SOURCE",
        "FERRY_CONFIG",
        "DATABASE_URL",
        "AWS_ENDPOINT_URL",
        "FERRY_METRICS_URL",
    ] {
        assert!(vars.contains_key(key), "dev.env lacks {key}: {vars:?}");
    }
    // The generated files hold tokens and keys: their owner's only.
    #[cfg(unix)]
    for file in ["dev.env", "sim.env", "ferry.toml", "webhook.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file} is mode {:o}", mode & 0o777);
    }
    let metrics = client
        .get(&vars["FERRY_METRICS_URL"])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("ferry_build_info{"), "{metrics}");
    let url = &vars["FERRY_URL"];
    let token = &vars["FERRY_TOKEN_RESEARCHER"];
    let created: serde_json::Value = client
        .post(format!("{url}/v1/imports"))
        .bearer_auth(token)
        .header("Idempotency-Key", "first-try")
        .json(&serde_json::json!({
            "source": vars["FERRY_SAMPLE_SOURCE"],
            "environment": "dev",
            "model_name": "llama3-8b-dev",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let last = import_until(&client, url, token, &id, &["completed", "failed"], 300).await;
    assert_eq!(last["status"], "completed", "{last}");
    assert!(
        last["imported_model_arn"]
            .as_str()
            .unwrap()
            .contains(":imported-model/")
    );

    // The same through the command-line client, as CI would use it.
    let client = |token: &str, args: &[&str]| {
        let out = Command::new(FERRY)
            .args(args)
            .env("FERRY_URL", url)
            .env("FERRY_TOKEN", token)
            .env_remove("FERRY_CONFIG")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let sample = vars["FERRY_SAMPLE_SOURCE"].clone();
    let (code, stdout) = client(
        token,
        &[
            "submit",
            &sample,
            "--model",
            "llama3-8b-cli",
            "--env",
            "dev",
            "--wait",
            "--timeout",
            "60",
        ],
    );
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("completed") && stdout.contains("imported as arn:aws:bedrock"),
        "{stdout}"
    );
    let (code, stdout) = client(
        token,
        &[
            "submit",
            &sample,
            "--model",
            "llama3-8b-prod",
            "--env",
            "prod",
        ],
    );
    assert_eq!(code, Some(0), "{stdout}");
    let prod_id = stdout.split_whitespace().nth(1).unwrap().to_owned();
    let (code, stdout) = client(token, &["approve", &prod_id]);
    assert_ne!(code, Some(0), "a researcher cannot approve: {stdout}");
    let (code, stdout) = client(
        &vars["FERRY_TOKEN_HOSTING"],
        &["approve", &prod_id, "--comment", "ok"],
    );
    assert_eq!(code, Some(0), "{stdout}");
    let (code, stdout) = client(token, &["ls", "--env", "prod"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains(&prod_id), "{stdout}");
    let (code, stdout) = client(token, &["status", &id]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("imported_model_arn"), "{stdout}");
    let pid = guard.0.as_ref().unwrap().id();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let mut child = guard.0.take().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    db.drop_db().await;
}
