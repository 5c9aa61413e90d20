//! The Model Context Protocol: Ferry's API as tools for assistants, through the
//! official Rust SDK (`rmcp`).
//!
//! **Every tool is one REST operation** ([`tools`]): its arguments become the
//! operation's path, query, headers and JSON body, its input schema is cut from
//! the operation in the OpenAPI document (so the schema and the REST contract
//! have one source, the `ToSchema` types), and its result is the operation's
//! response body (a problem document and `isError` when it is refused). The
//! operation runs through a [`Backend`]:
//!
//! - on `/mcp` (streamable HTTP, mounted by [`router`] behind the same bearer
//!   authentication as every route), in process: the REST router itself,
//!   handed the authenticated [`Caller`], so the handlers, their validation,
//!   roles, team isolation and separation of duties are exactly the API's;
//! - for `ferry mcp` (stdio), over HTTP against a Ferry's URL with the
//!   caller's token ([`Backend::remote`]): an assistant's machine needs no
//!   database or AWS credentials, only what `ferry submit` needs.
//!
//! `/mcp` runs the protocol statelessly (no `Mcp-Session-Id`), so any replica
//! answers any call, as for the REST API.

mod backend;
mod explain;
mod schema;
mod tools;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ContentBlock, ErrorData, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{MaybeSendFuture, RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

pub use backend::{Backend, Remote};

use crate::AppState;
use crate::auth::Caller;

/// Where the MCP endpoint is served.
pub const MCP_PATH: &str = "/mcp";

const INSTRUCTIONS: &str = "Ferry imports trained models from a research team's S3 into Amazon \
Bedrock in the hosting team's accounts. Start with list_environments (where you may import to, \
from which sources), submit_import, then get_import to follow a request: its conditions say why \
it is where it is, and a failed preflight names the broken step of the cross-account chain and \
its fix. Approving and rejecting are the hosting team's. Every tool is a call of Ferry's REST \
API under your credential; a refusal comes back as the API's problem document.";

/// Ferry's MCP server: the tool table over a [`Backend`].
#[derive(Debug, Clone)]
pub struct FerryMcp {
    backend: Backend,
    tools: Arc<Vec<Tool>>,
}

impl FerryMcp {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            tools: Arc::new(tools::definitions()),
        }
    }
}

impl rmcp::ServerHandler for FerryMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("ferry", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListToolsResult, ErrorData>> + MaybeSendFuture + '_ {
        std::future::ready(Ok(ListToolsResult::with_all_items(
            self.tools.as_ref().clone(),
        )))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // On `/mcp` the HTTP request's parts carry the authenticated caller and
        // the request id; over stdio there are none (the token goes with each call).
        let parts = context.extensions.get::<http::request::Parts>();
        let call = backend::CallerOf {
            caller: parts.and_then(|p| p.extensions.get::<Caller>()).cloned(),
            request_id: parts
                .and_then(|p| p.headers.get(crate::REQUEST_ID))
                .cloned(),
        };
        let arguments = request.arguments.unwrap_or_default();
        let result = tools::call(&self.backend, &call, &request.name, arguments).await?;
        Ok(result.into())
    }
}

/// A tool result whose text is `value` as indented JSON and whose structured
/// content is `value` itself.
pub(crate) fn json_result(
    value: serde_json::Value,
    lead: Option<String>,
    error: bool,
) -> rmcp::model::CallToolResult {
    let mut content: Vec<ContentBlock> = lead.into_iter().map(ContentBlock::text).collect();
    content.push(ContentBlock::text(
        serde_json::to_string_pretty(&value).unwrap_or_default(),
    ));
    let mut result = if error {
        rmcp::model::CallToolResult::error(content)
    } else {
        rmcp::model::CallToolResult::success(content)
    };
    result.structured_content = Some(value);
    result
}

/// Refuses unauthenticated calls of `/mcp` exactly as every API route does
/// (401 problem+json, the failed-authentication throttle), and leaves the
/// [`Caller`] in the request's extensions for the tools.
async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    use axum::extract::FromRequestParts;
    let (mut parts, body) = req.into_parts();
    match Caller::from_request_parts(&mut parts, &state).await {
        Ok(_) => next.run(Request::from_parts(parts, body)).await,
        Err(e) => e.into_response(),
    }
}

/// `/mcp`: the streamable HTTP transport, stateless with JSON answers, bodies
/// bounded like the API's, behind bearer authentication. The SDK's `Host`
/// check (against DNS rebinding of servers on a developer's loopback) is off:
/// Ferry is reached under names of its deployment, and a rebound page cannot
/// present a bearer token, which every call needs.
pub(crate) fn router(state: AppState, rest: Router) -> Router<AppState> {
    let backend = Backend::in_process(rest);
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(crate::BODY_LIMIT_BYTES)
        .disable_allowed_hosts();
    let server = FerryMcp::new(backend);
    let service: StreamableHttpService<FerryMcp, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(server.clone()), Arc::default(), config);
    Router::new()
        .route_service(MCP_PATH, service)
        .layer(axum::middleware::from_fn_with_state(state, authenticate))
}
