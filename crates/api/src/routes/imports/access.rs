//! Who may see and touch a request: loading it for a caller, the one check
//! that decides whether a caller may take an action on a request now (which
//! the handlers enforce and `allowed_actions` reports), and how a refusal is
//! answered.

use ferry_domain::auth::{Denied, Principal};
use ferry_domain::ids::ImportId;
use ferry_domain::names::TeamName;
use ferry_domain::status::{Cause, IllegalTransition, Status};
use ferry_store::PgConnection;
use ferry_store::imports::{self, ImportRecord, ImportSummary, ImportView};
use http::StatusCode;

use super::schema::ImportAction;
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

/// Reads a request the caller may see with what its answer shows beside it
/// (promotions, place in line), in one query; another team's is "not found".
pub(super) async fn read_visible(
    conn: &mut PgConnection,
    caller: &Caller,
    id: ImportId,
) -> Result<ImportView, ApiError> {
    let not_found = || ApiError::not_found("import request");
    let view = match imports::read(conn, id).await {
        Ok(v) => v,
        Err(ferry_store::StoreError::NotFound) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    caller
        .0
        .can_read(&view.record.team)
        .map_err(|_| not_found())?;
    Ok(view)
}

/// What the check of an action looks at in a request: its team, who
/// submitted it and its status. A whole record and a list item both have it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Subject<'a> {
    team: &'a TeamName,
    requester_id: &'a str,
    status: Status,
}

impl<'a> From<&'a ImportRecord> for Subject<'a> {
    fn from(r: &'a ImportRecord) -> Self {
        Self {
            team: &r.team,
            requester_id: &r.requester_id,
            status: r.status,
        }
    }
}

impl<'a> From<&'a ImportSummary> for Subject<'a> {
    fn from(r: &'a ImportSummary) -> Self {
        Self {
            team: &r.team,
            requester_id: &r.requester_id,
            status: r.status,
        }
    }
}

/// Loads a request the caller may see and checks it may take `action` on it
/// now (see [`authorize`]).
pub(super) async fn load_for(
    conn: &mut PgConnection,
    caller: &Caller,
    id: ImportId,
    action: ImportAction,
) -> Result<ImportRecord, ApiError> {
    let record = load_visible(conn, caller, id).await?;
    authorize(caller, Subject::from(&record), action)?;
    Ok(record)
}

/// Principal check for one kind of action on a request of a team.
type Permission = fn(&Principal, &TeamName) -> Result<(), Denied>;

impl ImportAction {
    pub(super) const ALL: [ImportAction; 6] = [
        ImportAction::Approve,
        ImportAction::Reject,
        ImportAction::Cancel,
        ImportAction::Retry,
        ImportAction::DeleteModel,
        ImportAction::Promote,
    ];

    /// The role check, per the table in `ferry_domain::auth`.
    fn permission(self) -> Permission {
        match self {
            Self::Approve | Self::Reject | Self::DeleteModel | Self::Promote => {
                Principal::can_review
            }
            Self::Cancel => Principal::can_cancel,
            Self::Retry => Principal::can_retry,
        }
    }

    /// How a refusal names the action: "a viewer may not {verb} import requests".
    fn verb(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
            Self::Cancel => "cancel",
            Self::Retry => "retry",
            Self::DeleteModel => "delete the models of",
            Self::Promote => "promote",
        }
    }

    /// The status change the action makes, checked against the domain's
    /// state machine; `None` for promotion, which leaves the request as it is.
    fn transition(self) -> Option<(Cause, Status)> {
        match self {
            Self::Approve => Some((Cause::Approve, Status::Queued)),
            Self::Reject => Some((Cause::Reject, Status::Rejected)),
            Self::Cancel => Some((Cause::Cancel, Status::Cancelled)),
            Self::Retry => Some((Cause::Retry, Status::Queued)),
            Self::DeleteModel => Some((Cause::DeleteModel, Status::Deleting)),
            Self::Promote => None,
        }
    }
}

/// Whether `caller` may take `action` on `record` now: the one decision the
/// handlers enforce and [`allowed_actions`] reports, so the two cannot
/// disagree. Checked in the order the API answers: the role (404 for another
/// team's request, 403), separation of duties (403), then the request's
/// status (409).
pub(super) fn authorize(
    caller: &Caller,
    record: Subject<'_>,
    action: ImportAction,
) -> Result<(), ApiError> {
    action.permission()(&caller.0, record.team).map_err(|d| denied(d, action.verb(), caller))?;
    if action == ImportAction::Approve && record.requester_id == caller.0.id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "separation_of_duties",
            "a request cannot be approved by the credential that submitted it",
        ));
    }
    match action.transition() {
        Some((cause, to)) if record.status.check_transition(to) != Ok(cause) => {
            Err(IllegalTransition {
                from: record.status,
                to,
            }
            .into())
        }
        Some(_) => Ok(()),
        None if record.status != Status::Completed => Err(ApiError::conflict(
            "not_completed",
            format!(
                "only a completed import can be promoted; this one is {}",
                record.status
            ),
        )),
        None => Ok(()),
    }
}

/// The actions `caller` may take on `record` (a record or a list item) now.
pub(super) fn allowed_actions(caller: &Caller, record: Subject<'_>) -> Vec<ImportAction> {
    ImportAction::ALL
        .into_iter()
        .filter(|a| authorize(caller, record, *a).is_ok())
        .collect()
}

pub(super) fn parse_id(raw: &str) -> Result<ImportId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("import request"))
}

fn denied(d: Denied, what: &str, caller: &Caller) -> ApiError {
    match d {
        Denied::Hidden => ApiError::not_found("import request"),
        Denied::Forbidden => ApiError::forbidden(format!(
            "a {} may not {what} import requests",
            caller.0.role
        )),
    }
}
