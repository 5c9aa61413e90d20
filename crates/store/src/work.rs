//! The worker's side of the store: leases, scheduling within Bedrock's
//! quotas, and the shared AWS call budget.
//!
//! A worker claims due requests into a lease (`FOR UPDATE SKIP LOCKED`),
//! writes only while it holds the lease, and lets go by clearing it. A lease
//! that expires (a worker died) makes the row claimable again.

use std::collections::BTreeMap;

use ferry_domain::condition::{Condition, set_condition};
use ferry_domain::ids::ImportId;
use ferry_domain::status::{Cause, IllegalTransition, Status, TRANSITIONS};
use sqlx::PgConnection;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::StoreError;
use crate::imports::{Actor, ImportRecord, ImportRow, append_event, parse_status};

/// Statuses a worker acts on. `validating` rows whose preflight passed wait
/// for [`admit`] instead; `pending_approval` rows are claimed once, so the
/// reviewer sees a preflight report before deciding.
const ACTIVE: &[&str] = &[
    "queued",
    "validating",
    "submitting",
    "importing",
    "deleting",
];

/// Claims up to `limit` due requests for `owner` until `lease` from now.
#[tracing::instrument(skip_all, fields(owner), err)]
pub async fn claim_due(
    conn: &mut PgConnection,
    owner: &str,
    lease: time::Duration,
    limit: i64,
) -> Result<Vec<ImportRecord>, StoreError> {
    let until = OffsetDateTime::now_utc() + lease;
    let rows = sqlx::query_as!(
        ImportRow,
        r#"UPDATE import_requests r
           SET lease_owner = $1, lease_expires_at = $2
           WHERE r.id IN (
               SELECT id FROM import_requests
               WHERE ((status = ANY($3) AND NOT (status = 'validating' AND preflight_passed IS TRUE))
                      OR (status = 'pending_approval' AND preflight IS NULL))
                 AND next_attempt_at <= now()
                 AND (lease_expires_at IS NULL OR lease_expires_at < now())
               ORDER BY next_attempt_at
               LIMIT $4
               FOR UPDATE SKIP LOCKED)
           RETURNING id, team, environment, source_uri, model_name, job_name, description,
                     model_tags AS "model_tags: Json<BTreeMap<String, String>>",
                     job_tags AS "job_tags: Json<BTreeMap<String, String>>",
                     requested_by, requester_id, status,
                     conditions AS "conditions: Json<Vec<Condition>>",
                     created_at, updated_at, hosting_account, region, attempt, preflight,
                     preflight_passed, bedrock_job_arn, imported_model_arn, imported_model,
                     failure_message, submitted_at, finished_at, retries, polls, next_attempt_at,
                     promoted_from"#,
        owner,
        until,
        ACTIVE as &[&str],
        limit,
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// Field changes a step makes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub preflight: Option<serde_json::Value>,
    pub preflight_passed: Option<bool>,
    pub bedrock_job_arn: Option<String>,
    pub imported_model_arn: Option<String>,
    pub imported_model: Option<serde_json::Value>,
    pub failure_message: Option<String>,
    /// Stamp `submitted_at` with the current time.
    pub mark_submitted: bool,
    /// Stamp `finished_at` with the current time.
    pub mark_finished: bool,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub retries: Option<i32>,
    pub polls: Option<i32>,
    /// Let go of the lease (the step is done with the row for now).
    pub release: bool,
}

/// The one write path for a request: checks the lease (when `owner` is
/// given) and the transition (when `to` is given), applies `changes` and
/// `conditions`, appends the event (of `kind`, for a transition), all under
/// a row lock in the caller's transaction.
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(skip_all, fields(import_id = %id), err)]
pub async fn apply(
    conn: &mut PgConnection,
    id: ImportId,
    owner: Option<&str>,
    to: Option<(Cause, Status)>,
    actor: Actor<'_>,
    conditions: Vec<Condition>,
    changes: &Changes,
    kind: &str,
    detail: &serde_json::Value,
) -> Result<ImportRecord, StoreError> {
    let current = sqlx::query!(
        r#"SELECT status, lease_owner, lease_expires_at > now() AS "lease_live?",
                  conditions AS "conditions: Json<Vec<Condition>>"
           FROM import_requests WHERE id = $1 FOR UPDATE"#,
        id.as_uuid()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    if let Some(owner) = owner
        && (current.lease_owner.as_deref() != Some(owner) || current.lease_live != Some(true))
    {
        return Err(StoreError::LeaseLost);
    }
    let from = parse_status(&current.status)?;
    if let Some((cause, to)) = to
        && !TRANSITIONS
            .iter()
            .any(|(f, t, c)| *f == from && *t == to && *c == cause)
    {
        return Err(IllegalTransition { from, to }.into());
    }
    let mut all = current.conditions.0;
    for c in conditions {
        set_condition(&mut all, c);
    }
    let row = sqlx::query_as!(
        ImportRow,
        r#"UPDATE import_requests SET
               status = COALESCE($2, status),
               conditions = $3,
               preflight = COALESCE($4, preflight),
               preflight_passed = COALESCE($5, preflight_passed),
               bedrock_job_arn = COALESCE($6, bedrock_job_arn),
               imported_model_arn = COALESCE($7, imported_model_arn),
               imported_model = COALESCE($8, imported_model),
               failure_message = COALESCE($9, failure_message),
               submitted_at = CASE WHEN $10 THEN now() ELSE submitted_at END,
               finished_at = CASE WHEN $11 THEN now() ELSE finished_at END,
               next_attempt_at = COALESCE($12, next_attempt_at),
               retries = COALESCE($13, retries),
               polls = COALESCE($14, polls),
               lease_owner = CASE WHEN $15 THEN NULL ELSE lease_owner END,
               lease_expires_at = CASE WHEN $15 THEN NULL ELSE lease_expires_at END,
               updated_at = now()
           WHERE id = $1
           RETURNING id, team, environment, source_uri, model_name, job_name, description,
                     model_tags AS "model_tags: Json<BTreeMap<String, String>>",
                     job_tags AS "job_tags: Json<BTreeMap<String, String>>",
                     requested_by, requester_id, status,
                     conditions AS "conditions: Json<Vec<Condition>>",
                     created_at, updated_at, hosting_account, region, attempt, preflight,
                     preflight_passed, bedrock_job_arn, imported_model_arn, imported_model,
                     failure_message, submitted_at, finished_at, retries, polls, next_attempt_at,
                     promoted_from"#,
        id.as_uuid(),
        to.map(|(_, t)| t.as_str()),
        Json(all) as _,
        changes.preflight,
        changes.preflight_passed,
        changes.bedrock_job_arn,
        changes.imported_model_arn,
        changes.imported_model,
        changes.failure_message,
        changes.mark_submitted,
        changes.mark_finished,
        changes.next_attempt_at,
        changes.retries,
        changes.polls,
        changes.release,
    )
    .fetch_one(&mut *conn)
    .await?;
    if let Some((_, to)) = to {
        append_event(conn, id, actor, kind, Some(from), Some(to), detail).await?;
    }
    row.try_into()
}

/// Lets go of every lease `owner` holds (graceful shutdown): the rows become
/// claimable by another replica at once.
pub async fn release_all(conn: &mut PgConnection, owner: &str) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "UPDATE import_requests SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = $1",
        owner
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Fills the placement of requests stored before it was recorded.
pub async fn backfill_placement(
    conn: &mut PgConnection,
    environment: &str,
    account: &str,
    region: &str,
) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "UPDATE import_requests SET hosting_account = $2, region = $3
         WHERE environment = $1 AND hosting_account IS NULL",
        environment,
        account,
        region
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The waiting line of one hosting account and Region, in admission order.
///
/// Fair across teams: every team's oldest waiting request comes before any
/// team's second (round robin by arrival), and among those, the team served
/// least recently goes first, so one team's batch cannot starve another
/// team's single request.
pub async fn waiting_line(
    conn: &mut PgConnection,
    account: &str,
    region: &str,
) -> Result<Vec<ImportId>, StoreError> {
    let rows = sqlx::query_scalar!(
        r#"SELECT w.id AS "id!" FROM (
               SELECT id, team, row_number() OVER (PARTITION BY team ORDER BY id) AS team_rank
               FROM import_requests
               WHERE hosting_account = $1 AND region = $2
                 AND status = 'validating' AND preflight_passed IS TRUE) w
           LEFT JOIN (
               SELECT team,
                      max(COALESCE(submitted_at, CASE WHEN status = 'submitting' THEN now() END)) AS last_served
               FROM import_requests
               WHERE hosting_account = $1 AND region = $2
               GROUP BY team) s ON s.team = w.team
           ORDER BY w.team_rank, s.last_served NULLS FIRST, w.id"#,
        account,
        region
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(ImportId::from_uuid).collect())
}

/// A request's 1-based place in its waiting line, if it is waiting.
pub async fn queue_position(
    conn: &mut PgConnection,
    record: &ImportRecord,
) -> Result<Option<usize>, StoreError> {
    let (Some(account), Some(region)) = (&record.hosting_account, &record.region) else {
        return Ok(None);
    };
    if record.status != Status::Validating || record.preflight_passed != Some(true) {
        return Ok(None);
    }
    let line = waiting_line(conn, account, region).await?;
    Ok(line.iter().position(|id| *id == record.id).map(|p| p + 1))
}

/// What Bedrock allows in one hosting account and Region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Import jobs Ferry runs at once (Bedrock's quota: 1 by default).
    pub concurrent_jobs: i64,
    /// Imported models the account may hold (Bedrock's quota: 3 by default).
    pub imported_models: i64,
}

/// What [`admit`] decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Moved to `submitting`.
    Admitted(ImportId),
    /// Moved to `submitting` although the account is at its imported-model
    /// limit (the environment warns rather than refuses).
    AdmittedOverModelLimit(ImportId),
    /// Failed: the account is at its imported-model limit and the
    /// environment refuses.
    RefusedOverModelLimit(ImportId),
}

/// Counts one hosting account and Region's jobs in flight and models held.
async fn usage(
    conn: &mut PgConnection,
    account: &str,
    region: &str,
) -> Result<(i64, i64), StoreError> {
    let r = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE status IN ('submitting', 'importing')) AS "in_flight!",
                  count(*) FILTER (WHERE status IN ('submitting', 'importing', 'completed', 'deleting')) AS "models!"
           FROM import_requests WHERE hosting_account = $1 AND region = $2"#,
        account,
        region
    )
    .fetch_one(conn)
    .await?;
    Ok((r.in_flight, r.models))
}

/// Moves the heads of the waiting line into `submitting` while the account
/// has free job slots. Serialised per account and Region across replicas by
/// an advisory lock, so two workers cannot both take the last slot.
#[tracing::instrument(skip_all, fields(account, region), err)]
pub async fn admit(
    conn: &mut PgConnection,
    account: &str,
    region: &str,
    quota: Quota,
    refuse_over_model_limit: bool,
) -> Result<Vec<Admission>, StoreError> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended('admit' || chr(10) || $1 || chr(10) || $2, 7477))",
        account,
        region
    )
    .execute(&mut *conn)
    .await?;
    let (mut in_flight, mut models) = usage(conn, account, region).await?;
    let mut out = Vec::new();
    if in_flight >= quota.concurrent_jobs {
        return Ok(out);
    }
    let now = OffsetDateTime::now_utc();
    for id in waiting_line(conn, account, region).await? {
        if in_flight >= quota.concurrent_jobs {
            break;
        }
        let actor = Actor { name: "ferry" };
        if models >= quota.imported_models {
            let message = format!(
                "the hosting account {account} in {region} already holds or is importing {models} models, \
                 its limit of {} imported models; delete one, or raise the quota and the environment's \
                 max_imported_models",
                quota.imported_models
            );
            if refuse_over_model_limit {
                apply(
                    conn,
                    id,
                    None,
                    Some((Cause::PreflightFailed, Status::Failed)),
                    actor,
                    vec![Condition::new(
                        "Scheduled",
                        ferry_domain::condition::ConditionStatus::False,
                        "ImportedModelLimit",
                        message.clone(),
                    )],
                    &Changes {
                        failure_message: Some(message),
                        mark_finished: true,
                        ..Changes::default()
                    },
                    "refused",
                    &serde_json::json!({ "reason": "imported_model_limit" }),
                )
                .await?;
                out.push(Admission::RefusedOverModelLimit(id));
                continue;
            }
            out.push(Admission::AdmittedOverModelLimit(id));
        } else {
            out.push(Admission::Admitted(id));
        }
        apply(
            conn,
            id,
            None,
            Some((Cause::PreflightPassed, Status::Submitting)),
            actor,
            vec![Condition::new(
                "Scheduled",
                ferry_domain::condition::ConditionStatus::True,
                "SlotFree",
                format!("an import job slot in {account}/{region} is free"),
            )],
            &Changes {
                next_attempt_at: Some(now),
                retries: Some(0),
                ..Changes::default()
            },
            "admitted",
            &serde_json::json!({ "account": account, "region": region }),
        )
        .await?;
        in_flight += 1;
        models += 1;
    }
    Ok(out)
}

/// Takes one token from the call budget of a hosting account and Region, a
/// token bucket of `burst` tokens refilled at `per_second`, shared by all
/// replicas. `false` means the budget is spent: try again later.
pub async fn take_budget(
    conn: &mut PgConnection,
    account: &str,
    region: &str,
    per_second: f64,
    burst: f64,
) -> Result<bool, StoreError> {
    let taken = sqlx::query_scalar!(
        r#"INSERT INTO call_budgets AS b (account, region, tokens, updated_at)
           VALUES ($1, $2, $4::float8 - 1, clock_timestamp())
           ON CONFLICT (account, region) DO UPDATE
           SET tokens = LEAST($4::float8, b.tokens + EXTRACT(EPOCH FROM (clock_timestamp() - b.updated_at))::float8 * $3::float8) - 1,
               updated_at = clock_timestamp()
           WHERE LEAST($4::float8, b.tokens + EXTRACT(EPOCH FROM (clock_timestamp() - b.updated_at))::float8 * $3::float8) >= 1
           RETURNING tokens"#,
        account,
        region,
        per_second,
        burst
    )
    .fetch_optional(conn)
    .await?;
    Ok(taken.is_some())
}
