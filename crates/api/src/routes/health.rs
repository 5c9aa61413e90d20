//! Liveness and readiness probes. The only routes without auth.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{ApiError, AppState};

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok` when the response is 200.
    status: &'static str,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// Liveness: the process serves HTTP. Does not touch the database.
#[utoipa::path(
    get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "Alive", body = Health)),
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the database answers. Load balancers should route here.
#[utoipa::path(
    get, path = "/readyz", tag = "health", security(()),
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The database does not answer", body = crate::Problem, content_type = "application/problem+json"),
    ),
)]
async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    ferry_store::ping(&state.pool).await.map_err(|e| match e {
        e @ (ferry_store::StoreError::Unavailable(_) | ferry_store::StoreError::Busy) => {
            ApiError::from(e)
        }
        e => ApiError::unavailable("the database does not answer").with_cause(e),
    })?;
    Ok(Json(Health { status: "ok" }))
}
