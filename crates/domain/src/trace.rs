//! W3C Trace Context: the `traceparent` of the request that created an
//! import, kept with it so the worker's steps join the same trace.
//!
//! Format (W3C Trace Context, level 1, section 3.2 "traceparent Header",
//! <https://www.w3.org/TR/trace-context/#traceparent-header>):
//! `00-<trace-id: 32 lowercase hex>-<parent-id: 16 lowercase hex>-<trace-flags: 2 hex>`,
//! where neither id may be all zeros. Version `00` is the only one defined;
//! a header that does not parse is ignored (a new trace starts), as the
//! specification asks of a receiver, never refused.

use std::fmt;

use crate::RuleError;

/// A valid version-00 `traceparent` value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceParent(String);

fn lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl TraceParent {
    /// Parses a `traceparent` value by the W3C rule.
    pub fn parse(s: &str) -> Result<Self, RuleError> {
        let bad = |why: &str| {
            RuleError::new(
                "traceparent",
                format!(
                    "traceparent must be 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>: {why}"
                ),
            )
        };
        let parts: Vec<&str> = s.split('-').collect();
        let [version, trace_id, parent_id, flags] = parts.as_slice() else {
            return Err(bad("not four fields separated by '-'"));
        };
        if *version != "00" {
            return Err(bad("only version 00 is defined"));
        }
        if trace_id.len() != 32 || !lower_hex(trace_id) {
            return Err(bad("the trace id is not 32 lowercase hex digits"));
        }
        if parent_id.len() != 16 || !lower_hex(parent_id) {
            return Err(bad("the parent id is not 16 lowercase hex digits"));
        }
        if flags.len() != 2 || !lower_hex(flags) {
            return Err(bad("the flags are not 2 lowercase hex digits"));
        }
        if trace_id.bytes().all(|b| b == b'0') || parent_id.bytes().all(|b| b == b'0') {
            return Err(bad("an id of all zeros is invalid"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 32 hex digits of the trace id.
    pub fn trace_id(&self) -> &str {
        &self.0[3..35]
    }

    /// The 16 hex digits of the parent (span) id.
    pub fn parent_id(&self) -> &str {
        &self.0[36..52]
    }

    /// The trace flags (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        u8::from_str_radix(&self.0[53..55], 16).unwrap_or(0)
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The example of the W3C specification.
    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specification_example_parses_into_its_parts() {
        let t = TraceParent::parse(EXAMPLE).unwrap();
        assert_eq!(t.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.parent_id(), "00f067aa0ba902b7");
        assert_eq!(t.flags(), 1);
        assert_eq!(t.to_string(), EXAMPLE);
    }

    #[test]
    fn malformed_values_are_refused_by_the_traceparent_rule() {
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
        ] {
            let e = TraceParent::parse(bad).unwrap_err();
            assert_eq!(e.rule, "traceparent", "{bad}");
        }
    }
}
