//! Values Ferry sends to Amazon Bedrock, parsed with the service's own rules.
//!
//! The rules are the ones `CreateModelImportJob` enforces server side (the SDK
//! does not check them): see `bedrock-cmi-facts.md`. Checking them here means a
//! bad request is rejected with a clear error before anything is stored, instead
//! of failing hours later as a `ValidationException`.

use std::fmt;

use crate::RuleError;

/// Declares a string newtype with `as_str`, `Display`, `FromStr`, `AsRef<str>`
/// and serde support that goes through `parse`, so a deserialised value is as
/// valid as a parsed one.
macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = RuleError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = RuleError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
    };
}
pub(crate) use string_newtype;

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
    /// A 12-digit AWS account id.
    AccountId
);

impl AccountId {
    pub fn parse(s: &str) -> Result<Self, RuleError> {
        if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RuleError::new(
                "account_id",
                format!("an AWS account id is exactly 12 digits, got {s:?}"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(
    /// An AWS Region code such as `us-east-1` or `us-gov-west-1`.
    Region
);

impl Region {
    pub fn parse(s: &str) -> Result<Self, RuleError> {
        let parts: Vec<&str> = s.split('-').collect();
        let ok = s.len() <= 32
            && parts.len() >= 3
            && parts[0].len() == 2
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
            && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
            && !parts[parts.len() - 1].is_empty();
        if !ok {
            return Err(RuleError::new(
                "region",
                format!("{s:?} is not an AWS Region code such as \"us-east-1\""),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

/// The partition part of an ARN: `aws` or `aws-<something>` (`aws-cn`, `aws-us-gov`).
fn check_partition(p: &str) -> bool {
    p == "aws"
        || p.strip_prefix("aws-")
            .is_some_and(|rest| !rest.is_empty() && !rest.contains(':'))
}

/// `roleArn`: at most 2048 characters matching `arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+`.
///
/// Ferry also requires the account id (the pattern makes it optional), since
/// it compares the role's account with the environment's.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct RoleArn(String);

impl RoleArn {
    pub fn parse(s: &str) -> Result<Self, RuleError> {
        RuleError::check_len(s, "a role ARN", 1, 2048)?;
        let bad = || {
            RuleError::new(
                "role_arn",
                format!(
                    "{s:?} is not an IAM role ARN like \"arn:aws:iam::777788889999:role/Name\""
                ),
            )
        };
        let mut parts = s.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        if !check_partition(partition) {
            return Err(bad());
        }
        AccountId::parse(account).map_err(|_| {
            RuleError::new(
                "role_arn.account",
                format!("the role ARN {s:?} must name its 12-digit account"),
            )
        })?;
        match resource.strip_prefix("role/") {
            Some(name) if !name.is_empty() => Ok(Self(s.to_owned())),
            _ => Err(bad()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn account(&self) -> AccountId {
        AccountId(self.0.split(':').nth(4).unwrap_or_default().to_owned())
    }

    /// The role's name: the last path segment after `role/`.
    pub fn role_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RoleArn {
    type Error = RuleError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RoleArn> for String {
    fn from(v: RoleArn) -> String {
        v.0
    }
}

impl std::str::FromStr for RoleArn {
    type Err = RuleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The forms `importedModelKmsKeyId` (and S3's SSE-KMS key id) accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsKeyForm {
    /// `arn:aws:kms:<region>:<account>:key/<key-id>`
    KeyArn,
    /// `arn:aws:kms:<region>:<account>:alias/<name>`
    AliasArn,
    /// A bare key id: a 36-character UUID, or `mrk-` + 32 hex for multi-Region keys.
    KeyId,
    /// `alias/<name>`
    AliasName,
}

fn is_key_id(s: &str) -> bool {
    let uuid_like = s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    let mrk = s
        .strip_prefix("mrk-")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    uuid_like || mrk
}

fn is_alias_name(s: &str) -> bool {
    s.strip_prefix("alias/").is_some_and(|n| {
        !n.is_empty()
            && n.len() <= 250
            && !n.starts_with("aws/")
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
    })
}

/// A reference to a KMS key: key ARN, alias ARN, key id or `alias/...`
/// (1 to 2048 characters).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct KmsKeyRef(String);

impl KmsKeyRef {
    pub fn parse(s: &str) -> Result<Self, RuleError> {
        RuleError::check_len(s, "a KMS key reference", 1, 2048)?;
        if Self::classify(s).is_none() {
            return Err(RuleError::new(
                "kms_key",
                format!("{s:?} is not a KMS key ARN, alias ARN, key id or \"alias/<name>\""),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    fn classify(s: &str) -> Option<KmsKeyForm> {
        if let Some(rest) = s.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [partition, "kms", region, account, resource] = parts.as_slice() else {
                return None;
            };
            if !check_partition(partition)
                || Region::parse(region).is_err()
                || AccountId::parse(account).is_err()
            {
                return None;
            }
            if resource.strip_prefix("key/").is_some_and(is_key_id) {
                return Some(KmsKeyForm::KeyArn);
            }
            if is_alias_name(resource) {
                return Some(KmsKeyForm::AliasArn);
            }
            return None;
        }
        if is_key_id(s) {
            return Some(KmsKeyForm::KeyId);
        }
        if is_alias_name(s) {
            return Some(KmsKeyForm::AliasName);
        }
        None
    }

    pub fn form(&self) -> KmsKeyForm {
        Self::classify(&self.0).unwrap_or(KmsKeyForm::KeyId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The account that owns the key, when the reference is an ARN.
    pub fn account(&self) -> Option<AccountId> {
        match self.form() {
            KmsKeyForm::KeyArn | KmsKeyForm::AliasArn => {
                AccountId::parse(self.0.split(':').nth(4)?).ok()
            }
            KmsKeyForm::KeyId | KmsKeyForm::AliasName => None,
        }
    }
}

impl fmt::Display for KmsKeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for KmsKeyRef {
    type Error = RuleError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<KmsKeyRef> for String {
    fn from(v: KmsKeyRef) -> String {
        v.0
    }
}

impl std::str::FromStr for KmsKeyRef {
    type Err = RuleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
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

/// Characters Bedrock accepts in tag keys and values: `[a-zA-Z0-9\s._:/=+@-]`.
fn is_tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c.is_whitespace() || "._:/=+@-".contains(c)
}

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
    fn role_arn_requires_iam_role_with_account() {
        let r =
            RoleArn::parse("arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999")
                .unwrap();
        assert_eq!(r.account().as_str(), "777788889999");
        assert_eq!(r.role_name(), "BedrockCMIExecutionRole-777788889999");
        RoleArn::parse("arn:aws-us-gov:iam::777788889999:role/path/to/R").unwrap();
        for bad in [
            "arn:aws:iam::777788889999:user/bob",
            "arn:aws:sts::777788889999:role/R",
            "arn:aws:iam::77778888999:role/R",
            "arn:aws:iam:us-east-1:777788889999:role/R",
            "arn:aws:iam::777788889999:role/",
            "arn:gcp:iam::777788889999:role/R",
        ] {
            assert!(RoleArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kms_key_ref_accepts_every_documented_form() {
        let cases = [
            (
                "arn:aws:kms:us-east-1:777788889999:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                KmsKeyForm::KeyArn,
            ),
            (
                "arn:aws:kms:us-east-1:777788889999:alias/kms-cmk-777788889999",
                KmsKeyForm::AliasArn,
            ),
            ("1234abcd-12ab-34cd-56ef-1234567890ab", KmsKeyForm::KeyId),
            ("mrk-1234abcd12ab34cd56ef1234567890ab", KmsKeyForm::KeyId),
            ("alias/kms-cmk-777788889999", KmsKeyForm::AliasName),
        ];
        for (s, form) in cases {
            assert_eq!(KmsKeyRef::parse(s).unwrap().form(), form, "{s}");
        }
        assert_eq!(
            KmsKeyRef::parse(cases[0].0)
                .unwrap()
                .account()
                .unwrap()
                .as_str(),
            "777788889999"
        );
        for bad in [
            "",
            "key",
            "alias/",
            "alias/aws/s3",
            "arn:aws:kms:us-east-1:1:key/x",
            "1234",
        ] {
            assert!(KmsKeyRef::parse(bad).is_err(), "{bad:?}");
        }
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
    fn account_and_region() {
        AccountId::parse("111122223333").unwrap();
        for bad in ["11112222333", "1111222233334", "11112222333a", ""] {
            assert!(AccountId::parse(bad).is_err());
        }
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "eu-central-2",
            "ap-southeast-5",
        ] {
            Region::parse(ok).unwrap();
        }
        for bad in ["us-east", "US-EAST-1", "useast1", "u-east-1", ""] {
            assert!(Region::parse(bad).is_err(), "{bad:?}");
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
