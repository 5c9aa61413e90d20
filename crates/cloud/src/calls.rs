//! Metrics of every AWS call: an SDK interceptor on each client counts calls by service,
//! operation and outcome, times them, and counts throttled attempts (the SDK retries
//! those within a call, so a call that succeeded may have been throttled first).
//!
//! Labels come from the SDK's own operation metadata (`Metadata::service`, `name`), a
//! fixed set per client, never from input.

use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// Counter: calls by `service`, `operation`, `outcome`.
pub const CALLS: &str = "ferry_aws_calls_total";
/// Histogram: seconds per call (retries included) by `service`, `operation`.
pub const CALL_SECONDS: &str = "ferry_aws_call_duration_seconds";
/// Counter: attempts AWS answered with a throttling error, by `service`, `operation`.
pub const THROTTLES: &str = "ferry_aws_throttles_total";

/// The error codes AWS uses for throttling, as botocore's retry handler lists them
/// (botocore/data/_retry.json, "throttling" and "throttled_exception" policies; the AWS
/// SDK for Rust's `aws_runtime::retries::classifiers::THROTTLING_ERRORS` is the same list).
/// The SDK clients' calls and the hand-signed ones (`crate::signed`) classify by it alike.
pub(crate) const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// What became of one call (or one attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx or 3xx answer.
    Ok,
    /// A throttling error (429, or one of [`THROTTLING_CODES`]).
    Throttled,
    /// Any other 4xx: refused (validation, access denied, not found, conflict).
    ClientError,
    /// A 5xx.
    ServerError,
    /// No answer: a connection failure or a timeout.
    NoResponse,
}

impl Outcome {
    /// The `outcome` label.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Throttled => "throttled",
            Self::ClientError => "client_error",
            Self::ServerError => "server_error",
            Self::NoResponse => "no_response",
        }
    }

    /// Classifies an answer by its HTTP status and its error code, found in the
    /// `x-amzn-ErrorType` header (REST-JSON: Bedrock), the `__type` field (JSON: KMS) or
    /// the `<Code>` element (query and REST-XML: STS, IAM, S3).
    #[must_use]
    pub fn of(status: u16, error_type_header: Option<&str>, body: &[u8]) -> Self {
        if status < 400 {
            return Self::Ok;
        }
        if status == 429 || is_throttling(error_type_header, body) {
            return Self::Throttled;
        }
        if status >= 500 {
            Self::ServerError
        } else {
            Self::ClientError
        }
    }
}

fn is_throttling(header: Option<&str>, body: &[u8]) -> bool {
    // The header is `Code` or `Code:http://internal.amazon.com/...`.
    if let Some(code) = header.and_then(|h| h.split(':').next())
        && THROTTLING_CODES.contains(&code.trim())
    {
        return true;
    }
    // Error bodies are small; a code appears as a whole word (`"__type":"...#Code"`,
    // `<Code>Code</Code>`).
    let body = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    body.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| THROTTLING_CODES.contains(&word))
}

/// When the call started (kept in the call's config bag).
#[derive(Debug, Clone, Copy)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

/// The interceptor each client gets.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CallMetrics;

fn labels(cfg: &ConfigBag) -> (String, String) {
    cfg.load::<Metadata>().map_or_else(
        || ("unknown".to_owned(), "unknown".to_owned()),
        |m| (m.service().to_ascii_lowercase(), m.name().to_owned()),
    )
}

fn outcome_of(response: Option<&HttpResponse>) -> Outcome {
    match response {
        None => Outcome::NoResponse,
        Some(r) => Outcome::of(
            r.status().as_u16(),
            r.headers().get("x-amzn-errortype"),
            r.body().bytes().unwrap_or_default(),
        ),
    }
}

impl Intercept for CallMetrics {
    fn name(&self) -> &'static str {
        "FerryCallMetrics"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if outcome_of(context.response()) == Outcome::Throttled {
            let (service, operation) = labels(cfg);
            metrics::counter!(THROTTLES, "service" => service, "operation" => operation)
                .increment(1);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = labels(cfg);
        let outcome = outcome_of(context.response());
        if let Some(Started(at)) = cfg.load::<Started>() {
            metrics::histogram!(CALL_SECONDS, "service" => service.clone(), "operation" => operation.clone())
                .record(at.elapsed().as_secs_f64());
        }
        metrics::counter!(CALLS, "service" => service, "operation" => operation, "outcome" => outcome.as_str())
            .increment(1);
        Ok(())
    }
}

/// Records an `AssumeRole` call made by a credentials provider (its STS client is the
/// SDK's own, without this interceptor).
pub(crate) fn record_assume_role(outcome: Outcome, seconds: f64) {
    metrics::histogram!(CALL_SECONDS, "service" => "sts", "operation" => "AssumeRole")
        .record(seconds);
    metrics::counter!(CALLS, "service" => "sts", "operation" => "AssumeRole", "outcome" => outcome.as_str())
        .increment(1);
    if outcome == Outcome::Throttled {
        metrics::counter!(THROTTLES, "service" => "sts", "operation" => "AssumeRole").increment(1);
    }
}

/// Records a hand-signed call ([`crate::signed`]), which no SDK interceptor sees.
pub(crate) fn record_signed<T>(
    service: &'static str,
    operation: &'static str,
    result: &Result<T, crate::signed::SignedCallError>,
    elapsed: std::time::Duration,
) {
    use crate::signed::SignedCallError;
    let outcome = match result {
        Ok(_) => Outcome::Ok,
        Err(e) if e.is_throttling() => Outcome::Throttled,
        Err(SignedCallError::Service { status, .. }) if *status >= 500 => Outcome::ServerError,
        Err(SignedCallError::Service { .. } | SignedCallError::Decode { .. }) => {
            Outcome::ClientError
        }
        Err(_) => Outcome::NoResponse,
    };
    metrics::histogram!(CALL_SECONDS, "service" => service, "operation" => operation)
        .record(elapsed.as_secs_f64());
    metrics::counter!(CALLS, "service" => service, "operation" => operation, "outcome" => outcome.as_str())
        .increment(1);
    if outcome == Outcome::Throttled {
        metrics::counter!(THROTTLES, "service" => service, "operation" => operation).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_by_status_and_code() {
        assert_eq!(Outcome::of(200, None, b""), Outcome::Ok);
        assert_eq!(Outcome::of(429, None, b"{}"), Outcome::Throttled);
        // Bedrock (REST-JSON): the code is in the header.
        assert_eq!(
            Outcome::of(
                400,
                Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
                b"{}"
            ),
            Outcome::Throttled
        );
        // STS and IAM (query protocol): 400 with <Code>Throttling</Code>.
        assert_eq!(
            Outcome::of(400, None, b"<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"),
            Outcome::Throttled
        );
        // S3: 503 SlowDown is throttling, not a server error.
        assert_eq!(
            Outcome::of(503, None, b"<Error><Code>SlowDown</Code></Error>"),
            Outcome::Throttled
        );
        // KMS (JSON): the code in __type.
        assert_eq!(
            Outcome::of(
                400,
                None,
                br#"{"__type":"ThrottlingException","message":"x"}"#
            ),
            Outcome::Throttled
        );
        assert_eq!(
            Outcome::of(400, Some("ValidationException"), b"{}"),
            Outcome::ClientError
        );
        // A message that mentions throttling in prose is not a throttling code.
        assert_eq!(
            Outcome::of(
                403,
                None,
                b"<Code>AccessDenied</Code><Message>not Throttlingish</Message>"
            ),
            Outcome::ClientError
        );
        assert_eq!(Outcome::of(500, None, b""), Outcome::ServerError);
    }
}
