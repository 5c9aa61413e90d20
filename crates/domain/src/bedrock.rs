//! Values Ferry sends to Amazon Bedrock, parsed with the service's own rules.
//!
//! The rules are the ones `CreateModelImportJob` enforces server side (the SDK
//! does not check them): see `bedrock-cmi-facts.md`. Checking them here means a
//! bad request is rejected with a clear error before anything is stored, instead
//! of failing hours later as a `ValidationException`.

use std::fmt;

use crate::RuleError;
use crate::newtype::string_newtype;

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Characters Bedrock accepts in an S3 key segment: `[-!_*'().a-zA-Z0-9]`.
fn is_s3_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-!_*'().".contains(c)
}

/// An S3 bucket name as Bedrock's `s3Uri` pattern accepts it:
/// `[a-z0-9][-.a-z0-9]{1,61}[a-z0-9]`, plus S3's own ban on `..`.
pub fn check_bucket(bucket: &str) -> Result<(), RuleError> {
    let len = bucket.chars().count();
    if !(3..=63).contains(&len) {
        return Err(RuleError::new(
            "s3_uri.bucket",
            format!("bucket name must be 3 to 63 characters long, got {len}"),
        ));
    }
    if let Some(bad) = bucket
        .chars()
        .find(|c| !is_lower_alnum(*c) && *c != '-' && *c != '.')
    {
        let hint = if bad.is_ascii_uppercase() {
            " (bucket names are lower case)"
        } else {
            ""
        };
        return Err(RuleError::new(
            "s3_uri.bucket",
            format!("bucket name may contain only a-z, 0-9, '-' and '.', found {bad:?}{hint}"),
        ));
    }
    let first = bucket.chars().next().unwrap_or('-');
    let last = bucket.chars().next_back().unwrap_or('-');
    if !is_lower_alnum(first) || !is_lower_alnum(last) {
        return Err(RuleError::new(
            "s3_uri.bucket",
            "bucket name must start and end with a lower-case letter or a digit",
        ));
    }
    if bucket.contains("..") {
        return Err(RuleError::new(
            "s3_uri.bucket",
            "bucket name must not contain two adjacent periods",
        ));
    }
    Ok(())
}

/// The S3 location of a model, as `modelDataSource.s3DataSource.s3Uri` accepts it:
/// 1 to 1024 characters matching
/// `s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct S3Uri {
    uri: String,
    bucket_end: usize,
}

impl S3Uri {
    pub fn parse(s: &str) -> Result<Self, RuleError> {
        RuleError::check_len(s, "an S3 URI", 1, 1024)?;
        let rest = s.strip_prefix("s3://").ok_or_else(|| {
            RuleError::new("s3_uri.scheme", "an S3 URI must start with \"s3://\"")
        })?;
        let (bucket, key) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        check_bucket(bucket)?;
        if !key.is_empty() {
            let body = key.strip_suffix('/').unwrap_or(key);
            if body.is_empty() {
                return Err(RuleError::new(
                    "s3_uri.key",
                    "the key must not be a lone '/' after the bucket's own",
                ));
            }
            for segment in body.split('/') {
                if segment.is_empty() {
                    return Err(RuleError::new(
                        "s3_uri.key",
                        "the key must not contain empty segments (\"//\")",
                    ));
                }
                // S3 keys are opaque, but a `.` or `..` segment reads as a
                // path step to people and to prefix checks on the text: a
                // team limited to `vision/` must not name `vision/../x/`.
                if segment == "." || segment == ".." {
                    return Err(RuleError::new(
                        "s3_uri.dot_segment",
                        format!("the key must not contain a {segment:?} segment"),
                    ));
                }
                if let Some(bad) = segment.chars().find(|c| !is_s3_key_char(*c)) {
                    return Err(RuleError::new(
                        "s3_uri.key",
                        format!(
                            "the key may contain only letters, digits and -!_*'(). between '/', found {bad:?}"
                        ),
                    ));
                }
            }
        }
        Ok(Self {
            uri: s.to_owned(),
            bucket_end: 5 + bucket.len(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.uri
    }

    pub fn bucket(&self) -> &str {
        &self.uri[5..self.bucket_end]
    }

    /// The key or prefix after the bucket, without the leading '/'; may be empty.
    pub fn key(&self) -> &str {
        self.uri.get(self.bucket_end + 1..).unwrap_or_default()
    }

    /// The key as a "directory" prefix for listing: empty, or ending in '/'.
    pub fn prefix(&self) -> String {
        let key = self.key();
        if key.is_empty() || key.ends_with('/') {
            key.to_owned()
        } else {
            format!("{key}/")
        }
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

impl TryFrom<String> for S3Uri {
    type Error = RuleError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<S3Uri> for String {
    fn from(v: S3Uri) -> String {
        v.uri
    }
}

impl std::str::FromStr for S3Uri {
    type Err = RuleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

string_newtype!(
    /// `importedModelName`: 1 to 63 characters matching `([0-9a-zA-Z][_-]?)+`:
    /// letters and digits, each optionally followed by one `_` or `-`.
    ImportedModelName
);

impl ImportedModelName {
    pub fn parse(s: &str) -> Result<Self, RuleError> {
        RuleError::check_len(s, "an imported model name", 1, 63)?;
        let mut prev_sep = true;
        for c in s.chars() {
            if c.is_ascii_alphanumeric() {
                prev_sep = false;
            } else if c == '_' || c == '-' {
                if prev_sep {
                    return Err(RuleError::new(
                        "imported_model_name.separator",
                        "'_' and '-' must follow a letter or digit: no leading or doubled separators",
                    ));
                }
                prev_sep = true;
            } else {
                return Err(RuleError::new(
                    "imported_model_name.charset",
                    format!(
                        "an imported model name may contain only letters, digits, '_' and '-', found {c:?}"
                    ),
                ));
            }
        }
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(
    /// `jobName`: 1 to 63 characters matching `[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*`:
    /// a letter or digit, then letters, digits, `+`, `-` and `.`.
    JobName
);

impl JobName {
    pub fn parse(s: &str) -> Result<Self, RuleError> {
        RuleError::check_len(s, "a job name", 1, 63)?;
        let mut chars = s.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_alphanumeric()) {
            return Err(RuleError::new(
                "job_name.start",
                "a job name must start with a letter or a digit",
            ));
        }
        if let Some(bad) = chars.find(|c| !(c.is_ascii_alphanumeric() || "+-.".contains(*c))) {
            return Err(RuleError::new(
                "job_name.charset",
                format!(
                    "a job name may contain only letters, digits, '+', '-' and '.', found {bad:?}"
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl JobName {
    /// The job name of `attempt` (1-based) of a request whose first job was
    /// `first`: the first attempt keeps it, later ones append `-a<N>`
    /// (shortening the base to stay within 63 characters), because Bedrock
    /// refuses a second job with a name already used.
    pub fn for_attempt(first: &JobName, attempt: u32) -> JobName {
        if attempt <= 1 {
            return first.clone();
        }
        let suffix = format!("-a{attempt}");
        let keep = 63usize.saturating_sub(suffix.len());
        let base: String = first.0.chars().take(keep).collect();
        JobName(format!("{base}{suffix}"))
    }

    /// The first attempt's name, given the name of attempt `attempt`.
    pub fn first_of(name: &JobName, attempt: u32) -> Option<JobName> {
        if attempt <= 1 {
            return Some(name.clone());
        }
        name.0
            .strip_suffix(&format!("-a{attempt}"))
            .and_then(|b| JobName::parse(b).ok())
    }
}

string_newtype!(
    /// `clientRequestToken`: 1 to 256 characters matching
    /// `[a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?`.
    ClientRequestToken
);

impl ClientRequestToken {
    pub fn parse(s: &str) -> Result<Self, RuleError> {
        RuleError::check_len(s, "a client request token", 1, 256)?;
        let ends_ok = s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !ends_ok || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(RuleError::new(
                "client_request_token",
                "a client request token is letters, digits and '-', starting and ending with a letter or digit",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The token of attempt `attempt` of request `id`: `ferry-<id>-<attempt>`,
    /// 32 hex digits and a number, so always within the pattern.
    pub fn for_attempt(id: crate::ids::ImportId, attempt: u32) -> Self {
        Self(format!("ferry-{}-{attempt}", id.simple()))
    }
}

/// `vpcConfig` of an import job: 1 to 16 subnet ids and 1 to 5 security
/// group ids, each at most 32 characters of `[-0-9a-zA-Z]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VpcSettings {
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
}

impl VpcSettings {
    pub fn new(
        subnet_ids: Vec<String>,
        security_group_ids: Vec<String>,
    ) -> Result<Self, RuleError> {
        let check = |what: &str, ids: &[String], max: usize| -> Result<(), RuleError> {
            if ids.is_empty() || ids.len() > max {
                return Err(RuleError::new(
                    "vpc.count",
                    format!("{what} must list 1 to {max} ids, got {}", ids.len()),
                ));
            }
            for id in ids {
                RuleError::check_len(id, "an id", 1, 32)?;
                if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    return Err(RuleError::new(
                        "vpc.id",
                        format!(
                            "{id:?} is not a subnet or security group id (letters, digits, '-')"
                        ),
                    ));
                }
            }
            Ok(())
        };
        check("subnet_ids", &subnet_ids, 16)?;
        check("security_group_ids", &security_group_ids, 5)?;
        Ok(Self {
            subnet_ids,
            security_group_ids,
        })
    }
}

/// Characters Bedrock accepts in tag keys and values: `[a-zA-Z0-9\s._:/=+@-]`,
/// where `\s` is the ASCII whitespace of Java's regular expressions (space, tab,
/// line breaks, vertical tab, form feed). The two last are control characters,
/// which no Ferry input takes, so they are left out here too.
fn is_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ' ' | '\t' | '\n' | '\r') || "._:/=+@-".contains(c)
}

/// The Regions where Amazon Bedrock Custom Model Import runs, as the Bedrock user guide's
/// import-model page lists them ("Supported Regions", 2026 copies): US East (N. Virginia),
/// US East (Ohio), US West (Oregon), Europe (Frankfurt). AWS adds Regions: Ferry's config
/// extends this list with `[aws] extra_import_regions`.
pub const CUSTOM_MODEL_IMPORT_REGIONS: &[&str] =
    &["us-east-1", "us-east-2", "us-west-2", "eu-central-1"];

/// Most tags one Bedrock resource takes. The API model says 200, but the
/// service's `TooManyTagsException` says 50 per resource; Ferry holds to the
/// smaller number.
pub const MAX_TAGS: usize = 50;

/// One `jobTags` / `importedModelTags` entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl Tag {
    /// Key 1 to 128 and value 0 to 256 characters of `[a-zA-Z0-9\s._:/=+@-]`;
    /// keys starting with `aws:` are reserved by AWS.
    pub fn new(key: &str, value: &str) -> Result<Self, RuleError> {
        RuleError::check_len(key, "a tag key", 1, 128)?;
        RuleError::check_len(value, "a tag value", 0, 256)?;
        for (what, s) in [("key", key), ("value", value)] {
            if let Some(bad) = s.chars().find(|c| !is_tag_char(*c)) {
                return Err(RuleError::new(
                    "tag.charset",
                    format!(
                        "a tag {what} may contain only letters, digits, spaces and ._:/=+@-, found {bad:?}"
                    ),
                ));
            }
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(RuleError::new(
                "tag.reserved",
                "tag keys starting with \"aws:\" are reserved by AWS",
            ));
        }
        Ok(Self {
            key: key.to_owned(),
            value: value.to_owned(),
        })
    }

    /// Builds a tag from a value that may hold characters tags do not allow
    /// (an S3 URI's `!*'()`, say), replacing each with `_` and truncating to
    /// the value limit, for tags Ferry writes itself.
    pub fn sanitized(key: &str, value: &str) -> Result<Self, RuleError> {
        let clean: String = value
            .chars()
            .map(|c| if is_tag_char(c) { c } else { '_' })
            .take(256)
            .collect();
        Self::new(key, &clean)
    }
}
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn s3_uri_accepts_bedrock_examples() {
        for ok in [
            "s3://model-artifacts-111122223333/",
            "s3://model-artifacts-111122223333",
            "s3://model-artifacts-111122223333/llama/v1/",
            "s3://a.b-c/Some_Key/(v1)!*'.x",
            "s3://abc/x",
            "s3://abc/x.../...y/.z",
        ] {
            S3Uri::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let u = S3Uri::parse("s3://model-artifacts-111122223333/llama/v1").unwrap();
        assert_eq!(u.bucket(), "model-artifacts-111122223333");
        assert_eq!(u.key(), "llama/v1");
        assert_eq!(u.prefix(), "llama/v1/");
        let u = S3Uri::parse("s3://bkt").unwrap();
        assert_eq!((u.bucket(), u.key(), u.prefix().as_str()), ("bkt", "", ""));
    }

    #[test]
    fn s3_uri_rejects_what_bedrock_rejects() {
        for (bad, rule) in [
            ("", "length"),
            ("https://bucket/key", "s3_uri.scheme"),
            ("s3://Bucket/key", "s3_uri.bucket"),
            ("s3://ab/key", "s3_uri.bucket"),
            ("s3://-bucket/key", "s3_uri.bucket"),
            ("s3://bucket-/key", "s3_uri.bucket"),
            ("s3://buc_ket/key", "s3_uri.bucket"),
            ("s3://buc..ket/key", "s3_uri.bucket"),
            ("s3://bucket/a=b", "s3_uri.key"),
            ("s3://bucket/a+b", "s3_uri.key"),
            ("s3://bucket/a@b", "s3_uri.key"),
            ("s3://bucket/a b", "s3_uri.key"),
            ("s3://bucket/a//b", "s3_uri.key"),
            ("s3://bucket//", "s3_uri.key"),
            ("s3://bucket/vision/../models/x/", "s3_uri.dot_segment"),
            ("s3://bucket/./x", "s3_uri.dot_segment"),
            ("s3://bucket/x/..", "s3_uri.dot_segment"),
            ("s3://bucket/x/../", "s3_uri.dot_segment"),
        ] {
            assert_eq!(S3Uri::parse(bad).unwrap_err().rule, rule, "{bad:?}");
        }
        let long = format!("s3://bucket/{}", "a".repeat(1020));
        assert_eq!(S3Uri::parse(&long).unwrap_err().rule, "length");
        let bucket64 = format!("s3://{}/k", "a".repeat(64));
        assert_eq!(S3Uri::parse(&bucket64).unwrap_err().rule, "s3_uri.bucket");
    }

    #[test]
    fn imported_model_name_follows_the_pattern() {
        for ok in ["a", "llama3-8b", "my_model-v2", "a-", "A1_b2-c3"] {
            ImportedModelName::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, rule) in [
            ("", "length"),
            ("-a", "imported_model_name.separator"),
            ("a--b", "imported_model_name.separator"),
            ("a_-b", "imported_model_name.separator"),
            ("a.b", "imported_model_name.charset"),
            ("a b", "imported_model_name.charset"),
        ] {
            assert_eq!(
                ImportedModelName::parse(bad).unwrap_err().rule,
                rule,
                "{bad:?}"
            );
        }
        assert_eq!(
            ImportedModelName::parse(&"a".repeat(64)).unwrap_err().rule,
            "length"
        );
        ImportedModelName::parse(&"a".repeat(63)).unwrap();
    }

    #[test]
    fn job_name_follows_the_pattern() {
        for ok in ["a", "ferry-0190aa", "v1.2+build", "a--b", "x-"] {
            JobName::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, rule) in [
            ("", "length"),
            ("-a", "job_name.start"),
            (".a", "job_name.start"),
            ("a_b", "job_name.charset"),
            ("a b", "job_name.charset"),
        ] {
            assert_eq!(JobName::parse(bad).unwrap_err().rule, rule, "{bad:?}");
        }
        assert_eq!(JobName::parse(&"a".repeat(64)).unwrap_err().rule, "length");
    }

    #[test]
    fn retries_get_their_own_job_names() {
        let first = JobName::parse("ferry-0123").unwrap();
        assert_eq!(JobName::for_attempt(&first, 1), first);
        let second = JobName::for_attempt(&first, 2);
        assert_eq!(second.as_str(), "ferry-0123-a2");
        assert_eq!(JobName::first_of(&second, 2), Some(first));
        let long = JobName::parse(&"j".repeat(63)).unwrap();
        let tenth = JobName::for_attempt(&long, 10);
        assert_eq!(tenth.as_str().len(), 63);
        assert!(JobName::parse(tenth.as_str()).is_ok());
    }

    #[test]
    fn client_request_token_pattern() {
        ClientRequestToken::parse("ferry-0190a1b2c3").unwrap();
        let built = ClientRequestToken::for_attempt(crate::ids::ImportId::new(), 12);
        assert_eq!(ClientRequestToken::parse(built.as_str()).unwrap(), built);
        ClientRequestToken::parse("a").unwrap();
        ClientRequestToken::parse(&"a".repeat(256)).unwrap();
        for bad in ["", "-a", "a-", "a_b", &"a".repeat(257)] {
            assert!(ClientRequestToken::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tags() {
        Tag::new("team", "research").unwrap();
        Tag::new("path", "a b/c:d=e+f@g-h_i.j").unwrap();
        Tag::new("empty", "").unwrap();
        assert_eq!(Tag::new("", "v").unwrap_err().rule, "length");
        assert_eq!(Tag::new(&"k".repeat(129), "v").unwrap_err().rule, "length");
        assert_eq!(Tag::new("k", &"v".repeat(257)).unwrap_err().rule, "length");
        assert_eq!(Tag::new("k!", "v").unwrap_err().rule, "tag.charset");
        assert_eq!(Tag::new("k", "v*").unwrap_err().rule, "tag.charset");
        assert_eq!(Tag::new("aws:x", "v").unwrap_err().rule, "tag.reserved");
        // Java's `\s`: ASCII whitespace only, as the OpenAPI pattern says.
        Tag::new("a\tb", "c d\ne").unwrap();
        assert_eq!(
            Tag::new("k", "no\u{a0}break").unwrap_err().rule,
            "tag.charset"
        );
        let t = Tag::sanitized("ferry:source", "s3://b/(x)!").unwrap();
        assert_eq!(t.value, "s3://b/_x__");
    }

    #[test]
    fn vpc_settings_follow_the_limits() {
        let ids = |n: usize| {
            (0..n)
                .map(|i| format!("subnet-{i:08x}"))
                .collect::<Vec<_>>()
        };
        VpcSettings::new(ids(16), vec!["sg-1".into()]).unwrap();
        assert_eq!(
            VpcSettings::new(ids(17), vec!["sg-1".into()])
                .unwrap_err()
                .rule,
            "vpc.count"
        );
        assert_eq!(
            VpcSettings::new(vec![], vec!["sg-1".into()])
                .unwrap_err()
                .rule,
            "vpc.count"
        );
        assert_eq!(
            VpcSettings::new(ids(1), ids(6)).unwrap_err().rule,
            "vpc.count"
        );
        assert_eq!(
            VpcSettings::new(vec!["subnet_1".into()], vec!["sg-1".into()])
                .unwrap_err()
                .rule,
            "vpc.id"
        );
        assert_eq!(
            VpcSettings::new(vec!["s".repeat(33)], vec!["sg-1".into()])
                .unwrap_err()
                .rule,
            "length"
        );
    }

    #[test]
    fn serde_goes_through_parse() {
        let ok: Result<JobName, _> = serde_json::from_str("\"job-1\"");
        assert!(ok.is_ok());
        let bad: Result<JobName, _> = serde_json::from_str("\"-job\"");
        assert!(bad.is_err());
        let bad: Result<S3Uri, _> = serde_json::from_str("\"s3://UPPER/x\"");
        assert!(bad.is_err());
    }
}
