//! Webhook subscriptions and their durable outbox.
//!
//! Fan-out copies feed events into `webhook_deliveries` and advances the
//! subscription's cursor in the same transaction, so an event is queued for an
//! endpoint exactly once whichever replica does it, and a crash loses nothing.
//! Deliveries are then claimed with a lease and retried until delivered or out
//! of attempts.

use ferry_domain::events::{Message, import_event_kind};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;
use crate::feed::{FeedFilter, head, page_upto};

/// A signing secret (`whsec_...`). `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl SigningSecret {
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret([REDACTED])")
    }
}

#[derive(Debug, Clone)]
pub struct WebhookRecord {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub secret: SigningSecret,
    pub previous_secret: Option<SigningSecret>,
    pub previous_expires_at: Option<OffsetDateTime>,
    pub cursor_seq: i64,
    pub created_by: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewWebhook<'a> {
    pub id: Uuid,
    pub url: &'a str,
    pub description: Option<&'a str>,
    pub event_types: &'a [String],
    pub secret: &'a SigningSecret,
    pub created_by: &'a str,
}

macro_rules! webhook_record {
    ($r:expr) => {
        WebhookRecord {
            id: $r.id,
            url: $r.url,
            description: $r.description,
            event_types: $r.event_types,
            secret: SigningSecret($r.secret),
            previous_secret: $r.previous_secret.map(SigningSecret),
            previous_expires_at: $r.previous_expires_at,
            cursor_seq: $r.cursor_seq,
            created_by: $r.created_by,
            created_at: $r.created_at,
        }
    };
}

/// Subscribes an endpoint to events from now on.
pub async fn insert(
    conn: &mut PgConnection,
    new: &NewWebhook<'_>,
) -> Result<WebhookRecord, StoreError> {
    let r = sqlx::query!(
        r#"INSERT INTO webhooks (id, url, description, event_types, secret, cursor_seq, created_by)
           VALUES ($1, $2, $3, $4, $5, (SELECT last_seq FROM event_feed_head), $6)
           RETURNING id, url, description, event_types, secret, previous_secret,
                     previous_expires_at, cursor_seq, created_by, created_at"#,
        new.id,
        new.url,
        new.description,
        new.event_types,
        new.secret.expose(),
        new.created_by,
    )
    .fetch_one(conn)
    .await?;
    Ok(webhook_record!(r))
}

pub async fn list(conn: &mut PgConnection) -> Result<Vec<WebhookRecord>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT id, url, description, event_types, secret, previous_secret,
                  previous_expires_at, cursor_seq, created_by, created_at
           FROM webhooks ORDER BY created_at, id"#
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| webhook_record!(r)).collect())
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<WebhookRecord>, StoreError> {
    let r = sqlx::query!(
        r#"SELECT id, url, description, event_types, secret, previous_secret,
                  previous_expires_at, cursor_seq, created_by, created_at
           FROM webhooks WHERE id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await?;
    Ok(r.map(|r| webhook_record!(r)))
}

/// Unsubscribes; pending deliveries go with it. False if there was none.
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> Result<bool, StoreError> {
    let r = sqlx::query!(r#"DELETE FROM webhooks WHERE id = $1"#, id)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Replaces the signing secret; the current one keeps signing beside it
/// until `previous_expires_at`.
pub async fn rotate(
    conn: &mut PgConnection,
    id: Uuid,
    secret: &SigningSecret,
    previous_expires_at: OffsetDateTime,
) -> Result<Option<WebhookRecord>, StoreError> {
    let r = sqlx::query!(
        r#"UPDATE webhooks
           SET previous_secret = secret, previous_expires_at = $3, secret = $2
           WHERE id = $1
           RETURNING id, url, description, event_types, secret, previous_secret,
                     previous_expires_at, cursor_seq, created_by, created_at"#,
        id,
        secret.expose(),
        previous_expires_at,
    )
    .fetch_optional(conn)
    .await?;
    Ok(r.map(|r| webhook_record!(r)))
}

/// One subscription's stored secrets, as they are in the table.
#[derive(Debug, Clone)]
struct StoredSecrets {
    id: Uuid,
    secret: String,
    previous_secret: Option<String>,
}

/// Seals every secret not sealed under the current key yet (plain text
/// from before encryption, or a key being rotated out) under it. A row
/// rotated meanwhile is left for the next run. Returns how many rows changed.
pub async fn reseal_all(
    conn: &mut PgConnection,
    keys: &crate::sealed::SecretKeys,
) -> Result<usize, StoreError> {
    let rows = sqlx::query_as!(
        StoredSecrets,
        r#"SELECT id, secret, previous_secret FROM webhooks ORDER BY id"#
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut changed = 0;
    for row in rows {
        let stale = |s: &str| !keys.is_current(s);
        if !stale(&row.secret) && !row.previous_secret.as_deref().is_some_and(stale) {
            continue;
        }
        let reseal = |stored: &str| -> Result<String, StoreError> {
            if keys.is_current(stored) {
                return Ok(stored.to_owned());
            }
            let plain = keys
                .open(row.id, stored)
                .map_err(|e| StoreError::Corrupt(format!("webhook {}: {e}", row.id)))?;
            keys.seal(row.id, &plain)
                .map_err(|e| StoreError::Corrupt(format!("webhook {}: {e}", row.id)))
        };
        let secret = reseal(&row.secret)?;
        let previous = row.previous_secret.as_deref().map(reseal).transpose()?;
        let done = sqlx::query!(
            r#"UPDATE webhooks SET secret = $2, previous_secret = $3
               WHERE id = $1 AND secret = $4
                 AND previous_secret IS NOT DISTINCT FROM $5"#,
            row.id,
            secret,
            previous,
            row.secret,
            row.previous_secret,
        )
        .execute(&mut *conn)
        .await?;
        changed += usize::try_from(done.rows_affected()).unwrap_or(0);
    }
    Ok(changed)
}

/// Queues one message for one endpoint (a test ping).
pub async fn enqueue(
    conn: &mut PgConnection,
    webhook_id: Uuid,
    delivery_id: Uuid,
    message: &Message,
) -> Result<(), StoreError> {
    let payload = serde_json::to_value(message).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query!(
        r#"INSERT INTO webhook_deliveries (id, webhook_id, seq, event_type, payload)
           VALUES ($1, $2, $3, $4, $5)"#,
        delivery_id,
        webhook_id,
        message.seq,
        message.event_type,
        payload,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Copies new feed events into each subscription's outbox, at most `batch`
/// per subscription, skipping subscriptions another replica is fanning out.
/// Returns how many deliveries were queued. Run it inside a transaction.
pub async fn fan_out(conn: &mut PgConnection, batch: u32) -> Result<usize, StoreError> {
    let subs = sqlx::query!(
        r#"SELECT id, event_types, cursor_seq FROM webhooks
           ORDER BY id FOR UPDATE SKIP LOCKED"#
    )
    .fetch_all(&mut *conn)
    .await?;
    if subs.is_empty() {
        return Ok(0);
    }
    // One head for every subscription: all positions up to it are final.
    let upto = head(&mut *conn).await?;
    let mut queued = 0;
    for sub in subs {
        let filter = FeedFilter {
            kinds: (!sub.event_types.is_empty()).then(|| {
                sub.event_types
                    .iter()
                    .filter_map(|t| import_event_kind(t).map(str::to_owned))
                    .collect()
            }),
            ..FeedFilter::default()
        };
        let (page, resume) = page_upto(conn, sub.cursor_seq, upto, &filter, batch).await?;
        for message in &page {
            let payload =
                serde_json::to_value(message).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let r = sqlx::query!(
                r#"INSERT INTO webhook_deliveries (id, webhook_id, seq, event_type, payload)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (webhook_id, seq) DO NOTHING"#,
                Uuid::now_v7(),
                sub.id,
                message.seq,
                message.event_type,
                payload,
            )
            .execute(&mut *conn)
            .await?;
            queued += r.rows_affected() as usize;
        }
        if resume != sub.cursor_seq {
            sqlx::query!(
                r#"UPDATE webhooks SET cursor_seq = $2 WHERE id = $1"#,
                sub.id,
                resume
            )
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(queued)
}

/// A delivery claimed for one attempt, with what it takes to sign it.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub url: String,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
    /// The secrets to sign with, as stored (sealed, see [`crate::sealed`]):
    /// the current one, then the previous one while it has not expired.
    pub secrets: Vec<SigningSecret>,
}

/// Leases up to `limit` deliveries that are due, for `lease`.
pub async fn claim_due(
    conn: &mut PgConnection,
    owner: &str,
    lease: time::Duration,
    limit: i64,
) -> Result<Vec<DueDelivery>, StoreError> {
    let until = OffsetDateTime::now_utc() + lease;
    let rows = sqlx::query!(
        r#"WITH due AS (
               SELECT id FROM webhook_deliveries
               WHERE status = 'pending' AND next_attempt_at <= now()
                 AND (lease_expires_at IS NULL OR lease_expires_at < now())
               ORDER BY next_attempt_at
               LIMIT $3
               FOR UPDATE SKIP LOCKED)
           UPDATE webhook_deliveries d
           SET lease_owner = $1, lease_expires_at = $2
           FROM due, webhooks w
           WHERE d.id = due.id AND w.id = d.webhook_id
           RETURNING d.id, d.webhook_id, w.url, d.event_type, d.payload, d.attempts,
                     w.secret, w.previous_secret, w.previous_expires_at > now() AS "previous_live?""#,
        owner,
        until,
        limit,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut secrets = vec![SigningSecret(r.secret)];
            if let (Some(prev), Some(true)) = (r.previous_secret, r.previous_live) {
                secrets.push(SigningSecret(prev));
            }
            DueDelivery {
                id: r.id,
                webhook_id: r.webhook_id,
                url: r.url,
                event_type: r.event_type,
                payload: r.payload,
                attempts: r.attempts,
                secrets,
            }
        })
        .collect())
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i32>,
    /// Why it did not count as delivered.
    pub error: Option<String>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    RetryAt(OffsetDateTime),
    /// Out of attempts.
    Failed,
}

/// Records an attempt and releases the lease. False when the lease was lost
/// (another replica has the delivery now).
pub async fn record_attempt(
    conn: &mut PgConnection,
    id: Uuid,
    owner: &str,
    attempt: &Attempt,
) -> Result<bool, StoreError> {
    let (status, next, delivered) = match attempt.outcome {
        Outcome::Delivered => ("delivered", None, true),
        Outcome::RetryAt(at) => ("pending", Some(at), false),
        Outcome::Failed => ("failed", None, false),
    };
    let r = sqlx::query!(
        r#"UPDATE webhook_deliveries
           SET attempts = attempts + 1, last_attempt_at = now(),
               last_status_code = $3, last_error = $4, status = $5,
               next_attempt_at = COALESCE($6, next_attempt_at),
               delivered_at = CASE WHEN $7 THEN now() END,
               lease_owner = NULL, lease_expires_at = NULL
           WHERE id = $1 AND lease_owner = $2"#,
        id,
        owner,
        attempt.status_code,
        attempt.error.as_deref(),
        status,
        next,
        delivered,
    )
    .execute(conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// When the next pending delivery falls due, if any.
pub async fn next_due(conn: &mut PgConnection) -> Result<Option<OffsetDateTime>, StoreError> {
    let r = sqlx::query!(
        r#"SELECT min(next_attempt_at) AS next FROM webhook_deliveries WHERE status = 'pending'"#
    )
    .fetch_one(conn)
    .await?;
    Ok(r.next)
}

/// Releases this owner's delivery leases (at shutdown).
pub async fn release_all(conn: &mut PgConnection, owner: &str) -> Result<u64, StoreError> {
    let r = sqlx::query!(
        r#"UPDATE webhook_deliveries SET lease_owner = NULL, lease_expires_at = NULL
           WHERE lease_owner = $1"#,
        owner
    )
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

/// One entry of an endpoint's delivery log.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub id: Uuid,
    pub seq: Option<i64>,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: OffsetDateTime,
    pub last_attempt_at: Option<OffsetDateTime>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// An endpoint's deliveries, newest first, before `before` (a delivery id)
/// when given. Ids are UUIDv7, so they sort by creation.
pub async fn deliveries(
    conn: &mut PgConnection,
    webhook_id: Uuid,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: u32,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let rows = sqlx::query_as!(
        DeliveryRecord,
        r#"SELECT id, seq, event_type, payload, status, attempts, next_attempt_at,
                  last_attempt_at, last_status_code, last_error, delivered_at, created_at
           FROM webhook_deliveries
           WHERE webhook_id = $1
             AND ($2::text IS NULL OR status = $2)
             AND ($3::uuid IS NULL OR id < $3)
           ORDER BY id DESC
           LIMIT $4"#,
        webhook_id,
        status,
        before,
        i64::from(limit),
    )
    .fetch_all(conn)
    .await?;
    Ok(rows)
}
