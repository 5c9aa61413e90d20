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
use crate::extract::Path;

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
    OpenApiRouter::new()
        .routes(routes!(list_environments))
        .routes(routes!(environment_policies))
        .routes(routes!(environment_preflight))
}

/// What to check.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreflightRequest {
    /// A model folder in a source the environment's teams may use.
    #[schema(value_type = ferry_domain::bedrock::S3Uri, example = "s3://model-artifacts-111122223333/llama3-8b/v1/")]
    source: String,
}

/// Runs the preflight of an environment's chain now, live, with the rights
/// Bedrock will have: what `ferry doctor` prints. Each check says ok, or
/// which step of the cross-account chain is broken, with AWS's error and the
/// statement to add. Nothing is stored. Hosting team and admins.
#[utoipa::path(
    post, path = "/v1/environments/{name}/preflight", tag = "environments",
    params(("name" = String, Path, description = "The environment")),
    request_body = PreflightRequest,
    responses(
        (status = 200, description = "The report (check `checks[].outcome`)", body = Object),
        (status = 403, description = "Only the hosting team and admins run checks", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such environment", body = crate::Problem, content_type = "application/problem+json"),
        (status = 503, description = "This process has no AWS clients", body = crate::Problem, content_type = "application/problem+json"),
    ),
)]
async fn environment_preflight(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
    crate::extract::JsonBody(body): crate::extract::JsonBody<PreflightRequest>,
) -> Result<Json<serde_json::Value>, crate::ApiError> {
    if !matches!(caller.role, Role::Hosting | Role::Admin) {
        return Err(crate::ApiError::forbidden(
            "only the hosting team and admins run checks",
        ));
    }
    let env = state
        .catalog
        .environment(&name)
        .ok_or_else(|| crate::ApiError::not_found("environment"))?;
    let source = ferry_domain::bedrock::S3Uri::parse(&body.source)
        .map_err(|e| crate::ApiError::validation([crate::FieldProblem::from(e.at("/source"))]))?;
    let source_key = state
        .catalog
        .teams()
        .filter(|t| env.admits(&t.name))
        .find_map(|t| state.catalog.source_for(&t.name, &source).ok())
        .and_then(|s| s.kms_key.clone());
    let cloud = state
        .cloud
        .as_ref()
        .ok_or_else(|| crate::ApiError::unavailable("this Ferry process has no AWS clients"))?;
    let report = cloud
        .preflight(&env.name, &source, source_key.as_ref())
        .await;
    Ok(Json(serde_json::to_value(&report)?))
}

/// One statement of a rendered document, explained.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatementOut {
    sid: String,
    explanation: String,
}

/// One IAM or KMS policy document the import chain needs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PolicyDocumentOut {
    /// `bucket-policy`, `execution-role-policy`, `trust-policy`, `source-key-policy`,
    /// `hosting-key-policy`, `control-role-policy`, `control-role-trust-policy`.
    kind: String,
    /// A file name for it (unique within the environment).
    name: String,
    /// The account that must hold it.
    account_id: String,
    /// The bucket, key or role it belongs to.
    attached_to: String,
    /// What to do with it, in one line.
    summary: String,
    /// The IAM policy document.
    #[schema(value_type = Object)]
    document: serde_json::Value,
    statements: Vec<StatementOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PolicyDocumentList {
    environment: String,
    items: Vec<PolicyDocumentOut>,
}

/// Renders every IAM/KMS policy document the import chain of an environment
/// needs, least privilege, from the configuration (what `ferry policy
/// render` writes). The hosting team's and admins' view.
#[utoipa::path(
    get, path = "/v1/environments/{name}/policies", tag = "environments",
    params(("name" = String, Path, description = "The environment")),
    responses(
        (status = 200, description = "The documents", body = PolicyDocumentList),
        (status = 403, description = "Only the hosting team and admins see policies", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such environment", body = crate::Problem, content_type = "application/problem+json"),
    ),
)]
async fn environment_policies(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
) -> Result<Json<PolicyDocumentList>, crate::ApiError> {
    if !matches!(caller.role, Role::Hosting | Role::Admin) {
        return Err(crate::ApiError::forbidden(
            "only the hosting team and admins see policies",
        ));
    }
    let env = state
        .catalog
        .environment(&name)
        .ok_or_else(|| crate::ApiError::not_found("environment"))?;
    let inputs = ferry_policy::ChainInputs::for_environment(&state.catalog, env, None);
    let items = ferry_policy::render(&inputs)
        .into_iter()
        .map(|d| PolicyDocumentOut {
            kind: d.kind.slug().to_owned(),
            name: d.name,
            account_id: d.account,
            attached_to: d.attached_to,
            summary: d.summary,
            document: d.document,
            statements: d
                .statements
                .into_iter()
                .map(|s| StatementOut {
                    sid: s.sid,
                    explanation: s.explanation,
                })
                .collect(),
        })
        .collect();
    Ok(Json(PolicyDocumentList {
        environment: env.name.to_string(),
        items,
    }))
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
