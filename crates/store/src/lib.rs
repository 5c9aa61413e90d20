//! Ferry's Postgres store: the only crate that speaks SQL.
//!
//! Queries are checked against the schema at compile time (`sqlx::query!`,
//! offline data in `.sqlx/`). Repository functions take a `&mut PgConnection`
//! so the caller owns the transaction and decides what commits together.

pub mod admin;
pub mod feed;
pub mod idempotency;
pub mod imports;
pub mod inventory;
pub mod notify;
pub mod sealed;
pub mod stats;
pub mod tokens;
pub mod webhooks;
pub mod work;

mod error;
mod health;

pub use error::StoreError;
pub use health::{acquire, begin, is_unavailable};
pub use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

/// The embedded migrations under `migrations/`, applied by `ferry migrate`
/// and when `ferry serve` starts.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Opens a pool. Connections are made lazily-but-checked: the first one is
/// opened here so a wrong URL fails at start, not at the first request.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
}

/// Applies pending migrations. Safe to run from several replicas at once:
/// sqlx takes an advisory lock.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// The database answers (or [`StoreError::Unavailable`], quickly).
pub async fn ping(pool: &PgPool) -> Result<(), StoreError> {
    let mut conn = acquire(pool).await?;
    sqlx::query!("SELECT 1 AS one")
        .fetch_one(&mut *conn)
        .await?;
    Ok(())
}
