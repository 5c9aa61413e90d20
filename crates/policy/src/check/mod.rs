//! Checking: documents an account already has, against exactly the requests the import makes.
//!
//! Every request of the chain is decided by [`authorize`] with the given documents. When one
//! is denied, each given document is tried again with the rendered (known good) counterpart
//! in place of the other: the documents still denied that way are the ones missing a grant,
//! and the rendered statement is the fix. Over-grants are found per statement: wildcard
//! principals and actions, trust for a service without the confused-deputy conditions, and
//! write or key-administration access that [`authorize`] grants the execution role.

mod over_grants;
mod requirements;

use serde::Serialize;
use serde_json::Value;

use crate::iam::{Decision, PolicyDocument, RequestContext, ResourcePolicyMode, authorize};
use crate::render::{ChainInputs, DocumentKind, RenderedDocument, render};

use ferry_domain::chain::ChainStep;

use over_grants::over_grants;
use requirements::requirements;

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
            DocumentKind::ControlRoleTrustPolicy
            | DocumentKind::ModelPackageGroupPolicy
            | DocumentKind::RegistryReaderPolicy
            | DocumentKind::RegistryReaderTrustPolicy => None,
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
            if docs.given.get(kind).is_none() && kind.checkable() && !not_checked.contains(&kind) {
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
