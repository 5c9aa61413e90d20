//! API bearer tokens, stored as SHA-256 digests only.

use ferry_domain::auth::Role;
use ferry_domain::names::TeamName;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub team: Option<TeamName>,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
}

/// Stores a token's digest. The token itself is never stored.
#[tracing::instrument(skip_all, fields(token_id = %id, role = %role), err)]
pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
    role: Role,
    team: Option<&str>,
    digest: &[u8],
    expires_at: Option<OffsetDateTime>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO api_tokens (id, name, role, team, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        name,
        role.as_str(),
        team,
        digest,
        expires_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The live (not revoked, not expired) token with this digest.
pub async fn find_live(
    conn: &mut PgConnection,
    digest: &[u8],
) -> Result<Option<TokenRecord>, StoreError> {
    let row = sqlx::query!(
        "SELECT id, name, role, team, created_at, expires_at FROM api_tokens
         WHERE token_hash = $1 AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > now())",
        digest
    )
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(TokenRecord {
            id: r.id,
            name: r.name,
            role: r
                .role
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("api_tokens.role: {e}")))?,
            team: r
                .team
                .as_deref()
                .map(TeamName::parse)
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("api_tokens.team: {e}")))?,
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    })
    .transpose()
}

/// Revokes a token; later lookups no longer find it.
pub async fn revoke(conn: &mut PgConnection, id: Uuid) -> Result<(), StoreError> {
    let done = sqlx::query!(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        id
    )
    .execute(conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
