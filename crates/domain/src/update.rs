//! One change to a stored import request: the value every writer builds (the
//! API for user actions, the worker for steps and admissions) and the store
//! writes in one place, checked against the status machine.

use time::OffsetDateTime;

use crate::artifacts::ArtifactDigest;
use crate::bedrock::JobName;
use crate::condition::Condition;
use crate::events::EventKind;
use crate::ids::ImportId;
use crate::status::{Cause, Status};

/// The entry an update adds to the request's audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    /// Event-specific facts (reason, job ARN, failure message, ...).
    pub detail: serde_json::Value,
}

impl Event {
    pub fn new(kind: EventKind, detail: serde_json::Value) -> Self {
        Self { kind, detail }
    }
}

/// Field changes; `None` (or `false`) leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub preflight: Option<serde_json::Value>,
    pub preflight_passed: Option<bool>,
    pub bedrock_job_arn: Option<String>,
    pub imported_model_arn: Option<String>,
    pub imported_model: Option<serde_json::Value>,
    pub failure_message: Option<String>,
    /// Stamp `submitted_at` with the current time.
    pub mark_submitted: bool,
    /// Stamp `finished_at` with the current time.
    pub mark_finished: bool,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub retries: Option<i32>,
    pub polls: Option<i32>,
    /// Let go of the lease (the worker is done with the row for now).
    pub release: bool,
    /// Start a new attempt under this job name: the attempt count goes up,
    /// the previous attempt's results are cleared from the row (they stay in
    /// the event log), the request is due at once, and only the conditions
    /// that survive a retry are kept.
    pub new_attempt: Option<JobName>,
    /// The artifact's content digest, from the preflight.
    pub artifact_digest: Option<ArtifactDigest>,
    /// Completed by reference to the model of this request.
    pub reused_from: Option<ImportId>,
}

impl Changes {
    /// Nothing on the row changes.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One change to one request.
///
/// With a `transition`, the store checks it against the status machine and
/// records an event (`event`, or `status_changed` when none is given); without
/// one, `event` (if any) is recorded with no statuses. With a `lease` owner,
/// the change is refused unless that owner still holds a live lease.
/// Who makes a change, as the audit trail records it: the credential's
/// stable id (`token:<uuid>`, `oidc:<sub>`, `ferry:worker`) and its display
/// name, which anyone creating a token may choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub name: String,
}

impl Actor {
    /// The id of Ferry's own worker.
    pub const WORKER_ID: &'static str = "ferry:worker";

    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
        }
    }

    /// Ferry's worker (`ferry`).
    pub fn worker() -> Self {
        Self::new(Self::WORKER_ID, "ferry")
    }
}

impl From<&crate::auth::Principal> for Actor {
    fn from(p: &crate::auth::Principal) -> Self {
        Self::new(p.id.clone(), p.name.clone())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub id: ImportId,
    /// Who makes the change, for the audit trail.
    pub actor: Actor,
    pub lease: Option<String>,
    pub transition: Option<(Cause, Status)>,
    pub conditions: Vec<Condition>,
    pub changes: Changes,
    pub event: Option<Event>,
}

impl Update {
    /// A change that does nothing yet.
    pub fn new(id: ImportId, actor: impl Into<Actor>) -> Self {
        Self {
            id,
            actor: actor.into(),
            lease: None,
            transition: None,
            conditions: Vec::new(),
            changes: Changes::default(),
            event: None,
        }
    }

    /// Fails the request: to `failed` for `cause`, with `condition` saying why
    /// and its message kept as the failure message; the one way a request
    /// fails.
    pub fn fail(
        id: ImportId,
        actor: impl Into<Actor>,
        cause: Cause,
        condition: Condition,
        event: Event,
    ) -> Self {
        let changes = Changes {
            failure_message: Some(condition.message.clone()),
            mark_finished: true,
            ..Changes::default()
        };
        Self::new(id, actor)
            .to(cause, Status::Failed)
            .condition(condition)
            .changes(changes)
            .event(event)
    }

    /// Moves the request to `status` for `cause`.
    #[must_use]
    pub fn to(mut self, cause: Cause, status: Status) -> Self {
        self.transition = Some((cause, status));
        self
    }

    /// Sets one condition (replacing the one of its type).
    #[must_use]
    pub fn condition(mut self, condition: Condition) -> Self {
        self.conditions.push(condition);
        self
    }

    #[must_use]
    pub fn changes(mut self, changes: Changes) -> Self {
        self.changes = changes;
        self
    }

    #[must_use]
    pub fn event(mut self, event: Event) -> Self {
        self.event = Some(event);
        self
    }

    /// Made by the holder of the lease `owner`.
    #[must_use]
    pub fn leased_by(mut self, owner: impl Into<String>) -> Self {
        self.lease = Some(owner.into());
        self
    }

    /// The event to record, if any: the given one, or `status_changed` for a
    /// transition without one.
    pub fn recorded_event(&self) -> Option<Event> {
        match (&self.event, self.transition) {
            (Some(e), _) => Some(e.clone()),
            (None, Some(_)) => Some(Event::new(EventKind::StatusChanged, serde_json::json!({}))),
            (None, None) => None,
        }
    }

    /// Only an event: the row itself stays as it is.
    pub fn is_event_only(&self) -> bool {
        self.transition.is_none() && self.conditions.is_empty() && self.changes.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::condition::{ConditionStatus, ConditionType, Reason};

    #[test]
    fn failing_keeps_the_conditions_message_and_finishes() {
        let id = ImportId::new();
        let c = Condition::new(
            ConditionType::Ready,
            ConditionStatus::False,
            Reason::ImportFailed,
            "bad weights",
        );
        let u = Update::fail(
            id,
            Actor::worker(),
            Cause::JobFailed,
            c.clone(),
            Event::new(EventKind::JobFailed, serde_json::json!({})),
        );
        assert_eq!(u.transition, Some((Cause::JobFailed, Status::Failed)));
        assert_eq!(u.conditions, vec![c]);
        assert_eq!(u.changes.failure_message.as_deref(), Some("bad weights"));
        assert!(u.changes.mark_finished);
        assert_eq!(u.recorded_event().unwrap().kind, EventKind::JobFailed);
    }

    #[test]
    fn a_transition_without_an_event_records_a_status_change() {
        let u = Update::new(ImportId::new(), Actor::worker())
            .to(Cause::StartPreflight, Status::Validating);
        assert_eq!(u.recorded_event().unwrap().kind, EventKind::StatusChanged);
        let quiet = Update::new(ImportId::new(), Actor::worker());
        assert_eq!(quiet.recorded_event(), None);
        assert!(quiet.is_event_only());
        let release = quiet.changes(Changes {
            release: true,
            ..Changes::default()
        });
        assert!(!release.is_event_only());
    }
}
