//! One step of one request. Separate from the loop so tests drive it directly.
//!
//! Each status has its own room: [`preflight`] (queued, validating, and the
//! reviewer's preview of pending_approval), [`submit`] (submitting),
//! [`track`] (importing), [`verify`] (verifying, the readiness check) and
//! [`delete`] (deleting). They decide; every write
//! goes through [`write`] (one [`Update`], under the lease), and a request
//! fails only through [`fail`].

mod delete;
mod preflight;
mod submit;
mod track;
mod verify;

use ferry_cloud::JobState;
use ferry_domain::catalog::Environment;
use ferry_domain::condition::{Condition, ConditionStatus, ConditionType, Reason};
use ferry_domain::events::EventKind;
use ferry_domain::status::{Cause, Status};
use ferry_domain::update::{Changes, Event, Update};
use ferry_store::StoreError;
use ferry_store::imports::ImportRecord;
use time::OffsetDateTime;
use tracing::Instrument;

use crate::{Ctx, actor};

pub use submit::{client_request_token, create_job_request};
pub(crate) use track::{batch_job_states, sweep};

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

/// A short wait for the call budget to refill.
fn soon() -> OffsetDateTime {
    later(std::time::Duration::from_millis(500))
}

/// A change to `record` by this worker.
fn change(record: &ImportRecord) -> Update {
    Update::new(record.id, actor())
}

/// Writes `update` while holding the lease. A request that moved on
/// meanwhile (cancelled, say) keeps its new status: the step's result is
/// dropped and the request let go.
async fn write(ctx: &Ctx, record: &ImportRecord, update: Update) -> Result<(), StepError> {
    let mut tx = ferry_store::begin(&ctx.pool).await?;
    let update = update.leased_by(ctx.settings.owner.as_str());
    match ferry_store::imports::update(&mut tx, &update).await {
        Ok(_) => {}
        Err(StoreError::IllegalTransition(t)) => {
            tracing::info!(import_id = %record.id, from = %t.from, to = %t.to, "request moved on meanwhile; dropping this step's result");
            drop(tx);
            return release(ctx, record, None).await;
        }
        Err(e) => return Err(e.into()),
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
    let mut conn = ferry_store::acquire(&ctx.pool).await?;
    let update = change(record)
        .changes(Changes {
            next_attempt_at: at,
            release: true,
            ..Changes::default()
        })
        .leased_by(ctx.settings.owner.as_str());
    ferry_store::imports::update(&mut conn, &update).await?;
    Ok(())
}

/// Fails the request for `cause`: `condition` says why (its message becomes
/// the failure message), `event` records it, `more` adds what the step
/// found (a preflight report, say). The one way a step fails a request.
async fn fail(
    ctx: &Ctx,
    record: &ImportRecord,
    cause: Cause,
    condition: Condition,
    event: Event,
    more: impl FnOnce(&mut Changes),
) -> Result<(), StepError> {
    let mut update = Update::fail(record.id, actor(), cause, condition, event);
    update.changes.release = true;
    more(&mut update.changes);
    write(ctx, record, update).await
}

/// Takes a token from the account's call budget; `false` means try shortly.
async fn budget(ctx: &Ctx, env: &Environment) -> Result<bool, StepError> {
    let mut conn = ferry_store::acquire(&ctx.pool).await?;
    let taken = ferry_store::work::take_budget(
        &mut conn,
        env.account.as_str(),
        env.region.as_str(),
        ctx.settings.budget_per_second,
        ctx.settings.budget_burst,
    )
    .await?;
    if !taken {
        metrics::counter!(
            crate::BUDGET_EXHAUSTED,
            "account" => env.account.to_string(),
            "region" => env.region.to_string()
        )
        .increment(1);
    }
    Ok(taken)
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
    let mut update = change(record).changes(Changes {
        preflight,
        retries: Some(retries),
        next_attempt_at: Some(later(delay)),
        release: true,
        ..Changes::default()
    });
    update.conditions = conditions;
    write(ctx, record, update).await
}

/// The message of a refusal, with the fix when Ferry knows one.
fn refusal_message(e: &ferry_cloud::CallError) -> String {
    match e {
        ferry_cloud::CallError::AccessDenied {
            message,
            fix: Some(fix),
            ..
        } => format!("{message} Fix: {fix}"),
        other => other.to_string(),
    }
}

/// Drives one claimed request one step forward. `known` is the job's state
/// when a batched `ListModelImportJobs` already fetched it.
///
/// The step runs in a span named after what it does (`worker.preflight`,
/// `worker.submit`, `worker.track`, `worker.delete`) whose parent is the
/// `traceparent` stored with the request, so its AWS calls join the trace of
/// the API request that created it.
pub async fn step(
    ctx: &Ctx,
    record: ImportRecord,
    known: Option<JobState>,
) -> Result<(), StepError> {
    let span = tracing::info_span!(
        "step",
        otel.name = step_name(record.status),
        import_id = %record.id,
        status = %record.status,
        env = %record.environment,
    );
    if let Some(parent) = &record.traceparent {
        crate::trace::set_parent(&span, parent);
    }
    run_step(ctx, record, known).instrument(span).await
}

/// The span name of the step a request in `status` takes.
fn step_name(status: Status) -> &'static str {
    match status {
        Status::Queued | Status::Validating | Status::PendingApproval => "worker.preflight",
        Status::Submitting => "worker.submit",
        Status::Importing => "worker.track",
        Status::Deleting => "worker.delete",
        _ => "worker.release",
    }
}

async fn run_step(
    ctx: &Ctx,
    record: ImportRecord,
    known: Option<JobState>,
) -> Result<(), StepError> {
    let Some(env) = ctx
        .catalog
        .environment(record.environment.as_str())
        .cloned()
    else {
        return environment_removed(ctx, &record).await;
    };
    match record.status {
        Status::Queued => {
            let started = change(&record)
                .to(Cause::StartPreflight, Status::Validating)
                .condition(Condition::new(
                    ConditionType::PreflightPassed,
                    ConditionStatus::Unknown,
                    Reason::Running,
                    "checking the artifacts and the access chain",
                ));
            write(ctx, &record, started).await?;
            preflight::preflight(ctx, &record, &env).await
        }
        Status::Validating => preflight::preflight(ctx, &record, &env).await,
        Status::Submitting => submit::submit(ctx, &record, &env).await,
        Status::Importing => track::track(ctx, &record, &env, known).await,
        Status::Verifying => verify::verify(ctx, &record, &env).await,
        Status::Deleting => delete::delete_model(ctx, &record, &env).await,
        Status::PendingApproval => preflight::preview(ctx, &record, &env).await,
        _ => release(ctx, &record, None).await,
    }
}

/// Fails a request whose environment is no longer configured.
async fn environment_removed(ctx: &Ctx, record: &ImportRecord) -> Result<(), StepError> {
    let message = format!("environment {} is no longer configured", record.environment);
    if record.status == Status::Verifying {
        return verify::environment_removed(ctx, record, message).await;
    }
    let cause = match record.status {
        Status::Queued | Status::Validating => Cause::PreflightFailed,
        Status::Submitting => Cause::SubmitFailed,
        _ => Cause::JobFailed,
    };
    if record.status == Status::Queued {
        let started = change(record).to(Cause::StartPreflight, Status::Validating);
        write(ctx, record, started).await?;
    }
    fail_outside_bedrock(ctx, record, cause, Reason::EnvironmentRemoved, message).await
}

/// Fails the request for a reason outside Bedrock (configuration drift, an
/// inconsistent row): the `Ready` condition and a `failed` event say why.
async fn fail_outside_bedrock(
    ctx: &Ctx,
    record: &ImportRecord,
    cause: Cause,
    reason: Reason,
    message: String,
) -> Result<(), StepError> {
    let event = Event::new(
        EventKind::Failed,
        serde_json::json!({ "reason": reason, "message": message }),
    );
    let condition = Condition::new(
        ConditionType::Ready,
        ConditionStatus::False,
        reason,
        message,
    );
    fail(ctx, record, cause, condition, event, |_| {}).await
}
