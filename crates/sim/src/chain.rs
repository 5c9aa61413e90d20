//! Breaking one link of the walkthrough's chain directly in the sim's state, for tests of code
//! that must name the broken step (Ferry's preflight, doctor and worker). The sim's own tests
//! break the chain through the real SDKs instead; both routes edit the same policies.
//!
//! The steps are Ferry's one notion of the chain, [`ChainStep`]; a [`ChainBreak`] is one way
//! to break one of them (a step can break in more than one way: the trust policy's principal,
//! or its `aws:SourceAccount`, or its `aws:SourceArn`).

use ferry_domain::chain::ChainStep;
use ferry_policy::PASS_ROLE_SID;
use serde_json::Value;

use crate::scenario::{
    ARTIFACT_BUCKET, CONTROL_POLICY_NAME, CONTROL_ROLE_NAME, EXECUTION_POLICY_NAME,
    EXECUTION_ROLE_NAME, HOSTING_ACCOUNT, HOSTING_KEY_ID, RESEARCH_KEY_ID,
};
use crate::state::{State, StoredPolicy};

/// One way to break one [`ChainStep`] of the default scenario (the walkthrough's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainBreak {
    /// Step 1: the bucket policy granting the execution role (deleted).
    BucketPolicy,
    /// Step 2: the execution role's S3 statement (`ReadModelArtifacts`).
    IdentityS3Statement,
    /// Step 2: the trust policy's `bedrock.amazonaws.com` statement.
    TrustPolicy,
    /// Step 2: the trust policy's `aws:SourceAccount` condition points at another account.
    TrustSourceAccount,
    /// Step 2: the trust policy's `aws:SourceArn` condition points at another region.
    TrustSourceArn,
    /// Step 3: the research key policy's statement for the execution role.
    ResearchKeyPolicyStatement,
    /// Step 4: the hosting key policy's statement for the execution role.
    HostingKeyPolicyStatement,
    /// Step 5: the execution role's decrypt statement for the research key.
    IdentityResearchKeyStatement,
    /// Step 6: the control role's statement allowing `iam:PassRole` on the execution role.
    PassRole,
    /// The control role's statement allowing `bedrock:InvokeModel` on the account's imported
    /// models (the readiness check after an import).
    InvokeModel,
}

impl ChainBreak {
    /// The step this break breaks: the one Ferry's diagnosis must name.
    #[must_use]
    pub fn step(self) -> ChainStep {
        match self {
            Self::BucketPolicy => ChainStep::BucketPolicy,
            Self::IdentityS3Statement | Self::IdentityResearchKeyStatement => {
                ChainStep::ExecutionRoleIdentityPolicy
            }
            Self::TrustPolicy | Self::TrustSourceAccount | Self::TrustSourceArn => {
                ChainStep::TrustPolicy
            }
            Self::ResearchKeyPolicyStatement => ChainStep::SourceKeyPolicy,
            Self::HostingKeyPolicyStatement => ChainStep::HostingKeyPolicy,
            Self::PassRole => ChainStep::PassRole,
            Self::InvokeModel => ChainStep::ControlRolePolicy,
        }
    }
}

/// The default scenario does not hold what a [`ChainBreak`] edits.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the scenario has no {0} to break")]
pub struct ChainError(String);

fn edit(policy: &mut StoredPolicy, f: impl FnOnce(&mut Vec<Value>)) -> Result<(), ChainError> {
    let mut doc: Value =
        serde_json::from_str(&policy.text).map_err(|e| ChainError(e.to_string()))?;
    let stmts = doc
        .get_mut("Statement")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| ChainError("policy statements".into()))?;
    f(stmts);
    *policy = StoredPolicy::parse(&doc.to_string()).map_err(|e| ChainError(e.to_string()))?;
    Ok(())
}

/// Removes the statement `sid` from the inline policy `policy` of the hosting role `role`.
fn remove_statement(
    state: &mut State,
    role: &str,
    policy: &str,
    sid: &str,
) -> Result<(), ChainError> {
    let policy = state
        .roles
        .get_mut(&(HOSTING_ACCOUNT.to_owned(), role.to_owned()))
        .ok_or_else(|| ChainError(format!("role {role}")))?
        .policies
        .get_mut(policy)
        .ok_or_else(|| ChainError(format!("policy {policy}")))?;
    edit(policy, |s| {
        s.retain(|st| st.get("Sid").and_then(Value::as_str) != Some(sid))
    })
}

pub(crate) fn remove(state: &mut State, step: ChainBreak) -> Result<(), ChainError> {
    let role_key = (HOSTING_ACCOUNT.to_owned(), EXECUTION_ROLE_NAME.to_owned());
    let role_arn = format!("arn:aws:iam::{HOSTING_ACCOUNT}:role/{EXECUTION_ROLE_NAME}");
    let missing = |what: &str| ChainError(what.to_owned());
    match step {
        ChainBreak::BucketPolicy => {
            state
                .buckets
                .get_mut(ARTIFACT_BUCKET)
                .ok_or_else(|| missing("artifact bucket"))?
                .policy = None;
            Ok(())
        }
        ChainBreak::IdentityS3Statement | ChainBreak::IdentityResearchKeyStatement => {
            let sid = if step == ChainBreak::IdentityS3Statement {
                "ReadModelArtifacts"
            } else {
                "DecryptModelArtifacts"
            };
            remove_statement(state, EXECUTION_ROLE_NAME, EXECUTION_POLICY_NAME, sid)
        }
        ChainBreak::TrustPolicy | ChainBreak::TrustSourceAccount | ChainBreak::TrustSourceArn => {
            let role = state
                .roles
                .get_mut(&role_key)
                .ok_or_else(|| missing("execution role"))?;
            edit(&mut role.trust, |stmts| {
                for st in stmts.iter_mut() {
                    let is_bedrock = st.pointer("/Principal/Service").and_then(Value::as_str)
                        == Some("bedrock.amazonaws.com");
                    if !is_bedrock {
                        continue;
                    }
                    match step {
                        ChainBreak::TrustPolicy => {
                            st["Principal"]["Service"] = Value::from("sagemaker.amazonaws.com")
                        }
                        ChainBreak::TrustSourceAccount => {
                            st["Condition"]["StringEquals"]["aws:SourceAccount"] =
                                Value::from("111122223333")
                        }
                        _ => {
                            st["Condition"]["ArnEquals"]["aws:SourceArn"] = Value::from(format!(
                                "arn:aws:bedrock:us-west-2:{HOSTING_ACCOUNT}:model-import-job/*"
                            ))
                        }
                    }
                }
            })
        }
        ChainBreak::PassRole => {
            remove_statement(state, CONTROL_ROLE_NAME, CONTROL_POLICY_NAME, PASS_ROLE_SID)
        }
        ChainBreak::InvokeModel => remove_statement(
            state,
            CONTROL_ROLE_NAME,
            CONTROL_POLICY_NAME,
            ferry_policy::INVOKE_SID,
        ),
        ChainBreak::ResearchKeyPolicyStatement | ChainBreak::HostingKeyPolicyStatement => {
            let id = if step == ChainBreak::ResearchKeyPolicyStatement {
                RESEARCH_KEY_ID
            } else {
                HOSTING_KEY_ID
            };
            let key = state.keys.get_mut(id).ok_or_else(|| missing("key"))?;
            edit(&mut key.policy, |s| {
                s.retain(|st| {
                    st.pointer("/Principal/AWS").and_then(Value::as_str) != Some(role_arn.as_str())
                })
            })
        }
    }
}
