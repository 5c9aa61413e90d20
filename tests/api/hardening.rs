//! What an attacker on the network would try (issue 15): webhooks turned
//! inward, slow clients, guessing tokens, malformed input, secrets and
//! headers. One section per hardening item, each over real HTTP against a
//! real Ferry and Postgres.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferry_api::throttle::{Throttle, ThrottleSettings};
use ferry_api::{ApiSettings, ConnectionLimits};
use ferry_domain::auth::Role;
use ferry_domain::net::{AddressPolicy, IpNetwork};
use ferry_e2e::{TestApp, problem, valid_body, webhook_keys};
use ferry_store::sealed::SecretKeys;
use ferry_worker::outbound::Lookup;
use ferry_worker::webhooks::WebhookSettings;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Polls `check` every 100 ms for at most 45 s.
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

// ------------------------------------------------ 1. outbound requests

fn webhook_settings(policy: AddressPolicy) -> ApiSettings {
    ApiSettings {
        webhooks_allow_http: true,
        webhooks_address_policy: policy,
        webhook_keys: Some(webhook_keys()),
        ..ApiSettings::default()
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn webhook_urls_into_the_network_are_refused_unless_allow_listed(pool: PgPool) {
    let app = TestApp::builder(pool)
        .settings(webhook_settings(AddressPolicy::default()))
        .spawn()
        .await;
    let admin = app.token(Role::Admin, None, "admin").await;
    for (url, rule) in [
        (
            "https://169.254.169.254/latest/meta-data/",
            "address.link_local",
        ),
        ("https://[fd00:ec2::254]/", "address.unique_local"),
        ("https://10.0.0.1/", "address.private"),
        ("https://172.16.5.4/", "address.private"),
        ("https://192.168.0.10/", "address.private"),
        ("https://100.64.0.1/", "address.shared"),
        ("https://[::1]/", "address.loopback"),
        ("https://[fe80::1]/", "address.link_local"),
        ("https://[ff02::1]/", "address.multicast"),
        ("https://224.0.0.1/", "address.multicast"),
        ("https://255.255.255.255/", "address.broadcast"),
        ("https://192.0.2.1/", "address.documentation"),
        ("https://[::ffff:127.0.0.1]/", "address.ipv4_mapped"),
        ("https://[::ffff:169.254.169.254]/", "address.ipv4_mapped"),
        ("https://[64:ff9b::a9fe:a9fe]/", "address.link_local"),
        ("http://2130706433/", "address.non_canonical"),
        ("http://0x7f000001/", "address.non_canonical"),
        ("http://127.1/", "address.non_canonical"),
        ("http://0177.0.0.1/", "address.non_canonical"),
        ("http://0.0.0.0/", "address.unspecified"),
        ("http://127.0.0.1:9/hook", "address.loopback"),
        // A name is checked by every address it resolves to.
        ("http://localhost:9/hook", "address.loopback"),
    ] {
        let p = problem(
            app.post(&admin, "/v1/webhooks", &json!({ "url": url }))
                .await,
            422,
        )
        .await;
        assert_eq!(p["errors"][0]["pointer"], "/url", "{url}: {p}");
        assert_eq!(p["errors"][0]["rule"], rule, "{url}: {p}");
    }
    assert_eq!(app.count_rows("webhooks").await, 0);

    // Internal receivers on purpose: the allow-list admits their networks,
    // never a non-canonical spelling.
    let app = TestApp::builder(app.pool.clone())
        .settings(webhook_settings(AddressPolicy::new(vec![
            IpNetwork::parse("10.0.0.0/8").unwrap(),
            IpNetwork::parse("127.0.0.0/8").unwrap(),
        ])))
        .spawn()
        .await;
    for url in ["https://10.0.0.1/", "http://127.0.0.1:9/hook"] {
        let res = app
            .post(&admin, "/v1/webhooks", &json!({ "url": url }))
            .await;
        assert_eq!(res.status(), 201, "{url}");
    }
    let p = problem(
        app.post(&admin, "/v1/webhooks", &json!({ "url": "http://127.1/" }))
            .await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["rule"], "address.non_canonical");
    problem(
        app.post(
            &admin,
            "/v1/webhooks",
            &json!({ "url": "https://[fd00:ec2::254]/" }),
        )
        .await,
        422,
    )
    .await;
}

/// Names mapped by the test, as DNS would answer them at delivery time.
#[derive(Debug)]
struct MapLookup(HashMap<String, IpAddr>);

impl Lookup for MapLookup {
    fn lookup(&self, host: String) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        let found = self.0.get(&host).copied();
        Box::pin(async move {
            found
                .map(|ip| vec![ip])
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, host))
        })
    }
}

/// Counts the POSTs it gets, answering 204.
async fn counting_receiver() -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { http::StatusCode::NO_CONTENT }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, hits)
}

fn dispatcher(pool: &PgPool, policy: AddressPolicy, lookup: Arc<dyn Lookup>) -> CancellationToken {
    let stop = CancellationToken::new();
    let settings = WebhookSettings {
        owner: format!("hardening-{}", uuid::Uuid::now_v7()),
        retry_schedule: vec![Duration::from_millis(100); 50],
        timeout: Duration::from_secs(5),
        tick: Duration::from_millis(100),
        address_policy: policy,
        lookup,
        secret_keys: Some(webhook_keys()),
        ..WebhookSettings::default()
    };
    tokio::spawn(ferry_worker::webhooks::run(
        pool.clone(),
        settings,
        stop.clone(),
    ));
    stop
}

/// DNS rebinding: the name resolved to nothing (or somewhere public) when
/// the webhook was registered, and to loopback when the message is sent.
#[sqlx::test(migrations = "../migrations")]
async fn a_name_resolving_to_loopback_is_refused_at_connect_time(pool: PgPool) {
    let app = TestApp::builder(pool.clone())
        .settings(webhook_settings(AddressPolicy::default()))
        .spawn()
        .await;
    let admin = app.token(Role::Admin, None, "admin").await;
    let (port, hits) = counting_receiver().await;
    // `.invalid` never resolves in real DNS (RFC 6761): registration cannot
    // refuse it, and only the dispatcher's resolver can lead anywhere.
    let url = format!("http://rebind.invalid:{port}/hook");
    let res = app
        .post(&admin, "/v1/webhooks", &json!({ "url": url }))
        .await;
    assert_eq!(res.status(), 201);
    let hook: Value = res.json().await.unwrap();
    let id = hook["id"].as_str().unwrap().to_owned();
    let lookup: Arc<dyn Lookup> = Arc::new(MapLookup(HashMap::from([(
        "rebind.invalid".to_owned(),
        "127.0.0.1".parse().unwrap(),
    )])));

    let stop = dispatcher(&pool, AddressPolicy::default(), Arc::clone(&lookup));
    let res = app
        .post(&admin, &format!("/v1/webhooks/{id}/ping"), &json!({}))
        .await;
    assert_eq!(res.status(), 202);
    let deliveries = format!("/v1/webhooks/{id}/deliveries");
    eventually("the refused attempt in the log", || {
        let (app, admin, deliveries) = (&app, &admin, &deliveries);
        async move {
            let log: Value = app.get(admin, deliveries).await.json().await.unwrap();
            log["items"][0]["attempts"].as_i64().unwrap_or(0) >= 2
        }
    })
    .await;
    stop.cancel();
    let log: Value = app.get(&admin, &deliveries).await.json().await.unwrap();
    let entry = &log["items"][0];
    assert_eq!(entry["status"], "pending", "{entry}");
    assert!(entry["last_status_code"].is_null(), "{entry}");
    let error = entry["last_error"].as_str().unwrap();
    assert!(
        error.contains("rebind.invalid resolves to 127.0.0.1") && error.contains("loopback"),
        "{error}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing reached the receiver"
    );

    // With loopback allowed the same name leads to the receiver: the
    // connection goes to the address the resolver checked.
    let _stop = dispatcher(&pool, AddressPolicy::loopback(), lookup).drop_guard();
    eventually("delivered once allowed", || {
        let (app, admin, deliveries) = (&app, &admin, &deliveries);
        async move {
            let log: Value = app.get(admin, deliveries).await.json().await.unwrap();
            log["items"][0]["status"] == "delivered"
        }
    })
    .await;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// What a receiver answers is kept short and plain in the delivery log.
#[sqlx::test(migrations = "../migrations")]
async fn the_delivery_log_keeps_a_short_sanitised_excerpt(pool: PgPool) {
    let app = TestApp::builder(pool.clone())
        .settings(webhook_settings(AddressPolicy::loopback()))
        .spawn()
        .await;
    let admin = app.token(Role::Admin, None, "admin").await;
    let secret_page = format!("internal\r\n\u{1b}[2Jsecret {}", "x".repeat(5000));
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let page = secret_page.clone();
            async move { (http::StatusCode::FORBIDDEN, page) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let res = app
        .post(
            &admin,
            "/v1/webhooks",
            &json!({ "url": format!("http://{addr}/hook") }),
        )
        .await;
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let _stop = dispatcher(
        &pool,
        AddressPolicy::loopback(),
        Arc::new(ferry_worker::outbound::SystemLookup),
    )
    .drop_guard();
    app.post(&admin, &format!("/v1/webhooks/{id}/ping"), &json!({}))
        .await;
    let deliveries = format!("/v1/webhooks/{id}/deliveries");
    eventually("an attempt", || {
        let (app, admin, deliveries) = (&app, &admin, &deliveries);
        async move {
            let log: Value = app.get(admin, deliveries).await.json().await.unwrap();
            log["items"][0]["attempts"].as_i64().unwrap_or(0) >= 1
        }
    })
    .await;
    let log: Value = app.get(&admin, &deliveries).await.json().await.unwrap();
    let last = &log["items"][0];
    assert_eq!(last["last_status_code"], 403);
    let error = last["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("the receiver answered 403 Forbidden: internal [2Jsecret x"),
        "{error}"
    );
    assert!(!error.chars().any(char::is_control), "{error:?}");
    assert!(error.chars().count() < 260, "{}", error.len());
}

// ------------------------------------------------ 2. connection limits

fn quick_limits(max_connections: usize) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        max_connections,
    }
}

/// Reads until the server closes the connection (generous bound: 30 s).
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open"),
        }
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn slow_and_idle_connections_are_cut(pool: PgPool) {
    let app = TestApp::builder(pool)
        .limits(quick_limits(64))
        .spawn()
        .await;

    // Nothing at all.
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    assert!(read_to_close(&mut silent).await.is_empty());

    // A header line every half second, never the blank line: the head is
    // never complete, so the connection goes however busy it looks.
    let mut drip = TcpStream::connect(app.addr).await.unwrap();
    drip.write_all(b"GET /healthz HTTP/1.1\r\nHost: ferry\r\n")
        .await
        .unwrap();
    let mut lines = 0;
    let closed = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if drip
            .write_all(format!("X-Slow-{lines}: x\r\n").as_bytes())
            .await
            .is_err()
        {
            break true;
        }
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(10), drip.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => {}
            Err(_) => {}
        }
        lines += 1;
        assert!(lines < 60, "still open after {lines} header lines");
    };
    assert!(closed);

    // A kept-alive connection is answered, then closed when idle.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: ferry\r\n\r\n")
        .await
        .unwrap();
    let answer = String::from_utf8(read_to_close(&mut idle).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Ordinary clients are served throughout.
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[sqlx::test(migrations = "../migrations")]
async fn connections_beyond_the_cap_wait_for_a_free_slot(pool: PgPool) {
    let app = TestApp::builder(pool)
        .limits(ConnectionLimits {
            header_read_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1,
        })
        .spawn()
        .await;
    // The hog holds the only slot.
    let hog = TcpStream::connect(app.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let url = app.url("/healthz");
    let mut second = tokio::spawn(async move { reqwest::get(url).await.unwrap().status() });
    // However long it waits, the second client is not served while the
    // hog is connected (a wrong answer here cannot be a slow machine).
    let waited = tokio::time::timeout(Duration::from_millis(500), &mut second).await;
    assert!(waited.is_err(), "served beyond the cap: {waited:?}");
    drop(hog);
    let status = tokio::time::timeout(Duration::from_secs(30), second)
        .await
        .expect("served once the slot is free")
        .unwrap();
    assert_eq!(status, 200);
}

// ------------------------------------------------ 3. throttled authentication

fn throttled(max_failures: u32, trusted: &[&str]) -> ApiSettings {
    ApiSettings {
        auth_throttle: Arc::new(Throttle::new(ThrottleSettings {
            max_failures,
            window: Duration::from_secs(3600),
            trusted_proxies: trusted
                .iter()
                .map(|n| IpNetwork::parse(n).unwrap())
                .collect(),
        })),
        ..ApiSettings::default()
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_burst_of_bad_tokens_is_throttled_and_valid_callers_are_not(pool: PgPool) {
    let app = TestApp::builder(pool)
        .settings(throttled(5, &[]))
        .spawn()
        .await;
    let user = app.researcher("research").await;
    assert_eq!(app.get(&user, "/v1/imports").await.status(), 200);

    for i in 0..5 {
        let res = app.get(&format!("ferry_guess{i}"), "/v1/imports").await;
        assert_eq!(res.status(), 401);
    }
    for i in 5..40 {
        let res = app.get(&format!("ferry_guess{i}"), "/v1/imports").await;
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry >= 1);
        let p = problem(res, 429).await;
        assert_eq!(p["code"], "too_many_failed_authentications");
    }
    // The caller who was working goes on working from the same address...
    assert_eq!(app.get(&user, "/v1/imports").await.status(), 200);
    // ...and callers elsewhere are not affected at all.
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let other = app.token(Role::Viewer, None, "viewer").await;
    let res = elsewhere
        .get(app.url("/v1/imports"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = elsewhere
        .get(app.url("/v1/imports"))
        .bearer_auth("ferry_guess")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // A credential never seen succeed waits like any guess from that
    // address: the throttle answers before any lookup.
    let fresh = app.token(Role::Viewer, None, "fresh").await;
    problem(app.get(&fresh, "/v1/imports").await, 429).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn trusted_proxies_name_the_client(pool: PgPool) {
    let app = TestApp::builder(pool)
        .settings(throttled(2, &["127.0.0.1/32"]))
        .spawn()
        .await;
    let guess = |client: &'static str| {
        app.client
            .get(app.url("/v1/imports"))
            .bearer_auth("ferry_guess")
            .header("x-forwarded-for", format!("{client}, 127.0.0.1"))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(guess("203.0.113.7").await.unwrap().status(), 401);
    }
    problem(guess("203.0.113.7").await.unwrap(), 429).await;
    // Another client behind the same proxy has its own allowance.
    assert_eq!(guess("203.0.113.8").await.unwrap().status(), 401);

    // An untrusted peer's X-Forwarded-For is ignored: the peer is the client.
    let app = TestApp::builder(app.pool.clone())
        .settings(throttled(2, &["10.0.0.0/8"]))
        .spawn()
        .await;
    for client in ["203.0.113.1", "203.0.113.2"] {
        let res = app
            .client
            .get(app.url("/v1/imports"))
            .bearer_auth("ferry_guess")
            .header("x-forwarded-for", client)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
    let res = app
        .client
        .get(app.url("/v1/imports"))
        .bearer_auth("ferry_guess")
        .header("x-forwarded-for", "203.0.113.3")
        .send()
        .await
        .unwrap();
    problem(res, 429).await;
}

// ------------------------------------------------ 4. input

#[sqlx::test(migrations = "../migrations")]
async fn control_characters_are_refused_naming_the_field(pool: PgPool) {
    let app = TestApp::builder(pool)
        .settings(webhook_settings(AddressPolicy::loopback()))
        .spawn()
        .await;
    let admin = app.token(Role::Admin, None, "admin").await;
    let research = app.researcher("research").await;
    for (body, pointer) in [
        (
            json!({ "url": "https://hooks.example.com/\u{0}", "description": "ok" }),
            "/url",
        ),
        (
            json!({ "url": "http://127.0.0.1:9/h", "description": "a\u{0}b" }),
            "/description",
        ),
        (
            json!({ "url": "http://127.0.0.1:9/h", "event_types": ["import.created\u{7}"] }),
            "/event_types/0",
        ),
    ] {
        let p = problem(app.post(&admin, "/v1/webhooks", &body).await, 422).await;
        assert_eq!(p["errors"][0]["pointer"], pointer, "{p}");
        assert_eq!(p["errors"][0]["rule"], "control_character", "{p}");
    }
    let mut body = valid_body("nul-model");
    body["description"] = json!("line one\nline two\ttabbed\u{0}");
    let p = problem(app.post(&research, "/v1/imports", &body).await, 422).await;
    assert_eq!(p["errors"][0]["pointer"], "/description", "{p}");
    let mut body = valid_body("nul-model");
    body["model_tags"] = json!({ "k\u{1b}": "v" });
    let p = problem(app.post(&research, "/v1/imports", &body).await, 422).await;
    assert_eq!(p["errors"][0]["rule"], "control_character", "{p}");
    assert_eq!(app.count_rows("webhooks").await, 0);
    assert_eq!(app.count_rows("import_requests").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn bodies_must_be_objects(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let research = app.researcher("research").await;
    for body in [
        json!([
            "s3://model-artifacts-111122223333/llama3-8b/v1/",
            "dev",
            "m1"
        ]),
        json!("s3://model-artifacts-111122223333/llama3-8b/v1/"),
        json!(42),
        json!(null),
    ] {
        let p = problem(app.post(&research, "/v1/imports", &body).await, 422).await;
        assert_eq!(p["errors"][0]["pointer"], "/", "{body}: {p}");
        assert_eq!(p["errors"][0]["rule"], "object", "{body}: {p}");
    }
    assert_eq!(app.count_rows("import_requests").await, 0);
    let created = app.create(&research, &valid_body("kept")).await;
    let id = created["id"].as_str().unwrap();
    let p = problem(
        app.post(&research, &format!("/v1/imports/{id}/cancel"), &json!([]))
            .await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["rule"], "object");
    let now: Value = app
        .get(&research, &format!("/v1/imports/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["status"], created["status"], "not cancelled");
}

#[sqlx::test(migrations = "../migrations")]
async fn dot_segments_cannot_escape_a_teams_prefix(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let vision = app.researcher("vision").await;
    for source in [
        "s3://model-artifacts-111122223333/vision/../llama3-8b/v1/",
        "s3://model-artifacts-111122223333/vision/./x/",
        "s3://model-artifacts-111122223333/vision//x/",
    ] {
        let body = json!({ "source": source, "environment": "dev", "model_name": "escape" });
        let p = problem(app.post(&vision, "/v1/imports", &body).await, 422).await;
        assert_eq!(p["errors"][0]["pointer"], "/source", "{source}: {p}");
        assert!(
            p["errors"][0]["rule"]
                .as_str()
                .unwrap()
                .starts_with("s3_uri."),
            "{source}: {p}"
        );
    }
    assert_eq!(app.count_rows("import_requests").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn errors_the_server_makes_itself_are_problem_json(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    // Too many header lines, and too many header bytes.
    let mut req = app.client.get(app.url("/v1/imports")).bearer_auth(&token);
    for i in 0..150 {
        req = req.header(format!("x-extra-{i}"), "1");
    }
    let p = problem(req.send().await.unwrap(), 431).await;
    assert_eq!(p["code"], "headers_too_large");
    let res = app
        .client
        .get(app.url("/v1/imports"))
        .bearer_auth(&token)
        .header("x-big", "y".repeat(40 * 1024))
        .send()
        .await
        .unwrap();
    problem(res, 431).await;
    // Unknown routes, wrong methods, wrong media types, bad JSON.
    problem(app.get(&token, "/v1/nothing-here").await, 404).await;
    let res = app
        .client
        .put(app.url("/v1/imports"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    problem(res, 405).await;
    let res = app
        .client
        .post(app.url("/v1/imports"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    problem(res, 415).await;
    let res = app
        .client
        .post(app.url("/v1/imports"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"source\": ")
        .send()
        .await
        .unwrap();
    problem(res, 400).await;
}

// ------------------------------------------------ 5. secrets and headers

#[sqlx::test(migrations = "../migrations")]
async fn api_responses_are_not_cached_or_sniffed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = app.researcher("research").await;
    for res in [
        app.get(&token, "/v1/imports").await,
        app.get(&token, "/v1/me").await,
        app.get("ferry_nope", "/v1/imports").await,
        app.client.get(app.url("/healthz")).send().await.unwrap(),
    ] {
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert_eq!(res.headers()["cache-control"], "no-store", "{}", res.url());
    }
    // The dashboard's files keep their own caching.
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(page.headers()["cache-control"], "no-cache");
}

#[sqlx::test(migrations = "../migrations")]
async fn webhook_secrets_are_sealed_at_rest(pool: PgPool) {
    // Without a key, no secret is stored at all.
    let app = TestApp::spawn(pool.clone()).await;
    let admin = app.token(Role::Admin, None, "admin").await;
    let body = json!({ "url": "https://hooks.example.com/ferry" });
    problem(app.post(&admin, "/v1/webhooks", &body).await, 503).await;

    let app = TestApp::builder(pool.clone())
        .settings(webhook_settings(AddressPolicy::default()))
        .spawn()
        .await;
    let res = app.post(&admin, "/v1/webhooks", &body).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap();
    let id: uuid::Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let stored: String = sqlx::query_scalar("SELECT secret FROM webhooks WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(stored.starts_with("sealed:v1:test:"), "{stored}");
    assert!(!stored.contains(secret.trim_start_matches("whsec_")));
    assert_eq!(webhook_keys().open(id, &stored).unwrap().expose(), secret);

    // A plain-text secret from before encryption is sealed at start, and a
    // key rotation re-seals under the new key while the old one still opens.
    sqlx::query("UPDATE webhooks SET secret = 'whsec_cGxhaW4=' WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        ferry_store::webhooks::reseal_all(&mut conn, &webhook_keys())
            .await
            .unwrap(),
        1
    );
    let new_entry = SecretKeys::generate_entry("next").unwrap();
    let rotated = SecretKeys::parse(&format!(
        "{new_entry}\ntest:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    ))
    .unwrap();
    assert_eq!(
        ferry_store::webhooks::reseal_all(&mut conn, &rotated)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        ferry_store::webhooks::reseal_all(&mut conn, &rotated)
            .await
            .unwrap(),
        0,
        "nothing left to re-seal"
    );
    let stored: String = sqlx::query_scalar("SELECT secret FROM webhooks WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(stored.starts_with("sealed:v1:next:"), "{stored}");
    let only_new = SecretKeys::parse(&new_entry).unwrap();
    assert_eq!(
        only_new.open(id, &stored).unwrap().expose(),
        "whsec_cGxhaW4="
    );
}

// ------------------------------------------------ 6. the audit trail

/// A hosting token named like a researcher reads as a different credential.
#[sqlx::test(migrations = "../migrations")]
async fn the_audit_trail_names_the_credential(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let researcher = app.token(Role::Researcher, Some("research"), "dana").await;
    let impostor = app.token(Role::Hosting, None, "dana").await;
    let mut body = valid_body("audited");
    body["environment"] = json!("prod");
    let created = app.create(&researcher, &body).await;
    let id = created["id"].as_str().unwrap();
    let res = app
        .post(&impostor, &format!("/v1/imports/{id}/approve"), &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let token_id = |role: &'static str| {
        let pool = pool.clone();
        async move {
            let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM api_tokens WHERE role = $1")
                .bind(role)
                .fetch_one(&pool)
                .await
                .unwrap();
            format!("token:{id}")
        }
    };
    let events: Value = app
        .get(&researcher, &format!("/v1/imports/{id}/events"))
        .await
        .json()
        .await
        .unwrap();
    let events = events["items"].as_array().unwrap();
    let by_kind = |kind: &str| events.iter().find(|e| e["kind"] == kind).unwrap().clone();
    let (made, approved) = (by_kind("created"), by_kind("approved"));
    assert_eq!(made["actor"], "dana");
    assert_eq!(approved["actor"], "dana");
    assert_eq!(made["actor_id"], token_id("researcher").await.as_str());
    assert_eq!(approved["actor_id"], token_id("hosting").await.as_str());
}
