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
