//! The `Idempotency-Key` protocol of `POST /v1/imports`: the same key with
//! the same body replays the first response (with `Idempotent-Replayed:
//! true`); the same key with another body is refused. Keys are scoped to the
//! caller and kept for the configured time.

use axum::Json;
use axum::response::{IntoResponse, Response};
use ferry_domain::ids::ImportId;
use ferry_store::{PgConnection, idempotency};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::location;
use crate::error::ApiError;

/// A request's idempotency key and the hash of its body.
pub(super) struct Key {
    key: String,
    request_hash: Vec<u8>,
}

impl Key {
    /// Reads the `Idempotency-Key` header and hashes the body; `None` when
    /// the request has no key.
    pub(super) fn from_request(
        headers: &HeaderMap,
        body: &impl Serialize,
    ) -> Result<Option<Self>, ApiError> {
        let Some(key) = idempotency_key(headers)? else {
            return Ok(None);
        };
        let request_hash = {
            let canonical = serde_json::to_vec(body)?;
            Sha256::digest(&canonical).to_vec()
        };
        Ok(Some(Self { key, request_hash }))
    }

    /// Locks the key for the caller until the transaction ends and, if it
    /// was used before, answers with the saved response (or refuses a
    /// different body).
    pub(super) async fn replay(
        &self,
        conn: &mut PgConnection,
        principal: &str,
    ) -> Result<Option<Response>, ApiError> {
        idempotency::lock(conn, principal, &self.key).await?;
        let Some(saved) = idempotency::find(conn, principal, &self.key).await? else {
            return Ok(None);
        };
        if saved.request_hash != self.request_hash {
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
        Ok(Some(res))
    }

    /// Saves the `201 Created` response for `id` so that a retry with this
    /// key replays it.
    pub(super) async fn remember(
        self,
        conn: &mut PgConnection,
        principal: &str,
        body: &impl Serialize,
        id: ImportId,
        ttl: Duration,
    ) -> Result<(), ApiError> {
        let saved = idempotency::SavedResponse {
            request_hash: self.request_hash,
            status: StatusCode::CREATED.as_u16(),
            body: serde_json::to_value(body)?,
            resource_id: Some(id.as_uuid()),
            created_at: OffsetDateTime::now_utc(),
        };
        idempotency::save(conn, principal, &self.key, &saved, ttl).await?;
        Ok(())
    }
}

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
