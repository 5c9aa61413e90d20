//! Ferry's worker: a lease-based reconciler over Postgres.
//!
//! Each activation claims due requests into a lease, runs one [`step`] for
//! each, and writes only while it holds the lease. There are no retry loops
//! inside a step: a throttled call, a 5xx or a lost race simply reschedules
//! the request, and the next activation (on any replica) retries it.
//!
//! ```text
//! queued ──preflight──► validating ──(waits for a slot: schedule::admit)──► submitting
//!   ──CreateModelImportJob (clientRequestToken from the request id)──► importing ──poll──► verifying | failed
//!   ──InvokeModel / Converse until the model answers or the readiness timeout──► completed (Serving=True|False)
//! ```
//!
//! A crash after `CreateModelImportJob` but before the database write leaves
//! the request in `submitting`; whoever claims it next calls again with the
//! same client request token and Bedrock answers with the same job.

mod backoff;
pub mod inventory;
pub mod outbound;
pub mod schedule;
mod step;
mod trace;
pub mod webhooks;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferry_cloud::Cloud;
use ferry_domain::catalog::Catalog;
use ferry_store::PgPool;
use tokio_util::sync::CancellationToken;

pub use backoff::Backoff;
pub use schedule::{Admission, Placement, Quota, admit, schedule};
pub use step::{StepError, client_request_token, create_job_request, step};

/// The longest pause between activations while the database is away.
const DATABASE_RETRY_MAX: Duration = Duration::from_secs(5);

/// The actor the worker's changes are recorded under.
pub(crate) fn actor() -> ferry_domain::update::Actor {
    ferry_domain::update::Actor::worker()
}

/// How the worker behaves; built by the binary from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Names this worker's leases: unique per process.
    pub owner: String,
    /// How long a claim lasts; a worker that dies loses its rows after this.
    pub lease: Duration,
    /// Most requests claimed per activation.
    pub batch: i64,
    /// Wake at least this often, even without a notification.
    pub tick: Duration,
    /// Delay between polls of one import job.
    pub poll: Backoff,
    /// Delay after a throttled, quota-limited or failed call.
    pub retry: Backoff,
    /// With at least this many jobs in flight in one environment, one replica
    /// per `poll.initial` lists them (`ListModelImportJobs`, a sweep) instead
    /// of polling each with `GetModelImportJob`.
    pub list_threshold: usize,
    /// Call budget per hosting account and Region, shared by all replicas.
    pub budget_per_second: f64,
    pub budget_burst: f64,
    pub placements: Vec<Placement>,
    /// How long to keep retrying a submission Bedrock refuses with "The provided role ARN is
    /// invalid." (IAM changes propagating) before failing the request with the fix.
    pub role_propagation_window: Duration,
    /// How long the readiness check waits for an imported model's first answer.
    pub readiness_timeout: Duration,
    /// Delay between readiness invocations the model did not answer (`ModelNotReadyException`).
    pub readiness: Backoff,
    /// The price table of the model cards' cost estimates.
    pub prices: Vec<ferry_domain::model_card::CmuPrice>,
    /// The account inventory (every imported model, Bedrock's quotas); `None`: off, and the
    /// scheduler counts Ferry's own requests against the configured quotas only.
    pub inventory: Option<inventory::InventorySettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            owner: format!("worker-{}", std::process::id()),
            lease: Duration::from_secs(60),
            batch: 32,
            tick: Duration::from_secs(1),
            poll: Backoff::new(Duration::from_secs(5), Duration::from_secs(60)),
            retry: Backoff::new(Duration::from_secs(2), Duration::from_secs(120)),
            list_threshold: 3,
            budget_per_second: 5.0,
            budget_burst: 20.0,
            placements: Vec::new(),
            role_propagation_window: Duration::from_secs(300),
            readiness_timeout: Duration::from_secs(900),
            readiness: Backoff::new(Duration::from_secs(5), Duration::from_secs(60)),
            prices: ferry_domain::model_card::default_prices(),
            inventory: None,
        }
    }
}

impl Settings {
    /// Short leases, timers and backoffs and an ample call budget, for
    /// driving the pipeline against the local sim (the test suites).
    pub fn fast(owner: impl Into<String>, placements: Vec<Placement>) -> Self {
        Self {
            owner: owner.into(),
            lease: Duration::from_secs(5),
            batch: 64,
            tick: Duration::from_millis(50),
            poll: Backoff::new(Duration::from_millis(100), Duration::from_millis(400)),
            retry: Backoff::new(Duration::from_millis(100), Duration::from_millis(500)),
            list_threshold: 3,
            budget_per_second: 1000.0,
            budget_burst: 1000.0,
            placements,
            role_propagation_window: Duration::from_secs(60),
            readiness_timeout: Duration::from_secs(60),
            readiness: Backoff::new(Duration::from_millis(100), Duration::from_millis(400)),
            prices: ferry_domain::model_card::default_prices(),
            inventory: None,
        }
    }
}

/// What a step needs. Cheap to share.
#[derive(Debug)]
pub struct Ctx {
    pub pool: PgPool,
    pub cloud: Arc<Cloud>,
    pub catalog: Arc<Catalog>,
    pub settings: Settings,
}

impl Ctx {
    pub(crate) fn lease(&self) -> time::Duration {
        time::Duration::try_from(self.settings.lease).unwrap_or(time::Duration::minutes(1))
    }
}

/// Counter: worker steps by `kind` and `outcome` (`ok`, `lease_lost`, `error`).
pub const STEPS: &str = "ferry_worker_steps_total";
/// Histogram: seconds per worker step by `kind` and `outcome`.
pub const STEP_SECONDS: &str = "ferry_worker_step_duration_seconds";
/// Counter: times a step found its hosting account's call budget spent, by `account`, `region`.
pub const BUDGET_EXHAUSTED: &str = "ferry_call_budget_exhausted_total";

/// The `kind` label of a step: what the worker does for a request in `status`.
#[must_use]
pub fn step_kind(status: ferry_domain::status::Status) -> &'static str {
    use ferry_domain::status::Status;
    match status {
        Status::Queued | Status::Validating => "preflight",
        Status::PendingApproval => "preview",
        Status::Submitting => "submit",
        Status::Importing => "track",
        Status::Deleting => "delete",
        _ => "release",
    }
}

/// One activation: take the accounts' inventories that are due, schedule, claim, step.
/// Returns how many requests it claimed.
pub async fn activate(ctx: &Ctx) -> Result<usize, ferry_store::StoreError> {
    inventory::sync(ctx).await?;
    schedule(ctx).await?;
    let (swept, mut known) = step::sweep(ctx).await?;
    let mut claimed = {
        let mut conn = ferry_store::acquire(&ctx.pool).await?;
        ferry_store::work::claim_due(
            &mut conn,
            &ctx.settings.owner,
            ctx.lease(),
            ctx.settings.batch,
        )
        .await?
    };
    let n = claimed.len();
    claimed.extend(swept);
    if claimed.is_empty() {
        return Ok(0);
    }
    known.extend(step::batch_job_states(ctx, &claimed, &known).await);
    run_steps(ctx, claimed, &known).await;
    // Anything that finished may have freed a slot.
    schedule(ctx).await?;
    Ok(n)
}

/// Runs one [`step`] for each claimed request, at once, with what a listing
/// said of its job (`known`, by job ARN).
async fn run_steps(
    ctx: &Ctx,
    claimed: Vec<ferry_store::imports::ImportRecord>,
    known: &BTreeMap<String, ferry_cloud::JobState>,
) {
    let steps = claimed.into_iter().map(|record| {
        let state = record.bedrock_job_arn.as_ref().and_then(|arn| known.get(arn).cloned());
        async move {
            let id = record.id;
            let kind = step_kind(record.status);
            let started = std::time::Instant::now();
            let result = step(ctx, record, state).await;
            let outcome = match &result {
                Ok(()) => "ok",
                Err(StepError::LeaseLost) => "lease_lost",
                Err(StepError::Store(_)) => "error",
            };
            metrics::histogram!(STEP_SECONDS, "kind" => kind, "outcome" => outcome)
                .record(started.elapsed().as_secs_f64());
            metrics::counter!(STEPS, "kind" => kind, "outcome" => outcome).increment(1);
            if let Err(e) = result {
                match e {
                    StepError::LeaseLost => tracing::warn!(import_id = %id, "lease lost; another worker has the request"),
                    e => tracing::error!(import_id = %id, error = %e, "step failed; will retry"),
                }
            }
        }
    });
    futures::future::join_all(steps).await;
}

/// Tracking sweeps on their own clock: every `poll.initial` this replica
/// tries to take the sweep of each environment (one replica wins each
/// interval) and steps the requests whose job ended. An activation waits for
/// its slowest step (a submission behind the call budget, say), so sweeps made
/// only at the start of one came late whenever activations ran long.
async fn sweep_loop(ctx: Arc<Ctx>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(ctx.settings.poll.initial);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        match step::sweep(&ctx).await {
            Ok((swept, known)) if !swept.is_empty() => run_steps(&ctx, swept, &known).await,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "tracking sweep failed; trying again next interval");
            }
        }
    }
}

/// Fills in the hosting account and Region of requests stored before they were recorded.
pub async fn backfill(ctx: &Ctx) -> Result<(), ferry_store::StoreError> {
    let mut conn = ferry_store::acquire(&ctx.pool).await?;
    for env in ctx.catalog.environments() {
        ferry_store::work::backfill_placement(
            &mut conn,
            env.name.as_str(),
            env.account.as_str(),
            env.region.as_str(),
        )
        .await?;
    }
    Ok(())
}

/// Runs until `shutdown`: wakes on `NOTIFY ferry_work` from any replica and on
/// a timer, then [`activate`]s. On shutdown it finishes the steps in flight
/// and releases its leases so another replica can continue at once.
pub async fn run(ctx: Arc<Ctx>, shutdown: CancellationToken) {
    if let Err(e) = backfill(&ctx).await {
        tracing::error!(error = %e, "could not backfill placements");
    }
    let mut wake = ferry_store::notify::Listener::start(
        &ctx.pool,
        &[ferry_store::notify::WORK_CHANNEL],
        "worker",
    )
    .await;
    tracing::info!(owner = %ctx.settings.owner, "worker started");
    let sweeper = tokio::spawn(sweep_loop(Arc::clone(&ctx), shutdown.clone()));
    let mut failures = 0u32;
    // The last activation failed because the database is away: retry often
    // enough to resume soon after it is back.
    let mut away = false;
    loop {
        let busy = match activate(&ctx).await {
            Ok(n) => {
                if away {
                    tracing::info!("the database is back; the worker resumes");
                }
                failures = 0;
                away = false;
                n as i64 >= ctx.settings.batch
            }
            Err(ferry_store::StoreError::Busy) => {
                // Saturation, not an outage: the database answers, so no
                // outage pause and no growing backoff; the next activation
                // comes at the usual pace as connections free up.
                failures = 0;
                away = false;
                tracing::warn!(
                    "every database connection is in use; the worker carries on at its usual pace"
                );
                false
            }
            Err(ferry_store::StoreError::Unavailable(e)) => {
                failures = failures.saturating_add(1);
                away = true;
                tracing::warn!(error = %e, "the database is unavailable; the worker waits for it");
                false
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                away = false;
                tracing::error!(error = %e, "worker activation failed");
                false
            }
        };
        if shutdown.is_cancelled() {
            break;
        }
        if busy {
            continue;
        }
        let pause = if away {
            ctx.settings
                .retry
                .delay(failures, rand::random())
                .min(DATABASE_RETRY_MAX)
        } else if failures > 0 {
            ctx.settings.retry.delay(failures, rand::random())
        } else {
            ctx.settings.tick
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            // A burst of notifications (a batch of creates, another
            // replica's scheduler pass) is one activation, not one per row.
            _ = wake.next_burst() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
    // The sweeper finishes the steps it started before leases are released.
    if let Err(e) = sweeper.await {
        tracing::error!(error = %e, "the tracking sweeper panicked");
    }
    match ctx.pool.acquire().await {
        Ok(mut conn) => {
            match ferry_store::work::release_all(&mut conn, &ctx.settings.owner).await {
                Ok(n) => tracing::info!(released = n, "worker stopped; leases released"),
                Err(e) => {
                    tracing::warn!(error = %e, "worker stopped; leases will expire on their own")
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "worker stopped; leases will expire on their own"),
    }
}

/// Maps each environment's name to its placement (account, region).
pub fn placements_by_env(catalog: &Catalog) -> BTreeMap<String, (String, String)> {
    catalog
        .environments()
        .map(|e| {
            (
                e.name.to_string(),
                (e.account.to_string(), e.region.to_string()),
            )
        })
        .collect()
}
