//! A SageMaker model package as the `source` of a new request: read at submit, so a package
//! Bedrock cannot import is a 422 before anything is stored.

use std::time::Duration;

use ferry_cloud::CallError;
use ferry_domain::RuleError;
use ferry_domain::import::PackageRead;
use ferry_domain::model_package::PackageFacts;
use http::{HeaderValue, header};

use crate::AppState;
use crate::error::{ApiError, FieldProblem};

/// Seconds a client should wait after SageMaker did not answer.
const RETRY_AFTER_SECS: &str = "5";

fn refused(rule: &'static str, message: String) -> ApiError {
    ApiError::validation([FieldProblem::from(
        RuleError::new(rule, message).at("/source"),
    )])
}

fn unavailable(detail: String) -> ApiError {
    ApiError::unavailable(detail).with_header(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    )
}

/// `DescribeModelPackage` of the package a draft names, with the team's registry rights,
/// bounded by `settings.model_registry_timeout` (half of it per attempt, two attempts). Not
/// found or denied: 422 at `/source`. SageMaker throttling, failing or silent: 503 with
/// `Retry-After`.
pub(super) async fn read(
    state: &AppState,
    read: &PackageRead<'_>,
) -> Result<PackageFacts, ApiError> {
    let Some(cloud) = &state.cloud else {
        return Err(unavailable(
            "this process has no AWS clients to read the model package with".to_owned(),
        ));
    };
    let total = state.settings.model_registry_timeout;
    let call = cloud.describe_model_package(
        &read.environment.name,
        read.team.model_registry.reader_role.as_ref(),
        &read.arn,
        total / 2,
    );
    let result = tokio::time::timeout(total + Duration::from_millis(500), call).await;
    match result {
        Ok(Ok(facts)) => Ok(facts),
        Ok(Err(CallError::NotFound(m))) => Err(refused(
            "model_package.not_found",
            format!("model package {} was not found: {m}", read.arn),
        )),
        Ok(Err(CallError::AccessDenied { message, fix, .. })) => Err(refused(
            "model_package.access_denied",
            match fix {
                Some(fix) => format!("reading model package {} was denied: {message}; to fix: {fix}", read.arn),
                None => format!("reading model package {} was denied: {message}", read.arn),
            },
        )),
        Ok(Err(e)) if e.is_retryable() => Err(unavailable(format!(
            "SageMaker did not answer for model package {}: {e}; retry after the number of seconds in Retry-After",
            read.arn
        ))
        .with_cause(e)),
        Ok(Err(e @ CallError::UnknownEnvironment(_))) => Err(unavailable(format!(
            "environment {} has no AWS clients in this process",
            read.environment.name
        ))
        .with_cause(e)),
        Ok(Err(e)) => Err(refused(
            "model_package.unreadable",
            format!("model package {} could not be read: {e}", read.arn),
        )),
        Err(_) => Err(unavailable(format!(
            "SageMaker did not answer within {total:?} for model package {}; retry after the number of seconds in Retry-After",
            read.arn
        ))),
    }
}
