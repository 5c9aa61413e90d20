//! The webhook dispatcher: fans feed events out into each subscription's
//! outbox, then delivers what is due, signed per the Standard Webhooks spec.
//!
//! Delivery is at least once: a message is marked delivered only after a 2xx
//! answer, and a replica that dies mid-attempt loses its lease, so another
//! sends the message again with the same `webhook-id` for receivers to
//! deduplicate on.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ferry_domain::net::AddressPolicy;
use ferry_store::notify::{EVENTS_CHANNEL, Listener, WEBHOOKS_CHANNEL, WORK_CHANNEL};
use ferry_store::sealed::{SecretKeys, open_with};
use ferry_store::webhooks::{self as store, Attempt, DueDelivery, Outcome, SigningSecret};
use ferry_store::{PgPool, StoreError};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::outbound::{self, GuardedResolver, Lookup, SystemLookup};

/// How the dispatcher behaves; built by the binary from the configuration.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Names this dispatcher's leases: unique per process.
    pub owner: String,
    /// The delay before each retry; its length is the number of retries.
    /// After the last one fails the delivery is marked `failed`.
    pub retry_schedule: Vec<Duration>,
    /// One attempt may take this long (connect, send, answer).
    pub timeout: Duration,
    /// Deliveries in flight at once, per replica.
    pub concurrency: usize,
    /// A claim on a delivery lasts this long.
    pub lease: Duration,
    /// Wake at least this often, even without a notification.
    pub tick: Duration,
    /// Which receiver addresses deliveries may connect to.
    pub address_policy: AddressPolicy,
    /// How receiver host names become addresses (the system's resolver).
    pub lookup: Arc<dyn Lookup>,
    /// Opens the signing secrets sealed at rest; `None` reads plain text only.
    pub secret_keys: Option<Arc<SecretKeys>>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        // The schedule the Standard Webhooks spec suggests: about a day and a
        // half of retries after the first attempt.
        let schedule = [5, 300, 1800, 7200, 18000, 36000, 36000];
        Self {
            owner: format!("webhooks-{}", std::process::id()),
            retry_schedule: schedule.into_iter().map(Duration::from_secs).collect(),
            timeout: Duration::from_secs(10),
            concurrency: 16,
            lease: Duration::from_secs(60),
            tick: Duration::from_secs(5),
            address_policy: AddressPolicy::default(),
            lookup: Arc::new(SystemLookup),
            secret_keys: None,
        }
    }
}

/// Events fanned out per subscription per round.
const FAN_OUT_BATCH: u32 = 500;
/// The most of a receiver's answer kept in the delivery log.
const ERROR_BODY_CHARS: usize = 200;
/// The most of a receiver's answer read at all.
const ERROR_BODY_READ_BYTES: usize = 4096;

/// At most [`ERROR_BODY_CHARS`] of a receiver's answer, control characters
/// (and runs of white space) folded to single spaces: the delivery log is
/// for diagnosis, not a way to read what an endpoint serves.
pub fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(ERROR_BODY_READ_BYTES)]);
    let mut out = String::new();
    let mut count = 0;
    for word in text.split(|c: char| c.is_control() || c.is_whitespace()) {
        if word.is_empty() {
            continue;
        }
        for c in (!out.is_empty())
            .then_some(' ')
            .into_iter()
            .chain(word.chars())
        {
            if count == ERROR_BODY_CHARS {
                out.push('…');
                return out;
            }
            out.push(c);
            count += 1;
        }
    }
    out
}

/// Reads at most [`ERROR_BODY_READ_BYTES`] of an answer's body.
async fn read_head(mut res: reqwest::Response) -> Vec<u8> {
    let mut buf = Vec::new();
    while buf.len() < ERROR_BODY_READ_BYTES {
        match res.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    buf
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` for one secret, as
/// the Standard Webhooks spec defines it. `None` if the secret is not a
/// `whsec_` base64 key.
pub fn sign(secret: &SigningSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD
        .decode(secret.expose().strip_prefix("whsec_")?)
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Fans new events out, then makes one attempt at each due delivery.
/// Returns how many attempts it made.
/// Counter: webhook delivery attempts by `outcome` (`delivered`; `retry`: failed, tried
/// again later; `failed`: failed for good).
pub const DELIVERIES: &str = "ferry_webhook_deliveries_total";

pub async fn dispatch_once(
    pool: &PgPool,
    http: &reqwest::Client,
    settings: &WebhookSettings,
) -> Result<usize, StoreError> {
    // Number what was committed (another replica may have), then fan out.
    ferry_store::feed::sequence(&mut *ferry_store::acquire(pool).await?).await?;
    let mut tx = ferry_store::begin(pool).await?;
    let queued = store::fan_out(&mut tx, FAN_OUT_BATCH).await?;
    tx.commit().await?;
    if queued > 0 {
        tracing::debug!(queued, "webhook deliveries queued");
    }
    let due = {
        let mut conn = ferry_store::acquire(pool).await?;
        let lease = time::Duration::try_from(settings.lease).unwrap_or(time::Duration::minutes(1));
        store::claim_due(
            &mut conn,
            &settings.owner,
            lease,
            settings.concurrency as i64 * 4,
        )
        .await?
    };
    let n = due.len();
    futures::stream::iter(due)
        .for_each_concurrent(settings.concurrency.max(1), |d| async move {
            let id = d.id;
            let attempt = attempt(http, settings, &d).await;
            let result = match ferry_store::acquire(pool).await {
                Ok(mut conn) => store::record_attempt(&mut conn, id, &settings.owner, &attempt).await,
                Err(e) => Err(e),
            };
            if let Ok(true) = result {
                let outcome = match attempt.outcome {
                    Outcome::Delivered => "delivered",
                    Outcome::RetryAt(_) => "retry",
                    Outcome::Failed => "failed",
                };
                metrics::counter!(DELIVERIES, "outcome" => outcome).increment(1);
            }
            match result {
                Ok(true) => match attempt.outcome {
                    Outcome::Delivered => tracing::info!(delivery_id = %id, webhook_id = %d.webhook_id, "webhook delivered"),
                    Outcome::RetryAt(at) => tracing::warn!(delivery_id = %id, webhook_id = %d.webhook_id, error = attempt.error.as_deref().unwrap_or(""), retry_at = %at, "webhook attempt failed; will retry"),
                    Outcome::Failed => tracing::error!(delivery_id = %id, webhook_id = %d.webhook_id, error = attempt.error.as_deref().unwrap_or(""), "webhook delivery failed for good"),
                },
                Ok(false) => tracing::warn!(delivery_id = %id, "webhook lease lost; another replica has the delivery"),
                Err(e) => tracing::error!(delivery_id = %id, error = %e, "could not record a webhook attempt; it will be retried"),
            }
        })
        .await;
    Ok(n)
}

/// One signed POST of one delivery.
async fn attempt(http: &reqwest::Client, settings: &WebhookSettings, d: &DueDelivery) -> Attempt {
    let done = |status_code: Option<i32>, error: Option<String>| {
        let made = d.attempts.saturating_add(1);
        let outcome = match usize::try_from(made)
            .ok()
            .and_then(|m| m.checked_sub(1))
            .and_then(|i| settings.retry_schedule.get(i))
        {
            _ if error.is_none() => Outcome::Delivered,
            Some(delay) => {
                let jittered = delay.mul_f64(0.9 + 0.2 * rand::random::<f64>());
                Outcome::RetryAt(
                    OffsetDateTime::now_utc()
                        + time::Duration::try_from(jittered).unwrap_or(time::Duration::seconds(5)),
                )
            }
            None => Outcome::Failed,
        };
        Attempt {
            status_code,
            error,
            outcome,
        }
    };
    let body = match serde_json::to_vec(&d.payload) {
        Ok(b) => b,
        Err(e) => return done(None, Some(format!("could not encode the message: {e}"))),
    };
    let msg_id = format!("msg_{}", d.id.simple());
    let timestamp = OffsetDateTime::now_utc().unix_timestamp();
    let mut signatures: Vec<String> = Vec::new();
    for stored in &d.secrets {
        match open_with(
            settings.secret_keys.as_deref(),
            d.webhook_id,
            stored.expose(),
        ) {
            Ok(secret) => signatures.extend(sign(&secret, &msg_id, timestamp, &body)),
            Err(e) => {
                return done(
                    None,
                    Some(format!("the signing secret cannot be read: {e}")),
                );
            }
        }
    }
    if signatures.is_empty() {
        return done(
            None,
            Some("the subscription's secret is not a whsec_ key".into()),
        );
    }
    if let Err(refused) = outbound::check_literal(&d.url, &settings.address_policy) {
        return done(None, Some(format!("refused: {refused}")));
    }
    let sent = http
        .post(&d.url)
        .timeout(settings.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signatures.join(" "))
        .body(body)
        .send()
        .await;
    match sent {
        Ok(res) if res.status().is_success() => done(Some(i32::from(res.status().as_u16())), None),
        Ok(res) => {
            let status = res.status();
            let excerpt = excerpt(&read_head(res).await);
            done(
                Some(i32::from(status.as_u16())),
                Some(
                    format!("the receiver answered {status}: {excerpt}")
                        .trim_end_matches(": ")
                        .to_owned(),
                ),
            )
        }
        Err(e) if outbound::refusal(&e).is_some() => {
            done(None, outbound::refusal(&e).map(|r| format!("refused: {r}")))
        }
        Err(e) if e.is_timeout() => done(
            None,
            Some(format!("no answer within {:?}", settings.timeout)),
        ),
        Err(e) if e.is_connect() => done(None, Some("could not connect to the receiver".into())),
        Err(e) => done(None, Some(format!("could not send: {}", error_chain(&e)))),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The HTTP client deliveries use: no redirects (a receiver must answer
/// itself), no cookies, no proxy (it would resolve names itself), Ferry's
/// user agent, and every name resolved through [`GuardedResolver`].
pub fn http_client(settings: &WebhookSettings) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver::new(
            Arc::clone(&settings.lookup),
            Arc::new(settings.address_policy.clone()),
        )))
        .user_agent(concat!("ferry-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Runs until `shutdown`: wakes when events commit or deliveries are queued
/// (on any replica), when the next retry falls due, and on a timer.
pub async fn run(pool: PgPool, settings: WebhookSettings, shutdown: CancellationToken) {
    let http = match http_client(&settings) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client; webhooks are not delivered");
            return;
        }
    };
    let settings = Arc::new(settings);
    let mut wake = Listener::start(
        &pool,
        &[EVENTS_CHANNEL, WEBHOOKS_CHANNEL, WORK_CHANNEL],
        "webhooks",
    )
    .await;
    tracing::info!(owner = %settings.owner, "webhook dispatcher started");
    loop {
        let busy = match dispatch_once(&pool, &http, &settings).await {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::error!(error = %e, "webhook dispatch failed");
                false
            }
        };
        if shutdown.is_cancelled() {
            break;
        }
        if busy {
            continue;
        }
        let pause = next_pause(&pool, settings.tick).await;
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = wake.next_burst() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
    if let Ok(mut conn) = pool.acquire().await {
        match store::release_all(&mut conn, &settings.owner).await {
            Ok(n) => tracing::info!(released = n, "webhook dispatcher stopped"),
            Err(e) => tracing::warn!(error = %e, "webhook leases will expire on their own"),
        }
    }
}

/// Until the next retry falls due, at most `tick`.
async fn next_pause(pool: &PgPool, tick: Duration) -> Duration {
    let next = match ferry_store::acquire(pool).await {
        Ok(mut conn) => store::next_due(&mut conn).await.ok().flatten(),
        Err(_) => None,
    };
    match next {
        Some(at) => {
            let until = at - OffsetDateTime::now_utc();
            Duration::try_from(until)
                .unwrap_or(Duration::ZERO)
                .clamp(Duration::from_millis(20), tick)
        }
        None => tick,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_and_plain() {
        assert_eq!(
            excerpt(b"nope\r\n\x00\x1b[31mred\t end"),
            "nope [31mred end"
        );
        let long = excerpt("x".repeat(5000).as_bytes());
        assert_eq!(long.chars().count(), ERROR_BODY_CHARS + 1);
        assert!(long.ends_with('…'));
        assert_eq!(excerpt(b""), "");
    }

    /// The test vector of the Standard Webhooks reference libraries.
    #[test]
    fn signs_like_the_reference_implementations() {
        let secret = SigningSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
        let sig = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert_eq!(
            sign(&SigningSecret::new("nope".into()), "m", 1, b"{}"),
            None
        );
    }
}
