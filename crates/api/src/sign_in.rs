//! The dashboard's single sign-on: the authorization code flow with PKCE
//! (RFC 7636, S256) with the `[auth.oidc]` issuer, the dashboard being a
//! public client (no client secret exists anywhere).
//!
//! The browser makes the PKCE verifier, `state` and `nonce`, sends the user
//! to the issuer's authorization endpoint and checks `state` when the issuer
//! sends the user back. The code is exchanged here, by Ferry, at the
//! issuer's token endpoint, so that the page's Content-Security-Policy stays
//! `connect-src 'self'` and no issuer has to allow cross-origin calls: the
//! page posts the code, its verifier and the nonce; Ferry forwards the code
//! and verifier (and the client id, nothing secret), checks the ID token it
//! gets back like any bearer JWT, checks its `nonce`, and hands it to the
//! page, which then uses it as its bearer token until it expires.
//!
//! Two routes beside the page's files, outside the API document and without
//! a token (the caller has none yet): `GET /ui/sign-in/config`, what the page
//! needs to start (all of it public), and `POST /ui/sign-in/token`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::routing::{get, post};
use axum::{Router, http::request::Parts};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::extract::JsonBody;
use crate::oidc::{DashboardClient, Discovery, OidcVerifier};
use crate::{ApiError, AppState, FieldProblem};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/sign-in/config", get(config))
        .route("/ui/sign-in/token", post(token))
}

/// What the page needs to send the user to the issuer.
#[derive(Debug, Serialize)]
struct SignInConfig {
    /// The dashboard signs in through the issuer; else with a pasted token only.
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization_endpoint: Option<String>,
    /// Where to end the issuer's session on logout, when it offers one.
    #[serde(skip_serializing_if = "Option::is_none")]
    end_session_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_path: Option<String>,
}

/// The verifier, its dashboard client and the issuer's endpoints, or why
/// sign-on is not available.
async fn sso(
    state: &AppState,
) -> Result<Option<(Arc<OidcVerifier>, DashboardClient, Arc<Discovery>)>, ApiError> {
    let Some(verifier) = &state.oidc else {
        return Ok(None);
    };
    let Some(client) = verifier.settings().dashboard.clone() else {
        return Ok(None);
    };
    let discovery = verifier.discovery().await.map_err(|e| {
        ApiError::unavailable(
            "the identity provider's discovery document could not be read; try again later",
        )
        .with_cause(e.to_string())
    })?;
    if discovery.authorization_endpoint.is_none() || discovery.token_endpoint.is_none() {
        return Err(ApiError::unavailable(
            "the identity provider's discovery document names no authorization or token endpoint",
        ));
    }
    if !discovery.supports_s256() {
        return Err(ApiError::unavailable(
            "the identity provider does not offer PKCE with S256, which the dashboard's sign-in requires",
        ));
    }
    Ok(Some((Arc::clone(verifier), client, discovery)))
}

async fn config(State(state): State<AppState>) -> Result<Json<SignInConfig>, ApiError> {
    let Some((_, client, discovery)) = sso(&state).await? else {
        return Ok(Json(SignInConfig {
            enabled: false,
            issuer: None,
            authorization_endpoint: None,
            end_session_endpoint: None,
            client_id: None,
            scope: None,
            redirect_path: None,
        }));
    };
    Ok(Json(SignInConfig {
        enabled: true,
        issuer: Some(discovery.issuer.clone()),
        authorization_endpoint: discovery
            .authorization_endpoint
            .as_ref()
            .map(ToString::to_string),
        end_session_endpoint: discovery
            .end_session_endpoint
            .as_ref()
            .map(ToString::to_string),
        client_id: Some(client.client_id),
        scope: Some(client.scopes.join(" ")),
        redirect_path: Some(client.redirect_path),
    }))
}

/// The code the issuer sent back, with what the page kept for it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    code: String,
    /// The PKCE verifier whose S256 challenge went with the authorization request.
    code_verifier: String,
    /// The redirect URI of the authorization request, exactly.
    redirect_uri: String,
    /// The nonce of the authorization request; the ID token must carry it.
    nonce: String,
}

#[derive(Debug, Serialize)]
struct TokenAnswer {
    /// The bearer token for the API.
    id_token: String,
    /// When it expires (Unix seconds): the page signs in again then.
    expires_at: i64,
    name: String,
    role: String,
}

fn problem(field: &str, rule: &str, detail: impl Into<String>) -> FieldProblem {
    FieldProblem {
        pointer: format!("/{field}"),
        rule: rule.to_owned(),
        detail: detail.into(),
    }
}

impl TokenRequest {
    /// Each field against its rule; the redirect URI's path must be the
    /// configured one (the issuer compares the whole URI with the
    /// registered one).
    fn check(&self, client: &DashboardClient) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        let visible = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
        if self.code.is_empty() || self.code.len() > 2048 || !visible(&self.code) {
            errors.push(problem(
                "code",
                "sign_in.code",
                "the authorization code must be 1 to 2048 visible ASCII characters",
            ));
        }
        // RFC 7636 §4.1: 43 to 128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
        let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
        if !(43..=128).contains(&self.code_verifier.len())
            || !self.code_verifier.bytes().all(unreserved)
        {
            errors.push(problem(
                "code_verifier",
                "sign_in.code_verifier",
                "a PKCE code verifier is 43 to 128 characters of letters, digits and -._~ (RFC 7636)",
            ));
        }
        if self.nonce.is_empty() || self.nonce.len() > 256 || !visible(&self.nonce) {
            errors.push(problem(
                "nonce",
                "sign_in.nonce",
                "the nonce must be 1 to 256 visible ASCII characters",
            ));
        }
        match reqwest::Url::parse(&self.redirect_uri) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.path() == client.redirect_path
                    && u.query().is_none()
                    && u.fragment().is_none() => {}
            _ => errors.push(problem(
                "redirect_uri",
                "sign_in.redirect_uri",
                format!(
                    "the redirect URI must be the dashboard's address ending in {:?}, without query or fragment",
                    client.redirect_path
                ),
            )),
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

/// The client's address for the failed-authentication throttle.
struct ClientAddress(std::net::IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(state.settings.auth_throttle.client(parts)))
    }
}

/// A short, printable excerpt of what the issuer said, for the user.
fn excerpt(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

async fn token(
    State(state): State<AppState>,
    ClientAddress(client_ip): ClientAddress,
    JsonBody(body): JsonBody<TokenRequest>,
) -> Result<Json<TokenAnswer>, ApiError> {
    let (verifier, client, discovery) = sso(&state).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this Ferry's dashboard does not sign in through an identity provider",
        )
    })?;
    body.check(&client)?;
    let throttle = &state.settings.auth_throttle;
    if let Some(wait) = throttle.check(client_ip, &body.code) {
        return Err(ApiError::too_many_failures(wait));
    }
    let refused = |detail: String| {
        throttle.failed(client_ip);
        ApiError::invalid_token(detail)
    };
    let Some(endpoint) = discovery.token_endpoint.clone() else {
        return Err(ApiError::unavailable(
            "the identity provider names no token endpoint",
        ));
    };
    let res = verifier
        .http()
        .post(endpoint)
        .header(http::header::ACCEPT, "application/json")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", body.code.as_str()),
            ("redirect_uri", body.redirect_uri.as_str()),
            ("client_id", client.client_id.as_str()),
            ("code_verifier", body.code_verifier.as_str()),
        ])
        .send()
        .await
        .map_err(|e| {
            ApiError::unavailable("the identity provider did not answer; try again later")
                .with_cause(e.to_string())
        })?;
    let status = res.status();
    let bytes = crate::oidc::read_bounded(res).await.map_err(|e| {
        ApiError::unavailable("the identity provider's answer could not be read").with_cause(e)
    })?;
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        let error = answer.get("error").and_then(Value::as_str).unwrap_or("");
        let description = answer
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or("");
        if status.is_server_error() {
            return Err(ApiError::unavailable(format!(
                "the identity provider answered {status}; try again later"
            )));
        }
        return Err(refused(
            format!(
                "the identity provider refused the sign-in: {} {}",
                excerpt(error),
                excerpt(description)
            )
            .trim_end()
            .to_owned(),
        ));
    }
    let id_token = answer
        .get("id_token")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "identity_provider_error",
                "the identity provider's token answer holds no ID token (is \"openid\" among the scopes?)",
            )
        })?
        .to_owned();
    let (principal, claims) = match verifier.verify_claims(&id_token).await {
        Ok(v) => v,
        Err(e) => {
            let e = ApiError::from(e);
            if e.status() == StatusCode::UNAUTHORIZED {
                throttle.failed(client_ip);
            }
            return Err(e);
        }
    };
    if claims.get("nonce").and_then(Value::as_str) != Some(body.nonce.as_str()) {
        return Err(refused(
            "the ID token's nonce is not the one of this sign-in".into(),
        ));
    }
    if let Some(team) = &principal.team
        && principal.role == ferry_domain::auth::Role::Researcher
        && state.catalog.team(team).is_none()
    {
        return Err(refused(format!(
            "the token's team {team} is not a team declared in Ferry's configuration"
        )));
    }
    let expires_at = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    throttle.succeeded(&id_token);
    Ok(Json(TokenAnswer {
        id_token,
        expires_at,
        name: principal.name,
        role: principal.role.to_string(),
    }))
}
