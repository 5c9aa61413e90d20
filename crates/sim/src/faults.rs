//! Fault injection: throttling past a TPS, a 5xx rate and added latency per operation, plus the
//! import job duration and Bedrock quotas. Settable at start and at run time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Faults for the operations a rule key selects.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRule {
    /// Requests per second allowed before the service throttles (Bedrock: 429
    /// `ThrottlingException`; S3: 503 `SlowDown`; STS/IAM: 400 `Throttling`; KMS: 400
    /// `ThrottlingException`). `None`: no limit; `Some(0)`: throttle everything.
    pub throttle_tps: Option<u32>,
    /// Fraction (0.0–1.0) of requests answered with a 500 `InternalServerError`-like error.
    pub error_rate: f64,
    /// Latency added before the request is handled, in milliseconds.
    pub latency_ms: u64,
    /// Bedrock only: delay after the request was handled and before the
    /// answer is sent, in milliseconds. A client killed in this window has
    /// had its call take effect without seeing the result, the crash that
    /// `clientRequestToken` exists for.
    pub response_delay_ms: u64,
}

/// The fault configuration. Rule keys are `service:Operation` (`bedrock:CreateModelImportJob`,
/// `s3:GetObject`), `service:*`, or `*`; the most specific key wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Rules by key.
    pub rules: BTreeMap<String, FaultRule>,
    /// How long an import job stays `InProgress`, in milliseconds.
    pub job_duration_ms: u64,
    /// Bedrock quota: import jobs `InProgress` at once per account (AWS: 1).
    pub max_concurrent_import_jobs: usize,
    /// Bedrock quota: imported models per account (AWS default: 3).
    pub max_imported_models: usize,
    /// Report this status for running import jobs instead of `InProgress`
    /// (a value newer than the client's API model), to test how clients cope.
    pub reported_status: Option<String>,
    /// IAM is eventually consistent: for this long after a role is created or its trust or
    /// inline policies change through the IAM API, Bedrock does not see the change yet, and
    /// CreateModelImportJob answers `ValidationException` "The provided role ARN is invalid."
    /// (IAM user guide, "Troubleshooting IAM": "changes that I make are not always immediately
    /// visible"; the Bedrock API reference lists ValidationException for CreateModelImportJob).
    /// 0 (the default): changes are effective at once.
    pub iam_propagation_ms: u64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            rules: BTreeMap::new(),
            job_duration_ms: 3_000,
            max_concurrent_import_jobs: 1,
            max_imported_models: 3,
            reported_status: None,
            iam_propagation_ms: 0,
        }
    }
}

impl FaultConfig {
    fn rule_for(&self, service: &str, op: &str) -> Option<&FaultRule> {
        self.rules
            .get(&format!("{service}:{op}"))
            .or_else(|| self.rules.get(&format!("{service}:*")))
            .or_else(|| self.rules.get("*"))
    }
}

/// What a request should suffer before it is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injected {
    None,
    Throttle,
    ServerError,
}

/// Live fault state shared by the server and [`crate::SimHandle::faults`].
#[derive(Debug, Default)]
pub struct Faults {
    config: Mutex<FaultConfig>,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
    calls: Mutex<BTreeMap<String, u64>>,
}

impl Faults {
    pub(crate) fn new(config: FaultConfig) -> Self {
        Self {
            config: Mutex::new(config),
            windows: Mutex::new(HashMap::new()),
            calls: Mutex::new(BTreeMap::new()),
        }
    }

    /// Requests received per `service:Operation` since the start (throttled
    /// and failed ones included): what a benchmark reports as API calls.
    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The current configuration.
    pub fn get(&self) -> FaultConfig {
        self.config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the configuration (throttle windows restart).
    pub fn set(&self, config: FaultConfig) {
        *self
            .config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = config;
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// Changes the configuration in place.
    pub fn update(&self, f: impl FnOnce(&mut FaultConfig)) {
        let mut cfg = self.get();
        f(&mut cfg);
        self.set(cfg);
    }

    /// Sets (or with `None` removes) the rule for `key`.
    pub fn set_rule(&self, key: &str, rule: Option<FaultRule>) {
        self.update(|c| {
            match rule {
                Some(r) => c.rules.insert(key.to_owned(), r),
                None => c.rules.remove(key),
            };
        });
    }

    /// Sets the import job duration.
    pub fn set_job_duration(&self, d: Duration) {
        self.update(|c| c.job_duration_ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    }

    pub(crate) fn job_duration(&self) -> Duration {
        Duration::from_millis(self.get().job_duration_ms)
    }

    /// Sleeps for the configured response delay, after the request took effect.
    pub(crate) async fn after(&self, service: &str, op: &str) {
        let delay = self
            .get()
            .rule_for(service, op)
            .map_or(0, |r| r.response_delay_ms);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
    }

    /// Sleeps for the configured latency, then decides whether to throttle or fail.
    pub(crate) async fn before(&self, service: &str, op: &str) -> Injected {
        *self
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(format!("{service}:{op}"))
            .or_insert(0) += 1;
        let Some(rule) = self.get().rule_for(service, op).cloned() else {
            return Injected::None;
        };
        if rule.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(rule.latency_ms)).await;
        }
        if let Some(tps) = rule.throttle_tps {
            let mut windows = self
                .windows
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let entry = windows.entry(format!("{service}:{op}")).or_insert((now, 0));
            if now.duration_since(entry.0) >= Duration::from_secs(1) {
                *entry = (now, 0);
            }
            if entry.1 >= tps {
                return Injected::Throttle;
            }
            entry.1 += 1;
        }
        if rule.error_rate > 0.0 && rand::random::<f64>() < rule.error_rate {
            return Injected::ServerError;
        }
        Injected::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn throttles_past_tps_and_most_specific_rule_wins() {
        let f = Faults::new(FaultConfig::default());
        f.set_rule(
            "bedrock:*",
            Some(FaultRule {
                throttle_tps: Some(2),
                ..FaultRule::default()
            }),
        );
        f.set_rule("bedrock:GetModelImportJob", Some(FaultRule::default()));
        assert_eq!(
            f.before("bedrock", "CreateModelImportJob").await,
            Injected::None
        );
        assert_eq!(
            f.before("bedrock", "CreateModelImportJob").await,
            Injected::None
        );
        assert_eq!(
            f.before("bedrock", "CreateModelImportJob").await,
            Injected::Throttle
        );
        for _ in 0..5 {
            assert_eq!(
                f.before("bedrock", "GetModelImportJob").await,
                Injected::None
            );
        }
        assert_eq!(f.before("s3", "GetObject").await, Injected::None);
        f.set_rule(
            "*",
            Some(FaultRule {
                error_rate: 1.0,
                ..FaultRule::default()
            }),
        );
        assert_eq!(f.before("s3", "GetObject").await, Injected::ServerError);
    }
}
