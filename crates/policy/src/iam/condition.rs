//! Condition operators and the wildcard matching IAM uses for actions, resources and `*Like`.

use super::RequestContext;
use super::policy::{ConditionTest, SetQualifier};

const STRING_OPS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnNotEquals",
    "ArnLike",
    "ArnNotLike",
    "Bool",
    "Null",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
];

/// Whether `op` (without qualifier or `IfExists`) is an operator this evaluator implements.
#[must_use]
pub(crate) fn is_known_operator(op: &str) -> bool {
    STRING_OPS.contains(&op)
}

/// `*` matches any run of characters, `?` exactly one. Case-sensitive unless `fold_case`.
#[must_use]
pub fn wildcard_match(pattern: &str, text: &str, fold_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if fold_case {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    // Iterative glob with single backtrack point: linear in practice.
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// `ArnLike`: each of the six colon-separated parts is matched on its own; the resource part
/// keeps its colons.
#[must_use]
pub fn arn_like(pattern: &str, arn: &str) -> bool {
    let pp: Vec<&str> = pattern.splitn(6, ':').collect();
    let ap: Vec<&str> = arn.splitn(6, ':').collect();
    if pp.len() != 6 || ap.len() != 6 {
        return pattern == "*" || (pp.len() == ap.len() && wildcard_match(pattern, arn, false));
    }
    pp.iter().zip(&ap).all(|(p, a)| wildcard_match(p, a, false))
}

fn single(op: &str, pattern: &str, value: &str) -> bool {
    match op {
        "StringEquals" | "StringNotEquals" => pattern == value,
        "StringEqualsIgnoreCase" | "StringNotEqualsIgnoreCase" => {
            pattern.to_lowercase() == value.to_lowercase()
        }
        "StringLike" | "StringNotLike" => wildcard_match(pattern, value, false),
        "ArnEquals" | "ArnNotEquals" | "ArnLike" | "ArnNotLike" => arn_like(pattern, value),
        "Bool" => pattern.eq_ignore_ascii_case(value),
        _ => {
            let (Ok(p), Ok(v)) = (pattern.parse::<f64>(), value.parse::<f64>()) else {
                return false;
            };
            match op {
                "NumericEquals" | "NumericNotEquals" => (v - p).abs() < f64::EPSILON,
                "NumericLessThan" => v < p,
                "NumericLessThanEquals" => v <= p,
                "NumericGreaterThan" => v > p,
                "NumericGreaterThanEquals" => v >= p,
                _ => false,
            }
        }
    }
}

fn negated(op: &str) -> bool {
    op.contains("Not")
}

/// Evaluates one condition test against the request context.
///
/// Semantics follow the IAM reference: a missing key makes positive operators false and
/// negated operators true; `IfExists` makes a missing key true; `Null` tests presence.
#[must_use]
pub(crate) fn holds(test: &ConditionTest, ctx: &RequestContext) -> bool {
    let values = ctx.values(&test.key);
    if test.operator == "Null" {
        let want_absent = test.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
        return want_absent == values.is_empty();
    }
    if values.is_empty() {
        return match test.set_qualifier {
            Some(SetQualifier::ForAllValues) => true,
            Some(SetQualifier::ForAnyValue) => false,
            None => test.if_exists || negated(&test.operator),
        };
    }
    let neg = negated(&test.operator);
    // For one context value: does it match any policy value (positive form)?
    let matches_any = |v: &str| test.values.iter().any(|p| single(&test.operator, p, v));
    let one = |v: &str| if neg { !matches_any(v) } else { matches_any(v) };
    match test.set_qualifier {
        Some(SetQualifier::ForAllValues) => values.iter().all(|v| one(v)),
        Some(SetQualifier::ForAnyValue) => values.iter().any(|v| one(v)),
        // A single-valued key: IAM takes the value as is; for multi-valued keys without a
        // qualifier we require every value to pass, which is the conservative reading.
        None => values.iter().all(|v| one(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("s3:Get*", "s3:GetObject", false));
        assert!(wildcard_match("s3:get*", "s3:GetObject", true));
        assert!(!wildcard_match("s3:get*", "s3:GetObject", false));
        assert!(wildcard_match("a?c", "abc", false));
        assert!(!wildcard_match("a?c", "abbc", false));
        assert!(wildcard_match("*", "", false));
        assert!(wildcard_match(
            "arn:aws:s3:::b/*",
            "arn:aws:s3:::b/x/y",
            false
        ));
        assert!(!wildcard_match(
            "arn:aws:s3:::b/*",
            "arn:aws:s3:::bb/x",
            false
        ));
        assert!(wildcard_match("*a*b*", "xxaxxbxx", false));
    }

    #[test]
    fn arn_like_is_per_component() {
        let job = "arn:aws:bedrock:us-east-1:777788889999:model-import-job/abc123def456";
        assert!(arn_like(
            "arn:aws:bedrock:us-east-1:777788889999:model-import-job/*",
            job
        ));
        assert!(arn_like(
            "arn:aws:bedrock:*:777788889999:model-import-job/*",
            job
        ));
        assert!(!arn_like(
            "arn:aws:bedrock:us-east-1:111122223333:model-import-job/*",
            job
        ));
        // A `*` in the region part must not swallow the account part.
        assert!(!arn_like("arn:aws:bedrock:*:model-import-job/*", job));
        assert!(arn_like("*", job));
    }
}
