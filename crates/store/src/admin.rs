//! Server-level chores for local setups: is a server there, create a database.

use sqlx::{Connection, PgConnection};

use crate::StoreError;

/// The server at `url` accepts a connection.
pub async fn answers(url: &str) -> bool {
    PgConnection::connect(url).await.is_ok()
}

/// Drops database `name` (disconnecting its sessions) and creates it afresh;
/// returns a URL for it. For throwaway local setups only.
pub async fn recreate_database(server_url: &str, name: &str) -> Result<String, StoreError> {
    check_name(name)?;
    let mut conn = PgConnection::connect(server_url).await?;
    // Identifiers cannot be bound; `name` was checked above.
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    drop(conn);
    ensure_database(server_url, name).await
}

fn check_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(StoreError::Corrupt(format!(
            "{name:?} is not a plain database name"
        )));
    }
    Ok(())
}

/// Creates database `name` on the server `server_url` points at, unless it
/// exists, and returns a URL for it. `name` must be a plain identifier.
pub async fn ensure_database(server_url: &str, name: &str) -> Result<String, StoreError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(StoreError::Corrupt(format!(
            "{name:?} is not a plain database name"
        )));
    }
    let mut conn = PgConnection::connect(server_url).await?;
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS "exists!""#,
        name
    )
    .fetch_one(&mut conn)
    .await?;
    if !exists {
        // Identifiers cannot be bound; `name` was checked above.
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
    }
    let (base, query) = match server_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server_url, None),
    };
    let base = &base[..base.rfind('/').unwrap_or(base.len())];
    Ok(match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    })
}
