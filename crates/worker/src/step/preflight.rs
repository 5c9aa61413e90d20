//! `queued` and `validating`: the preflight of the artifacts and the access
//! chain; and the same check, for information only, on a request waiting
//! for approval.

use ferry_domain::artifacts::ArtifactDigest;
use ferry_domain::catalog::{Environment, ModelReuse};
use ferry_domain::condition::{Condition, ConditionStatus, ConditionType, Reason};
use ferry_domain::events::EventKind;
use ferry_domain::preflight::{Check, Outcome, PreflightReport, check_names};
use ferry_domain::status::Cause;
use ferry_domain::update::{Changes, Event};
use ferry_store::imports::ImportRecord;
use time::OffsetDateTime;

use super::{StepError, change, fail, retry_later, write};
use crate::Ctx;

/// The preflight of `record`'s source, with the research key its team's
/// allowed source declares.
async fn check_source(ctx: &Ctx, record: &ImportRecord, env: &Environment) -> PreflightReport {
    let source_key = ctx
        .catalog
        .source_for(&record.team, &record.source)
        .ok()
        .and_then(|s| s.kms_key.clone());
    ctx.cloud
        .preflight(&env.name, &record.source, source_key.as_ref())
        .await
}

fn passed_message(report: &PreflightReport) -> String {
    format!(
        "{} checks passed as {}",
        report.checks.len(),
        report.checked_as
    )
}

/// Runs the preflight of a request waiting for approval, so the reviewer
/// sees its report. Informational only: the request stays where it is, and
/// is checked again once approved.
pub(super) async fn preview(
    ctx: &Ctx,
    record: &ImportRecord,
    env: &Environment,
) -> Result<(), StepError> {
    let report = check_source(ctx, record, env).await;
    if report.failed_transiently() {
        return retry_later(ctx, record, vec![], None).await;
    }
    let (status, reason, message) = if report.passed() {
        (
            ConditionStatus::True,
            Reason::AllChecksPassed,
            passed_message(&report),
        )
    } else {
        let first = report
            .first_failure()
            .map(|c| format!("{}: {}", c.name, c.detail))
            .unwrap_or_default();
        (
            ConditionStatus::False,
            Reason::PreflightFailed,
            format!("the preflight fails, so approving would fail the request: {first}"),
        )
    };
    let json = serde_json::to_value(&report).unwrap_or_default();
    let update = change(record)
        .condition(Condition::new(
            ConditionType::PreflightPassed,
            status,
            reason,
            message,
        ))
        .changes(Changes {
            preflight: Some(json),
            release: true,
            ..Changes::default()
        })
        .event(Event::new(
            EventKind::PreflightForReview,
            serde_json::json!({ "passed": report.passed() }),
        ));
    write(ctx, record, update).await
}

/// The artifact's digest from a passed report, and, when the environment already imported
/// (or is importing) the same artifact, a check saying what happens: reused (the scheduler
/// completes the request by reference once that model is there) or imported again.
async fn same_artifact(
    ctx: &Ctx,
    env: &Environment,
    report: &mut PreflightReport,
) -> Result<Option<ArtifactDigest>, StepError> {
    let Some(digest) = report
        .model
        .as_ref()
        .and_then(|m| m.digest.as_deref())
        .and_then(ArtifactDigest::parse)
    else {
        return Ok(None);
    };
    let policy = ctx
        .settings
        .placements
        .iter()
        .find(|p| p.account == env.account && p.region == env.region)
        .map_or(ModelReuse::Import, |p| p.reuse_in(env.name.as_str()));
    if policy == ModelReuse::Import || !report.passed() {
        return Ok(Some(digest));
    }
    let mut conn = ferry_store::acquire(&ctx.pool).await?;
    let holder = ferry_store::work::digest_holder(&mut conn, env.name.as_str(), &digest).await?;
    if let Some((id, status)) = holder {
        let check = match policy {
            ModelReuse::Reuse => Check::passed(
                check_names::SAME_ARTIFACT,
                format!(
                    "request {id} ({status}) imported this artifact ({digest}) into {}: this request will complete by reference to its model, without an import job (model_reuse = \"reuse\")",
                    env.name
                ),
            ),
            _ => Check::warning(
                check_names::SAME_ARTIFACT,
                format!(
                    "request {id} ({status}) already imported this artifact ({digest}) into {}; importing it again as model_reuse = \"warn\" says, which takes a job slot and a second model's storage",
                    env.name
                ),
            ),
        };
        report.checks.push(check);
    }
    Ok(Some(digest))
}

pub(super) async fn preflight(
    ctx: &Ctx,
    record: &ImportRecord,
    env: &Environment,
) -> Result<(), StepError> {
    let mut report = check_source(ctx, record, env).await;
    let digest = same_artifact(ctx, env, &mut report).await?;
    let json = serde_json::to_value(&report).unwrap_or_default();
    if report.failed_transiently() {
        // Throttling, 5xx or a timeout says nothing about the request: run
        // the preflight again later instead of failing it.
        let detail = report
            .first_failure()
            .map(|c| c.detail.clone())
            .unwrap_or_default();
        let checking = Condition::new(
            ConditionType::PreflightPassed,
            ConditionStatus::Unknown,
            Reason::TransientError,
            format!("will check again: {detail}"),
        );
        return retry_later(ctx, record, vec![checking], Some(json)).await;
    }
    if report.passed() {
        let message = passed_message(&report);
        let update = change(record)
            .condition(Condition::new(
                ConditionType::PreflightPassed,
                ConditionStatus::True,
                Reason::AllChecksPassed,
                message.clone(),
            ))
            .condition(Condition::new(
                ConditionType::Scheduled,
                ConditionStatus::False,
                Reason::WaitingForSlot,
                format!(
                    "waiting for a free import job slot in account {} ({})",
                    env.account, env.region
                ),
            ))
            .changes(Changes {
                preflight: Some(json),
                preflight_passed: Some(true),
                artifact_digest: digest,
                next_attempt_at: Some(OffsetDateTime::now_utc()),
                release: true,
                ..Changes::default()
            })
            .event(Event::new(
                EventKind::PreflightPassed,
                serde_json::json!({ "message": message }),
            ));
        write(ctx, record, update).await
    } else {
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Failed)
            .map(|c| c.name.as_str())
            .collect();
        let message = match report.first_failure() {
            Some(c) => match &c.fix {
                Some(fix) => format!("preflight failed at {}: {} Fix: {fix}", c.name, c.detail),
                None => format!("preflight failed at {}: {}", c.name, c.detail),
            },
            None => "preflight failed".to_owned(),
        };
        let event = Event::new(
            EventKind::PreflightFailed,
            serde_json::json!({ "failed_checks": failed, "message": message }),
        );
        fail(
            ctx,
            record,
            Cause::PreflightFailed,
            Condition::new(
                ConditionType::PreflightPassed,
                ConditionStatus::False,
                Reason::PreflightFailed,
                message,
            ),
            event,
            |changes| {
                changes.preflight = Some(json);
                changes.preflight_passed = Some(false);
            },
        )
        .await
    }
}
