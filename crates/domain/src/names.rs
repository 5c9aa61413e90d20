//! Ferry's own names: environments and teams.

use crate::RuleError;
use crate::newtype::string_newtype;

/// Ferry's rule for the names it owns: 1 to 32 characters, lower-case letters,
/// digits and '-', starting with a letter. They appear in URLs, tags, metric
/// labels and Bedrock job names, so they stay plain.
fn check_slug(s: &str, what: &'static str, rule: &'static str) -> Result<(), RuleError> {
    RuleError::check_len(s, what, 1, 32)?;
    let starts_ok = s.starts_with(|c: char| c.is_ascii_lowercase());
    let chars_ok = s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !starts_ok || !chars_ok || s.ends_with('-') {
        return Err(RuleError::new(
            rule,
            format!(
                "{what} must be lower-case letters, digits and '-', starting with a letter and not ending with '-', got {s:?}"
            ),
        ));
    }
    Ok(())
}

string_newtype!(
    /// The name of a hosting environment (`dev`, `staging`, `prod`).
    EnvironmentName
);

impl EnvironmentName {
    pub fn parse(s: &str) -> Result<Self, RuleError> {
        check_slug(s, "an environment name", "environment_name")?;
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(
    /// The name of a research team, as declared in the configuration.
    TeamName
);

impl TeamName {
    pub fn parse(s: &str) -> Result<Self, RuleError> {
        check_slug(s, "a team name", "team_name")?;
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for ok in ["dev", "prod-eu", "team1", "a"] {
            EnvironmentName::parse(ok).unwrap();
            TeamName::parse(ok).unwrap();
        }
        for bad in ["", "Dev", "1dev", "dev-", "de v", "dev_1", &"a".repeat(33)] {
            assert!(EnvironmentName::parse(bad).is_err(), "{bad:?}");
            assert!(TeamName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
