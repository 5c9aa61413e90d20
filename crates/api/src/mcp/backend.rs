//! How a tool's REST operation is run: in process through the API's own router
//! (`/mcp`), or over HTTP against a Ferry (`ferry mcp`, stdio).

use axum::Router;
use axum::body::Body;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

use crate::auth::Caller;

/// The largest response body a tool reads (the API's pages are far smaller).
const RESPONSE_LIMIT: usize = 8 * 1024 * 1024;

/// One REST call: what a tool's arguments became.
#[derive(Debug, Clone)]
pub(super) struct Operation {
    pub(super) method: Method,
    /// Path and query, e.g. `/v1/imports?status=queued`.
    pub(super) path: String,
    pub(super) idempotency_key: Option<String>,
    pub(super) body: Option<Value>,
}

/// The API's answer: its status and JSON body (`null` when empty).
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) body: Value,
}

/// Who is calling, on `/mcp`: the caller the bearer authentication found and
/// the HTTP request's id (so a refusal quotes the id the client saw).
#[derive(Debug, Default)]
pub(super) struct CallerOf {
    pub(super) caller: Option<Caller>,
    pub(super) request_id: Option<HeaderValue>,
}

/// A Ferry API reached over HTTP with one bearer token: the stdio server's
/// backend.
#[derive(Clone)]
pub struct Remote {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("base", &self.base)
            .field("token", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// Where a tool's operation runs.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The REST router of this process, with the authenticated caller handed
    /// over in the request's extensions (no second authentication).
    InProcess(Router),
    /// A Ferry's API over HTTP.
    Remote(Remote),
}

impl Backend {
    pub(super) fn in_process(rest: Router) -> Self {
        Self::InProcess(rest)
    }

    /// The API at `url` (e.g. `https://ferry.example.com`), called with `token`.
    pub fn remote(url: &str, token: String) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("ferry-mcp/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(Self::Remote(Remote {
            base: url.trim_end_matches('/').to_owned(),
            token,
            http,
        }))
    }

    /// Runs `op` as `who`. `Err` says why no answer came (never a refusal: those
    /// are replies with their problem document).
    pub(super) async fn send(&self, who: &CallerOf, op: &Operation) -> Result<Reply, String> {
        match self {
            Self::InProcess(router) => {
                let caller = who
                    .caller
                    .clone()
                    .ok_or("the call reached the tools without an authenticated caller")?;
                let mut req = http::Request::builder()
                    .method(op.method.clone())
                    .uri(&op.path)
                    .header(header::ACCEPT, "application/json");
                if let Some(id) = &who.request_id {
                    req = req.header(crate::REQUEST_ID, id.clone());
                }
                if let Some(key) = &op.idempotency_key {
                    req = req.header("idempotency-key", key.as_str());
                }
                let body = match &op.body {
                    Some(v) => {
                        req = req.header(header::CONTENT_TYPE, "application/json");
                        Body::from(serde_json::to_vec(v).map_err(|e| e.to_string())?)
                    }
                    None => Body::empty(),
                };
                let mut req = req.body(body).map_err(|e| e.to_string())?;
                req.extensions_mut().insert(caller);
                let res = match router.clone().oneshot(req).await {
                    Ok(res) => res,
                    Err(never) => match never {},
                };
                let status = res.status();
                let bytes = axum::body::to_bytes(res.into_body(), RESPONSE_LIMIT)
                    .await
                    .map_err(|e| format!("reading the API's answer: {e}"))?;
                Ok(Reply {
                    status,
                    body: json_or_text(&bytes),
                })
            }
            Self::Remote(remote) => {
                let url = format!("{}{}", remote.base, op.path);
                let mut req = remote
                    .http
                    .request(op.method.clone(), &url)
                    .bearer_auth(&remote.token)
                    .header(header::ACCEPT, "application/json");
                if let Some(key) = &op.idempotency_key {
                    req = req.header("idempotency-key", key.as_str());
                }
                if let Some(body) = &op.body {
                    req = req.json(body);
                }
                let res = req
                    .send()
                    .await
                    .map_err(|e| format!("Ferry at {} did not answer: {e}", remote.base))?;
                let status = res.status();
                let bytes = res
                    .bytes()
                    .await
                    .map_err(|e| format!("reading Ferry's answer: {e}"))?;
                Ok(Reply {
                    status,
                    body: json_or_text(&bytes),
                })
            }
        }
    }
}

fn json_or_text(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}
