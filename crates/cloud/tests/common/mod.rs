//! Shared helpers: a sim started in-process, a `Cloud` signed in as `ferry-service`, and a
//! research-admin S3 client to upload model variants through the real SDK.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_cloud::{Cloud, CloudOptions, EnvTarget};
use ferry_domain::aws::{AccountId, KmsKeyRef, Region, RoleArn};
use ferry_domain::bedrock::S3Uri;
use ferry_domain::names::EnvironmentName;
use ferry_sim::{Sim, SimHandle, SimOptions};
use futures::StreamExt as _;

pub fn dev() -> EnvironmentName {
    EnvironmentName::parse("dev").unwrap()
}

pub fn env(sim: &SimHandle, key: &str) -> String {
    sim.scenario().env(key).expect("scenario env").to_owned()
}

pub async fn start_sim() -> SimHandle {
    let sim = Sim::start(SimOptions::default()).await.expect("sim starts");
    sim.faults().set_job_duration(Duration::from_millis(200));
    sim
}

pub fn target(sim: &SimHandle) -> EnvTarget {
    EnvTarget {
        name: dev(),
        account: AccountId::parse("777788889999").unwrap(),
        region: Region::parse("us-east-1").unwrap(),
        control_role: RoleArn::parse(&env(sim, "CONTROL_ROLE_ARN")).unwrap(),
        external_id: None,
        session_tags: Vec::new(),
        execution_role: RoleArn::parse(&env(sim, "EXECUTION_ROLE_ARN")).unwrap(),
        imported_model_kms_key: Some(KmsKeyRef::parse(&env(sim, "HOSTING_KMS_KEY_ARN")).unwrap()),
    }
}

pub fn options(sim: &SimHandle, retries: u32) -> CloudOptions {
    let p = sim
        .scenario()
        .principal("ferry-service")
        .expect("ferry-service");
    CloudOptions {
        endpoint_url: Some(sim.endpoint()),
        static_credentials: Some((
            p.access_key_id.clone(),
            secrecy::SecretString::from(p.secret_access_key.clone()),
        )),
        session_name: "ferry".into(),
        retry_max_attempts: retries,
    }
}

pub async fn cloud(sim: &SimHandle, retries: u32) -> Cloud {
    Cloud::new(options(sim, retries), vec![target(sim)])
        .await
        .expect("cloud")
}

pub async fn setup() -> (SimHandle, Cloud) {
    let sim = start_sim().await;
    let c = cloud(&sim, 2).await;
    (sim, c)
}

pub fn sample_uri(sim: &SimHandle) -> S3Uri {
    S3Uri::parse(&env(sim, "SAMPLE_MODEL_URI")).unwrap()
}

pub use ferry_sim::sdk::config_for;

/// Uploads `files` under `prefix` of the artifact bucket as research-admin; returns the URI.
pub async fn upload(sim: &SimHandle, prefix: &str, files: &BTreeMap<String, Vec<u8>>) -> S3Uri {
    let s3 = ferry_sim::sdk::s3(&config_for(sim, "research-admin"));
    let bucket = env(sim, "ARTIFACT_BUCKET");
    let puts = files.iter().map(|(name, data)| {
        s3.put_object()
            .bucket(&bucket)
            .key(format!("{prefix}{name}"))
            .body(data.clone().into())
            .send()
    });
    let results: Vec<_> = futures::stream::iter(puts)
        .buffer_unordered(16)
        .collect()
        .await;
    for r in results {
        r.expect("upload");
    }
    S3Uri::parse(&format!("s3://{bucket}/{prefix}")).unwrap()
}
