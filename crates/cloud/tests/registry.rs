//! `DescribeModelPackage` through Ferry's sessions against the sim: as the control role, which
//! the group's policy must share the package with, or as a team's reader role in the research
//! account, assumed from the control role.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use common::*;
use ferry_cloud::CallError;
use ferry_cloud::signed::{JsonClient, SAGEMAKER};
use ferry_domain::aws::RoleArn;
use ferry_domain::model_package::{ApprovalStatus, ModelPackageArn, PackageArtifact};
use serde_json::{Value, json};

fn research_sagemaker(sim: &ferry_sim::SimHandle) -> JsonClient {
    let p = sim.scenario().principal("research-admin").unwrap();
    JsonClient::new(
        reqwest_client(),
        SharedCredentialsProvider::new(Credentials::new(
            p.access_key_id.clone(),
            p.secret_access_key.clone(),
            None,
            None,
            "test",
        )),
        SAGEMAKER,
        "us-east-1",
        sim.endpoint(),
    )
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn a_package_is_read_as_the_control_role_only_when_shared_or_as_the_teams_reader_role() {
    let (sim, cloud) = setup().await;
    let sm = research_sagemaker(&sim);
    // A group the research account did not share, with an approved version.
    sm.call::<_, Value>(
        "CreateModelPackageGroup",
        &json!({"ModelPackageGroupName": "private"}),
    )
    .await
    .unwrap();
    let out: Value = sm
        .call(
            "CreateModelPackage",
            &json!({"ModelPackageGroupName": "private", "ModelApprovalStatus": "Approved",
                    "InferenceSpecification": {"Containers": [{"Image": "i",
                        "ModelDataSource": {"S3DataSource": {"S3Uri": sample_uri(&sim).as_str(),
                            "S3DataType": "S3Prefix", "CompressionType": "None"}}}]}}),
        )
        .await
        .unwrap();
    let arn = ModelPackageArn::parse(out["ModelPackageArn"].as_str().unwrap()).unwrap();
    let wait = Duration::from_secs(5);

    // The control role alone: the group's policy does not share the package.
    let err = cloud
        .describe_model_package(&dev(), None, &arn, wait)
        .await
        .unwrap_err();
    match &err {
        CallError::AccessDenied { fix, .. } => {
            assert!(
                fix.as_deref()
                    .unwrap()
                    .contains("PutModelPackageGroupPolicy"),
                "{err}"
            );
        }
        other => panic!("expected access denied, got {other}"),
    }

    // A reader role in the research account that trusts the control role, and the control
    // role allowed to assume it.
    let reader = RoleArn::parse("arn:aws:iam::111122223333:role/FerryModelRegistryReader").unwrap();
    let research_iam = ferry_sim::sdk::iam(&config_for(&sim, "research-admin"));
    research_iam
        .create_role()
        .role_name("FerryModelRegistryReader")
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": env(&sim, "CONTROL_ROLE_ARN")}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    research_iam
        .put_role_policy()
        .role_name("FerryModelRegistryReader")
        .policy_name("ReadModelPackages")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": "sagemaker:DescribeModelPackage",
                "Resource": "arn:aws:sagemaker:us-east-1:111122223333:model-package/*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    ferry_sim::sdk::iam(&config_for(&sim, "hosting-admin"))
        .put_role_policy()
        .role_name("FerryControlRole-777788889999")
        .policy_name("AssumeRegistryReader")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": "sts:AssumeRole", "Resource": reader.as_str()}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();

    let facts = cloud
        .describe_model_package(&dev(), Some(&reader), &arn, wait)
        .await
        .unwrap();
    assert_eq!(facts.arn, arn);
    assert_eq!(facts.version, Some(1));
    assert_eq!(facts.approval, Some(ApprovalStatus::Approved));
    assert_eq!(
        facts.artifact,
        PackageArtifact::S3DataSource {
            uri: sample_uri(&sim).as_str().to_owned(),
            data_type: "S3Prefix".into(),
            compression: "None".into(),
        }
    );
    // Unknown versions are not found, not denied, for a reader allowed on the account's packages.
    let missing =
        ModelPackageArn::parse(&format!("{}9", &arn.as_str()[..arn.as_str().len() - 1])).unwrap();
    let err = cloud
        .describe_model_package(&dev(), Some(&reader), &missing, wait)
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::NotFound(_)), "{err}");
}
