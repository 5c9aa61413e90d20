//! Ferry against Bedrock's real answers to CreateModelImportJob: a job name in use
//! (`ValidationException` "The provided job name is currently in use.", aws/sagemaker-python-sdk
//! PR 6076).

use ferry_domain::bedrock::{ClientRequestToken, ImportedModelName};
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
