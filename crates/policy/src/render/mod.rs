//! Rendering: the least-privilege documents for one environment.

mod documents;

pub use documents::render;

use serde::Serialize;
use serde_json::Value;

use ferry_domain::aws::{AccountId, KmsKeyRef, RoleArn};
use ferry_domain::catalog::{AllowedSource, Catalog, Environment, ModelRegistry};
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
    /// A research account's model package group policy (`PutModelPackageGroupPolicy`) sharing
    /// its packages with the control role, for teams without a reader role.
    ModelPackageGroupPolicy,
    /// A team's model registry reader role's identity policy (in the research account).
    RegistryReaderPolicy,
    /// A team's model registry reader role's trust policy: the control role may assume it.
    RegistryReaderTrustPolicy,
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
            Self::ModelPackageGroupPolicy => "model-package-group-policy",
            Self::RegistryReaderPolicy => "registry-reader-policy",
            Self::RegistryReaderTrustPolicy => "registry-reader-trust-policy",
        }
    }

    /// The account that owns the document.
    #[must_use]
    pub fn side(self) -> AccountSide {
        match self {
            Self::BucketPolicy
            | Self::SourceKeyPolicy
            | Self::ModelPackageGroupPolicy
            | Self::RegistryReaderPolicy
            | Self::RegistryReaderTrustPolicy => AccountSide::Research,
            _ => AccountSide::Hosting,
        }
    }

    /// Whether `ferry policy check` takes this document (a flag named by [`Self::slug`]); the
    /// others are rendered only, and a check does not report them as not given.
    #[must_use]
    pub fn checkable(self) -> bool {
        !matches!(
            self,
            Self::ControlRoleTrustPolicy
                | Self::ModelPackageGroupPolicy
                | Self::RegistryReaderPolicy
                | Self::RegistryReaderTrustPolicy
        )
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
    /// The EKS service account whose pods assume the control role with their web identity
    /// token (IAM roles for service accounts), when Ferry runs on EKS.
    pub service_account: Option<ServiceAccountTrust>,
    /// How Ferry reads the SageMaker model packages of the teams that configure
    /// `[teams.<name>.model_registry]` (deduplicated, sorted); empty: no grants rendered.
    pub registries: Vec<RegistryAccess>,
}

/// One research account whose model packages Ferry reads, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryAccess {
    /// The research account that owns the packages.
    pub account: AccountId,
    /// The reader role assumed from the control role; `None`: the control role reads, shared
    /// with through the package group's policy.
    pub reader_role: Option<RoleArn>,
}

/// An EKS service account trusted by the control role through the cluster's IAM OIDC
/// provider: "IAM roles for service accounts" in the Amazon EKS User Guide
/// (<https://docs.aws.amazon.com/eks/latest/userguide/iam-roles-for-service-accounts.html>,
/// and its page "Assign IAM roles to Kubernetes service accounts", whose trust policy this
/// follows: `Federated` = the provider's ARN, `sts:AssumeRoleWithWebIdentity`, and
/// `StringEquals` on `<issuer>:sub` = `system:serviceaccount:<namespace>:<name>` and
/// `<issuer>:aud` = `sts.amazonaws.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountTrust {
    oidc_provider_arn: String,
    issuer: String,
    namespace: String,
    name: String,
}

/// The audience EKS's pod identity webhook puts in the projected token.
pub const WEB_IDENTITY_AUDIENCE: &str = "sts.amazonaws.com";

fn dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !s.starts_with(['-', '.'])
        && !s.ends_with(['-', '.'])
}

impl ServiceAccountTrust {
    /// From the provider's ARN (`arn:aws:iam::<account>:oidc-provider/<issuer host/path>`) and
    /// the service account `namespace`/`name`. `Err` names the value and the rule.
    pub fn new(oidc_provider_arn: &str, namespace: &str, name: &str) -> Result<Self, String> {
        let bad_arn = || {
            format!(
                "OIDC provider ARN {oidc_provider_arn:?} must be arn:<partition>:iam::<12-digit account>:oidc-provider/<issuer without https://>"
            )
        };
        let parts: Vec<&str> = oidc_provider_arn.splitn(6, ':').collect();
        let [arn, partition, iam, region, account, resource] = parts.as_slice() else {
            return Err(bad_arn());
        };
        let issuer = resource
            .strip_prefix("oidc-provider/")
            .ok_or_else(bad_arn)?;
        if *arn != "arn"
            || partition.is_empty()
            || *iam != "iam"
            || !region.is_empty()
            || account.len() != 12
            || !account.bytes().all(|b| b.is_ascii_digit())
            || issuer.is_empty()
            || issuer.contains("://")
        {
            return Err(bad_arn());
        }
        // Namespaces are DNS labels (63), service account names DNS subdomains (253).
        if !dns_label(namespace, 63) || namespace.contains('.') {
            return Err(format!(
                "namespace {namespace:?} must be a DNS label (lowercase letters, digits and '-', at most 63)"
            ));
        }
        if !dns_label(name, 253) {
            return Err(format!(
                "service account name {name:?} must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most 253)"
            ));
        }
        Ok(Self {
            oidc_provider_arn: oidc_provider_arn.to_owned(),
            issuer: issuer.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    /// From the cluster's issuer URL (`aws eks describe-cluster --query
    /// cluster.identity.oidc.issuer`): the provider registered for it in `account`.
    pub fn from_issuer(
        issuer_url: &str,
        partition: &str,
        account: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Self, String> {
        let issuer = issuer_url
            .strip_prefix("https://")
            .ok_or_else(|| format!("OIDC issuer {issuer_url:?} must be an https:// URL"))?
            .trim_end_matches('/');
        Self::new(
            &format!("arn:{partition}:iam::{account}:oidc-provider/{issuer}"),
            namespace,
            name,
        )
    }

    /// The provider's ARN, the trust policy's `Federated` principal.
    #[must_use]
    pub fn oidc_provider_arn(&self) -> &str {
        &self.oidc_provider_arn
    }

    /// The issuer (host and path), the prefix of the condition keys.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The token's `sub`: `system:serviceaccount:<namespace>:<name>`.
    #[must_use]
    pub fn subject(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }
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
        // The teams that configure `[teams.<name>.model_registry]` (accounts or a reader role):
        // the others import from S3 only, and their documents stay as they were.
        let mut registries: Vec<RegistryAccess> = catalog
            .teams()
            .filter(|t| environment.admits(&t.name))
            .filter(|t| t.model_registry != ModelRegistry::default())
            .flat_map(|t| {
                t.registry_accounts()
                    .into_iter()
                    .map(|a| RegistryAccess {
                        account: a.clone(),
                        reader_role: t.model_registry.reader_role.clone(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        registries.sort_by(|a, b| {
            (
                a.account.as_str(),
                a.reader_role.as_ref().map(RoleArn::as_str),
            )
                .cmp(&(
                    b.account.as_str(),
                    b.reader_role.as_ref().map(RoleArn::as_str),
                ))
        });
        registries.dedup();
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
            service_account: None,
            registries,
        }
    }

    /// Lets the EKS service account `sa` assume the control role with its web identity token.
    /// Without an explicit `ferry_principal`, the control role then also trusts itself:
    /// Ferry assumes the control role from its base identity, which is the control role's
    /// own session when the service account is annotated with it, and IAM lets a role
    /// assume itself only when its trust policy names it.
    #[must_use]
    pub fn with_service_account(
        mut self,
        sa: ServiceAccountTrust,
        explicit_principal: bool,
    ) -> Self {
        if !explicit_principal {
            self.ferry_principal = self.environment.control_role.to_string();
        }
        self.service_account = Some(sa);
        self
    }

    /// The AWS partition of the environment's roles (`aws`, `aws-cn`, `aws-us-gov`).
    #[must_use]
    pub fn partition(&self) -> &str {
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

    /// The reader roles, each with the research accounts it reads (its own account's packages).
    pub(crate) fn reader_roles(&self) -> Vec<(RoleArn, Vec<String>)> {
        let mut out: Vec<(RoleArn, Vec<String>)> = Vec::new();
        for r in &self.registries {
            let Some(role) = &r.reader_role else { continue };
            match out.iter_mut().find(|(have, _)| have == role) {
                Some((_, accounts)) => accounts.push(r.account.to_string()),
                None => out.push((role.clone(), vec![r.account.to_string()])),
            }
        }
        out
    }

    /// The research accounts the control role reads packages of itself (no reader role).
    pub(crate) fn direct_registry_accounts(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.registries {
            if r.reader_role.is_none() && !out.contains(&r.account.to_string()) {
                out.push(r.account.to_string());
            }
        }
        out
    }

    /// The ARN pattern of `account`'s model packages in the environment's Region; `group`
    /// `None`: every package (versioned or not), for identity policies.
    pub(crate) fn model_packages(&self, account: &str, group: Option<&str>) -> String {
        format!(
            "arn:{}:sagemaker:{}:{account}:model-package/{}*",
            self.partition(),
            self.environment.region,
            group.map(|g| format!("{g}/")).unwrap_or_default()
        )
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
