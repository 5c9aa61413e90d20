//! Single sign-on: the dashboard signs in through a real, certified OpenID
//! Connect provider, npm's `oidc-provider` (tests/oidc-provider/), started
//! by the test, with the authorization code flow and PKCE.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_api::oidc::{
    ASYMMETRIC_ALGORITHMS, DashboardClient, JwksSource, OidcSettings, OidcVerifier,
};
use ferry_domain::oidc::ClaimMapping;
use ferry_store::PgPool;
use serde_json::{Value, json};

use crate::submit::{fill, opened_request};
use crate::support::{Browser, Stack, free_port};

const CLIENT_ID: &str = "ferry-dashboard";

/// The provider's Node.js process, ended when dropped.
struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `scripts/lib.sh`'s `ensure_node_tools` installed the provider:
/// `$FERRY_OIDC_PROVIDER_DIR`, else `$FERRY_CACHE_DIR/oidc-provider`, else
/// `~/.cache/ferry/oidc-provider`.
fn provider_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FERRY_OIDC_PROVIDER_DIR") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("FERRY_CACHE_DIR").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache")
                .join("ferry")
        },
        PathBuf::from,
    );
    cache.join("oidc-provider")
}

impl Provider {
    /// Starts the provider on `port` for the dashboard of `ferry` (its base
    /// URL); its ID tokens last `id_token_secs`.
    async fn start(port: u16, ferry: &str, id_token_secs: u32) -> Self {
        let dir = provider_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "npm's oidc-provider is not installed in {}: run \
             `bash -c 'source scripts/lib.sh && ensure_node_tools'` \
             (npm ci of tests/oidc-provider/package-lock.json; scripts/test.sh does this)",
            dir.display()
        );
        // The script runs beside its node_modules, so that Node finds them.
        let script = dir.join(format!("server-{}.mjs", uuid::Uuid::now_v7()));
        std::fs::copy(
            ferry_e2e::repo_root().join("tests/oidc-provider/server.mjs"),
            &script,
        )
        .unwrap();
        let child = Command::new("node")
            .arg(&script)
            .env("PORT", port.to_string())
            .env("FERRY_URL", ferry)
            .env("CLIENT_ID", CLIENT_ID)
            .env("ID_TOKEN_TTL", id_token_secs.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting node (Node.js 20 or newer is needed): {e}"));
        let issuer = format!("http://127.0.0.1:{port}");
        let provider = Self { child, issuer };
        let discovery = format!("{}/.well-known/openid-configuration", provider.issuer);
        let start = Instant::now();
        loop {
            if let Ok(res) = reqwest::get(&discovery).await
                && res.status().is_success()
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the OpenID provider did not answer at {discovery}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = std::fs::remove_file(&script);
        provider
    }
}

/// The settings of a Ferry whose dashboard signs in through `issuer`, its
/// keys and endpoints taken from the issuer's discovery document.
fn settings(issuer: &str) -> OidcSettings {
    OidcSettings {
        issuer: issuer.to_owned(),
        audiences: vec![CLIENT_ID.into()],
        jwks: JwksSource::Discovery,
        clock_skew: Duration::from_secs(60),
        algorithms: ASYMMETRIC_ALGORITHMS.to_vec(),
        refresh_interval: Duration::from_secs(900),
        min_refresh_interval: Duration::from_secs(1),
        mapping: ClaimMapping::default(),
        dashboard: Some(DashboardClient {
            client_id: CLIENT_ID.into(),
            scopes: ["openid", "profile", "email", "ferry"]
                .map(String::from)
                .to_vec(),
            redirect_path: "/".into(),
        }),
    }
}

/// Signs in on the provider's own login page as `login`.
async fn provider_login(b: &Browser, idp_port: u16, login: &str) {
    b.wait(
        "the provider's login page",
        &format!(
            "location.port === '{idp_port}' && document.querySelector('input[name=\"login\"]')"
        ),
    )
    .await;
    b.type_into("input[name=\"login\"]", login).await;
    b.type_into("input[name=\"password\"]", "any password")
        .await;
    b.click("button[type=\"submit\"]").await;
}

async fn signed_in_as(b: &Browser, ferry_port: u16, name: &str, role: &str) {
    b.wait(
        &format!("{name} signed in"),
        &format!(
            "location.port === '{ferry_port}' && !document.querySelector('#who').hidden \
             && document.querySelector('#who .who-name').textContent === '{name}' \
             && document.querySelector('#who .role').textContent === '{role}'"
        ),
    )
    .await;
}

#[sqlx::test(migrations = "../migrations")]
async fn a_researcher_and_a_reviewer_sign_in_through_the_identity_provider(pool: PgPool) {
    let idp_port = free_port();
    let issuer = format!("http://127.0.0.1:{idp_port}");
    let verifier = Arc::new(OidcVerifier::new(settings(&issuer)).unwrap());
    let stack = Stack::start_with(pool, 300, Some(Arc::clone(&verifier))).await;
    let sample = stack.sample.clone();
    let ferry = stack.app.url("");
    let ferry_port: u16 = reqwest::Url::parse(&ferry).unwrap().port().unwrap();
    let provider = Provider::start(idp_port, ferry.trim_end_matches('/'), 3600).await;
    assert_eq!(provider.issuer, issuer);
    let hosting_token = stack.hosting().await;

    Browser::run("sso", &stack.app, |mut b| async move {
        b.open("/").await;
        let note = b.text(".sso").await;
        assert!(note.contains(&issuer), "{note}");
        b.shot("login").await;
        b.click("#sso-button").await;
        // The authorization request carries a PKCE challenge (S256), a state
        // and a nonce, and no secret.
        provider_login(&b, idp_port, "rae").await;
        b.shot("provider-login").await;
        signed_in_as(&b, ferry_port, "Rae Okafor", "researcher").await;
        // The code left the address; the page shows the list.
        let url = b.js("return location.href", vec![]).await;
        assert!(!url.as_str().unwrap().contains("code="), "{url}");
        let team = b.text("#who .who-team").await;
        assert_eq!(team, "team research");
        b.shot("signed-in-researcher").await;

        // The researcher submits through the form.
        b.click("#new-request").await;
        b.wait("the form", "document.querySelector('#new-form')").await;
        fill(&b, "#new-source", &sample).await;
        fill(&b, "#new-model-name", "llama-sso").await;
        let env = b
            .client
            .find(fantoccini::Locator::Css("#new-environment"))
            .await
            .unwrap();
        env.select_by_value("prod").await.unwrap();
        b.click("#new-submit").await;
        let id = opened_request(&b).await;
        b.wait(
            "pending approval",
            "document.querySelector('#detail').dataset.status === 'pending_approval'",
        )
        .await;
        let created = b.text("#timeline li[data-kind=\"created\"]").await;
        assert!(created.contains("Rae Okafor"), "{created}");
        assert!(created.contains("oidc:rae"), "{created}");
        b.shot("submitted").await;

        // Logging out ends the provider's session too.
        b.click("#logout").await;
        b.wait(
            "the provider's logout page",
            &format!(
                "location.port === '{idp_port}' && document.querySelector('button[name=\"logout\"]')"
            ),
        )
        .await;
        b.shot("provider-logout").await;
        b.click("button[name=\"logout\"]").await;
        b.wait(
            "back at Ferry's login",
            &format!(
                "location.port === '{ferry_port}' && document.querySelector('#sso-button') \
                 && document.querySelector('#login-error').textContent === 'Signed out.'"
            ),
        )
        .await;
        assert_eq!(
            b.js("return sessionStorage.getItem('ferry.token')", vec![])
                .await,
            Value::Null
        );
        b.shot("signed-out").await;

        // A hosting user signs in (the provider asks again: its session
        // ended) and approves: a different principal from the requester.
        b.click("#sso-button").await;
        provider_login(&b, idp_port, "hal").await;
        signed_in_as(&b, ferry_port, "Hal Moreno", "hosting").await;
        assert!(
            b.js("return document.querySelector('#new-request').hidden", vec![])
                .await
                .as_bool()
                .unwrap(),
            "reviewers are not offered the form"
        );
        b.open(&format!("/#/imports/{id}")).await;
        b.wait(
            "the request",
            &format!(
                "document.querySelector('#detail[data-id=\"{id}\"][data-status=\"pending_approval\"]')"
            ),
        )
        .await;
        b.click("button[data-action=\"approve\"]").await;
        b.wait("the approve dialog", "document.getElementById('dialog').open")
            .await;
        b.type_into("#dialog-input", "approved through single sign-on")
            .await;
        b.click("#dialog-ok").await;
        b.wait(
            "approved",
            "document.querySelector('#timeline li[data-kind=\"approved\"]')",
        )
        .await;
        let approved = b.text("#timeline li[data-kind=\"approved\"]").await;
        assert!(approved.contains("Hal Moreno"), "{approved}");
        assert!(approved.contains("oidc:hal"), "{approved}");
        b.shot("approved").await;
    })
    .await;

    // The API agrees: requested by one principal, approved by another.
    let list: Value = stack
        .app
        .get(&hosting_token, "/v1/imports")
        .await
        .json()
        .await
        .unwrap();
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    let events: Value = stack
        .app
        .get(&hosting_token, &format!("/v1/imports/{id}/events"))
        .await
        .json()
        .await
        .unwrap();
    let actor = |kind: &str| {
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == kind)
            .map(|e| e["actor_id"].clone())
            .unwrap_or_else(|| panic!("no {kind} event: {events}"))
    };
    assert_eq!(actor("created"), json!("oidc:rae"));
    assert_eq!(actor("approved"), json!("oidc:hal"));
    drop(provider);
}

#[sqlx::test(migrations = "../migrations")]
async fn sign_in_answers_that_are_not_this_tabs_are_refused(pool: PgPool) {
    let idp_port = free_port();
    let issuer = format!("http://127.0.0.1:{idp_port}");
    let verifier = Arc::new(OidcVerifier::new(settings(&issuer)).unwrap());
    let stack = Stack::start_with(pool, 300, Some(verifier)).await;
    let ferry = stack.app.url("");
    let provider = Provider::start(idp_port, ferry.trim_end_matches('/'), 3600).await;

    // The page's configuration is public and names no secret.
    let config: Value = reqwest::get(format!("{ferry}/ui/sign-in/config"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["enabled"], json!(true));
    assert_eq!(config["client_id"], json!(CLIENT_ID));
    assert_eq!(config["issuer"], json!(provider.issuer));
    assert_eq!(
        config["authorization_endpoint"],
        json!(format!("{issuer}/auth"))
    );
    assert_eq!(
        config["end_session_endpoint"],
        json!(format!("{issuer}/session/end"))
    );
    assert!(!config.to_string().contains("secret"), "{config}");

    // A made-up code is refused by the provider, named as such.
    let res = reqwest::Client::new()
        .post(format!("{ferry}/ui/sign-in/token"))
        .json(&json!({
            "code": "made-up",
            "code_verifier": "a".repeat(43),
            "redirect_uri": format!("{ferry}/"),
            "nonce": "n",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("the identity provider refused the sign-in: invalid_grant"),
        "{body}"
    );
    // Fields are checked first: a short verifier and a foreign redirect path.
    let res = reqwest::Client::new()
        .post(format!("{ferry}/ui/sign-in/token"))
        .json(&json!({
            "code": "x",
            "code_verifier": "short",
            "redirect_uri": format!("{ferry}/elsewhere"),
            "nonce": "n",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/code_verifier", "/redirect_uri"], "{body}");

    Browser::run("sso_state", &stack.app, |mut b| async move {
        // An answer with a state this tab never made (a forged or replayed
        // redirect) does not sign in.
        b.open("/?code=stolen&state=forged").await;
        let err = b.text("#login-error").await;
        assert!(err.contains("state mismatch"), "{err}");
        let url = b.js("return location.href", vec![]).await;
        assert!(!url.as_str().unwrap().contains("stolen"), "{url}");
        b.shot("state-mismatch").await;
    })
    .await;
    drop(provider);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_expiring_sign_in_goes_through_the_provider_again(pool: PgPool) {
    let idp_port = free_port();
    let issuer = format!("http://127.0.0.1:{idp_port}");
    let verifier = Arc::new(OidcVerifier::new(settings(&issuer)).unwrap());
    let stack = Stack::start_with(pool, 300, Some(verifier)).await;
    let ferry = stack.app.url("");
    let ferry_port: u16 = reqwest::Url::parse(&ferry).unwrap().port().unwrap();
    // The page signs in again 30 s before expiry: with 40 s tokens, 10 s in.
    let provider = Provider::start(idp_port, ferry.trim_end_matches('/'), 40).await;

    Browser::run("sso_renewal", &stack.app, |mut b| async move {
        b.open("/#/?environment=dev").await;
        b.click("#sso-button").await;
        provider_login(&b, idp_port, "rae").await;
        signed_in_as(&b, ferry_port, "Rae Okafor", "researcher").await;
        let hash = b.js("return location.hash", vec![]).await;
        assert_eq!(
            hash,
            json!("#/?environment=dev"),
            "back where the sign-in started"
        );
        let first = b
            .js("return sessionStorage.getItem('ferry.token')", vec![])
            .await;
        b.js("window.__before = true; return true;", vec![]).await;
        b.shot("signed-in").await;
        // Renewed through the provider, whose session answers without asking.
        b.wait(
            "a new token from the provider",
            &format!(
                "location.port === '{ferry_port}' && !window.__before \
                 && sessionStorage.getItem('ferry.token') \
                 && sessionStorage.getItem('ferry.token') !== {first} \
                 && !document.querySelector('#who').hidden"
            ),
        )
        .await;
        signed_in_as(&b, ferry_port, "Rae Okafor", "researcher").await;
        let hash = b.js("return location.hash", vec![]).await;
        assert_eq!(
            hash,
            json!("#/?environment=dev"),
            "the same view after renewal"
        );
        b.shot("renewed").await;
    })
    .await;
    drop(provider);
}
