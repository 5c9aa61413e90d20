use std::collections::BTreeSet;

use ferry_domain::status::Status;
use ferry_sim::{FaultConfig, FaultRule};
use ferry_store::work::{Quota, claim_due};

use crate::support::{ONE, Pipeline, quick_jobs};

/// The state a worker leaves when it dies right after `CreateModelImportJob`
/// returned and before it wrote the job ARN: the request is `submitting`, the
/// job exists in Bedrock, the dead worker's lease is still on the row.
#[sqlx::test(migrations = "../migrations")]
async fn a_worker_dying_after_create_leaves_exactly_one_job(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool, quick_jobs()).await;
    let id = p
        .submit("research", "dev", &p.sample.clone(), "sample-llama")
        .await;
    let doomed = p.ctx("doomed", ONE).await;
    // Preflight and admission as usual.
    for _ in 0..100 {
        ferry_worker::activate(&doomed).await.unwrap();
        if p.get(id).await.status == Status::Submitting {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The doomed worker claims the submission and makes the call...
    let mut conn = p.pool.acquire().await.unwrap();
    let claimed = claim_due(&mut conn, "doomed", time::Duration::milliseconds(300), 1)
        .await
        .unwrap();
    let record = claimed.into_iter().next().unwrap();
    assert_eq!(record.status, Status::Submitting);
    let env = p.catalog.environment("dev").unwrap();
    let job = ferry_worker::create_job_request(&record, env).unwrap();
    let first_arn = doomed
        .cloud
        .create_import_job(&"dev".parse().unwrap(), &job)
        .await
        .unwrap();
    // ...and dies before writing anything. Another replica takes over once the lease expires.
    drop(doomed);
    let survivor = p.ctx("survivor", ONE).await;
    let done = p.drive(&survivor, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Completed, "{:?}", done.failure_message);
    assert_eq!(
        done.bedrock_job_arn.as_deref(),
        Some(first_arn.as_str()),
        "the same job, not a second one"
    );
    let jobs = survivor
        .cloud
        .list_import_jobs(&"dev".parse().unwrap(), time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn three_replicas_submit_each_of_200_requests_exactly_once(pool: ferry_store::PgPool) {
    let faults = FaultConfig {
        job_duration_ms: 200,
        max_concurrent_import_jobs: 10_000,
        max_imported_models: 10_000,
        ..FaultConfig::default()
    };
    let p = Pipeline::start(pool, faults).await;
    let quota = Quota {
        concurrent_jobs: 10_000,
        imported_models: 10_000,
    };
    let mut ids = Vec::new();
    for i in 0..200 {
        let team = if i % 2 == 0 { "research" } else { "vision" };
        let source = if team == "vision" {
            crate::support::vision_copy(&p).await
        } else {
            p.sample.clone()
        };
        ids.push(p.submit(team, "dev", &source, &format!("model-{i}")).await);
    }
    let mut workers = Vec::new();
    for w in 0..3 {
        workers.push(p.spawn_worker(p.ctx(&format!("replica-{w}"), quota).await));
    }
    let done = p.wait_finished(&ids, 1500).await;
    for (stop, handle) in workers {
        stop.cancel();
        handle.await.unwrap();
    }
    let failed: Vec<_> = done
        .iter()
        .filter(|r| r.status != Status::Completed)
        .map(|r| (&r.model_name, &r.failure_message))
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    let arns: BTreeSet<_> = done
        .iter()
        .map(|r| r.bedrock_job_arn.clone().unwrap())
        .collect();
    assert_eq!(arns.len(), 200, "one distinct job per request");
    let ctx = p.ctx("auditor", quota).await;
    let jobs = ctx
        .cloud
        .list_import_jobs(&"dev".parse().unwrap(), time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 200, "Bedrock saw exactly 200 jobs");
    let leased: i64 =
        sqlx::query_scalar("SELECT count(*) FROM import_requests WHERE lease_owner IS NOT NULL")
            .fetch_one(&p.pool)
            .await
            .unwrap();
    assert_eq!(leased, 0, "stopped workers released their leases");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_throttling_storm_delays_but_never_fails_requests(pool: ferry_store::PgPool) {
    let faults = FaultConfig {
        job_duration_ms: 200,
        max_concurrent_import_jobs: 100,
        max_imported_models: 100,
        ..FaultConfig::default()
    };
    let p = Pipeline::start(pool, faults).await;
    let storm = FaultRule {
        throttle_tps: Some(2),
        ..FaultRule::default()
    };
    p.sim.faults().set_rule("bedrock:*", Some(storm));
    let quota = Quota {
        concurrent_jobs: 100,
        imported_models: 100,
    };
    let ctx = p.ctx("w1", quota).await;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(
            p.submit("research", "dev", &p.sample.clone(), &format!("storm-{i}"))
                .await,
        );
    }
    let done = p.drive(&ctx, &ids).await;
    for r in &done {
        assert_eq!(r.status, Status::Completed, "{:?}", r.failure_message);
    }
    let creates = p.sim.faults().call_counts()["bedrock:CreateModelImportJob"];
    assert!(
        creates > 8,
        "the storm throttled some creates, which were retried: {creates} calls"
    );
}
