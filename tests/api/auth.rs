use ferry_domain::auth::Role;
use ferry_e2e::{TestApp, problem, valid_body};
use ferry_store::PgPool;
use serde_json::{Value, json};

#[sqlx::test(migrations = "../migrations")]
async fn requests_without_a_valid_token_are_401(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for path in ["/v1/imports", "/v1/environments", "/openapi.json"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"ferry\"");
        let p = problem(res, 401).await;
        assert_eq!(p["code"], "unauthorized");
    }
    let res = app
        .client
        .get(app.url("/v1/imports"))
        .bearer_auth("ferry_not-a-real-token")
        .send()
        .await
        .unwrap();
    problem(res, 401).await;
    let res = app
        .client
        .get(app.url("/v1/imports"))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    problem(res, 401).await;
    let res = app
        .client
        .post(app.url("/v1/imports"))
        .json(&valid_body("x"))
        .send()
        .await
        .unwrap();
    problem(res, 401).await;
    assert_eq!(app.count_rows("import_requests").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn revoked_and_expired_tokens_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let new = ferry_api::auth::generate_token();
    let id = uuid::Uuid::now_v7();
    let mut conn = app.pool.acquire().await.unwrap();
    ferry_store::tokens::insert(&mut conn, id, "old", Role::Viewer, None, &new.digest, None)
        .await
        .unwrap();
    // Used on two replicas, so both hold it in their token cache.
    let other = TestApp::spawn(
        PgPool::connect_with((*app.pool.connect_options()).clone())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(app.get(&new.secret, "/v1/imports").await.status(), 200);
    assert_eq!(other.get(&new.secret, "/v1/imports").await.status(), 200);
    ferry_store::tokens::revoke(&mut conn, id).await.unwrap();
    // Every replica drops its cache when told (NOTIFY): well before the
    // cache's own expiry, the revoked token is refused everywhere.
    for replica in [&app, &other] {
        let deadline = tokio::time::Instant::now() + ferry_api::token_cache::TTL / 2;
        loop {
            let res = replica.get(&new.secret, "/v1/imports").await;
            if res.status() == 401 {
                problem(res, 401).await;
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "a revoked token is still accepted"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    let expired = ferry_api::auth::generate_token();
    let past = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    ferry_store::tokens::insert(
        &mut conn,
        uuid::Uuid::now_v7(),
        "expired",
        Role::Viewer,
        None,
        &expired.digest,
        Some(past),
    )
    .await
    .unwrap();
    problem(app.get(&expired.secret, "/v1/imports").await, 401).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn tokens_are_stored_hashed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 32);
    assert!(!String::from_utf8_lossy(&stored).contains(&token[6..]));
    let dump: String = sqlx::query_scalar("SELECT row_to_json(t)::text FROM api_tokens t")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!dump.contains(&token));
}

#[sqlx::test(migrations = "../migrations")]
async fn researchers_cannot_see_another_teams_requests(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let research = app.researcher("research").await;
    let vision = app.researcher("vision").await;
    let admin = app.token(Role::Admin, None, "admin").await;

    let mut ids = vec![];
    for i in 0..3 {
        let created = app
            .create(&research, &valid_body(&format!("research-model-{i}")))
            .await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let mut vbody = valid_body("vision-model");
    vbody["source"] = json!("s3://model-artifacts-111122223333/vision/vit/");
    let vision_req = app.create(&vision, &vbody).await;

    // By id: 404, indistinguishable from a request that does not exist.
    for id in &ids {
        let p = problem(app.get(&vision, &format!("/v1/imports/{id}")).await, 404).await;
        let missing = problem(
            app.get(&vision, &format!("/v1/imports/{}", uuid::Uuid::now_v7()))
                .await,
            404,
        )
        .await;
        assert_eq!(p["detail"], missing["detail"]);
        problem(
            app.get(&vision, &format!("/v1/imports/{id}/events")).await,
            404,
        )
        .await;
        problem(
            app.post(&vision, &format!("/v1/imports/{id}/cancel"), &json!({}))
                .await,
            404,
        )
        .await;
    }

    // By list, with or without an explicit team filter.
    let page: Value = app.get(&vision, "/v1/imports").await.json().await.unwrap();
    let seen: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(seen, vec![vision_req["id"].as_str().unwrap()]);
    let page: Value = app
        .get(&vision, "/v1/imports?team=research")
        .await
        .json()
        .await
        .unwrap();
    assert!(page["items"].as_array().unwrap().is_empty());

    // By cursor: a cursor taken from an admin's listing is only a position.
    let admin_page: Value = app
        .get(&admin, "/v1/imports?limit=1")
        .await
        .json()
        .await
        .unwrap();
    let cursor = admin_page["next_cursor"].as_str().unwrap();
    let page: Value = app
        .get(&vision, &format!("/v1/imports?cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    for item in page["items"].as_array().unwrap() {
        assert_eq!(item["team"], "vision");
    }

    // Admins see every team.
    let all: Value = app.get(&admin, "/v1/imports").await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
}

#[sqlx::test(migrations = "../migrations")]
async fn who_may_create_for_which_team(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let research = app.researcher("research").await;
    let viewer = app.token(Role::Viewer, None, "viewer").await;
    let hosting = app.token(Role::Hosting, None, "hosting").await;
    let admin = app.token(Role::Admin, None, "admin").await;

    let mut other_team = valid_body("m1");
    other_team["team"] = json!("vision");
    let p = problem(app.post(&research, "/v1/imports", &other_team).await, 403).await;
    assert_eq!(p["code"], "forbidden");
    problem(
        app.post(&viewer, "/v1/imports", &valid_body("m2")).await,
        403,
    )
    .await;
    problem(
        app.post(&hosting, "/v1/imports", &valid_body("m3")).await,
        403,
    )
    .await;

    // Admins must name the team, and the team's source rules still apply.
    let p = problem(
        app.post(&admin, "/v1/imports", &valid_body("m4")).await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["pointer"], "/team");
    let p = problem(app.post(&admin, "/v1/imports", &other_team).await, 422).await;
    assert_eq!(p["errors"][0]["rule"], "source_not_allowed");
    let mut ok = valid_body("m5");
    ok["team"] = json!("research");
    let created = app.create(&admin, &ok).await;
    assert_eq!(created["team"], "research");
    assert_eq!(app.count_rows("import_requests").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn researchers_may_only_use_their_teams_sources_and_environments(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let vision = app.researcher("vision").await;
    // The vision team owns only the vision/ prefix of the bucket.
    let p = problem(
        app.post(&vision, "/v1/imports", &valid_body("m1")).await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["pointer"], "/source");
    assert_eq!(p["errors"][0]["rule"], "source_not_allowed");
    // prod admits only the research team.
    let mut body = valid_body("m1");
    body["source"] = json!("s3://model-artifacts-111122223333/vision/vit/");
    body["environment"] = json!("prod");
    let p = problem(app.post(&vision, "/v1/imports", &body).await, 422).await;
    assert_eq!(p["errors"][0]["rule"], "environment_not_allowed");
}
