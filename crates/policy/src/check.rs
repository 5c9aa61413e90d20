//! Checking: documents an account already has, against exactly the requests the import makes.
//!
//! Every request of the chain is decided by [`authorize`] with the given documents. When one
//! is denied, each given document is tried again with the rendered (known good) counterpart
//! in place of the other: the documents still denied that way are the ones missing a grant,
//! and the rendered statement is the fix. Over-grants are found per statement: wildcard
//! principals and actions, trust for a service without the confused-deputy conditions, and
//! write or key-administration access that [`authorize`] grants the execution role.

use serde::Serialize;
use serde_json::Value;

use crate::iam::{
    ActionMatch, Decision, Effect, PolicyDocument, Principal, RequestContext, ResourcePolicyMode,
    Statement, authorize,
};
use crate::render::{ChainInputs, DocumentKind, RenderedDocument, render};
use crate::{
    BEDROCK_IMPORT_ACTIONS, BEDROCK_SERVICE, HOSTING_KEY_ACTIONS, PASS_ROLE_SID, SOURCE_KEY_ACTIONS,
};
use ferry_domain::chain::ChainStep;

/// The documents an account already has; `None` when not given (not checked).
#[derive(Debug, Clone, Default)]
pub struct GivenDocuments {
    /// The research bucket's policy (applies to every source bucket of the environment).
    pub bucket_policy: Option<PolicyDocument>,
    /// The execution role's identity policy (all its policies merged into one document).
    pub execution_role_policy: Option<PolicyDocument>,
    /// The execution role's trust policy.
    pub trust_policy: Option<PolicyDocument>,
    /// The research key's whole key policy.
    pub source_key_policy: Option<PolicyDocument>,
    /// The hosting key's whole key policy.
    pub hosting_key_policy: Option<PolicyDocument>,
    /// Ferry's control role identity policy.
    pub control_role_policy: Option<PolicyDocument>,
}

impl GivenDocuments {
    fn get(&self, kind: DocumentKind) -> Option<&PolicyDocument> {
        match kind {
            DocumentKind::BucketPolicy => self.bucket_policy.as_ref(),
            DocumentKind::ExecutionRolePolicy => self.execution_role_policy.as_ref(),
            DocumentKind::ExecutionRoleTrustPolicy => self.trust_policy.as_ref(),
            DocumentKind::SourceKeyPolicy => self.source_key_policy.as_ref(),
            DocumentKind::HostingKeyPolicy => self.hosting_key_policy.as_ref(),
            DocumentKind::ControlRolePolicy => self.control_role_policy.as_ref(),
            DocumentKind::ControlRoleTrustPolicy => None,
        }
    }
}

/// What a finding says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A grant the import needs is missing (the check fails).
    Missing,
    /// A statement grants more than the import needs.
    OverGrant,
    /// The document was not given, so this part of the chain was not checked.
    NotChecked,
}

/// One result of [`check`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Missing, over-grant or not checked.
    pub kind: FindingKind,
    /// The chain step to fix.
    pub step: ChainStep,
    /// The document to change.
    pub document: DocumentKind,
    /// The offending statement (`Sid`, or `#<index>` without one), for over-grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// What is wrong, in one line.
    pub detail: String,
    /// AWS's AccessDenied message for the request, for missing grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// The statement to add, for missing grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Value>,
}

/// The outcome of [`check`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// The environment checked.
    pub environment: String,
    /// Every finding, missing grants first.
    pub findings: Vec<Finding>,
}

impl CheckReport {
    /// The findings of `kind`.
    pub fn of(&self, kind: FindingKind) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.kind == kind)
    }

    /// `true` when no grant is missing.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.of(FindingKind::Missing).next().is_none()
    }
}

/// One request of the chain.
struct Requirement {
    what: String,
    ctx: RequestContext,
    /// The caller's identity policy, with the `Sid` that grants it and the step to blame.
    identity: Option<(DocumentKind, String, ChainStep)>,
    /// The resource policy (bucket, key or trust policy), with the granting `Sid`.
    resource: Option<(DocumentKind, String, Option<String>)>,
    mode: ResourcePolicyMode,
}

fn role_session(arn: &str, session: &str) -> Principal {
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

fn requirements(inputs: &ChainInputs) -> Vec<Requirement> {
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

struct Docs<'a> {
    rendered: Vec<RenderedDocument>,
    given: &'a GivenDocuments,
}

impl Docs<'_> {
    fn rendered_doc(
        &self,
        kind: DocumentKind,
        attached_to: Option<&str>,
    ) -> Option<PolicyDocument> {
        self.rendered
            .iter()
            .find(|d| d.kind == kind && attached_to.is_none_or(|a| d.attached_to == a))
            .and_then(|d| PolicyDocument::from_value(&d.document).ok())
    }

    fn fix(&self, kind: DocumentKind, attached_to: Option<&str>, sid: &str) -> Option<Value> {
        self.rendered
            .iter()
            .find(|d| d.kind == kind && attached_to.is_none_or(|a| d.attached_to == a))
            .and_then(|d| d.statement(sid))
            .cloned()
    }
}

fn decide(
    ctx: &RequestContext,
    identity: Option<&PolicyDocument>,
    resource: Option<&PolicyDocument>,
    mode: ResourcePolicyMode,
) -> Decision {
    let ids: Vec<PolicyDocument> = identity.cloned().into_iter().collect();
    authorize(ctx, &ids, resource, mode)
}

/// Checks `given` against exactly the access the import needs for `inputs`.
#[must_use]
pub fn check(inputs: &ChainInputs, given: &GivenDocuments) -> CheckReport {
    let docs = Docs {
        rendered: render(inputs),
        given,
    };
    let mut findings: Vec<Finding> = Vec::new();
    let mut not_checked: Vec<DocumentKind> = Vec::new();
    for req in requirements(inputs) {
        let id_kind = req.identity.as_ref().map(|(k, _, _)| *k);
        let res = req.resource.as_ref();
        let res_attached = res.and_then(|(_, _, a)| a.as_deref());
        for kind in id_kind.into_iter().chain(res.map(|(k, _, _)| *k)) {
            if docs.given.get(kind).is_none() && !not_checked.contains(&kind) {
                not_checked.push(kind);
            }
        }
        let rendered_id = id_kind.and_then(|k| docs.rendered_doc(k, None));
        let rendered_res = res.and_then(|(k, _, _)| docs.rendered_doc(*k, res_attached));
        let given_id = id_kind.and_then(|k| docs.given.get(k));
        let given_res = res.and_then(|(k, _, _)| docs.given.get(*k));
        let id_doc = given_id.or(rendered_id.as_ref());
        let res_doc = given_res.or(rendered_res.as_ref());
        let decision = decide(&req.ctx, id_doc, res_doc, req.mode);
        if decision.is_allowed() {
            continue;
        }
        let evidence = decision.message(&req.ctx);
        let mut blamed = Vec::new();
        if let (Some((kind, sid, step)), Some(doc)) = (&req.identity, given_id)
            && !decide(&req.ctx, Some(doc), rendered_res.as_ref(), req.mode).is_allowed()
        {
            blamed.push((*kind, sid.clone(), *step, None));
        }
        if let (Some((kind, sid, attached)), Some(doc)) = (res, given_res)
            && !decide(&req.ctx, rendered_id.as_ref(), Some(doc), req.mode).is_allowed()
        {
            blamed.push((*kind, sid.clone(), crate::step_of(*kind), attached.clone()));
        }
        if blamed.is_empty() {
            // Each document is fine with the other's rendered form, but not together.
            if let Some((kind, sid, step)) = &req.identity {
                blamed.push((*kind, sid.clone(), *step, None));
            }
            if let Some((kind, sid, attached)) = res {
                blamed.push((*kind, sid.clone(), crate::step_of(*kind), attached.clone()));
            }
        }
        for (kind, sid, step, attached) in blamed {
            findings.push(Finding {
                kind: FindingKind::Missing,
                step,
                document: kind,
                statement: None,
                detail: format!(
                    "{}: {} does not allow {} on {}; add statement {sid}",
                    req.what,
                    kind.slug(),
                    req.ctx.action,
                    req.ctx.resource
                ),
                evidence: evidence.clone(),
                fix: docs.fix(kind, attached.as_deref(), &sid),
            });
        }
    }
    findings.extend(over_grants(inputs, given));
    for kind in not_checked {
        findings.push(Finding {
            kind: FindingKind::NotChecked,
            step: crate::step_of(kind),
            document: kind,
            statement: None,
            detail: format!("{} was not given: not checked", kind.slug()),
            evidence: None,
            fix: None,
        });
    }
    findings.sort_by_key(|f| match f.kind {
        FindingKind::Missing => 0,
        FindingKind::OverGrant => 1,
        FindingKind::NotChecked => 2,
    });
    CheckReport {
        environment: inputs.environment.name.to_string(),
        findings,
    }
}

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

fn over_grants(inputs: &ChainInputs, given: &GivenDocuments) -> Vec<Finding> {
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
