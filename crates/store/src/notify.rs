//! `LISTEN/NOTIFY`: wakes workers, dispatchers and event streams on every
//! replica when something they wait for was committed.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};

use crate::StoreError;

/// The channel of new work or a freed slot: notified by the `import_requests`
/// trigger on a status change, and by a [`Nudge`] after new requests commit.
pub const WORK_CHANNEL: &str = "ferry_work";
/// The channel `event_feed_number` notifies with each new feed position.
pub const EVENTS_CHANNEL: &str = "ferry_events";
/// The channel notified when tokens are revoked, changed or deleted.
pub const TOKENS_CHANNEL: &str = "ferry_tokens";
/// The channel notified when a webhook delivery is queued.
pub const WEBHOOKS_CHANNEL: &str = "ferry_webhooks";

/// One reconnect attempt may take this long (the listener's own pool's
/// acquire timeout): short, so a reconnect is tried often while the
/// database is away.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The first and the longest wait between two reconnect attempts.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// While the database is away, a failed reconnect is logged at most this often.
pub const FAILURE_LOG_EVERY: Duration = Duration::from_secs(30);

/// A dedicated connection listening on some channels, which reconnects by
/// itself when the connection is lost.
#[derive(Debug)]
pub struct Listener {
    /// A one-connection pool of its own, so listening takes no slot from the
    /// caller's pool and never holds up its `close()`.
    own: PgPool,
    channels: Vec<String>,
    /// Names the loop in log lines (`worker`, `webhooks`, `events`).
    who: String,
    inner: Option<PgListener>,
    outage: Outage,
    retry_at: Option<Instant>,
}

impl Listener {
    /// Listens on a dedicated connection made with `pool`'s options, or
    /// fails when that connection cannot be made now.
    pub async fn connect(pool: &PgPool, channels: &[&str]) -> Result<Self, StoreError> {
        let mut l = Self::new(pool, channels, "listener");
        l.inner = Some(l.open().await?);
        Ok(l)
    }

    /// Listens, or logs why not: the listener then connects in [`Self::next`]
    /// once the database answers, and the caller wakes on its timer meanwhile.
    pub async fn start(pool: &PgPool, channels: &[&str], who: &str) -> Self {
        let mut l = Self::new(pool, channels, who);
        match l.open().await {
            Ok(inner) => l.inner = Some(inner),
            Err(e) => l.failed(&e),
        }
        l
    }

    fn new(pool: &PgPool, channels: &[&str], who: &str) -> Self {
        let own = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy_with((*pool.connect_options()).clone());
        Self {
            own,
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            who: who.to_owned(),
            inner: None,
            outage: Outage::default(),
            retry_at: None,
        }
    }

    async fn open(&self) -> Result<PgListener, StoreError> {
        let mut inner = PgListener::connect_with(&self.own).await?;
        // A lost connection is re-made here, by `next`, not inside sqlx.
        inner.eager_reconnect(false);
        inner
            .listen_all(self.channels.iter().map(String::as_str))
            .await?;
        Ok(inner)
    }

    /// A failed attempt to (re)connect: logged at most every
    /// [`FAILURE_LOG_EVERY`], and the next attempt backed off.
    fn failed(&mut self, e: &dyn std::fmt::Display) {
        let now = Instant::now();
        let failures = self.outage.failed(now);
        if let Some(failures) = failures.logged {
            tracing::warn!(
                error = %e,
                failures,
                "{}: cannot LISTEN; reconnecting in the background (logged at most every {}s)",
                self.who,
                FAILURE_LOG_EVERY.as_secs()
            );
        }
        let shift = failures.total.saturating_sub(1).min(8);
        let delay = RETRY_FIRST.saturating_mul(1 << shift).min(RETRY_MAX);
        self.retry_at = Some(now + delay);
    }

    /// Resolves at the next notification, taking with it those that arrived
    /// together with it or while the caller was busy: a burst of commits
    /// (a batch of creates, a scheduler pass) is one wake-up, not one per
    /// row. Returns how many notifications it took.
    pub async fn next_burst(&mut self) -> usize {
        self.next().await;
        1 + self.drain().await
    }

    /// Takes the notifications that have already arrived, without waiting,
    /// so a burst that came in while the caller was busy costs one wake-up,
    /// not one per notification. Returns how many were taken.
    pub async fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Some(inner) = &mut self.inner {
            // A zero timeout polls `try_recv` once: it completes when a
            // notification is already buffered or readable, and is dropped
            // otherwise (the listener keeps partial reads, as in every
            // `select!` over `next`).
            match tokio::time::timeout(Duration::ZERO, inner.try_recv()).await {
                Ok(Ok(Some(_))) => n += 1,
                Ok(Ok(None)) => {
                    tracing::warn!("{}: LISTEN connection lost; reconnecting", self.who);
                    self.inner = None;
                    self.outage.lost();
                }
                Ok(Err(e)) => {
                    self.inner = None;
                    self.failed(&e);
                }
                Err(_) => break,
            }
        }
        n
    }

    /// Resolves at the next notification, and once after the connection was
    /// re-made (notifications sent meanwhile are lost, so every waiter
    /// re-reads its tables and misses nothing). While the database is away
    /// it keeps trying to reconnect and does not resolve. Cancel-safe: a
    /// cancelled call leaves the listener ready to go on.
    pub async fn next(&mut self) {
        loop {
            if let Some(inner) = &mut self.inner {
                match inner.try_recv().await {
                    Ok(Some(_)) => return,
                    Ok(None) => {
                        tracing::warn!("{}: LISTEN connection lost; reconnecting", self.who);
                        self.inner = None;
                        self.outage.lost();
                    }
                    Err(e) => {
                        self.inner = None;
                        self.failed(&e);
                    }
                }
            }
            if let Some(at) = self.retry_at {
                tokio::time::sleep_until(at.into()).await;
            }
            match self.open().await {
                Ok(inner) => {
                    self.inner = Some(inner);
                    self.retry_at = None;
                    if let Some(failures) = self.outage.recovered() {
                        tracing::info!(
                            failures,
                            "{}: LISTEN reconnected; catching up on what was missed",
                            self.who
                        );
                    }
                    return;
                }
                Err(e) => self.failed(&e),
            }
        }
    }
}

/// What a failed attempt asks of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failures {
    /// Failed attempts since the connection was lost.
    total: u32,
    /// `Some(failed attempts so far)` when this one is to be logged.
    logged: Option<u32>,
}

/// An interruption of the LISTEN connection, for its log lines: the first
/// failure and then one every [`FAILURE_LOG_EVERY`], and one line when the
/// connection is back.
#[derive(Debug, Default)]
struct Outage {
    down: bool,
    failures: u32,
    last_logged: Option<Instant>,
}

impl Outage {
    /// The connection was lost (logged by the caller).
    fn lost(&mut self) {
        self.down = true;
    }

    fn failed(&mut self, now: Instant) -> Failures {
        self.down = true;
        self.failures = self.failures.saturating_add(1);
        let due = self
            .last_logged
            .is_none_or(|at| now.saturating_duration_since(at) >= FAILURE_LOG_EVERY);
        if due {
            self.last_logged = Some(now);
        }
        Failures {
            total: self.failures,
            logged: due.then_some(self.failures),
        }
    }

    /// The connection is back: `Some(failed attempts)` after an interruption
    /// (to be logged once), `None` when there was none.
    fn recovered(&mut self) -> Option<u32> {
        let was = std::mem::take(self);
        was.down.then_some(was.failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_logged_at_most_every_30_seconds_and_the_recovery_once() {
        let start = Instant::now();
        let mut outage = Outage::default();
        let mut logged = Vec::new();
        // One attempt every half second for 75 s.
        for i in 0..150u64 {
            let now = start + Duration::from_millis(500 * i);
            if let Some(n) = outage.failed(now).logged {
                logged.push((now - start, n));
            }
        }
        assert_eq!(
            logged,
            vec![
                (Duration::ZERO, 1),
                (Duration::from_secs(30), 61),
                (Duration::from_secs(60), 121),
            ]
        );
        assert_eq!(outage.recovered(), Some(150));
        assert_eq!(outage.recovered(), None, "the recovery is logged once");
        // A new outage logs its first failure at once.
        assert_eq!(outage.failed(start).logged, Some(1));
    }

    #[test]
    fn a_connection_lost_and_made_again_at_once_is_one_recovery() {
        let mut outage = Outage::default();
        assert_eq!(outage.recovered(), None, "nothing to log without an outage");
        outage.lost();
        assert_eq!(outage.recovered(), Some(0));
        assert_eq!(outage.recovered(), None);
    }
}

/// At most one [`Nudge`] notification per this long from one process.
const NUDGE_EVERY: Duration = Duration::from_millis(10);

/// Tells every replica (workers, event readers, webhook dispatchers) on
/// [`WORK_CHANNEL`] that new requests were committed, outside the
/// transactions that committed them.
///
/// A `NOTIFY` inside a transaction takes Postgres's notification queue lock
/// at commit and holds it until the commit is flushed, so notifying commits
/// go one at a time: with the notification in the create's own commit,
/// creates ran at 780–870 req/s against 1,290–1,300 without it (32
/// connections, 2 cores, 2026-12-01). A nudge only marks that something was
/// committed; one task sends a single notification for every nudge since the
/// last, at most once per 10 ms, on a connection of the pool. A notification
/// that cannot be sent is logged and dropped: workers also wake on their
/// timer (`worker.tick`), so it costs latency, never work.
#[derive(Debug, Clone)]
pub struct Nudge {
    wake: std::sync::Arc<tokio::sync::Notify>,
}

impl Nudge {
    /// Starts the sending task, which ends when `stop` completes.
    pub fn start(
        pool: &PgPool,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Self {
        let wake = std::sync::Arc::new(tokio::sync::Notify::new());
        let pool = pool.clone();
        let woken = std::sync::Arc::clone(&wake);
        tokio::spawn(async move {
            let mut stop = std::pin::pin!(stop);
            loop {
                tokio::select! {
                    () = &mut stop => return,
                    () = woken.notified() => {}
                }
                let sent = tokio::time::Instant::now();
                if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
                    .bind(WORK_CHANNEL)
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(error = %e, "could not notify the workers of new requests; they wake on their timer");
                }
                // Nudges meanwhile left one permit: the next notification
                // stands for all of them.
                tokio::time::sleep_until(sent + NUDGE_EVERY).await;
            }
        });
        Self { wake }
    }

    /// Something was committed that workers should see soon.
    pub fn nudge(&self) {
        self.wake.notify_one();
    }
}
