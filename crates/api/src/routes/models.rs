//! `GET /v1/models`: the imported models Ferry manages, so nothing keeps
//! billing storage unseen.

use axum::Json;
use axum::extract::State;
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
    /// The request that imported it (`DELETE /v1/imports/{id}/model` deletes it).
    import_id: Uuid,
    team: String,
    environment: String,
    model_name: String,
    imported_model_arn: String,
    /// `verifying` while its readiness check runs, `completed`, or `deleting` while its
    /// deletion runs.
    status: ImportStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    imported_at: Option<OffsetDateTime>,
    /// Whole days since the import completed.
    age_days: Option<i64>,
    /// The last change Ferry recorded for it (an event, a condition).
    #[serde(with = "time::serde::rfc3339")]
    last_activity: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ManagedModelList {
    /// Oldest first.
    items: Vec<ManagedModelOut>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ModelsQuery {
    /// Only this environment's models.
    environment: Option<String>,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_models))
}

/// Lists the imported models Ferry manages, with their age and last
/// activity. Researchers see their team's.
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
    let mut conn = ferry_store::acquire(&state.pool).await?;
    let now = OffsetDateTime::now_utc();
    let models = ferry_store::imports::managed_models(
        &mut conn,
        environment.as_ref().map(|e| e.as_str()),
        team.as_deref(),
    )
    .await?;
    let items = models
        .into_iter()
        .map(|m| ManagedModelOut {
            import_id: m.import_id.as_uuid(),
            team: m.team,
            environment: m.environment,
            model_name: m.model_name,
            imported_model_arn: m.imported_model_arn,
            status: m.status.into(),
            imported_at: m.imported_at,
            age_days: m.imported_at.map(|t| (now - t).whole_days()),
            last_activity: m.last_activity,
        })
        .collect();
    Ok(Json(ManagedModelList { items }))
}
