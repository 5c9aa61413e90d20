//! Over-grants: wildcard principals and actions, trust for a service without the
//! confused-deputy conditions, and write or key-administration access the execution role gets.

use crate::iam::{
    ActionMatch, Effect, PolicyDocument, RequestContext, ResourcePolicyMode, Statement, authorize,
};
use crate::render::{ChainInputs, DocumentKind};

use super::Finding;
use super::FindingKind;
use super::GivenDocuments;
use super::requirements::role_session;

fn label(st: &Statement, index: usize) -> String {
    st.sid.clone().unwrap_or_else(|| format!("#{}", index + 1))
}

fn is_wildcard_action(pattern: &str) -> bool {
    pattern.contains('*')
}

/// A key policy statement for the key's own administrators: every principal is in the owning
/// account (its root, or a user or role there) and none is the execution role.
fn is_owner_administration(st: &Statement, owner: &str, execution_role: &str) -> bool {
    st.principal.as_ref().is_some_and(|p| {
        !p.anyone
            && p.service.is_empty()
            && !p.aws.is_empty()
            && p.aws.iter().all(|a| {
                a != execution_role
                    && (a == owner || a.split(':').nth(4).is_some_and(|acct| acct == owner))
            })
    })
}

pub(super) fn over_grants(inputs: &ChainInputs, given: &GivenDocuments) -> Vec<Finding> {
    let env = &inputs.environment;
    let hosting = env.account.as_str();
    let mut out = Vec::new();
    let kinds = [
        DocumentKind::BucketPolicy,
        DocumentKind::ExecutionRolePolicy,
        DocumentKind::ExecutionRoleTrustPolicy,
        DocumentKind::SourceKeyPolicy,
        DocumentKind::HostingKeyPolicy,
        DocumentKind::ControlRolePolicy,
    ];
    let source_owner = inputs
        .source_keys()
        .first()
        .map(|(_, t)| t.account.clone())
        .unwrap_or_default();
    for kind in kinds {
        let Some(doc) = given.get(kind) else {
            continue;
        };
        let owner = match kind {
            DocumentKind::SourceKeyPolicy => source_owner.as_str(),
            _ => hosting,
        };
        let key_policy = matches!(
            kind,
            DocumentKind::SourceKeyPolicy | DocumentKind::HostingKeyPolicy
        );
        for (i, st) in doc.statements.iter().enumerate() {
            if st.effect != Effect::Allow {
                continue;
            }
            let mut flag = |detail: String| {
                out.push(Finding {
                    kind: FindingKind::OverGrant,
                    step: crate::step_of(kind),
                    document: kind,
                    statement: Some(label(st, i)),
                    detail,
                    evidence: None,
                    fix: None,
                });
            };
            if let Some(p) = &st.principal
                && (p.anyone || p.aws.iter().any(|a| a == "*"))
            {
                flag(format!(
                    "statement {} allows any principal (\"*\")",
                    label(st, i)
                ));
            }
            // A key policy's administration statement for the owning account is the norm.
            let exempt =
                key_policy && is_owner_administration(st, owner, env.execution_role.as_str());
            match &st.action {
                ActionMatch::Action(actions) if !exempt => {
                    for a in actions.iter().filter(|a| is_wildcard_action(a)) {
                        flag(format!(
                            "statement {} allows the wildcard action {a}",
                            label(st, i)
                        ));
                    }
                }
                ActionMatch::NotAction(_) if !exempt => flag(format!(
                    "statement {} allows every action but a few (NotAction)",
                    label(st, i)
                )),
                _ => {}
            }
            if kind == DocumentKind::ExecutionRoleTrustPolicy
                && st.principal.as_ref().is_some_and(|p| !p.service.is_empty())
            {
                let has = |key: &str| {
                    st.conditions
                        .iter()
                        .any(|c| c.key.eq_ignore_ascii_case(key) && !c.if_exists)
                };
                if !has("aws:SourceAccount") || !has("aws:SourceArn") {
                    flag(format!(
                        "statement {} trusts a service without both aws:SourceAccount and aws:SourceArn conditions (confused deputy)",
                        label(st, i)
                    ));
                }
            }
        }
        out.extend(write_probes(inputs, kind, doc));
    }
    out
}

/// Write and key-administration requests the execution role must not be granted.
fn write_probes(inputs: &ChainInputs, kind: DocumentKind, doc: &PolicyDocument) -> Vec<Finding> {
    let env = &inputs.environment;
    let session = role_session(env.execution_role.as_str(), "bedrock-import");
    let mut probes: Vec<RequestContext> = Vec::new();
    let s3 = matches!(
        kind,
        DocumentKind::BucketPolicy | DocumentKind::ExecutionRolePolicy
    );
    let kms_targets: Vec<(String, String)> = match kind {
        DocumentKind::SourceKeyPolicy => inputs
            .source_keys()
            .into_iter()
            .map(|(_, t)| (t.request_arn, t.account))
            .collect(),
        DocumentKind::HostingKeyPolicy => inputs
            .hosting_key()
            .map(|t| (t.request_arn, t.account))
            .into_iter()
            .collect(),
        DocumentKind::ExecutionRolePolicy => inputs
            .source_keys()
            .into_iter()
            .map(|(_, t)| (t.request_arn, t.account))
            .collect(),
        _ => Vec::new(),
    };
    if s3 {
        for s in &inputs.sources {
            let prefix = s.prefix.clone().unwrap_or_default();
            let object = format!("arn:aws:s3:::{}/{prefix}config.json", s.bucket);
            let bucket = format!("arn:aws:s3:::{}", s.bucket);
            for (action, resource) in [
                ("s3:PutObject", &object),
                ("s3:DeleteObject", &object),
                ("s3:PutObjectAcl", &object),
                ("s3:PutBucketPolicy", &bucket),
                ("s3:DeleteBucket", &bucket),
            ] {
                probes.push(
                    RequestContext::new(
                        session.clone(),
                        action,
                        resource.clone(),
                        s.account.as_str(),
                    )
                    .with_key("s3:ResourceAccount", s.account.as_str()),
                );
            }
        }
    }
    for (arn, account) in kms_targets {
        for action in ["kms:Encrypt", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"] {
            // The hosting key is used to encrypt: GenerateDataKey is expected, Encrypt is not.
            probes.push(RequestContext::new(
                session.clone(),
                action,
                arn.clone(),
                account.clone(),
            ));
        }
    }
    let identity = matches!(kind, DocumentKind::ExecutionRolePolicy);
    let mut out = Vec::new();
    for (i, st) in doc.statements.iter().enumerate() {
        let single = PolicyDocument {
            version: doc.version.clone(),
            statements: vec![st.clone()],
        };
        let mut granted: Vec<String> = Vec::new();
        for probe in &probes {
            // Decide the statement alone: as if within one account, so it can grant by itself.
            let mut ctx = probe.clone();
            ctx.resource_account = env.account.to_string();
            let d = if identity {
                authorize(
                    &ctx,
                    std::slice::from_ref(&single),
                    None,
                    ResourcePolicyMode::Optional,
                )
            } else {
                authorize(&ctx, &[], Some(&single), ResourcePolicyMode::Optional)
            };
            if d.is_allowed() && !granted.contains(&probe.action) {
                granted.push(probe.action.clone());
            }
        }
        if !granted.is_empty() {
            out.push(Finding {
                kind: FindingKind::OverGrant,
                step: crate::step_of(kind),
                document: kind,
                statement: Some(label(st, i)),
                detail: format!(
                    "statement {} grants the execution role {} (write or key administration; the import only reads)",
                    label(st, i),
                    granted.join(", ")
                ),
                evidence: None,
                fix: None,
            });
        }
    }
    out
}
