//! `submitting`: the `CreateModelImportJob` call, rebuilt identically by any
//! replica so Bedrock starts at most one job per attempt.

use ferry_cloud::{CallError, CreateJob};
use ferry_domain::bedrock::ClientRequestToken;
use ferry_domain::catalog::Environment;
use ferry_domain::condition::{Condition, ConditionStatus, ConditionType, Reason};
use ferry_domain::events::EventKind;
use ferry_domain::import::ferry_tags;
use ferry_domain::status::{Cause, Status};
use ferry_domain::update::{Changes, Event};
use ferry_store::imports::ImportRecord;

use super::{
    StepError, budget, change, fail, later, refusal_message, release, retry_later, soon, write,
};
use crate::Ctx;

/// The client request token of one attempt of one request: the same on every
/// replica and after any crash, so Bedrock can never start a second job.
pub fn client_request_token(record: &ImportRecord) -> ClientRequestToken {
    ClientRequestToken::for_attempt(record.id, record.attempt.unsigned_abs())
}

/// The `CreateModelImportJob` request for one attempt of `record`: the same
/// bytes on every replica and after any crash, so a repeated call with its
/// client request token is recognised by Bedrock as the same job.
pub fn create_job_request(record: &ImportRecord, env: &Environment) -> CreateJob {
    let own = ferry_tags(
        record.id,
        record.team.as_str(),
        &record.requested_by,
        record.source.as_str(),
    );
    let mut job_tags = record.job_tags.clone();
    job_tags.extend(own.iter().cloned());
    let mut model_tags = record.model_tags.clone();
    model_tags.extend(own);
    CreateJob {
        job_name: record.job_name.clone(),
        model_name: record.model_name.clone(),
        role_arn: env.execution_role.clone(),
        source: record.source.clone(),
        client_request_token: client_request_token(record),
        imported_model_kms_key: env.imported_model_kms_key.clone(),
        job_tags,
        model_tags,
        vpc: env.vpc.as_ref().map(|v| ferry_cloud::VpcConfig {
            subnet_ids: v.subnet_ids.clone(),
            security_group_ids: v.security_group_ids.clone(),
        }),
    }
}

pub(super) async fn submit(
    ctx: &Ctx,
    record: &ImportRecord,
    env: &Environment,
) -> Result<(), StepError> {
    let job = create_job_request(record, env);
    if !budget(ctx, env).await? {
        return release(ctx, record, Some(soon())).await;
    }
    match ctx.cloud.create_import_job(&env.name, &job).await {
        Ok(job_arn) => {
            tracing::info!(job_arn = %job_arn, "import job created");
            let update = change(record)
                .to(Cause::JobCreated, Status::Importing)
                .condition(Condition::new(
                    ConditionType::JobSubmitted,
                    ConditionStatus::True,
                    Reason::JobCreated,
                    format!("Bedrock import job {job_arn}"),
                ))
                .changes(Changes {
                    bedrock_job_arn: Some(job_arn.clone()),
                    mark_submitted: true,
                    polls: Some(0),
                    retries: Some(0),
                    next_attempt_at: Some(later(ctx.settings.poll.delay(1, rand::random()))),
                    release: true,
                    ..Changes::default()
                })
                .event(Event::new(
                    EventKind::JobCreated,
                    serde_json::json!({ "job_arn": job_arn }),
                ));
            write(ctx, record, update).await
        }
        Err(e) if e.is_retryable() => {
            let reason = match &e {
                CallError::QuotaExceeded(_) => Reason::WaitingForQuota,
                CallError::Throttled(_) => Reason::Throttled,
                _ => Reason::TransientError,
            };
            let waiting = Condition::new(
                ConditionType::JobSubmitted,
                ConditionStatus::False,
                reason,
                format!("will retry: {e}"),
            );
            retry_later(ctx, record, vec![waiting], None).await
        }
        Err(e) => {
            let message = refusal_message(&e);
            let event = Event::new(
                EventKind::SubmitFailed,
                serde_json::json!({ "message": message }),
            );
            fail(
                ctx,
                record,
                Cause::SubmitFailed,
                Condition::new(
                    ConditionType::JobSubmitted,
                    ConditionStatus::False,
                    Reason::Rejected,
                    message,
                ),
                event,
                |_| {},
            )
            .await
        }
    }
}
