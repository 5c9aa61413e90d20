//! TagResource, UntagResource and ListTagsForResource on import jobs and imported models
//! (REST-JSON `POST /tagResource`, `/untagResource`, `/listTagsForResource`, as botocore's
//! `bedrock/2023-04-20/service-2.json` gives them), authorized by IAM on the resource ARN.
//! A resource holds at most 50 tags, existing and new together; more is `TooManyTagsException`
//! with `resourceName` (the model's TooManyTagsException shape and its documentation: "50 tags
//! per resource ... includes both existing tags and those included in your current request").

use axum::http::StatusCode;
use ferry_domain::bedrock::{MAX_TAGS, Tag};
use serde_json::{Value, json};

use crate::server::{Caller, Ctx, ok_json};
use crate::state::State;
use crate::wire::{SimError, SimRequest, SimResult};

use super::{check_action, field_error, not_found, validation};

/// `TooManyTagsException` naming the resource.
pub(super) fn too_many_tags(resource: &str) -> SimError {
    SimError::new(
        StatusCode::BAD_REQUEST,
        "TooManyTagsException",
        format!("The number of tags exceeds the limit of {MAX_TAGS} tags per resource."),
    )
    .with_resource(resource)
}

/// `[{key, value}]` as pairs (already validated).
pub(super) fn pairs(list: Option<&Value>) -> Vec<(String, String)> {
    list.and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .map(|t| {
                    let s = |k: &str| {
                        t.get(k)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned()
                    };
                    (s("key"), s("value"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn tags_of<'a>(
    state: &'a mut State,
    account: &str,
    arn: &str,
) -> Option<&'a mut Vec<(String, String)>> {
    if let Some(j) = state
        .jobs
        .iter_mut()
        .find(|j| j.account == account && j.arn == arn)
    {
        return Some(&mut j.tags);
    }
    state
        .models
        .iter_mut()
        .find(|m| m.account == account && m.arn == arn)
        .map(|m| &mut m.tags)
}

pub(super) fn handle(ctx: &Ctx, req: &SimRequest, caller: &Caller, op: &str) -> SimResult {
    let body: Value = serde_json::from_slice(&req.body)
        .map_err(|e| validation(format!("Malformed request body: {e}")))?;
    let arn = body.get("resourceARN").and_then(Value::as_str).ok_or_else(|| {
        validation("1 validation error detected: Value null at 'resourceARN' failed to satisfy constraint: Member must not be null")
    })?;
    let mut state = ctx.state();
    check_action(&state, caller, &format!("bedrock:{op}"), arn.to_owned())?;
    let account = caller.account().to_owned();
    let missing = || not_found(format!("The resource {arn} does not exist."));
    match op {
        "ListTagsForResource" => {
            let tags = tags_of(&mut state, &account, arn).ok_or_else(missing)?;
            let list: Vec<Value> = tags
                .iter()
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect();
            Ok(ok_json(&json!({"tags": list})))
        }
        "TagResource" => {
            let given = body.get("tags").and_then(Value::as_array).ok_or_else(|| {
                validation("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
            })?;
            for (i, t) in given.iter().enumerate() {
                let k = t.get("key").and_then(Value::as_str).unwrap_or_default();
                let v = t.get("value").and_then(Value::as_str).unwrap_or_default();
                Tag::new(k, "")
                    .map_err(|e| field_error(&format!("tags.{}.member.key", i + 1), k, &e))?;
                Tag::new(k, v)
                    .map_err(|e| field_error(&format!("tags.{}.member.value", i + 1), v, &e))?;
            }
            let tags = tags_of(&mut state, &account, arn).ok_or_else(missing)?;
            let mut merged = tags.clone();
            for (k, v) in pairs(Some(&Value::Array(given.clone()))) {
                match merged.iter_mut().find(|(key, _)| *key == k) {
                    Some(existing) => existing.1 = v,
                    None => merged.push((k, v)),
                }
            }
            if merged.len() > MAX_TAGS {
                return Err(too_many_tags(arn));
            }
            *tags = merged;
            Ok(ok_json(&json!({})))
        }
        _ => {
            let keys: Vec<String> = body
                .get("tagKeys")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    validation("1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
                })?
                .iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect();
            let tags = tags_of(&mut state, &account, arn).ok_or_else(missing)?;
            tags.retain(|(k, _)| !keys.contains(k));
            Ok(ok_json(&json!({})))
        }
    }
}
