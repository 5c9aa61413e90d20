//! `/_sim/` admin endpoints (unauthenticated, local only): health, faults, clock, scenario.
//!
//! * `GET /_sim/health` → `ok`
//! * `GET /_sim/calls` → requests received per `service:Operation`
//! * `GET /_sim/faults` → the [`crate::FaultConfig`] as JSON
//! * `PUT` or `POST /_sim/faults` with a [`crate::FaultConfig`] JSON body → replaces it
//! * `POST /_sim/clock` with `{"advance_secs": N}` → moves the sim's clock (expires sessions)
//! * `GET /_sim/scenario` → the [`crate::ScenarioInfo`]
//! * `GET /_sim/quotas` → the Service Quotas values set so far
//! * `PUT` or `POST /_sim/quotas` with `{"account", "quota_code", "value"[, "service_code"]}` →
//!   sets an account's applied quota value (see [`crate::quotas`])

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::json;

use crate::faults::FaultConfig;
use crate::server::{Ctx, ok_json};
use crate::wire::json_response;

fn bad(msg: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        "application/json",
        &json!({"error": msg}),
    )
}

pub(crate) fn handle(ctx: &Ctx, req: &crate::wire::SimRequest) -> Response {
    match (&req.method, req.path.as_str()) {
        (&Method::GET, "/_sim/health") => ok_json(&json!({"status": "ok"})),
        (&Method::GET, "/_sim/calls") => ok_json(&json!(ctx.faults.call_counts())),
        (&Method::GET, "/_sim/faults") => {
            ok_json(&serde_json::to_value(ctx.faults.get()).unwrap_or_default())
        }
        (&Method::PUT | &Method::POST, "/_sim/faults") => {
            match serde_json::from_slice::<FaultConfig>(&req.body) {
                Ok(cfg) => {
                    tracing::info!(?cfg, "fault configuration replaced");
                    ctx.faults.set(cfg);
                    ok_json(&serde_json::to_value(ctx.faults.get()).unwrap_or_default())
                }
                Err(e) => bad(&format!("invalid fault configuration: {e}")),
            }
        }
        (&Method::POST, "/_sim/clock") => {
            let secs = serde_json::from_slice::<serde_json::Value>(&req.body)
                .ok()
                .and_then(|v| v.get("advance_secs").and_then(serde_json::Value::as_i64));
            match secs {
                Some(s) => {
                    ctx.clock.advance(s);
                    ok_json(&json!({"now": crate::wire::iso8601(ctx.clock.now())}))
                }
                None => bad("expected {\"advance_secs\": N}"),
            }
        }
        (&Method::GET, "/_sim/quotas") => ok_json(&crate::quotas::admin_list(ctx)),
        (&Method::PUT | &Method::POST, "/_sim/quotas") => {
            match crate::quotas::admin_set(ctx, &req.body) {
                Ok(v) => ok_json(&v),
                Err(e) => bad(&e),
            }
        }
        (&Method::GET, "/_sim/scenario") => {
            let info = ctx
                .info
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            ok_json(&serde_json::to_value(info).unwrap_or_default())
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            "application/json",
            &json!({"error": "no such admin endpoint"}),
        ),
    }
}
