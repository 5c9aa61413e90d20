use ferry_api::ApiSettings;
use ferry_domain::auth::Role;
use ferry_e2e::{TestApp, problem, valid_body};
use ferry_store::PgPool;
use serde_json::{Value, json};

async fn post_with_key(app: &TestApp, token: &str, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/imports"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_same_key_and_body_replays_the_first_response(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let first = post_with_key(&app, &token, "k-1", &valid_body("llama3-8b")).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].clone();
    let first: Value = first.json().await.unwrap();

    let again = post_with_key(&app, &token, "k-1", &valid_body("llama3-8b")).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], location);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    assert_eq!(app.count_rows("import_requests").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_same_key_with_another_body_is_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    assert_eq!(
        post_with_key(&app, &token, "k-1", &valid_body("llama3-8b"))
            .await
            .status(),
        201
    );
    let p = problem(
        post_with_key(&app, &token, "k-1", &valid_body("other-model")).await,
        422,
    )
    .await;
    assert_eq!(p["code"], "idempotency_key_reused");
    assert_eq!(app.count_rows("import_requests").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn keys_are_scoped_per_caller(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let alice = app.token(Role::Researcher, Some("research"), "alice").await;
    let bob = app.token(Role::Researcher, Some("research"), "bob").await;
    assert_eq!(
        post_with_key(&app, &alice, "shared", &valid_body("model-a"))
            .await
            .status(),
        201
    );
    let res = post_with_key(&app, &bob, "shared", &valid_body("model-b")).await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.count_rows("import_requests").await, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn concurrent_retries_create_one_request(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let body = valid_body("llama3-8b");
    let attempts = (0..8).map(|_| post_with_key(&app, &token, "burst", &body));
    let responses = futures::future::join_all(attempts).await;
    let mut ids = std::collections::BTreeSet::new();
    for res in responses {
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.unwrap();
        ids.insert(v["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "every retry saw the same request");
    assert_eq!(app.count_rows("import_requests").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn failed_validation_is_not_remembered(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let mut bad = valid_body("llama3-8b");
    bad["environment"] = json!("moon");
    problem(post_with_key(&app, &token, "k", &bad).await, 422).await;
    assert_eq!(
        post_with_key(&app, &token, "k", &valid_body("llama3-8b"))
            .await
            .status(),
        201
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn expired_keys_can_be_used_again(pool: PgPool) {
    let settings = ApiSettings {
        idempotency_ttl: time::Duration::ZERO,
        ..ApiSettings::default()
    };
    let app = TestApp::builder(pool).settings(settings).spawn().await;
    let token = app.researcher("research").await;
    assert_eq!(
        post_with_key(&app, &token, "k", &valid_body("model-a"))
            .await
            .status(),
        201
    );
    let res = post_with_key(&app, &token, "k", &valid_body("model-b")).await;
    assert_eq!(res.status(), 201, "an expired key is a new key");
    assert_eq!(app.count_rows("import_requests").await, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn malformed_keys_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let long = "k".repeat(256);
    let p = problem(
        post_with_key(&app, &token, &long, &valid_body("m")).await,
        400,
    )
    .await;
    assert_eq!(p["code"], "invalid_idempotency_key");
}
