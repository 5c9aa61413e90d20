//! Import requests and their event log.

use std::collections::BTreeMap;

use ferry_domain::artifacts::ArtifactDigest;
use ferry_domain::aws::{AccountId, Region};
use ferry_domain::bedrock::{ImportedModelName, JobName, S3Uri, Tag};
use ferry_domain::condition::{Condition, set_condition};
use ferry_domain::events::EventKind;
use ferry_domain::ids::{ImportId, ImportedModelId};
use ferry_domain::import::NewImport;
use ferry_domain::model_package::PackageLineage;
use ferry_domain::names::{EnvironmentName, TeamName};
use ferry_domain::status::{self, Status};
use ferry_domain::trace::TraceParent;
use ferry_domain::update::{Actor, Event, Update};
use sqlx::PgConnection;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// An import request as stored, every constrained value parsed once, here:
/// nothing downstream parses a string of a record again.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRecord {
    pub id: ImportId,
    pub team: TeamName,
    pub environment: EnvironmentName,
    pub source: S3Uri,
    pub model_name: ImportedModelName,
    pub job_name: JobName,
    pub description: Option<String>,
    /// By key.
    pub model_tags: Vec<Tag>,
    /// By key.
    pub job_tags: Vec<Tag>,
    pub requested_by: String,
    pub requester_id: String,
    pub status: Status,
    pub conditions: Vec<Condition>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// The hosting account and Region; absent on requests stored before
    /// they were recorded (the worker backfills them).
    pub hosting_account: Option<AccountId>,
    pub region: Option<Region>,
    pub attempt: i32,
    pub preflight: Option<serde_json::Value>,
    pub preflight_passed: Option<bool>,
    pub bedrock_job_arn: Option<String>,
    pub imported_model_arn: Option<String>,
    pub imported_model: Option<serde_json::Value>,
    pub failure_message: Option<String>,
    pub submitted_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub retries: i32,
    pub polls: i32,
    pub next_attempt_at: OffsetDateTime,
    pub promoted_from: Option<ImportId>,
    /// The W3C `traceparent` of the API request that created it.
    pub traceparent: Option<TraceParent>,
    /// The artifact's content digest, once a preflight computed it.
    pub artifact_digest: Option<ArtifactDigest>,
    /// The request whose imported model this one completed by reference to (no job of its own).
    pub reused_from: Option<ImportId>,
    /// The SageMaker model package the source was resolved from.
    pub model_package: Option<PackageLineage>,
}

/// One entry of a request's audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub id: i64,
    pub import_id: ImportId,
    pub at: OffsetDateTime,
    pub actor: String,
    /// The credential behind `actor`; `None` for events recorded before ids were kept.
    pub actor_id: Option<String>,
    pub kind: String,
    pub from_status: Option<Status>,
    pub to_status: Option<Status>,
    pub detail: serde_json::Value,
}

pub(crate) struct ImportRow {
    pub(crate) id: Uuid,
    pub(crate) team: String,
    pub(crate) environment: String,
    pub(crate) source_uri: String,
    pub(crate) model_name: String,
    pub(crate) job_name: String,
    pub(crate) description: Option<String>,
    pub(crate) model_tags: Json<BTreeMap<String, String>>,
    pub(crate) job_tags: Json<BTreeMap<String, String>>,
    pub(crate) requested_by: String,
    pub(crate) requester_id: String,
    pub(crate) status: String,
    pub(crate) conditions: serde_json::Value,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) hosting_account: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) attempt: i32,
    pub(crate) preflight: Option<serde_json::Value>,
    pub(crate) preflight_passed: Option<bool>,
    pub(crate) bedrock_job_arn: Option<String>,
    pub(crate) imported_model_arn: Option<String>,
    pub(crate) imported_model: Option<serde_json::Value>,
    pub(crate) failure_message: Option<String>,
    pub(crate) submitted_at: Option<OffsetDateTime>,
    pub(crate) finished_at: Option<OffsetDateTime>,
    pub(crate) retries: i32,
    pub(crate) polls: i32,
    pub(crate) next_attempt_at: OffsetDateTime,
    pub(crate) promoted_from: Option<Uuid>,
    pub(crate) traceparent: Option<String>,
    pub(crate) artifact_digest: Option<String>,
    pub(crate) reused_from: Option<Uuid>,
    pub(crate) model_package: Option<serde_json::Value>,
}

/// An [`ImportRow`] from a `sqlx::query!` record that selected every column `ImportRow` has
/// (under the same names) beside columns of its own: queries that read a request together with
/// something else (its promotions, a previous lease owner) build the row with this, so the column
/// list is mapped in one place.
macro_rules! import_row {
    ($r:ident) => {
        $crate::imports::ImportRow {
            id: $r.id,
            team: $r.team,
            environment: $r.environment,
            source_uri: $r.source_uri,
            model_name: $r.model_name,
            job_name: $r.job_name,
            description: $r.description,
            model_tags: $r.model_tags,
            job_tags: $r.job_tags,
            requested_by: $r.requested_by,
            requester_id: $r.requester_id,
            status: $r.status,
            conditions: $r.conditions,
            created_at: $r.created_at,
            updated_at: $r.updated_at,
            hosting_account: $r.hosting_account,
            region: $r.region,
            attempt: $r.attempt,
            preflight: $r.preflight,
            preflight_passed: $r.preflight_passed,
            bedrock_job_arn: $r.bedrock_job_arn,
            imported_model_arn: $r.imported_model_arn,
            imported_model: $r.imported_model,
            failure_message: $r.failure_message,
            submitted_at: $r.submitted_at,
            finished_at: $r.finished_at,
            retries: $r.retries,
            polls: $r.polls,
            next_attempt_at: $r.next_attempt_at,
            promoted_from: $r.promoted_from,
            traceparent: $r.traceparent,
            artifact_digest: $r.artifact_digest,
            reused_from: $r.reused_from,
            model_package: $r.model_package,
        }
    };
}
pub(crate) use import_row;

pub(crate) fn parse_status(s: &str) -> Result<Status, StoreError> {
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("status: {e}")))
}

/// Parses one stored field, naming it when it no longer parses.
fn field<T, E: std::fmt::Display>(name: &str, parsed: Result<T, E>) -> Result<T, StoreError> {
    parsed.map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}

fn parse_tags(name: &str, tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, StoreError> {
    tags.iter()
        .map(|(k, v)| field(name, Tag::new(k, v)))
        .collect()
}

pub(crate) fn parse_conditions(value: serde_json::Value) -> Result<Vec<Condition>, StoreError> {
    field("conditions", serde_json::from_value(value))
}

impl TryFrom<ImportRow> for ImportRecord {
    type Error = StoreError;
    fn try_from(r: ImportRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: ImportId::from_uuid(r.id),
            team: field("team", TeamName::parse(&r.team))?,
            environment: field("environment", EnvironmentName::parse(&r.environment))?,
            source: field("source_uri", S3Uri::parse(&r.source_uri))?,
            model_name: field("model_name", ImportedModelName::parse(&r.model_name))?,
            job_name: field("job_name", JobName::parse(&r.job_name))?,
            description: r.description,
            model_tags: parse_tags("model_tags", &r.model_tags.0)?,
            job_tags: parse_tags("job_tags", &r.job_tags.0)?,
            requested_by: r.requested_by,
            requester_id: r.requester_id,
            status: field("status", r.status.parse::<Status>())?,
            conditions: parse_conditions(r.conditions)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
            hosting_account: r
                .hosting_account
                .as_deref()
                .map(|a| field("hosting_account", AccountId::parse(a)))
                .transpose()?,
            region: r
                .region
                .as_deref()
                .map(|a| field("region", Region::parse(a)))
                .transpose()?,
            attempt: r.attempt,
            preflight: r.preflight,
            preflight_passed: r.preflight_passed,
            bedrock_job_arn: r.bedrock_job_arn,
            imported_model_arn: r.imported_model_arn,
            imported_model: r.imported_model,
            failure_message: r.failure_message,
            submitted_at: r.submitted_at,
            finished_at: r.finished_at,
            retries: r.retries,
            polls: r.polls,
            next_attempt_at: r.next_attempt_at,
            promoted_from: r.promoted_from.map(ImportId::from_uuid),
            traceparent: r
                .traceparent
                .as_deref()
                .map(|t| field("traceparent", TraceParent::parse(t)))
                .transpose()?,
            artifact_digest: r
                .artifact_digest
                .as_deref()
                .map(|d| {
                    ArtifactDigest::parse(d)
                        .ok_or_else(|| StoreError::Corrupt(format!("artifact_digest: {d}")))
                })
                .transpose()?,
            reused_from: r.reused_from.map(ImportId::from_uuid),
            model_package: r
                .model_package
                .map(|v| field("model_package", serde_json::from_value(v)))
                .transpose()?,
        })
    }
}

fn tag_map(tags: &[ferry_domain::bedrock::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

/// Stores a new request and its `created` event, in one statement: on a
/// connection outside a transaction it commits on its own, in one round trip
/// (the create path without an `Idempotency-Key`), and it joins the
/// transaction of a connection inside one.
#[tracing::instrument(skip_all, fields(import_id = %new.id), err)]
pub async fn insert(
    conn: &mut PgConnection,
    new: &NewImport,
    requester_id: &str,
) -> Result<ImportRecord, StoreError> {
    let created = serde_json::json!({
        "source": new.source.as_str(),
        "environment": new.environment.as_str(),
    });
    // Columns read through a CTE lose their NOT NULL to sqlx's inference: the
    // `!` marks restore what the table declares.
    let row = sqlx::query_as!(
        ImportRow,
        r#"WITH r AS (
               INSERT INTO import_requests
                   (id, team, environment, source_uri, model_name, job_name, description,
                    model_tags, job_tags, requested_by, requester_id, status, conditions,
                    hosting_account, region, promoted_from, traceparent, model_package)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
               RETURNING *),
           e AS (
               INSERT INTO import_events (import_id, actor, actor_id, kind, from_status, to_status, detail)
               SELECT id, requested_by, requester_id, $20, NULL, status, $19 FROM r)
           SELECT id AS "id!", team AS "team!", environment AS "environment!",
                  source_uri AS "source_uri!", model_name AS "model_name!", job_name AS "job_name!",
                  description,
                  model_tags AS "model_tags!: Json<BTreeMap<String, String>>",
                  job_tags AS "job_tags!: Json<BTreeMap<String, String>>",
                  requested_by AS "requested_by!", requester_id AS "requester_id!",
                  status AS "status!", conditions AS "conditions!",
                  created_at AS "created_at!", updated_at AS "updated_at!",
                  hosting_account, region, attempt AS "attempt!", preflight,
                  preflight_passed, bedrock_job_arn, imported_model_arn, imported_model,
                  failure_message, submitted_at, finished_at, retries AS "retries!",
                  polls AS "polls!", next_attempt_at AS "next_attempt_at!",
                  promoted_from, traceparent, artifact_digest, reused_from, model_package
           FROM r"#,
        new.id.as_uuid(),
        new.team.as_str(),
        new.environment.as_str(),
        new.source.as_str(),
        new.model_name.as_str(),
        new.job_name.as_str(),
        new.description.as_deref(),
        Json(tag_map(&new.model_tags)) as _,
        Json(tag_map(&new.job_tags)) as _,
        new.requested_by,
        requester_id,
        new.status.as_str(),
        Json(new.initial_conditions()) as _,
        new.hosting_account.as_str(),
        new.region.as_str(),
        new.promoted_from.map(|p| p.as_uuid()),
        new.traceparent.as_ref().map(TraceParent::as_str),
        new.model_package
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("model_package: {e}")))?,
        created,
        EventKind::Created.as_str(),
    )
    .fetch_one(&mut *conn)
    .await?;
    row.try_into()
}

#[tracing::instrument(skip_all, fields(import_id = %id), err)]
pub async fn get(conn: &mut PgConnection, id: ImportId) -> Result<ImportRecord, StoreError> {
    sqlx::query_as!(
        ImportRow,
        r#"SELECT id, team, environment, source_uri, model_name, job_name, description,
                  model_tags AS "model_tags: Json<BTreeMap<String, String>>",
                  job_tags AS "job_tags: Json<BTreeMap<String, String>>",
                  requested_by, requester_id, status,
                  conditions,
                  created_at, updated_at, hosting_account, region, attempt, preflight,
                  preflight_passed, bedrock_job_arn, imported_model_arn, imported_model,
                  failure_message, submitted_at, finished_at, retries, polls, next_attempt_at,
                  promoted_from, traceparent, artifact_digest, reused_from, model_package
           FROM import_requests WHERE id = $1"#,
        id.as_uuid()
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

/// A request with what reading it shows beside it: the requests promoted
/// from it and, while it waits for a job slot, its place in line.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportView {
    pub record: ImportRecord,
    /// Requests promoted from this one, oldest first.
    pub promotions: Vec<ImportId>,
    /// 1 = next; only while the request waits for a free import slot.
    pub queue_position: Option<usize>,
}

/// Reads one request, the requests promoted from it and its stored place in
/// line, in one query (one round trip).
#[tracing::instrument(skip_all, fields(import_id = %id), err)]
pub async fn read(conn: &mut PgConnection, id: ImportId) -> Result<ImportView, StoreError> {
    let r = sqlx::query!(
        r#"SELECT r.id, r.team, r.environment, r.source_uri, r.model_name, r.job_name, r.description,
                  r.model_tags AS "model_tags: Json<BTreeMap<String, String>>",
                  r.job_tags AS "job_tags: Json<BTreeMap<String, String>>",
                  r.requested_by, r.requester_id, r.status,
                  r.conditions,
                  r.created_at, r.updated_at, r.hosting_account, r.region, r.attempt, r.preflight,
                  r.preflight_passed, r.bedrock_job_arn, r.imported_model_arn, r.imported_model,
                  r.failure_message, r.submitted_at, r.finished_at, r.retries, r.polls, r.next_attempt_at,
                  r.promoted_from, r.traceparent, r.artifact_digest, r.reused_from, r.model_package,
                  ARRAY(SELECT p.id FROM import_requests p WHERE p.promoted_from = r.id ORDER BY p.id)
                      AS "promotions!",
                  (SELECT w.position FROM waiting_positions w
                   WHERE w.import_id = r.id AND r.status = 'validating' AND r.preflight_passed IS TRUE)
                      AS queue_position
           FROM import_requests r WHERE r.id = $1"#,
        id.as_uuid()
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    let promotions = r.promotions.into_iter().map(ImportId::from_uuid).collect();
    let queue_position = r.queue_position.and_then(|p| usize::try_from(p).ok());
    let record = import_row!(r).try_into()?;
    Ok(ImportView {
        record,
        promotions,
        queue_position,
    })
}

/// Filters for [`list`]; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub team: Option<String>,
    pub environment: Option<String>,
    pub status: Option<Status>,
    pub model_name: Option<String>,
}

/// A list item: what a list shows of a request, parsed like a record. The
/// whole request is one [`read`] away.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    pub id: ImportId,
    pub team: TeamName,
    pub environment: EnvironmentName,
    pub source: S3Uri,
    pub model_name: ImportedModelName,
    pub job_name: JobName,
    pub requested_by: String,
    pub requester_id: String,
    pub status: Status,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub attempt: i32,
    pub imported_model_arn: Option<String>,
    pub finished_at: Option<OffsetDateTime>,
    pub promoted_from: Option<ImportId>,
    pub reused_from: Option<ImportId>,
    /// 1 = next; only while the request waits for a free import slot.
    pub queue_position: Option<usize>,
}

struct SummaryRow {
    id: Uuid,
    team: String,
    environment: String,
    source_uri: String,
    model_name: String,
    job_name: String,
    requested_by: String,
    requester_id: String,
    status: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    attempt: i32,
    imported_model_arn: Option<String>,
    finished_at: Option<OffsetDateTime>,
    promoted_from: Option<Uuid>,
    reused_from: Option<Uuid>,
    queue_position: Option<i32>,
}

impl TryFrom<SummaryRow> for ImportSummary {
    type Error = StoreError;
    fn try_from(r: SummaryRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: ImportId::from_uuid(r.id),
            team: field("team", TeamName::parse(&r.team))?,
            environment: field("environment", EnvironmentName::parse(&r.environment))?,
            source: field("source_uri", S3Uri::parse(&r.source_uri))?,
            model_name: field("model_name", ImportedModelName::parse(&r.model_name))?,
            job_name: field("job_name", JobName::parse(&r.job_name))?,
            requested_by: r.requested_by,
            requester_id: r.requester_id,
            status: field("status", r.status.parse::<Status>())?,
            created_at: r.created_at,
            updated_at: r.updated_at,
            attempt: r.attempt,
            imported_model_arn: r.imported_model_arn,
            finished_at: r.finished_at,
            promoted_from: r.promoted_from.map(ImportId::from_uuid),
            reused_from: r.reused_from.map(ImportId::from_uuid),
            queue_position: r.queue_position.and_then(|p| usize::try_from(p).ok()),
        })
    }
}

/// One page of requests as summaries, newest first, strictly older than
/// `before`.
///
/// Each combination of filters is served by an index ending in `id` (see
/// the migration `list_indexes_and_tracking_sweeps`), read backwards from the cursor, so
/// a page touches about `limit` rows. Postgres plans the statement for its
/// parameters (a custom plan drops the unset filters and picks that index);
/// its generic plan, which cannot, is estimated dearer, so the plan cache
/// keeps making custom plans (at a million rows: no generic plan after 30
/// executions, `pg_prepared_statements`).
#[tracing::instrument(skip_all, err)]
pub async fn list(
    conn: &mut PgConnection,
    filter: &ListFilter,
    before: Option<ImportId>,
    limit: u32,
) -> Result<Vec<ImportSummary>, StoreError> {
    let rows = sqlx::query_as!(
        SummaryRow,
        r#"SELECT r.id, r.team, r.environment, r.source_uri, r.model_name, r.job_name,
                  r.requested_by, r.requester_id, r.status, r.created_at, r.updated_at, r.attempt,
                  r.imported_model_arn, r.finished_at, r.promoted_from, r.reused_from,
                  (SELECT w.position FROM waiting_positions w
                   WHERE w.import_id = r.id AND r.status = 'validating' AND r.preflight_passed IS TRUE)
                      AS queue_position
           FROM import_requests r
           WHERE ($1::text IS NULL OR r.team = $1)
             AND ($2::text IS NULL OR r.environment = $2)
             AND ($3::text IS NULL OR r.status = $3)
             AND ($4::text IS NULL OR r.model_name = $4)
             AND ($5::uuid IS NULL OR r.id < $5)
           ORDER BY r.id DESC
           LIMIT $6"#,
        filter.team.as_deref(),
        filter.environment.as_deref(),
        filter.status.map(Status::as_str),
        filter.model_name.as_deref(),
        before.map(|b| b.as_uuid()),
        i64::from(limit),
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// Appends one event to a request's audit trail: only [`insert`] and
/// [`update`] do, inside the transaction that makes the change.
async fn append_event(
    conn: &mut PgConnection,
    id: ImportId,
    actor: &Actor,
    event: &Event,
    from: Option<Status>,
    to: Option<Status>,
) -> Result<i64, StoreError> {
    let rec = sqlx::query!(
        r#"INSERT INTO import_events (import_id, actor, actor_id, kind, from_status, to_status, detail)
           VALUES ($1, $2, $7, $3, $4, $5, $6) RETURNING id"#,
        id.as_uuid(),
        actor.name,
        event.kind.as_str(),
        from.map(Status::as_str),
        to.map(Status::as_str),
        &event.detail,
        actor.id,
    )
    .fetch_one(conn)
    .await?;
    Ok(rec.id)
}

/// A request's audit trail, oldest first, after event `after` when given.
#[tracing::instrument(skip_all, fields(import_id = %id), err)]
pub async fn events(
    conn: &mut PgConnection,
    id: ImportId,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<EventRecord>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT id, import_id, at, actor, actor_id, kind, from_status, to_status, detail
           FROM import_events
           WHERE import_id = $1 AND ($2::bigint IS NULL OR id > $2)
           ORDER BY id
           LIMIT $3"#,
        id.as_uuid(),
        after,
        i64::from(limit),
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(EventRecord {
                id: r.id,
                import_id: ImportId::from_uuid(r.import_id),
                at: r.at,
                actor: r.actor,
                actor_id: r.actor_id,
                kind: r.kind,
                from_status: r.from_status.as_deref().map(parse_status).transpose()?,
                to_status: r.to_status.as_deref().map(parse_status).transpose()?,
                detail: r.detail,
            })
        })
        .collect()
}

/// The one write path for an existing request: under a row lock in the
/// caller's transaction, checks the lease (when the update names its owner)
/// and the transition (against the status machine), applies the conditions
/// and changes, and appends the update's event.
#[tracing::instrument(skip_all, fields(import_id = %update.id), err)]
pub async fn update(conn: &mut PgConnection, update: &Update) -> Result<ImportRecord, StoreError> {
    let current = sqlx::query!(
        r#"SELECT status, lease_owner, lease_expires_at > now() AS "lease_live?", conditions
           FROM import_requests WHERE id = $1 FOR UPDATE"#,
        update.id.as_uuid()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    if let Some(owner) = &update.lease
        && (current.lease_owner.as_deref() != Some(owner.as_str())
            || current.lease_live != Some(true))
    {
        return Err(StoreError::LeaseLost);
    }
    let from = parse_status(&current.status)?;
    if let Some((cause, to)) = update.transition {
        status::check(from, cause, to)?;
    }
    let record = if update.is_event_only() {
        get(&mut *conn, update.id).await?
    } else {
        let mut conditions = parse_conditions(current.conditions)?;
        for c in &update.conditions {
            set_condition(&mut conditions, c.clone());
        }
        let c = &update.changes;
        if c.new_attempt.is_some() {
            // Conditions of the failed attempt no longer describe the new one.
            conditions.retain(|c| c.kind.survives_retry());
        }
        sqlx::query_as!(
            ImportRow,
            r#"UPDATE import_requests SET
                   status = COALESCE($2, status),
                   conditions = $3,
                   preflight = CASE WHEN $16 THEN NULL ELSE COALESCE($4, preflight) END,
                   preflight_passed = CASE WHEN $16 THEN NULL ELSE COALESCE($5, preflight_passed) END,
                   bedrock_job_arn = CASE WHEN $16 THEN NULL ELSE COALESCE($6, bedrock_job_arn) END,
                   imported_model_arn = CASE WHEN $16 THEN NULL ELSE COALESCE($7, imported_model_arn) END,
                   imported_model = CASE WHEN $16 THEN NULL ELSE COALESCE($8, imported_model) END,
                   failure_message = CASE WHEN $16 THEN NULL ELSE COALESCE($9, failure_message) END,
                   submitted_at = CASE WHEN $16 THEN NULL WHEN $10 THEN now() ELSE submitted_at END,
                   finished_at = CASE WHEN $16 THEN NULL WHEN $11 THEN now() ELSE finished_at END,
                   next_attempt_at = CASE WHEN $16 THEN now() ELSE COALESCE($12, next_attempt_at) END,
                   retries = CASE WHEN $16 THEN 0 ELSE COALESCE($13, retries) END,
                   polls = CASE WHEN $16 THEN 0 ELSE COALESCE($14, polls) END,
                   lease_owner = CASE WHEN $15 OR $16 THEN NULL ELSE lease_owner END,
                   lease_expires_at = CASE WHEN $15 OR $16 THEN NULL ELSE lease_expires_at END,
                   attempt = CASE WHEN $16 THEN attempt + 1 ELSE attempt END,
                   job_name = COALESCE($17, job_name),
                   artifact_digest = CASE WHEN $16 THEN NULL ELSE COALESCE($18, artifact_digest) END,
                   reused_from = CASE WHEN $16 THEN NULL ELSE COALESCE($19, reused_from) END,
                   updated_at = now()
               WHERE id = $1
               RETURNING id, team, environment, source_uri, model_name, job_name, description,
                         model_tags AS "model_tags: Json<BTreeMap<String, String>>",
                         job_tags AS "job_tags: Json<BTreeMap<String, String>>",
                         requested_by, requester_id, status,
                         conditions,
                         created_at, updated_at, hosting_account, region, attempt, preflight,
                         preflight_passed, bedrock_job_arn, imported_model_arn, imported_model,
                         failure_message, submitted_at, finished_at, retries, polls, next_attempt_at,
                         promoted_from, traceparent, artifact_digest, reused_from, model_package"#,
            update.id.as_uuid(),
            update.transition.map(|(_, t)| t.as_str()),
            Json(conditions) as _,
            c.preflight,
            c.preflight_passed,
            c.bedrock_job_arn,
            c.imported_model_arn,
            c.imported_model,
            c.failure_message,
            c.mark_submitted,
            c.mark_finished,
            c.next_attempt_at,
            c.retries,
            c.polls,
            c.release,
            c.new_attempt.is_some(),
            c.new_attempt.as_ref().map(JobName::as_str),
            c.artifact_digest.as_ref().map(ArtifactDigest::as_str),
            c.reused_from.map(|r| r.as_uuid()),
        )
        .fetch_one(&mut *conn)
        .await?
        .try_into()?
    };
    if let Some(event) = update.recorded_event() {
        let to = update.transition.map(|(_, to)| to);
        let from = to.map(|_| from);
        append_event(conn, update.id, &update.actor, &event, from, to).await?;
    }
    Ok(record)
}

/// The requests that hold the imported model `model` (the ARN's last part): the one that
/// imported it and those completed by reference to it (`reused_from`), while it is held
/// (`verifying`, `completed`, `deleting`), oldest first.
#[tracing::instrument(skip_all, fields(model = %model), err)]
pub async fn holding(
    conn: &mut PgConnection,
    model: &ImportedModelId,
) -> Result<Vec<ImportRecord>, StoreError> {
    let rows = sqlx::query_as!(
        ImportRow,
        r#"SELECT id, team, environment, source_uri, model_name, job_name, description,
                  model_tags AS "model_tags: Json<BTreeMap<String, String>>",
                  job_tags AS "job_tags: Json<BTreeMap<String, String>>",
                  requested_by, requester_id, status,
                  conditions,
                  created_at, updated_at, hosting_account, region, attempt, preflight,
                  preflight_passed, bedrock_job_arn, imported_model_arn, imported_model,
                  failure_message, submitted_at, finished_at, retries, polls, next_attempt_at,
                  promoted_from, traceparent, artifact_digest, reused_from, model_package
           FROM import_requests
           WHERE imported_model_arn LIKE '%:imported-model/' || $1
             AND status IN ('verifying', 'completed', 'deleting')
           ORDER BY id"#,
        model.as_str(),
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// An imported model Ferry manages: a request that completed (or is being
/// deleted) and still holds its model.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedModel {
    pub import_id: ImportId,
    pub team: String,
    pub environment: String,
    pub model_name: String,
    pub imported_model_arn: String,
    pub status: Status,
    pub imported_at: Option<OffsetDateTime>,
    pub last_activity: OffsetDateTime,
}

/// Imported models still held, oldest first, optionally for one environment
/// and one team.
pub async fn managed_models(
    conn: &mut PgConnection,
    environment: Option<&str>,
    team: Option<&str>,
) -> Result<Vec<ManagedModel>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT r.id, r.team, r.environment, r.model_name, r.imported_model_arn AS "imported_model_arn!",
                  r.status, r.finished_at,
                  COALESCE((SELECT max(e.at) FROM import_events e WHERE e.import_id = r.id), r.updated_at) AS "last_activity!"
           FROM import_requests r
           WHERE r.status IN ('verifying', 'completed', 'deleting') AND r.imported_model_arn IS NOT NULL
             AND r.reused_from IS NULL
             AND ($1::text IS NULL OR r.environment = $1)
             AND ($2::text IS NULL OR r.team = $2)
           ORDER BY r.finished_at NULLS LAST, r.id"#,
        environment,
        team
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(ManagedModel {
                import_id: ImportId::from_uuid(r.id),
                team: r.team,
                environment: r.environment,
                model_name: r.model_name,
                imported_model_arn: r.imported_model_arn,
                status: parse_status(&r.status)?,
                imported_at: r.finished_at,
                last_activity: r.last_activity,
            })
        })
        .collect()
}
