//! Shared helpers: a sim per test and real SDK clients pointed at it.
#![allow(dead_code, unreachable_pub, clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_bedrock::types::{ModelDataSource, ModelImportJobStatus, S3DataSource};
use ferry_sim::{FaultConfig, Sim, SimHandle, SimOptions};

pub const RESEARCH_ADMIN: &str = "research-admin";
pub const HOSTING_ADMIN: &str = "hosting-admin";
pub const HOSTING_IMPORTER: &str = "hosting-importer";

/// A sim with the walkthrough scenario and instant import jobs.
pub async fn start() -> SimHandle {
    let faults = FaultConfig {
        job_duration_ms: 0,
        ..FaultConfig::default()
    };
    Sim::start(SimOptions {
        faults,
        ..SimOptions::default()
    })
    .await
    .expect("sim starts")
}

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use ferry_sim::sdk::{bedrock, config as static_config, config_for, iam, kms, s3, sts};

pub fn env(sim: &SimHandle, key: &str) -> String {
    sim.scenario()
        .env(key)
        .expect("scenario env key")
        .to_owned()
}

/// Lets `user` (hosting account) assume the execution role, as the walkthrough's
/// troubleshooting section does, keeping the Bedrock statement.
pub async fn trust_hosting_admin(sim: &SimHandle) {
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "BedrockCMITrust", "Effect": "Allow", "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole",
         "Condition": {"StringEquals": {"aws:SourceAccount": "777788889999"},
                       "ArnEquals": {"aws:SourceArn": "arn:aws:bedrock:us-east-1:777788889999:model-import-job/*"}}},
        {"Sid": "Troubleshooting", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::777788889999:user/hosting-admin"}, "Action": "sts:AssumeRole"}
    ]});
    iam(&config_for(sim, HOSTING_ADMIN))
        .update_assume_role_policy()
        .role_name(ferry_sim::EXECUTION_ROLE_NAME)
        .policy_document(policy.to_string())
        .send()
        .await
        .expect("update trust policy");
}

/// Credentials of an execution-role session assumed by hosting-admin.
pub async fn exec_role_config(sim: &SimHandle) -> SdkConfig {
    ferry_sim::sdk::assume(
        sim,
        &config_for(sim, HOSTING_ADMIN),
        &env(sim, "EXECUTION_ROLE_ARN"),
        "troubleshooting",
    )
    .await
}

/// Starts an import of the sample model as hosting-importer.
pub async fn create_import(
    client: &aws_sdk_bedrock::Client,
    sim: &SimHandle,
    job_name: &str,
    model_name: &str,
    kms: bool,
) -> Result<
    String,
    aws_sdk_bedrock::error::SdkError<
        aws_sdk_bedrock::operation::create_model_import_job::CreateModelImportJobError,
    >,
> {
    let mut req = client
        .create_model_import_job()
        .job_name(job_name)
        .imported_model_name(model_name)
        .role_arn(env(sim, "EXECUTION_ROLE_ARN"))
        .model_data_source(ModelDataSource::S3DataSource(
            S3DataSource::builder()
                .s3_uri(env(sim, "SAMPLE_MODEL_URI"))
                .build()
                .expect("s3 data source"),
        ));
    if kms {
        req = req.imported_model_kms_key_id(env(sim, "HOSTING_KMS_KEY_ARN"));
    }
    req.send().await.map(|o| o.job_arn().to_owned())
}

/// Polls until the job leaves InProgress.
pub async fn wait_job(
    client: &aws_sdk_bedrock::Client,
    job: &str,
) -> aws_sdk_bedrock::operation::get_model_import_job::GetModelImportJobOutput {
    for _ in 0..200 {
        let out = client
            .get_model_import_job()
            .job_identifier(job)
            .send()
            .await
            .expect("get job");
        match out.status() {
            Some(ModelImportJobStatus::InProgress) => {
                tokio::time::sleep(Duration::from_millis(25)).await
            }
            _ => return out,
        }
    }
    panic!("job {job} still in progress");
}
