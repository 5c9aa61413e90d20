//! Role credentials: one `AssumeRoleProvider` per role ARN behind a cache Ferry controls.
//!
//! The SDK's own identity cache refreshes a session shortly before the expiry the session
//! declared, which is right until the service disagrees (a clock jump, a revoked session, the
//! sim's `advance_clock`). This cache refreshes at the same point (5 minutes before expiry) and
//! can also be invalidated when a call comes back `ExpiredToken`, so the next attempt assumes
//! the role again instead of failing until the old session's declared expiry.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, future};

/// Refresh this long before the declared expiry.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);

#[derive(Debug)]
struct Inner {
    role_arn: String,
    provider: AssumeRoleProvider,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

/// Cached credentials for one assumed role. Cloning shares the cache.
#[derive(Debug, Clone)]
pub(crate) struct RoleCredentials(Arc<Inner>);

impl RoleCredentials {
    pub(crate) fn new(role_arn: &str, provider: AssumeRoleProvider) -> Self {
        Self(Arc::new(Inner {
            role_arn: role_arn.to_owned(),
            provider,
            cached: tokio::sync::Mutex::new(None),
        }))
    }

    /// Forgets the cached session: the next request assumes the role again.
    pub(crate) async fn invalidate(&self) {
        *self.0.cached.lock().await = None;
    }

    async fn get(&self) -> aws_credential_types::provider::Result {
        let mut cached = self.0.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            let fresh = c
                .expiry()
                .is_none_or(|e| e > SystemTime::now() + REFRESH_BEFORE);
            if fresh {
                return Ok(c.clone());
            }
        }
        tracing::debug!(role = %self.0.role_arn, "assuming role");
        let started = std::time::Instant::now();
        let result = self.0.provider.provide_credentials().await;
        let seconds = started.elapsed().as_secs_f64();
        let outcome = match &result {
            Ok(_) => crate::calls::Outcome::Ok,
            Err(e) => match crate::error::assume_role_failure(e) {
                Some((Some(code), _)) if code.contains("Throttl") => {
                    crate::calls::Outcome::Throttled
                }
                Some((Some(_), _)) => crate::calls::Outcome::ClientError,
                _ => crate::calls::Outcome::NoResponse,
            },
        };
        crate::calls::record_assume_role(outcome, seconds);
        let c = result?;
        *cached = Some(c.clone());
        Ok(c)
    }
}

impl ProvideCredentials for RoleCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.get())
    }
}
