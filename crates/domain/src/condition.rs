//! Kubernetes-style conditions: a dashboard shows *why* a request is where it
//! is, not only *where*.
//!
//! Condition types and reasons are closed enums, written to the database and
//! the API as the CamelCase words programs match on.

use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

/// Declares a closed set of CamelCase words with `as_str`, `ALL` and serde
/// that reads and writes exactly those words.
macro_rules! words {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant)),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words!(
    /// What a condition is about.
    ConditionType {
        /// Every field passed Bedrock's rules.
        Accepted,
        /// The hosting team's decision, where approval is required.
        Approved,
        /// Someone cancelled the request.
        Cancelled,
        /// A user started a new attempt.
        Retried,
        /// The artifacts and the access chain were checked.
        PreflightPassed,
        /// Waiting for, or given, an import job slot.
        Scheduled,
        /// `CreateModelImportJob` was called.
        JobSubmitted,
        /// Bedrock accepted the execution role when the job was created (it checks that it
        /// can assume the role; right after IAM changes it may not yet). `False` since the
        /// first refusal: its transition time starts the wait for IAM to propagate.
        ExecutionRoleAccepted,
        /// Bedrock reported a job status Ferry knows.
        JobStatusKnown,
        /// The imported model exists and can be used.
        Ready,
        /// The imported model was deleted.
        ModelDeleted,
        /// The imported model answers invocations (the readiness check after the import):
        /// `Unknown` while Ferry is still trying, then `True` or `False` for good.
        Serving,
    }
);

impl ConditionType {
    /// Conditions that still describe a request after a retry starts a new
    /// attempt; the others belonged to the failed attempt.
    pub fn survives_retry(self) -> bool {
        matches!(self, Self::Accepted | Self::Approved | Self::Retried)
    }
}

words!(
    /// Why a condition has its status: a CamelCase word programs may match on.
    Reason {
        InputValid,
        AwaitingApproval,
        Approved,
        Rejected,
        CancelledByUser,
        RetriedByUser,
        Running,
        AllChecksPassed,
        PreflightFailed,
        TransientError,
        WaitingForSlot,
        SlotFree,
        ImportedModelLimit,
        /// Models imported outside Ferry fill the account's imported-model quota: the request
        /// waits for room.
        AccountFull,
        /// Import jobs started outside Ferry hold the account's concurrent-import slots: the
        /// request waits for one to end.
        JobsOutsideFerry,
        JobCreated,
        WaitingForQuota,
        Throttled,
        Imported,
        ImportFailed,
        UnknownStatus,
        EnvironmentRemoved,
        NoJob,
        Deleting,
        Deleted,
        NoModel,
        Retrying,
        DeleteRefused,
        /// Bedrock refused the execution role; IAM changes may still be propagating.
        WaitingForIamPropagation,
        /// Bedrock accepted the execution role after refusing it.
        RoleAccepted,
        /// Bedrock answered `ModelNotReadyException`: the model is loading; Ferry tries again.
        ModelNotReady,
        /// The model answered the readiness check.
        ModelAnswered,
        /// The model did not answer within the readiness timeout.
        ReadinessTimeout,
        /// Bedrock refused the invocation for a reason waiting does not fix (access, input).
        InvokeRefused,
        /// The same artifact (by digest) is already imported in the environment: the request
        /// completed by reference to that model, without a job of its own.
        ReusedModel,
        /// The same artifact is being imported by another request of the environment: this
        /// one waits for it and then reuses its model.
        WaitingForSameArtifact,
    }
);

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: ConditionType,
    pub status: ConditionStatus,
    pub reason: Reason,
    pub message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_transition_time: OffsetDateTime,
}

impl Condition {
    pub fn new(
        kind: ConditionType,
        status: ConditionStatus,
        reason: Reason,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            status,
            reason,
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut cs = vec![];
        let first = Condition::new(
            ConditionType::Approved,
            ConditionStatus::False,
            Reason::AwaitingApproval,
            "wait",
        );
        let t0 = first.last_transition_time;
        set_condition(&mut cs, first);
        let mut same = Condition::new(
            ConditionType::Approved,
            ConditionStatus::False,
            Reason::Rejected,
            "still",
        );
        same.last_transition_time = t0 + time::Duration::seconds(5);
        set_condition(&mut cs, same);
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].reason, Reason::Rejected);
        assert_eq!(cs[0].last_transition_time, t0);
        let mut flipped = Condition::new(
            ConditionType::Approved,
            ConditionStatus::True,
            Reason::Approved,
            "ok",
        );
        flipped.last_transition_time = t0 + time::Duration::seconds(9);
        set_condition(&mut cs, flipped);
        assert_eq!(cs[0].last_transition_time, t0 + time::Duration::seconds(9));
    }

    #[test]
    fn words_are_written_as_before() {
        let c = Condition::new(
            ConditionType::PreflightPassed,
            ConditionStatus::Unknown,
            Reason::TransientError,
            "m",
        );
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["type"], "PreflightPassed");
        assert_eq!(v["status"], "Unknown");
        assert_eq!(v["reason"], "TransientError");
        let back: Condition = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
        for t in ConditionType::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        for r in Reason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        let unknown = serde_json::json!({
            "type": "Exploded", "status": "True", "reason": "Boom", "message": "",
            "last_transition_time": "2026-11-28T12:00:00Z"
        });
        assert!(serde_json::from_value::<Condition>(unknown).is_err());
    }
}
