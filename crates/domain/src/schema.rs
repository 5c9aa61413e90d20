//! The OpenAPI schema of each constrained value, said from the same rules its
//! `parse` applies, so the document and the server cannot drift apart.
//!
//! Patterns are ECMA-262 regular expressions (what JSON Schema specifies) and
//! keep to what generators of test data read well: character classes,
//! repetition, and a negative lookahead where a rule forbids a sequence.
//! What no pattern can say (a name taken, a bucket outside the team's
//! sources) the description says, and the API's 422 names the rule.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::bedrock::{ImportedModelName, JobName, MAX_TAGS, S3Uri};
use crate::import::{FERRY_TAG_COUNT, MAX_DESCRIPTION};
use crate::names::{EnvironmentName, TeamName};

/// A string rule as JSON Schema says it.
#[derive(Debug, Clone, Copy)]
pub struct StringRule {
    pub min: usize,
    pub max: usize,
    pub pattern: &'static str,
    pub description: &'static str,
    pub example: Option<&'static str>,
}

impl StringRule {
    pub fn schema(&self) -> Schema {
        let mut b = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(self.min))
            .max_length(Some(self.max))
            .pattern(Some(self.pattern))
            .description(Some(self.description));
        if let Some(e) = self.example {
            b = b.examples([e]);
        }
        b.into()
    }
}

/// Implements utoipa's `PartialSchema` and `ToSchema` (a named component)
/// for a type from its [`StringRule`].
macro_rules! string_schema {
    ($ty:ty, $rule:expr) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                RefOr::T($rule.schema())
            }
        }
        impl utoipa::ToSchema for $ty {}
    };
}

/// Ferry's slug rule (`names.rs`): 1 to 32 of `a-z`, `0-9` and `-`, starting
/// with a letter and not ending with `-`.
const SLUG: &str = "^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$";

pub const ENVIRONMENT_NAME: StringRule = StringRule {
    min: 1,
    max: 32,
    pattern: SLUG,
    description: "An environment name: 1 to 32 lower-case letters, digits and '-', starting \
                  with a letter and not ending with '-'. It must also be one of the configured \
                  environments (`GET /v1/environments`); another is refused with rule \
                  `unknown_environment`.",
    example: Some("dev"),
};
string_schema!(EnvironmentName, ENVIRONMENT_NAME);

pub const TEAM_NAME: StringRule = StringRule {
    min: 1,
    max: 32,
    pattern: SLUG,
    description: "A team name: 1 to 32 lower-case letters, digits and '-', starting with a \
                  letter and not ending with '-'. It must also be a configured team; another is \
                  refused with rule `unknown_team`.",
    example: Some("research"),
};
string_schema!(TeamName, TEAM_NAME);

/// `s3Uri` of `CreateModelImportJob` (`bedrock.rs`): a bucket of 3 to 63 of
/// `a-z0-9.-`, starting and ending with a letter or digit, without `..`; then
/// key segments of `-!_*'().` letters and digits, none empty, `.` or `..`.
pub const S3_URI: StringRule = StringRule {
    min: 1,
    max: 1024,
    pattern: r"^s3://(?=[-.a-z0-9]{3,63}(/|$))[a-z0-9]([-a-z0-9]|\.(?!\.))*[a-z0-9](/(?!\.\.?(/|$))[-!_*'().a-zA-Z0-9]+)*/?$",
    description: "An S3 URI as Bedrock's `s3Uri` accepts it: `s3://`, a bucket (3 to 63 \
                  characters of a-z, 0-9, '.' and '-', starting and ending with a letter or \
                  digit, no '..'), then key segments of letters, digits and -!_*'(). (none \
                  empty, '.' or '..'), with an optional trailing '/'. It must also lie in a \
                  source allowed for the team (`GET /v1/environments`); another is refused \
                  with rule `source_not_allowed`.",
    example: Some("s3://model-artifacts-111122223333/llama3-8b/v1/"),
};
string_schema!(S3Uri, S3_URI);

/// `source` of a new request: an [`S3_URI`], or a SageMaker model package ARN
/// ([`crate::model_package::ARN_PATTERN`], at most 176 characters).
pub const IMPORT_SOURCE: StringRule = StringRule {
    min: 1,
    max: 1024,
    pattern: r"^(?:s3://(?=[-.a-z0-9]{3,63}(/|$))[a-z0-9]([-a-z0-9]|\.(?!\.))*[a-z0-9](/(?!\.\.?(/|$))[-!_*'().a-zA-Z0-9]+)*/?|arn:aws[-a-z]{0,10}:sagemaker:[-a-z0-9]{9,16}:[0-9]{12}:model-package/[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(/[0-9]{1,9})?)$",
    description: "An S3 URI as Bedrock's `s3Uri` accepts it (see `S3Uri`), in a source allowed for \
                  the team (rule `source_not_allowed`); or a SageMaker model package ARN \
                  (`arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>`, at most \
                  176 characters), which Ferry reads with `DescribeModelPackage` at submit: it \
                  must belong to an account the team may import from \
                  (`model_package.account_not_allowed`), exist and be readable \
                  (`model_package.not_found`, `model_package.access_denied`), be `Approved` where \
                  the environment requires it (`model_package.not_approved`), and keep its model \
                  data as an uncompressed S3 prefix (`model_package.no_s3_artifacts`, \
                  `model_package.compressed`, `model_package.not_a_prefix`) inside the team's \
                  sources. A malformed ARN is rule `model_package_arn`.",
    example: Some("s3://model-artifacts-111122223333/llama3-8b/v1/"),
};

/// The schema of `source` (`IMPORT_SOURCE`).
pub fn import_source() -> Schema {
    IMPORT_SOURCE.schema()
}

pub const IMPORTED_MODEL_NAME: StringRule = StringRule {
    min: 1,
    max: 63,
    pattern: "^([0-9a-zA-Z][_-]?)+$",
    description: "Bedrock's `importedModelName`: 1 to 63 characters, letters and digits, each \
                  optionally followed by one '_' or '-'.",
    example: Some("llama3-8b-support"),
};
string_schema!(ImportedModelName, IMPORTED_MODEL_NAME);

pub const JOB_NAME: StringRule = StringRule {
    min: 1,
    max: 63,
    // Bedrock writes it `[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*`: the same set of strings.
    pattern: r"^[a-zA-Z0-9][-+.a-zA-Z0-9]*$",
    description: "Bedrock's `jobName`: 1 to 63 characters, a letter or digit, then letters, \
                  digits, '+', '-' and '.'.",
    example: Some("llama3-8b-support-1"),
};
string_schema!(JobName, JOB_NAME);

/// Characters of tag keys and values (`bedrock.rs`, `is_tag_char`).
pub const TAG_KEY: StringRule = StringRule {
    min: 1,
    max: 128,
    pattern: r"^[-a-zA-Z0-9 \t\n\r._:/=+@]+$",
    description: "A tag key: 1 to 128 of letters, digits, whitespace (space, tab, line breaks) \
                  and ._:/=+@-. Keys starting with `aws:` (reserved by AWS) or `ferry:` (set by \
                  Ferry), in any case, are refused with rule `tag.reserved`.",
    example: Some("project"),
};

pub const TAG_VALUE: StringRule = StringRule {
    min: 0,
    max: 256,
    pattern: r"^[-a-zA-Z0-9 \t\n\r._:/=+@]*$",
    description: "A tag value: 0 to 256 of letters, digits, whitespace (space, tab, line \
                  breaks) and ._:/=+@-.",
    example: Some("support-bot"),
};

/// Most tags a client may set on one resource: Bedrock's limit less Ferry's own.
pub const MAX_CLIENT_TAGS: usize = MAX_TAGS - FERRY_TAG_COUNT;

/// A tag map (`model_tags`, `job_tags`).
pub fn tags(description: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(format!(
            "{description} At most {MAX_CLIENT_TAGS} tags ({MAX_TAGS} per resource, \
             {FERRY_TAG_COUNT} kept for Ferry's own)."
        )))
        .property_names(Some(TAG_KEY.schema()))
        .additional_properties(Some(TAG_VALUE.schema()))
        .max_properties(Some(MAX_CLIENT_TAGS))
        .into()
}

/// Control characters (Unicode `Cc`) the API refuses in any string but tab,
/// line feed and carriage return (`RuleError::check_text`, and the API's check
/// of every body).
pub const NO_CONTROL: &str = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$";

/// Free text (descriptions, comments, reasons) of at most `max` characters.
pub fn text(max: usize, description: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max))
        .pattern(Some(NO_CONTROL))
        .description(Some(format!(
            "{description} At most {max} characters; no control characters but tab and line breaks."
        )))
        .into()
}

/// Free text that must say something: at least one character that is not
/// whitespace.
pub fn required_text(max: usize, description: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(
            r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$",
        ))
        .description(Some(format!(
            "{description} 1 to {max} characters, not all whitespace; no control characters \
             but tab and line breaks."
        )))
        .into()
}

/// The longest description of a request.
pub fn description() -> Schema {
    text(MAX_DESCRIPTION, "Free text for reviewers.")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Each rule's example parses with the rule it documents.
    #[test]
    fn the_source_pattern_is_the_s3_uri_or_the_package_arn() {
        let s3 = S3_URI.pattern.trim_start_matches('^').trim_end_matches('$');
        assert_eq!(
            IMPORT_SOURCE.pattern,
            format!("^(?:{s3}|{})$", crate::model_package::ARN_PATTERN)
        );
    }

    #[test]
    fn examples_parse() {
        EnvironmentName::parse(ENVIRONMENT_NAME.example.unwrap()).unwrap();
        TeamName::parse(TEAM_NAME.example.unwrap()).unwrap();
        S3Uri::parse(S3_URI.example.unwrap()).unwrap();
        ImportedModelName::parse(IMPORTED_MODEL_NAME.example.unwrap()).unwrap();
        JobName::parse(JOB_NAME.example.unwrap()).unwrap();
        crate::bedrock::Tag::new(TAG_KEY.example.unwrap(), TAG_VALUE.example.unwrap()).unwrap();
    }
}
