//! Configuration: built-in defaults, then a TOML file, then `FERRY_`-prefixed
//! environment variables (`FERRY_SERVER__LISTEN=0.0.0.0:8080`: `__` separates
//! levels), with `DATABASE_URL` honoured for the database. Loaded once,
//! validated at start; every error names the key at fault.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ferry_domain::aws::{AccountId, KmsKeyRef, Region, RoleArn};
use ferry_domain::catalog::{AllowedSource, Catalog, Environment, ModelReuse, Team};
use ferry_domain::names::{EnvironmentName, TeamName};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

mod oidc;
mod regions;
mod telemetry;
pub use oidc::{Audience, OidcConfig};
pub use telemetry::{OtlpConfig, OtlpExport, TelemetryConfig};

/// Top-level sections; other `FERRY_*` variables (`FERRY_CONFIG`,
/// `FERRY_URL`, `FERRY_TOKEN`) belong to the CLI, not to this file.
const SECTIONS: &[&str] = &[
    "server",
    "database",
    "log",
    "api",
    "aws",
    "worker",
    "webhooks",
    "environments",
    "teams",
    "auth",
    "metrics",
    "telemetry",
    "pricing",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub aws: AwsConfig,
    #[serde(default)]
    pub worker: WorkerConfig,
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    #[serde(default)]
    pub environments: BTreeMap<String, EnvironmentConfig>,
    #[serde(default)]
    pub teams: BTreeMap<String, TeamConfig>,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    #[serde(default)]
    pub pricing: PricingConfig,
}

/// Prometheus metrics on a listener of their own.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the metrics listener (`GET /metrics`, no auth: keep it off the
    /// public network). None (the default): no metrics listener.
    pub listen: Option<SocketAddr>,
    /// A scrape reuses the values read from Postgres for this many seconds.
    pub cache_secs: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: None,
            cache_secs: 5,
        }
    }
}

/// The price table of the model cards' cost estimates. Never fetched: Ferry ships list
/// prices written down from the Amazon Bedrock pricing page, with their date; set your own
/// (e.g. negotiated prices, other Regions) here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PricingConfig {
    /// One row per Region and `customModelUnitsVersion`; replaces the defaults when set.
    pub custom_model_units: Vec<ferry_domain::model_card::CmuPrice>,
}

impl Default for PricingConfig {
    fn default() -> Self {
        Self {
            custom_model_units: ferry_domain::model_card::default_prices(),
        }
    }
}

/// How callers authenticate besides Ferry's own tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Accept JWTs from this OIDC issuer.
    pub oidc: Option<OidcConfig>,
    /// Failed authentications a client address may make in a burst before
    /// it is answered 429; 0 turns the throttle off.
    pub max_failures: u32,
    /// Over this long an address regains all `max_failures`.
    pub failure_window_secs: u64,
    /// Proxies (CIDRs) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            oidc: None,
            max_failures: 20,
            failure_window_secs: 60,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the API listens on.
    pub listen: SocketAddr,
    /// Requests taking longer are answered 408.
    pub request_timeout_secs: u64,
    /// On SIGTERM, how long in-flight requests may take to finish.
    pub shutdown_grace_secs: u64,
    /// A request's headers must arrive within this long.
    pub header_read_timeout_secs: u64,
    /// A kept-alive connection waiting for its next request is closed after this.
    pub idle_timeout_secs: u64,
    /// Connections open at once; more wait until one closes.
    pub max_connections: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            request_timeout_secs: 30,
            shutdown_grace_secs: 20,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 1024,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://...`; `DATABASE_URL` sets it too. Never printed.
    pub url: Option<SecretString>,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter (`RUST_LOG` syntax); `RUST_LOG` overrides it.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info,sqlx=warn".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_ttl_hours: u32,
    /// How long a submit naming a SageMaker model package waits for `DescribeModelPackage`
    /// before answering 503 (at least 1).
    pub model_registry_timeout_secs: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            idempotency_ttl_hours: 24,
            model_registry_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// Send every AWS call here instead of AWS (`ferry sim`, a VPC endpoint
    /// proxy). The standard `AWS_ENDPOINT_URL*` variables work too.
    pub endpoint_url: Option<String>,
    /// Static base credentials (local setups). Without them Ferry uses the
    /// default chain: environment, web identity (IRSA), ECS/EC2 roles, profiles.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    /// Session name of the roles Ferry assumes (shows in CloudTrail).
    pub session_name: String,
    /// Attempts per AWS call, with the SDK's exponential backoff.
    pub retry_max_attempts: u32,
    /// Regions where Custom Model Import runs besides the ones Ferry knows
    /// (`ferry_domain::bedrock::CUSTOM_MODEL_IMPORT_REGIONS`): AWS adds Regions.
    pub extra_import_regions: Vec<String>,
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            access_key_id: None,
            secret_access_key: None,
            session_name: "ferry".to_owned(),
            retry_max_attempts: 3,
            extra_import_regions: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// `ferry serve` runs the worker beside the API (`ferry worker` runs it alone).
    pub enabled: bool,
    /// How long a worker's claim on a request lasts; a dead worker's requests
    /// are taken over after this.
    pub lease_secs: u64,
    /// Most requests one activation claims.
    pub batch: u32,
    /// Wake at least this often without a notification.
    pub tick_millis: u64,
    /// First and longest delay between polls of one import job; the first is
    /// also the interval of an environment's tracking sweep.
    pub poll_initial_secs: u64,
    pub poll_max_secs: u64,
    /// First and longest delay after throttling, a quota or a 5xx.
    pub retry_initial_secs: u64,
    pub retry_max_secs: u64,
    /// With this many jobs in flight in one environment, one replica per
    /// `poll_initial_secs` lists them (ListModelImportJobs) instead of
    /// polling each with GetModelImportJob.
    pub list_threshold: u32,
    /// Bedrock calls per second per hosting account and Region, all replicas together.
    pub budget_per_second: f64,
    pub budget_burst: f64,
    /// How long a submission Bedrock refuses with "The provided role ARN is invalid." is
    /// retried before the request fails: right after the policy kit creates or changes the
    /// execution role, IAM takes a while to propagate the change. 0 fails at once.
    pub role_propagation_secs: u64,
    /// How long the readiness check after an import waits for the model's first answer
    /// (Bedrock answers `ModelNotReadyException` while it loads an imported model) before the
    /// request ends `completed` with `Serving=False`.
    pub readiness_timeout_secs: u64,
    /// First and longest delay between readiness invocations the model did not answer.
    pub readiness_initial_secs: u64,
    pub readiness_max_secs: u64,
    /// Time between two inventories of a hosting account and Region (every imported model,
    /// Ferry's or not, the jobs running, Bedrock's quotas from Service Quotas). 0 turns the
    /// inventory off: the scheduler then counts Ferry's own requests against the configured
    /// quotas only.
    pub inventory_interval_secs: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            lease_secs: 60,
            batch: 32,
            tick_millis: 1000,
            poll_initial_secs: 5,
            poll_max_secs: 60,
            retry_initial_secs: 2,
            retry_max_secs: 120,
            list_threshold: 3,
            budget_per_second: 5.0,
            budget_burst: 20.0,
            role_propagation_secs: 300,
            readiness_timeout_secs: 900,
            readiness_initial_secs: 5,
            readiness_max_secs: 60,
            inventory_interval_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Accept plain `http://` receiver URLs. For local development only:
    /// messages carry no secrets, but their integrity rests on the signature alone.
    pub allow_http: bool,
    /// Seconds to wait before each retry of a failed delivery; after the
    /// last one the delivery is marked failed. The default is the schedule
    /// the Standard Webhooks spec suggests (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
    pub retry_schedule_secs: Vec<u64>,
    /// One attempt (connect, send, answer) may take this long.
    pub timeout_secs: u64,
    /// Deliveries in flight at once per replica.
    pub concurrency: u32,
    /// Networks (CIDRs) receivers may be in although they are loopback,
    /// private, link-local...: internal receivers on purpose.
    pub allow_networks: Vec<String>,
    /// Keys sealing signing secrets at rest (`<id>:<base64 32 bytes>` per
    /// line, the first sealing); `FERRY_WEBHOOK_KEY` takes precedence.
    pub secret_key_file: Option<PathBuf>,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_http: false,
            retry_schedule_secs: vec![5, 300, 1800, 7200, 18000, 36000, 36000],
            timeout_secs: 10,
            concurrency: 16,
            allow_networks: Vec::new(),
            secret_key_file: None,
        }
    }
}

/// Where an environment's Bedrock quotas come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaSource {
    /// Service Quotas' applied values (`GetServiceQuota`), read with each inventory; the
    /// configured `max_*` values apply until it answers, or when it cannot.
    #[default]
    ServiceQuotas,
    /// The configured `max_concurrent_imports` and `max_imported_models` only.
    Config,
}

/// What to do with a request that would exceed the account's imported-model limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnModelLimit {
    /// Fail it with a message saying which limit and what to delete.
    #[default]
    Refuse,
    /// Submit anyway with a warning condition (the quota may have been raised).
    Warn,
}

fn one() -> u32 {
    1
}

fn three() -> u32 {
    3
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    pub description: Option<String>,
    /// The hosting account (12 digits).
    pub account_id: AccountId,
    pub region: Region,
    /// The role Ferry assumes in the hosting account.
    pub control_role_arn: RoleArn,
    /// The role Bedrock assumes to read the artifacts.
    pub execution_role_arn: RoleArn,
    /// The hosting account's key for imported models.
    pub imported_model_kms_key: Option<KmsKeyRef>,
    #[serde(default)]
    pub requires_approval: bool,
    /// Teams allowed to target this environment; all when absent.
    pub teams: Option<Vec<TeamName>>,
    /// `sts:ExternalId` for assuming the control role, if its trust policy asks.
    pub external_id: Option<String>,
    /// Session tags on the control role's sessions (the trust policy must
    /// allow `sts:TagSession`).
    #[serde(default)]
    pub session_tags: BTreeMap<String, String>,
    /// Import jobs Ferry runs at once in this account and Region (Bedrock's
    /// quota "Concurrent model import jobs": 1).
    #[serde(default = "one")]
    pub max_concurrent_imports: u32,
    /// Imported models the account may hold (Bedrock's default quota: 3).
    #[serde(default = "three")]
    pub max_imported_models: u32,
    #[serde(default)]
    pub on_model_limit: OnModelLimit,
    /// Where the quotas come from: `service_quotas` (default; the `max_*` values are the
    /// fallback) or `config` (the `max_*` values override Service Quotas).
    #[serde(default)]
    pub quota_source: QuotaSource,
    /// Run import jobs in a VPC: both lists or neither.
    #[serde(default)]
    pub vpc_subnet_ids: Vec<String>,
    #[serde(default)]
    pub vpc_security_group_ids: Vec<String>,
    /// Refuse to promote a request out of this environment when its model did not pass the
    /// readiness check (`Serving=False`). Unset: on for promotions into an environment that
    /// requires approval.
    #[serde(default)]
    pub require_serving_for_promotion: Option<bool>,
    /// Models Ferry imported here and nobody invoked for this many days (CloudWatch's
    /// `Invocations`, else since their import) are deletion candidates; unset: none are.
    #[serde(default)]
    pub idle_after_days: Option<u32>,
    /// A request whose artifact digest matches a model already imported (or being imported)
    /// in this environment: `reuse` (default) completes by reference to it, `warn` imports
    /// again with a warning, `import` imports again.
    #[serde(default)]
    pub model_reuse: ModelReuse,
    /// A SageMaker model package as the source is imported only when it is `Approved`.
    #[serde(default = "yes")]
    pub require_approved_model_packages: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// SageMaker Model Registry packages as sources.
    #[serde(default)]
    pub model_registry: ModelRegistryConfig,
}

/// `[teams.<name>.model_registry]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRegistryConfig {
    /// Research accounts whose packages the team may import; empty: its sources' accounts.
    #[serde(default)]
    pub account_ids: Vec<AccountId>,
    /// A read-only role in the research account, assumed from the control role, to call
    /// `DescribeModelPackage` with; unset: the control role calls it (the package group's
    /// policy must allow it).
    pub reader_role_arn: Option<RoleArn>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub bucket: String,
    /// The research account that owns the bucket.
    pub account_id: AccountId,
    pub prefix: Option<String>,
    /// The research account's key encrypting the artifacts.
    pub kms_key: Option<KmsKeyRef>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("{0}")]
    Invalid(String),
}

impl ConfigError {
    fn key(key: impl std::fmt::Display, message: impl std::fmt::Display) -> Self {
        ConfigError::Invalid(format!("{key}: {message}"))
    }
}

/// Where the config file is: `--config`, else `FERRY_CONFIG`, else `ferry.toml`.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub path: PathBuf,
    /// The user named the file; it must exist.
    pub explicit: bool,
}

impl Config {
    pub fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        if source.explicit && !source.path.exists() {
            return Err(ConfigError::Missing(source.path.clone()));
        }
        Self::figment(&source.path)
            .extract::<Config>()
            .map_err(|e| ConfigError::Invalid(describe(e)))
    }

    fn figment(path: &Path) -> Figment {
        Figment::new()
            .merge(Serialized::default("server", ServerConfig::default()))
            .merge(Toml::file(path))
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.url".into()),
            )
            .merge(
                Env::prefixed("FERRY_")
                    .filter(|k| {
                        let k = k.as_str().to_ascii_lowercase();
                        SECTIONS.iter().any(|s| k.starts_with(s))
                    })
                    .split("__"),
            )
    }

    pub fn database_url(&self) -> Result<&str, ConfigError> {
        self.database
            .url
            .as_ref()
            .map(ExposeSecret::expose_secret)
            .ok_or_else(|| {
                ConfigError::key(
                    "database.url",
                    "not set: set DATABASE_URL or [database] url",
                )
            })
    }

    /// Checks the environments and teams against each other and builds the catalog.
    pub fn catalog(&self) -> Result<Catalog, ConfigError> {
        let mut teams = Vec::new();
        for (name, team) in &self.teams {
            let key = format!("teams.{name}");
            let team_name = TeamName::parse(name).map_err(|e| ConfigError::key(&key, e))?;
            let mut sources = Vec::new();
            for (i, s) in team.sources.iter().enumerate() {
                let source = AllowedSource::new(
                    &s.bucket,
                    s.account_id.clone(),
                    s.prefix.as_deref(),
                    s.kms_key.clone(),
                )
                .map_err(|e| ConfigError::key(format!("{key}.sources[{i}]"), e))?;
                sources.push(source);
            }
            teams.push(Team {
                name: team_name,
                sources,
                model_registry: ferry_domain::catalog::ModelRegistry {
                    accounts: team.model_registry.account_ids.clone(),
                    reader_role: team.model_registry.reader_role_arn.clone(),
                },
            });
        }
        let mut envs = Vec::new();
        for (name, e) in &self.environments {
            let key = format!("environments.{name}");
            let env_name =
                EnvironmentName::parse(name).map_err(|err| ConfigError::key(&key, err))?;
            if let Some(d) = &e.description {
                ferry_domain::RuleError::check_text(d, "a description", 1024)
                    .map_err(|err| ConfigError::key(format!("{key}.description"), err))?;
            }
            let vpc = if e.vpc_subnet_ids.is_empty() && e.vpc_security_group_ids.is_empty() {
                None
            } else {
                Some(
                    ferry_domain::bedrock::VpcSettings::new(
                        e.vpc_subnet_ids.clone(),
                        e.vpc_security_group_ids.clone(),
                    )
                    .map_err(|err| {
                        ConfigError::key(
                            format!("{key}.vpc_subnet_ids / vpc_security_group_ids"),
                            err,
                        )
                    })?,
                )
            };
            envs.push(Environment {
                name: env_name,
                description: e.description.clone(),
                account: e.account_id.clone(),
                region: e.region.clone(),
                control_role: e.control_role_arn.clone(),
                execution_role: e.execution_role_arn.clone(),
                imported_model_kms_key: e.imported_model_kms_key.clone(),
                requires_approval: e.requires_approval,
                teams: e.teams.clone(),
                vpc,
                require_serving_for_promotion: e.require_serving_for_promotion,
                idle_after_days: e.idle_after_days,
                require_approved_model_packages: e.require_approved_model_packages,
            });
        }
        self.check_placements()?;
        self.check_import_regions()?;
        self.check_webhooks()?;
        self.check_limits()?;
        self.webhook_keys()?;
        self.check_metrics()?;
        Catalog::new(envs, teams).map_err(|e| ConfigError::key(e.key, e.message))
    }

    /// Environments in one hosting account and Region share Bedrock's quotas,
    /// so they must declare the same limits.
    fn check_placements(&self) -> Result<(), ConfigError> {
        // The first environment seen in each account and Region, and its limits.
        type Limits<'a> = (&'a str, u32, u32, OnModelLimit, QuotaSource);
        let mut seen: BTreeMap<(String, String), Limits<'_>> = BTreeMap::new();
        for (name, e) in &self.environments {
            let key = (e.account_id.to_string(), e.region.to_string());
            let mine = (
                name.as_str(),
                e.max_concurrent_imports,
                e.max_imported_models,
                e.on_model_limit,
                e.quota_source,
            );
            if e.max_concurrent_imports == 0 {
                return Err(ConfigError::key(
                    format!("environments.{name}.max_concurrent_imports"),
                    "must be at least 1",
                ));
            }
            match seen.get(&key) {
                Some(other)
                    if (other.1, other.2, other.3, other.4) != (mine.1, mine.2, mine.3, mine.4) =>
                {
                    return Err(ConfigError::key(
                        format!("environments.{name}"),
                        format!(
                            "shares account {} in {} with environment {}, so max_concurrent_imports, \
                             max_imported_models, on_model_limit and quota_source must match",
                            key.0, key.1, other.0
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    seen.insert(key, mine);
                }
            }
        }
        Ok(())
    }

    fn check_metrics(&self) -> Result<(), ConfigError> {
        if let Some(listen) = self.metrics.listen
            && listen.port() != 0
            && listen.port() == self.server.listen.port()
            && (listen.ip() == self.server.listen.ip()
                || listen.ip().is_unspecified()
                || self.server.listen.ip().is_unspecified())
        {
            return Err(ConfigError::key(
                "metrics.listen",
                format!(
                    "{listen} is the API's address (server.listen): metrics need a port of their own"
                ),
            ));
        }
        if self.metrics.cache_secs > 300 {
            return Err(ConfigError::key("metrics.cache_secs", "at most 300"));
        }
        Ok(())
    }

    fn check_webhooks(&self) -> Result<(), ConfigError> {
        let w = &self.webhooks;
        if w.retry_schedule_secs.len() > 20 {
            return Err(ConfigError::key(
                "webhooks.retry_schedule_secs",
                "at most 20 retries",
            ));
        }
        if let Some(i) = w
            .retry_schedule_secs
            .iter()
            .position(|s| *s > 7 * 24 * 3600)
        {
            return Err(ConfigError::key(
                format!("webhooks.retry_schedule_secs[{i}]"),
                "at most 604800 (seven days)",
            ));
        }
        if !(1..=300).contains(&w.timeout_secs) {
            return Err(ConfigError::key(
                "webhooks.timeout_secs",
                "must be 1 to 300",
            ));
        }
        if !(1..=256).contains(&w.concurrency) {
            return Err(ConfigError::key("webhooks.concurrency", "must be 1 to 256"));
        }
        networks("webhooks.allow_networks", &w.allow_networks)?;
        Ok(())
    }

    fn check_limits(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        for (key, value) in [
            (
                "server.header_read_timeout_secs",
                s.header_read_timeout_secs,
            ),
            ("server.idle_timeout_secs", s.idle_timeout_secs),
        ] {
            if !(1..=3600).contains(&value) {
                return Err(ConfigError::key(key, "must be 1 to 3600"));
            }
        }
        if !(1..=1_000_000).contains(&s.max_connections) {
            return Err(ConfigError::key(
                "server.max_connections",
                "must be 1 to 1000000",
            ));
        }
        if !(1..=86_400).contains(&self.auth.failure_window_secs) {
            return Err(ConfigError::key(
                "auth.failure_window_secs",
                "must be 1 to 86400",
            ));
        }
        networks("auth.trusted_proxies", &self.auth.trusted_proxies)?;
        Ok(())
    }

    /// Limits on the API's client connections.
    pub fn connection_limits(&self) -> ferry_api::ConnectionLimits {
        ferry_api::ConnectionLimits {
            header_read_timeout: std::time::Duration::from_secs(
                self.server.header_read_timeout_secs,
            ),
            idle_timeout: std::time::Duration::from_secs(self.server.idle_timeout_secs),
            max_connections: self.server.max_connections as usize,
        }
    }

    /// The keys sealing webhook secrets: `FERRY_WEBHOOK_KEY`, else
    /// `webhooks.secret_key_file`, else none.
    pub fn webhook_keys(
        &self,
    ) -> Result<Option<std::sync::Arc<ferry_store::sealed::SecretKeys>>, ConfigError> {
        let (key, text) = match std::env::var("FERRY_WEBHOOK_KEY") {
            Ok(v) if !v.trim().is_empty() => ("FERRY_WEBHOOK_KEY".to_owned(), v),
            _ => match &self.webhooks.secret_key_file {
                Some(path) => (
                    "webhooks.secret_key_file".to_owned(),
                    std::fs::read_to_string(path).map_err(|e| {
                        ConfigError::key(
                            "webhooks.secret_key_file",
                            format!("cannot read {}: {e}", path.display()),
                        )
                    })?,
                ),
                None => return Ok(None),
            },
        };
        ferry_store::sealed::SecretKeys::parse(&text)
            .map(|k| Some(std::sync::Arc::new(k)))
            .map_err(|e| ConfigError::key(key, e))
    }

    /// Which webhook receiver addresses are admitted.
    pub fn webhook_address_policy(&self) -> ferry_domain::net::AddressPolicy {
        ferry_domain::net::AddressPolicy::new(
            networks("webhooks.allow_networks", &self.webhooks.allow_networks).unwrap_or_default(),
        )
    }

    /// How the webhook dispatcher of this process behaves.
    pub fn webhook_settings(&self, owner: String) -> ferry_worker::webhooks::WebhookSettings {
        let w = &self.webhooks;
        ferry_worker::webhooks::WebhookSettings {
            owner,
            retry_schedule: w
                .retry_schedule_secs
                .iter()
                .map(|s| std::time::Duration::from_secs(*s))
                .collect(),
            timeout: std::time::Duration::from_secs(w.timeout_secs),
            concurrency: w.concurrency as usize,
            lease: std::time::Duration::from_secs(self.worker.lease_secs.max(1)),
            tick: std::time::Duration::from_secs(5),
            address_policy: self.webhook_address_policy(),
            // Checked by `catalog()` at start.
            secret_keys: self.webhook_keys().ok().flatten(),
            ..ferry_worker::webhooks::WebhookSettings::default()
        }
    }

    /// The OIDC verifier's settings, when `[auth.oidc]` is configured.
    pub fn oidc_settings(
        &self,
        catalog: &Catalog,
    ) -> Result<Option<ferry_api::oidc::OidcSettings>, ConfigError> {
        self.auth
            .oidc
            .as_ref()
            .map(|o| o.settings(catalog))
            .transpose()
    }

    pub fn api_settings(&self) -> ferry_api::ApiSettings {
        ferry_api::ApiSettings {
            idempotency_ttl: time::Duration::hours(i64::from(self.api.idempotency_ttl_hours)),
            request_timeout: std::time::Duration::from_secs(self.server.request_timeout_secs),
            model_registry_timeout: std::time::Duration::from_secs(
                self.api.model_registry_timeout_secs.max(1),
            ),
            webhooks_allow_http: self.webhooks.allow_http,
            webhooks_address_policy: self.webhook_address_policy(),
            // Checked by `catalog()` at start.
            webhook_keys: self.webhook_keys().ok().flatten(),
            auth_throttle: std::sync::Arc::new(ferry_api::throttle::Throttle::new(
                ferry_api::throttle::ThrottleSettings {
                    max_failures: self.auth.max_failures,
                    window: std::time::Duration::from_secs(self.auth.failure_window_secs.max(1)),
                    trusted_proxies: networks("auth.trusted_proxies", &self.auth.trusted_proxies)
                        .unwrap_or_default(),
                },
            )),
        }
    }
}

/// A list of CIDRs, each error naming its index.
fn networks(key: &str, raw: &[String]) -> Result<Vec<ferry_domain::net::IpNetwork>, ConfigError> {
    raw.iter()
        .enumerate()
        .map(|(i, n)| {
            ferry_domain::net::IpNetwork::parse(n)
                .map_err(|e| ConfigError::key(format!("{key}[{i}]"), e.message))
        })
        .collect()
}

/// Figment's errors, one line each, naming the key (`environments.dev.region`).
fn describe(err: figment::Error) -> String {
    err.into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let origin = e
                .metadata
                .as_ref()
                .and_then(|m| m.source.as_ref())
                .map(|s| format!(" (from {s})"))
                .unwrap_or_default();
            if key.is_empty() {
                format!("{}{origin}", e.kind)
            } else {
                format!("{key}: {}{origin}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn load_str(toml: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.toml");
        std::fs::write(&path, toml).unwrap();
        Config::load(&ConfigSource {
            path,
            explicit: true,
        })
    }

    fn example() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../ferry.example.toml"
        ))
        .unwrap()
    }

    #[test]
    fn the_example_config_is_valid() {
        let config = load_str(&example()).unwrap();
        let catalog = config.catalog().unwrap();
        assert_eq!(catalog.environments().count(), 3);
        let prod = catalog.environment("prod").unwrap();
        assert!(prod.requires_approval);
        assert_eq!(prod.account.as_str(), "777788889999");
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = example().replacen("region = \"us-east-1\"", "region = \"mars\"", 1);
        let err = load_str(&bad).unwrap_err().to_string();
        assert!(err.contains("environments.dev.region"), "{err}");
        assert!(err.contains("not an AWS Region"), "{err}");

        let bad = example().replacen(
            "bucket = \"model-artifacts-111122223333\"",
            "bucket = \"Bad_Bucket\"",
            1,
        );
        let err = load_str(&bad).unwrap().catalog().unwrap_err().to_string();
        assert!(err.starts_with("teams.research.sources[0]"), "{err}");

        let err = load_str("[server]\nlisten = \"nope\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.listen"), "{err}");

        let err = load_str("[servr]\n").unwrap_err().to_string();
        assert!(err.contains("servr"), "{err}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own signature
    fn ferry_environment_variables_override_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("ferry.toml", "[server]\nlisten = \"127.0.0.1:1\"\n")?;
            jail.set_env("FERRY_SERVER__LISTEN", "127.0.0.1:2");
            jail.set_env("FERRY_LOG__FORMAT", "json");
            // CLI variables are not config keys and must not trip deny_unknown_fields.
            jail.set_env("FERRY_URL", "http://localhost:8080");
            jail.set_env("FERRY_TOKEN", "ferry_x");
            let c = Config::load(&ConfigSource {
                path: "ferry.toml".into(),
                explicit: true,
            })
            .unwrap();
            assert_eq!(c.server.listen.port(), 2);
            assert_eq!(c.log.format, LogFormat::Json);
            Ok(())
        });
    }

    #[test]
    fn environments_sharing_an_account_must_share_quotas() {
        let bad = example().replacen(
            "max_concurrent_imports = 1",
            "max_concurrent_imports = 2",
            1,
        );
        assert_ne!(bad, example());
        let err = load_str(&bad).unwrap().catalog().unwrap_err().to_string();
        assert!(err.contains("shares account 777788889999"), "{err}");
    }

    #[test]
    fn vpc_settings_are_checked_with_bedrock_limits() {
        let with = |subnets: &str, groups: &str| {
            example().replacen(
                "on_model_limit = \"refuse\"",
                &format!("on_model_limit = \"refuse\"\nvpc_subnet_ids = {subnets}\nvpc_security_group_ids = {groups}"),
                1,
            )
        };
        let ok = load_str(&with("[\"subnet-0abc\"]", "[\"sg-0abc\"]"))
            .unwrap()
            .catalog()
            .unwrap();
        let vpc = ok.environment("dev").unwrap().vpc.clone().unwrap();
        assert_eq!(vpc.subnet_ids, vec!["subnet-0abc"]);
        let err = load_str(&with("[\"subnet-0abc\"]", "[]"))
            .unwrap()
            .catalog()
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("environments.dev.vpc"), "{err}");
        assert!(err.contains("security_group_ids must list 1 to 5"), "{err}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own signature
    fn metrics_are_off_by_default_and_set_by_file_or_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("ferry.toml", "[metrics]\ncache_secs = 2\n")?;
            let source = ConfigSource {
                path: "ferry.toml".into(),
                explicit: true,
            };
            let c = Config::load(&source).unwrap();
            assert_eq!(c.metrics.listen, None);
            assert_eq!(c.metrics.cache_secs, 2);
            jail.set_env("FERRY_METRICS__LISTEN", "127.0.0.1:9464");
            let c = Config::load(&source).unwrap();
            assert_eq!(
                c.metrics.listen,
                Some(SocketAddr::from(([127, 0, 0, 1], 9464)))
            );
            Ok(())
        });
    }

    #[test]
    fn metrics_need_a_port_of_their_own() {
        let err = load_str(
            "[server]\nlisten = \"0.0.0.0:8080\"\n[metrics]\nlisten = \"127.0.0.1:8080\"\n",
        )
        .unwrap()
        .catalog()
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("metrics.listen: "), "{err}");
        assert!(err.contains("server.listen"), "{err}");
        load_str("[server]\nlisten = \"0.0.0.0:8080\"\n[metrics]\nlisten = \"0.0.0.0:9464\"\n")
            .unwrap()
            .catalog()
            .unwrap();
        let err = load_str("[metrics]\ncache_secs = 301\n")
            .unwrap()
            .catalog()
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("metrics.cache_secs"), "{err}");
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let err = Config::load(&ConfigSource {
            path: "/nonexistent/ferry.toml".into(),
            explicit: true,
        })
        .unwrap_err();
        assert!(matches!(err, ConfigError::Missing(_)));
    }

    #[test]
    fn secrets_do_not_print() {
        let config = load_str("[database]\nurl = \"postgres://u:hunter2@db/ferry\"\n").unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
        // DATABASE_URL, when set, overrides the file.
        let want = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://u:hunter2@db/ferry".into());
        assert_eq!(config.database_url().unwrap(), want);
    }
}
