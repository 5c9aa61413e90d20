//! `verifying`: the readiness check. One bedrock-runtime call per step, each from the
//! account's call budget: first in the format the model's family takes until it answers
//! (`ModelNotReadyException` while Bedrock loads it is retried with backoff until the
//! readiness timeout), then once in each other format the family takes. What was found is
//! stored after every call (under `serving` in the `imported_model` details), so a replica
//! that takes over continues where the last call left off. The request then ends `completed`
//! with `Serving=True`, or `Serving=False` and a `model_not_serving` warning: the model
//! exists and is billed either way, and the hosting team decides.

use ferry_cloud::CallError;
use ferry_domain::catalog::Environment;
use ferry_domain::condition::{Condition, ConditionStatus, ConditionType, Reason};
use ferry_domain::events::EventKind;
use ferry_domain::serving::DETAILS_KEY as KEY;
use ferry_domain::serving::{PROBE_MAX_TOKENS, PROBE_PROMPT, Readiness, ServingApi, probes};
use ferry_domain::status::{Cause, Status};
use ferry_domain::update::{Changes, Event};
use ferry_store::imports::ImportRecord;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{StepError, budget, change, later, refusal_message, release, soon, write};
use crate::Ctx;

/// The key of the model card in the `imported_model` details.
pub(crate) const CARD_KEY: &str = "card";

/// The model card of `record`'s model, from `details` (with the finished check).
fn model_card(ctx: &Ctx, record: &ImportRecord, env: &Environment, details: &Value) -> Value {
    let card = ferry_domain::model_card::card(&ferry_domain::model_card::CardInputs {
        model_arn: record.imported_model_arn.as_deref().unwrap_or_default(),
        model_name: record.model_name.as_str(),
        region: env.region.as_str(),
        details: Some(details),
        preflight: record.preflight.as_ref(),
        prices: &ctx.settings.prices,
    });
    serde_json::to_value(card).unwrap_or(Value::Null)
}

/// The details to store when the job completed: `details` (GetImportedModel's, if read) with
/// a readiness check starting now, counting the cold start from `since`.
pub(super) fn start(ctx: &Ctx, details: Option<Value>, since: OffsetDateTime) -> Value {
    let readiness = Readiness::start(
        since,
        OffsetDateTime::now_utc(),
        ctx.settings.readiness_timeout,
    );
    with_readiness(details, &readiness)
}

fn with_readiness(details: Option<Value>, readiness: &Readiness) -> Value {
    let mut details = match details {
        Some(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    details.insert(
        KEY.to_owned(),
        serde_json::to_value(readiness).unwrap_or(Value::Null),
    );
    Value::Object(details)
}

/// The stored check, or a new one starting now (a row whose check was not recorded).
fn readiness_of(ctx: &Ctx, record: &ImportRecord) -> Readiness {
    record
        .imported_model
        .as_ref()
        .and_then(|d| d.get(KEY))
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_else(|| {
            let now = OffsetDateTime::now_utc();
            Readiness::start(now, now, ctx.settings.readiness_timeout)
        })
}

pub(super) async fn verify(
    ctx: &Ctx,
    record: &ImportRecord,
    env: &Environment,
) -> Result<(), StepError> {
    let mut readiness = readiness_of(ctx, record);
    let Some(model_arn) = record.imported_model_arn.clone().filter(|a| !a.is_empty()) else {
        readiness.last_error = Some("Bedrock reported no imported model ARN".to_owned());
        return not_serving(ctx, record, Some(env), readiness, Reason::NoModel).await;
    };
    if !record
        .imported_model
        .as_ref()
        .is_some_and(|d| d.get("model_arn").is_some() || d.get(DETAILS_ERROR).is_some())
    {
        return read_details(ctx, record, env, &model_arn, &readiness).await;
    }
    let architecture = record
        .imported_model
        .as_ref()
        .and_then(|d| d.get("architecture"))
        .and_then(Value::as_str);
    let apis = probes(architecture);
    let Some(api) = readiness.next(&apis) else {
        return finish(ctx, record, env, readiness).await;
    };
    if !readiness.answered() && OffsetDateTime::now_utc() >= readiness.deadline {
        return not_serving(ctx, record, Some(env), readiness, Reason::ReadinessTimeout).await;
    }
    if !budget(ctx, env).await? {
        return release(ctx, record, Some(soon())).await;
    }
    let started = std::time::Instant::now();
    let result = match api.invoke_body() {
        Some(body) => ctx.cloud.invoke_model(&env.name, &model_arn, &body).await,
        None => {
            ctx.cloud
                .converse(&env.name, &model_arn, PROBE_PROMPT, PROBE_MAX_TOKENS)
                .await
        }
    };
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(answer) => {
            tracing::info!(%api, latency_ms, answered = answer.text.is_some(), "the model answered");
            readiness.record_answer(api, OffsetDateTime::now_utc(), latency_ms);
            next_or_finish(ctx, record, env, readiness, &apis).await
        }
        Err(e) if e.is_retryable() => {
            tracing::info!(%api, error = %e, "the model did not answer yet");
            let waiting = !readiness.answered();
            if waiting {
                readiness.record_not_ready(e.to_string(), matches!(e, CallError::ModelNotReady(_)));
                if OffsetDateTime::now_utc() >= readiness.deadline {
                    return not_serving(
                        ctx,
                        record,
                        Some(env),
                        readiness,
                        Reason::ReadinessTimeout,
                    )
                    .await;
                }
            } else {
                // A later API throttled: the model answers; try that API again shortly.
                readiness.invocations = readiness.invocations.saturating_add(1);
            }
            let delay = ctx
                .settings
                .readiness
                .delay(readiness.invocations.max(1), rand::random());
            let condition = waiting.then(|| {
                Condition::new(
                    ConditionType::Serving,
                    ConditionStatus::Unknown,
                    Reason::ModelNotReady,
                    format!(
                        "Bedrock answered {} ({} ModelNotReadyException so far); trying again until {}",
                        e,
                        readiness.not_ready,
                        rfc3339(readiness.deadline)
                    ),
                )
            });
            save(ctx, record, &readiness, Some(later(delay)), condition).await
        }
        Err(e @ CallError::Validation(_)) => {
            // This API does not take this body on this model: the next one may.
            let message = refusal_message(&e);
            tracing::info!(%api, error = %message, "the model refused this format");
            readiness.record_refusal(api, message);
            next_or_finish(ctx, record, env, readiness, &apis).await
        }
        Err(e) => {
            let message = refusal_message(&e);
            tracing::warn!(%api, error = %message, "bedrock-runtime refused the readiness check");
            readiness.record_refusal(api, message);
            if readiness.answered() {
                next_or_finish(ctx, record, env, readiness, &apis).await
            } else {
                not_serving(ctx, record, Some(env), readiness, Reason::InvokeRefused).await
            }
        }
    }
}

/// Where the details say `GetImportedModel` could not be read (the check goes on
/// without them, as with a model Bedrock describes without an architecture).
const DETAILS_ERROR: &str = "details_error";

/// The first step of the check: the imported model's details (architecture, custom
/// model units, key), from one `GetImportedModel`, stored beside the check.
async fn read_details(
    ctx: &Ctx,
    record: &ImportRecord,
    env: &Environment,
    model_arn: &str,
    readiness: &Readiness,
) -> Result<(), StepError> {
    if !budget(ctx, env).await? {
        return release(ctx, record, Some(soon())).await;
    }
    let details = match ctx.cloud.get_imported_model(&env.name, model_arn).await {
        Ok(d) => json!({
            "model_arn": d.model_arn,
            "model_name": d.model_name,
            "architecture": d.architecture,
            "instruct_supported": d.instruct_supported,
            "custom_model_units": d.custom_model_units.map(|u| json!({
                "per_model_copy": u.per_model_copy,
                "version": u.version,
            })),
            "kms_key_arn": d.kms_key_arn,
        }),
        Err(e) if e.is_retryable() => {
            tracing::info!(error = %e, "GetImportedModel throttled; trying again shortly");
            return release(ctx, record, Some(soon())).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read the imported model's details");
            json!({ DETAILS_ERROR: refusal_message(&e) })
        }
    };
    let update = change(record).changes(Changes {
        imported_model: Some(with_readiness(Some(details), readiness)),
        next_attempt_at: Some(OffsetDateTime::now_utc()),
        release: true,
        ..Changes::default()
    });
    write(ctx, record, update).await
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Stores the check and comes back for the next API at once, or ends it.
async fn next_or_finish(
    ctx: &Ctx,
    record: &ImportRecord,
    env: &Environment,
    readiness: Readiness,
    apis: &[ServingApi],
) -> Result<(), StepError> {
    if readiness.next(apis).is_some() {
        save(
            ctx,
            record,
            &readiness,
            Some(OffsetDateTime::now_utc()),
            None,
        )
        .await
    } else {
        finish(ctx, record, env, readiness).await
    }
}

/// Every API was tried: serving if one answered.
async fn finish(
    ctx: &Ctx,
    record: &ImportRecord,
    env: &Environment,
    readiness: Readiness,
) -> Result<(), StepError> {
    if readiness.answered() {
        serving(ctx, record, env, readiness).await
    } else {
        not_serving(ctx, record, Some(env), readiness, Reason::InvokeRefused).await
    }
}

/// Stores the check so far and lets go of the request until `at`.
async fn save(
    ctx: &Ctx,
    record: &ImportRecord,
    readiness: &Readiness,
    at: Option<OffsetDateTime>,
    condition: Option<Condition>,
) -> Result<(), StepError> {
    let mut update = change(record).changes(Changes {
        imported_model: Some(with_readiness(record.imported_model.clone(), readiness)),
        next_attempt_at: at,
        release: true,
        ..Changes::default()
    });
    update.conditions.extend(condition);
    write(ctx, record, update).await
}

/// `completed`, `Serving=True`, and `model_ready` with what was verified.
async fn serving(
    ctx: &Ctx,
    record: &ImportRecord,
    env: &Environment,
    mut readiness: Readiness,
) -> Result<(), StepError> {
    readiness.serving = Some(true);
    let mut details = with_readiness(record.imported_model.clone(), &readiness);
    let card = model_card(ctx, record, env, &details);
    if let Value::Object(m) = &mut details {
        m.insert(CARD_KEY.to_owned(), card.clone());
    }
    let update = change(record)
        .to(Cause::ModelAnswered, Status::Completed)
        .condition(Condition::new(
            ConditionType::Serving,
            ConditionStatus::True,
            Reason::ModelAnswered,
            readiness.answered_message(),
        ))
        .changes(Changes {
            imported_model: Some(details),
            release: true,
            ..Changes::default()
        })
        .event(Event::new(
            EventKind::ModelReady,
            json!({
                "imported_model_arn": record.imported_model_arn,
                "serving": readiness,
                "card": card,
            }),
        ));
    write(ctx, record, update).await
}

/// `completed`, `Serving=False` with the last error, and a `model_not_serving` warning.
async fn not_serving(
    ctx: &Ctx,
    record: &ImportRecord,
    env: Option<&Environment>,
    mut readiness: Readiness,
    reason: Reason,
) -> Result<(), StepError> {
    readiness.serving = Some(false);
    let last = readiness
        .last_error
        .clone()
        .unwrap_or_else(|| "no answer".to_owned());
    let message = match reason {
        Reason::ReadinessTimeout => format!(
            "the model did not answer by {} ({} invocations, {} ModelNotReadyException); last error: {last}",
            rfc3339(readiness.deadline),
            readiness.invocations,
            readiness.not_ready
        ),
        _ => format!("the model cannot be invoked: {last}"),
    };
    tracing::warn!(import_id = %record.id, %reason, %message, "the imported model is not serving");
    let mut details = with_readiness(record.imported_model.clone(), &readiness);
    if let Some(env) = env {
        let card = model_card(ctx, record, env, &details);
        if let Value::Object(m) = &mut details {
            m.insert(CARD_KEY.to_owned(), card);
        }
    }
    let update = change(record)
        .to(Cause::ModelNotServing, Status::Completed)
        .condition(Condition::new(
            ConditionType::Serving,
            ConditionStatus::False,
            reason,
            message.clone(),
        ))
        .changes(Changes {
            imported_model: Some(details),
            release: true,
            ..Changes::default()
        })
        .event(Event::new(
            EventKind::ModelNotServing,
            json!({
                "level": "warning",
                "reason": reason,
                "message": message,
                "last_error": readiness.last_error,
                "imported_model_arn": record.imported_model_arn,
                "serving": readiness,
            }),
        ));
    write(ctx, record, update).await
}

/// Ends the check of a request whose environment is no longer configured: the model may
/// exist, but Ferry can no longer reach it.
pub(super) async fn environment_removed(
    ctx: &Ctx,
    record: &ImportRecord,
    message: String,
) -> Result<(), StepError> {
    let mut readiness = readiness_of(ctx, record);
    readiness.last_error = Some(message);
    not_serving(ctx, record, None, readiness, Reason::EnvironmentRemoved).await
}
