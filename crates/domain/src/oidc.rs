//! From the claims of a verified OIDC token to a [`Principal`].
//!
//! Verifying the token (signature, issuer, audience, times) happens in the
//! API crate; this module only decides who the caller is and what it may do:
//!
//! - the principal id is `oidc:<sub>`, so a person calling with a JWT is a
//!   different principal from the same person calling with a `ferry_` token
//!   (separation of duties compares principal ids);
//! - the role comes from one claim, either a Ferry role name directly or a
//!   value (a group name, an IdP role) looked up in a table; several roles
//!   resolve to the strongest (`admin`, `hosting`, `researcher`, `viewer`);
//! - the team comes from another claim, directly or through a table, and a
//!   researcher without one is refused;
//! - the display name from a third claim, else `sub`.
//!
//! A claim name is looked up as given first (`https://example.com/role`,
//! `groups`), then as a dotted path into nested objects (`realm_access.roles`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::auth::{Principal, Role};
use crate::names::TeamName;

/// Longest display name kept from a token; longer ones are cut.
pub const MAX_NAME_CHARS: usize = 128;

/// How a token's claims become a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    /// The claim holding the role (a string or a list of strings).
    pub role_claim: String,
    /// Claim value → role. Empty: the values must be Ferry role names.
    pub role_map: BTreeMap<String, Role>,
    /// The role of a caller whose token names none.
    pub default_role: Option<Role>,
    /// The claim holding the team.
    pub team_claim: String,
    /// Claim value → team. Empty: the value must be a Ferry team name.
    pub team_map: BTreeMap<String, TeamName>,
    /// The claim holding the display name; `sub` when absent.
    pub name_claim: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            role_claim: "ferry_role".into(),
            role_map: BTreeMap::new(),
            default_role: None,
            team_claim: "ferry_team".into(),
            team_map: BTreeMap::new(),
            name_claim: "name".into(),
        }
    }
}

/// Why a verified token does not make a principal. The messages name the
/// claim and are meant for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("the token has no \"sub\" claim")]
    NoSubject,
    #[error("claim {claim:?} must be a string or a list of strings")]
    NotStrings { claim: String },
    #[error("the token has no {claim:?} claim, so no Ferry role")]
    NoRoleClaim { claim: String },
    #[error(
        "claim {claim:?} ({values}) names no Ferry role{}",
        if *.mapped { " in the configured role_map" } else { " (researcher, hosting, viewer or admin)" }
    )]
    NoRole {
        claim: String,
        values: String,
        mapped: bool,
    },
    #[error(
        "a researcher acts for one team, but the token has no {claim:?} claim{}",
        if *.mapped { " value in the configured team_map" } else { "" }
    )]
    NoTeam { claim: String, mapped: bool },
    #[error("claim {claim:?} names several teams ({values}); a caller acts for one")]
    SeveralTeams { claim: String, values: String },
    #[error("claim {claim:?}: {reason}")]
    BadTeam { claim: String, reason: String },
}

/// The strongest first, for callers whose token names several roles.
const PRECEDENCE: [Role; 4] = [Role::Admin, Role::Hosting, Role::Researcher, Role::Viewer];

/// A claim by its exact name, else by a dotted path into nested objects.
pub fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// A claim's values: a string is one, a list of strings is many; absent is none.
fn strings(claims: &Map<String, Value>, name: &str) -> Result<Vec<String>, MappingError> {
    match claim(claims, name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| MappingError::NotStrings {
                claim: name.to_owned(),
            }),
        Some(_) => Err(MappingError::NotStrings {
            claim: name.to_owned(),
        }),
    }
}

/// At most a few values, quoted, for messages.
fn quoted(values: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut out: Vec<String> = values
        .iter()
        .take(SHOWN)
        .map(|v| format!("{v:?}"))
        .collect();
    if values.len() > SHOWN {
        out.push(format!("and {} more", values.len() - SHOWN));
    }
    out.join(", ")
}

impl ClaimMapping {
    /// The principal the (already verified) claims describe.
    pub fn principal(&self, claims: &Map<String, Value>) -> Result<Principal, MappingError> {
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(MappingError::NoSubject)?;
        let role = self.role(claims)?;
        let team = match self.team(claims) {
            Ok(team) => team,
            // Only researchers are scoped to a team; for the others a team
            // is informative, and a malformed one is not worth refusing.
            Err(e) if role == Role::Researcher => return Err(e),
            Err(_) => None,
        };
        if role == Role::Researcher && team.is_none() {
            return Err(MappingError::NoTeam {
                claim: self.team_claim.clone(),
                mapped: !self.team_map.is_empty(),
            });
        }
        Ok(Principal {
            id: format!("oidc:{sub}"),
            name: self.name(claims, sub),
            role,
            team,
        })
    }

    fn role(&self, claims: &Map<String, Value>) -> Result<Role, MappingError> {
        let values = strings(claims, &self.role_claim)?;
        let roles: BTreeSet<usize> = values
            .iter()
            .filter_map(|v| {
                if self.role_map.is_empty() {
                    v.parse::<Role>().ok()
                } else {
                    self.role_map.get(v).copied()
                }
            })
            .filter_map(|r| PRECEDENCE.iter().position(|p| *p == r))
            .collect();
        if let Some(first) = roles.first() {
            return Ok(PRECEDENCE[*first]);
        }
        if let Some(role) = self.default_role {
            return Ok(role);
        }
        if values.is_empty() {
            return Err(MappingError::NoRoleClaim {
                claim: self.role_claim.clone(),
            });
        }
        Err(MappingError::NoRole {
            claim: self.role_claim.clone(),
            values: quoted(&values),
            mapped: !self.role_map.is_empty(),
        })
    }

    fn team(&self, claims: &Map<String, Value>) -> Result<Option<TeamName>, MappingError> {
        let values = strings(claims, &self.team_claim)?;
        let teams: BTreeSet<TeamName> = if self.team_map.is_empty() {
            values
                .iter()
                .map(|v| {
                    TeamName::parse(v).map_err(|e| MappingError::BadTeam {
                        claim: self.team_claim.clone(),
                        reason: e.to_string(),
                    })
                })
                .collect::<Result<_, _>>()?
        } else {
            values
                .iter()
                .filter_map(|v| self.team_map.get(v).cloned())
                .collect()
        };
        match teams.len() {
            0 => Ok(None),
            1 => Ok(teams.into_iter().next()),
            _ => Err(MappingError::SeveralTeams {
                claim: self.team_claim.clone(),
                values: quoted(
                    &teams
                        .iter()
                        .map(|t| t.as_str().to_owned())
                        .collect::<Vec<_>>(),
                ),
            }),
        }
    }

    fn name(&self, claims: &Map<String, Value>, sub: &str) -> String {
        let raw = claim(claims, &self.name_claim)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(sub);
        raw.chars()
            .filter(|c| !c.is_control())
            .take(MAX_NAME_CHARS)
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(v: Value) -> Map<String, Value> {
        let Value::Object(map) = v else {
            panic!("claims are a JSON object")
        };
        map
    }

    #[test]
    fn direct_role_and_team() {
        let m = ClaimMapping::default();
        let p = m
            .principal(&claims(json!({
                "sub": "u-1", "name": "Ada", "ferry_role": "researcher", "ferry_team": "research"
            })))
            .unwrap();
        assert_eq!(p.id, "oidc:u-1");
        assert_eq!(p.name, "Ada");
        assert_eq!(p.role, Role::Researcher);
        assert_eq!(p.team.unwrap().as_str(), "research");

        // No name claim: the subject; a viewer needs no team.
        let p = m
            .principal(&claims(
                json!({"sub": "u-2", "ferry_role": ["x", "viewer"]}),
            ))
            .unwrap();
        assert_eq!(
            (p.name.as_str(), p.role, p.team),
            ("u-2", Role::Viewer, None)
        );
    }

    #[test]
    fn roles_and_teams_from_groups_through_tables() {
        let m = ClaimMapping {
            role_claim: "realm_access.roles".into(),
            role_map: [
                ("ml-research".to_owned(), Role::Researcher),
                ("ml-platform".to_owned(), Role::Hosting),
            ]
            .into(),
            team_claim: "groups".into(),
            team_map: [("/ml/vision".to_owned(), TeamName::parse("vision").unwrap())].into(),
            ..ClaimMapping::default()
        };
        let c = json!({
            "sub": "u-3",
            "realm_access": {"roles": ["offline_access", "ml-research"]},
            "groups": ["/everyone", "/ml/vision"],
        });
        let p = m.principal(&claims(c)).unwrap();
        assert_eq!(p.role, Role::Researcher);
        assert_eq!(p.team.unwrap().as_str(), "vision");

        // Several roles: the strongest wins.
        let c = json!({"sub": "u-4", "realm_access": {"roles": ["ml-research", "ml-platform"]}});
        assert_eq!(m.principal(&claims(c)).unwrap().role, Role::Hosting);

        // A Ferry role name is not a table entry.
        let c = json!({"sub": "u-5", "realm_access": {"roles": ["admin"]}});
        let err = m.principal(&claims(c)).unwrap_err().to_string();
        assert!(err.contains("in the configured role_map"), "{err}");
    }

    #[test]
    fn refusals_name_the_claim() {
        let m = ClaimMapping::default();
        let err = m
            .principal(&claims(json!({"sub": "u", "ferry_role": "researcher"})))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a researcher acts for one team, but the token has no \"ferry_team\" claim"
        );
        let err = m.principal(&claims(json!({"sub": "u"}))).unwrap_err();
        assert!(matches!(err, MappingError::NoRoleClaim { .. }), "{err}");
        let err = m
            .principal(&claims(json!({"sub": "u", "ferry_role": "root"})))
            .unwrap_err();
        assert!(err.to_string().contains("\"root\""), "{err}");
        let err = m
            .principal(&claims(json!({"sub": "u", "ferry_role": 7})))
            .unwrap_err();
        assert!(matches!(err, MappingError::NotStrings { .. }));
        let err = m
            .principal(&claims(json!({"ferry_role": "admin"})))
            .unwrap_err();
        assert_eq!(err, MappingError::NoSubject);
        let err = m
            .principal(&claims(json!({
                "sub": "u", "ferry_role": "researcher", "ferry_team": ["a", "b"]
            })))
            .unwrap_err();
        assert!(matches!(err, MappingError::SeveralTeams { .. }), "{err}");
        let err = m
            .principal(&claims(json!({
                "sub": "u", "ferry_role": "researcher", "ferry_team": "Bad Team"
            })))
            .unwrap_err();
        assert!(err.to_string().starts_with("claim \"ferry_team\""), "{err}");
    }

    #[test]
    fn default_role_and_clean_names() {
        let m = ClaimMapping {
            default_role: Some(Role::Viewer),
            name_claim: "preferred_username".into(),
            ..ClaimMapping::default()
        };
        let long = "x".repeat(300);
        let p = m
            .principal(&claims(json!({
                "sub": "u", "preferred_username": format!("a\nb{long}")
            })))
            .unwrap();
        assert_eq!(p.role, Role::Viewer);
        assert!(p.name.starts_with("abx"));
        assert_eq!(p.name.chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn claim_names_with_dots_are_tried_whole_first() {
        let c = claims(json!({"https://ferry.example.com/role": "admin", "a": {"b": 1}}));
        assert_eq!(
            claim(&c, "https://ferry.example.com/role"),
            Some(&json!("admin"))
        );
        assert_eq!(claim(&c, "a.b"), Some(&json!(1)));
        assert_eq!(claim(&c, "a.c"), None);
    }
}
