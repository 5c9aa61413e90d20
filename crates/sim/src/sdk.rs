//! The real `aws-sdk-*` clients acting as a sim principal, for tests and benchmarks (feature
//! `test-support`): one place that knows the endpoint, the region, the static keys, S3's
//! path-style addressing and that a test wants the sim's first answer (no SDK retries).
//!
//! ```no_run
//! # async fn demo(sim: &ferry_sim::SimHandle) {
//! let admin = ferry_sim::sdk::config_for(sim, "research-admin");
//! let buckets = ferry_sim::sdk::s3(&admin).list_buckets().send().await;
//! # }
//! ```

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_types::retry::RetryConfig;

use crate::SimHandle;

/// The static keys of a scenario principal.
///
/// # Panics
/// When the scenario has no principal `name` (a mistake in the test).
#[must_use]
pub fn credentials(sim: &SimHandle, name: &str) -> Credentials {
    let Some(p) = sim.scenario().principal(name) else {
        panic!("the sim's scenario has no principal {name:?}");
    };
    Credentials::new(
        &p.access_key_id,
        &p.secret_access_key,
        None,
        None,
        "ferry-sim",
    )
}

/// An SDK config for the sim signed with `creds`: the sim's endpoint and region, SDK retries
/// off (a test asserts on the first answer).
#[must_use]
pub fn config(sim: &SimHandle, creds: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(sim.scenario().region.clone()))
        .endpoint_url(sim.endpoint())
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .retry_config(RetryConfig::disabled())
        .build()
}

/// An SDK config acting as the scenario principal `name` (see [`credentials`]).
#[must_use]
pub fn config_for(sim: &SimHandle, name: &str) -> SdkConfig {
    config(sim, credentials(sim, name))
}

/// An SDK config acting as a session of `role`, assumed with `from`'s rights.
///
/// # Panics
/// When STS refuses (the test expected it to allow).
pub async fn assume(sim: &SimHandle, from: &SdkConfig, role: &str, session: &str) -> SdkConfig {
    let out = match sts(from)
        .assume_role()
        .role_arn(role)
        .role_session_name(session)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => panic!("assume {role}: {:?}", e.into_service_error()),
    };
    let Some(c) = out.credentials() else {
        panic!("assume {role}: no credentials in the answer");
    };
    config(
        sim,
        Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "assumed",
        ),
    )
}

/// S3, path-style (the sim serves `http://127.0.0.1:<port>/<bucket>/<key>`).
#[must_use]
pub fn s3(cfg: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(cfg)
            .force_path_style(true)
            .build(),
    )
}

/// STS.
#[must_use]
pub fn sts(cfg: &SdkConfig) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(cfg)
}

/// IAM.
#[must_use]
pub fn iam(cfg: &SdkConfig) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(cfg)
}

/// KMS.
#[must_use]
pub fn kms(cfg: &SdkConfig) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(cfg)
}

/// Bedrock's control plane.
#[must_use]
pub fn bedrock(cfg: &SdkConfig) -> aws_sdk_bedrock::Client {
    aws_sdk_bedrock::Client::new(cfg)
}
