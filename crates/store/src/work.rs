//! The worker's side of the store: leases, the queries its scheduler decides
//! on, and the shared AWS call budget.
//!
//! A worker claims due requests into a lease (`FOR UPDATE SKIP LOCKED`),
//! writes only while it holds the lease (through
//! [`crate::imports::update`]), and lets go by clearing it. A lease that
//! expires (a worker died) makes the row claimable again.

use std::collections::BTreeMap;

use ferry_domain::artifacts::ArtifactDigest;
use ferry_domain::aws::{AccountId, Region};
use ferry_domain::ids::ImportId;
use ferry_domain::status::Status;
use sqlx::PgConnection;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;
use crate::imports::{ImportRecord, ImportRow, import_row, parse_status};

/// Statuses a worker acts on. `validating` rows whose preflight passed wait
/// for the scheduler to admit them instead; `pending_approval` rows are claimed once, so the
/// reviewer sees a preflight report before deciding.
const ACTIVE: &[&str] = &[
    "queued",
    "validating",
    "submitting",
    "importing",
    "verifying",
    "deleting",
];

/// Counter: requests claimed whose previous worker's lease ran out.
pub const LEASE_TAKEOVERS: &str = "ferry_lease_takeovers_total";

/// Claims up to `limit` due requests for `owner` until `lease` from now.
/// `importing` requests of an environment tracked by listing (see
/// [`claim_sweeps`]) are left to its sweep.
#[tracing::instrument(skip_all, fields(owner), err)]
pub async fn claim_due(
    conn: &mut PgConnection,
    owner: &str,
    lease: time::Duration,
    limit: i64,
) -> Result<Vec<ImportRecord>, StoreError> {
    let until = OffsetDateTime::now_utc() + lease;
    // `due.previous_owner`: the worker whose lease ran out, when there was one (a
    // released request has none): this claim takes over a dead or stuck worker's work.
    let claimed = sqlx::query!(
        r#"WITH due AS (
               SELECT id, lease_owner AS previous_owner FROM import_requests
               WHERE ((status = ANY($3) AND NOT (status = 'validating' AND preflight_passed IS TRUE))
                      OR (status = 'pending_approval' AND preflight IS NULL))
                 AND next_attempt_at <= now()
                 AND (lease_expires_at IS NULL OR lease_expires_at < now())
                 AND NOT (status = 'importing' AND environment IN (
                     SELECT s.environment FROM tracking_sweeps s WHERE s.listing_until > now()))
               ORDER BY next_attempt_at
               LIMIT $4
               FOR UPDATE SKIP LOCKED)
           UPDATE import_requests r
           SET lease_owner = $1, lease_expires_at = $2
           FROM due
           WHERE r.id = due.id
           RETURNING r.id, r.team, r.environment, r.source_uri, r.model_name, r.job_name, r.description,
                     r.model_tags AS "model_tags: Json<BTreeMap<String, String>>",
                     r.job_tags AS "job_tags: Json<BTreeMap<String, String>>",
                     r.requested_by, r.requester_id, r.status,
                     r.conditions,
                     r.created_at, r.updated_at, r.hosting_account, r.region, r.attempt, r.preflight,
                     r.preflight_passed, r.bedrock_job_arn, r.imported_model_arn, r.imported_model,
                     r.failure_message, r.submitted_at, r.finished_at, r.retries, r.polls, r.next_attempt_at,
                     r.promoted_from, r.traceparent, r.artifact_digest, r.reused_from, r.model_package, due.previous_owner"#,
        owner,
        until,
        ACTIVE as &[&str],
        limit,
    )
    .fetch_all(conn)
    .await?;
    let takeovers = claimed
        .iter()
        .filter(|r| r.previous_owner.as_deref().is_some_and(|p| p != owner))
        .count();
    if takeovers > 0 {
        tracing::info!(takeovers, "took over requests whose worker's lease ran out");
        metrics::counter!(LEASE_TAKEOVERS).increment(takeovers as u64);
    }
    let rows = claimed.into_iter().map(|r| import_row!(r));
    // One row that no longer parses must not stop the others: it is said
    // here, with its field, and stays leased until the lease runs out.
    Ok(rows
        .filter_map(|row| {
            let id = ImportId::from_uuid(row.id);
            ImportRecord::try_from(row)
                .inspect_err(|e| tracing::error!(import_id = %id, error = %e, "a claimed request no longer parses; skipping it"))
                .ok()
        })
        .collect())
}

/// Environments among `environments` whose tracking sweep is due and that
/// have jobs in flight, claimed for `owner` until `interval` from now: each
/// interval's sweep of an environment goes to one replica. Seeds the rows of
/// environments seen for the first time (their sweep is due from the next
/// call on).
#[tracing::instrument(skip_all, fields(owner), err)]
pub async fn claim_sweeps(
    conn: &mut PgConnection,
    environments: &[&str],
    owner: &str,
    interval: std::time::Duration,
) -> Result<Vec<String>, StoreError> {
    let envs: Vec<String> = environments.iter().map(|e| (*e).to_owned()).collect();
    let claimed = sqlx::query_scalar!(
        r#"WITH seed AS (
               INSERT INTO tracking_sweeps (environment)
               SELECT unnest($1::text[])
               ON CONFLICT (environment) DO NOTHING)
           UPDATE tracking_sweeps s
           SET next_at = now() + $3::float8 * interval '1 second', swept_by = $2
           WHERE s.environment = ANY($1) AND s.next_at <= now()
             AND EXISTS (SELECT 1 FROM import_requests r
                         WHERE r.status = 'importing' AND r.environment = s.environment)
           RETURNING s.environment"#,
        &envs,
        owner,
        interval.as_secs_f64(),
    )
    .fetch_all(conn)
    .await?;
    Ok(claimed)
}

/// Says whether `environment`'s jobs are tracked by listing until `until`
/// (`None`: they are polled one by one).
pub async fn set_listing(
    conn: &mut PgConnection,
    environment: &str,
    until: Option<OffsetDateTime>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE tracking_sweeps SET listing_until = $2 WHERE environment = $1",
        environment,
        until
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// An import job in flight, as a sweep sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedJob {
    pub id: ImportId,
    pub job_arn: String,
    pub submitted_at: Option<OffsetDateTime>,
}

/// The `importing` requests of `environment` with a job (through the
/// `(status, environment, ...)` index: as many rows as jobs in flight).
pub async fn importing(
    conn: &mut PgConnection,
    environment: &str,
) -> Result<Vec<TrackedJob>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT id, bedrock_job_arn AS "bedrock_job_arn!", submitted_at
           FROM import_requests
           WHERE status = 'importing' AND environment = $1 AND bedrock_job_arn IS NOT NULL"#,
        environment
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| TrackedJob {
            id: ImportId::from_uuid(r.id),
            job_arn: r.bedrock_job_arn,
            submitted_at: r.submitted_at,
        })
        .collect())
}

/// Claims the `importing` requests among `ids` that no live lease holds,
/// for `owner` until `lease` from now (a sweep steps those whose job ended).
#[tracing::instrument(skip_all, fields(owner), err)]
pub async fn claim_importing(
    conn: &mut PgConnection,
    owner: &str,
    lease: time::Duration,
    ids: &[ImportId],
) -> Result<Vec<ImportRecord>, StoreError> {
    let until = OffsetDateTime::now_utc() + lease;
    let ids: Vec<Uuid> = ids.iter().map(|i| i.as_uuid()).collect();
    let rows = sqlx::query_as!(
        ImportRow,
        r#"WITH due AS (
               SELECT id FROM import_requests
               WHERE id = ANY($3) AND status = 'importing'
                 AND (lease_expires_at IS NULL OR lease_expires_at < now())
               FOR UPDATE SKIP LOCKED)
           UPDATE import_requests r
           SET lease_owner = $1, lease_expires_at = $2
           FROM due
           WHERE r.id = due.id
           RETURNING r.id, r.team, r.environment, r.source_uri, r.model_name, r.job_name, r.description,
                     r.model_tags AS "model_tags: Json<BTreeMap<String, String>>",
                     r.job_tags AS "job_tags: Json<BTreeMap<String, String>>",
                     r.requested_by, r.requester_id, r.status,
                     r.conditions,
                     r.created_at, r.updated_at, r.hosting_account, r.region, r.attempt, r.preflight,
                     r.preflight_passed, r.bedrock_job_arn, r.imported_model_arn, r.imported_model,
                     r.failure_message, r.submitted_at, r.finished_at, r.retries, r.polls, r.next_attempt_at,
                     r.promoted_from, r.traceparent, r.artifact_digest, r.reused_from, r.model_package"#,
        owner,
        until,
        &ids,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let id = ImportId::from_uuid(row.id);
            ImportRecord::try_from(row)
                .inspect_err(|e| tracing::error!(import_id = %id, error = %e, "a claimed request no longer parses; skipping it"))
                .ok()
        })
        .collect())
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
///
/// Reads the waiting requests through `import_requests_waiting` and, per
/// waiting team, its last service through one probe of
/// `import_requests_last_served` (or `import_requests_submitting`): rows
/// bounded by the line, not by the placement's history.
pub async fn waiting_line(
    conn: &mut PgConnection,
    account: &AccountId,
    region: &Region,
) -> Result<Vec<ImportId>, StoreError> {
    let rows = sqlx::query_scalar!(
        r#"WITH w AS (
               SELECT id, team, row_number() OVER (PARTITION BY team ORDER BY id) AS team_rank
               FROM import_requests
               WHERE hosting_account = $1 AND region = $2
                 AND status = 'validating' AND preflight_passed IS TRUE),
           s AS (
               SELECT t.team,
                      CASE WHEN EXISTS (
                               SELECT 1 FROM import_requests r
                               WHERE r.hosting_account = $1 AND r.region = $2 AND r.team = t.team
                                 AND r.status = 'submitting' AND r.submitted_at IS NULL)
                           THEN now()
                           ELSE (SELECT max(r.submitted_at) FROM import_requests r
                                 WHERE r.hosting_account = $1 AND r.region = $2 AND r.team = t.team
                                   AND r.submitted_at IS NOT NULL)
                      END AS last_served
               FROM (SELECT DISTINCT team FROM w) t)
           SELECT w.id AS "id!" FROM w JOIN s ON s.team = w.team
           ORDER BY w.team_rank, s.last_served NULLS FIRST, w.id"#,
        account.as_str(),
        region.as_str()
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(ImportId::from_uuid).collect())
}

/// A waiting request's environment and artifact digest, for the one-import-per-artifact rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub id: ImportId,
    pub environment: String,
    pub digest: Option<ArtifactDigest>,
}

/// The environment and digest of each of `ids`, in the order of `ids`.
pub async fn waiting_digests(
    conn: &mut PgConnection,
    ids: &[ImportId],
) -> Result<Vec<Waiting>, StoreError> {
    let uuids: Vec<uuid::Uuid> = ids.iter().map(|i| i.as_uuid()).collect();
    let rows = sqlx::query!(
        r#"SELECT r.id AS "id!", r.environment AS "environment!", r.artifact_digest
           FROM unnest($1::uuid[]) WITH ORDINALITY AS w(id, n)
           JOIN import_requests r ON r.id = w.id
           ORDER BY w.n"#,
        &uuids
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Waiting {
                id: ImportId::from_uuid(r.id),
                environment: r.environment,
                digest: r
                    .artifact_digest
                    .as_deref()
                    .map(|d| {
                        ArtifactDigest::parse(d)
                            .ok_or_else(|| StoreError::Corrupt(format!("artifact_digest: {d}")))
                    })
                    .transpose()?,
            })
        })
        .collect()
}

/// The request of `environment` that imported, or is importing, the model of `digest` itself
/// (not by reference), the oldest first; with its status.
pub async fn digest_holder(
    conn: &mut PgConnection,
    environment: &str,
    digest: &ArtifactDigest,
) -> Result<Option<(ImportId, Status)>, StoreError> {
    let row = sqlx::query!(
        r#"SELECT id, status FROM import_requests
           WHERE environment = $1 AND artifact_digest = $2 AND reused_from IS NULL
             AND status IN ('submitting', 'importing', 'verifying', 'completed')
           ORDER BY (status = 'completed') DESC, id
           LIMIT 1"#,
        environment,
        digest.as_str()
    )
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok((ImportId::from_uuid(r.id), parse_status(&r.status)?)))
        .transpose()
}

/// The requests that completed by reference to `id`'s model and still hold it, oldest first.
pub async fn references(
    conn: &mut PgConnection,
    id: ImportId,
) -> Result<Vec<ImportId>, StoreError> {
    let rows = sqlx::query_scalar!(
        "SELECT id FROM import_requests WHERE reused_from = $1 AND status IN ('completed', 'deleting') ORDER BY id",
        id.as_uuid()
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(ImportId::from_uuid).collect())
}

/// Stores `line` as the waiting positions of one hosting account and
/// Region (1-based, in order), if they differ from what is stored. The
/// scheduler calls it when it has read the line, under the placement's lock.
pub async fn store_positions(
    conn: &mut PgConnection,
    account: &AccountId,
    region: &Region,
    line: &[ImportId],
) -> Result<bool, StoreError> {
    let stored = sqlx::query_scalar!(
        r#"SELECT import_id FROM waiting_positions
           WHERE hosting_account = $1 AND region = $2 ORDER BY position"#,
        account.as_str(),
        region.as_str()
    )
    .fetch_all(&mut *conn)
    .await?;
    if stored.len() == line.len() && stored.iter().zip(line).all(|(a, b)| *a == b.as_uuid()) {
        return Ok(false);
    }
    let ids: Vec<Uuid> = line.iter().map(|id| id.as_uuid()).collect();
    sqlx::query!(
        r#"DELETE FROM waiting_positions WHERE hosting_account = $1 AND region = $2"#,
        account.as_str(),
        region.as_str()
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"INSERT INTO waiting_positions (import_id, hosting_account, region, position)
           SELECT l.id, $1, $2, l.position::int
           FROM unnest($3::uuid[]) WITH ORDINALITY AS l(id, position)"#,
        account.as_str(),
        region.as_str(),
        &ids
    )
    .execute(conn)
    .await?;
    Ok(true)
}

/// A request's 1-based place in its waiting line, if it is waiting: the
/// place the scheduler stored when it last read the line.
pub async fn queue_position(
    conn: &mut PgConnection,
    record: &ImportRecord,
) -> Result<Option<usize>, StoreError> {
    if record.status != Status::Validating || record.preflight_passed != Some(true) {
        return Ok(None);
    }
    let position = sqlx::query_scalar!(
        r#"SELECT position FROM waiting_positions WHERE import_id = $1"#,
        record.id.as_uuid()
    )
    .fetch_optional(conn)
    .await?;
    Ok(position.and_then(|p| usize::try_from(p).ok()))
}

/// What one hosting account and Region holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Import jobs being submitted or running.
    pub in_flight: i64,
    /// Imported models held or being imported (and being deleted).
    pub models: i64,
}

/// Serialises scheduling of one hosting account and Region across replicas
/// until the caller's transaction ends, so two workers cannot both take the
/// last slot.
#[tracing::instrument(skip_all, fields(%account, %region), err)]
pub async fn lock_placement(
    conn: &mut PgConnection,
    account: &AccountId,
    region: &Region,
) -> Result<(), StoreError> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended('admit' || chr(10) || $1 || chr(10) || $2, 7477))",
        account.as_str(),
        region.as_str()
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// One hosting account and Region's jobs in flight and models held: one row
/// of `placement_usage`, kept by a trigger with every status change.
pub async fn usage(
    conn: &mut PgConnection,
    account: &AccountId,
    region: &Region,
) -> Result<Usage, StoreError> {
    let r = sqlx::query!(
        r#"SELECT in_flight, models FROM placement_usage
           WHERE hosting_account = $1 AND region = $2"#,
        account.as_str(),
        region.as_str()
    )
    .fetch_optional(conn)
    .await?;
    Ok(r.map(|r| Usage {
        in_flight: r.in_flight,
        models: r.models,
    })
    .unwrap_or_default())
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
