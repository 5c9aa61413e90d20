//! `LISTEN/NOTIFY`: wakes workers, dispatchers and event streams on every
//! replica when something they wait for was committed.

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};

use crate::StoreError;

/// The channel the `import_requests` triggers notify: new work or a freed slot.
pub const WORK_CHANNEL: &str = "ferry_work";
/// The channel `event_feed_number` notifies with each new feed position.
pub const EVENTS_CHANNEL: &str = "ferry_events";
/// The channel notified when a webhook delivery is queued.
pub const WEBHOOKS_CHANNEL: &str = "ferry_webhooks";

/// A dedicated connection listening on some channels.
#[derive(Debug)]
pub struct Listener {
    inner: PgListener,
}

impl Listener {
    /// Listens on a dedicated connection made with `pool`'s options, so it
    /// takes no slot from the pool and never holds up `pool.close()`.
    pub async fn connect(pool: &PgPool, channels: &[&str]) -> Result<Self, StoreError> {
        let own = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with((*pool.connect_options()).clone());
        let mut inner = PgListener::connect_with(&own).await?;
        inner.listen_all(channels.iter().copied()).await?;
        Ok(Self { inner })
    }

    /// Connects, or logs why not and returns `None`: the caller then wakes
    /// on its timer only.
    pub async fn connect_or_poll(pool: &PgPool, channels: &[&str], who: &str) -> Option<Self> {
        match Self::connect(pool, channels).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "{who}: LISTEN failed; waking on the timer only");
                None
            }
        }
    }

    /// The next notification of `listener` and every one already behind it
    /// (see [`Listener::next_burst`]), or never when there is no listener.
    pub async fn next_burst_of(listener: &mut Option<Self>) -> usize {
        match listener {
            Some(l) => l.next_burst().await,
            None => std::future::pending().await,
        }
    }

    /// Resolves at the next notification, taking with it those that arrived
    /// together with it or while the caller was busy: a burst of commits
    /// (a batch of creates, a scheduler pass) is one wake-up, not one per
    /// row. Returns how many notifications it took.
    pub async fn next_burst(&mut self) -> usize {
        self.next().await;
        1 + self.drain().await
    }

    /// The next notification of `listener`, or never when there is none.
    pub async fn next_of(listener: &mut Option<Self>) {
        match listener {
            Some(l) => l.next().await,
            None => std::future::pending().await,
        }
    }

    /// Takes the notifications that have already arrived, without waiting,
    /// so a burst that came in while the caller was busy costs one wake-up,
    /// not one per notification. Returns how many were taken.
    pub async fn drain(&mut self) -> usize {
        let mut n = 0;
        // A zero timeout polls `recv` once: it completes when a notification
        // is already buffered or readable, and is dropped otherwise (as in
        // every `select!` over `next`, the listener keeps partial reads).
        while let Ok(Ok(_)) =
            tokio::time::timeout(std::time::Duration::ZERO, self.inner.recv()).await
        {
            n += 1;
        }
        n
    }

    /// Resolves at the next notification. Errors (a dropped connection) are
    /// logged and treated as a wake-up: the listener reconnects by itself,
    /// and every waiter re-reads the tables, so nothing missed meanwhile is lost.
    pub async fn next(&mut self) {
        if let Err(e) = self.inner.recv().await {
            tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
            // Avoid a hot loop while the server is unreachable.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
}
