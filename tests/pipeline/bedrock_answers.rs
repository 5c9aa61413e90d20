//! Ferry against Bedrock's real answers to CreateModelImportJob: a job name in use
//! (`ValidationException` "The provided job name is currently in use.", aws/sagemaker-python-sdk
//! PR 6076), and a role it cannot use yet (`ValidationException` "The provided role ARN is
//! invalid." while IAM propagates a change).

use ferry_domain::bedrock::{ClientRequestToken, ImportedModelName};
use ferry_domain::condition::{ConditionStatus, ConditionType, Reason};
use ferry_domain::status::Status;
use ferry_worker::create_job_request;

use crate::support::{ONE, Pipeline, quick_jobs};

/// The job name is in use by the job this request asks for (the create took effect, its
/// answer was lost, and Bedrock no longer matches the client request token): Ferry finds
/// the job by name and carries on with it instead of failing or starting another.
#[sqlx::test(migrations = "../migrations")]
async fn a_job_name_in_use_by_the_requests_own_job_carries_on_with_that_job(
    pool: ferry_store::PgPool,
) {
    let p = Pipeline::start(pool, quick_jobs()).await;
    let id = p
        .submit("research", "dev", &p.sample.clone(), "sample-llama")
        .await;
    let record = p.get(id).await;
    let env = p.catalog.environment("dev").unwrap();
    let mut job = create_job_request(&record, env);
    job.client_request_token = ClientRequestToken::parse("another-token-1").unwrap();
    let ctx = p.ctx("w1", ONE).await;
    let first_arn = ctx
        .cloud
        .create_import_job(&"dev".parse().unwrap(), &job)
        .await
        .unwrap();

    let done = p.drive(&ctx, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Completed, "{:?}", done.failure_message);
    assert_eq!(done.bedrock_job_arn.as_deref(), Some(first_arn.as_str()));
    let jobs = ctx
        .cloud
        .list_import_jobs(&"dev".parse().unwrap(), time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
}

/// The job name belongs to another job: the request fails at once, with Bedrock's message
/// as it came and what to do.
#[sqlx::test(migrations = "../migrations")]
async fn a_job_name_in_use_by_another_job_fails_with_the_fix(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool, quick_jobs()).await;
    let id = p
        .submit("research", "dev", &p.sample.clone(), "sample-llama")
        .await;
    let record = p.get(id).await;
    let env = p.catalog.environment("dev").unwrap();
    let mut other = create_job_request(&record, env);
    other.client_request_token = ClientRequestToken::parse("someone-else-1").unwrap();
    other.model_name = ImportedModelName::parse("someone-elses-model").unwrap();
    let ctx = p.ctx("w1", ONE).await;
    let other_arn = ctx
        .cloud
        .create_import_job(&"dev".parse().unwrap(), &other)
        .await
        .unwrap();

    let done = p.drive(&ctx, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Failed);
    let message = done.failure_message.unwrap();
    assert!(
        message.contains("ValidationException: The provided job name is currently in use."),
        "{message}"
    );
    assert!(message.contains(&other_arn), "{message}");
    assert!(message.contains("another job_name"), "{message}");
    assert!(done.bedrock_job_arn.is_none());
}

/// Rewrites the execution role's trust policy through IAM with the walkthrough's own document,
/// as applying the policy kit does: IAM now holds the right trust, but with the sim's
/// `iam_propagation_ms` fault Bedrock does not see it yet.
async fn apply_trust_through_iam(p: &Pipeline) {
    let scenario = ferry_sim::Scenario::walkthrough();
    let role = scenario
        .roles
        .iter()
        .find(|r| r.name == ferry_sim::EXECUTION_ROLE_NAME)
        .unwrap();
    ferry_sim::sdk::iam(&ferry_sim::sdk::config_for(&p.sim, "hosting-admin"))
        .update_assume_role_policy()
        .role_name(ferry_sim::EXECUTION_ROLE_NAME)
        .policy_document(role.trust_policy.to_string())
        .send()
        .await
        .unwrap();
}

fn role_condition(r: &ferry_store::imports::ImportRecord) -> Option<(ConditionStatus, Reason)> {
    r.conditions
        .iter()
        .find(|c| c.kind == ConditionType::ExecutionRoleAccepted)
        .map(|c| (c.status, c.reason))
}

/// Bedrock refuses the execution role right after its trust policy was applied (IAM still
/// propagating): the request waits, saying why, and completes once the change has landed
/// instead of failing.
#[sqlx::test(migrations = "../migrations")]
async fn a_role_refused_while_iam_propagates_waits_then_completes(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool, quick_jobs()).await;
    p.sim.faults().update(|f| f.iam_propagation_ms = 600_000);
    apply_trust_through_iam(&p).await;
    let ctx = p.ctx("w1", ONE).await;
    let id = p
        .submit("research", "dev", &p.sample.clone(), "sample-llama")
        .await;
    // Bounded poll until the worker says it waits for IAM.
    let mut waiting = None;
    for _ in 0..400 {
        ferry_worker::activate(&ctx).await.unwrap();
        let r = p.get(id).await;
        if role_condition(&r).is_some() {
            waiting = Some(r);
            break;
        }
        assert_ne!(r.status, Status::Failed, "{:?}", r.failure_message);
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let waiting = waiting.expect("the worker never reported the wait");
    assert_eq!(waiting.status, Status::Submitting);
    assert_eq!(
        role_condition(&waiting),
        Some((ConditionStatus::False, Reason::WaitingForIamPropagation))
    );
    let why = &waiting
        .conditions
        .iter()
        .find(|c| c.kind == ConditionType::ExecutionRoleAccepted)
        .unwrap()
        .message;
    assert!(why.contains("The provided role ARN is invalid."), "{why}");
    assert!(why.contains("propagate"), "{why}");
    // The change lands (the sim's clock passes the propagation delay).
    p.sim.advance_clock(std::time::Duration::from_secs(601));
    let done = p.drive(&ctx, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Completed, "{:?}", done.failure_message);
    assert_eq!(
        role_condition(&done),
        Some((ConditionStatus::True, Reason::RoleAccepted))
    );
}

/// Past the configured window the request fails, with Bedrock's message as it came and the fix.
#[sqlx::test(migrations = "../migrations")]
async fn a_role_still_refused_after_the_window_fails_with_the_fix(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool, quick_jobs()).await;
    p.sim.faults().update(|f| f.iam_propagation_ms = 600_000);
    apply_trust_through_iam(&p).await;
    let mut ctx = p.ctx("w1", ONE).await;
    ctx.settings.role_propagation_window = std::time::Duration::ZERO;
    let id = p
        .submit("research", "dev", &p.sample.clone(), "sample-llama")
        .await;
    let done = p.drive(&ctx, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Failed);
    let message = done.failure_message.unwrap();
    assert!(
        message.contains("ValidationException: The provided role ARN is invalid."),
        "{message}"
    );
    assert!(message.contains("Fix:"), "{message}");
    assert!(message.contains("bedrock.amazonaws.com"), "{message}");
    assert!(done.bedrock_job_arn.is_none());
}
