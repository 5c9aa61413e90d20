//! `/v1/webhooks`: push delivery of the event feed to other systems (admin).
//!
//! Messages are signed per the Standard Webhooks spec (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`), queued
//! in a durable outbox and retried with backoff by the worker; every attempt
//! is in the delivery log.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ferry_domain::events::Message;
use ferry_domain::net::{AddressPolicy, AddressRefused, check_host_spelling};
use ferry_domain::schema;
use ferry_store::webhooks::{
    self as store, DeliveryRecord, NewWebhook, SigningSecret, WebhookRecord,
};
use http::{HeaderValue, StatusCode, header};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use time::OffsetDateTime;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::params::{decode_cursor, encode_cursor, page_limit};
use crate::auth::Caller;
use crate::extract::{JsonBody, OptionalJsonBody, Path, Query};
use crate::{ApiError, AppState, FieldProblem};

const MAX_URL: usize = 2048;
const MAX_DESCRIPTION: usize = 500;
const MAX_TYPES: usize = 64;
/// How long a rotated-out secret keeps signing, unless the caller says.
const DEFAULT_GRACE_SECS: u32 = 24 * 3600;
const MAX_GRACE_SECS: u32 = 7 * 24 * 3600;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, delete_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(ping_webhook))
        .routes(routes!(list_deliveries))
}

/// A new subscription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookCreate {
    /// Where to POST messages: `https://` (plain `http://` only where the
    /// server allows it, as `ferry dev` does).
    ///
    /// The address must also be one the server's address policy allows (by
    /// default no private, loopback or link-local address, checked after name
    /// resolution); another is refused with rule `destination`. No
    /// credentials (`no_credentials`), no `#fragment`.
    #[schema(schema_with = url_schema)]
    url: String,
    #[schema(schema_with = description_schema)]
    description: Option<String>,
    /// Message types to deliver; all when empty or absent. Test pings are
    /// always delivered.
    #[serde(default)]
    #[schema(schema_with = event_types_schema)]
    event_types: Vec<String>,
}

/// Options of a secret rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateRequest {
    /// How long the current secret keeps signing beside the new one, so
    /// receivers can switch without rejecting a delivery (default one day,
    /// at most seven; 0 retires it at once).
    #[schema(minimum = 0, maximum = 604800)]
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    grace_seconds: Option<u32>,
}

/// A subscription. The secret appears only in the answers to creation and
/// rotation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookOut {
    id: Uuid,
    url: String,
    description: Option<String>,
    /// Delivered types; empty means all.
    event_types: Vec<String>,
    /// The signing secret (`whsec_` + base64 key), shown once: store it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    /// While set, the previous secret also signs every message.
    #[serde(with = "time::serde::rfc3339::option")]
    previous_secret_expires_at: Option<OffsetDateTime>,
    created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl WebhookOut {
    /// `secret`: the new secret in plain text, shown with creation and
    /// rotation only (the record holds it sealed).
    fn new(r: WebhookRecord, secret: Option<&SigningSecret>) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            id: r.id,
            url: r.url,
            description: r.description,
            event_types: r.event_types,
            secret: secret.map(|s| s.expose().to_owned()),
            previous_secret_expires_at: r.previous_expires_at.filter(|t| *t > now),
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookList {
    /// Oldest first.
    items: Vec<WebhookOut>,
}

/// A queued test ping.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PingOut {
    /// The delivery (and `webhook-id`) of the ping; follow it in the log.
    delivery_id: Uuid,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DeliveryStatus {
    /// Not delivered yet; `next_attempt_at` says when it is tried again.
    Pending,
    Delivered,
    /// Out of attempts.
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            other => Err(ApiError::internal(format!(
                "unknown delivery status {other:?}"
            ))),
        }
    }
}

/// One message to one endpoint, and how its attempts went.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryOut {
    /// Also the `webhook-id` header: the same on every attempt.
    id: Uuid,
    /// The feed position of the event; absent for pings.
    seq: Option<i64>,
    event_type: String,
    status: DeliveryStatus,
    attempts: i32,
    #[serde(with = "time::serde::rfc3339")]
    next_attempt_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    last_attempt_at: Option<OffsetDateTime>,
    /// The receiver's HTTP status on the last attempt.
    last_status_code: Option<i32>,
    /// Why the last attempt did not count (status, timeout, refused connection).
    last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    delivered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    /// The message as sent.
    #[schema(value_type = Object)]
    payload: serde_json::Value,
}

impl TryFrom<DeliveryRecord> for DeliveryOut {
    type Error = ApiError;

    fn try_from(d: DeliveryRecord) -> Result<Self, ApiError> {
        Ok(Self {
            id: d.id,
            seq: d.seq,
            event_type: d.event_type,
            status: DeliveryStatus::parse(&d.status)?,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_attempt_at: d.last_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
            payload: d.payload,
        })
    }
}

/// One page of the delivery log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryPage {
    items: Vec<DeliveryOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveryQuery {
    /// Only deliveries in this state.
    status: Option<DeliveryStatus>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    #[param(schema_with = crate::routes::params::cursor_schema)]
    cursor: Option<String>,
}

// ---------------------------------------------------------------- helpers

/// `http(s)://` and anything a URL parser takes after it; the rest of the
/// rule (a host, no credentials, no fragment, an allowed destination) is in
/// the description and named by the 422.
fn url_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_URL))
        .pattern(Some(
            r"^[hH][tT][tT][pP][sS]?://[^#\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]+$",
        ))
        .description(Some(
            "Where to POST messages: `https://` (plain `http://` only where the server allows \
             it, as `ferry dev` does), with a host, without credentials or a `#fragment`.",
        ))
        .examples(["https://hooks.example.com/ferry"])
        .into()
}

fn description_schema() -> Schema {
    crate::routes::params::nullable(schema::text(
        MAX_DESCRIPTION,
        "What the subscription is for.",
    ))
}

fn event_types_schema() -> Schema {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(ferry_domain::events::all_types())),
        )
        .max_items(Some(MAX_TYPES))
        .description(Some(
            "Message types to deliver (`import.job_completed`, ...).",
        ))
        .into()
}

fn admin_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.0.is_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "a {} may not manage webhooks (admin only)",
            caller.0.role
        )))
    }
}

/// A fresh signing secret: 32 random bytes, as `whsec_<base64>`.
fn new_secret() -> SigningSecret {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    SigningSecret::new(format!("whsec_{}", STANDARD.encode(key)))
}

/// `secret` sealed for storage under the configured key; without one,
/// no secret is stored at all.
fn seal(
    state: &AppState,
    webhook_id: Uuid,
    secret: &SigningSecret,
) -> Result<SigningSecret, ApiError> {
    let keys = state.settings.webhook_keys.as_ref().ok_or_else(|| {
        ApiError::unavailable(
            "webhook signing secrets are stored encrypted, and this Ferry has no key: \
             set webhooks.secret_key_file or FERRY_WEBHOOK_KEY",
        )
    })?;
    keys.seal(webhook_id, secret)
        .map(SigningSecret::new)
        .map_err(ApiError::internal)
}

fn parse_webhook_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("webhook"))
}

/// How long registration waits for a receiver's name to resolve.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

fn address_problem(host: &str, refused: &AddressRefused) -> FieldProblem {
    let ip = refused.ip.to_string();
    let resolved = if host.trim_start_matches('[').trim_end_matches(']') == ip {
        String::new()
    } else {
        format!("{host} resolves to ")
    };
    FieldProblem {
        pointer: "/url".into(),
        rule: refused.why.rule().into(),
        detail: format!(
            "url's host {resolved}{ip}, {}: Ferry does not send webhooks into its own network \
             unless webhooks.allow_networks lists the address",
            refused.why.describe()
        ),
    }
}

/// The URL's host checked against the address policy: an IP literal as
/// it is (IPv4 in dotted decimal only), a name by every address it
/// resolves to now. A name that does not resolve yet is accepted; the
/// dispatcher checks the addresses again at every connection.
async fn check_destination(raw: &str, policy: &AddressPolicy) -> Result<(), FieldProblem> {
    let Ok(url) = url::Url::parse(raw) else {
        return Ok(());
    };
    let host = url.host_str().unwrap_or_default().to_owned();
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => {
            check_host_spelling(raw, v4).map_err(|e| FieldProblem {
                pointer: "/url".into(),
                rule: e.rule.into(),
                detail: e.message,
            })?;
            IpAddr::V4(v4)
        }
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(name)) => {
            let port = url.port_or_known_default().unwrap_or(443);
            let lookup = tokio::net::lookup_host((name, port));
            let Ok(Ok(addrs)) = tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await else {
                return Ok(());
            };
            for addr in addrs {
                policy
                    .check(addr.ip())
                    .map_err(|refused| address_problem(&host, &refused))?;
            }
            return Ok(());
        }
        None => return Ok(()),
    };
    policy
        .check(ip)
        .map_err(|refused| address_problem(&host, &refused))
}

fn check_url(raw: &str, allow_http: bool) -> Result<(), FieldProblem> {
    let problem = |rule: &str, detail: String| FieldProblem {
        pointer: "/url".into(),
        rule: rule.into(),
        detail,
    };
    if raw.len() > MAX_URL {
        return Err(problem(
            "max_length",
            format!("url is longer than {MAX_URL} characters"),
        ));
    }
    let url = url::Url::parse(raw).map_err(|e| problem("url", format!("url is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(problem(
                "https",
                "url must be https:// (this server does not allow plain http)".into(),
            ));
        }
        other => {
            return Err(problem(
                "https",
                format!("url scheme {other:?} is not https"),
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(problem("url", "url has no host".into()));
    }
    // Credentials in a URL would be shown by every GET of the subscription.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(problem(
            "no_credentials",
            "url must not carry credentials; verify the signature instead".into(),
        ));
    }
    if url.fragment().is_some() {
        return Err(problem("url", "url must not have a #fragment".into()));
    }
    Ok(())
}

async fn load(
    conn: &mut ferry_store::PgConnection,
    raw_id: &str,
) -> Result<WebhookRecord, ApiError> {
    let id = parse_webhook_id(raw_id)?;
    store::get(conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

// ---------------------------------------------------------------- handlers

/// Subscribes an endpoint to the event feed (admin).
///
/// Events recorded from now on are delivered, filtered by `event_types`.
/// The answer carries the signing secret, the only time it is shown.
#[utoipa::path(
    post, path = "/v1/webhooks", tag = "webhooks",
    request_body(content = WebhookCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "Subscribed; the secret is in the body", body = WebhookOut,
            headers(("Location" = String, description = "The subscription's URL"))),
        (status = 403, description = "Not an admin", body = crate::Problem, content_type = "application/problem+json"),
    ),
)]
async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<WebhookCreate>,
) -> Result<Response, ApiError> {
    admin_only(&caller)?;
    let mut problems = Vec::new();
    if let Err(p) = check_url(&body.url, state.settings.webhooks_allow_http) {
        problems.push(p);
    } else if let Err(p) =
        check_destination(&body.url, &state.settings.webhooks_address_policy).await
    {
        problems.push(p);
    }
    if body
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        problems.push(FieldProblem {
            pointer: "/description".into(),
            rule: "max_length".into(),
            detail: format!("description is longer than {MAX_DESCRIPTION} characters"),
        });
    }
    let event_types = if body.event_types.len() > MAX_TYPES {
        problems.push(FieldProblem {
            pointer: "/event_types".into(),
            rule: "max_items".into(),
            detail: format!("event_types lists more than {MAX_TYPES} types"),
        });
        Vec::new()
    } else {
        match ferry_domain::events::parse_types(&body.event_types) {
            Ok(t) => t,
            Err(detail) => {
                problems.push(FieldProblem {
                    pointer: "/event_types".into(),
                    rule: "event_type".into(),
                    detail,
                });
                Vec::new()
            }
        }
    };
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    let secret = new_secret();
    let id = Uuid::now_v7();
    let sealed = seal(&state, id, &secret)?;
    let mut conn = ferry_store::acquire(&state.pool).await?;
    let record = store::insert(
        &mut conn,
        &NewWebhook {
            id,
            url: &body.url,
            description: body.description.as_deref(),
            event_types: &event_types,
            secret: &sealed,
            created_by: &caller.0.name,
        },
    )
    .await?;
    tracing::info!(webhook_id = %id, "webhook subscribed");
    let mut res = (
        StatusCode::CREATED,
        Json(WebhookOut::new(record, Some(&secret))),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/webhooks/{id}")) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// Lists the subscriptions (admin). Secrets are never shown again.
#[utoipa::path(
    get, path = "/v1/webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "Subscriptions", body = WebhookList),
        (status = 403, description = "Not an admin", body = crate::Problem, content_type = "application/problem+json"),
    ),
)]
async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<WebhookList>, ApiError> {
    admin_only(&caller)?;
    let mut conn = ferry_store::acquire(&state.pool).await?;
    let items = store::list(&mut conn)
        .await?
        .into_iter()
        .map(|r| WebhookOut::new(r, None))
        .collect();
    Ok(Json(WebhookList { items }))
}

/// One subscription (admin).
#[utoipa::path(
    get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The subscription id")),
    responses(
        (status = 200, description = "The subscription", body = WebhookOut),
        (status = 403, description = "Not an admin", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription", body = crate::Problem, content_type = "application/problem+json"),
    ),
)]
async fn get_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookOut>, ApiError> {
    admin_only(&caller)?;
    let mut conn = ferry_store::acquire(&state.pool).await?;
    Ok(Json(WebhookOut::new(load(&mut conn, &id).await?, None)))
}

/// Unsubscribes (admin). Undelivered messages are dropped with it.
#[utoipa::path(
    delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The subscription id")),
    responses(
        (status = 204, description = "Unsubscribed"),
        (status = 403, description = "Not an admin", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription", body = crate::Problem, content_type = "application/problem+json"),
    ),
)]
async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin_only(&caller)?;
    let id = parse_webhook_id(&id)?;
    let mut conn = ferry_store::acquire(&state.pool).await?;
    if store::delete(&mut conn, id).await? {
        tracing::info!(webhook_id = %id, "webhook unsubscribed");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("webhook"))
    }
}

/// Replaces the signing secret (admin).
///
/// The new secret is in the answer, once. The previous one keeps signing
/// beside it (`webhook-signature` then carries two `v1,` signatures) for
/// `grace_seconds`, so receivers can switch without rejecting a delivery.
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path, description = "The subscription id")),
    request_body(content = Option<RotateRequest>, description = "Optional grace period", content_type = "application/json"),
    responses(
        (status = 200, description = "Rotated; the new secret is in the body", body = WebhookOut),
        (status = 403, description = "Not an admin", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription", body = crate::Problem, content_type = "application/problem+json"),
    ),
)]
async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<RotateRequest>,
) -> Result<Json<WebhookOut>, ApiError> {
    admin_only(&caller)?;
    let grace = body.grace_seconds.unwrap_or(DEFAULT_GRACE_SECS);
    if grace > MAX_GRACE_SECS {
        return Err(ApiError::validation([FieldProblem {
            pointer: "/grace_seconds".into(),
            rule: "maximum".into(),
            detail: format!("grace_seconds must be at most {MAX_GRACE_SECS} (seven days)"),
        }]));
    }
    let id = parse_webhook_id(&id)?;
    let secret = new_secret();
    let sealed = seal(&state, id, &secret)?;
    let expires = OffsetDateTime::now_utc() + time::Duration::seconds(i64::from(grace));
    let mut conn = ferry_store::acquire(&state.pool).await?;
    let record = store::rotate(&mut conn, id, &sealed, expires)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    tracing::info!(webhook_id = %id, grace_seconds = grace, "webhook secret rotated");
    Ok(Json(WebhookOut::new(record, Some(&secret))))
}

/// Sends a test ping (`webhook.ping`) through the outbox (admin).
///
/// It is signed, retried and logged like any message; follow it in
/// `GET /v1/webhooks/{id}/deliveries`.
#[utoipa::path(
    post, path = "/v1/webhooks/{id}/ping", tag = "webhooks",
    params(("id" = String, Path, description = "The subscription id")),
    responses(
        (status = 202, description = "Queued", body = PingOut),
        (status = 403, description = "Not an admin", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription", body = crate::Problem, content_type = "application/problem+json"),
    ),
)]
async fn ping_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<PingOut>), ApiError> {
    admin_only(&caller)?;
    let mut conn = ferry_store::acquire(&state.pool).await?;
    let hook = load(&mut conn, &id).await?;
    let delivery_id = Uuid::now_v7();
    let message = Message::ping(hook.id, OffsetDateTime::now_utc());
    store::enqueue(&mut conn, hook.id, delivery_id, &message).await?;
    Ok((StatusCode::ACCEPTED, Json(PingOut { delivery_id })))
}

/// The delivery log of one subscription, newest first (admin).
#[utoipa::path(
    get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "The subscription id"), DeliveryQuery),
    responses(
        (status = 200, description = "Deliveries", body = DeliveryPage),
        (status = 403, description = "Not an admin", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription", body = crate::Problem, content_type = "application/problem+json"),
    ),
)]
async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<DeliveryPage>, ApiError> {
    admin_only(&caller)?;
    let limit = page_limit(q.limit, 50, 200)?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| decode_cursor::<Uuid>("d", c))
        .transpose()?;
    let mut conn = ferry_store::acquire(&state.pool).await?;
    let hook = load(&mut conn, &id).await?;
    let mut rows = store::deliveries(
        &mut conn,
        hook.id,
        q.status.map(DeliveryStatus::as_str),
        before,
        limit + 1,
    )
    .await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|d| encode_cursor("d", &d.id.to_string()))
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(DeliveryOut::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Json(DeliveryPage { items, next_cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://hooks.example.com/ferry", false).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        let rule = |u: &str, http: bool| check_url(u, http).err().map(|p| p.rule);
        assert_eq!(
            rule("http://hooks.example.com/", false).as_deref(),
            Some("https")
        );
        assert_eq!(
            rule("ftp://hooks.example.com/", true).as_deref(),
            Some("https")
        );
        assert_eq!(
            rule("https://user:pw@hooks.example.com/", false).as_deref(),
            Some("no_credentials")
        );
        assert_eq!(rule("not a url", false).as_deref(), Some("url"));
        assert_eq!(
            rule(&format!("https://h.example/{}", "a".repeat(2100)), false).as_deref(),
            Some("max_length")
        );
    }

    #[tokio::test]
    async fn destinations_inside_the_network_are_refused() {
        async fn rule(url: &str, policy: &AddressPolicy) -> Option<String> {
            check_destination(url, policy).await.err().map(|p| p.rule)
        }
        let policy = AddressPolicy::default();
        for (url, expected) in [
            (
                "https://169.254.169.254/latest/meta-data/",
                "address.link_local",
            ),
            ("https://[fd00:ec2::254]/", "address.unique_local"),
            ("https://10.0.0.1/", "address.private"),
            ("https://[::1]/", "address.loopback"),
            ("http://2130706433/", "address.non_canonical"),
            ("http://0x7f000001/", "address.non_canonical"),
            ("http://127.1/", "address.non_canonical"),
            ("http://0177.0.0.1/", "address.non_canonical"),
            ("http://0.0.0.0/", "address.unspecified"),
            ("https://[::ffff:127.0.0.1]/", "address.ipv4_mapped"),
            ("https://[64:ff9b::7f00:1]/", "address.loopback"),
            ("https://localhost/", "address.loopback"),
        ] {
            assert_eq!(rule(url, &policy).await.as_deref(), Some(expected), "{url}");
        }
        assert_eq!(rule("https://93.184.216.34/h", &policy).await, None);
        let lo = AddressPolicy::loopback();
        assert_eq!(rule("http://127.0.0.1:9/h", &lo).await, None);
        assert_eq!(rule("https://localhost/", &lo).await, None);
        assert_eq!(
            rule("http://127.1/", &lo).await.as_deref(),
            Some("address.non_canonical")
        );
    }

    #[test]
    fn secrets_are_standard_webhooks_keys() {
        let s = new_secret();
        let key = s
            .expose()
            .strip_prefix("whsec_")
            .map(|k| STANDARD.decode(k));
        assert!(matches!(key, Some(Ok(ref k)) if k.len() == 32));
        assert_ne!(new_secret().expose(), s.expose());
        assert!(!format!("{s:?}").contains(s.expose()));
    }
}
