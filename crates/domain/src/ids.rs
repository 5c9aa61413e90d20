//! Identifiers.

use std::fmt;
use std::str::FromStr;

/// The id of an import request: a UUIDv7, so ids sort by creation time.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ImportId(uuid::Uuid);

impl ImportId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    pub fn from_uuid(id: uuid::Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }

    /// The 32 lower-case hex digits of the id, for names that cannot hold '-'.
    pub fn simple(&self) -> String {
        self.0.simple().to_string()
    }
}

impl Default for ImportId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ImportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ImportId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(Self)
    }
}

/// The id Bedrock gives an imported model: the last part of its ARN,
/// `arn:aws:bedrock:<region>:<account>:imported-model/<id>`, twelve lower-case letters and
/// digits (botocore's `bedrock` model, shape `ImportedModelArn`:
/// `imported-model/[a-z0-9]{12}`). `GET /v1/models/{id}` names a model by it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ImportedModelId(String);

impl ImportedModelId {
    /// The ECMA-262 pattern of the id, for the OpenAPI document.
    pub const PATTERN: &'static str = "^[a-z0-9]{12}$";

    /// The id, when `raw` is twelve lower-case letters and digits.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 12
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        .then(|| Self(raw.to_owned()))
    }

    /// The id of the imported model `arn` names, when it names one.
    pub fn from_arn(arn: &str) -> Option<Self> {
        let (head, id) = arn.rsplit_once('/')?;
        head.ends_with(":imported-model").then_some(())?;
        Self::parse(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ImportedModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod model_id_tests {
    use super::ImportedModelId;

    #[test]
    fn an_imported_model_id_is_the_arns_last_part() {
        let arn = "arn:aws:bedrock:us-east-1:777788889999:imported-model/abcdefabc123";
        assert_eq!(
            ImportedModelId::from_arn(arn).map(|i| i.to_string()),
            Some("abcdefabc123".to_owned())
        );
        assert_eq!(
            ImportedModelId::from_arn("arn:aws:bedrock:us-east-1:1:model-import-job/abcdefabc123"),
            None
        );
        for bad in ["ABCDEFABC123", "abc", "abcdefabc1234", "abcdefabc12-", ""] {
            assert_eq!(ImportedModelId::parse(bad), None, "{bad}");
        }
    }
}
