#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::iam::{PolicyDocument, Principal, RequestContext, ResourcePolicyMode, authorize};
use ferry_domain::aws::{AccountId, KmsKeyRef, Region, RoleArn};
use ferry_domain::catalog::{AllowedSource, Catalog, Environment, ModelRegistry, Team};
use ferry_domain::chain::AccountSide;
use ferry_domain::names::{EnvironmentName, TeamName};

const ROLE: &str = "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999";
const CONTROL: &str = "arn:aws:iam::777788889999:role/FerryControlRole-777788889999";
const RESEARCH_KEY: &str =
    "arn:aws:kms:us-east-1:111122223333:key/0f1e2d3c-1111-4222-8333-111122223333";
const HOSTING_KEY: &str =
    "arn:aws:kms:us-east-1:777788889999:key/0f1e2d3c-7777-4888-8999-777788889999";

fn walkthrough(prefix: Option<&str>, hosting_key: &str) -> ChainInputs {
    with_registry(prefix, hosting_key, Default::default())
}

fn with_registry(
    prefix: Option<&str>,
    hosting_key: &str,
    model_registry: ModelRegistry,
) -> ChainInputs {
    let env = Environment {
        name: EnvironmentName::parse("prod").unwrap(),
        description: None,
        account: AccountId::parse("777788889999").unwrap(),
        region: Region::parse("us-east-1").unwrap(),
        control_role: RoleArn::parse(CONTROL).unwrap(),
        execution_role: RoleArn::parse(ROLE).unwrap(),
        imported_model_kms_key: Some(KmsKeyRef::parse(hosting_key).unwrap()),
        requires_approval: true,
        teams: None,
        vpc: None,
        require_serving_for_promotion: None,
        idle_after_days: None,
        require_approved_model_packages: true,
    };
    let source = AllowedSource::new(
        "model-artifacts-111122223333",
        AccountId::parse("111122223333").unwrap(),
        prefix,
        Some(KmsKeyRef::parse(RESEARCH_KEY).unwrap()),
    )
    .unwrap();
    let team = Team {
        name: TeamName::parse("research").unwrap(),
        sources: vec![source],
        model_registry,
    };
    let catalog = Catalog::new([env.clone()], [team]).unwrap();
    ChainInputs::for_environment(&catalog, &env, None)
}

fn doc(docs: &[RenderedDocument], kind: DocumentKind) -> Value {
    docs.iter()
        .find(|d| d.kind == kind)
        .unwrap()
        .document
        .clone()
}

/// A whole key policy as an account has it: an administrator plus the rendered statement.
fn key_policy(admin: &str, rendered: &Value) -> Value {
    let mut statements = vec![json!({"Sid": "KeyAdministration", "Effect": "Allow",
        "Principal": {"AWS": admin}, "Action": "kms:*", "Resource": "*"})];
    statements.extend(rendered["Statement"].as_array().unwrap().iter().cloned());
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The documents of a correctly set up account, as JSON to mutate.
fn good(inputs: &ChainInputs) -> Vec<(DocumentKind, Value)> {
    let docs = render(inputs);
    vec![
        (
            DocumentKind::BucketPolicy,
            doc(&docs, DocumentKind::BucketPolicy),
        ),
        (
            DocumentKind::ExecutionRolePolicy,
            doc(&docs, DocumentKind::ExecutionRolePolicy),
        ),
        (
            DocumentKind::ExecutionRoleTrustPolicy,
            doc(&docs, DocumentKind::ExecutionRoleTrustPolicy),
        ),
        (
            DocumentKind::SourceKeyPolicy,
            key_policy(
                "arn:aws:iam::111122223333:root",
                &doc(&docs, DocumentKind::SourceKeyPolicy),
            ),
        ),
        (
            DocumentKind::HostingKeyPolicy,
            key_policy(
                "arn:aws:iam::777788889999:user/hosting-admin",
                &doc(&docs, DocumentKind::HostingKeyPolicy),
            ),
        ),
        (
            DocumentKind::ControlRolePolicy,
            doc(&docs, DocumentKind::ControlRolePolicy),
        ),
    ]
}

fn given(docs: &[(DocumentKind, Value)]) -> GivenDocuments {
    let mut g = GivenDocuments::default();
    for (kind, v) in docs {
        let d = Some(PolicyDocument::from_value(v).unwrap());
        match kind {
            DocumentKind::BucketPolicy => g.bucket_policy = d,
            DocumentKind::ExecutionRolePolicy => g.execution_role_policy = d,
            DocumentKind::ExecutionRoleTrustPolicy => g.trust_policy = d,
            DocumentKind::SourceKeyPolicy => g.source_key_policy = d,
            DocumentKind::HostingKeyPolicy => g.hosting_key_policy = d,
            DocumentKind::ControlRolePolicy => g.control_role_policy = d,
            DocumentKind::ControlRoleTrustPolicy
            | DocumentKind::ModelPackageGroupPolicy
            | DocumentKind::RegistryReaderPolicy
            | DocumentKind::RegistryReaderTrustPolicy => {}
        }
    }
    g
}

fn statement_mut<'a>(
    docs: &'a mut [(DocumentKind, Value)],
    kind: DocumentKind,
    sid: &str,
) -> &'a mut Value {
    let (_, v) = docs.iter_mut().find(|(k, _)| *k == kind).unwrap();
    v["Statement"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement {sid}"))
}

fn remove(docs: &mut [(DocumentKind, Value)], kind: DocumentKind, sid: &str) {
    let (_, v) = docs.iter_mut().find(|(k, _)| *k == kind).unwrap();
    let st = v["Statement"].as_array_mut().unwrap();
    let before = st.len();
    st.retain(|s| s["Sid"] != sid);
    assert_eq!(st.len() + 1, before, "no statement {sid}");
}

fn missing_steps(report: &CheckReport) -> BTreeSet<ChainStep> {
    report.of(FindingKind::Missing).map(|f| f.step).collect()
}

#[test]
fn rendered_documents_parse_have_unique_sids_and_explanations() {
    for inputs in [
        walkthrough(None, HOSTING_KEY),
        walkthrough(Some("llama"), "alias/kms-cmk-777788889999"),
    ] {
        let docs = render(&inputs);
        let kinds: BTreeSet<DocumentKind> = docs.iter().map(|d| d.kind).collect();
        assert_eq!(kinds.len(), 7, "{kinds:?}");
        for d in &docs {
            PolicyDocument::from_value(&d.document).unwrap();
            let sids: Vec<&str> = d.document["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["Sid"].as_str().unwrap())
                .collect();
            let unique: BTreeSet<&&str> = sids.iter().collect();
            assert_eq!(unique.len(), sids.len(), "{}", d.name);
            assert!(
                sids.iter()
                    .all(|s| s.bytes().all(|b| b.is_ascii_alphanumeric()))
            );
            assert_eq!(d.statements.len(), sids.len());
            assert!(d.statements.iter().all(|n| !n.explanation.is_empty()));
        }
        // Rendering is deterministic.
        assert_eq!(render(&inputs), docs);
    }
}

#[test]
fn rendered_documents_match_the_walkthrough() {
    let docs = render(&walkthrough(Some("models"), HOSTING_KEY));
    let trust = doc(&docs, DocumentKind::ExecutionRoleTrustPolicy);
    assert_eq!(
        trust["Statement"][0]["Condition"],
        json!({"StringEquals": {"aws:SourceAccount": "777788889999"},
               "ArnLike": {"aws:SourceArn": "arn:aws:bedrock:us-east-1:777788889999:model-import-job/*"}})
    );
    assert_eq!(trust["Statement"][1]["Principal"], json!({"AWS": CONTROL}));
    let bucket = doc(&docs, DocumentKind::BucketPolicy);
    assert_eq!(
        bucket["Statement"][0]["Condition"],
        json!({"StringLike": {"s3:prefix": "models/*"}})
    );
    assert_eq!(
        bucket["Statement"][1]["Resource"],
        "arn:aws:s3:::model-artifacts-111122223333/models/*"
    );
    let control = doc(&docs, DocumentKind::ControlRolePolicy);
    assert_eq!(
        control["Statement"][2]["Condition"],
        json!({"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}})
    );
    // The inventory reads tags of the account's imported models only, never on `*`.
    let statements = control["Statement"].as_array().unwrap();
    let tags: Vec<&Value> = statements
        .iter()
        .filter(|s| {
            s["Action"]
                .to_string()
                .contains("bedrock:ListTagsForResource")
        })
        .collect();
    assert_eq!(tags.len(), 1, "{control}");
    assert_eq!(tags[0]["Sid"], crate::TAGS_SID);
    assert_eq!(
        tags[0]["Resource"],
        "arn:aws:bedrock:us-east-1:777788889999:imported-model/*"
    );
    let control_trust = doc(&docs, DocumentKind::ControlRoleTrustPolicy);
    assert_eq!(
        control_trust["Statement"][0]["Principal"]["AWS"],
        "arn:aws:iam::777788889999:root"
    );
}

#[test]
fn the_rendered_documents_pass_the_check_with_nothing_to_report() {
    for inputs in [
        walkthrough(None, HOSTING_KEY),
        walkthrough(Some("models"), HOSTING_KEY),
        walkthrough(
            None,
            "arn:aws:kms:us-east-1:777788889999:alias/kms-cmk-777788889999",
        ),
    ] {
        let report = check(&inputs, &given(&good(&inputs)));
        assert!(report.findings.is_empty(), "{:#?}", report.findings);
        assert!(report.is_complete());
    }
}

type Mutation = fn(&mut Vec<(DocumentKind, Value)>);

#[test]
fn removing_or_weakening_one_statement_names_exactly_its_step() {
    use DocumentKind as D;
    let cases: Vec<(&str, Mutation, ChainStep)> = vec![
        (
            "bucket read grant",
            |d| remove(d, D::BucketPolicy, "FerryImportRead"),
            ChainStep::BucketPolicy,
        ),
        (
            "bucket list grant",
            |d| remove(d, D::BucketPolicy, "FerryImportList"),
            ChainStep::BucketPolicy,
        ),
        (
            "identity read grant",
            |d| remove(d, D::ExecutionRolePolicy, "ReadModelArtifacts"),
            ChainStep::ExecutionRoleIdentityPolicy,
        ),
        (
            "identity grant limited to another bucket owner",
            |d| {
                statement_mut(d, D::ExecutionRolePolicy, "ListModelArtifacts")["Condition"]["StringEquals"]
                    ["aws:ResourceAccount"] = json!("444455556666");
            },
            ChainStep::ExecutionRoleIdentityPolicy,
        ),
        (
            "identity research key grant",
            |d| remove(d, D::ExecutionRolePolicy, "DecryptModelArtifacts"),
            ChainStep::ExecutionRoleIdentityPolicy,
        ),
        (
            "trust principal",
            |d| {
                statement_mut(d, D::ExecutionRoleTrustPolicy, "BedrockCMITrust")["Principal"] =
                    json!({"Service": "sagemaker.amazonaws.com"});
            },
            ChainStep::TrustPolicy,
        ),
        (
            "trust source account",
            |d| {
                statement_mut(d, D::ExecutionRoleTrustPolicy, "BedrockCMITrust")["Condition"]["StringEquals"]
                    ["aws:SourceAccount"] = json!("111122223333");
            },
            ChainStep::TrustPolicy,
        ),
        (
            "trust source ARN in another Region",
            |d| {
                statement_mut(d, D::ExecutionRoleTrustPolicy, "BedrockCMITrust")["Condition"]["ArnLike"]
                    ["aws:SourceArn"] =
                    json!("arn:aws:bedrock:us-west-2:777788889999:model-import-job/*");
            },
            ChainStep::TrustPolicy,
        ),
        (
            "trust for preflight",
            |d| remove(d, D::ExecutionRoleTrustPolicy, "AllowFerryPreflight"),
            ChainStep::TrustPolicy,
        ),
        (
            "research key grant",
            |d| remove(d, D::SourceKeyPolicy, "AllowHostingExecutionRoleDecrypt"),
            ChainStep::SourceKeyPolicy,
        ),
        (
            "research key grant without DescribeKey",
            |d| {
                statement_mut(d, D::SourceKeyPolicy, "AllowHostingExecutionRoleDecrypt")["Action"] =
                    json!("kms:Decrypt");
            },
            ChainStep::SourceKeyPolicy,
        ),
        (
            "hosting key grant",
            |d| remove(d, D::HostingKeyPolicy, "AllowExecutionRoleUseOfKey"),
            ChainStep::HostingKeyPolicy,
        ),
        (
            "hosting key grant without CreateGrant",
            |d| {
                statement_mut(d, D::HostingKeyPolicy, "AllowExecutionRoleUseOfKey")["Action"] =
                    json!(["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]);
            },
            ChainStep::HostingKeyPolicy,
        ),
        (
            "PassRole",
            |d| remove(d, D::ControlRolePolicy, PASS_ROLE_SID),
            ChainStep::PassRole,
        ),
        (
            "PassRole to any service",
            |d| {
                statement_mut(d, D::ControlRolePolicy, PASS_ROLE_SID)["Condition"]["StringEquals"]
                    ["iam:PassedToService"] = json!("sagemaker.amazonaws.com");
            },
            ChainStep::PassRole,
        ),
        (
            "control role Bedrock actions",
            |d| remove(d, D::ControlRolePolicy, "ModelImport"),
            ChainStep::ControlRolePolicy,
        ),
        (
            "control role tracking actions",
            |d| remove(d, D::ControlRolePolicy, "TrackModelImports"),
            ChainStep::ControlRolePolicy,
        ),
        (
            "control role invoking imported models (the readiness check)",
            |d| remove(d, D::ControlRolePolicy, crate::INVOKE_SID),
            ChainStep::ControlRolePolicy,
        ),
        (
            "explicit deny in the bucket policy",
            |d| {
                let (_, v) = d.iter_mut().find(|(k, _)| *k == D::BucketPolicy).unwrap();
                v["Statement"].as_array_mut().unwrap().push(json!({"Sid": "DenyHosting", "Effect": "Deny",
                    "Principal": {"AWS": "arn:aws:iam::777788889999:root"}, "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::model-artifacts-111122223333/*"}));
            },
            ChainStep::BucketPolicy,
        ),
    ];
    let inputs = walkthrough(None, HOSTING_KEY);
    for (name, mutate, step) in cases {
        let mut docs = good(&inputs);
        mutate(&mut docs);
        let report = check(&inputs, &given(&docs));
        assert_eq!(
            missing_steps(&report),
            BTreeSet::from([step]),
            "{name}: {:#?}",
            report.findings
        );
        assert!(!report.is_complete());
        let f = report.of(FindingKind::Missing).next().unwrap();
        assert!(
            f.evidence.as_deref().unwrap().contains("is not authorized"),
            "{name}"
        );
        if !name.starts_with("explicit deny") {
            assert!(f.fix.is_some(), "{name}: a statement to add");
        }
    }
}

#[test]
fn a_hosting_key_policy_that_delegates_to_iam_is_enough_within_the_account() {
    // AWS's rule: a key policy allowing the account lets the identity policy grant.
    let inputs = walkthrough(None, HOSTING_KEY);
    let mut docs = good(&inputs);
    let (_, v) = docs
        .iter_mut()
        .find(|(k, _)| *k == DocumentKind::HostingKeyPolicy)
        .unwrap();
    *v = json!({"Version": "2012-10-17", "Statement": [{"Sid": "EnableIamPolicies", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::777788889999:root"}, "Action": "kms:*", "Resource": "*"}]});
    let report = check(&inputs, &given(&docs));
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    // ... but then the identity policy's key statement is required: either document can
    // carry the fix (a key statement naming the role, or the identity statement), so both
    // are named.
    remove(
        &mut docs,
        DocumentKind::ExecutionRolePolicy,
        "EncryptImportedModel",
    );
    let report = check(&inputs, &given(&docs));
    assert_eq!(
        missing_steps(&report),
        BTreeSet::from([
            ChainStep::ExecutionRoleIdentityPolicy,
            ChainStep::HostingKeyPolicy
        ])
    );
}

#[test]
fn over_grants_are_reported_without_failing_the_chain() {
    use DocumentKind as D;
    let cases: Vec<(&str, Mutation, DocumentKind, &str)> = vec![
        (
            "s3:PutObject in the bucket policy",
            |d| {
                statement_mut(d, D::BucketPolicy, "FerryImportRead")["Action"] =
                    json!(["s3:GetObject", "s3:PutObject"]);
            },
            D::BucketPolicy,
            "s3:PutObject",
        ),
        (
            "s3:* in the identity policy",
            |d| {
                statement_mut(d, D::ExecutionRolePolicy, "ReadModelArtifacts")["Action"] =
                    json!("s3:*");
            },
            D::ExecutionRolePolicy,
            "s3:*",
        ),
        (
            "Principal * in the bucket policy",
            |d| {
                statement_mut(d, D::BucketPolicy, "FerryImportRead")["Principal"] = json!("*");
            },
            D::BucketPolicy,
            "any principal",
        ),
        (
            "trust without confused-deputy conditions",
            |d| {
                statement_mut(d, D::ExecutionRoleTrustPolicy, "BedrockCMITrust")
                    .as_object_mut()
                    .unwrap()
                    .remove("Condition");
            },
            D::ExecutionRoleTrustPolicy,
            "confused deputy",
        ),
        (
            "key administration for the execution role",
            |d| {
                statement_mut(d, D::SourceKeyPolicy, "AllowHostingExecutionRoleDecrypt")["Action"] =
                    json!("kms:*");
            },
            D::SourceKeyPolicy,
            "kms:PutKeyPolicy",
        ),
    ];
    let inputs = walkthrough(None, HOSTING_KEY);
    for (name, mutate, kind, needle) in cases {
        let mut docs = good(&inputs);
        mutate(&mut docs);
        let report = check(&inputs, &given(&docs));
        assert!(report.is_complete(), "{name}: {:#?}", report.findings);
        let over: Vec<&Finding> = report.of(FindingKind::OverGrant).collect();
        assert!(
            over.iter()
                .any(|f| f.document == kind && f.detail.contains(needle) && f.statement.is_some()),
            "{name}: {over:#?}"
        );
        assert!(over.iter().all(|f| f.document == kind), "{name}: {over:#?}");
    }
}

#[test]
fn documents_not_given_are_reported_as_not_checked() {
    let inputs = walkthrough(None, HOSTING_KEY);
    let mut docs = good(&inputs);
    docs.retain(|(k, _)| {
        *k != DocumentKind::ControlRolePolicy && *k != DocumentKind::HostingKeyPolicy
    });
    let report = check(&inputs, &given(&docs));
    assert!(report.is_complete());
    let skipped: BTreeSet<DocumentKind> = report
        .of(FindingKind::NotChecked)
        .map(|f| f.document)
        .collect();
    assert_eq!(
        skipped,
        BTreeSet::from([
            DocumentKind::ControlRolePolicy,
            DocumentKind::HostingKeyPolicy
        ])
    );
}

#[test]
fn the_sim_scenario_policies_pass_the_check() {
    // The walkthrough's documents as crates/sim/src/scenario.rs seeds them.
    let inputs = walkthrough(None, HOSTING_KEY);
    let bucket = "arn:aws:s3:::model-artifacts-111122223333";
    let docs = vec![
        (
            DocumentKind::BucketPolicy,
            json!({"Version": "2012-10-17", "Statement": [{"Sid": "CrossAccountAccess", "Effect": "Allow",
            "Principal": {"AWS": ROLE}, "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": [bucket, format!("{bucket}/*")]}]}),
        ),
        (
            DocumentKind::ExecutionRolePolicy,
            json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "ReadModelArtifacts", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
             "Resource": [bucket, format!("{bucket}/*")], "Condition": {"StringEquals": {"aws:ResourceAccount": "111122223333"}}},
            {"Sid": "DecryptModelArtifacts", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": RESEARCH_KEY},
            {"Sid": "EncryptImportedModel", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"], "Resource": HOSTING_KEY}]}),
        ),
        (
            DocumentKind::ExecutionRoleTrustPolicy,
            json!({"Version": "2012-10-17", "Statement": [{"Sid": "BedrockCMITrust", "Effect": "Allow",
            "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "777788889999"},
                          "ArnEquals": {"aws:SourceArn": "arn:aws:bedrock:us-east-1:777788889999:model-import-job/*"}}},
            {"Sid": "AllowFerryPreflight", "Effect": "Allow", "Principal": {"AWS": CONTROL}, "Action": "sts:AssumeRole"}]}),
        ),
    ];
    let report = check(&inputs, &given(&docs));
    assert!(report.is_complete(), "{:#?}", report.findings);
    assert_eq!(
        report.of(FindingKind::OverGrant).count(),
        0,
        "{:#?}",
        report.findings
    );
}

const EKS_PROVIDER: &str = "arn:aws:iam::777788889999:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";

#[test]
fn the_control_role_trusts_the_eks_service_account_through_its_oidc_provider() {
    let sa = ServiceAccountTrust::from_issuer(
        "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
        "aws",
        "777788889999",
        "ferry",
        "ferry",
    )
    .unwrap();
    assert_eq!(sa.oidc_provider_arn(), EKS_PROVIDER);
    let inputs = walkthrough(None, HOSTING_KEY).with_service_account(sa, false);
    let docs = render(&inputs);
    let trust = doc(&docs, DocumentKind::ControlRoleTrustPolicy);
    let issuer = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
    assert_eq!(
        trust["Statement"][1],
        json!({
            "Sid": "FerryServiceAccount",
            "Effect": "Allow",
            "Principal": {"Federated": EKS_PROVIDER},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{issuer}:sub"): "system:serviceaccount:ferry:ferry",
                format!("{issuer}:aud"): "sts.amazonaws.com",
            }},
        })
    );
    // Ferry then assumes the control role from that session: the role trusts itself.
    assert_eq!(trust["Statement"][0]["Principal"], json!({"AWS": CONTROL}));

    // The evaluator lets exactly that service account's token in.
    let policy = trust.to_string();
    let check = |provider: &str, sub: &str, aud: &str| {
        crate::trust::check_web_identity_trust(&policy, CONTROL, "777788889999", provider, sub, aud)
    };
    check(
        EKS_PROVIDER,
        "system:serviceaccount:ferry:ferry",
        "sts.amazonaws.com",
    )
    .unwrap();
    for (provider, sub, aud) in [
        (
            EKS_PROVIDER,
            "system:serviceaccount:ferry:default",
            "sts.amazonaws.com",
        ),
        (
            EKS_PROVIDER,
            "system:serviceaccount:other:ferry",
            "sts.amazonaws.com",
        ),
        (EKS_PROVIDER, "system:serviceaccount:ferry:ferry", "ferry"),
        (
            "arn:aws:iam::777788889999:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/OTHER",
            "system:serviceaccount:ferry:ferry",
            "sts.amazonaws.com",
        ),
    ] {
        let e = check(provider, sub, aud).unwrap_err();
        assert!(e.contains("sts:AssumeRoleWithWebIdentity"), "{e}");
    }
    // Without the statement, the token is refused.
    let plain = doc(
        &render(&walkthrough(None, HOSTING_KEY)),
        DocumentKind::ControlRoleTrustPolicy,
    );
    assert!(
        crate::trust::check_web_identity_trust(
            &plain.to_string(),
            CONTROL,
            "777788889999",
            EKS_PROVIDER,
            "system:serviceaccount:ferry:ferry",
            "sts.amazonaws.com",
        )
        .is_err()
    );
}

#[test]
fn service_account_inputs_name_the_value_and_the_rule() {
    let e = ServiceAccountTrust::new("arn:aws:iam::7777:oidc-provider/x", "ferry", "ferry")
        .unwrap_err();
    assert!(e.contains("12-digit account"), "{e}");
    let e = ServiceAccountTrust::new(EKS_PROVIDER, "Ferry", "ferry").unwrap_err();
    assert!(e.starts_with("namespace \"Ferry\""), "{e}");
    let e = ServiceAccountTrust::new(EKS_PROVIDER, "ferry", "").unwrap_err();
    assert!(e.starts_with("service account name"), "{e}");
    let e =
        ServiceAccountTrust::from_issuer("http://x", "aws", "777788889999", "a", "b").unwrap_err();
    assert!(e.contains("https://"), "{e}");
}

const READER: &str = "arn:aws:iam::111122223333:role/registry/FerryRegistryReader";

fn registry(accounts: &[&str], reader: Option<&str>) -> ModelRegistry {
    ModelRegistry {
        accounts: accounts
            .iter()
            .map(|a| AccountId::parse(a).unwrap())
            .collect(),
        reader_role: reader.map(|r| RoleArn::parse(r).unwrap()),
    }
}

fn kinds(docs: &[RenderedDocument]) -> Vec<DocumentKind> {
    docs.iter().map(|d| d.kind).collect()
}

#[test]
fn teams_without_model_registry_get_no_sagemaker_grants() {
    let docs = render(&walkthrough(None, HOSTING_KEY));
    let control = doc(&docs, DocumentKind::ControlRolePolicy);
    assert!(!control.to_string().contains("sagemaker:"), "{control}");
    for kind in [
        DocumentKind::ModelPackageGroupPolicy,
        DocumentKind::RegistryReaderPolicy,
        DocumentKind::RegistryReaderTrustPolicy,
    ] {
        assert!(!kinds(&docs).contains(&kind), "{kind:?}");
    }
}

#[test]
fn without_a_reader_role_the_control_role_reads_and_the_group_policy_shares() {
    // An account of the sources (the default) and another one named explicitly.
    let inputs = with_registry(
        None,
        HOSTING_KEY,
        registry(&["111122223333", "444455556666"], None),
    );
    let docs = render(&inputs);
    let control = docs
        .iter()
        .find(|d| d.kind == DocumentKind::ControlRolePolicy)
        .unwrap();
    assert_eq!(
        control.statement(REGISTRY_SID).unwrap(),
        &json!({"Sid": "ReadModelRegistry", "Effect": "Allow",
                "Action": "sagemaker:DescribeModelPackage",
                "Resource": ["arn:aws:sagemaker:us-east-1:111122223333:model-package/*",
                             "arn:aws:sagemaker:us-east-1:444455556666:model-package/*"]})
    );
    assert!(control.statement(REGISTRY_READER_SID).is_none());
    let groups: Vec<&RenderedDocument> = docs
        .iter()
        .filter(|d| d.kind == DocumentKind::ModelPackageGroupPolicy)
        .collect();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[1].account, "444455556666");
    assert_eq!(groups[1].name, "model-package-group-policy-444455556666");
    assert_eq!(groups[1].kind.side(), AccountSide::Research);
    assert_eq!(
        groups[1].document["Statement"][0],
        json!({"Sid": "FerryReadsModelPackages", "Effect": "Allow",
               "Principal": {"AWS": CONTROL}, "Action": "sagemaker:DescribeModelPackage",
               "Resource": "arn:aws:sagemaker:us-east-1:444455556666:model-package/*/*"})
    );
    assert!(!kinds(&docs).contains(&DocumentKind::RegistryReaderPolicy));

    // The group policy lets the control role read a versioned package across accounts.
    let group = PolicyDocument::from_value(&groups[1].document).unwrap();
    let identity = PolicyDocument::from_value(&control.document).unwrap();
    let ctx = RequestContext::new(
        Principal::AssumedRole {
            account: "777788889999".into(),
            role: "FerryControlRole-777788889999".into(),
            session: "ferry".into(),
        },
        REGISTRY_ACTION,
        "arn:aws:sagemaker:us-east-1:444455556666:model-package/sample-llama/1",
        "444455556666",
    );
    assert!(
        authorize(
            &ctx,
            std::slice::from_ref(&identity),
            Some(&group),
            ResourcePolicyMode::Optional
        )
        .is_allowed()
    );
    // Without the group's policy, the account boundary denies.
    assert!(!authorize(&ctx, &[identity], None, ResourcePolicyMode::Optional).is_allowed());
}

#[test]
fn with_a_reader_role_the_control_role_assumes_it_and_the_role_is_rendered() {
    let inputs = with_registry(None, HOSTING_KEY, registry(&[], Some(READER)));
    let docs = render(&inputs);
    let control = docs
        .iter()
        .find(|d| d.kind == DocumentKind::ControlRolePolicy)
        .unwrap();
    assert_eq!(
        control.statement(REGISTRY_READER_SID).unwrap(),
        &json!({"Sid": "AssumeModelRegistryReader", "Effect": "Allow",
                "Action": "sts:AssumeRole", "Resource": READER})
    );
    assert!(control.statement(REGISTRY_SID).is_none());
    assert!(!kinds(&docs).contains(&DocumentKind::ModelPackageGroupPolicy));
    let reader = doc(&docs, DocumentKind::RegistryReaderPolicy);
    assert_eq!(
        reader["Statement"][0],
        json!({"Sid": "ReadModelPackages", "Effect": "Allow",
               "Action": "sagemaker:DescribeModelPackage",
               "Resource": "arn:aws:sagemaker:us-east-1:111122223333:model-package/*"})
    );
    let trust = docs
        .iter()
        .find(|d| d.kind == DocumentKind::RegistryReaderTrustPolicy)
        .unwrap();
    assert_eq!(trust.account, "111122223333");
    assert_eq!(trust.attached_to, READER);
    assert_eq!(
        trust.name,
        "registry-reader-trust-policy-FerryRegistryReader"
    );
    assert_eq!(
        trust.document["Statement"][0],
        json!({"Sid": "FerryControlRole", "Effect": "Allow", "Principal": {"AWS": CONTROL},
               "Action": "sts:AssumeRole"})
    );
}

#[test]
fn policy_check_names_the_missing_registry_grants_of_the_control_role() {
    for (model_registry, sid) in [
        (registry(&["111122223333"], None), REGISTRY_SID),
        (registry(&[], Some(READER)), REGISTRY_READER_SID),
    ] {
        let inputs = with_registry(None, HOSTING_KEY, model_registry);
        let docs = good(&inputs);
        let report = check(&inputs, &given(&docs));
        assert_eq!(report.findings, vec![], "{sid}");

        let mut docs = good(&inputs);
        remove(&mut docs, DocumentKind::ControlRolePolicy, sid);
        let report = check(&inputs, &given(&docs));
        let missing: Vec<&Finding> = report.of(FindingKind::Missing).collect();
        assert_eq!(missing.len(), 1, "{sid}: {:?}", report.findings);
        assert_eq!(missing[0].step, ChainStep::ControlRolePolicy);
        assert_eq!(missing[0].document, DocumentKind::ControlRolePolicy);
        assert!(
            missing[0].detail.contains(&format!("add statement {sid}")),
            "{}",
            missing[0].detail
        );
        assert_eq!(missing[0].fix.as_ref().unwrap()["Sid"], sid);
    }
}
