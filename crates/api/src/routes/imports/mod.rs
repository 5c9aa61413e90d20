//! `/v1/imports`: submit, list, read, follow and cancel import requests.
//!
//! One file per concern: [`schema`] holds what goes over the wire,
//! [`access`] who may see and touch a request, [`idempotency`] the
//! `Idempotency-Key` replay protocol, and the handlers live in [`create`],
//! [`read`], [`review`] (approve, reject, cancel) and [`lifecycle`] (retry,
//! delete the model, promote).

mod access;
mod create;
mod idempotency;
mod lifecycle;
mod package;
mod read;
mod review;
mod schema;

use ferry_domain::ids::ImportId;
use http::HeaderValue;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) use access::load_visible;
pub(crate) use schema::{EventOut, ImportStatus};

use crate::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create::create_import, read::list_imports))
        .routes(routes!(read::get_import))
        .routes(routes!(read::list_events))
        .routes(routes!(review::cancel_import))
        .routes(routes!(review::approve_import))
        .routes(routes!(review::reject_import))
        .routes(routes!(lifecycle::retry_import))
        .routes(routes!(lifecycle::delete_model))
        .routes(routes!(lifecycle::promote_import))
}

pub(super) fn location(id: ImportId) -> HeaderValue {
    HeaderValue::from_str(&format!("/v1/imports/{id}"))
        .unwrap_or_else(|_| HeaderValue::from_static("/v1/imports"))
}
