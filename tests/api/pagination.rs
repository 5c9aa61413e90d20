use ferry_domain::auth::Role;
use ferry_e2e::{TestApp, valid_body};
use ferry_store::PgPool;
use serde_json::{Value, json};

#[sqlx::test(migrations = "../migrations")]
async fn pages_walk_every_request_newest_first_exactly_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    let mut created = vec![];
    for i in 0..7 {
        let v = app.create(&token, &valid_body(&format!("model-{i}"))).await;
        created.push(v["id"].as_str().unwrap().to_owned());
    }
    created.reverse();
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/imports?limit=3&cursor={c}"),
            None => "/v1/imports?limit=3".to_owned(),
        };
        let page: Value = app.get(&token, &path).await.json().await.unwrap();
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);
}

#[sqlx::test(migrations = "../migrations")]
async fn filters_combine(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let research = app.researcher("research").await;
    let viewer = app.token(Role::Viewer, None, "viewer").await;
    let a = app.create(&research, &valid_body("model-a")).await;
    app.create(&research, &valid_body("model-b")).await;
    let mut prod = valid_body("model-a");
    prod["environment"] = json!("prod");
    app.create(&research, &prod).await;
    app.post(
        &research,
        &format!("/v1/imports/{}/cancel", a["id"].as_str().unwrap()),
        &json!({}),
    )
    .await;

    let count = |v: &Value| v["items"].as_array().unwrap().len();
    let q = |s: &str| format!("/v1/imports?{s}");
    let page: Value = app
        .get(&viewer, &q("environment=dev"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(count(&page), 2);
    let page: Value = app
        .get(&viewer, &q("status=pending_approval"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(count(&page), 1);
    let page: Value = app
        .get(&viewer, &q("model_name=model-a"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(count(&page), 2);
    let page: Value = app
        .get(
            &viewer,
            &q("model_name=model-a&environment=dev&status=cancelled"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(count(&page), 1);
    let page: Value = app
        .get(&viewer, &q("team=vision"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(count(&page), 0);
    let page: Value = app
        .get(&viewer, &q("team=research"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(count(&page), 3);
    assert!(page.get("next_cursor").is_none());
}
