//! Safetensors headers and the shard index: dtypes, parameter counts, shard names.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ArtifactProblem;
use super::MAX_SAFETENSORS_HEADER_BYTES;

/// What one safetensors header says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetensorsFacts {
    /// Length of the JSON header in bytes.
    pub header_len: u64,
    /// Number of tensors.
    pub tensor_count: usize,
    /// Sum of the tensors' element counts.
    pub parameter_count: u64,
    /// Distinct dtypes, sorted (`BF16`, `F32`, ...).
    pub dtypes: Vec<String>,
}

/// Bytes per element of each safetensors dtype; `None` for sub-byte types.
pub(super) fn dtype_size(dtype: &str) -> Option<Option<u64>> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" | "F8_E8M0" => Some(1),
        "U16" | "I16" | "F16" | "BF16" => Some(2),
        "U32" | "I32" | "F32" => Some(4),
        "U64" | "I64" | "F64" => Some(8),
        "F4" | "F6_E2M3" | "F6_E3M2" => None,
        _ => return None,
    })
}

/// The JSON header length from a safetensors file's first 8 bytes, checked against the file
/// size and [`MAX_SAFETENSORS_HEADER_BYTES`]. `file` names the file in errors.
pub fn safetensors_header_len(
    file: &str,
    first8: &[u8],
    total_len: u64,
) -> Result<u64, ArtifactProblem> {
    let bad = |reason: String| ArtifactProblem::InvalidSafetensors {
        file: file.to_owned(),
        reason,
    };
    let bytes: [u8; 8] = first8
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            bad(format!(
                "the file is {total_len} bytes, shorter than the 8-byte header length"
            ))
        })?;
    let len = u64::from_le_bytes(bytes);
    if len == 0 || len > MAX_SAFETENSORS_HEADER_BYTES {
        return Err(bad(format!(
            "header length {len} is outside 1..={MAX_SAFETENSORS_HEADER_BYTES}"
        )));
    }
    if len.saturating_add(8) > total_len {
        return Err(bad(format!(
            "header length {len} runs past the end of the {total_len}-byte file"
        )));
    }
    Ok(len)
}

/// Parses a safetensors header. `first_bytes` holds at least the 8-byte length and the whole
/// JSON header; `total_len` is the object's size. Checks every tensor's dtype, shape and data
/// offsets against the file size; `__metadata__` is ignored.
pub fn parse_safetensors_header(
    file: &str,
    first_bytes: &[u8],
    total_len: u64,
) -> Result<SafetensorsFacts, ArtifactProblem> {
    let bad = |reason: String| ArtifactProblem::InvalidSafetensors {
        file: file.to_owned(),
        reason,
    };
    let header_len = safetensors_header_len(file, first_bytes, total_len)?;
    let end = usize::try_from(header_len.saturating_add(8))
        .map_err(|_| bad("header too large for this platform".into()))?;
    let json = first_bytes
        .get(8..end)
        .ok_or_else(|| bad(format!("only {} header bytes were read", first_bytes.len())))?;
    let header: BTreeMap<String, Value> = serde_json::from_slice(json)
        .map_err(|e| bad(format!("the header is not a JSON object: {e}")))?;
    let data_len = total_len - 8 - header_len;
    let mut dtypes = BTreeSet::new();
    let mut parameter_count: u64 = 0;
    let mut tensor_count = 0;
    let mut max_end = 0u64;
    for (name, t) in &header {
        if name == "__metadata__" {
            continue;
        }
        let dtype = t
            .get("dtype")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("tensor {name} has no dtype")))?;
        let size = dtype_size(dtype)
            .ok_or_else(|| bad(format!("tensor {name} has unknown dtype {dtype}")))?;
        let shape = t
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("tensor {name} has no shape")))?;
        let mut numel: u64 = 1;
        for d in shape {
            let d = d
                .as_u64()
                .ok_or_else(|| bad(format!("tensor {name} has a non-integer dimension")))?;
            numel = numel
                .checked_mul(d)
                .ok_or_else(|| bad(format!("tensor {name} shape overflows")))?;
        }
        let offsets = t
            .get("data_offsets")
            .and_then(Value::as_array)
            .filter(|o| o.len() == 2)
            .and_then(|o| Some((o.first()?.as_u64()?, o.get(1)?.as_u64()?)))
            .ok_or_else(|| bad(format!("tensor {name} has no [begin, end] data_offsets")))?;
        if offsets.1 < offsets.0 || offsets.1 > data_len {
            return Err(bad(format!(
                "tensor {name} data_offsets {:?} fall outside the {data_len}-byte data section",
                offsets
            )));
        }
        if let Some(size) = size
            && numel.checked_mul(size) != Some(offsets.1 - offsets.0)
        {
            return Err(bad(format!(
                "tensor {name}: {numel} elements of {dtype} do not fill {} bytes",
                offsets.1 - offsets.0
            )));
        }
        max_end = max_end.max(offsets.1);
        parameter_count = parameter_count.saturating_add(numel);
        tensor_count += 1;
        dtypes.insert(dtype.to_owned());
    }
    if max_end != data_len {
        return Err(bad(format!(
            "tensors cover {max_end} bytes but the data section is {data_len} bytes (truncated or padded file)"
        )));
    }
    Ok(SafetensorsFacts {
        header_len,
        tensor_count,
        parameter_count,
        dtypes: dtypes.into_iter().collect(),
    })
}

/// What `model.safetensors.index.json` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetensorsIndex {
    /// Shard file names from `weight_map`, sorted and unique.
    pub files: Vec<String>,
    /// `metadata.total_size`, if present.
    pub total_size: Option<u64>,
}

/// Parses `model.safetensors.index.json`.
pub fn parse_safetensors_index(bytes: &[u8]) -> Result<SafetensorsIndex, ArtifactProblem> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| ArtifactProblem::InvalidIndex(e.to_string()))?;
    let map = v
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| ArtifactProblem::InvalidIndex("no weight_map object".into()))?;
    let mut files = BTreeSet::new();
    for (tensor, f) in map {
        let f = f.as_str().ok_or_else(|| {
            ArtifactProblem::InvalidIndex(format!("weight_map[{tensor}] is not a file name"))
        })?;
        files.insert(f.to_owned());
    }
    if files.is_empty() {
        return Err(ArtifactProblem::InvalidIndex("weight_map is empty".into()));
    }
    Ok(SafetensorsIndex {
        files: files.into_iter().collect(),
        total_size: v.pointer("/metadata/total_size").and_then(Value::as_u64),
    })
}
