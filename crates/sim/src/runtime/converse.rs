//! `Converse` on an imported model (API reference, Converse; `ConverseResponse` in the service
//! model: `output.message`, `stopReason`, `usage`, `metrics` required).
//!
//! Refused with Bedrock's `ValidationException` wording, "This action doesn't support the
//! model that you provided. Try again with a supported text or chat model.", for a family
//! whose row says Converse is not supported (user guide, "Invoke your imported model": Qwen2.5,
//! Qwen2-VL, Qwen2.5-VL, GPT-OSS; AWS's 2026 Qwen3 sample: Qwen3) and for a model imported
//! without instruct support (API reference, `ImportedModelSummary.instructSupported`:
//! "Specifies if the imported model supports converse").

use std::time::Duration;

use axum::response::Response;
use serde_json::{Value, json};

use super::{Answer, DEFAULT_MAX_TOKENS, Target, complete, validation};
use crate::server::ok_json;
use crate::wire::{SimRequest, SimResult};

/// A parsed Converse request.
pub(crate) struct Request {
    last_user: String,
    all_words: usize,
    max: usize,
}

/// The text blocks of a message's or the system prompt's `content`.
fn texts(blocks: Option<&Value>) -> String {
    blocks
        .and_then(Value::as_array)
        .map(|b| {
            b.iter()
                .filter_map(|c| c.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

pub(super) fn parse(req: &SimRequest, target: &Target) -> SimResult<Answer> {
    let supported = target.arch.is_none_or(|a| a.apis.converse) && target.model.instruct_supported;
    if !supported {
        return Err(validation(
            "This action doesn't support the model that you provided. Try again with a supported text or chat model.",
        ));
    }
    let body: Value = serde_json::from_slice(&req.body)
        .map_err(|_| validation("The request body is not valid JSON."))?;
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| validation("A conversation must start with a user message. Try again with a conversation that starts with a user message."))?;
    let turns: Vec<(&str, String)> = messages
        .iter()
        .map(|m| {
            (
                m.get("role").and_then(Value::as_str).unwrap_or_default(),
                texts(m.get("content")),
            )
        })
        .collect();
    if turns.first().is_some_and(|(r, _)| *r != "user") {
        return Err(validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        ));
    }
    let system = texts(body.get("system"));
    let last_user = turns
        .iter()
        .rev()
        .find(|(r, _)| *r == "user")
        .map(|(_, t)| t.clone())
        .unwrap_or_default();
    let max = body
        .pointer("/inferenceConfig/maxTokens")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    Ok(Answer::Converse(Request {
        all_words: system.split_whitespace().count()
            + turns
                .iter()
                .map(|(_, t)| t.split_whitespace().count())
                .sum::<usize>(),
        last_user,
        max,
    }))
}

pub(super) fn respond(request: &Request, took: Duration) -> Response {
    let (text, _, output, cut) = complete(&request.last_user, request.max);
    let input = request.all_words;
    ok_json(&json!({
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": if cut { "max_tokens" } else { "end_turn" },
        "usage": {"inputTokens": input, "outputTokens": output, "totalTokens": input + output},
        "metrics": {"latencyMs": u64::try_from(took.as_millis()).unwrap_or(u64::MAX)},
    }))
}
