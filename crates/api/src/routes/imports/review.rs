//! Reviewing a request (approve, reject) and cancelling it, with `act`: the
//! one way a user action changes a request's status.

use axum::Json;
use axum::extract::State;
use ferry_domain::condition::{Condition, ConditionStatus, ConditionType, Reason};
use ferry_domain::events::EventKind;
use ferry_domain::ids::ImportId;
use ferry_domain::import::MAX_DESCRIPTION;
use ferry_domain::status::{Cause, Status};
use ferry_domain::update::{Changes, Event, Update};
use ferry_store::imports::{self, ImportRecord};

use super::access::{load_for, parse_id};
use super::schema::{ApproveRequest, CancelRequest, ImportAction, ImportOut, RejectRequest};
use crate::auth::Caller;
use crate::error::{ApiError, FieldProblem};
use crate::extract::{JsonBody, OptionalJsonBody, Path};
use crate::{AppState, Problem};

/// One user action on a request: the transition it makes, why, and what it
/// records.
pub(super) struct Action {
    pub(super) cause: Cause,
    pub(super) to: Status,
    pub(super) kind: EventKind,
    pub(super) condition: Condition,
    pub(super) detail: serde_json::Value,
    pub(super) changes: Changes,
}

/// Loads a request the caller may see, checks it may take `allowed` on it
/// now, then applies `action` with its event, in one transaction.
pub(super) async fn act(
    state: &AppState,
    caller: &Caller,
    id: ImportId,
    allowed: ImportAction,
    action: impl FnOnce(&ImportRecord) -> Action,
) -> Result<ImportRecord, ApiError> {
    let mut tx = ferry_store::begin(&state.pool).await?;
    let record = load_for(&mut tx, caller, id, allowed).await?;
    let a = action(&record);
    let update = Update::new(id, &caller.0)
        .to(a.cause, a.to)
        .condition(a.condition)
        .changes(a.changes)
        .event(Event::new(a.kind, a.detail));
    let updated = imports::update(&mut tx, &update).await?;
    tx.commit().await?;
    tracing::info!(import_id = %id, status = %a.to, "{} by {}", a.kind, caller.0.id);
    Ok(updated)
}

fn check_note(note: Option<&str>, pointer: &str, required: bool) -> Result<(), ApiError> {
    let text = note.unwrap_or_default();
    let result = if required && text.trim().is_empty() {
        Err(ferry_domain::RuleError::new(
            "required",
            "a reason is required",
        ))
    } else {
        ferry_domain::RuleError::check_text(text, "the text", MAX_DESCRIPTION)
    };
    result.map_err(|e| ApiError::validation([FieldProblem::from(e.at(pointer))]))
}

/// Approves a request waiting in `pending_approval`; it moves to `queued`.
///
/// The hosting team's call (roles `hosting` and `admin`), and never the
/// requester's own: a request cannot be approved with the token that
/// submitted it (separation of duties).
#[utoipa::path(
    post, path = "/v1/imports/{id}/approve", tag = "imports",
    params(("id" = String, Path, description = "The request id")),
    request_body(content = Option<ApproveRequest>, description = "Optional comment", content_type = "application/json"),
    responses(
        (status = 200, description = "Approved", body = ImportOut),
        (status = 403, description = "The caller may not approve (researchers), or is the requester: a request is never approved with the credential that submitted it (separation of duties)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not the caller's team's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request is not waiting for approval", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(super) async fn approve_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<ApproveRequest>,
) -> Result<Json<ImportOut>, ApiError> {
    let id = parse_id(&id)?;
    check_note(body.comment.as_deref(), "/comment", false)?;
    let name = caller.0.name.clone();
    let updated = act(&state, &caller, id, ImportAction::Approve, |_| Action {
        cause: Cause::Approve,
        to: Status::Queued,
        kind: EventKind::Approved,
        condition: Condition::new(
            ConditionType::Approved,
            ConditionStatus::True,
            Reason::Approved,
            format!("approved by {name}"),
        ),
        detail: serde_json::json!({ "comment": body.comment }),
        changes: Changes::default(),
    })
    .await?;
    Ok(Json(ImportOut::new(updated, &caller)))
}

/// Rejects a request waiting in `pending_approval`, with a reason.
#[utoipa::path(
    post, path = "/v1/imports/{id}/reject", tag = "imports",
    params(("id" = String, Path, description = "The request id")),
    request_body(content = RejectRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Rejected", body = ImportOut),
        (status = 403, description = "The caller may not reject requests", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not the caller's team's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request is not waiting for approval", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(super) async fn reject_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RejectRequest>,
) -> Result<Json<ImportOut>, ApiError> {
    let id = parse_id(&id)?;
    check_note(Some(&body.reason), "/reason", true)?;
    let name = caller.0.name.clone();
    let updated = act(&state, &caller, id, ImportAction::Reject, |_| Action {
        cause: Cause::Reject,
        to: Status::Rejected,
        kind: EventKind::Rejected,
        condition: Condition::new(
            ConditionType::Approved,
            ConditionStatus::False,
            Reason::Rejected,
            format!("rejected by {name}: {}", body.reason),
        ),
        detail: serde_json::json!({ "reason": body.reason }),
        changes: Changes::default(),
    })
    .await?;
    Ok(Json(ImportOut::new(updated, &caller)))
}

/// Cancels a request that has not finished.
///
/// Bedrock import jobs cannot be stopped: cancelling an `importing` request
/// records the cancellation and stops Ferry tracking the job, which may still
/// complete in Bedrock (the `Cancelled` condition says so). Researchers may
/// cancel their team's requests; the hosting team any.
#[utoipa::path(
    post, path = "/v1/imports/{id}/cancel", tag = "imports",
    params(("id" = String, Path, description = "The request id")),
    request_body(content = Option<CancelRequest>, description = "Optional reason", content_type = "application/json"),
    responses(
        (status = 200, description = "Cancelled", body = ImportOut),
        (status = 403, description = "The caller may not cancel requests", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not the caller's team's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request has already finished", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(super) async fn cancel_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<CancelRequest>,
) -> Result<Json<ImportOut>, ApiError> {
    let id = parse_id(&id)?;
    check_note(body.reason.as_deref(), "/reason", false)?;
    let name = caller.0.name.clone();
    let updated = act(&state, &caller, id, ImportAction::Cancel, |record| {
        let message = match record.status {
            Status::Submitting | Status::Importing => format!(
                "cancelled by {name}; Bedrock import jobs cannot be stopped, so job {} may still finish in Bedrock, \
                 but Ferry no longer tracks it",
                record.job_name
            ),
            _ => format!("cancelled by {name} before any Bedrock job was started"),
        };
        Action {
            cause: Cause::Cancel,
            to: Status::Cancelled,
            kind: EventKind::Cancelled,
            condition: Condition::new(ConditionType::Cancelled, ConditionStatus::True, Reason::CancelledByUser, message),
            detail: serde_json::json!({ "reason": body.reason }),
            changes: Changes::default(),
        }
    })
    .await?;
    Ok(Json(ImportOut::new(updated, &caller)))
}
