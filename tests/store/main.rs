//! The worker's store primitives against a real Postgres: leases, the
//! scheduler's slots and fairness, the shared call budget.

#![allow(clippy::unwrap_used)]

use ferry_domain::auth::{Principal, Role};
use ferry_domain::import::{ImportDraft, NewImport};
use ferry_domain::names::TeamName;
use ferry_domain::status::Status;
use ferry_domain::update::{Actor, Changes, Update};
use ferry_e2e::example_catalog;
use ferry_store::imports;
use ferry_store::work;
use ferry_store::{PgPool, StoreError};
use ferry_worker::{Admission, Placement, Quota};

fn researcher(team: &str) -> Principal {
    Principal {
        id: format!("token:{team}"),
        name: format!("{team}-researcher"),
        role: Role::Researcher,
        team: Some(TeamName::parse(team).unwrap()),
    }
}

async fn create(pool: &PgPool, team: &str, model: &str) -> NewImport {
    let source = match team {
        "vision" => "s3://model-artifacts-111122223333/vision/m/",
        _ => "s3://model-artifacts-111122223333/m/",
    };
    let draft = ImportDraft {
        source: source.into(),
        environment: "dev".into(),
        model_name: model.into(),
        ..ImportDraft::default()
    };
    let new = NewImport::from_draft(&draft, &researcher(team), &example_catalog()).unwrap();
    let mut conn = pool.acquire().await.unwrap();
    imports::insert(&mut conn, &new, "token:x").await.unwrap();
    new
}

/// Puts a request where the scheduler looks: validating, preflight passed.
async fn mark_waiting(pool: &PgPool, new: &NewImport) {
    sqlx::query(
        "UPDATE import_requests SET status = 'validating', preflight_passed = true WHERE id = $1",
    )
    .bind(new.id.as_uuid())
    .execute(pool)
    .await
    .unwrap();
}

const LEASE: time::Duration = time::Duration::seconds(60);

/// The example catalog's dev placement with `quota`.
fn dev(quota: Quota, refuse_over_model_limit: bool) -> Placement {
    Placement {
        account: "777788889999".parse().unwrap(),
        region: "us-east-1".parse().unwrap(),
        quota,
        refuse_over_model_limit,
        reuse: Default::default(),
    }
}

fn account() -> ferry_domain::aws::AccountId {
    "777788889999".parse().unwrap()
}

fn region() -> ferry_domain::aws::Region {
    "us-east-1".parse().unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_due_request_is_claimed_by_exactly_one_worker(pool: PgPool) {
    for i in 0..10 {
        create(&pool, "research", &format!("m{i}")).await;
    }
    let claims = futures::future::join_all((0..5).map(|w| {
        let pool = pool.clone();
        async move {
            let mut conn = pool.acquire().await.unwrap();
            work::claim_due(&mut conn, &format!("w{w}"), LEASE, 4)
                .await
                .unwrap()
        }
    }))
    .await;
    let mut ids: Vec<_> = claims.iter().flatten().map(|r| r.id).collect();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(total, 10, "every request claimed");
    assert_eq!(ids.len(), 10, "none claimed twice");
    let mut conn = pool.acquire().await.unwrap();
    assert!(
        work::claim_due(&mut conn, "late", LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn an_expired_lease_is_claimed_again_and_the_old_owner_cannot_write(pool: PgPool) {
    let new = create(&pool, "research", "m").await;
    let mut conn = pool.acquire().await.unwrap();
    // A lease long enough that a busy machine still asks again before it ends.
    let claimed = work::claim_due(&mut conn, "dead", time::Duration::seconds(2), 1)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(
        work::claim_due(&mut conn, "other", LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    let again = work::claim_due(&mut conn, "other", LEASE, 1).await.unwrap();
    assert_eq!(again[0].id, new.id);
    let stale = imports::update(
        &mut conn,
        &Update::new(new.id, Actor::worker()).leased_by("dead"),
    )
    .await;
    assert!(matches!(stale, Err(StoreError::LeaseLost)));
    let release = Update::new(new.id, Actor::worker())
        .leased_by("other")
        .changes(Changes {
            release: true,
            ..Changes::default()
        });
    imports::update(&mut conn, &release).await.unwrap();
    assert_eq!(
        work::claim_due(&mut conn, "third", LEASE, 1)
            .await
            .unwrap()
            .len(),
        1,
        "released rows are claimable"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn release_all_hands_rows_back_at_once(pool: PgPool) {
    create(&pool, "research", "a").await;
    create(&pool, "research", "b").await;
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        work::claim_due(&mut conn, "stopping", LEASE, 5)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(work::release_all(&mut conn, "stopping").await.unwrap(), 2);
    assert_eq!(
        work::claim_due(&mut conn, "next", LEASE, 5)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn waiting_requests_are_not_claimed_but_admitted_within_the_quota_in_fair_order(
    pool: PgPool,
) {
    // Team research queues three, then vision one: vision's must not wait for all of research's.
    let r1 = create(&pool, "research", "r1").await;
    let r2 = create(&pool, "research", "r2").await;
    let r3 = create(&pool, "research", "r3").await;
    let v1 = create(&pool, "vision", "v1").await;
    for n in [&r1, &r2, &r3, &v1] {
        mark_waiting(&pool, n).await;
    }
    let mut conn = pool.acquire().await.unwrap();
    assert!(
        work::claim_due(&mut conn, "w", LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "waiting rows belong to the scheduler"
    );
    let line = work::waiting_line(&mut conn, &account(), &region())
        .await
        .unwrap();
    assert_eq!(line, vec![r1.id, v1.id, r2.id, r3.id]);
    let rec = imports::get(&mut conn, r3.id).await.unwrap();
    assert_eq!(
        work::queue_position(&mut conn, &rec).await.unwrap(),
        None,
        "places are stored by the scheduler, not computed on a read"
    );

    let quota = Quota {
        concurrent_jobs: 1,
        imported_models: 10,
    };
    let admitted = ferry_worker::admit(&mut conn, &dev(quota, true))
        .await
        .unwrap();
    assert_eq!(admitted, vec![Admission::Admitted(r1.id)]);
    let mut places = Vec::new();
    for n in [&v1, &r2, &r3] {
        let rec = imports::get(&mut conn, n.id).await.unwrap();
        places.push(work::queue_position(&mut conn, &rec).await.unwrap());
    }
    assert_eq!(
        places,
        vec![Some(1), Some(2), Some(3)],
        "the scheduler stored the places of those left waiting"
    );
    let rec = imports::get(&mut conn, r1.id).await.unwrap();
    assert_eq!(work::queue_position(&mut conn, &rec).await.unwrap(), None);
    // A read and a list item carry the same stored places, in their one query.
    let view = imports::read(&mut conn, r2.id).await.unwrap();
    assert_eq!(view.queue_position, Some(2));
    assert_eq!(view.record, imports::get(&mut conn, r2.id).await.unwrap());
    let page = imports::list(&mut conn, &imports::ListFilter::default(), None, 10)
        .await
        .unwrap();
    let listed: Vec<_> = page.iter().map(|s| (s.id, s.queue_position)).collect();
    assert_eq!(
        listed,
        vec![
            (v1.id, Some(1)),
            (r3.id, Some(3)),
            (r2.id, Some(2)),
            (r1.id, None)
        ]
    );
    assert!(
        ferry_worker::admit(&mut conn, &dev(quota, true))
            .await
            .unwrap()
            .is_empty(),
        "the slot is taken"
    );
    assert_eq!(
        imports::get(&mut conn, r1.id).await.unwrap().status,
        Status::Submitting
    );
    // The job finishes: the next in fair order is vision's.
    sqlx::query(
        "UPDATE import_requests SET status = 'completed', submitted_at = now() WHERE id = $1",
    )
    .bind(r1.id.as_uuid())
    .execute(&pool)
    .await
    .unwrap();
    let line = work::waiting_line(&mut conn, &account(), &region())
        .await
        .unwrap();
    assert_eq!(
        line,
        vec![v1.id, r2.id, r3.id],
        "the team served least recently goes first"
    );
    let admitted = ferry_worker::admit(&mut conn, &dev(quota, true))
        .await
        .unwrap();
    assert_eq!(admitted, vec![Admission::Admitted(v1.id)]);
}

#[sqlx::test(migrations = "../migrations")]
async fn concurrent_schedulers_never_exceed_the_quota(pool: PgPool) {
    for i in 0..6 {
        let n = create(&pool, "research", &format!("m{i}")).await;
        mark_waiting(&pool, &n).await;
    }
    let quota = Quota {
        concurrent_jobs: 2,
        imported_models: 100,
    };
    let rounds = futures::future::join_all((0..6).map(|_| {
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            let a = ferry_worker::admit(&mut tx, &dev(quota, true))
                .await
                .unwrap();
            tx.commit().await.unwrap();
            a.len()
        }
    }))
    .await;
    assert_eq!(rounds.iter().sum::<usize>(), 2);
    let submitting: i64 =
        sqlx::query_scalar("SELECT count(*) FROM import_requests WHERE status = 'submitting'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(submitting, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_imported_model_limit_refuses_or_warns(pool: PgPool) {
    let done = create(&pool, "research", "done").await;
    sqlx::query("UPDATE import_requests SET status = 'completed' WHERE id = $1")
        .bind(done.id.as_uuid())
        .execute(&pool)
        .await
        .unwrap();
    let a = create(&pool, "research", "a").await;
    mark_waiting(&pool, &a).await;
    let quota = Quota {
        concurrent_jobs: 1,
        imported_models: 1,
    };
    let mut conn = pool.acquire().await.unwrap();
    let out = ferry_worker::admit(&mut conn, &dev(quota, true))
        .await
        .unwrap();
    assert_eq!(out, vec![Admission::RefusedOverModelLimit(a.id)]);
    let rec = imports::get(&mut conn, a.id).await.unwrap();
    assert_eq!(rec.status, Status::Failed);
    assert!(
        rec.failure_message
            .unwrap()
            .contains("limit of 1 imported models")
    );

    let b = create(&pool, "research", "b").await;
    mark_waiting(&pool, &b).await;
    let out = ferry_worker::admit(&mut conn, &dev(quota, false))
        .await
        .unwrap();
    assert_eq!(out, vec![Admission::AdmittedOverModelLimit(b.id)]);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_call_budget_is_a_shared_token_bucket(pool: PgPool) {
    let mut conn = pool.acquire().await.unwrap();
    // Refill so slow that it cannot matter during the test.
    let mut taken = 0;
    for _ in 0..8 {
        if work::take_budget(&mut conn, "777788889999", "us-east-1", 0.001, 5.0)
            .await
            .unwrap()
        {
            taken += 1;
        }
    }
    assert_eq!(taken, 5, "a burst of 5, then empty");
    assert!(
        work::take_budget(&mut conn, "111122223333", "us-east-1", 0.001, 5.0)
            .await
            .unwrap(),
        "budgets are per account"
    );
    // A fast refill lets calls through again.
    assert!(
        work::take_budget(&mut conn, "777788889999", "us-east-1", 1000.0, 5.0)
            .await
            .unwrap()
    );
}

/// New requests are told to the workers by a nudge after their commit (a
/// `NOTIFY` in the create's own commit made creates commit one at a time);
/// nudges made together are one notification.
#[sqlx::test(migrations = "../migrations")]
async fn nudges_notify_workers_once_for_a_burst(pool: PgPool) {
    let mut listener =
        ferry_store::notify::Listener::connect(&pool, &[ferry_store::notify::WORK_CHANNEL])
            .await
            .unwrap();
    let nudge = ferry_store::notify::Nudge::start(&pool, std::future::pending());
    create(&pool, "research", "m").await;
    // These run before the sending task does: they leave it one permit.
    for _ in 0..100 {
        nudge.nudge();
    }
    tokio::time::timeout(std::time::Duration::from_secs(5), listener.next())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let more = listener.drain().await;
    assert!(more <= 1, "100 nudges made {} notifications", more + 1);
}

/// Notifications committed together (40 requests created in one statement)
/// wake a waiter once: the worker runs one activation for the burst, and
/// nothing of it is left to wake it again.
#[sqlx::test(migrations = "../migrations")]
async fn a_burst_of_notifications_is_one_wake_up(pool: PgPool) {
    let mut listener =
        ferry_store::notify::Listener::connect(&pool, &[ferry_store::notify::WORK_CHANNEL])
            .await
            .unwrap();
    let burst =
        "SELECT pg_notify('ferry_work', gen_random_uuid()::text) FROM generate_series(1, 40)";
    for _ in 0..2 {
        sqlx::query(burst).execute(&pool).await.unwrap();
        let taken = tokio::time::timeout(std::time::Duration::from_secs(5), listener.next_burst())
            .await
            .unwrap();
        assert_eq!(taken, 40, "the whole burst in one wake-up");
    }
    // A single notification is a wake-up of its own.
    sqlx::query("SELECT pg_notify('ferry_work', 'single')")
        .execute(&pool)
        .await
        .unwrap();
    let taken = tokio::time::timeout(std::time::Duration::from_secs(5), listener.next_burst())
        .await
        .unwrap();
    assert_eq!(taken, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_stored_value_that_no_longer_parses_is_an_error_naming_the_field(pool: PgPool) {
    let bad = create(&pool, "research", "bad").await;
    let good = create(&pool, "research", "good").await;
    // A tag Bedrock would refuse, as a manual edit might leave it.
    sqlx::query(r#"UPDATE import_requests SET model_tags = '{"owner": "a*b"}' WHERE id = $1"#)
        .bind(bad.id.as_uuid())
        .execute(&pool)
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let err = imports::get(&mut conn, bad.id).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.starts_with("model_tags:")),
        "{err}"
    );
    // The worker goes on with the others.
    let claimed = work::claim_due(&mut conn, "w", LEASE, 10).await.unwrap();
    assert_eq!(
        claimed.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![good.id]
    );
}

/// Ferry reaches Postgres over TLS when the URL asks for it (`sslmode=require`), as managed
/// databases demand (RDS for PostgreSQL 15 and later refuses unencrypted connections by
/// default). Debian's PostgreSQL serves TLS with its snakeoil certificate; a private test
/// cluster without TLS must refuse the upgrade instead.
#[tokio::test]
async fn the_database_is_reached_over_tls_when_the_url_asks_for_it() {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test server");
    let plain = ferry_store::connect(&base, 1).await.unwrap();
    let server_tls: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&plain)
        .await
        .unwrap();
    let url = format!(
        "{base}{}sslmode=require",
        if base.contains('?') { '&' } else { '?' }
    );
    match ferry_store::connect(&url, 1).await {
        Ok(pool) => {
            let encrypted: bool =
                sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            assert!(encrypted, "sslmode=require gave an unencrypted connection");
        }
        Err(e) => assert_eq!(
            server_tls, "off",
            "the server offers TLS, yet sslmode=require failed: {e}"
        ),
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn the_metrics_snapshot_reads_statuses_waiting_lines_and_budgets_at_once(pool: PgPool) {
    let queued = create(&pool, "research", "queued").await;
    let waiting = create(&pool, "vision", "waiting").await;
    mark_waiting(&pool, &waiting).await;
    let mut conn = pool.acquire().await.unwrap();
    assert!(
        work::take_budget(&mut conn, "777788889999", "us-east-1", 0.0, 20.0)
            .await
            .unwrap()
    );
    // The queued request entered its status an hour ago.
    sqlx::query(
        "UPDATE import_requests SET status_since = now() - interval '1 hour' WHERE id = $1",
    )
    .bind(queued.id.as_uuid())
    .execute(&pool)
    .await
    .unwrap();

    let snap = ferry_store::stats::snapshot(&mut conn, 0.0, 20.0, &[])
        .await
        .unwrap();
    let status = |s: &str| {
        snap.statuses
            .iter()
            .find(|c| c.status == s && c.environment == "dev")
            .cloned()
            .unwrap_or_else(|| panic!("no {s} row in {snap:?}"))
    };
    assert_eq!(status("queued").requests, 1);
    assert!(status("queued").oldest_age_secs >= 3600.0, "{snap:?}");
    assert_eq!(status("validating").requests, 1);
    assert!(status("validating").oldest_age_secs < 3600.0, "{snap:?}");
    assert_eq!(snap.placements.len(), 1, "{snap:?}");
    let place = &snap.placements[0];
    assert_eq!(
        (place.account.as_str(), place.region.as_str()),
        ("777788889999", "us-east-1")
    );
    assert_eq!(
        (place.waiting, place.jobs_in_flight, place.models),
        (1, 0, 0)
    );
    assert_eq!(snap.budgets.len(), 1);
    assert_eq!(snap.budgets[0].tokens, 19.0, "one token taken, no refill");
    assert_eq!(snap.webhook_backlog, 0);

    // A status change restarts the clock (the trigger); other changes do not.
    sqlx::query("UPDATE import_requests SET status = 'validating' WHERE id = $1")
        .bind(queued.id.as_uuid())
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE import_requests SET status_since = now() - interval '2 hours' WHERE id = $1",
    )
    .bind(waiting.id.as_uuid())
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("UPDATE import_requests SET retries = retries + 1 WHERE id = $1")
        .bind(waiting.id.as_uuid())
        .execute(&pool)
        .await
        .unwrap();
    let snap = ferry_store::stats::snapshot(&mut conn, 0.0, 20.0, &[])
        .await
        .unwrap();
    let validating = snap
        .statuses
        .iter()
        .find(|c| c.status == "validating")
        .unwrap();
    assert_eq!(validating.requests, 2);
    assert!(validating.oldest_age_secs >= 7200.0, "{snap:?}");
    assert!(snap.statuses.iter().all(|c| c.status != "queued"));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_metrics_snapshot_counts_deletion_candidates_per_environment(pool: PgPool) {
    let r = create(&pool, "research", "idle-model").await;
    let arn = "arn:aws:bedrock:us-east-1:777788889999:imported-model/abcdefabcdef";
    sqlx::query(
        "UPDATE import_requests SET status = 'completed', imported_model_arn = $2,
             finished_at = now() - interval '40 days' WHERE id = $1",
    )
    .bind(r.id.as_uuid())
    .bind(arn)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO account_inventories (account, region) VALUES ('777788889999', 'us-east-1')",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO account_models (account, region, model_arn, model_name, managed, request_id)
         VALUES ('777788889999', 'us-east-1', $1, 'idle-model', true, $2)",
    )
    .bind(arn)
    .bind(r.id.as_uuid())
    .execute(&pool)
    .await
    .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let candidates = |days: i32| {
        let limits = vec![("dev".to_owned(), days)];
        let pool = pool.clone();
        async move {
            let mut conn = pool.acquire().await.unwrap();
            ferry_store::stats::snapshot(&mut conn, 0.0, 20.0, &limits)
                .await
                .unwrap()
                .deletion_candidates
        }
    };
    assert_eq!(
        candidates(30).await,
        vec![("dev".to_owned(), 1)],
        "never invoked, imported 40 days ago"
    );
    assert!(candidates(60).await.is_empty());
    let none = ferry_store::stats::snapshot(&mut conn, 0.0, 20.0, &[])
        .await
        .unwrap();
    assert!(none.deletion_candidates.is_empty(), "no limit configured");
    sqlx::query("UPDATE account_models SET last_invoked_at = now() - interval '1 day'")
        .execute(&pool)
        .await
        .unwrap();
    assert!(
        candidates(30).await.is_empty(),
        "invoked yesterday: not idle"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn claiming_a_request_whose_lease_ran_out_counts_a_takeover(pool: PgPool) {
    // This test binary's process is the test's own (nextest): the global recorder is ours.
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let takeovers = || {
        metrics
            .render()
            .lines()
            .find_map(|l| l.strip_prefix("ferry_lease_takeovers_total "))
            .map(|v| v.trim().parse::<f64>().unwrap())
    };
    let new = create(&pool, "research", "m").await;
    let mut conn = pool.acquire().await.unwrap();
    work::claim_due(&mut conn, "dead", time::Duration::milliseconds(50), 1)
        .await
        .unwrap();
    assert_eq!(takeovers(), None, "a first claim takes nothing over");
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    let again = work::claim_due(&mut conn, "other", LEASE, 1).await.unwrap();
    assert_eq!(again[0].id, new.id);
    assert_eq!(takeovers(), Some(1.0));
    // A request its worker released is not taken over.
    let release = Update::new(new.id, Actor::worker())
        .leased_by("other")
        .changes(Changes {
            release: true,
            ..Changes::default()
        });
    imports::update(&mut conn, &release).await.unwrap();
    assert_eq!(
        work::claim_due(&mut conn, "third", LEASE, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(takeovers(), Some(1.0));
}

/// Puts a request where tracking looks: `importing`, with a job, due.
async fn mark_importing(pool: &PgPool, new: &NewImport) {
    sqlx::query(
        "UPDATE import_requests SET status = 'importing', bedrock_job_arn = 'arn:aws:bedrock:us-east-1:777788889999:model-import-job/' || left(md5(id::text), 12), submitted_at = now(), next_attempt_at = now() WHERE id = $1",
    )
    .bind(new.id.as_uuid())
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn a_tracking_sweep_goes_to_one_replica_per_interval_and_holds_its_jobs_from_per_job_polling(
    pool: PgPool,
) {
    let mut jobs = Vec::new();
    for i in 0..4 {
        let n = create(&pool, "research", &format!("t{i}")).await;
        mark_importing(&pool, &n).await;
        jobs.push(n.id);
    }
    let envs = ["dev", "staging", "prod"];
    let interval = std::time::Duration::from_secs(3600);
    let mut conn = pool.acquire().await.unwrap();
    // The first call seeds the environments' rows.
    work::claim_sweeps(&mut conn, &envs, "seed", interval)
        .await
        .unwrap();
    let won = futures::future::join_all((0..4).map(|w| {
        let pool = pool.clone();
        async move {
            let mut conn = pool.acquire().await.unwrap();
            work::claim_sweeps(&mut conn, &envs, &format!("w{w}"), interval)
                .await
                .unwrap()
        }
    }))
    .await;
    let winners: Vec<_> = won.iter().filter(|w| !w.is_empty()).collect();
    assert_eq!(
        winners,
        vec![&vec!["dev".to_owned()]],
        "one replica, only the environment with jobs"
    );
    assert!(
        work::claim_sweeps(&mut conn, &envs, "w9", interval)
            .await
            .unwrap()
            .is_empty(),
        "not again within the interval"
    );
    let mut tracked: Vec<_> = work::importing(&mut conn, "dev")
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    tracked.sort();
    let mut want = jobs.clone();
    want.sort();
    assert_eq!(tracked, want);

    // While the environment is tracked by listing, its jobs are not claimed one by one...
    let until = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
    work::set_listing(&mut conn, "dev", Some(until))
        .await
        .unwrap();
    assert!(
        work::claim_due(&mut conn, "w", LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // ...the sweep claims those whose job ended, unless a live lease holds them...
    let ended = work::claim_importing(&mut conn, "w1", LEASE, &jobs[..2])
        .await
        .unwrap();
    assert_eq!(ended.len(), 2);
    assert!(
        work::claim_importing(&mut conn, "w2", LEASE, &jobs[..2])
            .await
            .unwrap()
            .is_empty()
    );
    // ...and without listing they are polled one by one again.
    work::set_listing(&mut conn, "dev", None).await.unwrap();
    let due: Vec<_> = work::claim_due(&mut conn, "w", LEASE, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(due.len(), 2);
    assert!(due.iter().all(|id| jobs[2..].contains(id)));
}
