//! Webhook signing secrets encrypted at rest: AES-256-GCM (aws-lc-rs, the
//! crypto rustls and the AWS SDK already bring) under a key Ferry is given
//! through the environment or a file, never through the database.
//!
//! A stored secret reads `sealed:v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`;
//! the webhook's id is the associated data, so a sealed value copied to
//! another row does not open. The key id travels with the value: after a
//! rotation the old key stays listed for opening until every row has been
//! sealed again under the new one (`ferry serve` and `ferry worker` do that
//! at start). A value still in plain text (`whsec_...`, stored before
//! encryption) opens as it is and is sealed at the next start.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use uuid::Uuid;

use crate::webhooks::SigningSecret;

const PREFIX: &str = "sealed:v1:";
const KEY_BYTES: usize = 32;

/// Why keys could not be read or a secret could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("{0}")]
    BadKey(String),
    #[error("the secret is sealed with key {0:?}, which is not among the configured keys")]
    UnknownKey(String),
    #[error("the sealed secret does not open with key {0:?}: wrong key or damaged value")]
    Damaged(String),
    #[error("encryption failed")]
    Crypto,
}

struct Key {
    id: String,
    key: LessSafeKey,
}

/// The keys: the first seals, all open. `Debug` shows the ids only.
pub struct SecretKeys {
    keys: Vec<Key>,
}

impl fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKeys")
            .field("ids", &self.keys.iter().map(|k| &k.id).collect::<Vec<_>>())
            .finish()
    }
}

fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl SecretKeys {
    /// Parses `<id>:<base64 of 32 bytes>` entries, one per line (or
    /// separated by commas); blank lines and `#` comments are skipped. The
    /// first entry is the current key.
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let mut keys: Vec<Key> = Vec::new();
        for (i, entry) in text
            .split(['\n', ','])
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .enumerate()
        {
            let (id, b64) = entry.split_once(':').ok_or_else(|| {
                SealError::BadKey(format!("key {}: expected <id>:<base64 of 32 bytes>", i + 1))
            })?;
            let id = id.trim();
            if !valid_id(id) {
                return Err(SealError::BadKey(format!(
                    "key {}: the id must be 1 to 32 of a-z, 0-9, '-' and '_'",
                    i + 1
                )));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(SealError::BadKey(format!("key id {id:?} appears twice")));
            }
            let bytes = STANDARD
                .decode(b64.trim())
                .ok()
                .filter(|b| b.len() == KEY_BYTES)
                .ok_or_else(|| {
                    SealError::BadKey(format!(
                        "key {id:?}: expected 32 bytes in standard base64 (openssl rand -base64 32)"
                    ))
                })?;
            let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| SealError::Crypto)?;
            keys.push(Key {
                id: id.to_owned(),
                key: LessSafeKey::new(key),
            });
        }
        if keys.is_empty() {
            return Err(SealError::BadKey("no key given".into()));
        }
        Ok(Self { keys })
    }

    /// A fresh key entry (`<id>:<base64>`), as `ferry dev` writes one.
    pub fn generate_entry(id: &str) -> Result<String, SealError> {
        let mut bytes = [0u8; KEY_BYTES];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SealError::Crypto)?;
        Ok(format!("{id}:{}", STANDARD.encode(bytes)))
    }

    fn current(&self) -> &Key {
        // `parse` refuses an empty list.
        &self.keys[0]
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &str {
        &self.current().id
    }

    fn aad(webhook_id: Uuid) -> Vec<u8> {
        let mut aad = b"ferry webhook secret ".to_vec();
        aad.extend_from_slice(webhook_id.as_bytes());
        aad
    }

    /// Seals `secret` for the webhook `webhook_id` under the current key.
    pub fn seal(&self, webhook_id: Uuid, secret: &SigningSecret) -> Result<String, SealError> {
        let key = self.current();
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SealError::Crypto)?;
        let mut buf = secret.expose().as_bytes().to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(webhook_id)),
                &mut buf,
            )
            .map_err(|_| SealError::Crypto)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!(
            "{PREFIX}{}:{}",
            key.id,
            URL_SAFE_NO_PAD.encode(out)
        ))
    }

    /// The secret a stored value holds: sealed under any configured key,
    /// or plain text from before encryption.
    pub fn open(&self, webhook_id: Uuid, stored: &str) -> Result<SigningSecret, SealError> {
        open_with(Some(self), webhook_id, stored)
    }

    /// Whether a stored value is sealed under the current key already.
    pub fn is_current(&self, stored: &str) -> bool {
        sealed_key_id(stored) == Some(self.current_id())
    }
}

/// The key id of a sealed value; `None` for plain text.
pub fn sealed_key_id(stored: &str) -> Option<&str> {
    stored
        .strip_prefix(PREFIX)?
        .split_once(':')
        .map(|(id, _)| id)
}

/// Opens `stored` with `keys`, which may be absent when every stored value
/// is still plain text.
pub fn open_with(
    keys: Option<&SecretKeys>,
    webhook_id: Uuid,
    stored: &str,
) -> Result<SigningSecret, SealError> {
    let Some(rest) = stored.strip_prefix(PREFIX) else {
        return Ok(SigningSecret::new(stored.to_owned()));
    };
    let (id, b64) = rest
        .split_once(':')
        .ok_or_else(|| SealError::Damaged(String::new()))?;
    let key = keys
        .and_then(|k| k.keys.iter().find(|k| k.id == id))
        .ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
    let damaged = || SealError::Damaged(id.to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(b64).map_err(|_| damaged())?;
    if bytes.len() < NONCE_LEN {
        return Err(damaged());
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| damaged())?;
    let mut buf = sealed.to_vec();
    let plain = key
        .key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(SecretKeys::aad(webhook_id)),
            &mut buf,
        )
        .map_err(|_| damaged())?;
    let text = String::from_utf8(plain.to_vec()).map_err(|_| damaged())?;
    Ok(SigningSecret::new(text))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn secrets_seal_open_and_rotate() {
        let old_entry = SecretKeys::generate_entry("k1").unwrap();
        let new_entry = SecretKeys::generate_entry("k2").unwrap();
        let old = SecretKeys::parse(&old_entry).unwrap();
        let id = Uuid::now_v7();
        let secret = SigningSecret::new("whsec_c2VjcmV0".into());
        let sealed = old.seal(id, &secret).unwrap();
        assert!(sealed.starts_with("sealed:v1:k1:"), "{sealed}");
        assert!(!sealed.contains("whsec_"));
        assert_eq!(old.open(id, &sealed).unwrap(), secret);
        // Bound to its row.
        assert_eq!(
            old.open(Uuid::now_v7(), &sealed).unwrap_err(),
            SealError::Damaged("k1".into())
        );
        // After rotation the old key still opens; the new one seals.
        let rotated = SecretKeys::parse(&format!("{new_entry}\n# old\n{old_entry}\n")).unwrap();
        assert_eq!(rotated.open(id, &sealed).unwrap(), secret);
        assert!(!rotated.is_current(&sealed));
        let resealed = rotated.seal(id, &secret).unwrap();
        assert!(rotated.is_current(&resealed));
        // Without the old key it cannot be read.
        let only_new = SecretKeys::parse(&new_entry).unwrap();
        assert_eq!(
            only_new.open(id, &sealed).unwrap_err(),
            SealError::UnknownKey("k1".into())
        );
        // Plain text from before encryption still opens.
        assert_eq!(
            only_new.open(id, "whsec_abc").unwrap().expose(),
            "whsec_abc"
        );
        assert!(!format!("{rotated:?}").contains(new_entry.split(':').nth(1).unwrap()));
    }

    #[test]
    fn keys_are_checked() {
        for bad in ["", "nokey", "K:AAAA", "k:AAAA", "a:b:c"] {
            assert!(SecretKeys::parse(bad).is_err(), "{bad:?}");
        }
        let e = SecretKeys::generate_entry("dup").unwrap();
        assert!(SecretKeys::parse(&format!("{e},{e}")).is_err());
    }
}
