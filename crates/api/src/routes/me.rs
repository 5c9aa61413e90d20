//! `GET /v1/me`: who the caller is, so a client (the dashboard) can offer
//! only the actions the caller's role allows. The server still checks every
//! action itself.

use axum::Json;
use ferry_domain::auth::Role;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Caller;

/// The caller's role.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RoleOut {
    /// Creates, cancels and retries its own team's requests; sees only those.
    Researcher,
    /// Reads every request; approves, rejects, cancels, retries, promotes and deletes models.
    Hosting,
    /// Reads every request; changes nothing.
    Viewer,
    /// Everything.
    Admin,
}

impl From<Role> for RoleOut {
    fn from(r: Role) -> Self {
        match r {
            Role::Researcher => Self::Researcher,
            Role::Hosting => Self::Hosting,
            Role::Viewer => Self::Viewer,
            Role::Admin => Self::Admin,
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MeOut {
    /// The name recorded in the audit trail for this caller's actions
    /// (`requested_by`, event `actor`).
    #[schema(example = "dev-hosting")]
    name: String,
    role: RoleOut,
    /// The caller's team; researchers always have one and see only its requests.
    #[schema(example = "research")]
    team: Option<String>,
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_me))
}

/// Describes the caller: name, role and team.
#[utoipa::path(
    get, path = "/v1/me", tag = "me",
    responses((status = 200, description = "The caller", body = MeOut)),
)]
async fn get_me(caller: Caller) -> Json<MeOut> {
    let p = caller.0;
    Json(MeOut {
        name: p.name,
        role: p.role.into(),
        team: p.team.map(String::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_match_the_domain() {
        for r in Role::ALL {
            assert_eq!(
                serde_json::to_value(RoleOut::from(r)).ok(),
                Some(serde_json::Value::from(r.as_str()))
            );
        }
    }
}
