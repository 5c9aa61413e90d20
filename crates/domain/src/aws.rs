//! AWS-wide values: accounts, Regions, role ARNs and KMS key references, parsed with AWS's own
//! rules. Nothing here is specific to Bedrock's import API; [`crate::bedrock`] builds on these.

use crate::RuleError;
use crate::newtype::string_newtype;

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

string_newtype!(
    /// `roleArn`: at most 2048 characters matching `arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+`.
/// Ferry also requires the account id (the pattern makes it optional), since
    /// it compares the role's account with the environment's.
    RoleArn
);

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

    pub fn account(&self) -> AccountId {
        AccountId(self.0.split(':').nth(4).unwrap_or_default().to_owned())
    }

    /// The role's name: the last path segment after `role/`.
    pub fn role_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
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

string_newtype!(
    /// A reference to a KMS key: key ARN, alias ARN, key id or `alias/...`
    /// (1 to 2048 characters).
    KmsKeyRef
);

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
}
