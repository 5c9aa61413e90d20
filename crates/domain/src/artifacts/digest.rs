//! The content digest of a model artifact: what makes two requests "the same model", so an
//! environment imports it once.
//!
//! Which bytes, and which hash: SHA-256 over this canonical encoding (version 1), where every
//! variable-length field is preceded by its length in bytes as a decimal number and a colon
//! (`<len>:<bytes>`), so no two different inputs encode alike:
//!
//! 1. the tag `ferry-artifact-digest/v1`;
//! 2. for every object under the prefix, sorted by name: its name relative to the prefix, its
//!    size in bytes (decimal) and its S3 `ETag` as `ListObjectsV2` returns it (quotes included);
//! 3. the bytes of `config.json`;
//! 4. for every safetensors file, sorted by name: its name and its header bytes (the 8-byte
//!    little-endian length and the JSON header, exactly as read by the preflight's two ranged
//!    GETs).
//!
//! The location (bucket and prefix) is left out, so the same files under another prefix have
//! the same digest. The weights' bytes are not read: the ETags stand for them. An ETag changes
//! whenever an object is written again in another way (a multipart upload with other part
//! sizes, SSE-KMS), so a digest may differ for equal bytes, but never matches for different
//! ones as long as ETags differ for different content. An object without an ETag gives no
//! digest. Shown as `sha256:<64 hex digits>`.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// The tag that starts the encoding; a new encoding gets a new tag.
const VERSION: &str = "ferry-artifact-digest/v1";

/// One object of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestedObject {
    /// Name relative to the prefix.
    pub name: String,
    pub size: u64,
    /// The `ETag` as listed, quotes included.
    pub etag: Option<String>,
}

/// What the preflight read, for the digest.
#[derive(Debug, Clone, Default)]
pub struct DigestInput<'a> {
    pub objects: Vec<DigestedObject>,
    pub config_json: &'a [u8],
    /// `(file name, header bytes)` of every safetensors file.
    pub safetensors_headers: Vec<(String, Vec<u8>)>,
}

/// `sha256:<hex>` of an artifact, as documented in this module.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArtifactDigest(String);

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update(bytes.len().to_string().as_bytes());
    h.update(b":");
    h.update(bytes);
}

impl ArtifactDigest {
    /// The digest of `input`; `None` when an object has no ETag (its content is unknown).
    #[must_use]
    pub fn compute(input: &DigestInput<'_>) -> Option<Self> {
        let mut objects: Vec<&DigestedObject> = input.objects.iter().collect();
        objects.sort_by(|a, b| a.name.cmp(&b.name));
        let mut headers: Vec<&(String, Vec<u8>)> = input.safetensors_headers.iter().collect();
        headers.sort_by(|a, b| a.0.cmp(&b.0));
        let mut h = Sha256::new();
        field(&mut h, VERSION.as_bytes());
        field(&mut h, objects.len().to_string().as_bytes());
        for o in objects {
            let etag = o.etag.as_deref().filter(|e| !e.is_empty())?;
            field(&mut h, o.name.as_bytes());
            field(&mut h, o.size.to_string().as_bytes());
            field(&mut h, etag.as_bytes());
        }
        field(&mut h, input.config_json);
        field(&mut h, headers.len().to_string().as_bytes());
        for (name, bytes) in headers {
            field(&mut h, name.as_bytes());
            field(&mut h, bytes);
        }
        Some(Self(format!("sha256:{}", hex::encode(h.finalize()))))
    }

    /// A stored digest, if it has the documented form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix("sha256:")?;
        (hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(s.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ArtifactDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn obj(name: &str, size: u64, etag: &str) -> DigestedObject {
        DigestedObject {
            name: name.into(),
            size,
            etag: Some(etag.into()),
        }
    }

    fn input() -> DigestInput<'static> {
        DigestInput {
            objects: vec![
                obj("model.safetensors", 100, "\"a\""),
                obj("config.json", 10, "\"b\""),
            ],
            config_json: b"{\"model_type\":\"llama\"}",
            safetensors_headers: vec![(
                "model.safetensors".into(),
                b"\x02\0\0\0\0\0\0\0{}".to_vec(),
            )],
        }
    }

    #[test]
    fn the_digest_is_sha256_of_the_documented_encoding() {
        let d = ArtifactDigest::compute(&input()).unwrap();
        // Recomputed by hand from the encoding the module documents.
        let mut h = Sha256::new();
        for part in [
            "24:ferry-artifact-digest/v1",
            "1:2",
            "11:config.json",
            "2:10",
            "3:\"b\"",
            "17:model.safetensors",
            "3:100",
            "3:\"a\"",
            "22:{\"model_type\":\"llama\"}",
            "1:1",
            "17:model.safetensors",
        ] {
            h.update(part.as_bytes());
        }
        h.update(b"10:\x02\0\0\0\0\0\0\0{}");
        assert_eq!(d.as_str(), format!("sha256:{}", hex::encode(h.finalize())));
        assert_eq!(ArtifactDigest::parse(d.as_str()), Some(d));
    }

    #[test]
    fn order_does_not_matter_and_every_part_counts() {
        let base = ArtifactDigest::compute(&input()).unwrap();
        let mut reordered = input();
        reordered.objects.reverse();
        assert_eq!(ArtifactDigest::compute(&reordered).unwrap(), base);

        let mut etag = input();
        etag.objects[0].etag = Some("\"c\"".into());
        let mut size = input();
        size.objects[0].size = 101;
        let mut config = input();
        config.config_json = b"{\"model_type\":\"qwen2\"}";
        let mut header = input();
        header.safetensors_headers[0].1 = b"\x02\0\0\0\0\0\0\0[]".to_vec();
        for other in [etag, size, config, header] {
            assert_ne!(ArtifactDigest::compute(&other).unwrap(), base);
        }
    }

    #[test]
    fn an_object_without_an_etag_gives_no_digest() {
        let mut i = input();
        i.objects[1].etag = None;
        assert_eq!(ArtifactDigest::compute(&i), None);
        assert_eq!(ArtifactDigest::parse("sha256:xyz"), None);
        assert_eq!(ArtifactDigest::parse("md5:00"), None);
    }
}
