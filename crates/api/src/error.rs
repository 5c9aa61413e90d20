//! One error shape for every response: `application/problem+json` (RFC 9457)
//! with a stable `code`, a human `detail`, field-level `errors` and the
//! `request_id`.
//!
//! Handlers return [`ApiError`]; its `IntoResponse` only records the problem
//! in the response's extensions. The [`render_problems`] middleware, which
//! knows the request id, logs the cause once and writes the body. A 5xx body
//! never carries internal detail.

use std::sync::Arc;

use axum::extract::Request;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferry_domain::FieldError;
use ferry_domain::import::DraftRejected;
use ferry_domain::status::IllegalTransition;
use ferry_store::StoreError;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use utoipa::ToSchema;

/// A problem detail (RFC 9457), as every error response carries it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:ferry:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Stable, machine-readable error code.
    pub code: String,
    /// What went wrong, for people.
    pub detail: String,
    /// The request's `x-request-id`, to quote when reporting a problem.
    pub request_id: String,
    /// Field-level errors of a body that failed validation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldProblem {
    /// JSON pointer (RFC 6901) to the field in the request body, or
    /// `/query/<name>` for a query parameter.
    pub pointer: String,
    /// The rule the value broke (stable, e.g. `s3_uri.bucket`, `length`).
    pub rule: String,
    /// The rule, for people.
    pub detail: String,
}

impl From<FieldError> for FieldProblem {
    fn from(e: FieldError) -> Self {
        Self {
            pointer: e.pointer,
            rule: e.rule.to_owned(),
            detail: e.message,
        }
    }
}

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The `Retry-After` (seconds) of a 503 while the database is unavailable.
const DATABASE_RETRY_AFTER_SECS: &str = "2";
/// The `Retry-After` (seconds) of a 503 while every database connection is in use.
const DATABASE_BUSY_RETRY_AFTER_SECS: &str = "1";

/// An error on its way to becoming a problem response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Vec<FieldProblem>,
    /// Logged by the middleware, never sent.
    cause: Option<Cause>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            cause: None,
            headers: Vec::new(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn validation(errors: impl IntoIterator<Item = FieldProblem>) -> Self {
        let errors: Vec<FieldProblem> = errors.into_iter().collect();
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.pointer, one.detail),
            many => format!("{} fields are invalid; see errors", many.len()),
        };
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                detail,
            )
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn invalid_query(pointer: &str, rule: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self {
            errors: vec![FieldProblem {
                pointer: format!("/query/{pointer}"),
                rule: rule.to_owned(),
                detail: detail.clone(),
            }],
            ..Self::bad_request("invalid_query", detail)
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail);
        e.headers.push((
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"ferry\""),
        ));
        e
    }

    /// A credential was presented and refused (RFC 6750 `invalid_token`).
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail);
        e.headers.push((
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"ferry\", error=\"invalid_token\""),
        ));
        e
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request bodies are limited to {limit} bytes"),
        )
    }

    /// Too many failed authentications from the caller's address: 429 with
    /// `Retry-After`, answered before the credential is looked at.
    pub fn too_many_failures(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_failed_authentications",
            format!(
                "too many failed authentications from this address; retry in {retry_after_secs} s"
            ),
        );
        if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
            e.headers.push((header::RETRY_AFTER, v));
        }
        e
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// The database cannot be reached: 503 with `Retry-After`, so clients
    /// and load balancers retry. The cause is logged, never sent.
    pub fn database_unavailable(cause: impl Into<Cause>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the database is unavailable; retry after the number of seconds in Retry-After",
        )
        .with_cause(cause);
        e.headers.push((
            header::RETRY_AFTER,
            HeaderValue::from_static(DATABASE_RETRY_AFTER_SECS),
        ));
        e
    }

    /// The database answers but every connection of the pool stayed in use
    /// (saturation, not an outage): 503 with `Retry-After` too, the same
    /// problem type, a detail saying busy.
    pub fn database_busy(cause: impl Into<Cause>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the database is busy; retry after the number of seconds in Retry-After",
        )
        .with_cause(cause);
        e.headers.push((
            header::RETRY_AFTER,
            HeaderValue::from_static(DATABASE_BUSY_RETRY_AFTER_SECS),
        ));
        e
    }

    /// A failure of ours. The cause is logged; the client learns nothing of it.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred; quote the request_id when reporting it",
            )
        }
    }

    pub fn with_cause(mut self, cause: impl Into<Cause>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// Adds a response header (`Retry-After` of a 503).
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("resource"),
            StoreError::Conflict { ref constraint } => {
                let (code, detail) = match constraint.as_str() {
                    "import_requests_live_model_name" => (
                        "model_name_in_use",
                        "another request in this environment already holds that imported model name; \
                         pick another name or delete the model first",
                    ),
                    "import_requests_job_name" => (
                        "job_name_in_use",
                        "another request in this environment already uses that job name",
                    ),
                    _ => (
                        "conflict",
                        "the request conflicts with an existing resource",
                    ),
                };
                ApiError::conflict(code, detail).with_cause(e)
            }
            StoreError::IllegalTransition(t) => t.into(),
            StoreError::Unavailable(_) => ApiError::database_unavailable(e),
            StoreError::Busy => ApiError::database_busy(e),
            StoreError::LeaseLost | StoreError::Corrupt(_) | StoreError::Database(_) => {
                ApiError::internal(e)
            }
        }
    }
}

impl From<IllegalTransition> for ApiError {
    fn from(t: IllegalTransition) -> Self {
        ApiError::conflict(
            "invalid_transition",
            format!("the request is {}; it cannot become {}", t.from, t.to),
        )
    }
}

/// A draft the catalog or Bedrock's rules refuse: 403 for a team or source
/// the caller may not use, 422 naming each field otherwise.
impl From<DraftRejected> for ApiError {
    fn from(r: DraftRejected) -> Self {
        match r {
            DraftRejected::Forbidden(why) => ApiError::forbidden(why),
            DraftRejected::Invalid(errors) => {
                ApiError::validation(errors.into_iter().map(FieldProblem::from))
            }
        }
    }
}

/// A database failure outside the store's queries (a transaction's commit):
/// classified by the store, so an unreachable database is a 503 here too.
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::from(e).into()
    }
}

/// Serialising a response body or request body failed: a bug, so a 500.
impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::internal(e)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::not_found(&format!("resource ({})", r.body_text()))
    }
}

/// The problem as recorded in a response's extensions, for [`render_problems`].
#[derive(Debug, Clone)]
pub(crate) struct PendingProblem(Arc<ApiError>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = self.status.into_response();
        for (k, v) in &self.headers {
            res.headers_mut().insert(k.clone(), v.clone());
        }
        res.extensions_mut().insert(PendingProblem(Arc::new(self)));
        res
    }
}

pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

fn title(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("Error").to_owned()
}

/// Renders [`ApiError`]s (and bare error statuses produced by layers) as
/// problem+json, with the request id, and logs each cause once.
pub(crate) async fn render_problems(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(crate::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut res = next.run(req).await;
    let problem = match res.extensions_mut().remove::<PendingProblem>() {
        Some(PendingProblem(p)) => p,
        // A layer (timeout, routing) answered with a bare error status.
        None if (res.status().is_client_error() || res.status().is_server_error())
            && res.headers().get(header::CONTENT_TYPE).is_none() =>
        {
            let status = res.status();
            let code = match status {
                StatusCode::NOT_FOUND => "not_found",
                StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
                StatusCode::REQUEST_TIMEOUT => "timeout",
                StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
                StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
                StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
                s if s.is_server_error() => "internal",
                _ => "bad_request",
            };
            Arc::new(ApiError::new(status, code, title(status)))
        }
        None => return res,
    };
    if problem.status.is_server_error() {
        match &problem.cause {
            Some(cause) => {
                tracing::error!(code = problem.code, error = %cause, cause = ?cause, "request failed")
            }
            None => tracing::error!(code = problem.code, "request failed"),
        }
    } else if let Some(cause) = &problem.cause {
        tracing::debug!(code = problem.code, error = %cause, "request refused");
    }
    let body = Problem {
        kind: format!("urn:ferry:problem:{}", problem.code),
        title: title(problem.status),
        status: problem.status.as_u16(),
        code: problem.code.to_owned(),
        detail: problem.detail.clone(),
        request_id,
        errors: problem.errors.clone(),
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let (mut parts, _) = res.into_parts();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

#[cfg(test)]
impl ApiError {
    pub(crate) fn errors_for_test(&self) -> Vec<(String, String)> {
        self.errors
            .iter()
            .map(|e| (e.pointer.clone(), e.rule.clone()))
            .collect()
    }
}
