//! Wiring the import pipeline from the configuration: AWS clients and the worker.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferry_cloud::{Cloud, CloudOptions, EnvTarget};
use ferry_domain::catalog::Catalog;
use ferry_store::PgPool;
use ferry_worker::inventory::InventorySettings;
use ferry_worker::{Backoff, Placement, Quota, Settings};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, OnModelLimit, QuotaSource};

pub(crate) fn cloud_options(config: &Config) -> CloudOptions {
    let aws = &config.aws;
    CloudOptions {
        endpoint_url: aws.endpoint_url.clone(),
        static_credentials: match (&aws.access_key_id, &aws.secret_access_key) {
            (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
            _ => None,
        },
        session_name: aws.session_name.clone(),
        retry_max_attempts: aws.retry_max_attempts,
    }
}

pub(crate) fn env_targets(config: &Config, catalog: &Catalog) -> Vec<EnvTarget> {
    catalog
        .environments()
        .map(|e| {
            let mut target = EnvTarget::from_environment(e);
            if let Some(c) = config.environments.get(e.name.as_str()) {
                target.external_id.clone_from(&c.external_id);
                target.session_tags = c.session_tags.clone().into_iter().collect();
            }
            target
        })
        .collect()
}

pub(crate) fn worker_settings(config: &Config, owner: String) -> Settings {
    let w = &config.worker;
    let mut placements: BTreeMap<(String, String), Placement> = BTreeMap::new();
    for (name, e) in &config.environments {
        let key = (e.account_id.to_string(), e.region.to_string());
        let placement = placements.entry(key).or_insert_with(|| Placement {
            account: e.account_id.clone(),
            region: e.region.clone(),
            quota: Quota {
                concurrent_jobs: i64::from(e.max_concurrent_imports),
                imported_models: i64::from(e.max_imported_models),
            },
            refuse_over_model_limit: e.on_model_limit == OnModelLimit::Refuse,
            reuse: BTreeMap::new(),
        });
        placement.reuse.insert(name.clone(), e.model_reuse);
    }
    Settings {
        owner,
        lease: Duration::from_secs(w.lease_secs.max(1)),
        batch: i64::from(w.batch.max(1)),
        tick: Duration::from_millis(w.tick_millis.max(10)),
        poll: Backoff::new(
            Duration::from_secs(w.poll_initial_secs),
            Duration::from_secs(w.poll_max_secs),
        ),
        retry: Backoff::new(
            Duration::from_secs(w.retry_initial_secs),
            Duration::from_secs(w.retry_max_secs),
        ),
        list_threshold: w.list_threshold as usize,
        budget_per_second: w.budget_per_second,
        budget_burst: w.budget_burst,
        placements: placements.into_values().collect(),
        role_propagation_window: Duration::from_secs(w.role_propagation_secs),
        readiness_timeout: Duration::from_secs(w.readiness_timeout_secs),
        readiness: Backoff::new(
            Duration::from_secs(w.readiness_initial_secs.max(1)),
            Duration::from_secs(w.readiness_max_secs.max(1)),
        ),
        prices: config.pricing.custom_model_units.clone(),
        inventory: (w.inventory_interval_secs > 0).then(|| InventorySettings {
            interval: Duration::from_secs(w.inventory_interval_secs),
            configured_quotas: config
                .environments
                .values()
                .filter(|e| e.quota_source == QuotaSource::Config)
                .map(|e| (e.account_id.to_string(), e.region.to_string()))
                .collect(),
        }),
    }
}

/// A unique lease owner for this process: host, pid and a random suffix.
pub(crate) fn owner_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "ferry".to_owned());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// The AWS clients for every environment. Builds no connection yet: roles
/// are assumed on first use.
pub(crate) async fn build_cloud(config: &Config, catalog: &Catalog) -> anyhow::Result<Arc<Cloud>> {
    let cloud = Cloud::new(cloud_options(config), env_targets(config, catalog))
        .await
        .context("building the AWS clients")?;
    Ok(Arc::new(cloud))
}

/// Starts the worker loop and the webhook dispatcher until `shutdown`.
pub(crate) fn start_worker(
    config: &Config,
    pool: PgPool,
    catalog: Arc<Catalog>,
    cloud: Arc<Cloud>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let owner = owner_name();
    let webhooks = tokio::spawn(ferry_worker::webhooks::run(
        pool.clone(),
        config.webhook_settings(owner.clone()),
        shutdown.clone(),
    ));
    let ctx = Arc::new(ferry_worker::Ctx {
        pool,
        cloud,
        catalog,
        settings: worker_settings(config, owner),
    });
    let imports = tokio::spawn(ferry_worker::run(ctx, shutdown));
    tokio::spawn(async move {
        let _ = tokio::join!(imports, webhooks);
    })
}
