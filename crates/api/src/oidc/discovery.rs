//! The issuer's discovery document (OpenID Connect Discovery 1.0, §4):
//! `<issuer>/.well-known/openid-configuration`, whence the key set's address
//! (`jwks_uri`) and, for the dashboard's sign-in, the authorization, token
//! and end-session endpoints.
//!
//! The document's `issuer` must be exactly the configured one (§4.3), and
//! every endpoint https, or http to a loopback address.

use std::net::IpAddr;

use reqwest::Url;
use serde::Deserialize;

use super::JwksError;

/// Where discovery documents live under an issuer (§4.1).
pub const WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// What Ferry takes from the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: Url,
    pub authorization_endpoint: Option<Url>,
    pub token_endpoint: Option<Url>,
    /// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), when offered.
    pub end_session_endpoint: Option<Url>,
    /// `code_challenge_methods_supported`, when the document says.
    pub code_challenge_methods: Option<Vec<String>>,
}

impl Discovery {
    /// Whether the issuer takes PKCE challenges made with SHA-256. An issuer
    /// that does not list its methods is assumed to (RFC 8414 makes the
    /// field optional); one that lists others only is not.
    pub fn supports_s256(&self) -> bool {
        self.code_challenge_methods
            .as_ref()
            .is_none_or(|m| m.iter().any(|m| m == "S256"))
    }
}

/// An address Ferry fetches from or sends a browser to: https, or http to
/// this machine (a local identity provider, tests).
pub fn secure_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("{raw:?}: {e}"))?;
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(format!(
            "{raw:?}: must be https (http only to a loopback address)"
        )),
    }
}

/// The discovery document's address for `issuer`.
pub fn discovery_url(issuer: &str) -> Result<Url, String> {
    secure_url(&format!("{}{WELL_KNOWN}", issuer.trim_end_matches('/')))
}

/// Parses a discovery document of `issuer`.
pub fn parse(bytes: &[u8], issuer: &str) -> Result<Discovery, JwksError> {
    #[derive(Deserialize)]
    struct Doc {
        issuer: String,
        jwks_uri: String,
        authorization_endpoint: Option<String>,
        token_endpoint: Option<String>,
        end_session_endpoint: Option<String>,
        code_challenge_methods_supported: Option<Vec<String>>,
    }
    let doc: Doc = serde_json::from_slice(bytes).map_err(|e| {
        JwksError::Invalid(format!("not an OpenID Connect discovery document: {e}"))
    })?;
    if doc.issuer != issuer {
        return Err(JwksError::Invalid(format!(
            "the discovery document names the issuer {:?}, not {issuer:?}",
            doc.issuer
        )));
    }
    let url = |name: &str, raw: Option<String>| -> Result<Option<Url>, JwksError> {
        raw.map(|r| secure_url(&r))
            .transpose()
            .map_err(|e| JwksError::Invalid(format!("discovery document's {name}: {e}")))
    };
    Ok(Discovery {
        issuer: doc.issuer,
        jwks_uri: url("jwks_uri", Some(doc.jwks_uri))?
            .ok_or_else(|| JwksError::Invalid("the discovery document has no jwks_uri".into()))?,
        authorization_endpoint: url("authorization_endpoint", doc.authorization_endpoint)?,
        token_endpoint: url("token_endpoint", doc.token_endpoint)?,
        end_session_endpoint: url("end_session_endpoint", doc.end_session_endpoint)?,
        code_challenge_methods: doc.code_challenge_methods_supported,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://idp.example.com/realms/ml";

    fn doc(v: &serde_json::Value) -> Result<Discovery, String> {
        parse(&serde_json::to_vec(v).unwrap(), ISSUER).map_err(|e| e.to_string())
    }

    #[test]
    fn a_document_of_the_configured_issuer() {
        let d = doc(&json!({
            "issuer": ISSUER,
            "jwks_uri": "https://idp.example.com/realms/ml/certs",
            "authorization_endpoint": "https://idp.example.com/realms/ml/auth",
            "token_endpoint": "https://idp.example.com/realms/ml/token",
            "code_challenge_methods_supported": ["plain", "S256"],
        }))
        .unwrap();
        assert_eq!(d.jwks_uri.path(), "/realms/ml/certs");
        assert!(d.end_session_endpoint.is_none());
        assert!(d.supports_s256());
        assert_eq!(
            discovery_url(&format!("{ISSUER}/")).unwrap().as_str(),
            "https://idp.example.com/realms/ml/.well-known/openid-configuration"
        );
    }

    #[test]
    fn another_issuer_or_plain_http_is_refused() {
        let err = doc(&json!({"issuer": "https://evil.example.com", "jwks_uri": "https://evil.example.com/k"}))
            .unwrap_err();
        assert!(
            err.contains("names the issuer \"https://evil.example.com\""),
            "{err}"
        );
        let err =
            doc(&json!({"issuer": ISSUER, "jwks_uri": "http://idp.example.com/k"})).unwrap_err();
        assert!(
            err.contains("jwks_uri") && err.contains("must be https"),
            "{err}"
        );
        assert!(doc(&json!({"issuer": ISSUER})).is_err());
        let plain = doc(
            &json!({"issuer": ISSUER, "jwks_uri": "https://idp.example.com/k",
            "code_challenge_methods_supported": ["plain"]}),
        )
        .unwrap();
        assert!(!plain.supports_s256());
        secure_url("http://127.0.0.1:4444/").unwrap();
        secure_url("http://[::1]/").unwrap();
        assert!(secure_url("http://10.0.0.1/").is_err());
    }
}
