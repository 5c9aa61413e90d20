use ferry_e2e::TestApp;
use ferry_store::PgPool;
use serde_json::Value;

#[sqlx::test(migrations = "../migrations")]
async fn probes_need_no_token(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for path in ["/healthz", "/readyz"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"], "ok");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn readiness_fails_when_the_database_is_gone(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.pool.close().await;
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    let p = ferry_e2e::problem(res, 503).await;
    assert_eq!(p["code"], "unavailable");
    // Liveness does not depend on the database.
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// A pool of one connection that gives up after half a second, on the
/// test's database.
async fn tiny_pool(pool: &PgPool) -> PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_millis(500))
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap()
}

/// Saturation is not an outage: with the database up and every connection
/// in use, a request gets a 503 that says busy, with `Retry-After`; once a
/// connection is free it is served again.
#[sqlx::test(migrations = "../migrations")]
async fn a_saturated_pool_answers_503_busy_not_unavailable(pool: PgPool) {
    let tiny = tiny_pool(&pool).await;
    let app = TestApp::spawn(tiny.clone()).await;
    let token = app.researcher("research").await;
    assert_eq!(app.get(&token, "/v1/imports").await.status(), 200);

    let held = tiny.acquire().await.unwrap();
    let res = app.get(&token, "/v1/imports").await;
    assert_eq!(res.headers().get("retry-after").unwrap(), "1");
    let body = ferry_e2e::problem(res, 503).await;
    assert_eq!(body["code"], "unavailable");
    assert!(body["detail"].as_str().unwrap().contains("busy"), "{body}");

    drop(held);
    assert_eq!(app.get(&token, "/v1/imports").await.status(), 200);
}
