//! Custom Model Import runs only in some Regions (the Bedrock user guide's import-model page:
//! us-east-1, us-east-2, us-west-2, eu-central-1 at the time of writing). An environment
//! elsewhere would pass every check and then fail at Bedrock, so `ferry config check` and
//! startup refuse it, unless `[aws] extra_import_regions` names the Region (AWS adds Regions).

use ferry_domain::bedrock::CUSTOM_MODEL_IMPORT_REGIONS;

use super::{Config, ConfigError};

impl Config {
    pub(super) fn check_import_regions(&self) -> Result<(), ConfigError> {
        let extra = &self.aws.extra_import_regions;
        for (name, e) in &self.environments {
            let region = e.region.to_string();
            if CUSTOM_MODEL_IMPORT_REGIONS.contains(&region.as_str()) || extra.contains(&region) {
                continue;
            }
            return Err(ConfigError::key(
                format!("environments.{name}.region"),
                format!(
                    "Amazon Bedrock Custom Model Import does not run in {region} (it runs in {}); \
                     choose one of those, or, if AWS has added {region} since, list it in \
                     [aws] extra_import_regions",
                    CUSTOM_MODEL_IMPORT_REGIONS.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::{Config, ConfigSource};

    fn config(region: &str, extra: &str) -> String {
        format!(
            r#"
[aws]
extra_import_regions = [{extra}]

[teams.research]

[environments.dev]
account_id = "777788889999"
region = "{region}"
control_role_arn = "arn:aws:iam::777788889999:role/FerryControlRole"
execution_role_arn = "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole"
"#
        )
    }

    fn check(toml: &str) -> Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.toml");
        std::fs::write(&path, toml).unwrap();
        let config = Config::load(&ConfigSource {
            path,
            explicit: true,
        })
        .map_err(|e| e.to_string())?;
        config.catalog().map(|_| ()).map_err(|e| e.to_string())
    }

    #[test]
    fn an_environment_outside_the_import_regions_is_refused() {
        let e = check(&config("ap-south-1", "")).unwrap_err();
        assert!(e.contains("environments.dev.region"), "{e}");
        assert!(e.contains("does not run in ap-south-1"), "{e}");
        assert!(e.contains("extra_import_regions"), "{e}");
        check(&config("eu-central-1", "")).unwrap();
        check(&config("us-east-2", "")).unwrap();
    }

    #[test]
    fn extra_import_regions_extends_the_list() {
        check(&config("ap-south-1", r#""ap-south-1""#)).unwrap();
    }
}
