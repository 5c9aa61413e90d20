//! Who may do what.
//!
//! | role | reads | writes |
//! |---|---|---|
//! | `researcher` | its own team's requests | creates and cancels its own team's requests |
//! | `hosting` | every request | cancels (approves, promotes, deletes models) |
//! | `viewer` | every request | nothing |
//! | `admin` | everything | everything |

use std::fmt;
use std::str::FromStr;

use crate::names::TeamName;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Researcher,
    Hosting,
    Viewer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Researcher, Role::Hosting, Role::Viewer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Researcher => "researcher",
            Role::Hosting => "hosting",
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected researcher, hosting, viewer or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Stable id of the credential (`token:<uuid>`, `oidc:<sub>`):
    /// scopes idempotency keys and appears in the audit trail.
    pub id: String,
    /// A human-readable name for the audit trail and tags.
    pub name: String,
    pub role: Role,
    /// Researchers always have one; other roles may.
    pub team: Option<TeamName>,
}

/// A principal may not do this; `hide` says whether to answer as if the
/// resource did not exist (a researcher probing another team's request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Forbidden,
    Hidden,
}

impl Principal {
    /// Which team's requests this principal is limited to, if any.
    pub fn team_scope(&self) -> Option<&TeamName> {
        match self.role {
            Role::Researcher => self.team.as_ref(),
            Role::Hosting | Role::Viewer | Role::Admin => None,
        }
    }

    pub fn can_read(&self, team: &TeamName) -> Result<(), Denied> {
        match self.role {
            Role::Researcher if self.team.as_ref() != Some(team) => Err(Denied::Hidden),
            _ => Ok(()),
        }
    }

    /// The role may create import requests at all.
    pub fn may_create(&self) -> bool {
        matches!(self.role, Role::Researcher | Role::Admin)
    }

    pub fn can_create_for(&self, team: &TeamName) -> Result<(), Denied> {
        match self.role {
            Role::Researcher if self.team.as_ref() == Some(team) => Ok(()),
            Role::Admin => Ok(()),
            _ => Err(Denied::Forbidden),
        }
    }

    pub fn can_cancel(&self, team: &TeamName) -> Result<(), Denied> {
        self.can_read(team)?;
        match self.role {
            Role::Researcher | Role::Hosting | Role::Admin => Ok(()),
            Role::Viewer => Err(Denied::Forbidden),
        }
    }

    /// Approving or rejecting requests is the hosting team's (and admins') call.
    pub fn can_review(&self, team: &TeamName) -> Result<(), Denied> {
        self.can_read(team)?;
        match self.role {
            Role::Hosting | Role::Admin => Ok(()),
            Role::Researcher | Role::Viewer => Err(Denied::Forbidden),
        }
    }

    /// Retrying a failed request: whoever may cancel it.
    pub fn can_retry(&self, team: &TeamName) -> Result<(), Denied> {
        self.can_cancel(team)
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(role: Role, team: Option<&str>) -> Principal {
        Principal {
            id: "token:x".into(),
            name: "x".into(),
            role,
            team: team.map(|t| TeamName::parse(t).unwrap()),
        }
    }

    #[test]
    fn researchers_are_limited_to_their_team() {
        let a = TeamName::parse("team-a").unwrap();
        let b = TeamName::parse("team-b").unwrap();
        let r = p(Role::Researcher, Some("team-a"));
        assert_eq!(r.can_read(&a), Ok(()));
        assert_eq!(r.can_read(&b), Err(Denied::Hidden));
        assert_eq!(r.can_create_for(&a), Ok(()));
        assert_eq!(r.can_create_for(&b), Err(Denied::Forbidden));
        assert_eq!(r.can_cancel(&b), Err(Denied::Hidden));
        assert_eq!(r.team_scope(), Some(&a));
    }

    #[test]
    fn other_roles() {
        let a = TeamName::parse("team-a").unwrap();
        let viewer = p(Role::Viewer, None);
        assert_eq!(viewer.can_read(&a), Ok(()));
        assert_eq!(viewer.can_cancel(&a), Err(Denied::Forbidden));
        assert_eq!(viewer.can_create_for(&a), Err(Denied::Forbidden));
        let hosting = p(Role::Hosting, None);
        assert_eq!(hosting.can_cancel(&a), Ok(()));
        assert_eq!(hosting.can_create_for(&a), Err(Denied::Forbidden));
        let admin = p(Role::Admin, None);
        assert_eq!(admin.can_create_for(&a), Ok(()));
        assert_eq!(admin.team_scope(), None);
    }

    #[test]
    fn reviews_are_for_the_hosting_team() {
        let a = TeamName::parse("team-a").unwrap();
        assert_eq!(p(Role::Hosting, None).can_review(&a), Ok(()));
        assert_eq!(p(Role::Admin, None).can_review(&a), Ok(()));
        assert_eq!(p(Role::Viewer, None).can_review(&a), Err(Denied::Forbidden));
        assert_eq!(
            p(Role::Researcher, Some("team-a")).can_review(&a),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            p(Role::Researcher, Some("team-b")).can_review(&a),
            Err(Denied::Hidden)
        );
        assert_eq!(p(Role::Researcher, Some("team-a")).can_retry(&a), Ok(()));
        assert_eq!(p(Role::Viewer, None).can_retry(&a), Err(Denied::Forbidden));
    }

    #[test]
    fn role_names() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
