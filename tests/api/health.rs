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
