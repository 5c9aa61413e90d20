//! The baseline of `scripts/bench-api.sh`: what axum and sqlx cost alone.
//! `POST /v1/imports` inserts one row, `GET /v1/imports/{id}` selects one by
//! primary key; no authentication, no validation beyond JSON decoding.
//!
//! Environment: `DATABASE_URL` (a database with the `records` table the
//! script creates), `LISTEN` (address), `MAX_CONNECTIONS` (pool size,
//! default 10 like Ferry's).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

#[derive(Deserialize)]
struct Create {
    source: String,
    environment: String,
    model_name: String,
    team: Option<String>,
}

#[derive(Serialize, sqlx::FromRow)]
struct Record {
    id: Uuid,
    team: String,
    environment: String,
    source_uri: String,
    model_name: String,
    status: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: sqlx::types::time::OffsetDateTime,
}

async fn create(
    State(pool): State<PgPool>,
    Json(body): Json<Create>,
) -> Result<(StatusCode, Json<Record>), StatusCode> {
    let row = sqlx::query_as::<_, Record>(
        "INSERT INTO records (id, team, environment, source_uri, model_name, status) \
         VALUES ($1, $2, $3, $4, $5, 'queued') \
         RETURNING id, team, environment, source_uri, model_name, status, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(body.team.as_deref().unwrap_or("research"))
    .bind(&body.environment)
    .bind(&body.source)
    .bind(&body.model_name)
    .fetch_one(&pool)
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok((StatusCode::CREATED, Json(row)))
}

async fn read(
    State(pool): State<PgPool>,
    Path(id): Path<Uuid>,
) -> Result<Json<Record>, StatusCode> {
    sqlx::query_as::<_, Record>(
        "SELECT id, team, environment, source_uri, model_name, status, created_at \
         FROM records WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&pool)
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
    .map(Json)
    .ok_or(StatusCode::NOT_FOUND)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")?;
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8090".into());
    let max = std::env::var("MAX_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .connect(&url)
        .await?;
    let app = Router::new()
        .route("/v1/imports", post(create))
        .route("/v1/imports/{id}", get(read))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
