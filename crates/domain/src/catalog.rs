//! What the platform admin declares: hosting environments, research teams and
//! the source buckets each team may import from.

use std::collections::BTreeMap;

use crate::RuleError;
use crate::aws::{AccountId, KmsKeyRef, Region, RoleArn};
use crate::bedrock::{S3Uri, VpcSettings, check_bucket};
use crate::model_package::ModelPackageArn;
use crate::names::{EnvironmentName, TeamName};

/// A hosting environment: one Bedrock account and Region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub name: EnvironmentName,
    pub description: Option<String>,
    /// The hosting account that runs the import jobs.
    pub account: AccountId,
    pub region: Region,
    /// The role Ferry assumes in the hosting account to call S3 and Bedrock.
    pub control_role: RoleArn,
    /// The role Bedrock assumes to read the artifacts (`roleArn` of the job).
    pub execution_role: RoleArn,
    /// `importedModelKmsKeyId`: the hosting account's key for the imported model.
    pub imported_model_kms_key: Option<KmsKeyRef>,
    /// New requests wait in `pending_approval` until the hosting team approves.
    pub requires_approval: bool,
    /// Teams that may target this environment; `None` means every team.
    pub teams: Option<Vec<TeamName>>,
    /// Run import jobs in this VPC (`vpcConfig`).
    pub vpc: Option<VpcSettings>,
    /// A promotion out of this environment needs the model to have passed the readiness
    /// check (it is refused when `Serving=False`). `None`: only promotions into an
    /// environment that requires approval (prod) need it.
    pub require_serving_for_promotion: Option<bool>,
    /// A model Ferry imported into this environment that nobody invoked for this many days
    /// (CloudWatch's `Invocations`, else since its import) is a deletion candidate: marked,
    /// never deleted by Ferry. `None`: no model is.
    pub idle_after_days: Option<u32>,
    /// A SageMaker model package is imported only when its `ModelApprovalStatus` is
    /// `Approved` (`require_approved_model_packages`, default on).
    pub require_approved_model_packages: bool,
}

/// What happens to a request whose artifact digest matches a model already imported, or being
/// imported, in the same environment (`model_reuse` in the environment's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelReuse {
    /// Complete by reference to that model without an import job of its own (waiting for it
    /// while it is still being imported): no second job slot, no second model's storage.
    #[default]
    Reuse,
    /// Import again, with a warning in the preflight report naming the model it duplicates.
    Warn,
    /// Import again without looking.
    Import,
}

impl ModelReuse {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reuse => "reuse",
            Self::Warn => "warn",
            Self::Import => "import",
        }
    }
}

impl Environment {
    pub fn admits(&self, team: &TeamName) -> bool {
        self.teams.as_ref().is_none_or(|t| t.contains(team))
    }

    /// Whether promoting a request out of this environment into `target` needs its model
    /// to be serving: as configured, else when `target` requires approval (the environment
    /// prod is promoted from has the gate by default).
    pub fn requires_serving_to_promote_to(&self, target: &Environment) -> bool {
        self.require_serving_for_promotion
            .unwrap_or(target.requires_approval)
    }
}

/// A bucket (optionally a prefix in it) that a team may import from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedSource {
    pub bucket: String,
    /// The research account that owns the bucket.
    pub account: AccountId,
    /// Limits the team to keys under this prefix (normalised to end in '/').
    pub prefix: Option<String>,
    /// The research account's key that encrypts the artifacts, if any.
    pub kms_key: Option<KmsKeyRef>,
}

impl AllowedSource {
    pub fn new(
        bucket: &str,
        account: AccountId,
        prefix: Option<&str>,
        kms_key: Option<KmsKeyRef>,
    ) -> Result<Self, RuleError> {
        check_bucket(bucket)?;
        let prefix = match prefix.map(|p| p.trim_matches('/')) {
            None | Some("") => None,
            Some(p) => {
                // Reuse the URI rules for the key part.
                S3Uri::parse(&format!("s3://{bucket}/{p}/"))?;
                Some(format!("{p}/"))
            }
        };
        Ok(Self {
            bucket: bucket.to_owned(),
            account,
            prefix,
            kms_key,
        })
    }

    pub fn covers(&self, uri: &S3Uri) -> bool {
        uri.bucket() == self.bucket
            && self
                .prefix
                .as_deref()
                .is_none_or(|p| uri.prefix().starts_with(p))
    }

    pub fn describe(&self) -> String {
        format!(
            "s3://{}/{}",
            self.bucket,
            self.prefix.as_deref().unwrap_or("")
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub name: TeamName,
    pub sources: Vec<AllowedSource>,
    /// How the team's SageMaker model packages are read (`[teams.<name>.model_registry]`).
    pub model_registry: ModelRegistry,
}

/// Which SageMaker Model Registry packages a team may import, and with which rights Ferry
/// reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelRegistry {
    /// Research accounts whose packages the team may import; empty: the accounts of the
    /// team's sources.
    pub accounts: Vec<AccountId>,
    /// A read-only role in the research account (`sagemaker:DescribeModelPackage`), assumed
    /// from the environment's control role. `None`: the control role reads the package itself,
    /// which the package's model package group policy must allow
    /// (`PutModelPackageGroupPolicy`, SageMaker's cross-account sharing).
    pub reader_role: Option<RoleArn>,
}

impl Team {
    /// The research accounts whose model packages this team may import.
    pub fn registry_accounts(&self) -> Vec<&AccountId> {
        if self.model_registry.accounts.is_empty() {
            let mut accounts: Vec<&AccountId> = self.sources.iter().map(|s| &s.account).collect();
            accounts.sort();
            accounts.dedup();
            accounts
        } else {
            self.model_registry.accounts.iter().collect()
        }
    }

    /// Whether the team may import `package` (by the account that owns it), or why not.
    pub fn may_read_package(&self, package: &ModelPackageArn) -> Result<(), RuleError> {
        let accounts = self.registry_accounts();
        if accounts.contains(&package.account()) {
            return Ok(());
        }
        let allowed: Vec<&str> = accounts.iter().map(|a| a.as_str()).collect();
        Err(RuleError::new(
            "model_package.account_not_allowed",
            format!(
                "model package {package} belongs to account {}, which team {} may not import \
                 from; allowed accounts: {}",
                package.account(),
                self.name,
                if allowed.is_empty() {
                    "none".to_owned()
                } else {
                    allowed.join(", ")
                }
            ),
        ))
    }
}

/// A catalog that failed a consistency check; `key` names the config key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct CatalogError {
    pub key: String,
    pub message: String,
}

/// Every environment and team Ferry knows, checked for consistency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    environments: BTreeMap<EnvironmentName, Environment>,
    teams: BTreeMap<TeamName, Team>,
}

impl Catalog {
    pub fn new(
        environments: impl IntoIterator<Item = Environment>,
        teams: impl IntoIterator<Item = Team>,
    ) -> Result<Self, CatalogError> {
        let teams: BTreeMap<TeamName, Team> =
            teams.into_iter().map(|t| (t.name.clone(), t)).collect();
        let mut envs = BTreeMap::new();
        for env in environments {
            let key = format!("environments.{}", env.name);
            if env.execution_role.account() != env.account {
                return Err(CatalogError {
                    key: format!("{key}.execution_role_arn"),
                    message: format!(
                        "the execution role must live in the hosting account {}, not {}",
                        env.account,
                        env.execution_role.account()
                    ),
                });
            }
            if let Some(owner) = env
                .imported_model_kms_key
                .as_ref()
                .and_then(KmsKeyRef::account)
                && owner != env.account
            {
                return Err(CatalogError {
                    key: format!("{key}.imported_model_kms_key"),
                    message: format!(
                        "the imported model key must belong to the hosting account {}, not {owner}",
                        env.account
                    ),
                });
            }
            for team in env.teams.iter().flatten() {
                if !teams.contains_key(team) {
                    return Err(CatalogError {
                        key: format!("{key}.teams"),
                        message: format!("team {team:?} is not declared under [teams]"),
                    });
                }
            }
            envs.insert(env.name.clone(), env);
        }
        Ok(Self {
            environments: envs,
            teams,
        })
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        EnvironmentName::parse(name)
            .ok()
            .and_then(|n| self.environments.get(&n))
    }

    pub fn environments(&self) -> impl Iterator<Item = &Environment> {
        self.environments.values()
    }

    pub fn team(&self, name: &TeamName) -> Option<&Team> {
        self.teams.get(name)
    }

    pub fn teams(&self) -> impl Iterator<Item = &Team> {
        self.teams.values()
    }

    /// The allowed source that covers `uri` for `team`, or why there is none.
    pub fn source_for(&self, team: &TeamName, uri: &S3Uri) -> Result<&AllowedSource, RuleError> {
        let sources = self
            .team(team)
            .map(|t| t.sources.as_slice())
            .unwrap_or_default();
        sources.iter().find(|s| s.covers(uri)).ok_or_else(|| {
            let allowed: Vec<String> = sources.iter().map(AllowedSource::describe).collect();
            let allowed = if allowed.is_empty() {
                "none".to_owned()
            } else {
                allowed.join(", ")
            };
            RuleError::new(
                "source_not_allowed",
                format!("{uri} is not an allowed source for team {team}; allowed: {allowed}"),
            )
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn walkthrough() -> Catalog {
        let hosting = AccountId::parse("777788889999").unwrap();
        let research = AccountId::parse("111122223333").unwrap();
        let env = |name: &str, approval: bool| Environment {
            name: EnvironmentName::parse(name).unwrap(),
            description: None,
            account: hosting.clone(),
            region: Region::parse("us-east-1").unwrap(),
            control_role: RoleArn::parse("arn:aws:iam::777788889999:role/FerryControl").unwrap(),
            execution_role: RoleArn::parse(
                "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999",
            )
            .unwrap(),
            imported_model_kms_key: None,
            requires_approval: approval,
            teams: None,
            vpc: None,
            require_serving_for_promotion: None,
            idle_after_days: None,
            require_approved_model_packages: true,
        };
        Catalog::new(
            [env("dev", false), env("prod", true)],
            [
                Team {
                    name: TeamName::parse("research").unwrap(),
                    sources: vec![
                        AllowedSource::new(
                            "model-artifacts-111122223333",
                            research.clone(),
                            None,
                            None,
                        )
                        .unwrap(),
                    ],
                    model_registry: ModelRegistry::default(),
                },
                Team {
                    name: TeamName::parse("vision").unwrap(),
                    sources: vec![
                        AllowedSource::new(
                            "model-artifacts-111122223333",
                            research,
                            Some("vision"),
                            None,
                        )
                        .unwrap(),
                    ],
                    model_registry: ModelRegistry::default(),
                },
            ],
        )
        .unwrap()
    }

    #[test]
    fn sources_are_matched_by_bucket_and_prefix() {
        let c = walkthrough();
        let research = TeamName::parse("research").unwrap();
        let vision = TeamName::parse("vision").unwrap();
        let uri = S3Uri::parse("s3://model-artifacts-111122223333/llama/v1/").unwrap();
        assert!(c.source_for(&research, &uri).is_ok());
        let err = c.source_for(&vision, &uri).unwrap_err();
        assert_eq!(err.rule, "source_not_allowed");
        assert!(
            err.message
                .contains("s3://model-artifacts-111122223333/vision/"),
            "{err}"
        );
        let v = S3Uri::parse("s3://model-artifacts-111122223333/vision/m1").unwrap();
        assert!(c.source_for(&vision, &v).is_ok());
        let sneaky = S3Uri::parse("s3://model-artifacts-111122223333/visionary/m1").unwrap();
        assert!(c.source_for(&vision, &sneaky).is_err());
        let other = S3Uri::parse("s3://other-bucket/llama/").unwrap();
        assert!(c.source_for(&research, &other).is_err());
    }

    #[test]
    fn teams_read_packages_of_their_sources_accounts_or_the_configured_ones() {
        let c = walkthrough();
        let research = c.team(&TeamName::parse("research").unwrap()).unwrap();
        let ours = ModelPackageArn::parse(
            "arn:aws:sagemaker:us-east-1:111122223333:model-package/llama/1",
        )
        .unwrap();
        let theirs = ModelPackageArn::parse(
            "arn:aws:sagemaker:us-east-1:444455556666:model-package/llama/1",
        )
        .unwrap();
        assert!(research.may_read_package(&ours).is_ok());
        let err = research.may_read_package(&theirs).unwrap_err();
        assert_eq!(err.rule, "model_package.account_not_allowed");
        assert!(err.message.contains("111122223333"), "{err}");
        let mut configured = research.clone();
        configured.model_registry.accounts = vec![AccountId::parse("444455556666").unwrap()];
        assert!(configured.may_read_package(&theirs).is_ok());
        assert!(configured.may_read_package(&ours).is_err());
    }

    #[test]
    fn execution_role_must_be_in_the_hosting_account() {
        let mut env = walkthrough().environment("dev").unwrap().clone();
        env.execution_role = RoleArn::parse("arn:aws:iam::111122223333:role/X").unwrap();
        let err = Catalog::new([env], []).unwrap_err();
        assert_eq!(err.key, "environments.dev.execution_role_arn");
    }

    #[test]
    fn environment_teams_must_exist() {
        let mut env = walkthrough().environment("dev").unwrap().clone();
        env.teams = Some(vec![TeamName::parse("ghosts").unwrap()]);
        let err = Catalog::new([env], []).unwrap_err();
        assert_eq!(err.key, "environments.dev.teams");
    }
}

/// How long a model has gone without an invocation, in whole days: since `last_invoked`
/// (CloudWatch's last count of it), else since `imported` (never invoked in the metric's
/// retention). `None` when neither is known.
#[must_use]
pub fn idle_days(
    last_invoked: Option<time::OffsetDateTime>,
    imported: Option<time::OffsetDateTime>,
    now: time::OffsetDateTime,
) -> Option<i64> {
    last_invoked
        .max(imported)
        .map(|t| (now - t).whole_days().max(0))
}

/// Whether a model is a deletion candidate: Ferry manages it, its environment sets
/// `idle_after_days`, and it has been idle at least that long. Ferry only marks it.
#[must_use]
pub fn deletion_candidate(managed: bool, idle_after_days: Option<u32>, idle: Option<i64>) -> bool {
    match (managed, idle_after_days, idle) {
        (true, Some(limit), Some(days)) => days >= i64::from(limit),
        _ => false,
    }
}

/// Whether the inventory tells a deletion candidate's request now (event `model_idle`): once
/// per candidacy. `notified` is the last invocation the previous notice named (`Some(None)`:
/// a notice said "never invoked"; `None`: no notice yet). A model invoked since that notice
/// was idle again, a new candidacy; one that was not has been told already.
#[must_use]
pub fn idle_notice_due(
    candidate: bool,
    notified: Option<Option<time::OffsetDateTime>>,
    last_invoked: Option<time::OffsetDateTime>,
) -> bool {
    candidate && notified.is_none_or(|before| last_invoked > before)
}

#[cfg(test)]
mod idle_tests {
    use super::{deletion_candidate, idle_days, idle_notice_due};
    use time::{Duration, OffsetDateTime};

    #[test]
    fn a_managed_model_idle_past_its_environments_limit_is_a_deletion_candidate() {
        let now = OffsetDateTime::now_utc();
        let imported = Some(now - Duration::days(40));
        assert_eq!(
            idle_days(None, imported, now),
            Some(40),
            "never invoked: since import"
        );
        let invoked = Some(now - Duration::days(3));
        assert_eq!(idle_days(invoked, imported, now), Some(3));
        assert_eq!(idle_days(None, None, now), None);
        assert!(deletion_candidate(true, Some(30), Some(40)));
        assert!(deletion_candidate(true, Some(30), Some(30)));
        assert!(!deletion_candidate(true, Some(30), Some(3)));
        assert!(
            !deletion_candidate(false, Some(30), Some(40)),
            "only models Ferry manages"
        );
        assert!(
            !deletion_candidate(true, None, Some(400)),
            "no limit configured"
        );
    }

    #[test]
    fn a_candidacy_is_told_once_and_again_only_after_an_invocation() {
        let now = OffsetDateTime::now_utc();
        let day = |d: i64| Some(now - Duration::days(d));
        assert!(idle_notice_due(true, None, None), "first candidacy");
        assert!(idle_notice_due(true, None, day(40)));
        assert!(!idle_notice_due(false, None, day(1)), "not a candidate");
        assert!(
            !idle_notice_due(true, Some(None), None),
            "told, never invoked"
        );
        assert!(
            !idle_notice_due(true, Some(day(40)), day(40)),
            "told about this idle spell"
        );
        assert!(
            idle_notice_due(true, Some(day(40)), day(35)),
            "invoked after the notice, idle again"
        );
        assert!(
            idle_notice_due(true, Some(None), day(35)),
            "first invocation after the notice, idle again"
        );
        assert!(
            !idle_notice_due(false, Some(day(40)), day(1)),
            "invoked lately: not a candidate"
        );
    }
}
