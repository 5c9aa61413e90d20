//! `GET /v1/models`: the imported models in the hosting accounts, Ferry's (from its requests)
//! and those imported outside Ferry (from the account inventory the worker takes), so nothing
//! keeps billing storage or holding quota unseen.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use ferry_domain::names::EnvironmentName;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::imports::ImportStatus;
use super::params;
use crate::auth::Caller;
use crate::extract::Query;
use crate::{ApiError, AppState};

/// An imported model held in a hosting account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ManagedModelOut {
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
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_models))
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
            items.push(ManagedModelOut {
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
            items.push(ManagedModelOut {
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
            });
        }
    }
    items.sort_by_key(|i| i.imported_at.unwrap_or(now));
    Ok(Json(ManagedModelList { items }))
}
