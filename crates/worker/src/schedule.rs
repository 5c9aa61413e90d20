//! Admission into Bedrock's import job slots: who of a hosting account's
//! waiting line goes next, decided here (a pure function), written through
//! the one update path. The store only answers the questions (the line, the
//! usage) and holds the per-placement lock.

use std::collections::BTreeMap;

use ferry_domain::artifacts::ArtifactDigest;
use ferry_domain::aws::{AccountId, Region};
use ferry_domain::catalog::ModelReuse;
use ferry_domain::condition::{Condition, ConditionStatus, ConditionType, Reason};
use ferry_domain::events::EventKind;
use ferry_domain::ids::ImportId;
use ferry_domain::status::{Cause, Status};
use ferry_domain::update::{Changes, Event, Update};
use ferry_store::imports::ImportRecord;
use ferry_store::inventory::{AccountState, OutsideJob};
use ferry_store::work::{self, Usage, Waiting};
use ferry_store::{PgConnection, StoreError};
use time::OffsetDateTime;

use crate::{Ctx, actor};

/// What Bedrock allows in one hosting account and Region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Import jobs Ferry runs at once (Bedrock's quota: 1 by default).
    pub concurrent_jobs: i64,
    /// Imported models the account may hold (Bedrock's quota: 3 by default).
    pub imported_models: i64,
}

/// A hosting account and Region with its quotas, as the config declares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub account: AccountId,
    pub region: Region,
    pub quota: Quota,
    /// Fail requests that would exceed the imported-model limit (else warn and go on).
    pub refuse_over_model_limit: bool,
    /// Each environment's `model_reuse`, by name. The composition root lists every configured
    /// environment (the config's default is `reuse`); one not listed imports every request.
    pub reuse: BTreeMap<String, ModelReuse>,
}

impl Placement {
    /// What `environment` does with a request for an artifact it already holds.
    pub fn reuse_in(&self, environment: &str) -> ModelReuse {
        self.reuse
            .get(environment)
            .copied()
            .unwrap_or(ModelReuse::Import)
    }
}

/// The request of an environment that holds (or is importing) the model of one artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub id: ImportId,
    /// Its import finished (`completed`): the model is there to reuse.
    pub completed: bool,
}

/// What the one-import-per-artifact rule decided for the waiting line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SameArtifact {
    /// `(request, holder)`: completes by reference to the holder's model.
    pub reuse: Vec<(ImportId, ImportId)>,
    /// `(request, holder)`: waits while the holder's import runs, then reuses its model.
    pub wait: Vec<(ImportId, ImportId)>,
    /// The rest of the line, in order, for [`decide`].
    pub line: Vec<ImportId>,
}

/// Applies the one-import-per-artifact rule to the waiting line, in order: a request of an
/// environment that reuses, whose digest is held by a completed request, is reused; held by a
/// request still importing (or by one ahead of it in this line), it waits; otherwise it stays
/// in line and, if admitted, becomes the holder for the requests after it. `holders` are the
/// holders the store knows, by `(environment, digest)`.
pub fn same_artifact(
    placement: &Placement,
    waiting: &[Waiting],
    holders: &BTreeMap<(String, ArtifactDigest), Holder>,
) -> SameArtifact {
    let mut known = holders.clone();
    let mut out = SameArtifact::default();
    for w in waiting {
        let digest = match &w.digest {
            Some(d) if placement.reuse_in(&w.environment) == ModelReuse::Reuse => d,
            _ => {
                out.line.push(w.id);
                continue;
            }
        };
        let key = (w.environment.clone(), digest.clone());
        match known.get(&key) {
            Some(h) if h.completed => out.reuse.push((w.id, h.id)),
            Some(h) => out.wait.push((w.id, h.id)),
            None => {
                out.line.push(w.id);
                known.insert(
                    key,
                    Holder {
                        id: w.id,
                        completed: false,
                    },
                );
            }
        }
    }
    out
}

/// The change that completes `id` by reference to `holder`'s imported model: its ARN, its
/// details and card, and its `Serving` condition; no job, no slot.
pub fn reuse_update(id: ImportId, holder: &ImportRecord) -> Update {
    let arn = holder.imported_model_arn.clone().unwrap_or_default();
    let message = format!(
        "the environment already holds this artifact's model {arn}, imported by request {}: completed by reference to it, without an import job",
        holder.id
    );
    let mut update = Update::new(id, actor())
        .to(Cause::ReuseModel, Status::Completed)
        .condition(Condition::new(
            ConditionType::Scheduled,
            ConditionStatus::True,
            Reason::ReusedModel,
            message.clone(),
        ))
        .condition(Condition::new(
            ConditionType::JobSubmitted,
            ConditionStatus::False,
            Reason::ReusedModel,
            message,
        ))
        .changes(Changes {
            imported_model_arn: holder.imported_model_arn.clone(),
            imported_model: holder.imported_model.clone(),
            reused_from: Some(holder.id),
            mark_finished: true,
            release: true,
            ..Changes::default()
        })
        .event(Event::new(
            EventKind::ModelReused,
            serde_json::json!({
                "reused_from": holder.id,
                "imported_model_arn": arn,
                "artifact_digest": holder.artifact_digest.as_ref().map(ArtifactDigest::as_str),
            }),
        ));
    for kind in [ConditionType::Ready, ConditionType::Serving] {
        if let Some(c) = holder.conditions.iter().find(|c| c.kind == kind) {
            update = update.condition(c.clone());
        }
    }
    update
}

/// The condition of a request waiting for `holder`'s import of the same artifact.
fn waiting_for(holder: ImportId) -> Condition {
    Condition::new(
        ConditionType::Scheduled,
        ConditionStatus::False,
        Reason::WaitingForSameArtifact,
        format!(
            "request {holder} is importing the same artifact into this environment; this request will reuse its model once it completes"
        ),
    )
}

/// What the scheduler decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Moved to `submitting`.
    Admitted(ImportId),
    /// Moved to `submitting` although the account is at its imported-model
    /// limit (the environment warns rather than refuses).
    AdmittedOverModelLimit(ImportId),
    /// Failed: the account is at its imported-model limit and the
    /// environment refuses.
    RefusedOverModelLimit(ImportId),
}

impl Admission {
    /// The request decided on.
    pub fn id(&self) -> ImportId {
        match self {
            Self::Admitted(id)
            | Self::AdmittedOverModelLimit(id)
            | Self::RefusedOverModelLimit(id) => *id,
        }
    }
}

/// One decision, with the number of models the account held when it was made
/// (the refusal names it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub admission: Admission,
    pub models: i64,
}

/// Walks the waiting `line` in order and admits its heads while the
/// placement has free job slots; at the imported-model limit a request is
/// refused or admitted anyway, as the placement says. Refusals take no slot.
pub fn decide(placement: &Placement, usage: Usage, line: &[ImportId]) -> Vec<Decision> {
    let quota = placement.quota;
    let Usage {
        mut in_flight,
        mut models,
    } = usage;
    let mut out = Vec::new();
    for id in line {
        if in_flight >= quota.concurrent_jobs {
            break;
        }
        let admission = if models < quota.imported_models {
            Admission::Admitted(*id)
        } else if placement.refuse_over_model_limit {
            out.push(Decision {
                admission: Admission::RefusedOverModelLimit(*id),
                models,
            });
            continue;
        } else {
            Admission::AdmittedOverModelLimit(*id)
        };
        out.push(Decision { admission, models });
        in_flight += 1;
        models += 1;
    }
    out
}

/// The change that carries out `decision`.
pub fn update_for(placement: &Placement, decision: &Decision, now: OffsetDateTime) -> Update {
    let (account, region) = (&placement.account, &placement.region);
    match decision.admission {
        Admission::RefusedOverModelLimit(id) => {
            let message = format!(
                "the hosting account {account} in {region} already holds or is importing {} models, \
                 its limit of {} imported models; delete one, or raise the quota and the environment's \
                 max_imported_models",
                decision.models, placement.quota.imported_models
            );
            Update::fail(
                id,
                actor(),
                Cause::ModelLimitReached,
                Condition::new(
                    ConditionType::Scheduled,
                    ConditionStatus::False,
                    Reason::ImportedModelLimit,
                    message,
                ),
                Event::new(
                    EventKind::Refused,
                    serde_json::json!({ "reason": "imported_model_limit" }),
                ),
            )
        }
        Admission::Admitted(id) | Admission::AdmittedOverModelLimit(id) => Update::new(id, actor())
            .to(Cause::PreflightPassed, Status::Submitting)
            .condition(Condition::new(
                ConditionType::Scheduled,
                ConditionStatus::True,
                Reason::SlotFree,
                format!("an import job slot in {account}/{region} is free"),
            ))
            .changes(Changes {
                next_attempt_at: Some(now),
                retries: Some(0),
                ..Changes::default()
            })
            .event(Event::new(
                EventKind::Admitted,
                serde_json::json!({ "account": account, "region": region }),
            )),
    }
}

/// The quotas in force for `placement`: Service Quotas' values as the account's inventory last
/// read them, else (never read, unreadable, or overridden by the configuration) the configured
/// ones.
pub fn quota_in_force(placement: &Placement, account: Option<&AccountState>) -> Quota {
    let read = |v: Option<i64>, configured: i64| v.unwrap_or(configured);
    match account {
        None => placement.quota,
        Some(a) => Quota {
            concurrent_jobs: read(a.concurrent_jobs_quota, placement.quota.concurrent_jobs),
            imported_models: read(a.imported_models_quota, placement.quota.imported_models),
        },
    }
}

/// When models Ferry does not manage hold room the account needs (Ferry's own plus those reach
/// the imported-model quota), the message of the condition that keeps the waiting line waiting:
/// it names them. `None`: they take no room Ferry needs, or there are none.
pub fn held_by_others(quota: Quota, ferrys: i64, unmanaged: &[(String, String)]) -> Option<String> {
    let others = i64::try_from(unmanaged.len()).unwrap_or(i64::MAX);
    if others == 0 || ferrys.saturating_add(others) < quota.imported_models {
        return None;
    }
    let names = unmanaged
        .iter()
        .map(|(name, arn)| format!("{name} ({arn})"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "the account is at its quota of {} imported models: Ferry's requests hold {ferrys} and \
         {others} imported outside Ferry hold the rest: {names}; waiting for room (delete one, \
         or raise the quota in Service Quotas)",
        quota.imported_models
    ))
}

/// When import jobs started outside Ferry take the concurrent-import slots Ferry's own jobs
/// leave free (Ferry's `in_flight` plus theirs reach the quota), the message of the condition
/// that keeps the waiting line waiting: it names them. `None`: a slot is free, Ferry's own jobs
/// fill them (the line waits its turn as usual), or none runs.
pub fn slots_held_by_others(quota: Quota, in_flight: i64, jobs: &[OutsideJob]) -> Option<String> {
    let others = i64::try_from(jobs.len()).unwrap_or(i64::MAX);
    if others == 0
        || in_flight >= quota.concurrent_jobs
        || in_flight.saturating_add(others) < quota.concurrent_jobs
    {
        return None;
    }
    let names = jobs
        .iter()
        .map(|j| match &j.model_name {
            Some(m) => format!("{} ({}, importing {m})", j.name, j.arn),
            None => format!("{} ({})", j.name, j.arn),
        })
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "the account's {} concurrent import job slot(s) are taken: Ferry runs {in_flight} and \
         {others} it does not track (started outside Ferry, or left running by a cancelled \
         request) run the rest: {names}; waiting until one ends",
        quota.concurrent_jobs
    ))
}

/// Moves the heads of `placement`'s waiting line into `submitting` while it
/// has free job slots, and stores the places of those left waiting, in the
/// caller's transaction. Serialised per account
/// and Region across replicas, so two workers cannot both take the last slot.
///
/// Counts what the account really holds when its inventory was taken
/// ([`crate::inventory`]): models imported outside Ferry take room too, and
/// while they fill the account the line waits (`Scheduled=False`,
/// `AccountFull`, naming them) instead of failing at Bedrock; import jobs
/// started outside Ferry hold concurrent-import slots, and while they take
/// the slots Ferry's jobs leave, the line waits (`JobsOutsideFerry`, naming
/// them) instead of meeting Bedrock's `ServiceQuotaExceeded`.
#[tracing::instrument(skip_all, fields(account = %placement.account, region = %placement.region), err)]
pub async fn admit(
    conn: &mut PgConnection,
    placement: &Placement,
) -> Result<Vec<Admission>, StoreError> {
    let (account, region) = (&placement.account, &placement.region);
    work::lock_placement(conn, account, region).await?;
    let usage = work::usage(conn, account, region).await?;
    let inventory = ferry_store::inventory::state(conn, account, region).await?;
    let placement = &Placement {
        quota: quota_in_force(placement, inventory.as_ref()),
        ..placement.clone()
    };
    let line = work::waiting_line(conn, account, region).await?;
    let line = reuse_models(conn, placement, &line).await?;
    let (unmanaged, outside_jobs) = inventory
        .map(|i| (i.unmanaged, i.outside_jobs))
        .unwrap_or_default();
    let held = held_by_others(placement.quota, usage.models, &unmanaged)
        .map(|m| (Reason::AccountFull, m))
        .or_else(|| {
            slots_held_by_others(placement.quota, usage.in_flight, &outside_jobs)
                .map(|m| (Reason::JobsOutsideFerry, m))
        });
    if let Some((reason, message)) = held {
        for id in &line {
            wait(conn, *id, reason, &message).await?;
        }
        work::store_positions(conn, account, region, &line).await?;
        return Ok(Vec::new());
    }
    let usage = Usage {
        models: usage.models + i64::try_from(unmanaged.len()).unwrap_or(i64::MAX),
        in_flight: usage.in_flight + i64::try_from(outside_jobs.len()).unwrap_or(i64::MAX),
    };
    let now = OffsetDateTime::now_utc();
    let mut out = Vec::new();
    for decision in decide(placement, usage, &line) {
        ferry_store::imports::update(conn, &update_for(placement, &decision, now)).await?;
        out.push(decision.admission);
    }
    // What is left of the line keeps its order: store the places reads show.
    let left: Vec<ImportId> = line
        .into_iter()
        .filter(|id| !out.iter().any(|a| a.id() == *id))
        .collect();
    work::store_positions(conn, account, region, &left).await?;
    Ok(out)
}

/// The one-import-per-artifact rule, under the placement lock the caller holds (so two
/// requests for one artifact can never both be admitted): completes the requests whose
/// artifact the environment already holds, marks those waiting for an import of it that is
/// still running, and returns the rest of the line.
async fn reuse_models(
    conn: &mut PgConnection,
    placement: &Placement,
    line: &[ImportId],
) -> Result<Vec<ImportId>, StoreError> {
    if line.is_empty() {
        return Ok(Vec::new());
    }
    let waiting = work::waiting_digests(conn, line).await?;
    let mut holders = BTreeMap::new();
    for w in &waiting {
        let Some(d) = &w.digest else { continue };
        let key = (w.environment.clone(), d.clone());
        if placement.reuse_in(&w.environment) != ModelReuse::Reuse || holders.contains_key(&key) {
            continue;
        }
        if let Some((id, status)) = work::digest_holder(conn, &w.environment, d).await? {
            let completed = status == Status::Completed;
            holders.insert(key, Holder { id, completed });
        }
    }
    let decided = same_artifact(placement, &waiting, &holders);
    for (id, holder) in &decided.reuse {
        let holder = ferry_store::imports::get(conn, *holder).await?;
        ferry_store::imports::update(conn, &reuse_update(*id, &holder)).await?;
        tracing::info!(import_id = %id, reused_from = %holder.id, "completed by reference to a model of the same artifact");
    }
    for (id, holder) in &decided.wait {
        let record = ferry_store::imports::get(conn, *id).await?;
        let already = record.conditions.iter().any(|c| {
            c.kind == ConditionType::Scheduled && c.reason == Reason::WaitingForSameArtifact
        });
        if !already {
            let update = Update::new(*id, actor()).condition(waiting_for(*holder));
            ferry_store::imports::update(conn, &update).await?;
        }
    }
    Ok(decided.line)
}

/// Says on a waiting request why it waits, unless it says so already.
async fn wait(
    conn: &mut PgConnection,
    id: ImportId,
    reason: Reason,
    message: &str,
) -> Result<(), StoreError> {
    let record = ferry_store::imports::get(conn, id).await?;
    let said = record
        .conditions
        .iter()
        .any(|c| c.kind == ConditionType::Scheduled && c.reason == reason && c.message == message);
    if said {
        return Ok(());
    }
    let update = Update::new(id, actor()).condition(Condition::new(
        ConditionType::Scheduled,
        ConditionStatus::False,
        reason,
        message,
    ));
    ferry_store::imports::update(conn, &update).await?;
    Ok(())
}

/// Admits waiting requests into free job slots, for every placement.
pub async fn schedule(ctx: &Ctx) -> Result<(), StoreError> {
    for p in &ctx.settings.placements {
        let mut tx = ferry_store::begin(&ctx.pool).await?;
        let admitted = admit(&mut tx, p).await?;
        tx.commit().await?;
        for a in admitted {
            tracing::info!(account = %p.account, region = %p.region, admission = ?a, "scheduled");
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn placement(jobs: i64, models: i64, refuse: bool) -> Placement {
        Placement {
            account: AccountId::parse("777788889999").unwrap(),
            region: Region::parse("us-east-1").unwrap(),
            quota: Quota {
                concurrent_jobs: jobs,
                imported_models: models,
            },
            refuse_over_model_limit: refuse,
            reuse: BTreeMap::new(),
        }
    }

    fn line(n: usize) -> Vec<ImportId> {
        (0..n).map(|_| ImportId::new()).collect()
    }

    fn admissions(d: &[Decision]) -> Vec<Admission> {
        d.iter().map(|d| d.admission.clone()).collect()
    }

    #[test]
    fn the_heads_of_the_line_take_the_free_slots() {
        let ids = line(4);
        let usage = Usage {
            in_flight: 1,
            models: 1,
        };
        let got = decide(&placement(3, 10, true), usage, &ids);
        assert_eq!(
            admissions(&got),
            vec![Admission::Admitted(ids[0]), Admission::Admitted(ids[1])]
        );
        assert_eq!(
            got.iter().map(|d| d.models).collect::<Vec<_>>(),
            vec![1, 2],
            "each admission counts as a model held"
        );
        let full = Usage {
            in_flight: 3,
            models: 3,
        };
        assert!(decide(&placement(3, 10, true), full, &ids).is_empty());
        assert!(decide(&placement(3, 10, true), Usage::default(), &[]).is_empty());
    }

    #[test]
    fn at_the_model_limit_requests_are_refused_without_taking_a_slot_or_warned() {
        let ids = line(3);
        let usage = Usage {
            in_flight: 0,
            models: 2,
        };
        let refused = decide(&placement(1, 2, true), usage, &ids);
        assert_eq!(
            admissions(&refused),
            ids.iter()
                .map(|id| Admission::RefusedOverModelLimit(*id))
                .collect::<Vec<_>>(),
            "refusals free no slot and take none"
        );
        let warned = decide(&placement(1, 2, false), usage, &ids);
        assert_eq!(
            admissions(&warned),
            vec![Admission::AdmittedOverModelLimit(ids[0])]
        );
        let crossing = decide(
            &placement(3, 3, false),
            Usage {
                in_flight: 0,
                models: 2,
            },
            &ids,
        );
        assert_eq!(
            admissions(&crossing),
            vec![
                Admission::Admitted(ids[0]),
                Admission::AdmittedOverModelLimit(ids[1]),
                Admission::AdmittedOverModelLimit(ids[2]),
            ]
        );
    }

    #[test]
    fn models_imported_outside_ferry_make_the_line_wait_and_are_named() {
        let quota = Quota {
            concurrent_jobs: 1,
            imported_models: 2,
        };
        let hand = vec![(
            "by-hand".to_owned(),
            "arn:aws:bedrock:us-east-1:777788889999:imported-model/abcdefabcdef".to_owned(),
        )];
        let message = held_by_others(quota, 1, &hand).unwrap();
        assert!(message.contains("quota of 2 imported models"), "{message}");
        assert!(message.contains("by-hand (arn:aws:bedrock"), "{message}");
        assert_eq!(held_by_others(quota, 0, &hand), None, "room is left");
        assert_eq!(
            held_by_others(quota, 5, &[]),
            None,
            "only Ferry's own fill it"
        );
    }

    #[test]
    fn jobs_started_outside_ferry_hold_slots_and_are_named() {
        let quota = Quota {
            concurrent_jobs: 1,
            imported_models: 3,
        };
        let job = OutsideJob {
            arn: "arn:aws:bedrock:us-east-1:777788889999:model-import-job/abcdefabcdef".to_owned(),
            name: "by-hand-job".to_owned(),
            model_name: Some("by-hand".to_owned()),
            created_at: None,
        };
        let message = slots_held_by_others(quota, 0, std::slice::from_ref(&job)).unwrap();
        assert!(
            message.contains("by-hand-job (arn:aws:bedrock"),
            "{message}"
        );
        assert!(message.contains("importing by-hand"), "{message}");
        assert_eq!(slots_held_by_others(quota, 0, &[]), None, "none runs");
        assert_eq!(
            slots_held_by_others(quota, 1, std::slice::from_ref(&job)),
            None,
            "Ferry's own job fills the slot: the line waits its turn"
        );
        let two = Quota {
            concurrent_jobs: 2,
            ..quota
        };
        assert_eq!(
            slots_held_by_others(two, 0, std::slice::from_ref(&job)),
            None,
            "a slot is left"
        );
    }

    #[test]
    fn service_quotas_values_win_over_the_configured_ones_when_read() {
        let p = placement(1, 3, true);
        assert_eq!(quota_in_force(&p, None), p.quota);
        let read = AccountState {
            imported_models_quota: Some(5),
            concurrent_jobs_quota: None,
            jobs_running: 0,
            synced_at: None,
            last_error: None,
            unmanaged: Vec::new(),
            outside_jobs: Vec::new(),
        };
        assert_eq!(
            quota_in_force(&p, Some(&read)),
            Quota {
                concurrent_jobs: 1,
                imported_models: 5
            }
        );
    }

    #[test]
    fn a_refusal_fails_the_request_for_its_own_cause() {
        let id = ImportId::new();
        let p = placement(1, 1, true);
        let now = OffsetDateTime::now_utc();
        let refused = update_for(
            &p,
            &Decision {
                admission: Admission::RefusedOverModelLimit(id),
                models: 1,
            },
            now,
        );
        assert_eq!(
            refused.transition,
            Some((Cause::ModelLimitReached, Status::Failed))
        );
        assert!(
            ferry_domain::status::check(
                Status::Validating,
                Cause::ModelLimitReached,
                Status::Failed
            )
            .is_ok()
        );
        let message = refused.changes.failure_message.clone().unwrap();
        assert!(message.contains("limit of 1 imported models"), "{message}");
        assert!(
            message.contains("already holds or is importing 1 models"),
            "{message}"
        );
        assert_eq!(refused.conditions[0].reason, Reason::ImportedModelLimit);
        assert_eq!(refused.event.unwrap().kind, EventKind::Refused);

        let admitted = update_for(
            &p,
            &Decision {
                admission: Admission::Admitted(id),
                models: 0,
            },
            now,
        );
        assert_eq!(
            admitted.transition,
            Some((Cause::PreflightPassed, Status::Submitting))
        );
        assert_eq!(admitted.changes.next_attempt_at, Some(now));
        let event = admitted.event.unwrap();
        assert_eq!(event.kind, EventKind::Admitted);
        assert_eq!(
            event.detail,
            serde_json::json!({ "account": "777788889999", "region": "us-east-1" })
        );
    }
}
