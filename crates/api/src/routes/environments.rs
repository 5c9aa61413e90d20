//! `GET /v1/environments`: where a caller may import to, and from.

use axum::Json;
use axum::extract::State;
use ferry_domain::auth::Role;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Caller;

/// A hosting environment.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EnvironmentOut {
    /// `dev`, `staging`, `prod`, ...
    name: String,
    description: Option<String>,
    /// The hosting AWS account.
    account_id: String,
    region: String,
    /// New requests wait for the hosting team's approval.
    requires_approval: bool,
    /// Whether imported models are encrypted with the hosting account's own key.
    encrypts_imported_models: bool,
}

/// An S3 location a team may import from.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AllowedSourceOut {
    team: String,
    /// `s3://bucket/` or `s3://bucket/prefix/`: requests must point inside it.
    uri: String,
    /// The research account that owns the bucket.
    account_id: String,
    /// The artifacts are encrypted with the research account's KMS key.
    encrypted: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EnvironmentList {
    /// Environments the caller may target (all of them for non-researchers).
    items: Vec<EnvironmentOut>,
    /// Sources the caller's team may import from (every team's for non-researchers).
    allowed_sources: Vec<AllowedSourceOut>,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_environments))
}

/// Lists the environments and source locations the caller may use.
#[utoipa::path(
    get, path = "/v1/environments", tag = "environments",
    responses((status = 200, description = "Environments and allowed sources", body = EnvironmentList)),
)]
async fn list_environments(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Json<EnvironmentList> {
    let team = match caller.role {
        Role::Researcher => caller.team.as_ref(),
        _ => None,
    };
    let items = state
        .catalog
        .environments()
        .filter(|e| team.is_none_or(|t| e.admits(t)))
        .map(|e| EnvironmentOut {
            name: e.name.to_string(),
            description: e.description.clone(),
            account_id: e.account.to_string(),
            region: e.region.to_string(),
            requires_approval: e.requires_approval,
            encrypts_imported_models: e.imported_model_kms_key.is_some(),
        })
        .collect();
    let allowed_sources = state
        .catalog
        .teams()
        .filter(|t| team.is_none_or(|own| *own == t.name))
        .flat_map(|t| {
            t.sources.iter().map(|s| AllowedSourceOut {
                team: t.name.to_string(),
                uri: s.describe(),
                account_id: s.account.to_string(),
                encrypted: s.kms_key.is_some(),
            })
        })
        .collect();
    Json(EnvironmentList {
        items,
        allowed_sources,
    })
}
