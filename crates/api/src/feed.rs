//! This process's view of the event feed: one reader per replica. It listens
//! for notifications (from any replica, delivered at commit), numbers what
//! was committed ([`ferry_store::feed::sequence`]) and reads it with one pool
//! connection, and broadcasts each message to every
//! open event stream, which filters it in memory. Idle streams hold no pool
//! connection; a stream that falls more than the buffer behind is dropped
//! and resumes from the database when its client reconnects.

use std::sync::Arc;
use std::time::Duration;

use ferry_domain::events::Message;
use ferry_store::PgPool;
use ferry_store::feed::{FeedFilter, page_upto, sequence};
use ferry_store::notify::{EVENTS_CHANNEL, Listener, WORK_CHANNEL};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Messages held for streams that have not taken them yet: a stream further
/// behind than this is dropped (its client resumes with `Last-Event-ID`).
pub const DEFAULT_BUFFER: usize = 1024;
/// Messages read from the database per query.
const PAGE: u32 = 500;
/// Look for events to number this often even without a notification:
/// writers do not notify (a `NOTIFY` serializes commits), so this bounds the
/// delay of an event committed without a status change. The look is one
/// indexed probe of an empty table.
const RECHECK: Duration = Duration::from_millis(200);
/// Wait this long before reading again after a failed read.
const RETRY: Duration = Duration::from_secs(1);

/// One message of the live feed, encoded once for every stream.
#[derive(Debug)]
pub(crate) struct Published {
    pub(crate) message: Message,
    /// `message` as JSON, the `data:` of its SSE event.
    pub(crate) json: String,
}

/// The live feed; ends streams at shutdown. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Feed {
    tx: broadcast::Sender<Arc<Published>>,
    buffer: usize,
    shutdown: CancellationToken,
}

impl Feed {
    /// Starts this replica's feed reader with the default buffer. Streams end
    /// when `shutdown` is cancelled, so a graceful shutdown is not held up by
    /// clients that never hang up.
    pub fn start(pool: &PgPool, shutdown: CancellationToken) -> Self {
        Self::start_with_buffer(pool, shutdown, DEFAULT_BUFFER)
    }

    /// [`Feed::start`] holding `buffer` messages (at least one) for slow streams.
    pub fn start_with_buffer(pool: &PgPool, shutdown: CancellationToken, buffer: usize) -> Self {
        let buffer = buffer.max(1);
        let (tx, _) = broadcast::channel(buffer);
        tokio::spawn(run(pool.clone(), tx.clone(), shutdown.clone()));
        Self {
            tx,
            buffer,
            shutdown,
        }
    }

    /// Messages published from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.tx.subscribe()
    }

    /// How many messages a stream may fall behind before it is dropped.
    pub(crate) fn buffer(&self) -> usize {
        self.buffer
    }

    pub(crate) fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// The reader: `LISTEN`, then on every wake-up (however many notifications
/// it stands for) read everything committed since the last read, in order,
/// and publish it. Published positions are consecutive, so a stream that
/// sees a jump knows it missed something.
async fn run(pool: PgPool, tx: broadcast::Sender<Arc<Published>>, stop: CancellationToken) {
    // Listen before reading the head, so nothing committed in between is
    // missed: to new positions (numbered by any replica) and to new work or
    // status changes, which most events come with.
    let mut listener = tokio::select! {
        () = stop.cancelled() => return,
        l = Listener::start(&pool, &[EVENTS_CHANNEL, WORK_CHANNEL], "events") => l,
    };
    let mut cursor = None;
    loop {
        let wait = match catch_up(&pool, &tx, &mut cursor).await {
            Ok(()) => RECHECK,
            Err(e) => {
                tracing::warn!(error = %e, "the event feed could not be read; retrying");
                RETRY
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            _ = listener.next_burst() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Numbers what was committed, publishes every message after `cursor` up to
/// the head, and moves `cursor` there. The first call only finds the head: streams read
/// what came before from the database themselves.
async fn catch_up(
    pool: &PgPool,
    tx: &broadcast::Sender<Arc<Published>>,
    cursor: &mut Option<i64>,
) -> Result<(), ferry_store::StoreError> {
    let mut conn = ferry_store::acquire(pool).await?;
    let upto = sequence(&mut conn).await?;
    let Some(mut after) = *cursor else {
        *cursor = Some(upto);
        return Ok(());
    };
    let everything = FeedFilter::default();
    while after < upto {
        let (page, resume) = page_upto(&mut conn, after, upto, &everything, PAGE).await?;
        for message in page {
            // Cannot fail for these types; if it did, stop here rather than
            // skip a position (the read is retried).
            let json = serde_json::to_string(&message).map_err(|e| {
                ferry_store::StoreError::Corrupt(format!(
                    "event {:?} cannot be encoded: {e}",
                    message.seq
                ))
            })?;
            // No receiver (no stream open) is not an error.
            let _ = tx.send(Arc::new(Published { message, json }));
        }
        after = resume;
        *cursor = Some(after);
    }
    Ok(())
}
