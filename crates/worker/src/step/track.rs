//! `importing`: polling the Bedrock job until it completes (then the readiness check,
//! `verifying`, starts) or fails. With a few jobs in flight in an environment, one
//! `GetModelImportJob` per job on its own backoff; with more, a sweep: one replica per
//! poll interval lists the environment's jobs (`ListModelImportJobs`, every page) and
//! steps only the requests whose job ended, with what the listing said. Details of an
//! imported model come from one `GetImportedModel` per completion; a failed job's
//! message (which listings do not carry) from one `GetModelImportJob` per failure.

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
        // Listings carry no failure message: ask for the job once, to say why.
        Some(s) if !(s.status == JobStatus::Failed && s.failure_message.is_none()) => s,
        _ => {
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
        JobStatus::Completed => completed(ctx, record, &state).await,
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

/// Records a completed job from what Bedrock said of the job alone (no call,
/// so a completion is recorded as soon as it is seen, whatever the call budget);
/// the imported model's details come next, from one `GetImportedModel` as the
/// readiness check (`verifying`) begins.
async fn completed(ctx: &Ctx, record: &ImportRecord, state: &JobState) -> Result<(), StepError> {
    let model_arn = state.imported_model_arn.clone().unwrap_or_default();
    // The readiness check starts: the cold start counts from the job's end.
    let since = state.end_time.unwrap_or_else(OffsetDateTime::now_utc);
    let details = super::verify::start(ctx, None, since);
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

/// The tracking sweeps this replica won (see the module's documentation):
/// for each environment whose sweep was due, with at least `list_threshold`
/// jobs in flight, one listing; the requests whose job ended (or that the
/// listing did not show, to be polled one by one) are claimed and returned
/// with the job states to step them with. While an environment is swept
/// (for three intervals after each listing), claiming due work leaves its
/// `importing` requests alone.
pub(crate) async fn sweep(
    ctx: &Ctx,
) -> Result<(Vec<ImportRecord>, BTreeMap<String, JobState>), ferry_store::StoreError> {
    let interval = ctx.settings.poll.initial;
    let names: Vec<&str> = ctx
        .catalog
        .environments()
        .map(|e| e.name.as_str())
        .collect();
    // No connection is held across a call to AWS.
    let due = {
        let mut conn = ferry_store::acquire(&ctx.pool).await?;
        ferry_store::work::claim_sweeps(&mut conn, &names, &ctx.settings.owner, interval).await?
    };
    let mut records = Vec::new();
    let mut known = BTreeMap::new();
    for env_name in due {
        let Some(env) = ctx.catalog.environment(&env_name) else {
            continue;
        };
        let jobs = {
            let mut conn = ferry_store::acquire(&ctx.pool).await?;
            let jobs = ferry_store::work::importing(&mut conn, &env_name).await?;
            if jobs.len() < ctx.settings.list_threshold.max(1) {
                ferry_store::work::set_listing(&mut conn, &env_name, None).await?;
                continue;
            }
            jobs
        };
        // The listing does not wait for the call budget: it is bounded by
        // design (one per environment per interval, whatever the number of
        // jobs and replicas), and behind a burst of creates that spend the
        // budget it would starve, leaving every completion unseen (the
        // tracking benchmark's lag p99 was 74 s at a 2 s interval).
        let oldest = jobs
            .iter()
            .filter_map(|j| j.submitted_at)
            .min()
            .unwrap_or_else(OffsetDateTime::now_utc);
        let listed = match ctx
            .cloud
            .list_import_jobs(&env.name, oldest - time::Duration::minutes(10))
            .await
        {
            Ok(states) => states,
            Err(e) => {
                tracing::warn!(env = %env_name, error = %e, "ListModelImportJobs failed; polling jobs one by one");
                let mut conn = ferry_store::acquire(&ctx.pool).await?;
                ferry_store::work::set_listing(&mut conn, &env_name, None).await?;
                continue;
            }
        };
        let until = OffsetDateTime::now_utc()
            + time::Duration::try_from(interval.saturating_mul(3))
                .unwrap_or(time::Duration::minutes(1));
        let mut conn = ferry_store::acquire(&ctx.pool).await?;
        ferry_store::work::set_listing(&mut conn, &env_name, Some(until)).await?;
        let by_arn: BTreeMap<String, JobState> =
            listed.into_iter().map(|s| (s.job_arn.clone(), s)).collect();
        let mut ended = Vec::new();
        for job in &jobs {
            match by_arn.get(&job.job_arn) {
                Some(s) if s.status == JobStatus::InProgress => {}
                Some(s) => {
                    known.insert(job.job_arn.clone(), s.clone());
                    ended.push(job.id);
                }
                // Not listed (yet): polled one by one, by this sweep.
                None => ended.push(job.id),
            }
        }
        if !ended.is_empty() {
            records.extend(
                ferry_store::work::claim_importing(
                    &mut conn,
                    &ctx.settings.owner,
                    ctx.lease(),
                    &ended,
                )
                .await?,
            );
        }
    }
    Ok((records, known))
}

/// Job states for the claimed `importing` requests of environments with at
/// least `list_threshold` of them: one `ListModelImportJobs` per such
/// environment instead of one `GetModelImportJob` per job.
pub(crate) async fn batch_job_states(
    ctx: &Ctx,
    claimed: &[ImportRecord],
    known: &BTreeMap<String, JobState>,
) -> BTreeMap<String, JobState> {
    let mut by_env: BTreeMap<&str, Vec<&ImportRecord>> = BTreeMap::new();
    for r in claimed.iter().filter(|r| {
        r.status == Status::Importing
            && r.bedrock_job_arn
                .as_ref()
                .is_some_and(|arn| !known.contains_key(arn))
    }) {
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
