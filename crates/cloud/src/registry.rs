//! SageMaker Model Registry: `DescribeModelPackage`, hand-signed ([`crate::signed`]) rather
//! than through `aws-sdk-sagemaker`, one of the largest crates of the SDK, for one read-only
//! call.
//!
//! The request and the part of the answer Ferry reads follow botocore's SageMaker model
//! (`sagemaker/2017-07-24/service-2.json`: `DescribeModelPackageInput.ModelPackageName`;
//! `DescribeModelPackageOutput` `ModelPackageArn`, `ModelPackageGroupName`,
//! `ModelPackageVersion`, `ModelPackageStatus`, `ModelApprovalStatus`,
//! `InferenceSpecification.Containers[].ModelDataUrl|ModelDataSource.S3DataSource`); the sim
//! serves the same shapes and `tests/conformance` checks them against that model.
//!
//! The package is read either by the environment's control role (the package's model package
//! group policy must allow it: SageMaker's cross-account sharing) or by a read-only role of the
//! research account that the team's configuration names, assumed from the control role.

use std::time::Duration;

use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use ferry_domain::aws::RoleArn;
use ferry_domain::model_package::{ApprovalStatus, ModelPackageArn, PackageArtifact, PackageFacts};
use ferry_domain::names::EnvironmentName;
use serde::Deserialize;

use crate::credentials::RoleCredentials;
use crate::error::CallError;
use crate::signed::{JsonClient, SAGEMAKER, SignedCallError, resolve_endpoint};
use crate::{Cloud, EnvironmentClients};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeModelPackageOutput {
    model_package_arn: String,
    model_package_group_name: Option<String>,
    model_package_version: Option<u32>,
    model_package_status: String,
    model_approval_status: Option<String>,
    inference_specification: Option<InferenceSpecification>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InferenceSpecification {
    #[serde(default)]
    containers: Vec<Container>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Container {
    model_data_url: Option<String>,
    model_data_source: Option<ModelDataSource>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ModelDataSource {
    s3_data_source: Option<S3DataSource>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct S3DataSource {
    s3_uri: String,
    s3_data_type: String,
    compression_type: String,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeModelPackageInput<'a> {
    model_package_name: &'a str,
}

impl DescribeModelPackageOutput {
    fn into_facts(self) -> Result<PackageFacts, CallError> {
        let arn = ModelPackageArn::parse(&self.model_package_arn).map_err(|e| {
            CallError::Validation(format!("SageMaker answered an unreadable package ARN: {e}"))
        })?;
        let first = self
            .inference_specification
            .and_then(|s| s.containers.into_iter().next());
        let artifact = match first {
            Some(Container {
                model_data_source:
                    Some(ModelDataSource {
                        s3_data_source: Some(s3),
                    }),
                ..
            }) => PackageArtifact::S3DataSource {
                uri: s3.s3_uri,
                data_type: s3.s3_data_type,
                compression: s3.compression_type,
            },
            Some(Container {
                model_data_url: Some(url),
                ..
            }) => PackageArtifact::ModelDataUrl(url),
            _ => PackageArtifact::None,
        };
        Ok(PackageFacts {
            arn,
            group: self.model_package_group_name,
            version: self.model_package_version,
            approval: self
                .model_approval_status
                .as_deref()
                .and_then(ApprovalStatus::parse),
            status: self.model_package_status,
            artifact,
        })
    }
}

impl EnvironmentClients {
    /// The cached session of `role`, assumed from the control role's session.
    async fn reader(&self, role: &RoleArn) -> RoleCredentials {
        let mut readers = self.readers.lock().await;
        if let Some(c) = readers.get(role.as_str()) {
            return c.clone();
        }
        let provider = AssumeRoleProvider::builder(role.as_str())
            .session_name(format!(
                "{}-registry-{}",
                self.session_name, self.target.name
            ))
            .configure(&self.control_cfg)
            .build()
            .await;
        let creds = RoleCredentials::new(role.as_str(), provider);
        readers.insert(role.as_str().to_owned(), creds.clone());
        creds
    }
}

impl Cloud {
    /// `DescribeModelPackage` of `package`, as `reader` (assumed from the control role of
    /// `env`) or, without one, as the control role itself. `timeout` bounds each attempt; a
    /// throttled or failed attempt is tried once more.
    #[tracing::instrument(skip_all, fields(env = %env, package = %package, op = "DescribeModelPackage"), err)]
    pub async fn describe_model_package(
        &self,
        env: &EnvironmentName,
        reader: Option<&RoleArn>,
        package: &ModelPackageArn,
        timeout: Duration,
    ) -> Result<PackageFacts, CallError> {
        let clients = self.clients(env)?;
        let creds = match reader {
            Some(role) => clients.reader(role).await,
            None => clients.control_creds.clone(),
        };
        let caller = reader.unwrap_or(&clients.target.control_role).to_string();
        let endpoint = resolve_endpoint(
            &SAGEMAKER,
            clients.endpoint_url.as_deref(),
            package.region(),
        );
        let client = JsonClient::new(
            clients.http.clone(),
            SharedCredentialsProvider::new(creds.clone()),
            SAGEMAKER,
            package.region(),
            endpoint,
        )
        .with_timeout(timeout)
        .with_max_attempts(2);
        let input = DescribeModelPackageInput {
            model_package_name: package.as_str(),
        };
        let started = std::time::Instant::now();
        let mut result = client
            .call::<_, DescribeModelPackageOutput>("DescribeModelPackage", &input)
            .await;
        if result.as_ref().is_err_and(SignedCallError::is_expired) {
            tracing::info!(env = %env, "session expired; assuming the role again");
            creds.invalidate().await;
            result = client.call("DescribeModelPackage", &input).await;
        }
        crate::calls::record_signed(
            "sagemaker",
            "DescribeModelPackage",
            &result,
            started.elapsed(),
        );
        result
            .map_err(|e| map_error(&e, &caller, package))?
            .into_facts()
    }
}

/// A failed `DescribeModelPackage` as the caller should read it.
fn map_error(e: &SignedCallError, caller: &str, package: &ModelPackageArn) -> CallError {
    let text = e.to_string();
    match e {
        SignedCallError::Service { code, message, .. } => match code.as_str() {
            "ResourceNotFound" | "ResourceNotFoundException" => CallError::NotFound(text),
            "ValidationException"
                if message.contains("does not exist") || message.contains("not found") =>
            {
                CallError::NotFound(text)
            }
            "AccessDeniedException" | "AccessDenied" => CallError::AccessDenied {
                message: text,
                step: None,
                fix: Some(format!(
                    "allow {caller} sagemaker:DescribeModelPackage on {package}: in its identity \
                     policy, and (across accounts) in the policy of the package's model package \
                     group (PutModelPackageGroupPolicy) in account {}",
                    package.account()
                )),
            },
            _ if e.is_throttling() => CallError::Throttled(text),
            _ if e.is_retryable() => CallError::Transient(text),
            _ => CallError::Validation(text),
        },
        SignedCallError::Credentials(m)
            if m.contains("not authorized to perform: sts:AssumeRole") =>
        {
            CallError::AccessDenied {
                message: text,
                step: Some(ferry_domain::chain::ChainStep::ControlRolePolicy),
                fix: Some(format!(
                    "let the control role assume {caller}: allow sts:AssumeRole on it in the \
                     control role's policy, and trust the control role in its trust policy"
                )),
            }
        }
        SignedCallError::Timeout(_)
        | SignedCallError::Transport(_)
        | SignedCallError::Credentials(_) => CallError::Transient(text),
        SignedCallError::Request(_) | SignedCallError::Decode { .. } => CallError::Validation(text),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_described_package_is_read_into_facts() {
        let out: DescribeModelPackageOutput = serde_json::from_value(serde_json::json!({
            "ModelPackageName": "llama3-8b",
            "ModelPackageGroupName": "llama3-8b",
            "ModelPackageVersion": 2,
            "ModelPackageArn": "arn:aws:sagemaker:us-east-1:111122223333:model-package/llama3-8b/2",
            "CreationTime": 1_764_000_000.5,
            "ModelPackageStatus": "Completed",
            "ModelPackageStatusDetails": {"ValidationStatuses": []},
            "ModelApprovalStatus": "Approved",
            "InferenceSpecification": {"Containers": [{
                "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:latest",
                "ModelDataSource": {"S3DataSource": {
                    "S3Uri": "s3://model-artifacts-111122223333/llama3-8b/v2/",
                    "S3DataType": "S3Prefix", "CompressionType": "None"}}
            }]}
        }))
        .unwrap();
        let facts = out.into_facts().unwrap();
        assert_eq!(facts.version, Some(2));
        assert_eq!(facts.approval, Some(ApprovalStatus::Approved));
        assert_eq!(
            facts.artifact,
            PackageArtifact::S3DataSource {
                uri: "s3://model-artifacts-111122223333/llama3-8b/v2/".into(),
                data_type: "S3Prefix".into(),
                compression: "None".into()
            }
        );
        let bare: DescribeModelPackageOutput = serde_json::from_value(serde_json::json!({
            "ModelPackageName": "m",
            "ModelPackageArn": "arn:aws:sagemaker:us-east-1:111122223333:model-package/m",
            "ModelPackageStatus": "Completed",
        }))
        .unwrap();
        let facts = bare.into_facts().unwrap();
        assert_eq!(facts.artifact, PackageArtifact::None);
        assert_eq!(facts.approval, None);
    }
}
