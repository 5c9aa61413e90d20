//! The requests the import makes, each with the documents that must allow it and the rendered
//! statement that fixes a denial.

use crate::iam::{Principal, RequestContext, ResourcePolicyMode};
use crate::render::{ChainInputs, DocumentKind};
use crate::{
    BEDROCK_IMPORT_ACTIONS, BEDROCK_INVOKE_ACTION, BEDROCK_SERVICE, HOSTING_KEY_ACTIONS,
    INVOCATIONS_ACTION, INVOCATIONS_SID, INVOKE_SID, PASS_ROLE_SID, QUOTA_ACTION, QUOTAS_SID,
    REGISTRY_ACTION, REGISTRY_READER_SID, REGISTRY_SID, SOURCE_KEY_ACTIONS, TAGS_ACTION, TAGS_SID,
};

use ferry_domain::chain::ChainStep;

/// One request of the chain.
pub(super) struct Requirement {
    pub(super) what: String,
    pub(super) ctx: RequestContext,
    /// The caller's identity policy, with the `Sid` that grants it and the step to blame.
    pub(super) identity: Option<(DocumentKind, String, ChainStep)>,
    /// The resource policy (bucket, key or trust policy), with the granting `Sid`.
    pub(super) resource: Option<(DocumentKind, String, Option<String>)>,
    pub(super) mode: ResourcePolicyMode,
}

pub(super) fn role_session(arn: &str, session: &str) -> Principal {
    let account = arn.split(':').nth(4).unwrap_or_default().to_owned();
    let role = arn.rsplit('/').next().unwrap_or_default().to_owned();
    Principal::AssumedRole {
        account,
        role,
        session: session.to_owned(),
    }
}

fn suffix(count: usize, index: usize) -> String {
    if count > 1 {
        (index + 1).to_string()
    } else {
        String::new()
    }
}

pub(super) fn requirements(inputs: &ChainInputs) -> Vec<Requirement> {
    let env = &inputs.environment;
    let role = env.execution_role.as_str();
    let hosting = env.account.as_str();
    let bedrock_session = role_session(role, "bedrock-import");
    let control_session = role_session(env.control_role.as_str(), "ferry");
    let job = format!(
        "arn:{}:bedrock:{}:{hosting}:model-import-job/abcdefgh1234",
        inputs.partition(),
        env.region
    );
    let mut reqs = Vec::new();
    let n_sources = inputs.sources.len();
    for (i, s) in inputs.sources.iter().enumerate() {
        let n = suffix(n_sources, i);
        let prefix = s.prefix.clone().unwrap_or_default();
        let account = s.account.as_str();
        reqs.push(Requirement {
            what: format!("Bedrock lists {}", s.describe()),
            ctx: RequestContext::new(
                bedrock_session.clone(),
                "s3:ListBucket",
                format!("arn:aws:s3:::{}", s.bucket),
                account,
            )
            .with_key("s3:ResourceAccount", account)
            .with_key("s3:prefix", prefix.clone()),
            identity: Some((
                DocumentKind::ExecutionRolePolicy,
                format!("ListModelArtifacts{n}"),
                ChainStep::ExecutionRoleIdentityPolicy,
            )),
            resource: Some((
                DocumentKind::BucketPolicy,
                format!("FerryImportList{n}"),
                Some(s.bucket.clone()),
            )),
            mode: ResourcePolicyMode::Optional,
        });
        reqs.push(Requirement {
            what: format!("Bedrock reads the artifacts under {}", s.describe()),
            ctx: RequestContext::new(
                bedrock_session.clone(),
                "s3:GetObject",
                format!("arn:aws:s3:::{}/{prefix}config.json", s.bucket),
                account,
            )
            .with_key("s3:ResourceAccount", account),
            identity: Some((
                DocumentKind::ExecutionRolePolicy,
                format!("ReadModelArtifacts{n}"),
                ChainStep::ExecutionRoleIdentityPolicy,
            )),
            resource: Some((
                DocumentKind::BucketPolicy,
                format!("FerryImportRead{n}"),
                Some(s.bucket.clone()),
            )),
            mode: ResourcePolicyMode::Optional,
        });
    }
    let keys = inputs.source_keys();
    for (i, (key, target)) in keys.iter().enumerate() {
        for action in SOURCE_KEY_ACTIONS {
            let mut ctx = RequestContext::new(
                bedrock_session.clone(),
                action,
                target.request_arn.clone(),
                target.account.clone(),
            )
            .with_key("kms:ViaService", format!("s3.{}.amazonaws.com", env.region))
            .with_key("kms:CallerAccount", hosting);
            if let Some(a) = &target.alias {
                ctx = ctx.with_key("kms:ResourceAliases", a.clone());
            }
            reqs.push(Requirement {
                what: format!("Bedrock decrypts the artifacts with the research key {key}"),
                ctx,
                identity: Some((
                    DocumentKind::ExecutionRolePolicy,
                    format!("DecryptModelArtifacts{}", suffix(keys.len(), i)),
                    ChainStep::ExecutionRoleIdentityPolicy,
                )),
                resource: Some((
                    DocumentKind::SourceKeyPolicy,
                    "AllowHostingExecutionRoleDecrypt".into(),
                    Some(key.to_string()),
                )),
                mode: ResourcePolicyMode::Required,
            });
        }
    }
    if let (Some(key), Some(target)) = (&env.imported_model_kms_key, inputs.hosting_key()) {
        for action in HOSTING_KEY_ACTIONS {
            let mut ctx = RequestContext::new(
                bedrock_session.clone(),
                action,
                target.request_arn.clone(),
                target.account.clone(),
            )
            .with_key("kms:CallerAccount", hosting);
            if let Some(a) = &target.alias {
                ctx = ctx.with_key("kms:ResourceAliases", a.clone());
            }
            reqs.push(Requirement {
                what: format!("Bedrock encrypts the imported model with the hosting key {key}"),
                ctx,
                identity: Some((
                    DocumentKind::ExecutionRolePolicy,
                    "EncryptImportedModel".into(),
                    ChainStep::ExecutionRoleIdentityPolicy,
                )),
                resource: Some((
                    DocumentKind::HostingKeyPolicy,
                    "AllowExecutionRoleUseOfKey".into(),
                    None,
                )),
                mode: ResourcePolicyMode::Required,
            });
        }
    }
    reqs.push(Requirement {
        what: format!("Bedrock assumes {role} for an import job"),
        ctx: RequestContext::new(
            Principal::Service(BEDROCK_SERVICE.to_owned()),
            "sts:AssumeRole",
            role,
            hosting,
        )
        .with_key("aws:SourceAccount", hosting)
        .with_key("aws:SourceArn", job.clone()),
        identity: None,
        resource: Some((
            DocumentKind::ExecutionRoleTrustPolicy,
            "BedrockCMITrust".into(),
            None,
        )),
        mode: ResourcePolicyMode::Required,
    });
    reqs.push(Requirement {
        what: format!("Ferry's control role assumes {role} for preflight"),
        ctx: RequestContext::new(control_session.clone(), "sts:AssumeRole", role, hosting),
        identity: Some((
            DocumentKind::ControlRolePolicy,
            "AssumeExecutionRoleForPreflight".into(),
            ChainStep::ControlRolePolicy,
        )),
        resource: Some((
            DocumentKind::ExecutionRoleTrustPolicy,
            "AllowFerryPreflight".into(),
            None,
        )),
        mode: ResourcePolicyMode::Required,
    });
    let model = format!(
        "arn:{}:bedrock:{}:{hosting}:imported-model/abcdefgh1234",
        inputs.partition(),
        env.region
    );
    for action in BEDROCK_IMPORT_ACTIONS {
        let resource = if action.contains(":List") || action.contains(":Create") {
            "*".to_owned()
        } else if action.ends_with("ImportedModel") {
            model.clone()
        } else {
            job.clone()
        };
        reqs.push(Requirement {
            what: format!("Ferry's control role calls {action}"),
            ctx: RequestContext::new(control_session.clone(), action, resource.clone(), hosting),
            identity: Some((
                DocumentKind::ControlRolePolicy,
                if resource == "*" || action.contains(":Create") {
                    "ModelImport".into()
                } else {
                    "TrackModelImports".into()
                },
                ChainStep::ControlRolePolicy,
            )),
            resource: None,
            mode: ResourcePolicyMode::Optional,
        });
    }
    reqs.push(Requirement {
        what: "Ferry's control role reads an imported model's tags (the account inventory)"
            .to_owned(),
        ctx: RequestContext::new(control_session.clone(), TAGS_ACTION, model.clone(), hosting),
        identity: Some((
            DocumentKind::ControlRolePolicy,
            TAGS_SID.into(),
            ChainStep::ControlRolePolicy,
        )),
        resource: None,
        mode: ResourcePolicyMode::Optional,
    });
    reqs.push(Requirement {
        what: "Ferry's control role reads when imported models were last invoked (CloudWatch)"
            .to_owned(),
        ctx: RequestContext::new(control_session.clone(), INVOCATIONS_ACTION, "*", hosting),
        identity: Some((
            DocumentKind::ControlRolePolicy,
            INVOCATIONS_SID.into(),
            ChainStep::ControlRolePolicy,
        )),
        resource: None,
        mode: ResourcePolicyMode::Optional,
    });
    reqs.push(Requirement {
        what: "Ferry's control role invokes an imported model (the readiness check)".to_owned(),
        ctx: RequestContext::new(
            control_session.clone(),
            BEDROCK_INVOKE_ACTION,
            model,
            hosting,
        ),
        identity: Some((
            DocumentKind::ControlRolePolicy,
            INVOKE_SID.into(),
            ChainStep::ControlRolePolicy,
        )),
        resource: None,
        mode: ResourcePolicyMode::Optional,
    });
    reqs.push(Requirement {
        what: "Ferry's control role reads Bedrock's quotas from Service Quotas (the account inventory)"
            .to_owned(),
        ctx: RequestContext::new(
            control_session.clone(),
            QUOTA_ACTION,
            format!(
                "arn:{}:servicequotas:{}:{hosting}:bedrock/L-45B04988",
                inputs.partition(),
                env.region
            ),
            hosting,
        ),
        identity: Some((
            DocumentKind::ControlRolePolicy,
            QUOTAS_SID.into(),
            ChainStep::ControlRolePolicy,
        )),
        resource: None,
        mode: ResourcePolicyMode::Optional,
    });
    // A model package as the source, read at submit: by the control role itself (the group's
    // policy shares the package: rendered only, `policy check` takes no group policy), or as
    // the team's reader role (its trust policy: rendered only, likewise).
    for account in inputs.direct_registry_accounts() {
        let package = format!(
            "arn:{}:sagemaker:{}:{account}:model-package/models/1",
            inputs.partition(),
            env.region
        );
        reqs.push(Requirement {
            what: format!(
                "Ferry's control role reads a SageMaker model package of account {account} at submit"
            ),
            ctx: RequestContext::new(
                control_session.clone(),
                REGISTRY_ACTION,
                package,
                account.clone(),
            ),
            identity: Some((
                DocumentKind::ControlRolePolicy,
                REGISTRY_SID.into(),
                ChainStep::ControlRolePolicy,
            )),
            resource: Some((
                DocumentKind::ModelPackageGroupPolicy,
                "FerryReadsModelPackages".into(),
                Some(format!(
                    "arn:{}:sagemaker:{}:{account}:model-package-group/*",
                    inputs.partition(),
                    env.region
                )),
            )),
            mode: ResourcePolicyMode::Optional,
        });
    }
    for (reader, _) in inputs.reader_roles() {
        let owner = reader.account().to_string();
        reqs.push(Requirement {
            what: format!(
                "Ferry's control role assumes the model registry reader role {reader} at submit"
            ),
            ctx: RequestContext::new(
                control_session.clone(),
                "sts:AssumeRole",
                reader.as_str(),
                owner,
            ),
            identity: Some((
                DocumentKind::ControlRolePolicy,
                REGISTRY_READER_SID.into(),
                ChainStep::ControlRolePolicy,
            )),
            resource: Some((
                DocumentKind::RegistryReaderTrustPolicy,
                "FerryControlRole".into(),
                Some(reader.to_string()),
            )),
            mode: ResourcePolicyMode::Required,
        });
    }
    reqs.push(Requirement {
        what: format!("Ferry's control role passes {role} to Bedrock"),
        ctx: RequestContext::new(control_session.clone(), "iam:PassRole", role, hosting)
            .with_key("iam:PassedToService", BEDROCK_SERVICE),
        identity: Some((
            DocumentKind::ControlRolePolicy,
            PASS_ROLE_SID.into(),
            ChainStep::PassRole,
        )),
        resource: None,
        mode: ResourcePolicyMode::Optional,
    });
    reqs.push(Requirement {
        what: format!("Ferry's control role reads the trust policy of {role}"),
        ctx: RequestContext::new(control_session, "iam:GetRole", role, hosting),
        identity: Some((
            DocumentKind::ControlRolePolicy,
            "ReadExecutionRoleTrust".into(),
            ChainStep::ControlRolePolicy,
        )),
        resource: None,
        mode: ResourcePolicyMode::Optional,
    });
    reqs
}
