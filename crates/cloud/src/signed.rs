//! Hand-signed calls to AWS services that speak the JSON protocols (`awsJson1_0`,
//! `awsJson1_1`), for the few operations whose SDK crate would cost more build time than the
//! call is worth (SageMaker's `DescribeModelPackage`, CloudWatch's `GetMetricData`: the SDK
//! crates of both services are among the largest in aws-sdk-rust).
//!
//! The wire format is the one every SDK uses (smithy's "AWS JSON 1.0/1.1 protocol" spec, and
//! the `metadata` block of each service's botocore model: `protocol`, `jsonVersion`,
//! `targetPrefix`, `signingName`, `endpointPrefix`):
//!
//! - `POST /` to the service's endpoint, body the JSON input shape;
//! - `Content-Type: application/x-amz-json-1.0` or `-1.1`, `X-Amz-Target: <targetPrefix>.<Op>`;
//! - SigV4 (`aws-sigv4`, already in the build through the SDK) with the service's signing name,
//!   credentials from any SDK credentials provider (Ferry's assumed-role sessions);
//! - errors: the code is `X-Amzn-ErrorType` or the body's `__type` (or `code`), keeping the
//!   part after `#` and before `:`; the message is the body's `message` or `Message`.
//!
//! Retries follow the SDK's standard mode: throttling codes (the SDK's list, `THROTTLING_ERRORS`
//! in aws-runtime's retry classifiers), transient codes, 5xx, timeouts and connection failures
//! are retried with capped exponential backoff and full jitter, up to `max_attempts` in all.
//! Expired sessions are the caller's to handle ([`SignedCallError::is_expired`]): only the
//! caller can drop its cached session.
//!
//! The endpoint is resolved the way the SDK clients get theirs: an explicit endpoint (Ferry's
//! `aws.endpoint_url`, i.e. the sim), else `AWS_ENDPOINT_URL_<SERVICE>`, else
//! `AWS_ENDPOINT_URL`, else `https://<endpointPrefix>.<region>.<dnsSuffix>`.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::error::display::DisplayErrorContext;
use serde::Serialize;
use serde::de::DeserializeOwned;

// The SDK's throttling error codes, shared with the SDK clients' call accounting.
use crate::calls::THROTTLING_CODES;

/// The SDK's transient error codes (aws-runtime `TRANSIENT_ERRORS`), plus the server-side
/// codes the JSON services use for 5xx.
const TRANSIENT_CODES: &[&str] = &[
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

/// Codes that say the session the request was signed with is over.
const EXPIRED_CODES: &[&str] = &["ExpiredToken", "ExpiredTokenException", "RequestExpired"];

/// Which JSON protocol version a service speaks (botocore `metadata.jsonVersion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonVersion {
    /// `awsJson1_0` (e.g. CloudWatch's JSON protocol).
    V1_0,
    /// `awsJson1_1` (e.g. SageMaker, KMS).
    V1_1,
}

impl JsonVersion {
    /// The request's `Content-Type`.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::V1_0 => "application/x-amz-json-1.0",
            Self::V1_1 => "application/x-amz-json-1.1",
        }
    }
}

/// A JSON-protocol service, from its botocore model's `metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonService {
    /// `signingName`.
    pub signing_name: &'static str,
    /// `endpointPrefix`: the default endpoint is `https://<prefix>.<region>.amazonaws.com`.
    pub endpoint_prefix: &'static str,
    /// The service id as it appears in `AWS_ENDPOINT_URL_<ID>` (`serviceId`, upper case,
    /// spaces as `_`).
    pub env_id: &'static str,
    /// `targetPrefix`: `X-Amz-Target` is `<prefix>.<Operation>`.
    pub target_prefix: &'static str,
    /// `jsonVersion`.
    pub version: JsonVersion,
}

/// SageMaker (botocore `sagemaker/2017-07-24`: protocol `json`, jsonVersion 1.1, targetPrefix
/// `SageMaker`, signingName `sagemaker`, endpointPrefix `api.sagemaker`).
pub const SAGEMAKER: JsonService = JsonService {
    signing_name: "sagemaker",
    endpoint_prefix: "api.sagemaker",
    env_id: "SAGEMAKER",
    target_prefix: "SageMaker",
    version: JsonVersion::V1_1,
};

/// CloudWatch over its JSON protocol (botocore `cloudwatch/2010-08-01`: protocols
/// `smithy-rpc-v2-cbor, json, query`; jsonVersion 1.0, targetPrefix
/// `GraniteServiceVersion20100801`, signingName and endpointPrefix `monitoring`).
pub const CLOUDWATCH: JsonService = JsonService {
    signing_name: "monitoring",
    endpoint_prefix: "monitoring",
    env_id: "CLOUDWATCH",
    target_prefix: "GraniteServiceVersion20100801",
    version: JsonVersion::V1_0,
};

/// AWS's own endpoint of `service` in `region` (the `aws`, `aws-cn` and `aws-us-gov`
/// partitions' DNS suffixes).
#[must_use]
pub fn default_endpoint(service: &JsonService, region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{}.{region}.{suffix}", service.endpoint_prefix)
}

/// The endpoint to call: `configured` (Ferry's `aws.endpoint_url`, or the SDK config's own
/// `endpoint_url()`, which aws-config fills from `AWS_ENDPOINT_URL`), else
/// `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`, else [`default_endpoint`].
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` disables the variables, as in the SDK.
#[must_use]
pub fn resolve_endpoint(service: &JsonService, configured: Option<&str>, region: &str) -> String {
    resolve_endpoint_with(service, configured, region, |k| std::env::var(k).ok())
}

fn resolve_endpoint_with(
    service: &JsonService,
    configured: Option<&str>,
    region: &str,
    var: impl Fn(&str) -> Option<String>,
) -> String {
    if let Some(url) = configured.filter(|u| !u.is_empty()) {
        return url.trim_end_matches('/').to_owned();
    }
    let ignore =
        var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !ignore {
        for key in [
            format!("AWS_ENDPOINT_URL_{}", service.env_id),
            "AWS_ENDPOINT_URL".to_owned(),
        ] {
            if let Some(url) = var(&key).filter(|u| !u.is_empty()) {
                return url.trim_end_matches('/').to_owned();
            }
        }
    }
    default_endpoint(service, region)
}

/// A hand-signed call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedCallError {
    /// The service answered with an error.
    #[error("{code}: {message} (HTTP {status})")]
    Service {
        /// HTTP status.
        status: u16,
        /// The error code, without namespace (`ValidationException`).
        code: String,
        /// The service's message (may be empty).
        message: String,
        /// `x-amzn-RequestId`, when present.
        request_id: Option<String>,
    },
    /// No answer within the per-attempt timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed (DNS, refused, reset).
    #[error("no response: {0}")]
    Transport(String),
    /// No credentials to sign with (e.g. the role could not be assumed).
    #[error("no credentials: {0}")]
    Credentials(String),
    /// The request could not be built or signed.
    #[error("the request could not be built: {0}")]
    Request(String),
    /// A 2xx answer whose body is not the expected shape.
    #[error("unreadable answer (HTTP {status}): {message}")]
    Decode {
        /// HTTP status.
        status: u16,
        /// What did not parse.
        message: String,
    },
}

impl SignedCallError {
    /// The service's error code, if the service answered.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Throttled: by code (the SDK's list) or HTTP 429.
    #[must_use]
    pub fn is_throttling(&self) -> bool {
        match self {
            Self::Service { status, code, .. } => {
                *status == 429 || THROTTLING_CODES.contains(&code.as_str())
            }
            _ => false,
        }
    }

    /// The signing session expired (`ExpiredToken`...): drop the cached session and call again.
    #[must_use]
    pub fn is_expired(&self) -> bool {
        match self {
            Self::Service { code, .. } => EXPIRED_CODES.contains(&code.as_str()),
            Self::Credentials(m) => m.contains("ExpiredToken"),
            _ => false,
        }
    }

    /// Whether the same call may succeed later: throttling, transient codes, 5xx, timeouts,
    /// connection failures.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Service { status, code, .. } => {
                self.is_throttling() || *status >= 500 || TRANSIENT_CODES.contains(&code.as_str())
            }
            Self::Timeout(_) | Self::Transport(_) => true,
            Self::Credentials(_) | Self::Request(_) | Self::Decode { .. } => false,
        }
    }
}

/// A client for one JSON-protocol service in one Region with one set of credentials.
#[derive(Debug, Clone)]
pub struct JsonClient {
    http: reqwest::Client,
    credentials: SharedCredentialsProvider,
    service: JsonService,
    region: String,
    endpoint: String,
    timeout: Duration,
    max_attempts: u32,
    base_backoff: Duration,
}

impl JsonClient {
    /// A client calling `endpoint` (see [`resolve_endpoint`]); 10 s per attempt, 3 attempts.
    #[must_use]
    pub fn new(
        http: reqwest::Client,
        credentials: SharedCredentialsProvider,
        service: JsonService,
        region: impl Into<String>,
        endpoint: impl Into<String>,
    ) -> Self {
        Self {
            http,
            credentials,
            service,
            region: region.into(),
            endpoint: endpoint.into(),
            timeout: Duration::from_secs(10),
            max_attempts: 3,
            base_backoff: Duration::from_millis(200),
        }
    }

    /// Per-attempt timeout (connect, send, read the whole answer).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Attempts per call including the first (at least 1).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first backoff before a retry; doubled per attempt, capped at 20 s, full jitter.
    #[must_use]
    pub fn with_base_backoff(mut self, backoff: Duration) -> Self {
        self.base_backoff = backoff;
        self
    }

    /// The endpoint called.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The service called.
    #[must_use]
    pub fn service(&self) -> &JsonService {
        &self.service
    }

    /// Calls `operation` with `input`, retrying what [`SignedCallError::is_retryable`] says.
    pub async fn call<Req, Resp>(
        &self,
        operation: &str,
        input: &Req,
    ) -> Result<Resp, SignedCallError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let body =
            serde_json::to_vec(input).map_err(|e| SignedCallError::Request(e.to_string()))?;
        let mut attempt = 1;
        loop {
            let result = self.attempt(operation, &body).await;
            match result {
                Err(e) if e.is_retryable() && attempt < self.max_attempts => {
                    let delay = backoff(self.base_backoff, attempt);
                    tracing::debug!(
                        service = self.service.signing_name,
                        operation,
                        attempt,
                        error = %e,
                        "retrying after {delay:?}"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
                Ok(bytes) => {
                    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
                        b"{}"
                    } else {
                        &bytes
                    };
                    return serde_json::from_slice(bytes).map_err(|e| SignedCallError::Decode {
                        status: 200,
                        message: e.to_string(),
                    });
                }
            }
        }
    }

    /// One signed attempt; the 2xx body, or the error.
    async fn attempt(&self, operation: &str, body: &[u8]) -> Result<Vec<u8>, SignedCallError> {
        let creds =
            self.credentials.provide_credentials().await.map_err(|e| {
                SignedCallError::Credentials(format!("{}", DisplayErrorContext(&e)))
            })?;
        let url = reqwest::Url::parse(&self.endpoint)
            .map_err(|e| SignedCallError::Request(format!("endpoint {}: {e}", self.endpoint)))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => {
                return Err(SignedCallError::Request(format!(
                    "endpoint {} has no host",
                    self.endpoint
                )));
            }
        };
        let target = format!("{}.{operation}", self.service.target_prefix);
        let content_type = self.service.version.content_type();
        let headers = [
            ("host", host.as_str()),
            ("content-type", content_type),
            ("x-amz-target", target.as_str()),
        ];
        let identity: Identity = creds.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service.signing_name)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| SignedCallError::Request(e.to_string()))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| SignedCallError::Request(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| SignedCallError::Request(e.to_string()))?
            .into_parts();

        let mut req = self
            .http
            .post(url.clone())
            .timeout(self.timeout)
            .header("content-type", content_type)
            .header("x-amz-target", &target)
            .body(body.to_vec());
        for (k, v) in instructions.headers() {
            req = req.header(k, v);
        }
        let resp = req.send().await.map_err(|e| self.transport(&e))?;
        let status = resp.status().as_u16();
        let header_type = resp
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let request_id = resp
            .headers()
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp.bytes().await.map_err(|e| self.transport(&e))?;
        if (200..300).contains(&status) {
            return Ok(bytes.to_vec());
        }
        let (code, message) = parse_error(header_type.as_deref(), &bytes);
        Err(SignedCallError::Service {
            status,
            code: code.unwrap_or_else(|| format!("HTTP{status}")),
            message,
            request_id,
        })
    }

    fn transport(&self, e: &reqwest::Error) -> SignedCallError {
        if e.is_timeout() {
            SignedCallError::Timeout(self.timeout)
        } else {
            SignedCallError::Transport(format!("{}: {}", self.endpoint, DisplayErrorContext(e)))
        }
    }
}

/// Calls `operation` of `client`'s service with `input` (see [`JsonClient::call`]).
pub async fn json_call<Req, Resp>(
    client: &JsonClient,
    operation: &str,
    input: &Req,
) -> Result<Resp, SignedCallError>
where
    Req: Serialize + ?Sized,
    Resp: DeserializeOwned,
{
    client.call(operation, input).await
}

/// Capped exponential backoff with full jitter, as the SDK's standard retry mode.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let cap = Duration::from_secs(20);
    let exp = base
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(cap);
    exp.mul_f64(rand::random::<f64>())
}

/// The error code and message of an awsJson error answer: the code from `X-Amzn-ErrorType`,
/// else the body's `__type`, else `code`; namespace (`aws.protocols#`, `com.amazon...#`) and
/// anything after `:` removed. The message from `message`, `Message` or `errorMessage`.
fn parse_error(header_type: Option<&str>, body: &[u8]) -> (Option<String>, String) {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let field = |k: &str| json.get(k).and_then(serde_json::Value::as_str);
    let raw = header_type
        .filter(|s| !s.is_empty())
        .or_else(|| field("__type"))
        .or_else(|| field("code"));
    let code = raw.map(sanitize_code).filter(|c| !c.is_empty());
    let message = field("message")
        .or_else(|| field("Message"))
        .or_else(|| field("errorMessage"))
        .map_or_else(
            || {
                if json.is_null() {
                    String::from_utf8_lossy(body)
                        .trim()
                        .chars()
                        .take(500)
                        .collect()
                } else {
                    String::new()
                }
            },
            str::to_owned,
        );
    (code, message)
}

/// `aws.protocoltests.restjson#FooError:http://internal.amazon.com/...` → `FooError`.
fn sanitize_code(raw: &str) -> String {
    let no_uri = raw.split(':').next().unwrap_or(raw);
    no_uri
        .rsplit('#')
        .next()
        .unwrap_or(no_uri)
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use aws_credential_types::Credentials;
    use serde_json::{Value, json};

    #[test]
    fn error_codes_are_read_as_the_protocol_says() {
        // The header wins over the body; namespaces and `:uri` suffixes are dropped.
        let (c, m) = parse_error(
            Some("aws.protocoltests.restjson#FooError:http://internal.amazon.com/coral/x/"),
            br#"{"__type": "Other", "message": "m"}"#,
        );
        assert_eq!(c.as_deref(), Some("FooError"));
        assert_eq!(m, "m");
        let (c, m) = parse_error(
            None,
            br#"{"__type": "com.amazonaws.sagemaker#ResourceNotFound", "Message": "Model package not found"}"#,
        );
        assert_eq!(c.as_deref(), Some("ResourceNotFound"));
        assert_eq!(m, "Model package not found");
        let (c, m) = parse_error(None, br#"{"code": "ValidationException"}"#);
        assert_eq!(c.as_deref(), Some("ValidationException"));
        assert_eq!(m, "");
        let (c, m) = parse_error(None, b"<html>Bad gateway</html>");
        assert_eq!(c, None);
        assert_eq!(m, "<html>Bad gateway</html>");
    }

    fn service_error(status: u16, code: &str) -> SignedCallError {
        SignedCallError::Service {
            status,
            code: code.into(),
            message: String::new(),
            request_id: None,
        }
    }

    #[test]
    fn errors_are_classified_like_the_sdk() {
        for code in [
            "ThrottlingException",
            "TooManyRequestsException",
            "Throttling",
        ] {
            let e = service_error(400, code);
            assert!(e.is_throttling() && e.is_retryable(), "{code}");
        }
        assert!(service_error(429, "Whatever").is_throttling());
        assert!(service_error(503, "ServiceUnavailable").is_retryable());
        assert!(service_error(500, "HTTP500").is_retryable());
        assert!(service_error(400, "RequestTimeout").is_retryable());
        let denied = service_error(400, "AccessDeniedException");
        assert!(!denied.is_retryable() && !denied.is_throttling() && !denied.is_expired());
        assert!(!service_error(400, "ValidationException").is_retryable());
        assert!(service_error(400, "ExpiredTokenException").is_expired());
        assert!(SignedCallError::Timeout(Duration::from_secs(1)).is_retryable());
        assert!(SignedCallError::Transport("refused".into()).is_retryable());
        assert!(!SignedCallError::Credentials("denied".into()).is_retryable());
    }

    #[test]
    fn endpoints_resolve_like_the_sdk_clients() {
        let none = |_: &str| None;
        assert_eq!(
            resolve_endpoint_with(&SAGEMAKER, None, "us-east-1", none),
            "https://api.sagemaker.us-east-1.amazonaws.com"
        );
        assert_eq!(
            resolve_endpoint_with(&CLOUDWATCH, None, "cn-north-1", none),
            "https://monitoring.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            resolve_endpoint_with(
                &SAGEMAKER,
                Some("http://127.0.0.1:4566/"),
                "us-east-1",
                none
            ),
            "http://127.0.0.1:4566"
        );
        let vars = |k: &str| match k {
            "AWS_ENDPOINT_URL_SAGEMAKER" => Some("http://sm:1".to_owned()),
            "AWS_ENDPOINT_URL" => Some("http://all:2".to_owned()),
            _ => None,
        };
        assert_eq!(
            resolve_endpoint_with(&SAGEMAKER, None, "us-east-1", vars),
            "http://sm:1"
        );
        assert_eq!(
            resolve_endpoint_with(&CLOUDWATCH, None, "us-east-1", vars),
            "http://all:2"
        );
        let ignored = |k: &str| match k {
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS" => Some("true".to_owned()),
            other => vars(other),
        };
        assert_eq!(
            resolve_endpoint_with(&SAGEMAKER, None, "eu-west-1", ignored),
            "https://api.sagemaker.eu-west-1.amazonaws.com"
        );
    }

    #[test]
    fn content_types_follow_the_json_version() {
        assert_eq!(
            SAGEMAKER.version.content_type(),
            "application/x-amz-json-1.1"
        );
        assert_eq!(
            CLOUDWATCH.version.content_type(),
            "application/x-amz-json-1.0"
        );
    }

    #[test]
    fn backoff_is_capped() {
        for attempt in 1..40 {
            assert!(backoff(Duration::from_secs(1), attempt) <= Duration::from_secs(20));
        }
    }

    /// KMS as a JSON 1.1 service, to exercise signing against the sim's SigV4 verification.
    const KMS: JsonService = JsonService {
        signing_name: "kms",
        endpoint_prefix: "kms",
        env_id: "KMS",
        target_prefix: "TrentService",
        version: JsonVersion::V1_1,
    };

    fn client_as(sim: &ferry_sim::SimHandle, principal: &str) -> JsonClient {
        let p = sim.scenario().principal(principal).expect("principal");
        let creds = Credentials::new(
            p.access_key_id.clone(),
            p.secret_access_key.clone(),
            None,
            None,
            "test",
        );
        JsonClient::new(
            reqwest::Client::new(),
            SharedCredentialsProvider::new(creds),
            KMS,
            "us-east-1",
            sim.endpoint(),
        )
        .with_base_backoff(Duration::from_millis(1))
    }

    #[tokio::test]
    async fn a_signed_call_is_accepted_by_the_sims_sigv4_check_and_errors_are_parsed() {
        let sim = ferry_sim::Sim::start(ferry_sim::SimOptions::default())
            .await
            .expect("sim");
        let key = sim
            .scenario()
            .env("HOSTING_KMS_KEY_ARN")
            .unwrap()
            .to_owned();
        let client = client_as(&sim, "hosting-admin");
        let out: Value = json_call(&client, "DescribeKey", &json!({"KeyId": key}))
            .await
            .expect("DescribeKey");
        assert_eq!(out["KeyMetadata"]["Arn"], key);

        // A service error comes back with its code and message.
        let missing =
            key.rsplit_once('/').unwrap().0.to_owned() + "/00000000-0000-0000-0000-000000000000";
        let err = client
            .call::<_, Value>("DescribeKey", &json!({"KeyId": missing}))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("NotFoundException"), "{err}");
        assert!(!err.is_retryable());

        // A wrong secret is refused by the sim's signature check, not accepted.
        let p = sim.scenario().principal("hosting-admin").unwrap();
        let forged = JsonClient::new(
            reqwest::Client::new(),
            SharedCredentialsProvider::new(Credentials::new(
                p.access_key_id.clone(),
                "not-the-secret",
                None,
                None,
                "test",
            )),
            KMS,
            "us-east-1",
            sim.endpoint(),
        );
        let err = forged
            .call::<_, Value>("DescribeKey", &json!({"KeyId": key}))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("InvalidSignatureException"), "{err}");
    }

    #[tokio::test]
    async fn a_silent_server_is_a_retryable_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts connections and never answers.
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                held.push(sock);
            }
        });
        let client = JsonClient::new(
            reqwest::Client::new(),
            SharedCredentialsProvider::new(Credentials::new("AKID", "secret", None, None, "t")),
            SAGEMAKER,
            "us-east-1",
            format!("http://{addr}"),
        )
        .with_timeout(Duration::from_millis(200))
        .with_max_attempts(2)
        .with_base_backoff(Duration::from_millis(1));
        let err = client
            .call::<_, Value>("DescribeModelPackage", &json!({"ModelPackageName": "x"}))
            .await
            .unwrap_err();
        assert!(matches!(err, SignedCallError::Timeout(_)), "{err}");
        assert!(err.is_retryable());
        server.abort();
    }
}
