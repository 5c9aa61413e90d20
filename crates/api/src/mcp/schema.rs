//! Tool input schemas cut from the OpenAPI document, so a tool takes exactly
//! what its REST operation takes, with the same rules (the `ToSchema` types
//! and `domain::schema` patterns): the operation's path and query parameters,
//! its header parameters under snake_case names (`Idempotency-Key` →
//! `idempotency_key`), and the properties of its JSON body. References to the
//! document's components become `$defs` of the tool's own schema.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

const COMPONENTS: &str = "#/components/schemas/";

/// Where each argument of a tool goes in its REST operation.
#[derive(Debug, Clone, Default)]
pub(super) struct Shape {
    pub(super) path: Vec<String>,
    pub(super) query: Vec<String>,
    /// (argument, header name)
    pub(super) headers: Vec<(String, String)>,
    /// The operation takes a JSON body; other arguments are its properties.
    pub(super) body: bool,
}

/// The argument name of a header parameter.
fn header_argument(header: &str) -> String {
    header.to_ascii_lowercase().replace('-', "_")
}

/// The operation `method path` of the document, its shape and the tool input
/// schema built from it. `None` when the document has no such operation.
pub(super) fn operation(
    doc: &Value,
    method: &str,
    path: &str,
) -> Option<(Shape, Map<String, Value>)> {
    let op = doc.get("paths")?.get(path)?.get(method)?;
    let mut shape = Shape::default();
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    for p in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(name), Some(location)) = (
            p.get("name").and_then(Value::as_str),
            p.get("in").and_then(Value::as_str),
        ) else {
            continue;
        };
        let argument = match location {
            "path" => {
                shape.path.push(name.to_owned());
                name.to_owned()
            }
            "query" => {
                shape.query.push(name.to_owned());
                name.to_owned()
            }
            "header" => {
                let argument = header_argument(name);
                shape.headers.push((argument.clone(), name.to_owned()));
                argument
            }
            _ => continue,
        };
        let mut schema = p.get("schema").cloned().unwrap_or_else(|| json!({}));
        if let (Some(description), Some(obj)) = (p.get("description"), schema.as_object_mut())
            && !obj.contains_key("description")
        {
            obj.insert("description".to_owned(), description.clone());
        }
        properties.insert(argument.clone(), schema);
        if p.get("required").and_then(Value::as_bool) == Some(true) {
            required.push(Value::String(argument));
        }
    }
    if let Some(body) = op
        .pointer("/requestBody/content/application~1json/schema")
        .map(|s| resolve(doc, s))
    {
        shape.body = true;
        for (k, v) in body
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            properties.insert(k.clone(), v.clone());
        }
        if op.pointer("/requestBody/required").and_then(Value::as_bool) == Some(true) {
            required.extend(
                body.get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
    }
    let mut schema = Map::new();
    schema.insert("type".to_owned(), json!("object"));
    schema.insert("properties".to_owned(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".to_owned(), Value::Array(required));
    }
    schema.insert("additionalProperties".to_owned(), json!(false));
    Some((shape, schema))
}

/// A schema, or the component it refers to.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix(COMPONENTS))
        .and_then(|name| doc.pointer(&format!("/components/schemas/{name}")))
        .unwrap_or(schema)
}

/// Points every component reference in `schema` at `$defs` and adds the
/// components it needs (transitively) there.
pub(super) fn with_defs(doc: &Value, mut schema: Map<String, Value>) -> Map<String, Value> {
    let mut wanted = BTreeSet::new();
    for v in schema.values_mut() {
        rewrite(v, &mut wanted);
    }
    let mut defs = Map::new();
    while let Some(name) = wanted.iter().find(|n| !defs.contains_key(*n)).cloned() {
        let mut component = doc
            .pointer(&format!("/components/schemas/{name}"))
            .cloned()
            .unwrap_or_else(|| json!({}));
        rewrite(&mut component, &mut wanted);
        defs.insert(name, component);
    }
    if !defs.is_empty() {
        schema.insert("$defs".to_owned(), Value::Object(defs));
    }
    schema
}

fn rewrite(value: &mut Value, wanted: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if k == "$ref"
                    && let Some(name) = v.as_str().and_then(|r| r.strip_prefix(COMPONENTS))
                {
                    let target = format!("#/$defs/{name}");
                    wanted.insert(name.to_owned());
                    *v = Value::String(target);
                } else {
                    rewrite(v, wanted);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, wanted)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_json::to_value(crate::openapi()).unwrap_or_default()
    }

    #[test]
    fn submit_takes_the_body_of_post_imports_and_its_idempotency_key() {
        let doc = doc();
        let (shape, schema) = operation(&doc, "post", "/v1/imports").expect("the operation");
        assert!(shape.body);
        assert_eq!(
            shape.headers,
            vec![("idempotency_key".to_owned(), "Idempotency-Key".to_owned())]
        );
        let schema = Value::Object(with_defs(&doc, schema));
        for field in [
            "source",
            "environment",
            "model_name",
            "team",
            "model_tags",
            "idempotency_key",
        ] {
            assert!(
                schema.pointer(&format!("/properties/{field}")).is_some(),
                "{field}"
            );
        }
        assert_eq!(
            schema["required"],
            json!(["source", "environment", "model_name"])
        );
        // The source's rule (an S3 URI or a model package ARN) is the document's.
        assert_eq!(
            schema.pointer("/properties/source/pattern"),
            doc.pointer("/components/schemas/ImportCreate/properties/source/pattern")
        );
        assert!(schema.pointer("/properties/source/pattern").is_some());
        // A named rule is reachable inside the tool's schema.
        assert_eq!(
            schema["properties"]["environment"]["$ref"],
            "#/$defs/EnvironmentName"
        );
        assert_eq!(
            schema.pointer("/$defs/EnvironmentName/pattern"),
            doc.pointer("/components/schemas/EnvironmentName/pattern")
        );
        assert!(!schema.to_string().contains("#/components/"));
    }

    #[test]
    fn list_takes_the_query_and_approve_the_path_and_optional_body() {
        let doc = doc();
        let (shape, schema) = operation(&doc, "get", "/v1/imports").expect("the operation");
        assert!(!shape.body);
        assert!(shape.query.contains(&"status".to_owned()));
        assert!(schema.get("required").is_none());
        let (shape, schema) = operation(&doc, "post", "/v1/imports/{id}/approve").expect("approve");
        assert_eq!(shape.path, vec!["id".to_owned()]);
        assert!(shape.body);
        assert_eq!(schema["required"], json!(["id"]));
        assert!(schema["properties"].get("comment").is_some());
    }
}
