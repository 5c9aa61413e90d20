//! Tracking benchmark: N import jobs in flight at once, tracked by three
//! worker replicas against `ferry sim`, run twice in the same process:
//!
//! * baseline: every due job polled with its own `GetModelImportJob`;
//! * ferry: with several jobs in flight in an environment, one replica per
//!   poll interval lists them (`ListModelImportJobs`) and steps those whose
//!   job ended; no job is polled on its own.
//!
//! Prints Bedrock calls per job per minute of tracking (as the sim counted
//! them), the lag between a job ending in the sim and Ferry showing it
//! (p50/p99), the ratios ferry/baseline, Ferry's calls against the floor
//! (one `ListModelImportJobs` page per environment per poll interval), and
//! checks that every request was submitted exactly once.
//!
//! `scripts/bench-tracking.sh [N] [JOB_SECONDS]`; needs DATABASE_URL.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_cloud::{Cloud, CloudOptions, EnvTarget};
use ferry_domain::auth::{Principal, Role};
use ferry_domain::import::{ImportDraft, NewImport};
use ferry_domain::names::TeamName;
use ferry_e2e::example_catalog;
use ferry_sim::{FaultConfig, Sim, SimOptions};
use ferry_worker::{Backoff, Ctx, Placement, Quota, Settings};
use tokio_util::sync::CancellationToken;

/// The first poll delay, which is also the interval of Ferry's tracking sweeps.
const POLL_INITIAL: Duration = Duration::from_secs(2);

struct Outcome {
    calls_per_job_minute: f64,
    lag_p50: f64,
    lag_p99: f64,
    tracking_secs: f64,
    bedrock_calls: BTreeMap<String, u64>,
    /// Where the lag goes (sweeping runs only): from a job's end to the
    /// first sweep that began after it, and from that sweep to the
    /// completion being recorded (p50, p99 of each), and the gaps between
    /// consecutive sweeps (p50, max).
    lag_parts: Option<LagParts>,
}

struct LagParts {
    to_sweep: (f64, f64),
    sweep_to_recorded: (f64, f64),
    sweep_gap: (f64, f64),
    sweeps: usize,
}

/// The start times of the sweeps of the `dev` environment, as sampled from
/// `tracking_sweeps` every 100 ms (a claim sets `next_at` to its start plus
/// one interval) until `stop`.
async fn watch_sweeps(
    pool: ferry_store::PgPool,
    stop: CancellationToken,
) -> Vec<time::OffsetDateTime> {
    let mut starts: Vec<time::OffsetDateTime> = Vec::new();
    let interval = time::Duration::try_from(POLL_INITIAL).unwrap();
    while !stop.is_cancelled() {
        let next: Option<time::OffsetDateTime> = sqlx::query_scalar(
            "SELECT next_at FROM tracking_sweeps WHERE environment = 'dev' AND swept_by IS NOT NULL",
        )
        .fetch_optional(&pool)
        .await
        .unwrap();
        if let Some(start) = next.map(|n| n - interval)
            && starts.last() != Some(&start)
        {
            starts.push(start);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    starts
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A fresh database: the workers' pool, and a small one of the benchmark's
/// own, so its progress queries never wait behind the workers' steps.
async fn fresh_db(master: &str, name: &str) -> (ferry_store::PgPool, ferry_store::PgPool) {
    let url = ferry_store::admin::recreate_database(master, name)
        .await
        .unwrap();
    let pool = ferry_store::connect(&url, 20).await.unwrap();
    ferry_store::migrate(&pool).await.unwrap();
    let watch = ferry_store::connect(&url, 2).await.unwrap();
    (pool, watch)
}

async fn run(master: &str, label: &str, n: usize, job_secs: u64, list_threshold: usize) -> Outcome {
    let (pool, watch) = fresh_db(master, &format!("ferry_bench_{label}")).await;
    let sim = Sim::start(SimOptions {
        faults: FaultConfig {
            job_duration_ms: job_secs * 1000,
            max_concurrent_import_jobs: n + 10,
            max_imported_models: n + 10,
            ..FaultConfig::default()
        },
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let catalog = Arc::new(example_catalog());
    let sample = sim.scenario().env("SAMPLE_MODEL_URI").unwrap().to_owned();
    let principal = Principal {
        id: "token:bench".into(),
        name: "bench".into(),
        role: Role::Researcher,
        team: Some(TeamName::parse("research").unwrap()),
    };
    let mut ids = Vec::new();
    {
        let mut conn = pool.acquire().await.unwrap();
        for i in 0..n {
            let draft = ImportDraft {
                source: sample.clone(),
                environment: "dev".into(),
                model_name: format!("bench-{i}"),
                ..ImportDraft::default()
            };
            let new = NewImport::from_draft(&draft, &principal, &catalog).unwrap();
            ferry_store::imports::insert(&mut conn, &new, "token:bench")
                .await
                .unwrap();
            ids.push(new.id);
        }
    }
    let ferry = sim.scenario().principal("ferry-service").unwrap().clone();
    let quota = Quota {
        concurrent_jobs: n as i64 + 10,
        imported_models: n as i64 + 10,
    };
    // Sweeps are watched from the start: the first jobs end while the last
    // are still being submitted.
    let stop_watching = CancellationToken::new();
    let sweeps = tokio::spawn(watch_sweeps(watch.clone(), stop_watching.clone()));
    let mut workers = Vec::new();
    for r in 0..3 {
        let options = CloudOptions {
            endpoint_url: Some(sim.endpoint()),
            static_credentials: Some((
                ferry.access_key_id.clone(),
                ferry.secret_access_key.clone().into(),
            )),
            session_name: "ferry-bench".into(),
            retry_max_attempts: 3,
        };
        let targets = catalog
            .environments()
            .map(EnvTarget::from_environment)
            .collect();
        let ctx = Ctx {
            pool: pool.clone(),
            cloud: Arc::new(Cloud::new(options, targets).await.unwrap()),
            catalog: Arc::clone(&catalog),
            settings: Settings {
                owner: format!("{label}-replica-{r}"),
                batch: 200,
                tick: Duration::from_millis(200),
                poll: Backoff::new(POLL_INITIAL, Duration::from_secs(10)),
                retry: Backoff::new(Duration::from_millis(500), Duration::from_secs(10)),
                list_threshold,
                budget_per_second: 20.0,
                budget_burst: 40.0,
                placements: vec![Placement {
                    account: "777788889999".parse().unwrap(),
                    region: "us-east-1".parse().unwrap(),
                    quota,
                    refuse_over_model_limit: true,
                    reuse: Default::default(),
                }],
                ..Settings::default()
            },
        };
        let stop = CancellationToken::new();
        workers.push((
            stop.clone(),
            tokio::spawn(ferry_worker::run(Arc::new(ctx), stop)),
        ));
    }

    // Wait until every job is in Bedrock, then measure the tracking phase.
    let started = Instant::now();
    let count = |status: &'static str| {
        let pool = watch.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM import_requests WHERE status = $1")
                .bind(status)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    while (count("importing").await + count("completed").await + count("failed").await) < n as i64 {
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "submission did not finish"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let calls_before = sim.faults().call_counts();
    let tracking_start = Instant::now();
    while (count("completed").await + count("failed").await) < n as i64 {
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "tracking did not finish"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let tracking_secs = tracking_start.elapsed().as_secs_f64();
    stop_watching.cancel();
    let sweeps = sweeps.await.unwrap();
    let calls_after = sim.faults().call_counts();
    for (stop, handle) in workers {
        stop.cancel();
        handle.await.unwrap();
    }
    let tracking_ops = ["bedrock:GetModelImportJob", "bedrock:ListModelImportJobs"];
    let mut bedrock_calls = BTreeMap::new();
    let mut tracking_calls = 0u64;
    for (op, after) in &calls_after {
        if op.starts_with("bedrock:") {
            bedrock_calls.insert(op.clone(), *after);
        }
        if tracking_ops.contains(&op.as_str()) {
            tracking_calls += after - calls_before.get(op).copied().unwrap_or(0);
        }
    }

    // Exactly once: one job per request in Ferry and in the sim.
    let rows: Vec<(Option<String>, Option<time::OffsetDateTime>, String)> =
        sqlx::query_as("SELECT bedrock_job_arn, finished_at, status FROM import_requests")
            .fetch_all(&watch)
            .await
            .unwrap();
    let arns: BTreeSet<_> = rows.iter().filter_map(|r| r.0.clone()).collect();
    let completed = rows.iter().filter(|r| r.2 == "completed").count();
    let auditor = Cloud::new(
        CloudOptions {
            endpoint_url: Some(sim.endpoint()),
            static_credentials: Some((
                ferry.access_key_id.clone(),
                ferry.secret_access_key.clone().into(),
            )),
            ..CloudOptions::default()
        },
        catalog
            .environments()
            .filter(|e| e.name.as_str() == "dev")
            .map(EnvTarget::from_environment)
            .collect(),
    )
    .await
    .unwrap();
    let jobs = auditor
        .list_import_jobs(&"dev".parse().unwrap(), time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap();
    let creates = calls_after
        .get("bedrock:CreateModelImportJob")
        .copied()
        .unwrap_or(0);
    println!(
        "{label}: {completed}/{n} completed; {} distinct jobs in Ferry, {} in the sim; {creates} CreateModelImportJob calls",
        arns.len(),
        jobs.len()
    );
    assert_eq!(arns.len(), n, "{label}: one job per request");
    assert_eq!(
        jobs.len(),
        n,
        "{label}: the sim saw exactly one job per request"
    );

    let ended: BTreeMap<String, time::OffsetDateTime> = jobs
        .iter()
        .filter_map(|j| Some((j.job_arn.clone(), j.end_time?)))
        .collect();
    let mut lags: Vec<f64> = rows
        .iter()
        .filter_map(|(arn, finished, _)| {
            let end = ended.get(arn.as_ref()?)?;
            Some(
                (finished.as_ref().copied()? - *end)
                    .as_seconds_f64()
                    .max(0.0),
            )
        })
        .collect();
    lags.sort_by(f64::total_cmp);
    let lag_parts = (list_threshold < n && sweeps.len() > 1).then(|| {
        let (mut to_sweep, mut after) = (Vec::new(), Vec::new());
        for (arn, finished, _) in &rows {
            let (Some(end), Some(finished)) = (arn.as_ref().and_then(|a| ended.get(a)), finished)
            else {
                continue;
            };
            // The first sweep that began after the job ended (the sampled
            // start can be a little early: a claim's now() is its
            // transaction's start).
            if let Some(sweep) = sweeps.iter().find(|s| *s >= end) {
                to_sweep.push((*sweep - *end).as_seconds_f64());
                after.push((*finished - *sweep).as_seconds_f64().max(0.0));
            }
        }
        let mut gaps: Vec<f64> = sweeps
            .windows(2)
            .map(|w| (w[1] - w[0]).as_seconds_f64())
            .collect();
        for v in [&mut to_sweep, &mut after, &mut gaps] {
            v.sort_by(f64::total_cmp);
        }
        LagParts {
            to_sweep: (percentile(&to_sweep, 0.5), percentile(&to_sweep, 0.99)),
            sweep_to_recorded: (percentile(&after, 0.5), percentile(&after, 0.99)),
            sweep_gap: (
                percentile(&gaps, 0.5),
                gaps.last().copied().unwrap_or(f64::NAN),
            ),
            sweeps: sweeps.len(),
        }
    });
    sim.shutdown().await;
    pool.close().await;
    watch.close().await;
    Outcome {
        calls_per_job_minute: tracking_calls as f64 / n as f64 / (tracking_secs / 60.0),
        lag_p50: percentile(&lags, 0.5),
        lag_p99: percentile(&lags, 0.99),
        tracking_secs,
        bedrock_calls,
        lag_parts,
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let job_secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    // A third argument `ferry` measures Ferry alone (no baseline, no ratios).
    let ferry_only = args.next().as_deref() == Some("ferry");
    let master = std::env::var("DATABASE_URL").expect("set DATABASE_URL to a Postgres server");
    println!("tracking {n} import jobs of {job_secs}s each with 3 replicas against ferry sim");
    let baseline = if ferry_only {
        Outcome {
            calls_per_job_minute: f64::NAN,
            lag_p50: f64::NAN,
            lag_p99: f64::NAN,
            tracking_secs: f64::NAN,
            bedrock_calls: BTreeMap::new(),
            lag_parts: None,
        }
    } else {
        run(&master, "baseline", n, job_secs, usize::MAX).await
    };
    let ferry = run(
        &master,
        "ferry",
        n,
        job_secs,
        ferry_worker::Settings::default().list_threshold,
    )
    .await;
    println!();
    println!(
        "{:<34} {:>12} {:>12} {:>10}",
        "", "baseline", "ferry", "ratio"
    );
    let row =
        |name: &str, b: f64, f: f64| println!("{name:<34} {b:>12.3} {f:>12.3} {:>10.3}", f / b);
    row(
        "Bedrock calls per job per minute",
        baseline.calls_per_job_minute,
        ferry.calls_per_job_minute,
    );
    // The floor: one ListModelImportJobs page (1,000 jobs) per environment
    // (all jobs are in dev) per poll interval.
    let floor = 60.0 / POLL_INITIAL.as_secs_f64() * n.div_ceil(1000) as f64 / n as f64;
    println!(
        "{:<34} {:>12} {:>12.3} {:>10.2}  (ferry / floor; target <= 2)",
        "floor: one page per env per poll",
        "",
        floor,
        ferry.calls_per_job_minute / floor
    );
    println!(
        "{:<34} {:>12} {:>12.3}  (target <= {:.1})",
        "ferry lag p99 / poll interval",
        "",
        ferry.lag_p99 / POLL_INITIAL.as_secs_f64(),
        1.0
    );
    row("completion lag p50 (s)", baseline.lag_p50, ferry.lag_p50);
    row("completion lag p99 (s)", baseline.lag_p99, ferry.lag_p99);
    row(
        "tracking phase (s)",
        baseline.tracking_secs,
        ferry.tracking_secs,
    );
    if let Some(p) = &ferry.lag_parts {
        println!(
            "\nwhere Ferry's lag goes ({} sweeps seen): job end -> next sweep p50 {:.1} s, p99 {:.1} s; \
             that sweep -> completion recorded p50 {:.1} s, p99 {:.1} s; gap between sweeps p50 {:.1} s, max {:.1} s",
            p.sweeps,
            p.to_sweep.0,
            p.to_sweep.1,
            p.sweep_to_recorded.0,
            p.sweep_to_recorded.1,
            p.sweep_gap.0,
            p.sweep_gap.1
        );
    }
    println!(
        "\nBedrock calls by operation: baseline {:?}\n                            ferry    {:?}",
        baseline.bedrock_calls, ferry.bedrock_calls
    );
    println!("every request was submitted exactly once in both runs");
}
