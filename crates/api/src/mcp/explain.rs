//! A request, as the API answers it, explained in plain words: where it is,
//! why (its conditions), what the preflight found (the broken step of the
//! cross-account chain and its fix), and what the caller may do next.

use std::fmt::Write;

use ferry_domain::preflight::{Outcome, PreflightReport};
use serde_json::Value;

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("?")
}

/// The explanation of an `ImportOut` body.
pub(super) fn explain(request: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Request {} ({} into {}, team {}) is {}.",
        text(request, "id"),
        text(request, "model_name"),
        text(request, "environment"),
        text(request, "team"),
        text(request, "status"),
    );
    if let Some(position) = request.get("queue_position").and_then(Value::as_u64) {
        let _ = writeln!(out, "It is number {position} in line for an import slot.");
    }
    let conditions = request
        .get("conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !conditions.is_empty() {
        let _ = writeln!(out, "Conditions:");
        for c in conditions {
            let _ = writeln!(
                out,
                "- {} is {} ({}): {}",
                text(c, "type"),
                text(c, "status"),
                text(c, "reason"),
                text(c, "message")
            );
        }
    }
    match request
        .get("preflight")
        .filter(|p| !p.is_null())
        .map(|p| serde_json::from_value::<PreflightReport>(p.clone()))
    {
        None => {
            let _ = writeln!(out, "The preflight has not run yet.");
        }
        Some(Err(_)) => {
            let _ = writeln!(out, "The preflight report is in the JSON below.");
        }
        Some(Ok(report)) => preflight(&mut out, &report),
    }
    if let Some(message) = request.get("failure_message").and_then(Value::as_str) {
        let _ = writeln!(out, "Failure: {message}");
    }
    if let Some(arn) = request.get("imported_model_arn").and_then(Value::as_str) {
        let _ = writeln!(out, "Imported model: {arn}.");
    }
    let actions: Vec<&str> = request
        .get("allowed_actions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if actions.is_empty() {
        let _ = writeln!(out, "You may take no action on it now.");
    } else {
        let _ = writeln!(out, "You may now: {}.", actions.join(", "));
    }
    out
}

fn preflight(out: &mut String, report: &PreflightReport) {
    let verdict = if report.passed() { "passed" } else { "failed" };
    let _ = writeln!(
        out,
        "The preflight {verdict} ({} checks, as {}).",
        report.checks.len(),
        report.checked_as
    );
    for check in &report.checks {
        let label = match check.outcome {
            Outcome::Failed => "FAILED",
            Outcome::Warning => "warning",
            Outcome::Passed | Outcome::Skipped => continue,
        };
        let _ = write!(out, "- {label} {}: {}", check.name, check.detail);
        if let Some(step) = check.chain_step {
            let _ = write!(out, " Broken step: {}.", step.human_name());
        }
        if let Some(evidence) = &check.evidence {
            let _ = write!(out, " AWS said: {evidence}.");
        }
        if let Some(fix) = &check.fix {
            let _ = write!(out, " Fix: {fix}");
        }
        let _ = writeln!(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failed_check_names_the_broken_step_and_its_fix() {
        let request = json!({
            "id": "r-1", "model_name": "m", "environment": "dev", "team": "research",
            "status": "failed", "allowed_actions": ["retry"],
            "conditions": [{"type": "Validated", "status": "False", "reason": "PreflightFailed",
                            "message": "access denied"}],
            "failure_message": "preflight failed",
            "preflight": {
                "checked_at": "2026-12-01T00:00:00Z", "checked_as": "arn:aws:iam::777788889999:role/x",
                "assumed_execution_role": true, "model": null,
                "checks": [
                    {"name": "s3_list", "outcome": "failed", "detail": "ListObjectsV2 was denied.",
                     "evidence": "AccessDenied", "chain_step": "bucket_policy",
                     "fix": "Add s3:ListBucket for the execution role to the bucket policy."},
                    {"name": "config_json", "outcome": "skipped", "detail": "not reached",
                     "evidence": null, "chain_step": null, "fix": null}
                ]
            }
        });
        let text = explain(&request);
        assert!(text.contains("is failed."), "{text}");
        assert!(
            text.contains("Validated is False (PreflightFailed): access denied"),
            "{text}"
        );
        assert!(text.contains("The preflight failed"), "{text}");
        assert!(
            text.contains("Broken step: artifact bucket policy (walkthrough step 1)."),
            "{text}"
        );
        assert!(text.contains("Fix: Add s3:ListBucket"), "{text}");
        assert!(!text.contains("config_json"), "{text}");
        assert!(text.contains("You may now: retry."), "{text}");
    }
}
