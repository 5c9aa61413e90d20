//! What the server really sends matches the schemas of the committed
//! OpenAPI document. Some schemas exist only for the document (the SSE
//! `EventMessage` mirrors `ferry_domain::events::Message`); these tests tie
//! them to the real JSON so that neither drifts alone.

use ferry_domain::auth::Role;
use ferry_e2e::{SseStream, TestApp, repo_root, valid_body};
use ferry_store::PgPool;
use serde_json::{Value, json};

fn document() -> Value {
    let text = std::fs::read_to_string(repo_root().join("openapi/ferry.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The ways `value` breaks `schema` (empty when it conforms), for the subset
/// of JSON Schema utoipa writes: `$ref`, `oneOf`/`anyOf`/`allOf`, `type`,
/// `enum`, `required`, `properties`, `additionalProperties` and `items`. A
/// property the schema does not name is a breach unless
/// `additionalProperties` allows it.
fn breaches(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        let target = &doc["components"]["schemas"][name];
        assert!(!target.is_null(), "{r} is not in the document");
        return breaches(doc, target, value, at);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            if branches
                .iter()
                .any(|b| breaches(doc, b, value, at).is_empty())
            {
                return vec![];
            }
            return vec![format!("{at}: {value} matches no branch of {key}")];
        }
    }
    let mut out = Vec::new();
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for b in all {
            out.extend(breaches(doc, b, value, at));
        }
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = |t: &str| match t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "string" => value.is_string(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        };
        if !types.iter().any(|t| fits(t)) {
            out.push(format!("{at}: {value} is not of type {types:?}"));
            return out;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        out.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(obj) = value.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for req in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let req = req.as_str().unwrap();
            if !obj.contains_key(req) {
                out.push(format!("{at}: required property {req} is missing"));
            }
        }
        for (k, v) in obj {
            let here = format!("{at}/{k}");
            match (
                props.and_then(|p| p.get(k)),
                schema.get("additionalProperties"),
            ) {
                (Some(s), _) => out.extend(breaches(doc, s, v, &here)),
                (None, Some(Value::Bool(true))) => {}
                (None, Some(s @ Value::Object(_))) => out.extend(breaches(doc, s, v, &here)),
                (None, _) if props.is_none() => {}
                (None, _) => out.push(format!("{here}: not in the schema")),
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            out.extend(breaches(doc, items, v, &format!("{at}/{i}")));
        }
    }
    out
}

fn assert_conforms(doc: &Value, name: &str, value: &Value) {
    let schema = json!({ "$ref": format!("#/components/schemas/{name}") });
    let found = breaches(doc, &schema, value, "");
    assert!(found.is_empty(), "{value} breaks {name}: {found:#?}");
}

#[test]
fn the_checker_notices_a_breach() {
    let doc = document();
    let me = json!({"id": "token:x", "name": "x", "role": "root", "team": null});
    let schema = json!({ "$ref": "#/components/schemas/MeOut" });
    assert!(!breaches(&doc, &schema, &me, "").is_empty(), "unknown role");
    let extra = json!({"id": "token:x", "name": "x", "role": "viewer", "team": null, "more": 1});
    assert!(
        !breaches(&doc, &schema, &extra, "").is_empty(),
        "unknown property"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn get_me_matches_its_schema_for_every_role(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let doc = document();
    for role in Role::ALL {
        let team = (role == Role::Researcher).then_some("research");
        let token = app.token(role, team, &format!("{role}-caller")).await;
        let res = app.get(&token, "/v1/me").await;
        assert_eq!(res.status(), 200);
        let me: Value = res.json().await.unwrap();
        assert_eq!(me["role"], role.as_str());
        assert_conforms(&doc, "MeOut", &me);
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn stream_messages_match_the_event_message_schema(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let doc = document();
    let researcher = app.researcher("research").await;
    let hosting = app.token(Role::Hosting, None, "hosting-lead").await;
    let mut stream = SseStream::open(&app, &hosting, "/v1/events", None).await;
    let created = app.create(&researcher, &valid_body("m1")).await;
    let id = created["id"].as_str().unwrap();
    assert_conforms(&doc, "ImportOut", &created);
    app.post(
        &researcher,
        &format!("/v1/imports/{id}/cancel"),
        &json!({"reason": "typo"}),
    )
    .await;
    let messages = stream.take(2).await;
    let kinds: Vec<_> = messages.iter().map(|m| m.event.clone().unwrap()).collect();
    assert_eq!(kinds, ["import.created", "import.cancelled"]);
    for m in &messages {
        assert_conforms(&doc, "EventMessage", &m.json());
    }
    let events: Value = app
        .get(&researcher, &format!("/v1/imports/{id}/events"))
        .await
        .json()
        .await
        .unwrap();
    assert_conforms(&doc, "EventPage", &events);
    let page: Value = app
        .get(&researcher, "/v1/imports")
        .await
        .json()
        .await
        .unwrap();
    assert_conforms(&doc, "ImportPage", &page);
}
