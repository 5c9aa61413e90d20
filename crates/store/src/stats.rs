//! What the metrics endpoint reads from Postgres: the same on every replica, read
//! in one statement so a scrape costs one round trip.
//!
//! Every part reads rows bounded by the configuration (statuses x environments,
//! placements) or by the work in progress, never by the number of requests
//! stored: counts from the counter tables kept by triggers (`status_counts`,
//! `placement_usage`), each status and environment's oldest request by one
//! probe of `import_requests_status_environment_since`, the waiting line
//! through `import_requests_waiting`, and the backlog through
//! `webhook_deliveries_due`.

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
    /// Per environment with an `idle_after_days`: Ferry's imported models idle at least that
    /// long (deletion candidates). Read from `account_models`, bounded by what the hosting
    /// accounts hold.
    pub deletion_candidates: Vec<(String, i64)>,
}

/// Reads the [`Snapshot`] in one statement. `per_second` and `burst` are the call
/// budget's settings, to report its tokens as of now; `idle_after_days` the environments'
/// limits for deletion candidates.
pub async fn snapshot(
    conn: &mut PgConnection,
    per_second: f64,
    burst: f64,
    idle_after_days: &[(String, i32)],
) -> Result<Snapshot, StoreError> {
    let idle_envs: Vec<String> = idle_after_days.iter().map(|(e, _)| e.clone()).collect();
    let idle_days: Vec<i32> = idle_after_days.iter().map(|(_, d)| *d).collect();
    let rows = sqlx::query!(
        r#"SELECT 'status' AS "part!", c.status AS "a!", c.environment AS "b!",
                  c.requests AS "n!", 0::bigint AS "m!",
                  COALESCE(EXTRACT(EPOCH FROM now() - (
                      SELECT min(r.status_since) FROM import_requests r
                      WHERE r.status = c.status AND r.environment = c.environment))::float8, 0) AS "x!"
           FROM (SELECT status, environment, sum(requests)::bigint AS requests
                 FROM status_counts GROUP BY status, environment) c
           WHERE c.requests > 0
           UNION ALL
           SELECT 'placement', u.hosting_account, u.region,
                  COALESCE(w.waiting, 0), u.in_flight, COALESCE(w.oldest, 0)
           FROM placement_usage u
           LEFT JOIN (
               SELECT hosting_account, region, count(*) AS waiting,
                      EXTRACT(EPOCH FROM now() - min(status_since))::float8 AS oldest
               FROM import_requests
               WHERE status = 'validating' AND preflight_passed IS TRUE
               GROUP BY hosting_account, region) w
             ON w.hosting_account = u.hosting_account AND w.region = u.region
           UNION ALL
           SELECT 'placement', w.hosting_account, w.region, count(*), 0,
                  EXTRACT(EPOCH FROM now() - min(w.status_since))::float8
           FROM import_requests w
           WHERE w.status = 'validating' AND w.preflight_passed IS TRUE
             AND w.hosting_account IS NOT NULL AND w.region IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM placement_usage u
                             WHERE u.hosting_account = w.hosting_account AND u.region = w.region)
           GROUP BY w.hosting_account, w.region
           UNION ALL
           SELECT 'models', hosting_account, region, models, 0, 0
           FROM placement_usage
           UNION ALL
           SELECT 'budget', account, region, 0, 0,
                  LEAST($2::float8, tokens + EXTRACT(EPOCH FROM (clock_timestamp() - updated_at))::float8 * $1::float8)
           FROM call_budgets
           UNION ALL
           SELECT 'webhooks', '', '', count(*), 0,
                  COALESCE(EXTRACT(EPOCH FROM now() - min(created_at))::float8, 0)
           FROM webhook_deliveries WHERE status = 'pending'
           UNION ALL
           SELECT 'idle', r.environment, '', count(*), 0, 0
           FROM account_models m
           JOIN import_requests r ON r.id = m.request_id
           JOIN UNNEST($3::text[], $4::int4[]) AS e(env, days) ON e.env = r.environment
           WHERE m.managed AND r.status = 'completed'
             AND GREATEST(m.last_invoked_at, r.finished_at) <= now() - make_interval(days => e.days)
           GROUP BY r.environment"#,
        per_second,
        burst,
        &idle_envs,
        &idle_days
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
            "idle" => snap.deletion_candidates.push((r.a, r.n)),
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
