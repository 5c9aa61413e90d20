use ferry_e2e::{TestApp, repo_root};
use ferry_store::PgPool;
use serde_json::Value;

fn committed() -> String {
    std::fs::read_to_string(repo_root().join("openapi/ferry.json")).unwrap()
}

#[test]
fn the_committed_document_matches_the_code() {
    let generated = ferry::cli::openapi_json().unwrap();
    assert!(
        committed() == generated,
        "openapi/ferry.json is out of date; run `cargo run -- openapi --out openapi/ferry.json` and commit it"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_running_server_serves_the_committed_document(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let served: Value = app.get(&token, "/openapi.json").await.json().await.unwrap();
    let committed: Value = serde_json::from_str(&committed()).unwrap();
    assert_eq!(served, committed);
}

#[test]
fn every_route_but_the_probes_requires_the_bearer_token() {
    let doc: Value = serde_json::from_str(&committed()).unwrap();
    assert_eq!(doc["security"][0]["bearer"], serde_json::json!([]));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let open = op.get("security") == Some(&serde_json::json!([{}]));
            assert_eq!(
                open,
                path == "/healthz" || path == "/readyz",
                "{method} {path}"
            );
            if !open {
                assert!(
                    op["responses"].get("401").is_some(),
                    "{method} {path} documents 401"
                );
            }
        }
    }
}

#[test]
fn optional_bodies_are_documented_as_optional_never_as_null() {
    let doc: Value = serde_json::from_str(&committed()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(body) = op.get("requestBody") else {
                continue;
            };
            let optional = path.ends_with("/approve")
                || path.ends_with("/cancel")
                || path.ends_with("/rotate-secret");
            assert_eq!(
                body.get("required"),
                (!optional).then_some(&Value::Bool(true)),
                "{method} {path}"
            );
            let schema = &body["content"]["application/json"]["schema"];
            assert!(
                schema.get("$ref").is_some(),
                "{method} {path}: the body is an object, not a union with null: {schema}"
            );
        }
    }
}

/// Every operation that needs the database (every authenticated one, and
/// readiness) documents the 503 a client retries on: problem code
/// `unavailable` with `Retry-After`.
#[test]
fn every_database_backed_operation_documents_503_with_retry_after() {
    let doc: Value = serde_json::from_str(&committed()).unwrap();
    let resolve = |r: &Value| -> Value {
        match r.get("$ref").and_then(Value::as_str) {
            Some(path) => {
                let name = path.trim_start_matches("#/components/responses/");
                doc["components"]["responses"][name].clone()
            }
            None => r.clone(),
        }
    };
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let open = op.get("security") == Some(&serde_json::json!([{}]));
            if open && path != "/readyz" {
                continue;
            }
            let res = resolve(
                op["responses"]
                    .get("503")
                    .unwrap_or_else(|| panic!("{method} {path} documents 503")),
            );
            assert!(
                res["headers"].get("Retry-After").is_some(),
                "{method} {path}: 503 documents Retry-After"
            );
            assert!(
                res["content"].get("application/problem+json").is_some(),
                "{method} {path}: 503 is a problem"
            );
            assert!(
                res["description"]
                    .as_str()
                    .unwrap()
                    .contains("`unavailable`"),
                "{method} {path}: 503 names the problem code"
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} operations checked");
    let shared = &doc["components"]["responses"]["Unavailable"];
    let example = &shared["content"]["application/problem+json"]["example"];
    assert_eq!(example["code"], "unavailable");
    assert_eq!(example["type"], "urn:ferry:problem:unavailable");
}
