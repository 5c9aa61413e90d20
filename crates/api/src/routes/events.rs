//! `GET /v1/events`: the event feed as Server-Sent Events.
//!
//! Every import event gets a feed position (`id:`) in commit order, without
//! gaps, whichever replica recorded it. A client that reconnects with
//! `Last-Event-ID` gets exactly what it has not seen yet.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use ferry_domain::events::{Message, PING, import_event_kind};
use ferry_domain::ids::ImportId;
use ferry_store::PgPool;
use ferry_store::feed::{FeedFilter, next_page};
use http::{HeaderMap, HeaderValue, header};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::imports::{EventOut, load_visible};
use super::params;
use crate::auth::Caller;
use crate::extract::Query;
use crate::feed::{Feed, Published};
use crate::{ApiError, AppState};

/// Messages read from the database per query, while a stream catches up.
const PAGE: u32 = 200;
/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream_events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Only this request's events.
    import_id: Option<String>,
    /// Only this team's requests (researchers only ever get their own team's).
    team: Option<String>,
    /// Only this environment's requests.
    environment: Option<String>,
    /// Comma-separated message types, e.g.
    /// `import.status_changed,import.job_completed`; every type when absent.
    types: Option<String>,
    /// Resume after this feed position (the `id` of the last message seen);
    /// `0` replays the whole feed. A `Last-Event-ID` header takes precedence.
    /// Without either the stream starts with the events recorded from now on.
    #[param(minimum = 0)]
    after: Option<i64>,
}

/// One message of the event stream (the `data:` of each SSE event, whose
/// `id:` is `seq` and `event:` is `type`). Webhooks deliver the same JSON.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // documents the JSON that `ferry_domain::events::Message` writes
pub(crate) struct EventMessage {
    /// The feed position: one more for every import event committed, in
    /// commit order, on every replica. Absent on webhook test pings.
    seq: Option<i64>,
    /// `import.<kind>` (`import.created`, `import.status_changed`,
    /// `import.job_completed`, ...) or `webhook.ping`.
    #[serde(rename = "type")]
    event_type: String,
    #[serde(with = "time::serde::rfc3339")]
    timestamp: OffsetDateTime,
    data: EventMessageData,
}

#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct EventMessageData {
    import_id: Uuid,
    team: String,
    environment: String,
    model_name: String,
    /// The event, as `GET /v1/imports/{id}/events` lists it.
    event: EventOut,
}

fn header_cursor(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get("last-event-id") else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_last_event_id",
                "Last-Event-ID must be the id of a message this stream sent (a non-negative integer)",
            )
        })
}

fn parse_types(raw: &str) -> Result<Vec<String>, ApiError> {
    let mut kinds = Vec::new();
    for t in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match import_event_kind(t) {
            Some(k) => kinds.push(k.to_owned()),
            None if t == PING => {
                return Err(ApiError::invalid_query(
                    "types",
                    "event_type",
                    "webhook.ping is only sent to webhooks",
                ));
            }
            None => {
                let known = ferry_domain::events::IMPORT_EVENT_KINDS
                    .iter()
                    .map(|k| ferry_domain::events::import_event_type(k))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ApiError::invalid_query(
                    "types",
                    "event_type",
                    format!("unknown event type {t:?}; known types: {known}"),
                ));
            }
        }
    }
    if kinds.is_empty() {
        return Err(ApiError::invalid_query(
            "types",
            "event_type",
            "types names no event type",
        ));
    }
    Ok(kinds)
}

/// Streams import events as Server-Sent Events.
///
/// Each SSE event's `id` is its feed position, `event` its type and `data` an
/// `EventMessage`. Positions increase by one per event, in commit order, on
/// every replica: reconnect with `Last-Event-ID` (browsers' `EventSource`
/// does it by itself) to resume without missing or repeating one. Idle
/// streams get a `: keep-alive` comment every 15 seconds. A stream whose
/// client falls too far behind the live feed gets a `: dropped: …` comment
/// saying so and is closed; reconnecting with `Last-Event-ID` resumes it.
/// Researchers get their own team's events only.
#[utoipa::path(
    get, path = "/v1/events", tag = "events",
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<String>, Header,
            description = "The `id` of the last message received; the stream resumes after it."),
    ),
    responses(
        (status = 200, description = "An endless stream of events",
            content_type = "text/event-stream", body = EventMessage),
    ),
)]
async fn stream_events(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    let principal = &caller.0;
    let team = params::team(q.team.as_deref())?;
    let team = match (team, principal.team_scope()) {
        (Some(t), _) => {
            principal.can_read(&t).map_err(|_| {
                ApiError::forbidden(format!(
                    "{} may only follow events of team {}",
                    principal.name,
                    principal.team_scope().map_or("(none)", |s| s.as_str())
                ))
            })?;
            Some(t)
        }
        (None, Some(own)) => Some(own.clone()),
        (None, None) => None,
    };
    let environment = params::environment(q.environment.as_deref())?;
    let kinds = q.types.as_deref().map(parse_types).transpose()?;
    let import_id = match q.import_id.as_deref() {
        None => None,
        Some(raw) => {
            let id: ImportId = raw.parse().map_err(|_| {
                ApiError::invalid_query("import_id", "uuid", "import_id must be a UUID")
            })?;
            let mut conn = ferry_store::acquire(&state.pool).await?;
            load_visible(&mut conn, &caller, id).await?;
            Some(id)
        }
    };
    let filter = FeedFilter {
        import_id,
        team: team.map(|t| t.as_str().to_owned()),
        environment: environment.map(|e| e.as_str().to_owned()),
        kinds,
    };
    if q.after.is_some_and(|a| a < 0) {
        return Err(ApiError::invalid_query(
            "after",
            "range",
            "after must be a feed position (0 or more)",
        ));
    }
    let after = match header_cursor(&headers)?.or(q.after) {
        Some(a) => a,
        None => {
            let mut conn = ferry_store::acquire(&state.pool).await?;
            ferry_store::feed::head(&mut conn).await?
        }
    };
    tracing::info!(after, ?filter, "event stream opened");
    let reader = Reader {
        _open: OpenStream::new(),
        pool: state.pool.clone(),
        filter,
        after,
        buffered: VecDeque::new(),
        live: None,
        feed: state.feed.clone(),
        stop: state.feed.shutdown(),
        dropped: false,
    };
    let stream = futures::stream::unfold(reader, Reader::next);
    let mut res = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tell buffering proxies (nginx) to pass events through at once.
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(res)
}

/// Counts an open stream in [`crate::SSE_STREAMS`] from creation until dropped (the
/// client went away, or the stream ended).
struct OpenStream;

impl OpenStream {
    fn new() -> Self {
        metrics::gauge!(crate::SSE_STREAMS).increment(1.0);
        Self
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!(crate::SSE_STREAMS).decrement(1.0);
    }
}

/// One client's position in the feed. It first reads from the database what
/// it has not seen (a connection per page, released before the page is
/// sent), then follows the replica's live feed from memory.
struct Reader {
    /// Held for the stream's life.
    _open: OpenStream,
    pool: PgPool,
    filter: FeedFilter,
    /// The last position this stream has passed (sent, or filtered out).
    after: i64,
    buffered: VecDeque<Pending>,
    /// The live feed, once the database has nothing more for this stream.
    live: Option<broadcast::Receiver<Arc<Published>>>,
    feed: Feed,
    stop: CancellationToken,
    /// The stream fell behind and was told so: end it.
    dropped: bool,
}

/// A message waiting to be sent: read by this stream, or shared from the feed.
enum Pending {
    Read(Box<Message>),
    Live(Arc<Published>),
}

impl Pending {
    fn event(&self) -> Result<Event, serde_json::Error> {
        let (m, json) = match self {
            Pending::Read(m) => (&**m, serde_json::to_string(&**m)?),
            Pending::Live(p) => (&p.message, p.json.clone()),
        };
        let mut event = Event::default().event(m.event_type.as_str());
        if let Some(seq) = m.seq {
            event = event.id(seq.to_string());
        }
        Ok(event.data(json))
    }
}

impl Reader {
    /// The next SSE event; `None` ends the stream (shutdown, the database
    /// failed, or the stream fell behind: the client reconnects with
    /// `Last-Event-ID` and loses nothing).
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if self.stop.is_cancelled() || self.dropped {
                return None;
            }
            if let Some(p) = self.buffered.pop_front() {
                return match p.event() {
                    Ok(e) => Some((Ok(e), self)),
                    Err(e) => {
                        tracing::error!(error = %e, "could not encode an event; closing the stream");
                        None
                    }
                };
            }
            let Some(live) = self.live.as_mut() else {
                // Catching up from the database. Subscribe before reading: the
                // live feed then carries everything committed after the read's
                // head (positions at or below it are skipped as seen).
                let rx = self.feed.subscribe();
                let page = match ferry_store::acquire(&self.pool).await {
                    Ok(mut conn) => next_page(&mut conn, self.after, &self.filter, PAGE).await,
                    Err(e) => Err(e),
                };
                match page {
                    Ok((messages, resume)) => {
                        self.after = resume;
                        if messages.len() < PAGE as usize {
                            self.live = Some(rx);
                        }
                        self.buffered
                            .extend(messages.into_iter().map(|m| Pending::Read(Box::new(m))));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream could not read the feed; closing it");
                        return None;
                    }
                }
                continue;
            };
            let received = tokio::select! {
                () = self.stop.cancelled() => return None,
                r = live.recv() => r,
            };
            match received {
                Ok(p) => {
                    let Some(seq) = p.message.seq else { continue };
                    if seq <= self.after {
                        continue;
                    }
                    if seq > self.after + 1 {
                        // Something between was not seen here: read it (and
                        // this one) from the database, then follow again.
                        self.live = None;
                        continue;
                    }
                    self.after = seq;
                    if self.filter.matches(&p.message) {
                        self.buffered.push_back(Pending::Live(p));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::info!(
                        after = self.after,
                        missed,
                        "event stream fell behind the live feed; dropping it"
                    );
                    self.dropped = true;
                    let reason = format!(
                        "dropped: this stream fell more than {} events behind; \
                         reconnect with Last-Event-ID {} to resume",
                        self.feed.buffer(),
                        self.after
                    );
                    return Some((Ok(Event::default().comment(reason)), self));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
