//! A SageMaker Model Registry package as the source of an import: its ARN, what
//! `DescribeModelPackage` says about it, and the rules that turn it into the S3 prefix Bedrock
//! imports from.
//!
//! Shapes and patterns from botocore's SageMaker model (`sagemaker/2017-07-24/service-2.json`):
//! `ModelPackageArn` is `arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]{9,16}:[0-9]{12}:model-package/...`,
//! and `DescribeModelPackage` takes a `VersionedArnOrName` of at most 176 characters whose name
//! is an `EntityName` (1 to 63 of letters, digits and `-`, not starting or ending with `-`)
//! and whose version is `/[0-9]{1,9}`. `ModelApprovalStatus` is one of `Approved`, `Rejected`,
//! `PendingManualApproval`. The weights are `InferenceSpecification.Containers[0]`'s
//! `ModelDataSource.S3DataSource` (`S3Uri`, `S3DataType` `S3Prefix|S3Object`,
//! `CompressionType` `None|Gzip`) or its `ModelDataUrl` (a `.tar.gz` by the model's own
//! documentation). Bedrock Custom Model Import reads an uncompressed folder of safetensors, so
//! only an uncompressed `S3Prefix` (or an `s3://` `ModelDataUrl` that is a folder) can be
//! imported.

use crate::RuleError;
use crate::aws::AccountId;
use crate::bedrock::S3Uri;

/// Longest `DescribeModelPackage` `ModelPackageName` (`VersionedArnOrName`).
pub const MAX_ARN: usize = 176;

/// The source field's rule for a package ARN, as an ECMA-262 pattern without anchors.
pub const ARN_PATTERN: &str = r"arn:aws[-a-z]{0,10}:sagemaker:[-a-z0-9]{9,16}:[0-9]{12}:model-package/[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(/[0-9]{1,9})?";

/// A SageMaker model package ARN: `arn:<partition>:sagemaker:<region>:<account>:model-package/
/// <name>[/<version>]` (a versioned package of a model package group, or an unversioned one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModelPackageArn {
    raw: String,
    account: AccountId,
    region: String,
    name: String,
    version: Option<u32>,
}

impl From<ModelPackageArn> for String {
    fn from(a: ModelPackageArn) -> String {
        a.raw
    }
}

impl TryFrom<String> for ModelPackageArn {
    type Error = RuleError;
    fn try_from(s: String) -> Result<Self, RuleError> {
        Self::parse(&s)
    }
}

impl std::fmt::Display for ModelPackageArn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

fn is_entity_name(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

impl ModelPackageArn {
    /// Whether `source` is meant as a package ARN rather than an S3 URI.
    pub fn looks_like(source: &str) -> bool {
        source.starts_with("arn:")
    }

    pub fn parse(s: &str) -> Result<Self, RuleError> {
        let bad = || {
            RuleError::new(
                "model_package_arn",
                format!(
                    "{s:?} is not a SageMaker model package ARN like \
                     \"arn:aws:sagemaker:us-east-1:111122223333:model-package/llama3-8b/1\""
                ),
            )
        };
        if s.len() > MAX_ARN {
            return Err(RuleError::new(
                "model_package_arn",
                format!(
                    "a model package ARN is at most {MAX_ARN} characters, got {}",
                    s.len()
                ),
            ));
        }
        let mut parts = s.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some("sagemaker"),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(bad());
        };
        let partition_ok = partition.strip_prefix("aws").is_some_and(|rest| {
            rest.len() <= 10 && rest.bytes().all(|c| c.is_ascii_lowercase() || c == b'-')
        });
        let region_ok = (9..=16).contains(&region.len())
            && region
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
        if !partition_ok || !region_ok {
            return Err(bad());
        }
        let account = AccountId::parse(account).map_err(|_| bad())?;
        let path = resource.strip_prefix("model-package/").ok_or_else(bad)?;
        let (name, version) = match path.split_once('/') {
            None => (path, None),
            Some((name, v)) => {
                if v.is_empty() || v.len() > 9 || !v.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(bad());
                }
                (name, Some(v.parse::<u32>().map_err(|_| bad())?))
            }
        };
        if !is_entity_name(name) {
            return Err(bad());
        }
        Ok(Self {
            raw: s.to_owned(),
            account,
            region: region.to_owned(),
            name: name.to_owned(),
            version,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The account that owns the package (the research account).
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The Region of the package: SageMaker is called there.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The package's name: its model package group for a versioned package.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version, for a versioned package.
    pub fn version(&self) -> Option<u32> {
        self.version
    }
}

/// `ModelApprovalStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ApprovalStatus {
    Approved,
    Rejected,
    PendingManualApproval,
}

impl ApprovalStatus {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Approved" => Self::Approved,
            "Rejected" => Self::Rejected,
            "PendingManualApproval" => Self::PendingManualApproval,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "Approved",
            Self::Rejected => "Rejected",
            Self::PendingManualApproval => "PendingManualApproval",
        }
    }
}

/// Where the package says its weights are (`InferenceSpecification.Containers[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageArtifact {
    /// `ModelDataSource.S3DataSource`.
    S3DataSource {
        uri: String,
        /// `S3DataType`: `S3Prefix` or `S3Object`.
        data_type: String,
        /// `CompressionType`: `None` or `Gzip`.
        compression: String,
    },
    /// `ModelDataUrl`.
    ModelDataUrl(String),
    /// No container, or a container without model data (an image that carries its weights).
    None,
}

/// What `DescribeModelPackage` said, parsed at the edge (`ferry_cloud`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFacts {
    /// `ModelPackageArn` as SageMaker returned it.
    pub arn: ModelPackageArn,
    /// `ModelPackageGroupName`, for a versioned package.
    pub group: Option<String>,
    /// `ModelPackageVersion`.
    pub version: Option<u32>,
    /// `ModelApprovalStatus`; absent on unversioned packages.
    pub approval: Option<ApprovalStatus>,
    /// `ModelPackageStatus` (`Completed` when usable).
    pub status: String,
    pub artifact: PackageArtifact,
}

/// What an import request records about the package it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackageLineage {
    pub arn: ModelPackageArn,
    pub group: Option<String>,
    pub version: Option<u32>,
    /// The approval status when the request was made.
    pub approval: Option<ApprovalStatus>,
    /// The S3 prefix the package pointed at (the request's `source`).
    pub artifact_uri: String,
}

impl PackageFacts {
    /// The S3 prefix to import, or why this package cannot be imported. `require_approved`:
    /// the environment's `require_approved_model_packages`.
    pub fn resolve(&self, require_approved: bool) -> Result<(S3Uri, PackageLineage), RuleError> {
        if self.status != "Completed" {
            return Err(RuleError::new(
                "model_package.not_completed",
                format!(
                    "model package {} is {}, not Completed",
                    self.arn, self.status
                ),
            ));
        }
        if require_approved && self.approval != Some(ApprovalStatus::Approved) {
            return Err(RuleError::new(
                "model_package.not_approved",
                format!(
                    "model package {} is {}, and this environment imports only Approved \
                     packages: approve it in SageMaker Model Registry \
                     (UpdateModelPackage ModelApprovalStatus=Approved)",
                    self.arn,
                    self.approval
                        .map_or("without an approval status", ApprovalStatus::as_str)
                ),
            ));
        }
        let uri = match &self.artifact {
            PackageArtifact::None => {
                return Err(RuleError::new(
                    "model_package.no_s3_artifacts",
                    format!(
                        "model package {} has no model data in S3 \
                         (InferenceSpecification.Containers[0] has neither ModelDataSource \
                         nor ModelDataUrl)",
                        self.arn
                    ),
                ));
            }
            PackageArtifact::S3DataSource {
                uri,
                data_type,
                compression,
            } => {
                if compression != "None" {
                    return Err(compressed(&self.arn, uri));
                }
                if data_type != "S3Prefix" {
                    return Err(RuleError::new(
                        "model_package.not_a_prefix",
                        format!(
                            "model package {} points at one S3 object ({uri}); Bedrock imports \
                             a folder of safetensors: register the model with S3DataType=S3Prefix",
                            self.arn
                        ),
                    ));
                }
                uri
            }
            PackageArtifact::ModelDataUrl(url) => {
                if url.ends_with(".tar.gz") || url.ends_with(".tgz") || url.ends_with(".gz") {
                    return Err(compressed(&self.arn, url));
                }
                url
            }
        };
        if !uri.starts_with("s3://") {
            return Err(RuleError::new(
                "model_package.no_s3_artifacts",
                format!(
                    "model package {} keeps its model data at {uri}, not in S3",
                    self.arn
                ),
            ));
        }
        let s3 = S3Uri::parse(uri).map_err(|e| {
            RuleError::new(
                "model_package.no_s3_artifacts",
                format!(
                    "model package {} points at {uri}, which Bedrock cannot import: {e}",
                    self.arn
                ),
            )
        })?;
        let lineage = PackageLineage {
            arn: self.arn.clone(),
            group: self.group.clone(),
            version: self.version.or(self.arn.version()),
            approval: self.approval,
            artifact_uri: s3.as_str().to_owned(),
        };
        Ok((s3, lineage))
    }
}

fn compressed(arn: &ModelPackageArn, uri: &str) -> RuleError {
    RuleError::new(
        "model_package.compressed",
        format!(
            "model package {arn} keeps its model data compressed ({uri}); Bedrock Custom Model \
             Import needs uncompressed safetensors: register the model with \
             ModelDataSource.S3DataSource S3DataType=S3Prefix, CompressionType=None"
        ),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:sagemaker:us-east-1:111122223333:model-package/llama3-8b/3";

    #[test]
    fn package_arns_parse_with_botocores_rules() {
        let a = ModelPackageArn::parse(ARN).unwrap();
        assert_eq!(a.account().as_str(), "111122223333");
        assert_eq!(a.region(), "us-east-1");
        assert_eq!(a.name(), "llama3-8b");
        assert_eq!(a.version(), Some(3));
        let unversioned = ModelPackageArn::parse(
            "arn:aws-us-gov:sagemaker:us-gov-west-1:111122223333:model-package/m",
        )
        .unwrap();
        assert_eq!(unversioned.version(), None);
        for bad in [
            "arn:aws:sagemaker:us-east-1:111122223333:model-package-group/llama3-8b",
            "arn:aws:sagemaker:us-east-1:11112222333:model-package/llama3-8b/1",
            "arn:aws:s3:us-east-1:111122223333:model-package/llama3-8b/1",
            "arn:aws:sagemaker:us-east-1:111122223333:model-package/-llama/1",
            "arn:aws:sagemaker:us-east-1:111122223333:model-package/llama-/1",
            "arn:aws:sagemaker:us-east-1:111122223333:model-package/llama/",
            "arn:aws:sagemaker:us-east-1:111122223333:model-package/llama/1/2",
            "arn:aws:sagemaker:us-east-1:111122223333:model-package/llama/1234567890",
            "arn:aws:sagemaker:us-east-1:111122223333:model-package/ll_ama/1",
            "arn:aws:sagemaker:east:111122223333:model-package/llama/1",
            "arn:gcp:sagemaker:us-east-1:111122223333:model-package/llama/1",
            "s3://bucket/prefix/",
        ] {
            let e = ModelPackageArn::parse(bad).unwrap_err();
            assert_eq!(e.rule, "model_package_arn", "{bad}");
        }
        let long = format!(
            "arn:aws:sagemaker:us-east-1:111122223333:model-package/{}/1",
            "a".repeat(64)
        );
        assert!(ModelPackageArn::parse(&long).is_err());
        let max = format!(
            "arn:aws:sagemaker:us-east-1:111122223333:model-package/{}/1",
            "a".repeat(63)
        );
        assert!(ModelPackageArn::parse(&max).is_ok());
        assert!(ModelPackageArn::looks_like(ARN));
        assert!(!ModelPackageArn::looks_like("s3://b/p/"));
    }

    #[test]
    fn the_schema_pattern_says_what_the_parser_accepts() {
        // The pattern's name part is 1 to 63 characters without a leading or trailing '-'.
        assert!(ARN_PATTERN.contains("[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?"));
        assert!(ARN_PATTERN.contains("(/[0-9]{1,9})?"));
    }

    fn facts(approval: Option<ApprovalStatus>, artifact: PackageArtifact) -> PackageFacts {
        PackageFacts {
            arn: ModelPackageArn::parse(ARN).unwrap(),
            group: Some("llama3-8b".into()),
            version: Some(3),
            approval,
            status: "Completed".into(),
            artifact,
        }
    }

    fn prefix(uri: &str) -> PackageArtifact {
        PackageArtifact::S3DataSource {
            uri: uri.into(),
            data_type: "S3Prefix".into(),
            compression: "None".into(),
        }
    }

    #[test]
    fn an_approved_uncompressed_prefix_resolves_with_its_lineage() {
        let f = facts(
            Some(ApprovalStatus::Approved),
            prefix("s3://model-artifacts-111122223333/llama3-8b/v3/"),
        );
        let (uri, lineage) = f.resolve(true).unwrap();
        assert_eq!(
            uri.as_str(),
            "s3://model-artifacts-111122223333/llama3-8b/v3/"
        );
        assert_eq!(lineage.version, Some(3));
        assert_eq!(lineage.approval, Some(ApprovalStatus::Approved));
        assert_eq!(lineage.arn.as_str(), ARN);
        // An s3:// ModelDataUrl that is a folder is usable too.
        let url = facts(
            Some(ApprovalStatus::Approved),
            PackageArtifact::ModelDataUrl("s3://model-artifacts-111122223333/m/".into()),
        );
        assert!(url.resolve(true).is_ok());
    }

    #[test]
    fn packages_bedrock_cannot_import_are_refused_with_a_stable_rule() {
        let uri = "s3://model-artifacts-111122223333/llama3-8b/v3/";
        let cases = [
            (
                facts(Some(ApprovalStatus::PendingManualApproval), prefix(uri)),
                "model_package.not_approved",
            ),
            (
                facts(Some(ApprovalStatus::Rejected), prefix(uri)),
                "model_package.not_approved",
            ),
            (facts(None, prefix(uri)), "model_package.not_approved"),
            (
                facts(Some(ApprovalStatus::Approved), PackageArtifact::None),
                "model_package.no_s3_artifacts",
            ),
            (
                facts(
                    Some(ApprovalStatus::Approved),
                    PackageArtifact::ModelDataUrl("s3://b-123/model.tar.gz".into()),
                ),
                "model_package.compressed",
            ),
            (
                facts(
                    Some(ApprovalStatus::Approved),
                    PackageArtifact::S3DataSource {
                        uri: uri.into(),
                        data_type: "S3Prefix".into(),
                        compression: "Gzip".into(),
                    },
                ),
                "model_package.compressed",
            ),
            (
                facts(
                    Some(ApprovalStatus::Approved),
                    PackageArtifact::S3DataSource {
                        uri: "s3://b-123/model.safetensors".into(),
                        data_type: "S3Object".into(),
                        compression: "None".into(),
                    },
                ),
                "model_package.not_a_prefix",
            ),
            (
                facts(
                    Some(ApprovalStatus::Approved),
                    PackageArtifact::ModelDataUrl("https://example.com/m/".into()),
                ),
                "model_package.no_s3_artifacts",
            ),
        ];
        for (f, rule) in cases {
            assert_eq!(f.resolve(true).unwrap_err().rule, rule, "{f:?}");
        }
        let mut pending = facts(None, prefix(uri));
        assert!(pending.resolve(false).is_ok(), "approval not required");
        pending.status = "InProgress".into();
        assert_eq!(
            pending.resolve(false).unwrap_err().rule,
            "model_package.not_completed"
        );
    }
}
