//! The event feed's messages: what `GET /v1/events` streams and what webhooks
//! deliver. Both carry the same JSON, shaped as the Standard Webhooks spec
//! recommends (`type`, `timestamp`, `data`).

use serde::Serialize;
use time::OffsetDateTime;

use crate::ids::ImportId;
use crate::status::Status;

/// Every kind of import event Ferry records. A message's type is
/// `import.<kind>`.
pub const IMPORT_EVENT_KINDS: &[&str] = &[
    "created",
    "approved",
    "rejected",
    "cancelled",
    "retried",
    "promoted",
    "status_changed",
    "preflight_for_review",
    "preflight_passed",
    "preflight_failed",
    "admitted",
    "refused",
    "job_created",
    "submit_failed",
    "job_completed",
    "job_failed",
    "failed",
    "delete_requested",
    "model_deleted",
    "delete_failed",
];

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
