//! Request bodies of uploads: `aws-chunked` decoding and flexible checksums.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use crate::wire::{SimError, SimRequest, SimResult};

/// Trailing headers of an `aws-chunked` body, lower-cased names.
pub(crate) type Trailers = Vec<(String, String)>;

/// Decodes an `aws-chunked` body; returns the payload and the trailing headers.
pub(crate) fn decode_aws_chunked(body: &[u8]) -> Result<(Vec<u8>, Trailers), String> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let line = |pos: &mut usize| -> Result<String, String> {
        let rest = &body[*pos..];
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("aws-chunked: missing CRLF")?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        *pos += end + 2;
        Ok(s)
    };
    loop {
        let header = line(&mut pos)?;
        let size_hex = header.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("aws-chunked: bad chunk size {size_hex:?}"))?;
        if size == 0 {
            break;
        }
        let end = pos
            .checked_add(size)
            .filter(|e| *e <= body.len())
            .ok_or("aws-chunked: chunk past end of body")?;
        out.extend_from_slice(&body[pos..end]);
        pos = end;
        if body.get(pos..pos + 2) != Some(b"\r\n".as_slice()) {
            return Err("aws-chunked: chunk not followed by CRLF".to_owned());
        }
        pos += 2;
    }
    let mut trailers = Vec::new();
    while pos < body.len() {
        let l = line(&mut pos)?;
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            trailers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    Ok((out, trailers))
}

fn checksum(algorithm: &str, data: &[u8]) -> Option<String> {
    Some(match algorithm {
        "crc32" => B64.encode(crc32fast::hash(data).to_be_bytes()),
        "crc32c" => B64.encode(crc32c::crc32c(data).to_be_bytes()),
        "sha256" => B64.encode(Sha256::digest(data)),
        "sha1" => B64.encode(sha1::Sha1::digest(data)),
        _ => return None,
    })
}

/// The payload of a PutObject/UploadPart: `aws-chunked` decoded, flexible checksums (header
/// or trailer) verified.
pub(super) fn decoded_body(req: &SimRequest) -> SimResult<Vec<u8>> {
    let chunked = req
        .header("content-encoding")
        .is_some_and(|e| e.split(',').any(|p| p.trim() == "aws-chunked"))
        || req
            .header("x-amz-content-sha256")
            .is_some_and(|h| h.starts_with("STREAMING-"));
    tracing::debug!(path = %req.path, chunked, "object upload");
    let (data, trailers) = if chunked {
        decode_aws_chunked(&req.body)
            .map_err(|e| SimError::new(StatusCode::BAD_REQUEST, "IncompleteBody", e))?
    } else {
        (req.body.clone(), Vec::new())
    };
    if let Some(len) = req
        .header("x-amz-decoded-content-length")
        .and_then(|v| v.parse::<usize>().ok())
        && len != data.len()
    {
        return Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            "The request body terminated unexpectedly",
        ));
    }
    for algorithm in ["crc32", "crc32c", "sha256", "sha1", "crc64nvme"] {
        let name = format!("x-amz-checksum-{algorithm}");
        let claimed = req.header(&name).map(str::to_owned).or_else(|| {
            trailers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        });
        if let Some(claimed) = claimed
            && let Some(actual) = checksum(algorithm, &data)
            && actual != claimed
        {
            return Err(SimError::new(
                StatusCode::BAD_REQUEST,
                "BadDigest",
                format!(
                    "The {} you specified did not match the calculated checksum.",
                    algorithm.to_ascii_uppercase()
                ),
            ));
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_unsigned_chunks_with_trailer() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let (data, trailers) = decode_aws_chunked(body).expect("decodes");
        assert_eq!(data, b"hello world");
        assert_eq!(
            trailers,
            vec![("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
        );
        assert_eq!(
            checksum("crc32", b"hello world").as_deref(),
            Some("DUoRhQ==")
        );
    }

    #[test]
    fn decodes_signed_chunks() {
        let body = b"3;chunk-signature=abc\r\nabc\r\n0;chunk-signature=def\r\n\r\n";
        let (data, _) = decode_aws_chunked(body).expect("decodes");
        assert_eq!(data, b"abc");
        assert!(decode_aws_chunked(b"ff\r\nshort\r\n").is_err());
    }
}
