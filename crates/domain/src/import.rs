//! A new import request, parsed from what a client sent.

use std::collections::BTreeMap;

use crate::auth::{Denied, Principal};
use crate::aws::{AccountId, Region};
use crate::bedrock::{ImportedModelName, JobName, MAX_TAGS, S3Uri, Tag};
use crate::catalog::{Catalog, Environment, Team};
use crate::condition::{Condition, ConditionStatus, ConditionType, Reason};
use crate::ids::ImportId;
use crate::model_package::{ModelPackageArn, PackageFacts, PackageLineage};
use crate::names::{EnvironmentName, TeamName};
use crate::status::Status;
use crate::trace::TraceParent;
use crate::{FieldError, RuleError, pointer_token};

/// Tag keys Ferry writes on every job and model; clients may not set them.
pub const RESERVED_TAG_PREFIX: &str = "ferry:";
/// The tags Ferry adds to each resource (see [`NewImport::ferry_tags`]).
pub const FERRY_TAG_COUNT: usize = 4;
/// Longest free-text description.
pub const MAX_DESCRIPTION: usize = 1024;

/// What a client asked for, before any check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportDraft {
    pub source: String,
    pub environment: String,
    pub model_name: String,
    pub team: Option<String>,
    pub job_name: Option<String>,
    pub description: Option<String>,
    pub model_tags: BTreeMap<String, String>,
    pub job_tags: BTreeMap<String, String>,
    /// What `DescribeModelPackage` said about the package `source` names, when `source` is a
    /// SageMaker model package ARN (read at the edge: see [`ImportDraft::package_to_read`]).
    pub package: Option<PackageFacts>,
}

/// A model package a draft names, and who reads it for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRead<'a> {
    pub arn: ModelPackageArn,
    pub team: &'a Team,
    pub environment: &'a Environment,
}

impl ImportDraft {
    /// The model package to describe before [`NewImport::from_draft`] can decide on this
    /// draft: `Some` when `source` is a well-formed package ARN, the team and environment are
    /// known, and the team may import from the package's account. Everything else is left
    /// to `from_draft`, which names the broken rule.
    pub fn package_to_read<'a>(
        &self,
        principal: &Principal,
        catalog: &'a Catalog,
    ) -> Option<PackageRead<'a>> {
        if !ModelPackageArn::looks_like(&self.source) {
            return None;
        }
        let arn = ModelPackageArn::parse(&self.source).ok()?;
        let team = match &self.team {
            Some(t) => TeamName::parse(t).ok()?,
            None => principal.team.clone()?,
        };
        let team = catalog.team(&team)?;
        team.may_read_package(&arn).ok()?;
        let environment = catalog.environment(&self.environment)?;
        Some(PackageRead {
            arn,
            team,
            environment,
        })
    }
}

/// A request that passed every check and may be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImport {
    pub id: ImportId,
    pub team: TeamName,
    pub environment: EnvironmentName,
    /// The environment's hosting account and Region, where the job will run.
    pub hosting_account: AccountId,
    pub region: Region,
    pub source: S3Uri,
    pub model_name: ImportedModelName,
    pub job_name: JobName,
    pub description: Option<String>,
    pub model_tags: Vec<Tag>,
    pub job_tags: Vec<Tag>,
    pub requested_by: String,
    pub status: Status,
    /// The completed request this one promotes to another environment.
    pub promoted_from: Option<ImportId>,
    /// The W3C `traceparent` of the API request that created it, so the
    /// worker's steps join that trace.
    pub traceparent: Option<TraceParent>,
    /// The SageMaker model package `source` was resolved from.
    pub model_package: Option<PackageLineage>,
}

/// Why a draft was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DraftRejected {
    /// The caller may not create requests for that team.
    Forbidden(String),
    /// One or more fields broke a rule; every broken field is listed.
    Invalid(Vec<FieldError>),
}

fn parse_tags(
    tags: &BTreeMap<String, String>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Vec<Tag> {
    let max = MAX_TAGS - FERRY_TAG_COUNT;
    if tags.len() > max {
        errors.push(
            RuleError::new(
                "tag.count",
                format!("at most {max} tags ({MAX_TAGS} per resource, {FERRY_TAG_COUNT} kept for Ferry's own)"),
            )
            .at(format!("/{field}")),
        );
    }
    let mut out = Vec::with_capacity(tags.len());
    for (k, v) in tags {
        let pointer = format!("/{field}/{}", pointer_token(k));
        if k.to_ascii_lowercase().starts_with(RESERVED_TAG_PREFIX) {
            errors.push(
                RuleError::new(
                    "tag.reserved",
                    "tag keys starting with \"ferry:\" are set by Ferry",
                )
                .at(pointer),
            );
            continue;
        }
        match Tag::new(k, v) {
            Ok(t) => out.push(t),
            Err(e) => errors.push(e.at(pointer)),
        }
    }
    out
}

impl NewImport {
    /// Checks every field of `draft` against Bedrock's rules and the catalog,
    /// collecting all problems rather than stopping at the first.
    pub fn from_draft(
        draft: &ImportDraft,
        principal: &Principal,
        catalog: &Catalog,
    ) -> Result<Self, DraftRejected> {
        if !principal.may_create() {
            return Err(DraftRejected::Forbidden(format!(
                "a {} may not create import requests",
                principal.role
            )));
        }
        let mut errors = Vec::new();

        // The team: a researcher's own, or the one an admin names.
        let team = match (&draft.team, &principal.team) {
            (Some(t), _) => match TeamName::parse(t) {
                Ok(t) => Some(t),
                Err(e) => {
                    errors.push(e.at("/team"));
                    None
                }
            },
            (None, Some(own)) => Some(own.clone()),
            (None, None) => {
                errors.push(
                    RuleError::new("required", "team is required for callers without a team")
                        .at("/team"),
                );
                None
            }
        };
        if let Some(team) = &team {
            if principal.can_create_for(team) == Err(Denied::Forbidden) {
                return Err(DraftRejected::Forbidden(format!(
                    "a {} may not create import requests for team {team}",
                    principal.role
                )));
            }
            if catalog.team(team).is_none() {
                errors.push(
                    RuleError::new("unknown_team", format!("team {team:?} is not configured"))
                        .at("/team"),
                );
            }
        }

        let environment = match catalog.environment(&draft.environment) {
            Some(env) => {
                if let Some(team) = &team
                    && !env.admits(team)
                {
                    errors.push(
                        RuleError::new(
                            "environment_not_allowed",
                            format!("team {team} may not target environment {}", env.name),
                        )
                        .at("/environment"),
                    );
                }
                Some(env)
            }
            None => {
                let known: Vec<&str> = catalog.environments().map(|e| e.name.as_str()).collect();
                errors.push(
                    RuleError::new(
                        "unknown_environment",
                        format!(
                            "unknown environment {:?}; known: {}",
                            draft.environment,
                            known.join(", ")
                        ),
                    )
                    .at("/environment"),
                );
                None
            }
        };

        let mut model_package = None;
        let parsed_source = if ModelPackageArn::looks_like(&draft.source) {
            match resolve_package(draft, team.as_ref(), environment, catalog) {
                Ok((uri, lineage)) => {
                    model_package = Some(lineage);
                    Ok(uri)
                }
                Err(e) => Err(e),
            }
        } else {
            S3Uri::parse(&draft.source)
        };
        let source = match parsed_source {
            Ok(uri) => {
                if let Some(team) = &team
                    && catalog.team(team).is_some()
                    && let Err(e) = catalog.source_for(team, &uri)
                {
                    errors.push(e.at("/source"));
                }
                Some(uri)
            }
            Err(e) => {
                errors.push(e.at("/source"));
                None
            }
        };

        let model_name = ImportedModelName::parse(&draft.model_name)
            .map_err(|e| errors.push(e.at("/model_name")))
            .ok();

        let id = ImportId::new();
        let job_name = match &draft.job_name {
            Some(j) => JobName::parse(j)
                .map_err(|e| errors.push(e.at("/job_name")))
                .ok(),
            None => JobName::parse(&format!("ferry-{}", id.simple())).ok(),
        };

        if let Some(d) = &draft.description
            && let Err(e) = RuleError::check_text(d, "a description", MAX_DESCRIPTION)
        {
            errors.push(e.at("/description"));
        }

        let model_tags = parse_tags(&draft.model_tags, "model_tags", &mut errors);
        let job_tags = parse_tags(&draft.job_tags, "job_tags", &mut errors);

        match (team, environment, source, model_name, job_name) {
            (Some(team), Some(env), Some(source), Some(model_name), Some(job_name))
                if errors.is_empty() =>
            {
                Ok(Self {
                    id,
                    team,
                    environment: env.name.clone(),
                    hosting_account: env.account.clone(),
                    region: env.region.clone(),
                    source,
                    model_name,
                    job_name,
                    description: draft.description.clone(),
                    model_tags,
                    job_tags,
                    requested_by: principal.name.clone(),
                    status: Status::initial(env.requires_approval),
                    promoted_from: None,
                    traceparent: None,
                    model_package,
                })
            }
            _ => Err(DraftRejected::Invalid(errors)),
        }
    }

    /// A request for the artifact of the completed request `from`, in the
    /// environment `draft` names, made by the hosting team: the same checks
    /// as any new request (the team's sources, the environment's teams and
    /// approval rule). `draft.team` must be the original request's team.
    pub fn promotion(
        draft: &ImportDraft,
        from: ImportId,
        promoter: &Principal,
        catalog: &Catalog,
    ) -> Result<Self, DraftRejected> {
        let team = draft
            .team
            .as_deref()
            .and_then(|t| TeamName::parse(t).ok())
            .ok_or_else(|| {
                DraftRejected::Invalid(vec![
                    RuleError::new("required", "the team is required").at("/team"),
                ])
            })?;
        if promoter.can_review(&team).is_err() {
            return Err(DraftRejected::Forbidden(format!(
                "a {} may not promote import requests",
                promoter.role
            )));
        }
        // The hosting team acts for the request's team here, as an admin would.
        let acting = Principal {
            role: crate::auth::Role::Admin,
            team: None,
            ..promoter.clone()
        };
        let mut new = Self::from_draft(draft, &acting, catalog)?;
        new.promoted_from = Some(from);
        Ok(new)
    }

    /// The conditions a new request starts with.
    pub fn initial_conditions(&self) -> Vec<Condition> {
        let mut conditions = vec![Condition::new(
            ConditionType::Accepted,
            ConditionStatus::True,
            Reason::InputValid,
            "every field passed Bedrock's rules and the team's source allowance",
        )];
        if self.status == Status::PendingApproval {
            conditions.push(Condition::new(
                ConditionType::Approved,
                ConditionStatus::False,
                Reason::AwaitingApproval,
                format!(
                    "environment {} requires approval by the hosting team",
                    self.environment
                ),
            ));
        }
        conditions
    }

    /// The tags Ferry itself puts on the job and the imported model.
    pub fn ferry_tags(&self) -> Vec<Tag> {
        ferry_tags(
            self.id,
            self.team.as_str(),
            &self.requested_by,
            self.source.as_str(),
        )
    }
}

/// The S3 prefix of the model package `draft.source` names, from the facts read at the edge.
fn resolve_package(
    draft: &ImportDraft,
    team: Option<&TeamName>,
    environment: Option<&Environment>,
    catalog: &Catalog,
) -> Result<(S3Uri, PackageLineage), RuleError> {
    let arn = ModelPackageArn::parse(&draft.source)?;
    if let Some(team) = team.and_then(|t| catalog.team(t)) {
        team.may_read_package(&arn)?;
    }
    let facts = draft.package.as_ref().ok_or_else(|| {
        RuleError::new(
            "model_package.unread",
            format!("model package {arn} could not be read"),
        )
    })?;
    if !facts.arn.as_str().eq_ignore_ascii_case(arn.as_str()) {
        return Err(RuleError::new(
            "model_package.unread",
            format!("SageMaker described {} when asked for {arn}", facts.arn),
        ));
    }
    facts.resolve(environment.is_none_or(|e| e.require_approved_model_packages))
}

/// The tags Ferry puts on every job and imported model, so that anything
/// found in a hosting account leads back to its request.
pub fn ferry_tags(id: ImportId, team: &str, requester: &str, source: &str) -> Vec<Tag> {
    [
        ("ferry:request-id", id.to_string()),
        ("ferry:team", team.to_owned()),
        ("ferry:requester", requester.to_owned()),
        ("ferry:source", source.to_owned()),
    ]
    .into_iter()
    .filter_map(|(k, v)| Tag::sanitized(k, &v).ok())
    .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::catalog::tests::walkthrough;

    fn researcher(team: &str) -> Principal {
        Principal {
            id: "token:1".into(),
            name: "alice".into(),
            role: Role::Researcher,
            team: Some(TeamName::parse(team).unwrap()),
        }
    }

    fn draft() -> ImportDraft {
        ImportDraft {
            source: "s3://model-artifacts-111122223333/llama/v1/".into(),
            environment: "dev".into(),
            model_name: "llama3-8b".into(),
            ..ImportDraft::default()
        }
    }

    fn invalid(r: Result<NewImport, DraftRejected>) -> Vec<(String, &'static str)> {
        match r {
            Err(DraftRejected::Invalid(errs)) => {
                errs.into_iter().map(|e| (e.pointer, e.rule)).collect()
            }
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_draft_becomes_a_request() {
        let c = walkthrough();
        let n = NewImport::from_draft(&draft(), &researcher("research"), &c).unwrap();
        assert_eq!(n.team.as_str(), "research");
        assert_eq!(n.status, Status::Queued);
        assert_eq!(n.job_name.as_str(), format!("ferry-{}", n.id.simple()));
        let mut d = draft();
        d.environment = "prod".into();
        let n = NewImport::from_draft(&d, &researcher("research"), &c).unwrap();
        assert_eq!(n.status, Status::PendingApproval);
        assert_eq!(n.ferry_tags().len(), FERRY_TAG_COUNT);
    }

    #[test]
    fn every_bad_field_is_named() {
        let c = walkthrough();
        let d = ImportDraft {
            source: "s3://Bad/x".into(),
            environment: "moon".into(),
            model_name: "bad.name".into(),
            team: None,
            job_name: Some("-x".into()),
            description: Some("d".repeat(MAX_DESCRIPTION + 1)),
            model_tags: BTreeMap::from([
                ("aws:x".into(), "v".into()),
                ("ferry:team".into(), "v".into()),
            ]),
            job_tags: BTreeMap::from([("ok".into(), "bad*".into())]),
            package: None,
        };
        let got = invalid(NewImport::from_draft(&d, &researcher("research"), &c));
        let want = vec![
            ("/environment".to_owned(), "unknown_environment"),
            ("/source".to_owned(), "s3_uri.bucket"),
            ("/model_name".to_owned(), "imported_model_name.charset"),
            ("/job_name".to_owned(), "job_name.start"),
            ("/description".to_owned(), "length"),
            ("/model_tags/aws:x".to_owned(), "tag.reserved"),
            ("/model_tags/ferry:team".to_owned(), "tag.reserved"),
            ("/job_tags/ok".to_owned(), "tag.charset"),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn sources_outside_the_team_allowance_are_refused() {
        let c = walkthrough();
        let got = invalid(NewImport::from_draft(&draft(), &researcher("vision"), &c));
        assert_eq!(got, vec![("/source".to_owned(), "source_not_allowed")]);
    }

    #[test]
    fn researchers_cannot_create_for_another_team() {
        let c = walkthrough();
        let mut d = draft();
        d.team = Some("vision".into());
        assert!(matches!(
            NewImport::from_draft(&d, &researcher("research"), &c),
            Err(DraftRejected::Forbidden(_))
        ));
    }

    #[test]
    fn admins_must_name_a_team() {
        let c = walkthrough();
        let admin = Principal {
            id: "token:2".into(),
            name: "root".into(),
            role: Role::Admin,
            team: None,
        };
        assert_eq!(
            invalid(NewImport::from_draft(&draft(), &admin, &c)),
            vec![("/team".to_owned(), "required")]
        );
        let mut d = draft();
        d.team = Some("research".into());
        NewImport::from_draft(&d, &admin, &c).unwrap();
        d.team = Some("nobody".into());
        assert_eq!(
            invalid(NewImport::from_draft(&d, &admin, &c)),
            vec![("/team".to_owned(), "unknown_team")]
        );
    }

    #[test]
    fn only_researchers_and_admins_create() {
        let c = walkthrough();
        for role in [Role::Viewer, Role::Hosting] {
            let p = Principal {
                role,
                team: None,
                ..researcher("research")
            };
            assert!(matches!(
                NewImport::from_draft(&draft(), &p, &c),
                Err(DraftRejected::Forbidden(_))
            ));
        }
    }

    #[test]
    fn promotions_are_the_hosting_teams_and_keep_every_check() {
        let c = walkthrough();
        let from = ImportId::new();
        let mut d = draft();
        d.team = Some("research".into());
        d.environment = "prod".into();
        let hosting = Principal {
            role: Role::Hosting,
            team: None,
            ..researcher("research")
        };
        let n = NewImport::promotion(&d, from, &hosting, &c).unwrap();
        assert_eq!(n.promoted_from, Some(from));
        assert_eq!(
            n.status,
            Status::PendingApproval,
            "prod's approval rule applies"
        );
        assert_eq!(n.team.as_str(), "research");
        assert!(matches!(
            NewImport::promotion(&d, from, &researcher("research"), &c),
            Err(DraftRejected::Forbidden(_))
        ));
        let mut vision = d;
        vision.team = Some("vision".into());
        assert!(
            matches!(
                NewImport::promotion(&vision, from, &hosting, &c),
                Err(DraftRejected::Invalid(_))
            ),
            "the team's source allowance still applies"
        );
    }

    #[test]
    fn too_many_tags() {
        let c = walkthrough();
        let mut d = draft();
        d.job_tags = (0..=MAX_TAGS - FERRY_TAG_COUNT)
            .map(|i| (format!("k{i}"), "v".into()))
            .collect();
        assert_eq!(
            invalid(NewImport::from_draft(&d, &researcher("research"), &c)),
            vec![("/job_tags".to_owned(), "tag.count")]
        );
    }
}
