#![allow(clippy::unwrap_used)]

use super::*;
use crate::chain::AccountSide;

const ROLE: &str = "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999";

fn call<'a>(access: Access, action: &'a str, msg: &'a str, cross: bool) -> DeniedCall<'a> {
    DeniedCall {
        access,
        action,
        resource: "arn:aws:s3:::model-artifacts-111122223333",
        aws_message: msg,
        is_cross_account: cross,
        role_arn: ROLE,
        research_account: Some("111122223333"),
        hosting_account: Some("777788889999"),
    }
}

#[test]
fn resource_policy_denials_point_at_the_research_account() {
    let d = diagnose_access_denied(&call(
        Access::SourceObjects,
        "s3:ListBucket",
        "User: x is not authorized to perform: s3:ListBucket on resource: y because no resource-based policy allows the s3:ListBucket action",
        true,
    ));
    assert_eq!(d.step, ChainStep::BucketPolicy);
    assert_eq!(d.alternative, None);
    assert!(
        d.fix.contains("111122223333") && d.fix.contains("bucket policy") && d.fix.contains(ROLE)
    );
    assert_eq!(d.step.account_side(), AccountSide::Research);

    let k = diagnose_access_denied(&call(
        Access::SourceKey,
        "kms:Decrypt",
        "... because no resource-based policy allows the kms:Decrypt action",
        true,
    ));
    assert_eq!(k.step, ChainStep::SourceKeyPolicy);
    assert!(k.fix.contains("kms:Decrypt"));
    let h = diagnose_access_denied(&call(
        Access::HostingKey,
        "kms:GenerateDataKey",
        "because no resource-based policy allows the kms:GenerateDataKey action",
        false,
    ));
    assert_eq!(h.step, ChainStep::HostingKeyPolicy);
    assert!(h.fix.contains("kms:CreateGrant") && h.fix.contains("777788889999"));
}

#[test]
fn identity_policy_denials_point_at_the_execution_role() {
    let d = diagnose_access_denied(&call(
        Access::SourceObjects,
        "s3:GetObject",
        "... because no identity-based policy allows the s3:GetObject action",
        true,
    ));
    assert_eq!(d.step, ChainStep::ExecutionRoleIdentityPolicy);
    assert!(d.fix.contains("aws:ResourceAccount = 111122223333"));
    let k = diagnose_access_denied(&call(
        Access::SourceKey,
        "kms:Decrypt",
        "because no identity-based policy allows the kms:Decrypt action",
        true,
    ));
    assert_eq!(k.step, ChainStep::ExecutionRoleIdentityPolicy);
}

#[test]
fn explicit_denies_and_vague_messages() {
    let d = diagnose_access_denied(&call(
        Access::SourceObjects,
        "s3:GetObject",
        "... with an explicit deny in a resource-based policy",
        true,
    ));
    assert_eq!(d.step, ChainStep::BucketPolicy);
    assert!(d.fix.contains("explicit Deny"));
    let d = diagnose_access_denied(&call(
        Access::SourceObjects,
        "s3:GetObject",
        "Access Denied",
        true,
    ));
    assert_eq!(d.step, ChainStep::BucketPolicy);
    assert_eq!(d.alternative, Some(ChainStep::ExecutionRoleIdentityPolicy));
    assert!(d.fix.contains("bucket policy") && d.fix.contains("identity policy"));
    let d = diagnose_access_denied(&call(
        Access::SourceObjects,
        "s3:GetObject",
        "Access Denied",
        false,
    ));
    assert_eq!(d.step, ChainStep::ExecutionRoleIdentityPolicy);
    assert_eq!(d.alternative, Some(ChainStep::BucketPolicy));
}

#[test]
fn role_and_bedrock_denials() {
    let t = diagnose_access_denied(&call(
        Access::AssumeExecutionRole,
        "sts:AssumeRole",
        "not authorized to perform: sts:AssumeRole",
        false,
    ));
    assert_eq!(t.step, ChainStep::TrustPolicy);
    assert!(t.fix.contains("trust policy") && t.fix.contains("bedrock.amazonaws.com"));
    assert_eq!(
        diagnose_access_denied(&call(Access::PassRole, "iam:PassRole", "", false)).step,
        ChainStep::PassRole
    );
    assert_eq!(
        diagnose_access_denied(&call(
            Access::Bedrock,
            "bedrock:CreateModelImportJob",
            "",
            false
        ))
        .step,
        ChainStep::ControlRolePolicy
    );
    assert_eq!(
        diagnose_access_denied(&call(
            Access::AssumeControlRole,
            "sts:AssumeRole",
            "",
            false
        ))
        .step,
        ChainStep::ControlRolePolicy
    );
}

#[test]
fn reports_round_trip_as_json() {
    let report = PreflightReport {
        checked_at: time::macros::datetime!(2026-11-28 18:00 UTC),
        checked_as: ROLE.into(),
        assumed_execution_role: true,
        checks: vec![
            Check::passed(check_names::LIST_PREFIX, "6 objects"),
            Check::failed(check_names::SOURCE_KEY, "denied")
                .with_evidence("AccessDenied: ...")
                .with_diagnosis(Diagnosis {
                    step: ChainStep::SourceKeyPolicy,
                    alternative: None,
                    fix: "add".into(),
                }),
        ],
        model: Some(ModelFacts::default()),
    };
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["checked_at"], "2026-11-28T18:00:00Z");
    assert_eq!(v["checks"][1]["outcome"], "failed");
    assert_eq!(v["checks"][1]["chain_step"], "source_key_policy");
    let back: PreflightReport = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(back, report);
    assert!(!report.passed());
    assert!(!report.failed_transiently());
    assert!(v["checks"][1].get("transient").is_none());
    assert_eq!(report.first_failure().unwrap().name, "source_key");
    let ok = PreflightReport {
        checks: vec![
            Check::warning("tokenizer", "no config"),
            Check::skipped("hosting_key", "none"),
        ],
        ..report
    };
    assert!(ok.passed());
    assert!(!ok.failed_transiently());
    let flaky = PreflightReport {
        checks: vec![Check::failed("list_prefix", "SlowDown").transient()],
        ..ok
    };
    assert!(flaky.failed_transiently());
    let v = serde_json::to_value(&flaky).unwrap();
    assert_eq!(v["checks"][0]["transient"], true);
    for s in ChainStep::ALL {
        assert!(!s.human_name().is_empty());
    }
}
