//! `ferry serve`: the API on one listener, shut down gracefully on SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;

pub(crate) async fn run(config: &Config) -> anyhow::Result<()> {
    let catalog = config.catalog()?;
    let pool = ferry_store::connect(config.database_url()?, config.database.max_connections)
        .await
        .context("connecting to the database")?;
    ferry_store::migrate(&pool)
        .await
        .context("applying migrations")?;
    let state = ferry_api::AppState {
        pool: pool.clone(),
        catalog: Arc::new(catalog),
        settings: Arc::new(config.api_settings()),
    };
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "ferry API listening");
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let server =
        axum::serve(listener, ferry_api::router(state)).with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested; finishing in-flight requests");
            let _ = stop_tx.send(());
        });
    let mut stop_rx = stop_rx;
    tokio::select! {
        res = server => res.context("serving HTTP")?,
        () = async {
            let _ = stop_rx.changed().await;
            tokio::time::sleep(grace).await;
        } => tracing::warn!(?grace, "in-flight requests did not finish in time"),
    }
    pool.close().await;
    tracing::info!("ferry stopped");
    Ok(())
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
