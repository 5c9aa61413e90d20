//! The life of an import request, as a state machine.
//!
//! ```text
//! pending_approval ─approve─► queued ─claim─► validating ─preflight ok─► submitting ─job created─► importing
//!        │ reject                                 │ preflight failed,         │ rejected by Bedrock     │ job Completed
//!        │                                        │ or model limit reached    │                         ▼
//!        ▼                                        ▼                           ▼                     verifying ─answered, or never─► completed ─► deleting ─► deleted
//!     rejected                                  failed ◄──────────────────────┴──── job Failed (importing)                            ▲            │
//!                                                 │ retry ─► queued                                                                   └─ delete failed
//! any of pending_approval..importing ─cancel─► cancelled
//! ```
//!
//! A `validating` request also fails when the scheduler refuses it at its
//! hosting account's imported-model limit.
//!
//! `verifying` is the readiness check: the model exists (and is billed), and
//! Ferry invokes it until it answers or the readiness timeout passes. Either
//! way the request ends `completed`, its `Serving` condition saying which;
//! it cannot be cancelled (there is nothing left to stop: delete the model
//! once it is `completed`).
//!
//! Every allowed transition is listed once, with its cause, in
//! [`TRANSITIONS`]; [`check`] rejects anything else.

use std::fmt;
use std::str::FromStr;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    PendingApproval,
    Queued,
    Validating,
    Submitting,
    Importing,
    Verifying,
    Completed,
    Failed,
    Rejected,
    Cancelled,
    Deleting,
    Deleted,
}

/// Why a request moves from one status to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    /// A hosting-team member approved a request that needed approval.
    Approve,
    /// A hosting-team member rejected it.
    Reject,
    /// Someone cancelled it before it finished. Bedrock import jobs cannot be
    /// stopped: cancelling an `importing` request stops Ferry tracking it.
    Cancel,
    /// A worker claimed it and started the preflight checks.
    StartPreflight,
    /// The preflight passed; the job is about to be created.
    PreflightPassed,
    /// The preflight found a problem; no Bedrock job was created.
    PreflightFailed,
    /// The scheduler refused it: its hosting account holds as many imported
    /// models as the environment allows, and the environment refuses rather
    /// than warns.
    ModelLimitReached,
    /// Bedrock accepted `CreateModelImportJob`.
    JobCreated,
    /// Bedrock refused the job for good (validation, access).
    SubmitFailed,
    /// Bedrock reported the job `Completed`: the readiness check starts.
    JobCompleted,
    /// The imported model answered an invocation (`Serving=True`).
    ModelAnswered,
    /// The imported model did not answer within the readiness timeout, or
    /// refused for good (`Serving=False`).
    ModelNotServing,
    /// Bedrock reported the job `Failed`.
    JobFailed,
    /// Someone retried a failed request.
    Retry,
    /// The hosting team asked Ferry to delete the imported model.
    DeleteModel,
    /// Bedrock deleted the imported model.
    ModelDeleted,
    /// Bedrock refused the deletion; the model is still there.
    DeleteFailed,
    /// The artifact's digest matched a model the environment already holds: the request
    /// completes by reference to that model instead of importing it again.
    ReuseModel,
}

use Cause::*;
use Status::*;

/// Every allowed transition, once.
pub const TRANSITIONS: &[(Status, Status, Cause)] = &[
    (PendingApproval, Queued, Approve),
    (PendingApproval, Rejected, Reject),
    (PendingApproval, Cancelled, Cancel),
    (Queued, Validating, StartPreflight),
    (Queued, Cancelled, Cancel),
    (Validating, Submitting, PreflightPassed),
    (Validating, Failed, PreflightFailed),
    (Validating, Failed, ModelLimitReached),
    (Validating, Completed, ReuseModel),
    (Validating, Cancelled, Cancel),
    (Submitting, Importing, JobCreated),
    (Submitting, Failed, SubmitFailed),
    (Submitting, Cancelled, Cancel),
    (Importing, Verifying, JobCompleted),
    (Importing, Failed, JobFailed),
    (Importing, Cancelled, Cancel),
    (Verifying, Completed, ModelAnswered),
    (Verifying, Completed, ModelNotServing),
    (Failed, Queued, Retry),
    (Completed, Deleting, DeleteModel),
    (Deleting, Deleted, ModelDeleted),
    (Deleting, Completed, DeleteFailed),
];

/// A transition the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an import request cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: Status,
    pub to: Status,
}

/// Checks that `cause` may move a request from `from` to `to`.
pub fn check(from: Status, cause: Cause, to: Status) -> Result<(), IllegalTransition> {
    if TRANSITIONS.contains(&(from, to, cause)) {
        Ok(())
    } else {
        Err(IllegalTransition { from, to })
    }
}

impl Status {
    pub const ALL: [Status; 12] = [
        PendingApproval,
        Queued,
        Validating,
        Submitting,
        Importing,
        Verifying,
        Completed,
        Failed,
        Rejected,
        Cancelled,
        Deleting,
        Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PendingApproval => "pending_approval",
            Queued => "queued",
            Validating => "validating",
            Submitting => "submitting",
            Importing => "importing",
            Verifying => "verifying",
            Completed => "completed",
            Failed => "failed",
            Rejected => "rejected",
            Cancelled => "cancelled",
            Deleting => "deleting",
            Deleted => "deleted",
        }
    }

    /// The status a new request starts in.
    pub fn initial(requires_approval: bool) -> Self {
        if requires_approval {
            PendingApproval
        } else {
            Queued
        }
    }

    /// The first cause that leads from `self` to `to`, if any does.
    pub fn check_transition(self, to: Status) -> Result<Cause, IllegalTransition> {
        TRANSITIONS
            .iter()
            .find(|(f, t, _)| *f == self && *t == to)
            .map(|(_, _, cause)| *cause)
            .ok_or(IllegalTransition { from: self, to })
    }

    /// The statuses from which `cause` leads to `to`.
    pub fn sources_of(cause: Cause) -> Vec<(Status, Status)> {
        TRANSITIONS
            .iter()
            .filter(|(_, _, c)| *c == cause)
            .map(|(f, t, _)| (*f, *t))
            .collect()
    }

    /// No transition leaves this status.
    pub fn is_terminal(self) -> bool {
        !TRANSITIONS.iter().any(|(f, _, _)| *f == self)
    }

    /// The request holds its imported model name in its environment: a second
    /// request for the same name would collide in Bedrock. Requests that ended
    /// without a model (or whose model is gone) release the name.
    pub fn holds_model_name(self) -> bool {
        !matches!(self, Failed | Rejected | Cancelled | Deleted)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of the status names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::{BTreeSet, VecDeque};

    use super::*;

    #[test]
    fn every_pair_is_decided_by_the_table_alone() {
        let listed: BTreeSet<(Status, Status, Cause)> = TRANSITIONS.iter().copied().collect();
        assert_eq!(
            listed.len(),
            TRANSITIONS.len(),
            "a transition is listed twice"
        );
        let table: BTreeSet<(Status, Status)> =
            TRANSITIONS.iter().map(|(f, t, _)| (*f, *t)).collect();
        for from in Status::ALL {
            for to in Status::ALL {
                let allowed = from.check_transition(to).is_ok();
                assert_eq!(allowed, table.contains(&(from, to)), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn exhaustive_expectations() {
        // The intended graph, written out independently of TRANSITIONS.
        let expect = |from: Status| -> Vec<Status> {
            match from {
                PendingApproval => vec![Queued, Rejected, Cancelled],
                Queued => vec![Validating, Cancelled],
                Validating => vec![Submitting, Failed, Cancelled, Completed],
                Submitting => vec![Importing, Failed, Cancelled],
                Importing => vec![Verifying, Failed, Cancelled],
                Verifying => vec![Completed],
                Completed => vec![Deleting],
                Failed => vec![Queued],
                Deleting => vec![Deleted, Completed],
                Rejected | Cancelled | Deleted => vec![],
            }
        };
        for from in Status::ALL {
            let mut got: Vec<Status> = Status::ALL
                .into_iter()
                .filter(|to| from.check_transition(*to).is_ok())
                .collect();
            let mut want = expect(from);
            got.sort();
            want.sort();
            assert_eq!(got, want, "from {from}");
        }
    }

    #[test]
    fn terminal_statuses() {
        let terminal: Vec<Status> = Status::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(terminal, vec![Rejected, Cancelled, Deleted]);
        assert!(!Failed.is_terminal(), "failed requests can be retried");
    }

    #[test]
    fn every_status_is_reachable_from_an_initial_one() {
        let mut seen = BTreeSet::from([Status::initial(true), Status::initial(false)]);
        let mut todo: VecDeque<Status> = seen.iter().copied().collect();
        while let Some(s) = todo.pop_front() {
            for (f, t, _) in TRANSITIONS {
                if *f == s && seen.insert(*t) {
                    todo.push_back(*t);
                }
            }
        }
        assert_eq!(seen.len(), Status::ALL.len());
    }

    #[test]
    fn cancel_covers_every_unfinished_status() {
        let from: BTreeSet<Status> = Status::sources_of(Cancel)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(
            from,
            BTreeSet::from([PendingApproval, Queued, Validating, Submitting, Importing])
        );
    }

    #[test]
    fn check_takes_the_cause_into_account() {
        for (from, to, cause) in TRANSITIONS {
            assert_eq!(check(*from, *cause, *to), Ok(()));
        }
        assert_eq!(
            check(Validating, ModelLimitReached, Failed),
            Ok(()),
            "refused at the imported-model limit"
        );
        assert_eq!(
            Status::sources_of(ModelLimitReached),
            vec![(Validating, Failed)]
        );
        for (from, to, cause) in [
            (Submitting, Failed, ModelLimitReached),
            (Importing, Failed, PreflightFailed),
            (Validating, Failed, JobFailed),
            (Validating, Submitting, ModelLimitReached),
        ] {
            assert_eq!(
                check(from, cause, to),
                Err(IllegalTransition { from, to }),
                "{from} -> {to} by {cause:?}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!("done".parse::<Status>().is_err());
    }

    #[test]
    fn initial_status_follows_approval() {
        assert_eq!(Status::initial(true), PendingApproval);
        assert_eq!(Status::initial(false), Queued);
    }
}
