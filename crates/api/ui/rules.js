// Bedrock's rules for the fields of a new request, as the server applies
// them (crates/domain/src/bedrock.rs, import.rs): checked in the page before
// sending so mistakes show at once. The server checks again; its 422 field
// errors are shown the same way. Each check returns null or a sentence.

// `s3Uri`: s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](/[-!_*'().a-zA-Z0-9]+)*/?, at most 1024.
export const SOURCE_HINT = 's3://bucket/folder/: a lower-case bucket, then folders of letters, digits and -!_*\'(). ; inside a location your team may import from; or a SageMaker model package ARN';

// A SageMaker model package ARN (crates/domain/src/model_package.rs):
// arn:aws:sagemaker:<region>:<account>:model-package/<group>[/<version>]. Whether the
// package is approved and where its weights are, only the server can say (it reads the
// package at submit).
const PACKAGE_ARN = /^arn:aws[-a-z]{0,10}:sagemaker:[-a-z0-9]{9,16}:[0-9]{12}:model-package\/[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(\/[0-9]{1,9})?$/;
export function checkSource(value, allowed) {
  if (value.startsWith('arn:')) {
    return PACKAGE_ARN.test(value)
      ? null
      : 'a model package ARN looks like arn:aws:sagemaker:us-east-1:111122223333:model-package/group/1';
  }
  const len = [...value].length;
  if (len < 1 || len > 1024) return `an S3 URI must be 1 to 1024 characters long, got ${len}`;
  if (!value.startsWith('s3://')) return 'an S3 URI must start with "s3://"';
  const rest = value.slice(5);
  const i = rest.indexOf('/');
  const bucket = i < 0 ? rest : rest.slice(0, i);
  const key = i < 0 ? '' : rest.slice(i + 1);
  if (bucket.length < 3 || bucket.length > 63) return `bucket name must be 3 to 63 characters long, got ${bucket.length}`;
  const badBucket = [...bucket].find((c) => !/[a-z0-9.-]/.test(c));
  if (badBucket) return `bucket name may contain only a-z, 0-9, '-' and '.', found "${badBucket}"${/[A-Z]/.test(badBucket) ? ' (bucket names are lower case)' : ''}`;
  if (!/^[a-z0-9].*[a-z0-9]$/.test(bucket)) return 'bucket name must start and end with a lower-case letter or a digit';
  if (bucket.includes('..')) return 'bucket name must not contain two adjacent periods';
  if (key) {
    const body = key.endsWith('/') ? key.slice(0, -1) : key;
    if (!body) return "the key must not be a lone '/' after the bucket's own";
    for (const seg of body.split('/')) {
      if (!seg) return 'the key must not contain empty segments ("//")';
      if (seg === '.' || seg === '..') return `the key must not contain a "${seg}" segment`;
      const bad = [...seg].find((c) => !/[-!_*'().a-zA-Z0-9]/.test(c));
      if (bad) return `the key may contain only letters, digits and -!_*'(). between '/', found "${bad}"`;
    }
  }
  if (allowed.length && !allowed.some((a) => value === a || value.startsWith(a.endsWith('/') ? a : `${a}/`))) {
    return `must be inside a location your team may import from: ${allowed.join(', ')}`;
  }
  return null;
}

// `importedModelName`: 1 to 63 characters matching ([0-9a-zA-Z][_-]?)+.
export const MODEL_NAME_HINT = 'Letters and digits, each optionally followed by one _ or -; 1 to 63 characters.';
export function checkModelName(value) {
  const len = [...value].length;
  if (len < 1 || len > 63) return `an imported model name must be 1 to 63 characters long, got ${len}`;
  let prevSep = true;
  for (const c of value) {
    if (/[a-zA-Z0-9]/.test(c)) prevSep = false;
    else if (c === '_' || c === '-') {
      if (prevSep) return "'_' and '-' must follow a letter or digit: no leading or doubled separators";
      prevSep = true;
    } else return `an imported model name may contain only letters, digits, '_' and '-', found "${c}"`;
  }
  return null;
}

// `jobName`: 1 to 63 characters matching [a-zA-Z0-9](-*[a-zA-Z0-9+\-.])*; optional.
export const JOB_NAME_HINT = 'Optional. A letter or digit, then letters, digits, + - and . ; 1 to 63 characters. Default: ferry-<request id>.';
export function checkJobName(value) {
  if (!value) return null;
  const len = [...value].length;
  if (len > 63) return `a job name must be 1 to 63 characters long, got ${len}`;
  if (!/^[a-zA-Z0-9]/.test(value)) return 'a job name must start with a letter or a digit';
  const bad = [...value.slice(1)].find((c) => !/[a-zA-Z0-9+.-]/.test(c));
  if (bad) return `a job name may contain only letters, digits, '+', '-' and '.', found "${bad}"`;
  return null;
}

export const MAX_DESCRIPTION = 1024;
export function checkDescription(value) {
  const len = [...value].length;
  if (len > MAX_DESCRIPTION) return `a description must be 0 to ${MAX_DESCRIPTION} characters long, got ${len}`;
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(value)) return 'a description must not contain control characters';
  return null;
}

// Tags: at most 46 (50 per resource, 4 kept for Ferry's own); key 1 to 128
// and value 0 to 256 characters of letters, digits, spaces and ._:/=+@- ;
// keys starting with aws: or ferry: are reserved.
export const MAX_TAGS = 46;
export const TAGS_HINT = 'Optional. One key=value per line; letters, digits, spaces and ._:/=+@- ; keys up to 128 and values up to 256 characters; aws: and ferry: keys are reserved.';
// Returns { tags, error }.
export function parseTags(text) {
  const tags = {};
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq < 0) return { tags, error: `"${line}" is not key=value` };
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const problem = checkTag(key, value);
    if (problem) return { tags, error: `${key || '(empty key)'}: ${problem}` };
    if (key in tags) return { tags, error: `${key}: the key appears twice` };
    tags[key] = value;
  }
  if (Object.keys(tags).length > MAX_TAGS) return { tags, error: `at most ${MAX_TAGS} tags (50 per resource, 4 kept for Ferry's own)` };
  return { tags, error: null };
}

function checkTag(key, value) {
  const klen = [...key].length;
  const vlen = [...value].length;
  if (klen < 1 || klen > 128) return `a tag key must be 1 to 128 characters long, got ${klen}`;
  if (vlen > 256) return `a tag value must be 0 to 256 characters long, got ${vlen}`;
  for (const [what, s] of [['key', key], ['value', value]]) {
    const bad = [...s].find((c) => !/[a-zA-Z0-9\s._:/=+@-]/.test(c));
    if (bad) return `a tag ${what} may contain only letters, digits, spaces and ._:/=+@-, found "${bad}"`;
  }
  if (key.toLowerCase().startsWith('aws:')) return 'tag keys starting with "aws:" are reserved by AWS';
  if (key.toLowerCase().startsWith('ferry:')) return 'tag keys starting with "ferry:" are set by Ferry';
  return null;
}
