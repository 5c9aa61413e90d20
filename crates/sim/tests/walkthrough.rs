//! The walkthrough scenario imports end to end through the real SDKs.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use aws_sdk_bedrock::types::ModelImportJobStatus;
use common::*;

#[tokio::test]
async fn walkthrough_imports_end_to_end_with_kms() {
    let sim = start().await;
    let hosting = bedrock(&config_for(&sim, HOSTING_IMPORTER));
    let job = create_import(&hosting, &sim, "import-sample-llama", "sample-llama", true)
        .await
        .expect("create job");
    assert!(
        job.starts_with("arn:aws:bedrock:us-east-1:777788889999:model-import-job/"),
        "{job}"
    );
    let id = job.rsplit('/').next().unwrap();
    assert!(
        id.len() == 12
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );

    let done = wait_job(&hosting, &job).await;
    assert_eq!(
        done.status(),
        Some(&ModelImportJobStatus::Completed),
        "{:?}",
        done.failure_message()
    );
    assert!(done.end_time().is_some());
    assert_eq!(
        done.imported_model_kms_key_arn(),
        Some(env(&sim, "HOSTING_KMS_KEY_ARN").as_str())
    );
    let model_arn = done.imported_model_arn().expect("model arn").to_owned();
    assert!(model_arn.starts_with("arn:aws:bedrock:us-east-1:777788889999:imported-model/"));

    // Both identifiers work.
    let by_name = hosting
        .get_model_import_job()
        .job_identifier("import-sample-llama")
        .send()
        .await
        .expect("by name");
    assert_eq!(by_name.job_arn(), Some(job.as_str()));

    let model = hosting
        .get_imported_model()
        .model_identifier("sample-llama")
        .send()
        .await
        .expect("get model");
    assert_eq!(model.model_arn(), Some(model_arn.as_str()));
    assert_eq!(model.model_architecture(), Some("llama"));
    assert_eq!(model.instruct_supported(), Some(true));
    assert_eq!(model.job_arn(), Some(job.as_str()));
    assert_eq!(
        model.model_kms_key_arn(),
        Some(env(&sim, "HOSTING_KMS_KEY_ARN").as_str())
    );
    assert_eq!(
        model
            .custom_model_units()
            .and_then(|u| u.custom_model_units_per_model_copy()),
        Some(1)
    );

    let list = hosting
        .list_imported_models()
        .send()
        .await
        .expect("list models");
    assert_eq!(list.model_summaries().len(), 1);

    hosting
        .delete_imported_model()
        .model_identifier(&model_arn)
        .send()
        .await
        .expect("delete");
    let gone = hosting
        .get_imported_model()
        .model_identifier(&model_arn)
        .send()
        .await
        .expect_err("deleted");
    assert!(gone.into_service_error().is_resource_not_found_exception());
    sim.shutdown().await;
}

#[tokio::test]
async fn import_without_output_key_completes() {
    let sim = start().await;
    let hosting = bedrock(&config_for(&sim, HOSTING_ADMIN));
    let job = create_import(&hosting, &sim, "no-kms", "no-kms-model", false)
        .await
        .expect("create");
    let done = wait_job(&hosting, &job).await;
    assert_eq!(
        done.status(),
        Some(&ModelImportJobStatus::Completed),
        "{:?}",
        done.failure_message()
    );
    assert_eq!(done.imported_model_kms_key_arn(), None);
}

#[tokio::test]
async fn job_stays_in_progress_for_the_configured_duration() {
    let sim = start().await;
    sim.faults()
        .set_job_duration(std::time::Duration::from_millis(600));
    let hosting = bedrock(&config_for(&sim, HOSTING_ADMIN));
    let job = create_import(&hosting, &sim, "slow", "slow-model", true)
        .await
        .expect("create");
    let first = hosting
        .get_model_import_job()
        .job_identifier(&job)
        .send()
        .await
        .expect("get");
    assert_eq!(first.status(), Some(&ModelImportJobStatus::InProgress));
    assert!(first.end_time().is_none());
    let done = wait_job(&hosting, &job).await;
    assert_eq!(done.status(), Some(&ModelImportJobStatus::Completed));
}

#[tokio::test]
async fn troubleshooting_steps_of_the_walkthrough_work_by_hand() {
    // Walkthrough troubleshooting: get caller identity, allow it in the trust policy, assume
    // the execution role, list and copy the bucket.
    let sim = start().await;
    let me = sts(&config_for(&sim, HOSTING_ADMIN))
        .get_caller_identity()
        .send()
        .await
        .expect("whoami");
    assert_eq!(
        me.arn(),
        Some("arn:aws:iam::777788889999:user/hosting-admin")
    );
    assert_eq!(me.account(), Some("777788889999"));
    trust_hosting_admin(&sim).await;
    let role = exec_role_config(&sim).await;
    let who = sts(&role)
        .get_caller_identity()
        .send()
        .await
        .expect("whoami as role");
    assert_eq!(
        who.arn(),
        Some(
            "arn:aws:sts::777788889999:assumed-role/BedrockCMIExecutionRole-777788889999/troubleshooting"
        )
    );
    let s3c = s3(&role);
    let listed = s3c
        .list_objects_v2()
        .bucket(ferry_sim::ARTIFACT_BUCKET)
        .prefix(ferry_sim::SAMPLE_MODEL_PREFIX)
        .send()
        .await
        .expect("list as role");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert!(
        keys.contains(&"models/sample-llama/config.json"),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"models/sample-llama/model.safetensors"),
        "{keys:?}"
    );
    let obj = s3c
        .get_object()
        .bucket(ferry_sim::ARTIFACT_BUCKET)
        .key("models/sample-llama/config.json")
        .send()
        .await
        .expect("get as role");
    assert_eq!(
        obj.server_side_encryption().map(|s| s.as_str()),
        Some("aws:kms")
    );
    let body = obj.body.collect().await.expect("body").into_bytes();
    let config: serde_json::Value = serde_json::from_slice(&body).expect("config.json is json");
    assert_eq!(config["model_type"], "llama");
}
