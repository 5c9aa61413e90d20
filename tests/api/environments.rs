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
