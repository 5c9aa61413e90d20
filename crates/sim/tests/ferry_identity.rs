//! Ferry's own identity in the default scenario: `ferry-service` may only assume
//! `FerryControlRole-777788889999`; the control role may call the Bedrock import APIs, pass the
//! execution role to Bedrock, and assume the execution role (the trust policy's
//! `AllowFerryPreflight` statement) to read the artifacts as Bedrock will.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::*;
use ferry_sim::SimHandle;

const FERRY: &str = "ferry-service";

async fn assume(sim: &SimHandle, cfg: &aws_config::SdkConfig, role: &str) -> aws_config::SdkConfig {
    ferry_sim::sdk::assume(sim, cfg, role, "ferry").await
}

#[tokio::test]
async fn ferry_service_assumes_the_control_role_and_nothing_else() {
    let sim = start().await;
    let ferry = config_for(&sim, FERRY);
    let who = sts(&ferry).get_caller_identity().send().await.unwrap();
    assert_eq!(
        who.arn(),
        Some("arn:aws:iam::777788889999:user/ferry-service")
    );
    // Only the control role.
    sts(&ferry)
        .assume_role()
        .role_arn(env(&sim, "EXECUTION_ROLE_ARN"))
        .role_session_name("direct")
        .send()
        .await
        .expect_err("ferry-service may not assume the execution role directly");
    bedrock(&ferry)
        .list_model_import_jobs()
        .send()
        .await
        .expect_err("ferry-service has no Bedrock rights of its own");

    let control = assume(&sim, &ferry, &env(&sim, "CONTROL_ROLE_ARN")).await;
    let who = sts(&control).get_caller_identity().send().await.unwrap();
    assert!(
        who.arn()
            .unwrap()
            .starts_with("arn:aws:sts::777788889999:assumed-role/FerryControlRole-777788889999/")
    );
    // The control role imports: CreateModelImportJob + iam:PassRole on the execution role.
    let client = bedrock(&control);
    let job = create_import(&client, &sim, "ferry-job", "ferry-model", true)
        .await
        .expect("control role creates the job");
    assert_eq!(
        wait_job(&client, &job).await.status(),
        Some(&aws_sdk_bedrock::types::ModelImportJobStatus::Completed)
    );
    // The control role cannot read the artifacts itself...
    s3(&control)
        .list_objects_v2()
        .bucket(env(&sim, "ARTIFACT_BUCKET"))
        .send()
        .await
        .expect_err("the control role has no S3 rights");
    // ...but the execution role it assumes (AllowFerryPreflight) can, cross-account.
    let exec = assume(&sim, &control, &env(&sim, "EXECUTION_ROLE_ARN")).await;
    let listed = s3(&exec)
        .list_objects_v2()
        .bucket(env(&sim, "ARTIFACT_BUCKET"))
        .prefix("models/sample-llama/")
        .send()
        .await
        .expect("the execution role lists the artifacts");
    assert_eq!(listed.key_count(), Some(6));
}

#[tokio::test]
async fn the_execution_role_keeps_the_bedrock_statement_and_adds_ferrys() {
    let sim = start().await;
    let role = iam(&config_for(&sim, HOSTING_ADMIN))
        .get_role()
        .role_name(ferry_sim::EXECUTION_ROLE_NAME)
        .send()
        .await
        .unwrap();
    let doc = role.role().unwrap().assume_role_policy_document().unwrap();
    let doc: serde_json::Value = serde_json::from_str(
        &percent_encoding::percent_decode_str(doc)
            .decode_utf8()
            .unwrap(),
    )
    .unwrap();
    let stmts = doc["Statement"].as_array().unwrap();
    assert_eq!(stmts.len(), 2);
    assert_eq!(stmts[0]["Sid"], "BedrockCMITrust");
    assert_eq!(stmts[0]["Principal"]["Service"], "bedrock.amazonaws.com");
    assert_eq!(
        stmts[0]["Condition"]["StringEquals"]["aws:SourceAccount"],
        "777788889999"
    );
    assert_eq!(stmts[1]["Sid"], "AllowFerryPreflight");
    assert_eq!(
        stmts[1]["Principal"]["AWS"],
        "arn:aws:iam::777788889999:role/FerryControlRole-777788889999"
    );
    let lines = sim.env_lines();
    for key in [
        "FERRY_SERVICE_ACCESS_KEY_ID=AKIASIMFERRYSERVICE0",
        "FERRY_SERVICE_SECRET_ACCESS_KEY=",
        "CONTROL_ROLE_ARN=arn:aws:iam::777788889999:role/FerryControlRole-777788889999",
    ] {
        assert!(lines.contains(key), "{key} in {lines}");
    }
}
