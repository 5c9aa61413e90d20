//! Extractors whose rejections are [`ApiError`]s, so every malformed request
//! gets the same problem+json shape.

use axum::extract::{FromRequest, FromRequestParts, Request};
use bytes::Bytes;
use ferry_domain::pointer_token;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldProblem};

/// Query string parameters; a malformed one is a 400 `invalid_query`.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Path parameters; a malformed one is a 404, since no such resource exists.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// A JSON request body: `application/json` only, size-limited by the
/// router's `DefaultBodyLimit`, unknown fields refused by the target type,
/// and every deserialisation error located by a JSON pointer.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// Like [`JsonBody`], but an empty body means `T::default()`.
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub T);

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(crate::BODY_LIMIT_BYTES)
        } else {
            ApiError::bad_request("unreadable_body", e.body_text())
        }
    })
}

/// The name between the first pair of backticks of a serde message.
fn quoted(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len])
}

/// Appends the field a serde message names, unless the path already ends in it.
fn append_field(pointer: &mut String, field: Option<&str>) {
    if let Some(field) = field {
        let token = format!("/{}", pointer_token(field));
        if !pointer.ends_with(&token) {
            pointer.push_str(&token);
        }
    }
}

/// Every string in `value` (object keys too) free of control characters
/// other than tab, line feed and carriage return: Postgres refuses NUL, and
/// nothing Ferry stores or shows has a use for the others. Each offending
/// field is named by its JSON pointer.
fn control_characters(
    value: &serde_json::Value,
    pointer: &mut String,
    out: &mut Vec<FieldProblem>,
) {
    fn bad(s: &str) -> Option<char> {
        s.chars()
            .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    }
    fn problem(pointer: &str, c: char) -> FieldProblem {
        FieldProblem {
            pointer: if pointer.is_empty() {
                "/".to_owned()
            } else {
                pointer.to_owned()
            },
            rule: "control_character".to_owned(),
            detail: format!("must not contain control characters, found {c:?}"),
        }
    }
    const MAX_PROBLEMS: usize = 20;
    if out.len() >= MAX_PROBLEMS {
        return;
    }
    match value {
        serde_json::Value::String(s) => {
            if let Some(c) = bad(s) {
                out.push(problem(pointer, c));
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                control_characters(item, pointer, out);
                pointer.truncate(len);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&pointer_token(key));
                if let Some(c) = bad(key) {
                    out.push(problem(pointer, c));
                } else {
                    control_characters(item, pointer, out);
                }
                pointer.truncate(len);
            }
        }
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {}
    }
}

/// What every body must be before it is read as a request type: valid JSON,
/// an object (not an array or a scalar, however lenient the target type's
/// deserialiser), and free of control characters.
fn check_shape(bytes: &[u8]) -> Result<(), ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
    })?;
    if !value.is_object() {
        let kind = match value {
            serde_json::Value::Array(_) => "an array",
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::Bool(_) => "a boolean",
            serde_json::Value::Null => "null",
            serde_json::Value::Object(_) => "an object",
        };
        return Err(ApiError::validation([FieldProblem {
            pointer: "/".to_owned(),
            rule: "object".to_owned(),
            detail: format!("the body must be a JSON object, got {kind}"),
        }]));
    }
    let mut problems = Vec::new();
    control_characters(&value, &mut String::new(), &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(problems))
    }
}

pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    check_shape(bytes)?;
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value: Result<T, _> = serde_path_to_error::deserialize(&mut *de);
    let value = value.map_err(|err| {
        let mut pointer: String = err
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Seq { index } => Some(format!("/{index}")),
                serde_path_to_error::Segment::Map { key } => {
                    Some(format!("/{}", pointer_token(key)))
                }
                serde_path_to_error::Segment::Enum { variant } => {
                    Some(format!("/{}", pointer_token(variant)))
                }
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            );
        }
        let msg = inner.to_string();
        let rule = if msg.starts_with("unknown field") {
            append_field(&mut pointer, quoted(&msg));
            "unknown_field"
        } else if msg.starts_with("missing field") {
            append_field(&mut pointer, quoted(&msg));
            "required"
        } else if msg.starts_with("invalid type") || msg.starts_with("invalid value") {
            "type"
        } else {
            "invalid"
        };
        // serde appends " at line L column C"; the pointer says where.
        let detail = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        let pointer = if pointer.is_empty() {
            "/".to_owned()
        } else {
            pointer
        };
        ApiError::validation([FieldProblem {
            pointer,
            rule: rule.to_owned(),
            detail,
        }])
    })?;
    de.end().map_err(|e| {
        ApiError::bad_request(
            "malformed_json",
            format!("trailing data after the JSON value: {e}"),
        )
    })?;
    Ok(value)
}

fn require_json(req: &Request) -> Result<(), ApiError> {
    if is_json(req) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send the body as application/json",
    ))
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        require_json(&req)?;
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

impl<S, T> FromRequest<S> for OptionalJsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let has_type = req.headers().contains_key(CONTENT_TYPE);
        if has_type {
            require_json(&req)?;
        }
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        if !has_type {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        parse_json(&bytes).map(OptionalJsonBody)
    }
}

/// An optional JSON integer as JSON Schema counts integers: `30` and `30.0`
/// alike (a number with no fractional part), refused when out of `T`'s range.
pub(crate) fn optional_integer<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::Deserialize;
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(de)? else {
        return Ok(None);
    };
    let whole = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    });
    whole
        .and_then(|v| T::try_from(v).ok())
        .map(Some)
        .ok_or_else(|| {
            D::Error::custom(format!(
                "invalid value: {n}, expected a whole number in range"
            ))
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        tags: std::collections::BTreeMap<String, u8>,
    }

    fn problem(json: &str) -> (u16, String, Vec<(String, String)>) {
        let e = parse_json::<Body>(json.as_bytes()).unwrap_err();
        (
            e.status().as_u16(),
            e.code().to_owned(),
            e.errors_for_test(),
        )
    }

    #[test]
    fn errors_point_at_the_field() {
        assert_eq!(
            problem(r#"{"name":"a","tags":{},"extra":1}"#),
            (
                422,
                "validation_failed".into(),
                vec![("/extra".into(), "unknown_field".into())]
            )
        );
        assert_eq!(
            problem(r#"{"tags":{}}"#),
            (
                422,
                "validation_failed".into(),
                vec![("/name".into(), "required".into())]
            )
        );
        assert_eq!(
            problem(r#"{"name":1,"tags":{}}"#),
            (
                422,
                "validation_failed".into(),
                vec![("/name".into(), "type".into())]
            )
        );
        assert_eq!(
            problem(r#"{"name":"a","tags":{"a/b":"x"}}"#),
            (
                422,
                "validation_failed".into(),
                vec![("/tags/a~1b".into(), "type".into())]
            )
        );
        assert_eq!(problem(r#"{"name":"#).1, "malformed_json");
        assert_eq!(
            problem(r#"["a",{}]"#),
            (
                422,
                "validation_failed".into(),
                vec![("/".into(), "object".into())]
            )
        );
        assert_eq!(problem("42").2, vec![("/".into(), "object".into())]);
        assert_eq!(
            problem(r#"{"name":"a\u0000b","tags":{"k\u0007":1},"x":["\u001b"]}"#).2,
            vec![
                ("/name".into(), "control_character".into()),
                ("/tags/k\u{7}".into(), "control_character".into()),
                ("/x/0".into(), "control_character".into()),
            ]
        );
        assert!(parse_json::<Body>(br#"{"name":"a\tb\nc","tags":{}}"#).is_ok());
        assert_eq!(problem(r#"{"name":"a","tags":{}} {}"#).1, "malformed_json");
    }
}
