use ferry_domain::auth::Role;
use ferry_e2e::{TestApp, problem, valid_body};
use ferry_store::PgPool;
use serde_json::{Value, json};

fn prod_body(model: &str) -> Value {
    let mut b = valid_body(model);
    b["environment"] = json!("prod");
    b
}

async fn event_kinds(app: &TestApp, token: &str, id: &str) -> Vec<String> {
    let events: Value = app
        .get(token, &format!("/v1/imports/{id}/events"))
        .await
        .json()
        .await
        .unwrap();
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_hosting_team_approves_and_nobody_approves_their_own(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let researcher = app.researcher("research").await;
    let hosting = app.token(Role::Hosting, None, "hosting-lead").await;
    let viewer = app.token(Role::Viewer, None, "viewer").await;
    let admin = app.token(Role::Admin, None, "admin").await;
    let other_team = app.researcher("vision").await;

    let created = app.create(&researcher, &prod_body("m1")).await;
    assert_eq!(created["status"], "pending_approval");
    let path = format!("/v1/imports/{}/approve", created["id"].as_str().unwrap());
    assert_eq!(
        problem(app.post(&researcher, &path, &json!({})).await, 403).await["code"],
        "forbidden"
    );
    assert_eq!(
        problem(app.post(&viewer, &path, &json!({})).await, 403).await["code"],
        "forbidden"
    );
    problem(app.post(&other_team, &path, &json!({})).await, 404).await;

    // An admin who submitted a request cannot approve it either.
    let mut own = prod_body("m2");
    own["team"] = json!("research");
    let admins = app.create(&admin, &own).await;
    let own_path = format!("/v1/imports/{}/approve", admins["id"].as_str().unwrap());
    assert_eq!(
        problem(app.post(&admin, &own_path, &json!({})).await, 403).await["code"],
        "separation_of_duties"
    );

    let res = app
        .post(
            &hosting,
            &path,
            &json!({"comment": "checked the eval report"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let approved: Value = res.json().await.unwrap();
    assert_eq!(approved["status"], "queued");
    let cond = approved["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Approved")
        .unwrap();
    assert_eq!(cond["status"], "True");
    assert!(cond["message"].as_str().unwrap().contains("hosting-lead"));
    let id = created["id"].as_str().unwrap();
    assert!(
        event_kinds(&app, &hosting, id)
            .await
            .contains(&"approved".to_owned())
    );
    // Only a waiting request can be approved.
    assert_eq!(
        problem(app.post(&hosting, &path, &json!({})).await, 409).await["code"],
        "invalid_transition"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rejection_needs_a_reason_and_ends_the_request(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let researcher = app.researcher("research").await;
    let hosting = app.token(Role::Hosting, None, "hosting-lead").await;
    let created = app.create(&researcher, &prod_body("m1")).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/imports/{id}/reject");
    let p = problem(app.post(&hosting, &path, &json!({})).await, 422).await;
    assert_eq!(p["errors"][0]["pointer"], "/reason");
    let p = problem(
        app.post(&hosting, &path, &json!({"reason": "  "})).await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["rule"], "required");
    let res = app
        .post(
            &hosting,
            &path,
            &json!({"reason": "no eval results attached"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let rejected: Value = res.json().await.unwrap();
    assert_eq!(rejected["status"], "rejected");
    let kinds = event_kinds(&app, &researcher, id).await;
    assert_eq!(kinds.last().unwrap(), "rejected");
    // Rejected releases the model name.
    app.create(&researcher, &prod_body("m1")).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_failed_request_is_retried_as_a_new_attempt(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let researcher = app.researcher("research").await;
    let viewer = app.token(Role::Viewer, None, "viewer").await;
    let created = app.create(&researcher, &valid_body("m1")).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/imports/{id}/retry");
    assert_eq!(
        problem(app.post(&researcher, &path, &json!({})).await, 409).await["code"],
        "invalid_transition"
    );
    sqlx::query(
        "UPDATE import_requests SET status = 'failed', failure_message = 'unsupported architecture',
         bedrock_job_arn = 'arn:aws:bedrock:us-east-1:777788889999:model-import-job/abcdefabcdef' WHERE id = $1",
    )
    .bind(uuid::Uuid::parse_str(id).unwrap())
    .execute(&app.pool)
    .await
    .unwrap();
    problem(app.post(&viewer, &path, &json!({})).await, 403).await;
    let res = app.post(&researcher, &path, &json!({})).await;
    assert_eq!(res.status(), 200);
    let retried: Value = res.json().await.unwrap();
    assert_eq!(retried["status"], "queued");
    assert_eq!(retried["attempt"], 2);
    assert_eq!(
        retried["job_name"],
        format!("{}-a2", created["job_name"].as_str().unwrap())
    );
    assert!(retried["failure_message"].is_null());
    assert!(retried["bedrock_job_arn"].is_null());
    let events: Value = app
        .get(&researcher, &format!("/v1/imports/{id}/events"))
        .await
        .json()
        .await
        .unwrap();
    let last = events["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "retried");
    assert_eq!(
        last["detail"]["previous_failure"],
        "unsupported architecture"
    );
    assert_eq!(last["from_status"], "failed");
}

#[sqlx::test(migrations = "../migrations")]
async fn only_the_hosting_team_deletes_models_and_only_of_completed_requests(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let researcher = app.researcher("research").await;
    let hosting = app.token(Role::Hosting, None, "hosting-lead").await;
    let created = app.create(&researcher, &valid_body("m1")).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/imports/{id}/model");
    let delete = |token: String| {
        let client = app.client.clone();
        let url = app.url(&path);
        async move { client.delete(url).bearer_auth(token).send().await.unwrap() }
    };
    assert_eq!(
        problem(delete(hosting.clone()).await, 409).await["code"],
        "invalid_transition"
    );
    sqlx::query(
        "UPDATE import_requests SET status = 'completed',
         imported_model_arn = 'arn:aws:bedrock:us-east-1:777788889999:imported-model/abcdefabcdef' WHERE id = $1",
    )
    .bind(uuid::Uuid::parse_str(id).unwrap())
    .execute(&app.pool)
    .await
    .unwrap();
    problem(delete(researcher.clone()).await, 403).await;
    let res = delete(hosting.clone()).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "deleting");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_completed_import_is_promoted_with_visible_lineage(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let researcher = app.researcher("research").await;
    let hosting = app.token(Role::Hosting, None, "hosting-lead").await;
    let second = app.token(Role::Hosting, None, "hosting-second").await;
    let dev = app.create(&researcher, &valid_body("m1")).await;
    let dev_id = dev["id"].as_str().unwrap().to_owned();
    let promote = |from: &str| format!("/v1/imports/{from}/promote");
    let p = problem(
        app.post(
            &hosting,
            &promote(&dev_id),
            &json!({"environment": "staging"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(p["code"], "not_completed");
    sqlx::query("UPDATE import_requests SET status = 'completed' WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&dev_id).unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    problem(
        app.post(
            &researcher,
            &promote(&dev_id),
            &json!({"environment": "staging"}),
        )
        .await,
        403,
    )
    .await;
    let p = problem(
        app.post(&hosting, &promote(&dev_id), &json!({"environment": "dev"}))
            .await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["rule"], "same_environment");

    let res = app
        .post(
            &hosting,
            &promote(&dev_id),
            &json!({"environment": "staging"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let staging: Value = res.json().await.unwrap();
    assert_eq!(staging["status"], "queued");
    assert_eq!(staging["promoted_from"], dev_id.as_str());
    assert_eq!(staging["source"], dev["source"]);
    assert_eq!(staging["model_name"], "m1");
    assert_eq!(staging["team"], "research");
    let staging_id = staging["id"].as_str().unwrap().to_owned();
    let dev_now: Value = app
        .get(&researcher, &format!("/v1/imports/{dev_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dev_now["promotions"], json!([staging_id]));

    sqlx::query("UPDATE import_requests SET status = 'completed' WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&staging_id).unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    let prod: Value = app
        .post(
            &hosting,
            &promote(&staging_id),
            &json!({"environment": "prod"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        prod["status"], "pending_approval",
        "prod's approval rule applies"
    );
    assert_eq!(prod["promoted_from"], staging_id.as_str());
    let approve = format!("/v1/imports/{}/approve", prod["id"].as_str().unwrap());
    let p = problem(app.post(&hosting, &approve, &json!({})).await, 403).await;
    assert_eq!(
        p["code"], "separation_of_duties",
        "the promoter cannot approve their own promotion"
    );
    assert_eq!(app.post(&second, &approve, &json!({})).await.status(), 200);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_managed_models_list_shows_what_still_bills_storage(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let researcher = app.researcher("research").await;
    let vision = app.researcher("vision").await;
    let hosting = app.token(Role::Hosting, None, "hosting-lead").await;
    let held = app.create(&researcher, &valid_body("held")).await;
    let gone = app.create(&researcher, &valid_body("gone")).await;
    app.create(&researcher, &valid_body("still-queued")).await;
    for (row, status) in [(&held, "completed"), (&gone, "deleted")] {
        sqlx::query(
            "UPDATE import_requests SET status = $2, finished_at = now() - interval '3 days',
             imported_model_arn = 'arn:aws:bedrock:us-east-1:777788889999:imported-model/' || substr(md5($1::text), 1, 12)
             WHERE id = $1",
        )
        .bind(uuid::Uuid::parse_str(row["id"].as_str().unwrap()).unwrap())
        .bind(status)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let list: Value = app.get(&hosting, "/v1/models").await.json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["model_name"], "held");
    assert_eq!(items[0]["age_days"], 3);
    assert_eq!(items[0]["import_id"], held["id"]);
    let mine: Value = app.get(&vision, "/v1/models").await.json().await.unwrap();
    assert!(
        mine["items"].as_array().unwrap().is_empty(),
        "researchers see their team's models only"
    );
    let staging: Value = app
        .get(&hosting, "/v1/models?environment=staging")
        .await
        .json()
        .await
        .unwrap();
    assert!(staging["items"].as_array().unwrap().is_empty());
}
