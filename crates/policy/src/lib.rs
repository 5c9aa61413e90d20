//! Ferry's IAM: an evaluator of AWS policies ([`iam`]), and the cross-account policy kit built
//! on it: every IAM and KMS policy document the import chain needs, rendered from the catalog,
//! and a check of documents an account already has.
//!
//! Pure code: no AWS calls. [`iam::authorize`] decides a request the way AWS does (identity,
//! resource and trust policies, conditions, cross-account rules); the sim enforces it and
//! Ferry's preflight and checks use it, so both sides agree.
//!
//! [`render`] builds least-privilege documents for one hosting environment and the sources its
//! teams may import from; [`check`] evaluates existing documents with [`iam::authorize`]
//! against exactly the requests the import makes and names the [`ChainStep`] of every missing
//! grant, plus the over-grants it sees; [`trust`] asks whether Bedrock may assume an execution
//! role.

pub mod iam;
pub mod trust;

mod check;
mod render;

pub use check::{CheckReport, Finding, FindingKind, GivenDocuments, check};
pub use render::{
    ChainInputs, DocumentKind, RegistryAccess, RenderedDocument, ServiceAccountTrust,
    StatementNote, WEB_IDENTITY_AUDIENCE, render,
};

use ferry_domain::chain::ChainStep;

/// The `Sid` of the control role's statement that passes the execution role to Bedrock
/// ([`ChainStep::PassRole`]): in rendered documents, in checks, and in the sim's scenario.
pub const PASS_ROLE_SID: &str = "PassExecutionRole";

/// The Bedrock service principal.
pub const BEDROCK_SERVICE: &str = "bedrock.amazonaws.com";

/// The Bedrock actions Ferry's control role calls to import, track and delete models.
pub const BEDROCK_IMPORT_ACTIONS: [&str; 6] = [
    "bedrock:CreateModelImportJob",
    "bedrock:GetModelImportJob",
    "bedrock:ListModelImportJobs",
    "bedrock:GetImportedModel",
    "bedrock:ListImportedModels",
    "bedrock:DeleteImportedModel",
];

/// The account inventory tells Ferry's imported models from others by their tags. Bedrock
/// authorizes `ListTagsForResource` on the resource whose tags it lists (Service Authorization
/// Reference, Amazon Bedrock: resource types `imported-model`, `model-import-job`, ... required),
/// and the inventory reads only imported models' tags, so the grant is on
/// `imported-model/*` of the account and Region.
pub const TAGS_ACTION: &str = "bedrock:ListTagsForResource";

/// The `Sid` of the control role's statement that lets it read imported models' tags.
pub const TAGS_SID: &str = "ReadImportedModelTags";

/// The account inventory reads when each imported model was last invoked from CloudWatch
/// (`AWS/Bedrock` `Invocations` by `ModelId`). The Service Authorization Reference lists no
/// resource type for `cloudwatch:GetMetricData`, so the grant is on `*`.
pub const INVOCATIONS_ACTION: &str = "cloudwatch:GetMetricData";

/// The `Sid` of the control role's statement that lets it read the invocation metrics.
pub const INVOCATIONS_SID: &str = "ReadModelInvocations";

/// The Service Quotas action the account inventory calls for Bedrock's quotas (imported
/// models per account, concurrent import jobs), on the quota ARN
/// `arn:aws:servicequotas:<region>:<account>:bedrock/<quota code>` (Service Authorization
/// Reference, Service Quotas: resource type `quota`).
pub const QUOTA_ACTION: &str = "servicequotas:GetServiceQuota";

/// The `Sid` of the control role's statement that lets it read Bedrock's quotas.
pub const QUOTAS_SID: &str = "ReadBedrockQuotas";

/// The bedrock-runtime action Ferry's control role calls on the account's imported models: the
/// readiness check after an import invokes the model (`InvokeModel` and `Converse` both
/// require `bedrock:InvokeModel`: API reference, Converse; user guide, "Prerequisites for
/// running model inference").
pub const BEDROCK_INVOKE_ACTION: &str = "bedrock:InvokeModel";

/// The `Sid` of the control role's statement that lets it invoke the account's imported models.
pub const INVOKE_SID: &str = "InvokeImportedModels";

/// The SageMaker action Ferry calls at submit to read a model package named as the source
/// (`crates/cloud/src/registry.rs`), authorized on
/// `arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>` (Service
/// Authorization Reference, Amazon SageMaker: resource type `model-package`).
pub const REGISTRY_ACTION: &str = "sagemaker:DescribeModelPackage";

/// The `Sid` of the control role's statement that reads research accounts' model packages
/// itself (no reader role configured); the sim's scenario uses the same.
pub const REGISTRY_SID: &str = "ReadModelRegistry";

/// The `Sid` of the control role's statement that assumes the teams' model registry reader roles.
pub const REGISTRY_READER_SID: &str = "AssumeModelRegistryReader";

/// What the execution role needs on the research key.
pub const SOURCE_KEY_ACTIONS: [&str; 2] = ["kms:Decrypt", "kms:DescribeKey"];

/// What the execution role needs on the hosting key (the user guide's list).
pub const HOSTING_KEY_ACTIONS: [&str; 4] = [
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:DescribeKey",
    "kms:CreateGrant",
];

/// The chain step a document belongs to (the one to fix when it lacks a grant).
#[must_use]
pub fn step_of(kind: DocumentKind) -> ChainStep {
    match kind {
        DocumentKind::BucketPolicy => ChainStep::BucketPolicy,
        DocumentKind::ExecutionRolePolicy => ChainStep::ExecutionRoleIdentityPolicy,
        DocumentKind::ExecutionRoleTrustPolicy => ChainStep::TrustPolicy,
        DocumentKind::SourceKeyPolicy => ChainStep::SourceKeyPolicy,
        DocumentKind::HostingKeyPolicy => ChainStep::HostingKeyPolicy,
        // Reading model packages is Ferry's own access (step 6's control role, and what it is
        // let into in the research account): no step of the walkthrough of its own.
        DocumentKind::ControlRolePolicy
        | DocumentKind::ControlRoleTrustPolicy
        | DocumentKind::ModelPackageGroupPolicy
        | DocumentKind::RegistryReaderPolicy
        | DocumentKind::RegistryReaderTrustPolicy => ChainStep::ControlRolePolicy,
    }
}

#[cfg(test)]
mod tests;
