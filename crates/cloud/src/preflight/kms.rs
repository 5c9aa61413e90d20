//! KMS: the research key the artifacts are encrypted with, and the hosting key for the
//! imported model.

use ferry_domain::aws::KmsKeyRef;
use ferry_domain::preflight::{Access, Check, check_names as n};

use super::Run;
use super::failure::AwsFailure;

impl Run<'_> {
    pub(super) fn source_key_passed(&mut self, actual: Option<&str>) {
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

    /// The hosting key: `DescribeKey` and `GenerateDataKey` as the execution role.
    pub(super) async fn hosting_key(&mut self) {
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

/// Whether the key ARN S3 reports matches the declared reference (ARN, id, or alias: an alias
/// cannot be resolved without KMS, so it matches).
fn key_matches(actual_arn: &str, declared: &KmsKeyRef) -> bool {
    let d = declared.as_str();
    d.contains("alias/") || actual_arn == d || actual_arn.ends_with(&format!("/{d}"))
}
