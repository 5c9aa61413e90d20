//! `/v1/imports`: submit, list, read, follow and cancel import requests.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use ferry_domain::auth::Denied;
use ferry_domain::bedrock::{ImportedModelName, JobName, Tag};
use ferry_domain::condition::{Condition, ConditionStatus, ConditionType, Reason};
use ferry_domain::events::EventKind;
use ferry_domain::ids::ImportId;
use ferry_domain::import::{DraftRejected, ImportDraft, MAX_DESCRIPTION, NewImport};
use ferry_domain::names::TeamName;
use ferry_domain::status::{Cause, Status};
use ferry_domain::update::{Changes, Event, Update};
use ferry_store::imports::{self, EventRecord, ImportRecord, ListFilter};
use ferry_store::{PgConnection, idempotency};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::params::{self, decode_cursor, encode_cursor, page_limit};
use crate::auth::Caller;
use crate::error::{ApiError, FieldProblem};
use crate::extract::{JsonBody, OptionalJsonBody, Path, Query};
use crate::{AppState, Problem};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_import, list_imports))
        .routes(routes!(get_import))
        .routes(routes!(list_events))
        .routes(routes!(cancel_import))
        .routes(routes!(approve_import))
        .routes(routes!(reject_import))
        .routes(routes!(retry_import))
        .routes(routes!(delete_model))
        .routes(routes!(promote_import))
}

// ---------------------------------------------------------------- schemas

/// A request to import a model.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportCreate {
    /// S3 URI of the model's folder (Hugging Face layout: `config.json`,
    /// tokenizer files, `*.safetensors`), in a bucket allowed for the team.
    /// Bedrock's rules: lower-case bucket; key characters `-!_*'().`, letters
    /// and digits only.
    #[schema(
        example = "s3://model-artifacts-111122223333/llama3-8b/v1/",
        min_length = 1,
        max_length = 1024,
        pattern = r"^s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](/[-!_*'().a-zA-Z0-9]+(/[-!_*'().a-zA-Z0-9]+)*)?/?$"
    )]
    source: String,
    /// Target environment (see `GET /v1/environments`).
    #[schema(
        example = "dev",
        min_length = 1,
        max_length = 32,
        pattern = "^[a-z][a-z0-9-]*$"
    )]
    environment: String,
    /// The imported model's name in Bedrock: letters and digits, each
    /// optionally followed by one `_` or `-`.
    #[schema(
        example = "llama3-8b-support",
        min_length = 1,
        max_length = 63,
        pattern = "^([0-9a-zA-Z][_-]?)+$"
    )]
    model_name: String,
    /// The owning team. Researchers may omit it (their own is used); admins must set it.
    #[schema(
        example = "research",
        min_length = 1,
        max_length = 32,
        pattern = "^[a-z][a-z0-9-]*$"
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    team: Option<String>,
    /// The Bedrock job name; `ferry-<request id>` when omitted.
    #[schema(
        min_length = 1,
        max_length = 63,
        pattern = r"^[a-zA-Z0-9](-*[a-zA-Z0-9+\-.])*$"
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    job_name: Option<String>,
    /// Free text for reviewers.
    #[schema(max_length = 1024)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// Tags for the imported model (keys starting with `aws:` or `ferry:` are reserved).
    #[serde(default)]
    model_tags: BTreeMap<String, String>,
    /// Tags for the import job.
    #[serde(default)]
    job_tags: BTreeMap<String, String>,
}

impl ImportCreate {
    fn draft(&self) -> ImportDraft {
        ImportDraft {
            source: self.source.clone(),
            environment: self.environment.clone(),
            model_name: self.model_name.clone(),
            team: self.team.clone(),
            job_name: self.job_name.clone(),
            description: self.description.clone(),
            model_tags: self.model_tags.clone(),
            job_tags: self.job_tags.clone(),
        }
    }
}

/// Where an import request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ImportStatus {
    PendingApproval,
    Queued,
    Validating,
    Submitting,
    Importing,
    Completed,
    Failed,
    Rejected,
    Cancelled,
    Deleting,
    Deleted,
}

impl From<Status> for ImportStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::PendingApproval => Self::PendingApproval,
            Status::Queued => Self::Queued,
            Status::Validating => Self::Validating,
            Status::Submitting => Self::Submitting,
            Status::Importing => Self::Importing,
            Status::Completed => Self::Completed,
            Status::Failed => Self::Failed,
            Status::Rejected => Self::Rejected,
            Status::Cancelled => Self::Cancelled,
            Status::Deleting => Self::Deleting,
            Status::Deleted => Self::Deleted,
        }
    }
}

impl From<ImportStatus> for Status {
    fn from(s: ImportStatus) -> Self {
        match s {
            ImportStatus::PendingApproval => Self::PendingApproval,
            ImportStatus::Queued => Self::Queued,
            ImportStatus::Validating => Self::Validating,
            ImportStatus::Submitting => Self::Submitting,
            ImportStatus::Importing => Self::Importing,
            ImportStatus::Completed => Self::Completed,
            ImportStatus::Failed => Self::Failed,
            ImportStatus::Rejected => Self::Rejected,
            ImportStatus::Cancelled => Self::Cancelled,
            ImportStatus::Deleting => Self::Deleting,
            ImportStatus::Deleted => Self::Deleted,
        }
    }
}

/// Why a request is where it is (Kubernetes-style).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ConditionOut {
    /// `Accepted`, `Approved`, `Cancelled`, ...
    #[serde(rename = "type")]
    kind: String,
    /// `True`, `False` or `Unknown`.
    status: String,
    /// A CamelCase word programs may match on.
    reason: String,
    message: String,
    #[serde(with = "time::serde::rfc3339")]
    last_transition_time: OffsetDateTime,
}

impl From<&Condition> for ConditionOut {
    fn from(c: &Condition) -> Self {
        Self {
            kind: c.kind.as_str().to_owned(),
            status: format!("{:?}", c.status),
            reason: c.reason.as_str().to_owned(),
            message: c.message.clone(),
            last_transition_time: c.last_transition_time,
        }
    }
}

/// An import request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ImportOut {
    id: Uuid,
    team: String,
    environment: String,
    source: String,
    model_name: String,
    job_name: String,
    description: Option<String>,
    model_tags: BTreeMap<String, String>,
    job_tags: BTreeMap<String, String>,
    /// Who submitted it.
    requested_by: String,
    status: ImportStatus,
    conditions: Vec<ConditionOut>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    /// 1 for the first try; each retry is a new attempt (new job).
    attempt: i32,
    /// The preflight report: every check of the artifacts and the access
    /// chain, with evidence, the broken step and the fix for a failure.
    #[schema(value_type = Option<Object>)]
    preflight: Option<serde_json::Value>,
    /// While the request waits for a free import slot: its place in line (1 = next).
    /// Only on `GET /v1/imports/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_position: Option<u32>,
    /// The Bedrock import job, once created.
    bedrock_job_arn: Option<String>,
    /// The imported model, once the job completed.
    imported_model_arn: Option<String>,
    /// `GetImportedModel` details: architecture, custom model units, key.
    #[schema(value_type = Option<Object>)]
    imported_model: Option<serde_json::Value>,
    /// Why the request failed (preflight, Bedrock's validation or the job's `failureMessage`).
    failure_message: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    submitted_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    finished_at: Option<OffsetDateTime>,
    /// The completed request this one promotes (lineage, e.g. dev → staging).
    promoted_from: Option<Uuid>,
    /// Requests promoted from this one. Only on `GET /v1/imports/{id}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    promotions: Vec<Uuid>,
}

/// Tags as the JSON object clients send and read.
fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

impl From<ImportRecord> for ImportOut {
    fn from(r: ImportRecord) -> Self {
        Self {
            id: r.id.as_uuid(),
            team: r.team.into(),
            environment: r.environment.into(),
            source: r.source.into(),
            model_name: r.model_name.into(),
            job_name: r.job_name.into(),
            description: r.description,
            model_tags: tag_map(&r.model_tags),
            job_tags: tag_map(&r.job_tags),
            requested_by: r.requested_by,
            status: r.status.into(),
            conditions: r.conditions.iter().map(ConditionOut::from).collect(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            attempt: r.attempt,
            preflight: r.preflight,
            queue_position: None,
            bedrock_job_arn: r.bedrock_job_arn,
            imported_model_arn: r.imported_model_arn,
            imported_model: r.imported_model,
            failure_message: r.failure_message,
            submitted_at: r.submitted_at,
            finished_at: r.finished_at,
            promoted_from: r.promoted_from.map(|p| p.as_uuid()),
            promotions: Vec::new(),
        }
    }
}

/// One page of import requests, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ImportPage {
    items: Vec<ImportOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// One entry of a request's audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventOut {
    /// Increases with every event Ferry records.
    id: i64,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    /// Who caused it: a user's token name, or `ferry` for the worker.
    actor: String,
    /// `created`, `status_changed`, ...
    kind: String,
    from_status: Option<ImportStatus>,
    to_status: Option<ImportStatus>,
    /// Event-specific facts (reason, Bedrock job ARN, failure message, ...).
    #[schema(value_type = Object)]
    detail: serde_json::Value,
}

impl From<EventRecord> for EventOut {
    fn from(e: EventRecord) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            kind: e.kind,
            from_status: e.from_status.map(Into::into),
            to_status: e.to_status.map(Into::into),
            detail: e.detail,
        }
    }
}

/// One page of events, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventPage {
    items: Vec<EventOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Where to promote a completed import.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromoteRequest {
    /// The target environment (subject to its approval rule).
    #[schema(
        example = "staging",
        min_length = 1,
        max_length = 32,
        pattern = "^[a-z][a-z0-9-]*$"
    )]
    environment: String,
}

/// Why the request is being cancelled.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CancelRequest {
    #[schema(max_length = 1024)]
    #[serde(default)]
    reason: Option<String>,
}

/// An approval, with an optional comment for the audit trail.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApproveRequest {
    #[schema(max_length = 1024)]
    #[serde(default)]
    comment: Option<String>,
}

/// A rejection; the reason is shown to the requester.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectRequest {
    #[schema(min_length = 1, max_length = 1024)]
    reason: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListImportsQuery {
    /// Only requests in this status.
    status: Option<ImportStatus>,
    /// Only requests for this environment.
    environment: Option<String>,
    /// Only this team's requests (researchers only ever see their own team's).
    team: Option<String>,
    /// Only requests for this imported model name.
    model_name: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Page size, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

// ---------------------------------------------------------------- helpers

const IDEMPOTENCY_KEY: &str = "idempotency-key";
const MAX_IDEMPOTENCY_KEY: usize = 255;

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty()
                && k.len() <= MAX_IDEMPOTENCY_KEY
                && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_idempotency_key",
                format!(
                    "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
                ),
            )
        })?;
    Ok(Some(key.to_owned()))
}

fn location(id: ImportId) -> HeaderValue {
    HeaderValue::from_str(&format!("/v1/imports/{id}"))
        .unwrap_or_else(|_| HeaderValue::from_static("/v1/imports"))
}

/// Loads a request the caller may see; another team's is "not found".
pub(crate) async fn load_visible(
    conn: &mut PgConnection,
    caller: &Caller,
    id: ImportId,
) -> Result<ImportRecord, ApiError> {
    let not_found = || ApiError::not_found("import request");
    let record = match imports::get(conn, id).await {
        Ok(r) => r,
        Err(ferry_store::StoreError::NotFound) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    caller.0.can_read(&record.team).map_err(|_| not_found())?;
    Ok(record)
}

/// Principal check for one kind of action on a request of a team.
type Permission = fn(&ferry_domain::auth::Principal, &TeamName) -> Result<(), Denied>;

/// Loads a request the caller may see and checks it may `verb` it.
async fn load_for(
    conn: &mut PgConnection,
    caller: &Caller,
    id: ImportId,
    verb: &str,
    allowed: Permission,
) -> Result<ImportRecord, ApiError> {
    let record = load_visible(conn, caller, id).await?;
    allowed(&caller.0, &record.team).map_err(|d| denied(d, verb, caller))?;
    Ok(record)
}

fn parse_id(raw: &str) -> Result<ImportId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("import request"))
}

// ---------------------------------------------------------------- handlers

/// Submits an import request.
///
/// Every field is checked against Bedrock's own rules and the team's allowed
/// sources before anything is stored. The request starts `queued`, or
/// `pending_approval` in environments that require approval.
///
/// Send an `Idempotency-Key` to retry safely: the same key with the same body
/// returns the first response again (with `Idempotent-Replayed: true`); the
/// same key with another body is refused. Keys are scoped to the caller and
/// remembered for 24 hours.
#[utoipa::path(
    post, path = "/v1/imports", tag = "imports",
    request_body = ImportCreate,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: 1 to 255 visible ASCII characters."),
    ),
    responses(
        (status = 201, description = "Created (or replayed)", body = ImportOut,
         headers(("Location" = String, description = "URL of the new request"))),
        (status = 403, description = "The caller may not create requests for that team", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The model or job name is already in use in that environment", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn create_import(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ImportCreate>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let request_hash = {
        let canonical = serde_json::to_vec(&body).map_err(ApiError::internal)?;
        Sha256::digest(&canonical).to_vec()
    };
    let mut tx = state.pool.begin().await.map_err(ApiError::internal)?;
    if let Some(key) = &key {
        idempotency::lock(&mut tx, &caller.0.id, key).await?;
        if let Some(saved) = idempotency::find(&mut tx, &caller.0.id, key).await? {
            if saved.request_hash != request_hash {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with a different body; use a new key",
                ));
            }
            let status = StatusCode::from_u16(saved.status).unwrap_or(StatusCode::CREATED);
            let mut res = (status, Json(saved.body)).into_response();
            if let Some(id) = saved.resource_id {
                res.headers_mut()
                    .insert(header::LOCATION, location(ImportId::from_uuid(id)));
            }
            res.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(res);
        }
    }

    let new =
        NewImport::from_draft(&body.draft(), &caller.0, &state.catalog).map_err(|r| match r {
            DraftRejected::Forbidden(why) => ApiError::forbidden(why),
            DraftRejected::Invalid(errors) => {
                ApiError::validation(errors.into_iter().map(FieldProblem::from))
            }
        })?;
    let record = imports::insert(&mut tx, &new, &caller.0.id).await?;
    let out = ImportOut::from(record);
    if let Some(key) = &key {
        let saved = idempotency::SavedResponse {
            request_hash,
            status: StatusCode::CREATED.as_u16(),
            body: serde_json::to_value(&out).map_err(ApiError::internal)?,
            resource_id: Some(new.id.as_uuid()),
            created_at: OffsetDateTime::now_utc(),
        };
        idempotency::save(
            &mut tx,
            &caller.0.id,
            key,
            &saved,
            state.settings.idempotency_ttl,
        )
        .await?;
    }
    tx.commit().await.map_err(ApiError::internal)?;
    tracing::info!(import_id = %new.id, team = %new.team, environment = %new.environment, status = %new.status, "import request created");
    let mut res = (StatusCode::CREATED, Json(out)).into_response();
    res.headers_mut().insert(header::LOCATION, location(new.id));
    Ok(res)
}

/// Lists import requests, newest first, with keyset pagination.
///
/// Researchers only ever see their own team's requests.
#[utoipa::path(
    get, path = "/v1/imports", tag = "imports",
    params(ListImportsQuery),
    responses((status = 200, description = "A page of requests", body = ImportPage)),
)]
async fn list_imports(
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
    let mut conn = state.pool.acquire().await.map_err(ApiError::internal)?;
    let mut rows = imports::list(&mut conn, &filter, before, limit + 1).await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| encode_cursor("i", &r.id.to_string()))
    } else {
        None
    };
    Ok(Json(ImportPage {
        items: rows.into_iter().map(ImportOut::from).collect(),
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
async fn get_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ImportOut>, ApiError> {
    let id = parse_id(&id)?;
    let mut conn = state.pool.acquire().await.map_err(ApiError::internal)?;
    let record = load_visible(&mut conn, &caller, id).await?;
    let position = ferry_store::work::queue_position(&mut conn, &record).await?;
    let promotions = imports::promotions(&mut conn, record.id).await?;
    let mut out = ImportOut::from(record);
    out.queue_position = position.and_then(|p| u32::try_from(p).ok());
    out.promotions = promotions.into_iter().map(|p| p.as_uuid()).collect();
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
async fn list_events(
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
    let mut conn = state.pool.acquire().await.map_err(ApiError::internal)?;
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
async fn cancel_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<CancelRequest>,
) -> Result<Json<ImportOut>, ApiError> {
    let id = parse_id(&id)?;
    check_note(body.reason.as_deref(), "/reason", false)?;
    let name = caller.0.name.clone();
    let updated = act(&state, &caller, id, "cancel", ferry_domain::auth::Principal::can_cancel, |_| Ok(()), |record| {
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
    Ok(Json(updated.into()))
}

/// One user action on a request: the transition it makes, why, and what it
/// records.
struct Action {
    cause: Cause,
    to: Status,
    kind: EventKind,
    condition: Condition,
    detail: serde_json::Value,
    changes: Changes,
}

/// Loads a request the caller may see, checks `allowed` for its team and
/// `guard` on the request, then applies `action` with its event, in one
/// transaction.
async fn act(
    state: &AppState,
    caller: &Caller,
    id: ImportId,
    verb: &str,
    allowed: Permission,
    guard: impl FnOnce(&ImportRecord) -> Result<(), ApiError>,
    action: impl FnOnce(&ImportRecord) -> Action,
) -> Result<ImportRecord, ApiError> {
    let mut tx = state.pool.begin().await.map_err(ApiError::internal)?;
    let record = load_for(&mut tx, caller, id, verb, allowed).await?;
    guard(&record)?;
    let a = action(&record);
    let update = Update::new(id, caller.0.name.as_str())
        .to(a.cause, a.to)
        .condition(a.condition)
        .changes(a.changes)
        .event(Event::new(a.kind, a.detail));
    let updated = imports::update(&mut tx, &update).await?;
    tx.commit().await.map_err(ApiError::internal)?;
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

fn denied(d: Denied, what: &str, caller: &Caller) -> ApiError {
    match d {
        Denied::Hidden => ApiError::not_found("import request"),
        Denied::Forbidden => ApiError::forbidden(format!(
            "a {} may not {what} import requests",
            caller.0.role
        )),
    }
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
        (status = 403, description = "The caller may not approve, or is the requester", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request, or not the caller's team's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The request is not waiting for approval", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn approve_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<ApproveRequest>,
) -> Result<Json<ImportOut>, ApiError> {
    let id = parse_id(&id)?;
    check_note(body.comment.as_deref(), "/comment", false)?;
    let me = caller.0.id.clone();
    let name = caller.0.name.clone();
    let separation = |record: &ImportRecord| {
        if record.requester_id == me {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "separation_of_duties",
                "a request cannot be approved by the credential that submitted it",
            ));
        }
        Ok(())
    };
    let updated = act(
        &state,
        &caller,
        id,
        "approve",
        ferry_domain::auth::Principal::can_review,
        separation,
        |_| Action {
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
        },
    )
    .await?;
    Ok(Json(updated.into()))
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
async fn reject_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RejectRequest>,
) -> Result<Json<ImportOut>, ApiError> {
    let id = parse_id(&id)?;
    check_note(Some(&body.reason), "/reason", true)?;
    let name = caller.0.name.clone();
    let updated = act(
        &state,
        &caller,
        id,
        "reject",
        ferry_domain::auth::Principal::can_review,
        |_| Ok(()),
        |_| Action {
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
        },
    )
    .await?;
    Ok(Json(updated.into()))
}

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
async fn retry_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ImportOut>, ApiError> {
    let id = parse_id(&id)?;
    let mut tx = state.pool.begin().await.map_err(ApiError::internal)?;
    let record = load_for(
        &mut tx,
        &caller,
        id,
        "retry",
        ferry_domain::auth::Principal::can_retry,
    )
    .await?;
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
    let detail = serde_json::json!({
        "attempt": record.attempt + 1,
        "previous_job_arn": record.bedrock_job_arn,
        "previous_failure": record.failure_message,
        "job_name": next,
    });
    let update = Update::new(id, caller.0.name.as_str())
        .to(Cause::Retry, Status::Queued)
        .condition(condition)
        .changes(Changes {
            new_attempt: Some(next),
            ..Changes::default()
        })
        .event(Event::new(EventKind::Retried, detail));
    let updated = imports::update(&mut tx, &update).await?;
    tx.commit().await.map_err(ApiError::internal)?;
    tracing::info!(import_id = %id, attempt = attempt + 1, "import request retried");
    Ok(Json(updated.into()))
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
async fn delete_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ImportOut>), ApiError> {
    let id = parse_id(&id)?;
    let name = caller.0.name.clone();
    let verb = "delete the models of";
    let updated = act(
        &state,
        &caller,
        id,
        verb,
        ferry_domain::auth::Principal::can_review,
        |_| Ok(()),
        |record| Action {
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
        },
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(updated.into())))
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
        (status = 409, description = "The request has not completed, or the model name is taken there", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn promote_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PromoteRequest>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let mut tx = state.pool.begin().await.map_err(ApiError::internal)?;
    let record = load_for(
        &mut tx,
        &caller,
        id,
        "promote",
        ferry_domain::auth::Principal::can_review,
    )
    .await?;
    if record.status != Status::Completed {
        return Err(ApiError::conflict(
            "not_completed",
            format!(
                "only a completed import can be promoted; this one is {}",
                record.status
            ),
        ));
    }
    if record.environment.as_str() == body.environment {
        return Err(ApiError::validation([FieldProblem {
            pointer: "/environment".into(),
            rule: "same_environment".into(),
            detail: format!("the request already ran in {}", record.environment),
        }]));
    }
    let draft = ImportDraft {
        source: record.source.to_string(),
        environment: body.environment.clone(),
        model_name: record.model_name.to_string(),
        team: Some(record.team.to_string()),
        job_name: None,
        description: record.description.clone(),
        model_tags: tag_map(&record.model_tags),
        job_tags: tag_map(&record.job_tags),
    };
    let new = NewImport::promotion(&draft, id, &caller.0, &state.catalog).map_err(|r| match r {
        DraftRejected::Forbidden(why) => ApiError::forbidden(why),
        DraftRejected::Invalid(errors) => {
            ApiError::validation(errors.into_iter().map(FieldProblem::from))
        }
    })?;
    let created = imports::insert(&mut tx, &new, &caller.0.id).await?;
    let promoted = Update::new(id, caller.0.name.as_str()).event(Event::new(
        EventKind::Promoted,
        serde_json::json!({ "to": new.id.to_string(), "environment": body.environment }),
    ));
    imports::update(&mut tx, &promoted).await?;
    tx.commit().await.map_err(ApiError::internal)?;
    tracing::info!(import_id = %id, promotion = %new.id, "import promoted");
    let mut res = (StatusCode::CREATED, Json(ImportOut::from(created))).into_response();
    res.headers_mut().insert(header::LOCATION, location(new.id));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mirror_is_exact() {
        for s in Status::ALL {
            let mirrored: ImportStatus = s.into();
            assert_eq!(Status::from(mirrored), s);
            assert_eq!(
                serde_json::to_value(mirrored).ok(),
                serde_json::to_value(s).ok()
            );
        }
    }
}
