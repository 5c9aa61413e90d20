#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::redundant_clone,
    clippy::cloned_ref_to_slice_refs
)]

use super::*;

const RESEARCH: &str = "111122223333";
const HOSTING: &str = "777788889999";
const BUCKET: &str = "arn:aws:s3:::model-artifacts-111122223333";
const JOB: &str = "arn:aws:bedrock:us-east-1:777788889999:model-import-job/abcdefabcdef";

fn doc(json: &str) -> PolicyDocument {
    PolicyDocument::parse(json).expect("valid policy")
}

fn exec_session() -> Principal {
    Principal::AssumedRole {
        account: HOSTING.into(),
        role: "BedrockCMIExecutionRole-777788889999".into(),
        session: "import-job".into(),
    }
}

fn bucket_policy() -> PolicyDocument {
    doc(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"CrossAccountAccess","Effect":"Allow",
      "Principal":{"AWS":"arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999"},
      "Action":["s3:GetObject","s3:ListBucket"],
      "Resource":["arn:aws:s3:::model-artifacts-111122223333","arn:aws:s3:::model-artifacts-111122223333/*"]}]}"#,
    )
}

fn exec_identity() -> PolicyDocument {
    doc(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],
      "Resource":["arn:aws:s3:::model-artifacts-111122223333","arn:aws:s3:::model-artifacts-111122223333/*"],
      "Condition":{"StringEquals":{"aws:ResourceAccount":"111122223333"}}}]}"#,
    )
}

fn trust() -> PolicyDocument {
    doc(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"bedrock.amazonaws.com"},
      "Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"777788889999"},
      "ArnEquals":{"aws:SourceArn":"arn:aws:bedrock:us-east-1:777788889999:model-import-job/*"}}}]}"#,
    )
}

fn get_object(p: Principal) -> RequestContext {
    RequestContext::new(
        p,
        "s3:GetObject",
        format!("{BUCKET}/models/m/config.json"),
        RESEARCH,
    )
    .with_key("s3:ResourceAccount", RESEARCH)
}

#[test]
fn cross_account_needs_both_sides() {
    let ctx = get_object(exec_session());
    let bp = bucket_policy();
    let id = [exec_identity()];
    let mode = ResourcePolicyMode::Optional;
    assert_eq!(authorize(&ctx, &id, Some(&bp), mode), Decision::Allow);
    assert_eq!(
        authorize(&ctx, &[], Some(&bp), mode),
        Decision::Deny(DenyReason::NoIdentityPolicyAllows)
    );
    assert_eq!(
        authorize(&ctx, &id, None, mode),
        Decision::Deny(DenyReason::NoResourcePolicyAllows)
    );
    let msg = authorize(&ctx, &id, None, mode)
        .message(&ctx)
        .expect("denied");
    assert_eq!(
        msg,
        "User: arn:aws:sts::777788889999:assumed-role/BedrockCMIExecutionRole-777788889999/import-job \
         is not authorized to perform: s3:GetObject on resource: \
         arn:aws:s3:::model-artifacts-111122223333/models/m/config.json \
         because no resource-based policy allows the s3:GetObject action"
    );
}

#[test]
fn resource_account_condition_pins_the_bucket_owner() {
    // Same request against a bucket owned by another account: the identity condition fails.
    let ctx = RequestContext::new(
        exec_session(),
        "s3:GetObject",
        format!("{BUCKET}/x"),
        "444455556666",
    );
    let bp = bucket_policy();
    assert!(
        !authorize(
            &ctx,
            &[exec_identity()],
            Some(&bp),
            ResourcePolicyMode::Optional
        )
        .is_allowed()
    );
}

#[test]
fn same_account_either_side_suffices_for_s3() {
    let user = Principal::User {
        account: RESEARCH.into(),
        name: "research-admin".into(),
    };
    let ctx = get_object(user.clone());
    let admin = doc(r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#);
    assert!(authorize(&ctx, &[admin], None, ResourcePolicyMode::Optional).is_allowed());
    let named = doc(
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/research-admin"},"Action":"s3:*","Resource":"*"}]}"#,
    );
    assert!(authorize(&ctx, &[], Some(&named), ResourcePolicyMode::Optional).is_allowed());
    // Account-level principal delegates: it does not grant on its own.
    let root = doc(
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"s3:*","Resource":"*"}]}"#,
    );
    assert!(!authorize(&ctx, &[], Some(&root), ResourcePolicyMode::Optional).is_allowed());
}

#[test]
fn explicit_deny_wins_everywhere() {
    let ctx = get_object(exec_session());
    let deny_id = doc(r#"{"Statement":[{"Effect":"Deny","Action":"s3:Get*","Resource":"*"}]}"#);
    assert_eq!(
        authorize(
            &ctx,
            &[exec_identity(), deny_id],
            Some(&bucket_policy()),
            ResourcePolicyMode::Optional
        ),
        Decision::Deny(DenyReason::ExplicitDenyInIdentityPolicy)
    );
    let mut bp = bucket_policy();
    bp.statements.extend(
        doc(r#"{"Statement":[{"Effect":"Deny","Principal":{"AWS":"777788889999"},"Action":"s3:GetObject","Resource":"*"}]}"#)
            .statements,
    );
    assert_eq!(
        authorize(
            &ctx,
            &[exec_identity()],
            Some(&bp),
            ResourcePolicyMode::Optional
        ),
        Decision::Deny(DenyReason::ExplicitDenyInResourcePolicy)
    );
}

#[test]
fn trust_policy_service_principal_with_confused_deputy_conditions() {
    let role = "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999";
    let base = |acct: &str, arn: &str| {
        RequestContext::new(
            Principal::Service("bedrock.amazonaws.com".into()),
            "sts:AssumeRole",
            role,
            HOSTING,
        )
        .with_key("aws:SourceAccount", acct)
        .with_key("aws:SourceArn", arn)
    };
    let t = trust();
    let mode = ResourcePolicyMode::Required;
    assert!(authorize(&base(HOSTING, JOB), &[], Some(&t), mode).is_allowed());
    assert!(!authorize(&base(RESEARCH, JOB), &[], Some(&t), mode).is_allowed());
    let other_job = "arn:aws:bedrock:us-west-2:777788889999:model-import-job/abcdefabcdef";
    assert!(!authorize(&base(HOSTING, other_job), &[], Some(&t), mode).is_allowed());
    // Missing keys fail positive operators.
    let bare = RequestContext::new(
        Principal::Service("bedrock.amazonaws.com".into()),
        "sts:AssumeRole",
        role,
        HOSTING,
    );
    assert_eq!(
        authorize(&bare, &[], Some(&t), mode),
        Decision::Deny(DenyReason::NoResourcePolicyAllows)
    );
    // Another service is not trusted; a user is not trusted.
    let sm = RequestContext::new(
        Principal::Service("sagemaker.amazonaws.com".into()),
        "sts:AssumeRole",
        role,
        HOSTING,
    )
    .with_key("aws:SourceAccount", HOSTING)
    .with_key("aws:SourceArn", JOB);
    assert!(!authorize(&sm, &[], Some(&t), mode).is_allowed());
    let admin = Principal::User {
        account: HOSTING.into(),
        name: "hosting-admin".into(),
    };
    let all = doc(r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#);
    let u = RequestContext::new(admin, "sts:AssumeRole", role, HOSTING);
    assert!(!authorize(&u, &[all], Some(&t), mode).is_allowed());
}

#[test]
fn kms_key_policy_is_required_and_root_delegates() {
    let key = "arn:aws:kms:us-east-1:777788889999:key/11111111-2222-3333-4444-555555555555";
    let admin = Principal::User {
        account: HOSTING.into(),
        name: "hosting-admin".into(),
    };
    let all = doc(r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#);
    let ctx = RequestContext::new(admin, "kms:Decrypt", key, HOSTING);
    let root = doc(
        r#"{"Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::777788889999:root"},"Action":"kms:*","Resource":"*"}]}"#,
    );
    let mode = ResourcePolicyMode::Required;
    assert!(authorize(&ctx, &[all.clone()], Some(&root), mode).is_allowed());
    assert!(!authorize(&ctx, &[], Some(&root), mode).is_allowed());
    let empty = PolicyDocument::empty();
    assert_eq!(
        authorize(&ctx, &[all], Some(&empty), mode),
        Decision::Deny(DenyReason::NoResourcePolicyAllows)
    );
}

#[test]
fn role_arn_principal_matches_sessions_not_other_roles() {
    let bp = bucket_policy();
    let other = Principal::AssumedRole {
        account: HOSTING.into(),
        role: "Other".into(),
        session: "s".into(),
    };
    let ctx = get_object(other);
    assert_eq!(
        authorize(
            &ctx,
            &[exec_identity()],
            Some(&bp),
            ResourcePolicyMode::Optional
        ),
        Decision::Deny(DenyReason::NoResourcePolicyAllows)
    );
    let session_arn = doc(
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::777788889999:assumed-role/BedrockCMIExecutionRole-777788889999/import-job"},"Action":"s3:GetObject","Resource":"*"}]}"#,
    );
    assert!(
        authorize(
            &get_object(exec_session()),
            &[exec_identity()],
            Some(&session_arn),
            ResourcePolicyMode::Optional
        )
        .is_allowed()
    );
    let path_role = doc(
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::777788889999:role/service-role/BedrockCMIExecutionRole-777788889999"]},"Action":"s3:GetObject","Resource":"*"}]}"#,
    );
    assert!(
        authorize(
            &get_object(exec_session()),
            &[exec_identity()],
            Some(&path_role),
            ResourcePolicyMode::Optional
        )
        .is_allowed()
    );
}

#[test]
fn condition_operators_on_walkthrough_keys() {
    let list = |prefix: Option<&str>| {
        let c = RequestContext::new(exec_session(), "s3:ListBucket", BUCKET, RESEARCH)
            .with_key("s3:ResourceAccount", RESEARCH);
        match prefix {
            Some(p) => c.with_key("s3:prefix", p),
            None => c,
        }
    };
    let like = doc(
        r#"{"Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"StringLike":{"s3:prefix":["models/*","models"]},"StringEquals":{"s3:ResourceAccount":"111122223333"}}}]}"#,
    );
    let mode = ResourcePolicyMode::Optional;
    let bp = bucket_policy();
    assert!(authorize(&list(Some("models/m/")), &[like.clone()], Some(&bp), mode).is_allowed());
    assert!(!authorize(&list(Some("other/")), &[like.clone()], Some(&bp), mode).is_allowed());
    assert!(!authorize(&list(None), &[like], Some(&bp), mode).is_allowed());

    let not_like = doc(
        r#"{"Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"StringNotLike":{"s3:prefix":"secret/*"}}}]}"#,
    );
    assert!(
        authorize(&list(None), &[not_like.clone()], Some(&bp), mode).is_allowed(),
        "negated op, missing key"
    );
    assert!(!authorize(&list(Some("secret/x")), &[not_like], Some(&bp), mode).is_allowed());

    let if_exists = doc(
        r#"{"Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"StringEqualsIfExists":{"aws:SourceAccount":"1"}}}]}"#,
    );
    assert!(authorize(&list(None), &[if_exists], Some(&bp), mode).is_allowed());

    let principal_account = doc(
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"777788889999"}}}]}"#,
    );
    assert!(
        authorize(
            &list(None),
            &[exec_identity()],
            Some(&principal_account),
            mode
        )
        .is_allowed()
    );
    let wrong_account = doc(
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"123456789012"}}}]}"#,
    );
    assert!(!authorize(&list(None), &[exec_identity()], Some(&wrong_account), mode).is_allowed());

    let arn_like = doc(
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::777788889999:role/Bedrock*"}}}]}"#,
    );
    assert!(authorize(&list(None), &[exec_identity()], Some(&arn_like), mode).is_allowed());

    let null = doc(
        r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:ListBucket","Resource":"*","Condition":{"Null":{"s3:prefix":"true"}}}]}"#,
    );
    assert_eq!(
        authorize(&list(None), &[exec_identity()], Some(&null), mode),
        Decision::Deny(DenyReason::ExplicitDenyInResourcePolicy)
    );
}

#[test]
fn not_action_not_resource_not_principal() {
    let ctx = get_object(exec_session());
    let p = doc(
        r#"{"Statement":[{"Effect":"Allow","NotAction":"s3:Put*","NotResource":"arn:aws:s3:::other/*"}]}"#,
    );
    let bp = bucket_policy();
    assert!(authorize(&ctx, &[p], Some(&bp), ResourcePolicyMode::Optional).is_allowed());
    let p2 = doc(r#"{"Statement":[{"Effect":"Allow","NotAction":"s3:Get*","Resource":"*"}]}"#);
    assert!(!authorize(&ctx, &[p2], Some(&bp), ResourcePolicyMode::Optional).is_allowed());
    let deny_others = doc(
        r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999"},"Action":"s3:*","Resource":"*"}]}"#,
    );
    assert!(
        authorize(
            &ctx,
            &[exec_identity()],
            Some(&{
                let mut d = bucket_policy();
                d.statements.extend(deny_others.statements.clone());
                d
            }),
            ResourcePolicyMode::Optional
        )
        .is_allowed()
    );
    let intruder = get_object(Principal::User {
        account: HOSTING.into(),
        name: "x".into(),
    });
    assert!(
        !authorize(
            &intruder,
            &[exec_identity()],
            Some(&deny_others),
            ResourcePolicyMode::Optional
        )
        .is_allowed()
    );
}

#[test]
fn action_match_is_case_insensitive() {
    let ctx = get_object(exec_session());
    let p = doc(r#"{"Statement":[{"Effect":"Allow","Action":"S3:getobject","Resource":"*"}]}"#);
    assert!(
        authorize(
            &ctx,
            &[p],
            Some(&bucket_policy()),
            ResourcePolicyMode::Optional
        )
        .is_allowed()
    );
}

#[test]
fn not_principal_with_an_account_excludes_only_its_root() {
    let deny_all_but_hosting_root = doc(
        r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::777788889999:root"},"Action":"s3:*","Resource":"*"}]}"#,
    );
    let ctx = get_object(exec_session());
    assert_eq!(
        authorize(
            &ctx,
            &[exec_identity()],
            Some(&deny_all_but_hosting_root),
            ResourcePolicyMode::Optional
        ),
        Decision::Deny(DenyReason::ExplicitDenyInResourcePolicy)
    );
    let root = get_object(Principal::Root {
        account: HOSTING.into(),
    });
    assert_ne!(
        authorize(
            &root,
            &[],
            Some(&deny_all_but_hosting_root),
            ResourcePolicyMode::Optional
        ),
        Decision::Deny(DenyReason::ExplicitDenyInResourcePolicy)
    );
}

#[test]
fn empty_prefix_is_a_value_for_string_conditions() {
    // AWS sets s3:prefix to "" when a listing has no prefix: ["", "home/"] allows the root.
    let p = doc(
        r#"{"Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"StringEquals":{"s3:prefix":["","home/"]}}}]}"#,
    );
    let root = RequestContext::new(exec_session(), "s3:ListBucket", BUCKET, RESEARCH)
        .with_key("s3:prefix", "");
    let other = RequestContext::new(exec_session(), "s3:ListBucket", BUCKET, RESEARCH)
        .with_key("s3:prefix", "x/");
    let bp = bucket_policy();
    assert!(
        authorize(
            &root,
            std::slice::from_ref(&p),
            Some(&bp),
            ResourcePolicyMode::Optional
        )
        .is_allowed()
    );
    assert!(!authorize(&other, &[p], Some(&bp), ResourcePolicyMode::Optional).is_allowed());
}

#[test]
fn service_principal_ignores_identity_policies_and_account_principals() {
    let role = "arn:aws:iam::777788889999:role/R";
    let ctx = RequestContext::new(
        Principal::Service("bedrock.amazonaws.com".into()),
        "sts:AssumeRole",
        role,
        HOSTING,
    );
    let by_account = doc(
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"777788889999"},"Action":"sts:AssumeRole"}]}"#,
    );
    let all = doc(r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#);
    assert!(
        !authorize(
            &ctx,
            &[all],
            Some(&by_account),
            ResourcePolicyMode::Required
        )
        .is_allowed()
    );
    let star =
        doc(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}]}"#);
    assert!(authorize(&ctx, &[], Some(&star), ResourcePolicyMode::Required).is_allowed());
}
