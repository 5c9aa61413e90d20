//! OTLP trace export, end to end: a real `ferry serve` exports to an OTLP/HTTP
//! receiver the test runs (decoding the protobuf export requests with the
//! `opentelemetry-proto` types), and one trace shows an import from the
//! client's `POST /v1/imports` to Bedrock's `CreateModelImportJob` (the sim).

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

mod common;

use common::{Serve, create_token, free_port, quick_sim};

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

#[tokio::test]
async fn one_trace_runs_from_the_post_to_bedrock() {
    let master = std::env::var("DATABASE_URL").unwrap();
    let name = format!("ferry_traces_{}", uuid::Uuid::new_v4().simple());
    let db = ferry_store::admin::ensure_database(&master, &name)
        .await
        .unwrap();
    let (otlp, spans) = receiver().await;
    let sim = quick_sim().await;
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
        "traces",
        &["--role", "researcher", "--team", "research"],
    );

    let mut serve = Serve::spawn(&config, &db, port);
    let base = serve.base.clone();
    let http = reqwest::Client::new();
    serve.until_answer(&http, "/readyz", "", 200).await;

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
    let status = serve
        .until_status(
            &http,
            &researcher,
            &id,
            &["importing", "completed", "failed"],
        )
        .await;
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
