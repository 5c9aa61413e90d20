//! SigV4 verification: the request's signature is recomputed with `aws-sigv4` (the signer the
//! Rust SDK itself uses) over exactly the headers the client listed in `SignedHeaders`.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::wire::SimRequest;

/// The parsed `Authorization` header.
#[derive(Debug, Clone)]
pub(crate) struct AuthHeader {
    pub(crate) access_key_id: String,
    pub(crate) date: String,
    pub(crate) region: String,
    pub(crate) service: String,
    pub(crate) signed_headers: Vec<String>,
    pub(crate) signature: String,
}

impl AuthHeader {
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let rest = value.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
        let mut credential = None;
        let mut signed = None;
        let mut signature = None;
        for part in rest.split(',') {
            let (k, v) = part.trim().split_once('=')?;
            match k {
                "Credential" => credential = Some(v),
                "SignedHeaders" => signed = Some(v),
                "Signature" => signature = Some(v),
                _ => {}
            }
        }
        let mut scope = credential?.split('/');
        let access_key_id = scope.next()?.to_owned();
        let date = scope.next()?.to_owned();
        let region = scope.next()?.to_owned();
        let service = scope.next()?.to_owned();
        if scope.next()? != "aws4_request" {
            return None;
        }
        Some(Self {
            access_key_id,
            date,
            region,
            service,
            signed_headers: signed?.split(';').map(str::to_owned).collect(),
            signature: signature?.to_owned(),
        })
    }
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SigError {
    #[error("{0}")]
    Malformed(String),
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your key and signing method."
    )]
    Mismatch,
    #[error(
        "Signature expired: the request time {0} is more than 15 minutes away from the server time"
    )]
    Skewed(String),
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch,
}

pub(crate) fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, fmt)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// Verifies `req` against the secret (and session token) of the access key it names.
pub(crate) fn verify(
    req: &SimRequest,
    auth: &AuthHeader,
    secret: &str,
    session_token: Option<&str>,
) -> Result<(), SigError> {
    let amz_date = req
        .header("x-amz-date")
        .ok_or_else(|| SigError::Malformed("Missing X-Amz-Date header".to_owned()))?;
    let when = parse_amz_date(amz_date)
        .ok_or_else(|| SigError::Malformed(format!("Invalid X-Amz-Date {amz_date}")))?;
    if (OffsetDateTime::now_utc() - when).abs() > time::Duration::minutes(15) {
        return Err(SigError::Skewed(amz_date.to_owned()));
    }
    if !amz_date.starts_with(&auth.date) {
        return Err(SigError::Malformed(format!(
            "Credential should be scoped to a valid date, not {} (X-Amz-Date {amz_date})",
            auth.date
        )));
    }
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(SigError::Malformed(
            "'Host' must be a signed header".to_owned(),
        ));
    }
    let content_sha = req.header("x-amz-content-sha256");
    if let Some(claimed) = content_sha
        && claimed.len() == 64
        && claimed.bytes().all(|b| b.is_ascii_hexdigit())
        && hex::encode(Sha256::digest(&req.body)) != claimed.to_ascii_lowercase()
    {
        return Err(SigError::ContentSha256Mismatch);
    }

    let mut headers: Vec<(String, String)> = Vec::new();
    for name in &auth.signed_headers {
        let values: Vec<&str> = req
            .headers
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(SigError::Malformed(format!(
                "Signed header {name} is missing"
            )));
        }
        headers.push((name.clone(), values.join(",")));
    }
    let token_signed = auth
        .signed_headers
        .iter()
        .any(|h| h == "x-amz-security-token");
    let token = if token_signed {
        req.header("x-amz-security-token")
    } else {
        None
    };
    if token != session_token && token_signed {
        return Err(SigError::Mismatch);
    }

    let s3 = auth.service == "s3";
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    settings.percent_encoding_mode = if s3 {
        PercentEncodingMode::Single
    } else {
        PercentEncodingMode::Double
    };
    settings.uri_path_normalization_mode = if s3 {
        UriPathNormalizationMode::Disabled
    } else {
        UriPathNormalizationMode::Enabled
    };
    settings.session_token_mode = if token.is_some() {
        SessionTokenMode::Include
    } else {
        SessionTokenMode::Exclude
    };

    let identity: Identity = Credentials::new(
        auth.access_key_id.clone(),
        secret.to_owned(),
        token.map(str::to_owned),
        None,
        "ferry-sim",
    )
    .into();
    let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region(&auth.region)
        .name(&auth.service)
        .time(SystemTime::from(when))
        .settings(settings)
        .build()
        .map_err(|e| SigError::Malformed(e.to_string()))?
        .into();

    let host = req.header("host").unwrap_or("localhost");
    let uri = format!("http://{host}{}", req.raw_path_and_query);
    let body = match content_sha {
        Some(h) => SignableBody::Precomputed(h.to_owned()),
        None => SignableBody::Bytes(&req.body),
    };
    let signable = SignableRequest::new(
        req.method.as_str(),
        uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        body,
    )
    .map_err(|e| SigError::Malformed(e.to_string()))?;
    let output = sign(signable, &params).map_err(|e| SigError::Malformed(e.to_string()))?;
    if constant_time_eq(output.signature().as_bytes(), auth.signature.as_bytes()) {
        Ok(())
    } else {
        Err(SigError::Mismatch)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_authorization_header() {
        let h = AuthHeader::parse(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        );
        let h = h.expect("parses");
        assert_eq!(h.access_key_id, "AKIDEXAMPLE");
        assert_eq!(h.service, "iam");
        assert_eq!(h.region, "us-east-1");
        assert_eq!(h.signed_headers, ["content-type", "host", "x-amz-date"]);
        assert!(AuthHeader::parse("AWS4-HMAC-SHA256 Credential=a/b/c").is_none());
        assert!(AuthHeader::parse("Bearer x").is_none());
    }
}
