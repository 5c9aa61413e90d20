//! The documents themselves: one builder per document, statement by statement, each with its
//! explanation.

use serde_json::{Map, Value, json};

use crate::{
    BEDROCK_IMPORT_ACTIONS, BEDROCK_INVOKE_ACTION, BEDROCK_SERVICE, HOSTING_KEY_ACTIONS,
    INVOCATIONS_ACTION, INVOCATIONS_SID, INVOKE_SID, PASS_ROLE_SID, QUOTA_ACTION, QUOTAS_SID,
    REGISTRY_ACTION, REGISTRY_READER_SID, REGISTRY_SID, SOURCE_KEY_ACTIONS, TAGS_ACTION, TAGS_SID,
};

use ferry_domain::aws::{KmsKeyForm, KmsKeyRef};
use ferry_domain::catalog::Environment;

use super::ChainInputs;
use super::DocumentKind;
use super::RenderedDocument;
use super::StatementNote;

pub(super) fn partition(env: &Environment) -> &str {
    env.execution_role
        .as_str()
        .split(':')
        .nth(1)
        .unwrap_or("aws")
}

/// A KMS key as identity policies name it (`resource`, with an alias condition when the
/// configuration names an alias) and as a request presents it (`request_arn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyTarget {
    pub resource: String,
    pub alias: Option<String>,
    pub request_arn: String,
    pub account: String,
}

impl KeyTarget {
    pub(super) fn new(
        key: &KmsKeyRef,
        partition: &str,
        region: &str,
        default_account: &str,
    ) -> Self {
        let s = key.as_str();
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let (region, account) = match parts.as_slice() {
            [_, _, _, r, a, _] => ((*r).to_owned(), (*a).to_owned()),
            _ => (region.to_owned(), default_account.to_owned()),
        };
        let base = format!("arn:{partition}:kms:{region}:{account}");
        match key.form() {
            KmsKeyForm::KeyArn => Self {
                resource: s.to_owned(),
                alias: None,
                request_arn: s.to_owned(),
                account,
            },
            KmsKeyForm::KeyId => Self {
                resource: format!("{base}:key/{s}"),
                alias: None,
                request_arn: format!("{base}:key/{s}"),
                account,
            },
            KmsKeyForm::AliasArn | KmsKeyForm::AliasName => {
                let alias = s
                    .rsplit_once(":alias/")
                    .map_or_else(|| s.to_owned(), |(_, n)| format!("alias/{n}"));
                Self {
                    resource: format!("{base}:key/*"),
                    alias: Some(alias),
                    // Any key id: the alias condition is what selects the key.
                    request_arn: format!("{base}:key/00000000-0000-4000-8000-000000000000"),
                    account,
                }
            }
        }
    }

    fn condition(&self) -> Option<Value> {
        self.alias
            .as_ref()
            .map(|a| json!({"ForAnyValue:StringEquals": {"kms:ResourceAliases": a}}))
    }
}

struct Builder {
    statements: Vec<Value>,
    notes: Vec<StatementNote>,
}

impl Builder {
    fn new() -> Self {
        Self {
            statements: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn push(&mut self, sid: &str, explanation: String, mut body: Map<String, Value>) {
        let mut st = Map::new();
        st.insert("Sid".into(), Value::from(sid));
        st.insert("Effect".into(), Value::from("Allow"));
        st.append(&mut body);
        self.statements.push(Value::Object(st));
        self.notes.push(StatementNote {
            sid: sid.to_owned(),
            explanation,
        });
    }

    fn finish(
        self,
        kind: DocumentKind,
        name: String,
        account: &str,
        attached_to: String,
        summary: String,
    ) -> RenderedDocument {
        RenderedDocument {
            kind,
            name,
            account: account.to_owned(),
            attached_to,
            summary,
            document: json!({"Version": "2012-10-17", "Statement": self.statements}),
            statements: self.notes,
        }
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// One value as a string, several as a list (the documents' usual form).
fn one_or_many(values: Vec<String>) -> Value {
    if values.len() == 1 {
        Value::from(values[0].clone())
    } else {
        Value::from(values)
    }
}

fn object_pattern(bucket: &str, prefix: Option<&str>) -> String {
    format!("arn:aws:s3:::{bucket}/{}*", prefix.unwrap_or(""))
}

/// Every document the chain needs for `inputs`, in a stable order.
#[must_use]
pub fn render(inputs: &ChainInputs) -> Vec<RenderedDocument> {
    let env = &inputs.environment;
    let role = env.execution_role.as_str();
    let hosting = env.account.as_str();
    let mut docs = Vec::new();

    // Step 1: one bucket policy per bucket, statements per source.
    for (bucket, account) in inputs.buckets() {
        let mut b = Builder::new();
        for (i, s) in inputs.sources.iter().enumerate() {
            if s.bucket != bucket {
                continue;
            }
            let n = inputs.source_suffix(i);
            let mut list = obj(json!({
                "Principal": {"AWS": role},
                "Action": "s3:ListBucket",
                "Resource": format!("arn:aws:s3:::{bucket}"),
            }));
            if let Some(p) = &s.prefix {
                list.insert(
                    "Condition".into(),
                    json!({"StringLike": {"s3:prefix": format!("{p}*")}}),
                );
            }
            b.push(
                &format!("FerryImportList{n}"),
                format!(
                    "lets Bedrock's execution role list {} (ListObjectsV2 is s3:ListBucket)",
                    s.describe()
                ),
                list,
            );
            b.push(
                &format!("FerryImportRead{n}"),
                format!(
                    "lets Bedrock's execution role read the artifacts under {}",
                    s.describe()
                ),
                obj(json!({
                    "Principal": {"AWS": role},
                    "Action": "s3:GetObject",
                    "Resource": object_pattern(&bucket, s.prefix.as_deref()),
                })),
            );
        }
        docs.push(b.finish(
            DocumentKind::BucketPolicy,
            format!("bucket-policy-{bucket}"),
            &account,
            bucket.clone(),
            format!(
                "Add these statements to the bucket policy of {bucket} in account {account} (walkthrough step 1)."
            ),
        ));
    }

    // Steps 2 and 5: the execution role's identity policy.
    let mut b = Builder::new();
    for (i, s) in inputs.sources.iter().enumerate() {
        let n = inputs.source_suffix(i);
        let owner = json!({"StringEquals": {"aws:ResourceAccount": s.account.as_str()}});
        let mut cond = owner.clone();
        if let Some(p) = &s.prefix {
            cond["StringLike"] = json!({"s3:prefix": format!("{p}*")});
        }
        b.push(
            &format!("ListModelArtifacts{n}"),
            format!(
                "lists {} only while the bucket belongs to account {}",
                s.describe(),
                s.account
            ),
            obj(json!({
                "Action": "s3:ListBucket",
                "Resource": format!("arn:aws:s3:::{}", s.bucket),
                "Condition": cond,
            })),
        );
        b.push(
            &format!("ReadModelArtifacts{n}"),
            format!(
                "reads the artifacts under {} only while the bucket belongs to account {}",
                s.describe(),
                s.account
            ),
            obj(json!({
                "Action": "s3:GetObject",
                "Resource": object_pattern(&s.bucket, s.prefix.as_deref()),
                "Condition": owner,
            })),
        );
    }
    let source_keys = inputs.source_keys();
    for (i, (key, target)) in source_keys.iter().enumerate() {
        let n = if source_keys.len() > 1 {
            (i + 1).to_string()
        } else {
            String::new()
        };
        let mut body = obj(json!({"Action": SOURCE_KEY_ACTIONS, "Resource": target.resource}));
        if let Some(c) = target.condition() {
            body.insert("Condition".into(), c);
        }
        b.push(
            &format!("DecryptModelArtifacts{n}"),
            format!("decrypts artifacts encrypted with the research key {key}"),
            body,
        );
    }
    if let (Some(key), Some(target)) = (&env.imported_model_kms_key, inputs.hosting_key()) {
        let mut body = obj(json!({"Action": HOSTING_KEY_ACTIONS, "Resource": target.resource}));
        if let Some(c) = target.condition() {
            body.insert("Condition".into(), c);
        }
        b.push(
            "EncryptImportedModel",
            format!("encrypts and decrypts the imported model with the hosting key {key}"),
            body,
        );
    }
    docs.push(b.finish(
        DocumentKind::ExecutionRolePolicy,
        "execution-role-policy".into(),
        hosting,
        role.to_owned(),
        format!("Attach as an inline or managed policy of {role} (walkthrough steps 2 and 5)."),
    ));

    // Step 2: the execution role's trust policy.
    let mut b = Builder::new();
    b.push(
        "BedrockCMITrust",
        format!(
            "lets Bedrock assume the role only for model import jobs of account {hosting} in {} (confused-deputy protection)",
            env.region
        ),
        obj(json!({
            "Principal": {"Service": BEDROCK_SERVICE},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": hosting},
                "ArnLike": {"aws:SourceArn": inputs.import_job_arn_pattern()},
            },
        })),
    );
    b.push(
        "AllowFerryPreflight",
        format!(
            "lets Ferry's control role {} assume the role to read the artifacts with Bedrock's rights before submitting",
            env.control_role
        ),
        obj(json!({
            "Principal": {"AWS": env.control_role.as_str()},
            "Action": "sts:AssumeRole",
        })),
    );
    docs.push(b.finish(
        DocumentKind::ExecutionRoleTrustPolicy,
        "trust-policy".into(),
        hosting,
        role.to_owned(),
        format!("The trust (assume role) policy of {role} (walkthrough step 2)."),
    ));

    // Step 3: the research key policy statement, per key.
    for (key, target) in &source_keys {
        let mut b = Builder::new();
        b.push(
            "AllowHostingExecutionRoleDecrypt",
            format!("lets the hosting execution role {role} decrypt the model artifacts"),
            obj(json!({
                "Principal": {"AWS": role},
                "Action": SOURCE_KEY_ACTIONS,
                "Resource": "*",
            })),
        );
        let id = target
            .request_arn
            .rsplit('/')
            .next()
            .unwrap_or("key")
            .to_owned();
        let label = target.alias.as_deref().map_or(id, |a| a.replace('/', "-"));
        docs.push(b.finish(
            DocumentKind::SourceKeyPolicy,
            format!("source-key-policy-{label}"),
            &target.account,
            key.to_string(),
            format!(
                "Add this statement to the key policy of {key} in account {} (walkthrough step 3).",
                target.account
            ),
        ));
    }

    // Step 4: the hosting key policy statement.
    if let Some(key) = &env.imported_model_kms_key {
        let mut b = Builder::new();
        b.push(
            "AllowExecutionRoleUseOfKey",
            format!("lets the execution role {role} encrypt and decrypt the imported model"),
            obj(json!({
                "Principal": {"AWS": role},
                "Action": HOSTING_KEY_ACTIONS,
                "Resource": "*",
            })),
        );
        docs.push(b.finish(
            DocumentKind::HostingKeyPolicy,
            "hosting-key-policy".into(),
            hosting,
            key.to_string(),
            format!(
                "Add this statement to the key policy of {key} in account {hosting} (walkthrough step 4)."
            ),
        ));
    }

    // Step 6: Ferry's control role.
    let control = env.control_role.as_str();
    let mut b = Builder::new();
    let (anywhere, scoped): (Vec<&str>, Vec<&str>) = BEDROCK_IMPORT_ACTIONS
        .iter()
        .partition(|a| a.contains(":List") || a.contains(":Create"));
    b.push(
        "ModelImport",
        "creates import jobs and lists jobs and imported models (these actions take no resource ARN)".to_owned(),
        obj(json!({"Action": anywhere, "Resource": "*"})),
    );
    let arn = |kind: &str| {
        format!(
            "arn:{}:bedrock:{}:{hosting}:{kind}/*",
            inputs.partition(),
            env.region
        )
    };
    b.push(
        "TrackModelImports",
        format!(
            "tracks this account's import jobs in {} and reads or deletes its imported models",
            env.region
        ),
        obj(
            json!({"Action": scoped, "Resource": [arn("model-import-job"), arn("imported-model")]}),
        ),
    );
    b.push(
        PASS_ROLE_SID,
        format!("passes {role} to Bedrock, and to no other service"),
        obj(json!({
            "Action": "iam:PassRole",
            "Resource": role,
            "Condition": {"StringEquals": {"iam:PassedToService": BEDROCK_SERVICE}},
        })),
    );
    b.push(
        "AssumeExecutionRoleForPreflight",
        format!("assumes {role} to check the artifacts with Bedrock's rights"),
        obj(json!({"Action": "sts:AssumeRole", "Resource": role})),
    );
    b.push(
        "ReadExecutionRoleTrust",
        format!("reads the trust policy of {role} for preflight"),
        obj(json!({"Action": "iam:GetRole", "Resource": role})),
    );
    b.push(
        "SimulateOwnPermissions",
        "asks IAM's policy simulator whether it may pass the execution role to Bedrock and invoke imported models (preflight, doctor)".to_owned(),
        obj(json!({"Action": "iam:SimulatePrincipalPolicy", "Resource": control})),
    );
    b.push(
        INVOKE_SID,
        format!(
            "invokes this account's imported models in {} to check that they answer (the readiness check after an import)",
            env.region
        ),
        obj(json!({"Action": BEDROCK_INVOKE_ACTION, "Resource": arn("imported-model")})),
    );
    b.push(
        TAGS_SID,
        format!(
            "reads the tags of this account's imported models in {} to tell Ferry's from others (the account inventory)",
            env.region
        ),
        obj(json!({"Action": TAGS_ACTION, "Resource": arn("imported-model")})),
    );
    b.push(
        INVOCATIONS_SID,
        "reads from CloudWatch when each imported model was last invoked (AWS/Bedrock Invocations; the action takes no resource ARN)".to_owned(),
        obj(json!({"Action": INVOCATIONS_ACTION, "Resource": "*"})),
    );
    b.push(
        QUOTAS_SID,
        format!(
            "reads Bedrock's quotas for this account in {} from Service Quotas (the account inventory)",
            env.region
        ),
        obj(json!({"Action": QUOTA_ACTION, "Resource": format!(
            "arn:{}:servicequotas:{}:{hosting}:bedrock/*",
            inputs.partition(),
            env.region
        )})),
    );
    // A SageMaker model package as the source: the control role reads it at submit, itself
    // (shared with through the group's policy) or as the team's reader role.
    let direct = inputs.direct_registry_accounts();
    if !direct.is_empty() {
        b.push(
            REGISTRY_SID,
            format!(
                "reads the SageMaker model packages of research account {} at submit (DescribeModelPackage; each package group's policy must share them)",
                direct.join(", ")
            ),
            obj(json!({"Action": REGISTRY_ACTION, "Resource": one_or_many(
                direct.iter().map(|a| inputs.model_packages(a, None)).collect()
            )})),
        );
    }
    let readers = inputs.reader_roles();
    if !readers.is_empty() {
        let arns: Vec<String> = readers.iter().map(|(r, _)| r.to_string()).collect();
        b.push(
            REGISTRY_READER_SID,
            format!(
                "assumes the model registry reader role {} to read model packages at submit",
                arns.join(", ")
            ),
            obj(json!({"Action": "sts:AssumeRole", "Resource": one_or_many(arns)})),
        );
    }
    docs.push(b.finish(
        DocumentKind::ControlRolePolicy,
        "control-role-policy".into(),
        hosting,
        control.to_owned(),
        format!("Attach as an inline or managed policy of Ferry's control role {control}."),
    ));
    let mut b = Builder::new();
    b.push(
        "FerryService",
        format!(
            "lets Ferry's principal {} assume the control role",
            inputs.ferry_principal
        ),
        obj(json!({
            "Principal": {"AWS": inputs.ferry_principal},
            "Action": "sts:AssumeRole",
        })),
    );
    if let Some(sa) = &inputs.service_account {
        let issuer = sa.issuer();
        b.push(
            "FerryServiceAccount",
            format!(
                "lets the pods of the EKS service account {} assume the control role with their web identity token (IAM roles for service accounts)",
                sa.subject()
            ),
            obj(json!({
                "Principal": {"Federated": sa.oidc_provider_arn()},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {
                    format!("{issuer}:sub"): sa.subject(),
                    format!("{issuer}:aud"): super::WEB_IDENTITY_AUDIENCE,
                }},
            })),
        );
    }
    docs.push(b.finish(
        DocumentKind::ControlRoleTrustPolicy,
        "control-role-trust-policy".into(),
        hosting,
        control.to_owned(),
        format!("The trust (assume role) policy of Ferry's control role {control}."),
    ));

    // The research account's side of reading model packages. Without a reader role, the
    // package group's resource policy shares the packages with the control role, as the
    // SageMaker developer guide's cross-account sharing does (Model Registry, "Set up
    // discoverability": `put-model-package-group-policy` allowing `sagemaker:DescribeModelPackage`
    // on `arn:aws:sagemaker:<region>:<owner account>:model-package/<group name>/*`,
    // <https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-ram-discover.html>; API
    // reference, PutModelPackageGroupPolicy). Ferry's configuration does not name the groups, so
    // the group is `*`: the statement goes into the policy of each group the team shares, and
    // may name that group instead.
    for account in &direct {
        let mut b = Builder::new();
        b.push(
            "FerryReadsModelPackages",
            format!(
                "lets Ferry's control role {control} read this group's model packages at submit (DescribeModelPackage)"
            ),
            obj(json!({
                "Principal": {"AWS": control},
                "Action": REGISTRY_ACTION,
                "Resource": inputs.model_packages(account, Some("*")),
            })),
        );
        docs.push(b.finish(
            DocumentKind::ModelPackageGroupPolicy,
            format!("model-package-group-policy-{account}"),
            account,
            format!(
                "arn:{}:sagemaker:{}:{account}:model-package-group/*",
                inputs.partition(),
                env.region
            ),
            format!(
                "The model package group policy (PutModelPackageGroupPolicy) of each group whose packages Ferry imports, in account {account}: merge into the group's policy."
            ),
        ));
    }
    // With a reader role: the role in the research account, trusted by the control role.
    for (reader, accounts) in &readers {
        let owner = reader.account().to_string();
        let name = reader.role_name().to_owned();
        let mut b = Builder::new();
        b.push(
            "ReadModelPackages",
            format!(
                "reads the SageMaker model packages of account {} (DescribeModelPackage, read only)",
                accounts.join(", ")
            ),
            obj(json!({"Action": REGISTRY_ACTION, "Resource": one_or_many(
                accounts.iter().map(|a| inputs.model_packages(a, None)).collect()
            )})),
        );
        docs.push(b.finish(
            DocumentKind::RegistryReaderPolicy,
            format!("registry-reader-policy-{name}"),
            &owner,
            reader.to_string(),
            format!(
                "Attach as an inline or managed policy of the model registry reader role {reader}."
            ),
        ));
        let mut b = Builder::new();
        b.push(
            "FerryControlRole",
            format!("lets Ferry's control role {control} assume the reader role"),
            obj(json!({
                "Principal": {"AWS": control},
                "Action": "sts:AssumeRole",
            })),
        );
        docs.push(b.finish(
            DocumentKind::RegistryReaderTrustPolicy,
            format!("registry-reader-trust-policy-{name}"),
            &owner,
            reader.to_string(),
            format!("The trust (assume role) policy of the model registry reader role {reader}."),
        ));
    }
    docs
}
