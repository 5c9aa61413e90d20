//! Reading requests: the list, one request, and its audit trail.

use axum::Json;
use axum::extract::State;
use ferry_domain::bedrock::ImportedModelName;
use ferry_domain::ids::ImportId;
use ferry_store::imports::{self, ListFilter};
use uuid::Uuid;

use super::access::{load_visible, parse_id, read_visible};
use super::schema::{
    EventOut, EventPage, ImportOut, ImportPage, ImportSummaryOut, ListImportsQuery, PageQuery,
};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::routes::params::{self, decode_cursor, encode_cursor, page_limit};
use crate::{AppState, Problem};

/// Lists import requests, newest first, with keyset pagination.
///
/// Items are summaries (`ImportSummaryOut`): the whole request, with its
/// conditions, preflight report, job and imported model, is
/// `GET /v1/imports/{id}`. Researchers only ever see their own team's
/// requests.
#[utoipa::path(
    get, path = "/v1/imports", tag = "imports",
    params(ListImportsQuery),
    responses((status = 200, description = "A page of requests", body = ImportPage)),
)]
pub(super) async fn list_imports(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListImportsQuery>,
) -> Result<Json<ImportPage>, ApiError> {
    let limit = page_limit(q.limit, 50, 200)?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| decode_cursor::<Uuid>("i", c).map(ImportId::from_uuid))
        .transpose()?;
    let team = params::team(q.team.as_deref())?;
    let environment = params::environment(q.environment.as_deref())?;
    let model_name = q
        .model_name
        .as_deref()
        .map(|m| {
            ImportedModelName::parse(m)
                .map_err(|e| ApiError::invalid_query("model_name", e.rule, e.message))
        })
        .transpose()?;
    // A researcher asking for another team's requests gets an empty page: the
    // scope is an extra condition, never a hint that the other team exists.
    let team = match caller.0.team_scope() {
        Some(own) if team.as_ref().is_some_and(|t| t != own) => {
            return Ok(Json(ImportPage {
                items: vec![],
                next_cursor: None,
            }));
        }
        Some(own) => Some(own.clone()),
        None => team,
    };
    let filter = ListFilter {
        team: team.map(String::from),
        environment: environment.map(String::from),
        status: q.status.map(Into::into),
        model_name: model_name.map(String::from),
    };
    let mut conn = ferry_store::acquire(&state.pool).await?;
    let mut rows = imports::list(&mut conn, &filter, before, limit + 1).await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| encode_cursor("i", &r.id.to_string()))
    } else {
        None
    };
    Ok(Json(ImportPage {
        items: rows
            .into_iter()
            .map(|r| ImportSummaryOut::new(r, &caller))
            .collect(),
        next_cursor,
    }))
}

/// Reads one import request.
#[utoipa::path(
    get, path = "/v1/imports/{id}", tag = "imports",
    params(("id" = String, Path, description = "The request id")),
    responses(
        (status = 200, description = "The request", body = ImportOut),
        (status = 404, description = "No such request, or not the caller's team's", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(super) async fn get_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ImportOut>, ApiError> {
    let id = parse_id(&id)?;
    let mut conn = ferry_store::acquire(&state.pool).await?;
    let view = read_visible(&mut conn, &caller, id).await?;
    let mut out = ImportOut::new(view.record, &caller);
    out.queue_position = view.queue_position.and_then(|p| u32::try_from(p).ok());
    out.promotions = view.promotions.into_iter().map(|p| p.as_uuid()).collect();
    Ok(Json(out))
}

/// Lists a request's audit trail, oldest first: every state change, who made
/// it, when, and why.
#[utoipa::path(
    get, path = "/v1/imports/{id}/events", tag = "imports",
    params(("id" = String, Path, description = "The request id"), PageQuery),
    responses(
        (status = 200, description = "A page of events", body = EventPage),
        (status = 404, description = "No such request, or not the caller's team's", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(super) async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let id = parse_id(&id)?;
    let limit = page_limit(q.limit, 100, 500)?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| decode_cursor::<i64>("e", c))
        .transpose()?;
    let mut conn = ferry_store::acquire(&state.pool).await?;
    load_visible(&mut conn, &caller, id).await?;
    let mut rows = imports::events(&mut conn, id, after, limit + 1).await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| encode_cursor("e", &r.id.to_string()))
    } else {
        None
    };
    Ok(Json(EventPage {
        items: rows.into_iter().map(EventOut::from).collect(),
        next_cursor,
    }))
}
