//! The REST API against a real Postgres, over real HTTP.

#![allow(clippy::unwrap_used)]

mod actions;
mod auth;
mod conformance;
mod dashboard;
mod environments;
mod errors;
mod events;
mod hardening;
mod health;
mod idempotency;
mod imports;
mod mcp;
mod model_packages;
mod oidc;
mod openapi;
mod pagination;
mod review;
mod serving;
mod webhooks;
