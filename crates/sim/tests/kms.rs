//! KMS through the real SDK: keys, aliases, key policies, data keys, cross-account use.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use aws_sdk_kms::primitives::Blob;
use common::*;
use serde_json::json;

#[tokio::test]
async fn create_key_policy_round_trip_and_data_keys() {
    let sim = start().await;
    let client = kms(&config_for(&sim, RESEARCH_ADMIN));
    let created = client
        .create_key()
        .description("scratch")
        .send()
        .await
        .expect("create");
    let meta = created.key_metadata().unwrap();
    assert_eq!(meta.aws_account_id(), Some("111122223333"));
    let arn = meta.arn().unwrap().to_owned();
    assert!(arn.starts_with("arn:aws:kms:us-east-1:111122223333:key/"));
    client
        .create_alias()
        .alias_name("alias/scratch")
        .target_key_id(meta.key_id())
        .send()
        .await
        .expect("alias");
    let described = client
        .describe_key()
        .key_id("alias/scratch")
        .send()
        .await
        .expect("describe by alias");
    assert_eq!(described.key_metadata().unwrap().arn(), Some(arn.as_str()));
    let policy = client
        .get_key_policy()
        .key_id(&arn)
        .send()
        .await
        .expect("get policy");
    assert!(
        policy
            .policy()
            .unwrap()
            .contains("arn:aws:iam::111122223333:root")
    );

    let dk = client
        .generate_data_key()
        .key_id("alias/scratch")
        .number_of_bytes(32)
        .send()
        .await
        .expect("data key");
    assert_eq!(dk.plaintext().unwrap().as_ref().len(), 32);
    let dec = client
        .decrypt()
        .ciphertext_blob(dk.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .expect("decrypt");
    assert_eq!(
        dec.plaintext().unwrap().as_ref(),
        dk.plaintext().unwrap().as_ref()
    );
    assert_eq!(dec.key_id(), Some(arn.as_str()));
    let enc = client
        .encrypt()
        .key_id(&arn)
        .plaintext(Blob::new(b"secret".to_vec()))
        .send()
        .await
        .expect("encrypt");
    let dec = client
        .decrypt()
        .ciphertext_blob(enc.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .expect("decrypt");
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"secret");
    let e = client
        .decrypt()
        .ciphertext_blob(Blob::new(b"junk".to_vec()))
        .send()
        .await
        .expect_err("junk");
    assert!(e.into_service_error().is_invalid_ciphertext_exception());

    // A key policy that no longer delegates to IAM locks out even the admin.
    let locked = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/someone-else"}, "Action": "kms:*", "Resource": "*"}]});
    client
        .put_key_policy()
        .key_id(&arn)
        .policy(locked.to_string())
        .send()
        .await
        .expect("put policy");
    let e = client
        .describe_key()
        .key_id(&arn)
        .send()
        .await
        .expect_err("locked out");
    let svc = e.into_service_error();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&svc),
        Some("AccessDeniedException"),
        "{svc:?}"
    );
    let bad = client
        .create_key()
        .policy("{")
        .send()
        .await
        .expect_err("malformed");
    assert!(
        bad.into_service_error()
            .is_malformed_policy_document_exception()
    );
    let missing = client
        .describe_key()
        .key_id("alias/missing")
        .send()
        .await
        .expect_err("missing");
    assert!(missing.into_service_error().is_not_found_exception());
}

#[tokio::test]
async fn cross_account_key_use_needs_key_policy_and_identity_policy() {
    let sim = start().await;
    trust_hosting_admin(&sim).await;
    let role = kms(&exec_role_config(&sim).await);
    let research_key = env(&sim, "RESEARCH_KMS_KEY_ARN");
    // The role may describe the research key (step 3 + step 5) but only by ARN.
    role.describe_key()
        .key_id(&research_key)
        .send()
        .await
        .expect("describe cross-account by ARN");
    let e = role
        .describe_key()
        .key_id("alias/kms-cmk-111122223333")
        .send()
        .await
        .expect_err("alias is per-account");
    assert!(e.into_service_error().is_not_found_exception());
    // It may not create data keys under it (the key policy grants Decrypt/DescribeKey only).
    let e = role
        .generate_data_key()
        .key_id(&research_key)
        .number_of_bytes(16)
        .send()
        .await
        .expect_err("not granted");
    let msg = aws_sdk_kms::error::ProvideErrorMetadata::message(&e.into_service_error())
        .unwrap()
        .to_owned();
    assert!(
        msg.contains("kms:GenerateDataKey") && msg.contains(&research_key),
        "{msg}"
    );
    // The hosting key: the walkthrough's step 4 grants it.
    role.generate_data_key()
        .key_id(env(&sim, "HOSTING_KMS_KEY_ARN"))
        .number_of_bytes(32)
        .send()
        .await
        .expect("hosting key");
}
