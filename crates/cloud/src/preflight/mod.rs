//! Preflight: read the model's artifacts with the execution role's rights (Bedrock's view),
//! check them with `ferry_domain::artifacts`, and turn every `AccessDenied` into the broken step
//! of the cross-account chain. Weights are never downloaded: safetensors headers come from two
//! ranged GETs per file.

mod access;
mod artifacts;
mod failure;
mod kms;

use ferry_domain::artifacts::{self as rules, ArtifactProblem};
use ferry_domain::aws::KmsKeyRef;
use ferry_domain::bedrock::S3Uri;
use ferry_domain::names::EnvironmentName;
use ferry_domain::preflight::{Check, ModelFacts, Outcome, PreflightReport, check_names as n};
use std::collections::BTreeMap;

use ferry_domain::artifacts::{ArtifactDigest, DigestInput, DigestedObject};
use time::OffsetDateTime;

use crate::{Cloud, EnvironmentClients};

use artifacts::artifact_failed;

struct Run<'a> {
    clients: &'a EnvironmentClients,
    source: &'a S3Uri,
    expected_key: Option<&'a KmsKeyRef>,
    as_exec: bool,
    role: String,
    checks: Vec<Check>,
    facts: ModelFacts,
    research_account: Option<String>,
    /// Each listed object's ETag, for the digest.
    etags: BTreeMap<String, Option<String>>,
    /// Every safetensors header's bytes, once all were read and parsed.
    headers_read: Option<Vec<(String, Vec<u8>)>>,
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
            etags: BTreeMap::new(),
            headers_read: None,
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
    /// The artifact's digest, when `config.json` and every safetensors header were read.
    fn digest(&mut self, listing: &[(String, u64)], config: Option<&[u8]>) {
        let (Some(config_json), Some(headers)) = (config, self.headers_read.take()) else {
            return;
        };
        let objects = listing
            .iter()
            .map(|(name, size)| DigestedObject {
                name: name.clone(),
                size: *size,
                etag: self.etags.get(name).cloned().flatten(),
            })
            .collect();
        self.facts.digest = ArtifactDigest::compute(&DigestInput {
            objects,
            config_json,
            safetensors_headers: headers,
        })
        .map(|d| d.to_string());
    }

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

    async fn run(&mut self) {
        self.assume().await;
        self.bedrock_trust().await;
        self.pass_role().await;
        self.invoke_models().await;
        self.read_inventory().await;
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
            Some(bytes) => match rules::check_config_json(bytes) {
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

        self.tokenizer(&names, reads_ok).await;
        self.digest(&listing, config.as_deref());

        let total = self.facts.total_bytes;
        match rules::check_total_size(total) {
            Ok(()) => self.push(Check::passed(
                n::SIZE,
                format!("{total} bytes in {} objects (limit 200 GB)", names.len()),
            )),
            Err(p) => self.push(artifact_failed(n::SIZE, &p)),
        }
        self.hosting_key().await;
    }
}
