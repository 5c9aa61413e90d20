//! Test support: a real Ferry API on an ephemeral port, backed by the fresh
//! database `#[sqlx::test]` hands each test.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ferry::config::{Config, ConfigSource};
use ferry_api::{ApiSettings, AppState};
use ferry_domain::auth::Role;
use ferry_domain::catalog::Catalog;
use ferry_store::PgPool;
use serde_json::{Value, json};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The catalog of `ferry.example.toml`: environments dev, staging and prod
/// (prod requires approval and admits only `research`), teams `research`
/// (the whole walkthrough bucket) and `vision` (its `vision/` prefix).
pub fn example_catalog() -> Catalog {
    let config = Config::load(&ConfigSource {
        path: repo_root().join("ferry.example.toml"),
        explicit: true,
    })
    .unwrap();
    config.catalog().unwrap()
}

#[derive(Debug)]
pub struct TestApp {
    pub addr: SocketAddr,
    pub pool: PgPool,
    pub client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// AWS clients for the example catalog's environments, pointed at `sim` as
/// Ferry's own identity (`ferry-service`).
pub async fn sim_cloud(sim: &ferry_sim::SimHandle) -> Arc<ferry_cloud::Cloud> {
    let ferry = sim.scenario().principal("ferry-service").unwrap();
    let options = ferry_cloud::CloudOptions {
        endpoint_url: Some(sim.endpoint()),
        static_credentials: Some((
            ferry.access_key_id.clone(),
            ferry.secret_access_key.clone().into(),
        )),
        session_name: "ferry-test".into(),
        retry_max_attempts: 1,
    };
    let targets = example_catalog()
        .environments()
        .map(ferry_cloud::EnvTarget::from_environment)
        .collect();
    Arc::new(ferry_cloud::Cloud::new(options, targets).await.unwrap())
}

/// A hand-signed SageMaker client acting as the sim principal `principal` (SageMaker has no
/// SDK crate in the build: `ferry_cloud::signed`).
pub fn sagemaker_as(
    sim: &ferry_sim::SimHandle,
    principal: &str,
) -> ferry_cloud::signed::JsonClient {
    let p = sim.scenario().principal(principal).unwrap();
    ferry_cloud::signed::JsonClient::new(
        reqwest::Client::new(),
        aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new(
                p.access_key_id.clone(),
                p.secret_access_key.clone(),
                None,
                None,
                "test",
            ),
        ),
        ferry_cloud::signed::SAGEMAKER,
        "us-east-1",
        sim.endpoint(),
    )
}

/// The key sealing webhook secrets in tests: the same for the API and the
/// dispatcher of one test, as one configuration gives both.
pub fn webhook_keys() -> Arc<ferry_store::sealed::SecretKeys> {
    Arc::new(
        ferry_store::sealed::SecretKeys::parse("test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
            .unwrap(),
    )
}

/// A valid create body for team `research` in `dev`.
pub fn valid_body(model_name: &str) -> Value {
    json!({
        "source": "s3://model-artifacts-111122223333/llama3-8b/v1/",
        "environment": "dev",
        "model_name": model_name,
    })
}

/// How to start a [`TestApp`]: `TestApp::builder(pool)`, then the parts a
/// test needs, then [`TestAppBuilder::spawn`].
#[derive(Debug)]
#[must_use]
pub struct TestAppBuilder {
    pool: PgPool,
    settings: ApiSettings,
    cloud: Option<Arc<ferry_cloud::Cloud>>,
    oidc: Option<Arc<ferry_api::oidc::OidcVerifier>>,
    feed_buffer: usize,
    limits: ferry_api::ConnectionLimits,
}

impl TestAppBuilder {
    /// How many messages the live event feed holds for slow streams.
    pub fn feed_buffer(mut self, messages: usize) -> Self {
        self.feed_buffer = messages;
        self
    }

    /// Connection limits other than the defaults.
    pub fn limits(mut self, limits: ferry_api::ConnectionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// API settings other than the defaults.
    pub fn settings(mut self, settings: ApiSettings) -> Self {
        self.settings = settings;
        self
    }

    /// AWS clients (pointed at a sim) for the endpoints that call AWS.
    pub fn cloud(mut self, cloud: Arc<ferry_cloud::Cloud>) -> Self {
        self.cloud = Some(cloud);
        self
    }

    /// Accept OIDC tokens through `oidc` besides Ferry's own tokens.
    pub fn oidc(mut self, oidc: Arc<ferry_api::oidc::OidcVerifier>) -> Self {
        self.oidc = Some(oidc);
        self
    }

    /// Serves the API on an ephemeral port.
    pub async fn spawn(self) -> TestApp {
        let Self {
            pool,
            settings,
            cloud,
            oidc,
            feed_buffer,
            limits,
        } = self;
        let state = AppState {
            pool: pool.clone(),
            catalog: Arc::new(example_catalog()),
            settings: Arc::new(settings),
            cloud,
            feed: ferry_api::feed::Feed::start_with_buffer(
                &pool,
                tokio_util::sync::CancellationToken::new(),
                feed_buffer,
            ),
            oidc,
            tokens: ferry_api::token_cache::TokenCache::start(
                &pool,
                tokio_util::sync::CancellationToken::new(),
            ),
            work: ferry_store::notify::Nudge::start(&pool, std::future::pending()),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            ferry_api::serve(
                listener,
                ferry_api::router(state),
                limits,
                std::future::pending(),
            )
            .await
            .unwrap();
        });
        TestApp {
            addr,
            pool,
            client: reqwest::Client::new(),
            server,
        }
    }
}

impl TestApp {
    /// A builder for an app with more than the defaults.
    pub fn builder(pool: PgPool) -> TestAppBuilder {
        TestAppBuilder {
            pool,
            settings: ApiSettings::default(),
            cloud: None,
            oidc: None,
            feed_buffer: ferry_api::feed::DEFAULT_BUFFER,
            limits: ferry_api::ConnectionLimits::default(),
        }
    }

    /// The API with default settings, no AWS clients and Ferry tokens only.
    pub async fn spawn(pool: PgPool) -> Self {
        Self::builder(pool).spawn().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Creates a token directly in the store, as `ferry token create` does.
    pub async fn token(&self, role: Role, team: Option<&str>, name: &str) -> String {
        let new = ferry_api::auth::generate_token();
        let mut conn = self.pool.acquire().await.unwrap();
        ferry_store::tokens::insert(
            &mut conn,
            uuid::Uuid::now_v7(),
            name,
            role,
            team,
            &new.digest,
            None,
        )
        .await
        .unwrap();
        new.secret
    }

    pub async fn researcher(&self, team: &str) -> String {
        self.token(Role::Researcher, Some(team), &format!("{team}-researcher"))
            .await
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Creates a request and returns its JSON, asserting 201.
    pub async fn create(&self, token: &str, body: &Value) -> Value {
        let res = self.post(token, "/v1/imports", body).await;
        let status = res.status();
        let json: Value = res.json().await.unwrap();
        assert_eq!(status, 201, "create failed: {json}");
        json
    }

    pub async fn count_rows(&self, table: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// Reads a problem+json response, asserting its status and content type.
pub async fn problem(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status, "unexpected status");
    let ct = res
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(ct, "application/problem+json");
    let request_id = res
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert_eq!(
        body["request_id"],
        request_id.as_str(),
        "problem carries the request id"
    );
    body
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn seq(&self) -> i64 {
        self.id.as_deref().unwrap().parse().unwrap()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// A minimal SSE reader over a streaming response (comments are skipped).
#[derive(Debug)]
pub struct SseStream {
    res: reqwest::Response,
    buf: String,
    pub comments: usize,
    /// The text of every comment line received, in order.
    pub comment_lines: Vec<String>,
    /// The server ended the stream.
    pub ended: bool,
}

impl SseStream {
    /// Opens `path` with the token and optional `Last-Event-ID`, asserting 200.
    pub async fn open(app: &TestApp, token: &str, path: &str, last_event_id: Option<i64>) -> Self {
        let mut req = app.client.get(app.url(path)).bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200, "opening {path}");
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            res,
            buf: String::new(),
            comments: 0,
            comment_lines: Vec::new(),
            ended: false,
        }
    }

    /// The next event, or `None` if none arrives within `wait`.
    pub async fn next_within(&mut self, wait: std::time::Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = SseEvent {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines().filter(|l| !l.is_empty()) {
                    if let Some(text) = line.strip_prefix(':') {
                        self.comments += 1;
                        self.comment_lines.push(text.trim_start().to_owned());
                        continue;
                    }
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    any = true;
                    match field {
                        "id" => ev.id = Some(value.to_owned()),
                        "event" => ev.event = Some(value.to_owned()),
                        "data" => {
                            if !ev.data.is_empty() {
                                ev.data.push('\n');
                            }
                            ev.data.push_str(value);
                        }
                        _ => {}
                    }
                }
                if any {
                    return Some(ev);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.res.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None)) => {
                    self.ended = true;
                    return None;
                }
                Err(_) => return None,
                Ok(Err(e)) => panic!("event stream failed: {e}"),
            }
        }
    }

    /// The next event, failing the test if none comes within 20 s.
    pub async fn next(&mut self) -> SseEvent {
        self.next_within(std::time::Duration::from_secs(20))
            .await
            .expect("no event within 20 s")
    }

    /// Reads events until `n` have arrived.
    pub async fn take(&mut self, n: usize) -> Vec<SseEvent> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            out.push(self.next().await);
        }
        out
    }
}
