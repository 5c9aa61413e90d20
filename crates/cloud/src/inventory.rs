//! What a hosting account holds, as the environment's control role sees it: every imported
//! model (`ListImportedModels`, one page per call, `nextToken`), their tags
//! (`ListTagsForResource`), the import jobs in progress (`ListModelImportJobs`
//! `statusEquals=InProgress`), and the Bedrock quotas it is held against (Service Quotas
//! `GetServiceQuota`).
//!
//! Each method is one AWS call, so the caller (the worker's inventory step) spends one unit of
//! the account's call budget per page.

use ferry_domain::names::EnvironmentName;

use crate::error::{CallError, map_bedrock_error};
use crate::{Cloud, to_offset};

/// Service Quotas' service code of Amazon Bedrock.
pub const BEDROCK_SERVICE_CODE: &str = "bedrock";
/// "Imported models per account" (Bedrock user guide's quota table, mid-2025: 3 per Region,
/// adjustable; the Service Quotas console links it as `quotas/L-45B04988`).
pub const IMPORTED_MODELS_QUOTA: &str = "L-45B04988";
/// "Concurrent model import jobs" (the same table: 1 per Region, not adjustable, so the table
/// links no code; public quota-usage tools query it as `L-5F098EFA`).
pub const CONCURRENT_IMPORT_JOBS_QUOTA: &str = "L-5F098EFA";

/// One `ModelSummary` of `ListImportedModels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSummary {
    pub arn: String,
    pub name: String,
    pub created: Option<time::OffsetDateTime>,
    pub architecture: Option<String>,
}

/// One page of `ListImportedModels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPage {
    pub models: Vec<ModelSummary>,
    /// `nextToken`: more pages follow.
    pub next: Option<String>,
}

/// One running job of `ListModelImportJobs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningJob {
    pub arn: String,
    pub name: String,
    pub model_name: Option<String>,
    pub created: Option<time::OffsetDateTime>,
}

/// One page of running jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPage {
    pub jobs: Vec<RunningJob>,
    pub next: Option<String>,
}

fn next(token: Option<&str>, sent: Option<&str>) -> Option<String> {
    token
        .filter(|t| !t.is_empty() && Some(*t) != sent)
        .map(str::to_owned)
}

impl Cloud {
    /// One page (at most `max_results`, 1–1000) of `ListImportedModels`.
    #[tracing::instrument(skip_all, fields(env = %env, op = "ListImportedModels"), err)]
    pub async fn list_imported_models_page(
        &self,
        env: &EnvironmentName,
        token: Option<&str>,
        max_results: i32,
    ) -> Result<ModelPage, CallError> {
        let clients = self.clients(env)?;
        let out = clients
            .call(|| {
                clients
                    .bedrock
                    .list_imported_models()
                    .max_results(max_results)
                    .set_next_token(token.map(str::to_owned))
                    .send()
            })
            .await
            .map_err(Self::map(clients))?;
        Ok(ModelPage {
            models: out
                .model_summaries()
                .iter()
                .map(|m| ModelSummary {
                    arn: m.model_arn().to_owned(),
                    name: m.model_name().to_owned(),
                    created: to_offset(m.creation_time()),
                    architecture: m.model_architecture().map(str::to_owned),
                })
                .collect(),
            next: next(out.next_token(), token),
        })
    }

    /// One page of `ListModelImportJobs` with `statusEquals=InProgress`.
    #[tracing::instrument(skip_all, fields(env = %env, op = "ListModelImportJobs"), err)]
    pub async fn list_running_jobs_page(
        &self,
        env: &EnvironmentName,
        token: Option<&str>,
        max_results: i32,
    ) -> Result<JobPage, CallError> {
        let clients = self.clients(env)?;
        let out = clients
            .call(|| {
                clients
                    .bedrock
                    .list_model_import_jobs()
                    .status_equals(aws_sdk_bedrock::types::ModelImportJobStatus::InProgress)
                    .max_results(max_results)
                    .set_next_token(token.map(str::to_owned))
                    .send()
            })
            .await
            .map_err(Self::map(clients))?;
        Ok(JobPage {
            jobs: out
                .model_import_job_summaries()
                .iter()
                .map(|j| RunningJob {
                    arn: j.job_arn().to_owned(),
                    name: j.job_name().to_owned(),
                    model_name: j.imported_model_name().map(str::to_owned),
                    created: to_offset(j.creation_time()),
                })
                .collect(),
            next: next(out.next_token(), token),
        })
    }

    /// `ListTagsForResource` of a model or job: its tags as key/value pairs.
    #[tracing::instrument(skip_all, fields(env = %env, op = "ListTagsForResource"), err)]
    pub async fn resource_tags(
        &self,
        env: &EnvironmentName,
        arn: &str,
    ) -> Result<Vec<(String, String)>, CallError> {
        let clients = self.clients(env)?;
        let out = clients
            .call(|| {
                clients
                    .bedrock
                    .list_tags_for_resource()
                    .resource_arn(arn)
                    .send()
            })
            .await
            .map_err(Self::map(clients))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }

    /// Service Quotas `GetServiceQuota` for Bedrock's `quota_code` in the environment's account
    /// and Region: the applied value, `None` when Service Quotas gives none.
    #[tracing::instrument(skip_all, fields(env = %env, op = "GetServiceQuota", quota = quota_code), err)]
    pub async fn bedrock_quota(
        &self,
        env: &EnvironmentName,
        quota_code: &str,
    ) -> Result<Option<f64>, CallError> {
        let clients = self.clients(env)?;
        let caller = clients.target.control_role.to_string();
        let account = clients.target.account.to_string();
        let out = clients
            .call(|| {
                clients
                    .quotas
                    .get_service_quota()
                    .service_code(BEDROCK_SERVICE_CODE)
                    .quota_code(quota_code)
                    .send()
            })
            .await
            .map_err(|e| map_bedrock_error(e, &caller, &account))?;
        Ok(out.quota().and_then(|q| q.value()))
    }
}
