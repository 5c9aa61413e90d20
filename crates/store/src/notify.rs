//! `LISTEN/NOTIFY`: wakes workers on every replica when work appears.

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::StoreError;

/// The channel the `import_requests` triggers notify.
pub const WORK_CHANNEL: &str = "ferry_work";

#[derive(Debug)]
pub struct WorkListener {
    inner: PgListener,
}

impl WorkListener {
    pub async fn connect(pool: &PgPool) -> Result<Self, StoreError> {
        let mut inner = PgListener::connect_with(pool).await?;
        inner.listen(WORK_CHANNEL).await?;
        Ok(Self { inner })
    }

    /// Resolves at the next notification. Errors (a dropped connection) are
    /// logged and treated as a wake-up: the listener reconnects by itself,
    /// and the worker's timer covers anything missed meanwhile.
    pub async fn next(&mut self) {
        if let Err(e) = self.inner.recv().await {
            tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
            // Avoid a hot loop while the server is unreachable.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
}
