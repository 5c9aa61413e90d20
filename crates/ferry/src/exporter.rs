//! Prometheus metrics on their own listener (`[metrics] listen`), apart from the API's
//! port, auth and limits.
//!
//! The library crates record through the `metrics` facade (HTTP in `ferry-api`, AWS calls
//! in `ferry-cloud`, steps and webhooks in `ferry-worker`, the pool in `ferry-store`);
//! this module installs the Prometheus recorder (`metrics-exporter-prometheus`, no HTTP
//! features: the listener is axum's) and serves `GET /metrics`. Values that live in
//! Postgres (requests by status, waiting lines, quotas, the webhook outbox, the call
//! budget) are read by one statement ([`ferry_store::stats::snapshot`]) when a scrape
//! comes and reused for `cache_secs`, so every replica reports the same values and many
//! scrapers cost one query every few seconds.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use ferry_domain::status::Status;
use ferry_store::PgPool;
use ferry_store::stats::Snapshot;
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Histogram buckets for every `_seconds` histogram: a fast API call to a slow AWS call.
const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Statuses a request leaves by itself; their oldest request's age is reported.
const OPEN: &[Status] = &[
    Status::PendingApproval,
    Status::Queued,
    Status::Validating,
    Status::Submitting,
    Status::Importing,
    Status::Verifying,
    Status::Deleting,
];

static RECORDER: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use (one per process: the
/// `metrics` facade has one global recorder).
pub(crate) fn recorder() -> anyhow::Result<PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)
                .and_then(PrometheusBuilder::install_recorder)
                .map_err(|e| e.to_string())?;
            describe();
            metrics::gauge!("ferry_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            Ok(handle)
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))
}

/// HELP lines: the catalogue README.md "Metrics" documents.
fn describe() {
    describe_gauge!(
        "ferry_build_info",
        "Always 1; the version label says which Ferry runs."
    );
    describe_counter!(
        ferry_api::HTTP_REQUESTS,
        "HTTP requests answered, by method, route template and status."
    );
    describe_histogram!(
        ferry_api::HTTP_SECONDS,
        Unit::Seconds,
        "Time to answer an HTTP request, by method, route template and status."
    );
    describe_gauge!(
        ferry_api::SSE_STREAMS,
        "GET /v1/events streams open on this replica."
    );
    describe_counter!(
        ferry_cloud::calls::CALLS,
        "AWS calls by service, operation and outcome (ok, throttled, client_error, server_error, no_response), retries within a call included."
    );
    describe_histogram!(
        ferry_cloud::calls::CALL_SECONDS,
        Unit::Seconds,
        "Time an AWS call took, its retries included, by service and operation."
    );
    describe_counter!(
        ferry_cloud::calls::THROTTLES,
        "AWS attempts answered with a throttling error, by service and operation."
    );
    describe_counter!(
        ferry_worker::STEPS,
        "Worker steps by kind (preflight, preview, submit, track, delete, release) and outcome (ok, lease_lost, error)."
    );
    describe_histogram!(
        ferry_worker::STEP_SECONDS,
        Unit::Seconds,
        "Time one worker step took, by kind and outcome."
    );
    describe_counter!(
        ferry_worker::BUDGET_EXHAUSTED,
        "Steps that found the call budget of their hosting account and Region spent."
    );
    describe_counter!(
        ferry_store::work::LEASE_TAKEOVERS,
        "Requests this replica claimed after another worker's lease on them ran out."
    );
    describe_counter!(
        ferry_worker::webhooks::DELIVERIES,
        "Webhook delivery attempts by outcome (delivered, retry, failed)."
    );
    describe_counter!(
        "ferry_db_pool_waits_total",
        "Connection requests that waited for the pool (over 100 ms)."
    );
    describe_counter!(
        "ferry_db_unavailable_total",
        "Connection requests answered 'the database is unavailable'."
    );
    describe_gauge!(
        "ferry_db_pool_connections",
        "Connections of this replica's pool, by state (in_use, idle)."
    );
    describe_gauge!(
        "ferry_db_pool_max_connections",
        "The pool's size limit (database.max_connections)."
    );
    describe_gauge!(
        "ferry_models_deletion_candidates",
        "Imported models Ferry manages that nobody invoked for their environment's idle_after_days (CloudWatch Invocations, else since import), by environment (from Postgres)."
    );
    describe_gauge!(
        "ferry_import_requests",
        "Import requests by status and environment (from Postgres: the same on every replica)."
    );
    describe_gauge!(
        "ferry_import_requests_oldest_age_seconds",
        Unit::Seconds,
        "Time the request longest in an open status has been in it, by status and environment."
    );
    describe_gauge!(
        "ferry_waiting_line_requests",
        "Requests whose preflight passed waiting for a job slot, by hosting account and Region."
    );
    describe_gauge!(
        "ferry_waiting_line_oldest_age_seconds",
        Unit::Seconds,
        "Time the oldest waiting request has been in validating, by hosting account and Region."
    );
    describe_gauge!(
        "ferry_quota_used",
        "What a hosting account and Region holds, by quota (concurrent_jobs, imported_models)."
    );
    describe_gauge!(
        "ferry_quota_limit",
        "The configured limit of each quota (max_concurrent_imports, max_imported_models)."
    );
    describe_gauge!(
        "ferry_call_budget_tokens",
        "Tokens left in the AWS call budget of a hosting account and Region."
    );
    describe_gauge!(
        "ferry_webhook_backlog",
        "Webhook deliveries waiting to be delivered (pending), all endpoints together."
    );
    describe_gauge!(
        "ferry_webhook_backlog_oldest_age_seconds",
        Unit::Seconds,
        "Time the oldest pending webhook delivery has waited."
    );
}

/// One hosting account and Region with its configured limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlacementLimits {
    pub(crate) account: String,
    pub(crate) region: String,
    pub(crate) concurrent_jobs: u32,
    pub(crate) imported_models: u32,
}

/// What the configuration says the database values are about: every label set is one
/// of these, so the series are bounded by the configuration and an empty waiting line
/// reads 0 instead of vanishing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Known {
    pub(crate) environments: Vec<String>,
    /// Environments with `idle_after_days`, and its value.
    pub(crate) idle_after_days: Vec<(String, i32)>,
    pub(crate) placements: Vec<PlacementLimits>,
    pub(crate) budget_burst: f64,
}

impl Known {
    pub(crate) fn from_config(config: &Config) -> Self {
        let mut placements: BTreeMap<(String, String), PlacementLimits> = BTreeMap::new();
        for e in config.environments.values() {
            let key = (e.account_id.to_string(), e.region.to_string());
            placements.entry(key).or_insert_with(|| PlacementLimits {
                account: e.account_id.to_string(),
                region: e.region.to_string(),
                concurrent_jobs: e.max_concurrent_imports,
                imported_models: e.max_imported_models,
            });
        }
        Self {
            environments: config.environments.keys().cloned().collect(),
            idle_after_days: config
                .environments
                .iter()
                .filter_map(|(n, e)| {
                    e.idle_after_days
                        .map(|d| (n.clone(), i32::try_from(d).unwrap_or(i32::MAX)))
                })
                .collect(),
            placements: placements.into_values().collect(),
            budget_burst: config.worker.budget_burst,
        }
    }
}

/// A series' labels, by name.
type Labels = Vec<(&'static str, String)>;

/// One gauge value to set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) name: &'static str,
    pub(crate) labels: Labels,
    pub(crate) value: f64,
}

/// The gauges a snapshot sets: every configured label set (0 when the database has
/// no row for it), and the rows of environments no longer configured as they are.
pub(crate) fn samples(snap: &Snapshot, known: &Known) -> Vec<Sample> {
    let mut out: BTreeMap<(&'static str, Labels), f64> = BTreeMap::new();
    let mut put = |name: &'static str, labels: Labels, value: f64| {
        out.insert((name, labels), value);
    };
    let status_labels =
        |s: &str, e: &str| vec![("status", s.to_owned()), ("environment", e.to_owned())];
    for env in &known.environments {
        for s in Status::ALL {
            put("ferry_import_requests", status_labels(s.as_str(), env), 0.0);
        }
        for s in OPEN {
            put(
                "ferry_import_requests_oldest_age_seconds",
                status_labels(s.as_str(), env),
                0.0,
            );
        }
    }
    for row in &snap.statuses {
        let labels = status_labels(&row.status, &row.environment);
        put("ferry_import_requests", labels.clone(), row.requests as f64);
        if OPEN.iter().any(|s| s.as_str() == row.status) {
            put(
                "ferry_import_requests_oldest_age_seconds",
                labels,
                row.oldest_age_secs,
            );
        }
    }
    let place = |a: &str, r: &str| vec![("account", a.to_owned()), ("region", r.to_owned())];
    let quota = |a: &str, r: &str, q: &str| {
        vec![
            ("account", a.to_owned()),
            ("region", r.to_owned()),
            ("quota", q.to_owned()),
        ]
    };
    for p in &known.placements {
        let (a, r) = (p.account.as_str(), p.region.as_str());
        put("ferry_waiting_line_requests", place(a, r), 0.0);
        put("ferry_waiting_line_oldest_age_seconds", place(a, r), 0.0);
        put("ferry_quota_used", quota(a, r, "concurrent_jobs"), 0.0);
        put("ferry_quota_used", quota(a, r, "imported_models"), 0.0);
        put(
            "ferry_quota_limit",
            quota(a, r, "concurrent_jobs"),
            f64::from(p.concurrent_jobs),
        );
        put(
            "ferry_quota_limit",
            quota(a, r, "imported_models"),
            f64::from(p.imported_models),
        );
        // No row yet: nobody has spent from a full bucket.
        put("ferry_call_budget_tokens", place(a, r), known.budget_burst);
    }
    let configured = |a: &str, r: &str| {
        known
            .placements
            .iter()
            .any(|p| p.account == a && p.region == r)
    };
    for p in snap
        .placements
        .iter()
        .filter(|p| configured(&p.account, &p.region))
    {
        let (a, r) = (p.account.as_str(), p.region.as_str());
        put("ferry_waiting_line_requests", place(a, r), p.waiting as f64);
        put(
            "ferry_waiting_line_oldest_age_seconds",
            place(a, r),
            p.waiting_oldest_age_secs,
        );
        put(
            "ferry_quota_used",
            quota(a, r, "concurrent_jobs"),
            p.jobs_in_flight as f64,
        );
        put(
            "ferry_quota_used",
            quota(a, r, "imported_models"),
            p.models as f64,
        );
    }
    for b in snap
        .budgets
        .iter()
        .filter(|b| configured(&b.account, &b.region))
    {
        put(
            "ferry_call_budget_tokens",
            place(&b.account, &b.region),
            b.tokens,
        );
    }
    put(
        "ferry_webhook_backlog",
        Vec::new(),
        snap.webhook_backlog as f64,
    );
    let env = |e: &str| vec![("environment", e.to_owned())];
    for (e, _) in &known.idle_after_days {
        put("ferry_models_deletion_candidates", env(e), 0.0);
    }
    for (e, n) in &snap.deletion_candidates {
        if known.idle_after_days.iter().any(|(k, _)| k == e) {
            put("ferry_models_deletion_candidates", env(e), *n as f64);
        }
    }
    put(
        "ferry_webhook_backlog_oldest_age_seconds",
        Vec::new(),
        snap.webhook_backlog_oldest_age_secs,
    );
    out.into_iter()
        .map(|((name, labels), value)| Sample {
            name,
            labels,
            value,
        })
        .collect()
}

/// A value reused until it is `ttl` old.
#[derive(Debug)]
pub(crate) struct Cached<T> {
    ttl: Duration,
    value: Option<(Instant, T)>,
}

impl<T: Clone> Cached<T> {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self { ttl, value: None }
    }

    /// The value read at most `ttl` before `now`, else a fresh one from `fetch` (kept
    /// only when the fetch worked, so a failed read is retried by the next scrape).
    pub(crate) async fn get<E, F, Fut>(&mut self, now: Instant, fetch: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some((at, v)) = &self.value
            && now.saturating_duration_since(*at) < self.ttl
        {
            return Ok(v.clone());
        }
        let v = fetch().await?;
        self.value = Some((now, v.clone()));
        Ok(v)
    }
}

/// What a scrape reads.
#[derive(Debug)]
struct Scrape {
    handle: PrometheusHandle,
    pool: PgPool,
    max_connections: u32,
    known: Known,
    budget_per_second: f64,
    snapshot: tokio::sync::Mutex<Cached<Snapshot>>,
}

impl Scrape {
    async fn render(&self) -> String {
        let read = {
            let mut cache = self.snapshot.lock().await;
            cache
                .get(Instant::now(), || async {
                    let mut conn = ferry_store::acquire(&self.pool).await?;
                    ferry_store::stats::snapshot(
                        &mut conn,
                        self.budget_per_second,
                        self.known.budget_burst,
                        &self.known.idle_after_days,
                    )
                    .await
                })
                .await
        };
        match read {
            Ok(snap) => {
                for s in samples(&snap, &self.known) {
                    metrics::gauge!(s.name, &s.labels).set(s.value);
                }
            }
            // The gauges keep their last values; Prometheus still gets the rest.
            Err(e) => tracing::warn!(error = %e, "metrics: could not read the database's values"),
        }
        let idle = self.pool.num_idle() as f64;
        let size = f64::from(self.pool.size());
        metrics::gauge!("ferry_db_pool_connections", "state" => "in_use")
            .set((size - idle).max(0.0));
        metrics::gauge!("ferry_db_pool_connections", "state" => "idle").set(idle);
        metrics::gauge!("ferry_db_pool_max_connections").set(f64::from(self.max_connections));
        self.handle.run_upkeep();
        self.handle.render()
    }
}

async fn metrics_page(State(scrape): State<Arc<Scrape>>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        scrape.render().await,
    )
}

/// Binds `listen` and serves `GET /metrics` until `shutdown`. Returns the bound address.
pub(crate) async fn start(
    config: &Config,
    listen: SocketAddr,
    pool: PgPool,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let handle = recorder()?;
    let scrape = Arc::new(Scrape {
        handle,
        pool,
        max_connections: config.database.max_connections,
        known: Known::from_config(config),
        budget_per_second: config.worker.budget_per_second,
        snapshot: tokio::sync::Mutex::new(Cached::new(Duration::from_secs(
            config.metrics.cache_secs,
        ))),
    });
    let app = Router::new()
        .route("/metrics", axum::routing::get(metrics_page))
        .with_state(scrape);
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("metrics.listen: binding {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "metrics listening on /metrics");
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok(addr)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use ferry_store::stats::{BudgetState, PlacementState, StatusCount};

    use super::*;

    fn known() -> Known {
        Known {
            environments: vec!["dev".into()],
            idle_after_days: vec![("dev".into(), 30)],
            placements: vec![PlacementLimits {
                account: "777788889999".into(),
                region: "us-east-1".into(),
                concurrent_jobs: 1,
                imported_models: 3,
            }],
            budget_burst: 20.0,
        }
    }

    fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(k2, v2)| k2 == k && v2 == v))
            })
            .map(|s| s.value)
    }

    #[test]
    fn an_empty_database_reads_zero_for_every_configured_label_set() {
        let s = samples(&Snapshot::default(), &known());
        // 12 statuses + 7 open ages for one environment; 2 waiting-line, 4 quota and
        // 1 budget series for one placement; 2 webhook series; 1 deletion-candidate series.
        assert_eq!(s.len(), 12 + 7 + 2 + 4 + 1 + 2 + 1);
        let place = [("account", "777788889999"), ("region", "us-east-1")];
        assert_eq!(value(&s, "ferry_waiting_line_requests", &place), Some(0.0));
        assert_eq!(value(&s, "ferry_call_budget_tokens", &place), Some(20.0));
        assert_eq!(
            value(
                &s,
                "ferry_quota_limit",
                &[
                    ("account", "777788889999"),
                    ("region", "us-east-1"),
                    ("quota", "imported_models")
                ]
            ),
            Some(3.0)
        );
        assert_eq!(
            value(
                &s,
                "ferry_import_requests",
                &[("status", "completed"), ("environment", "dev")]
            ),
            Some(0.0)
        );
        // Finished statuses have no "oldest" age.
        assert_eq!(
            value(
                &s,
                "ferry_import_requests_oldest_age_seconds",
                &[("status", "completed"), ("environment", "dev")]
            ),
            None
        );
    }

    #[test]
    fn database_rows_override_the_zeros_and_unknown_placements_are_left_out() {
        let snap = Snapshot {
            statuses: vec![
                StatusCount {
                    status: "importing".into(),
                    environment: "dev".into(),
                    requests: 2,
                    oldest_age_secs: 90.0,
                },
                StatusCount {
                    status: "completed".into(),
                    environment: "dev".into(),
                    requests: 5,
                    oldest_age_secs: 9999.0,
                },
            ],
            placements: vec![
                PlacementState {
                    account: "777788889999".into(),
                    region: "us-east-1".into(),
                    waiting: 3,
                    waiting_oldest_age_secs: 42.0,
                    jobs_in_flight: 1,
                    models: 2,
                },
                PlacementState {
                    account: "000000000000".into(),
                    region: "eu-west-1".into(),
                    waiting: 7,
                    ..PlacementState::default()
                },
            ],
            budgets: vec![BudgetState {
                account: "777788889999".into(),
                region: "us-east-1".into(),
                tokens: 4.5,
            }],
            webhook_backlog: 6,
            webhook_backlog_oldest_age_secs: 30.0,
            deletion_candidates: vec![("dev".into(), 2), ("gone".into(), 9)],
        };
        let s = samples(&snap, &known());
        assert_eq!(
            value(
                &s,
                "ferry_models_deletion_candidates",
                &[("environment", "dev")]
            ),
            Some(2.0)
        );
        assert_eq!(
            value(
                &s,
                "ferry_models_deletion_candidates",
                &[("environment", "gone")]
            ),
            None,
            "environments without idle_after_days are left out"
        );
        let dev = |st: &'static str| [("status", st), ("environment", "dev")];
        assert_eq!(
            value(&s, "ferry_import_requests", &dev("importing")),
            Some(2.0)
        );
        assert_eq!(
            value(&s, "ferry_import_requests", &dev("completed")),
            Some(5.0)
        );
        assert_eq!(
            value(
                &s,
                "ferry_import_requests_oldest_age_seconds",
                &dev("importing")
            ),
            Some(90.0)
        );
        assert_eq!(
            value(
                &s,
                "ferry_import_requests_oldest_age_seconds",
                &dev("completed")
            ),
            None
        );
        let place = [("account", "777788889999"), ("region", "us-east-1")];
        assert_eq!(value(&s, "ferry_waiting_line_requests", &place), Some(3.0));
        assert_eq!(
            value(&s, "ferry_waiting_line_oldest_age_seconds", &place),
            Some(42.0)
        );
        assert_eq!(value(&s, "ferry_call_budget_tokens", &place), Some(4.5));
        assert_eq!(
            value(
                &s,
                "ferry_quota_used",
                &[
                    ("account", "777788889999"),
                    ("region", "us-east-1"),
                    ("quota", "concurrent_jobs")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &s,
                "ferry_waiting_line_requests",
                &[("account", "000000000000"), ("region", "eu-west-1")]
            ),
            None,
            "a placement no longer configured is not reported"
        );
        assert_eq!(value(&s, "ferry_webhook_backlog", &[]), Some(6.0));
    }

    #[tokio::test]
    async fn the_snapshot_is_read_once_per_ttl() {
        let mut cache = Cached::new(Duration::from_secs(5));
        let reads = std::cell::Cell::new(0);
        let fetch = || async {
            reads.set(reads.get() + 1);
            Ok::<_, ()>(reads.get())
        };
        let t0 = Instant::now();
        assert_eq!(cache.get(t0, fetch).await, Ok(1));
        assert_eq!(cache.get(t0 + Duration::from_secs(4), fetch).await, Ok(1));
        assert_eq!(cache.get(t0 + Duration::from_secs(5), fetch).await, Ok(2));
        // A failed read keeps nothing: the next scrape reads again.
        let mut cache = Cached::new(Duration::from_secs(5));
        assert_eq!(
            cache.get(t0, || async { Err::<u32, _>("down") }).await,
            Err("down")
        );
        assert_eq!(cache.get(t0, || async { Ok::<_, &str>(7) }).await, Ok(7));
    }
}
