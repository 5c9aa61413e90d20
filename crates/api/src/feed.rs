//! This process's view of the event feed: one `LISTEN` connection whose
//! notifications (from any replica, delivered at commit) wake every open
//! event stream, which then reads the table from where it stands.

use ferry_store::PgPool;
use ferry_store::notify::{EVENTS_CHANNEL, Listener};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Wakes event streams; ends them at shutdown. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Feed {
    wake: watch::Receiver<u64>,
    shutdown: CancellationToken,
}

impl Feed {
    /// Starts listening. Streams end when `shutdown` is cancelled, so a
    /// graceful shutdown is not held up by clients that never hang up.
    pub fn start(pool: &PgPool, shutdown: CancellationToken) -> Self {
        let (tx, rx) = watch::channel(0u64);
        let pool = pool.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let mut listener = tokio::select! {
                () = stop.cancelled() => return,
                l = Listener::start(&pool, &[EVENTS_CHANNEL], "events") => l,
            };
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = listener.next() => {
                        tx.send_modify(|n| *n = n.wrapping_add(1));
                    }
                }
            }
        });
        Self { wake: rx, shutdown }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.wake.clone()
    }

    pub(crate) fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}
