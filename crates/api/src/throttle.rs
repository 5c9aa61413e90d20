//! Failed authentication, rate-limited per client address.
//!
//! Each client address (an IPv6 client by its /64, which one host usually
//! holds whole) has a bucket of [`ThrottleSettings::max_failures`] failures,
//! refilled evenly over [`ThrottleSettings::window`]. While the bucket is
//! empty, credentials from that address are answered 429 with `Retry-After`
//! before any database lookup or signature check, unless the same
//! credential authenticated recently: a caller with a valid token is never
//! throttled because others at its address (a NAT, a proxy) guess.
//!
//! The client address is the connection's peer, or, when the peer is one
//! of the configured trusted proxies, the right-most address of
//! `X-Forwarded-For` that is not itself a trusted proxy. Both maps are
//! bounded, so a flood of addresses cannot exhaust memory.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::extract::ConnectInfo;
use ferry_domain::net::IpNetwork;
use http::request::Parts;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// Most client addresses tracked at once.
const MAX_CLIENTS: usize = 100_000;
/// Most credentials remembered as recently valid.
const MAX_KNOWN_GOOD: usize = 10_000;

/// Configuration `auth.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failures an address may make in a burst; 0 turns throttling off.
    pub max_failures: u32,
    /// The bucket refills completely over this long.
    pub window: Duration,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNetwork>,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            max_failures: 20,
            window: Duration::from_secs(60),
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The throttle's state; one per process, shared by every request.
#[derive(Debug)]
pub struct Throttle {
    settings: ThrottleSettings,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
    known_good: Mutex<HashSet<[u8; 32]>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new(ThrottleSettings::default())
    }
}

impl Throttle {
    pub fn new(settings: ThrottleSettings) -> Self {
        Self {
            settings,
            buckets: Mutex::new(HashMap::new()),
            known_good: Mutex::new(HashSet::new()),
        }
    }

    pub fn settings(&self) -> &ThrottleSettings {
        &self.settings
    }

    fn refill_per_sec(&self) -> f64 {
        f64::from(self.settings.max_failures) / self.settings.window.as_secs_f64().max(0.001)
    }

    fn refilled(&self, b: Bucket, now: Instant) -> Bucket {
        let max = f64::from(self.settings.max_failures);
        let gained = now.saturating_duration_since(b.at).as_secs_f64() * self.refill_per_sec();
        Bucket {
            tokens: (b.tokens + gained).min(max),
            at: now,
        }
    }

    /// `Some(seconds to wait)` when `client` has no failures left and
    /// `credential` has not authenticated recently.
    pub fn check(&self, client: IpAddr, credential: &str) -> Option<u64> {
        if self.settings.max_failures == 0 {
            return None;
        }
        let key = bucket_key(client);
        let now = Instant::now();
        let bucket = self
            .buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .copied()?;
        let bucket = self.refilled(bucket, now);
        if bucket.tokens >= 1.0 {
            return None;
        }
        if self
            .known_good
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&fingerprint(credential))
        {
            return None;
        }
        let wait = (1.0 - bucket.tokens) / self.refill_per_sec();
        Some((wait.ceil() as u64).max(1))
    }

    /// A credential from `client` was refused.
    pub fn failed(&self, client: IpAddr) {
        if self.settings.max_failures == 0 {
            return;
        }
        let key = bucket_key(client);
        let now = Instant::now();
        let max = f64::from(self.settings.max_failures);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&key) {
            // Forget the addresses whose buckets are full again; failing
            // that (a flood of fresh addresses), any one.
            buckets.retain(|_, b| self.refilled(*b, now).tokens < max);
            if buckets.len() >= MAX_CLIENTS
                && let Some(victim) = buckets.keys().next().copied()
            {
                buckets.remove(&victim);
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: max,
            at: now,
        });
        let mut refilled = self.refilled(*bucket, now);
        refilled.tokens = (refilled.tokens - 1.0).max(0.0);
        *bucket = refilled;
    }

    /// `credential` authenticated: it is not throttled for a while.
    pub fn succeeded(&self, credential: &str) {
        if self.settings.max_failures == 0 {
            return;
        }
        let mut known = self
            .known_good
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if known.len() >= MAX_KNOWN_GOOD {
            known.clear();
        }
        known.insert(fingerprint(credential));
    }

    /// The client's address: the peer, or what trusted proxies say it is.
    pub fn client(&self, parts: &Parts) -> IpAddr {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        client_address(peer, &parts.headers, &self.settings.trusted_proxies)
    }
}

fn fingerprint(credential: &str) -> [u8; 32] {
    Sha256::digest(credential.as_bytes()).into()
}

/// IPv4 addresses as they are; IPv6 by their /64.
fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

/// The right-most `X-Forwarded-For` hop not in `trusted`, when `peer` is.
pub fn client_address(peer: IpAddr, headers: &http::HeaderMap, trusted: &[IpNetwork]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(ip) => client = ip,
            Ok(ip) => return ip,
            // A hop that is not an address: believe nothing further left.
            Err(_) => return client,
        }
    }
    client
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let trusted = vec![IpNetwork::parse("10.0.0.0/8").unwrap()];
        let mut h = http::HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "198.51.7.1, 203.0.7.9, 10.1.1.1".parse().unwrap(),
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &h, &trusted),
            ip("203.0.7.9")
        );
        assert_eq!(client_address(ip("8.8.8.8"), &h, &trusted), ip("8.8.8.8"));
        h.insert("x-forwarded-for", "junk, 10.1.1.1".parse().unwrap());
        assert_eq!(client_address(ip("10.0.0.2"), &h, &trusted), ip("10.1.1.1"));
        assert_eq!(
            client_address(ip("10.0.0.2"), &http::HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
    }

    #[tokio::test]
    async fn failures_empty_the_bucket_and_valid_credentials_pass() {
        let t = Throttle::new(ThrottleSettings {
            max_failures: 3,
            window: Duration::from_secs(3600),
            trusted_proxies: Vec::new(),
        });
        let a = ip("192.0.2.1");
        t.succeeded("good");
        for _ in 0..3 {
            assert_eq!(t.check(a, "bad"), None);
            t.failed(a);
        }
        let wait = t.check(a, "bad").unwrap();
        assert!((1..=1200).contains(&wait), "{wait}");
        assert_eq!(t.check(a, "good"), None);
        assert_eq!(t.check(ip("192.0.2.2"), "bad"), None);
        // One host's IPv6 /64 is one client.
        for _ in 0..3 {
            t.failed(ip("2001:db8::1"));
        }
        assert!(t.check(ip("2001:db8::ffff"), "bad").is_some());
        assert!(t.check(ip("2001:db8:0:1::1"), "bad").is_none());
    }
}
