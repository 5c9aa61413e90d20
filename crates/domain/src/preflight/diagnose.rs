//! The diagnosis of an `AccessDenied`: which link of the cross-account chain is broken, and the
//! statement that fixes it.

use crate::chain::ChainStep;

/// What was being done when AWS said `AccessDenied`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Listing or reading the artifacts in S3.
    SourceObjects,
    /// Decrypting SSE-KMS artifacts with the research key (directly or through S3).
    SourceKey,
    /// Using the hosting key for the imported model.
    HostingKey,
    /// Assuming the execution role.
    AssumeExecutionRole,
    /// Ferry assuming its control role.
    AssumeControlRole,
    /// A Bedrock control-plane call.
    Bedrock,
    /// Passing the execution role to Bedrock.
    PassRole,
}

/// An `AccessDenied` to diagnose.
#[derive(Debug, Clone, Copy)]
pub struct DeniedCall<'a> {
    /// What Ferry was doing.
    pub access: Access,
    /// The IAM action, e.g. `s3:ListBucket`.
    pub action: &'a str,
    /// The resource (bucket, key or role ARN, URI).
    pub resource: &'a str,
    /// AWS's error message.
    pub aws_message: &'a str,
    /// Whether the caller and the resource are in different accounts.
    pub is_cross_account: bool,
    /// The role whose rights were used (the execution role for artifact reads).
    pub role_arn: &'a str,
    /// The research account, when known.
    pub research_account: Option<&'a str>,
    /// The hosting account, when known.
    pub hosting_account: Option<&'a str>,
}

/// The broken step and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// The most likely broken step.
    pub step: ChainStep,
    /// Another candidate when AWS's message does not say which policy denied.
    pub alternative: Option<ChainStep>,
    /// What to add, to which document, in which account.
    pub fix: String,
}

/// Which kind of policy AWS says denied the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Denier {
    Resource,
    Identity,
    ExplicitResource,
    ExplicitIdentity,
    Unknown,
}

fn denier(message: &str) -> Denier {
    let m = message.to_ascii_lowercase();
    if m.contains("explicit deny in a resource-based policy") {
        Denier::ExplicitResource
    } else if m.contains("explicit deny in an identity-based policy")
        || m.contains("explicit deny in a session policy")
        || m.contains("explicit deny in a permissions boundary")
        || m.contains("explicit deny in a service control policy")
    {
        Denier::ExplicitIdentity
    } else if m.contains("no resource-based policy allows") {
        Denier::Resource
    } else if m.contains("no identity-based policy allows") {
        Denier::Identity
    } else {
        Denier::Unknown
    }
}

/// Turns an `AccessDenied` into the broken chain step and a fix naming the statement to add
/// and the account whose document it goes into.
///
/// AWS (and the sim) end the message with `because no resource-based policy allows ...`
/// (the bucket or key policy is missing the grant), `because no identity-based policy
/// allows ...` (the role's own policy is), or `with an explicit deny in ...`. When the message
/// says neither, the resource policy is the primary candidate across accounts, the identity
/// policy within one account, and the other is named in [`Diagnosis::alternative`] and the fix.
#[must_use]
pub fn diagnose_access_denied(call: &DeniedCall<'_>) -> Diagnosis {
    let research_in = call.research_account.map_or_else(
        || "In the research account (the one that owns the bucket and the source key)".to_owned(),
        |a| format!("In account {a}"),
    );
    let hosting_in = call.hosting_account.map_or_else(
        || "In the hosting account".to_owned(),
        |a| format!("In account {a}"),
    );
    let research = call.research_account.unwrap_or("<research account id>");
    let role = call.role_arn;
    let action = call.action;
    let resource = call.resource;
    let d = denier(call.aws_message);
    let explicit = matches!(d, Denier::ExplicitResource | Denier::ExplicitIdentity);
    let identity_fix = |what: &str| {
        format!(
            "{hosting_in}, add to the identity policy of {role} a statement allowing {what}{}.",
            if call.access == Access::SourceObjects {
                format!(" (pin it with the condition aws:ResourceAccount = {research})")
            } else {
                String::new()
            }
        )
    };
    // (resource-policy step, its fix, what the identity statement must allow)
    let (resource_step, resource_fix, identity_what) = match call.access {
        Access::SourceObjects => (
            ChainStep::BucketPolicy,
            format!(
                "{research_in}, add to the bucket policy of the artifact bucket a statement with Principal {{\"AWS\": \"{role}\"}} allowing s3:ListBucket on the bucket ARN and s3:GetObject on the bucket ARN + \"/*\" (denied: {action} on {resource})."
            ),
            format!(
                "s3:ListBucket and s3:GetObject on the artifact bucket and its objects (denied: {action} on {resource})"
            ),
        ),
        Access::SourceKey => (
            ChainStep::SourceKeyPolicy,
            format!(
                "{research_in}, add to the key policy of {resource} a statement with Principal {{\"AWS\": \"{role}\"}} allowing kms:Decrypt and kms:DescribeKey."
            ),
            format!("kms:Decrypt and kms:DescribeKey on {resource}"),
        ),
        Access::HostingKey => (
            ChainStep::HostingKeyPolicy,
            format!(
                "{hosting_in}, add to the key policy of {resource} a statement with Principal {{\"AWS\": \"{role}\"}} allowing kms:Decrypt, kms:GenerateDataKey, kms:DescribeKey and kms:CreateGrant."
            ),
            format!(
                "kms:Decrypt, kms:GenerateDataKey, kms:DescribeKey and kms:CreateGrant on {resource}"
            ),
        ),
        Access::AssumeExecutionRole => {
            return Diagnosis {
                step: ChainStep::TrustPolicy,
                alternative: Some(ChainStep::ControlRolePolicy),
                fix: format!(
                    "{hosting_in}, append to the trust policy of {resource} a statement (e.g. Sid AllowFerryPreflight) with Principal {{\"AWS\": \"{role}\"}} and Action sts:AssumeRole, keeping the bedrock.amazonaws.com statement; the control role's identity policy must also allow sts:AssumeRole on {resource}{}.",
                    if explicit {
                        " (an explicit deny currently blocks it)"
                    } else {
                        ""
                    }
                ),
            };
        }
        Access::AssumeControlRole => {
            return Diagnosis {
                step: ChainStep::ControlRolePolicy,
                alternative: None,
                fix: format!(
                    "{hosting_in}, let Ferry's identity assume {resource}: its trust policy must name Ferry's principal with sts:AssumeRole (and the external id, if configured; and sts:TagSession, if session tags are configured), and Ferry's identity policy must allow sts:AssumeRole on it."
                ),
            };
        }
        Access::Bedrock => {
            return Diagnosis {
                step: ChainStep::ControlRolePolicy,
                alternative: None,
                fix: format!(
                    "{hosting_in}, add to the identity policy of {role} a statement allowing {action} (bedrock:CreateModelImportJob, GetModelImportJob, ListModelImportJobs, GetImportedModel, ListImportedModels, DeleteImportedModel)."
                ),
            };
        }
        Access::PassRole => {
            return Diagnosis {
                step: ChainStep::PassRole,
                alternative: None,
                fix: format!(
                    "{hosting_in}, add to the identity policy of {role} a statement allowing iam:PassRole on {resource} with the condition iam:PassedToService = bedrock.amazonaws.com."
                ),
            };
        }
    };
    let identity = identity_fix(&identity_what);
    let (step, alternative, fix) = match d {
        Denier::Resource | Denier::ExplicitResource => (resource_step, None, resource_fix),
        Denier::Identity | Denier::ExplicitIdentity => {
            (ChainStep::ExecutionRoleIdentityPolicy, None, identity)
        }
        Denier::Unknown if call.is_cross_account => (
            resource_step,
            Some(ChainStep::ExecutionRoleIdentityPolicy),
            format!(
                "AWS did not say which policy denied: across accounts both must allow. {resource_fix} {identity}"
            ),
        ),
        Denier::Unknown => (
            ChainStep::ExecutionRoleIdentityPolicy,
            Some(resource_step),
            format!("AWS did not say which policy denied. {identity} {resource_fix}"),
        ),
    };
    let fix = if explicit {
        format!("An explicit Deny statement blocks {action}: remove or narrow it. Then: {fix}")
    } else {
        fix
    };
    Diagnosis {
        step,
        alternative,
        fix,
    }
}
