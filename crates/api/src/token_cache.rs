//! A short-lived, bounded cache of `ferry_` token lookups, so a request costs
//! at most one authentication query and usually none. Keyed by the token's
//! digest (the token itself is never kept). Every replica drops its cache when
//! a token is revoked, changed or deleted anywhere (`ferry_tokens`, notified
//! by a trigger on `api_tokens`), and each entry lives [`TTL`] at most, which
//! also bounds how long an expired token or a lost notification can matter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_domain::auth::Principal;
use ferry_store::PgPool;
use ferry_store::notify::{Listener, TOKENS_CHANNEL};
use tokio_util::sync::CancellationToken;

/// How long a lookup is reused.
pub const TTL: Duration = Duration::from_secs(10);
/// Entries held at most; when full, expired entries go, then everything.
pub const CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
struct Inner {
    /// Digest → (reused until, principal).
    entries: Mutex<HashMap<Vec<u8>, (Instant, Principal)>>,
    /// Bumped at each invalidation: a lookup that started before one is not
    /// stored after it.
    generation: AtomicU64,
}

/// Cheap to clone; clones share the cache.
#[derive(Debug, Clone, Default)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

impl TokenCache {
    /// A cache dropped whenever a token changes on any replica, until
    /// `shutdown`.
    pub fn start(pool: &PgPool, shutdown: CancellationToken) -> Self {
        let cache = Self::default();
        let inner = Arc::clone(&cache.inner);
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut listener = tokio::select! {
                () = shutdown.cancelled() => return,
                l = Listener::start(&pool, &[TOKENS_CHANNEL], "tokens") => l,
            };
            // Whatever was cached before listening may be stale.
            invalidate(&inner);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    // A notification, or a re-made connection (which may
                    // have missed some): drop everything.
                    _ = listener.next_burst() => invalidate(&inner),
                }
            }
        });
        cache
    }

    /// Where a lookup starts: pass it to [`TokenCache::put`].
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// The principal cached for `digest`, if still fresh.
    pub fn get(&self, digest: &[u8]) -> Option<Principal> {
        let entries = self.inner.entries.lock().ok()?;
        let (until, principal) = entries.get(digest)?;
        (Instant::now() < *until).then(|| principal.clone())
    }

    /// Caches a lookup made since `generation` for [`TTL`], or less when the
    /// token expires sooner (`expires_in`), unless the cache was dropped
    /// meanwhile.
    pub fn put(
        &self,
        generation: u64,
        digest: Vec<u8>,
        principal: Principal,
        expires_in: Option<Duration>,
    ) {
        let Ok(mut entries) = self.inner.entries.lock() else {
            return;
        };
        if self.inner.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= CAPACITY {
            let now = Instant::now();
            entries.retain(|_, (until, _)| now < *until);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        let ttl = expires_in.map_or(TTL, |e| e.min(TTL));
        entries.insert(digest, (Instant::now() + ttl, principal));
    }

    /// Entries held now (fresh or not).
    pub fn len(&self) -> usize {
        self.inner.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn invalidate(inner: &Inner) {
    if let Ok(mut entries) = inner.entries.lock() {
        inner.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ferry_domain::auth::Role;

    fn principal() -> Principal {
        Principal {
            id: "token:1".into(),
            name: "n".into(),
            role: Role::Viewer,
            team: None,
        }
    }

    #[test]
    fn a_lookup_that_raced_an_invalidation_is_not_kept() {
        let cache = TokenCache::default();
        let before = cache.generation();
        cache.put(before, b"a".to_vec(), principal(), None);
        assert!(cache.get(b"a").is_some());
        invalidate(&cache.inner);
        assert!(cache.get(b"a").is_none(), "dropped");
        cache.put(before, b"b".to_vec(), principal(), None);
        assert!(cache.get(b"b").is_none(), "started before the drop");
        cache.put(cache.generation(), b"b".to_vec(), principal(), None);
        assert!(cache.get(b"b").is_some());
        cache.put(
            cache.generation(),
            b"c".to_vec(),
            principal(),
            Some(Duration::ZERO),
        );
        assert!(cache.get(b"c").is_none(), "an expiring token is not reused");
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = TokenCache::default();
        for i in 0..CAPACITY + 5 {
            cache.put(
                cache.generation(),
                i.to_le_bytes().to_vec(),
                principal(),
                None,
            );
        }
        assert!(cache.len() <= CAPACITY, "{}", cache.len());
    }
}
