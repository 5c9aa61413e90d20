//! Scenario seeding: accounts, users and their keys, roles, KMS keys, buckets with policies and
//! a generated sample model. The built-in default is the cross-account walkthrough.

use std::collections::BTreeMap;

use ferry_policy::{INVOCATIONS_SID, INVOKE_SID, PASS_ROLE_SID, QUOTAS_SID, TAGS_SID};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::state::{Bucket, Credential, Key, Object, Role, State, StoredPolicy, User};
use crate::wire::{UPPER_ALNUM, random_id};

/// Research (model development) account of the walkthrough.
pub const RESEARCH_ACCOUNT: &str = "111122223333";
/// Hosting account of the walkthrough.
pub const HOSTING_ACCOUNT: &str = "777788889999";
/// The artifact bucket, owned by the research account.
pub const ARTIFACT_BUCKET: &str = "model-artifacts-111122223333";
/// The execution role's name, in the hosting account.
pub const EXECUTION_ROLE_NAME: &str = "BedrockCMIExecutionRole-777788889999";
/// Ferry's own role in the hosting account: it calls Bedrock and assumes the execution role
/// for preflight.
pub(crate) const CONTROL_ROLE_NAME: &str = "FerryControlRole-777788889999";
/// The control role's inline policy name.
pub(crate) const CONTROL_POLICY_NAME: &str = "FerryControlPolicy";
/// The execution role's identity policy name.
pub const EXECUTION_POLICY_NAME: &str = "BedrockCMIExecutionPolicy-777788889999";
/// Id of the research account's key `kms-cmk-111122223333`.
pub const RESEARCH_KEY_ID: &str = "0f1e2d3c-1111-4222-8333-111122223333";
/// Id of the hosting account's key `kms-cmk-777788889999`.
pub const HOSTING_KEY_ID: &str = "0f1e2d3c-7777-4888-8999-777788889999";
/// Where the default scenario uploads the sample model.
pub const SAMPLE_MODEL_PREFIX: &str = "models/sample-llama/";

/// A user and its long-term access key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// Owning account id.
    pub account: String,
    /// User name.
    pub name: String,
    /// Access key id (20 characters, `AKIA...`).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Inline identity policies by name.
    #[serde(default)]
    pub policies: BTreeMap<String, Value>,
}

/// A role with its trust policy and inline identity policies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// Owning account id.
    pub account: String,
    /// Role name.
    pub name: String,
    /// Trust (assume-role) policy.
    pub trust_policy: Value,
    /// Inline identity policies by name.
    #[serde(default)]
    pub policies: BTreeMap<String, Value>,
    /// Longest session, seconds (default 3600).
    #[serde(default)]
    pub max_session_duration: Option<i64>,
}

/// A symmetric KMS key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    /// Owning account id.
    pub account: String,
    /// Key id (a UUID).
    pub key_id: String,
    /// Optional alias, `alias/...`.
    #[serde(default)]
    pub alias: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Key policy (default: the account root may use IAM policies).
    #[serde(default)]
    pub policy: Option<Value>,
}

/// A bucket and its policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    /// Owning account id.
    pub account: String,
    /// Bucket name.
    pub name: String,
    /// Bucket policy.
    #[serde(default)]
    pub policy: Option<Value>,
}

/// A generated model uploaded at start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Target bucket.
    pub bucket: String,
    /// Key prefix ending in `/`.
    pub prefix: String,
    /// SSE-KMS key (id, alias or ARN in the bucket's account); none for unencrypted.
    #[serde(default)]
    pub kms_key: Option<String>,
}

/// A whole scenario, loadable from a JSON file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Region used in ARNs.
    pub region: String,
    /// Users.
    #[serde(default)]
    pub users: Vec<UserSpec>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<RoleSpec>,
    /// KMS keys.
    #[serde(default)]
    pub keys: Vec<KeySpec>,
    /// Buckets.
    #[serde(default)]
    pub buckets: Vec<BucketSpec>,
    /// Generated models to upload.
    #[serde(default)]
    pub models: Vec<ModelSpec>,
    /// Extra `KEY=value` lines for the env file (e.g. `EXECUTION_ROLE_ARN`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// A principal of the scenario with its credentials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PrincipalInfo {
    /// User name.
    pub name: String,
    /// Account id.
    pub account: String,
    /// User ARN.
    pub arn: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

/// What a client needs to know about a running scenario.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScenarioInfo {
    /// Region.
    pub region: String,
    /// Users and their keys.
    pub principals: Vec<PrincipalInfo>,
    /// Env file entries beyond credentials and the endpoint.
    pub env: BTreeMap<String, String>,
}

impl ScenarioInfo {
    /// The principal named `name`.
    #[must_use]
    pub fn principal(&self, name: &str) -> Option<&PrincipalInfo> {
        self.principals.iter().find(|p| p.name == name)
    }

    /// An env value such as `EXECUTION_ROLE_ARN`.
    #[must_use]
    pub fn env(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }

    /// The env file body: `KEY=value` lines for the endpoint, every user's keys
    /// (`RESEARCH_ADMIN_ACCESS_KEY_ID`, ...) and the scenario's extras.
    #[must_use]
    pub fn env_lines(&self, endpoint: &str) -> String {
        let mut out = format!("SIM_ENDPOINT={endpoint}\nREGION={}\n", self.region);
        for p in &self.principals {
            let var = p
                .name
                .to_ascii_uppercase()
                .replace(['-', '.', '@', '+', '='], "_");
            out.push_str(&format!(
                "{var}_ACCESS_KEY_ID={}\n{var}_SECRET_ACCESS_KEY={}\n",
                p.access_key_id, p.secret_access_key
            ));
        }
        for (k, v) in &self.env {
            out.push_str(&format!("{k}={v}\n"));
        }
        out
    }
}

fn key_arn(region: &str, account: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{id}")
}

fn admin_policy() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Sid": "Admin", "Effect": "Allow", "Action": "*", "Resource": "*"}]})
}

impl Scenario {
    /// The walkthrough: research account 111122223333 with bucket, key and a sample model
    /// encrypted under that key; hosting account 777788889999 with the execution role, its
    /// key, an admin and a least-privilege importer. Every policy is the walkthrough's.
    #[must_use]
    pub fn walkthrough() -> Self {
        let region = "us-east-1";
        let role_arn = format!("arn:aws:iam::{HOSTING_ACCOUNT}:role/{EXECUTION_ROLE_NAME}");
        let research_key = key_arn(region, RESEARCH_ACCOUNT, RESEARCH_KEY_ID);
        let hosting_key = key_arn(region, HOSTING_ACCOUNT, HOSTING_KEY_ID);
        let bucket_arn = format!("arn:aws:s3:::{ARTIFACT_BUCKET}");
        let root = |acct: &str| json!({"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{acct}:root")}, "Action": "kms:*", "Resource": "*"});
        let control_role_arn = format!("arn:aws:iam::{HOSTING_ACCOUNT}:role/{CONTROL_ROLE_NAME}");
        let ferry_user_arn = format!("arn:aws:iam::{HOSTING_ACCOUNT}:user/ferry-service");
        let env = BTreeMap::from([
            ("EXECUTION_ROLE_ARN".to_owned(), role_arn.clone()),
            ("CONTROL_ROLE_ARN".to_owned(), control_role_arn.clone()),
            (
                "SAMPLE_MODEL_URI".to_owned(),
                format!("s3://{ARTIFACT_BUCKET}/{SAMPLE_MODEL_PREFIX}"),
            ),
            ("ARTIFACT_BUCKET".to_owned(), ARTIFACT_BUCKET.to_owned()),
            (
                "RESEARCH_ACCOUNT_ID".to_owned(),
                RESEARCH_ACCOUNT.to_owned(),
            ),
            ("HOSTING_ACCOUNT_ID".to_owned(), HOSTING_ACCOUNT.to_owned()),
            ("RESEARCH_KMS_KEY_ARN".to_owned(), research_key.clone()),
            ("HOSTING_KMS_KEY_ARN".to_owned(), hosting_key.clone()),
        ]);
        Self {
            region: region.to_owned(),
            users: vec![
                UserSpec {
                    account: RESEARCH_ACCOUNT.into(),
                    name: "research-admin".into(),
                    access_key_id: "AKIASIMRESEARCHADMIN".into(),
                    secret_access_key: "ferrySimResearchAdminSecretNotAReal0000".into(),
                    policies: BTreeMap::from([("AdministratorAccess".to_owned(), admin_policy())]),
                },
                UserSpec {
                    account: HOSTING_ACCOUNT.into(),
                    name: "hosting-admin".into(),
                    access_key_id: "AKIASIMHOSTINGADMIN0".into(),
                    secret_access_key: "ferrySimHostingAdminSecretNotAReal00000".into(),
                    policies: BTreeMap::from([("AdministratorAccess".to_owned(), admin_policy())]),
                },
                UserSpec {
                    account: HOSTING_ACCOUNT.into(),
                    name: "hosting-importer".into(),
                    access_key_id: "AKIASIMHOSTINGIMPORT".into(),
                    secret_access_key: "ferrySimHostingImporterSecretNotAReal00".into(),
                    policies: BTreeMap::from([
                        (
                            "BedrockModelImport".to_owned(),
                            json!({"Version": "2012-10-17", "Statement": [{"Sid": "ModelImport", "Effect": "Allow", "Action": [
                                "bedrock:CreateModelImportJob", "bedrock:GetModelImportJob", "bedrock:ListModelImportJobs",
                                "bedrock:GetImportedModel", "bedrock:ListImportedModels", "bedrock:DeleteImportedModel"], "Resource": "*"}]}),
                        ),
                        (
                            "PassExecutionRole".to_owned(),
                            json!({"Version": "2012-10-17", "Statement": [{"Sid": "PassRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": role_arn,
                                "Condition": {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}}]}),
                        ),
                    ]),
                },
                // Ferry's service identity: it may only assume the control role.
                UserSpec {
                    account: HOSTING_ACCOUNT.into(),
                    name: "ferry-service".into(),
                    access_key_id: "AKIASIMFERRYSERVICE0".into(),
                    secret_access_key: "ferrySimFerryServiceSecretNotAReal00000".into(),
                    policies: BTreeMap::from([(
                        "AssumeFerryControlRole".to_owned(),
                        json!({"Version": "2012-10-17", "Statement": [{"Sid": "AssumeControlRole", "Effect": "Allow",
                            "Action": "sts:AssumeRole", "Resource": control_role_arn}]}),
                    )]),
                },
            ],
            roles: vec![
                RoleSpec {
                    account: HOSTING_ACCOUNT.into(),
                    name: CONTROL_ROLE_NAME.into(),
                    trust_policy: json!({"Version": "2012-10-17", "Statement": [{"Sid": "FerryService", "Effect": "Allow",
                    "Principal": {"AWS": ferry_user_arn}, "Action": "sts:AssumeRole"}]}),
                    // Step 6's caller rights, plus assuming the execution role for preflight.
                    policies: BTreeMap::from([(
                        CONTROL_POLICY_NAME.to_owned(),
                        json!({"Version": "2012-10-17", "Statement": [
                            {"Sid": "ModelImport", "Effect": "Allow", "Action": [
                                "bedrock:CreateModelImportJob", "bedrock:GetModelImportJob", "bedrock:ListModelImportJobs",
                                "bedrock:GetImportedModel", "bedrock:ListImportedModels", "bedrock:DeleteImportedModel"], "Resource": "*"},
                            // The account's inventory tells Ferry's models from others by their tags.
                            {"Sid": TAGS_SID, "Effect": "Allow", "Action": "bedrock:ListTagsForResource",
                             "Resource": format!("arn:aws:bedrock:{region}:{HOSTING_ACCOUNT}:imported-model/*")},
                            // The account's inventory: when each model was last invoked.
                            {"Sid": INVOCATIONS_SID, "Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "*"},
                            // The account's inventory: the Bedrock quotas it is held against.
                            {"Sid": QUOTAS_SID, "Effect": "Allow", "Action": "servicequotas:GetServiceQuota",
                             "Resource": format!("arn:aws:servicequotas:{region}:{HOSTING_ACCOUNT}:bedrock/*")},
                            // The readiness check after an import invokes the model.
                            {"Sid": INVOKE_SID, "Effect": "Allow", "Action": "bedrock:InvokeModel",
                             "Resource": format!("arn:aws:bedrock:{region}:{HOSTING_ACCOUNT}:imported-model/*")},
                            {"Sid": PASS_ROLE_SID, "Effect": "Allow", "Action": "iam:PassRole", "Resource": role_arn,
                             "Condition": {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}},
                            {"Sid": "AssumeExecutionRoleForPreflight", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn},
                            // A SageMaker model package as the source: Ferry reads the research
                            // account's packages (the group's policy must allow it too).
                            {"Sid": "ReadModelRegistry", "Effect": "Allow", "Action": "sagemaker:DescribeModelPackage",
                             "Resource": format!("arn:aws:sagemaker:{region}:{RESEARCH_ACCOUNT}:model-package/*")},
                        {"Sid": "ReadExecutionRoleTrust", "Effect": "Allow", "Action": "iam:GetRole", "Resource": role_arn},
                        {"Sid": "SimulateOwnPermissions", "Effect": "Allow", "Action": "iam:SimulatePrincipalPolicy", "Resource": control_role_arn}
                        ]}),
                    )]),
                    max_session_duration: Some(3600),
                },
                RoleSpec {
                    account: HOSTING_ACCOUNT.into(),
                    name: EXECUTION_ROLE_NAME.into(),
                    // Step 2: only Bedrock, only for this account's import jobs in us-east-1; plus
                    // the walkthrough's troubleshooting step ("append the trust policy ... to allow
                    // the current user or IAM role to assume this role") for Ferry's control role,
                    // so Ferry's preflight reads the artifacts with exactly the rights Bedrock gets.
                    trust_policy: json!({"Version": "2012-10-17", "Statement": [{"Sid": "BedrockCMITrust", "Effect": "Allow",
                    "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": HOSTING_ACCOUNT},
                                  "ArnEquals": {"aws:SourceArn": format!("arn:aws:bedrock:{region}:{HOSTING_ACCOUNT}:model-import-job/*")}}},
                    {"Sid": "AllowFerryPreflight", "Effect": "Allow", "Principal": {"AWS": control_role_arn}, "Action": "sts:AssumeRole"}]}),
                    // Steps 2 and 5.
                    policies: BTreeMap::from([(
                        EXECUTION_POLICY_NAME.to_owned(),
                        json!({"Version": "2012-10-17", "Statement": [
                            {"Sid": "ReadModelArtifacts", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                             "Resource": [bucket_arn, format!("{bucket_arn}/*")],
                             "Condition": {"StringEquals": {"aws:ResourceAccount": RESEARCH_ACCOUNT}}},
                            {"Sid": "DecryptModelArtifacts", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": research_key},
                            {"Sid": "EncryptImportedModel", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"], "Resource": hosting_key}
                        ]}),
                    )]),
                    max_session_duration: Some(3600),
                },
            ],
            keys: vec![
                KeySpec {
                    account: RESEARCH_ACCOUNT.into(),
                    key_id: RESEARCH_KEY_ID.into(),
                    alias: Some("alias/kms-cmk-111122223333".into()),
                    description: "kms-cmk-111122223333: encrypts model artifacts".into(),
                    // Step 3.
                    policy: Some(
                        json!({"Version": "2012-10-17", "Statement": [root(RESEARCH_ACCOUNT),
                        {"Sid": "AllowHostingExecutionRoleDecrypt", "Effect": "Allow", "Principal": {"AWS": role_arn},
                         "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*"}]}),
                    ),
                },
                KeySpec {
                    account: HOSTING_ACCOUNT.into(),
                    key_id: HOSTING_KEY_ID.into(),
                    alias: Some("alias/kms-cmk-777788889999".into()),
                    description: "kms-cmk-777788889999: encrypts imported models".into(),
                    // Step 4. The key names its administrator instead of delegating to the
                    // account's IAM policies (no root statement): within one account a key
                    // policy that delegates to IAM would make step 4 redundant with step 5, and
                    // this way removing step 4 breaks the chain as the walkthrough intends.
                    policy: Some(json!({"Version": "2012-10-17", "Statement": [
                        {"Sid": "KeyAdministration", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{HOSTING_ACCOUNT}:user/hosting-admin")}, "Action": "kms:*", "Resource": "*"},
                        {"Sid": "AllowExecutionRoleUseOfKey", "Effect": "Allow", "Principal": {"AWS": role_arn},
                         "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"], "Resource": "*"}]})),
                },
            ],
            buckets: vec![BucketSpec {
                account: RESEARCH_ACCOUNT.into(),
                name: ARTIFACT_BUCKET.into(),
                // Step 1.
                policy: Some(
                    json!({"Version": "2012-10-17", "Statement": [{"Sid": "CrossAccountAccess", "Effect": "Allow",
                    "Principal": {"AWS": role_arn}, "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": [bucket_arn, format!("{bucket_arn}/*")]}]}),
                ),
            }],
            models: vec![ModelSpec {
                bucket: ARTIFACT_BUCKET.into(),
                prefix: SAMPLE_MODEL_PREFIX.into(),
                kms_key: Some("alias/kms-cmk-111122223333".into()),
            }],
            env,
        }
    }

    /// Reads a scenario from a JSON file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError(format!("reading {}: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| ScenarioError(format!("parsing {}: {e}", path.display())))
    }

    /// Seeds `state` and returns what clients need to know.
    pub(crate) fn apply(
        &self,
        state: &mut State,
        now: OffsetDateTime,
    ) -> Result<ScenarioInfo, ScenarioError> {
        let policy = |what: &str, v: &Value| {
            StoredPolicy::parse(&v.to_string()).map_err(|e| ScenarioError(format!("{what}: {e}")))
        };
        state.region.clone_from(&self.region);
        let mut principals = Vec::new();
        for u in &self.users {
            let mut policies = BTreeMap::new();
            for (n, p) in &u.policies {
                policies.insert(
                    n.clone(),
                    policy(&format!("user {} policy {n}", u.name), p)?,
                );
            }
            let user_id = format!("AIDA{}", random_id(UPPER_ALNUM, 17));
            state
                .users
                .insert((u.account.clone(), u.name.clone()), User { policies });
            let principal = ferry_policy::iam::Principal::User {
                account: u.account.clone(),
                name: u.name.clone(),
            };
            principals.push(PrincipalInfo {
                name: u.name.clone(),
                account: u.account.clone(),
                arn: principal.arn(),
                access_key_id: u.access_key_id.clone(),
                secret_access_key: u.secret_access_key.clone(),
            });
            state.credentials.insert(
                u.access_key_id.clone(),
                Credential {
                    secret: u.secret_access_key.clone(),
                    session_token: None,
                    principal,
                    expires: None,
                    user_id,
                },
            );
        }
        for r in &self.roles {
            let mut policies = BTreeMap::new();
            for (n, p) in &r.policies {
                policies.insert(
                    n.clone(),
                    policy(&format!("role {} policy {n}", r.name), p)?,
                );
            }
            state.roles.insert(
                (r.account.clone(), r.name.clone()),
                Role {
                    account: r.account.clone(),
                    name: r.name.clone(),
                    path: "/".into(),
                    role_id: format!("AROA{}", random_id(UPPER_ALNUM, 17)),
                    description: None,
                    trust: policy(&format!("role {} trust policy", r.name), &r.trust_policy)?,
                    policies,
                    max_session_secs: r.max_session_duration.unwrap_or(3600),
                    created: now,
                },
            );
        }
        for k in &self.keys {
            let text = k.policy.as_ref().map_or_else(
                || crate::kms::default_key_policy(&k.account),
                Value::to_string,
            );
            let policy = StoredPolicy::parse(&text)
                .map_err(|e| ScenarioError(format!("key {} policy: {e}", k.key_id)))?;
            state.keys.insert(
                k.key_id.clone(),
                Key {
                    account: k.account.clone(),
                    id: k.key_id.clone(),
                    arn: key_arn(&self.region, &k.account, &k.key_id),
                    description: k.description.clone(),
                    policy,
                    created: now,
                    enabled: true,
                },
            );
            if let Some(a) = &k.alias {
                state
                    .aliases
                    .insert((k.account.clone(), a.clone()), k.key_id.clone());
            }
        }
        for b in &self.buckets {
            let p = b
                .policy
                .as_ref()
                .map(|p| policy(&format!("bucket {} policy", b.name), p))
                .transpose()?;
            state.buckets.insert(
                b.name.clone(),
                Bucket {
                    account: b.account.clone(),
                    policy: p,
                    objects: BTreeMap::new(),
                },
            );
        }
        for m in &self.models {
            let account = state
                .buckets
                .get(&m.bucket)
                .map(|b| b.account.clone())
                .ok_or_else(|| {
                    ScenarioError(format!("model bucket {} is not declared", m.bucket))
                })?;
            let kms_key_arn = match &m.kms_key {
                Some(r) => Some(
                    state
                        .resolve_key(&account, r)
                        .map(|k| k.arn.clone())
                        .ok_or_else(|| {
                            ScenarioError(format!(
                                "model key {r} is not declared in account {account}"
                            ))
                        })?,
                ),
                None => None,
            };
            let prefix = if m.prefix.ends_with('/') {
                m.prefix.clone()
            } else {
                format!("{}/", m.prefix)
            };
            let files = crate::model::sample_llama();
            if let Some(bucket) = state.buckets.get_mut(&m.bucket) {
                for (name, data) in files {
                    let etag = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(&data)[..16]);
                    let content_type = if name.ends_with(".json") {
                        "application/json"
                    } else {
                        "application/octet-stream"
                    };
                    bucket.objects.insert(
                        format!("{prefix}{name}"),
                        Object {
                            data,
                            etag,
                            last_modified: now,
                            content_type: content_type.into(),
                            kms_key_arn: kms_key_arn.clone(),
                        },
                    );
                }
            }
        }
        Ok(ScenarioInfo {
            region: self.region.clone(),
            principals,
            env: self.env.clone(),
        })
    }
}

/// A scenario could not be read or applied.
#[derive(Debug, Clone, thiserror::Error)]
#[error("scenario: {0}")]
pub struct ScenarioError(pub String);
