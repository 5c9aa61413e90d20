//! The account as it really is: per hosting account and Region, a pass on a timer lists every
//! imported model (`ListImportedModels`, paged) and the import jobs running
//! (`ListModelImportJobs`, `InProgress`), marks the models without Ferry's tags unmanaged and the
//! jobs no request of Ferry's started as outside Ferry, and reads Bedrock's quotas from Service
//! Quotas, and asks CloudWatch when each model was last invoked. The scheduler counts what it
//! stored.
//!
//! Like a request's step, a pass runs under a lease (`account_inventories.lease_owner`), so one
//! replica lists an account at a time and a dead worker's pass is taken over when its lease
//! runs out; each AWS call spends one unit of the account's call budget, and a spent budget
//! ends the pass early to be tried again shortly. A model's tags are read once, when it first
//! shows up.

use std::collections::BTreeSet;
use std::time::Duration;

use ferry_cloud::CallError;
use ferry_cloud::inventory::{CONCURRENT_IMPORT_JOBS_QUOTA, IMPORTED_MODELS_QUOTA};
use ferry_domain::catalog::{self, Catalog, Environment};
use ferry_domain::events::EventKind;
use ferry_domain::ids::ImportId;
use ferry_domain::update::{Event, Update};
use ferry_store::StoreError;
use ferry_store::inventory::{IdleWatch, ListedModel, OutsideJob, Snapshot};
use time::OffsetDateTime;

use crate::schedule::Placement;
use crate::{Ctx, actor};

/// The tag whose presence makes a model Ferry's (see `ferry_domain::import::ferry_tags`).
pub const REQUEST_TAG: &str = "ferry:request-id";

/// Models per `ListImportedModels` page and jobs per `ListModelImportJobs` page.
const PAGE: i32 = 1000;

/// `GetMetricData` sums `Invocations` per UTC day over CloudWatch's retention of hourly data
/// (455 days; the API reference of GetMetricData), so a model's last invocation is known to
/// the day.
const INVOCATION_PERIOD_SECS: i64 = 86_400;
const INVOCATION_LOOKBACK_DAYS: i64 = 455;

/// How the inventory runs; `None` in [`crate::Settings`] turns it off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventorySettings {
    /// Time between two passes over one account and Region.
    pub interval: Duration,
    /// Placements (account, Region) whose configured quotas override Service Quotas'.
    pub configured_quotas: BTreeSet<(String, String)>,
}

impl InventorySettings {
    /// Whether `placement` takes its quotas from the configuration only.
    #[must_use]
    pub fn overrides(&self, placement: &Placement) -> bool {
        self.configured_quotas
            .contains(&(placement.account.to_string(), placement.region.to_string()))
    }
}

/// Why a pass ended early.
#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error("the account's call budget is spent")]
    Budget,
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs every due pass this worker can claim.
pub async fn sync(ctx: &Ctx) -> Result<(), StoreError> {
    let Some(settings) = &ctx.settings.inventory else {
        return Ok(());
    };
    for p in &ctx.settings.placements {
        let Some(env) = ctx
            .catalog
            .environments()
            .find(|e| e.account == p.account && e.region == p.region)
        else {
            continue;
        };
        let claimed = {
            let mut conn = ferry_store::acquire(&ctx.pool).await?;
            ferry_store::inventory::claim(
                &mut conn,
                &p.account,
                &p.region,
                &ctx.settings.owner,
                ctx.lease(),
            )
            .await?
        };
        if !claimed {
            continue;
        }
        let outcome = pass(ctx, env, !settings.overrides(p)).await;
        let now = OffsetDateTime::now_utc();
        match outcome {
            Ok(snapshot) => {
                let next = now + settings.interval;
                match store_pass(ctx, p, &snapshot, next, now).await {
                    Ok(told) => tracing::info!(
                        account = %p.account, region = %p.region,
                        models = snapshot.models.len(),
                        unmanaged = snapshot.models.iter().filter(|m| !m.managed).count(),
                        jobs_running = snapshot.jobs_running,
                        idle_notices = told,
                        "account inventory taken"
                    ),
                    Err(StoreError::LeaseLost) => {
                        tracing::warn!(account = %p.account, "inventory lease lost; another worker has it");
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(PassError::Store(e)) => return Err(e),
            Err(e) => {
                let retry = ctx.settings.retry.delay(1, rand::random());
                let next = now + time::Duration::try_from(retry).unwrap_or(time::Duration::SECOND);
                tracing::warn!(account = %p.account, region = %p.region, error = %e, "account inventory incomplete; trying again");
                let mut conn = ferry_store::acquire(&ctx.pool).await?;
                ferry_store::inventory::record_error(
                    &mut conn,
                    &p.account,
                    &p.region,
                    &ctx.settings.owner,
                    &e.to_string(),
                    next,
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// Stores a pass's `snapshot` and, in the same transaction, tells the request of each model
/// that has become a deletion candidate (event `model_idle`, once per candidacy). The
/// transaction holds the inventory's lease (`record` checks it first): a worker that lost it
/// writes nothing. Returns how many requests were told.
async fn store_pass(
    ctx: &Ctx,
    p: &Placement,
    snapshot: &Snapshot,
    next: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<usize, StoreError> {
    let mut tx = ferry_store::begin(&ctx.pool).await?;
    ferry_store::inventory::record(
        &mut tx,
        &p.account,
        &p.region,
        &ctx.settings.owner,
        snapshot,
        next,
    )
    .await?;
    let watched = ferry_store::inventory::idle_watch(&mut tx, &p.account, &p.region).await?;
    let mut told = 0;
    for m in watched {
        let Some(update) = idle_notice(&ctx.catalog, &m, now) else {
            continue;
        };
        ferry_store::imports::update(&mut tx, &update).await?;
        ferry_store::inventory::mark_idle_notified(
            &mut tx,
            &p.account,
            &p.region,
            &m.arn,
            m.last_invoked_at,
        )
        .await?;
        told += 1;
    }
    tx.commit().await?;
    Ok(told)
}

/// The `model_idle` event for `m`'s request when `m` has become a deletion candidate it was
/// not told of (`catalog::idle_notice_due`); no transition. A hosting user confirms the
/// delete with `DELETE /v1/imports/{id}/model`; Ferry deletes nothing by itself.
fn idle_notice(catalog: &Catalog, m: &IdleWatch, now: OffsetDateTime) -> Option<Update> {
    let limit = catalog.environment(&m.environment)?.idle_after_days;
    let idle = catalog::idle_days(m.last_invoked_at, m.imported_at, now);
    let candidate = catalog::deletion_candidate(true, limit, idle);
    if !catalog::idle_notice_due(candidate, m.notified, m.last_invoked_at) {
        return None;
    }
    let last_invoked = m.last_invoked_at.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    });
    Some(Update::new(m.request, actor()).event(Event::new(
        EventKind::ModelIdle,
        serde_json::json!({
            "imported_model_arn": m.arn,
            "last_invoked_at": last_invoked,
            "idle_days": idle,
            "idle_after_days": limit,
            "confirm_with": format!("DELETE /v1/imports/{}/model", m.request),
        }),
    )))
}

async fn spend(ctx: &Ctx, env: &Environment) -> Result<(), PassError> {
    let mut conn = ferry_store::acquire(&ctx.pool).await?;
    let taken = ferry_store::work::take_budget(
        &mut conn,
        env.account.as_str(),
        env.region.as_str(),
        ctx.settings.budget_per_second,
        ctx.settings.budget_burst,
    )
    .await?;
    if taken {
        Ok(())
    } else {
        metrics::counter!(
            crate::BUDGET_EXHAUSTED,
            "account" => env.account.to_string(),
            "region" => env.region.to_string()
        )
        .increment(1);
        Err(PassError::Budget)
    }
}

/// A request id from a `ferry:request-id` tag value.
fn request_of(tags: &[(String, String)]) -> Option<Option<ImportId>> {
    tags.iter()
        .find(|(k, _)| k == REQUEST_TAG)
        .map(|(_, v)| v.parse::<ImportId>().ok())
}

/// The quota's value when Service Quotas gives one; access denied or no such quota leave the
/// configured value in force (said in the log), other failures end the pass.
async fn quota(ctx: &Ctx, env: &Environment, code: &str) -> Result<Option<i64>, PassError> {
    spend(ctx, env).await?;
    match ctx.cloud.bedrock_quota(&env.name, code).await {
        Ok(v) => Ok(v.and_then(whole)),
        Err(e @ (CallError::AccessDenied { .. } | CallError::NotFound(_))) => {
            tracing::warn!(env = %env.name, quota = code, error = %e, "Service Quotas gave no value; the configured quota applies");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// A quota value as a count (Service Quotas gives a double; Bedrock's are whole numbers).
#[allow(clippy::cast_possible_truncation)]
fn whole(v: f64) -> Option<i64> {
    (v.is_finite() && v >= 0.0).then(|| v.floor() as i64)
}

async fn pass(ctx: &Ctx, env: &Environment, read_quotas: bool) -> Result<Snapshot, PassError> {
    let (known, ours, job_names) = {
        let mut conn = ferry_store::acquire(&ctx.pool).await?;
        (
            ferry_store::inventory::known(&mut conn, &env.account, &env.region).await?,
            ferry_store::inventory::requests_by_model(&mut conn, &env.account, &env.region).await?,
            ferry_store::inventory::job_names(&mut conn, &env.account, &env.region).await?,
        )
    };
    let mut models = Vec::new();
    let mut token: Option<String> = None;
    loop {
        spend(ctx, env).await?;
        let page = ctx
            .cloud
            .list_imported_models_page(&env.name, token.as_deref(), PAGE)
            .await?;
        for m in page.models {
            let (managed, request) = if let Some(id) = ours.get(&m.arn) {
                (true, Some(*id))
            } else if let Some(k) = known.get(&m.arn) {
                *k
            } else {
                spend(ctx, env).await?;
                let tags = ctx.cloud.resource_tags(&env.name, &m.arn).await?;
                match request_of(&tags) {
                    Some(id) => (true, id),
                    None => (false, None),
                }
            };
            models.push(ListedModel {
                arn: m.arn,
                name: m.name,
                architecture: m.architecture,
                created_at: m.created,
                managed,
                request,
                last_invoked_at: None,
            });
        }
        match page.next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    last_invocations(ctx, env, &mut models).await?;
    let mut jobs_running = 0i64;
    let mut outside_jobs = Vec::new();
    let mut token: Option<String> = None;
    loop {
        spend(ctx, env).await?;
        let page = ctx
            .cloud
            .list_running_jobs_page(&env.name, token.as_deref(), PAGE)
            .await?;
        jobs_running += i64::try_from(page.jobs.len()).unwrap_or(i64::MAX);
        // Ferry names every job after its request (`create_job_request`): a running job of
        // another name was started outside Ferry and holds a slot Ferry does not count.
        outside_jobs.extend(
            page.jobs
                .into_iter()
                .filter(|j| !job_names.contains(&j.name))
                .map(|j| OutsideJob {
                    arn: j.arn,
                    name: j.name,
                    model_name: j.model_name,
                    created_at: j.created,
                }),
        );
        match page.next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    let (imported_models_quota, concurrent_jobs_quota) = if read_quotas {
        (
            quota(ctx, env, IMPORTED_MODELS_QUOTA).await?,
            quota(ctx, env, CONCURRENT_IMPORT_JOBS_QUOTA).await?,
        )
    } else {
        (None, None)
    };
    Ok(Snapshot {
        models,
        jobs_running,
        outside_jobs,
        imported_models_quota,
        concurrent_jobs_quota,
    })
}

/// When each of `models` was last invoked, from CloudWatch: one `GetMetricData` call per page
/// of up to 500 models, each from the call budget. Access denied leaves the times unknown
/// (said in the log; the times stored earlier stay); other failures end the pass.
async fn last_invocations(
    ctx: &Ctx,
    env: &Environment,
    models: &mut [ListedModel],
) -> Result<(), PassError> {
    let now = OffsetDateTime::now_utc();
    let today = now.replace_time(time::Time::MIDNIGHT);
    let start = today - time::Duration::days(INVOCATION_LOOKBACK_DAYS - 1);
    // GetMetricData takes whole seconds; a minute ahead keeps the invocations of the last
    // second (and CloudWatch's late data points) in the window.
    let end = now + time::Duration::MINUTE;
    for chunk in models.chunks_mut(ferry_cloud::invocations::MAX_QUERIES) {
        let arns: Vec<String> = chunk.iter().map(|m| m.arn.clone()).collect();
        let mut token: Option<String> = None;
        loop {
            spend(ctx, env).await?;
            let page = match ctx
                .cloud
                .invocations_page(
                    &env.name,
                    &arns,
                    start,
                    end,
                    INVOCATION_PERIOD_SECS,
                    token.as_deref(),
                )
                .await
            {
                Ok(page) => page,
                Err(e @ CallError::AccessDenied { .. }) => {
                    tracing::warn!(env = %env.name, error = %e, "CloudWatch gave no invocation times; the stored ones stay");
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
            for m in chunk.iter_mut() {
                if let Some(t) = page.last.get(&m.arn) {
                    m.last_invoked_at = m.last_invoked_at.max(Some(*t));
                }
            }
            match page.next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_model_is_ferrys_by_its_request_tag() {
        let id = ImportId::new();
        let tags = vec![
            ("team".to_owned(), "x".to_owned()),
            (REQUEST_TAG.to_owned(), id.to_string()),
        ];
        assert_eq!(request_of(&tags), Some(Some(id)));
        assert_eq!(
            request_of(&[(REQUEST_TAG.to_owned(), "not-a-uuid".to_owned())]),
            Some(None),
            "a garbled tag still marks the model Ferry's"
        );
        assert_eq!(request_of(&[("team".to_owned(), "x".to_owned())]), None);
    }
}
