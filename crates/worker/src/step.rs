//! One step of one request. Separate from the loop so tests drive it directly.

use std::collections::BTreeMap;

use ferry_cloud::{CallError, CreateJob, JobState, JobStatus};
use ferry_domain::bedrock::{ClientRequestToken, ImportedModelName, JobName, S3Uri, Tag};
use ferry_domain::catalog::Environment;
use ferry_domain::condition::{Condition, ConditionStatus};
use ferry_domain::import::ferry_tags;
use ferry_domain::names::TeamName;
use ferry_domain::preflight::PreflightReport;
use ferry_domain::status::{Cause, Status};
use ferry_store::StoreError;
use ferry_store::imports::{Actor, ImportRecord};
use ferry_store::work::{Changes, apply};
use time::OffsetDateTime;

use crate::Ctx;

const ACTOR: Actor<'static> = Actor { name: "ferry" };

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Another worker took the request over (our lease expired).
    #[error("lease lost")]
    LeaseLost,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for StepError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LeaseLost => StepError::LeaseLost,
            e => StepError::Store(e),
        }
    }
}

fn later(d: std::time::Duration) -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::try_from(d).unwrap_or(time::Duration::seconds(1))
}

fn condition(
    kind: &str,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
) -> Condition {
    Condition::new(kind, status, reason, message)
}

/// The client request token of one attempt of one request: the same on every
/// replica and after any crash, so Bedrock can never start a second job.
pub fn client_request_token(record: &ImportRecord) -> Option<ClientRequestToken> {
    ClientRequestToken::parse(&format!("ferry-{}-{}", record.id.simple(), record.attempt)).ok()
}

/// Writes `changes` (and maybe a transition) while holding the lease.
async fn write(
    ctx: &Ctx,
    record: &ImportRecord,
    to: Option<(Cause, Status)>,
    conditions: Vec<Condition>,
    changes: Changes,
    event: Option<(&str, serde_json::Value)>,
) -> Result<(), StepError> {
    let mut tx = ctx.pool.begin().await.map_err(StoreError::from)?;
    let (kind, detail) = match &event {
        Some((k, d)) => (*k, d.clone()),
        None => ("status_changed", serde_json::json!({})),
    };
    let result = apply(
        &mut tx,
        record.id,
        Some(&ctx.settings.owner),
        to,
        ACTOR,
        conditions,
        &changes,
        kind,
        &detail,
    )
    .await;
    match result {
        Ok(_) => {}
        // Cancelled (or otherwise moved on) while we worked: nothing more to do.
        Err(StoreError::IllegalTransition(t)) => {
            tracing::info!(import_id = %record.id, from = %t.from, to = %t.to, "request moved on meanwhile; dropping this step's result");
            drop(tx);
            return release(ctx, record, None).await;
        }
        Err(e) => return Err(e.into()),
    }
    if to.is_none()
        && let Some((kind, detail)) = &event
    {
        ferry_store::imports::append_event(&mut tx, record.id, ACTOR, kind, None, None, detail)
            .await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// Lets go of the request, due again at `at` (or left as it is).
async fn release(
    ctx: &Ctx,
    record: &ImportRecord,
    at: Option<OffsetDateTime>,
) -> Result<(), StepError> {
    let mut conn = ctx.pool.acquire().await.map_err(StoreError::from)?;
    let changes = Changes {
        next_attempt_at: at,
        release: true,
        ..Changes::default()
    };
    match apply(
        &mut conn,
        record.id,
        Some(&ctx.settings.owner),
        None,
        ACTOR,
        vec![],
        &changes,
        "",
        &serde_json::json!({}),
    )
    .await
    {
        Ok(_) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Fails the request for a reason outside Bedrock (configuration drift).
async fn fail_now(
    ctx: &Ctx,
    record: &ImportRecord,
    cause: Cause,
    reason: &str,
    message: String,
) -> Result<(), StepError> {
    write(
        ctx,
        record,
        Some((cause, Status::Failed)),
        vec![condition(
            "Ready",
            ConditionStatus::False,
            reason,
            message.clone(),
        )],
        Changes {
            failure_message: Some(message.clone()),
            mark_finished: true,
            release: true,
            ..Changes::default()
        },
        Some((
            "failed",
            serde_json::json!({ "reason": reason, "message": message }),
        )),
    )
    .await
}

/// Takes a token from the account's call budget, or reschedules shortly.
async fn budget(ctx: &Ctx, env: &Environment) -> Result<bool, StepError> {
    let mut conn = ctx.pool.acquire().await.map_err(StoreError::from)?;
    Ok(ferry_store::work::take_budget(
        &mut conn,
        env.account.as_str(),
        env.region.as_str(),
        ctx.settings.budget_per_second,
        ctx.settings.budget_burst,
    )
    .await?)
}

/// Drives one claimed request one step forward. `known` is the job's state
/// when a batched `ListModelImportJobs` already fetched it.
#[tracing::instrument(skip_all, fields(import_id = %record.id, status = %record.status, env = %record.environment))]
pub async fn step(
    ctx: &Ctx,
    record: ImportRecord,
    known: Option<JobState>,
) -> Result<(), StepError> {
    let Some(env) = ctx.catalog.environment(&record.environment).cloned() else {
        let message = format!("environment {} is no longer configured", record.environment);
        let cause = match record.status {
            Status::Queued | Status::Validating => Cause::PreflightFailed,
            Status::Submitting => Cause::SubmitFailed,
            _ => Cause::JobFailed,
        };
        if record.status == Status::Queued {
            write(
                ctx,
                &record,
                Some((Cause::StartPreflight, Status::Validating)),
                vec![],
                Changes::default(),
                None,
            )
            .await?;
        }
        return fail_now(ctx, &record, cause, "EnvironmentRemoved", message).await;
    };
    match record.status {
        Status::Queued => {
            write(
                ctx,
                &record,
                Some((Cause::StartPreflight, Status::Validating)),
                vec![condition(
                    "PreflightPassed",
                    ConditionStatus::Unknown,
                    "Running",
                    "checking the artifacts and the access chain",
                )],
                Changes::default(),
                None,
            )
            .await?;
            preflight(ctx, &record, &env).await
        }
        Status::Validating => preflight(ctx, &record, &env).await,
        Status::Submitting => submit(ctx, &record, &env).await,
        Status::Importing => track(ctx, &record, &env, known).await,
        Status::Deleting => delete_model(ctx, &record, &env).await,
        Status::PendingApproval => preview(ctx, &record, &env).await,
        _ => release(ctx, &record, None).await,
    }
}

/// The preflight of `source` for `record`, with the research key its team's
/// allowed source declares.
async fn check_source(
    ctx: &Ctx,
    record: &ImportRecord,
    env: &Environment,
    source: &S3Uri,
) -> PreflightReport {
    let source_key = TeamName::parse(&record.team).ok().and_then(|team| {
        ctx.catalog
            .source_for(&team, source)
            .ok()
            .and_then(|s| s.kms_key.clone())
    });
    ctx.cloud
        .preflight(&env.name, source, source_key.as_ref())
        .await
}

/// Runs the preflight of a request waiting for approval, so the reviewer
/// sees its report. Informational only: the request stays where it is, and
/// is checked again once approved.
async fn preview(ctx: &Ctx, record: &ImportRecord, env: &Environment) -> Result<(), StepError> {
    let Ok(source) = S3Uri::parse(&record.source_uri) else {
        return release(ctx, record, None).await;
    };
    let report = check_source(ctx, record, env, &source).await;
    if report.failed_transiently() {
        return retry_later(ctx, record, vec![], None).await;
    }
    let (status, reason, message) = if report.passed() {
        (
            ConditionStatus::True,
            "AllChecksPassed",
            format!(
                "{} checks passed as {}",
                report.checks.len(),
                report.checked_as
            ),
        )
    } else {
        let first = report
            .first_failure()
            .map(|c| format!("{}: {}", c.name, c.detail))
            .unwrap_or_default();
        (
            ConditionStatus::False,
            "PreflightFailed",
            format!("the preflight fails, so approving would fail the request: {first}"),
        )
    };
    let json = serde_json::to_value(&report).unwrap_or_default();
    write(
        ctx,
        record,
        None,
        vec![condition("PreflightPassed", status, reason, message)],
        Changes {
            preflight: Some(json),
            release: true,
            ..Changes::default()
        },
        Some((
            "preflight_for_review",
            serde_json::json!({ "passed": report.passed() }),
        )),
    )
    .await
}

async fn preflight(ctx: &Ctx, record: &ImportRecord, env: &Environment) -> Result<(), StepError> {
    let source = match S3Uri::parse(&record.source_uri) {
        Ok(s) => s,
        Err(e) => {
            return fail_now(
                ctx,
                record,
                Cause::PreflightFailed,
                "InvalidSource",
                e.to_string(),
            )
            .await;
        }
    };
    let report = check_source(ctx, record, env, &source).await;
    let json = serde_json::to_value(&report).unwrap_or_default();
    if report.failed_transiently() {
        // Throttling, 5xx or a timeout says nothing about the request: run
        // the preflight again later instead of failing it.
        let detail = report
            .first_failure()
            .map(|c| c.detail.clone())
            .unwrap_or_default();
        let checking = condition(
            "PreflightPassed",
            ConditionStatus::Unknown,
            "TransientError",
            format!("will check again: {detail}"),
        );
        return retry_later(ctx, record, vec![checking], Some(json)).await;
    }
    if report.passed() {
        let message = format!(
            "{} checks passed as {}",
            report.checks.len(),
            report.checked_as
        );
        write(
            ctx,
            record,
            None,
            vec![
                condition(
                    "PreflightPassed",
                    ConditionStatus::True,
                    "AllChecksPassed",
                    message.clone(),
                ),
                condition(
                    "Scheduled",
                    ConditionStatus::False,
                    "WaitingForSlot",
                    format!(
                        "waiting for a free import job slot in account {} ({})",
                        env.account, env.region
                    ),
                ),
            ],
            Changes {
                preflight: Some(json),
                preflight_passed: Some(true),
                next_attempt_at: Some(OffsetDateTime::now_utc()),
                release: true,
                ..Changes::default()
            },
            Some((
                "preflight_passed",
                serde_json::json!({ "message": message }),
            )),
        )
        .await
    } else {
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| c.outcome == ferry_domain::preflight::Outcome::Failed)
            .map(|c| c.name.as_str())
            .collect();
        let first = report.first_failure();
        let message = match first {
            Some(c) => match &c.fix {
                Some(fix) => format!("preflight failed at {}: {} Fix: {fix}", c.name, c.detail),
                None => format!("preflight failed at {}: {}", c.name, c.detail),
            },
            None => "preflight failed".to_owned(),
        };
        write(
            ctx,
            record,
            Some((Cause::PreflightFailed, Status::Failed)),
            vec![condition(
                "PreflightPassed",
                ConditionStatus::False,
                "PreflightFailed",
                message.clone(),
            )],
            Changes {
                preflight: Some(json),
                preflight_passed: Some(false),
                failure_message: Some(message.clone()),
                mark_finished: true,
                release: true,
                ..Changes::default()
            },
            Some((
                "preflight_failed",
                serde_json::json!({ "failed_checks": failed, "message": message }),
            )),
        )
        .await
    }
}

fn tags(map: &BTreeMap<String, String>) -> Vec<Tag> {
    map.iter()
        .filter_map(|(k, v)| Tag::new(k, v).ok())
        .collect()
}

/// The `CreateModelImportJob` request for one attempt of `record`: the same
/// bytes on every replica and after any crash, so a repeated call with its
/// client request token is recognised by Bedrock as the same job.
pub fn create_job_request(record: &ImportRecord, env: &Environment) -> Option<CreateJob> {
    let own = ferry_tags(
        record.id,
        &record.team,
        &record.requested_by,
        &record.source_uri,
    );
    let mut job_tags = tags(&record.job_tags);
    job_tags.extend(own.iter().cloned());
    let mut model_tags = tags(&record.model_tags);
    model_tags.extend(own);
    Some(CreateJob {
        job_name: JobName::parse(&record.job_name).ok()?,
        model_name: ImportedModelName::parse(&record.model_name).ok()?,
        role_arn: env.execution_role.clone(),
        source: S3Uri::parse(&record.source_uri).ok()?,
        client_request_token: client_request_token(record)?,
        imported_model_kms_key: env.imported_model_kms_key.clone(),
        job_tags,
        model_tags,
        vpc: env.vpc.as_ref().map(|v| ferry_cloud::VpcConfig {
            subnet_ids: v.subnet_ids.clone(),
            security_group_ids: v.security_group_ids.clone(),
        }),
    })
}

async fn submit(ctx: &Ctx, record: &ImportRecord, env: &Environment) -> Result<(), StepError> {
    let Some(job) = create_job_request(record, env) else {
        let message = "the stored request no longer parses with Bedrock's rules".to_owned();
        return fail_now(ctx, record, Cause::SubmitFailed, "InvalidRequest", message).await;
    };
    if !budget(ctx, env).await? {
        return release(
            ctx,
            record,
            Some(later(std::time::Duration::from_millis(500))),
        )
        .await;
    }
    match ctx.cloud.create_import_job(&env.name, &job).await {
        Ok(job_arn) => {
            tracing::info!(job_arn = %job_arn, "import job created");
            write(
                ctx,
                record,
                Some((Cause::JobCreated, Status::Importing)),
                vec![condition(
                    "JobSubmitted",
                    ConditionStatus::True,
                    "JobCreated",
                    format!("Bedrock import job {job_arn}"),
                )],
                Changes {
                    bedrock_job_arn: Some(job_arn.clone()),
                    mark_submitted: true,
                    polls: Some(0),
                    retries: Some(0),
                    next_attempt_at: Some(later(ctx.settings.poll.delay(1, rand::random()))),
                    release: true,
                    ..Changes::default()
                },
                Some(("job_created", serde_json::json!({ "job_arn": job_arn }))),
            )
            .await
        }
        Err(e) if e.is_retryable() => {
            let reason = match &e {
                CallError::QuotaExceeded(_) => "WaitingForQuota",
                CallError::Throttled(_) => "Throttled",
                _ => "TransientError",
            };
            let waiting = condition(
                "JobSubmitted",
                ConditionStatus::False,
                reason,
                format!("will retry: {e}"),
            );
            retry_later(ctx, record, vec![waiting], None).await
        }
        Err(e) => {
            let message = match &e {
                CallError::AccessDenied {
                    message,
                    fix: Some(fix),
                    ..
                } => format!("{message} Fix: {fix}"),
                other => other.to_string(),
            };
            write(
                ctx,
                record,
                Some((Cause::SubmitFailed, Status::Failed)),
                vec![condition(
                    "JobSubmitted",
                    ConditionStatus::False,
                    "Rejected",
                    message.clone(),
                )],
                Changes {
                    failure_message: Some(message.clone()),
                    mark_finished: true,
                    release: true,
                    ..Changes::default()
                },
                Some(("submit_failed", serde_json::json!({ "message": message }))),
            )
            .await
        }
    }
}

async fn track(
    ctx: &Ctx,
    record: &ImportRecord,
    env: &Environment,
    known: Option<JobState>,
) -> Result<(), StepError> {
    let Some(job_arn) = record.bedrock_job_arn.clone() else {
        return fail_now(
            ctx,
            record,
            Cause::JobFailed,
            "NoJob",
            "importing without a job ARN".to_owned(),
        )
        .await;
    };
    let state = match known {
        Some(s) => s,
        None => {
            if !budget(ctx, env).await? {
                return release(
                    ctx,
                    record,
                    Some(later(std::time::Duration::from_millis(500))),
                )
                .await;
            }
            match ctx.cloud.get_import_job(&env.name, &job_arn).await {
                Ok(s) => s,
                Err(e) => return poll_error(ctx, record, &e).await,
            }
        }
    };
    match &state.status {
        JobStatus::Completed => {
            let model_arn = state.imported_model_arn.clone().unwrap_or_default();
            if !model_arn.is_empty() && !budget(ctx, env).await? {
                // Record the details with the completion: wait for budget.
                return release(
                    ctx,
                    record,
                    Some(later(std::time::Duration::from_millis(500))),
                )
                .await;
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
            write(
                ctx,
                record,
                Some((Cause::JobCompleted, Status::Completed)),
                vec![condition(
                    "Ready",
                    ConditionStatus::True,
                    "Imported",
                    format!("imported as {model_arn}"),
                )],
                Changes {
                    imported_model_arn: Some(model_arn.clone()),
                    imported_model: details,
                    mark_finished: true,
                    release: true,
                    ..Changes::default()
                },
                Some((
                    "job_completed",
                    serde_json::json!({ "imported_model_arn": model_arn }),
                )),
            )
            .await
        }
        JobStatus::Failed => {
            let message = state
                .failure_message
                .clone()
                .unwrap_or_else(|| "Bedrock reported the job Failed without a message".to_owned());
            write(
                ctx,
                record,
                Some((Cause::JobFailed, Status::Failed)),
                vec![condition(
                    "Ready",
                    ConditionStatus::False,
                    "ImportFailed",
                    message.clone(),
                )],
                Changes {
                    failure_message: Some(message.clone()),
                    mark_finished: true,
                    release: true,
                    ..Changes::default()
                },
                Some((
                    "job_failed",
                    serde_json::json!({ "failure_message": message }),
                )),
            )
            .await
        }
        JobStatus::InProgress => reschedule_poll(ctx, record, vec![]).await,
        JobStatus::Unknown(s) => {
            tracing::warn!(job_status = %s, "Bedrock reported an unknown job status; still polling");
            let c = condition(
                "JobStatusKnown",
                ConditionStatus::False,
                "UnknownStatus",
                format!("Bedrock reported status {s:?}"),
            );
            reschedule_poll(ctx, record, vec![c]).await
        }
    }
}

/// Deletes the imported model (it bills storage until deleted).
async fn delete_model(
    ctx: &Ctx,
    record: &ImportRecord,
    env: &Environment,
) -> Result<(), StepError> {
    let Some(model_arn) = record.imported_model_arn.clone().filter(|a| !a.is_empty()) else {
        let message = "no imported model is recorded for this request".to_owned();
        return write(
            ctx,
            record,
            Some((Cause::DeleteFailed, Status::Completed)),
            vec![condition(
                "ModelDeleted",
                ConditionStatus::False,
                "NoModel",
                message.clone(),
            )],
            Changes {
                release: true,
                ..Changes::default()
            },
            Some(("delete_failed", serde_json::json!({ "message": message }))),
        )
        .await;
    };
    if !budget(ctx, env).await? {
        return release(
            ctx,
            record,
            Some(later(std::time::Duration::from_millis(500))),
        )
        .await;
    }
    let deleted = |detail: &str| {
        (
            Some((Cause::ModelDeleted, Status::Deleted)),
            vec![condition(
                "ModelDeleted",
                ConditionStatus::True,
                "Deleted",
                format!("{model_arn} {detail}"),
            )],
        )
    };
    let (to, conditions, kind) = match ctx.cloud.delete_imported_model(&env.name, &model_arn).await
    {
        Ok(()) => {
            let (to, c) = deleted("was deleted");
            (to, c, "model_deleted")
        }
        // Already gone (deleted by hand, or a retry after a lost answer).
        Err(CallError::NotFound(_)) => {
            let (to, c) = deleted("no longer exists");
            (to, c, "model_deleted")
        }
        Err(e) if e.is_retryable() => {
            let c = condition(
                "ModelDeleted",
                ConditionStatus::Unknown,
                "Retrying",
                format!("will retry: {e}"),
            );
            return retry_later(ctx, record, vec![c], None).await;
        }
        Err(e) => {
            let message = match &e {
                CallError::AccessDenied {
                    message,
                    fix: Some(fix),
                    ..
                } => format!("{message} Fix: {fix}"),
                other => other.to_string(),
            };
            let c = condition(
                "ModelDeleted",
                ConditionStatus::False,
                "DeleteRefused",
                message,
            );
            (
                Some((Cause::DeleteFailed, Status::Completed)),
                vec![c],
                "delete_failed",
            )
        }
    };
    write(
        ctx,
        record,
        to,
        conditions,
        Changes {
            release: true,
            retries: Some(0),
            ..Changes::default()
        },
        Some((kind, serde_json::json!({ "model_arn": model_arn }))),
    )
    .await
}

async fn reschedule_poll(
    ctx: &Ctx,
    record: &ImportRecord,
    conditions: Vec<Condition>,
) -> Result<(), StepError> {
    let polls = record.polls.saturating_add(1);
    write(
        ctx,
        record,
        None,
        conditions,
        Changes {
            polls: Some(polls),
            retries: Some(0),
            next_attempt_at: Some(later(
                ctx.settings
                    .poll
                    .delay(polls.unsigned_abs(), rand::random()),
            )),
            release: true,
            ..Changes::default()
        },
        None,
    )
    .await
}

async fn poll_error(ctx: &Ctx, record: &ImportRecord, e: &CallError) -> Result<(), StepError> {
    tracing::warn!(error = %e, "polling the import job failed; will retry");
    retry_later(ctx, record, vec![], None).await
}

/// Reschedules after a retryable failure (throttling, a quota, a 5xx, a
/// timeout), backing off further with each consecutive one.
async fn retry_later(
    ctx: &Ctx,
    record: &ImportRecord,
    conditions: Vec<Condition>,
    preflight: Option<serde_json::Value>,
) -> Result<(), StepError> {
    let retries = record.retries.saturating_add(1);
    let delay = ctx
        .settings
        .retry
        .delay(retries.unsigned_abs(), rand::random());
    let changes = Changes {
        preflight,
        retries: Some(retries),
        next_attempt_at: Some(later(delay)),
        release: true,
        ..Changes::default()
    };
    write(ctx, record, None, conditions, changes, None).await
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use ferry_domain::bedrock::{AccountId, Region, RoleArn, VpcSettings};
    use ferry_domain::ids::ImportId;
    use ferry_domain::names::EnvironmentName;

    use super::*;

    fn record(attempt: i32) -> ImportRecord {
        let now = OffsetDateTime::now_utc();
        ImportRecord {
            id: ImportId::new(),
            team: "research".into(),
            environment: "dev".into(),
            source_uri: "s3://model-artifacts-111122223333/m/".into(),
            model_name: "m1".into(),
            job_name: "ferry-job".into(),
            description: None,
            model_tags: BTreeMap::from([("owner".into(), "alice".into())]),
            job_tags: BTreeMap::new(),
            requested_by: "alice".into(),
            requester_id: "token:x".into(),
            status: Status::Submitting,
            conditions: vec![],
            created_at: now,
            updated_at: now,
            hosting_account: Some("777788889999".into()),
            region: Some("us-east-1".into()),
            attempt,
            preflight: None,
            preflight_passed: Some(true),
            bedrock_job_arn: None,
            imported_model_arn: None,
            imported_model: None,
            failure_message: None,
            submitted_at: None,
            finished_at: None,
            retries: 0,
            polls: 0,
            next_attempt_at: now,
            promoted_from: None,
        }
    }

    fn env() -> Environment {
        Environment {
            name: EnvironmentName::parse("dev").unwrap(),
            description: None,
            account: AccountId::parse("777788889999").unwrap(),
            region: Region::parse("us-east-1").unwrap(),
            control_role: RoleArn::parse("arn:aws:iam::777788889999:role/Control").unwrap(),
            execution_role: RoleArn::parse("arn:aws:iam::777788889999:role/Exec").unwrap(),
            imported_model_kms_key: None,
            requires_approval: false,
            teams: None,
            vpc: Some(VpcSettings::new(vec!["subnet-1".into()], vec!["sg-1".into()]).unwrap()),
        }
    }

    #[test]
    fn the_create_request_is_the_same_on_every_replica() {
        let r = record(1);
        let a = create_job_request(&r, &env()).unwrap();
        let copy = ImportRecord {
            conditions: vec![],
            ..r.clone()
        };
        let b = create_job_request(&copy, &env()).unwrap();
        assert_eq!(a, b, "rebuilt identically");
        assert_eq!(
            a.client_request_token.as_str(),
            format!("ferry-{}-1", r.id.simple())
        );
        assert_eq!(a.vpc.unwrap().subnet_ids, vec!["subnet-1"]);
        let keys: Vec<&str> = a.model_tags.iter().map(|t| t.key.as_str()).collect();
        assert!(
            keys.contains(&"owner") && keys.contains(&"ferry:request-id"),
            "{keys:?}"
        );
        // A retry is a new attempt: a new token, so Bedrock starts a new job.
        let retry = create_job_request(&record(2), &env()).unwrap();
        assert!(retry.client_request_token.as_str().ends_with("-2"));
    }
}
