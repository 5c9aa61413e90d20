//! The cross-account chain an import crosses (the walkthrough's steps plus Ferry's own rights),
//! shared by the preflight's diagnosis, the policy kit and the sim's chain breakers.

use serde::{Deserialize, Serialize};

/// Which of the two accounts holds a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountSide {
    /// The research (model development) account that owns the bucket and source key.
    Research,
    /// The hosting account that owns the roles, the hosting key and the Bedrock jobs.
    Hosting,
}

/// One link of the cross-account chain (the walkthrough's steps plus Ferry's own rights).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainStep {
    /// Step 1: the artifact bucket's policy grants the execution role.
    BucketPolicy,
    /// Steps 2 and 5: the execution role's identity policy (S3 read, key use).
    ExecutionRoleIdentityPolicy,
    /// Step 2 (and troubleshooting): the execution role's trust policy.
    TrustPolicy,
    /// Step 3: the research key's policy lets the execution role decrypt.
    SourceKeyPolicy,
    /// Step 4: the hosting key's policy lets the execution role use it.
    HostingKeyPolicy,
    /// Step 6: Ferry's control role may call Bedrock (and be assumed by Ferry).
    ControlRolePolicy,
    /// Step 6: the control role may pass the execution role to Bedrock.
    PassRole,
}

impl ChainStep {
    /// Every step.
    pub const ALL: [Self; 7] = [
        Self::BucketPolicy,
        Self::ExecutionRoleIdentityPolicy,
        Self::TrustPolicy,
        Self::SourceKeyPolicy,
        Self::HostingKeyPolicy,
        Self::ControlRolePolicy,
        Self::PassRole,
    ];

    /// A human name.
    #[must_use]
    pub fn human_name(self) -> &'static str {
        match self {
            Self::BucketPolicy => "artifact bucket policy (walkthrough step 1)",
            Self::ExecutionRoleIdentityPolicy => {
                "execution role identity policy (walkthrough steps 2 and 5)"
            }
            Self::TrustPolicy => "execution role trust policy (walkthrough step 2)",
            Self::SourceKeyPolicy => "research KMS key policy (walkthrough step 3)",
            Self::HostingKeyPolicy => "hosting KMS key policy (walkthrough step 4)",
            Self::ControlRolePolicy => "Ferry control role policy (walkthrough step 6)",
            Self::PassRole => "iam:PassRole on the execution role (walkthrough step 6)",
        }
    }

    /// The account whose document must change.
    #[must_use]
    pub fn account_side(self) -> AccountSide {
        match self {
            Self::BucketPolicy | Self::SourceKeyPolicy => AccountSide::Research,
            _ => AccountSide::Hosting,
        }
    }
}

impl std::fmt::Display for ChainStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.human_name())
    }
}
