use ferry_domain::events::EventKind;
use ferry_domain::status::{Cause, Status};
use ferry_domain::update::{Actor, Event, Update};
use ferry_sim::{ChainBreak, FaultConfig};

use crate::support::{ONE, Pipeline, quick_jobs};

#[sqlx::test(migrations = "../migrations")]
async fn a_valid_request_goes_all_the_way_to_completed(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool, quick_jobs()).await;
    let ctx = p.ctx("w1", ONE).await;
    let id = p
        .submit("research", "dev", &p.sample.clone(), "sample-llama")
        .await;
    let done = p.drive(&ctx, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Completed, "{:?}", done.failure_message);
    let model = done.imported_model_arn.clone().unwrap();
    assert!(
        model.starts_with("arn:aws:bedrock:us-east-1:777788889999:imported-model/"),
        "{model}"
    );
    assert!(done.bedrock_job_arn.unwrap().contains(":model-import-job/"));
    assert_eq!(done.preflight_passed, Some(true));
    let report = done.preflight.unwrap();
    assert!(
        report["checked_as"]
            .as_str()
            .unwrap()
            .contains("BedrockCMIExecutionRole"),
        "{report}"
    );
    let details = done.imported_model.unwrap();
    assert_eq!(details["model_arn"], model.as_str());

    let statuses: Vec<Status> = p
        .events(id)
        .await
        .into_iter()
        .filter_map(|(_, to)| to)
        .collect();
    assert_eq!(
        statuses,
        vec![
            Status::Queued,
            Status::Validating,
            Status::Submitting,
            Status::Importing,
            Status::Verifying,
            Status::Completed
        ]
    );
    let kinds: Vec<String> = p.events(id).await.into_iter().map(|(k, _)| k).collect();
    assert!(kinds.contains(&"preflight_passed".to_owned()), "{kinds:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn artifact_problems_fail_at_preflight_without_a_bedrock_job(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool, quick_jobs()).await;
    let ctx = p.ctx("w1", ONE).await;
    // Variants of the sample model uploaded by the research account.
    let s3 = crate::support::research_s3(&p).await;
    let bucket = "model-artifacts-111122223333";
    let sample_key = p
        .sample
        .trim_start_matches(&format!("s3://{bucket}/"))
        .to_owned();
    let variants = crate::support::variants(&s3, bucket, &sample_key).await;
    let mut ids = vec![];
    for (name, prefix, expect) in &variants {
        let id = p
            .submit("research", "dev", &format!("s3://{bucket}/{prefix}"), name)
            .await;
        ids.push((id, *expect));
    }
    let all: Vec<_> = ids.iter().map(|(id, _)| *id).collect();
    let done = p.drive(&ctx, &all).await;
    for (record, (_, expect)) in done.iter().zip(&ids) {
        assert_eq!(record.status, Status::Failed, "{}", record.model_name);
        let message = record.failure_message.clone().unwrap();
        assert!(message.contains(expect), "{}: {message}", record.model_name);
        assert!(record.bedrock_job_arn.is_none());
    }
    let jobs = ctx
        .cloud
        .list_import_jobs(&"dev".parse().unwrap(), time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap();
    assert!(jobs.is_empty(), "no Bedrock job was started: {jobs:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn each_broken_step_of_the_chain_is_named_by_the_preflight(pool: ferry_store::PgPool) {
    let cases = [
        (ChainBreak::BucketPolicy, "bucket_policy"),
        (
            ChainBreak::IdentityS3Statement,
            "execution_role_identity_policy",
        ),
        (ChainBreak::ResearchKeyPolicyStatement, "source_key_policy"),
    ];
    for (step, expect) in cases {
        let p = Pipeline::start(pool.clone(), quick_jobs()).await;
        p.sim.break_chain(step).unwrap();
        let ctx = p.ctx("w1", ONE).await;
        let id = p
            .submit("research", "dev", &p.sample.clone(), "sample-llama")
            .await;
        let done = p.drive(&ctx, &[id]).await.remove(0);
        assert_eq!(done.status, Status::Failed, "{step:?}");
        let report = done.preflight.unwrap();
        let steps: Vec<&str> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["chain_step"].as_str())
            .collect();
        assert!(steps.contains(&expect), "{step:?}: {report}");
    }
}

/// Bedrock can still fail a job after a clean preflight (here: the
/// artifacts vanish while it runs); Ferry records Bedrock's failureMessage.
#[sqlx::test(migrations = "../migrations")]
async fn a_job_bedrock_fails_records_its_failure_message(pool: ferry_store::PgPool) {
    // The job must still be running when the test removes its artifacts: a
    // job of a few seconds leaves room for that on a busy machine.
    let p = Pipeline::start(
        pool,
        FaultConfig {
            job_duration_ms: 5_000,
            ..FaultConfig::default()
        },
    )
    .await;
    let ctx = p.ctx("w1", ONE).await;
    let s3 = crate::support::research_s3(&p).await;
    let bucket = "model-artifacts-111122223333";
    let copy = crate::support::vision_copy(&p).await;
    let prefix = copy
        .trim_start_matches(&format!("s3://{bucket}/"))
        .to_owned();
    let id = p.submit("vision", "dev", &copy, "vanishing").await;
    for _ in 0..200 {
        ferry_worker::activate(&ctx).await.unwrap();
        if p.get(id).await.status == Status::Importing {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(p.get(id).await.status, Status::Importing);
    s3.delete_object()
        .bucket(bucket)
        .key(format!("{prefix}config.json"))
        .send()
        .await
        .unwrap();
    let done = p.drive(&ctx, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Failed);
    let message = done.failure_message.unwrap();
    assert!(message.contains("config.json"), "{message}");
    assert!(done.bedrock_job_arn.is_some());
    let kinds: Vec<String> = p.events(id).await.into_iter().map(|(k, _)| k).collect();
    assert!(kinds.contains(&"job_failed".to_owned()), "{kinds:?}");
}

/// An S3 outage during preflight says nothing about the request: it is
/// checked again once S3 answers, not failed.
#[sqlx::test(migrations = "../migrations")]
async fn a_transient_outage_during_preflight_retries_instead_of_failing(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool, crate::support::quick_jobs()).await;
    let outage = ferry_sim::FaultRule {
        error_rate: 1.0,
        ..ferry_sim::FaultRule::default()
    };
    p.sim.faults().set_rule("s3:*", Some(outage));
    let ctx = p.ctx("w1", ONE).await;
    let id = p
        .submit("research", "dev", &p.sample.clone(), "sample-llama")
        .await;
    for _ in 0..5 {
        ferry_worker::activate(&ctx).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let waiting = p.get(id).await;
    assert_eq!(
        waiting.status,
        Status::Validating,
        "{:?}",
        waiting.failure_message
    );
    assert!(waiting.retries > 0);
    p.sim.faults().set_rule("s3:*", None);
    let done = p.drive(&ctx, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Completed, "{:?}", done.failure_message);
}

/// Without `iam:PassRole` on the execution role, Bedrock refuses the job:
/// the request fails with AWS's message and the statement to add, at once.
#[sqlx::test(migrations = "../migrations")]
async fn a_missing_pass_role_fails_the_request_with_the_fix(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool, crate::support::quick_jobs()).await;
    p.sim.break_chain(ChainBreak::PassRole).unwrap();
    let ctx = p.ctx("w1", ONE).await;
    let id = p
        .submit("research", "dev", &p.sample.clone(), "sample-llama")
        .await;
    let done = p.drive(&ctx, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Failed);
    let message = done.failure_message.unwrap();
    assert!(message.contains("iam:PassRole"), "{message}");
    assert!(message.contains("Fix:"), "{message}");
    assert!(done.bedrock_job_arn.is_none());
}

/// A prod request waits for approval (the worker leaves it alone), then runs
/// once approved, with the hosting account's key for the imported model.
#[sqlx::test(migrations = "../migrations")]
async fn a_prod_request_waits_for_approval_then_runs(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool, crate::support::quick_jobs()).await;
    let ctx = p.ctx("w1", ONE).await;
    let id = p
        .submit("research", "prod", &p.sample.clone(), "sample-llama")
        .await;
    for _ in 0..5 {
        ferry_worker::activate(&ctx).await.unwrap();
    }
    assert_eq!(p.get(id).await.status, Status::PendingApproval);
    let mut conn = p.pool.acquire().await.unwrap();
    let approve = Update::new(id, Actor::new("token:hosting-lead", "hosting-lead"))
        .to(Cause::Approve, Status::Queued)
        .event(Event::new(EventKind::Approved, serde_json::json!({})));
    ferry_store::imports::update(&mut conn, &approve)
        .await
        .unwrap();
    drop(conn);
    let done = p.drive(&ctx, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Completed, "{:?}", done.failure_message);
    let details = done.imported_model.unwrap();
    assert!(
        details["kms_key_arn"]
            .as_str()
            .unwrap_or_default()
            .contains("777788889999"),
        "{details}"
    );
}

/// Imported models bill storage until deleted: the hosting team deletes one
/// through Ferry and Bedrock no longer has it.
#[sqlx::test(migrations = "../migrations")]
async fn an_imported_model_is_deleted_in_bedrock(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool, crate::support::quick_jobs()).await;
    let ctx = p.ctx("w1", ONE).await;
    let id = p
        .submit("research", "dev", &p.sample.clone(), "sample-llama")
        .await;
    let done = p.drive(&ctx, &[id]).await.remove(0);
    let model = done.imported_model_arn.clone().unwrap();
    let dev: ferry_domain::names::EnvironmentName = "dev".parse().unwrap();
    ctx.cloud.get_imported_model(&dev, &model).await.unwrap();
    let mut conn = p.pool.acquire().await.unwrap();
    let delete = Update::new(id, Actor::new("token:hosting-lead", "hosting-lead"))
        .to(Cause::DeleteModel, Status::Deleting)
        .event(Event::new(
            EventKind::DeleteRequested,
            serde_json::json!({}),
        ));
    ferry_store::imports::update(&mut conn, &delete)
        .await
        .unwrap();
    drop(conn);
    let mut last = p.get(id).await;
    for _ in 0..100 {
        ferry_worker::activate(&ctx).await.unwrap();
        last = p.get(id).await;
        if last.status != Status::Deleting {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(last.status, Status::Deleted);
    assert!(matches!(
        ctx.cloud.get_imported_model(&dev, &model).await,
        Err(ferry_cloud::CallError::NotFound(_))
    ));
    let kinds: Vec<String> = p.events(id).await.into_iter().map(|(k, _)| k).collect();
    assert!(kinds.contains(&"model_deleted".to_owned()), "{kinds:?}");
}

/// The reviewer sees the preflight report before approving.
#[sqlx::test(migrations = "../migrations")]
async fn a_request_waiting_for_approval_gets_a_preflight_report_for_the_reviewer(
    pool: ferry_store::PgPool,
) {
    let p = Pipeline::start(pool, crate::support::quick_jobs()).await;
    let ctx = p.ctx("w1", ONE).await;
    let id = p
        .submit("research", "prod", &p.sample.clone(), "sample-llama")
        .await;
    for _ in 0..20 {
        ferry_worker::activate(&ctx).await.unwrap();
        if p.get(id).await.preflight.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let waiting = p.get(id).await;
    assert_eq!(
        waiting.status,
        Status::PendingApproval,
        "the preflight does not move it"
    );
    let report = waiting.preflight.unwrap();
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["outcome"] != "failed"),
        "{report}"
    );
    let cond = waiting
        .conditions
        .iter()
        .find(|c| c.kind.as_str() == "PreflightPassed")
        .unwrap();
    assert_eq!(cond.reason.as_str(), "AllChecksPassed");
    // It is not checked again and again while it waits.
    let calls = p
        .sim
        .faults()
        .call_counts()
        .get("s3:ListObjectsV2")
        .copied()
        .unwrap_or(0);
    for _ in 0..3 {
        ferry_worker::activate(&ctx).await.unwrap();
    }
    assert_eq!(
        p.sim
            .faults()
            .call_counts()
            .get("s3:ListObjectsV2")
            .copied()
            .unwrap_or(0),
        calls
    );
}

/// Bedrock may one day report a status Ferry does not know: it is recorded
/// as a condition and polling goes on; nothing panics or fails.
#[sqlx::test(migrations = "../migrations")]
async fn an_unknown_job_status_is_recorded_and_tracking_goes_on(pool: ferry_store::PgPool) {
    let p = Pipeline::start(
        pool,
        ferry_sim::FaultConfig {
            job_duration_ms: 60_000,
            reported_status: Some("Stopping".into()),
            ..ferry_sim::FaultConfig::default()
        },
    )
    .await;
    let ctx = p.ctx("w1", ONE).await;
    let id = p
        .submit("research", "dev", &p.sample.clone(), "sample-llama")
        .await;
    let mut seen = None;
    for _ in 0..200 {
        ferry_worker::activate(&ctx).await.unwrap();
        let r = p.get(id).await;
        if let Some(c) = r
            .conditions
            .iter()
            .find(|c| c.kind.as_str() == "JobStatusKnown")
        {
            seen = Some((r.status, c.message.clone()));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, message) = seen.expect("the unknown status was recorded");
    assert_eq!(status, Status::Importing, "still tracked");
    assert!(message.contains("Stopping"), "{message}");
}

/// Saturation is not an outage: with the database up and the worker's pool
/// fully in use, an activation fails as busy (the worker keeps its pace),
/// never as the database being away (the worker's outage pause).
#[sqlx::test(migrations = "../migrations")]
async fn a_saturated_pool_is_busy_for_the_worker_not_an_outage(pool: ferry_store::PgPool) {
    let tiny = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_millis(500))
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let p = Pipeline::start(tiny.clone(), quick_jobs()).await;
    let ctx = p.ctx("w1", ONE).await;
    let held = tiny.acquire().await.unwrap();
    let err = ferry_worker::activate(&ctx).await.unwrap_err();
    assert!(matches!(err, ferry_store::StoreError::Busy), "{err:?}");
    drop(held);
    ferry_worker::activate(&ctx).await.unwrap();
}

/// With several jobs in flight in an environment, tracking is one
/// `ListModelImportJobs` per environment per poll interval, whichever replica
/// sweeps: no job is polled on its own meanwhile, and each completion costs
/// one `GetImportedModel`.
#[sqlx::test(migrations = "../migrations")]
async fn many_jobs_are_tracked_by_one_listing_per_environment_per_interval(
    pool: ferry_store::PgPool,
) {
    let p = Pipeline::start(
        pool,
        FaultConfig {
            job_duration_ms: 3_000,
            max_concurrent_import_jobs: 10,
            max_imported_models: 100,
            ..FaultConfig::default()
        },
    )
    .await;
    let quota = ferry_worker::Quota {
        concurrent_jobs: 10,
        imported_models: 100,
    };
    let replicas = [p.ctx("w1", quota).await, p.ctx("w2", quota).await];
    let interval = replicas[0].settings.poll.initial;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            p.submit("research", "dev", &p.sample.clone(), &format!("many-{i}"))
                .await,
        );
    }
    let calls = |op: &str| p.sim.faults().call_counts().get(op).copied().unwrap_or(0);
    let listed = || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT count(*) >= 3 AND coalesce(bool_or(s.listing_until > now()), false) FROM tracking_sweeps s
             JOIN import_requests r ON r.environment = s.environment AND r.status = 'importing'
             WHERE s.environment = 'dev'",
        )
        .fetch_one(&p.pool)
        .await
        .unwrap()
    };
    let mut swept_rounds = 0;
    let mut first_listing: Option<(std::time::Instant, u64)> = None;
    let mut done = false;
    for _ in 0..1000 {
        let before = listed().await.then(|| calls("bedrock:GetModelImportJob"));
        for ctx in &replicas {
            ferry_worker::activate(ctx).await.unwrap();
        }
        if let Some(gets) = before
            && listed().await
        {
            swept_rounds += 1;
            assert_eq!(
                calls("bedrock:GetModelImportJob"),
                gets,
                "a job was polled on its own while its environment was listed"
            );
        }
        if first_listing.is_none() && calls("bedrock:ListModelImportJobs") > 0 {
            first_listing = Some((
                std::time::Instant::now(),
                calls("bedrock:ListModelImportJobs"),
            ));
        }
        let mut all = true;
        for id in &ids {
            all &= p.get(*id).await.status == Status::Completed;
        }
        if all {
            done = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(done, "the imports did not all complete");
    assert!(
        swept_rounds > 0,
        "the environment was never tracked by listing"
    );
    // Each interval's sweep goes to one replica: at most one listing per
    // interval since the first (a slow machine only makes fewer).
    let (since, at_first) = first_listing.unwrap();
    let intervals = since.elapsed().as_secs_f64() / interval.as_secs_f64();
    let lists = calls("bedrock:ListModelImportJobs") - at_first;
    assert!(
        lists as f64 <= intervals.ceil() + 1.0,
        "{lists} listings in {intervals:.1} intervals"
    );
    assert_eq!(
        calls("bedrock:GetImportedModel"),
        6,
        "one GetImportedModel per completion"
    );
}
