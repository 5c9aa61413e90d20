//! Breaking one step of the walkthrough's chain directly in the sim's state, for tests of code
//! that must name the broken step (Ferry's preflight). The sim's own tests break the chain
//! through the real SDKs instead; both routes edit the same policies.

use serde_json::Value;

use crate::scenario::{
    ARTIFACT_BUCKET, EXECUTION_POLICY_NAME, EXECUTION_ROLE_NAME, HOSTING_ACCOUNT, HOSTING_KEY_ID,
    RESEARCH_KEY_ID,
};
use crate::state::{State, StoredPolicy};

/// One step of the default scenario's chain (the walkthrough's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainStep {
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
}

/// The default scenario does not hold what a [`ChainStep`] edits.
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

pub(crate) fn remove(state: &mut State, step: ChainStep) -> Result<(), ChainError> {
    let role_key = (HOSTING_ACCOUNT.to_owned(), EXECUTION_ROLE_NAME.to_owned());
    let role_arn = format!("arn:aws:iam::{HOSTING_ACCOUNT}:role/{EXECUTION_ROLE_NAME}");
    let missing = |what: &str| ChainError(what.to_owned());
    match step {
        ChainStep::BucketPolicy => {
            state
                .buckets
                .get_mut(ARTIFACT_BUCKET)
                .ok_or_else(|| missing("artifact bucket"))?
                .policy = None;
            Ok(())
        }
        ChainStep::IdentityS3Statement | ChainStep::IdentityResearchKeyStatement => {
            let sid = if step == ChainStep::IdentityS3Statement {
                "ReadModelArtifacts"
            } else {
                "DecryptModelArtifacts"
            };
            let role = state
                .roles
                .get_mut(&role_key)
                .ok_or_else(|| missing("execution role"))?;
            let policy = role
                .policies
                .get_mut(EXECUTION_POLICY_NAME)
                .ok_or_else(|| missing("execution policy"))?;
            edit(policy, |s| {
                s.retain(|st| st.get("Sid").and_then(Value::as_str) != Some(sid))
            })
        }
        ChainStep::TrustPolicy | ChainStep::TrustSourceAccount | ChainStep::TrustSourceArn => {
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
                        ChainStep::TrustPolicy => {
                            st["Principal"]["Service"] = Value::from("sagemaker.amazonaws.com")
                        }
                        ChainStep::TrustSourceAccount => {
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
        ChainStep::ResearchKeyPolicyStatement | ChainStep::HostingKeyPolicyStatement => {
            let id = if step == ChainStep::ResearchKeyPolicyStatement {
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
