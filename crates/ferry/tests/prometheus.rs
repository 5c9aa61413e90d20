//! A real Prometheus scrapes a real Ferry: `ferry dev` (API, worker and sim on a fresh
//! database) takes an import through to `completed`, Debian's `prometheus` scrapes its
//! metrics listener every second, and PromQL through Prometheus's HTTP API finds the
//! series an operator's dashboards and alerts (deploy/prometheus/alerts.yml) rely on.
//!
//! Needs `/usr/bin/prometheus` (`apt-get install prometheus`; `scripts/test.sh` installs it).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use sqlx::{Connection, PgConnection};

mod common;

use common::{FERRY, Stop, free_port, import_until};

const PROMETHEUS: &str = "/usr/bin/prometheus";

async fn fresh_database() -> (String, String) {
    let master = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must point at a Postgres server for the tests");
    let name = format!("ferry_prom_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&master).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = master[..master.rfind('/').unwrap()].to_owned();
    (name.clone(), format!("{base}/{name}"))
}

async fn drop_database(name: &str) {
    let master = std::env::var("DATABASE_URL").unwrap();
    let mut conn = PgConnection::connect(&master).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
}

fn read_env(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Prometheus on a free port with its own data directory, scraping `target` (host:port)
/// every second as job "ferry".
fn start_prometheus(dir: &Path, target: &str) -> (Stop, u16) {
    assert!(
        Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} is missing: apt-get install -y prometheus (scripts/test.sh installs it)"
    );
    let port = free_port();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: ferry\n    metrics_path: /metrics\n\
             \x20   static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    (Stop(Some(child)), port)
}

/// An instant query's result vector (`[]` until the series exist).
async fn query(http: &reqwest::Client, prometheus: u16, promql: &str) -> Vec<Value> {
    let Ok(res) = http
        .get(format!("http://127.0.0.1:{prometheus}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .await
    else {
        return Vec::new();
    };
    let Ok(body) = res.json::<Value>().await else {
        return Vec::new();
    };
    assert_ne!(body["status"], "error", "{promql}: {body}");
    body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn number(sample: &Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

/// Polls `promql` until `done` holds for its result (Prometheus scrapes every second;
/// at most 60 s), and returns the last result.
async fn eventually(
    http: &reqwest::Client,
    prometheus: u16,
    promql: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..300 {
        last = query(http, prometheus, promql).await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{promql} never matched; last result: {last:?}");
}

#[tokio::test]
async fn prometheus_scrapes_the_series_of_an_import() {
    let (db_name, db_url) = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".ferry");
    let (api_port, metrics_port) = (free_port(), free_port());
    let ferry = Command::new(FERRY)
        .args(["dev", "--port", &api_port.to_string()])
        .args(["--metrics-port", &metrics_port.to_string()])
        .args(["--sim-port", "0", "--job-duration", "1", "--dir"])
        .arg(&state)
        .current_dir(dir.path())
        .env("DATABASE_URL", &db_url)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("FERRY_CONFIG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("ferry.log")).unwrap())
        .spawn()
        .unwrap();
    let ferry = Stop(Some(ferry));
    let http = reqwest::Client::new();

    // Ferry is up when its env file is written and /readyz answers.
    let mut vars = BTreeMap::new();
    for _ in 0..600 {
        vars = read_env(&state.join("dev.env"));
        if vars.contains_key("FERRY_METRICS_URL")
            && http
                .get(format!("http://127.0.0.1:{api_port}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        vars.get("FERRY_METRICS_URL").map(String::as_str),
        Some(format!("http://127.0.0.1:{metrics_port}/metrics").as_str()),
        "dev.env names the metrics listener"
    );

    // The metrics listener is not the API: no auth, and the API's port has no /metrics.
    let page = http.get(&vars["FERRY_METRICS_URL"]).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    assert_ne!(
        http.get(format!("http://127.0.0.1:{api_port}/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "the API's port does not serve the metrics"
    );

    // One import through to completed, and one request for a route that does not exist.
    let url = &vars["FERRY_URL"];
    let token = &vars["FERRY_TOKEN_RESEARCHER"];
    let created: Value = http
        .post(format!("{url}/v1/imports"))
        .bearer_auth(token)
        .header("Idempotency-Key", "prometheus")
        .json(&serde_json::json!({
            "source": vars["FERRY_SAMPLE_SOURCE"],
            "environment": "dev",
            "model_name": "prometheus-test",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let last = import_until(&http, url, token, &id, &["completed", "failed"], 600).await;
    assert_eq!(last["status"], "completed", "{last}");
    let missing = http
        .get(format!("{url}/v1/no-such-thing/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let prom_dir = dir.path().join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let (prometheus, prom_port) = start_prometheus(&prom_dir, &format!("127.0.0.1:{metrics_port}"));

    // The scrape works.
    eventually(&http, prom_port, r#"up{job="ferry"} == 1"#, |r| {
        r.len() == 1
    })
    .await;

    // Build info.
    let info = eventually(&http, prom_port, "ferry_build_info", |r| !r.is_empty()).await;
    assert_eq!(info[0]["metric"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(number(&info[0]), 1.0);

    // Requests by status and environment, from Postgres: the one import is completed.
    let completed = eventually(
        &http,
        prom_port,
        r#"ferry_import_requests{status="completed",environment="dev"}"#,
        |r| r.len() == 1 && number(&r[0]) == 1.0,
    )
    .await;
    assert_eq!(completed[0]["metric"]["job"], "ferry");
    let all = query(&http, prom_port, "sum(ferry_import_requests)").await;
    assert_eq!(number(&all[0]), 1.0, "one request in all");
    // Every configured environment and status has a series (0 when empty).
    let staging = query(
        &http,
        prom_port,
        r#"ferry_import_requests{status="queued",environment="staging"}"#,
    )
    .await;
    assert_eq!(staging.len(), 1);
    assert_eq!(number(&staging[0]), 0.0);

    // HTTP counters by route template, never by raw path.
    let created = query(
        &http,
        prom_port,
        r#"ferry_http_requests_total{method="POST",route="/v1/imports",status="201"}"#,
    )
    .await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(number(&created[0]), 1.0);
    let polled = query(
        &http,
        prom_port,
        r#"ferry_http_requests_total{method="GET",route="/v1/imports/{id}",status="200"}"#,
    )
    .await;
    assert_eq!(polled.len(), 1, "{polled:?}");
    assert!(number(&polled[0]) >= 1.0);
    let raw = query(
        &http,
        prom_port,
        &format!(r#"count({{__name__=~"ferry_http.*",route=~".*{id}.*"}})"#),
    )
    .await;
    assert!(raw.is_empty(), "no series carries a request id: {raw:?}");
    let unmatched = query(
        &http,
        prom_port,
        r#"ferry_http_requests_total{route="unmatched",status="404"}"#,
    )
    .await;
    assert_eq!(unmatched.len(), 1, "{unmatched:?}");
    let latency = query(
        &http,
        prom_port,
        r#"ferry_http_request_duration_seconds_count{method="POST",route="/v1/imports"}"#,
    )
    .await;
    assert_eq!(number(&latency[0]), 1.0);

    // AWS calls: exactly one CreateModelImportJob, answered.
    let create = query(
        &http,
        prom_port,
        r#"ferry_aws_calls_total{service="bedrock",operation="CreateModelImportJob"}"#,
    )
    .await;
    assert_eq!(create.len(), 1, "{create:?}");
    assert_eq!(create[0]["metric"]["outcome"], "ok");
    assert_eq!(number(&create[0]), 1.0);
    let s3 = query(
        &http,
        prom_port,
        r#"sum(ferry_aws_calls_total{service="s3",outcome="ok"})"#,
    )
    .await;
    assert!(
        number(&s3[0]) >= 1.0,
        "preflight read the artifacts: {s3:?}"
    );
    let assumed = query(
        &http,
        prom_port,
        r#"ferry_aws_calls_total{service="sts",operation="AssumeRole",outcome="ok"}"#,
    )
    .await;
    assert!(number(&assumed[0]) >= 1.0, "{assumed:?}");

    // Worker steps by kind: the preflight, the submission and the tracking all ran.
    for kind in ["preflight", "submit", "track"] {
        let steps = query(
            &http,
            prom_port,
            &format!(r#"ferry_worker_steps_total{{kind="{kind}",outcome="ok"}}"#),
        )
        .await;
        assert_eq!(steps.len(), 1, "{kind}: {steps:?}");
        assert!(number(&steps[0]) >= 1.0, "{kind}: {steps:?}");
        let timed = query(
            &http,
            prom_port,
            &format!(r#"ferry_worker_step_duration_seconds_count{{kind="{kind}",outcome="ok"}}"#),
        )
        .await;
        assert_eq!(number(&timed[0]), number(&steps[0]));
    }

    // The waiting line is empty, the job slot free again, one model held of three.
    let waiting = query(&http, prom_port, "ferry_waiting_line_requests").await;
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(number(&waiting[0]), 0.0);
    let models = query(
        &http,
        prom_port,
        r#"ferry_quota_used{quota="imported_models"}"#,
    )
    .await;
    assert_eq!(number(&models[0]), 1.0);
    let limit = query(
        &http,
        prom_port,
        r#"ferry_quota_limit{quota="imported_models"}"#,
    )
    .await;
    assert_eq!(number(&limit[0]), 3.0);
    let backlog = query(&http, prom_port, "ferry_webhook_backlog").await;
    assert_eq!(number(&backlog[0]), 0.0);
    let pool = query(&http, prom_port, "ferry_db_pool_max_connections").await;
    assert!(number(&pool[0]) >= 1.0);

    drop(prometheus);
    drop(ferry);
    drop_database(&db_name).await;
}
