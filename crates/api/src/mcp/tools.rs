//! The tools: each one REST operation of the API, its input schema cut from
//! that operation in the OpenAPI document ([`super::schema`]).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::Method;
use rmcp::model::{CallToolResult, ErrorData, JsonObject, Tool, ToolAnnotations};
use serde_json::{Map, Value, json};

use super::backend::{Backend, CallerOf, Operation, Reply};
use super::schema::{self, Shape};
use super::{explain, json_result};

/// What a tool does besides its one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The operation's answer as it is.
    Plain,
    /// `POST /v1/imports`, then (with `wait_seconds`) reads the request until its
    /// preflight ran.
    Submit,
    /// `GET /v1/imports/{id}`, with a plain-language explanation first.
    Explain,
    /// `GET /v1/imports/{id}`, answering its model card.
    Card,
}

struct Spec {
    name: &'static str,
    title: &'static str,
    lead: &'static str,
    method: Method,
    path: &'static str,
    kind: Kind,
}

/// The longest a submission waits for its preflight (below the API's request timeout).
const MAX_WAIT_SECONDS: u64 = 20;

fn specs() -> [Spec; 8] {
    [
        Spec {
            name: "list_environments",
            title: "Environments and allowed sources",
            lead: "The hosting environments you may import into (account, Region, whether \
                   approval is required) and the S3 sources your team may import from.",
            method: Method::GET,
            path: "/v1/environments",
            kind: Kind::Plain,
        },
        Spec {
            name: "submit_import",
            title: "Submit an import request",
            lead: "Submits a model folder in S3 for import into an environment. Every field is \
                   checked with Bedrock's rules and the team's allowed sources before anything \
                   is stored. With wait_seconds, waits that long at most for the preflight \
                   (the artifacts and the cross-account chain checked with Bedrock's rights) \
                   and answers the request with its report. Send idempotency_key to make a \
                   retried call safe.",
            method: Method::POST,
            path: "/v1/imports",
            kind: Kind::Submit,
        },
        Spec {
            name: "get_import",
            title: "Status and explanation of a request",
            lead: "One import request: where it is and why (its conditions), the preflight \
                   report (a failed check names the broken step of the cross-account chain and \
                   its fix), the Bedrock job and model, and what you may do with it now \
                   (allowed_actions). The first text explains it in plain words.",
            method: Method::GET,
            path: "/v1/imports/{id}",
            kind: Kind::Explain,
        },
        Spec {
            name: "list_imports",
            title: "List import requests",
            lead: "Import requests, newest first, with filters and pages (pass next_cursor \
                   back as cursor). Researchers see their own team's only.",
            method: Method::GET,
            path: "/v1/imports",
            kind: Kind::Plain,
        },
        Spec {
            name: "list_import_events",
            title: "Audit trail of a request",
            lead: "A request's audit trail, oldest first: each change, who made it and why.",
            method: Method::GET,
            path: "/v1/imports/{id}/events",
            kind: Kind::Plain,
        },
        Spec {
            name: "approve_import",
            title: "Approve a request",
            lead: "Approves a request waiting for approval (pending_approval → queued). The \
                   hosting team's call (roles hosting and admin), never the requester's own.",
            method: Method::POST,
            path: "/v1/imports/{id}/approve",
            kind: Kind::Plain,
        },
        Spec {
            name: "reject_import",
            title: "Reject a request",
            lead: "Rejects a request waiting for approval, with a reason shown to the \
                   requester. The hosting team's call.",
            method: Method::POST,
            path: "/v1/imports/{id}/reject",
            kind: Kind::Plain,
        },
        Spec {
            name: "model_card",
            title: "Model card of an imported model",
            lead: "The model card of a request whose readiness check ended: model ARN, Region, \
                   family, chat template, the APIs that answered, cold start and latency, \
                   custom model units, a cost estimate, and AWS CLI and boto3 examples.",
            method: Method::GET,
            path: "/v1/imports/{id}",
            kind: Kind::Card,
        },
    ]
}

/// A tool, resolved against the document.
struct Resolved {
    spec: Spec,
    shape: Shape,
    tool: Tool,
}

fn table() -> &'static [Resolved] {
    static TABLE: OnceLock<Vec<Resolved>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let doc = serde_json::to_value(crate::openapi()).unwrap_or_default();
        specs()
            .into_iter()
            .filter_map(|spec| resolve(&doc, spec))
            .collect()
    })
}

fn resolve(doc: &Value, spec: Spec) -> Option<Resolved> {
    let method = spec.method.as_str().to_ascii_lowercase();
    let (shape, mut input) = schema::operation(doc, &method, spec.path)?;
    if spec.kind == Kind::Submit
        && let Some(Value::Object(props)) = input.get_mut("properties")
    {
        props.insert(
            "wait_seconds".to_owned(),
            json!({
                "type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS,
                "description": "Wait at most this long for the preflight to run and answer \
                                its report (0, the default: answer at once)."
            }),
        );
    }
    let input = schema::with_defs(doc, input);
    let op = doc.get("paths")?.get(spec.path)?.get(&method)?;
    let rest = op
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let description = format!(
        "{}\n\nREST: {} {}. {rest}",
        spec.lead.split_whitespace().collect::<Vec<_>>().join(" "),
        spec.method,
        spec.path
    );
    let read_only = spec.method == Method::GET;
    let mut annotations = ToolAnnotations::default();
    annotations.title = Some(spec.title.to_owned());
    annotations.read_only_hint = Some(read_only);
    annotations.destructive_hint = Some(false);
    annotations.idempotent_hint = Some(read_only);
    annotations.open_world_hint = Some(false);
    let tool = Tool::new(spec.name, description, Arc::new(input))
        .with_title(spec.title)
        .with_annotations(annotations);
    Some(Resolved { spec, shape, tool })
}

/// Every tool, as `tools/list` answers them.
pub(super) fn definitions() -> Vec<Tool> {
    table().iter().map(|r| r.tool.clone()).collect()
}

/// Runs the tool `name` with `arguments` as `who`.
pub(super) async fn call(
    backend: &Backend,
    who: &CallerOf,
    name: &str,
    arguments: JsonObject,
) -> Result<CallToolResult, ErrorData> {
    let resolved = table()
        .iter()
        .find(|r| r.spec.name == name)
        .ok_or_else(|| ErrorData::invalid_params(format!("no tool is named {name}"), None))?;
    let mut wait = 0;
    let op = match operation(resolved, arguments, &mut wait) {
        Ok(op) => op,
        Err(message) => {
            return Ok(CallToolResult::error(vec![
                rmcp::model::ContentBlock::text(message),
            ]));
        }
    };
    let reply = match backend.send(who, &op).await {
        Ok(reply) => reply,
        Err(message) => {
            return Ok(CallToolResult::error(vec![
                rmcp::model::ContentBlock::text(message),
            ]));
        }
    };
    if !reply.status.is_success() {
        return Ok(refused(reply));
    }
    Ok(match resolved.spec.kind {
        Kind::Plain => json_result(reply.body, None, false),
        Kind::Explain => {
            let lead = explain::explain(&reply.body);
            json_result(reply.body, Some(lead), false)
        }
        Kind::Card => card(&reply.body),
        Kind::Submit => {
            let body = if wait > 0 {
                await_preflight(backend, who, reply.body, wait).await
            } else {
                reply.body
            };
            let lead = explain::explain(&body);
            json_result(body, Some(lead), false)
        }
    })
}

/// The API's refusal: its problem document, and a line saying it.
fn refused(reply: Reply) -> CallToolResult {
    let code = reply
        .body
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("error");
    let detail = reply
        .body
        .get("detail")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let lead = format!(
        "Ferry refused the call ({} {code}): {detail}",
        reply.status.as_u16()
    );
    json_result(reply.body, Some(lead), true)
}

fn card(request: &Value) -> CallToolResult {
    match request.get("model_card") {
        Some(card) if card.is_object() => json_result(card.clone(), None, false),
        _ => {
            let status = request
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            CallToolResult::error(vec![rmcp::model::ContentBlock::text(format!(
                "this request has no model card yet: it is {status}; the card is written when \
                 the imported model's readiness check ends"
            ))])
        }
    }
}

/// Reads the submitted request again until its preflight ran (or it left the
/// preflight's statuses), for at most `seconds`; answers the last read.
async fn await_preflight(backend: &Backend, who: &CallerOf, created: Value, seconds: u64) -> Value {
    let Some(id) = created.get("id").and_then(Value::as_str).map(str::to_owned) else {
        return created;
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let mut latest = created;
    while waiting_for_preflight(&latest) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let op = Operation {
            method: Method::GET,
            path: format!("/v1/imports/{}", encode(&id)),
            idempotency_key: None,
            body: None,
        };
        match backend.send(who, &op).await {
            Ok(reply) if reply.status.is_success() => latest = reply.body,
            _ => break,
        }
    }
    latest
}

fn waiting_for_preflight(request: &Value) -> bool {
    request.get("preflight").is_none_or(Value::is_null)
        && matches!(
            request.get("status").and_then(Value::as_str),
            Some("queued" | "validating")
        )
}

/// A path segment, percent-encoded whole (`/` and `.` too, so no value makes
/// another path or a dot segment a client would resolve).
fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('.', "%2E")
}

/// A query or path value: strings as they are, numbers and booleans printed.
fn scalar(name: &str, value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(format!("argument {name} must be a string or a number")),
    }
}

/// The REST call a tool's arguments make. Arguments that are not parameters
/// of the operation go into its JSON body, where the API refuses unknown ones
/// naming them; an operation without a body refuses them here.
fn operation(
    resolved: &Resolved,
    arguments: JsonObject,
    wait: &mut u64,
) -> Result<Operation, String> {
    let shape = &resolved.shape;
    let mut path = resolved.spec.path.to_owned();
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    let mut has_query = false;
    let mut idempotency_key = None;
    let mut body = Map::new();
    let mut path_left: Vec<&String> = shape.path.iter().collect();
    for (name, value) in arguments {
        if resolved.spec.kind == Kind::Submit && name == "wait_seconds" {
            *wait = value
                .as_u64()
                .filter(|s| *s <= MAX_WAIT_SECONDS)
                .ok_or_else(|| {
                    format!("wait_seconds must be an integer from 0 to {MAX_WAIT_SECONDS}")
                })?;
        } else if shape.path.contains(&name) {
            let v = scalar(&name, &value)?.ok_or_else(|| format!("argument {name} is required"))?;
            path = path.replace(&format!("{{{name}}}"), &encode(&v));
            path_left.retain(|p| **p != name);
        } else if shape.query.contains(&name) {
            if let Some(v) = scalar(&name, &value)? {
                query.append_pair(&name, &v);
                has_query = true;
            }
        } else if shape.headers.iter().any(|(arg, _)| *arg == name) {
            idempotency_key = scalar(&name, &value)?;
        } else if shape.body {
            body.insert(name, value);
        } else {
            return Err(format!("{} takes no argument {name}", resolved.spec.name));
        }
    }
    if let Some(missing) = path_left.first() {
        return Err(format!("argument {missing} is required"));
    }
    if has_query {
        path.push('?');
        path.push_str(&query.finish());
    }
    Ok(Operation {
        method: resolved.spec.method.clone(),
        path,
        idempotency_key,
        body: shape.body.then_some(Value::Object(body)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(name: &str) -> &'static Resolved {
        table()
            .iter()
            .find(|r| r.spec.name == name)
            .expect("the tool")
    }

    fn args(v: Value) -> JsonObject {
        match v {
            Value::Object(map) => map,
            _ => JsonObject::new(),
        }
    }

    #[test]
    fn every_tool_finds_its_operation_in_the_document() {
        let names: Vec<_> = definitions().iter().map(|t| t.name.to_string()).collect();
        assert_eq!(names.len(), specs().len(), "{names:?}");
    }

    #[test]
    fn arguments_become_path_query_header_and_body() {
        let mut wait = 0;
        let op = operation(
            resolved("submit_import"),
            args(
                json!({"source": "s3://b/m/", "environment": "dev", "model_name": "m",
                        "idempotency_key": "k-1", "wait_seconds": 5}),
            ),
            &mut wait,
        )
        .expect("an operation");
        assert_eq!(
            (op.method, op.path.as_str(), wait),
            (Method::POST, "/v1/imports", 5)
        );
        assert_eq!(op.idempotency_key.as_deref(), Some("k-1"));
        assert_eq!(
            op.body,
            Some(json!({"source": "s3://b/m/", "environment": "dev", "model_name": "m"}))
        );

        let op = operation(
            resolved("list_imports"),
            args(json!({"status": "pending_approval", "limit": 5, "team": null})),
            &mut wait,
        )
        .expect("an operation");
        assert_eq!(op.path, "/v1/imports?limit=5&status=pending_approval");
        assert_eq!(op.body, None);
    }

    #[test]
    fn a_path_argument_cannot_leave_its_segment() {
        let mut wait = 0;
        let op = operation(
            resolved("approve_import"),
            args(json!({"id": "../../webhooks"})),
            &mut wait,
        )
        .expect("an operation");
        assert_eq!(op.path, "/v1/imports/%2E%2E%2F%2E%2E%2Fwebhooks/approve");
        assert!(operation(resolved("get_import"), args(json!({})), &mut wait).is_err());
        assert!(
            operation(
                resolved("list_imports"),
                args(json!({"bogus": 1})),
                &mut wait
            )
            .is_err()
        );
        assert!(
            operation(
                resolved("submit_import"),
                args(json!({"wait_seconds": 999})),
                &mut wait
            )
            .is_err()
        );
    }
}
