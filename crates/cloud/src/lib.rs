//! Ferry's AWS adapters: role assumption, S3 preflight of model artifacts with cross-account
//! diagnosis, the Bedrock Custom Model Import calls, and bedrock-runtime invocations of the
//! imported models (the readiness check), and the account's inventory and Bedrock quotas.
//!
//! One [`Cloud`] holds, per hosting environment, clients built once and reused:
//!
//! - base credentials: static keys (the sim, tests) or the default chain;
//! - the environment's **control role**, assumed through `aws_config::sts::AssumeRoleProvider`
//!   (session name, optional external id), for Bedrock and as the fallback for preflight;
//! - the **execution role**, assumed from the control role's session, for preflight: Ferry reads
//!   the artifacts with exactly the rights Bedrock will use (the walkthrough's troubleshooting
//!   step, automated).
//!
//! Sessions are cached and refreshed before expiry; a call that comes back `ExpiredToken`
//! drops the environment's sessions and is sent once more. The SDK's standard retry mode with
//! [`CloudOptions::retry_max_attempts`] handles throttling and 5xx within a call; the worker
//! retries across activations ([`CallError::is_retryable`]).

mod bedrock;
pub mod calls;
mod credentials;
mod error;
pub mod inventory;
pub mod invocations;
mod preflight;
mod registry;
mod runtime;
pub mod signed;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_bedrock::error::{ProvideErrorMetadata, SdkError};
use ferry_domain::aws::{AccountId, KmsKeyRef, Region, RoleArn};
use ferry_domain::names::EnvironmentName;
use secrecy::ExposeSecret as _;

pub use bedrock::{
    CreateJob, CustomModelUnits, ImportedModelDetails, JobState, JobStatus, VpcConfig,
};
pub use error::{CallError, CloudError};
pub use ferry_domain::chain::ChainStep;
pub use ferry_domain::preflight::{Check, ModelFacts, Outcome, PreflightReport};
pub use runtime::Invocation;

use credentials::RoleCredentials;

/// How to reach AWS.
#[derive(Debug, Clone)]
pub struct CloudOptions {
    /// Endpoint for every service (the sim); `None` = AWS's own endpoints (the standard
    /// `AWS_ENDPOINT_URL*` variables still apply through aws-config).
    pub endpoint_url: Option<String>,
    /// Base credentials: `None` = aws-config's default chain; `Some` = static keys.
    pub static_credentials: Option<(String, secrecy::SecretString)>,
    /// Role session name prefix, e.g. `"ferry"`.
    pub session_name: String,
    /// Attempts per call, including the first (SDK standard retry mode). Default 3.
    pub retry_max_attempts: u32,
}

impl Default for CloudOptions {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            static_credentials: None,
            session_name: "ferry".to_owned(),
            retry_max_attempts: 3,
        }
    }
}

/// One hosting environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvTarget {
    /// Ferry's name for it.
    pub name: EnvironmentName,
    /// The hosting account.
    pub account: AccountId,
    /// The Region of its Bedrock.
    pub region: Region,
    /// Ferry's role in the account (Bedrock calls, `iam:PassRole`, assuming the execution role).
    pub control_role: RoleArn,
    /// External id the control role's trust policy requires, if any.
    pub external_id: Option<String>,
    /// Session tags for the control role's sessions (its trust policy must
    /// allow `sts:TagSession`): they show in CloudTrail and can drive ABAC.
    pub session_tags: Vec<(String, String)>,
    /// The role Bedrock assumes to read the artifacts.
    pub execution_role: RoleArn,
    /// The hosting account's key for imported models (checked by preflight, default for jobs).
    pub imported_model_kms_key: Option<KmsKeyRef>,
}

impl EnvTarget {
    /// The target for a configured environment, with no external id and no
    /// session tags (set those fields when the configuration has them).
    pub fn from_environment(env: &ferry_domain::catalog::Environment) -> Self {
        Self {
            name: env.name.clone(),
            account: env.account.clone(),
            region: env.region.clone(),
            control_role: env.control_role.clone(),
            external_id: None,
            session_tags: Vec::new(),
            execution_role: env.execution_role.clone(),
            imported_model_kms_key: env.imported_model_kms_key.clone(),
        }
    }
}

/// The SDK clients and role sessions of one hosting environment.
#[derive(Debug)]
struct EnvironmentClients {
    target: EnvTarget,
    control_creds: RoleCredentials,
    exec_creds: RoleCredentials,
    bedrock: aws_sdk_bedrock::Client,
    /// bedrock-runtime, one attempt per call (the worker retries across steps).
    runtime: aws_sdk_bedrockruntime::Client,
    control_iam: aws_sdk_iam::Client,
    /// Service Quotas, for the Bedrock quotas the account's inventory is held against.
    quotas: aws_sdk_servicequotas::Client,
    /// CloudWatch over its JSON protocol, hand-signed (`signed`), as the control role: when
    /// each imported model was last invoked.
    cloudwatch: signed::JsonClient,
    control_s3: aws_sdk_s3::Client,
    control_kms: aws_sdk_kms::Client,
    exec_s3: aws_sdk_s3::Client,
    exec_kms: aws_sdk_kms::Client,
    /// The control role's SDK configuration, for roles assumed from it (registry readers).
    control_cfg: SdkConfig,
    /// Role session name prefix.
    session_name: String,
    /// The endpoint every service is called at, when overridden (the sim).
    endpoint_url: Option<String>,
    /// For the hand-signed calls ([`signed`]).
    http: reqwest::Client,
    /// Sessions of the teams' registry reader roles, by role ARN.
    readers: tokio::sync::Mutex<HashMap<String, RoleCredentials>>,
}

impl EnvironmentClients {
    async fn invalidate(&self) {
        self.control_creds.invalidate().await;
        self.exec_creds.invalidate().await;
    }

    /// Runs `f`; when AWS says the session expired, drops the sessions and runs it once more.
    async fn call<T, E, R, F, Fut>(&self, f: F) -> Result<T, SdkError<E, R>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match f().await {
            Err(e) if error::sdk_error_is_expired(&e) => {
                tracing::info!(env = %self.target.name, "session expired; assuming the roles again");
                self.invalidate().await;
                f().await
            }
            r => r,
        }
    }
}

/// Ferry's AWS adapters for a set of hosting environments.
#[derive(Debug, Clone)]
pub struct Cloud {
    envs: Arc<HashMap<EnvironmentName, EnvironmentClients>>,
}

impl Cloud {
    /// Builds the clients and role providers of every environment. No AWS call is made: roles
    /// are assumed on first use.
    pub async fn new(options: CloudOptions, envs: Vec<EnvTarget>) -> Result<Self, CloudError> {
        if options.retry_max_attempts == 0 {
            return Err(CloudError::InvalidOptions(
                "retry_max_attempts must be at least 1".into(),
            ));
        }
        if options.session_name.is_empty() || options.session_name.len() > 50 {
            return Err(CloudError::InvalidOptions(
                "session_name must be 1 to 50 characters".into(),
            ));
        }
        let mut map = HashMap::new();
        for target in envs {
            if map.contains_key(&target.name) {
                return Err(CloudError::DuplicateEnvironment(target.name.to_string()));
            }
            let clients = build_clients(&options, target.clone()).await;
            map.insert(target.name, clients);
        }
        Ok(Self {
            envs: Arc::new(map),
        })
    }

    /// The configured environments.
    #[must_use]
    pub fn environments(&self) -> Vec<&EnvTarget> {
        self.envs.values().map(|clients| &clients.target).collect()
    }

    fn clients(&self, name: &EnvironmentName) -> Result<&EnvironmentClients, CallError> {
        self.envs
            .get(name)
            .ok_or_else(|| CallError::UnknownEnvironment(name.to_string()))
    }
}

async fn build_clients(options: &CloudOptions, target: EnvTarget) -> EnvironmentClients {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(target.region.as_str().to_owned()))
        .retry_config(RetryConfig::standard().with_max_attempts(options.retry_max_attempts));
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some((id, secret)) = &options.static_credentials {
        loader = loader.credentials_provider(Credentials::new(
            id.clone(),
            secret.expose_secret().to_owned(),
            None,
            None,
            "ferry-static",
        ));
    }
    let base = loader.load().await;

    let mut control = AssumeRoleProvider::builder(target.control_role.as_str())
        .session_name(format!("{}-{}", options.session_name, target.name));
    if let Some(id) = &target.external_id {
        control = control.external_id(id.clone());
    }
    if !target.session_tags.is_empty() {
        control = control.tags(
            target
                .session_tags
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
    }
    let control_creds = RoleCredentials::new(
        target.control_role.as_str(),
        control.configure(&base).build().await,
    );
    let control_cfg = with_credentials(&base, control_creds.clone());

    let exec = AssumeRoleProvider::builder(target.execution_role.as_str())
        .session_name(format!(
            "{}-preflight-{}",
            options.session_name, target.name
        ))
        .configure(&control_cfg)
        .build()
        .await;
    let exec_creds = RoleCredentials::new(target.execution_role.as_str(), exec);
    let exec_cfg = with_credentials(&base, exec_creds.clone());

    // Every client counts its calls (`calls::CallMetrics`).
    let path_style = options.endpoint_url.is_some();
    let s3 = |cfg: &SdkConfig| {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(cfg)
                .force_path_style(path_style)
                .interceptor(calls::CallMetrics)
                .build(),
        )
    };
    let kms = |cfg: &SdkConfig| {
        aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::config::Builder::from(cfg)
                .interceptor(calls::CallMetrics)
                .build(),
        )
    };
    EnvironmentClients {
        bedrock: aws_sdk_bedrock::Client::from_conf(
            aws_sdk_bedrock::config::Builder::from(&control_cfg)
                .interceptor(calls::CallMetrics)
                .build(),
        ),
        runtime: aws_sdk_bedrockruntime::Client::from_conf(
            aws_sdk_bedrockruntime::config::Builder::from(&control_cfg)
                .retry_config(RetryConfig::standard().with_max_attempts(1))
                .interceptor(calls::CallMetrics)
                .build(),
        ),
        control_iam: aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&control_cfg)
                .interceptor(calls::CallMetrics)
                .build(),
        ),
        quotas: aws_sdk_servicequotas::Client::from_conf(
            aws_sdk_servicequotas::config::Builder::from(&control_cfg)
                .interceptor(calls::CallMetrics)
                .build(),
        ),
        cloudwatch: signed::JsonClient::new(
            reqwest::Client::new(),
            SharedCredentialsProvider::new(control_creds.clone()),
            signed::CLOUDWATCH,
            target.region.as_str(),
            signed::resolve_endpoint(
                &signed::CLOUDWATCH,
                options.endpoint_url.as_deref(),
                target.region.as_str(),
            ),
        )
        .with_max_attempts(options.retry_max_attempts),
        control_s3: s3(&control_cfg),
        control_kms: kms(&control_cfg),
        exec_s3: s3(&exec_cfg),
        exec_kms: kms(&exec_cfg),
        endpoint_url: base.endpoint_url().map(str::to_owned),
        session_name: options.session_name.clone(),
        http: reqwest::Client::new(),
        readers: tokio::sync::Mutex::new(HashMap::new()),
        control_cfg,
        control_creds,
        exec_creds,
        target,
    }
}

/// `base` with `creds` as its credentials and no SDK identity cache ([`RoleCredentials`]
/// caches, and can be invalidated).
fn with_credentials(base: &SdkConfig, creds: RoleCredentials) -> SdkConfig {
    base.clone()
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .identity_cache(aws_config::identity::IdentityCache::no_cache())
        .build()
}

fn to_offset(t: &aws_smithy_types::DateTime) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok()
}
