//! `[auth.oidc]`: accept JWTs from one OIDC issuer beside Ferry's own tokens.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ferry_api::oidc::{DashboardClient, JwksSource, OidcSettings};
use ferry_domain::auth::Role;
use ferry_domain::catalog::Catalog;
use ferry_domain::names::TeamName;
use ferry_domain::oidc::ClaimMapping;
use serde::Deserialize;

use super::ConfigError;

/// Accepted audiences: `audience = "ferry"` or `audience = ["ferry", "ferry-cli"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn values(&self) -> Vec<String> {
        match self {
            Audience::One(a) => vec![a.clone()],
            Audience::Many(a) => a.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// Compared exactly with the token's `iss`.
    pub issuer: String,
    /// The token's `aud` must include one of these (`client_id` is added).
    pub audience: Option<Audience>,
    /// Where the issuer publishes its keys (https, or http to a loopback address).
    pub jwks_url: Option<String>,
    /// Or a JWKS document on disk, re-read when a token names an unknown key.
    /// Neither: the `jwks_uri` of the issuer's discovery document.
    pub jwks_file: Option<PathBuf>,
    /// The dashboard's client id at the issuer (a public client: no secret);
    /// set, the dashboard signs in through the issuer.
    pub client_id: Option<String>,
    /// Scopes the dashboard asks for; must include `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The path the issuer sends the browser back to: the dashboard page.
    #[serde(default = "default_redirect_path")]
    pub redirect_path: String,
    /// Tolerance on `exp`, `nbf` and `iat`.
    #[serde(default = "default_skew")]
    pub clock_skew_secs: u64,
    /// Accepted signature algorithms (asymmetric only).
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// `jwks_url` is fetched again this often.
    #[serde(default = "default_refresh")]
    pub jwks_refresh_secs: u64,
    /// At most one refresh per this interval for tokens naming unknown keys.
    #[serde(default = "default_min_refresh")]
    pub jwks_min_refresh_secs: u64,
    /// The claim holding the role (a string or a list of strings).
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Claim value → Ferry role. Empty: the values must be Ferry role names.
    #[serde(default)]
    pub role_map: BTreeMap<String, Role>,
    /// The role of a caller whose token names none; refused when absent.
    pub default_role: Option<Role>,
    /// The claim holding the team.
    #[serde(default = "default_team_claim")]
    pub team_claim: String,
    /// Claim value → Ferry team. Empty: the value must be a Ferry team name.
    #[serde(default)]
    pub team_map: BTreeMap<String, String>,
    /// The claim holding the display name; `sub` when the token has none.
    #[serde(default = "default_name_claim")]
    pub name_claim: String,
}

fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email"].map(String::from).to_vec()
}

fn default_redirect_path() -> String {
    "/".into()
}

fn default_skew() -> u64 {
    60
}

fn default_algorithms() -> Vec<String> {
    ferry_api::oidc::ASYMMETRIC_ALGORITHMS
        .iter()
        .map(|a| format!("{a:?}"))
        .collect()
}

fn default_refresh() -> u64 {
    900
}

fn default_min_refresh() -> u64 {
    10
}

fn default_role_claim() -> String {
    ClaimMapping::default().role_claim
}

fn default_team_claim() -> String {
    ClaimMapping::default().team_claim
}

fn default_name_claim() -> String {
    ClaimMapping::default().name_claim
}

/// Longest clock skew accepted: beyond it expiry means little.
const MAX_SKEW_SECS: u64 = 600;

fn key(name: &str, message: impl std::fmt::Display) -> ConfigError {
    ConfigError::key(format!("auth.oidc.{name}"), message)
}

impl OidcConfig {
    /// Checks every key and builds the verifier's settings; a `jwks_file`
    /// is read and must hold at least one usable key.
    pub fn settings(&self, catalog: &Catalog) -> Result<OidcSettings, ConfigError> {
        let issuer = self.issuer.trim();
        if issuer.is_empty() {
            return Err(key("issuer", "must not be empty"));
        }
        let dashboard = self.dashboard()?;
        let mut audiences = self
            .audience
            .as_ref()
            .map(Audience::values)
            .unwrap_or_default();
        if let Some(d) = &dashboard
            && !audiences.contains(&d.client_id)
        {
            audiences.push(d.client_id.clone());
        }
        if audiences.is_empty() || audiences.iter().any(|a| a.trim().is_empty()) {
            return Err(key(
                "audience",
                "name one audience or a list of non-empty ones (or set client_id)",
            ));
        }
        let jwks = match (&self.jwks_url, &self.jwks_file) {
            (Some(url), None) => JwksSource::Url(
                ferry_api::oidc::discovery::secure_url(url).map_err(|e| key("jwks_url", e))?,
            ),
            (None, None) => JwksSource::Discovery,
            (None, Some(path)) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| key("jwks_file", format!("reading {}: {e}", path.display())))?;
                ferry_api::oidc::check_jwks(&bytes)
                    .map_err(|e| key("jwks_file", format!("{}: {e}", path.display())))?;
                JwksSource::File(path.clone())
            }
            _ => {
                return Err(ConfigError::key(
                    "auth.oidc",
                    "set at most one of jwks_url and jwks_file",
                ));
            }
        };
        let uses_discovery = matches!(jwks, JwksSource::Discovery) || dashboard.is_some();
        if uses_discovery {
            ferry_api::oidc::discovery::discovery_url(issuer).map_err(|e| {
                key(
                    "issuer",
                    format!("its discovery document is fetched, so the issuer {e}"),
                )
            })?;
        }
        if self.clock_skew_secs > MAX_SKEW_SECS {
            return Err(key(
                "clock_skew_secs",
                format!(
                    "must be at most {MAX_SKEW_SECS}, got {}",
                    self.clock_skew_secs
                ),
            ));
        }
        if self.algorithms.is_empty() {
            return Err(key("algorithms", "must name at least one algorithm"));
        }
        let algorithms = self
            .algorithms
            .iter()
            .map(|a| ferry_api::oidc::parse_algorithm(a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| key("algorithms", e))?;
        if self.jwks_refresh_secs == 0 {
            return Err(key("jwks_refresh_secs", "must be at least 1"));
        }
        for (name, value) in [
            ("role_claim", &self.role_claim),
            ("team_claim", &self.team_claim),
            ("name_claim", &self.name_claim),
        ] {
            if value.trim().is_empty() {
                return Err(key(name, "must name a claim"));
            }
        }
        let mut team_map = BTreeMap::new();
        for (value, team) in &self.team_map {
            let at = format!("team_map.{value:?}");
            let team = TeamName::parse(team).map_err(|e| key(&at, e))?;
            if catalog.team(&team).is_none() {
                return Err(key(
                    &at,
                    format!("team {team} is not declared under [teams]"),
                ));
            }
            team_map.insert(value.clone(), team);
        }
        Ok(OidcSettings {
            issuer: issuer.to_owned(),
            audiences,
            jwks,
            clock_skew: Duration::from_secs(self.clock_skew_secs),
            algorithms,
            refresh_interval: Duration::from_secs(self.jwks_refresh_secs),
            min_refresh_interval: Duration::from_secs(self.jwks_min_refresh_secs),
            mapping: ClaimMapping {
                role_claim: self.role_claim.clone(),
                role_map: self.role_map.clone(),
                default_role: self.default_role,
                team_claim: self.team_claim.clone(),
                team_map,
                name_claim: self.name_claim.clone(),
            },
            dashboard,
        })
    }

    /// The dashboard's client, when `client_id` is set.
    fn dashboard(&self) -> Result<Option<DashboardClient>, ConfigError> {
        let Some(client_id) = &self.client_id else {
            return Ok(None);
        };
        let client_id = client_id.trim();
        if client_id.is_empty() || !client_id.chars().all(|c| c.is_ascii_graphic()) {
            return Err(key("client_id", "must be visible ASCII characters"));
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err(key(
                "scopes",
                "must include \"openid\": the dashboard signs in with the ID token",
            ));
        }
        if let Some(bad) = self.scopes.iter().find(|s| {
            s.is_empty()
                || !s
                    .chars()
                    .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
        }) {
            return Err(key(
                "scopes",
                format!("{bad:?} is not a scope (RFC 6749 §3.3)"),
            ));
        }
        let path = &self.redirect_path;
        if !path.starts_with('/')
            || path.contains(['?', '#'])
            || path.chars().any(char::is_whitespace)
        {
            return Err(key(
                "redirect_path",
                format!("{path:?} must be an absolute path without query or fragment"),
            ));
        }
        Ok(Some(DashboardClient {
            client_id: client_id.to_owned(),
            scopes: self.scopes.clone(),
            redirect_path: path.clone(),
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::{Config, ConfigSource};

    fn example() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../ferry.example.toml"
        ))
        .unwrap()
    }

    /// The example with its [auth.oidc] section uncommented.
    fn with_oidc() -> String {
        let text = example();
        let start = text.find("# [auth.oidc]").unwrap();
        let (head, tail) = text.split_at(start);
        let tail: Vec<String> = tail
            .lines()
            .map(|l| {
                let key = l.strip_prefix("# ").filter(|r| {
                    r.starts_with('[') || r.split_once(" = ").is_some_and(|(k, _)| !k.contains(' '))
                });
                key.map_or_else(|| l.to_owned(), str::to_owned)
            })
            .collect();
        format!("{head}{}\n", tail.join("\n"))
    }

    fn check(toml: &str) -> Result<ferry_api::oidc::OidcSettings, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.toml");
        std::fs::write(&path, toml).unwrap();
        let config = Config::load(&ConfigSource {
            path,
            explicit: true,
        })
        .map_err(|e| e.to_string())?;
        let catalog = config.catalog().unwrap();
        config
            .oidc_settings(&catalog)
            .map_err(|e| e.to_string())
            .map(Option::unwrap)
    }

    #[test]
    fn the_example_oidc_section_is_valid() {
        let s = check(&with_oidc()).unwrap();
        assert_eq!(s.issuer, "https://login.example.com/realms/ml");
        // The dashboard's client id is an accepted audience: its ID tokens name it.
        assert_eq!(s.audiences, vec!["ferry", "ferry-dashboard"]);
        let dashboard = s.dashboard.clone().unwrap();
        assert_eq!(dashboard.scopes, ["openid", "profile", "email"]);
        assert_eq!(dashboard.redirect_path, "/");
        assert_eq!(s.clock_skew.as_secs(), 60);
        assert_eq!(s.algorithms.len(), 9);
        assert_eq!(s.mapping.role_map.len(), 4);
        assert_eq!(s.mapping.team_map.len(), 2);
        assert_eq!(
            s.mapping.default_role,
            Some(ferry_domain::auth::Role::Viewer)
        );
        // Commented out, it is not configured at all.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.toml");
        std::fs::write(&path, example()).unwrap();
        let config = Config::load(&ConfigSource {
            path,
            explicit: true,
        })
        .unwrap();
        assert!(
            config
                .oidc_settings(&config.catalog().unwrap())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn oidc_mistakes_name_their_key() {
        let base = with_oidc();
        let cases = [
            (
                base.replace(
                    "algorithms = [\"RS256\",",
                    "algorithms = [\"HS256\", \"RS256\",",
                ),
                "auth.oidc.algorithms: \"HS256\" is a shared-secret algorithm",
            ),
            (
                base.replace("algorithms = [\"RS256\",", "algorithms = [\"none\","),
                "auth.oidc.algorithms: \"none\" means unsigned tokens",
            ),
            (
                base.replace("jwks_url = \"https://", "jwks_url = \"http://"),
                "auth.oidc.jwks_url",
            ),
            (
                base.replace("#   jwks_file", "jwks_file"),
                "auth.oidc: set at most one of jwks_url and jwks_file",
            ),
            (
                base.replace("scopes = [\"openid\", ", "scopes = ["),
                "auth.oidc.scopes: must include \"openid\"",
            ),
            (
                base.replace("redirect_path = \"/\"", "redirect_path = \"ui?x\""),
                "auth.oidc.redirect_path: \"ui?x\" must be an absolute path",
            ),
            (
                base.replace(
                    "issuer = \"https://login.example.com",
                    "issuer = \"http://login.example.com",
                ),
                "auth.oidc.issuer: its discovery document is fetched",
            ),
            (
                base.replace("clock_skew_secs = 60", "clock_skew_secs = 86400"),
                "auth.oidc.clock_skew_secs: must be at most 600",
            ),
            (
                base.replace(
                    "\"/ml/vision\" = \"vision\"",
                    "\"/ml/vision\" = \"robotics\"",
                ),
                "auth.oidc.team_map.\"/ml/vision\": team robotics is not declared",
            ),
            (
                base.replace("\"ml-admins\" = \"admin\"", "\"ml-admins\" = \"root\""),
                "auth.oidc.role_map.ml-admins",
            ),
            (
                base.replace("audience = \"ferry\"", "audience = []")
                    .replace("client_id = \"ferry-dashboard\"\n", ""),
                "auth.oidc.audience",
            ),
            (
                base.replace("issuer = \"https://login.example.com/realms/ml\"\n", ""),
                "auth.oidc: missing field `issuer`",
            ),
        ];
        for (toml, want) in cases {
            assert_ne!(toml, base, "{want}: the replacement did not apply");
            let err = check(&toml).unwrap_err();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
        // A loopback key URL may be plain http (a local identity provider).
        let local = base.replace(
            "jwks_url = \"https://login.example.com/realms/ml/protocol/openid-connect/certs\"",
            "jwks_url = \"http://127.0.0.1:9000/jwks\"",
        );
        check(&local).unwrap();
        // Without jwks_url or jwks_file, the keys come from discovery; without
        // client_id there is no dashboard sign-in.
        let discovered = check(
            &base
                .replace("jwks_url = \"https://login.example.com/realms/ml/protocol/openid-connect/certs\"\n", "")
                .replace("client_id = \"ferry-dashboard\"\n", ""),
        )
        .unwrap();
        assert_eq!(discovered.jwks, ferry_api::oidc::JwksSource::Discovery);
        assert!(discovered.dashboard.is_none());
        assert_eq!(discovered.audiences, vec!["ferry"]);
    }

    #[test]
    fn a_jwks_file_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let jwks = dir.path().join("jwks.json");
        let with_file = |path: &std::path::Path| {
            with_oidc().replace(
                "jwks_url = \"https://login.example.com/realms/ml/protocol/openid-connect/certs\"",
                &format!("jwks_file = {:?}", path.display().to_string()),
            )
        };
        let err = check(&with_file(&jwks)).unwrap_err();
        assert!(err.starts_with("auth.oidc.jwks_file: reading"), "{err}");
        std::fs::write(&jwks, r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#).unwrap();
        let err = check(&with_file(&jwks)).unwrap_err();
        assert!(err.contains("no asymmetric signature key"), "{err}");
        std::fs::write(
            &jwks,
            r#"{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#,
        )
        .unwrap();
        check(&with_file(&jwks)).unwrap();
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own signature
    fn oidc_keys_come_from_the_environment_too() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("ferry.toml", "")?;
            jail.set_env("FERRY_AUTH__OIDC__ISSUER", "https://idp.example.com");
            jail.set_env("FERRY_AUTH__OIDC__AUDIENCE", "ferry");
            jail.set_env("FERRY_AUTH__OIDC__JWKS_URL", "https://idp.example.com/jwks");
            jail.set_env("FERRY_AUTH__OIDC__CLOCK_SKEW_SECS", "30");
            jail.set_env("FERRY_AUTH__OIDC__CLIENT_ID", "ferry-dashboard");
            let c = Config::load(&ConfigSource {
                path: "ferry.toml".into(),
                explicit: true,
            })
            .unwrap();
            let s = c.oidc_settings(&c.catalog().unwrap()).unwrap().unwrap();
            assert_eq!(s.issuer, "https://idp.example.com");
            // The dashboard's client id is an accepted audience: its ID tokens name it.
            assert_eq!(s.audiences, vec!["ferry", "ferry-dashboard"]);
            let dashboard = s.dashboard.clone().unwrap();
            assert_eq!(dashboard.scopes, ["openid", "profile", "email"]);
            assert_eq!(dashboard.redirect_path, "/");
            assert_eq!(s.clock_skew.as_secs(), 30);
            Ok(())
        });
    }
}
