//! The parts of the OpenAPI document no single route owns: info, the bearer
//! security scheme, and the error responses every route shares.

use utoipa::OpenApi;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};

use crate::error::{FieldProblem, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry",
        description = "Moves trained models from a research team's AWS account into Amazon Bedrock \
                       (Custom Model Import) in the hosting team's accounts: checks, gates, imports, \
                       tracks and cleans up.\n\nEvery endpoint except the health checks requires \
                       `Authorization: Bearer <token>`. Errors are `application/problem+json` with a \
                       stable `code` and the `request_id`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "imports", description = "Import requests: submit, follow, cancel."),
        (name = "environments", description = "Hosting environments a caller may target."),
        (name = "me", description = "The caller: name, role and team."),
        (name = "events", description = "The event feed as Server-Sent Events, resumable with Last-Event-ID."),
        (name = "webhooks", description = "Signed push delivery of the event feed (Standard Webhooks), admin only."),
        (name = "health", description = "Liveness and readiness probes (no auth)."),
    ),
    components(schemas(Problem, FieldProblem)),
)]
struct ApiDoc;

pub(crate) fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

const SHARED: &[(&str, &str, &str)] = &[
    (
        "400",
        "BadRequest",
        "The request is malformed (bad JSON, query or header).",
    ),
    ("401", "Unauthorized", "No valid bearer token."),
    (
        "429",
        "TooManyFailedAuthentications",
        "Too many failed authentications from the caller's address; retry after `Retry-After` seconds.",
    ),
    (
        "413",
        "PayloadTooLarge",
        "The body is larger than the limit.",
    ),
    (
        "415",
        "UnsupportedMediaType",
        "The body is not application/json.",
    ),
    (
        "422",
        "ValidationFailed",
        "A field broke a rule; `errors` names each one.",
    ),
    ("408", "RequestTimeout", "The request took too long."),
    ("500", "Internal", "Ferry failed; quote the request_id."),
];

fn problem_ref(name: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::Ref(Ref::from_response_name(name))
}

/// The shared response of an operation that needs the database.
const UNAVAILABLE: &str = "Unavailable";
const UNAVAILABLE_DESCRIPTION: &str = "The database is unavailable, or busy (every connection in \
     use): problem code `unavailable`. Retry after the number of seconds in `Retry-After`.";

fn retry_after() -> Header {
    HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        )
        .description(Some(
            "Seconds to wait before retrying (sent when the database is the cause).",
        ))
        .build()
}

/// Every operation that needs the database documents its 503: the shared
/// response, or, where the operation has a 503 of its own, that one widened
/// with the database's case and `Retry-After`.
fn add_unavailable(op: &mut Operation) {
    match op.responses.responses.get_mut("503") {
        Some(RefOr::T(own)) => {
            own.description = format!(
                "{} Also: {}",
                own.description.trim_end_matches('.').to_owned() + ".",
                UNAVAILABLE_DESCRIPTION
            );
            own.headers
                .entry("Retry-After".to_owned())
                .or_insert_with(retry_after);
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            op.responses
                .responses
                .insert("503".to_owned(), problem_ref(UNAVAILABLE));
        }
    }
}

fn is_secured(op: &Operation) -> bool {
    op.security
        .as_ref()
        .is_none_or(|s| !s.is_empty() && s.iter().any(|r| r != &SecurityRequirement::default()))
}

fn add_shared(op: &mut Operation) {
    let secured = is_secured(op);
    let has_body = op.request_body.is_some();
    for (status, name, _) in SHARED {
        let wanted = match *status {
            "401" | "429" => secured,
            "413" | "415" | "422" => has_body,
            "400" => secured || has_body,
            _ => true,
        };
        if wanted {
            op.responses
                .responses
                .entry((*status).to_owned())
                .or_insert_with(|| problem_ref(name));
        }
    }
}

/// `request_body(content = Option<T>)` marks a body optional, and utoipa also
/// widens its schema to `T | null`. An optional body may be left out, but a
/// JSON `null` is refused like any other non-object, so the schema stays `T`:
/// generated clients then take the body as optional instead of nullable.
fn unwrap_optional_body(op: &mut Operation) {
    let Some(body) = op.request_body.as_mut() else {
        return;
    };
    if body.required == Some(Required::True) {
        return;
    }
    fn is_null(s: &RefOr<Schema>) -> bool {
        matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
    }
    for content in body.content.values_mut() {
        if let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema
            && let [a, b] = one_of.items.as_slice()
        {
            let inner = match (is_null(a), is_null(b)) {
                (true, false) => b.clone(),
                (false, true) => a.clone(),
                _ => continue,
            };
            content.schema = Some(inner);
        }
    }
}

/// Operations whose success answers carry a request (`ImportOut`), and the
/// operations on that request a client can take next: OpenAPI links, by
/// which generated clients and stateful testers chain submit, read, approve,
/// promote and cancel.
const IMPORT_ANSWERS: &[&str] = &[
    "create_import",
    "get_import",
    "approve_import",
    "reject_import",
    "cancel_import",
    "retry_import",
    "promote_import",
    "delete_model",
];
const IMPORT_NEXT: &[&str] = &[
    "get_import",
    "list_events",
    "approve_import",
    "reject_import",
    "cancel_import",
    "retry_import",
    "promote_import",
    "delete_model",
];
/// The same for answers that carry a webhook subscription (`WebhookOut`).
const WEBHOOK_ANSWERS: &[&str] = &["create_webhook", "get_webhook", "rotate_secret"];
const WEBHOOK_NEXT: &[&str] = &[
    "get_webhook",
    "list_deliveries",
    "ping_webhook",
    "rotate_secret",
    "delete_webhook",
];

/// Adds the links of `op`'s success answers. utoipa 5.5's `Link` writes its
/// fields in snake case (`operation_id`), which no OpenAPI reader knows, so
/// the Link Objects are written as JSON, in the response's `links`.
fn add_links(op: &mut Operation) {
    let Some(id) = op.operation_id.as_deref() else {
        return;
    };
    let next = if IMPORT_ANSWERS.contains(&id) {
        IMPORT_NEXT
    } else if WEBHOOK_ANSWERS.contains(&id) {
        WEBHOOK_NEXT
    } else {
        return;
    };
    let links: serde_json::Map<String, serde_json::Value> = next
        .iter()
        .map(|target| {
            (
                (*target).to_owned(),
                serde_json::json!({
                    "operationId": target,
                    "parameters": { "id": "$response.body#/id" },
                }),
            )
        })
        .collect();
    for (status, response) in &mut op.responses.responses {
        let RefOr::T(response) = response else {
            continue;
        };
        if !status.starts_with('2') {
            continue;
        }
        response
            .extensions
            .get_or_insert_with(Default::default)
            .merge(Extensions::from_iter([(
                "links",
                serde_json::Value::Object(links.clone()),
            )]));
    }
}

/// An optional parameter (`Option<T>` in a `params(...)` tuple) may be left
/// out, but a header or query value is never JSON `null`: its schema stays
/// `T`, as for optional bodies.
fn unwrap_optional_params(op: &mut Operation) {
    for param in op.parameters.iter_mut().flatten() {
        if let Some(RefOr::T(Schema::Object(o))) = param.schema.as_mut()
            && let SchemaType::Array(types) = &o.schema_type
            && types.contains(&Type::Null)
        {
            let rest: Vec<Type> = types
                .iter()
                .filter(|t| **t != Type::Null)
                .cloned()
                .collect();
            if let [one] = rest.as_slice() {
                o.schema_type = SchemaType::Type(one.clone());
            }
        }
    }
}

/// Adds the security scheme and the shared error responses.
pub(crate) fn finish(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A Ferry API token (`ferry token create`), or a JWT from the OIDC issuer \
                     configured under `[auth.oidc]` (role and team from its claims).",
                ))
                .build(),
        ),
    );
    for (_, name, description) in SHARED {
        components.responses.insert(
            (*name).to_owned(),
            RefOr::T(
                ResponseBuilder::new()
                    .description(*description)
                    .content(
                        "application/problem+json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Problem")))
                            .build(),
                    )
                    .build(),
            ),
        );
    }
    components.responses.insert(
        UNAVAILABLE.to_owned(),
        RefOr::T(
            ResponseBuilder::new()
                .description(UNAVAILABLE_DESCRIPTION)
                .header("Retry-After", retry_after())
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .example(Some(serde_json::json!({
                            "type": "urn:ferry:problem:unavailable",
                            "title": "Service Unavailable",
                            "status": 503,
                            "code": "unavailable",
                            "detail": "the database is unavailable; retry after the number of seconds in Retry-After",
                            "request_id": "0190b5a4-8c1e-7d2a-9f3b-5e6d7c8b9a01",
                        })))
                        .build(),
                )
                .build(),
        ),
    );
    doc.security = Some(vec![SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);
    for (path, item) in &mut doc.paths.paths {
        // Every authenticated operation needs the database (the caller's
        // token, the requests); so does readiness.
        let probe_needs_db = path == "/readyz";
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            unwrap_optional_body(op);
            add_links(op);
            unwrap_optional_params(op);
            if probe_needs_db || is_secured(op) {
                add_unavailable(op);
            }
            add_shared(op);
        }
    }
}
