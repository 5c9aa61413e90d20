//! `GET /v1/models`: the imported models in the hosting accounts, Ferry's (from its requests)
//! and those imported outside Ferry (from the account inventory the worker takes), so nothing
//! keeps billing storage or holding quota unseen; `GET /v1/models/{id}`: one of them, with its
//! model card and the requests that hold it.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use ferry_domain::catalog;
use ferry_domain::ids::ImportedModelId;
use ferry_domain::names::EnvironmentName;
use ferry_store::imports::ImportRecord;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::imports::ImportStatus;
use super::params;
use crate::auth::Caller;
use crate::extract::{Path, Query};
use crate::{ApiError, AppState, Problem};

/// An imported model held in a hosting account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ManagedModelOut {
    /// Bedrock's id of the model, the last part of its ARN: `GET /v1/models/{id}` shows it.
    #[schema(pattern = "^[a-z0-9]{12}$")]
    id: String,
    /// The request that imported it (`DELETE /v1/imports/{id}/model` deletes it); absent for
    /// a model imported outside Ferry.
    import_id: Option<Uuid>,
    /// `true`: Ferry imported it (its request, or Ferry's `ferry:request-id` tag); `false`:
    /// imported outside Ferry, found by the account inventory.
    managed: bool,
    /// The request's team (managed models).
    team: Option<String>,
    /// The request's environment (managed models).
    environment: Option<String>,
    /// The hosting account and Region that hold it.
    account: String,
    region: String,
    model_name: String,
    imported_model_arn: String,
    /// `verifying` while its readiness check runs, `completed`, or `deleting` while its
    /// deletion runs (managed models).
    status: Option<ImportStatus>,
    /// When the import completed (managed) or the model was created (Bedrock's
    /// `creationTime`).
    #[serde(with = "time::serde::rfc3339::option")]
    imported_at: Option<OffsetDateTime>,
    /// Whole days since `imported_at`.
    age_days: Option<i64>,
    /// The last change Ferry recorded for it (managed models).
    #[serde(with = "time::serde::rfc3339::option")]
    last_activity: Option<OffsetDateTime>,
    /// When the account inventory last listed it (absent: not listed yet).
    #[serde(with = "time::serde::rfc3339::option")]
    last_seen_at: Option<OffsetDateTime>,
    #[serde(flatten)]
    idle: Idle,
}

/// When a model was last invoked, and whether that makes it a deletion candidate.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub(crate) struct Idle {
    /// The start of the last UTC day in which CloudWatch's `AWS/Bedrock` `Invocations`
    /// counted an invocation of it (the account inventory reads it; absent: none within
    /// CloudWatch's 455 days, or not read yet).
    #[serde(with = "time::serde::rfc3339::option")]
    last_invoked_at: Option<OffsetDateTime>,
    /// Whole days without an invocation: since `last_invoked_at`, else since `imported_at`.
    idle_days: Option<i64>,
    /// Ferry imported it and it has been idle at least its environment's `idle_after_days`:
    /// a hosting user may delete it (`DELETE /v1/imports/{id}/model`); Ferry never does.
    deletion_candidate: bool,
}

impl Idle {
    fn new(
        managed: bool,
        idle_after_days: Option<u32>,
        last_invoked_at: Option<OffsetDateTime>,
        imported_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Self {
        let idle_days = catalog::idle_days(last_invoked_at, imported_at, now);
        Self {
            last_invoked_at,
            idle_days,
            deletion_candidate: catalog::deletion_candidate(managed, idle_after_days, idle_days),
        }
    }
}

/// The `idle_after_days` of the environment named `name`.
fn idle_limit(state: &AppState, name: Option<&str>) -> Option<u32> {
    let name = name?;
    state
        .catalog
        .environments()
        .find(|e| e.name.as_str() == name)
        .and_then(|e| e.idle_after_days)
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ManagedModelList {
    /// Oldest first.
    items: Vec<ManagedModelOut>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ModelsQuery {
    /// Only this environment's models: Ferry's imported into it, and those imported outside
    /// Ferry in its hosting account and Region.
    #[param(value_type = Option<EnvironmentName>)]
    environment: Option<String>,
    /// `true`: only models Ferry imported; `false`: only those imported outside Ferry.
    managed: Option<bool>,
    /// `true`: only deletion candidates (idle past their environment's `idle_after_days`);
    /// `false`: only the others.
    deletion_candidate: Option<bool>,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_models))
        .routes(routes!(get_model))
}

/// Lists the imported models in the hosting accounts, Ferry's and those imported outside
/// Ferry, with their age. Researchers see their team's.
#[utoipa::path(
    get, path = "/v1/models", tag = "imports",
    params(ModelsQuery),
    responses((status = 200, description = "Imported models held", body = ManagedModelList)),
)]
async fn list_models(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<ModelsQuery>,
) -> Result<Json<ManagedModelList>, ApiError> {
    let environment = params::environment(q.environment.as_deref())?;
    let team = caller.team_scope().map(|t| t.as_str().to_owned());
    // Where to look for models imported outside Ferry: the environment's account and Region,
    // or every configured one.
    let placements: Vec<_> = state
        .catalog
        .environments()
        .filter(|e| environment.as_ref().is_none_or(|n| *n == e.name))
        .map(|e| (e.account.clone(), e.region.clone()))
        .collect();
    let mut conn = ferry_store::acquire(&state.pool).await?;
    let now = OffsetDateTime::now_utc();
    let age = |t: Option<OffsetDateTime>| t.map(|t| (now - t).whole_days());
    let mut items = Vec::new();
    let inventory = if placements.is_empty() {
        Vec::new()
    } else {
        ferry_store::inventory::models(&mut conn, &placements, None).await?
    };
    if q.managed != Some(false) {
        let models = ferry_store::imports::managed_models(
            &mut conn,
            environment.as_ref().map(|e| e.as_str()),
            team.as_deref(),
        )
        .await?;
        for m in models {
            let seen = inventory.iter().find(|i| i.arn == m.imported_model_arn);
            let (account, region) = state
                .catalog
                .environments()
                .find(|e| e.name.as_str() == m.environment)
                .map(|e| (e.account.to_string(), e.region.to_string()))
                .or_else(|| seen.map(|s| (s.account.clone(), s.region.clone())))
                .unwrap_or_default();
            let idle = Idle::new(
                true,
                idle_limit(&state, Some(&m.environment)),
                seen.and_then(|s| s.last_invoked_at),
                m.imported_at,
                now,
            );
            items.push(ManagedModelOut {
                id: model_id(&m.imported_model_arn),
                import_id: Some(m.import_id.as_uuid()),
                managed: true,
                team: Some(m.team),
                environment: Some(m.environment),
                account,
                region,
                model_name: m.model_name,
                imported_model_arn: m.imported_model_arn,
                status: Some(m.status.into()),
                imported_at: m.imported_at,
                age_days: age(m.imported_at),
                last_activity: Some(m.last_activity),
                last_seen_at: seen.map(|s| s.last_seen_at),
                idle,
            });
        }
    }
    // The rest of the inventory: models imported outside Ferry, and models with Ferry's tags
    // whose request this Ferry does not hold. They belong to no team: researchers do not see
    // them.
    if team.is_none() {
        let listed: HashSet<String> = items.iter().map(|i| i.imported_model_arn.clone()).collect();
        let mut seen = HashSet::new();
        for m in inventory {
            if q.managed.is_some_and(|want| want != m.managed)
                || listed.contains(&m.arn)
                || !seen.insert(m.arn.clone())
            {
                continue;
            }
            let idle = Idle::new(
                m.managed,
                idle_limit(&state, m.environment.as_deref()),
                m.last_invoked_at,
                m.created_at,
                now,
            );
            items.push(ManagedModelOut {
                id: model_id(&m.arn),
                import_id: m.request.map(|r| r.as_uuid()),
                managed: m.managed,
                team: m.team,
                environment: m.environment,
                account: m.account,
                region: m.region,
                model_name: m.name,
                imported_model_arn: m.arn,
                status: None,
                imported_at: m.created_at,
                age_days: age(m.created_at),
                last_activity: None,
                last_seen_at: Some(m.last_seen_at),
                idle,
            });
        }
    }
    if let Some(want) = q.deletion_candidate {
        items.retain(|i| i.idle.deletion_candidate == want);
    }
    items.sort_by_key(|i| i.imported_at.unwrap_or(now));
    Ok(Json(ManagedModelList { items }))
}

/// The id part of a model ARN (empty if the ARN is not an imported model's, which Bedrock's
/// answers never give).
fn model_id(arn: &str) -> String {
    ImportedModelId::from_arn(arn)
        .map(|i| i.to_string())
        .unwrap_or_default()
}

/// A request holding an imported model: the one that imported it, or one completed by
/// reference to it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HoldingRequestOut {
    id: Uuid,
    team: String,
    environment: String,
    model_name: String,
    status: ImportStatus,
    /// The request whose model this one reuses; absent for the request that imported it.
    reused_from: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    finished_at: Option<OffsetDateTime>,
}

impl From<&ImportRecord> for HoldingRequestOut {
    fn from(r: &ImportRecord) -> Self {
        Self {
            id: r.id.as_uuid(),
            team: r.team.to_string(),
            environment: r.environment.to_string(),
            model_name: r.model_name.to_string(),
            status: r.status.into(),
            reused_from: r.reused_from.map(|i| i.as_uuid()),
            finished_at: r.finished_at,
        }
    }
}

/// One imported model: what `GET /v1/models` says of it, with its model card when Ferry
/// imported it and the requests that hold it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModelOut {
    /// Bedrock's id of the model, the last part of its ARN.
    #[schema(pattern = "^[a-z0-9]{12}$")]
    id: String,
    /// `true`: Ferry imported it (its request, or Ferry's `ferry:request-id` tag); `false`:
    /// imported outside Ferry, found by the account inventory.
    managed: bool,
    /// The request that imported it, when the caller may read it.
    import_id: Option<Uuid>,
    /// The importing request's team and environment (managed models).
    team: Option<String>,
    environment: Option<String>,
    account: String,
    region: String,
    model_name: String,
    imported_model_arn: String,
    /// Bedrock's `modelArchitecture`, as the import or the inventory read it.
    architecture: Option<String>,
    /// The importing request's status (`verifying`, `completed`, `deleting`).
    status: Option<ImportStatus>,
    #[serde(with = "time::serde::rfc3339::option")]
    imported_at: Option<OffsetDateTime>,
    /// Whole days since `imported_at`.
    age_days: Option<i64>,
    /// When the account inventory last listed it (absent: not listed yet).
    #[serde(with = "time::serde::rfc3339::option")]
    last_seen_at: Option<OffsetDateTime>,
    #[serde(flatten)]
    idle: Idle,
    /// The model card (as on `GET /v1/imports/{id}`), once Ferry's readiness check ended;
    /// absent for models imported outside Ferry.
    #[schema(value_type = Option<Object>)]
    model_card: Option<serde_json::Value>,
    /// The requests holding the model (the caller's team's, for a researcher), oldest first:
    /// while any does, deleting one request's model is refused.
    holding_requests: Vec<HoldingRequestOut>,
}

/// One imported model, by the id Bedrock gave it (the last part of its ARN): Ferry's, with
/// its model card and the requests that hold it, or one the account inventory found outside
/// Ferry. Researchers see the models their team's requests hold; a model imported outside
/// Ferry belongs to no team, so for them it is a 404, as is a model that does not exist.
#[utoipa::path(
    get, path = "/v1/models/{id}", tag = "imports",
    params(("id" = String, Path, pattern = "^[a-z0-9]{12}$",
            description = "Bedrock's id of the imported model: the last part of its ARN")),
    responses(
        (status = 200, description = "The imported model", body = ModelOut),
        (status = 404, description = "No such model, or none the caller's team holds", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn get_model(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<ModelOut>, ApiError> {
    let missing = || ApiError::not_found("imported model");
    let id = ImportedModelId::parse(&id).ok_or_else(missing)?;
    let mut conn = ferry_store::acquire(&state.pool).await?;
    let holding = ferry_store::imports::holding(&mut conn, &id).await?;
    let listed = ferry_store::inventory::model(&mut conn, &id).await?;
    let team = caller.team_scope();
    let visible: Vec<&ImportRecord> = holding
        .iter()
        .filter(|r| team.is_none_or(|t| *t == r.team))
        .collect();
    // The model's ARN: from Ferry's requests when any holds it, else from the inventory.
    let arn = match (holding.first(), listed.first()) {
        (Some(r), _) => r.imported_model_arn.clone().unwrap_or_default(),
        (None, Some(m)) => m.arn.clone(),
        (None, None) => return Err(missing()),
    };
    if team.is_some() && visible.is_empty() {
        return Err(missing());
    }
    let seen = listed.iter().find(|m| m.arn == arn);
    let importer = holding
        .iter()
        .find(|r| r.reused_from.is_none())
        .or(holding.first());
    let now = OffsetDateTime::now_utc();
    let (account, region) = importer
        .and_then(|r| Some((r.hosting_account.as_ref()?, r.region.as_ref()?)))
        .map(|(a, r)| (a.to_string(), r.to_string()))
        .or_else(|| seen.map(|s| (s.account.clone(), s.region.clone())))
        .unwrap_or_default();
    let card = visible.iter().find_map(|r| {
        r.imported_model
            .as_ref()
            .and_then(|d| d.get("card"))
            .filter(|c| c.is_object())
            .cloned()
    });
    let architecture = importer
        .and_then(|r| r.imported_model.as_ref())
        .and_then(|d| d.get("architecture"))
        .and_then(|a| a.as_str())
        .map(str::to_owned)
        .or_else(|| seen.and_then(|s| s.architecture.clone()));
    let imported_at = importer
        .and_then(|r| r.finished_at)
        .or_else(|| seen.and_then(|s| s.created_at));
    let managed = importer.is_some() || seen.is_some_and(|s| s.managed);
    let environment = importer
        .map(|r| r.environment.to_string())
        .or_else(|| seen.and_then(|s| s.environment.clone()));
    let idle = Idle::new(
        managed,
        idle_limit(&state, environment.as_deref()),
        seen.and_then(|s| s.last_invoked_at),
        imported_at,
        now,
    );
    Ok(Json(ModelOut {
        id: id.to_string(),
        managed,
        import_id: importer
            .filter(|r| visible.iter().any(|v| v.id == r.id))
            .map(|r| r.id.as_uuid())
            .or_else(|| {
                seen.and_then(|s| s.request)
                    .filter(|_| team.is_none())
                    .map(|r| r.as_uuid())
            }),
        team: importer
            .map(|r| r.team.to_string())
            .or_else(|| seen.and_then(|s| s.team.clone())),
        environment,
        account,
        region,
        model_name: importer
            .map(|r| r.model_name.to_string())
            .or_else(|| seen.map(|s| s.name.clone()))
            .unwrap_or_default(),
        imported_model_arn: arn,
        architecture,
        status: importer.map(|r| r.status.into()),
        imported_at,
        age_days: imported_at.map(|t| (now - t).whole_days()),
        last_seen_at: seen.map(|s| s.last_seen_at),
        idle,
        model_card: card,
        holding_requests: visible.into_iter().map(HoldingRequestOut::from).collect(),
    }))
}
