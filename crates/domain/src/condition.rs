//! Kubernetes-style conditions: a dashboard shows *why* a request is where it
//! is, not only *where*.

use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Condition {
    /// `Accepted`, `Approved`, `PreflightPassed`, `JobSubmitted`, `Ready`, ...
    #[serde(rename = "type")]
    pub kind: String,
    pub status: ConditionStatus,
    /// A CamelCase word a program may match on.
    pub reason: String,
    pub message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_transition_time: OffsetDateTime,
}

impl Condition {
    pub fn new(
        kind: &str,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind: kind.to_owned(),
            status,
            reason: reason.to_owned(),
            message: message.into(),
            last_transition_time: OffsetDateTime::now_utc(),
        }
    }
}

/// Sets `new` in `conditions`, replacing the one of the same type. As in
/// Kubernetes, `last_transition_time` only moves when the status changes.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) {
    match conditions.iter_mut().find(|c| c.kind == new.kind) {
        Some(old) => {
            if old.status == new.status {
                new.last_transition_time = old.last_transition_time;
            }
            *old = new;
        }
        None => conditions.push(new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut cs = vec![];
        let first = Condition::new(
            "Approved",
            ConditionStatus::False,
            "AwaitingApproval",
            "wait",
        );
        let t0 = first.last_transition_time;
        set_condition(&mut cs, first);
        let mut same = Condition::new("Approved", ConditionStatus::False, "StillWaiting", "still");
        same.last_transition_time = t0 + time::Duration::seconds(5);
        set_condition(&mut cs, same);
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].reason, "StillWaiting");
        assert_eq!(cs[0].last_transition_time, t0);
        let mut flipped = Condition::new("Approved", ConditionStatus::True, "Approved", "ok");
        flipped.last_transition_time = t0 + time::Duration::seconds(9);
        set_condition(&mut cs, flipped);
        assert_eq!(cs[0].last_transition_time, t0 + time::Duration::seconds(9));
    }
}
