//! `/v1/webhooks`: signed deliveries (Standard Webhooks) from a durable
//! outbox, retried with backoff, to a real receiver over real HTTP.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ferry_api::ApiSettings;
use ferry_domain::auth::Role;
use ferry_domain::net::AddressPolicy;
use ferry_e2e::{TestApp, problem, valid_body, webhook_keys};
use ferry_worker::webhooks::WebhookSettings;
use hmac::{Hmac, Mac};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------- a receiver

#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
    answered: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers[name].to_str().unwrap()
    }
}

/// An endpoint that records every request and answers `answer`.
#[derive(Debug, Clone)]
struct Receiver {
    answer: Arc<Mutex<u16>>,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn new() -> Self {
        Self {
            answer: Arc::new(Mutex::new(204)),
            got: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn answer(&self, status: u16) {
        *self.answer.lock().unwrap() = status;
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// What it acknowledged (2xx).
    fn accepted(&self) -> Vec<Received> {
        self.got()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }

    /// Serves on `port` (0: any) and returns its URL.
    async fn serve(&self, port: u16) -> String {
        async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
            let answered = *r.answer.lock().unwrap();
            r.got.lock().unwrap().push(Received {
                headers,
                body,
                answered,
            });
            StatusCode::from_u16(answered).unwrap()
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/hook")
    }
}

/// Checks a delivery's `webhook-signature` the way a receiver would: any
/// `v1,` signature made with `secret` over `{id}.{timestamp}.{body}`.
fn signed_with(secret: &str, r: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let signed = format!(
        "{}.{}.{}",
        r.header("webhook-id"),
        r.header("webhook-timestamp"),
        std::str::from_utf8(&r.body).unwrap()
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    r.header("webhook-signature")
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|sig| sig == expected)
}

/// The checks every receiver must make before trusting a delivery.
fn assert_genuine(secret: &str, r: &Received) {
    assert!(signed_with(secret, r), "bad signature on {:?}", r.headers);
    assert!(r.header("webhook-id").starts_with("msg_"));
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - ts).abs() < 300, "timestamp within tolerance");
    assert_eq!(r.header("content-type"), "application/json");
    assert!(r.header("user-agent").starts_with("ferry-webhooks/"));
}

// ---------------------------------------------------------------- helpers

/// Plain http and loopback receivers, as `ferry dev` allows them.
fn allow_http() -> ApiSettings {
    ApiSettings {
        webhooks_allow_http: true,
        webhooks_address_policy: AddressPolicy::loopback(),
        webhook_keys: Some(webhook_keys()),
        ..ApiSettings::default()
    }
}

/// A dispatcher (one replica's) with a short retry schedule.
/// Stops when the guard drops.
fn dispatcher(pool: &PgPool, name: &str, schedule_ms: &[u64]) -> tokio_util::sync::DropGuard {
    let stop = CancellationToken::new();
    let settings = WebhookSettings {
        owner: name.to_owned(),
        retry_schedule: schedule_ms
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect(),
        timeout: Duration::from_secs(5),
        concurrency: 4,
        lease: Duration::from_secs(30),
        tick: Duration::from_millis(200),
        address_policy: AddressPolicy::loopback(),
        secret_keys: Some(webhook_keys()),
        ..WebhookSettings::default()
    };
    tokio::spawn(ferry_worker::webhooks::run(
        pool.clone(),
        settings,
        stop.clone(),
    ));
    stop.drop_guard()
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn subscribe(app: &TestApp, admin: &str, url: &str, types: &[&str]) -> Value {
    let res = app
        .post(
            admin,
            "/v1/webhooks",
            &json!({ "url": url, "event_types": types }),
        )
        .await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

async fn log(app: &TestApp, admin: &str, id: &str) -> Vec<Value> {
    let res = app
        .get(admin, &format!("/v1/webhooks/{id}/deliveries?limit=200"))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

async fn cancel(app: &TestApp, token: &str, import: &Value) {
    let res = app
        .post(
            token,
            &format!("/v1/imports/{}/cancel", import["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
}

// ---------------------------------------------------------------- tests

#[sqlx::test(migrations = "../migrations")]
async fn only_admins_manage_webhooks_and_bad_subscriptions_are_named(pool: PgPool) {
    let app = TestApp::builder(pool)
        .settings(ApiSettings {
            webhook_keys: Some(webhook_keys()),
            ..ApiSettings::default()
        })
        .spawn()
        .await;
    let admin = app.token(Role::Admin, None, "platform-admin").await;
    let body = json!({ "url": "https://hooks.example.com/ferry" });
    for token in [
        app.researcher("research").await,
        app.token(Role::Hosting, None, "hosting").await,
        app.token(Role::Viewer, None, "viewer").await,
    ] {
        let p = problem(app.post(&token, "/v1/webhooks", &body).await, 403).await;
        assert!(p["detail"].as_str().unwrap().contains("admin"), "{p}");
        problem(app.get(&token, "/v1/webhooks").await, 403).await;
    }
    let res = app
        .client
        .get(app.url("/v1/webhooks"))
        .send()
        .await
        .unwrap();
    problem(res, 401).await;

    let res = app
        .post(
            &admin,
            "/v1/webhooks",
            &json!({
                "url": "https://hooks.example.com/ferry",
                "description": "model registry",
                "event_types": ["import.job_completed", "import.job_failed", "import.job_completed"],
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = res.json().await.unwrap();
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(
        created["event_types"],
        json!(["import.job_completed", "import.job_failed"])
    );
    assert_eq!(created["created_by"], "platform-admin");
    assert_eq!(
        location,
        format!("/v1/webhooks/{}", created["id"].as_str().unwrap())
    );

    // The secret is shown once.
    let one: Value = app.get(&admin, &location).await.json().await.unwrap();
    assert_eq!(one["id"], created["id"]);
    assert!(one.get("secret").is_none(), "{one}");
    let all: Value = app.get(&admin, "/v1/webhooks").await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    assert!(
        !all.to_string()
            .contains(created["secret"].as_str().unwrap())
    );

    for (bad, pointer, rule) in [
        (
            json!({ "url": "http://hooks.example.com/" }),
            "/url",
            "https",
        ),
        (
            json!({ "url": "ftp://hooks.example.com/" }),
            "/url",
            "https",
        ),
        (
            json!({ "url": "https://u:p@hooks.example.com/" }),
            "/url",
            "no_credentials",
        ),
        (json!({ "url": "hooks" }), "/url", "url"),
        (
            json!({ "url": "https://h.example/", "event_types": ["import.exploded"] }),
            "/event_types",
            "event_type",
        ),
    ] {
        let p = problem(app.post(&admin, "/v1/webhooks", &bad).await, 422).await;
        assert_eq!(p["errors"][0]["pointer"], pointer, "{bad}: {p}");
        assert_eq!(p["errors"][0]["rule"], rule, "{bad}: {p}");
    }
    let p = problem(
        app.post(
            &admin,
            "/v1/webhooks",
            &json!({ "url": "https://h.example/", "secret": "mine" }),
        )
        .await,
        422,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("secret"), "{p}");

    let res = app
        .client
        .delete(app.url(&location))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    problem(app.get(&admin, &location).await, 404).await;
    problem(app.get(&admin, "/v1/webhooks/not-an-id").await, 404).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn deliveries_are_signed_filtered_and_logged(pool: PgPool) {
    let app = TestApp::builder(pool.clone())
        .settings(allow_http())
        .spawn()
        .await;
    let admin = app.token(Role::Admin, None, "platform-admin").await;
    let research = app.researcher("research").await;
    let receiver = Receiver::new();
    let url = receiver.serve(0).await;
    let hook = subscribe(&app, &admin, &url, &["import.created", "import.cancelled"]).await;
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let _stop = dispatcher(&pool, "replica-a", &[100, 200]);

    let one = app.create(&research, &valid_body("hooked-1")).await;
    let two = app.create(&research, &valid_body("hooked-2")).await;
    cancel(&app, &research, &one).await;
    let _ = two;
    eventually("3 deliveries", || {
        let n = receiver.got().len();
        async move { n >= 3 }
    })
    .await;
    let got = receiver.got();
    assert_eq!(got.len(), 3, "only subscribed types");
    let mut seen = Vec::new();
    for r in &got {
        assert_genuine(&secret, r);
        let m = r.json();
        seen.push((
            m["type"].as_str().unwrap().to_owned(),
            m["data"]["model_name"].as_str().unwrap().to_owned(),
        ));
        assert!(m["seq"].as_i64().unwrap() > 0);
        assert_eq!(m["data"]["team"], "research");
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            ("import.cancelled".to_owned(), "hooked-1".to_owned()),
            ("import.created".to_owned(), "hooked-1".to_owned()),
            ("import.created".to_owned(), "hooked-2".to_owned()),
        ]
    );
    // A secret from another subscription does not verify.
    assert!(!signed_with(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        &got[0]
    ));

    let entries = log(&app, &admin, &hook_id).await;
    assert_eq!(entries.len(), 3);
    for e in &entries {
        assert_eq!(e["status"], "delivered", "{e}");
        assert_eq!(e["attempts"], 1);
        assert_eq!(e["last_status_code"], 204);
        let id = e["id"].as_str().unwrap().replace('-', "");
        assert!(
            got.iter()
                .any(|r| r.header("webhook-id") == format!("msg_{id}")),
            "the log's id is the webhook-id"
        );
    }

    // The test ping goes through the same outbox.
    let res = app
        .post(&admin, &format!("/v1/webhooks/{hook_id}/ping"), &json!({}))
        .await;
    assert_eq!(res.status(), 202);
    let ping: Value = res.json().await.unwrap();
    eventually("the ping", || {
        let n = receiver.got().len();
        async move { n >= 4 }
    })
    .await;
    let r = receiver.got().pop().unwrap();
    assert_genuine(&secret, &r);
    assert_eq!(r.json()["type"], "webhook.ping");
    assert_eq!(r.json()["data"]["webhook_id"], hook_id.as_str());
    let delivered: Value = app
        .get(
            &admin,
            &format!("/v1/webhooks/{hook_id}/deliveries?status=delivered&limit=1"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(delivered["items"][0]["id"], ping["delivery_id"]);
    assert!(delivered["next_cursor"].is_string());
}

/// The receiver is unreachable, then failing, then healthy; two replicas
/// dispatch. Every event arrives, signed, and is acknowledged once.
#[sqlx::test(migrations = "../migrations")]
async fn a_receiver_that_was_down_gets_every_event_once_it_is_back(pool: PgPool) {
    let app = TestApp::builder(pool.clone())
        .settings(allow_http())
        .spawn()
        .await;
    let admin = app.token(Role::Admin, None, "platform-admin").await;
    let research = app.researcher("research").await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hook");
    let hook = subscribe(&app, &admin, &url, &[]).await;
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let schedule = [
        150, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300,
        300, 300,
    ];
    let _a = dispatcher(&pool, "replica-a", &schedule);
    let _b = dispatcher(&pool, "replica-b", &schedule);

    let mut made = Vec::new();
    for i in 0..5 {
        made.push(
            app.create(&research, &valid_body(&format!("outage-{i}")))
                .await,
        );
    }
    cancel(&app, &research, &made[1]).await;
    cancel(&app, &research, &made[3]).await;
    // Events are numbered after they commit: number what is pending.
    ferry_store::feed::sequence(&mut pool.acquire().await.unwrap())
        .await
        .unwrap();
    let expected: Vec<i64> = sqlx::query_scalar("SELECT seq FROM event_feed ORDER BY seq")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(expected.len(), 7);

    // Down: nothing listens. Attempts fail and are logged, nothing is lost.
    eventually("failed attempts while down", || {
        let app = &app;
        let (admin, hook_id) = (&admin, &hook_id);
        async move {
            let entries = log(app, admin, hook_id).await;
            entries.len() == 7
                && entries.iter().all(|e| {
                    e["status"] == "pending"
                        && e["attempts"].as_i64().unwrap() >= 2
                        && e["last_error"].as_str().unwrap().contains("connect")
                })
        }
    })
    .await;

    // Up but failing: 503s are logged with their status.
    let receiver = Receiver::new();
    receiver.answer(503);
    receiver.serve(port).await;
    eventually("503s logged", || {
        let app = &app;
        let (admin, hook_id) = (&admin, &hook_id);
        async move {
            log(app, admin, hook_id)
                .await
                .iter()
                .all(|e| e["last_status_code"] == 503)
        }
    })
    .await;
    assert!(receiver.accepted().is_empty());

    // Healthy: everything arrives.
    receiver.answer(200);
    eventually("all delivered", || {
        let app = &app;
        let (admin, hook_id) = (&admin, &hook_id);
        async move {
            log(app, admin, hook_id)
                .await
                .iter()
                .all(|e| e["status"] == "delivered")
        }
    })
    .await;
    let mut acked: BTreeMap<i64, usize> = BTreeMap::new();
    for r in receiver.got() {
        assert_genuine(&secret, &r);
        if r.answered == 200 {
            *acked.entry(r.json()["seq"].as_i64().unwrap()).or_default() += 1;
        }
    }
    assert_eq!(
        acked.keys().copied().collect::<Vec<_>>(),
        expected,
        "every event"
    );
    assert!(
        acked.values().all(|n| *n == 1),
        "acknowledged once each: {acked:?}"
    );
    // Retries reuse the message id, so receivers can deduplicate.
    let mut ids: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in receiver.got() {
        ids.entry(r.header("webhook-id").to_owned())
            .or_default()
            .push(r.json()["seq"].as_i64().unwrap());
    }
    assert_eq!(ids.len(), 7);
    assert!(ids.values().all(|seqs| seqs.iter().all(|s| *s == seqs[0])));
    for e in log(&app, &admin, &hook_id).await {
        assert!(e["attempts"].as_i64().unwrap() >= 3, "{e}");
        assert_eq!(e["last_status_code"], 200);
        assert!(e["last_error"].is_null());
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_rotated_secret_keeps_signing_during_its_grace_period(pool: PgPool) {
    let app = TestApp::builder(pool.clone())
        .settings(allow_http())
        .spawn()
        .await;
    let admin = app.token(Role::Admin, None, "platform-admin").await;
    let receiver = Receiver::new();
    let url = receiver.serve(0).await;
    let hook = subscribe(&app, &admin, &url, &["webhook.ping"]).await;
    let old = hook["secret"].as_str().unwrap().to_owned();
    let id = hook["id"].as_str().unwrap().to_owned();
    let _stop = dispatcher(&pool, "replica-a", &[100]);
    let ping = || async {
        let before = receiver.got().len();
        let res = app
            .post(&admin, &format!("/v1/webhooks/{id}/ping"), &json!({}))
            .await;
        assert_eq!(res.status(), 202);
        eventually("ping", || {
            let n = receiver.got().len();
            async move { n > before }
        })
        .await;
        receiver.got().pop().unwrap()
    };

    let rotate = |body: Value| {
        let (app, admin, id) = (&app, &admin, &id);
        async move {
            let res = app
                .post(admin, &format!("/v1/webhooks/{id}/rotate-secret"), &body)
                .await;
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let rotated = rotate(json!({ "grace_seconds": 3600 })).await;
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated["previous_secret_expires_at"].is_string());
    let r = ping().await;
    assert_eq!(r.header("webhook-signature").split(' ').count(), 2);
    assert!(signed_with(&new, &r), "new secret");
    assert!(signed_with(&old, &r), "old secret, during the grace period");

    let rotated = rotate(json!({ "grace_seconds": 0 })).await;
    let newest = rotated["secret"].as_str().unwrap().to_owned();
    assert!(rotated["previous_secret_expires_at"].is_null());
    let r = ping().await;
    assert_eq!(r.header("webhook-signature").split(' ').count(), 1);
    assert!(signed_with(&newest, &r));
    assert!(!signed_with(&new, &r));

    let p = problem(
        app.post(
            &admin,
            &format!("/v1/webhooks/{id}/rotate-secret"),
            &json!({ "grace_seconds": 9_999_999 }),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["pointer"], "/grace_seconds");
    // An integer as JSON Schema counts them: 60.0 is one, 1.5 is not.
    let rotated = rotate(json!({ "grace_seconds": 60.0 })).await;
    assert!(rotated["previous_secret_expires_at"].is_string());
    let p = problem(
        app.post(
            &admin,
            &format!("/v1/webhooks/{id}/rotate-secret"),
            &json!({ "grace_seconds": 1.5 }),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["pointer"], "/grace_seconds");
    // An empty body rotates with the default grace period.
    let res = app
        .client
        .post(app.url(&format!("/v1/webhooks/{id}/rotate-secret")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_delivery_fails_for_good_after_its_schedule(pool: PgPool) {
    let app = TestApp::builder(pool.clone())
        .settings(allow_http())
        .spawn()
        .await;
    let admin = app.token(Role::Admin, None, "platform-admin").await;
    let receiver = Receiver::new();
    receiver.answer(500);
    let url = receiver.serve(0).await;
    let hook = subscribe(&app, &admin, &url, &[]).await;
    let id = hook["id"].as_str().unwrap().to_owned();
    let _stop = dispatcher(&pool, "replica-a", &[50, 50]);
    let res = app
        .post(&admin, &format!("/v1/webhooks/{id}/ping"), &json!({}))
        .await;
    assert_eq!(res.status(), 202);
    eventually("given up", || {
        let (app, admin, id) = (&app, &admin, &id);
        async move {
            let entries = log(app, admin, id).await;
            entries.len() == 1 && entries[0]["status"] == "failed"
        }
    })
    .await;
    let e = &log(&app, &admin, &id).await[0];
    assert_eq!(e["attempts"], 3, "the first attempt and two retries");
    assert_eq!(e["last_status_code"], 500);
    assert!(e["last_error"].as_str().unwrap().contains("500"), "{e}");
    assert_eq!(receiver.got().len(), 3);
    let failed: Value = app
        .get(
            &admin,
            &format!("/v1/webhooks/{id}/deliveries?status=failed"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failed["items"].as_array().unwrap().len(), 1);
}
