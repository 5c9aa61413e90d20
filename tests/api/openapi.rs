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
            let optional = path.ends_with("/approve") || path.ends_with("/cancel");
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
