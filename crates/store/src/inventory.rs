//! The account as it really is: per hosting account and Region, what the worker's inventory
//! step last listed (every imported model, Ferry's or not, and the import jobs running) and the
//! Bedrock quotas Service Quotas gave. The inventory step holds its own lease and timer here;
//! the scheduler and `GET /v1/models` read what it stored.

use std::collections::HashMap;

use ferry_domain::aws::{AccountId, Region};
use ferry_domain::ids::{ImportId, ImportedModelId};
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::StoreError;

/// One imported model as listed in the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedModel {
    pub arn: String,
    pub name: String,
    pub architecture: Option<String>,
    pub created_at: Option<OffsetDateTime>,
    /// Carries Ferry's tags, or is a request's imported model.
    pub managed: bool,
    /// The request its `ferry:request-id` tag (or Ferry's records) name.
    pub request: Option<ImportId>,
    /// When CloudWatch last counted an invocation of it (absent: none found this pass; a
    /// time stored earlier is kept).
    pub last_invoked_at: Option<OffsetDateTime>,
}

/// An import job running in the account that Ferry did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideJob {
    pub arn: String,
    pub name: String,
    pub model_name: Option<String>,
    pub created_at: Option<OffsetDateTime>,
}

/// What one inventory pass found.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub models: Vec<ListedModel>,
    pub jobs_running: i64,
    /// The running jobs no request of Ferry's started.
    pub outside_jobs: Vec<OutsideJob>,
    /// Service Quotas' "Imported models per account", when it answered.
    pub imported_models_quota: Option<i64>,
    /// Service Quotas' "Concurrent model import jobs", when it answered.
    pub concurrent_jobs_quota: Option<i64>,
}

/// A model the inventory stored, with the request that imported it when Ferry did.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountModel {
    pub account: String,
    pub region: String,
    pub arn: String,
    pub name: String,
    pub architecture: Option<String>,
    pub created_at: Option<OffsetDateTime>,
    pub managed: bool,
    pub request: Option<ImportId>,
    /// The request's team and environment (managed models Ferry still knows).
    pub team: Option<String>,
    pub environment: Option<String>,
    pub first_seen_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    /// When CloudWatch last counted an invocation of it.
    pub last_invoked_at: Option<OffsetDateTime>,
}

/// The stored state of one account and Region.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountState {
    pub imported_models_quota: Option<i64>,
    pub concurrent_jobs_quota: Option<i64>,
    pub jobs_running: i64,
    pub synced_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    /// Models in the account without Ferry's tags, oldest first.
    pub unmanaged: Vec<(String, String)>,
    /// Import jobs running that Ferry did not start, oldest first.
    pub outside_jobs: Vec<OutsideJob>,
}

/// Claims the inventory of `account`/`region` for `owner` until `lease` from now, when its
/// next pass is due and no live lease holds it. `false`: not due, or another worker has it.
#[tracing::instrument(skip_all, fields(%account, %region), err)]
pub async fn claim(
    conn: &mut PgConnection,
    account: &AccountId,
    region: &Region,
    owner: &str,
    lease: time::Duration,
) -> Result<bool, StoreError> {
    let until = OffsetDateTime::now_utc() + lease;
    let got = sqlx::query_scalar!(
        r#"INSERT INTO account_inventories AS i (account, region, lease_owner, lease_expires_at)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (account, region) DO UPDATE SET lease_owner = $3, lease_expires_at = $4
           WHERE i.next_sync_at <= now() AND (i.lease_expires_at IS NULL OR i.lease_expires_at < now())
           RETURNING i.account"#,
        account.as_str(),
        region.as_str(),
        owner,
        until
    )
    .fetch_optional(conn)
    .await?;
    Ok(got.is_some())
}

/// What the last pass knew of each model of the account (so tags are read once per model).
pub async fn known(
    conn: &mut PgConnection,
    account: &AccountId,
    region: &Region,
) -> Result<HashMap<String, (bool, Option<ImportId>)>, StoreError> {
    let rows = sqlx::query!(
        "SELECT model_arn, managed, request_id FROM account_models WHERE account = $1 AND region = $2",
        account.as_str(),
        region.as_str()
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.model_arn,
                (r.managed, r.request_id.map(ImportId::from_uuid)),
            )
        })
        .collect())
}

/// The imported models Ferry's requests hold in the account, by ARN.
pub async fn requests_by_model(
    conn: &mut PgConnection,
    account: &AccountId,
    region: &Region,
) -> Result<HashMap<String, ImportId>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT imported_model_arn AS "arn!", id FROM import_requests
           WHERE hosting_account = $1 AND region = $2 AND imported_model_arn IS NOT NULL"#,
        account.as_str(),
        region.as_str()
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.arn, ImportId::from_uuid(r.id)))
        .collect())
}

/// The job names of Ferry's requests in the account whose jobs Ferry counts as in flight
/// (`submitting`, `importing`: the statuses `placement_usage` counts). Every attempt's job is
/// named after its request, so a running job of another name was started outside Ferry; and a
/// running job whose request has left those statuses (cancelled while importing: Bedrock jobs
/// cannot be stopped) holds a slot Ferry no longer counts. Both are listed as held by others.
pub async fn job_names(
    conn: &mut PgConnection,
    account: &AccountId,
    region: &Region,
) -> Result<std::collections::HashSet<String>, StoreError> {
    let rows = sqlx::query_scalar!(
        r#"SELECT job_name FROM import_requests
           WHERE hosting_account = $1 AND region = $2 AND status IN ('submitting', 'importing')"#,
        account.as_str(),
        region.as_str()
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Stores a pass's `snapshot` and lets go of the lease, when `owner` still holds it; the next
/// pass is due at `next`.
#[tracing::instrument(skip_all, fields(%account, %region, models = snapshot.models.len()), err)]
pub async fn record(
    conn: &mut PgConnection,
    account: &AccountId,
    region: &Region,
    owner: &str,
    snapshot: &Snapshot,
    next: OffsetDateTime,
) -> Result<(), StoreError> {
    let held = sqlx::query_scalar!(
        r#"UPDATE account_inventories SET
               imported_models_quota = $4, concurrent_jobs_quota = $5, jobs_running = $6,
               synced_at = now(), last_error = NULL, next_sync_at = $7,
               lease_owner = NULL, lease_expires_at = NULL
           WHERE account = $1 AND region = $2 AND lease_owner = $3 AND lease_expires_at > now()
           RETURNING account"#,
        account.as_str(),
        region.as_str(),
        owner,
        snapshot.imported_models_quota,
        snapshot.concurrent_jobs_quota,
        snapshot.jobs_running,
        next
    )
    .fetch_optional(&mut *conn)
    .await?;
    if held.is_none() {
        return Err(StoreError::LeaseLost);
    }
    let m = &snapshot.models;
    let arns: Vec<String> = m.iter().map(|x| x.arn.clone()).collect();
    let names: Vec<String> = m.iter().map(|x| x.name.clone()).collect();
    let archs: Vec<Option<String>> = m.iter().map(|x| x.architecture.clone()).collect();
    let created: Vec<Option<OffsetDateTime>> = m.iter().map(|x| x.created_at).collect();
    let managed: Vec<bool> = m.iter().map(|x| x.managed).collect();
    let requests: Vec<Option<uuid::Uuid>> =
        m.iter().map(|x| x.request.map(|r| r.as_uuid())).collect();
    let invoked: Vec<Option<OffsetDateTime>> = m.iter().map(|x| x.last_invoked_at).collect();
    sqlx::query!(
        r#"DELETE FROM account_models WHERE account = $1 AND region = $2 AND NOT (model_arn = ANY($3))"#,
        account.as_str(),
        region.as_str(),
        &arns
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"INSERT INTO account_models (account, region, model_arn, model_name, architecture, created_at, managed, request_id, last_invoked_at)
           SELECT $1::text, $2::text, * FROM UNNEST($3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::bool[], $8::uuid[], $9::timestamptz[])
           ON CONFLICT (account, region, model_arn) DO UPDATE SET
               model_name = EXCLUDED.model_name, architecture = EXCLUDED.architecture,
               created_at = EXCLUDED.created_at, managed = EXCLUDED.managed,
               request_id = EXCLUDED.request_id, last_seen_at = now(),
               last_invoked_at = GREATEST(account_models.last_invoked_at, EXCLUDED.last_invoked_at)"#,
        account.as_str(),
        region.as_str(),
        &arns,
        &names,
        &archs as &[Option<String>],
        &created as &[Option<OffsetDateTime>],
        &managed,
        &requests as &[Option<uuid::Uuid>],
        &invoked as &[Option<OffsetDateTime>]
    )
    .execute(&mut *conn)
    .await?;
    let j = &snapshot.outside_jobs;
    let arns: Vec<String> = j.iter().map(|x| x.arn.clone()).collect();
    let names: Vec<String> = j.iter().map(|x| x.name.clone()).collect();
    let models: Vec<Option<String>> = j.iter().map(|x| x.model_name.clone()).collect();
    let created: Vec<Option<OffsetDateTime>> = j.iter().map(|x| x.created_at).collect();
    sqlx::query!(
        "DELETE FROM account_jobs WHERE account = $1 AND region = $2",
        account.as_str(),
        region.as_str()
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"INSERT INTO account_jobs (account, region, job_arn, job_name, model_name, created_at)
           SELECT $1::text, $2::text, * FROM UNNEST($3::text[], $4::text[], $5::text[], $6::timestamptz[])
           ON CONFLICT DO NOTHING"#,
        account.as_str(),
        region.as_str(),
        &arns,
        &names,
        &models as &[Option<String>],
        &created as &[Option<OffsetDateTime>]
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a failed pass (keeping what the last one stored) and lets go of the lease.
pub async fn record_error(
    conn: &mut PgConnection,
    account: &AccountId,
    region: &Region,
    owner: &str,
    error: &str,
    next: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"UPDATE account_inventories SET last_error = $4, next_sync_at = $5,
               lease_owner = NULL, lease_expires_at = NULL
           WHERE account = $1 AND region = $2 AND lease_owner = $3"#,
        account.as_str(),
        region.as_str(),
        owner,
        error,
        next
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What the inventory stored for `account`/`region`, if a pass ever ran.
pub async fn state(
    conn: &mut PgConnection,
    account: &AccountId,
    region: &Region,
) -> Result<Option<AccountState>, StoreError> {
    let Some(r) = sqlx::query!(
        r#"SELECT imported_models_quota, concurrent_jobs_quota, jobs_running, synced_at, last_error
           FROM account_inventories WHERE account = $1 AND region = $2"#,
        account.as_str(),
        region.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let unmanaged = sqlx::query!(
        r#"SELECT model_name, model_arn FROM account_models
           WHERE account = $1 AND region = $2 AND NOT managed
           ORDER BY created_at NULLS LAST, model_arn"#,
        account.as_str(),
        region.as_str()
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|m| (m.model_name, m.model_arn))
    .collect();
    let outside_jobs = sqlx::query!(
        r#"SELECT job_arn, job_name, model_name, created_at FROM account_jobs
           WHERE account = $1 AND region = $2
           ORDER BY created_at NULLS LAST, job_arn"#,
        account.as_str(),
        region.as_str()
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|j| OutsideJob {
        arn: j.job_arn,
        name: j.job_name,
        model_name: j.model_name,
        created_at: j.created_at,
    })
    .collect();
    Ok(Some(AccountState {
        imported_models_quota: r.imported_models_quota,
        concurrent_jobs_quota: r.concurrent_jobs_quota,
        jobs_running: r.jobs_running,
        synced_at: r.synced_at,
        last_error: r.last_error,
        unmanaged,
        outside_jobs,
    }))
}

/// The models stored for the given placements (all when empty), optionally only managed or
/// only unmanaged ones, oldest first.
pub async fn models(
    conn: &mut PgConnection,
    placements: &[(AccountId, Region)],
    managed: Option<bool>,
) -> Result<Vec<AccountModel>, StoreError> {
    let accounts: Vec<String> = placements.iter().map(|(a, _)| a.to_string()).collect();
    let regions: Vec<String> = placements.iter().map(|(_, r)| r.to_string()).collect();
    let rows = sqlx::query!(
        r#"SELECT m.account, m.region, m.model_arn, m.model_name, m.architecture, m.created_at,
                  m.managed, COALESCE(m.request_id, r.id) AS request_id, r.team AS "team?",
                  r.environment AS "environment?", m.first_seen_at, m.last_seen_at, m.last_invoked_at
           FROM account_models m
           LEFT JOIN import_requests r
                  ON r.id = m.request_id OR (m.request_id IS NULL AND r.imported_model_arn = m.model_arn)
           WHERE (cardinality($1::text[]) = 0
                  OR (m.account, m.region) IN (SELECT * FROM UNNEST($1::text[], $2::text[])))
             AND ($3::bool IS NULL OR m.managed = $3)
           ORDER BY m.created_at NULLS LAST, m.model_arn"#,
        &accounts,
        &regions,
        managed
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AccountModel {
            account: r.account,
            region: r.region,
            arn: r.model_arn,
            name: r.model_name,
            architecture: r.architecture,
            created_at: r.created_at,
            managed: r.managed,
            request: r.request_id.map(ImportId::from_uuid),
            team: r.team,
            environment: r.environment,
            first_seen_at: r.first_seen_at,
            last_seen_at: r.last_seen_at,
            last_invoked_at: r.last_invoked_at,
        })
        .collect())
}

/// The models stored under the id `model` (the ARN's last part; Bedrock's ids are random, so
/// one in practice), in any account and Region.
pub async fn model(
    conn: &mut PgConnection,
    model: &ImportedModelId,
) -> Result<Vec<AccountModel>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT m.account, m.region, m.model_arn, m.model_name, m.architecture, m.created_at,
                  m.managed, COALESCE(m.request_id, r.id) AS request_id, r.team AS "team?",
                  r.environment AS "environment?", m.first_seen_at, m.last_seen_at, m.last_invoked_at
           FROM account_models m
           LEFT JOIN import_requests r
                  ON r.id = m.request_id OR (m.request_id IS NULL AND r.imported_model_arn = m.model_arn)
           WHERE m.model_arn LIKE '%:imported-model/' || $1
           ORDER BY m.created_at NULLS LAST, m.model_arn"#,
        model.as_str()
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AccountModel {
            account: r.account,
            region: r.region,
            arn: r.model_arn,
            name: r.model_name,
            architecture: r.architecture,
            created_at: r.created_at,
            managed: r.managed,
            request: r.request_id.map(ImportId::from_uuid),
            team: r.team,
            environment: r.environment,
            first_seen_at: r.first_seen_at,
            last_seen_at: r.last_seen_at,
            last_invoked_at: r.last_invoked_at,
        })
        .collect())
}

/// A model Ferry imported, as the idle notices see it after a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleWatch {
    pub arn: String,
    /// The request that imported it (not one that completed by reference to it).
    pub request: ImportId,
    pub environment: String,
    /// When the request finished, else when Bedrock created the model.
    pub imported_at: Option<OffsetDateTime>,
    pub last_invoked_at: Option<OffsetDateTime>,
    /// The last invocation the previous notice named (`Some(None)`: "never invoked"); `None`:
    /// no notice yet.
    pub notified: Option<Option<OffsetDateTime>>,
}

/// The managed models of `account`/`region` the inventory stored, each with the request that
/// imported it, for the idle notices.
pub async fn idle_watch(
    conn: &mut PgConnection,
    account: &AccountId,
    region: &Region,
) -> Result<Vec<IdleWatch>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT DISTINCT ON (m.model_arn)
                  m.model_arn, r.id AS request_id, r.environment,
                  COALESCE(r.finished_at, m.created_at) AS imported_at,
                  m.last_invoked_at, m.idle_notified_at, m.idle_notified_last_invoked_at
           FROM account_models m
           JOIN import_requests r
             ON r.id = m.request_id
                OR (r.imported_model_arn = m.model_arn AND r.reused_from IS NULL)
           WHERE m.account = $1 AND m.region = $2 AND m.managed
           ORDER BY m.model_arn, (r.id = m.request_id) DESC NULLS LAST, r.id"#,
        account.as_str(),
        region.as_str()
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| IdleWatch {
            arn: r.model_arn,
            request: ImportId::from_uuid(r.request_id),
            environment: r.environment,
            imported_at: r.imported_at,
            last_invoked_at: r.last_invoked_at,
            notified: r.idle_notified_at.map(|_| r.idle_notified_last_invoked_at),
        })
        .collect())
}

/// Remembers that the request of model `arn` was told it is idle, naming `last_invoked`.
pub async fn mark_idle_notified(
    conn: &mut PgConnection,
    account: &AccountId,
    region: &Region,
    arn: &str,
    last_invoked: Option<OffsetDateTime>,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"UPDATE account_models SET idle_notified_at = now(), idle_notified_last_invoked_at = $4
           WHERE account = $1 AND region = $2 AND model_arn = $3"#,
        account.as_str(),
        region.as_str(),
        arn,
        last_invoked
    )
    .execute(conn)
    .await?;
    Ok(())
}
