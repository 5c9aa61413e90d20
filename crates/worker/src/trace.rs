//! The stored W3C `traceparent` of a request as the parent of its steps'
//! spans (a no-op unless OTLP export installed the OpenTelemetry layer).

use ferry_domain::trace::TraceParent;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Makes the (remote) span `tp` names the parent of `span`.
pub(crate) fn set_parent(span: &Span, tp: &TraceParent) {
    let trace_id = TraceId::from_hex(tp.trace_id()).unwrap_or(TraceId::INVALID);
    let span_id = SpanId::from_hex(tp.parent_id()).unwrap_or(SpanId::INVALID);
    let cx = opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(tp.flags()),
        true,
        TraceState::default(),
    ));
    // Only an error when the span is disabled; nothing to do then.
    let _ = span.set_parent(cx);
}
