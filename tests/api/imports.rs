use ferry_domain::auth::Role;
use ferry_e2e::{TestApp, problem, valid_body};
use ferry_store::PgPool;
use serde_json::{Value, json};

#[sqlx::test(migrations = "../migrations")]
async fn create_returns_201_with_location_and_queued_status(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let res = app
        .post(&token, "/v1/imports", &valid_body("llama3-8b"))
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/imports/{}", body["id"].as_str().unwrap())
    );
    assert_eq!(body["status"], "queued");
    assert_eq!(body["team"], "research");
    assert_eq!(body["environment"], "dev");
    assert_eq!(body["requested_by"], "research-researcher");
    assert_eq!(
        body["job_name"],
        format!("ferry-{}", body["id"].as_str().unwrap().replace('-', ""))
    );
    assert_eq!(body["conditions"][0]["type"], "Accepted");

    let read: Value = app.get(&token, &location).await.json().await.unwrap();
    assert_eq!(read, body);
}

#[sqlx::test(migrations = "../migrations")]
async fn environments_requiring_approval_start_pending(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let mut body = valid_body("llama3-8b");
    body["environment"] = json!("prod");
    let created = app.create(&token, &body).await;
    assert_eq!(created["status"], "pending_approval");
    let approved = created["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Approved")
        .unwrap();
    assert_eq!(approved["status"], "False");
    assert_eq!(approved["reason"], "AwaitingApproval");
}

#[sqlx::test(migrations = "../migrations")]
async fn every_invalid_field_gets_a_422_naming_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let cases: &[(&str, Value, &str, &str)] = &[
        (
            "source",
            json!("s3://Model-Artifacts/x/"),
            "/source",
            "s3_uri.bucket",
        ),
        (
            "source",
            json!("s3://model-artifacts-111122223333/a=b/"),
            "/source",
            "s3_uri.key",
        ),
        (
            "source",
            json!("https://example.com/model"),
            "/source",
            "s3_uri.scheme",
        ),
        (
            "source",
            json!("s3://other-bucket-1/x/"),
            "/source",
            "source_not_allowed",
        ),
        (
            "environment",
            json!("moon"),
            "/environment",
            "unknown_environment",
        ),
        (
            "model_name",
            json!("bad.name"),
            "/model_name",
            "imported_model_name.charset",
        ),
        (
            "model_name",
            json!("a__b"),
            "/model_name",
            "imported_model_name.separator",
        ),
        ("model_name", json!("m".repeat(64)), "/model_name", "length"),
        ("job_name", json!("-job"), "/job_name", "job_name.start"),
        ("job_name", json!("job_1"), "/job_name", "job_name.charset"),
        (
            "description",
            json!("x".repeat(1025)),
            "/description",
            "length",
        ),
        (
            "description",
            json!("bad\u{0}text"),
            "/description",
            "control_character",
        ),
        (
            "model_tags",
            json!({"aws:owner": "x"}),
            "/model_tags/aws:owner",
            "tag.reserved",
        ),
        (
            "model_tags",
            json!({"ferry:team": "x"}),
            "/model_tags/ferry:team",
            "tag.reserved",
        ),
        ("job_tags", json!({"k": "v*"}), "/job_tags/k", "tag.charset"),
        ("job_tags", json!({"k": 1}), "/job_tags/k", "type"),
        ("team", json!("Team A"), "/team", "team_name"),
        ("source", json!(42), "/source", "type"),
        ("unexpected", json!(true), "/unexpected", "unknown_field"),
    ];
    for (field, value, pointer, rule) in cases {
        let mut body = valid_body("llama3-8b");
        body[*field] = value.clone();
        let res = app.post(&token, "/v1/imports", &body).await;
        let p = problem(res, 422).await;
        assert_eq!(p["code"], "validation_failed", "{field}");
        let errors = p["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["pointer"] == *pointer && e["rule"] == *rule),
            "{field}={value}: expected {pointer} {rule}, got {errors:?}"
        );
    }
    let mut body = valid_body("x");
    body.as_object_mut().unwrap().remove("model_name");
    let p = problem(app.post(&token, "/v1/imports", &body).await, 422).await;
    assert_eq!(p["errors"][0]["pointer"], "/model_name");
    assert_eq!(p["errors"][0]["rule"], "required");
    assert_eq!(
        app.count_rows("import_requests").await,
        0,
        "nothing invalid was stored"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn several_bad_fields_are_reported_together(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let body = json!({"source": "s3://UP/x", "environment": "moon", "model_name": "a.b"});
    let p = problem(app.post(&token, "/v1/imports", &body).await, 422).await;
    let pointers: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, vec!["/environment", "/source", "/model_name"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_live_model_name_cannot_be_taken_twice_in_one_environment(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let first = app.create(&token, &valid_body("llama3-8b")).await;
    let p = problem(
        app.post(&token, "/v1/imports", &valid_body("llama3-8b"))
            .await,
        409,
    )
    .await;
    assert_eq!(p["code"], "model_name_in_use");
    // Another environment is another account's namespace.
    let mut staging = valid_body("llama3-8b");
    staging["environment"] = json!("staging");
    app.create(&token, &staging).await;
    // Cancelling the first releases the name.
    let id = first["id"].as_str().unwrap();
    let res = app
        .post(&token, &format!("/v1/imports/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    app.create(&token, &valid_body("llama3-8b")).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_job_name_cannot_be_reused_in_one_environment(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let mut a = valid_body("model-a");
    a["job_name"] = json!("nightly-1");
    app.create(&token, &a).await;
    let mut b = valid_body("model-b");
    b["job_name"] = json!("nightly-1");
    let p = problem(app.post(&token, "/v1/imports", &b).await, 409).await;
    assert_eq!(p["code"], "job_name_in_use");
}

#[sqlx::test(migrations = "../migrations")]
async fn cancel_records_the_transition_and_refuses_a_second_time(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let created = app.create(&token, &valid_body("llama3-8b")).await;
    let id = created["id"].as_str().unwrap();
    let res = app
        .post(
            &token,
            &format!("/v1/imports/{id}/cancel"),
            &json!({"reason": "wrong checkpoint"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let cancelled: Value = res.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    let cond = cancelled["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Cancelled")
        .unwrap();
    assert!(
        cond["message"]
            .as_str()
            .unwrap()
            .contains("before any Bedrock job"),
        "{cond}"
    );

    let p = problem(
        app.post(&token, &format!("/v1/imports/{id}/cancel"), &json!({}))
            .await,
        409,
    )
    .await;
    assert_eq!(p["code"], "invalid_transition");

    let events: Value = app
        .get(&token, &format!("/v1/imports/{id}/events"))
        .await
        .json()
        .await
        .unwrap();
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["kind"], "created");
    assert_eq!(items[0]["to_status"], "queued");
    assert_eq!(items[1]["kind"], "cancelled");
    assert_eq!(items[1]["from_status"], "queued");
    assert_eq!(items[1]["to_status"], "cancelled");
    assert_eq!(items[1]["actor"], "research-researcher");
    assert_eq!(items[1]["detail"]["reason"], "wrong checkpoint");
}

#[sqlx::test(migrations = "../migrations")]
async fn cancel_without_a_body_works(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let created = app.create(&token, &valid_body("llama3-8b")).await;
    let id = created["id"].as_str().unwrap();
    let res = app
        .client
        .post(app.url(&format!("/v1/imports/{id}/cancel")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[sqlx::test(migrations = "../migrations")]
async fn viewers_cannot_cancel_and_hosting_can(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let researcher = app.researcher("research").await;
    let viewer = app.token(Role::Viewer, None, "dashboard").await;
    let hosting = app.token(Role::Hosting, None, "hosting-oncall").await;
    let created = app.create(&researcher, &valid_body("llama3-8b")).await;
    let path = format!("/v1/imports/{}/cancel", created["id"].as_str().unwrap());
    let p = problem(app.post(&viewer, &path, &json!({})).await, 403).await;
    assert_eq!(p["code"], "forbidden");
    let res = app.post(&hosting, &path, &json!({})).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let cond = body["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Cancelled")
        .unwrap();
    assert!(cond["message"].as_str().unwrap().contains("hosting-oncall"));
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_and_malformed_ids_are_404(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let p = problem(
        app.get(&token, &format!("/v1/imports/{}", uuid::Uuid::now_v7()))
            .await,
        404,
    )
    .await;
    assert_eq!(p["code"], "not_found");
    problem(app.get(&token, "/v1/imports/not-a-uuid").await, 404).await;
    problem(app.get(&token, "/v1/imports/not-a-uuid/events").await, 404).await;
    problem(
        app.post(&token, "/v1/imports/not-a-uuid/cancel", &json!({}))
            .await,
        404,
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn the_event_log_is_append_only(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    app.create(&token, &valid_body("llama3-8b")).await;
    let update = sqlx::query("UPDATE import_events SET actor = 'someone else'")
        .execute(&app.pool)
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM import_events")
        .execute(&app.pool)
        .await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
}

#[sqlx::test(migrations = "../migrations")]
async fn list_items_are_summaries_and_the_whole_request_is_one_get_away(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let mut body = valid_body("llama3-8b");
    body["description"] = json!("a long story");
    body["model_tags"] = json!({"project": "support"});
    let created = app.create(&token, &body).await;
    let page: Value = app.get(&token, "/v1/imports").await.json().await.unwrap();
    let item = page["items"][0].as_object().unwrap().clone();
    let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec![
            "allowed_actions",
            "attempt",
            "created_at",
            "environment",
            "finished_at",
            "id",
            "imported_model_arn",
            "job_name",
            "model_name",
            "promoted_from",
            "requested_by",
            "reused_from",
            "source",
            "status",
            "team",
            "updated_at",
        ],
        "a list item is a summary"
    );
    for (k, v) in &item {
        assert_eq!(&created[k], v, "{k} as the request has it");
    }
    let id = item["id"].as_str().unwrap();
    let whole: Value = app
        .get(&token, &format!("/v1/imports/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(whole, created);
    assert_eq!(whole["description"], "a long story");
    assert_eq!(whole["conditions"][0]["type"], "Accepted");
}

/// Creates commit without a NOTIFY (it would make them commit one at a time);
/// the API tells the workers afterwards.
#[sqlx::test(migrations = "../migrations")]
async fn creates_wake_the_workers_after_they_commit(pool: PgPool) {
    let mut listener =
        ferry_store::notify::Listener::connect(&pool, &[ferry_store::notify::WORK_CHANNEL])
            .await
            .unwrap();
    let app = TestApp::spawn(pool.clone()).await;
    let token = app.researcher("research").await;

    // The insert itself notifies no one: a request stored without the API
    // (as a bulk load does) wakes nobody until a worker's timer.
    let triggers: Vec<String> = sqlx::query_scalar(
        "SELECT tgname::text FROM pg_trigger WHERE tgrelid = 'import_requests'::regclass
           AND NOT tgisinternal ORDER BY tgname",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        !triggers
            .iter()
            .any(|t| t == "import_requests_notify_insert"),
        "{triggers:?}"
    );
    assert!(
        triggers
            .iter()
            .any(|t| t == "import_requests_notify_status")
    );

    let creates = (0..20).map(|i| {
        let app = &app;
        let token = &token;
        async move {
            app.post(token, "/v1/imports", &valid_body(&format!("burst-{i}")))
                .await
                .status()
        }
    });
    for status in futures::future::join_all(creates).await {
        assert_eq!(status, 201);
    }
    tokio::time::timeout(std::time::Duration::from_secs(10), listener.next())
        .await
        .expect("the workers were told of the new requests");
}
