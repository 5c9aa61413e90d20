//! IAM policy documents and AWS's policy evaluation logic, as pure code.
//!
//! Used by the local AWS endpoint (`ferry-sim`) to decide every request, and by
//! `ferry policy check` to explain a chain without calling AWS. No I/O here.
//!
//! The decision follows the IAM user guide's evaluation logic for the policy types Ferry
//! meets (identity policies, resource policies; no SCPs, boundaries or session policies):
//!
//! * an explicit `Deny` in any applicable policy wins;
//! * within one account, an allow in the identity policies *or* an allow in the resource
//!   policy that names the principal itself is enough ([`ResourcePolicyMode::Optional`], S3);
//!   services whose resource policy is mandatory (KMS key policies, role trust policies,
//!   [`ResourcePolicyMode::Required`]) need the resource policy to allow either the principal
//!   itself or its account (which then delegates to the identity policies);
//! * across accounts, the identity policies *and* the resource policy must both allow;
//! * a service principal (`bedrock.amazonaws.com`) has no identity policies: only a resource
//!   policy naming the service can allow it.
//!
//! Principal matching in resource policies: `"*"`; an account id or
//! `arn:aws:iam::<acct>:root` matches every principal of that account at *account level*
//! (delegation: it never grants on its own); a user or role ARN matches that user, and a role
//! ARN matches the role's sessions `arn:aws:sts::<acct>:assumed-role/<role>/<session>`.

mod condition;
mod policy;

use std::collections::BTreeMap;
use std::fmt;

pub use condition::{arn_like, wildcard_match};
pub use policy::{
    ActionMatch, ConditionTest, Effect, PolicyDocument, PolicyError, PrincipalSet, ResourceMatch,
    SetQualifier, Statement,
};

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An account's root user.
    Root {
        /// The account id.
        account: String,
    },
    /// An IAM user.
    User {
        /// The account id.
        account: String,
        /// The user name (no path).
        name: String,
    },
    /// A session of an assumed role.
    AssumedRole {
        /// The account id of the role.
        account: String,
        /// The role name (no path).
        role: String,
        /// The role session name.
        session: String,
    },
    /// An AWS service principal such as `bedrock.amazonaws.com`.
    Service(String),
    /// A caller of `sts:AssumeRoleWithWebIdentity` holding a token of an OIDC identity
    /// provider (an EKS cluster's, for IAM roles for service accounts): matched by a trust
    /// policy's `Federated` entry naming the provider's ARN.
    WebIdentity {
        /// The OIDC provider's ARN
        /// (`arn:aws:iam::<account>:oidc-provider/<issuer host and path>`).
        provider: String,
    },
}

impl Principal {
    /// The account the principal belongs to (`None` for service principals).
    #[must_use]
    pub fn account(&self) -> Option<&str> {
        match self {
            Self::Root { account }
            | Self::User { account, .. }
            | Self::AssumedRole { account, .. } => Some(account),
            Self::Service(_) | Self::WebIdentity { .. } => None,
        }
    }

    /// The principal's ARN as AWS reports it (`aws:PrincipalArn` is the role ARN for sessions;
    /// this is the caller ARN shown in error messages).
    #[must_use]
    pub fn arn(&self) -> String {
        match self {
            Self::Root { account } => format!("arn:aws:iam::{account}:root"),
            Self::User { account, name } => format!("arn:aws:iam::{account}:user/{name}"),
            Self::AssumedRole {
                account,
                role,
                session,
            } => {
                format!("arn:aws:sts::{account}:assumed-role/{role}/{session}")
            }
            Self::Service(name) => name.clone(),
            Self::WebIdentity { provider } => provider.clone(),
        }
    }

    /// The value of `aws:PrincipalArn`: the role ARN for a role session.
    #[must_use]
    pub fn principal_arn(&self) -> String {
        match self {
            Self::AssumedRole { account, role, .. } => {
                format!("arn:aws:iam::{account}:role/{role}")
            }
            other => other.arn(),
        }
    }

    /// How this principal is matched by a resource policy's `Principal` entry `entry`.
    fn matched_by(&self, set: &PrincipalSet) -> PrincipalMatch {
        if set.anyone {
            return PrincipalMatch::Specific;
        }
        if let Self::Service(name) = self {
            return if set.service.iter().any(|s| s == name) {
                PrincipalMatch::Specific
            } else {
                PrincipalMatch::None
            };
        }
        if let Self::WebIdentity { provider } = self {
            return if set.federated.iter().any(|f| f == provider) {
                PrincipalMatch::Specific
            } else {
                PrincipalMatch::None
            };
        }
        let mut best = PrincipalMatch::None;
        for entry in &set.aws {
            let m = self.match_aws_entry(entry);
            if m == PrincipalMatch::Specific {
                return m;
            }
            if m == PrincipalMatch::Account {
                best = m;
            }
        }
        best
    }

    fn match_aws_entry(&self, entry: &str) -> PrincipalMatch {
        let Some(account) = self.account() else {
            return PrincipalMatch::None;
        };
        if entry == "*" {
            return PrincipalMatch::Specific;
        }
        if entry.len() == 12 && entry.bytes().all(|b| b.is_ascii_digit()) {
            return if entry == account {
                self.account_level()
            } else {
                PrincipalMatch::None
            };
        }
        let parts: Vec<&str> = entry.splitn(6, ':').collect();
        let [_, _, service, _, acct, resource] = parts.as_slice() else {
            return PrincipalMatch::None;
        };
        if *acct != account {
            return PrincipalMatch::None;
        }
        let hit = match (*service, self) {
            ("iam", _) if *resource == "root" => return self.account_level(),
            ("iam", Self::User { name, .. }) => {
                resource
                    .strip_prefix("user/")
                    .and_then(|r| r.rsplit('/').next())
                    == Some(name)
            }
            ("iam", Self::AssumedRole { role, .. }) => {
                resource
                    .strip_prefix("role/")
                    .and_then(|r| r.rsplit('/').next())
                    == Some(role)
            }
            ("sts", Self::AssumedRole { role, session, .. }) => {
                *resource == format!("assumed-role/{role}/{session}")
            }
            _ => false,
        };
        if hit {
            PrincipalMatch::Specific
        } else {
            PrincipalMatch::None
        }
    }

    fn account_level(&self) -> PrincipalMatch {
        // The root user itself is named by its account.
        if matches!(self, Self::Root { .. }) {
            PrincipalMatch::Specific
        } else {
            PrincipalMatch::Account
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PrincipalMatch {
    None,
    /// Matched through the principal's account (delegates to identity policies).
    Account,
    /// Matched the principal itself (or `*`).
    Specific,
}

/// Everything a decision depends on: who, what, on which resource, and condition keys.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The caller.
    pub principal: Principal,
    /// The action, e.g. `s3:GetObject`.
    pub action: String,
    /// The resource ARN, e.g. `arn:aws:s3:::bucket/key`.
    pub resource: String,
    /// The account owning the resource.
    pub resource_account: String,
    keys: BTreeMap<String, Vec<String>>,
}

impl RequestContext {
    /// A context with the global keys AWS always sets (`aws:PrincipalArn`,
    /// `aws:PrincipalAccount`, `aws:ResourceAccount`, `aws:PrincipalType`; `aws:userid` is
    /// omitted).
    #[must_use]
    pub fn new(
        principal: Principal,
        action: impl Into<String>,
        resource: impl Into<String>,
        resource_account: impl Into<String>,
    ) -> Self {
        let resource_account = resource_account.into();
        let kind = match &principal {
            Principal::Root { .. } => "Account",
            Principal::User { .. } => "User",
            Principal::AssumedRole { .. } => "AssumedRole",
            Principal::Service(_) => "AWSService",
            Principal::WebIdentity { .. } => "WebIdentityUser",
        };
        let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut put = |k: &str, v: String| keys.entry(k.to_ascii_lowercase()).or_default().push(v);
        if let Some(account) = principal.account() {
            put("aws:PrincipalArn", principal.principal_arn());
            put("aws:PrincipalAccount", account.to_owned());
        } else if let Principal::Service(name) = &principal {
            put("aws:PrincipalServiceName", name.clone());
        }
        put("aws:PrincipalType", kind.to_owned());
        put("aws:ResourceAccount", resource_account.clone());
        Self {
            principal,
            action: action.into(),
            resource: resource.into(),
            resource_account,
            keys,
        }
    }

    /// Adds a value for condition key `key` (case-insensitive, as in IAM).
    #[must_use]
    pub fn with_key(mut self, key: &str, value: impl Into<String>) -> Self {
        self.keys
            .entry(key.to_ascii_lowercase())
            .or_default()
            .push(value.into());
        self
    }

    /// Removes condition key `key`.
    #[must_use]
    pub fn without_key(mut self, key: &str) -> Self {
        self.keys.remove(&key.to_ascii_lowercase());
        self
    }

    /// The values of condition key `key` (empty if absent).
    #[must_use]
    pub fn values(&self, key: &str) -> &[String] {
        self.keys
            .get(&key.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }
}

/// Whether the resource policy alone can grant within the resource's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourcePolicyMode {
    /// S3 and most services: identity *or* resource policy may allow within one account.
    Optional,
    /// KMS key policies and role trust policies: the resource policy must allow, either the
    /// principal itself or its account (then identity policies must allow too).
    Required,
}

/// Why a request was denied; renders AWS's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// A `Deny` statement in an identity policy matched.
    ExplicitDenyInIdentityPolicy,
    /// A `Deny` statement in the resource policy matched.
    ExplicitDenyInResourcePolicy,
    /// No identity policy allows the action (the resource policy did, or was not enough).
    NoIdentityPolicyAllows,
    /// No resource policy allows the action (the identity policy did, or was not enough).
    NoResourcePolicyAllows,
    /// Neither kind of policy allows the action.
    NoPolicyAllows,
}

impl DenyReason {
    /// AWS's suffix: `with an explicit deny in ...` or `because no ... allows the <action> action`.
    #[must_use]
    pub fn describe(&self, action: &str) -> String {
        match self {
            Self::ExplicitDenyInIdentityPolicy => {
                "with an explicit deny in an identity-based policy".to_owned()
            }
            Self::ExplicitDenyInResourcePolicy => {
                "with an explicit deny in a resource-based policy".to_owned()
            }
            Self::NoIdentityPolicyAllows => {
                format!("because no identity-based policy allows the {action} action")
            }
            Self::NoResourcePolicyAllows => {
                format!("because no resource-based policy allows the {action} action")
            }
            Self::NoPolicyAllows => format!("because no policy allows the {action} action"),
        }
    }
}

/// The outcome of [`authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Denied, with the reason.
    Deny(DenyReason),
}

impl Decision {
    /// `true` for [`Decision::Allow`].
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow)
    }

    /// AWS's AccessDenied message for this decision, or `None` when allowed:
    /// `User: <arn> is not authorized to perform: <action> on resource: <arn> because ...`.
    #[must_use]
    pub fn message(&self, ctx: &RequestContext) -> Option<String> {
        match self {
            Self::Allow => None,
            Self::Deny(reason) => Some(format!(
                "User: {} is not authorized to perform: {} on resource: {} {}",
                ctx.principal.arn(),
                ctx.action,
                ctx.resource,
                reason.describe(&ctx.action)
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PolicyResult {
    NotApplicable,
    AllowAccount,
    Allow,
    Deny,
}

fn action_matches(statement: &Statement, action: &str) -> bool {
    let any = |pats: &[String]| pats.iter().any(|p| wildcard_match(p, action, true));
    match &statement.action {
        ActionMatch::Action(p) => any(p),
        ActionMatch::NotAction(p) => !any(p),
    }
}

fn resource_matches(statement: &Statement, resource: &str) -> bool {
    let any = |pats: &[String]| pats.iter().any(|p| wildcard_match(p, resource, false));
    match &statement.resource {
        ResourceMatch::Unspecified => true,
        ResourceMatch::Resource(p) => any(p),
        ResourceMatch::NotResource(p) => !any(p),
    }
}

/// Evaluates one policy. With `as_resource_policy`, `Principal`/`NotPrincipal` must match;
/// identity policies carry no principal element.
fn evaluate_policy(
    doc: &PolicyDocument,
    ctx: &RequestContext,
    as_resource_policy: bool,
) -> PolicyResult {
    let mut result = PolicyResult::NotApplicable;
    for st in &doc.statements {
        let mut level = PrincipalMatch::Specific;
        if as_resource_policy {
            level = match (&st.principal, &st.not_principal) {
                (Some(p), _) => ctx.principal.matched_by(p),
                // Only a principal named exactly is excluded: an account in NotPrincipal
                // excludes that account's root user, not its users and roles.
                (None, Some(np)) => match ctx.principal.matched_by(np) {
                    PrincipalMatch::Specific => PrincipalMatch::None,
                    PrincipalMatch::None | PrincipalMatch::Account => PrincipalMatch::Specific,
                },
                (None, None) => PrincipalMatch::None,
            };
            if level == PrincipalMatch::None {
                continue;
            }
        }
        if !action_matches(st, &ctx.action) || !resource_matches(st, &ctx.resource) {
            continue;
        }
        if !st.conditions.iter().all(|c| condition::holds(c, ctx)) {
            continue;
        }
        match st.effect {
            Effect::Deny => {
                // A deny naming the principal's account applies to all of its principals.
                return PolicyResult::Deny;
            }
            Effect::Allow => {
                let r = if level == PrincipalMatch::Specific {
                    PolicyResult::Allow
                } else {
                    PolicyResult::AllowAccount
                };
                if result != PolicyResult::Allow {
                    result = r;
                }
            }
        }
    }
    result
}

/// Decides a request: `identity_policies` are every policy attached to the caller (inline and
/// managed; ignored for service principals), `resource_policy` the bucket/key/trust policy if
/// the resource has one.
#[must_use]
pub fn authorize(
    ctx: &RequestContext,
    identity_policies: &[PolicyDocument],
    resource_policy: Option<&PolicyDocument>,
    mode: ResourcePolicyMode,
) -> Decision {
    // A service or a web identity has no identity policies: the resource (trust) policy alone
    // decides.
    let is_service = matches!(
        ctx.principal,
        Principal::Service(_) | Principal::WebIdentity { .. }
    );
    let mut identity = PolicyResult::NotApplicable;
    if !is_service {
        for doc in identity_policies {
            match evaluate_policy(doc, ctx, false) {
                PolicyResult::Deny => {
                    return Decision::Deny(DenyReason::ExplicitDenyInIdentityPolicy);
                }
                PolicyResult::Allow | PolicyResult::AllowAccount => identity = PolicyResult::Allow,
                PolicyResult::NotApplicable => {}
            }
        }
    }
    let resource = resource_policy.map_or(PolicyResult::NotApplicable, |d| {
        evaluate_policy(d, ctx, true)
    });
    if resource == PolicyResult::Deny {
        return Decision::Deny(DenyReason::ExplicitDenyInResourcePolicy);
    }
    let identity_allows = identity == PolicyResult::Allow;
    let allowed = if is_service {
        resource == PolicyResult::Allow
    } else if ctx.principal.account() == Some(ctx.resource_account.as_str()) {
        match mode {
            ResourcePolicyMode::Optional => identity_allows || resource == PolicyResult::Allow,
            ResourcePolicyMode::Required => {
                resource == PolicyResult::Allow
                    || (resource == PolicyResult::AllowAccount && identity_allows)
            }
        }
    } else {
        identity_allows && resource != PolicyResult::NotApplicable
    };
    if allowed {
        return Decision::Allow;
    }
    let resource_allows = resource != PolicyResult::NotApplicable;
    Decision::Deny(match (identity_allows, resource_allows) {
        (true, _) => DenyReason::NoResourcePolicyAllows,
        (false, true) => DenyReason::NoIdentityPolicyAllows,
        (false, false)
            if is_service || resource_policy.is_some() && mode == ResourcePolicyMode::Required =>
        {
            DenyReason::NoResourcePolicyAllows
        }
        (false, false) => DenyReason::NoIdentityPolicyAllows,
    })
}

#[cfg(test)]
mod tests;
