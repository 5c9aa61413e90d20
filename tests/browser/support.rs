//! A real Ferry (API + worker + `ferry sim`) and a real browser: Debian's
//! headless Chromium driven through chromedriver (WebDriver).

use std::future::Future;
use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use ferry_domain::auth::Role;
use ferry_e2e::{TestApp, example_catalog};
use ferry_sim::{FaultConfig, Sim, SimHandle, SimOptions};
use ferry_store::PgPool;
use ferry_worker::{Ctx, Placement, Quota, Settings};
use futures::FutureExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long any one condition may take to appear in the page. Generous: the
/// machine may be busy compiling; the waits return as soon as it holds.
pub(crate) const DEADLINE: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------- Ferry

/// Ferry's API on an ephemeral port with its worker running against a sim.
pub(crate) struct Stack {
    pub(crate) app: TestApp,
    // Kept alive for the worker and the API.
    pub(crate) sim: SimHandle,
    pub(crate) sample: String,
    stop: CancellationToken,
    worker: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(w) = self.worker.take() {
            w.abort();
        }
    }
}

fn worker_settings() -> Settings {
    let sim = Placement {
        account: "777788889999".parse().unwrap(),
        region: "us-east-1".parse().unwrap(),
        quota: Quota {
            concurrent_jobs: 1,
            imported_models: 1000,
        },
        refuse_over_model_limit: true,
        reuse: Default::default(),
    };
    Settings::fast(format!("browser-{}", uuid::Uuid::now_v7()), vec![sim])
}

impl Stack {
    /// Bedrock jobs in the sim take `job_ms`: long enough for the page to
    /// show `importing` before `completed`.
    pub(crate) async fn start(pool: PgPool, job_ms: u64) -> Self {
        Self::start_with(pool, job_ms, None).await
    }

    /// [`Self::start`], accepting OIDC tokens through `oidc` too.
    pub(crate) async fn start_with(
        pool: PgPool,
        job_ms: u64,
        oidc: Option<Arc<ferry_api::oidc::OidcVerifier>>,
    ) -> Self {
        let sim = Sim::start(SimOptions {
            faults: FaultConfig {
                job_duration_ms: job_ms,
                max_imported_models: 1000,
                ..FaultConfig::default()
            },
            ..SimOptions::default()
        })
        .await
        .unwrap();
        let sample = sim.scenario().env("SAMPLE_MODEL_URI").unwrap().to_owned();
        let cloud = ferry_e2e::sim_cloud(&sim).await;
        let mut builder = TestApp::builder(pool.clone()).cloud(Arc::clone(&cloud));
        if let Some(oidc) = oidc {
            builder = builder.oidc(oidc);
        }
        let app = builder.spawn().await;
        let ctx = Ctx {
            pool,
            cloud,
            catalog: Arc::new(example_catalog()),
            settings: worker_settings(),
        };
        let stop = CancellationToken::new();
        let worker = tokio::spawn(ferry_worker::run(Arc::new(ctx), stop.clone()));
        Self {
            app,
            sim,
            sample,
            stop,
            worker: Some(worker),
        }
    }

    pub(crate) async fn hosting(&self) -> String {
        self.app.token(Role::Hosting, None, "hosting-lead").await
    }

    pub(crate) async fn researcher(&self, team: &str) -> String {
        self.app.researcher(team).await
    }

    /// Submits through the API as `token`; returns the new request's id.
    pub(crate) async fn submit(&self, token: &str, env: &str, model: &str, source: &str) -> String {
        let body = json!({ "source": source, "environment": env, "model_name": model });
        let created = self.app.create(token, &body).await;
        created["id"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn import(&self, token: &str, id: &str) -> Value {
        let res = self.app.get(token, &format!("/v1/imports/{id}")).await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// Polls the API until `check` holds for the request (bounded).
    pub(crate) async fn wait_for(
        &self,
        token: &str,
        id: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let imp = self.import(token, id).await;
            if check(&imp) {
                return imp;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "request {id} never got to {what}: {imp}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

// ---------------------------------------------------------------- browser

/// Where screenshots go: `$FERRY_ARTIFACTS_DIR`, else `artifacts/browser/`
/// in the repository (ignored by git).
pub(crate) fn artifacts_dir() -> PathBuf {
    std::env::var_os("FERRY_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let root = ferry_e2e::repo_root();
            std::fs::canonicalize(&root)
                .unwrap_or(root)
                .join("artifacts")
                .join("browser")
        })
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver in its own process group, so that the browsers it starts
/// can be ended with it, whatever happens to the test.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start(log: &Path) -> Self {
        for (bin, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: the browser tests drive Debian's headless Chromium. \
                 Install it with `apt-get install -y chromium chromium-driver` \
                 (package {package}); .ci/run does this on a fresh machine."
            );
        }
        let port = free_port();
        let log_file = std::fs::File::create(log).unwrap();
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdout(Stdio::null())
                .stderr(log_file)
                .process_group(0)
                .spawn()
                .unwrap()
        };
        let driver = Self { child, port };
        let status = format!("http://127.0.0.1:{port}/status");
        let client = reqwest::Client::new();
        let start = Instant::now();
        loop {
            if let Ok(res) = client.get(&status).send().await
                && res.status().is_success()
            {
                return driver;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chromedriver did not answer on port {port}; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub(crate) struct Browser {
    pub(crate) client: Client,
    base: String,
    shots: PathBuf,
    step: usize,
}

impl Browser {
    /// Runs `body` with a fresh browser on `app`; screenshots go to
    /// `<artifacts>/<test>/`. The browser is closed whatever `body` does; a
    /// failing test leaves a screenshot of the page as it failed.
    pub(crate) async fn run<F, Fut>(test: &str, app: &TestApp, body: F)
    where
        F: FnOnce(Browser) -> Fut,
        Fut: Future<Output = ()>,
    {
        let shots = artifacts_dir().join(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        let profile = std::env::temp_dir().join(format!("ferry-chromium-{}", uuid::Uuid::now_v7()));
        let driver = Driver::start(&shots.join("chromedriver.log")).await;
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-extensions",
                    "--disable-features=Translate,OptimizationHints,MediaRouter",
                    "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| panic!("starting Chromium through chromedriver: {e}"));
        let browser = Browser {
            client: client.clone(),
            base: app.url(""),
            shots: shots.clone(),
            step: 0,
        };
        let outcome = AssertUnwindSafe(body(browser)).catch_unwind().await;
        if outcome.is_err()
            && let Ok(png) = client.screenshot().await
        {
            let _ = std::fs::write(shots.join("failed.png"), png);
        }
        let _ = client.close().await;
        drop(driver);
        let _ = std::fs::remove_dir_all(&profile);
        eprintln!("screenshots of {test}: {}", shots.display());
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    pub(crate) async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// Runs a script (its `arguments` are `args`) and returns its value.
    pub(crate) async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `expr` (a JavaScript expression) until it is truthy and returns
    /// its value; fails after [`DEADLINE`] saying what was awaited.
    pub(crate) async fn wait(&self, what: &str, expr: &str) -> Value {
        let script = format!("return (function() {{ return {expr}; }})();");
        let start = Instant::now();
        loop {
            let v = self.client.execute(&script, vec![]).await;
            if let Ok(v) = &v
                && truthy(v)
            {
                return v.clone();
            }
            if start.elapsed() > DEADLINE {
                let page = self
                    .client
                    .execute("return document.body.innerText", vec![])
                    .await
                    .unwrap_or_default();
                panic!(
                    "waited {}s for {what} ({expr}); last result {v:?}; the page said:\n{}",
                    DEADLINE.as_secs(),
                    page.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The trimmed text of the first element matching `css`, once there is one.
    pub(crate) async fn text(&self, css: &str) -> String {
        let v = self
            .wait(
                &format!("an element {css}"),
                &format!(
                    "(document.querySelector({sel}) || {{}}).textContent",
                    sel = js_string(css)
                ),
            )
            .await;
        v.as_str().unwrap_or_default().trim().to_owned()
    }

    /// Clicks the first element matching `css` once it exists and is
    /// enabled. The page re-renders as events arrive, so the element is
    /// looked up and clicked in one script.
    pub(crate) async fn click(&self, css: &str) {
        let sel = js_string(css);
        self.wait(
            &format!("a clickable {css}"),
            &format!(
                "(() => {{ const el = document.querySelector({sel}); \
                 if (!el || el.disabled) return false; el.click(); return true; }})()"
            ),
        )
        .await;
    }

    /// Types into the element matching `css` with real key events.
    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        self.wait(
            &format!("an element {css}"),
            &format!("document.querySelector({})", js_string(css)),
        )
        .await;
        let el = self
            .client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap();
        el.send_keys(text).await.unwrap();
    }

    /// Pastes a token into the login form and signs in.
    pub(crate) async fn login(&self, token: &str) {
        self.open("/").await;
        self.type_into("#token", token).await;
        self.click("#login-button").await;
    }

    /// Saves a PNG of the page as `NN-<label>.png`.
    pub(crate) async fn shot(&mut self, label: &str) -> PathBuf {
        self.step += 1;
        let path = self.shots.join(format!("{:02}-{label}.png", self.step));
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(&path, png).unwrap();
        path
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// `s` as a JavaScript string literal.
pub(crate) fn js_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}
