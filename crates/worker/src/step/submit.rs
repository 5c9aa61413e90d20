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

/// The job name is taken (Bedrock's `ValidationException` "The provided job name is currently
/// in use.", or a `ConflictException` naming the job). When the job holding the name is the
/// one this attempt asks for (a create that took effect but whose answer was lost, then
/// retried after Bedrock stopped matching the client request token), it exists: carry on with
/// it. Otherwise the name belongs to another job, which cannot be deleted: refuse clearly.
async fn find_own_job(
    ctx: &Ctx,
    env: &Environment,
    job: &CreateJob,
    message: String,
) -> Result<String, CallError> {
    let found = ctx
        .cloud
        .get_import_job(&env.name, job.job_name.as_str())
        .await;
    match found {
        Ok(state) if state.is_for(job) => {
            tracing::info!(job_arn = %state.job_arn, "job name in use by this request's own job; carrying on with it");
            Ok(state.job_arn)
        }
        Ok(state) => Err(CallError::JobNameInUse(format!(
            "{message} The job name {} belongs to another import job ({}, model {}), not to this request; Bedrock keeps job names even after the job ends. Retry the request with another job_name.",
            job.job_name,
            state.job_arn,
            state.imported_model_name.as_deref().unwrap_or("unknown"),
        ))),
        // The name is taken but the job cannot be read: say both.
        Err(e) if e.is_retryable() => Err(e),
        Err(e) => Err(CallError::JobNameInUse(format!(
            "{message} The job holding the name {} could not be read ({e}). Retry the request with another job_name.",
            job.job_name
        ))),
    }
}

/// Bedrock refused the execution role at create time ("The provided role ARN is invalid.").
/// Right after the policy kit created or changed the role or its policies, that is IAM still
/// propagating (IAM user guide, "Troubleshooting IAM": changes are not always immediately
/// visible): retry for `role_propagation_window` from the first refusal, saying why, then
/// fail with the fix.
async fn role_not_usable(
    ctx: &Ctx,
    record: &ImportRecord,
    env: &Environment,
    message: String,
) -> Result<(), StepError> {
    let window = ctx.settings.role_propagation_window;
    let since = record
        .conditions
        .iter()
        .find(|c| {
            c.kind == ConditionType::ExecutionRoleAccepted && c.status == ConditionStatus::False
        })
        .map(|c| c.last_transition_time);
    let waited = since.map_or(std::time::Duration::ZERO, |s| {
        std::time::Duration::try_from(time::OffsetDateTime::now_utc() - s).unwrap_or_default()
    });
    let role = &env.execution_role;
    if waited < window {
        let why = format!(
            "{message} Bedrock cannot use the execution role {role} yet; IAM changes take a while to propagate, so Ferry retries for up to {}s after the first refusal.",
            window.as_secs()
        );
        let conditions = vec![
            Condition::new(
                ConditionType::ExecutionRoleAccepted,
                ConditionStatus::False,
                Reason::WaitingForIamPropagation,
                why.clone(),
            ),
            Condition::new(
                ConditionType::JobSubmitted,
                ConditionStatus::False,
                Reason::WaitingForIamPropagation,
                format!("will retry: {why}"),
            ),
        ];
        return retry_later(ctx, record, conditions, None).await;
    }
    let message = format!(
        "{message} Bedrock still could not use the execution role {role} after {}s. Fix: its trust policy must let bedrock.amazonaws.com call sts:AssumeRole with aws:SourceAccount {account} and aws:SourceArn arn:aws:bedrock:{region}:{account}:model-import-job/* (`ferry policy render` prints the statement; `ferry policy check` finds what differs), then retry the request.",
        window.as_secs(),
        account = env.account,
        region = env.region,
    );
    refused(ctx, record, ConditionType::ExecutionRoleAccepted, message).await
}

/// Bedrock refused the job for good: `failed` with Bedrock's message (and the fix) as the
/// condition of `kind`.
async fn refused(
    ctx: &Ctx,
    record: &ImportRecord,
    kind: ConditionType,
    message: String,
) -> Result<(), StepError> {
    let event = Event::new(
        EventKind::SubmitFailed,
        serde_json::json!({ "message": message }),
    );
    let condition = Condition::new(kind, ConditionStatus::False, Reason::Rejected, message);
    fail(ctx, record, Cause::SubmitFailed, condition, event, |_| {}).await
}

async fn job_created(ctx: &Ctx, record: &ImportRecord, job_arn: String) -> Result<(), StepError> {
    tracing::info!(job_arn = %job_arn, "import job created");
    let waited_for_role = record.conditions.iter().any(|c| {
        c.kind == ConditionType::ExecutionRoleAccepted && c.status == ConditionStatus::False
    });
    let mut update = change(record)
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
    if waited_for_role {
        update = update.condition(Condition::new(
            ConditionType::ExecutionRoleAccepted,
            ConditionStatus::True,
            Reason::RoleAccepted,
            "Bedrock accepted the execution role once IAM had propagated the change",
        ));
    }
    write(ctx, record, update).await
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
    let created = match ctx.cloud.create_import_job(&env.name, &job).await {
        Err(CallError::JobNameInUse(message)) => find_own_job(ctx, env, &job, message).await,
        other => other,
    };
    match created {
        Ok(job_arn) => job_created(ctx, record, job_arn).await,
        Err(CallError::RoleNotUsable(message)) => role_not_usable(ctx, record, env, message).await,
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
            refused(
                ctx,
                record,
                ConditionType::JobSubmitted,
                refusal_message(&e),
            )
            .await
        }
    }
}
