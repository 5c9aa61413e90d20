//! W3C Trace Context on the API's edge: an incoming `traceparent` becomes the
//! parent of the request's span, and the request that creates an import
//! hands its own context to the import (the worker's steps continue it).
//!
//! With OTLP export off there is no OpenTelemetry layer: setting a parent is
//! a no-op and a span has no context of its own, so an import keeps the
//! incoming `traceparent` as it came.

use ferry_domain::trace::TraceParent;
use http::HeaderMap;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C header.
pub const TRACEPARENT: &str = "traceparent";

/// The request's `traceparent`, when it carries a valid one. An invalid
/// value is ignored (a new trace starts), as W3C Trace Context asks.
pub(crate) fn incoming(headers: &HeaderMap) -> Option<TraceParent> {
    headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| TraceParent::parse(v.trim()).ok())
}

/// An OpenTelemetry context whose (remote) parent is `tp`.
pub fn context(tp: &TraceParent) -> opentelemetry::Context {
    let trace_id = TraceId::from_hex(tp.trace_id()).unwrap_or(TraceId::INVALID);
    let span_id = SpanId::from_hex(tp.parent_id()).unwrap_or(SpanId::INVALID);
    opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(tp.flags()),
        true,
        TraceState::default(),
    ))
}

/// Makes `tp` the parent of `span` (a no-op without the OpenTelemetry layer).
pub fn set_parent(span: &Span, tp: &TraceParent) {
    // Only an error when the span is disabled; nothing to do then.
    let _ = span.set_parent(context(tp));
}

/// The `traceparent` naming `span` itself, when it belongs to an exported
/// trace (OTLP export on).
pub fn of_span(span: &Span) -> Option<TraceParent> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if !sc.is_valid() {
        return None;
    }
    TraceParent::parse(&format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    ))
    .ok()
}

/// What an import created by the current request keeps: the request span's
/// own context (a child of any incoming `traceparent`), else the incoming
/// `traceparent` as it came.
pub(crate) fn for_new_import(headers: &HeaderMap) -> Option<TraceParent> {
    of_span(&Span::current()).or_else(|| incoming(headers))
}
