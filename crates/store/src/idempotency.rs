//! `Idempotency-Key` records.
//!
//! The caller runs [`lock`], [`find`] and (after doing the work) [`save`] in
//! one transaction: the advisory lock makes a concurrent request with the same
//! key wait until the first one has committed, then replay its response.

use sqlx::PgConnection;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct SavedResponse {
    pub request_hash: Vec<u8>,
    pub status: u16,
    pub body: serde_json::Value,
    pub resource_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
}

/// Serialises requests that share `(principal, key)` until the transaction ends.
pub async fn lock(conn: &mut PgConnection, principal: &str, key: &str) -> Result<(), StoreError> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(10) || $2, 7477))",
        principal,
        key
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The unexpired record for `(principal, key)`, if any.
pub async fn find(
    conn: &mut PgConnection,
    principal: &str,
    key: &str,
) -> Result<Option<SavedResponse>, StoreError> {
    let row = sqlx::query!(
        "SELECT request_hash, response_status, response_body, resource_id, created_at
         FROM idempotency_keys
         WHERE principal = $1 AND key = $2 AND expires_at > now()",
        principal,
        key
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| SavedResponse {
        request_hash: r.request_hash,
        status: u16::try_from(r.response_status).unwrap_or(500),
        body: r.response_body,
        resource_id: r.resource_id,
        created_at: r.created_at,
    }))
}

/// Records the response to replay for `(principal, key)` until `ttl` passes,
/// replacing an expired record of the same key.
pub async fn save(
    conn: &mut PgConnection,
    principal: &str,
    key: &str,
    response: &SavedResponse,
    ttl: Duration,
) -> Result<(), StoreError> {
    let expires_at = OffsetDateTime::now_utc() + ttl;
    let status = i16::try_from(response.status).unwrap_or(i16::MAX);
    sqlx::query!(
        "INSERT INTO idempotency_keys
             (principal, key, request_hash, response_status, response_body, resource_id, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (principal, key) DO UPDATE
         SET request_hash = EXCLUDED.request_hash,
             response_status = EXCLUDED.response_status,
             response_body = EXCLUDED.response_body,
             resource_id = EXCLUDED.resource_id,
             created_at = now(),
             expires_at = EXCLUDED.expires_at
         WHERE idempotency_keys.expires_at <= now()",
        principal,
        key,
        &response.request_hash,
        status,
        &response.body,
        response.resource_id,
        expires_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes expired records; returns how many.
pub async fn purge_expired(conn: &mut PgConnection) -> Result<u64, StoreError> {
    let done = sqlx::query!("DELETE FROM idempotency_keys WHERE expires_at <= now()")
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
