//! `InvokeModel` on an imported model: the body formats the user guide's "Invoke your imported
//! model" page lists (BedrockCompletion, OpenAICompletion, OpenAIChatCompletion), each answered
//! in its own response format as a blob payload with a `Content-Type` header (service model:
//! `InvokeModelResponse.body` is the payload, `contentType` the `Content-Type` header).
//!
//! - BedrockCompletion, `{"prompt", "max_gen_len"?}` → `{"generation", "prompt_token_count",
//!   "generation_token_count", "stop_reason"}` (the Llama native body of the user guide's Meta
//!   Llama inference parameters page, which imported models reuse: "use the same inference
//!   parameters that is mentioned for the customized foundation model");
//! - OpenAICompletion, `{"prompt", "max_tokens"}` → `text_completion` with `choices[].text`
//!   and `usage`;
//! - OpenAIChatCompletion, `{"messages": [...], "max_tokens"?}` → `chat.completion` with
//!   `choices[].message` and `usage` (OpenAI's Chat Completions schema, which the guide
//!   points to).
//!
//! A family whose row does not take a format refuses it as malformed input (GPT-OSS takes the
//! OpenAI-compatible bodies only: user guide, code samples for custom model import).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Answer, DEFAULT_MAX_TOKENS, Target, complete, malformed, validation};
use crate::wire::{SimRequest, SimResult, json_response};

/// The body format of an `InvokeModel` request.
pub(crate) enum Request {
    Native {
        prompt: String,
        max: usize,
    },
    OpenAiCompletion {
        prompt: String,
        max: usize,
    },
    OpenAiChat {
        last_user: String,
        all_words: usize,
        max: usize,
    },
}

fn max_of(v: &Value, key: &str) -> SimResult<Option<usize>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| malformed(&format!("#/{key}: expected a positive integer"))),
    }
}

/// The text of an OpenAI message's `content`: a string, or parts with `type` `text`.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

pub(super) fn parse(req: &SimRequest, target: &Target) -> SimResult<Answer> {
    if let Some(ct) = req.header("content-type")
        && !ct.starts_with("application/json")
    {
        return Err(validation(format!(
            "The provided content type {ct} is not supported. Use application/json."
        )));
    }
    let body: Value =
        serde_json::from_slice(&req.body).map_err(|_| malformed("expected a JSON object body"))?;
    if !body.is_object() {
        return Err(malformed("expected a JSON object body"));
    }
    let apis = target.arch.map(|a| a.apis);
    let openai = apis.is_none_or(|a| a.openai_chat_completions);
    let native = apis.is_none_or(|a| a.native);
    let request = if let Some(messages) = body.get("messages") {
        let messages = messages
            .as_array()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| malformed("#/messages: expected a non-empty array"))?;
        if !openai {
            return Err(malformed(
                "#: the model does not accept chat completion requests",
            ));
        }
        let texts: Vec<(String, String)> = messages
            .iter()
            .map(|m| {
                (
                    m.get("role")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    m.get("content").map(content_text).unwrap_or_default(),
                )
            })
            .collect();
        let last_user = texts
            .iter()
            .rev()
            .find(|(r, _)| r == "user")
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        Request::OpenAiChat {
            last_user,
            all_words: texts
                .iter()
                .map(|(_, t)| t.split_whitespace().count())
                .sum(),
            max: max_of(&body, "max_tokens")?
                .or(max_of(&body, "max_completion_tokens")?)
                .unwrap_or(DEFAULT_MAX_TOKENS),
        }
    } else if let Some(prompt) = body.get("prompt") {
        let prompt = prompt
            .as_str()
            .ok_or_else(|| malformed("#/prompt: expected type: String"))?
            .to_owned();
        match (max_of(&body, "max_gen_len")?, max_of(&body, "max_tokens")?) {
            (None, Some(max)) if openai => Request::OpenAiCompletion { prompt, max },
            (gen_len, _) if native => Request::Native {
                prompt,
                max: gen_len.unwrap_or(DEFAULT_MAX_TOKENS),
            },
            _ => {
                return Err(malformed(
                    "#: the model takes the OpenAI-compatible Completion or ChatCompletion format",
                ));
            }
        }
    } else {
        return Err(malformed("#: required key [prompt] not found"));
    };
    Ok(Answer::Invoke(request))
}

fn finish(truncated: bool) -> &'static str {
    if truncated { "length" } else { "stop" }
}

fn id(prefix: &str, text: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    format!("{prefix}-{:016x}", h.finish())
}

pub(super) fn respond(request: &Request, target: &Target) -> Response {
    let created = time::OffsetDateTime::now_utc().unix_timestamp();
    let model = &target.model.arn;
    let body = match request {
        Request::Native { prompt, max } => {
            let (text, input, output, cut) = complete(prompt, *max);
            json!({
                "generation": text,
                "prompt_token_count": input,
                "generation_token_count": output,
                "stop_reason": finish(cut),
            })
        }
        Request::OpenAiCompletion { prompt, max } => {
            let (text, input, output, cut) = complete(prompt, *max);
            json!({
                "id": id("cmpl", prompt),
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish(cut)}],
                "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output},
            })
        }
        Request::OpenAiChat {
            last_user,
            all_words,
            max,
        } => {
            let (text, _, output, cut) = complete(last_user, *max);
            json!({
                "id": id("chatcmpl", last_user),
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish(cut),
                }],
                "usage": {"prompt_tokens": all_words, "completion_tokens": output, "total_tokens": all_words + output},
            })
        }
    };
    json_response(StatusCode::OK, "application/json", &body)
}
