//! Errors of the AWS adapters, classified by what the caller should do next.

use aws_sdk_bedrock::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;
use ferry_domain::chain::ChainStep;

/// `Cloud::new` failed.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// Two environments share a name.
    #[error("environment {0} is declared twice")]
    DuplicateEnvironment(String),
    /// The options are unusable.
    #[error("invalid cloud options: {0}")]
    InvalidOptions(String),
}

/// A Bedrock call failed. Messages carry AWS's code and message, never credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// 429 / `ThrottlingException`: retry later.
    #[error("throttled: {0}")]
    Throttled(String),
    /// `ServiceQuotaExceededException` (e.g. one concurrent import job): wait and retry.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// `ValidationException` / `TooManyTagsException`: the request itself is wrong.
    #[error("rejected by Bedrock: {0}")]
    Validation(String),
    /// `AccessDenied`, with the broken chain step when it can be named.
    #[error("access denied: {message}")]
    AccessDenied {
        /// AWS's message.
        message: String,
        /// The step of the chain that denied.
        step: Option<ChainStep>,
        /// What to change.
        fix: Option<String>,
    },
    /// The job name is taken. Bedrock answers `ValidationException` "The provided job name is
    /// currently in use." (aws/sagemaker-python-sdk PR 6076 meets exactly this on a rerun; the
    /// Bedrock API reference's CreateModelImportJob errors list `ValidationException` and
    /// `ConflictException`); a `ConflictException` naming the job is read the same way.
    /// Completed jobs cannot be deleted, so the name stays taken.
    #[error("job name in use: {0}")]
    JobNameInUse(String),
    /// `ValidationException` "The provided role ARN is invalid.": Bedrock checks at create time
    /// that it can assume the execution role. Right after the role or its policies were created
    /// or changed this is IAM still propagating, and the same call works a little later; the
    /// caller decides how long to wait.
    #[error("execution role not usable by Bedrock: {0}")]
    RoleNotUsable(String),
    /// `ConflictException`: a model name in use, or a token reused for another request.
    #[error("conflict: {0}")]
    Conflict(String),
    /// `ResourceNotFoundException`.
    #[error("not found: {0}")]
    NotFound(String),
    /// bedrock-runtime's `ModelNotReadyException` (HTTP 429): the imported model is loading
    /// (after its import, or after idling); the same call works once it is loaded.
    #[error("model not ready: {0}")]
    ModelNotReady(String),
    /// 5xx, timeouts, connection failures: retry.
    #[error("transient failure: {0}")]
    Transient(String),
    /// The environment is not configured in this `Cloud`.
    #[error("unknown environment {0}")]
    UnknownEnvironment(String),
}

impl CallError {
    /// Whether trying the same call again later can succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Throttled(_)
                | Self::QuotaExceeded(_)
                | Self::Transient(_)
                | Self::ModelNotReady(_)
        )
    }
}

/// `ExpiredToken`-style codes: the session the request was signed with is over.
pub(crate) fn is_expired_code(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("ExpiredToken" | "ExpiredTokenException" | "RequestExpired")
    )
}

/// Whether an SDK error says the credentials expired.
pub(crate) fn sdk_error_is_expired<E, R>(e: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::ServiceError(s) => is_expired_code(s.err().code()),
        // A refresh that itself failed on an expired base session surfaces here.
        other => {
            let text = format!("{}", DisplayErrorContext(other));
            text.contains("ExpiredToken")
        }
    }
}

/// The STS error behind a credentials failure (`AssumeRole` denied, expired base session),
/// found by walking the error's sources: `(code, message)`.
pub(crate) fn assume_role_failure(
    err: &(dyn std::error::Error + 'static),
) -> Option<(Option<String>, String)> {
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(sdk) = e.downcast_ref::<SdkError<
            AssumeRoleError,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >>() {
            return Some(match sdk.as_service_error() {
                Some(s) => (
                    s.code().map(str::to_owned),
                    s.message().unwrap_or_default().to_owned(),
                ),
                None => (None, format!("{}", DisplayErrorContext(sdk))),
            });
        }
        cur = e.source();
    }
    None
}

/// `code: message` of a service error.
pub(crate) fn code_message(code: Option<&str>, message: Option<&str>) -> String {
    match (code, message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_owned(),
        (None, Some(m)) => m.to_owned(),
        (None, None) => "no error code or message".to_owned(),
    }
}

/// Maps any Bedrock SDK error by its code (all operations share the error shapes), then by
/// HTTP status, then by failure kind. Access denials name [`ChainStep::ControlRolePolicy`]
/// or [`ChainStep::PassRole`] from AWS's message.
pub(crate) fn map_bedrock_error<E>(
    err: SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
    caller: &str,
    hosting_account: &str,
) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let e = ctx.into_err();
            let msg = code_message(e.code(), e.message());
            match e.code() {
                Some("ThrottlingException" | "Throttling" | "TooManyRequestsException") => {
                    CallError::Throttled(msg)
                }
                Some("ServiceQuotaExceededException") => CallError::QuotaExceeded(msg),
                Some("ModelNotReadyException") => CallError::ModelNotReady(msg),
                Some("ValidationException" | "ConflictException")
                    if job_name_in_use(e.message().unwrap_or_default()) =>
                {
                    CallError::JobNameInUse(msg)
                }
                Some("ValidationException")
                    if e.message()
                        .unwrap_or_default()
                        .to_ascii_lowercase()
                        .contains("role arn is invalid") =>
                {
                    CallError::RoleNotUsable(msg)
                }
                Some("ValidationException" | "TooManyTagsException") => CallError::Validation(msg),
                Some("ConflictException") => CallError::Conflict(msg),
                Some("ResourceNotFoundException") => CallError::NotFound(msg),
                Some("AccessDeniedException" | "AccessDenied") => access_denied(
                    e.message().unwrap_or_default(),
                    msg,
                    caller,
                    hosting_account,
                ),
                Some("InternalServerException" | "ServiceUnavailableException") => {
                    CallError::Transient(msg)
                }
                _ if status == 429 => CallError::Throttled(msg),
                _ if status >= 500 => CallError::Transient(msg),
                _ if status == 403 => access_denied(
                    e.message().unwrap_or_default(),
                    msg,
                    caller,
                    hosting_account,
                ),
                _ => CallError::Validation(msg),
            }
        }
        SdkError::ConstructionFailure(_) => CallError::Validation(format!(
            "the request could not be built: {}",
            DisplayErrorContext(&err)
        )),
        other => {
            let text = match assume_role_failure(&other) {
                Some((code, message)) => format!(
                    "assuming {caller}: {}",
                    code_message(code.as_deref(), Some(&message))
                ),
                None => format!("{}", DisplayErrorContext(&other)),
            };
            let refused = ["sts:AssumeRole", "sts:TagSession"]
                .into_iter()
                .find(|a| text.contains(&format!("not authorized to perform: {a}")));
            if let Some(action) = refused {
                // Ferry could not assume its control role (or tag the session).
                let d = ferry_domain::preflight::diagnose_access_denied(
                    &ferry_domain::preflight::DeniedCall {
                        access: ferry_domain::preflight::Access::AssumeControlRole,
                        action,
                        resource: caller,
                        aws_message: &text,
                        is_cross_account: false,
                        role_arn: caller,
                        research_account: None,
                        hosting_account: Some(hosting_account),
                    },
                );
                CallError::AccessDenied {
                    message: text,
                    step: Some(d.step),
                    fix: Some(d.fix),
                }
            } else {
                CallError::Transient(text)
            }
        }
    }
}

/// Whether a `ValidationException` or `ConflictException` message says the job name is taken:
/// AWS's "The provided job name is currently in use." or a conflict naming the import job.
pub(crate) fn job_name_in_use(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    (m.contains("job name") && m.contains("in use"))
        || (m.contains("model import job with the name") && m.contains("already exists"))
}

fn access_denied(aws_message: &str, msg: String, caller: &str, hosting_account: &str) -> CallError {
    use ferry_domain::preflight::{Access, DeniedCall, diagnose_access_denied};
    let pass_role = aws_message.contains("iam:PassRole");
    let action = aws_message
        .split("perform: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or("bedrock:*");
    let resource = aws_message
        .split("on resource: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or("*");
    let d = diagnose_access_denied(&DeniedCall {
        access: if pass_role {
            Access::PassRole
        } else {
            Access::Bedrock
        },
        action,
        resource,
        aws_message,
        is_cross_account: false,
        role_arn: caller,
        research_account: None,
        hosting_account: Some(hosting_account),
    });
    CallError::AccessDenied {
        message: msg,
        step: Some(d.step),
        fix: Some(d.fix),
    }
}

#[cfg(test)]
mod tests {
    use super::job_name_in_use;

    #[test]
    fn a_job_name_in_use_is_recognised_in_both_wordings() {
        assert!(job_name_in_use(
            "The provided job name is currently in use."
        ));
        assert!(job_name_in_use(
            "A model import job with the name ferry-1 already exists."
        ));
        assert!(!job_name_in_use(
            "An imported model with the name m already exists."
        ));
        assert!(!job_name_in_use(
            "The clientRequestToken t was already used with different request parameters."
        ));
        assert!(!job_name_in_use("The provided role ARN is invalid."));
    }
}
