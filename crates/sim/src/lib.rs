//! `ferry-sim`: a local AWS endpoint for exactly the chain Ferry uses, so Ferry's tests run the
//! real `aws-sdk-*` clients over HTTP.
//!
//! One HTTP server speaks S3 (REST-XML, path-style), STS and IAM (Query), KMS, Service Quotas
//! and SageMaker Model Registry (JSON 1.1) and the Bedrock model-import control plane
//! (REST-JSON). Requests are routed by the SigV4
//! credential scope's service name, every signature is verified, and every request is
//! authorized by [`ferry_policy::iam`] with AWS's cross-account semantics. Import jobs act as
//! `bedrock.amazonaws.com`: they assume the execution role and read the artifacts with its
//! rights, then complete or fail with a message naming the broken link.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_sim::StartError> {
//! let sim = ferry_sim::Sim::start(ferry_sim::SimOptions::default()).await?;
//! let endpoint = sim.endpoint(); // http://127.0.0.1:<port>
//! let admin = sim.scenario().principal("hosting-admin");
//! sim.faults().set_job_duration(std::time::Duration::from_millis(100));
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod admin;
mod bedrock;
mod chain;
mod cloudwatch;
mod faults;
mod iam_api;
mod kms;
pub mod model;
pub mod quotas;
pub mod runtime;
mod s3;
mod sagemaker;
mod scenario;
#[cfg(feature = "test-support")]
pub mod sdk;
mod server;
mod sigv4;
mod state;
mod sts;
mod wire;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use chain::{ChainBreak, ChainError};
pub use faults::{FaultConfig, FaultRule, Faults};
pub use runtime::{Runtime, RuntimeConfig};
pub use scenario::{
    ARTIFACT_BUCKET, BucketSpec, EXECUTION_POLICY_NAME, EXECUTION_ROLE_NAME, HOSTING_ACCOUNT,
    HOSTING_KEY_ID, KeySpec, ModelSpec, PrincipalInfo, RESEARCH_ACCOUNT, RESEARCH_KEY_ID, RoleSpec,
    SAMPLE_MODEL_PREFIX, Scenario, ScenarioError, ScenarioInfo, UserSpec,
};

/// How to start a sim.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Address to bind (default 127.0.0.1).
    pub bind: IpAddr,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// The world to seed (default: [`Scenario::walkthrough`]).
    pub scenario: Scenario,
    /// Initial faults, job duration and quotas.
    pub faults: FaultConfig,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            scenario: Scenario::walkthrough(),
            faults: FaultConfig::default(),
        }
    }
}

/// The sim could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Binding the listener failed.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The scenario is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
}

/// Entry point.
#[derive(Debug)]
pub struct Sim;

impl Sim {
    /// Seeds the scenario, binds the port and serves until [`SimHandle::shutdown`].
    pub async fn start(options: SimOptions) -> Result<SimHandle, StartError> {
        let ctx = Arc::new(server::Ctx {
            state: Mutex::new(state::State::default()),
            faults: Arc::new(Faults::new(options.faults)),
            clock: state::Clock::default(),
            region: options.scenario.region.clone(),
            info: Mutex::new(None),
            runtime: runtime::Runtime::default(),
        });
        let info = {
            let now = ctx.clock.now();
            let mut st = ctx.state();
            options.scenario.apply(&mut st, now)?
        };
        *ctx.info
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(info.clone());
        let addr = SocketAddr::new(options.bind, options.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(Arc::clone(&ctx));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("sim server stopped: {e}");
            }
        });
        tracing::info!(endpoint = %format!("http://{local}"), "ferry-sim listening");
        Ok(SimHandle {
            endpoint: format!("http://{local}"),
            info,
            ctx,
            stop: Some(tx),
            task: Some(task),
        })
    }
}

/// A running sim. Dropping it stops the server too.
#[derive(Debug)]
pub struct SimHandle {
    endpoint: String,
    info: ScenarioInfo,
    ctx: Arc<server::Ctx>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SimHandle {
    /// `http://127.0.0.1:<port>`: give it to the SDKs as `endpoint_url`.
    #[must_use]
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// Principals, access keys and well-known ARNs of the seeded scenario.
    #[must_use]
    pub fn scenario(&self) -> &ScenarioInfo {
        &self.info
    }

    /// Live fault injection (throttling, 5xx, latency, job duration, quotas).
    #[must_use]
    pub fn faults(&self) -> &Faults {
        &self.ctx.faults
    }

    /// bedrock-runtime's cold start and idle eviction of imported models.
    #[must_use]
    pub fn runtime(&self) -> &Runtime {
        &self.ctx.runtime
    }

    /// Breaks one step of the default scenario's chain in place (no HTTP), for tests of code
    /// that must say which step is broken ([`ChainBreak::step`]).
    pub fn break_chain(&self, how: ChainBreak) -> Result<(), ChainError> {
        chain::remove(&mut self.ctx.state(), how)
    }

    /// Sets `account`'s applied value of the Bedrock quota `quota_code` (Service Quotas), as
    /// `PUT /_sim/quotas` does: `GetServiceQuota` answers it and `CreateModelImportJob` enforces it.
    pub fn set_quota(&self, account: &str, quota_code: &str, value: f64) {
        self.ctx.state().quotas.insert(
            (
                account.to_owned(),
                quotas::BEDROCK.to_owned(),
                quota_code.to_owned(),
            ),
            value,
        );
    }

    /// Moves the sim's clock forward (sessions expire; signatures still use real time).
    pub fn advance_clock(&self, by: Duration) {
        self.ctx
            .clock
            .advance(i64::try_from(by.as_secs()).unwrap_or(i64::MAX));
    }

    /// The env file body (`SIM_ENDPOINT=...` lines).
    #[must_use]
    pub fn env_lines(&self) -> String {
        self.info.env_lines(&self.endpoint)
    }

    /// Writes [`Self::env_lines`] to `path` atomically (temporary file, then rename), so a
    /// script waiting for the file never reads half of it.
    pub fn write_env_file(&self, path: &Path) -> std::io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        // The file holds every principal's secret key: its owner's only.
        let _ = std::fs::remove_file(&tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        std::io::Write::write_all(&mut options.open(&tmp)?, self.env_lines().as_bytes())?;
        std::fs::rename(&tmp, path)
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// `ferry sim` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 4599, env = "FERRY_SIM_PORT")]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Scenario JSON file (default: the built-in cross-account walkthrough).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// How long an import job stays InProgress, in seconds.
    #[arg(long, default_value_t = 3.0)]
    pub job_duration: f64,
    /// How long an imported model answers ModelNotReadyException after its import (and after
    /// being evicted), in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub cold_start: f64,
    /// After how many idle seconds a loaded imported model is evicted (0: never).
    #[arg(long, default_value_t = 300.0)]
    pub idle_after: f64,
    /// Write `KEY=value` lines (endpoint, access keys, ARNs) to this file once listening.
    #[arg(long)]
    pub env_file: Option<PathBuf>,
    /// Initial fault configuration (JSON, see `FaultConfig`).
    #[arg(long)]
    pub faults: Option<PathBuf>,
    /// Print the built-in scenario as JSON and exit.
    #[arg(long)]
    pub print_scenario: bool,
}

/// Runs the sim until Ctrl-C (what `ferry sim` calls).
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    if args.print_scenario {
        let text = serde_json::to_string_pretty(&Scenario::walkthrough())?;
        std::io::Write::write_all(&mut std::io::stdout(), format!("{text}\n").as_bytes())?;
        return Ok(());
    }
    let scenario = match &args.scenario {
        Some(p) => Scenario::from_file(p)?,
        None => Scenario::walkthrough(),
    };
    let mut faults = match &args.faults {
        Some(p) => serde_json::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("parsing {}", p.display()))?,
        None => FaultConfig::default(),
    };
    if !(args.job_duration.is_finite() && args.job_duration >= 0.0) {
        anyhow::bail!("--job-duration must be a non-negative number of seconds");
    }
    faults.job_duration_ms = Duration::from_secs_f64(args.job_duration)
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX);
    let sim = Sim::start(SimOptions {
        bind: args.bind,
        port: args.port,
        scenario,
        faults,
    })
    .await?;
    for (flag, v) in [
        ("--cold-start", args.cold_start),
        ("--idle-after", args.idle_after),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            anyhow::bail!("{flag} must be a non-negative number of seconds");
        }
    }
    sim.runtime()
        .set_cold_start(Duration::from_secs_f64(args.cold_start));
    sim.runtime()
        .set_idle_after((args.idle_after > 0.0).then(|| Duration::from_secs_f64(args.idle_after)));
    if let Some(p) = &args.env_file {
        sim.write_env_file(p)
            .with_context(|| format!("writing {}", p.display()))?;
        tracing::info!(path = %p.display(), "env file written");
    }
    tracing::info!(endpoint = %sim.endpoint(), "ferry-sim ready; Ctrl-C to stop");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    sim.shutdown().await;
    Ok(())
}
