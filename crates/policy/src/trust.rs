//! Whether Bedrock may assume an execution role: its trust policy evaluated the way STS does.

use crate::BEDROCK_SERVICE;
use crate::iam::{PolicyDocument, Principal, RequestContext, ResourcePolicyMode, authorize};

/// Whether a role's trust policy lets Bedrock assume it for an import job in `account` and
/// `region`, as Bedrock asks: principal `bedrock.amazonaws.com`, `aws:SourceAccount` = the
/// account, `aws:SourceArn` = a model-import-job ARN there (evaluated by [`crate::iam`], the
/// same rules the sim enforces). `Err` carries AWS's wording of the denial.
pub fn check_bedrock_trust(
    trust_policy: &str,
    role_arn: &str,
    account: &str,
    region: &str,
) -> Result<(), String> {
    let doc = PolicyDocument::parse(trust_policy)
        .map_err(|e| format!("the trust policy does not parse: {}", e.0))?;
    let ctx = RequestContext::new(
        Principal::Service(BEDROCK_SERVICE.to_owned()),
        "sts:AssumeRole",
        role_arn,
        account,
    )
    .with_key("aws:SourceAccount", account)
    .with_key(
        "aws:SourceArn",
        format!("arn:aws:bedrock:{region}:{account}:model-import-job/ferrypreflt0"),
    );
    let decision = authorize(&ctx, &[], Some(&doc), ResourcePolicyMode::Required);
    match decision.message(&ctx) {
        None => Ok(()),
        Some(m) => Err(m),
    }
}

/// Whether a role's trust policy lets a web identity token of `oidc_provider_arn` (an EKS
/// cluster's IAM OIDC provider) with subject `sub` and audience `aud` assume it, as STS
/// decides `AssumeRoleWithWebIdentity`: principal `Federated` = the provider, and the
/// provider's condition keys `<issuer>:sub` and `<issuer>:aud` ("IAM and AWS STS condition
/// context keys", available keys for OIDC federation). `Err` carries the denial.
pub fn check_web_identity_trust(
    trust_policy: &str,
    role_arn: &str,
    account: &str,
    oidc_provider_arn: &str,
    sub: &str,
    aud: &str,
) -> Result<(), String> {
    let doc = PolicyDocument::parse(trust_policy)
        .map_err(|e| format!("the trust policy does not parse: {}", e.0))?;
    let issuer = oidc_provider_arn
        .split_once(":oidc-provider/")
        .map(|(_, issuer)| issuer)
        .ok_or_else(|| format!("{oidc_provider_arn} is not an OIDC provider ARN"))?;
    let ctx = RequestContext::new(
        Principal::WebIdentity {
            provider: oidc_provider_arn.to_owned(),
        },
        "sts:AssumeRoleWithWebIdentity",
        role_arn,
        account,
    )
    .with_key(&format!("{issuer}:sub"), sub)
    .with_key(&format!("{issuer}:aud"), aud);
    let decision = authorize(&ctx, &[], Some(&doc), ResourcePolicyMode::Required);
    match decision.message(&ctx) {
        None => Ok(()),
        Some(m) => Err(m),
    }
}

/// The fix for a trust policy that does not let Bedrock in.
#[must_use]
pub fn bedrock_trust_fix(role_arn: &str, account: &str, region: &str) -> String {
    format!(
        "In account {account}, the trust policy of {role_arn} needs the walkthrough's step-2 statement: Effect Allow, Principal {{\"Service\": \"bedrock.amazonaws.com\"}}, Action sts:AssumeRole, Condition StringEquals aws:SourceAccount = {account} and ArnEquals aws:SourceArn = arn:aws:bedrock:{region}:{account}:model-import-job/*."
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999";

    #[test]
    fn bedrock_trust_is_evaluated_like_sts() {
        let good = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "777788889999"},
                          "ArnEquals": {"aws:SourceArn": "arn:aws:bedrock:us-east-1:777788889999:model-import-job/*"}}}]});
        check_bedrock_trust(&good.to_string(), ROLE, "777788889999", "us-east-1").unwrap();
        // Another region in aws:SourceArn, another account, another service: denied.
        let e =
            check_bedrock_trust(&good.to_string(), ROLE, "777788889999", "us-west-2").unwrap_err();
        assert!(e.contains("sts:AssumeRole"), "{e}");
        assert!(check_bedrock_trust(&good.to_string(), ROLE, "111122223333", "us-east-1").is_err());
        let other = good
            .to_string()
            .replace("bedrock.amazonaws.com", "sagemaker.amazonaws.com");
        assert!(check_bedrock_trust(&other, ROLE, "777788889999", "us-east-1").is_err());
        assert!(check_bedrock_trust("{", ROLE, "777788889999", "us-east-1").is_err());
        assert!(bedrock_trust_fix(ROLE, "777788889999", "us-east-1").contains("aws:SourceArn"));
    }
}
