//! Who may see and touch a request: loading it for a caller, the permission
//! checks per action and how a refusal is answered.

use ferry_domain::auth::Denied;
use ferry_domain::ids::ImportId;
use ferry_domain::names::TeamName;
use ferry_store::PgConnection;
use ferry_store::imports::{self, ImportRecord};

use crate::auth::Caller;
use crate::error::ApiError;

/// Loads a request the caller may see; another team's is "not found".
pub(crate) async fn load_visible(
    conn: &mut PgConnection,
    caller: &Caller,
    id: ImportId,
) -> Result<ImportRecord, ApiError> {
    let not_found = || ApiError::not_found("import request");
    let record = match imports::get(conn, id).await {
        Ok(r) => r,
        Err(ferry_store::StoreError::NotFound) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    caller.0.can_read(&record.team).map_err(|_| not_found())?;
    Ok(record)
}

/// Principal check for one kind of action on a request of a team.
pub(super) type Permission = fn(&ferry_domain::auth::Principal, &TeamName) -> Result<(), Denied>;

/// Loads a request the caller may see and checks it may `verb` it.
pub(super) async fn load_for(
    conn: &mut PgConnection,
    caller: &Caller,
    id: ImportId,
    verb: &str,
    allowed: Permission,
) -> Result<ImportRecord, ApiError> {
    let record = load_visible(conn, caller, id).await?;
    allowed(&caller.0, &record.team).map_err(|d| denied(d, verb, caller))?;
    Ok(record)
}

pub(super) fn parse_id(raw: &str) -> Result<ImportId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("import request"))
}

pub(super) fn denied(d: Denied, what: &str, caller: &Caller) -> ApiError {
    match d {
        Denied::Hidden => ApiError::not_found("import request"),
        Denied::Forbidden => ApiError::forbidden(format!(
            "a {} may not {what} import requests",
            caller.0.role
        )),
    }
}
