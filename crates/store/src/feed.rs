//! The event feed: import events in commit order (`event_feed.seq`), for the
//! SSE stream and the webhook fan-out.
//!
//! Positions are dense and visible in order, so a reader that remembers the
//! last position it has seen can always resume without a gap: everything at
//! or below the committed head is final. Events are numbered after they
//! commit, by [`sequence`] (see `migrations/*_feed_sequencer.sql`), which the
//! feed's readers run before they read: writers never wait for one another.

use ferry_domain::events::{EventBody, ImportEventData, Message, MessageData};
use ferry_domain::ids::ImportId;
use sqlx::PgConnection;

use crate::StoreError;
use crate::imports::parse_status;

/// Which events a reader wants. `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedFilter {
    pub import_id: Option<ImportId>,
    pub team: Option<String>,
    pub environment: Option<String>,
    /// Import event kinds (`created`, `status_changed`, ...).
    pub kinds: Option<Vec<String>>,
}

impl FeedFilter {
    /// Whether `message` passes this filter: the same test [`next_page`]'s
    /// query makes, for messages already in memory (a replica's live feed).
    pub fn matches(&self, message: &Message) -> bool {
        let MessageData::Import(data) = &message.data else {
            return false;
        };
        self.import_id.is_none_or(|id| id == data.import_id)
            && self.team.as_ref().is_none_or(|t| *t == data.team)
            && self
                .environment
                .as_ref()
                .is_none_or(|e| *e == data.environment)
            && self
                .kinds
                .as_ref()
                .is_none_or(|kinds| kinds.contains(&data.event.kind))
    }
}

/// Numbers every event committed so far and not yet numbered, and returns
/// the head. Cheap when nothing is pending (one indexed probe, no write);
/// otherwise one short transaction under an advisory lock, whose commit
/// notifies [`crate::notify::EVENTS_CHANNEL`]. Run it outside a transaction:
/// the numbers are released at its commit.
pub async fn sequence(conn: &mut PgConnection) -> Result<i64, StoreError> {
    let rec = sqlx::query!(r#"SELECT event_feed_sequence() AS "head!""#)
        .fetch_one(conn)
        .await?;
    Ok(rec.head)
}

/// The last committed position; every position at or below it is final.
pub async fn head(conn: &mut PgConnection) -> Result<i64, StoreError> {
    let rec = sqlx::query!(r#"SELECT last_seq FROM event_feed_head"#)
        .fetch_one(conn)
        .await?;
    Ok(rec.last_seq)
}

/// One page of the feed after `after`, at most up to `upto`, oldest first.
async fn read(
    conn: &mut PgConnection,
    after: i64,
    upto: i64,
    filter: &FeedFilter,
    limit: u32,
) -> Result<Vec<Message>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT f.seq, e.id, e.import_id, e.at, e.actor, e.actor_id, e.kind, e.from_status, e.to_status,
                  e.detail, r.team, r.environment, r.model_name
           FROM event_feed f
           JOIN import_events e ON e.id = f.event_id
           JOIN import_requests r ON r.id = e.import_id
           WHERE f.seq > $1 AND f.seq <= $2
             AND ($3::uuid IS NULL OR e.import_id = $3)
             AND ($4::text IS NULL OR r.team = $4)
             AND ($5::text IS NULL OR r.environment = $5)
             AND ($6::text[] IS NULL OR e.kind = ANY($6))
           ORDER BY f.seq
           LIMIT $7"#,
        after,
        upto,
        filter.import_id.map(|i| i.as_uuid()),
        filter.team.as_deref(),
        filter.environment.as_deref(),
        filter.kinds.as_deref(),
        i64::from(limit),
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Message::import(
                r.seq,
                ImportEventData {
                    import_id: ImportId::from_uuid(r.import_id),
                    team: r.team,
                    environment: r.environment,
                    model_name: r.model_name,
                    event: EventBody {
                        id: r.id,
                        at: r.at,
                        actor: r.actor,
                        actor_id: r.actor_id,
                        kind: r.kind,
                        from_status: r.from_status.as_deref().map(parse_status).transpose()?,
                        to_status: r.to_status.as_deref().map(parse_status).transpose()?,
                        detail: r.detail,
                    },
                },
            ))
        })
        .collect()
}

/// A page of matching messages after `after`, and the position to resume
/// from: the last message's, or the committed head when the page is not full
/// (so a narrow filter does not rescan the same events forever).
pub async fn next_page(
    conn: &mut PgConnection,
    after: i64,
    filter: &FeedFilter,
    limit: u32,
) -> Result<(Vec<Message>, i64), StoreError> {
    // Read the head first: every position at or below it was committed before
    // the page's query starts, so the page sees all of them.
    let upto = head(conn).await?;
    page_upto(conn, after, upto, filter, limit).await
}

/// [`next_page`] against a head the caller has read (once for many readers).
pub async fn page_upto(
    conn: &mut PgConnection,
    after: i64,
    upto: i64,
    filter: &FeedFilter,
    limit: u32,
) -> Result<(Vec<Message>, i64), StoreError> {
    if upto <= after {
        return Ok((Vec::new(), after));
    }
    let page = read(conn, after, upto, filter, limit).await?;
    let resume = if page.len() < limit as usize {
        upto
    } else {
        page.last().and_then(|m| m.seq).unwrap_or(upto)
    };
    Ok((page, resume))
}
