//! The dashboard's static files and `GET /v1/me`, which the page uses to
//! decide which actions to offer.

use ferry_domain::auth::Role;
use ferry_e2e::TestApp;
use ferry_store::PgPool;
use serde_json::{Value, json};

#[sqlx::test(migrations = "../migrations")]
async fn the_page_and_its_modules_are_served_without_a_token_under_a_strict_policy(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for (path, content_type, needle) in [
        (
            "/",
            "text/html; charset=utf-8",
            "<script type=\"module\" src=\"/ui/app.js\">",
        ),
        ("/ui/app.js", "text/javascript; charset=utf-8", "/v1/me"),
        (
            "/ui/api.js",
            "text/javascript; charset=utf-8",
            "Authorization",
        ),
        (
            "/ui/live.js",
            "text/javascript; charset=utf-8",
            "Last-Event-ID",
        ),
        (
            "/ui/dom.js",
            "text/javascript; charset=utf-8",
            "textContent",
        ),
        (
            "/ui/state.js",
            "text/javascript; charset=utf-8",
            "onSignOut",
        ),
        ("/ui/session.js", "text/javascript; charset=utf-8", "/v1/me"),
        (
            "/ui/routes.js",
            "text/javascript; charset=utf-8",
            "#/imports/",
        ),
        (
            "/ui/list.js",
            "text/javascript; charset=utf-8",
            "/v1/imports",
        ),
        (
            "/ui/overview.js",
            "text/javascript; charset=utf-8",
            "env-card",
        ),
        ("/ui/detail.js", "text/javascript; charset=utf-8", "/events"),
        (
            "/ui/sections.js",
            "text/javascript; charset=utf-8",
            "timeline",
        ),
        (
            "/ui/preflight.js",
            "text/javascript; charset=utf-8",
            "Preflight report",
        ),
        (
            "/ui/actions.js",
            "text/javascript; charset=utf-8",
            "allowed_actions",
        ),
        (
            "/ui/dialog.js",
            "text/javascript; charset=utf-8",
            "showModal",
        ),
        ("/ui/notice.js", "text/javascript; charset=utf-8", "toast"),
        ("/ui/parts.js", "text/javascript; charset=utf-8", "badge"),
        (
            "/ui/sso.js",
            "text/javascript; charset=utf-8",
            "code_challenge",
        ),
        (
            "/ui/submit.js",
            "text/javascript; charset=utf-8",
            "Idempotency-Key",
        ),
        (
            "/ui/rules.js",
            "text/javascript; charset=utf-8",
            "importedModelName",
        ),
        ("/ui/app.css", "text/css; charset=utf-8", ":root"),
        ("/ui/favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers().clone();
        assert_eq!(h["content-type"], content_type, "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["cache-control"], "no-cache", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        let etag = h["etag"].to_str().unwrap().to_owned();
        let body = res.text().await.unwrap();
        assert!(body.contains(needle), "{path} holds {needle:?}");

        // A browser revalidates cheaply.
        let again = app
            .client
            .get(app.url(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"], etag.as_str());
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_page_holds_no_data_and_unknown_paths_stay_404(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let shell = app
        .client
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!shell.contains("<style") && !shell.contains(" style="));
    for path in [
        "/ui/nope.js",
        "/ui/",
        "/ui",
        "/index.html",
        "/dashboard",
        "/v1/nope",
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        let p = ferry_e2e::problem(res, 404).await;
        assert_eq!(p["code"], "not_found", "{path}");
    }
    let res = app.client.post(app.url("/")).send().await.unwrap();
    let p = ferry_e2e::problem(res, 405).await;
    assert_eq!(p["code"], "method_not_allowed");
}

#[test]
fn the_dashboard_is_not_in_the_api_document() {
    let doc = ferry_api::openapi();
    for path in doc.paths.paths.keys() {
        assert!(
            path.starts_with("/v1/") || path == "/healthz" || path == "/readyz",
            "{path} is not API"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn without_an_identity_provider_the_page_signs_in_with_tokens_only(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .client
        .get(app.url("/ui/sign-in/config"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({ "enabled": false }));
    let res = app
        .client
        .post(app.url("/ui/sign-in/token"))
        .json(
            &json!({"code": "c", "code_verifier": "v", "redirect_uri": "http://x/", "nonce": "n"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

#[sqlx::test(migrations = "../migrations")]
async fn me_says_who_the_caller_is(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    for (role, team, name) in [
        (Role::Researcher, Some("research"), "ana"),
        (Role::Hosting, None, "hosting-bo"),
        (Role::Viewer, None, "auditor"),
        (Role::Admin, None, "root-admin"),
    ] {
        let token = app.token(role, team, name).await;
        let res = app.get(&token, "/v1/me").await;
        assert_eq!(res.status(), 200);
        let me: Value = res.json().await.unwrap();
        assert_eq!(
            me,
            json!({ "name": name, "role": role.as_str(), "team": team }),
            "{role}"
        );
    }
    let res = app.client.get(app.url("/v1/me")).send().await.unwrap();
    ferry_e2e::problem(res, 401).await;
    let res = app
        .client
        .get(app.url("/v1/me"))
        .bearer_auth("ferry_unknown")
        .send()
        .await
        .unwrap();
    let p = ferry_e2e::problem(res, 401).await;
    assert!(p["detail"].as_str().unwrap().contains("unknown"));
}
