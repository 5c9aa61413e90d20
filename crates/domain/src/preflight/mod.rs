//! Preflight reports: what Ferry found when it read a model's artifacts with the rights Bedrock
//! will use, stored as JSON (Postgres `jsonb`, API responses), and the diagnosis that turns an
//! AWS `AccessDenied` into the broken step of the cross-account chain and its fix.

mod diagnose;

pub use diagnose::{Access, DeniedCall, Diagnosis, diagnose_access_denied};

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
    /// The control role may invoke the account's imported models (the readiness check
    /// after an import; IAM's policy simulator; a warning either way, since the import
    /// itself does not need it).
    pub const INVOKE_MODELS: &str = "invoke_models";
    /// The control role may read what the account inventory reads beyond the import's own
    /// calls: the tags of the account's imported models (`bedrock:ListTagsForResource` on
    /// `imported-model/*`) and their invocations in CloudWatch (`cloudwatch:GetMetricData`);
    /// IAM's policy simulator; a warning either way.
    pub const READ_INVENTORY: &str = "read_inventory";
    /// The artifact's content digest matches a model the environment already imported, or is
    /// importing (passed when the request will reuse it, a warning when it imports again).
    pub const SAME_ARTIFACT: &str = "same_artifact";
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
    /// The artifact's content digest (`sha256:...`, see
    /// [`crate::artifacts::ArtifactDigest`]) when every object had an ETag and `config.json`
    /// and every safetensors header were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

#[cfg(test)]
mod tests;
