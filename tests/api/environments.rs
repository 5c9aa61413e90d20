use ferry_domain::auth::Role;
use ferry_e2e::TestApp;
use ferry_store::PgPool;
use serde_json::Value;

fn names(v: &Value, field: &str, key: &str) -> Vec<String> {
    v[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[key].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn researchers_see_what_they_may_target(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let vision = app.researcher("vision").await;
    let research = app.researcher("research").await;
    let hosting = app.token(Role::Hosting, None, "hosting").await;

    let v: Value = app
        .get(&vision, "/v1/environments")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&v, "items", "name"), vec!["dev", "staging"]);
    assert_eq!(
        names(&v, "allowed_sources", "uri"),
        vec!["s3://model-artifacts-111122223333/vision/"]
    );

    let r: Value = app
        .get(&research, "/v1/environments")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&r, "items", "name"), vec!["dev", "prod", "staging"]);
    let prod = &r["items"][1];
    assert_eq!(prod["requires_approval"], true);
    assert_eq!(prod["encrypts_imported_models"], true);
    assert_eq!(prod["account_id"], "777788889999");

    let h: Value = app
        .get(&hosting, "/v1/environments")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        names(&h, "allowed_sources", "team"),
        vec!["research", "vision"]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_hosting_team_reads_the_rendered_policies(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let hosting = app.token(Role::Hosting, None, "hosting").await;
    let researcher = app.researcher("research").await;
    let docs: Value = app
        .get(&hosting, "/v1/environments/prod/policies")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(docs["environment"], "prod");
    let kinds: Vec<&str> = docs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "bucket-policy",
        "execution-role-policy",
        "trust-policy",
        "control-role-policy",
    ] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    let trust = docs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "trust-policy")
        .unwrap();
    let text = trust["document"].to_string();
    assert!(
        text.contains("aws:SourceAccount") && text.contains("aws:SourceArn"),
        "{text}"
    );
    assert!(
        trust["statements"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| !s["explanation"].as_str().unwrap().is_empty())
    );
    ferry_e2e::problem(
        app.get(&researcher, "/v1/environments/prod/policies").await,
        403,
    )
    .await;
    ferry_e2e::problem(
        app.get(&hosting, "/v1/environments/moon/policies").await,
        404,
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn the_hosting_team_runs_a_live_preflight(pool: PgPool) {
    let sim = ferry_sim::Sim::start(ferry_sim::SimOptions::default())
        .await
        .unwrap();
    let sample = sim.scenario().env("SAMPLE_MODEL_URI").unwrap().to_owned();
    let app = TestApp::builder(pool)
        .cloud(ferry_e2e::sim_cloud(&sim).await)
        .spawn()
        .await;
    let hosting = app.token(Role::Hosting, None, "hosting").await;
    let researcher = app.researcher("research").await;
    let path = "/v1/environments/dev/preflight";
    let res = app
        .post(&hosting, path, &serde_json::json!({ "source": sample }))
        .await;
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["outcome"] != "failed"),
        "{report}"
    );
    sim.break_chain(ferry_sim::ChainBreak::BucketPolicy)
        .unwrap();
    let report: Value = app
        .post(&hosting, path, &serde_json::json!({ "source": sample }))
        .await
        .json()
        .await
        .unwrap();
    let broken: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["chain_step"].as_str())
        .collect();
    assert!(broken.contains(&"bucket_policy"), "{report}");
    ferry_e2e::problem(
        app.post(&researcher, path, &serde_json::json!({ "source": sample }))
            .await,
        403,
    )
    .await;
    let p = ferry_e2e::problem(
        app.post(&hosting, path, &serde_json::json!({ "source": "s3://Bad" }))
            .await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["pointer"], "/source");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_live_preflight_without_aws_clients_is_503(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let hosting = app.token(Role::Hosting, None, "hosting").await;
    let body = serde_json::json!({ "source": "s3://model-artifacts-111122223333/m/" });
    let p = ferry_e2e::problem(
        app.post(&hosting, "/v1/environments/dev/preflight", &body)
            .await,
        503,
    )
    .await;
    assert_eq!(p["code"], "unavailable");
    ferry_e2e::problem(
        app.post(&hosting, "/v1/environments/moon/preflight", &body)
            .await,
        404,
    )
    .await;
}
