use ferry_e2e::{TestApp, problem, valid_body};
use ferry_store::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn request_ids_go_in_and_out(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-123");
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");
    // The problem body quotes the same id (checked inside `problem`).
    let res = app
        .client
        .get(app.url("/v1/imports"))
        .header("x-request-id", "abc")
        .send()
        .await
        .unwrap();
    let p = problem(res, 401).await;
    assert_eq!(p["request_id"], "abc");
}

#[sqlx::test(migrations = "../migrations")]
async fn oversized_bodies_are_413(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let mut body = valid_body("big");
    body["description"] = serde_json::Value::String("x".repeat(ferry_api::BODY_LIMIT_BYTES + 1));
    let p = problem(app.post(&token, "/v1/imports", &body).await, 413).await;
    assert_eq!(p["code"], "payload_too_large");
    assert_eq!(app.count_rows("import_requests").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn malformed_bodies_are_400_and_wrong_types_415(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let res = app
        .client
        .post(app.url("/v1/imports"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"source\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res, 400).await["code"], "malformed_json");
    let res = app
        .client
        .post(app.url("/v1/imports"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(valid_body("x").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res, 415).await["code"], "unsupported_media_type");
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_routes_and_methods_are_problems_too(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    assert_eq!(
        problem(app.get(&token, "/v2/nothing").await, 404).await["code"],
        "not_found"
    );
    let res = app
        .client
        .delete(app.url("/v1/imports"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res, 405).await["code"], "method_not_allowed");
}

#[sqlx::test(migrations = "../migrations")]
async fn server_errors_say_nothing_internal(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    app.pool.close().await;
    // A closed pool is a database the replica cannot reach: a 503 to retry.
    let res = app.get(&token, "/v1/imports").await;
    assert!(res.headers().contains_key("retry-after"));
    let p = problem(res, 503).await;
    assert_eq!(p["code"], "unavailable");
    let text = p.to_string().to_lowercase();
    for leak in ["pool", "sqlx", "postgres", "closed", "connection"] {
        assert!(!text.contains(leak), "5xx body mentions {leak}: {p}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_query_parameters_are_400_naming_the_parameter(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    for (query, pointer) in [
        ("limit=0", "/query/limit"),
        ("limit=201", "/query/limit"),
        ("cursor=garbage", "/query/cursor"),
        ("environment=Not%20Valid", "/query/environment"),
        ("model_name=a.b", "/query/model_name"),
    ] {
        let p = problem(app.get(&token, &format!("/v1/imports?{query}")).await, 400).await;
        assert_eq!(p["code"], "invalid_query", "{query}");
        assert_eq!(p["errors"][0]["pointer"], pointer, "{query}");
    }
    let p = problem(app.get(&token, "/v1/imports?status=done").await, 400).await;
    assert_eq!(p["code"], "invalid_query");
}
