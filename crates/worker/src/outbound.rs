//! Outbound requests made on a user's behalf (webhook deliveries) that cannot
//! be turned inward: every connection goes to an address checked against the
//! [`AddressPolicy`] at that moment.
//!
//! A URL's host is checked when the request is made: an IP literal directly
//! (and only in dotted decimal for IPv4), a name by [`GuardedResolver`],
//! which resolves it once and hands the HTTP client only the addresses it
//! checked, so the client connects to exactly those (no second lookup that
//! DNS rebinding could answer differently). A name with any refused address
//! is refused as a whole.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ferry_domain::net::{AddressPolicy, AddressRefused, check_host_spelling};
use futures::future::BoxFuture;

/// Turns a host name into addresses. [`SystemLookup`] asks the operating
/// system; tests map names of their own.
pub trait Lookup: Send + Sync + fmt::Debug {
    fn lookup(&self, host: String) -> BoxFuture<'static, io::Result<Vec<IpAddr>>>;
}

/// The system resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: String) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// A connection the policy refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the receiver's host {host} resolves to {inner}")]
    Resolved { host: String, inner: AddressRefused },
    #[error("the receiver's address {0}")]
    Literal(AddressRefused),
    #[error("{0}")]
    Spelling(String),
    #[error("the receiver's host {0} resolves to no address")]
    NoAddress(String),
}

/// Checks every address `host` resolves to; all must pass.
/// The error type the HTTP client's resolver returns; a [`Refused`] in it
/// is found again by [`refusal`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub async fn resolve_checked(
    lookup: &dyn Lookup,
    policy: &AddressPolicy,
    host: &str,
) -> Result<Vec<IpAddr>, BoxError> {
    let ips = lookup.lookup(host.to_owned()).await?;
    if ips.is_empty() {
        return Err(Box::new(Refused::NoAddress(host.to_owned())));
    }
    for ip in &ips {
        if let Err(inner) = policy.check(*ip) {
            return Err(Box::new(Refused::Resolved {
                host: host.to_owned(),
                inner,
            }));
        }
    }
    Ok(ips)
}

/// The HTTP client's resolver: [`resolve_checked`] for every connection.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    lookup: Arc<dyn Lookup>,
    policy: Arc<AddressPolicy>,
}

impl GuardedResolver {
    pub fn new(lookup: Arc<dyn Lookup>, policy: Arc<AddressPolicy>) -> Self {
        Self { lookup, policy }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = Arc::clone(&self.lookup);
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = resolve_checked(lookup.as_ref(), &policy, &host).await?;
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Checks a URL whose host is an IP literal (the HTTP client does not
/// resolve those); names are left to [`GuardedResolver`].
pub fn check_literal(raw: &str, policy: &AddressPolicy) -> Result<(), Refused> {
    let Ok(url) = url::Url::parse(raw) else {
        return Ok(());
    };
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => {
            check_host_spelling(raw, v4).map_err(|e| Refused::Spelling(e.message))?;
            IpAddr::V4(v4)
        }
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(_)) | None => return Ok(()),
    };
    policy.check(ip).map_err(Refused::Literal)
}

/// The [`Refused`] somewhere in an HTTP client error's chain of causes.
pub fn refusal<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<Refused>() {
            return Some(r);
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ferry_domain::net::{Blocked, IpNetwork};

    #[derive(Debug)]
    struct Fixed(Vec<IpAddr>);

    impl Lookup for Fixed {
        fn lookup(&self, _: String) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
            let ips = self.0.clone();
            Box::pin(async move { Ok(ips) })
        }
    }

    #[tokio::test]
    async fn a_name_with_any_refused_address_is_refused() {
        let policy = AddressPolicy::default();
        let mixed = Fixed(vec![
            "93.184.216.34".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
        ]);
        let err = resolve_checked(&mixed, &policy, "rebind.example")
            .await
            .unwrap_err();
        let refused = err.downcast_ref::<Refused>().unwrap();
        assert!(matches!(
            refused,
            Refused::Resolved { inner, .. } if inner.why == Blocked::Loopback
        ));
        let public = Fixed(vec!["93.184.216.34".parse().unwrap()]);
        assert!(
            resolve_checked(&public, &policy, "ok.example")
                .await
                .is_ok()
        );
        let allowed = AddressPolicy::new(vec![IpNetwork::parse("127.0.0.0/8").unwrap()]);
        assert!(resolve_checked(&mixed, &allowed, "x").await.is_ok());
    }

    #[test]
    fn literals_are_checked_and_spelt_canonically() {
        let policy = AddressPolicy::default();
        assert!(check_literal("https://93.184.216.34/h", &policy).is_ok());
        assert!(check_literal("https://hooks.example/h", &policy).is_ok());
        assert!(matches!(
            check_literal("https://[fd00:ec2::254]/", &policy),
            Err(Refused::Literal(_))
        ));
        assert!(matches!(
            check_literal("http://2130706433/", &AddressPolicy::loopback()),
            Err(Refused::Spelling(_))
        ));
    }
}
