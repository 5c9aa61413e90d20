//! OIDC: JWTs from one configured issuer, verified against its JSON Web Key
//! Set (JWKS), their claims mapped to a [`Principal`] by
//! [`ferry_domain::oidc::ClaimMapping`].
//!
//! A token is accepted when its `alg` is one of the configured asymmetric
//! algorithms (never `none` or HMAC), its signature verifies with the key its
//! `kid` names, `iss` is the issuer, `aud` includes one of the audiences, and
//! `exp`, `nbf` and `iat` hold within the clock skew.
//!
//! Keys: from `jwks_url`, `jwks_file`, or else the `jwks_uri` of the
//! issuer's discovery document ([`discovery`]), which also gives the
//! dashboard's sign-in its endpoints ([`DashboardClient`]). Loaded at start; a token naming an unknown `kid` makes the verifier
//! read the set again (a URL is fetched, a file re-read), at most once per
//! `min_refresh_interval`, so a flood of bad tokens cannot hammer the
//! identity provider while a key rotation is picked up at once. A URL's set is
//! also refreshed in the background every `refresh_interval`.
//!
//! Nothing here logs or echoes a token; error messages say what was wrong.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferry_domain::auth::Principal;
use ferry_domain::oidc::{ClaimMapping, MappingError};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ApiError;

pub mod discovery;

pub use discovery::Discovery;

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// The asymmetric algorithms a token may use; HMAC and `none` are never
/// accepted, whatever the configuration says.
pub const ASYMMETRIC_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// An algorithm name from the configuration, refusing `none` and HMAC.
pub fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    if name.eq_ignore_ascii_case("none") {
        return Err("\"none\" means unsigned tokens and is never accepted".into());
    }
    if name.to_ascii_uppercase().starts_with("HS") {
        return Err(format!(
            "{name:?} is a shared-secret algorithm; only asymmetric ones are accepted ({})",
            names(&ASYMMETRIC_ALGORITHMS)
        ));
    }
    ASYMMETRIC_ALGORITHMS
        .into_iter()
        .find(|a| format!("{a:?}") == name)
        .ok_or_else(|| {
            format!(
                "unknown algorithm {name:?}: expected one of {}",
                names(&ASYMMETRIC_ALGORITHMS)
            )
        })
}

fn names(algs: &[Algorithm]) -> String {
    algs.iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the issuer's keys are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    Url(reqwest::Url),
    File(PathBuf),
    /// The `jwks_uri` of the issuer's discovery document.
    Discovery,
}

impl std::fmt::Display for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksSource::Url(u) => write!(f, "{u}"),
            JwksSource::File(p) => write!(f, "{}", p.display()),
            JwksSource::Discovery => write!(f, "the issuer's discovery document"),
        }
    }
}

/// The dashboard as a public OAuth client of the issuer: the authorization
/// code flow with PKCE (S256), no client secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardClient {
    /// The client id registered with the issuer; ID tokens name it in `aud`.
    pub client_id: String,
    /// Scopes asked for; always includes `openid`.
    pub scopes: Vec<String>,
    /// The path of the dashboard page the issuer redirects back to
    /// (`<the page's origin><redirect_path>` is the registered redirect URI).
    pub redirect_path: String,
}

/// What the verifier needs, taken from the configuration by the binary.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// Compared exactly with the `iss` claim.
    pub issuer: String,
    /// The `aud` claim must include one of these.
    pub audiences: Vec<String>,
    pub jwks: JwksSource,
    /// Tolerance on `exp`, `nbf` and `iat`.
    pub clock_skew: Duration,
    /// Accepted `alg` values (asymmetric only; see [`parse_algorithm`]).
    pub algorithms: Vec<Algorithm>,
    /// A URL's key set is fetched again after this long.
    pub refresh_interval: Duration,
    /// At most one refresh for unknown `kid`s per this interval.
    pub min_refresh_interval: Duration,
    pub mapping: ClaimMapping,
    /// The dashboard signs in through the issuer when set.
    pub dashboard: Option<DashboardClient>,
}

impl OidcSettings {
    /// Whether the issuer's discovery document is needed: for the keys or
    /// for the dashboard's sign-in.
    pub fn uses_discovery(&self) -> bool {
        matches!(self.jwks, JwksSource::Discovery) || self.dashboard.is_some()
    }
}

/// Why a key set could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("fetching {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Why a token was refused. The message is for the caller: it never
/// contains the token.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the token is not a JWT: {0}")]
    Malformed(String),
    #[error("unsigned tokens (alg \"none\") are never accepted")]
    Unsigned,
    #[error("the token's algorithm {alg:?} is not accepted (accepted: {accepted})")]
    Algorithm { alg: String, accepted: String },
    #[error("{0}")]
    Key(String),
    #[error(
        "the issuer's keys could not be loaded, so the token cannot be checked; try again later"
    )]
    KeysUnavailable,
    #[error("the signature does not verify with the issuer's key {kid}")]
    Signature { kid: String },
    #[error("{0}")]
    Claims(String),
    #[error("{0}")]
    Mapping(#[from] MappingError),
}

impl From<OidcError> for ApiError {
    fn from(e: OidcError) -> Self {
        match e {
            OidcError::KeysUnavailable => ApiError::unavailable(e.to_string()),
            e => ApiError::invalid_token(e.to_string()),
        }
    }
}

#[derive(Debug)]
struct Key {
    kid: Option<String>,
    /// The `alg` the key set pins, if any.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

impl Key {
    fn describe(&self) -> String {
        match &self.kid {
            Some(kid) => format!("{kid:?}"),
            None => "(without kid)".into(),
        }
    }
}

/// The discovery document as last fetched, and when a fetch last failed.
#[derive(Debug, Default)]
struct DiscoveryCache {
    doc: Option<(Arc<Discovery>, Instant)>,
    failed_at: Option<Instant>,
}

#[derive(Debug, Default)]
struct KeySet {
    keys: Vec<Arc<Key>>,
    fetched_at: Option<Instant>,
}

/// Verifies JWTs of one issuer. Shared by every request (`Arc`).
#[derive(Debug)]
pub struct OidcVerifier {
    settings: OidcSettings,
    http: reqwest::Client,
    keys: RwLock<KeySet>,
    /// When an unknown `kid` last forced a refresh.
    forced: tokio::sync::Mutex<Option<Instant>>,
    /// A background refresh is under way.
    refreshing: AtomicBool,
    discovery: tokio::sync::Mutex<DiscoveryCache>,
}

impl OidcVerifier {
    pub fn new(settings: OidcSettings) -> Result<Self, JwksError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| JwksError::Invalid(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            settings,
            http,
            keys: RwLock::new(KeySet::default()),
            forced: tokio::sync::Mutex::new(None),
            refreshing: AtomicBool::new(false),
            discovery: tokio::sync::Mutex::new(DiscoveryCache::default()),
        })
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// Reads the key set now; returns how many usable keys it holds.
    pub async fn load(&self) -> Result<usize, JwksError> {
        let keys = self.fetch().await?;
        let n = keys.len();
        self.store(keys);
        Ok(n)
    }

    fn store(&self, keys: Vec<Arc<Key>>) {
        let mut set = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        set.keys = keys;
        set.fetched_at = Some(Instant::now());
    }

    /// The issuer's discovery document: fetched when first needed, again
    /// after `refresh_interval`; a failed fetch is retried at most once per
    /// `min_refresh_interval`, and meanwhile the last good document serves.
    pub async fn discovery(&self) -> Result<Arc<Discovery>, JwksError> {
        let url = discovery::discovery_url(&self.settings.issuer).map_err(JwksError::Invalid)?;
        let mut cache = self.discovery.lock().await;
        if let Some((doc, at)) = &cache.doc
            && at.elapsed() < self.settings.refresh_interval
        {
            return Ok(Arc::clone(doc));
        }
        let recently_failed = cache
            .failed_at
            .is_some_and(|t| t.elapsed() < self.settings.min_refresh_interval);
        if recently_failed {
            return match &cache.doc {
                Some((doc, _)) => Ok(Arc::clone(doc)),
                None => Err(JwksError::Fetch {
                    url: url.to_string(),
                    message: "the last attempt failed moments ago; try again later".into(),
                }),
            };
        }
        let fetched = self
            .download(&url)
            .await
            .map_err(|message| JwksError::Fetch {
                url: url.to_string(),
                message,
            })
            .and_then(|bytes| discovery::parse(&bytes, &self.settings.issuer));
        match fetched {
            Ok(doc) => {
                let doc = Arc::new(doc);
                cache.doc = Some((Arc::clone(&doc), Instant::now()));
                cache.failed_at = None;
                Ok(doc)
            }
            Err(e) => {
                cache.failed_at = Some(Instant::now());
                match &cache.doc {
                    Some((doc, _)) => {
                        tracing::warn!(error = %e, "refreshing the issuer's discovery document failed");
                        Ok(Arc::clone(doc))
                    }
                    None => Err(e),
                }
            }
        }
    }

    /// The HTTP client the verifier fetches with, for the sign-in's token
    /// request to the same issuer.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    async fn fetch(&self) -> Result<Vec<Arc<Key>>, JwksError> {
        let bytes = match &self.settings.jwks {
            JwksSource::Discovery => {
                let url = self.discovery().await?.jwks_uri.clone();
                self.download(&url)
                    .await
                    .map_err(|message| JwksError::Fetch {
                        url: url.to_string(),
                        message,
                    })?
            }
            JwksSource::File(path) => {
                tokio::fs::read(path)
                    .await
                    .map_err(|source| JwksError::Read {
                        path: path.display().to_string(),
                        source,
                    })?
            }
            JwksSource::Url(url) => {
                self.download(url)
                    .await
                    .map_err(|message| JwksError::Fetch {
                        url: url.to_string(),
                        message,
                    })?
            }
        };
        let keys = parse_jwks(&bytes)?;
        tracing::debug!(source = %self.settings.jwks, keys = keys.len(), "OIDC key set loaded");
        Ok(keys.into_iter().map(Arc::new).collect())
    }

    async fn download(&self, url: &reqwest::Url) -> Result<Vec<u8>, String> {
        let res = self
            .http
            .get(url.clone())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("HTTP {}", res.status()));
        }
        read_bounded(res).await
    }

    /// Reads the key set again because a token named a key we do not hold,
    /// unless another such refresh happened within `min_refresh_interval`.
    async fn refresh_for_unknown_key(&self) {
        let mut last = self.forced.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.settings.min_refresh_interval) {
            return;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => self.store(keys),
            Err(e) => tracing::warn!(error = %e, "refreshing the OIDC key set failed"),
        }
    }

    /// A URL's key set older than `refresh_interval` is fetched again in the
    /// background; this request goes on with the keys at hand.
    fn refresh_if_stale(self: &Arc<Self>) {
        if matches!(self.settings.jwks, JwksSource::File(_)) {
            return;
        }
        let stale = {
            let set = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            set.fetched_at
                .is_some_and(|t| t.elapsed() >= self.settings.refresh_interval)
        };
        if !stale || self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = Arc::clone(self);
        tokio::spawn(async move {
            match me.fetch().await {
                Ok(keys) => me.store(keys),
                Err(e) => tracing::warn!(error = %e, "periodic refresh of the OIDC key set failed"),
            }
            me.refreshing.store(false, Ordering::Release);
        });
    }

    fn find(&self, kid: Option<&str>) -> Result<Option<Arc<Key>>, OidcError> {
        let set = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        match kid {
            Some(kid) => Ok(set
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .cloned()),
            None => match set.keys.as_slice() {
                [] => Ok(None),
                [only] => Ok(Some(Arc::clone(only))),
                many => Err(OidcError::Key(format!(
                    "the token names no key (kid) and the issuer has {} keys",
                    many.len()
                ))),
            },
        }
    }

    fn is_empty(&self) -> bool {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys
            .is_empty()
    }

    /// Checks a token and returns the principal its claims describe.
    pub async fn verify(self: &Arc<Self>, token: &str) -> Result<Principal, OidcError> {
        self.verify_claims(token)
            .await
            .map(|(principal, _)| principal)
    }

    /// [`Self::verify`], also returning the token's claims.
    pub async fn verify_claims(
        self: &Arc<Self>,
        token: &str,
    ) -> Result<(Principal, Map<String, Value>), OidcError> {
        let header = Header::parse(token)?;
        let alg = self.algorithm(&header.alg)?;
        self.refresh_if_stale();
        let key = match self.find(header.kid.as_deref())? {
            Some(key) => key,
            None => {
                self.refresh_for_unknown_key().await;
                match self.find(header.kid.as_deref())? {
                    Some(key) => key,
                    None if self.is_empty() => return Err(OidcError::KeysUnavailable),
                    None => {
                        return Err(OidcError::Key(match &header.kid {
                            Some(kid) => format!(
                                "unknown key {kid:?}: the issuer's key set has no key with that kid"
                            ),
                            None => "the token names no key (kid)".into(),
                        }));
                    }
                }
            }
        };
        if key.key.family() != alg.family() || key.alg.is_some_and(|a| a != alg) {
            return Err(OidcError::Key(format!(
                "the issuer's key {} is not for {alg:?}",
                key.describe()
            )));
        }
        let mut validation = Validation::new(alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => OidcError::Signature {
                    kid: key.describe(),
                },
                _ => OidcError::Malformed(e.to_string()),
            })?
            .claims;
        check_claims(
            &claims,
            &self.settings,
            OffsetDateTime::now_utc().unix_timestamp(),
        )?;
        let principal = self.settings.mapping.principal(&claims)?;
        Ok((principal, claims))
    }

    fn algorithm(&self, alg: &str) -> Result<Algorithm, OidcError> {
        if alg.eq_ignore_ascii_case("none") {
            return Err(OidcError::Unsigned);
        }
        self.settings
            .algorithms
            .iter()
            .copied()
            .find(|a| format!("{a:?}") == alg)
            .ok_or_else(|| OidcError::Algorithm {
                alg: alg.to_owned(),
                accepted: names(&self.settings.algorithms),
            })
    }
}

/// The parts of a JWT header Ferry looks at, read before anything else so
/// that `alg: none` and unknown algorithms get a clear answer.
#[derive(Debug)]
struct Header {
    alg: String,
    kid: Option<String>,
}

impl Header {
    fn parse(token: &str) -> Result<Self, OidcError> {
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(OidcError::Malformed(
                "a JWT has three parts separated by '.'".into(),
            ));
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| OidcError::Malformed("the header is not base64url".into()))?;
        let value: Map<String, Value> = serde_json::from_slice(&bytes)
            .map_err(|_| OidcError::Malformed("the header is not a JSON object".into()))?;
        let alg = value
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| OidcError::Malformed("the header has no \"alg\"".into()))?
            .to_owned();
        let kid = value.get("kid").and_then(Value::as_str).map(str::to_owned);
        Ok(Self { alg, kid })
    }
}

/// A response body of at most [`MAX_JWKS_BYTES`].
pub(crate) async fn read_bounded(mut res: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(format!("the answer is larger than {MAX_JWKS_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether a bearer token has the shape of a JWT (three base64url parts).
pub fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && !parts[0].is_empty()
        && !parts[1].is_empty()
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Usable keys of a JWKS document: signature keys of asymmetric types.
/// Encryption keys and symmetric (`oct`) keys are skipped, so are keys this
/// verifier cannot read; a document with none is an error.
fn parse_jwks(bytes: &[u8]) -> Result<Vec<Key>, JwksError> {
    #[derive(serde::Deserialize)]
    struct Doc {
        keys: Vec<Value>,
    }
    let doc: Doc = serde_json::from_slice(bytes).map_err(|e| {
        JwksError::Invalid(format!("not a JWKS document ({{\"keys\": [...]}}): {e}"))
    })?;
    let mut keys = Vec::new();
    for (i, raw) in doc.keys.into_iter().enumerate() {
        // The `alg` a key pins, if any; keys for other algorithms (RSA-OAEP,
        // HS256) are skipped.
        let alg = match raw.get("alg").and_then(Value::as_str) {
            None => None,
            Some(name) => match ASYMMETRIC_ALGORITHMS
                .into_iter()
                .find(|a| format!("{a:?}") == name)
            {
                Some(a) => Some(a),
                None => continue,
            },
        };
        let jwk: Jwk = match serde_json::from_value(raw) {
            Ok(jwk) => jwk,
            Err(e) => {
                tracing::debug!(index = i, error = %e, "skipping a JWK this verifier cannot read");
                continue;
            }
        };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption))
            || matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_))
        {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            tracing::debug!(
                index = i,
                "skipping a JWK whose parameters do not make a key"
            );
            continue;
        };
        keys.push(Key {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
        });
    }
    if keys.is_empty() {
        return Err(JwksError::Invalid(
            "the key set holds no asymmetric signature key".into(),
        ));
    }
    Ok(keys)
}

/// Checks a JWKS document, as the configuration check does for a file.
pub fn check_jwks(bytes: &[u8]) -> Result<usize, JwksError> {
    parse_jwks(bytes).map(|k| k.len())
}

fn timestamp(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, OidcError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f.floor() as i64))
            .map(Some)
            .ok_or_else(|| OidcError::Claims(format!("claim {name:?} is not a number of seconds"))),
    }
}

fn at(ts: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ts.to_string())
}

/// The registered claims: issuer, audience, expiry, not-before and
/// issued-at, the times within the clock skew of `now` (Unix seconds).
fn check_claims(
    claims: &Map<String, Value>,
    settings: &OidcSettings,
    now: i64,
) -> Result<(), OidcError> {
    let skew = i64::try_from(settings.clock_skew.as_secs()).unwrap_or(i64::MAX);
    match claims.get("iss").and_then(Value::as_str) {
        Some(iss) if iss == settings.issuer => {}
        Some(iss) => {
            return Err(OidcError::Claims(format!(
                "the token's issuer {iss:?} is not {:?}",
                settings.issuer
            )));
        }
        None => return Err(OidcError::Claims("the token has no \"iss\" claim".into())),
    }
    let aud: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if aud.is_empty() {
        return Err(OidcError::Claims("the token has no \"aud\" claim".into()));
    }
    if !aud
        .iter()
        .any(|a| settings.audiences.iter().any(|s| s == a))
    {
        return Err(OidcError::Claims(format!(
            "the token's audience {aud:?} does not include {}",
            settings
                .audiences
                .iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join(" or ")
        )));
    }
    let exp = timestamp(claims, "exp")?
        .ok_or_else(|| OidcError::Claims("the token has no \"exp\" claim".into()))?;
    if now > exp.saturating_add(skew) {
        return Err(OidcError::Claims(format!(
            "the token expired at {} (clock skew allowed: {skew} s)",
            at(exp)
        )));
    }
    if let Some(nbf) = timestamp(claims, "nbf")?
        && now.saturating_add(skew) < nbf
    {
        return Err(OidcError::Claims(format!(
            "the token is not valid before {} (clock skew allowed: {skew} s)",
            at(nbf)
        )));
    }
    if let Some(iat) = timestamp(claims, "iat")?
        && now.saturating_add(skew) < iat
    {
        return Err(OidcError::Claims(format!(
            "the token was issued in the future, at {} (clock skew allowed: {skew} s)",
            at(iat)
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn settings() -> OidcSettings {
        OidcSettings {
            issuer: "https://idp.example.com".into(),
            audiences: vec!["ferry".into(), "ferry-cli".into()],
            jwks: JwksSource::File("/nonexistent".into()),
            clock_skew: Duration::from_secs(60),
            algorithms: vec![Algorithm::RS256],
            refresh_interval: Duration::from_secs(900),
            min_refresh_interval: Duration::from_secs(10),
            mapping: ClaimMapping::default(),
            dashboard: None,
        }
    }

    fn check(claims: &Value) -> Result<(), String> {
        check_claims(claims.as_object().unwrap(), &settings(), 1_000_000).map_err(|e| e.to_string())
    }

    #[test]
    fn registered_claims() {
        let ok = json!({"iss": "https://idp.example.com", "aud": ["other", "ferry-cli"], "exp": 1_000_100});
        check(&ok).unwrap();
        let with = |k: &str, v: Value| {
            let mut c = ok.clone();
            c[k] = v;
            check(&c)
        };
        // Within the skew, and just beyond it.
        with("exp", json!(999_950)).unwrap();
        let err = with("exp", json!(999_900)).unwrap_err();
        assert!(
            err.starts_with("the token expired at 1970-01-12T13:45:00Z"),
            "{err}"
        );
        with("nbf", json!(1_000_050)).unwrap();
        assert!(
            with("nbf", json!(1_000_100))
                .unwrap_err()
                .contains("not valid before")
        );
        assert!(
            with("iat", json!(1_000_100))
                .unwrap_err()
                .contains("issued in the future")
        );
        let err = with("iss", json!("https://evil.example.com")).unwrap_err();
        assert!(err.contains("\"https://evil.example.com\" is not"), "{err}");
        let err = with("aud", json!("other")).unwrap_err();
        assert!(
            err.contains("does not include \"ferry\" or \"ferry-cli\""),
            "{err}"
        );
        assert!(
            with("exp", json!("soon"))
                .unwrap_err()
                .contains("not a number")
        );
        let mut no_exp = ok;
        no_exp.as_object_mut().unwrap().remove("exp");
        assert!(check(&no_exp).unwrap_err().contains("no \"exp\""));
    }

    #[test]
    fn algorithms_from_the_configuration() {
        assert_eq!(parse_algorithm("ES256").unwrap(), Algorithm::ES256);
        assert_eq!(parse_algorithm("EdDSA").unwrap(), Algorithm::EdDSA);
        assert!(parse_algorithm("none").unwrap_err().contains("never"));
        assert!(
            parse_algorithm("HS256")
                .unwrap_err()
                .contains("shared-secret")
        );
        assert!(parse_algorithm("RS1").unwrap_err().contains("unknown"));
    }

    #[test]
    fn jwt_shapes() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
        assert!(looks_like_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."));
        assert!(!looks_like_jwt("ferry_abc"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c d"));
    }

    #[test]
    fn key_sets_keep_only_asymmetric_signature_keys() {
        let doc = json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "RSA", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "crv": "P-256", "kid": "ec",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "weird"}
        ]});
        let keys = parse_jwks(&serde_json::to_vec(&doc).unwrap()).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("ec"));
        let err = check_jwks(br#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#).unwrap_err();
        assert!(err.to_string().contains("no asymmetric"), "{err}");
        assert!(check_jwks(b"[]").is_err());
    }
}
