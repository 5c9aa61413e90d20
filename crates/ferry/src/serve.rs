//! `ferry serve` (API and worker) and `ferry worker` (worker alone), shut
//! down gracefully on SIGTERM: the API drains in-flight requests, the worker
//! finishes its steps and releases its leases.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// What this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Roles {
    pub api: bool,
    pub worker: bool,
}

pub(crate) async fn run(config: &Config, roles: Roles) -> anyhow::Result<()> {
    let catalog = Arc::new(config.catalog()?);
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested; finishing in-flight work");
        stop.cancel();
    });
    let Some(pool) = wait_for_database(config, &shutdown).await? else {
        tracing::info!("shutdown requested while waiting for the database; ferry stopped");
        return Ok(());
    };
    ferry_store::migrate(&pool)
        .await
        .context("applying migrations")?;
    reseal_webhook_secrets(config, &pool).await?;
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    if let Some(listen) = config.metrics.listen {
        crate::exporter::start(config, listen, pool.clone(), shutdown.clone()).await?;
    }

    let cloud = crate::pipeline::build_cloud(config, &catalog).await?;
    let worker = roles.worker.then(|| {
        crate::pipeline::start_worker(
            config,
            pool.clone(),
            Arc::clone(&catalog),
            Arc::clone(&cloud),
            shutdown.clone(),
        )
    });

    if roles.api {
        let oidc = start_oidc(config, &catalog).await?;
        let state = ferry_api::AppState {
            pool: pool.clone(),
            catalog: Arc::clone(&catalog),
            settings: Arc::new(config.api_settings()),
            cloud: Some(Arc::clone(&cloud)),
            feed: ferry_api::feed::Feed::start(&pool, shutdown.clone()),
            oidc,
            tokens: ferry_api::token_cache::TokenCache::start(&pool, shutdown.clone()),
            work: ferry_store::notify::Nudge::start(&pool, shutdown.clone().cancelled_owned()),
        };
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("binding {}", config.server.listen))?;
        tracing::info!(addr = %listener.local_addr()?, "ferry API listening");
        let stop = shutdown.clone();
        let server = ferry_api::serve(
            listener,
            ferry_api::router(state),
            config.connection_limits(),
            async move { stop.cancelled().await },
        );
        tokio::select! {
            res = server => res.context("serving HTTP")?,
            () = async {
                shutdown.cancelled().await;
                tokio::time::sleep(grace).await;
            } => tracing::warn!(?grace, "in-flight requests did not finish in time"),
        }
    } else {
        shutdown.cancelled().await;
    }

    if let Some(worker) = worker {
        shutdown.cancel();
        if tokio::time::timeout(grace, worker).await.is_err() {
            tracing::warn!(
                ?grace,
                "the worker did not stop in time; its leases will expire"
            );
        }
    }
    pool.close().await;
    tracing::info!("ferry stopped");
    Ok(())
}

/// Seals every webhook secret not yet sealed under the current key (plain
/// text from before encryption, or a key being rotated out), so the old key
/// can be dropped from the configuration once every replica has started.
async fn reseal_webhook_secrets(config: &Config, pool: &ferry_store::PgPool) -> anyhow::Result<()> {
    let Some(keys) = config.webhook_keys()? else {
        tracing::warn!(
            "no webhook key (webhooks.secret_key_file, FERRY_WEBHOOK_KEY): \
             webhooks cannot be created or rotated"
        );
        return Ok(());
    };
    let mut conn = ferry_store::acquire(pool)
        .await
        .context("resealing webhook secrets")?;
    let n = ferry_store::webhooks::reseal_all(&mut conn, &keys)
        .await
        .context("resealing webhook secrets")?;
    if n > 0 {
        tracing::info!(
            webhooks = n,
            key_id = keys.current_id(),
            "webhook secrets sealed under the current key"
        );
    }
    Ok(())
}

/// The longest pause between two attempts to reach the database at start.
const DATABASE_WAIT_MAX: Duration = Duration::from_secs(10);

/// Opens the pool, waiting with backoff (and a log line per attempt) while
/// the database is unavailable, so a replica started during an outage
/// serves once it is back instead of exiting. Any other failure (a wrong
/// password, an unknown database) stops the start. `None` when shutdown is
/// requested meanwhile.
async fn wait_for_database(
    config: &Config,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<ferry_store::PgPool>> {
    let url = config.database_url()?;
    let mut delay = Duration::from_millis(500);
    loop {
        let attempt = tokio::select! {
            () = shutdown.cancelled() => return Ok(None),
            res = ferry_store::connect(url, config.database.max_connections) => res,
        };
        match attempt {
            Ok(pool) => return Ok(Some(pool)),
            Err(e) if ferry_store::is_unavailable(&e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "waiting for the database to be reachable");
            }
            Err(e) => return Err(e).context("connecting to the database"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(None),
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(DATABASE_WAIT_MAX);
    }
}

/// The OIDC verifier with its keys loaded, when `[auth.oidc]` is set. A key
/// file that cannot be read stops the start; an unreachable key URL does not
/// (Ferry's own tokens keep working, and JWTs are answered 503 until the
/// keys can be fetched).
async fn start_oidc(
    config: &Config,
    catalog: &ferry_domain::catalog::Catalog,
) -> anyhow::Result<Option<Arc<ferry_api::oidc::OidcVerifier>>> {
    let Some(settings) = config.oidc_settings(catalog)? else {
        return Ok(None);
    };
    let file = matches!(settings.jwks, ferry_api::oidc::JwksSource::File(_));
    let verifier = ferry_api::oidc::OidcVerifier::new(settings)?;
    match verifier.load().await {
        Ok(keys) => tracing::info!(
            issuer = %verifier.settings().issuer,
            jwks = %verifier.settings().jwks,
            keys,
            "accepting OIDC tokens"
        ),
        Err(e) if file => return Err(e).context("auth.oidc.jwks_file"),
        Err(e) => tracing::warn!(
            error = %e,
            "the OIDC key set could not be fetched; retrying when a token arrives"
        ),
    }
    Ok(Some(Arc::new(verifier)))
}

/// Resolves on SIGTERM (Kubernetes, systemd) or Ctrl-C.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
