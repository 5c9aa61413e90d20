//! What the metrics endpoint reads from Postgres: the same on every replica, read
//! in one statement so a scrape costs one round trip.
//!
//! Every part is a `GROUP BY` over an index (`import_requests_status_environment_since`,
//! `import_requests_placement`, `webhook_deliveries_due`) or a table with a row per
//! hosting account and Region (`call_budgets`), so its rows are bounded by the
//! configuration (statuses x environments, placements), not by the number of requests.

use sqlx::PgConnection;

use crate::StoreError;

/// Import requests in one status of one environment.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusCount {
    pub status: String,
    pub environment: String,
    pub requests: i64,
    /// Seconds since the request longest in this status entered it.
    pub oldest_age_secs: f64,
}

/// One hosting account and Region's waiting line and what it holds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlacementState {
    pub account: String,
    pub region: String,
    /// Requests whose preflight passed, waiting for a job slot.
    pub waiting: i64,
    /// Seconds since the oldest of them entered `validating`; 0 when none waits.
    pub waiting_oldest_age_secs: f64,
    /// Import jobs being submitted or running.
    pub jobs_in_flight: i64,
    /// Imported models held or being imported (and being deleted).
    pub models: i64,
}

/// One hosting account and Region's call budget.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetState {
    pub account: String,
    pub region: String,
    /// Tokens now: the stored ones refilled at `per_second` up to `burst`.
    pub tokens: f64,
}

/// Everything the endpoint reports from the database.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub statuses: Vec<StatusCount>,
    pub placements: Vec<PlacementState>,
    pub budgets: Vec<BudgetState>,
    /// Webhook deliveries not yet delivered nor given up on.
    pub webhook_backlog: i64,
    /// Seconds since the oldest of them was written; 0 when there is none.
    pub webhook_backlog_oldest_age_secs: f64,
}

/// Reads the [`Snapshot`] in one statement. `per_second` and `burst` are the call
/// budget's settings, to report its tokens as of now.
pub async fn snapshot(
    conn: &mut PgConnection,
    per_second: f64,
    burst: f64,
) -> Result<Snapshot, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT 'status' AS "part!", status AS "a!", environment AS "b!",
                  count(*) AS "n!", 0::bigint AS "m!",
                  EXTRACT(EPOCH FROM now() - min(status_since))::float8 AS "x!"
           FROM import_requests GROUP BY status, environment
           UNION ALL
           SELECT 'placement', hosting_account, region,
                  count(*) FILTER (WHERE status = 'validating' AND preflight_passed IS TRUE),
                  count(*) FILTER (WHERE status IN ('submitting', 'importing')),
                  COALESCE(EXTRACT(EPOCH FROM now() - min(status_since)
                      FILTER (WHERE status = 'validating' AND preflight_passed IS TRUE))::float8, 0)
           FROM import_requests
           WHERE status IN ('validating', 'submitting', 'importing', 'verifying', 'completed', 'deleting')
             AND hosting_account IS NOT NULL AND region IS NOT NULL
           GROUP BY hosting_account, region
           UNION ALL
           SELECT 'models', hosting_account, region,
                  count(*), 0, 0
           FROM import_requests
           WHERE status IN ('submitting', 'importing', 'verifying', 'completed', 'deleting')
             AND hosting_account IS NOT NULL AND region IS NOT NULL
           GROUP BY hosting_account, region
           UNION ALL
           SELECT 'budget', account, region, 0, 0,
                  LEAST($2::float8, tokens + EXTRACT(EPOCH FROM (clock_timestamp() - updated_at))::float8 * $1::float8)
           FROM call_budgets
           UNION ALL
           SELECT 'webhooks', '', '', count(*), 0,
                  COALESCE(EXTRACT(EPOCH FROM now() - min(created_at))::float8, 0)
           FROM webhook_deliveries WHERE status = 'pending'"#,
        per_second,
        burst
    )
    .fetch_all(conn)
    .await?;
    let mut snap = Snapshot::default();
    for r in rows {
        match r.part.as_str() {
            "status" => snap.statuses.push(StatusCount {
                status: r.a,
                environment: r.b,
                requests: r.n,
                oldest_age_secs: r.x.max(0.0),
            }),
            "placement" => {
                let p = placement(&mut snap.placements, r.a, r.b);
                p.waiting = r.n;
                p.jobs_in_flight = r.m;
                p.waiting_oldest_age_secs = r.x.max(0.0);
            }
            "models" => placement(&mut snap.placements, r.a, r.b).models = r.n,
            "budget" => snap.budgets.push(BudgetState {
                account: r.a,
                region: r.b,
                tokens: r.x,
            }),
            "webhooks" => {
                snap.webhook_backlog = r.n;
                snap.webhook_backlog_oldest_age_secs = r.x.max(0.0);
            }
            _ => {}
        }
    }
    Ok(snap)
}

fn placement(
    all: &mut Vec<PlacementState>,
    account: String,
    region: String,
) -> &mut PlacementState {
    let i = match all
        .iter()
        .position(|p| p.account == account && p.region == region)
    {
        Some(i) => i,
        None => {
            all.push(PlacementState {
                account,
                region,
                ..PlacementState::default()
            });
            all.len() - 1
        }
    };
    &mut all[i]
}
