use std::sync::Arc;

use ferry_domain::status::IllegalTransition;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; `constraint` names it.
    #[error("conflicts with an existing row ({constraint})")]
    Conflict { constraint: String },
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    /// The worker's lease on the row expired or was taken over: stop.
    #[error("the lease on this request is no longer held")]
    LeaseLost,
    /// A row holds a value the domain cannot parse: a bug or a manual edit.
    #[error("stored value is invalid: {0}")]
    Corrupt(String),
    /// The database cannot be reached right now (see [`crate::is_unavailable`]);
    /// retrying later may succeed.
    #[error("the database is unavailable")]
    Unavailable(#[source] Arc<sqlx::Error>),
    /// The database answers, but every connection of the pool stayed in use
    /// for the pool's whole acquire timeout: the database is busy, not away
    /// (told apart by [`crate::acquire`] and [`crate::begin`]).
    #[error("every database connection is in use")]
    Busy,
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return StoreError::Conflict {
                constraint: db.constraint().unwrap_or("unknown").to_owned(),
            };
        }
        if crate::is_unavailable(&e) {
            return StoreError::Unavailable(Arc::new(e));
        }
        if let sqlx::Error::RowNotFound = e {
            return StoreError::NotFound;
        }
        StoreError::Database(e)
    }
}
