//! Rendering: the least-privilege documents for one environment.

mod documents;

pub use documents::render;

use serde::Serialize;
use serde_json::Value;

use ferry_domain::aws::KmsKeyRef;
use ferry_domain::catalog::{AllowedSource, Catalog, Environment};
use ferry_domain::chain::AccountSide;

use documents::KeyTarget;
use documents::partition;

/// Which document of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// The research bucket's policy (walkthrough step 1).
    BucketPolicy,
    /// The execution role's identity policy (steps 2 and 5).
    ExecutionRolePolicy,
    /// The execution role's trust policy (step 2).
    ExecutionRoleTrustPolicy,
    /// The research key's policy statement (step 3).
    SourceKeyPolicy,
    /// The hosting key's policy statement (step 4).
    HostingKeyPolicy,
    /// Ferry's control role identity policy (step 6).
    ControlRolePolicy,
    /// Ferry's control role trust policy.
    ControlRoleTrustPolicy,
}

impl DocumentKind {
    /// The file name stem, also the `ferry policy check` flag without `--`.
    #[must_use]
    pub fn slug(self) -> &'static str {
        match self {
            Self::BucketPolicy => "bucket-policy",
            Self::ExecutionRolePolicy => "execution-role-policy",
            Self::ExecutionRoleTrustPolicy => "trust-policy",
            Self::SourceKeyPolicy => "source-key-policy",
            Self::HostingKeyPolicy => "hosting-key-policy",
            Self::ControlRolePolicy => "control-role-policy",
            Self::ControlRoleTrustPolicy => "control-role-trust-policy",
        }
    }

    /// The account that owns the document.
    #[must_use]
    pub fn side(self) -> AccountSide {
        match self {
            Self::BucketPolicy | Self::SourceKeyPolicy => AccountSide::Research,
            _ => AccountSide::Hosting,
        }
    }
}

/// One statement's `Sid` and what it is for, in one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementNote {
    /// The statement's `Sid`.
    pub sid: String,
    /// Why the statement is there.
    pub explanation: String,
}

/// One rendered policy document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderedDocument {
    /// Which document.
    pub kind: DocumentKind,
    /// The file name stem (unique within one rendering).
    pub name: String,
    /// The account that must hold it.
    pub account: String,
    /// What it is attached to: the bucket, the key reference or the role ARN.
    pub attached_to: String,
    /// One line: what to do with it.
    pub summary: String,
    /// The policy document.
    pub document: Value,
    /// Every statement, explained.
    pub statements: Vec<StatementNote>,
}

impl RenderedDocument {
    /// The statement with `sid`, if any.
    #[must_use]
    pub fn statement(&self, sid: &str) -> Option<&Value> {
        self.document["Statement"]
            .as_array()?
            .iter()
            .find(|s| s["Sid"] == sid)
    }
}

/// Everything the documents depend on.
#[derive(Debug, Clone)]
pub struct ChainInputs {
    /// The hosting environment.
    pub environment: Environment,
    /// The sources its teams may import from (deduplicated, sorted).
    pub sources: Vec<AllowedSource>,
    /// The principal Ferry runs as, trusted by the control role.
    pub ferry_principal: String,
}

impl ChainInputs {
    /// The inputs for `environment`: the sources of every team it admits; Ferry's principal
    /// defaults to the hosting account's root (any principal there that IAM allows).
    #[must_use]
    pub fn for_environment(
        catalog: &Catalog,
        environment: &Environment,
        ferry_principal: Option<String>,
    ) -> Self {
        let mut sources: Vec<AllowedSource> = catalog
            .teams()
            .filter(|t| environment.admits(&t.name))
            .flat_map(|t| t.sources.iter().cloned())
            .collect();
        sources.sort_by(|a, b| {
            (
                &a.bucket,
                &a.prefix,
                a.kms_key.as_ref().map(KmsKeyRef::as_str),
            )
                .cmp(&(
                    &b.bucket,
                    &b.prefix,
                    b.kms_key.as_ref().map(KmsKeyRef::as_str),
                ))
        });
        sources.dedup();
        let ferry_principal = ferry_principal.unwrap_or_else(|| {
            format!(
                "arn:{}:iam::{}:root",
                partition(environment),
                environment.account
            )
        });
        Self {
            environment: environment.clone(),
            sources,
            ferry_principal,
        }
    }

    pub(crate) fn partition(&self) -> &str {
        partition(&self.environment)
    }

    /// The ARN pattern of this environment's import jobs (`aws:SourceArn`).
    #[must_use]
    pub fn import_job_arn_pattern(&self) -> String {
        format!(
            "arn:{}:bedrock:{}:{}:model-import-job/*",
            self.partition(),
            self.environment.region,
            self.environment.account
        )
    }

    /// The research key as an identity policy and a request see it.
    pub(crate) fn source_key(&self, source: &AllowedSource) -> Option<KeyTarget> {
        source.kms_key.as_ref().map(|k| {
            KeyTarget::new(
                k,
                self.partition(),
                self.environment.region.as_str(),
                source.account.as_str(),
            )
        })
    }

    /// The hosting key as an identity policy and a request see it.
    pub(crate) fn hosting_key(&self) -> Option<KeyTarget> {
        self.environment.imported_model_kms_key.as_ref().map(|k| {
            KeyTarget::new(
                k,
                self.partition(),
                self.environment.region.as_str(),
                self.environment.account.as_str(),
            )
        })
    }

    /// The distinct research keys with the account owning each.
    pub(crate) fn source_keys(&self) -> Vec<(KmsKeyRef, KeyTarget)> {
        let mut keys: Vec<(KmsKeyRef, KeyTarget)> = Vec::new();
        for s in &self.sources {
            if let (Some(k), Some(t)) = (&s.kms_key, self.source_key(s))
                && !keys.iter().any(|(have, _)| have == k)
            {
                keys.push((k.clone(), t));
            }
        }
        keys
    }

    /// The distinct buckets with their owning account.
    pub(crate) fn buckets(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for s in &self.sources {
            if !out.iter().any(|(b, _)| b == &s.bucket) {
                out.push((s.bucket.clone(), s.account.to_string()));
            }
        }
        out
    }

    /// A suffix that keeps `Sid`s unique when there is more than one source.
    fn source_suffix(&self, index: usize) -> String {
        if self.sources.len() > 1 {
            (index + 1).to_string()
        } else {
            String::new()
        }
    }
}
