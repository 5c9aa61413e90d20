use std::collections::BTreeSet;

use std::collections::BTreeMap;

use ferry_domain::auth::{Principal, Role};
use ferry_domain::bedrock::VpcSettings;
use ferry_domain::catalog::Environment;
use ferry_domain::condition::{Condition, ConditionStatus, ConditionType, Reason};
use ferry_domain::events::EventKind;
use ferry_domain::import::{ImportDraft, NewImport};
use ferry_domain::names::TeamName;
use ferry_domain::status::{Cause, Status};
use ferry_domain::update::{Actor, Changes, Event, Update};
use ferry_e2e::example_catalog;
use ferry_sim::{FaultConfig, FaultRule};
use ferry_store::imports;
use ferry_store::work::claim_due;
use ferry_worker::{Quota, create_job_request};

use crate::support::{ONE, Pipeline, quick_jobs};

/// The `CreateModelImportJob` request a replica builds from the row it reads
/// is the one any other replica builds from the same row read later, after
/// unrelated changes, and it carries what the API accepted.
#[sqlx::test(migrations = "../migrations")]
async fn the_create_request_is_the_same_on_every_replica(pool: ferry_store::PgPool) {
    let catalog = example_catalog();
    let principal = Principal {
        id: "token:research".into(),
        name: "research-researcher".into(),
        role: Role::Researcher,
        team: Some(TeamName::parse("research").unwrap()),
    };
    let draft = ImportDraft {
        source: "s3://model-artifacts-111122223333/m/".into(),
        environment: "dev".into(),
        model_name: "m1".into(),
        model_tags: BTreeMap::from([("owner".into(), "alice".into())]),
        ..ImportDraft::default()
    };
    let new = NewImport::from_draft(&draft, &principal, &catalog).unwrap();
    let env = Environment {
        vpc: Some(VpcSettings::new(vec!["subnet-1".into()], vec!["sg-1".into()]).unwrap()),
        ..catalog.environment("dev").unwrap().clone()
    };
    let mut conn = pool.acquire().await.unwrap();
    imports::insert(&mut conn, &new, &principal.id)
        .await
        .unwrap();
    // One replica claims the row and builds the request...
    let claimed = claim_due(&mut conn, "replica-1", time::Duration::seconds(60), 1)
        .await
        .unwrap()
        .remove(0);
    let a = create_job_request(&claimed, &env);
    // ...the row changes in ways that do not concern the job...
    let unrelated = Update::new(new.id, Actor::worker())
        .leased_by("replica-1")
        .condition(Condition::new(
            ConditionType::JobSubmitted,
            ConditionStatus::False,
            Reason::Throttled,
            "will retry",
        ))
        .changes(Changes {
            retries: Some(3),
            release: true,
            ..Changes::default()
        });
    imports::update(&mut conn, &unrelated).await.unwrap();
    // ...and another replica rebuilds it from the row as Postgres has it now.
    let reread = imports::get(&mut conn, new.id).await.unwrap();
    let b = create_job_request(&reread, &env);
    assert_eq!(a, b, "rebuilt identically");
    assert_eq!(
        (&b.job_name, &b.model_name, &b.source),
        (&new.job_name, &new.model_name, &new.source),
        "what the API accepted"
    );
    assert_eq!(
        a.client_request_token.as_str(),
        format!("ferry-{}-1", new.id.simple())
    );
    assert_eq!(a.vpc.unwrap().subnet_ids, vec!["subnet-1"]);
    let keys: Vec<&str> = a.model_tags.iter().map(|t| t.key.as_str()).collect();
    assert!(
        keys.contains(&"owner") && keys.contains(&"ferry:request-id"),
        "{keys:?}"
    );
    // A retry is a new attempt: a new token, so Bedrock starts a new job.
    for update in [
        Update::new(new.id, Actor::worker()).to(Cause::StartPreflight, Status::Validating),
        Update::fail(
            new.id,
            Actor::worker(),
            Cause::PreflightFailed,
            Condition::new(
                ConditionType::PreflightPassed,
                ConditionStatus::False,
                Reason::PreflightFailed,
                "no weights",
            ),
            Event::new(EventKind::PreflightFailed, serde_json::json!({})),
        ),
        Update::new(
            new.id,
            Actor::new("token:research-researcher", "research-researcher"),
        )
        .to(Cause::Retry, Status::Queued)
        .changes(Changes {
            new_attempt: Some(ferry_domain::bedrock::JobName::for_attempt(
                &new.job_name,
                2,
            )),
            ..Changes::default()
        }),
    ] {
        imports::update(&mut conn, &update).await.unwrap();
    }
    let retried = imports::get(&mut conn, new.id).await.unwrap();
    let retry = create_job_request(&retried, &env);
    assert!(retry.client_request_token.as_str().ends_with("-2"));
}

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
    let job = create_job_request(&record, env);
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
