//! Preflight: read the model's artifacts with the execution role's rights (Bedrock's view),
//! check them with `ferry_domain::artifacts`, and turn every `AccessDenied` into the broken step
//! of the cross-account chain. Weights are never downloaded: safetensors headers come from two
//! ranged GETs per file.

use aws_credential_types::provider::ProvideCredentials as _;
use aws_sdk_bedrock::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use ferry_domain::artifacts::{self, ArtifactProblem, SAFETENSORS_INDEX};
use ferry_domain::aws::KmsKeyRef;
use ferry_domain::bedrock::S3Uri;
use ferry_domain::names::EnvironmentName;
use ferry_domain::preflight::{
    Access, Check, DeniedCall, ModelFacts, Outcome, PreflightReport, check_names as n,
    diagnose_access_denied,
};
use futures::StreamExt as _;
use time::OffsetDateTime;

use crate::error::code_message;
use crate::{Cloud, EnvironmentClients};

/// How many safetensors headers are read at once.
const HEADER_READS: usize = 4;

/// A failed AWS call, reduced to what a report shows.
#[derive(Debug, Clone)]
struct AwsFailure {
    code: Option<String>,
    message: String,
    evidence: String,
    status: Option<u16>,
}

impl AwsFailure {
    fn from_sdk<E>(e: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        match e {
            SdkError::ServiceError(s) => {
                let err = s.err();
                Self {
                    code: err.code().map(str::to_owned),
                    message: err.message().unwrap_or_default().to_owned(),
                    evidence: code_message(err.code(), err.message()),
                    status,
                }
            }
            other => {
                let text = format!("{}", DisplayErrorContext(other));
                Self {
                    code: None,
                    message: text.clone(),
                    evidence: text,
                    status,
                }
            }
        }
    }

    /// Throttling, 5xx, or no response at all (timeout, connection): worth another try.
    fn is_transient(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(
                "SlowDown"
                    | "Throttling"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "InternalError"
                    | "ServiceUnavailable"
                    | "KMSInternalException"
            )
        ) || self.status.is_none_or(|s| s == 429 || s >= 500)
    }

    fn is_denied(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("AccessDenied" | "AccessDeniedException")
        ) || self.status == Some(403)
    }

    fn is_kms(&self) -> bool {
        self.message.contains("kms:") || self.code.as_deref().is_some_and(|c| c.starts_with("KMS"))
    }

    fn is_not_found(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("NoSuchKey" | "NotFound" | "NoSuchBucket" | "NotFoundException")
        ) || self.status == Some(404)
    }

    /// The `on resource: <arn>` of an AccessDenied message.
    fn resource(&self) -> Option<&str> {
        self.message
            .split("on resource: ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
    }
}

/// Metadata of a GetObject that succeeded.
struct Got {
    body: Vec<u8>,
    kms_key: Option<String>,
}

struct Run<'a> {
    clients: &'a EnvironmentClients,
    source: &'a S3Uri,
    expected_key: Option<&'a KmsKeyRef>,
    as_exec: bool,
    role: String,
    checks: Vec<Check>,
    facts: ModelFacts,
    research_account: Option<String>,
}

impl Cloud {
    /// Checks that Bedrock will be able to import `source` into `env`, as Bedrock would: as the
    /// execution role (assumed from the control role). Never fails: every problem, including
    /// an unknown environment, is a failed check in the report.
    #[tracing::instrument(skip_all, fields(env = %env, op = "preflight", source = %source))]
    pub async fn preflight(
        &self,
        env: &EnvironmentName,
        source: &S3Uri,
        source_kms_key: Option<&KmsKeyRef>,
    ) -> PreflightReport {
        let Ok(clients) = self.clients(env) else {
            return PreflightReport {
                checked_at: OffsetDateTime::now_utc(),
                checked_as: String::new(),
                assumed_execution_role: false,
                checks: vec![Check::failed(
                    n::ASSUME_EXECUTION_ROLE,
                    format!("environment {env} is not configured"),
                )],
                model: None,
            };
        };
        let mut run = Run {
            clients,
            source,
            expected_key: source_kms_key,
            as_exec: false,
            role: clients.target.control_role.to_string(),
            checks: Vec::new(),
            facts: ModelFacts::default(),
            research_account: source_kms_key
                .and_then(|k| k.account())
                .map(|a| a.to_string()),
        };
        run.run().await;
        let model = run
            .checks
            .iter()
            .any(|c| c.name == n::READ_CONFIG && c.outcome == Outcome::Passed)
            .then_some(run.facts);
        PreflightReport {
            checked_at: OffsetDateTime::now_utc(),
            checked_as: run.role,
            assumed_execution_role: run.as_exec,
            checks: run.checks,
            model,
        }
    }
}

impl Run<'_> {
    fn s3(&self) -> &aws_sdk_s3::Client {
        if self.as_exec {
            &self.clients.exec_s3
        } else {
            &self.clients.control_s3
        }
    }

    fn kms(&self) -> &aws_sdk_kms::Client {
        if self.as_exec {
            &self.clients.exec_kms
        } else {
            &self.clients.control_kms
        }
    }

    fn push(&mut self, c: Check) {
        self.checks.push(c);
    }

    /// A failed check for an AWS failure, with the diagnosis when it was a denial.
    fn aws_failed(
        &self,
        name: &str,
        detail: String,
        f: &AwsFailure,
        access: Access,
        action: &str,
        resource: &str,
    ) -> Check {
        let c = Check::failed(name, detail).with_evidence(f.evidence.clone());
        if f.is_transient() {
            return c.transient();
        }
        if !f.is_denied() {
            return c;
        }
        if !self.as_exec {
            return c.with_fix(
                "This check ran as the control role because the execution role could not be assumed; fix assume_execution_role first, then run preflight again.",
            );
        }
        let resource = f.resource().unwrap_or(resource);
        let hosting = self.clients.target.account.to_string();
        c.with_diagnosis(diagnose_access_denied(&DeniedCall {
            access,
            action,
            resource,
            aws_message: &f.message,
            is_cross_account: access != Access::HostingKey,
            role_arn: self.clients.target.execution_role.as_str(),
            research_account: self.research_account.as_deref(),
            hosting_account: Some(&hosting),
        }))
    }

    async fn run(&mut self) {
        self.assume().await;
        self.bedrock_trust().await;
        self.pass_role().await;
        let listing = self.list().await;
        let Some(listing) = listing else {
            for name in [
                n::READ_CONFIG,
                n::SOURCE_KEY,
                n::ARCHITECTURE,
                n::WEIGHTS,
                n::SAFETENSORS_HEADERS,
                n::TOKENIZER,
                n::SIZE,
            ] {
                self.push(Check::skipped(name, "the prefix could not be listed"));
            }
            self.hosting_key().await;
            return;
        };
        let names: Vec<String> = listing.iter().map(|(k, _)| k.clone()).collect();
        self.facts.files.clone_from(&names);
        self.facts.total_bytes = listing.iter().map(|(_, s)| s).sum();

        let config = self.config(&names).await;
        let reads_ok = config.is_some() || !names.iter().any(|k| k == "config.json");
        match config.as_ref() {
            Some(bytes) => match artifacts::check_config_json(bytes) {
                Ok(f) => {
                    let detail = format!(
                        "{} (model_type {}, architectures [{}]){}",
                        f.family,
                        f.model_type.as_deref().unwrap_or("-"),
                        f.architectures.join(", "),
                        f.context_length
                            .map(|c| format!(", context {c} tokens"))
                            .unwrap_or_default()
                    );
                    self.facts.model_type = f.model_type;
                    self.facts.architectures = f.architectures;
                    self.facts.family = Some(f.family);
                    self.facts.context_length = f.context_length;
                    self.facts.torch_dtype = f.torch_dtype;
                    self.push(Check::passed(n::ARCHITECTURE, detail));
                }
                Err(p) => {
                    if let ArtifactProblem::UnsupportedArchitecture {
                        model_type,
                        architectures,
                        ..
                    } = &p
                    {
                        self.facts.model_type.clone_from(model_type);
                        self.facts.architectures.clone_from(architectures);
                    }
                    self.push(artifact_failed(n::ARCHITECTURE, &p));
                }
            },
            None => self.push(Check::skipped(
                n::ARCHITECTURE,
                "config.json could not be read",
            )),
        }

        let weights = self.weights(&names, reads_ok).await;
        match weights {
            Some(files) if reads_ok => self.headers(&files, &listing).await,
            Some(_) => self.push(Check::skipped(
                n::SAFETENSORS_HEADERS,
                "objects under the prefix could not be read",
            )),
            None => self.push(Check::skipped(
                n::SAFETENSORS_HEADERS,
                "no safetensors weights to read",
            )),
        }

        match artifacts::check_tokenizer(&names) {
            Ok(t) if t.has_tokenizer_config => self.push(Check::passed(
                n::TOKENIZER,
                format!("{} and tokenizer_config.json", t.vocabulary.join(", ")),
            )),
            Ok(t) => self.push(Check::warning(
                n::TOKENIZER,
                format!(
                    "{} present but no tokenizer_config.json (no chat template: the model may import without instruct support)",
                    t.vocabulary.join(", ")
                ),
            )),
            Err(p) => self.push(artifact_failed(n::TOKENIZER, &p)),
        }

        let total = self.facts.total_bytes;
        match artifacts::check_total_size(total) {
            Ok(()) => self.push(Check::passed(
                n::SIZE,
                format!("{total} bytes in {} objects (limit 200 GB)", names.len()),
            )),
            Err(p) => self.push(artifact_failed(n::SIZE, &p)),
        }
        self.hosting_key().await;
    }

    async fn assume(&mut self) {
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
    async fn bedrock_trust(&mut self) {
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
    async fn pass_role(&mut self) {
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
        let denied: Vec<String> = out
            .evaluation_results()
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
            .collect();
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

    /// Lists the prefix: `(name relative to the prefix, size)`, or `None` after a failed check.
    async fn list(&mut self) -> Option<Vec<(String, u64)>> {
        let bucket = self.source.bucket().to_owned();
        let prefix = self.source.prefix();
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let s3 = self.s3().clone();
            let r = self
                .clients
                .call(|| {
                    s3.list_objects_v2()
                        .bucket(&bucket)
                        .prefix(&prefix)
                        .set_continuation_token(token.clone())
                        .send()
                })
                .await;
            let page = match r {
                Ok(p) => p,
                Err(err) => {
                    let f = AwsFailure::from_sdk(&err);
                    let c = self.aws_failed(
                        n::LIST_PREFIX,
                        format!("could not list {} as {}", self.source, self.role),
                        &f,
                        Access::SourceObjects,
                        "s3:ListBucket",
                        &format!("arn:aws:s3:::{bucket}"),
                    );
                    self.push(c);
                    return None;
                }
            };
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                let rel = key.strip_prefix(prefix.as_str()).unwrap_or(key);
                if rel.is_empty() || rel.ends_with('/') {
                    continue;
                }
                out.push((
                    rel.to_owned(),
                    u64::try_from(o.size().unwrap_or(0)).unwrap_or(0),
                ));
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) && token.as_deref() != Some(t) => {
                    token = Some(t.to_owned());
                }
                _ => break,
            }
        }
        if out.is_empty() {
            self.push(
                Check::failed(
                    n::LIST_PREFIX,
                    format!("no objects at {} (listed as {})", self.source, self.role),
                )
                .with_fix("Upload the model (config.json, tokenizer files, *.safetensors) under this prefix, or correct the URI."),
            );
            return None;
        }
        out.sort();
        self.push(Check::passed(
            n::LIST_PREFIX,
            format!("{} objects under {}", out.len(), self.source),
        ));
        Some(out)
    }

    async fn get(&self, name: &str, range: Option<String>) -> Result<Got, AwsFailure> {
        let key = format!("{}{name}", self.source.prefix());
        let bucket = self.source.bucket();
        let s3 = self.s3();
        let out = self
            .clients
            .call(|| {
                s3.get_object()
                    .bucket(bucket)
                    .key(&key)
                    .set_range(range.clone())
                    .send()
            })
            .await
            .map_err(|e| AwsFailure::from_sdk(&e))?;
        let kms_key = match out.server_side_encryption() {
            Some(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
            | Some(aws_sdk_s3::types::ServerSideEncryption::AwsKmsDsse) => {
                out.ssekms_key_id().map(str::to_owned)
            }
            _ => None,
        };
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| AwsFailure {
                code: None,
                message: e.to_string(),
                evidence: format!("reading the body of {key}: {e}"),
                status: None,
            })?
            .into_bytes()
            .to_vec();
        Ok(Got { body, kms_key })
    }

    /// A failed read: a `source_key` failure when KMS denied, else a failure of `name`.
    fn read_failed(&self, name: &str, file: &str, f: &AwsFailure) -> Check {
        let object = format!(
            "arn:aws:s3:::{}/{}{file}",
            self.source.bucket(),
            self.source.prefix()
        );
        if f.is_kms() {
            let key = self
                .expected_key
                .map(|k| k.to_string())
                .unwrap_or_else(|| "the artifacts' KMS key".into());
            self.aws_failed(
                n::SOURCE_KEY,
                format!(
                    "{} may read {file} from S3 but not decrypt it with its SSE-KMS key",
                    self.role
                ),
                f,
                Access::SourceKey,
                "kms:Decrypt",
                &key,
            )
        } else {
            self.aws_failed(
                name,
                format!("could not read {file} as {}", self.role),
                f,
                Access::SourceObjects,
                "s3:GetObject",
                &object,
            )
        }
    }

    /// Reads `config.json`; pushes `read_config` and `source_key`.
    async fn config(&mut self, names: &[String]) -> Option<Vec<u8>> {
        if !names.iter().any(|k| k == "config.json") {
            self.push(
                Check::failed(n::READ_CONFIG, format!("no config.json at {}", self.source))
                    .with_fix("Upload the Hugging Face config.json next to the weights."),
            );
            self.push(Check::skipped(n::SOURCE_KEY, "no config.json to read"));
            return None;
        }
        match self.get("config.json", None).await {
            Ok(got) => {
                self.push(Check::passed(
                    n::READ_CONFIG,
                    format!(
                        "read config.json ({} bytes) as {}",
                        got.body.len(),
                        self.role
                    ),
                ));
                self.source_key_passed(got.kms_key.as_deref());
                Some(got.body)
            }
            Err(f) => {
                let c = self.read_failed(n::READ_CONFIG, "config.json", &f);
                if c.name == n::SOURCE_KEY {
                    self.push(Check::skipped(
                        n::READ_CONFIG,
                        "config.json exists but could not be decrypted (see source_key)",
                    ));
                    self.push(c);
                } else {
                    self.push(c);
                    self.push(Check::skipped(
                        n::SOURCE_KEY,
                        "config.json could not be read",
                    ));
                }
                None
            }
        }
    }

    fn source_key_passed(&mut self, actual: Option<&str>) {
        self.facts.source_kms_key = actual.map(str::to_owned);
        if let Some(a) = actual
            && self.research_account.is_none()
        {
            // arn:aws:kms:<region>:<account>:key/<id>
            self.research_account = a.split(':').nth(4).map(str::to_owned);
        }
        let c = match (actual, self.expected_key) {
            (Some(a), Some(x)) if !key_matches(a, x) => Check::warning(
                n::SOURCE_KEY,
                format!(
                    "the artifacts are encrypted with {a}, not the declared {x}; {} can decrypt them",
                    self.role
                ),
            ),
            (Some(a), _) => Check::passed(
                n::SOURCE_KEY,
                format!("SSE-KMS with {a}: {} can decrypt", self.role),
            ),
            (None, Some(x)) => Check::warning(
                n::SOURCE_KEY,
                format!("{x} was declared but config.json is not SSE-KMS encrypted"),
            ),
            (None, None) => Check::passed(n::SOURCE_KEY, "the artifacts are not SSE-KMS encrypted"),
        };
        self.push(c);
    }

    /// Weight layout; returns the safetensors files to read, or `None` after a failure.
    async fn weights(&mut self, names: &[String], reads_ok: bool) -> Option<Vec<String>> {
        if let Err(p) = artifacts::check_not_adapter(names) {
            self.push(artifact_failed(n::WEIGHTS, &p));
            return None;
        }
        let classified = artifacts::classify_weights(names);
        let index = if classified.has_index {
            if !reads_ok {
                self.push(Check::skipped(
                    n::WEIGHTS,
                    format!("{SAFETENSORS_INDEX} could not be read"),
                ));
                return None;
            }
            match self.get(SAFETENSORS_INDEX, None).await {
                Ok(got) => match artifacts::parse_safetensors_index(&got.body) {
                    Ok(i) => Some(i),
                    Err(p) => {
                        self.push(artifact_failed(n::WEIGHTS, &p));
                        return None;
                    }
                },
                Err(f) => {
                    let c = self.read_failed(n::WEIGHTS, SAFETENSORS_INDEX, &f);
                    self.push(c);
                    return None;
                }
            }
        } else {
            None
        };
        match artifacts::resolve_weights(&classified, index.as_ref()) {
            Ok(files) => {
                let mut detail = format!("{} safetensors file(s)", files.len());
                if index.is_some() {
                    detail.push_str(&format!(
                        ", every shard named by {SAFETENSORS_INDEX} present"
                    ));
                }
                if classified.other_weights.is_empty() {
                    self.push(Check::passed(n::WEIGHTS, detail));
                } else {
                    self.push(Check::warning(
                        n::WEIGHTS,
                        format!(
                            "{detail}; also non-safetensors weights ({}) that Bedrock ignores but that count towards the size limit",
                            classified.other_weights.join(", ")
                        ),
                    ));
                }
                Some(files)
            }
            Err(p) => {
                self.push(artifact_failed(n::WEIGHTS, &p));
                None
            }
        }
    }

    /// Reads and parses each safetensors header with two ranged GETs.
    async fn headers(&mut self, files: &[String], listing: &[(String, u64)]) {
        let this = &*self;
        let results: Vec<(String, u64, Result<artifacts::SafetensorsFacts, Check>)> =
            futures::stream::iter(files.iter().cloned())
                .map(|file| async move {
                    let size = listing
                        .iter()
                        .find(|(k, _)| *k == file)
                        .map_or(0, |(_, s)| *s);
                    let r = this.header(&file, size).await;
                    (file, size, r)
                })
                .buffered(HEADER_READS)
                .collect()
                .await;
        let mut params: u64 = 0;
        let mut dtypes = std::collections::BTreeSet::new();
        let mut weight_bytes = 0;
        let mut failure = None;
        for (_, size, r) in results {
            weight_bytes += size;
            match r {
                Ok(f) => {
                    params += f.parameter_count;
                    dtypes.extend(f.dtypes);
                }
                Err(c) => {
                    failure.get_or_insert(c);
                }
            }
        }
        self.facts.total_weight_bytes = weight_bytes;
        if let Some(c) = failure {
            self.push(c);
            return;
        }
        self.facts.parameter_count = Some(params);
        self.facts.dtypes = dtypes.into_iter().collect();
        self.push(Check::passed(
            n::SAFETENSORS_HEADERS,
            format!(
                "{} file(s), {params} parameters, dtypes {}",
                files.len(),
                self.facts.dtypes.join(", ")
            ),
        ));
    }

    async fn header(&self, file: &str, size: u64) -> Result<artifacts::SafetensorsFacts, Check> {
        let problem = |p: ArtifactProblem| artifact_failed(n::SAFETENSORS_HEADERS, &p);
        if size < 8 {
            return Err(problem(ArtifactProblem::InvalidSafetensors {
                file: file.to_owned(),
                reason: format!("the file is {size} bytes"),
            }));
        }
        let first = self
            .get(file, Some("bytes=0-7".into()))
            .await
            .map_err(|f| self.read_failed(n::SAFETENSORS_HEADERS, file, &f))?;
        let len = artifacts::safetensors_header_len(file, &first.body, size).map_err(problem)?;
        let rest = self
            .get(file, Some(format!("bytes=8-{}", 8 + len - 1)))
            .await
            .map_err(|f| self.read_failed(n::SAFETENSORS_HEADERS, file, &f))?;
        let mut bytes = first.body;
        bytes.extend_from_slice(&rest.body);
        artifacts::parse_safetensors_header(file, &bytes, size).map_err(problem)
    }

    /// The hosting key: `DescribeKey` and `GenerateDataKey` as the execution role.
    async fn hosting_key(&mut self) {
        let Some(key) = self.clients.target.imported_model_kms_key.clone() else {
            self.push(Check::skipped(
                n::HOSTING_KEY,
                "no imported-model KMS key is configured for this environment (Bedrock uses an AWS owned key)",
            ));
            return;
        };
        let kms = self.kms().clone();
        let describe = self
            .clients
            .call(|| kms.describe_key().key_id(key.as_str()).send())
            .await
            .map_err(|e| ("kms:DescribeKey", AwsFailure::from_sdk(&e)));
        let result = match describe {
            Ok(_) => self
                .clients
                .call(|| {
                    kms.generate_data_key()
                        .key_id(key.as_str())
                        .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
                        .send()
                })
                .await
                .map_err(|e| ("kms:GenerateDataKey", AwsFailure::from_sdk(&e))),
            Err(e) => Err(e),
        };
        // Bedrock decrypts what it encrypted: round-trip the data key.
        let result = match result {
            Ok(out) => match out.ciphertext_blob() {
                Some(blob) => {
                    let blob = blob.clone();
                    self.clients
                        .call(|| {
                            kms.decrypt()
                                .key_id(key.as_str())
                                .ciphertext_blob(blob.clone())
                                .send()
                        })
                        .await
                        .map(|_| ())
                        .map_err(|e| ("kms:Decrypt", AwsFailure::from_sdk(&e)))
                }
                None => Ok(()),
            },
            Err(e) => Err(e),
        };
        let c = match result {
            Ok(()) => Check::passed(
                n::HOSTING_KEY,
                format!(
                    "{} may describe {key}, generate a data key with it and decrypt that key",
                    self.role
                ),
            ),
            Err((action, f)) if f.is_not_found() || f.code.as_deref() == Some("NotFoundException") => {
                Check::failed(n::HOSTING_KEY, format!("{key} does not exist ({action})"))
                    .with_evidence(f.evidence)
                    .with_fix("Create the key in the hosting account or correct the environment's imported_model_kms_key.")
            }
            Err((action, f)) => self.aws_failed(
                n::HOSTING_KEY,
                format!("{} may not use {key} for the imported model ({action})", self.role),
                &f,
                Access::HostingKey,
                action,
                key.as_str(),
            ),
        };
        self.push(c);
    }
}

fn artifact_failed(name: &str, p: &ArtifactProblem) -> Check {
    let fix = match p {
        ArtifactProblem::UnsupportedArchitecture { .. } => {
            "Import a model of a supported architecture; the list is ferry_domain::artifacts::SUPPORTED_ARCHITECTURES."
        }
        ArtifactProblem::NotSafetensors { .. } => {
            "Convert the weights to safetensors (e.g. transformers save_pretrained(safe_serialization=True))."
        }
        ArtifactProblem::LoraAdapter { .. } => {
            "Merge the adapter into its base model (peft merge_and_unload) and upload the merged model."
        }
        ArtifactProblem::MissingShards { .. } => "Upload every shard the index names.",
        ArtifactProblem::MissingTokenizer => {
            "Upload the tokenizer files saved with the model (tokenizer.json and tokenizer_config.json)."
        }
        ArtifactProblem::ContextTooLong { .. } => {
            "Reduce max_position_embeddings to 131072 or less."
        }
        ArtifactProblem::TooLarge { .. } => "Bedrock imports models up to 200 GB.",
        ArtifactProblem::InvalidSafetensors { .. } => {
            "Re-save the weights with safetensors; the file is corrupt or truncated."
        }
        ArtifactProblem::InvalidConfig(_)
        | ArtifactProblem::InvalidIndex(_)
        | ArtifactProblem::NoWeights => {
            "Upload the model as saved by transformers save_pretrained."
        }
    };
    Check::failed(name, p.to_string()).with_fix(fix)
}

/// Whether the key ARN S3 reports matches the declared reference (ARN, id, or alias: an alias
/// cannot be resolved without KMS, so it matches).
fn key_matches(actual_arn: &str, declared: &KmsKeyRef) -> bool {
    let d = declared.as_str();
    d.contains("alias/") || actual_arn == d || actual_arn.ends_with(&format!("/{d}"))
}
