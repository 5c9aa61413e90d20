//! CreateModelImportJob answers as AWS does: a job name in use is `ValidationException`
//! "The provided job name is currently in use." (aws/sagemaker-python-sdk PR 6076); a role
//! Bedrock cannot assume is `ValidationException` "The provided role ARN is invalid." at create
//! time, also while an IAM change is still propagating (the `iam_propagation_ms` fault).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use aws_sdk_bedrock::error::ProvideErrorMetadata;
use common::*;

async fn create_error(sim: &ferry_sim::SimHandle, job: &str, model: &str) -> (String, String) {
    let client = bedrock(&config_for(sim, HOSTING_IMPORTER));
    let err = create_import(&client, sim, job, model, true)
        .await
        .expect_err("refused");
    let svc = err.into_service_error();
    (
        svc.code().unwrap_or_default().to_owned(),
        svc.message().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn a_job_name_in_use_is_a_validation_exception() {
    let sim = start().await;
    let client = bedrock(&config_for(&sim, HOSTING_IMPORTER));
    let job = create_import(&client, &sim, "named", "named-model", true)
        .await
        .expect("first");
    wait_job(&client, &job).await;
    let (code, message) = create_error(&sim, "named", "another-model").await;
    assert_eq!(code, "ValidationException");
    assert_eq!(message, "The provided job name is currently in use.");
}

#[tokio::test]
async fn a_role_change_still_propagating_is_an_invalid_role_until_it_lands() {
    let sim = start().await;
    sim.faults().update(|f| f.iam_propagation_ms = 600_000);
    // The policy kit (or a person) rewrites the execution role's trust policy: right after,
    // Bedrock does not see it yet.
    trust_hosting_admin(&sim).await;
    let (code, message) = create_error(&sim, "early", "early-model").await;
    assert_eq!(code, "ValidationException");
    assert_eq!(message, "The provided role ARN is invalid.");
    // Once the change has propagated, the same call works.
    sim.advance_clock(Duration::from_secs(601));
    let client = bedrock(&config_for(&sim, HOSTING_IMPORTER));
    create_import(&client, &sim, "early", "early-model", true)
        .await
        .expect("accepted once propagated");
}

#[tokio::test]
async fn validation_errors_are_worded_as_aws_words_them() {
    let sim = start().await;
    let (code, message) = create_error(&sim, "worded", "bad..name").await;
    assert_eq!(code, "ValidationException");
    assert_eq!(
        message,
        r"1 validation error detected: Value 'bad..name' at 'importedModelName' failed to satisfy constraint: Member must satisfy regular expression pattern: ([0-9a-zA-Z][_-]?)+"
    );
    let long = "a".repeat(64);
    let (_, message) = create_error(&sim, &long, "fine").await;
    assert_eq!(
        message,
        format!(
            "1 validation error detected: Value '{long}' at 'jobName' failed to satisfy constraint: Member must have length less than or equal to 63"
        )
    );
}

fn tag(k: &str, v: &str) -> aws_sdk_bedrock::types::Tag {
    aws_sdk_bedrock::types::Tag::builder()
        .key(k)
        .value(v)
        .build()
        .unwrap()
}

#[tokio::test]
async fn tags_on_jobs_and_imported_models() {
    let sim = start().await;
    let importer = bedrock(&config_for(&sim, HOSTING_IMPORTER));
    let admin = bedrock(&config_for(&sim, HOSTING_ADMIN));
    let job = importer
        .create_model_import_job()
        .job_name("tagged")
        .imported_model_name("tagged-model")
        .role_arn(env(&sim, "EXECUTION_ROLE_ARN"))
        .model_data_source(aws_sdk_bedrock::types::ModelDataSource::S3DataSource(
            aws_sdk_bedrock::types::S3DataSource::builder()
                .s3_uri(env(&sim, "SAMPLE_MODEL_URI"))
                .build()
                .unwrap(),
        ))
        .job_tags(tag("team", "research"))
        .imported_model_tags(tag("stage", "dev"))
        .send()
        .await
        .unwrap()
        .job_arn()
        .to_owned();
    let model = wait_job(&importer, &job)
        .await
        .imported_model_arn()
        .unwrap()
        .to_owned();
    let keys =
        |out: aws_sdk_bedrock::operation::list_tags_for_resource::ListTagsForResourceOutput| {
            out.tags()
                .iter()
                .map(|t| format!("{}={}", t.key(), t.value()))
                .collect::<Vec<_>>()
        };
    let listed = admin
        .list_tags_for_resource()
        .resource_arn(&job)
        .send()
        .await
        .unwrap();
    assert_eq!(keys(listed), vec!["team=research"]);
    let listed = admin
        .list_tags_for_resource()
        .resource_arn(&model)
        .send()
        .await
        .unwrap();
    assert_eq!(keys(listed), vec!["stage=dev"]);

    admin
        .tag_resource()
        .resource_arn(&model)
        .tags(tag("stage", "prod"))
        .tags(tag("owner", "alice"))
        .send()
        .await
        .unwrap();
    admin
        .untag_resource()
        .resource_arn(&model)
        .tag_keys("owner")
        .send()
        .await
        .unwrap();
    let listed = admin
        .list_tags_for_resource()
        .resource_arn(&model)
        .send()
        .await
        .unwrap();
    assert_eq!(keys(listed), vec!["stage=prod"]);

    // 50 tags per resource, existing ones included: TooManyTagsException names the resource.
    let mut many = admin.tag_resource().resource_arn(&job);
    for i in 0..50 {
        many = many.tags(tag(&format!("k{i}"), "v"));
    }
    let err = many.send().await.expect_err("51 tags").into_service_error();
    match err {
        aws_sdk_bedrock::operation::tag_resource::TagResourceError::TooManyTagsException(e) => {
            assert_eq!(e.resource_name(), Some(job.as_str()));
        }
        other => panic!("{other:?}"),
    }

    // IAM decides: the importer's policy grants no tagging.
    let err = importer
        .list_tags_for_resource()
        .resource_arn(&job)
        .send()
        .await
        .expect_err("denied")
        .into_service_error();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    // An unknown resource is ResourceNotFoundException.
    let gone = format!("{}000000000000", &job[..job.rfind('/').unwrap() + 1]);
    let err = admin
        .list_tags_for_resource()
        .resource_arn(gone)
        .send()
        .await
        .expect_err("unknown")
        .into_service_error();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn imports_are_refused_outside_the_custom_model_import_regions() {
    let mut scenario = ferry_sim::Scenario::walkthrough();
    scenario.region = "ap-south-1".to_owned();
    let sim = ferry_sim::Sim::start(ferry_sim::SimOptions {
        scenario,
        ..ferry_sim::SimOptions::default()
    })
    .await
    .expect("sim starts");
    let (code, message) = create_error(&sim, "elsewhere", "elsewhere-model").await;
    assert_eq!(code, "ValidationException");
    assert!(message.contains("ap-south-1"), "{message}");
}
