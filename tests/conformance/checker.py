"""Checks one raw HTTP response (status, headers, body) against one operation of a
botocore service model: the output shape for a success, the protocol's error encoding
and the declared or common error codes for an error. See conformance.py.

The rules follow the protocol serializers and parsers in botocore (botocore/parsers.py,
botocore/serialize.py) and the Smithy protocol specifications they implement; where
botocore is lenient (it accepts strings for numbers, ignores unknown elements, falls
back to the HTTP status for a missing error code) the check is strict.
"""

import base64
import binascii
import json
import re
import xml.etree.ElementTree as ET

from botocore.retries.standard import (
    ThrottledRetryableChecker,
    TransientRetryableChecker,
)

# --------------------------------------------------------------------------------------
# Errors every operation may return besides the ones its model declares.
#
# * AWS's common errors, as listed for all services in the API references:
#   https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/CommonErrors.html (the
#   classic list, Query protocol services) and
#   https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html (the
#   current list, JSON protocol services: ExpiredTokenException, UnrecognizedClientException,
#   UnknownOperationException, ...). The two pages disagree on some statuses
#   (AccessDeniedException 400 vs 403, IncompleteSignature 400 vs 403): both are accepted.
# * Throttling and transient codes botocore itself retries on (botocore.retries.standard),
#   read from botocore below rather than copied.
# * The spellings the Query services STS and IAM put on the wire for the same conditions
#   (AccessDenied, SignatureDoesNotMatch, ExpiredToken, Throttling), e.g. aws/aws-cli
#   issues 5310 and 6407 (SignatureDoesNotMatch from STS and EC2 Query endpoints).
# * JSON services: InvalidSignatureException for a bad signature (e.g.
#   smithy545/aws-apps-scripts issue 12: {"__type":"InvalidSignatureException",...}) and
#   KMS's framework validation code ValidationException ("1 validation error detected:
#   Value at 'plaintext' failed to satisfy constraint", zalando-stups/senza issue 299).
# * S3's own list of error codes with their statuses:
#   https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList
# --------------------------------------------------------------------------------------
ANY_4XX = set(range(400, 500))
COMMON_ALL = {
    "AccessDeniedException": {400, 403},
    "IncompleteSignature": {400, 403},
    "InternalFailure": {500},
    "NotAuthorized": {400, 401},
    "OptInRequired": {403},
    "RequestExpired": {400},
    "ServiceUnavailable": {503},
    "ThrottlingException": {400, 429},
    "ValidationError": {400},
}
COMMON_QUERY = {
    "InvalidAction": {400},
    "InvalidClientTokenId": {403},
    "InvalidParameterCombination": {400},
    "InvalidParameterValue": {400},
    "InvalidQueryParameter": {400},
    "MalformedQueryString": {404},
    "MissingAction": {400},
    "MissingAuthenticationToken": {403},
    "MissingParameter": {400},
    "AccessDenied": {403},
    "SignatureDoesNotMatch": {403},
    "ExpiredToken": {400, 403},
    "Throttling": {400},
}
COMMON_JSON = {
    "ExpiredTokenException": {400, 403},
    "MalformedHttpRequestException": {400},
    "RequestAbortedException": {400},
    "RequestEntityTooLargeException": {413},
    "RequestTimeoutException": {408},
    "UnrecognizedClientException": {400, 403},
    "UnknownOperationException": {400, 404},
    "MissingAuthenticationTokenException": {400, 403},
    "InvalidSignatureException": {400, 403},
}
COMMON_KMS = {"ValidationException": {400}}
# SageMaker answers its framework validation and unknown resources of Describe*/Update*
# calls, which declare no error, with ValidationException ("ModelPackage ... does not
# exist.", as boto3 users meet it from DescribeModelPackage).
COMMON_SAGEMAKER = {"ValidationException": {400}}
COMMON_S3 = {
    "AccessDenied": {403},
    "AuthorizationHeaderMalformed": {400},
    "BadDigest": {400},
    "BucketAlreadyExists": {409},
    "BucketAlreadyOwnedByYou": {409},
    "EntityTooLarge": {400},
    "ExpiredToken": {400},
    "IncompleteBody": {400},
    "InternalError": {500},
    "InvalidAccessKeyId": {403},
    "InvalidArgument": {400},
    "InvalidBucketName": {400},
    "InvalidPart": {400},
    "InvalidPartOrder": {400},
    "InvalidRange": {416},
    "InvalidRequest": {400},
    "InvalidToken": {400},
    "KMS.NotFoundException": {400},
    "MalformedPolicy": {400},
    "MalformedXML": {400},
    "NoSuchBucket": {404},
    "NoSuchBucketPolicy": {404},
    "NoSuchKey": {404},
    "NoSuchUpload": {404},
    "NotImplemented": {501},
    "RequestTimeTooSkewed": {403},
    "SignatureDoesNotMatch": {403},
    "SlowDown": {503},
    "XAmzContentSHA256Mismatch": {400},
}


def common_errors(service, protocol):
    codes = dict(COMMON_ALL)
    # botocore retries these as throttling / transient: they are AWS-wide codes.
    for c in ThrottledRetryableChecker._THROTTLED_ERROR_CODES:
        codes.setdefault(c, ANY_4XX | {503})
    for c in TransientRetryableChecker._TRANSIENT_ERROR_CODES:
        codes.setdefault(c, ANY_4XX | {500, 503})
    if protocol == "query":
        codes.update(COMMON_QUERY)
    elif protocol in ("json", "rest-json"):
        codes.update(COMMON_JSON)
    if service == "kms":
        codes.update(COMMON_KMS)
    if service == "api.sagemaker":  # the endpoint prefix
        codes.update(COMMON_SAGEMAKER)
    if service == "s3":
        codes.update(COMMON_S3)
    return codes


# --------------------------------------------------------------------------------------
# The checker: one raw response against one operation model.
# --------------------------------------------------------------------------------------
ISO8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
HTTP_DATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$"
)
INTEGER = re.compile(r"^-?\d+$")
_PATTERNS = {}


def compiled(pattern):
    """Smithy patterns are ECMA 262 and not implicitly anchored (re.search). A pattern
    Python cannot compile is reported once as unchecked, never as a violation."""
    if pattern not in _PATTERNS:
        try:
            _PATTERNS[pattern] = re.compile(pattern)
        except re.error:
            print(f"note: pattern {pattern!r} is not a Python regex; not checked")
            _PATTERNS[pattern] = None
    return _PATTERNS[pattern]


class Checker:
    def __init__(self, service_model):
        self.model = service_model
        self.protocol = service_model.protocol
        self.violations = []

    def v(self, rule, path, detail):
        self.violations.append((rule, path, detail))

    # ---- scalar constraints shared by every encoding ---------------------------------
    def constraints(self, shape, value, path):
        meta = shape.metadata
        t = shape.type_name
        if t == "string":
            if "enum" in meta and value not in meta["enum"]:
                self.v("enum", path, f"{value!r} is not one of the model's enum values {meta['enum']}")
            if "pattern" in meta:
                rx = compiled(meta["pattern"])
                if rx is not None and not rx.search(value):
                    self.v("pattern", path, f"{value!r} does not match the model's pattern {meta['pattern']!r}")
            self.length(meta, len(value), path, "length")
        elif t in ("list", "map"):
            self.length(meta, len(value), path, "count")
        elif t == "blob":
            self.length(meta, len(value), path, "length")
        elif t in ("integer", "long", "float", "double"):
            if "min" in meta and value < meta["min"]:
                self.v("range", path, f"{value} is below the model's min {meta['min']}")
            if "max" in meta and value > meta["max"]:
                self.v("range", path, f"{value} is above the model's max {meta['max']}")

    def length(self, meta, n, path, what):
        if "min" in meta and n < meta["min"]:
            self.v("length", path, f"{what} {n} is below the model's min {meta['min']}")
        if "max" in meta and n > meta["max"]:
            self.v("length", path, f"{what} {n} is above the model's max {meta['max']}")

    def timestamp_text(self, shape, text, path, default_format):
        fmt = shape.serialization.get("timestampFormat", default_format)
        if fmt == "iso8601" and not ISO8601.match(text):
            self.v("timestamp", path, f"{text!r} is not an iso8601 date-time (YYYY-MM-DDThh:mm:ss[.fff]Z)")
        elif fmt == "rfc822" and not HTTP_DATE.match(text):
            self.v("timestamp", path, f"{text!r} is not an rfc822 HTTP-date")
        elif fmt == "unixTimestamp":
            try:
                float(text)
            except ValueError:
                self.v("timestamp", path, f"{text!r} is not epoch seconds")

    # ---- JSON (rest-json, json) ------------------------------------------------------
    def json_value(self, shape, value, path):
        t = shape.type_name
        if value is None:
            return
        if t == "structure":
            if not isinstance(value, dict):
                return self.v("type", path, f"structure expected, got {type(value).__name__}")
            if shape.is_document_type:
                return
            names = {}
            for name, member in shape.members.items():
                if member.serialization.get("location"):
                    continue
                names[member.serialization.get("name", name)] = (name, member)
            for key, item in value.items():
                if key not in names:
                    self.v("unknown-member", f"{path}.{key}", f"{shape.name} has no member {key!r}")
                    continue
                self.json_value(names[key][1], item, f"{path}.{key}")
            for req in shape.required_members:
                member = shape.members[req]
                if member.serialization.get("location"):
                    continue
                if value.get(member.serialization.get("name", req)) is None:
                    self.v("required", f"{path}.{req}", f"required by {shape.name}, missing")
            if shape.metadata.get("union") and len([k for k, x in value.items() if x is not None]) != 1:
                self.v("union", path, f"union {shape.name} must set exactly one member")
        elif t == "list":
            if not isinstance(value, list):
                return self.v("type", path, f"list expected, got {type(value).__name__}")
            self.constraints(shape, value, path)
            for i, item in enumerate(value):
                self.json_value(shape.member, item, f"{path}[{i}]")
        elif t == "map":
            if not isinstance(value, dict):
                return self.v("type", path, f"map expected, got {type(value).__name__}")
            self.constraints(shape, value, path)
            for k, item in value.items():
                self.json_value(shape.key, k, f"{path}{{key}}")
                self.json_value(shape.value, item, f"{path}[{k!r}]")
        elif t == "string":
            if not isinstance(value, str):
                return self.v("type", path, f"string expected, got {json.dumps(value)}")
            self.constraints(shape, value, path)
        elif t in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                return self.v("type", path, f"{t} expected, got {json.dumps(value)}")
            self.constraints(shape, value, path)
        elif t in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                if value not in ("NaN", "Infinity", "-Infinity"):
                    return self.v("type", path, f"{t} expected, got {json.dumps(value)}")
                return None
            self.constraints(shape, value, path)
        elif t == "boolean":
            if not isinstance(value, bool):
                self.v("type", path, f"boolean expected, got {json.dumps(value)}")
        elif t == "timestamp":
            # JSON protocols: epoch seconds (a number) unless the shape says otherwise.
            fmt = shape.serialization.get("timestampFormat", "unixTimestamp")
            if fmt == "unixTimestamp":
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    self.v("timestamp", path, f"epoch seconds (a JSON number) expected, got {json.dumps(value)}")
            elif not isinstance(value, str):
                self.v("timestamp", path, f"{fmt} string expected, got {json.dumps(value)}")
            else:
                self.timestamp_text(shape, value, path, fmt)
        elif t == "blob":
            if not isinstance(value, str):
                return self.v("type", path, f"base64 string expected, got {json.dumps(value)}")
            try:
                raw = base64.b64decode(value, validate=True)
            except binascii.Error:
                return self.v("type", path, "blob is not valid base64")
            self.constraints(shape, raw, path)

    # ---- XML (query, rest-xml) -------------------------------------------------------
    @staticmethod
    def local(tag):
        return tag.rsplit("}", 1)[-1]

    @staticmethod
    def ns(tag):
        return tag[1:].split("}", 1)[0] if tag.startswith("{") else None

    def xml_member_name(self, member, name):
        # As botocore's _member_key_name: a flattened list is named by its member's
        # locationName when it has one.
        if member.type_name == "list" and member.serialization.get("flattened"):
            inner = member.member.serialization.get("name")
            if inner:
                return inner
        return member.serialization.get("name", name)

    def xml_structure(self, shape, elem, path):
        if shape.is_document_type:
            return
        body_members = {}
        for name, member in shape.members.items():
            if member.serialization.get("location"):
                continue
            body_members[self.xml_member_name(member, name)] = (name, member)
        seen = {}
        for child in elem:
            key = self.local(child.tag)
            if key not in body_members:
                self.v("unknown-member", f"{path}/{key}", f"{shape.name} has no member named {key!r}")
                continue
            seen.setdefault(key, []).append(child)
        for key, children in seen.items():
            name, member = body_members[key]
            if member.type_name == "list" and member.serialization.get("flattened"):
                self.constraints(member, children, f"{path}/{key}")
                for i, c in enumerate(children):
                    self.xml_value(member.member, c, f"{path}/{key}[{i}]")
            elif member.type_name == "map" and member.serialization.get("flattened"):
                for i, c in enumerate(children):
                    self.xml_map_entry(member, c, f"{path}/{key}[{i}]")
            else:
                if len(children) > 1:
                    self.v("xml-encoding", f"{path}/{key}", f"{len(children)} elements for a single {member.type_name} member")
                self.xml_value(member, children[0], f"{path}/{key}")
        for req in shape.required_members:
            member = shape.members[req]
            if member.serialization.get("location"):
                continue
            if self.xml_member_name(member, req) not in seen:
                self.v("required", f"{path}/{req}", f"required by {shape.name}, missing")

    def xml_map_entry(self, shape, entry, path):
        kname = shape.key.serialization.get("name", "key")
        vname = shape.value.serialization.get("name", "value")
        kids = {self.local(c.tag): c for c in entry}
        if kname not in kids or vname not in kids:
            return self.v("xml-encoding", path, f"map entry needs <{kname}> and <{vname}>")
        self.xml_value(shape.key, kids[kname], path + "{key}")
        self.xml_value(shape.value, kids[vname], path + "{value}")

    def xml_value(self, shape, elem, path):
        t = shape.type_name
        text = elem.text or ""
        if t == "structure":
            return self.xml_structure(shape, elem, path)
        if t == "list":
            item_name = shape.member.serialization.get("name", "member")
            items = list(elem)
            for i, c in enumerate(items):
                if self.local(c.tag) != item_name:
                    self.v("xml-encoding", f"{path}/{self.local(c.tag)}", f"list items must be <{item_name}> elements")
                else:
                    self.xml_value(shape.member, c, f"{path}/{item_name}[{i}]")
            return self.constraints(shape, items, path)
        if t == "map":
            entries = list(elem)
            for i, c in enumerate(entries):
                if self.local(c.tag) != "entry":
                    self.v("xml-encoding", path, "map entries must be <entry> elements")
                else:
                    self.xml_map_entry(shape, c, f"{path}/entry[{i}]")
            return self.constraints(shape, entries, path)
        if len(elem):
            return self.v("type", path, f"{t} expected, got nested elements")
        self.scalar_text(shape, text, path, "iso8601")

    def scalar_text(self, shape, text, path, timestamp_default):
        t = shape.type_name
        if t == "string":
            self.constraints(shape, text, path)
        elif t in ("integer", "long"):
            if not INTEGER.match(text):
                return self.v("type", path, f"{t} expected, got {text!r}")
            self.constraints(shape, int(text), path)
        elif t in ("float", "double"):
            try:
                self.constraints(shape, float(text), path)
            except ValueError:
                self.v("type", path, f"{t} expected, got {text!r}")
        elif t == "boolean":
            if text not in ("true", "false"):
                self.v("type", path, f"boolean 'true'/'false' expected, got {text!r}")
        elif t == "timestamp":
            self.timestamp_text(shape, text, path, timestamp_default)
        elif t == "blob":
            try:
                self.constraints(shape, base64.b64decode(text, validate=True), path)
            except binascii.Error:
                self.v("type", path, "blob is not valid base64")

    def parse_xml(self, body, path):
        try:
            return ET.fromstring(body)
        except ET.ParseError as e:
            self.v("xml-encoding", path, f"body is not XML: {e}")
            return None

    # ---- headers and status ----------------------------------------------------------
    def header_members(self, shape, headers, status):
        for name, member in shape.members.items():
            loc = member.serialization.get("location")
            path = f"<{loc}:{member.serialization.get('name', name)}>"
            if loc == "statusCode":
                self.constraints(member, status, path)
            elif loc == "header":
                value = headers.get(member.serialization.get("name", name).lower())
                if value is None:
                    if name in shape.required_members:
                        self.v("required", path, f"required header member {name} missing")
                    continue
                if member.type_name == "list":
                    for item in [x.strip() for x in value.split(",")]:
                        self.scalar_text(member.member, item, path, "rfc822")
                elif member.serialization.get("jsonvalue"):
                    try:
                        json.loads(base64.b64decode(value))
                    except ValueError:
                        self.v("type", path, "jsonvalue header is not base64 JSON")
                else:
                    self.scalar_text(member, value, path, "rfc822")
            elif loc == "headers":
                prefix = member.serialization.get("name", "").lower()
                for k, val in headers.items():
                    if k.startswith(prefix):
                        self.scalar_text(member.value, val, f"<headers:{k}>", "rfc822")

    # ---- success ---------------------------------------------------------------------
    def success(self, op, status, headers, body):
        expected = op.http.get("responseCode")
        if expected is None and self.protocol in ("json", "query", "rest-json"):
            expected = 200
        if expected is not None and status != expected:
            self.v("status", "<status>", f"model says HTTP {expected} for {op.name}, sim sent {status}")
        out = op.output_shape
        if self.protocol == "query":
            return self.query_success(op, out, body)
        if out is None:
            if self.protocol == "json" and body and body.strip() not in (b"", b"{}"):
                self.v("unknown-member", "<body>", f"{op.name} has no output, body is {body[:80]!r}")
            return None
        if self.protocol in ("rest-json", "rest-xml"):
            self.header_members(out, headers, status)
        if body is None:  # streaming payload, left to the caller
            return None
        if self.protocol in ("json", "rest-json"):
            return self.json_body(out, body)
        return self.rest_xml_body(op, out, body)

    def json_body(self, out, body):
        payload = out.serialization.get("payload")
        if payload:
            member = out.members[payload]
            if member.type_name in ("blob", "string"):
                return None
            out, prefix = member, f"$({payload})"
        else:
            prefix = "$"
        if not body.strip():
            if out.required_members:
                self.v("required", prefix, "empty body, but the output has required members")
            return None
        try:
            value = json.loads(body)
        except ValueError as e:
            return self.v("json-encoding", "<body>", f"body is not JSON: {e}")
        self.json_value(out, value, prefix)

    def query_success(self, op, out, body):
        root = self.parse_xml(body, "<body>")
        if root is None:
            return
        want_ns = self.model.metadata.get("xmlNamespace")
        if self.local(root.tag) != f"{op.name}Response":
            self.v("query-envelope", "/", f"root must be <{op.name}Response>, got <{self.local(root.tag)}>")
        if want_ns and self.ns(root.tag) != want_ns:
            self.v("xml-namespace", "/", f"model's xmlNamespace is {want_ns}, root has {self.ns(root.tag)}")
        children = {self.local(c.tag): c for c in root}
        extra = [n for n in children if n not in ("ResponseMetadata",)]
        if out is None:
            if extra:
                self.v("query-envelope", "/", f"{op.name} has no output shape (no resultWrapper), so the response holds only ResponseMetadata; sim sends {', '.join('<' + e + '>' for e in extra)}")
            return
        wrapper = out.serialization.get("resultWrapper")
        if wrapper not in children:
            return self.v("query-envelope", "/", f"model's resultWrapper <{wrapper}> missing")
        for n in extra:
            if n != wrapper:
                self.v("query-envelope", f"/{n}", f"unexpected element next to <{wrapper}>")
        self.xml_structure(out, children[wrapper], f"/{wrapper}")

    def rest_xml_body(self, op, out, body):
        payload = out.serialization.get("payload")
        if payload:
            member = out.members[payload]
            if member.type_name in ("blob", "string"):
                if member.type_name == "string":
                    self.constraints(member, body.decode("utf-8", "replace"), f"<payload:{payload}>")
                return
            root = self.parse_xml(body, "<body>") if body.strip() else None
            if root is not None:
                want = member.serialization.get("name", payload)
                if self.local(root.tag) != want:
                    self.v("xml-encoding", "/", f"payload root must be <{want}>, got <{self.local(root.tag)}>")
                self.xml_structure(member, root, f"/{want}")
            return
        body_members = [n for n, m in out.members.items() if not m.serialization.get("location")]
        if not body_members:
            if body.strip():
                self.v("unknown-member", "<body>", f"{op.name} output has no body members, sim sends a body")
            return
        if not body.strip():
            return
        root = self.parse_xml(body, "<body>")
        if root is None:
            return
        if op.name == "GetBucketLocation":
            # S3 answers with the member itself as the root (<LocationConstraint>), which the
            # model cannot express; botocore special-cases it (handlers.parse_get_bucket_location).
            # us-east-1 is an empty element: no constraint.
            if (root.text or "") and self.local(root.tag) == "LocationConstraint":
                self.constraints(out.members["LocationConstraint"], root.text, "/LocationConstraint")
            elif self.local(root.tag) != "LocationConstraint":
                self.v("xml-encoding", "/", f"root must be <LocationConstraint>, got <{self.local(root.tag)}>")
            return
        self.xml_structure(out, root, f"/{self.local(root.tag)}")
        return

    # ---- errors ----------------------------------------------------------------------
    def error(self, op, status, headers, body, method):
        declared = {s.error_code: s for s in op.error_shapes}
        if status < 300:
            return None
        code, fields = self.error_code(status, headers, body, method)
        if code is None:  # the encoding violation is already noted
            return None
        service = self.model.endpoint_prefix
        common = common_errors(service, self.protocol)
        if self.query_compatible():
            # awsQueryCompatible: the Query protocol's common errors keep their codes.
            common.update(COMMON_QUERY)
        shape = declared.get(code)
        if shape is not None:
            want = shape.metadata.get("error", {}).get("httpStatusCode")
            if want is not None and status != want:
                self.v("error-status", "<status>", f"model says {code} is HTTP {want}, sim sent {status}")
            if status < 400:
                self.v("error-status", "<status>", f"{code} sent with HTTP {status}")
            sender = shape.metadata.get("error", {}).get("senderFault")
            if fields.get("Type") and sender is not None and fields["Type"] != ("Sender" if sender else "Receiver"):
                self.v("error-encoding", "/Error/Type", f"model says senderFault={sender}, sim sends {fields['Type']}")
            self.error_members(shape, fields)
        elif code in common:
            if status not in common[code]:
                self.v("error-status", "<status>", f"{code} is HTTP {sorted(common[code]) if len(common[code]) < 6 else '4xx'} in AWS's common errors, sim sent {status}")
        elif code == "HEAD":
            allowed = {s.metadata.get("error", {}).get("httpStatusCode") for s in op.error_shapes} | {
                s for v in common.values() for s in v
            }
            if status not in allowed:
                self.v("error-status", "<status>", f"HEAD error with HTTP {status}")
        else:
            self.v("error-code", "<code>", f"{code!r} is neither declared for {op.name} ({', '.join(sorted(declared)) or 'none'}) nor one of AWS's common errors")
        return code

    def query_compatible(self):
        """Whether the service model is awsQueryCompatible (its JSON errors carry Query codes)."""
        return self.model.metadata.get("awsQueryCompatible") is not None

    def error_code(self, status, headers, body, method):
        """The error code as the protocol carries it, with encoding violations noted.
        Returns (code, fields) where fields are the error's body members."""
        p = self.protocol
        if status < 300:
            return None, {}
        if p in ("rest-json", "json"):
            doc = {}
            if body and body.strip():
                try:
                    doc = json.loads(body)
                except ValueError:
                    self.v("error-encoding", "<body>", f"error body is not JSON: {body[:80]!r}")
                if not isinstance(doc, dict):
                    self.v("error-encoding", "<body>", "error body is not a JSON object")
                    doc = {}
            body_code = doc.get("__type") or (doc.get("code") if p == "rest-json" else None)
            if isinstance(body_code, str):
                body_code = body_code.split(":", 1)[0].rsplit("#", 1)[-1]
            header = headers.get("x-amzn-errortype")
            header_code = header.split(":", 1)[0].rsplit("#", 1)[-1] if header else None
            if p == "json" and not body_code:
                self.v("error-encoding", "<body>", "JSON 1.1 errors carry the code in the body's __type; missing")
            if p == "rest-json" and not (header_code or body_code):
                self.v("error-encoding", "<headers>", "REST-JSON errors carry the code in x-amzn-errortype or the body's code/__type; both missing")
            if header_code and body_code and header_code != body_code:
                self.v("error-encoding", "<headers>", f"x-amzn-errortype {header_code} disagrees with body {body_code}")
            query_error = headers.get("x-amzn-query-error")
            if self.query_compatible() and query_error:
                # awsQueryCompatible (Smithy): `x-amzn-query-error: <Code>;<Sender|Receiver>`
                # carries the Query protocol's code, which botocore reports as the error's Code.
                qcode, _, fault = query_error.partition(";")
                want = "Receiver" if status >= 500 else "Sender"
                if fault != want:
                    self.v("error-encoding", "<headers>", f"x-amzn-query-error fault {fault!r} for HTTP {status}, expected {want}")
                return qcode, doc
            return header_code or body_code, doc
        if p == "query":
            root = self.parse_xml(body, "<body>")
            if root is None:
                return None, {}
            if self.local(root.tag) != "ErrorResponse":
                self.v("error-encoding", "/", f"Query errors are <ErrorResponse><Error>...; root is <{self.local(root.tag)}>")
            want_ns = self.model.metadata.get("xmlNamespace")
            if self.ns(root.tag) not in (None, want_ns):
                self.v("xml-namespace", "/", f"model's xmlNamespace is {want_ns}, root has {self.ns(root.tag)}")
            err = next((c for c in root if self.local(c.tag) == "Error"), None)
            if err is None:
                self.v("error-encoding", "/Error", "missing <Error>")
                return None, {}
            fields = {self.local(c.tag): (c.text or "") for c in err}
            if fields.get("Type") not in (None, "Sender", "Receiver"):
                self.v("error-encoding", "/Error/Type", f"Type must be Sender or Receiver, got {fields['Type']!r}")
            if not fields.get("Code"):
                self.v("error-encoding", "/Error/Code", "missing <Code>")
                return None, fields
            return fields["Code"], fields
        # rest-xml (S3): <Error><Code>..</Code><Message>..</Message>...</Error>; HEAD has no body.
        if method == "HEAD":
            if body:
                self.v("error-encoding", "<body>", "a HEAD response carries no body")
            return "HEAD", {}
        root = self.parse_xml(body, "<body>") if body else None
        if root is None:
            self.v("error-encoding", "<body>", "S3 errors carry <Error><Code>; body is empty")
            return None, {}
        if self.local(root.tag) != "Error":
            self.v("error-encoding", "/", f"S3 errors are <Error>...; root is <{self.local(root.tag)}>")
        fields = {self.local(c.tag): (c.text or "") for c in root}
        if not fields.get("Code"):
            self.v("error-encoding", "/Error/Code", "missing <Code>")
            return None, fields
        return fields["Code"], fields

    def error_members(self, shape, fields):
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            value = fields.get(key)
            if value is None and key[:1].islower():
                value = fields.get(key[:1].upper() + key[1:])
            if value is None:
                if name in shape.required_members:
                    self.v("required", f"<error>.{key}", f"required by {shape.name}, missing")
                continue
            if isinstance(value, str) and self.protocol in ("query", "rest-xml"):
                self.scalar_text(member, value, f"<error>.{key}", "iso8601")
            else:
                self.json_value(member, value, f"<error>.{key}")
