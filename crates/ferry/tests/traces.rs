//! OTLP trace export, end to end: a real `ferry serve` exports to an OTLP/HTTP
//! receiver the test runs (decoding the protobuf export requests with the
//! `opentelemetry-proto` types), and one trace shows an import from the
//! client's `POST /v1/imports` to Bedrock's `CreateModelImportJob` (the sim).

#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// The trace the client starts (W3C Trace Context).
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// One received span, its ids in hex.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
}

type Spans = Arc<Mutex<Vec<Received>>>;

/// `POST /v1/traces` of OTLP/HTTP with a protobuf body.
async fn export(State(spans): State<Spans>, body: Bytes) -> impl axum::response::IntoResponse {
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    let mut got = spans.lock().unwrap();
    for resource in request.resource_spans {
        for scope in resource.scope_spans {
            for span in scope.spans {
                got.push(Received {
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                });
            }
        }
    }
    (
        [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/HTTP receiver on a free port: its base URL and what it received.
async fn receiver() -> (String, Spans) {
    let spans = Spans::default();
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(export))
        .with_state(Arc::clone(&spans));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), spans)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `ferry token create` against `db`.
fn create_token(config: &Path, db: &str, role: &[&str]) -> String {
    let out = Command::new(FERRY)
        .args([
            "--config",
            config.to_str().unwrap(),
            "token",
            "create",
            "--name",
            "traces",
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

/// A `ferry serve` process, killed when dropped; its log goes to a file.
struct Serve {
    child: Child,
    log: PathBuf,
}

impl Serve {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status (bounded wait).
    async fn terminate(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("ferry did not stop on SIGTERM; log:\n{}", self.log());
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn one_trace_runs_from_the_post_to_bedrock() {
    let master = std::env::var("DATABASE_URL").unwrap();
    let name = format!("ferry_traces_{}", uuid::Uuid::new_v4().simple());
    let db = ferry_store::admin::ensure_database(&master, &name)
        .await
        .unwrap();
    let (otlp, spans) = receiver().await;
    let sim = ferry_sim::Sim::start(ferry_sim::SimOptions {
        faults: ferry_sim::FaultConfig {
            job_duration_ms: 300,
            ..ferry_sim::FaultConfig::default()
        },
        ..ferry_sim::SimOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferry.toml");
    let port = free_port();
    let mut toml = ferry::dev::dev_config(port, &sim).unwrap();
    toml.push_str(&format!(
        "\n[telemetry.otlp]\nendpoint = \"{otlp}\"\nservice_name = \"ferry-traces-test\"\n"
    ));
    std::fs::write(&config, toml).unwrap();
    let researcher = create_token(
        &config,
        &db,
        &["--role", "researcher", "--team", "research"],
    );

    let log = dir.path().join("serve.log");
    let mut serve = Serve {
        child: Command::new(FERRY)
            .args(["--config", config.to_str().unwrap(), "serve"])
            .env("DATABASE_URL", &db)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("FERRY_WORKER__TICK_MILLIS", "100")
            .env_remove("RUST_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_SDK_DISABLED")
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap(),
        log,
    };
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "ferry never became ready; log:\n{}", serve.log());

    let res = http
        .post(format!("{base}/v1/imports"))
        .bearer_auth(&researcher)
        .header("traceparent", format!("00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"))
        .json(&serde_json::json!({
            "source": sim.scenario().env("SAMPLE_MODEL_URI").unwrap(),
            "environment": "dev",
            "model_name": "traced",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201, "log:\n{}", serve.log());
    let id = res.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Bedrock has the job once the request is importing (or done).
    let mut status = String::new();
    for _ in 0..600 {
        let res = http
            .get(format!("{base}/v1/imports/{id}"))
            .bearer_auth(&researcher)
            .send()
            .await
            .unwrap();
        status = res.json::<serde_json::Value>().await.unwrap()["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if matches!(status.as_str(), "importing" | "completed" | "failed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        matches!(status.as_str(), "importing" | "completed"),
        "status {status}; log:\n{}",
        serve.log()
    );
    // Shutdown flushes the spans still batched.
    let exit = serve.terminate().await;
    assert!(exit.success(), "ferry exits cleanly: {exit:?}");

    let got: Vec<Received> = spans.lock().unwrap().clone();
    let ours: Vec<&Received> = got.iter().filter(|s| s.trace_id == TRACE_ID).collect();
    let names: Vec<&str> = ours.iter().map(|s| s.name.as_str()).collect();
    // The API's span is the child of the client's.
    let request = ours
        .iter()
        .find(|s| s.name == "POST /v1/imports")
        .unwrap_or_else(|| panic!("no API request span in {names:?}; log:\n{}", serve.log()));
    assert_eq!(request.parent_span_id, CLIENT_SPAN_ID);
    // The worker's steps for the import are children of the API request span.
    for step in ["worker.preflight", "worker.submit"] {
        let span = ours
            .iter()
            .find(|s| s.name == step)
            .unwrap_or_else(|| panic!("no {step} span in the trace: {names:?}"));
        assert_eq!(span.parent_span_id, request.span_id, "{step}");
    }
    // Bedrock's CreateModelImportJob call sits under the submit step.
    let submit = ours.iter().find(|s| s.name == "worker.submit").unwrap();
    let create = ours
        .iter()
        .find(|s| s.name == "create_import_job")
        .unwrap_or_else(|| panic!("no CreateModelImportJob span in the trace: {names:?}"));
    assert_eq!(create.parent_span_id, submit.span_id);
    // Nothing of the trace dangles: every parent is the client's span or a span received.
    for span in &ours {
        assert!(
            span.parent_span_id == CLIENT_SPAN_ID
                || ours.iter().any(|p| p.span_id == span.parent_span_id),
            "{} has an unknown parent {}",
            span.name,
            span.parent_span_id
        );
    }
}
