//! Everything the sim knows: accounts, principals, credentials, buckets, keys, jobs.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};

use ferry_policy::iam::{PolicyDocument, Principal};
use time::{Duration, OffsetDateTime};

/// A policy as the user wrote it (returned verbatim by Get*Policy) and as parsed.
#[derive(Debug, Clone)]
pub(crate) struct StoredPolicy {
    pub(crate) text: String,
    pub(crate) doc: PolicyDocument,
}

impl StoredPolicy {
    pub(crate) fn parse(text: &str) -> Result<Self, ferry_policy::iam::PolicyError> {
        Ok(Self {
            text: text.to_owned(),
            doc: PolicyDocument::parse(text)?,
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) policies: BTreeMap<String, StoredPolicy>,
}

#[derive(Debug, Clone)]
pub(crate) struct Role {
    pub(crate) account: String,
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) role_id: String,
    pub(crate) description: Option<String>,
    pub(crate) trust: StoredPolicy,
    pub(crate) policies: BTreeMap<String, StoredPolicy>,
    pub(crate) max_session_secs: i64,
    pub(crate) created: OffsetDateTime,
}

impl Role {
    pub(crate) fn arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:role{}{}",
            self.account, self.path, self.name
        )
    }
}

/// A credential the sim accepts: a user's long-term key or a role session's temporary key.
#[derive(Debug, Clone)]
pub(crate) struct Credential {
    pub(crate) secret: String,
    pub(crate) session_token: Option<String>,
    pub(crate) principal: Principal,
    pub(crate) expires: Option<OffsetDateTime>,
    /// `UserId` as GetCallerIdentity reports it.
    pub(crate) user_id: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Object {
    pub(crate) data: Vec<u8>,
    pub(crate) etag: String,
    pub(crate) last_modified: OffsetDateTime,
    pub(crate) content_type: String,
    /// Key ARN for SSE-KMS objects.
    pub(crate) kms_key_arn: Option<String>,
}

/// An S3 multipart upload in progress.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) content_type: String,
    pub(crate) kms_key_arn: Option<String>,
    /// Part number → (etag, bytes).
    pub(crate) parts: BTreeMap<u32, (String, Vec<u8>)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    pub(crate) account: String,
    pub(crate) policy: Option<StoredPolicy>,
    pub(crate) objects: BTreeMap<String, Object>,
}

#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub(crate) account: String,
    pub(crate) id: String,
    pub(crate) arn: String,
    pub(crate) description: String,
    pub(crate) policy: StoredPolicy,
    pub(crate) created: OffsetDateTime,
    pub(crate) enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JobStatus {
    InProgress,
    Completed,
    Failed,
}

impl JobStatus {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Self::InProgress => "InProgress",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) arn: String,
    pub(crate) account: String,
    pub(crate) name: String,
    pub(crate) model_name: String,
    pub(crate) model_arn: Option<String>,
    pub(crate) role_arn: String,
    pub(crate) s3_uri: String,
    pub(crate) status: JobStatus,
    pub(crate) failure_message: Option<String>,
    pub(crate) created: OffsetDateTime,
    pub(crate) last_modified: OffsetDateTime,
    pub(crate) end_time: Option<OffsetDateTime>,
    pub(crate) kms_key_arn: Option<String>,
    pub(crate) vpc_config: Option<serde_json::Value>,
    /// Digest of the create request, for `clientRequestToken` replays.
    pub(crate) request_digest: String,
    /// The job's tags (`jobTags`, then TagResource/UntagResource), in order.
    pub(crate) tags: Vec<(String, String)>,
    /// `importedModelTags`, given to the model the job creates.
    pub(crate) model_tags: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct ImportedModel {
    pub(crate) arn: String,
    pub(crate) account: String,
    pub(crate) name: String,
    pub(crate) job_arn: String,
    pub(crate) job_name: String,
    pub(crate) s3_uri: String,
    pub(crate) created: OffsetDateTime,
    pub(crate) architecture: String,
    pub(crate) kms_key_arn: Option<String>,
    pub(crate) instruct_supported: bool,
    pub(crate) custom_model_units: i32,
    /// The model's tags.
    pub(crate) tags: Vec<(String, String)>,
}

/// The whole world of the sim.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) region: String,
    pub(crate) users: BTreeMap<(String, String), User>,
    pub(crate) roles: BTreeMap<(String, String), Role>,
    pub(crate) credentials: HashMap<String, Credential>,
    pub(crate) buckets: BTreeMap<String, Bucket>,
    pub(crate) uploads: HashMap<String, Upload>,
    pub(crate) keys: BTreeMap<String, Key>,
    /// `(account, "alias/name")` → key id.
    pub(crate) aliases: BTreeMap<(String, String), String>,
    pub(crate) jobs: Vec<Job>,
    pub(crate) models: Vec<ImportedModel>,
    /// `(account, clientRequestToken)` → job ARN.
    pub(crate) tokens: HashMap<(String, String), String>,
    /// Role ARN → when it was last created or changed through the IAM API (trust or inline
    /// policies), for the `iam_propagation_ms` fault.
    pub(crate) iam_changed: HashMap<String, OffsetDateTime>,
    /// `(account, service code, quota code)` → the applied value set through `/_sim/quotas`
    /// (else the default of [`crate::quotas::DEFAULTS`]).
    pub(crate) quotas: BTreeMap<(String, String, String), f64>,
    /// SageMaker model package groups by ARN.
    pub(crate) package_groups: BTreeMap<String, PackageGroup>,
    /// SageMaker model packages by ARN.
    pub(crate) packages: BTreeMap<String, ModelPackage>,
}

/// A SageMaker model package group (`CreateModelPackageGroup`).
#[derive(Debug, Clone)]
pub(crate) struct PackageGroup {
    pub(crate) name: String,
    /// `PutModelPackageGroupPolicy`: who else may use the group's packages.
    pub(crate) policy: Option<StoredPolicy>,
}

/// A SageMaker model package (`CreateModelPackage`): a version of a group, or unversioned.
#[derive(Debug, Clone)]
pub(crate) struct ModelPackage {
    pub(crate) arn: String,
    /// `ModelPackageName`: the group's name for a versioned package.
    pub(crate) name: String,
    /// The group's ARN and the version, for a versioned package.
    pub(crate) group: Option<(String, u32)>,
    pub(crate) description: Option<String>,
    pub(crate) inference_specification: Option<serde_json::Value>,
    pub(crate) approval: Option<String>,
    pub(crate) approval_description: Option<String>,
    pub(crate) created: OffsetDateTime,
    pub(crate) modified: OffsetDateTime,
}

impl State {
    /// Whether a change to `role_arn` made through IAM is still propagating, `window` after it.
    pub(crate) fn iam_propagating(
        &self,
        role_arn: &str,
        now: OffsetDateTime,
        window: Duration,
    ) -> bool {
        self.iam_changed
            .get(role_arn)
            .is_some_and(|changed| now < *changed + window)
    }

    /// The identity policies attached to `principal`.
    pub(crate) fn identity_policies(&self, principal: &Principal) -> Vec<PolicyDocument> {
        match principal {
            Principal::User { account, name } => self
                .users
                .get(&(account.clone(), name.clone()))
                .map(|u| u.policies.values().map(|p| p.doc.clone()).collect())
                .unwrap_or_default(),
            Principal::AssumedRole { account, role, .. } => self
                .roles
                .get(&(account.clone(), role.clone()))
                .map(|r| r.policies.values().map(|p| p.doc.clone()).collect())
                .unwrap_or_default(),
            // The root user may do anything in its account (resource policies still apply
            // across accounts).
            Principal::Root { .. } => vec![
                PolicyDocument::parse(
                    r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
                )
                .unwrap_or_else(|_| PolicyDocument::empty()),
            ],
            Principal::Service(_) | Principal::WebIdentity { .. } => Vec::new(),
        }
    }

    /// Finds a role by its ARN (`arn:aws:iam::<acct>:role[/path]/<name>`).
    pub(crate) fn role_by_arn(&self, arn: &str) -> Option<&Role> {
        let rest = arn.strip_prefix("arn:aws:iam::")?;
        let (account, res) = rest.split_once(':')?;
        let name = res.strip_prefix("role/")?.rsplit('/').next()?;
        self.roles
            .get(&(account.to_owned(), name.to_owned()))
            .filter(|r| r.arn() == arn)
    }

    /// Resolves a KMS key reference (key id, key ARN, alias name or alias ARN) as seen from
    /// `caller_account`: ids and alias names only resolve in the caller's own account.
    pub(crate) fn resolve_key(&self, caller_account: &str, reference: &str) -> Option<&Key> {
        let (account, local) = match reference.strip_prefix("arn:aws:kms:") {
            Some(rest) => {
                let mut parts = rest.splitn(3, ':');
                let _region = parts.next()?;
                let account = parts.next()?;
                (account.to_owned(), parts.next()?.to_owned())
            }
            None => (caller_account.to_owned(), reference.to_owned()),
        };
        let id = if let Some(alias) = local.strip_prefix("alias/") {
            self.aliases
                .get(&(account.clone(), format!("alias/{alias}")))?
                .clone()
        } else {
            local.strip_prefix("key/").unwrap_or(&local).to_owned()
        };
        self.keys.get(&id).filter(|k| k.account == account)
    }
}

/// The sim's clock: wall time plus an offset tests can move forward (to expire sessions).
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_secs: AtomicI64,
}

impl Clock {
    /// Now, at millisecond precision (what AWS APIs return), so a timestamp read back from a
    /// response compares equal to the stored one.
    pub(crate) fn now(&self) -> OffsetDateTime {
        let t =
            OffsetDateTime::now_utc() + Duration::seconds(self.offset_secs.load(Ordering::Relaxed));
        t.replace_nanosecond(u32::from(t.millisecond()) * 1_000_000)
            .unwrap_or(t)
    }

    pub(crate) fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::Relaxed);
    }
}
