//! Identity: signatures are verified, unknown keys and expired sessions rejected, sessions map
//! to assumed-role principals, and trust-policy conditions apply to AssumeRole.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use aws_credential_types::Credentials;
use common::*;
use serde_json::json;

fn wrong_secret(sim: &ferry_sim::SimHandle, user: &str) -> aws_config::SdkConfig {
    let p = sim.scenario().principal(user).unwrap();
    static_config(
        sim,
        Credentials::new(&p.access_key_id, "not-the-secret", None, None, "test"),
    )
}

#[tokio::test]
async fn wrong_signature_is_rejected_by_every_service() {
    let sim = start().await;
    let cfg = wrong_secret(&sim, HOSTING_ADMIN);

    let e = sts(&cfg)
        .get_caller_identity()
        .send()
        .await
        .expect_err("sts");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("SignatureDoesNotMatch")
    );

    let e = s3(&cfg)
        .list_objects_v2()
        .bucket(ferry_sim::ARTIFACT_BUCKET)
        .send()
        .await
        .expect_err("s3");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("SignatureDoesNotMatch")
    );

    let e = iam(&cfg)
        .get_role()
        .role_name(ferry_sim::EXECUTION_ROLE_NAME)
        .send()
        .await
        .expect_err("iam");
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("SignatureDoesNotMatch")
    );

    let e = kms(&cfg)
        .describe_key()
        .key_id(env(&sim, "HOSTING_KMS_KEY_ARN"))
        .send()
        .await
        .expect_err("kms");
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("InvalidSignatureException")
    );

    let e = bedrock(&cfg)
        .list_model_import_jobs()
        .send()
        .await
        .expect_err("bedrock");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(
        aws_sdk_bedrock::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("InvalidSignatureException")
    );

    // A tampered session token on a real session is rejected too.
    trust_hosting_admin(&sim).await;
    let out = sts(&config_for(&sim, HOSTING_ADMIN))
        .assume_role()
        .role_arn(env(&sim, "EXECUTION_ROLE_ARN"))
        .role_session_name("forge-test")
        .send()
        .await
        .expect("assume");
    let c = out.credentials().unwrap();
    let forged = static_config(
        &sim,
        Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some("forged".into()),
            None,
            "t",
        ),
    );
    let e = sts(&forged)
        .get_caller_identity()
        .send()
        .await
        .expect_err("forged token");
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("InvalidClientTokenId")
    );
}

#[tokio::test]
async fn unknown_access_key_is_rejected() {
    let sim = start().await;
    let cfg = static_config(
        &sim,
        Credentials::new("AKIAUNKNOWNKEY000000", "x", None, None, "test"),
    );
    let e = sts(&cfg)
        .get_caller_identity()
        .send()
        .await
        .expect_err("sts");
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("InvalidClientTokenId")
    );
    let e = s3(&cfg)
        .get_object()
        .bucket(ferry_sim::ARTIFACT_BUCKET)
        .key("x")
        .send()
        .await
        .expect_err("s3");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("InvalidAccessKeyId")
    );
    let e = bedrock(&cfg)
        .list_imported_models()
        .send()
        .await
        .expect_err("bedrock");
    assert_eq!(
        aws_sdk_bedrock::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("UnrecognizedClientException")
    );
}

#[tokio::test]
async fn unsigned_requests_are_rejected() {
    let sim = start().await;
    let resp = reqwest::get(format!(
        "{}/{}/?list-type=2",
        sim.endpoint(),
        ferry_sim::ARTIFACT_BUCKET
    ))
    .await
    .expect("http");
    assert_eq!(resp.status().as_u16(), 403);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("<Code>AccessDenied</Code>")
    );
}

#[tokio::test]
async fn assumed_sessions_have_the_right_identity_duration_and_expiry() {
    let sim = start().await;
    trust_hosting_admin(&sim).await;
    let out = sts(&config_for(&sim, HOSTING_ADMIN))
        .assume_role()
        .role_arn(env(&sim, "EXECUTION_ROLE_ARN"))
        .role_session_name("ferry-preflight")
        .duration_seconds(900)
        .send()
        .await
        .expect("assume");
    let user = out.assumed_role_user().unwrap();
    assert_eq!(
        user.arn(),
        "arn:aws:sts::777788889999:assumed-role/BedrockCMIExecutionRole-777788889999/ferry-preflight"
    );
    assert!(
        user.assumed_role_id().starts_with("AROA")
            && user.assumed_role_id().ends_with(":ferry-preflight")
    );
    let c = out.credentials().unwrap();
    assert!(c.access_key_id().starts_with("ASIA"));
    let left = c.expiration().secs()
        - std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
    assert!((880..=905).contains(&left), "expires in {left}s");

    let session = static_config(
        &sim,
        Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "s",
        ),
    );
    sts(&session)
        .get_caller_identity()
        .send()
        .await
        .expect("valid session");
    sim.advance_clock(Duration::from_secs(901));
    let e = sts(&session)
        .get_caller_identity()
        .send()
        .await
        .expect_err("expired");
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("ExpiredToken")
    );
    let e = s3(&session)
        .list_objects_v2()
        .bucket(ferry_sim::ARTIFACT_BUCKET)
        .send()
        .await
        .expect_err("expired");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("ExpiredToken")
    );

    // Longer than the role allows.
    let e = sts(&config_for(&sim, HOSTING_ADMIN))
        .assume_role()
        .role_arn(env(&sim, "EXECUTION_ROLE_ARN"))
        .role_session_name("too-long")
        .duration_seconds(7200)
        .send()
        .await
        .expect_err("too long");
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("ValidationError")
    );
    // Bad session name.
    let e = sts(&config_for(&sim, HOSTING_ADMIN))
        .assume_role()
        .role_arn(env(&sim, "EXECUTION_ROLE_ARN"))
        .role_session_name("bad name!")
        .send()
        .await
        .expect_err("bad name");
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("ValidationError")
    );
}

#[tokio::test]
async fn external_id_and_cross_account_role_assumption() {
    let sim = start().await;
    // A role in the hosting account that research-admin may assume only with an external id.
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "ferry-7f3a"}}}]});
    let created = iam(&config_for(&sim, HOSTING_ADMIN))
        .create_role()
        .role_name("FerryPreflight")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("create role");
    let role = created.role().unwrap();
    assert_eq!(role.arn(), "arn:aws:iam::777788889999:role/FerryPreflight");
    let research = sts(&config_for(&sim, RESEARCH_ADMIN));
    let denied = research
        .assume_role()
        .role_arn(role.arn())
        .role_session_name("cross")
        .send()
        .await
        .expect_err("no external id");
    let svc = denied.into_service_error();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&svc),
        Some("AccessDenied")
    );
    assert!(
        aws_sdk_sts::error::ProvideErrorMetadata::message(&svc)
            .unwrap()
            .contains("sts:AssumeRole")
    );
    let wrong = research
        .assume_role()
        .role_arn(role.arn())
        .role_session_name("cross")
        .external_id("nope-nope")
        .send()
        .await;
    assert!(wrong.is_err());
    let ok = research
        .assume_role()
        .role_arn(role.arn())
        .role_session_name("cross")
        .external_id("ferry-7f3a")
        .send()
        .await
        .expect("assume with external id");
    assert_eq!(
        ok.assumed_role_user().unwrap().arn(),
        "arn:aws:sts::777788889999:assumed-role/FerryPreflight/cross"
    );

    // Account-root trust delegates to the caller's identity policies: a research principal
    // without sts:AssumeRole is denied even with the right external id.
    iam(&config_for(&sim, RESEARCH_ADMIN))
        .put_user_policy()
        .user_name("research-admin")
        .policy_name("NoAssume")
        .policy_document(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*"}]}).to_string())
        .send()
        .await
        .expect("put user policy");
    let e = research
        .assume_role()
        .role_arn(role.arn())
        .role_session_name("cross")
        .external_id("ferry-7f3a")
        .send()
        .await
        .expect_err("explicit deny");
    let msg = aws_sdk_sts::error::ProvideErrorMetadata::message(&e.into_service_error())
        .unwrap()
        .to_owned();
    assert!(
        msg.contains("explicit deny in an identity-based policy"),
        "{msg}"
    );
}

#[tokio::test]
async fn iam_role_and_policy_round_trip() {
    let sim = start().await;
    let client = iam(&config_for(&sim, HOSTING_ADMIN));
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    client
        .create_role()
        .role_name("R")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("create");
    let dup = client
        .create_role()
        .role_name("R")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect_err("dup");
    assert!(
        dup.into_service_error()
            .is_entity_already_exists_exception()
    );
    let bad = client
        .create_role()
        .role_name("B")
        .assume_role_policy_document("{not json")
        .send()
        .await
        .expect_err("malformed");
    assert!(
        bad.into_service_error()
            .is_malformed_policy_document_exception()
    );
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}).to_string();
    client
        .put_role_policy()
        .role_name("R")
        .policy_name("P")
        .policy_document(&doc)
        .send()
        .await
        .expect("put");
    let got = client
        .get_role_policy()
        .role_name("R")
        .policy_name("P")
        .send()
        .await
        .expect("get");
    assert!(
        got.policy_document().contains("s3%3AGetObject"),
        "IAM returns URL-encoded documents: {}",
        got.policy_document()
    );
    client
        .delete_role_policy()
        .role_name("R")
        .policy_name("P")
        .send()
        .await
        .expect("delete");
    let gone = client
        .get_role_policy()
        .role_name("R")
        .policy_name("P")
        .send()
        .await
        .expect_err("gone");
    assert!(gone.into_service_error().is_no_such_entity_exception());
    let missing = client
        .update_assume_role_policy()
        .role_name("Nope")
        .policy_document(trust.to_string())
        .send()
        .await
        .expect_err("missing");
    assert!(missing.into_service_error().is_no_such_entity_exception());
    // The importer has no IAM rights.
    let e = iam(&config_for(&sim, HOSTING_IMPORTER))
        .put_role_policy()
        .role_name("R")
        .policy_name("P")
        .policy_document(&doc)
        .send()
        .await
        .expect_err("denied");
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("AccessDenied")
    );
}

#[tokio::test]
async fn aws_config_assume_role_provider_works_against_the_sim() {
    // The production path: aws_config's AssumeRoleProvider (cached, refreshing credentials)
    // with an external id, feeding S3 and Bedrock clients.
    let sim = start().await;
    let trust = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::777788889999:user/hosting-admin"}, "Action": "sts:AssumeRole",
         "Condition": {"StringEquals": {"sts:ExternalId": "ferry-prod"}}}]});
    iam(&config_for(&sim, HOSTING_ADMIN))
        .update_assume_role_policy()
        .role_name(ferry_sim::EXECUTION_ROLE_NAME)
        .policy_document(trust.to_string())
        .send()
        .await
        .expect("trust");
    // What a service loads in production: aws_config defaults (time source, sleep, ...), here
    // with the sim's endpoint and a static key instead of the environment.
    let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(sim.endpoint())
        .credentials_provider(ferry_sim::sdk::credentials(&sim, HOSTING_ADMIN))
        .load()
        .await;
    let provider = aws_config::sts::AssumeRoleProvider::builder(env(&sim, "EXECUTION_ROLE_ARN"))
        .session_name("ferry-worker")
        .external_id("ferry-prod")
        .session_length(Duration::from_secs(900))
        .configure(&base)
        .build()
        .await;
    let provider = aws_credential_types::provider::SharedCredentialsProvider::new(provider);
    let s3c = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&base)
            .credentials_provider(provider.clone())
            .force_path_style(true)
            .build(),
    );
    let listed = s3c
        .list_objects_v2()
        .bucket(ferry_sim::ARTIFACT_BUCKET)
        .prefix(ferry_sim::SAMPLE_MODEL_PREFIX)
        .send()
        .await
        .expect("list via provider");
    assert_eq!(listed.key_count(), Some(6));
    let stsc = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&base)
            .credentials_provider(provider)
            .build(),
    );
    let who = stsc.get_caller_identity().send().await.expect("whoami");
    assert_eq!(
        who.arn(),
        Some(
            "arn:aws:sts::777788889999:assumed-role/BedrockCMIExecutionRole-777788889999/ferry-worker"
        )
    );
}
