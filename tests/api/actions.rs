//! `allowed_actions` on a request is exactly what the caller may do with it:
//! for every role and status, each listed action succeeds and each other
//! action is refused, over real HTTP.

use ferry_domain::auth::Role;
use ferry_e2e::{TestApp, valid_body};
use ferry_store::PgPool;
use serde_json::{Value, json};

const ACTIONS: [&str; 6] = [
    "approve",
    "reject",
    "cancel",
    "retry",
    "delete_model",
    "promote",
];

const STATUSES: [&str; 12] = [
    "pending_approval",
    "queued",
    "validating",
    "submitting",
    "importing",
    "verifying",
    "completed",
    "failed",
    "rejected",
    "cancelled",
    "deleting",
    "deleted",
];

/// A fresh request of `owner`'s (team `research`) in `status`, with a model
/// name of its own so that no two collide.
async fn request_in(app: &TestApp, owner: &str, status: &str) -> String {
    let mut body = valid_body(&format!("m{}", uuid::Uuid::new_v4().simple()));
    body["team"] = json!("research");
    if status == "pending_approval" {
        body["environment"] = json!("prod");
    }
    let created = app.create(owner, &body).await;
    let id = created["id"].as_str().unwrap().to_owned();
    if status == "pending_approval" {
        assert_eq!(created["status"], "pending_approval");
    } else {
        sqlx::query(
            "UPDATE import_requests SET status = $2,
             imported_model_arn = CASE WHEN $2 IN ('verifying', 'completed', 'deleting', 'deleted')
               THEN 'arn:aws:bedrock:us-east-1:777788889999:imported-model/' || substr(md5($1::text), 1, 12)
             END
             WHERE id = $1",
        )
        .bind(uuid::Uuid::parse_str(&id).unwrap())
        .bind(status)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    id
}

async fn allowed(app: &TestApp, token: &str, id: &str) -> Vec<String> {
    let res = app.get(token, &format!("/v1/imports/{id}")).await;
    assert_eq!(res.status(), 200);
    let out: Value = res.json().await.unwrap();
    out["allowed_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// Takes `action` on request `id` and returns the response's status.
async fn take(app: &TestApp, token: &str, id: &str, action: &str) -> u16 {
    let res = match action {
        "delete_model" => app
            .client
            .delete(app.url(&format!("/v1/imports/{id}/model")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
        "reject" => {
            app.post(
                token,
                &format!("/v1/imports/{id}/reject"),
                &json!({"reason": "no eval report"}),
            )
            .await
        }
        "promote" => {
            app.post(
                token,
                &format!("/v1/imports/{id}/promote"),
                &json!({"environment": "staging"}),
            )
            .await
        }
        other => {
            app.post(token, &format!("/v1/imports/{id}/{other}"), &json!({}))
                .await
        }
    };
    res.status().as_u16()
}

/// For every status: what `caller` is offered on `owner`'s request is what
/// it may do, each action tried on a fresh request in that status.
async fn offered_is_permitted(app: &TestApp, owner: &str, caller: &str, who: &str) {
    for status in STATUSES {
        let id = request_in(app, owner, status).await;
        let offered = allowed(app, caller, &id).await;
        for action in ACTIONS {
            let id = request_in(app, owner, status).await;
            let code = take(app, caller, &id, action).await;
            if offered.iter().any(|a| a == action) {
                assert!(
                    (200..=202).contains(&code),
                    "{who} was offered {action} on a {status} request, but got {code}"
                );
            } else {
                assert!(
                    [403, 404, 409].contains(&code),
                    "{who} was not offered {action} on a {status} request, but got {code}"
                );
            }
        }
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_researcher_is_offered_what_it_may_do_on_its_own_request(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let researcher = app.researcher("research").await;
    offered_is_permitted(&app, &researcher, &researcher, "the requester").await;
    let failed = request_in(&app, &researcher, "failed").await;
    assert_eq!(
        allowed(&app, &researcher, &failed).await,
        ["retry"],
        "researchers retry their team's failed requests"
    );
    let queued = request_in(&app, &researcher, "queued").await;
    assert_eq!(allowed(&app, &researcher, &queued).await, ["cancel"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_hosting_team_is_offered_what_it_may_do(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let researcher = app.researcher("research").await;
    let hosting = app.token(Role::Hosting, None, "hosting-lead").await;
    offered_is_permitted(&app, &researcher, &hosting, "hosting").await;
    let waiting = request_in(&app, &researcher, "pending_approval").await;
    assert_eq!(
        allowed(&app, &hosting, &waiting).await,
        ["approve", "reject", "cancel"]
    );
    let completed = request_in(&app, &researcher, "completed").await;
    assert_eq!(
        allowed(&app, &hosting, &completed).await,
        ["delete_model", "promote"]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_viewer_is_offered_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let researcher = app.researcher("research").await;
    let viewer = app.token(Role::Viewer, None, "viewer").await;
    offered_is_permitted(&app, &researcher, &viewer, "a viewer").await;
    for status in STATUSES {
        let id = request_in(&app, &researcher, status).await;
        assert!(allowed(&app, &viewer, &id).await.is_empty(), "{status}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn an_admin_is_offered_everything_but_approving_its_own(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let researcher = app.researcher("research").await;
    let admin = app.token(Role::Admin, None, "admin").await;
    offered_is_permitted(&app, &researcher, &admin, "an admin").await;
    // Separation of duties: on its own request, approve is not offered and
    // is refused.
    offered_is_permitted(&app, &admin, &admin, "the requesting admin").await;
    let own = request_in(&app, &admin, "pending_approval").await;
    assert_eq!(allowed(&app, &admin, &own).await, ["reject", "cancel"]);
}

#[sqlx::test(migrations = "../migrations")]
async fn every_view_of_a_request_carries_the_callers_actions(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let researcher = app.researcher("research").await;
    let hosting = app.token(Role::Hosting, None, "hosting-lead").await;
    let mut body = valid_body("m1");
    body["environment"] = json!("prod");
    let created = app.create(&researcher, &body).await;
    assert_eq!(created["allowed_actions"], json!(["cancel"]));
    let list: Value = app.get(&hosting, "/v1/imports").await.json().await.unwrap();
    assert_eq!(
        list["items"][0]["allowed_actions"],
        json!(["approve", "reject", "cancel"])
    );
    let id = created["id"].as_str().unwrap();
    let approved: Value = app
        .post(&hosting, &format!("/v1/imports/{id}/approve"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(approved["status"], "queued");
    assert_eq!(approved["allowed_actions"], json!(["cancel"]));
}
