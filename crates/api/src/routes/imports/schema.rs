//! What goes over the wire for `/v1/imports`: request bodies, queries and
//! the `*Out` views of requests and their events.

use std::collections::BTreeMap;

use ferry_domain::bedrock::Tag;
use ferry_domain::bedrock::{ImportedModelName, JobName};
use ferry_domain::condition::Condition;
use ferry_domain::import::ImportDraft;
use ferry_domain::import::MAX_DESCRIPTION;
use ferry_domain::model_package::PackageLineage;
use ferry_domain::names::{EnvironmentName, TeamName};
use ferry_domain::schema;
use ferry_domain::status::Status;
use ferry_store::imports::{EventRecord, ImportRecord, ImportSummary};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::openapi::schema::Schema;

use crate::routes::params::{cursor_schema, nullable};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::access::{Subject, allowed_actions};
use crate::auth::Caller;

/// A request to import a model.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportCreate {
    /// S3 URI of the model's folder (Hugging Face layout: `config.json`,
    /// tokenizer files, `*.safetensors`), in a source allowed for the team; or the ARN of
    /// a SageMaker Model Registry package whose model data is such a folder.
    #[schema(schema_with = schema::import_source)]
    pub(super) source: String,
    /// Target environment (see `GET /v1/environments`).
    #[schema(value_type = EnvironmentName)]
    pub(super) environment: String,
    /// The imported model's name in Bedrock.
    #[schema(value_type = ImportedModelName)]
    pub(super) model_name: String,
    /// The owning team. Researchers may omit it (their own is used); callers
    /// without a team (admins) must set it, or the request is refused with
    /// rule `required` at `/team`.
    #[schema(value_type = Option<TeamName>)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) team: Option<String>,
    /// The Bedrock job name; `ferry-<request id>` when omitted.
    #[schema(value_type = Option<JobName>)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) job_name: Option<String>,
    #[schema(schema_with = description_schema)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<String>,
    #[schema(schema_with = model_tags_schema)]
    #[serde(default)]
    pub(super) model_tags: BTreeMap<String, String>,
    #[schema(schema_with = job_tags_schema)]
    #[serde(default)]
    pub(super) job_tags: BTreeMap<String, String>,
}

fn description_schema() -> Schema {
    nullable(schema::description())
}

fn model_tags_schema() -> Schema {
    schema::tags("Tags for the imported model.")
}

fn job_tags_schema() -> Schema {
    schema::tags("Tags for the import job.")
}

/// A note (comment, reason) that may be left out or null.
fn note_schema() -> Schema {
    nullable(schema::text(MAX_DESCRIPTION, "A note for the audit trail."))
}

fn reason_schema() -> Schema {
    schema::required_text(MAX_DESCRIPTION, "Why; shown to the requester.")
}

impl ImportCreate {
    pub(super) fn draft(&self) -> ImportDraft {
        ImportDraft {
            source: self.source.clone(),
            environment: self.environment.clone(),
            model_name: self.model_name.clone(),
            team: self.team.clone(),
            job_name: self.job_name.clone(),
            description: self.description.clone(),
            model_tags: self.model_tags.clone(),
            job_tags: self.job_tags.clone(),
            package: None,
        }
    }
}

/// Where an import request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ImportStatus {
    PendingApproval,
    Queued,
    Validating,
    Submitting,
    Importing,
    /// The import job completed; Ferry checks that the model answers (readiness check).
    Verifying,
    Completed,
    Failed,
    Rejected,
    Cancelled,
    Deleting,
    Deleted,
}

impl From<Status> for ImportStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::PendingApproval => Self::PendingApproval,
            Status::Queued => Self::Queued,
            Status::Validating => Self::Validating,
            Status::Submitting => Self::Submitting,
            Status::Importing => Self::Importing,
            Status::Verifying => Self::Verifying,
            Status::Completed => Self::Completed,
            Status::Failed => Self::Failed,
            Status::Rejected => Self::Rejected,
            Status::Cancelled => Self::Cancelled,
            Status::Deleting => Self::Deleting,
            Status::Deleted => Self::Deleted,
        }
    }
}

impl From<ImportStatus> for Status {
    fn from(s: ImportStatus) -> Self {
        match s {
            ImportStatus::PendingApproval => Self::PendingApproval,
            ImportStatus::Queued => Self::Queued,
            ImportStatus::Validating => Self::Validating,
            ImportStatus::Submitting => Self::Submitting,
            ImportStatus::Importing => Self::Importing,
            ImportStatus::Verifying => Self::Verifying,
            ImportStatus::Completed => Self::Completed,
            ImportStatus::Failed => Self::Failed,
            ImportStatus::Rejected => Self::Rejected,
            ImportStatus::Cancelled => Self::Cancelled,
            ImportStatus::Deleting => Self::Deleting,
            ImportStatus::Deleted => Self::Deleted,
        }
    }
}

/// Something a caller may do with a request: `POST /v1/imports/{id}/approve`,
/// `/reject`, `/cancel`, `/retry`, `/promote`, or `DELETE /v1/imports/{id}/model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ImportAction {
    Approve,
    Reject,
    Cancel,
    Retry,
    DeleteModel,
    Promote,
}

/// Why a request is where it is (Kubernetes-style).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ConditionOut {
    /// `Accepted`, `Approved`, `Cancelled`, ...
    #[serde(rename = "type")]
    pub(super) kind: String,
    /// `True`, `False` or `Unknown`.
    pub(super) status: String,
    /// A CamelCase word programs may match on.
    pub(super) reason: String,
    pub(super) message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(super) last_transition_time: OffsetDateTime,
}

impl From<&Condition> for ConditionOut {
    fn from(c: &Condition) -> Self {
        Self {
            kind: c.kind.as_str().to_owned(),
            status: format!("{:?}", c.status),
            reason: c.reason.as_str().to_owned(),
            message: c.message.clone(),
            last_transition_time: c.last_transition_time,
        }
    }
}

/// An import request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ImportOut {
    pub(super) id: Uuid,
    pub(super) team: String,
    pub(super) environment: String,
    pub(super) source: String,
    pub(super) model_name: String,
    pub(super) job_name: String,
    pub(super) description: Option<String>,
    pub(super) model_tags: BTreeMap<String, String>,
    pub(super) job_tags: BTreeMap<String, String>,
    /// Who submitted it.
    pub(super) requested_by: String,
    pub(super) status: ImportStatus,
    /// What the caller may do with the request now, decided by the same
    /// check that authorizes each action (role, separation of duties,
    /// status). An action listed can still fail on what only running it
    /// finds: a model name taken since, a concurrent change.
    pub(super) allowed_actions: Vec<ImportAction>,
    pub(super) conditions: Vec<ConditionOut>,
    #[serde(with = "time::serde::rfc3339")]
    pub(super) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(super) updated_at: OffsetDateTime,
    /// 1 for the first try; each retry is a new attempt (new job).
    pub(super) attempt: i32,
    /// The preflight report: every check of the artifacts and the access
    /// chain, with evidence, the broken step and the fix for a failure.
    #[schema(value_type = Option<Object>)]
    pub(super) preflight: Option<serde_json::Value>,
    /// While the request waits for a free import slot: its place in line (1 = next).
    /// Only on reads (`GET /v1/imports/{id}` and list items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) queue_position: Option<u32>,
    /// The Bedrock import job, once created.
    pub(super) bedrock_job_arn: Option<String>,
    /// The imported model, once the job completed.
    pub(super) imported_model_arn: Option<String>,
    /// `GetImportedModel` details: architecture, custom model units, key; and under
    /// `serving`, the readiness check (cold start, first answer's latency, each API tried).
    #[schema(value_type = Option<Object>)]
    pub(super) imported_model: Option<serde_json::Value>,
    /// The model card, once the readiness check ended: model ARN, Region, architecture and
    /// family, instruct support, chat template, `serving`, cold start and first-answer
    /// latency, `verified_apis` (API, operation, request format), `custom_model_units`,
    /// `estimated_cost` (per copy per minute and hour, storage per month, and the price row
    /// used with its Region, CMU version, date and source), and `examples` (`aws_cli`,
    /// `boto3`) ready to paste.
    #[schema(value_type = Option<Object>)]
    pub(super) model_card: Option<serde_json::Value>,
    /// Why the request failed (preflight, Bedrock's validation or the job's `failureMessage`).
    pub(super) failure_message: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(super) submitted_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(super) finished_at: Option<OffsetDateTime>,
    /// The completed request this one promotes (lineage, e.g. dev → staging).
    pub(super) promoted_from: Option<Uuid>,
    /// The artifact's content digest (`sha256:` and 64 hex digits): SHA-256 over the
    /// listing's names, sizes and ETags, `config.json` and every safetensors header, as the
    /// README documents. Set once the preflight could read all of them.
    pub(super) artifact_digest: Option<String>,
    /// The request whose imported model this one completed by reference to: the environment
    /// already held the same artifact (`model_reuse = "reuse"`), so no job of its own ran.
    pub(super) reused_from: Option<Uuid>,
    /// Requests promoted from this one. Only on `GET /v1/imports/{id}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) promotions: Vec<Uuid>,
    /// Lineage: the SageMaker model package `source` was read from, when the request was
    /// submitted with a package ARN.
    pub(super) model_package: Option<ModelPackageOut>,
}

/// The SageMaker Model Registry package a request's source came from, as
/// `DescribeModelPackage` described it at submit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ModelPackageOut {
    /// The package's ARN, as submitted.
    pub(super) arn: String,
    /// Its model package group (versioned packages).
    pub(super) group: Option<String>,
    /// Its version in the group.
    pub(super) version: Option<u32>,
    /// `ModelApprovalStatus` at submit: `Approved`, `PendingManualApproval` or `Rejected`;
    /// absent for an unversioned package.
    pub(super) approval: Option<String>,
    /// The S3 prefix of the package's model data: the request's `source`.
    pub(super) artifact_uri: String,
}

impl From<PackageLineage> for ModelPackageOut {
    fn from(l: PackageLineage) -> Self {
        Self {
            arn: l.arn.to_string(),
            group: l.group,
            version: l.version,
            approval: l.approval.map(|a| a.as_str().to_owned()),
            artifact_uri: l.artifact_uri,
        }
    }
}

/// Tags as the JSON object clients send and read.
pub(super) fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

impl ImportOut {
    /// The request as `caller` sees it (with the actions it may take).
    pub(super) fn new(r: ImportRecord, caller: &Caller) -> Self {
        let allowed_actions = allowed_actions(caller, Subject::from(&r));
        Self {
            id: r.id.as_uuid(),
            team: r.team.into(),
            environment: r.environment.into(),
            source: r.source.into(),
            model_name: r.model_name.into(),
            job_name: r.job_name.into(),
            description: r.description,
            model_tags: tag_map(&r.model_tags),
            job_tags: tag_map(&r.job_tags),
            requested_by: r.requested_by,
            status: r.status.into(),
            allowed_actions,
            conditions: r.conditions.iter().map(ConditionOut::from).collect(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            attempt: r.attempt,
            preflight: r.preflight,
            queue_position: None,
            bedrock_job_arn: r.bedrock_job_arn,
            imported_model_arn: r.imported_model_arn,
            model_card: r
                .imported_model
                .as_ref()
                .and_then(|d| d.get("card"))
                .filter(|c| c.is_object())
                .cloned(),
            imported_model: r.imported_model,
            failure_message: r.failure_message,
            submitted_at: r.submitted_at,
            finished_at: r.finished_at,
            promoted_from: r.promoted_from.map(|p| p.as_uuid()),
            artifact_digest: r.artifact_digest.map(|d| d.to_string()),
            reused_from: r.reused_from.map(|p| p.as_uuid()),
            promotions: Vec::new(),
            model_package: r.model_package.map(ModelPackageOut::from),
        }
    }
}

/// An import request as a list shows it: who, what, where and how far, and
/// what the caller may do with it. The whole request (conditions, preflight
/// report, job, imported model and its card, failure message, tags,
/// promotions) is `GET /v1/imports/{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ImportSummaryOut {
    pub(super) id: Uuid,
    pub(super) team: String,
    pub(super) environment: String,
    pub(super) source: String,
    pub(super) model_name: String,
    pub(super) job_name: String,
    /// Who submitted it.
    pub(super) requested_by: String,
    pub(super) status: ImportStatus,
    /// What the caller may do with the request now, decided by the same
    /// check as on `GET /v1/imports/{id}`.
    pub(super) allowed_actions: Vec<ImportAction>,
    #[serde(with = "time::serde::rfc3339")]
    pub(super) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(super) updated_at: OffsetDateTime,
    /// 1 for the first try; each retry is a new attempt (new job).
    pub(super) attempt: i32,
    /// While the request waits for a free import slot: its place in line (1 = next).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) queue_position: Option<u32>,
    /// The imported model, once the job completed.
    pub(super) imported_model_arn: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(super) finished_at: Option<OffsetDateTime>,
    /// The completed request this one promotes (lineage, e.g. dev → staging).
    pub(super) promoted_from: Option<Uuid>,
    /// The request whose imported model this one completed by reference to.
    pub(super) reused_from: Option<Uuid>,
}

impl ImportSummaryOut {
    /// The list item as `caller` sees it (with the actions it may take).
    pub(super) fn new(r: ImportSummary, caller: &Caller) -> Self {
        let allowed_actions = allowed_actions(caller, Subject::from(&r));
        Self {
            id: r.id.as_uuid(),
            team: r.team.into(),
            environment: r.environment.into(),
            source: r.source.into(),
            model_name: r.model_name.into(),
            job_name: r.job_name.into(),
            requested_by: r.requested_by,
            status: r.status.into(),
            allowed_actions,
            created_at: r.created_at,
            updated_at: r.updated_at,
            attempt: r.attempt,
            queue_position: r.queue_position.and_then(|p| u32::try_from(p).ok()),
            imported_model_arn: r.imported_model_arn,
            finished_at: r.finished_at,
            promoted_from: r.promoted_from.map(|p| p.as_uuid()),
            reused_from: r.reused_from.map(|p| p.as_uuid()),
        }
    }
}

/// One page of import requests as summaries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ImportPage {
    pub(super) items: Vec<ImportSummaryOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) next_cursor: Option<String>,
}

/// One entry of a request's audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventOut {
    /// Increases with every event Ferry records.
    pub(super) id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub(super) at: OffsetDateTime,
    /// Who caused it, by display name: a token's name, an OIDC name claim,
    /// or `ferry` for the worker. Names are chosen freely; `actor_id` says
    /// which credential it was.
    pub(super) actor: String,
    /// The credential that caused it: `token:<uuid>`, `oidc:<sub>`, or
    /// `ferry:worker`; null for events recorded before ids were kept.
    #[schema(example = "token:0192f0c1-8c55-7d2e-a4b1-3c9e6f0a1b2c")]
    pub(super) actor_id: Option<String>,
    /// `created`, `status_changed`, ...
    pub(super) kind: String,
    pub(super) from_status: Option<ImportStatus>,
    pub(super) to_status: Option<ImportStatus>,
    /// Event-specific facts (reason, Bedrock job ARN, failure message, ...).
    #[schema(value_type = Object)]
    pub(super) detail: serde_json::Value,
}

impl From<EventRecord> for EventOut {
    fn from(e: EventRecord) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            actor_id: e.actor_id,
            kind: e.kind,
            from_status: e.from_status.map(Into::into),
            to_status: e.to_status.map(Into::into),
            detail: e.detail,
        }
    }
}

/// One page of events, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventPage {
    pub(super) items: Vec<EventOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) next_cursor: Option<String>,
}

/// Where to promote a completed import.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromoteRequest {
    /// The target environment (subject to its approval rule). It must differ
    /// from the one the request ran in (rule `same_environment`).
    #[schema(value_type = EnvironmentName, example = "staging")]
    pub(super) environment: String,
}

/// Why the request is being cancelled.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CancelRequest {
    #[schema(schema_with = note_schema)]
    #[serde(default)]
    pub(super) reason: Option<String>,
}

/// An approval, with an optional comment for the audit trail.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApproveRequest {
    #[schema(schema_with = note_schema)]
    #[serde(default)]
    pub(super) comment: Option<String>,
}

/// A rejection; the reason is shown to the requester.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectRequest {
    #[schema(schema_with = reason_schema)]
    pub(super) reason: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListImportsQuery {
    /// Only requests in this status.
    pub(super) status: Option<ImportStatus>,
    /// Only requests for this environment.
    #[param(value_type = Option<EnvironmentName>)]
    pub(super) environment: Option<String>,
    /// Only this team's requests (researchers only ever see their own team's).
    #[param(value_type = Option<TeamName>)]
    pub(super) team: Option<String>,
    /// Only requests for this imported model name.
    #[param(value_type = Option<ImportedModelName>)]
    pub(super) model_name: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub(super) limit: Option<u32>,
    #[param(schema_with = cursor_schema)]
    pub(super) cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Page size, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub(super) limit: Option<u32>,
    #[param(schema_with = cursor_schema)]
    pub(super) cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mirror_is_exact() {
        for s in Status::ALL {
            let mirrored: ImportStatus = s.into();
            assert_eq!(Status::from(mirrored), s);
            assert_eq!(
                serde_json::to_value(mirrored).ok(),
                serde_json::to_value(s).ok()
            );
        }
    }
}
