//! Bedrock Custom Model Import calls, as the environment's control role.

use aws_sdk_bedrock::types::{self as bt, ModelDataSource, ModelImportJobStatus, S3DataSource};
use ferry_domain::aws::{KmsKeyRef, RoleArn};
use ferry_domain::bedrock::{ClientRequestToken, ImportedModelName, JobName, S3Uri, Tag};
use ferry_domain::names::EnvironmentName;

use crate::error::{CallError, map_bedrock_error};
use crate::{Cloud, EnvironmentClients, to_offset};

/// A `CreateModelImportJob` request. Every field is already parsed with Bedrock's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateJob {
    /// `jobName`.
    pub job_name: JobName,
    /// `importedModelName`.
    pub model_name: ImportedModelName,
    /// `roleArn`: the execution role.
    pub role_arn: RoleArn,
    /// `modelDataSource.s3DataSource.s3Uri`.
    pub source: S3Uri,
    /// `clientRequestToken` (the SDK does not generate one): the same token replays the job.
    pub client_request_token: ClientRequestToken,
    /// `importedModelKmsKeyId`; `None` falls back to the environment's key, if any.
    pub imported_model_kms_key: Option<KmsKeyRef>,
    /// `jobTags`.
    pub job_tags: Vec<Tag>,
    /// `importedModelTags`.
    pub model_tags: Vec<Tag>,
    /// `vpcConfig`.
    pub vpc: Option<VpcConfig>,
}

/// `vpcConfig` of an import job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcConfig {
    /// 1 to 16 subnet ids.
    pub subnet_ids: Vec<String>,
    /// 1 to 5 security group ids.
    pub security_group_ids: Vec<String>,
}

/// An import job's status. New values from the service land in `Unknown`, never a panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    /// Running.
    InProgress,
    /// Done: the imported model exists.
    Completed,
    /// Done: see the failure message.
    Failed,
    /// A status this version does not know.
    Unknown(String),
}

impl From<&ModelImportJobStatus> for JobStatus {
    fn from(s: &ModelImportJobStatus) -> Self {
        match s {
            ModelImportJobStatus::InProgress => Self::InProgress,
            ModelImportJobStatus::Completed => Self::Completed,
            ModelImportJobStatus::Failed => Self::Failed,
            other => Self::Unknown(other.as_str().to_owned()),
        }
    }
}

/// What Bedrock says about a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    /// Job ARN.
    pub job_arn: String,
    /// Job name.
    pub job_name: String,
    /// Status.
    pub status: JobStatus,
    /// The imported model, once completed.
    pub imported_model_arn: Option<String>,
    /// Why it failed.
    pub failure_message: Option<String>,
    /// When it ended.
    pub end_time: Option<time::OffsetDateTime>,
    /// `importedModelName` (GetModelImportJob and the list summaries).
    pub imported_model_name: Option<String>,
    /// `roleArn` (GetModelImportJob only).
    pub role_arn: Option<String>,
    /// `modelDataSource.s3DataSource.s3Uri` (GetModelImportJob only).
    pub source: Option<String>,
}

impl JobState {
    /// Whether this job is the one `job` asks for: GetModelImportJob returns neither the client
    /// request token nor the tags, so a job found by name is recognised by what Ferry derives
    /// from the request and sends: the imported model's name, the execution role and the source.
    #[must_use]
    pub fn is_for(&self, job: &CreateJob) -> bool {
        self.job_name == job.job_name.as_str()
            && self.imported_model_name.as_deref() == Some(job.model_name.as_str())
            && self.role_arn.as_deref() == Some(job.role_arn.as_str())
            && self.source.as_deref() == Some(job.source.as_str())
    }
}

/// Hosting units of an imported model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomModelUnits {
    /// Custom model units per model copy.
    pub per_model_copy: Option<i32>,
    /// Their version (billing rate).
    pub version: Option<String>,
}

/// What Bedrock says about an imported model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedModelDetails {
    /// Model ARN.
    pub model_arn: String,
    /// Model name.
    pub model_name: String,
    /// `modelArchitecture`.
    pub architecture: Option<String>,
    /// `instructSupported`.
    pub instruct_supported: Option<bool>,
    /// `customModelUnits`.
    pub custom_model_units: Option<CustomModelUnits>,
    /// `modelKmsKeyArn`.
    pub kms_key_arn: Option<String>,
}

fn tags(v: &[Tag]) -> Result<Option<Vec<bt::Tag>>, CallError> {
    if v.is_empty() {
        return Ok(None);
    }
    v.iter()
        .map(|t| {
            bt::Tag::builder()
                .key(&t.key)
                .value(&t.value)
                .build()
                .map_err(|e| CallError::Validation(format!("tag: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

impl Cloud {
    pub(crate) fn map<E>(
        clients: &EnvironmentClients,
    ) -> impl FnOnce(
        aws_sdk_bedrock::error::SdkError<
            E,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    ) -> CallError
    where
        E: aws_sdk_bedrock::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let caller = clients.target.control_role.to_string();
        let account = clients.target.account.to_string();
        move |e| map_bedrock_error(e, &caller, &account)
    }

    /// `CreateModelImportJob`; returns the job ARN. The same `client_request_token` returns the
    /// same job (Bedrock's idempotency), so a retry after a crash cannot create a second job.
    #[tracing::instrument(skip_all, fields(env = %env, op = "CreateModelImportJob", job = %job.job_name), err)]
    pub async fn create_import_job(
        &self,
        env: &EnvironmentName,
        job: &CreateJob,
    ) -> Result<String, CallError> {
        let clients = self.clients(env)?;
        let source = S3DataSource::builder()
            .s3_uri(job.source.as_str())
            .build()
            .map_err(|err| CallError::Validation(format!("source: {err}")))?;
        let vpc = job
            .vpc
            .as_ref()
            .map(|v| {
                bt::VpcConfig::builder()
                    .set_subnet_ids(Some(v.subnet_ids.clone()))
                    .set_security_group_ids(Some(v.security_group_ids.clone()))
                    .build()
                    .map_err(|err| CallError::Validation(format!("vpc config: {err}")))
            })
            .transpose()?;
        let job_tags = tags(&job.job_tags)?;
        let model_tags = tags(&job.model_tags)?;
        let key = job
            .imported_model_kms_key
            .as_ref()
            .or(clients.target.imported_model_kms_key.as_ref())
            .map(|k| k.as_str().to_owned());
        let out = clients
            .call(|| {
                clients
                    .bedrock
                    .create_model_import_job()
                    .job_name(job.job_name.as_str())
                    .imported_model_name(job.model_name.as_str())
                    .role_arn(job.role_arn.as_str())
                    .model_data_source(ModelDataSource::S3DataSource(source.clone()))
                    .client_request_token(job.client_request_token.as_str())
                    .set_imported_model_kms_key_id(key.clone())
                    .set_job_tags(job_tags.clone())
                    .set_imported_model_tags(model_tags.clone())
                    .set_vpc_config(vpc.clone())
                    .send()
            })
            .await
            .map_err(Self::map(clients))?;
        Ok(out.job_arn().to_owned())
    }

    /// `GetModelImportJob` by ARN (or name).
    #[tracing::instrument(skip_all, fields(env = %env, op = "GetModelImportJob"), err)]
    pub async fn get_import_job(
        &self,
        env: &EnvironmentName,
        job_arn: &str,
    ) -> Result<JobState, CallError> {
        let clients = self.clients(env)?;
        let out = clients
            .call(|| {
                clients
                    .bedrock
                    .get_model_import_job()
                    .job_identifier(job_arn)
                    .send()
            })
            .await
            .map_err(Self::map(clients))?;
        Ok(JobState {
            job_arn: out.job_arn().unwrap_or(job_arn).to_owned(),
            job_name: out.job_name().unwrap_or_default().to_owned(),
            status: out
                .status()
                .map_or_else(|| JobStatus::Unknown(String::new()), JobStatus::from),
            imported_model_arn: out.imported_model_arn().map(str::to_owned),
            failure_message: out.failure_message().map(str::to_owned),
            end_time: out.end_time().and_then(to_offset),
            imported_model_name: out.imported_model_name().map(str::to_owned),
            role_arn: out.role_arn().map(str::to_owned),
            source: match out.model_data_source() {
                Some(ModelDataSource::S3DataSource(s)) => Some(s.s3_uri().to_owned()),
                _ => None,
            },
        })
    }

    /// `ListModelImportJobs` created after `created_after`, every page (1000 per page).
    #[tracing::instrument(skip_all, fields(env = %env, op = "ListModelImportJobs"), err)]
    pub async fn list_import_jobs(
        &self,
        env: &EnvironmentName,
        created_after: time::OffsetDateTime,
    ) -> Result<Vec<JobState>, CallError> {
        let clients = self.clients(env)?;
        let after = aws_smithy_types::DateTime::from_nanos(created_after.unix_timestamp_nanos())
            .map_err(|err| CallError::Validation(format!("created_after: {err}")))?;
        let mut jobs = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = clients
                .call(|| {
                    clients
                        .bedrock
                        .list_model_import_jobs()
                        .creation_time_after(after)
                        .max_results(1000)
                        .set_next_token(token.clone())
                        .send()
                })
                .await
                .map_err(Self::map(clients))?;
            jobs.extend(out.model_import_job_summaries().iter().map(|s| JobState {
                job_arn: s.job_arn().to_owned(),
                job_name: s.job_name().to_owned(),
                status: JobStatus::from(s.status()),
                imported_model_arn: s.imported_model_arn().map(str::to_owned),
                failure_message: None,
                end_time: s.end_time().and_then(to_offset),
                imported_model_name: s.imported_model_name().map(str::to_owned),
                role_arn: None,
                source: None,
            }));
            match out.next_token() {
                Some(t) if !t.is_empty() && token.as_deref() != Some(t) => {
                    token = Some(t.to_owned());
                }
                _ => break,
            }
        }
        Ok(jobs)
    }

    /// `GetImportedModel`.
    #[tracing::instrument(skip_all, fields(env = %env, op = "GetImportedModel"), err)]
    pub async fn get_imported_model(
        &self,
        env: &EnvironmentName,
        model_arn: &str,
    ) -> Result<ImportedModelDetails, CallError> {
        let clients = self.clients(env)?;
        let out = clients
            .call(|| {
                clients
                    .bedrock
                    .get_imported_model()
                    .model_identifier(model_arn)
                    .send()
            })
            .await
            .map_err(Self::map(clients))?;
        Ok(ImportedModelDetails {
            model_arn: out.model_arn().unwrap_or(model_arn).to_owned(),
            model_name: out.model_name().unwrap_or_default().to_owned(),
            architecture: out.model_architecture().map(str::to_owned),
            instruct_supported: out.instruct_supported(),
            custom_model_units: out.custom_model_units().map(|u| CustomModelUnits {
                per_model_copy: u.custom_model_units_per_model_copy(),
                version: u.custom_model_units_version().map(str::to_owned),
            }),
            kms_key_arn: out.model_kms_key_arn().map(str::to_owned),
        })
    }

    /// `DeleteImportedModel` (stops storage billing).
    #[tracing::instrument(skip_all, fields(env = %env, op = "DeleteImportedModel"), err)]
    pub async fn delete_imported_model(
        &self,
        env: &EnvironmentName,
        model_arn: &str,
    ) -> Result<(), CallError> {
        let clients = self.clients(env)?;
        clients
            .call(|| {
                clients
                    .bedrock
                    .delete_imported_model()
                    .model_identifier(model_arn)
                    .send()
            })
            .await
            .map_err(Self::map(clients))?;
        Ok(())
    }
}
