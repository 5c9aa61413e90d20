//! The readiness check after an import: which invocations Ferry tries on an imported model,
//! with which minimal bodies, and what it has found so far.
//!
//! Bedrock answers `ModelNotReadyException` while it loads an imported model (after the
//! import and again after an idle period; AWS re:Post, "bedrock-imported-models-
//! modelnotreadyexception"; botocore's bedrock-runtime service model documents the error on
//! `InvokeModel` and `Converse`). The check invokes the model in the format its family takes
//! ([`crate::artifacts::SUPPORTED_ARCHITECTURES`]) until it answers or the readiness timeout
//! passes, then tries the other APIs the family takes, one call per worker step.
//!
//! [`Readiness`] is what the worker stores between steps (under `serving` in the request's
//! `imported_model` details), so a replica that takes a request over continues where the
//! last one stopped.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::artifacts::{Architecture, architecture_named};

/// The key of the readiness check in a request's `imported_model` details.
pub const DETAILS_KEY: &str = "serving";

/// The prompt of every readiness invocation: a few words, so the check costs a few tokens.
pub const PROBE_PROMPT: &str = "Reply with one word: ready";

/// The most tokens a readiness invocation asks for.
pub const PROBE_MAX_TOKENS: u32 = 8;

/// One way of invoking an imported model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServingApi {
    /// `InvokeModel` with the Bedrock-native completion body (`prompt`, `max_gen_len`).
    InvokeModelNative,
    /// `InvokeModel` with the OpenAI-compatible ChatCompletion body (`messages`, `max_tokens`).
    InvokeModelOpenaiChat,
    /// `Converse` (messages).
    Converse,
}

impl ServingApi {
    pub const ALL: [ServingApi; 3] = [
        Self::InvokeModelNative,
        Self::InvokeModelOpenaiChat,
        Self::Converse,
    ];

    /// The stored and published name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvokeModelNative => "invoke_model_native",
            Self::InvokeModelOpenaiChat => "invoke_model_openai_chat",
            Self::Converse => "converse",
        }
    }

    /// A human description, e.g. for a condition's message.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::InvokeModelNative => "InvokeModel (native body)",
            Self::InvokeModelOpenaiChat => "InvokeModel (OpenAI ChatCompletion body)",
            Self::Converse => "Converse",
        }
    }

    /// The `InvokeModel` body of this API's readiness invocation; `None` for `Converse`.
    pub fn invoke_body(self) -> Option<serde_json::Value> {
        match self {
            Self::InvokeModelNative => Some(serde_json::json!({
                "prompt": PROBE_PROMPT,
                "max_gen_len": PROBE_MAX_TOKENS,
            })),
            Self::InvokeModelOpenaiChat => Some(serde_json::json!({
                "messages": [{"role": "user", "content": PROBE_PROMPT}],
                "max_tokens": PROBE_MAX_TOKENS,
            })),
            Self::Converse => None,
        }
    }
}

impl std::fmt::Display for ServingApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The APIs to try on a model of `architecture` (GetImportedModel's `modelArchitecture`), the
/// first being the one the readiness check waits on: the native body where the family takes
/// it, else the OpenAI-compatible one. An architecture Ferry does not know gets every API
/// tried (what answers is then recorded, not assumed).
#[must_use]
pub fn probes(architecture: Option<&str>) -> Vec<ServingApi> {
    let row: Option<&Architecture> = architecture.and_then(architecture_named);
    let Some(row) = row else {
        return ServingApi::ALL.to_vec();
    };
    let mut out = Vec::with_capacity(3);
    if row.apis.native {
        out.push(ServingApi::InvokeModelNative);
    }
    if row.apis.openai_chat_completions {
        out.push(ServingApi::InvokeModelOpenaiChat);
    }
    if row.apis.converse {
        out.push(ServingApi::Converse);
    }
    out
}

/// What one API did when Ferry tried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiResult {
    pub api: ServingApi,
    /// It answered.
    pub answered: bool,
    /// How long the answer took, in milliseconds (answered only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// What Bedrock said instead (not answered only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The readiness check so far, as stored between steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// When the model became available to invoke: the import job's end (or, without it,
    /// when Ferry saw the job complete). The cold start is counted from here.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// When Ferry stops waiting for a first answer.
    #[serde(with = "time::serde::rfc3339")]
    pub deadline: OffsetDateTime,
    /// Invocations made.
    #[serde(default)]
    pub invocations: u32,
    /// How many of them Bedrock answered `ModelNotReadyException`.
    #[serde(default)]
    pub not_ready: u32,
    /// The last error of an invocation that did not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the model first answered.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub first_answer_at: Option<OffsetDateTime>,
    /// From `since` to the first answer, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_start_ms: Option<u64>,
    /// How long the first answer took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_answer_latency_ms: Option<u64>,
    /// The APIs tried, in the order tried.
    #[serde(default)]
    pub apis: Vec<ApiResult>,
    /// The check is over: `true` the model answered, `false` it never did (or was refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<bool>,
}

impl Readiness {
    /// A check starting now for a model available since `since`, giving up on a first
    /// answer `timeout` after `started`.
    pub fn start(
        since: OffsetDateTime,
        started: OffsetDateTime,
        timeout: std::time::Duration,
    ) -> Self {
        let timeout = time::Duration::try_from(timeout).unwrap_or(time::Duration::minutes(15));
        Self {
            since,
            deadline: started + timeout,
            invocations: 0,
            not_ready: 0,
            last_error: None,
            first_answer_at: None,
            cold_start_ms: None,
            first_answer_latency_ms: None,
            apis: Vec::new(),
            serving: None,
        }
    }

    /// The next API to try among `probes`, if any is left.
    #[must_use]
    pub fn next(&self, probes: &[ServingApi]) -> Option<ServingApi> {
        probes
            .iter()
            .copied()
            .find(|p| !self.apis.iter().any(|r| r.api == *p))
    }

    /// Whether the model has answered at least once.
    #[must_use]
    pub fn answered(&self) -> bool {
        self.first_answer_at.is_some()
    }

    /// Records an answer of `api` at `at`, after `latency`.
    pub fn record_answer(&mut self, api: ServingApi, at: OffsetDateTime, latency_ms: u64) {
        self.invocations = self.invocations.saturating_add(1);
        if self.first_answer_at.is_none() {
            self.first_answer_at = Some(at);
            self.cold_start_ms = Some(millis(at - self.since));
            self.first_answer_latency_ms = Some(latency_ms);
        }
        self.apis.push(ApiResult {
            api,
            answered: true,
            latency_ms: Some(latency_ms),
            error: None,
        });
    }

    /// Records that `api` refused for a reason waiting does not fix (a body the model does
    /// not take, say): that API is recorded as not working, and the next one is tried.
    pub fn record_refusal(&mut self, api: ServingApi, error: String) {
        self.invocations = self.invocations.saturating_add(1);
        self.last_error = Some(error.clone());
        self.apis.push(ApiResult {
            api,
            answered: false,
            latency_ms: None,
            error: Some(error),
        });
    }

    /// Records a `ModelNotReadyException` (or another error worth waiting out).
    pub fn record_not_ready(&mut self, error: String, model_not_ready: bool) {
        self.invocations = self.invocations.saturating_add(1);
        if model_not_ready {
            self.not_ready = self.not_ready.saturating_add(1);
        }
        self.last_error = Some(error);
    }

    /// The APIs verified to answer.
    #[must_use]
    pub fn verified(&self) -> Vec<ServingApi> {
        self.apis
            .iter()
            .filter(|r| r.answered)
            .map(|r| r.api)
            .collect()
    }

    /// A sentence for the `Serving=True` condition.
    #[must_use]
    pub fn answered_message(&self) -> String {
        let apis: Vec<&str> = self
            .verified()
            .into_iter()
            .map(ServingApi::describe)
            .collect();
        format!(
            "answered after a cold start of {:.1} s ({} ModelNotReadyException answers first); verified: {}",
            self.cold_start_ms.unwrap_or(0) as f64 / 1000.0,
            self.not_ready,
            apis.join(", ")
        )
    }
}

fn millis(d: time::Duration) -> u64 {
    u64::try_from(d.whole_milliseconds().max(0)).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_family_is_probed_in_the_formats_its_row_lists_native_first() {
        assert_eq!(
            probes(Some("llama")),
            vec![
                ServingApi::InvokeModelNative,
                ServingApi::InvokeModelOpenaiChat,
                ServingApi::Converse
            ]
        );
        assert_eq!(
            probes(Some("qwen3")),
            vec![
                ServingApi::InvokeModelNative,
                ServingApi::InvokeModelOpenaiChat
            ]
        );
        assert_eq!(
            probes(Some("gpt-oss")),
            vec![ServingApi::InvokeModelOpenaiChat]
        );
        assert_eq!(probes(Some("something-new")), ServingApi::ALL.to_vec());
        assert_eq!(probes(None), ServingApi::ALL.to_vec());
    }

    #[test]
    fn bodies_are_minimal_and_in_each_format() {
        let native = ServingApi::InvokeModelNative.invoke_body().unwrap();
        assert_eq!(native["max_gen_len"], PROBE_MAX_TOKENS);
        assert!(native.get("messages").is_none());
        let chat = ServingApi::InvokeModelOpenaiChat.invoke_body().unwrap();
        assert_eq!(chat["messages"][0]["role"], "user");
        assert_eq!(chat["max_tokens"], PROBE_MAX_TOKENS);
        assert!(ServingApi::Converse.invoke_body().is_none());
    }

    #[test]
    fn the_cold_start_counts_from_the_import_and_only_the_first_answer_sets_it() {
        let t0 = time::macros::datetime!(2026-11-30 12:00:00 UTC);
        let mut r = Readiness::start(t0, t0, std::time::Duration::from_secs(900));
        assert_eq!(r.deadline, t0 + time::Duration::minutes(15));
        let all = probes(Some("llama"));
        assert_eq!(r.next(&all), Some(ServingApi::InvokeModelNative));
        r.record_not_ready("ModelNotReadyException: loading".into(), true);
        r.record_not_ready("ThrottlingException: slow down".into(), false);
        assert_eq!((r.invocations, r.not_ready), (2, 1));
        assert_eq!(
            r.next(&all),
            Some(ServingApi::InvokeModelNative),
            "still waiting"
        );
        r.record_refusal(ServingApi::InvokeModelNative, "ValidationException".into());
        assert!(!r.answered());
        assert_eq!(r.next(&all), Some(ServingApi::InvokeModelOpenaiChat));
        r.record_answer(
            ServingApi::InvokeModelOpenaiChat,
            t0 + time::Duration::seconds(42),
            120,
        );
        assert_eq!(r.cold_start_ms, Some(42_000));
        assert_eq!(r.first_answer_latency_ms, Some(120));
        assert_eq!(r.next(&all), Some(ServingApi::Converse));
        r.record_answer(ServingApi::Converse, t0 + time::Duration::seconds(43), 80);
        assert_eq!(r.next(&all), None);
        assert_eq!(
            r.cold_start_ms,
            Some(42_000),
            "set by the first answer only"
        );
        assert_eq!(r.first_answer_latency_ms, Some(120));
        assert_eq!(
            r.verified(),
            vec![ServingApi::InvokeModelOpenaiChat, ServingApi::Converse]
        );
        let msg = r.answered_message();
        assert!(msg.contains("42.0 s"), "{msg}");
        assert!(msg.contains("1 ModelNotReadyException"), "{msg}");
        let back: Readiness = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
