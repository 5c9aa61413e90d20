//! Telling "the database is away" from "the database is busy", quickly.
//!
//! When Postgres refuses connections, sqlx's pool keeps retrying the connect
//! until its acquire timeout (5 s) and only then gives up. A caller that
//! needs an answer now ([`acquire`], [`begin`]) waits a short while for the
//! pool; if no connection came, one direct connection attempt (no retries)
//! tells whether the server is there. Its outcome is shared, for a short
//! time, by every caller that asks about the same server, so an outage costs
//! one probe per half second, not one per request.
//!
//! A pool timeout alone says nothing: sqlx reports both "every connection
//! stayed in use" and "no connection could be opened" as `PoolTimedOut`.
//! When the probe finds the server answering, a pool timeout that follows is
//! [`StoreError::Busy`] (saturation: the API answers 503 "busy", the worker
//! keeps its pace); only a failed probe is [`StoreError::Unavailable`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};

use crate::StoreError;

/// How long a healthy pool may take to hand out a connection before we ask
/// whether the server is there at all.
const PATIENCE: Duration = Duration::from_millis(100);
/// A direct connection attempt that takes longer means the server is away.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one probe's outcome answers for everyone.
const PROBE_FRESH: Duration = Duration::from_millis(500);

/// The last probe of one server: when, and why it was away (`None`: it answered).
type Seen = Option<(Instant, Option<Arc<sqlx::Error>>)>;

/// The health of a database server is a fact about the server, shared by
/// every pool of this process that connects to it.
static SERVERS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<Seen>>>>> =
    LazyLock::new(Mutex::default);

/// Whether an error means the database cannot be reached (as opposed to a
/// query it refused): the connection failed, closed or timed out, or the
/// server is shutting down or starting up. A bare `PoolTimedOut` counts as
/// away here, the safe guess for a caller that cannot tell; [`acquire`] and
/// [`begin`] tell it apart from a busy pool by probing the server.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exception; 57P01..03: admin or crash shutdown,
        // cannot connect now.
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

/// A connection from the pool, or [`StoreError::Unavailable`] well within a
/// second when the server is away.
pub async fn acquire(pool: &PgPool) -> Result<PoolConnection<Postgres>, StoreError> {
    available(pool, pool.acquire()).await
}

/// A transaction on a connection from the pool, or
/// [`StoreError::Unavailable`] well within a second when the server is away.
pub async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, StoreError> {
    available(pool, pool.begin()).await
}

async fn available<T>(
    pool: &PgPool,
    work: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, StoreError> {
    let mut work = std::pin::pin!(work);
    if let Ok(done) = tokio::time::timeout(PATIENCE, &mut work).await {
        return Ok(done?);
    }
    metrics::counter!("ferry_db_pool_waits_total").increment(1);
    if let Some(away) = probe(pool).await {
        metrics::counter!("ferry_db_unavailable_total").increment(1);
        return Err(StoreError::Unavailable(away));
    }
    // The server is there; the pool is only busy.
    work.await.map_err(busy)
}

/// An error of a pool whose server answered the probe: a pool timeout means
/// every connection stayed in use.
fn busy(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolTimedOut => StoreError::Busy,
        e => e.into(),
    }
}

/// Why the server `pool` connects to is away, or `None` when it answers.
async fn probe(pool: &PgPool) -> Option<Arc<sqlx::Error>> {
    let options = pool.connect_options();
    let slot = {
        let mut servers = SERVERS.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(servers.entry(server(&options)).or_default())
    };
    let mut seen = slot.lock().await;
    if let Some((at, away)) = &*seen
        && at.elapsed() < PROBE_FRESH
    {
        return away.clone();
    }
    let away = match tokio::time::timeout(PROBE_TIMEOUT, PgConnection::connect_with(&options)).await
    {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            None
        }
        Ok(Err(e)) if is_unavailable(&e) => Some(Arc::new(e)),
        // The server answered (with a refusal the pool will report itself).
        Ok(Err(_)) => None,
        Err(_) => Some(Arc::new(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connecting to the database timed out",
        )))),
    };
    if let Some(e) = &away {
        tracing::warn!(error = %e, "the database is unavailable");
    }
    *seen = Some((Instant::now(), away.clone()));
    away
}

fn server(options: &PgConnectOptions) -> String {
    match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    }
}
