//! Bearer authentication: Ferry's own tokens and OIDC JWTs.
//!
//! Ferry's tokens are `ferry_` followed by 43 characters of base64url (256
//! random bits). Only their SHA-256 digest is stored; a token is shown once,
//! when it is created, and never logged. A bearer token shaped like a JWT goes
//! to the OIDC verifier ([`crate::oidc`]) when an issuer is configured.

use axum::extract::FromRequestParts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferry_domain::auth::{Principal, Role};
use http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;

const TOKEN_PREFIX: &str = "ferry_";

/// A freshly generated token. `Debug` does not print it.
pub struct NewToken {
    pub secret: String,
    pub digest: Vec<u8>,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewToken([REDACTED])")
    }
}

pub fn generate_token() -> NewToken {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let digest = digest(&secret);
    NewToken { secret, digest }
}

pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        let header = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized("send an Authorization: Bearer <token> header")
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                let (scheme, rest) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be \"Bearer <token>\"")
            })?;
        let throttle = &state.settings.auth_throttle;
        let client = throttle.client(parts);
        if let Some(wait) = throttle.check(client, token) {
            return Err(ApiError::too_many_failures(wait));
        }
        let principal = match verify(state, token).await {
            Ok(p) => {
                throttle.succeeded(token);
                p
            }
            Err(e) if e.status() == http::StatusCode::UNAUTHORIZED => {
                throttle.failed(client);
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let caller = Caller(principal);
        tracing::Span::current().record("principal", caller.0.id.as_str());
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// The principal a bearer credential stands for, or why it is refused.
async fn verify(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let principal = if token.starts_with(TOKEN_PREFIX) {
        ferry_token(state, token).await?
    } else if crate::oidc::looks_like_jwt(token) {
        let verifier = state.oidc.as_ref().ok_or_else(|| {
            ApiError::invalid_token(
                "the token is a JWT, but OIDC is not configured on this Ferry; \
                 use a ferry_ token",
            )
        })?;
        let principal = verifier.verify(token).await?;
        if let Some(team) = &principal.team
            && principal.role == Role::Researcher
            && state.catalog.team(team).is_none()
        {
            return Err(ApiError::invalid_token(format!(
                "the token's team {team} is not a team declared in Ferry's configuration"
            )));
        }
        principal
    } else {
        return Err(ApiError::invalid_token(
            "the token is neither a Ferry token (ferry_...) nor a JWT",
        ));
    };
    Ok(principal)
}

/// The principal of a `ferry_` token, looked up by its digest (from this
/// replica's [`crate::token_cache`] when it looked it up moments ago).
async fn ferry_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let digest = digest(token);
    if let Some(principal) = state.tokens.get(&digest) {
        return Ok(principal);
    }
    let generation = state.tokens.generation();
    let mut conn = ferry_store::acquire(&state.pool).await?;
    let record = ferry_store::tokens::find_live(&mut conn, &digest)
        .await?
        .ok_or_else(|| ApiError::invalid_token("the token is unknown, revoked or expired"))?;
    drop(conn);
    let expires_in = record.expires_at.map(|at| {
        std::time::Duration::try_from(at - time::OffsetDateTime::now_utc())
            .unwrap_or(std::time::Duration::ZERO)
    });
    let principal = Principal {
        id: format!("token:{}", record.id),
        name: record.name,
        role: record.role,
        team: record.team,
    };
    state
        .tokens
        .put(generation, digest, principal.clone(), expires_in);
    Ok(principal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with("ferry_"));
        assert_eq!(a.secret.len(), 6 + 43);
        assert_eq!(a.digest, digest(&a.secret));
        assert_eq!(a.digest.len(), 32);
        assert!(!format!("{a:?}").contains(&a.secret));
    }
}
