//! Query parameters several resources share: page size, opaque cursors,
//! team and environment filters. Each error names the parameter.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferry_domain::names::{EnvironmentName, TeamName};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

use crate::ApiError;

/// An opaque cursor: `prefix` names the endpoint's kind of position.
pub(crate) fn encode_cursor(prefix: &str, value: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{prefix}:{value}"))
}

/// The position in a cursor this endpoint returned, parsed.
pub(crate) fn decode_cursor<T: std::str::FromStr>(
    prefix: &str,
    cursor: &str,
) -> Result<T, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.strip_prefix(&format!("{prefix}:"))
                .and_then(|v| v.parse().ok())
        })
        .ok_or_else(|| {
            ApiError::invalid_query(
                "cursor",
                "cursor",
                "the cursor is not one this endpoint returned",
            )
        })
}

pub(crate) fn page_limit(limit: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    match limit {
        None => Ok(default),
        Some(l) if (1..=max).contains(&l) => Ok(l),
        Some(_) => Err(ApiError::invalid_query(
            "limit",
            "range",
            format!("limit must be 1 to {max}"),
        )),
    }
}

pub(crate) fn team(raw: Option<&str>) -> Result<Option<TeamName>, ApiError> {
    raw.map(|t| TeamName::parse(t).map_err(|e| ApiError::invalid_query("team", e.rule, e.message)))
        .transpose()
}

pub(crate) fn environment(raw: Option<&str>) -> Result<Option<EnvironmentName>, ApiError> {
    raw.map(|e| {
        EnvironmentName::parse(e)
            .map_err(|e| ApiError::invalid_query("environment", e.rule, e.message))
    })
    .transpose()
}

/// `schema`, widened to accept `null` (an `Option` field).
pub(crate) fn nullable(schema: Schema) -> Schema {
    match schema {
        Schema::Object(mut o) => {
            if let SchemaType::Type(t) = o.schema_type {
                o.schema_type = SchemaType::from_iter([t, Type::Null]);
            }
            Schema::Object(o)
        }
        other => other,
    }
}

/// Cursors are opaque: only a `next_cursor` this endpoint returned is
/// accepted; another is refused (400 `invalid_query`, rule `cursor`).
pub(crate) fn cursor_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .pattern(Some("^[A-Za-z0-9_-]+$"))
        .description(Some(
            "`next_cursor` of the previous page (opaque; another value is refused with rule `cursor`).",
        ))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_foreign_ones() {
        let c = encode_cursor("i", "abc");
        assert_eq!(
            decode_cursor::<String>("i", &c).ok().as_deref(),
            Some("abc")
        );
        assert!(decode_cursor::<String>("e", &c).is_err());
        assert!(decode_cursor::<String>("i", "not base64!").is_err());
        assert!(decode_cursor::<i64>("i", &c).is_err());
        assert_eq!(
            decode_cursor::<i64>("e", &encode_cursor("e", "42")).ok(),
            Some(42)
        );
    }
}
