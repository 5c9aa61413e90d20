//! The event feed's messages: what `GET /v1/events` streams and what webhooks
//! deliver. Both carry the same JSON, shaped as the Standard Webhooks spec
//! recommends (`type`, `timestamp`, `data`).

use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

use crate::ids::ImportId;
use crate::status::Status;

/// What happened to an import request: the kind of one entry of its audit
/// trail. A message's type is `import.<kind>`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    Approved,
    Rejected,
    Cancelled,
    Retried,
    Promoted,
    StatusChanged,
    PreflightForReview,
    PreflightPassed,
    PreflightFailed,
    Admitted,
    Refused,
    JobCreated,
    SubmitFailed,
    JobCompleted,
    JobFailed,
    Failed,
    DeleteRequested,
    ModelDeleted,
    DeleteFailed,
    /// The readiness check passed; carries the model card.
    ModelReady,
    /// A warning: the readiness check gave up; the model exists and is billed.
    ModelNotServing,
    /// The artifact's digest matched a model already held in the environment: the request
    /// completed by reference to it, without a second import job.
    ModelReused,
    /// The inventory found the model idle for its environment's `idle_after_days`: a deletion
    /// candidate. Sent once per candidacy (again only after the model was invoked and went idle
    /// again); Ferry deletes nothing, a hosting user confirms with
    /// `DELETE /v1/imports/{id}/model`.
    ModelIdle,
}

impl EventKind {
    /// Every kind, in the order the public list shows them.
    pub const ALL: [EventKind; 24] = [
        Self::Created,
        Self::Approved,
        Self::Rejected,
        Self::Cancelled,
        Self::Retried,
        Self::Promoted,
        Self::StatusChanged,
        Self::PreflightForReview,
        Self::PreflightPassed,
        Self::PreflightFailed,
        Self::Admitted,
        Self::Refused,
        Self::JobCreated,
        Self::SubmitFailed,
        Self::JobCompleted,
        Self::JobFailed,
        Self::Failed,
        Self::DeleteRequested,
        Self::ModelDeleted,
        Self::DeleteFailed,
        Self::ModelReady,
        Self::ModelNotServing,
        Self::ModelReused,
        Self::ModelIdle,
    ];

    /// The stored and published name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
            Self::Retried => "retried",
            Self::Promoted => "promoted",
            Self::StatusChanged => "status_changed",
            Self::PreflightForReview => "preflight_for_review",
            Self::PreflightPassed => "preflight_passed",
            Self::PreflightFailed => "preflight_failed",
            Self::Admitted => "admitted",
            Self::Refused => "refused",
            Self::JobCreated => "job_created",
            Self::SubmitFailed => "submit_failed",
            Self::JobCompleted => "job_completed",
            Self::JobFailed => "job_failed",
            Self::Failed => "failed",
            Self::DeleteRequested => "delete_requested",
            Self::ModelDeleted => "model_deleted",
            Self::DeleteFailed => "delete_failed",
            Self::ModelReady => "model_ready",
            Self::ModelNotServing => "model_not_serving",
            Self::ModelReused => "model_reused",
            Self::ModelIdle => "model_idle",
        }
    }

    /// The kind named `s`, if it is one.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every kind of import event Ferry records, by name: [`EventKind::ALL`],
/// so the public list cannot drift from what Ferry writes.
pub const IMPORT_EVENT_KINDS: &[&str] = &{
    let mut names = [""; EventKind::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = EventKind::ALL[i].as_str();
        i += 1;
    }
    names
};

/// The type of the message a webhook's test ping sends.
pub const PING: &str = "webhook.ping";

const IMPORT_PREFIX: &str = "import.";

/// The message type of an import event kind.
pub fn import_event_type(kind: &str) -> String {
    format!("{IMPORT_PREFIX}{kind}")
}

/// The kind of an import message type, if it names one.
pub fn import_event_kind(event_type: &str) -> Option<&str> {
    event_type
        .strip_prefix(IMPORT_PREFIX)
        .filter(|k| IMPORT_EVENT_KINDS.contains(k))
}

/// Every message type a subscriber can ask for.
pub fn all_types() -> impl Iterator<Item = String> {
    IMPORT_EVENT_KINDS
        .iter()
        .map(|k| import_event_type(k))
        .chain(std::iter::once(PING.to_owned()))
}

/// Parses a subscriber's type filter. Empty means every type.
///
/// # Errors
/// Names the first unknown type and lists the known ones.
pub fn parse_types<S: AsRef<str>>(types: &[S]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::with_capacity(types.len());
    for t in types {
        let t = t.as_ref().trim();
        if import_event_kind(t).is_none() && t != PING {
            return Err(format!(
                "unknown event type {t:?}; known types: {}",
                all_types().collect::<Vec<_>>().join(", ")
            ));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    Ok(out)
}

/// One message of the feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// The feed position: increases by one with every import event committed,
    /// in commit order. Absent on test pings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    pub data: MessageData,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MessageData {
    Import(ImportEventData),
    Ping(PingData),
}

/// What an import message says: which request, and the event itself (the
/// same object as one entry of `GET /v1/imports/{id}/events`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportEventData {
    pub import_id: ImportId,
    pub team: String,
    pub environment: String,
    pub model_name: String,
    pub event: EventBody,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventBody {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    /// The credential behind `actor` (`token:<uuid>`, `oidc:<sub>`,
    /// `ferry:worker`); null for events recorded before ids were kept.
    pub actor_id: Option<String>,
    pub kind: String,
    pub from_status: Option<Status>,
    pub to_status: Option<Status>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PingData {
    pub webhook_id: uuid::Uuid,
    pub message: String,
}

impl Message {
    /// The message of one import event at feed position `seq`.
    pub fn import(seq: i64, data: ImportEventData) -> Self {
        Self {
            seq: Some(seq),
            event_type: import_event_type(&data.event.kind),
            timestamp: data.event.at,
            data: MessageData::Import(data),
        }
    }

    /// A webhook's test ping.
    pub fn ping(webhook_id: uuid::Uuid, at: OffsetDateTime) -> Self {
        Self {
            seq: None,
            event_type: PING.to_owned(),
            timestamp: at,
            data: MessageData::Ping(PingData {
                webhook_id,
                message: "test ping from Ferry".to_owned(),
            }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once_and_serialised_by_its_name() {
        let names: std::collections::BTreeSet<&str> = IMPORT_EVENT_KINDS.iter().copied().collect();
        assert_eq!(names.len(), EventKind::ALL.len(), "a kind is listed twice");
        for k in EventKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            // ALL is in declaration order, so a variant missing from it shows here.
            assert_eq!(EventKind::ALL[k as usize], k);
        }
        assert_eq!(EventKind::ModelIdle as usize + 1, EventKind::ALL.len());
        assert_eq!(EventKind::parse("exploded"), None);
    }

    #[test]
    fn types_round_trip_and_unknown_ones_are_named() {
        for k in IMPORT_EVENT_KINDS {
            assert_eq!(import_event_kind(&import_event_type(k)), Some(*k));
        }
        assert_eq!(import_event_kind("import.nope"), None);
        assert_eq!(import_event_kind("created"), None);
        assert_eq!(
            parse_types(&["import.created", "webhook.ping", "import.created"]),
            Ok(vec!["import.created".to_owned(), "webhook.ping".to_owned()])
        );
        let err = parse_types(&["import.created", "import.exploded"]).unwrap_err();
        assert!(err.contains("\"import.exploded\""), "{err}");
        assert!(err.contains("import.job_completed"), "{err}");
    }

    #[test]
    fn messages_serialize_as_standard_webhooks_payloads() {
        let at = time::macros::datetime!(2026-11-28 12:00:00 UTC);
        let m = Message::import(
            7,
            ImportEventData {
                import_id: ImportId::from_uuid(uuid::Uuid::nil()),
                team: "research".into(),
                environment: "dev".into(),
                model_name: "m".into(),
                event: EventBody {
                    id: 3,
                    at,
                    actor: "ferry".into(),
                    actor_id: Some("ferry:worker".into()),
                    kind: "status_changed".into(),
                    from_status: Some(Status::Queued),
                    to_status: Some(Status::Validating),
                    detail: serde_json::json!({}),
                },
            },
        );
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["seq"], 7);
        assert_eq!(v["type"], "import.status_changed");
        assert_eq!(v["timestamp"], "2026-11-28T12:00:00Z");
        assert_eq!(v["data"]["event"]["to_status"], "validating");
        assert_eq!(v["data"]["environment"], "dev");
        let p = serde_json::to_value(Message::ping(uuid::Uuid::nil(), at)).unwrap();
        assert_eq!(p["type"], "webhook.ping");
        assert!(p.get("seq").is_none());
    }
}
