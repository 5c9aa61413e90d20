//! What happens to a request after it ran: retry a failed one, delete the
//! imported model of a completed one, promote it to another environment.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use ferry_domain::bedrock::JobName;
use ferry_domain::condition::{Condition, ConditionStatus, ConditionType, Reason};
use ferry_domain::events::EventKind;
use ferry_domain::import::{ImportDraft, NewImport};
use ferry_domain::status::{Cause, Status};
use ferry_domain::update::{Changes, Event, Update};
use ferry_store::imports;
use http::{StatusCode, header};
use time::OffsetDateTime;

use super::access::{load_for, parse_id};
use super::location;
use super::review::{Action, act};
use super::schema::{ImportAction, ImportOut, PromoteRequest, tag_map};
use crate::auth::Caller;
use crate::error::{ApiError, FieldProblem};
use crate::extract::{JsonBody, Path};
use crate::{AppState, Problem};

/// Retries a failed request as a new attempt: back to `queued` with a new
/// Bedrock job name and client request token; the previous attempt stays in
/// the event log.
#[utoipa::path(
    post, path = "/v1/imports/{id}/retry", tag = "imports",
    params(("id" = String, Path, description = "The request id")),
    responses(
        (status = 200, description = "Queued again", body = ImportOut),
        (status = 403, description = "The caller may not retry requests", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not the caller's team's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request has not failed, or its model name is now taken", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(super) async fn retry_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ImportOut>, ApiError> {
    let id = parse_id(&id)?;
    let mut tx = ferry_store::begin(&state.pool).await?;
    let record = load_for(&mut tx, &caller, id, ImportAction::Retry).await?;
    let attempt = u32::try_from(record.attempt).unwrap_or(1);
    let current = record.job_name.clone();
    let first = JobName::first_of(&current, attempt).unwrap_or(current);
    let next = JobName::for_attempt(&first, attempt + 1);
    let condition = Condition::new(
        ConditionType::Retried,
        ConditionStatus::True,
        Reason::RetriedByUser,
        format!("attempt {} started by {}", attempt + 1, caller.0.name),
    );
    // The previous attempt's results leave the row; the event keeps them.
    let detail = serde_json::json!({
        "attempt": record.attempt + 1,
        "previous_job_arn": record.bedrock_job_arn,
        "previous_failure": record.failure_message,
        "job_name": next,
    });
    let update = Update::new(id, &caller.0)
        .to(Cause::Retry, Status::Queued)
        .condition(condition)
        .changes(Changes {
            new_attempt: Some(next),
            ..Changes::default()
        })
        .event(Event::new(EventKind::Retried, detail));
    let updated = imports::update(&mut tx, &update).await?;
    tx.commit().await?;
    tracing::info!(import_id = %id, attempt = attempt + 1, "import request retried");
    Ok(Json(ImportOut::new(updated, &caller)))
}

/// Deletes the imported model of a completed request in Bedrock (imported
/// models bill storage until deleted). Answers 202: the request moves to
/// `deleting`, and to `deleted` once Bedrock has deleted the model (or back
/// to `completed`, with the reason in its `ModelDeleted` condition, if
/// Bedrock refuses).
#[utoipa::path(
    delete, path = "/v1/imports/{id}/model", tag = "imports",
    params(("id" = String, Path, description = "The request id")),
    responses(
        (status = 202, description = "Deletion started", body = ImportOut),
        (status = 403, description = "The caller may not delete models", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not the caller's team's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request has no imported model to delete", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(super) async fn delete_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ImportOut>), ApiError> {
    let id = parse_id(&id)?;
    let name = caller.0.name.clone();
    let updated = act(&state, &caller, id, ImportAction::DeleteModel, |record| {
        Action {
            cause: Cause::DeleteModel,
            to: Status::Deleting,
            kind: EventKind::DeleteRequested,
            condition: Condition::new(
                ConditionType::ModelDeleted,
                ConditionStatus::Unknown,
                Reason::Deleting,
                format!("deletion requested by {name}"),
            ),
            detail: serde_json::json!({ "model_arn": record.imported_model_arn }),
            changes: Changes {
                next_attempt_at: Some(OffsetDateTime::now_utc()),
                ..Changes::default()
            },
        }
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(ImportOut::new(updated, &caller))))
}

/// Promotes a completed import to another environment: a new, linked
/// request for the same artifact, model name and tags, with the same checks
/// as any request and the target environment's approval rule. The hosting
/// team's call; the promoter counts as its requester (so someone else must
/// approve it where approval is required).
#[utoipa::path(
    post, path = "/v1/imports/{id}/promote", tag = "imports",
    params(("id" = String, Path, description = "The completed request to promote")),
    request_body(content = PromoteRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The new, linked request", body = ImportOut,
         headers(("Location" = String, description = "URL of the new request"))),
        (status = 403, description = "The caller may not promote requests", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not the caller's team's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request has not completed, the model name is taken there, or (`not_serving`) its model did not pass the readiness check and the environment requires it for this promotion", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: the target is the environment the request already ran in (rule `same_environment`), or not a configured environment the team may use (`unknown_environment`, `environment_not_allowed`).", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(super) async fn promote_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: http::HeaderMap,
    JsonBody(body): JsonBody<PromoteRequest>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let mut tx = ferry_store::begin(&state.pool).await?;
    let record = load_for(&mut tx, &caller, id, ImportAction::Promote).await?;
    if record.environment.as_str() == body.environment {
        return Err(ApiError::validation([FieldProblem {
            pointer: "/environment".into(),
            rule: "same_environment".into(),
            detail: format!("the request already ran in {}", record.environment),
        }]));
    }
    serving_gate(&state, &record, &body.environment)?;
    let draft = ImportDraft {
        source: record.source.to_string(),
        environment: body.environment.clone(),
        model_name: record.model_name.to_string(),
        team: Some(record.team.to_string()),
        job_name: None,
        description: record.description.clone(),
        model_tags: tag_map(&record.model_tags),
        job_tags: tag_map(&record.job_tags),
        package: None,
    };
    let mut new = NewImport::promotion(&draft, id, &caller.0, &state.catalog)?;
    // The promoted request imports the same artifact: the same package lineage.
    new.model_package.clone_from(&record.model_package);
    new.traceparent = crate::trace::for_new_import(&headers);
    let created = imports::insert(&mut tx, &new, &caller.0.id).await?;
    let promoted = Update::new(id, &caller.0).event(Event::new(
        EventKind::Promoted,
        serde_json::json!({ "to": new.id.to_string(), "environment": body.environment }),
    ));
    imports::update(&mut tx, &promoted).await?;
    tx.commit().await?;
    state.work.nudge();
    tracing::info!(import_id = %id, promotion = %new.id, "import promoted");
    let mut res = (StatusCode::CREATED, Json(ImportOut::new(created, &caller))).into_response();
    res.headers_mut().insert(header::LOCATION, location(new.id));
    Ok(res)
}

/// Refuses promoting a request whose model did not pass the readiness check (`Serving=False`)
/// when its environment requires it for promotions into `target` (config
/// `require_serving_for_promotion`; by default, into an environment that requires approval).
/// A request completed before readiness checks existed has no `Serving` condition and passes.
fn serving_gate(
    state: &AppState,
    record: &ferry_store::imports::ImportRecord,
    target: &str,
) -> Result<(), ApiError> {
    let Some(to) = state.catalog.environment(target) else {
        // An unknown target is named by the draft's own checks.
        return Ok(());
    };
    let required = state
        .catalog
        .environment(record.environment.as_str())
        .map_or(to.requires_approval, |from| {
            from.requires_serving_to_promote_to(to)
        });
    let not_serving = record
        .conditions
        .iter()
        .find(|c| c.kind == ConditionType::Serving && c.status == ConditionStatus::False);
    match not_serving {
        Some(c) if required => Err(ApiError::conflict(
            "not_serving",
            format!(
                "promotion from {} to {target} requires a model that answers, and this one did not \
                 (condition Serving=False, reason {}): {}",
                record.environment, c.reason, c.message
            ),
        )),
        _ => Ok(()),
    }
}
