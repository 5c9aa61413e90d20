//! `[telemetry.otlp]`: export the `tracing` spans as OpenTelemetry traces
//! over OTLP/HTTP (protobuf). Off unless an endpoint is set here or in the
//! standard `OTEL_EXPORTER_OTLP_ENDPOINT` variable.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::ConfigError;

/// The standard variables of the OpenTelemetry SDK specification
/// ("OpenTelemetry Protocol Exporter" and "General SDK Configuration").
pub(crate) const ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
pub(crate) const SDK_DISABLED_ENV: &str = "OTEL_SDK_DISABLED";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    pub otlp: OtlpConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// Base URL of an OTLP/HTTP receiver (`http://otel-collector:4318`);
    /// spans go to `<endpoint>/v1/traces`. Unset: `OTEL_EXPORTER_OTLP_ENDPOINT`,
    /// and without either nothing is exported.
    pub endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// The share of new traces kept (0 to 1). A trace started by a caller's
    /// `traceparent` follows the caller's sampling decision.
    pub sampling_ratio: f64,
    /// Headers sent with every export (an API key of a hosted backend).
    /// Never logged.
    pub headers: BTreeMap<String, SecretString>,
    /// One export may take this long.
    pub timeout_secs: u64,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            service_name: "ferry".to_owned(),
            sampling_ratio: 1.0,
            headers: BTreeMap::new(),
            timeout_secs: 10,
        }
    }
}

/// A checked OTLP export setting.
#[derive(Debug, Clone)]
pub struct OtlpExport {
    /// The full traces URL (`…/v1/traces`).
    pub traces_url: String,
    pub service_name: String,
    pub sampling_ratio: f64,
    pub headers: Vec<(String, SecretString)>,
    pub timeout: Duration,
}

impl OtlpConfig {
    /// The export to run, `None` when off. `env` reads a variable (the
    /// process environment in production).
    pub fn export(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<OtlpExport>, ConfigError> {
        if env(SDK_DISABLED_ENV).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let (endpoint, key) = match (&self.endpoint, env(ENDPOINT_ENV)) {
            (Some(e), _) => (e.clone(), "telemetry.otlp.endpoint"),
            (None, Some(e)) if !e.trim().is_empty() => (e, ENDPOINT_ENV),
            _ => return Ok(None),
        };
        let url = reqwest::Url::parse(endpoint.trim())
            .map_err(|e| ConfigError::key(key, format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigError::key(
                key,
                "must be an http:// or https:// URL of an OTLP/HTTP receiver",
            ));
        }
        if !(0.0..=1.0).contains(&self.sampling_ratio) {
            return Err(ConfigError::key(
                "telemetry.otlp.sampling_ratio",
                format!("must be between 0 and 1, got {}", self.sampling_ratio),
            ));
        }
        if self.service_name.trim().is_empty() {
            return Err(ConfigError::key(
                "telemetry.otlp.service_name",
                "must not be empty",
            ));
        }
        if self.timeout_secs == 0 {
            return Err(ConfigError::key(
                "telemetry.otlp.timeout_secs",
                "must be at least 1",
            ));
        }
        let mut headers = Vec::new();
        for (name, value) in &self.headers {
            let key = format!("telemetry.otlp.headers.{name}");
            reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ConfigError::key(&key, "is not a valid HTTP header name"))?;
            reqwest::header::HeaderValue::from_str(value.expose_secret())
                .map_err(|_| ConfigError::key(&key, "is not a valid HTTP header value"))?;
            headers.push((name.clone(), value.clone()));
        }
        // OTEL_EXPORTER_OTLP_ENDPOINT is a base URL: the signal's path is
        // appended ("OpenTelemetry Protocol Exporter", endpoint URLs for OTLP/HTTP).
        let base = url.as_str().trim_end_matches('/');
        Ok(Some(OtlpExport {
            traces_url: format!("{base}/v1/traces"),
            service_name: self.service_name.trim().to_owned(),
            sampling_ratio: self.sampling_ratio,
            headers,
            timeout: Duration::from_secs(self.timeout_secs),
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn off_by_default() {
        assert!(OtlpConfig::default().export(no_env).unwrap().is_none());
    }

    #[test]
    fn the_standard_variable_turns_it_on_and_the_file_wins_over_it() {
        let env = |k: &str| (k == ENDPOINT_ENV).then(|| "http://collector:4318/".to_owned());
        let from_env = OtlpConfig::default().export(env).unwrap().unwrap();
        assert_eq!(from_env.traces_url, "http://collector:4318/v1/traces");
        let config = OtlpConfig {
            endpoint: Some("https://otlp.example.com".into()),
            ..OtlpConfig::default()
        };
        let from_file = config.export(env).unwrap().unwrap();
        assert_eq!(from_file.traces_url, "https://otlp.example.com/v1/traces");
        let disabled = |k: &str| match k {
            SDK_DISABLED_ENV => Some("true".to_owned()),
            _ => env(k),
        };
        assert!(config.export(disabled).unwrap().is_none());
    }

    #[test]
    fn errors_name_the_key_and_the_rule() {
        let bad = |c: OtlpConfig| c.export(no_env).unwrap_err().to_string();
        let on = || OtlpConfig {
            endpoint: Some("http://127.0.0.1:4318".into()),
            ..OtlpConfig::default()
        };
        assert!(
            bad(OtlpConfig {
                endpoint: Some("collector:4318".into()),
                ..OtlpConfig::default()
            })
            .starts_with("telemetry.otlp.endpoint: must be an http:// or https:// URL")
        );
        assert_eq!(
            bad(OtlpConfig {
                sampling_ratio: 1.5,
                ..on()
            }),
            "telemetry.otlp.sampling_ratio: must be between 0 and 1, got 1.5"
        );
        let mut headers = BTreeMap::new();
        headers.insert("bad header".to_owned(), SecretString::from("x"));
        assert_eq!(
            bad(OtlpConfig { headers, ..on() }),
            "telemetry.otlp.headers.bad header: is not a valid HTTP header name"
        );
    }
}
