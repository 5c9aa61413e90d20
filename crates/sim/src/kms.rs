//! KMS (JSON 1.1, `X-Amz-Target: TrentService.<Op>`): keys, key policies, aliases and the data
//! operations S3 and Bedrock need. Ciphertexts are opaque tokens naming the key, not real
//! encryption: the point is the authorization, not the cryptography.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ferry_policy::iam::{RequestContext, ResourcePolicyMode};
use serde_json::{Value, json};

use crate::server::{Caller, Ctx, JsonRpc, authorize, json_rpc};
use crate::state::{Key, State, StoredPolicy};
use crate::wire::{Service, SimError, SimRequest, SimResult, json_response};

const CT: &str = "application/x-amz-json-1.1";
const CIPHER_MAGIC: &str = "ferry-sim-kms:";

fn not_found(what: &str) -> SimError {
    SimError::new(
        StatusCode::BAD_REQUEST,
        "NotFoundException",
        format!("Key '{what}' does not exist"),
    )
}

fn validation(msg: impl Into<String>) -> SimError {
    SimError::new(StatusCode::BAD_REQUEST, "ValidationException", msg)
}

/// The default key policy: the account's IAM policies decide.
pub(crate) fn default_key_policy(account: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
            "Action": "kms:*",
            "Resource": "*"
        }]
    })
    .to_string()
}

pub(crate) fn key_metadata(k: &Key) -> Value {
    json!({
        "AWSAccountId": k.account,
        "KeyId": k.id,
        "Arn": k.arn,
        "CreationDate": k.created.unix_timestamp(),
        "Enabled": k.enabled,
        "Description": k.description,
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": if k.enabled { "Enabled" } else { "Disabled" },
        "Origin": "AWS_KMS",
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": false
    })
}

/// Authorizes `action` on `key` for `caller`: the key policy is mandatory.
pub(crate) fn authorize_key(
    state: &State,
    principal: &ferry_policy::iam::Principal,
    action: &str,
    key: &Key,
) -> SimResult<()> {
    let mut rctx = RequestContext::new(
        principal.clone(),
        action,
        key.arn.clone(),
        key.account.clone(),
    );
    if let Some(acct) = principal.account() {
        rctx = rctx.with_key("kms:CallerAccount", acct);
    }
    authorize(
        state,
        Service::Kms,
        &rctx,
        Some(&key.policy.doc),
        ResourcePolicyMode::Required,
    )
}

fn str_field<'a>(body: &'a Value, name: &str) -> SimResult<&'a str> {
    body.get(name).and_then(Value::as_str).ok_or_else(|| validation(format!("1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null")))
}

pub(crate) async fn handle(ctx: &Ctx, req: &SimRequest, caller: &Caller) -> SimResult {
    let JsonRpc { op, body } = json_rpc(ctx, req, Service::Kms, "TrentService").await?;
    let account = caller.account().to_owned();
    let mut state = ctx.state();
    let resolve = |state: &State, field: &str| -> SimResult<Key> {
        let r = str_field(&body, field)?;
        state
            .resolve_key(&account, r)
            .cloned()
            .ok_or_else(|| not_found(r))
    };
    let out = match op.as_str() {
        "CreateKey" => {
            let rctx = RequestContext::new(
                caller.principal.clone(),
                "kms:CreateKey",
                format!("arn:aws:kms:{}:{account}:key/*", ctx.region),
                account.clone(),
            );
            authorize(
                &state,
                Service::Kms,
                &rctx,
                None,
                ResourcePolicyMode::Optional,
            )?;
            let text = body
                .get("Policy")
                .and_then(Value::as_str)
                .map_or_else(|| default_key_policy(&account), str::to_owned);
            let policy = StoredPolicy::parse(&text).map_err(|e| {
                SimError::new(
                    StatusCode::BAD_REQUEST,
                    "MalformedPolicyDocumentException",
                    e.to_string(),
                )
            })?;
            let id = uuid::Uuid::new_v4().to_string();
            let key = Key {
                account: account.clone(),
                arn: format!("arn:aws:kms:{}:{account}:key/{id}", ctx.region),
                id: id.clone(),
                description: body
                    .get("Description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                policy,
                created: ctx.clock.now(),
                enabled: true,
            };
            let meta = key_metadata(&key);
            state.keys.insert(id, key);
            json!({"KeyMetadata": meta})
        }
        "CreateAlias" => {
            let alias = str_field(&body, "AliasName")?.to_owned();
            if !alias.starts_with("alias/") || alias.starts_with("alias/aws/") {
                return Err(validation(
                    "Alias must start with the prefix \"alias/\" and not use the reserved alias/aws/ prefix",
                ));
            }
            let key = resolve(&state, "TargetKeyId")?;
            authorize_key(&state, &caller.principal, "kms:CreateAlias", &key)?;
            if state
                .aliases
                .contains_key(&(account.clone(), alias.clone()))
            {
                return Err(SimError::new(
                    StatusCode::BAD_REQUEST,
                    "AlreadyExistsException",
                    format!("An alias with the name {alias} already exists"),
                ));
            }
            state.aliases.insert((account.clone(), alias), key.id);
            json!({})
        }
        "DescribeKey" => {
            let key = resolve(&state, "KeyId")?;
            authorize_key(&state, &caller.principal, "kms:DescribeKey", &key)?;
            json!({"KeyMetadata": key_metadata(&key)})
        }
        "GetKeyPolicy" => {
            let key = resolve(&state, "KeyId")?;
            authorize_key(&state, &caller.principal, "kms:GetKeyPolicy", &key)?;
            json!({"Policy": key.policy.text, "PolicyName": "default"})
        }
        "PutKeyPolicy" => {
            let key = resolve(&state, "KeyId")?;
            authorize_key(&state, &caller.principal, "kms:PutKeyPolicy", &key)?;
            if body
                .get("PolicyName")
                .and_then(Value::as_str)
                .is_some_and(|n| n != "default")
            {
                return Err(validation("PolicyName must be default"));
            }
            let policy = StoredPolicy::parse(str_field(&body, "Policy")?).map_err(|e| {
                SimError::new(
                    StatusCode::BAD_REQUEST,
                    "MalformedPolicyDocumentException",
                    e.to_string(),
                )
            })?;
            if let Some(k) = state.keys.get_mut(&key.id) {
                k.policy = policy;
            }
            json!({})
        }
        "Encrypt" | "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => {
            let key = resolve(&state, "KeyId")?;
            authorize_key(&state, &caller.principal, &format!("kms:{op}"), &key)?;
            let plaintext = if op == "Encrypt" {
                B64.decode(str_field(&body, "Plaintext")?)
                    .map_err(|_| validation("Plaintext is not base64"))?
            } else {
                let n = match body.get("KeySpec").and_then(Value::as_str) {
                    Some("AES_128") => 16,
                    Some("AES_256") => 32,
                    _ => body
                        .get("NumberOfBytes")
                        .and_then(Value::as_u64)
                        .unwrap_or(32),
                };
                (0..n).map(|_| rand::random::<u8>()).collect()
            };
            let blob = B64.encode(format!(
                "{CIPHER_MAGIC}{}:{}",
                key.arn,
                B64.encode(&plaintext)
            ));
            let mut out = json!({"CiphertextBlob": blob, "KeyId": key.arn});
            // Only Encrypt answers with EncryptionAlgorithm: botocore's
            // `kms/2014-11-01/service-2.json` has no such member in
            // GenerateDataKey(WithoutPlaintext)Response.
            if op == "Encrypt" {
                out["EncryptionAlgorithm"] = json!("SYMMETRIC_DEFAULT");
            }
            if op == "GenerateDataKey" {
                out["Plaintext"] = json!(B64.encode(&plaintext));
            }
            out
        }
        "Decrypt" => {
            let blob = B64
                .decode(str_field(&body, "CiphertextBlob")?)
                .map_err(|_| {
                    SimError::new(
                        StatusCode::BAD_REQUEST,
                        "InvalidCiphertextException",
                        "The ciphertext is invalid",
                    )
                })?;
            let text = String::from_utf8(blob)
                .ok()
                .and_then(|s| s.strip_prefix(CIPHER_MAGIC).map(str::to_owned));
            let Some((arn, payload)) = text.as_deref().and_then(|t| t.rsplit_once(':')) else {
                return Err(SimError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidCiphertextException",
                    "The ciphertext was not produced by ferry-sim",
                ));
            };
            let key = state
                .keys
                .values()
                .find(|k| k.arn == arn)
                .cloned()
                .ok_or_else(|| not_found(arn))?;
            if let Some(expected) = body.get("KeyId").and_then(Value::as_str)
                && state.resolve_key(&account, expected).map(|k| &k.arn) != Some(&key.arn)
            {
                return Err(SimError::new(
                    StatusCode::BAD_REQUEST,
                    "IncorrectKeyException",
                    "The key ID in the request does not identify the CMK used to encrypt the ciphertext.",
                ));
            }
            authorize_key(&state, &caller.principal, "kms:Decrypt", &key)?;
            json!({"KeyId": key.arn, "Plaintext": payload, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
        }
        other => {
            return Err(SimError::new(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                format!("ferry-sim does not implement KMS {other}"),
            ));
        }
    };
    Ok(json_response(StatusCode::OK, CT, &out))
}
