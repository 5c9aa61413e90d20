//! The artifacts: listing the prefix, reading `config.json`, the weights and their
//! safetensors headers (two ranged GETs per file, never the weights themselves).

use ferry_domain::artifacts::{self as rules, ArtifactProblem, SAFETENSORS_INDEX};
use ferry_domain::preflight::{Access, Check, check_names as n};
use futures::StreamExt as _;

use super::Run;
use super::failure::AwsFailure;

/// How many safetensors headers are read at once.
const HEADER_READS: usize = 4;

/// Metadata of a GetObject that succeeded.
pub(super) struct Got {
    pub(super) body: Vec<u8>,
    pub(super) kms_key: Option<String>,
}

impl Run<'_> {
    /// Lists the prefix: `(name relative to the prefix, size)`, or `None` after a failed check.
    pub(super) async fn list(&mut self) -> Option<Vec<(String, u64)>> {
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
                self.etags
                    .insert(rel.to_owned(), o.e_tag().map(str::to_owned));
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

    pub(super) async fn get(&self, name: &str, range: Option<String>) -> Result<Got, AwsFailure> {
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
    pub(super) fn read_failed(&self, name: &str, file: &str, f: &AwsFailure) -> Check {
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
    pub(super) async fn config(&mut self, names: &[String]) -> Option<Vec<u8>> {
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

    /// Weight layout; returns the safetensors files to read, or `None` after a failure.
    pub(super) async fn weights(
        &mut self,
        names: &[String],
        reads_ok: bool,
    ) -> Option<Vec<String>> {
        if let Err(p) = rules::check_not_adapter(names) {
            self.push(artifact_failed(n::WEIGHTS, &p));
            return None;
        }
        let classified = rules::classify_weights(names);
        let index = if classified.has_index {
            if !reads_ok {
                self.push(Check::skipped(
                    n::WEIGHTS,
                    format!("{SAFETENSORS_INDEX} could not be read"),
                ));
                return None;
            }
            match self.get(SAFETENSORS_INDEX, None).await {
                Ok(got) => match rules::parse_safetensors_index(&got.body) {
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
        match rules::resolve_weights(&classified, index.as_ref()) {
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

    /// The tokenizer rule, and which chat template the model will be served with: a
    /// `chat_template.jinja`/`.json` file wins over `tokenizer_config.json`'s template, which is
    /// read only when no such file exists.
    pub(super) async fn tokenizer(&mut self, names: &[String], reads_ok: bool) {
        let t = match rules::check_tokenizer(names) {
            Ok(t) => t,
            Err(p) => {
                self.push(artifact_failed(n::TOKENIZER, &p));
                return;
            }
        };
        let has_file = rules::CHAT_TEMPLATE_FILES
            .iter()
            .any(|f| names.iter().any(|n| n == f));
        let config = if t.has_tokenizer_config && reads_ok {
            match self.get("tokenizer_config.json", None).await {
                Ok(got) => Some(got.body),
                Err(f) if has_file => {
                    // The file wins anyway; only whether it overrides something is unknown.
                    tracing::debug!(error = %f.message, "tokenizer_config.json unreadable");
                    None
                }
                Err(f) => {
                    let c = self.read_failed(n::TOKENIZER, "tokenizer_config.json", &f);
                    self.push(c);
                    return;
                }
            }
        } else {
            None
        };
        let vocabulary = t.vocabulary.join(", ");
        if t.has_tokenizer_config && !reads_ok && !has_file {
            self.push(Check::passed(
                n::TOKENIZER,
                format!("{vocabulary} and tokenizer_config.json (not read: objects under the prefix could not be read, so its chat template is unknown)"),
            ));
            return;
        }
        let template = rules::chat_template(names, config.as_deref());
        let detail = format!("{vocabulary}; {}", template.describe());
        match template {
            rules::ChatTemplate::None => self.push(Check::warning(n::TOKENIZER, detail)),
            _ => self.push(Check::passed(n::TOKENIZER, detail)),
        }
    }

    /// Reads and parses each safetensors header with two ranged GETs.
    pub(super) async fn headers(&mut self, files: &[String], listing: &[(String, u64)]) {
        let this = &*self;
        type Read = Result<(rules::SafetensorsFacts, Vec<u8>), Check>;
        let results: Vec<(String, u64, Read)> = futures::stream::iter(files.iter().cloned())
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
        let mut headers = Vec::new();
        for (file, size, r) in results {
            weight_bytes += size;
            match r {
                Ok((f, bytes)) => {
                    params += f.parameter_count;
                    dtypes.extend(f.dtypes);
                    headers.push((file, bytes));
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
        self.headers_read = Some(headers);
        self.push(Check::passed(
            n::SAFETENSORS_HEADERS,
            format!(
                "{} file(s), {params} parameters, dtypes {}",
                files.len(),
                self.facts.dtypes.join(", ")
            ),
        ));
    }

    pub(super) async fn header(
        &self,
        file: &str,
        size: u64,
    ) -> Result<(rules::SafetensorsFacts, Vec<u8>), Check> {
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
        let len = rules::safetensors_header_len(file, &first.body, size).map_err(problem)?;
        let rest = self
            .get(file, Some(format!("bytes=8-{}", 8 + len - 1)))
            .await
            .map_err(|f| self.read_failed(n::SAFETENSORS_HEADERS, file, &f))?;
        let mut bytes = first.body;
        bytes.extend_from_slice(&rest.body);
        let facts = rules::parse_safetensors_header(file, &bytes, size).map_err(problem)?;
        Ok((facts, bytes))
    }
}

pub(super) fn artifact_failed(name: &str, p: &ArtifactProblem) -> Check {
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
