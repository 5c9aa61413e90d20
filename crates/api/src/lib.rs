//! Ferry's REST API.
//!
//! Each `routes/<resource>.rs` registers its handlers with
//! `utoipa_axum::routes!`, so a route cannot exist without its OpenAPI entry.
//! [`router`] serves them; [`openapi`] is the document `ferry openapi` prints.

pub mod auth;
mod dashboard;
pub mod error;
pub mod extract;
pub mod feed;
pub mod mcp;
pub mod oidc;
mod openapi;
mod routes;
pub mod serve;
mod sign_in;
pub mod throttle;
pub mod token_cache;
pub mod trace;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::response::Response;
use ferry_domain::catalog::Catalog;
use ferry_store::PgPool;
use http::HeaderName;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;
use utoipa_axum::router::OpenApiRouter;

pub use error::{ApiError, FieldProblem, Problem};
pub use serve::{ConnectionLimits, serve};

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Largest request body accepted; larger ones get 413.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// Most header lines a request may carry; more get 431.
pub const MAX_HEADERS: usize = 100;

/// Largest total size of a request's header lines (names and values); larger
/// ones get 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Settings the API needs, taken from the configuration by the binary.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_ttl: time::Duration,
    /// A request that takes longer is answered 408 (body reading included).
    pub request_timeout: Duration,
    /// Accept `http://` webhook URLs (local development); else `https://` only.
    pub webhooks_allow_http: bool,
    /// Which webhook receiver addresses are admitted at registration.
    pub webhooks_address_policy: ferry_domain::net::AddressPolicy,
    /// Failed authentication per client address; the process's one throttle.
    pub auth_throttle: Arc<throttle::Throttle>,
    /// Seals webhook signing secrets for storage; without keys, webhooks
    /// cannot be created or rotated (503).
    pub webhook_keys: Option<Arc<ferry_store::sealed::SecretKeys>>,
    /// How long a submit may wait for SageMaker's `DescribeModelPackage` (a model package
    /// as the source) before answering 503.
    pub model_registry_timeout: Duration,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            idempotency_ttl: time::Duration::hours(24),
            request_timeout: Duration::from_secs(30),
            webhooks_allow_http: false,
            webhooks_address_policy: ferry_domain::net::AddressPolicy::default(),
            auth_throttle: Arc::new(throttle::Throttle::default()),
            webhook_keys: None,
            model_registry_timeout: Duration::from_secs(10),
        }
    }
}

/// What every handler shares. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub catalog: Arc<Catalog>,
    pub settings: Arc<ApiSettings>,
    /// The AWS clients, for live checks; `None` when this process has none
    /// (those endpoints then answer 503).
    pub cloud: Option<Arc<ferry_cloud::Cloud>>,
    /// Wakes `GET /v1/events` streams when events commit on any replica.
    pub feed: feed::Feed,
    /// Verifies OIDC JWTs; `None` when no issuer is configured (JWTs are
    /// then refused with a 401 saying so).
    pub oidc: Option<Arc<oidc::OidcVerifier>>,
    /// `ferry_` token lookups of the last seconds, dropped on revocation.
    pub tokens: token_cache::TokenCache,
    /// Tells the workers of every replica that requests were created.
    pub work: ferry_store::notify::Nudge,
}

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(routes::health::router())
        .merge(routes::imports::router())
        .merge(routes::environments::router())
        .merge(routes::models::router())
        .merge(routes::me::router())
        .merge(routes::events::router())
        .merge(routes::webhooks::router())
}

/// The OpenAPI document of every route [`router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = routes().split_for_parts();
    openapi::finish(&mut doc);
    doc
}

fn make_span(req: &Request) -> Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{} {route}", req.method()),
        otel.kind = "server",
        method = %req.method(),
        route,
        request_id,
        principal = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    // The caller's trace, when it sends one (W3C Trace Context).
    if let Some(parent) = trace::incoming(req.headers()) {
        trace::set_parent(&span, &parent);
    }
    span
}

/// Counter: HTTP requests by `method`, `route` (the route template, `unmatched` for
/// none) and `status`.
pub const HTTP_REQUESTS: &str = "ferry_http_requests_total";
/// Histogram: seconds from request to response head, by `method`, `route` and `status`.
pub const HTTP_SECONDS: &str = "ferry_http_request_duration_seconds";
/// Gauge: `GET /v1/events` streams open on this replica.
pub const SSE_STREAMS: &str = "ferry_sse_streams_open";

/// The `method` label: the standard methods by name, anything else as `other`, so a
/// client cannot mint label values.
fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::PATCH => "PATCH",
        http::Method::DELETE => "DELETE",
        http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts and times every request by route template, never by raw path: the label
/// values are the router's own templates (`/v1/imports/{id}`), bounded by the code.
async fn track_http(req: Request, next: axum::middleware::Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_str().to_owned();
    metrics::histogram!(HTTP_SECONDS, "method" => method, "route" => route.clone(), "status" => status.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status)
        .increment(1);
    res
}

fn on_response(res: &Response, latency: Duration, span: &Span) {
    span.record("status", res.status().as_u16());
    tracing::info!(latency_ms = latency.as_millis() as u64, "response");
}

/// Refuses requests with too many or too large headers (431, problem+json),
/// and marks every response `nosniff` and, unless it set its own caching
/// (the dashboard's files), `Cache-Control: no-store`: API answers carry
/// data that no cache should keep.
async fn guard_headers(req: Request, next: axum::middleware::Next) -> Response {
    let headers = req.headers();
    let size: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    let mut res = if headers.len() > MAX_HEADERS || size > MAX_HEADER_BYTES {
        axum::response::IntoResponse::into_response(ApiError::new(
            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "requests may carry at most {MAX_HEADERS} header lines of {MAX_HEADER_BYTES} bytes in all"
            ),
        ))
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        http::HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(http::header::CACHE_CONTROL) {
        h.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
    }
    res
}

/// The whole HTTP application: routes, auth, error rendering, request ids,
/// tracing, timeouts and body limits.
pub fn router(state: AppState) -> Router {
    let (router, _) = routes().split_for_parts();
    let timeout = state.settings.request_timeout;
    let openapi_doc = Arc::new(openapi());
    // The MCP tools call these same routes in process, as the caller `/mcp` authenticated.
    let rest = router
        .clone()
        .with_state(state.clone())
        .layer(axum::middleware::from_fn(error::render_problems))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES));
    router
        .merge(mcp::router(state.clone(), rest))
        .route(
            "/openapi.json",
            axum::routing::get(move |caller: auth::Caller| {
                let doc = Arc::clone(&openapi_doc);
                async move {
                    let _ = caller;
                    axum::Json((*doc).clone())
                }
            }),
        )
        .merge(dashboard::router())
        .merge(sign_in::router())
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method",
            )
        })
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn(track_http))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(make_span)
                        .on_request(())
                        .on_response(on_response)
                        .on_failure(()),
                )
                .layer(axum::middleware::from_fn(error::render_problems))
                .layer(axum::middleware::from_fn(guard_headers))
                .layer(CatchPanicLayer::custom(|_| {
                    axum::response::IntoResponse::into_response(ApiError::internal(
                        "handler panicked",
                    ))
                }))
                .layer(TimeoutLayer::with_status_code(
                    http::StatusCode::REQUEST_TIMEOUT,
                    timeout,
                ))
                .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES)),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_ones_share_one_label() {
        assert_eq!(method_label(&http::Method::POST), "POST");
        let odd = http::Method::from_bytes(b"BREW").unwrap_or(http::Method::GET);
        assert_eq!(method_label(&odd), "other");
    }
}
