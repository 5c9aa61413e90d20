//! bedrock-runtime for imported models: `InvokeModel` and `Converse` on imported-model ARNs,
//! answering small deterministic completions, with the cold start Bedrock imposes on an
//! imported model that is not loaded.
//!
//! Sources for what is imitated:
//!
//! - The wire: botocore's `bedrock-runtime/2023-09-30/service-2.json` (REST-JSON, signing name
//!   `bedrock`, `POST /model/{modelId}/invoke` and `POST /model/{modelId}/converse`, endpoint
//!   prefix `bedrock-runtime`). With one `endpoint_url` the control plane and the runtime reach
//!   the same port under the same signing name, so [`is_runtime_path`] routes by path.
//! - Authorization: `InvokeModel` and `Converse` both require `bedrock:InvokeModel` on the model
//!   (API reference, Converse: "This operation requires permission for the bedrock:InvokeModel
//!   action"; user guide, "Prerequisites for running model inference").
//! - Cold start: an imported model that is not loaded answers `ModelNotReadyException` (HTTP
//!   429, "Model is not ready for inference. Wait and try your request again."; AWS re:Post
//!   knowledge center, "bedrock-imported-models-modelnotreadyexception", which also says an
//!   unused model is evicted after a period, typically an hour; the service model says the SDK
//!   retries it up to 5 times). How long loading and idling take is configurable
//!   ([`RuntimeConfig`]), since AWS documents neither exactly.
//! - Which bodies and APIs a family takes: `ferry_domain::artifacts::SUPPORTED_ARCHITECTURES`
//!   (each row cites its page).
//!
//! The completion is a fixed rule, not a model: the prompt's words in reverse order, cut at the
//! request's token limit (default [`DEFAULT_MAX_TOKENS`]); a token is a whitespace-separated
//! word, for the usage counts too.

mod converse;
mod invoke;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use ferry_domain::artifacts::{Architecture, architecture_named};
use ferry_policy::iam::{RequestContext, ResourcePolicyMode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::server::{Caller, Ctx, authorize};
use crate::state::ImportedModel;
use crate::wire::{Service, SimError, SimRequest, SimResult, percent_decode};

/// Tokens generated when the request sets no limit.
pub const DEFAULT_MAX_TOKENS: usize = 16;

/// How an imported model warms up and goes cold again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeConfig {
    /// How long a model answers `ModelNotReadyException` after its import, and after the first
    /// request that finds it evicted, in milliseconds (default 2000; AWS: up to minutes).
    pub cold_start_ms: u64,
    /// After how long without a served request a loaded model is evicted, in milliseconds;
    /// `null` never (default 300000: an AWS sample says five minutes, re:Post about an hour).
    pub idle_after_ms: Option<u64>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cold_start_ms: 2_000,
            idle_after_ms: Some(300_000),
        }
    }
}

/// When a model became (or becomes) loaded, and when it last served a request.
#[derive(Debug, Clone, Copy)]
struct Warmth {
    loading_since: OffsetDateTime,
    last_served: Option<OffsetDateTime>,
}

/// The runtime's own state: its configuration and which models are loaded.
#[derive(Debug, Default)]
pub struct Runtime {
    config: Mutex<RuntimeConfig>,
    warmth: Mutex<HashMap<String, Warmth>>,
    /// When each model served a request (CloudWatch's `Invocations`), by model ARN.
    served: Mutex<HashMap<String, Vec<OffsetDateTime>>>,
}

impl Runtime {
    /// The current configuration.
    #[must_use]
    pub fn config(&self) -> RuntimeConfig {
        *lock(&self.config)
    }

    /// Replaces the configuration (loaded models stay loaded).
    pub fn set_config(&self, config: RuntimeConfig) {
        *lock(&self.config) = config;
    }

    /// Sets the cold start.
    pub fn set_cold_start(&self, d: Duration) {
        lock(&self.config).cold_start_ms = millis(d);
    }

    /// The times `model_arn` (of `account`) served a request within `[start, end)`: what
    /// CloudWatch's `AWS/Bedrock` `Invocations` counts.
    pub(crate) fn invocations(
        &self,
        account: &str,
        model_arn: &str,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Vec<OffsetDateTime> {
        if model_arn.split(':').nth(4) != Some(account) {
            return Vec::new();
        }
        lock(&self.served)
            .get(model_arn)
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|t| *t >= start && *t < end)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Records that `model_arn` served a request at `at`.
    fn record(&self, model_arn: &str, at: OffsetDateTime) {
        lock(&self.served)
            .entry(model_arn.to_owned())
            .or_default()
            .push(at);
    }

    /// Sets the idle time after which a model is evicted (`None`: never).
    pub fn set_idle_after(&self, d: Option<Duration>) {
        lock(&self.config).idle_after_ms = d.map(millis);
    }

    /// Decides whether `model` may serve now; a served request keeps it loaded.
    fn admit(&self, model: &ImportedModel, now: OffsetDateTime) -> SimResult<()> {
        let cfg = self.config();
        let cold =
            time::Duration::milliseconds(i64::try_from(cfg.cold_start_ms).unwrap_or(i64::MAX));
        let mut warmth = lock(&self.warmth);
        let w = warmth.entry(model.arn.clone()).or_insert(Warmth {
            loading_since: model.created,
            last_served: None,
        });
        let loaded_at = w.loading_since + cold;
        if let Some(idle) = cfg.idle_after_ms
            && now >= loaded_at
        {
            let idle = time::Duration::milliseconds(i64::try_from(idle).unwrap_or(i64::MAX));
            let active = w.last_served.unwrap_or(loaded_at);
            if now - active > idle {
                tracing::debug!(model = %model.arn, "evicted after idling; loading again");
                *w = Warmth {
                    loading_since: now,
                    last_served: None,
                };
            }
        }
        if now < w.loading_since + cold {
            return Err(SimError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "ModelNotReadyException",
                "Model is not ready for inference. Wait and try your request again.",
            ));
        }
        w.last_served = Some(now);
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whether `path` is a bedrock-runtime path (`/model/{modelId}/...`).
pub(crate) fn is_runtime_path(path: &str) -> bool {
    path.starts_with("/model/")
}

pub(crate) fn validation(msg: impl Into<String>) -> SimError {
    SimError::new(StatusCode::BAD_REQUEST, "ValidationException", msg)
}

/// Bedrock's wording for a body the model cannot take.
pub(crate) fn malformed(detail: &str) -> SimError {
    validation(format!(
        "Malformed input request: {detail}, please reformat your input and try again."
    ))
}

/// The model a request names, with its family's row.
pub(crate) struct Target {
    pub(crate) model: ImportedModel,
    pub(crate) arch: Option<&'static Architecture>,
}

pub(crate) async fn handle(ctx: &Ctx, req: &SimRequest, caller: &Caller) -> SimResult {
    let segments: Vec<String> = req
        .path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (op, model_id) = match (&req.method, seg.as_slice()) {
        (&Method::POST, ["model", id, "invoke"]) => ("InvokeModel", *id),
        (&Method::POST, ["model", id, "converse"]) => ("Converse", *id),
        _ => {
            return Err(SimError::new(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                format!(
                    "ferry-sim does not implement Bedrock Runtime {} {}",
                    req.method, req.path
                ),
            ));
        }
    };
    ctx.gate(Service::Bedrock, op).await?;
    let result = serve(ctx, req, caller, op, model_id);
    ctx.faults.after(Service::Bedrock.name(), op).await;
    result
}

fn serve(ctx: &Ctx, req: &SimRequest, caller: &Caller, op: &str, model_id: &str) -> SimResult {
    let target = resolve(ctx, caller, model_id)?;
    let started = std::time::Instant::now();
    let answer = match op {
        "InvokeModel" => invoke::parse(req, &target)?,
        _ => converse::parse(req, &target)?,
    };
    let now = ctx.clock.now();
    ctx.runtime.admit(&target.model, now)?;
    ctx.runtime.record(&target.model.arn, now);
    Ok(match answer {
        Answer::Invoke(a) => invoke::respond(&a, &target),
        Answer::Converse(a) => converse::respond(&a, started.elapsed()),
    })
}

/// Authorizes `bedrock:InvokeModel` on the model, then finds it.
fn resolve(ctx: &Ctx, caller: &Caller, model_id: &str) -> SimResult<Target> {
    let state = ctx.state();
    let resource = if model_id.starts_with("arn:") {
        model_id.to_owned()
    } else {
        format!(
            "arn:aws:bedrock:{}::foundation-model/{model_id}",
            ctx.region
        )
    };
    let rctx = RequestContext::new(
        caller.principal.clone(),
        "bedrock:InvokeModel",
        resource,
        caller.account(),
    );
    authorize(
        &state,
        Service::Bedrock,
        &rctx,
        None,
        ResourcePolicyMode::Optional,
    )?;
    let model = state
        .models
        .iter()
        .find(|m| m.arn == model_id && m.account == caller.account())
        .cloned()
        .ok_or_else(|| validation("The provided model identifier is invalid."))?;
    let arch = architecture_named(&model.architecture);
    Ok(Target { model, arch })
}

/// A parsed request, answered once the model is loaded.
pub(crate) enum Answer {
    Invoke(invoke::Request),
    Converse(converse::Request),
}

/// The fixed rule: the prompt's words reversed, at most `max_tokens` of them. Returns the
/// completion, the prompt's token count, the completion's, and whether it was cut.
pub(crate) fn complete(prompt: &str, max_tokens: usize) -> (String, usize, usize, bool) {
    let words: Vec<&str> = prompt.split_whitespace().collect();
    let out: Vec<&str> = words.iter().rev().take(max_tokens).copied().collect();
    let truncated = out.len() < words.len();
    (out.join(" "), words.len(), out.len(), truncated)
}

/// `/_sim/runtime`: `GET` the [`RuntimeConfig`], `POST`/`PUT` a new one.
pub(crate) fn admin(ctx: &Ctx, req: &SimRequest) -> axum::response::Response {
    use crate::server::ok_json;
    match req.method {
        Method::GET => ok_json(&serde_json::to_value(ctx.runtime.config()).unwrap_or_default()),
        Method::POST | Method::PUT => match serde_json::from_slice::<RuntimeConfig>(&req.body) {
            Ok(cfg) => {
                ctx.runtime.set_config(cfg);
                ok_json(&serde_json::to_value(cfg).unwrap_or_default())
            }
            Err(e) => crate::wire::json_response(
                StatusCode::BAD_REQUEST,
                "application/json",
                &serde_json::json!({"error": format!("invalid runtime configuration: {e}")}),
            ),
        },
        _ => crate::wire::json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "application/json",
            &serde_json::json!({"error": "GET or POST"}),
        ),
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn model(created: OffsetDateTime) -> ImportedModel {
        ImportedModel {
            arn: "arn:aws:bedrock:us-east-1:777788889999:imported-model/abcdefabcdef".into(),
            account: "777788889999".into(),
            name: "m".into(),
            job_arn: "j".into(),
            job_name: "j".into(),
            s3_uri: "s3://b/p/".into(),
            created,
            architecture: "llama".into(),
            kms_key_arn: None,
            instruct_supported: true,
            custom_model_units: 1,
            tags: Vec::new(),
        }
    }

    #[test]
    fn cold_after_import_warm_after_the_cold_start_cold_again_after_idling() {
        let rt = Runtime::default();
        rt.set_config(RuntimeConfig {
            cold_start_ms: 10_000,
            idle_after_ms: Some(60_000),
        });
        let t0 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let m = model(t0);
        let at = |s: i64| t0 + time::Duration::seconds(s);
        let err = rt.admit(&m, at(5)).expect_err("loading");
        assert_eq!(err.code, "ModelNotReadyException");
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        rt.admit(&m, at(10)).expect("loaded");
        rt.admit(&m, at(60)).expect("still warm");
        // Idle for more than a minute: the next request starts a new cold start.
        assert!(rt.admit(&m, at(200)).is_err());
        assert!(rt.admit(&m, at(205)).is_err());
        rt.admit(&m, at(210)).expect("loaded again");
        // Never evicted without an idle limit.
        rt.set_idle_after(None);
        rt.admit(&m, at(100_000)).expect("no eviction");
    }

    #[test]
    fn the_completion_rule_is_fixed() {
        assert_eq!(complete("a b c", 16), ("c b a".into(), 3, 3, false));
        assert_eq!(complete("a b c", 2), ("c b".into(), 3, 2, true));
        assert_eq!(complete("  ", 4), (String::new(), 0, 0, false));
    }
}
