//! The HTTP server loop: HTTP/1.1 connections with limits a slow or idle
//! client cannot outwait.
//!
//! - at most [`ConnectionLimits::max_connections`] connections at once;
//!   further ones wait in the listen backlog until one closes;
//! - a request's head (request line and headers) must arrive within
//!   [`ConnectionLimits::header_read_timeout`], counted from the connection's
//!   start for the first request and from its first byte for later ones;
//! - a kept-alive connection waiting for its next request is closed after
//!   [`ConnectionLimits::idle_timeout`].
//!
//! While a request is in flight (its handler running or its response, an
//! event stream say, being written) neither timeout applies: the router's
//! request timeout bounds handlers. Each request carries the peer's address
//! as `ConnectInfo<SocketAddr>`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// Limits on client connections (configuration `server.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// Most header lines the HTTP layer parses; the router refuses more than
/// [`crate::MAX_HEADERS`] with a problem+json 431 before this is reached.
const PARSER_MAX_HEADERS: usize = 2 * crate::MAX_HEADERS;

/// Serves `app` on `listener` until `shutdown` resolves, then lets open
/// connections finish their requests and returns when all have closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, a connection reset before
                    // accept: keep serving the others.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            connection(stream, peer, app, limits, stop).await;
            drop(permit);
        });
    }
    let _ = stop_tx.send(true);
    // Every connection holds a permit until it ends.
    let _ = permits.acquire_many(max as u32).await;
    Ok(())
}

/// What the timeouts of one connection depend on.
#[derive(Debug)]
struct State {
    in_flight: usize,
    /// When the connection started, or its last response finished.
    waiting_since: Instant,
    /// The first byte of the next request's head, while none is in flight.
    first_byte: Option<Instant>,
    /// A request has been answered: later waits are keep-alive idling.
    served: bool,
}

#[derive(Debug)]
struct Activity(Mutex<State>);

impl Activity {
    fn new() -> Self {
        Self(Mutex::new(State {
            in_flight: 0,
            waiting_since: Instant::now(),
            first_byte: None,
            served: false,
        }))
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn read(&self) {
        self.with(|s| {
            if s.in_flight == 0 && s.first_byte.is_none() {
                s.first_byte = Some(Instant::now());
            }
        });
    }

    fn begin(&self) {
        self.with(|s| {
            s.in_flight += 1;
            s.first_byte = None;
        });
    }

    fn end(&self) {
        self.with(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight == 0 {
                s.waiting_since = Instant::now();
                s.first_byte = None;
                s.served = true;
            }
        });
    }

    /// When the connection is to be closed unless a request starts first;
    /// `None` while one is in flight.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        self.with(|s| {
            if s.in_flight > 0 {
                None
            } else if !s.served {
                Some(s.waiting_since + limits.header_read_timeout)
            } else {
                Some(match s.first_byte {
                    Some(t) => t + limits.header_read_timeout,
                    None => s.waiting_since + limits.idle_timeout,
                })
            }
        })
    }
}

/// Ends a request's time in flight when dropped: with its response body,
/// once the body has been written (or the connection is gone).
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// The socket, noting when bytes arrive.
#[derive(Debug)]
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        res
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: Arc::clone(&activity),
    });
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            activity.begin();
            let guard = InFlight(Arc::clone(&activity));
            let app = app.clone();
            async move {
                let res = app.oneshot(req.map(Body::new)).await;
                res.map(|res| {
                    res.map(|body| {
                        Body::new(body.map_frame(move |frame| {
                            let _ = &guard;
                            frame
                        }))
                    })
                })
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .max_headers(PARSER_MAX_HEADERS)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        // Re-checked at least this often while a request is in flight.
        let wake = activity
            .deadline(&limits)
            .unwrap_or_else(|| Instant::now() + limits.header_read_timeout);
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_err() || *stop.borrow() {
                    conn.as_mut().graceful_shutdown();
                }
            }
            () = tokio::time::sleep_until(wake) => {
                if activity.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!(%peer, "closing a connection that sent no complete request in time");
                    return;
                }
            }
        }
    }
}
