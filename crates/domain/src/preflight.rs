//! Preflight reports: what Ferry found when it read a model's artifacts with the rights Bedrock
//! will use, stored as JSON (Postgres `jsonb`, API responses), and the diagnosis that turns an
//! AWS `AccessDenied` into the broken step of the cross-account chain and its fix.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::chain::ChainStep;

/// The outcome of a preflight: every check, and the model's facts when they could be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightReport {
    /// When the checks ran.
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    /// The role ARN whose rights were used (the execution role when it could be assumed, else
    /// the control role).
    pub checked_as: String,
    /// Whether the checks ran as the execution role (what Bedrock uses).
    pub assumed_execution_role: bool,
    /// Checks in the order they ran.
    pub checks: Vec<Check>,
    /// What the artifacts say, when `config.json` and the weights could be read.
    pub model: Option<ModelFacts>,
}

impl PreflightReport {
    /// No check failed (warnings and skips are fine).
    #[must_use]
    pub fn passed(&self) -> bool {
        !self.checks.iter().any(|c| c.outcome == Outcome::Failed)
    }

    /// Failed only transiently: every failed check is [`Check::transient`] (throttling, 5xx,
    /// timeouts). The caller should run preflight again later instead of failing the import.
    #[must_use]
    pub fn failed_transiently(&self) -> bool {
        let mut failed = self
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Failed)
            .peekable();
        failed.peek().is_some() && failed.all(|c| c.transient)
    }

    /// The first failed check, if any.
    #[must_use]
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| c.outcome == Outcome::Failed)
    }

    /// The check named `name` (see [`check_names`]).
    #[must_use]
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

/// Stable check names.
pub mod check_names {
    /// Assuming the execution role from the control role.
    pub const ASSUME_EXECUTION_ROLE: &str = "assume_execution_role";
    /// The execution role's trust policy lets `bedrock.amazonaws.com` in (read with
    /// `iam:GetRole` and evaluated locally; a warning when it cannot be read).
    pub const BEDROCK_TRUST: &str = "bedrock_trust";
    /// Listing the model prefix.
    pub const LIST_PREFIX: &str = "list_prefix";
    /// Reading `config.json`.
    pub const READ_CONFIG: &str = "read_config";
    /// Supported architecture and context length.
    pub const ARCHITECTURE: &str = "architecture";
    /// Weight files (safetensors, shards, adapters).
    pub const WEIGHTS: &str = "weights";
    /// Reading and parsing the safetensors headers.
    pub const SAFETENSORS_HEADERS: &str = "safetensors_headers";
    /// Tokenizer files.
    pub const TOKENIZER: &str = "tokenizer";
    /// The 200 GB limit.
    pub const SIZE: &str = "size";
    /// Decrypting SSE-KMS artifacts with the research account's key.
    pub const SOURCE_KEY: &str = "source_key";
    /// Using the hosting account's key for the imported model.
    pub const HOSTING_KEY: &str = "hosting_key";
    /// The control role may pass the execution role to Bedrock and create
    /// import jobs (IAM's policy simulator; a warning when it cannot be asked).
    pub const PASS_ROLE: &str = "pass_role";
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Stable name from [`check_names`].
    pub name: String,
    /// Result.
    pub outcome: Outcome,
    /// What was found, for humans.
    pub detail: String,
    /// The AWS error code and message behind a failure.
    pub evidence: Option<String>,
    /// The step of the cross-account chain that is broken.
    pub chain_step: Option<ChainStep>,
    /// What to change, and where.
    pub fix: Option<String>,
    /// The failure was transient (throttling, 5xx, timeout): run preflight again later rather
    /// than failing the import. Absent in JSON when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transient: bool,
}

impl Check {
    /// A passed check.
    #[must_use]
    pub fn passed(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, Outcome::Passed, detail)
    }

    /// A failed check without AWS evidence (an artifact problem).
    #[must_use]
    pub fn failed(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, Outcome::Failed, detail)
    }

    /// A warning.
    #[must_use]
    pub fn warning(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, Outcome::Warning, detail)
    }

    /// A skipped check (an earlier one failed, or it does not apply).
    #[must_use]
    pub fn skipped(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, Outcome::Skipped, detail)
    }

    fn new(name: &str, outcome: Outcome, detail: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            outcome,
            detail: detail.into(),
            evidence: None,
            chain_step: None,
            fix: None,
            transient: false,
        }
    }

    /// Marks the failure as transient.
    #[must_use]
    pub fn transient(mut self) -> Self {
        self.transient = true;
        self
    }

    /// Adds the AWS error behind the outcome.
    #[must_use]
    pub fn with_evidence(mut self, evidence: impl Into<String>) -> Self {
        self.evidence = Some(evidence.into());
        self
    }

    /// Adds a diagnosis (chain step and fix).
    #[must_use]
    pub fn with_diagnosis(mut self, d: Diagnosis) -> Self {
        self.chain_step = Some(d.step);
        self.fix = Some(d.fix);
        self
    }

    /// Adds a fix without a chain step.
    #[must_use]
    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// A check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Fine.
    Passed,
    /// The import would fail.
    Failed,
    /// Worth a look; the import may still work.
    Warning,
    /// Not run.
    Skipped,
}

/// What was being done when AWS said `AccessDenied`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Listing or reading the artifacts in S3.
    SourceObjects,
    /// Decrypting SSE-KMS artifacts with the research key (directly or through S3).
    SourceKey,
    /// Using the hosting key for the imported model.
    HostingKey,
    /// Assuming the execution role.
    AssumeExecutionRole,
    /// Ferry assuming its control role.
    AssumeControlRole,
    /// A Bedrock control-plane call.
    Bedrock,
    /// Passing the execution role to Bedrock.
    PassRole,
}

/// An `AccessDenied` to diagnose.
#[derive(Debug, Clone, Copy)]
pub struct DeniedCall<'a> {
    /// What Ferry was doing.
    pub access: Access,
    /// The IAM action, e.g. `s3:ListBucket`.
    pub action: &'a str,
    /// The resource (bucket, key or role ARN, URI).
    pub resource: &'a str,
    /// AWS's error message.
    pub aws_message: &'a str,
    /// Whether the caller and the resource are in different accounts.
    pub is_cross_account: bool,
    /// The role whose rights were used (the execution role for artifact reads).
    pub role_arn: &'a str,
    /// The research account, when known.
    pub research_account: Option<&'a str>,
    /// The hosting account, when known.
    pub hosting_account: Option<&'a str>,
}

/// The broken step and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// The most likely broken step.
    pub step: ChainStep,
    /// Another candidate when AWS's message does not say which policy denied.
    pub alternative: Option<ChainStep>,
    /// What to add, to which document, in which account.
    pub fix: String,
}

/// Which kind of policy AWS says denied the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Denier {
    Resource,
    Identity,
    ExplicitResource,
    ExplicitIdentity,
    Unknown,
}

fn denier(message: &str) -> Denier {
    let m = message.to_ascii_lowercase();
    if m.contains("explicit deny in a resource-based policy") {
        Denier::ExplicitResource
    } else if m.contains("explicit deny in an identity-based policy")
        || m.contains("explicit deny in a session policy")
        || m.contains("explicit deny in a permissions boundary")
        || m.contains("explicit deny in a service control policy")
    {
        Denier::ExplicitIdentity
    } else if m.contains("no resource-based policy allows") {
        Denier::Resource
    } else if m.contains("no identity-based policy allows") {
        Denier::Identity
    } else {
        Denier::Unknown
    }
}

/// Turns an `AccessDenied` into the broken chain step and a fix naming the statement to add
/// and the account whose document it goes into.
///
/// AWS (and the sim) end the message with `because no resource-based policy allows ...`
/// (the bucket or key policy is missing the grant), `because no identity-based policy
/// allows ...` (the role's own policy is), or `with an explicit deny in ...`. When the message
/// says neither, the resource policy is the primary candidate across accounts, the identity
/// policy within one account, and the other is named in [`Diagnosis::alternative`] and the fix.
#[must_use]
pub fn diagnose_access_denied(call: &DeniedCall<'_>) -> Diagnosis {
    let research_in = call.research_account.map_or_else(
        || "In the research account (the one that owns the bucket and the source key)".to_owned(),
        |a| format!("In account {a}"),
    );
    let hosting_in = call.hosting_account.map_or_else(
        || "In the hosting account".to_owned(),
        |a| format!("In account {a}"),
    );
    let research = call.research_account.unwrap_or("<research account id>");
    let role = call.role_arn;
    let action = call.action;
    let resource = call.resource;
    let d = denier(call.aws_message);
    let explicit = matches!(d, Denier::ExplicitResource | Denier::ExplicitIdentity);
    let identity_fix = |what: &str| {
        format!(
            "{hosting_in}, add to the identity policy of {role} a statement allowing {what}{}.",
            if call.access == Access::SourceObjects {
                format!(" (pin it with the condition aws:ResourceAccount = {research})")
            } else {
                String::new()
            }
        )
    };
    // (resource-policy step, its fix, what the identity statement must allow)
    let (resource_step, resource_fix, identity_what) = match call.access {
        Access::SourceObjects => (
            ChainStep::BucketPolicy,
            format!(
                "{research_in}, add to the bucket policy of the artifact bucket a statement with Principal {{\"AWS\": \"{role}\"}} allowing s3:ListBucket on the bucket ARN and s3:GetObject on the bucket ARN + \"/*\" (denied: {action} on {resource})."
            ),
            format!(
                "s3:ListBucket and s3:GetObject on the artifact bucket and its objects (denied: {action} on {resource})"
            ),
        ),
        Access::SourceKey => (
            ChainStep::SourceKeyPolicy,
            format!(
                "{research_in}, add to the key policy of {resource} a statement with Principal {{\"AWS\": \"{role}\"}} allowing kms:Decrypt and kms:DescribeKey."
            ),
            format!("kms:Decrypt and kms:DescribeKey on {resource}"),
        ),
        Access::HostingKey => (
            ChainStep::HostingKeyPolicy,
            format!(
                "{hosting_in}, add to the key policy of {resource} a statement with Principal {{\"AWS\": \"{role}\"}} allowing kms:Decrypt, kms:GenerateDataKey, kms:DescribeKey and kms:CreateGrant."
            ),
            format!(
                "kms:Decrypt, kms:GenerateDataKey, kms:DescribeKey and kms:CreateGrant on {resource}"
            ),
        ),
        Access::AssumeExecutionRole => {
            return Diagnosis {
                step: ChainStep::TrustPolicy,
                alternative: Some(ChainStep::ControlRolePolicy),
                fix: format!(
                    "{hosting_in}, append to the trust policy of {resource} a statement (e.g. Sid AllowFerryPreflight) with Principal {{\"AWS\": \"{role}\"}} and Action sts:AssumeRole, keeping the bedrock.amazonaws.com statement; the control role's identity policy must also allow sts:AssumeRole on {resource}{}.",
                    if explicit {
                        " (an explicit deny currently blocks it)"
                    } else {
                        ""
                    }
                ),
            };
        }
        Access::AssumeControlRole => {
            return Diagnosis {
                step: ChainStep::ControlRolePolicy,
                alternative: None,
                fix: format!(
                    "{hosting_in}, let Ferry's identity assume {resource}: its trust policy must name Ferry's principal with sts:AssumeRole (and the external id, if configured; and sts:TagSession, if session tags are configured), and Ferry's identity policy must allow sts:AssumeRole on it."
                ),
            };
        }
        Access::Bedrock => {
            return Diagnosis {
                step: ChainStep::ControlRolePolicy,
                alternative: None,
                fix: format!(
                    "{hosting_in}, add to the identity policy of {role} a statement allowing {action} (bedrock:CreateModelImportJob, GetModelImportJob, ListModelImportJobs, GetImportedModel, ListImportedModels, DeleteImportedModel)."
                ),
            };
        }
        Access::PassRole => {
            return Diagnosis {
                step: ChainStep::PassRole,
                alternative: None,
                fix: format!(
                    "{hosting_in}, add to the identity policy of {role} a statement allowing iam:PassRole on {resource} with the condition iam:PassedToService = bedrock.amazonaws.com."
                ),
            };
        }
    };
    let identity = identity_fix(&identity_what);
    let (step, alternative, fix) = match d {
        Denier::Resource | Denier::ExplicitResource => (resource_step, None, resource_fix),
        Denier::Identity | Denier::ExplicitIdentity => {
            (ChainStep::ExecutionRoleIdentityPolicy, None, identity)
        }
        Denier::Unknown if call.is_cross_account => (
            resource_step,
            Some(ChainStep::ExecutionRoleIdentityPolicy),
            format!(
                "AWS did not say which policy denied: across accounts both must allow. {resource_fix} {identity}"
            ),
        ),
        Denier::Unknown => (
            ChainStep::ExecutionRoleIdentityPolicy,
            Some(resource_step),
            format!("AWS did not say which policy denied. {identity} {resource_fix}"),
        ),
    };
    let fix = if explicit {
        format!("An explicit Deny statement blocks {action}: remove or narrow it. Then: {fix}")
    } else {
        fix
    };
    Diagnosis {
        step,
        alternative,
        fix,
    }
}

/// What the artifacts say, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ModelFacts {
    /// `config.json` `model_type`.
    pub model_type: Option<String>,
    /// `config.json` `architectures[]`.
    pub architectures: Vec<String>,
    /// Supported family matched.
    pub family: Option<String>,
    /// Context length from `config.json`.
    pub context_length: Option<u64>,
    /// `torch_dtype` from `config.json`.
    pub torch_dtype: Option<String>,
    /// Tensor dtypes across all safetensors headers, sorted.
    pub dtypes: Vec<String>,
    /// Parameters across all safetensors files.
    pub parameter_count: Option<u64>,
    /// Bytes of the safetensors files.
    pub total_weight_bytes: u64,
    /// Bytes of everything under the prefix.
    pub total_bytes: u64,
    /// Object names relative to the prefix.
    pub files: Vec<String>,
    /// The SSE-KMS key the artifacts are encrypted with, if any.
    pub source_kms_key: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::chain::AccountSide;

    const ROLE: &str = "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999";

    fn call<'a>(access: Access, action: &'a str, msg: &'a str, cross: bool) -> DeniedCall<'a> {
        DeniedCall {
            access,
            action,
            resource: "arn:aws:s3:::model-artifacts-111122223333",
            aws_message: msg,
            is_cross_account: cross,
            role_arn: ROLE,
            research_account: Some("111122223333"),
            hosting_account: Some("777788889999"),
        }
    }

    #[test]
    fn resource_policy_denials_point_at_the_research_account() {
        let d = diagnose_access_denied(&call(
            Access::SourceObjects,
            "s3:ListBucket",
            "User: x is not authorized to perform: s3:ListBucket on resource: y because no resource-based policy allows the s3:ListBucket action",
            true,
        ));
        assert_eq!(d.step, ChainStep::BucketPolicy);
        assert_eq!(d.alternative, None);
        assert!(
            d.fix.contains("111122223333")
                && d.fix.contains("bucket policy")
                && d.fix.contains(ROLE)
        );
        assert_eq!(d.step.account_side(), AccountSide::Research);

        let k = diagnose_access_denied(&call(
            Access::SourceKey,
            "kms:Decrypt",
            "... because no resource-based policy allows the kms:Decrypt action",
            true,
        ));
        assert_eq!(k.step, ChainStep::SourceKeyPolicy);
        assert!(k.fix.contains("kms:Decrypt"));
        let h = diagnose_access_denied(&call(
            Access::HostingKey,
            "kms:GenerateDataKey",
            "because no resource-based policy allows the kms:GenerateDataKey action",
            false,
        ));
        assert_eq!(h.step, ChainStep::HostingKeyPolicy);
        assert!(h.fix.contains("kms:CreateGrant") && h.fix.contains("777788889999"));
    }

    #[test]
    fn identity_policy_denials_point_at_the_execution_role() {
        let d = diagnose_access_denied(&call(
            Access::SourceObjects,
            "s3:GetObject",
            "... because no identity-based policy allows the s3:GetObject action",
            true,
        ));
        assert_eq!(d.step, ChainStep::ExecutionRoleIdentityPolicy);
        assert!(d.fix.contains("aws:ResourceAccount = 111122223333"));
        let k = diagnose_access_denied(&call(
            Access::SourceKey,
            "kms:Decrypt",
            "because no identity-based policy allows the kms:Decrypt action",
            true,
        ));
        assert_eq!(k.step, ChainStep::ExecutionRoleIdentityPolicy);
    }

    #[test]
    fn explicit_denies_and_vague_messages() {
        let d = diagnose_access_denied(&call(
            Access::SourceObjects,
            "s3:GetObject",
            "... with an explicit deny in a resource-based policy",
            true,
        ));
        assert_eq!(d.step, ChainStep::BucketPolicy);
        assert!(d.fix.contains("explicit Deny"));
        let d = diagnose_access_denied(&call(
            Access::SourceObjects,
            "s3:GetObject",
            "Access Denied",
            true,
        ));
        assert_eq!(d.step, ChainStep::BucketPolicy);
        assert_eq!(d.alternative, Some(ChainStep::ExecutionRoleIdentityPolicy));
        assert!(d.fix.contains("bucket policy") && d.fix.contains("identity policy"));
        let d = diagnose_access_denied(&call(
            Access::SourceObjects,
            "s3:GetObject",
            "Access Denied",
            false,
        ));
        assert_eq!(d.step, ChainStep::ExecutionRoleIdentityPolicy);
        assert_eq!(d.alternative, Some(ChainStep::BucketPolicy));
    }

    #[test]
    fn role_and_bedrock_denials() {
        let t = diagnose_access_denied(&call(
            Access::AssumeExecutionRole,
            "sts:AssumeRole",
            "not authorized to perform: sts:AssumeRole",
            false,
        ));
        assert_eq!(t.step, ChainStep::TrustPolicy);
        assert!(t.fix.contains("trust policy") && t.fix.contains("bedrock.amazonaws.com"));
        assert_eq!(
            diagnose_access_denied(&call(Access::PassRole, "iam:PassRole", "", false)).step,
            ChainStep::PassRole
        );
        assert_eq!(
            diagnose_access_denied(&call(
                Access::Bedrock,
                "bedrock:CreateModelImportJob",
                "",
                false
            ))
            .step,
            ChainStep::ControlRolePolicy
        );
        assert_eq!(
            diagnose_access_denied(&call(
                Access::AssumeControlRole,
                "sts:AssumeRole",
                "",
                false
            ))
            .step,
            ChainStep::ControlRolePolicy
        );
    }

    #[test]
    fn reports_round_trip_as_json() {
        let report = PreflightReport {
            checked_at: time::macros::datetime!(2026-11-28 18:00 UTC),
            checked_as: ROLE.into(),
            assumed_execution_role: true,
            checks: vec![
                Check::passed(check_names::LIST_PREFIX, "6 objects"),
                Check::failed(check_names::SOURCE_KEY, "denied")
                    .with_evidence("AccessDenied: ...")
                    .with_diagnosis(Diagnosis {
                        step: ChainStep::SourceKeyPolicy,
                        alternative: None,
                        fix: "add".into(),
                    }),
            ],
            model: Some(ModelFacts::default()),
        };
        let v = serde_json::to_value(&report).unwrap();
        assert_eq!(v["checked_at"], "2026-11-28T18:00:00Z");
        assert_eq!(v["checks"][1]["outcome"], "failed");
        assert_eq!(v["checks"][1]["chain_step"], "source_key_policy");
        let back: PreflightReport = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back, report);
        assert!(!report.passed());
        assert!(!report.failed_transiently());
        assert!(v["checks"][1].get("transient").is_none());
        assert_eq!(report.first_failure().unwrap().name, "source_key");
        let ok = PreflightReport {
            checks: vec![
                Check::warning("tokenizer", "no config"),
                Check::skipped("hosting_key", "none"),
            ],
            ..report
        };
        assert!(ok.passed());
        assert!(!ok.failed_transiently());
        let flaky = PreflightReport {
            checks: vec![Check::failed("list_prefix", "SlowDown").transient()],
            ..ok
        };
        assert!(flaky.failed_transiently());
        let v = serde_json::to_value(&flaky).unwrap();
        assert_eq!(v["checks"][0]["transient"], true);
        for s in ChainStep::ALL {
            assert!(!s.human_name().is_empty());
        }
    }
}
