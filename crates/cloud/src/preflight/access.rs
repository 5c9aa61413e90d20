//! Access: assuming the execution role, Bedrock's trust in it, and passing it to Bedrock.

use aws_credential_types::provider::ProvideCredentials as _;
use aws_smithy_types::error::display::DisplayErrorContext;
use ferry_domain::preflight::{
    Access, Check, DeniedCall, check_names as n, diagnose_access_denied,
};

use super::Run;
use super::failure::AwsFailure;
use crate::error::code_message;

impl Run<'_> {
    pub(super) async fn assume(&mut self) {
        let exec = self.clients.target.execution_role.to_string();
        let mut result = self.clients.exec_creds.provide_credentials().await;
        if let Err(err) = &result
            && format!("{}", DisplayErrorContext(err)).contains("ExpiredToken")
        {
            self.clients.invalidate().await;
            result = self.clients.exec_creds.provide_credentials().await;
        }
        match result {
            Ok(_) => {
                self.as_exec = true;
                self.role = exec.clone();
                self.push(Check::passed(
                    n::ASSUME_EXECUTION_ROLE,
                    format!(
                        "assumed {exec} from {}: the checks below use the rights Bedrock will use",
                        self.clients.target.control_role
                    ),
                ));
            }
            Err(err) => {
                let failure = crate::error::assume_role_failure(&err);
                let transient = match failure.as_ref().map(|(c, _)| c.as_deref()) {
                    Some(Some(code)) => matches!(
                        code,
                        "Throttling"
                            | "ThrottlingException"
                            | "InternalFailure"
                            | "ServiceUnavailable"
                    ),
                    _ => true,
                };
                let text = match failure {
                    Some((code, message)) => code_message(code.as_deref(), Some(&message)),
                    None => format!("{}", DisplayErrorContext(&err)),
                };
                if transient && !text.contains("not authorized") {
                    self.push(
                        Check::failed(
                            n::ASSUME_EXECUTION_ROLE,
                            format!("STS did not answer the assumption of {exec}; try again later"),
                        )
                        .with_evidence(text)
                        .transient(),
                    );
                    return;
                }
                let control = self.clients.target.control_role.to_string();
                let hosting = self.clients.target.account.to_string();
                let control_failed = text.contains(&format!("resource: {control}"));
                let d = diagnose_access_denied(&DeniedCall {
                    access: if control_failed {
                        Access::AssumeControlRole
                    } else {
                        Access::AssumeExecutionRole
                    },
                    action: "sts:AssumeRole",
                    resource: if control_failed { &control } else { &exec },
                    aws_message: &text,
                    is_cross_account: false,
                    role_arn: &control,
                    research_account: None,
                    hosting_account: Some(&hosting),
                });
                let detail = if control_failed {
                    format!(
                        "Ferry could not assume its control role {control}; the checks below run with no usable rights"
                    )
                } else {
                    format!(
                        "the control role {control} could not assume the execution role {exec}; the checks below run as the control role, not with Bedrock's rights"
                    )
                };
                self.push(
                    Check::failed(n::ASSUME_EXECUTION_ROLE, detail)
                        .with_evidence(text)
                        .with_diagnosis(d),
                );
            }
        }
    }

    /// Reads the execution role's trust policy (as the control role, `iam:GetRole`) and checks
    /// that Bedrock may assume the role for this account's import jobs. Ferry's own statement
    /// cannot prove that: Bedrock comes in through its own statement and conditions.
    pub(super) async fn bedrock_trust(&mut self) {
        let t = &self.clients.target;
        let role_arn = t.execution_role.to_string();
        let (account, region) = (t.account.to_string(), t.region.to_string());
        let iam = self.clients.control_iam.clone();
        let name = t.execution_role.role_name().to_owned();
        let got = self
            .clients
            .call(|| iam.get_role().role_name(&name).send())
            .await;
        let doc = match got {
            Ok(out) => out
                .role()
                .and_then(|r| r.assume_role_policy_document())
                .map(|d| {
                    percent_encoding::percent_decode_str(d)
                        .decode_utf8_lossy()
                        .into_owned()
                }),
            Err(err) => {
                let f = AwsFailure::from_sdk(&err);
                self.push(
                    Check::warning(
                        n::BEDROCK_TRUST,
                        format!("could not read the trust policy of {role_arn} as {}: Bedrock's statement is not verified", t.control_role),
                    )
                    .with_evidence(f.evidence)
                    .with_fix(format!("Allow the control role iam:GetRole on {role_arn} so preflight can verify the trust policy.")),
                );
                return;
            }
        };
        let Some(doc) = doc else {
            self.push(Check::warning(
                n::BEDROCK_TRUST,
                "IAM returned no trust policy",
            ));
            return;
        };
        let c = match ferry_policy::trust::check_bedrock_trust(&doc, &role_arn, &account, &region) {
            Ok(()) => Check::passed(
                n::BEDROCK_TRUST,
                format!(
                    "the trust policy of {role_arn} lets bedrock.amazonaws.com assume it for import jobs in {account} ({region})"
                ),
            ),
            Err(why) => {
                let mut c = Check::failed(
                    n::BEDROCK_TRUST,
                    format!("Bedrock will not be able to assume {role_arn} for an import job in {account} ({region})"),
                )
                .with_evidence(why);
                c.chain_step = Some(ferry_domain::chain::ChainStep::TrustPolicy);
                c.fix = Some(ferry_policy::trust::bedrock_trust_fix(
                    &role_arn, &account, &region,
                ));
                c
            }
        };
        self.push(c);
    }

    /// Asks IAM's policy simulator, as the control role about itself, whether
    /// it may pass the execution role to Bedrock and create import jobs: the
    /// one step of the chain no read can prove, since CreateModelImportJob
    /// has no dry run.
    pub(super) async fn pass_role(&mut self) {
        let t = &self.clients.target;
        let role_arn = t.execution_role.to_string();
        let control = t.control_role.to_string();
        let iam = self.clients.control_iam.clone();
        let context = aws_sdk_iam::types::ContextEntry::builder()
            .context_key_name("iam:PassedToService")
            .context_key_values("bedrock.amazonaws.com")
            .context_key_type(aws_sdk_iam::types::ContextKeyTypeEnum::String)
            .build();
        let got = self
            .clients
            .call(|| {
                iam.simulate_principal_policy()
                    .policy_source_arn(&control)
                    .action_names("iam:PassRole")
                    .resource_arns(&role_arn)
                    .context_entries(context.clone())
                    .send()
            })
            .await;
        let out = match got {
            Ok(out) => out,
            Err(err) => {
                let f = AwsFailure::from_sdk(&err);
                self.push(
                    Check::warning(
                        n::PASS_ROLE,
                        format!("could not ask IAM whether {control} may pass {role_arn} to Bedrock: not verified"),
                    )
                    .with_evidence(f.evidence)
                    .with_fix(format!("Allow the control role iam:SimulatePrincipalPolicy on {control} so preflight can verify it.")),
                );
                return;
            }
        };
        let denied = denied(&out);
        let c = if denied.is_empty() {
            Check::passed(
                n::PASS_ROLE,
                format!("{control} may pass {role_arn} to bedrock.amazonaws.com"),
            )
        } else {
            let mut c = Check::failed(
                n::PASS_ROLE,
                format!("{control} may not pass {role_arn} to Bedrock: CreateModelImportJob would be refused"),
            )
            .with_evidence(denied.join("; "));
            c.chain_step = Some(ferry_domain::chain::ChainStep::PassRole);
            c.fix = Some(format!(
                "In the hosting account, add to the control role's policy a statement allowing iam:PassRole on {role_arn} with the condition StringEquals iam:PassedToService = bedrock.amazonaws.com."
            ));
            c
        };
        self.push(c);
    }
}

impl Run<'_> {
    /// Asks IAM's policy simulator, as the control role about itself, whether it may invoke
    /// the account's imported models: the readiness check after every import calls
    /// `InvokeModel` and `Converse`, which both need `bedrock:InvokeModel` on the model. The
    /// import itself does not, so a denial is a warning: the model would end `Serving=False`.
    pub(super) async fn invoke_models(&mut self) {
        let t = &self.clients.target;
        let control = t.control_role.to_string();
        let models = format!(
            "arn:aws:bedrock:{}:{}:imported-model/*",
            t.region, t.account
        );
        let iam = self.clients.control_iam.clone();
        let got = self
            .clients
            .call(|| {
                iam.simulate_principal_policy()
                    .policy_source_arn(&control)
                    .action_names(ferry_policy::BEDROCK_INVOKE_ACTION)
                    .resource_arns(&models)
                    .send()
            })
            .await;
        let fix = format!(
            "In the hosting account, add to the control role's policy the statement {} allowing {} on {models} (ferry policy render writes it).",
            ferry_policy::INVOKE_SID,
            ferry_policy::BEDROCK_INVOKE_ACTION
        );
        let c = match got {
            Err(err) => {
                let f = AwsFailure::from_sdk(&err);
                Check::warning(
                    n::INVOKE_MODELS,
                    format!("could not ask IAM whether {control} may invoke imported models: not verified"),
                )
                .with_evidence(f.evidence)
                .with_fix(format!("Allow the control role iam:SimulatePrincipalPolicy on {control} so preflight can verify it."))
            }
            Ok(out) => {
                let denied = denied(&out);
                if denied.is_empty() {
                    Check::passed(
                        n::INVOKE_MODELS,
                        format!(
                            "{control} may invoke this account's imported models (the readiness check after an import)"
                        ),
                    )
                } else {
                    let mut c = Check::warning(
                        n::INVOKE_MODELS,
                        format!("{control} may not invoke this account's imported models: the import would work, but its readiness check would end Serving=False"),
                    )
                    .with_evidence(denied.join("; "))
                    .with_fix(fix);
                    c.chain_step = Some(ferry_domain::chain::ChainStep::ControlRolePolicy);
                    c
                }
            }
        };
        self.push(c);
    }
}

impl Run<'_> {
    /// Asks IAM's policy simulator, as the control role about itself, whether it may read
    /// what the account inventory reads: the tags of the account's imported models (Ferry's
    /// are told from others by them) and the models' invocations in CloudWatch. Neither is
    /// needed by the import, so a denial is a warning.
    pub(super) async fn read_inventory(&mut self) {
        let t = &self.clients.target;
        let control = t.control_role.to_string();
        let models = format!(
            "arn:aws:bedrock:{}:{}:imported-model/*",
            t.region, t.account
        );
        let iam = self.clients.control_iam.clone();
        let mut denials = Vec::new();
        for (action, resource) in [
            (ferry_policy::TAGS_ACTION, models.as_str()),
            (ferry_policy::INVOCATIONS_ACTION, "*"),
        ] {
            let got = self
                .clients
                .call(|| {
                    iam.simulate_principal_policy()
                        .policy_source_arn(&control)
                        .action_names(action)
                        .resource_arns(resource)
                        .send()
                })
                .await;
            match got {
                Err(err) => {
                    let f = AwsFailure::from_sdk(&err);
                    self.push(
                        Check::warning(
                            n::READ_INVENTORY,
                            format!("could not ask IAM whether {control} may read the account inventory: not verified"),
                        )
                        .with_evidence(f.evidence)
                        .with_fix(format!("Allow the control role iam:SimulatePrincipalPolicy on {control} so preflight can verify it.")),
                    );
                    return;
                }
                Ok(out) => denials.extend(denied(&out)),
            }
        }
        let c = if denials.is_empty() {
            Check::passed(
                n::READ_INVENTORY,
                format!(
                    "{control} may read the tags of this account's imported models and their invocations in CloudWatch (the account inventory)"
                ),
            )
        } else {
            let mut c = Check::warning(
                n::READ_INVENTORY,
                format!("{control} may not read all the account inventory reads: models may be counted as imported outside Ferry, or their last invocation stay unknown"),
            )
            .with_evidence(denials.join("; "))
            .with_fix(format!(
                "In the hosting account, add to the control role's policy the statements {} ({} on {models}) and {} ({} on *) (ferry policy render writes them).",
                ferry_policy::TAGS_SID,
                ferry_policy::TAGS_ACTION,
                ferry_policy::INVOCATIONS_SID,
                ferry_policy::INVOCATIONS_ACTION
            ));
            c.chain_step = Some(ferry_domain::chain::ChainStep::ControlRolePolicy);
            c
        };
        self.push(c);
    }
}

/// What IAM's policy simulator did not allow, one "ACTION on RESOURCE: DECISION" each.
fn denied(
    out: &aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyOutput,
) -> Vec<String> {
    out.evaluation_results()
        .iter()
        .filter(|r| r.eval_decision().as_str() != "allowed")
        .map(|r| {
            format!(
                "{} on {}: {}",
                r.eval_action_name(),
                r.eval_resource_name().unwrap_or("*"),
                r.eval_decision().as_str()
            )
        })
        .collect()
}
