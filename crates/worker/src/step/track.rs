//! `importing`: polling the Bedrock job until it completes (then the readiness check,
//! `verifying`, starts) or fails, one
//! `GetModelImportJob` per job or one `ListModelImportJobs` for many.

use std::collections::BTreeMap;

use ferry_cloud::{CallError, JobState, JobStatus};
use ferry_domain::catalog::Environment;
use ferry_domain::condition::{Condition, ConditionStatus, ConditionType, Reason};
use ferry_domain::events::EventKind;
use ferry_domain::status::{Cause, Status};
use ferry_domain::update::{Changes, Event};
use ferry_store::imports::ImportRecord;
use time::OffsetDateTime;

use super::{
    StepError, budget, change, fail, fail_outside_bedrock, later, release, retry_later, soon, write,
};
use crate::Ctx;

pub(super) async fn track(
    ctx: &Ctx,
    record: &ImportRecord,
    env: &Environment,
    known: Option<JobState>,
) -> Result<(), StepError> {
    let Some(job_arn) = record.bedrock_job_arn.clone() else {
        let message = "importing without a job ARN".to_owned();
        return fail_outside_bedrock(ctx, record, Cause::JobFailed, Reason::NoJob, message).await;
    };
    let state = match known {
        Some(s) => s,
        None => {
            if !budget(ctx, env).await? {
                return release(ctx, record, Some(soon())).await;
            }
            match ctx.cloud.get_import_job(&env.name, &job_arn).await {
                Ok(s) => s,
                Err(e) => return poll_error(ctx, record, &e).await,
            }
        }
    };
    match &state.status {
        JobStatus::Completed => completed(ctx, record, env, &state).await,
        JobStatus::Failed => {
            let message = state
                .failure_message
                .clone()
                .unwrap_or_else(|| "Bedrock reported the job Failed without a message".to_owned());
            let event = Event::new(
                EventKind::JobFailed,
                serde_json::json!({ "failure_message": message }),
            );
            fail(
                ctx,
                record,
                Cause::JobFailed,
                Condition::new(
                    ConditionType::Ready,
                    ConditionStatus::False,
                    Reason::ImportFailed,
                    message,
                ),
                event,
                |_| {},
            )
            .await
        }
        JobStatus::InProgress => reschedule_poll(ctx, record, vec![]).await,
        JobStatus::Unknown(s) => {
            tracing::warn!(job_status = %s, "Bedrock reported an unknown job status; still polling");
            let c = Condition::new(
                ConditionType::JobStatusKnown,
                ConditionStatus::False,
                Reason::UnknownStatus,
                format!("Bedrock reported status {s:?}"),
            );
            reschedule_poll(ctx, record, vec![c]).await
        }
    }
}

/// Records a completed job with the imported model's details.
async fn completed(
    ctx: &Ctx,
    record: &ImportRecord,
    env: &Environment,
    state: &JobState,
) -> Result<(), StepError> {
    let model_arn = state.imported_model_arn.clone().unwrap_or_default();
    if !model_arn.is_empty() && !budget(ctx, env).await? {
        // Record the details with the completion: wait for budget.
        return release(ctx, record, Some(soon())).await;
    }
    let details = if model_arn.is_empty() {
        None
    } else {
        match ctx.cloud.get_imported_model(&env.name, &model_arn).await {
            Ok(d) => Some(serde_json::json!({
                "model_arn": d.model_arn,
                "model_name": d.model_name,
                "architecture": d.architecture,
                "instruct_supported": d.instruct_supported,
                "custom_model_units": d.custom_model_units.map(|u| serde_json::json!({
                    "per_model_copy": u.per_model_copy,
                    "version": u.version,
                })),
                "kms_key_arn": d.kms_key_arn,
            })),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the imported model's details");
                None
            }
        }
    };
    // The readiness check starts: the cold start counts from the job's end.
    let since = state.end_time.unwrap_or_else(OffsetDateTime::now_utc);
    let details = super::verify::start(ctx, details, since);
    let update = change(record)
        .to(Cause::JobCompleted, Status::Verifying)
        .condition(Condition::new(
            ConditionType::Ready,
            ConditionStatus::True,
            Reason::Imported,
            format!("imported as {model_arn}"),
        ))
        .condition(Condition::new(
            ConditionType::Serving,
            ConditionStatus::Unknown,
            Reason::ModelNotReady,
            "checking that the model answers",
        ))
        .changes(Changes {
            imported_model_arn: Some(model_arn.clone()),
            imported_model: Some(details),
            mark_finished: true,
            next_attempt_at: Some(OffsetDateTime::now_utc()),
            polls: Some(0),
            retries: Some(0),
            release: true,
            ..Changes::default()
        })
        .event(Event::new(
            EventKind::JobCompleted,
            serde_json::json!({ "imported_model_arn": model_arn }),
        ));
    write(ctx, record, update).await
}

async fn reschedule_poll(
    ctx: &Ctx,
    record: &ImportRecord,
    conditions: Vec<Condition>,
) -> Result<(), StepError> {
    let polls = record.polls.saturating_add(1);
    let mut update = change(record).changes(Changes {
        polls: Some(polls),
        retries: Some(0),
        next_attempt_at: Some(later(
            ctx.settings
                .poll
                .delay(polls.unsigned_abs(), rand::random()),
        )),
        release: true,
        ..Changes::default()
    });
    update.conditions = conditions;
    write(ctx, record, update).await
}

async fn poll_error(ctx: &Ctx, record: &ImportRecord, e: &CallError) -> Result<(), StepError> {
    tracing::warn!(error = %e, "polling the import job failed; will retry");
    retry_later(ctx, record, vec![], None).await
}

/// Job states for the claimed `importing` requests of environments with at
/// least `list_threshold` of them: one `ListModelImportJobs` per such
/// environment instead of one `GetModelImportJob` per job.
pub(crate) async fn batch_job_states(
    ctx: &Ctx,
    claimed: &[ImportRecord],
) -> BTreeMap<String, JobState> {
    let mut by_env: BTreeMap<&str, Vec<&ImportRecord>> = BTreeMap::new();
    for r in claimed
        .iter()
        .filter(|r| r.status == Status::Importing && r.bedrock_job_arn.is_some())
    {
        by_env.entry(r.environment.as_str()).or_default().push(r);
    }
    let mut out = BTreeMap::new();
    for (env_name, records) in by_env {
        if records.len() < ctx.settings.list_threshold {
            continue;
        }
        let Some(env) = ctx.catalog.environment(env_name) else {
            continue;
        };
        if !matches!(budget(ctx, env).await, Ok(true)) {
            continue;
        }
        let oldest = records
            .iter()
            .filter_map(|r| r.submitted_at)
            .min()
            .unwrap_or_else(OffsetDateTime::now_utc);
        match ctx
            .cloud
            .list_import_jobs(&env.name, oldest - time::Duration::minutes(10))
            .await
        {
            Ok(states) => {
                for s in states {
                    out.insert(s.job_arn.clone(), s);
                }
            }
            Err(e) => {
                tracing::warn!(env = env_name, error = %e, "ListModelImportJobs failed; polling jobs one by one")
            }
        }
    }
    out
}
