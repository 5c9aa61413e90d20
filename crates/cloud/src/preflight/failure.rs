//! A failed AWS call, reduced to what a report shows, and the failed check it becomes (with
//! the broken chain step when AWS said `AccessDenied`).

use aws_sdk_bedrock::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use ferry_domain::preflight::{Access, Check, DeniedCall, diagnose_access_denied};

use super::Run;
use crate::error::code_message;

/// A failed AWS call, reduced to what a report shows.
#[derive(Debug, Clone)]
pub(super) struct AwsFailure {
    pub(super) code: Option<String>,
    pub(super) message: String,
    pub(super) evidence: String,
    pub(super) status: Option<u16>,
}

impl AwsFailure {
    pub(super) fn from_sdk<E>(e: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        match e {
            SdkError::ServiceError(s) => {
                let err = s.err();
                Self {
                    code: err.code().map(str::to_owned),
                    message: err.message().unwrap_or_default().to_owned(),
                    evidence: code_message(err.code(), err.message()),
                    status,
                }
            }
            other => {
                let text = format!("{}", DisplayErrorContext(other));
                Self {
                    code: None,
                    message: text.clone(),
                    evidence: text,
                    status,
                }
            }
        }
    }

    /// Throttling, 5xx, or no response at all (timeout, connection): worth another try.
    pub(super) fn is_transient(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(
                "SlowDown"
                    | "Throttling"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "InternalError"
                    | "ServiceUnavailable"
                    | "KMSInternalException"
            )
        ) || self.status.is_none_or(|s| s == 429 || s >= 500)
    }

    pub(super) fn is_denied(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("AccessDenied" | "AccessDeniedException")
        ) || self.status == Some(403)
    }

    pub(super) fn is_kms(&self) -> bool {
        self.message.contains("kms:") || self.code.as_deref().is_some_and(|c| c.starts_with("KMS"))
    }

    pub(super) fn is_not_found(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("NoSuchKey" | "NotFound" | "NoSuchBucket" | "NotFoundException")
        ) || self.status == Some(404)
    }

    /// The `on resource: <arn>` of an AccessDenied message.
    pub(super) fn resource(&self) -> Option<&str> {
        self.message
            .split("on resource: ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
    }
}

impl Run<'_> {
    /// A failed check for an AWS failure, with the diagnosis when it was a denial.
    pub(super) fn aws_failed(
        &self,
        name: &str,
        detail: String,
        f: &AwsFailure,
        access: Access,
        action: &str,
        resource: &str,
    ) -> Check {
        let c = Check::failed(name, detail).with_evidence(f.evidence.clone());
        if f.is_transient() {
            return c.transient();
        }
        if !f.is_denied() {
            return c;
        }
        if !self.as_exec {
            return c.with_fix(
                "This check ran as the control role because the execution role could not be assumed; fix assume_execution_role first, then run preflight again.",
            );
        }
        let resource = f.resource().unwrap_or(resource);
        let hosting = self.clients.target.account.to_string();
        c.with_diagnosis(diagnose_access_denied(&DeniedCall {
            access,
            action,
            resource,
            aws_message: &f.message,
            is_cross_account: access != Access::HostingKey,
            role_arn: self.clients.target.execution_role.as_str(),
            research_account: self.research_account.as_deref(),
            hosting_account: Some(&hosting),
        }))
    }
}
