"""The cases the conformance suite drives: every operation the sim serves, in its normal
paths and its error paths (missing or invalid parameters the sim validates, unknown
resources, access denied, conflicts, quotas, bad signatures, throttling, 5xx).

Each `run.case(client, Operation, case, params, expect=...)` call is one row cell of the
table; `expect` names the outcome the case is meant to provoke, so a case that ends
differently reports `case-intent` instead of silently testing something else.
"""

import json
import time
import uuid

UNKNOWN_KEY = ("AKIACONFORMANCE00000", "conformanceUnknownSecretNotAReal0000000")


def wait_for(predicate, timeout=60.0, step=0.25):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def run_cases(run):
    env = run.env
    suffix = uuid.uuid4().hex[:8]
    ctx = {
        "suffix": suffix,
        "bucket": env["ARTIFACT_BUCKET"],
        "uri": env["SAMPLE_MODEL_URI"],
        "exec_role": env["EXECUTION_ROLE_ARN"],
        "control_role": env["CONTROL_ROLE_ARN"],
        "research_key": env["RESEARCH_KMS_KEY_ARN"],
        "hosting_key": env["HOSTING_KMS_KEY_ARN"],
        "hosting_account": env["HOSTING_ACCOUNT_ID"],
        "research_account": env["RESEARCH_ACCOUNT_ID"],
    }
    run.faults({})
    s3_cases(run, ctx)
    sts_cases(run, ctx)
    iam_cases(run, ctx)
    kms_cases(run, ctx)
    bedrock_cases(run, ctx)
    runtime_cases(run, ctx)
    servicequotas_cases(run, ctx)
    cloudwatch_cases(run, ctx)
    sagemaker_cases(run, ctx)
    fault_cases(run, ctx)
    auth_cases(run, ctx)
    expiry_cases(run, ctx)


# --------------------------------------------------------------------------------------
# CloudWatch (JSON 1.0, awsQueryCompatible): GetMetricData of the invocations the sim's
# bedrock-runtime served (AWS/Bedrock Invocations by ModelId)
# --------------------------------------------------------------------------------------
def cloudwatch_cases(run, ctx):
    import datetime

    cw = run.principal("cloudwatch", "hosting-admin")
    cwf = run.principal("cloudwatch", "ferry-service")
    loose = run.principal("cloudwatch", "hosting-admin", validate=False)
    # An imported model of the hosting account that answered at least once (the runtime
    # cases invoke theirs); any model ARN of the account is a valid dimension value.
    bedrock = run.principal("bedrock", "hosting-admin")
    models = bedrock.list_imported_models().get("modelSummaries", [])
    arn = models[0]["modelArn"] if models else f"arn:aws:bedrock:{run.region}:{ctx['hosting_account']}:imported-model/abcdefabcdef"
    now = datetime.datetime.now(datetime.timezone.utc)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)

    def query(i, model, stat="Sum"):
        return {
            "Id": f"m{i}",
            "MetricStat": {
                "Metric": {"Namespace": "AWS/Bedrock", "MetricName": "Invocations",
                           "Dimensions": [{"Name": "ModelId", "Value": model}]},
                "Period": 86400, "Stat": stat,
            },
        }

    window = {"StartTime": day - datetime.timedelta(days=14), "EndTime": now + datetime.timedelta(minutes=1)}
    C = run.case
    C(cw, "GetMetricData", "invocations-of-a-model", {"MetricDataQueries": [query(0, arn)], **window})
    C(cw, "GetMetricData", "several-models-ascending",
      {"MetricDataQueries": [query(0, arn), query(1, arn + "x", "SampleCount")], "ScanBy": "TimestampAscending", **window})
    first = C(cw, "GetMetricData", "paged",
              {"MetricDataQueries": [query(0, arn), query(1, arn)], "MaxDatapoints": 1, **window})
    if first and first.get("NextToken"):
        C(cw, "GetMetricData", "next-page",
          {"MetricDataQueries": [query(0, arn), query(1, arn)], "MaxDatapoints": 1, "NextToken": first["NextToken"], **window})
    C(cw, "GetMetricData", "bad-token",
      {"MetricDataQueries": [query(0, arn)], "NextToken": "not-a-token", **window}, expect="InvalidNextToken")
    C(cw, "GetMetricData", "period-not-a-minute-multiple",
      {"MetricDataQueries": [dict(query(0, arn), MetricStat=dict(query(0, arn)["MetricStat"], Period=90))], **window},
      expect="InvalidParameterValue")
    C(loose, "GetMetricData", "missing-start-time",
      {"MetricDataQueries": [query(0, arn)], "EndTime": now}, expect="MissingParameter")
    C(cwf, "GetMetricData", "access-denied", {"MetricDataQueries": [query(0, arn)], **window},
      expect=("AccessDenied", "AccessDeniedException"))


def bad_clients(run, service, who):
    p = who.upper().replace("-", "_")
    bad_sig = run.client(service, run.env[f"{p}_ACCESS_KEY_ID"], "wrongSecretForConformanceNotAReal000000")
    unknown = run.client(service, *UNKNOWN_KEY)
    return bad_sig, unknown


# --------------------------------------------------------------------------------------
# Service Quotas (JSON 1.1): Bedrock's Custom Model Import quotas
# --------------------------------------------------------------------------------------
def servicequotas_cases(run, ctx):
    C = run.case
    sq = run.principal("service-quotas", "hosting-admin")
    sqf = run.principal("service-quotas", "ferry-service")
    loose = run.principal("service-quotas", "hosting-admin", validate=False)
    models = {"ServiceCode": "bedrock", "QuotaCode": "L-45B04988"}
    C(sq, "GetServiceQuota", "imported-models", models)
    C(sq, "GetServiceQuota", "concurrent-import-jobs", {"ServiceCode": "bedrock", "QuotaCode": "L-5F098EFA"})
    run.admin("quotas", {"account": ctx["hosting_account"], "quota_code": "L-45B04988", "value": 7})
    raised = C(sq, "GetServiceQuota", "raised-by-admin", models)
    if raised and raised["Quota"]["Value"] != 7:
        print(f"  service-quotas GetServiceQuota raised-by-admin: expected 7, got {raised['Quota']['Value']}")
        run.results.append(("service-quotas", "GetServiceQuota", "raised-by-admin-value", ["value not applied"], [], ""))
    run.admin("quotas", {"account": ctx["hosting_account"], "quota_code": "L-45B04988", "value": None})
    C(sq, "GetServiceQuota", "no-such-quota", {"ServiceCode": "bedrock", "QuotaCode": "L-00000000"}, expect="NoSuchResourceException")
    C(sqf, "GetServiceQuota", "access-denied", models, expect="AccessDeniedException")
    C(loose, "GetServiceQuota", "missing-quota-code", {"ServiceCode": "bedrock"}, expect="IllegalArgumentException")


# --------------------------------------------------------------------------------------
# SageMaker Model Registry (JSON 1.1): the research account registers and approves a
# package, shares its group with the hosting account, and the hosting account reads it
# --------------------------------------------------------------------------------------
def sagemaker_cases(run, ctx):
    C = run.case
    sm = run.principal("sagemaker", "research-admin")
    host = run.principal("sagemaker", "hosting-admin")
    denied = run.principal("sagemaker", "ferry-service")
    loose = run.principal("sagemaker", "research-admin", validate=False)
    sfx = ctx["suffix"]
    group = f"conf-{sfx}"
    region, research, hosting = "us-east-1", ctx["research_account"], ctx["hosting_account"]
    spec = {"Containers": [{
        "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.29.0-lmi11.0.0-cu124",
        "ModelDataSource": {"S3DataSource": {"S3Uri": ctx["uri"], "S3DataType": "S3Prefix", "CompressionType": "None"}},
    }]}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "Share", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{hosting}:root"},
        "Action": ["sagemaker:DescribeModelPackage"],
        "Resource": [f"arn:aws:sagemaker:{region}:{research}:model-package-group/{group}",
                     f"arn:aws:sagemaker:{region}:{research}:model-package/{group}/*"]}]})

    C(sm, "CreateModelPackageGroup", "ok", {"ModelPackageGroupName": group, "ModelPackageGroupDescription": "conformance"})
    C(sm, "CreateModelPackageGroup", "already-exists", {"ModelPackageGroupName": group}, expect="ValidationException")
    C(denied, "CreateModelPackageGroup", "access-denied", {"ModelPackageGroupName": f"{group}-x"}, expect="AccessDeniedException")
    C(loose, "CreateModelPackageGroup", "bad-name", {"ModelPackageGroupName": "-bad-"}, expect="ValidationException")

    C(sm, "PutModelPackageGroupPolicy", "ok", {"ModelPackageGroupName": group, "ResourcePolicy": policy})
    C(sm, "PutModelPackageGroupPolicy", "no-such-group", {"ModelPackageGroupName": f"{group}-missing", "ResourcePolicy": policy}, expect="ValidationException")
    C(sm, "PutModelPackageGroupPolicy", "malformed-policy", {"ModelPackageGroupName": group, "ResourcePolicy": "{not json"}, expect="ValidationException")

    created = C(sm, "CreateModelPackage", "version", {"ModelPackageGroupName": group, "InferenceSpecification": spec, "ModelPackageDescription": "v1"})
    C(sm, "CreateModelPackage", "approved-version", {"ModelPackageGroupName": group, "InferenceSpecification": spec, "ModelApprovalStatus": "Approved"})
    C(sm, "CreateModelPackage", "unversioned", {"ModelPackageName": f"conf-unversioned-{sfx}", "InferenceSpecification": spec})
    C(sm, "CreateModelPackage", "no-such-group", {"ModelPackageGroupName": f"{group}-missing", "InferenceSpecification": spec}, expect="ValidationException")
    C(sm, "CreateModelPackage", "neither-name", {"InferenceSpecification": spec}, expect="ValidationException")
    C(denied, "CreateModelPackage", "access-denied", {"ModelPackageName": f"conf-denied-{sfx}"}, expect="AccessDeniedException")
    arn = created["ModelPackageArn"] if created else f"arn:aws:sagemaker:{region}:{research}:model-package/{group}/1"

    C(sm, "DescribeModelPackage", "pending", {"ModelPackageName": arn})
    C(sm, "UpdateModelPackage", "approve", {"ModelPackageArn": arn, "ModelApprovalStatus": "Approved", "ApprovalDescription": "conformance"})
    C(sm, "UpdateModelPackage", "no-such-package", {"ModelPackageArn": f"arn:aws:sagemaker:{region}:{research}:model-package/{group}/99", "ModelApprovalStatus": "Approved"}, expect="ValidationException")
    C(loose, "UpdateModelPackage", "bad-status", {"ModelPackageArn": arn, "ModelApprovalStatus": "Maybe"}, expect="ValidationException")
    C(denied, "UpdateModelPackage", "access-denied", {"ModelPackageArn": arn, "ModelApprovalStatus": "Rejected"}, expect="AccessDeniedException")

    C(sm, "DescribeModelPackage", "approved", {"ModelPackageName": arn})
    C(sm, "DescribeModelPackage", "by-name-and-version", {"ModelPackageName": f"{group}/1"})
    C(host, "DescribeModelPackage", "cross-account-shared", {"ModelPackageName": arn})
    C(sm, "DescribeModelPackage", "unversioned", {"ModelPackageName": f"conf-unversioned-{sfx}"})
    C(sm, "DescribeModelPackage", "not-found", {"ModelPackageName": f"{group}/99"}, expect="ValidationException")
    C(denied, "DescribeModelPackage", "access-denied", {"ModelPackageName": arn}, expect="AccessDeniedException")
    C(loose, "DescribeModelPackage", "missing-name", {}, expect="ValidationException")
    # Without the group's policy another account is denied.
    C(sm, "CreateModelPackageGroup", "unshared", {"ModelPackageGroupName": f"{group}-private"})
    private = C(sm, "CreateModelPackage", "unshared-version", {"ModelPackageGroupName": f"{group}-private", "InferenceSpecification": spec})
    if private:
        C(host, "DescribeModelPackage", "cross-account-unshared", {"ModelPackageName": private["ModelPackageArn"]}, expect="AccessDeniedException")


# --------------------------------------------------------------------------------------
# S3 (REST-XML)
# --------------------------------------------------------------------------------------
def s3_cases(run, ctx):
    C = run.case
    s3r = run.principal("s3", "research-admin")
    s3h = run.principal("s3", "hosting-admin")
    s3f = run.principal("s3", "ferry-service")
    bucket, sfx = ctx["bucket"], ctx["suffix"]
    cb = f"conf-{sfx}"
    missing = f"conf-missing-{sfx}"
    prefix = ctx["uri"][len(f"s3://{bucket}/"):]

    C(s3r, "CreateBucket", "ok", {"Bucket": cb})
    C(s3r, "CreateBucket", "already-owned", {"Bucket": cb}, expect="BucketAlreadyOwnedByYou")
    C(s3h, "CreateBucket", "taken-by-other-account", {"Bucket": cb}, expect="BucketAlreadyExists")
    C(s3r, "CreateBucket", "invalid-name", {"Bucket": "conf_Invalid"}, expect="InvalidBucketName")
    C(s3f, "CreateBucket", "access-denied", {"Bucket": f"conf-denied-{sfx}"}, expect="AccessDenied")

    C(s3r, "HeadBucket", "ok", {"Bucket": bucket})
    C(s3r, "HeadBucket", "no-such-bucket", {"Bucket": missing}, expect="HEAD")
    C(s3f, "HeadBucket", "access-denied", {"Bucket": bucket}, expect="HEAD")

    C(s3r, "GetBucketLocation", "ok", {"Bucket": bucket})
    C(s3r, "GetBucketLocation", "no-such-bucket", {"Bucket": missing}, expect="NoSuchBucket")

    policy = {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "Conformance", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ctx['research_account']}:root"},
            "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{cb}/*",
        }],
    }
    C(s3r, "GetBucketPolicy", "no-policy", {"Bucket": cb}, expect="NoSuchBucketPolicy")
    C(s3r, "PutBucketPolicy", "ok", {"Bucket": cb, "Policy": json.dumps(policy)})
    C(s3r, "PutBucketPolicy", "malformed", {"Bucket": cb, "Policy": "{not json"}, expect="MalformedPolicy")
    C(s3h, "PutBucketPolicy", "other-account", {"Bucket": bucket, "Policy": json.dumps(policy)}, expect="AccessDenied")
    C(s3r, "PutBucketPolicy", "no-such-bucket", {"Bucket": missing, "Policy": json.dumps(policy)}, expect="NoSuchBucket")
    C(s3r, "GetBucketPolicy", "ok", {"Bucket": cb})
    C(s3r, "GetBucketPolicy", "walkthrough-bucket", {"Bucket": bucket})
    C(s3h, "GetBucketPolicy", "other-account", {"Bucket": bucket}, expect="AccessDenied")
    C(s3r, "DeleteBucketPolicy", "ok", {"Bucket": cb})
    C(s3r, "DeleteBucketPolicy", "no-such-bucket", {"Bucket": missing}, expect="NoSuchBucket")

    key = f"conf/{sfx}/plain.txt"
    kms_key = f"conf/{sfx}/kms.txt"
    C(s3r, "PutObject", "ok", {"Bucket": cb, "Key": key, "Body": b"conformance"})
    C(s3r, "PutObject", "sse-kms", {"Bucket": cb, "Key": kms_key, "Body": b"secret", "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": ctx["research_key"]})
    C(s3r, "PutObject", "bad-checksum", {"Bucket": cb, "Key": key, "Body": b"conformance", "ChecksumCRC32": "AAAAAA=="}, expect="BadDigest")
    C(s3r, "PutObject", "unknown-kms-key", {"Bucket": cb, "Key": kms_key, "Body": b"x", "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/conf-missing"}, expect="KMS.NotFoundException")
    C(s3r, "PutObject", "no-such-bucket", {"Bucket": missing, "Key": key, "Body": b"x"}, expect="NoSuchBucket")
    C(s3f, "PutObject", "access-denied", {"Bucket": cb, "Key": key, "Body": b"x"}, expect="AccessDenied")

    C(s3r, "GetObject", "ok", {"Bucket": cb, "Key": key})
    C(s3r, "GetObject", "sse-kms", {"Bucket": cb, "Key": kms_key})
    C(s3r, "GetObject", "range", {"Bucket": bucket, "Key": f"{prefix}model.safetensors", "Range": "bytes=0-7"})
    C(s3r, "GetObject", "no-such-key", {"Bucket": cb, "Key": f"conf/{sfx}/missing"}, expect="NoSuchKey")
    C(s3r, "GetObject", "unsatisfiable-range", {"Bucket": cb, "Key": key, "Range": "bytes=1000-"}, expect="InvalidRange")
    C(s3f, "GetObject", "access-denied", {"Bucket": bucket, "Key": f"{prefix}config.json"}, expect="AccessDenied")

    C(s3r, "HeadObject", "ok", {"Bucket": cb, "Key": kms_key})
    C(s3r, "HeadObject", "no-such-key", {"Bucket": cb, "Key": f"conf/{sfx}/missing"}, expect="HEAD")
    C(s3f, "HeadObject", "access-denied", {"Bucket": bucket, "Key": f"{prefix}config.json"}, expect="HEAD")

    C(s3r, "ListObjectsV2", "ok", {"Bucket": bucket, "Prefix": prefix})
    C(s3r, "ListObjectsV2", "delimiter", {"Bucket": bucket, "Prefix": "models/", "Delimiter": "/"})
    page = C(s3r, "ListObjectsV2", "first-page", {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 2})
    if page and page.get("NextContinuationToken"):
        C(s3r, "ListObjectsV2", "next-page", {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 2, "ContinuationToken": page["NextContinuationToken"]})
    C(s3r, "ListObjectsV2", "start-after", {"Bucket": bucket, "Prefix": prefix, "StartAfter": f"{prefix}config.json"})
    C(s3r, "ListObjectsV2", "empty", {"Bucket": cb, "Prefix": "nothing/"})
    C(s3r, "ListObjectsV2", "bad-token", {"Bucket": bucket, "ContinuationToken": "not-a-token"}, expect="InvalidArgument")
    C(s3r, "ListObjectsV2", "no-such-bucket", {"Bucket": missing}, expect="NoSuchBucket")
    C(s3f, "ListObjectsV2", "access-denied", {"Bucket": bucket}, expect="AccessDenied")

    mp_key = f"conf/{sfx}/multipart.bin"
    up = C(s3r, "CreateMultipartUpload", "ok", {"Bucket": cb, "Key": mp_key})
    C(s3r, "CreateMultipartUpload", "sse-kms", {"Bucket": cb, "Key": f"{mp_key}.kms", "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": ctx["research_key"]})
    C(s3f, "CreateMultipartUpload", "access-denied", {"Bucket": cb, "Key": mp_key}, expect="AccessDenied")
    if up:
        uid = up["UploadId"]
        p1 = C(s3r, "UploadPart", "ok", {"Bucket": cb, "Key": mp_key, "UploadId": uid, "PartNumber": 1, "Body": b"a" * 1024})
        p2 = run.principal("s3", "research-admin").upload_part(Bucket=cb, Key=mp_key, UploadId=uid, PartNumber=2, Body=b"b" * 10)
        C(s3r, "UploadPart", "no-such-upload", {"Bucket": cb, "Key": mp_key, "UploadId": "conformance-missing", "PartNumber": 1, "Body": b"x"}, expect="NoSuchUpload")
        parts = [{"PartNumber": 1, "ETag": p1["ETag"] if p1 else ""}, {"PartNumber": 2, "ETag": p2["ETag"]}]
        C(s3r, "CompleteMultipartUpload", "parts-out-of-order", {"Bucket": cb, "Key": mp_key, "UploadId": uid, "MultipartUpload": {"Parts": parts[::-1]}}, expect="InvalidPartOrder")
        C(s3r, "CompleteMultipartUpload", "part-not-uploaded", {"Bucket": cb, "Key": mp_key, "UploadId": uid, "MultipartUpload": {"Parts": parts + [{"PartNumber": 3, "ETag": "\"0\""}]}}, expect="InvalidPart")
        C(s3r, "CompleteMultipartUpload", "ok", {"Bucket": cb, "Key": mp_key, "UploadId": uid, "MultipartUpload": {"Parts": parts}})
        C(s3r, "CompleteMultipartUpload", "no-such-upload", {"Bucket": cb, "Key": mp_key, "UploadId": uid, "MultipartUpload": {"Parts": parts}}, expect="NoSuchUpload")
    up2 = run.principal("s3", "research-admin").create_multipart_upload(Bucket=cb, Key=f"{mp_key}.aborted")
    C(s3r, "AbortMultipartUpload", "ok", {"Bucket": cb, "Key": f"{mp_key}.aborted", "UploadId": up2["UploadId"]})
    C(s3r, "AbortMultipartUpload", "no-such-upload", {"Bucket": cb, "Key": f"{mp_key}.aborted", "UploadId": up2["UploadId"]}, expect="NoSuchUpload")

    C(s3r, "DeleteObject", "ok", {"Bucket": cb, "Key": key})
    C(s3r, "DeleteObject", "already-gone", {"Bucket": cb, "Key": key})
    C(s3f, "DeleteObject", "access-denied", {"Bucket": cb, "Key": kms_key}, expect="AccessDenied")


# --------------------------------------------------------------------------------------
# STS (Query)
# --------------------------------------------------------------------------------------
def sts_cases(run, ctx):
    C = run.case
    stsh = run.principal("sts", "hosting-admin")
    stsf = run.principal("sts", "ferry-service")
    stsi = run.principal("sts", "hosting-importer")
    loose = run.principal("sts", "ferry-service", validate=False)
    control = ctx["control_role"]

    C(stsh, "GetCallerIdentity", "ok")
    out = C(stsf, "AssumeRole", "ok", {"RoleArn": control, "RoleSessionName": "conformance", "DurationSeconds": 900})
    if out:
        c = out["Credentials"]
        session = run.client("sts", c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        C(session, "GetCallerIdentity", "role-session")
        C(session, "AssumeRole", "role-chain-with-external-id", {"RoleArn": ctx["exec_role"], "RoleSessionName": "conformance-chain", "ExternalId": "conformance-external-id"})
    C(stsi, "AssumeRole", "trust-policy-denies", {"RoleArn": control, "RoleSessionName": "conformance"}, expect="AccessDenied")
    C(stsf, "AssumeRole", "no-such-role", {"RoleArn": f"arn:aws:iam::{ctx['hosting_account']}:role/conf-missing", "RoleSessionName": "conformance"}, expect="AccessDenied")
    C(stsf, "AssumeRole", "invalid-session-name", {"RoleArn": control, "RoleSessionName": "has space"}, expect="ValidationError")
    C(stsf, "AssumeRole", "duration-above-role-max", {"RoleArn": control, "RoleSessionName": "conformance", "DurationSeconds": 7200}, expect="ValidationError")
    C(loose, "AssumeRole", "duration-out-of-range", {"RoleArn": control, "RoleSessionName": "conformance", "DurationSeconds": 60}, expect="ValidationError")
    C(loose, "AssumeRole", "missing-session-name", {"RoleArn": control}, expect="ValidationError")


# --------------------------------------------------------------------------------------
# IAM (Query)
# --------------------------------------------------------------------------------------
def iam_cases(run, ctx):
    C = run.case
    iam = run.principal("iam", "hosting-admin")
    iamf = run.principal("iam", "ferry-service")
    sfx = ctx["suffix"]
    role = f"conf-role-{sfx}"
    exec_name = ctx["exec_role"].rsplit("/", 1)[-1]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    allow = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]})

    C(iam, "CreateRole", "ok", {"RoleName": role, "AssumeRolePolicyDocument": trust, "Description": "conformance", "MaxSessionDuration": 3600})
    C(iam, "CreateRole", "already-exists", {"RoleName": role, "AssumeRolePolicyDocument": trust}, expect="EntityAlreadyExists")
    C(iam, "CreateRole", "malformed-policy", {"RoleName": f"{role}-x", "AssumeRolePolicyDocument": "{not json"}, expect="MalformedPolicyDocument")
    C(iamf, "CreateRole", "access-denied", {"RoleName": f"{role}-y", "AssumeRolePolicyDocument": trust}, expect="AccessDenied")

    C(iam, "GetRole", "ok", {"RoleName": exec_name})
    C(iam, "GetRole", "created-role", {"RoleName": role})
    C(iam, "GetRole", "no-such-entity", {"RoleName": "conf-missing"}, expect="NoSuchEntity")
    C(iamf, "GetRole", "access-denied", {"RoleName": exec_name}, expect="AccessDenied")

    C(iam, "UpdateAssumeRolePolicy", "ok", {"RoleName": role, "PolicyDocument": trust})
    C(iam, "UpdateAssumeRolePolicy", "malformed-policy", {"RoleName": role, "PolicyDocument": "{not json"}, expect="MalformedPolicyDocument")
    C(iam, "UpdateAssumeRolePolicy", "no-such-entity", {"RoleName": "conf-missing", "PolicyDocument": trust}, expect="NoSuchEntity")

    C(iam, "PutRolePolicy", "ok", {"RoleName": role, "PolicyName": "Conformance", "PolicyDocument": allow})
    C(iam, "PutRolePolicy", "malformed-policy", {"RoleName": role, "PolicyName": "Conformance", "PolicyDocument": "{not json"}, expect="MalformedPolicyDocument")
    C(iam, "PutRolePolicy", "no-such-entity", {"RoleName": "conf-missing", "PolicyName": "Conformance", "PolicyDocument": allow}, expect="NoSuchEntity")
    C(iam, "GetRolePolicy", "ok", {"RoleName": role, "PolicyName": "Conformance"})
    C(iam, "GetRolePolicy", "walkthrough-policy", {"RoleName": exec_name, "PolicyName": f"BedrockCMIExecutionPolicy-{ctx['hosting_account']}"})
    C(iam, "GetRolePolicy", "no-such-policy", {"RoleName": role, "PolicyName": "Missing"}, expect="NoSuchEntity")
    C(iam, "DeleteRolePolicy", "ok", {"RoleName": role, "PolicyName": "Conformance"})
    C(iam, "DeleteRolePolicy", "no-such-policy", {"RoleName": role, "PolicyName": "Conformance"}, expect="NoSuchEntity")

    C(iam, "PutUserPolicy", "ok", {"UserName": "hosting-importer", "PolicyName": "ConformanceNoop", "PolicyDocument": allow})
    C(iam, "PutUserPolicy", "no-such-entity", {"UserName": "conf-missing", "PolicyName": "ConformanceNoop", "PolicyDocument": allow}, expect="NoSuchEntity")
    C(iam, "DeleteUserPolicy", "ok", {"UserName": "hosting-importer", "PolicyName": "ConformanceNoop"})
    C(iam, "DeleteUserPolicy", "no-such-policy", {"UserName": "hosting-importer", "PolicyName": "ConformanceNoop"}, expect="NoSuchEntity")

    C(iam, "SimulatePrincipalPolicy", "ok", {
        "PolicySourceArn": ctx["exec_role"],
        "ActionNames": ["s3:GetObject", "s3:PutObject"],
        "ResourceArns": [f"arn:aws:s3:::{ctx['bucket']}/models/x"],
        "ContextEntries": [{"ContextKeyName": "aws:ResourceAccount", "ContextKeyValues": [ctx["research_account"]], "ContextKeyType": "string"}],
    })
    C(iam, "SimulatePrincipalPolicy", "no-such-entity", {"PolicySourceArn": f"arn:aws:iam::{ctx['hosting_account']}:role/conf-missing", "ActionNames": ["s3:GetObject"]}, expect="NoSuchEntity")


# --------------------------------------------------------------------------------------
# KMS (JSON 1.1)
# --------------------------------------------------------------------------------------
def kms_cases(run, ctx):
    C = run.case
    kms = run.principal("kms", "hosting-admin")
    kmsf = run.principal("kms", "ferry-service")
    loose = run.principal("kms", "hosting-admin", validate=False)
    sfx = ctx["suffix"]
    alias = f"alias/conf-{sfx}"
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ctx['hosting_account']}:root"}, "Action": "kms:*", "Resource": "*"}]})
    missing_key = "0f1e2d3c-0000-4000-8000-000000000000"

    created = C(kms, "CreateKey", "ok", {"Description": "conformance"})
    C(kms, "CreateKey", "with-policy", {"Policy": policy})
    C(kms, "CreateKey", "malformed-policy", {"Policy": "{not json"}, expect="MalformedPolicyDocumentException")
    C(kmsf, "CreateKey", "access-denied", {}, expect="AccessDeniedException")
    key_id = created["KeyMetadata"]["KeyId"] if created else missing_key

    C(kms, "CreateAlias", "ok", {"AliasName": alias, "TargetKeyId": key_id})
    C(kms, "CreateAlias", "already-exists", {"AliasName": alias, "TargetKeyId": key_id}, expect="AlreadyExistsException")
    # The name passes the model's AliasNameType pattern, so the refusal is KMS's own check:
    # the model declares InvalidAliasNameException for it, while KMS is also known to
    # answer ValidationException ("Alias must start with the prefix \"alias/\""). Either
    # is an invalid-name refusal.
    C(kms, "CreateAlias", "name-without-alias-prefix", {"AliasName": f"conf-{sfx}", "TargetKeyId": key_id}, expect=("InvalidAliasNameException", "ValidationException"))
    C(kms, "CreateAlias", "no-such-key", {"AliasName": f"{alias}-2", "TargetKeyId": missing_key}, expect="NotFoundException")

    C(kms, "DescribeKey", "by-alias", {"KeyId": alias})
    C(kms, "DescribeKey", "by-arn", {"KeyId": ctx["hosting_key"]})
    C(kms, "DescribeKey", "not-found", {"KeyId": "alias/conf-missing"}, expect="NotFoundException")
    C(kmsf, "DescribeKey", "access-denied", {"KeyId": ctx["hosting_key"]}, expect="AccessDeniedException")
    C(loose, "DescribeKey", "missing-key-id", {}, expect="ValidationException")

    C(kms, "GetKeyPolicy", "ok", {"KeyId": key_id, "PolicyName": "default"})
    C(kms, "GetKeyPolicy", "not-found", {"KeyId": missing_key, "PolicyName": "default"}, expect="NotFoundException")
    C(kms, "PutKeyPolicy", "ok", {"KeyId": key_id, "PolicyName": "default", "Policy": policy})
    C(kms, "PutKeyPolicy", "malformed-policy", {"KeyId": key_id, "PolicyName": "default", "Policy": "{not json"}, expect="MalformedPolicyDocumentException")
    C(kms, "PutKeyPolicy", "not-found", {"KeyId": missing_key, "PolicyName": "default", "Policy": policy}, expect="NotFoundException")

    enc = C(kms, "Encrypt", "ok", {"KeyId": alias, "Plaintext": b"conformance"})
    C(kms, "Encrypt", "not-found", {"KeyId": "alias/conf-missing", "Plaintext": b"x"}, expect="NotFoundException")
    C(kmsf, "Encrypt", "access-denied", {"KeyId": ctx["hosting_key"], "Plaintext": b"x"}, expect="AccessDeniedException")
    blob = enc["CiphertextBlob"] if enc else b"x"
    C(kms, "Decrypt", "ok", {"CiphertextBlob": blob})
    C(kms, "Decrypt", "with-key-id", {"CiphertextBlob": blob, "KeyId": alias})
    C(kms, "Decrypt", "invalid-ciphertext", {"CiphertextBlob": b"not a ciphertext"}, expect="InvalidCiphertextException")
    C(kms, "Decrypt", "incorrect-key", {"CiphertextBlob": blob, "KeyId": ctx["hosting_key"]}, expect="IncorrectKeyException")
    C(kmsf, "Decrypt", "access-denied", {"CiphertextBlob": blob}, expect="AccessDeniedException")

    C(kms, "GenerateDataKey", "ok", {"KeyId": alias, "KeySpec": "AES_256"})
    C(kms, "GenerateDataKey", "number-of-bytes", {"KeyId": key_id, "NumberOfBytes": 16})
    C(kms, "GenerateDataKey", "not-found", {"KeyId": "alias/conf-missing", "KeySpec": "AES_256"}, expect="NotFoundException")
    C(kms, "GenerateDataKeyWithoutPlaintext", "ok", {"KeyId": alias, "KeySpec": "AES_128"})
    C(kmsf, "GenerateDataKeyWithoutPlaintext", "access-denied", {"KeyId": ctx["hosting_key"], "KeySpec": "AES_256"}, expect="AccessDeniedException")


# --------------------------------------------------------------------------------------
# Bedrock (REST-JSON): model import jobs and imported models
# --------------------------------------------------------------------------------------
def bedrock_cases(run, ctx):
    C = run.case
    br = run.principal("bedrock", "hosting-importer")
    brf = run.principal("bedrock", "ferry-service")
    loose = run.principal("bedrock", "hosting-importer", validate=False)
    quiet = run.principal("bedrock", "hosting-importer")  # polling, not a case
    sfx = ctx["suffix"]
    region = run.region
    acct = ctx["hosting_account"]

    def job(name, model, **extra):
        params = {
            "jobName": name,
            "importedModelName": model,
            "roleArn": ctx["exec_role"],
            "modelDataSource": {"s3DataSource": {"s3Uri": ctx["uri"]}},
        }
        params.update(extra)
        return params

    def finished(arn):
        def done():
            out = quiet.get_model_import_job(jobIdentifier=arn)
            return out if out["status"] != "InProgress" else None
        return wait_for(done, timeout=120)

    first = job(f"conf-job-{sfx}", f"conf-model-{sfx}", importedModelKmsKeyId=ctx["hosting_key"],
                clientRequestToken=f"conf-{sfx}", jobTags=[{"key": "suite", "value": "conformance"}],
                importedModelTags=[{"key": "suite", "value": "conformance"}])
    created = C(br, "CreateModelImportJob", "ok", first)
    C(br, "CreateModelImportJob", "same-token-replays", first)
    C(br, "CreateModelImportJob", "same-token-other-request", dict(first, jobName=f"conf-other-{sfx}"), expect="ConflictException")
    C(br, "CreateModelImportJob", "concurrent-job-quota", job(f"conf-second-{sfx}", f"conf-second-{sfx}"), expect="ServiceQuotaExceededException")
    arn = created["jobArn"] if created else f"arn:aws:bedrock:{region}:{acct}:model-import-job/000000000000"
    C(br, "GetModelImportJob", "in-progress", {"jobIdentifier": arn})

    C(br, "CreateModelImportJob", "invalid-model-name", job(f"conf-v1-{sfx}", "bad..name"), expect="ValidationException")
    C(br, "CreateModelImportJob", "invalid-job-name", job("-bad-job-name", f"conf-v2-{sfx}"), expect="ValidationException")
    C(br, "CreateModelImportJob", "invalid-role-arn", dict(job(f"conf-v3-{sfx}", f"conf-v3-{sfx}"), roleArn=f"arn:aws:iam::{acct}:user/not-a-role"), expect="ValidationException")
    C(br, "CreateModelImportJob", "invalid-s3-uri", dict(job(f"conf-v4-{sfx}", f"conf-v4-{sfx}"), modelDataSource={"s3DataSource": {"s3Uri": "s3://Not_A_Bucket/x"}}), expect="ValidationException")
    C(loose, "CreateModelImportJob", "missing-role-arn", {k: v for k, v in job(f"conf-v5-{sfx}", f"conf-v5-{sfx}").items() if k != "roleArn"}, expect="ValidationException")
    tags = [{"key": f"k{i}", "value": "v"} for i in range(51)]
    C(br, "CreateModelImportJob", "too-many-tags", job(f"conf-v6-{sfx}", f"conf-v6-{sfx}", jobTags=tags), expect="TooManyTagsException")
    C(br, "CreateModelImportJob", "pass-role-denied", dict(job(f"conf-v7-{sfx}", f"conf-v7-{sfx}"), roleArn=ctx["control_role"]), expect="AccessDeniedException")
    C(brf, "CreateModelImportJob", "access-denied", job(f"conf-v8-{sfx}", f"conf-v8-{sfx}"), expect="AccessDeniedException")

    done = finished(arn) if created else None
    C(br, "GetModelImportJob", "completed", {"jobIdentifier": arn})
    C(br, "GetModelImportJob", "by-name", {"jobIdentifier": f"conf-job-{sfx}"})
    C(br, "GetModelImportJob", "not-found", {"jobIdentifier": f"arn:aws:bedrock:{region}:{acct}:model-import-job/000000000000"}, expect="ResourceNotFoundException")
    C(brf, "GetModelImportJob", "access-denied", {"jobIdentifier": arn}, expect="AccessDeniedException")
    # AWS answers a job name in use with ValidationException "The provided job name is
    # currently in use." (aws/sagemaker-python-sdk PR 6076); ConflictException is declared
    # too, so the model alone cannot tell: the case pins the real one.
    C(br, "CreateModelImportJob", "job-name-in-use", job(f"conf-job-{sfx}", f"conf-other-model-{sfx}"), expect="ValidationException")
    C(br, "CreateModelImportJob", "model-name-in-use", job(f"conf-job2-{sfx}", f"conf-model-{sfx}"), expect="ConflictException")

    empty = C(br, "CreateModelImportJob", "ok-empty-prefix", dict(job(f"conf-empty-{sfx}", f"conf-empty-{sfx}"), modelDataSource={"s3DataSource": {"s3Uri": f"s3://{ctx['bucket']}/conf-empty-{sfx}/"}}))
    if empty:
        finished(empty["jobArn"])
        C(br, "GetModelImportJob", "failed", {"jobIdentifier": empty["jobArn"]})

    C(br, "ListModelImportJobs", "ok", {})
    C(br, "ListModelImportJobs", "status-completed", {"statusEquals": "Completed"})
    C(br, "ListModelImportJobs", "status-failed", {"statusEquals": "Failed"})
    page = C(br, "ListModelImportJobs", "first-page", {"maxResults": 1})
    if page and page.get("nextToken"):
        C(br, "ListModelImportJobs", "next-page", {"maxResults": 1, "nextToken": page["nextToken"]})
    C(br, "ListModelImportJobs", "sorted-ascending", {"sortBy": "CreationTime", "sortOrder": "Ascending"})
    C(br, "ListModelImportJobs", "name-contains", {"nameContains": sfx})
    C(loose, "ListModelImportJobs", "max-results-out-of-range", {"maxResults": 1001}, expect="ValidationException")
    C(loose, "ListModelImportJobs", "invalid-status", {"statusEquals": "Sideways"}, expect="ValidationException")
    C(br, "ListModelImportJobs", "invalid-next-token", {"nextToken": "conformance-not-a-token"}, expect="ValidationException")
    C(brf, "ListModelImportJobs", "access-denied", {}, expect="AccessDeniedException")

    model_arn = done.get("importedModelArn") if done else None
    model_arn = model_arn or f"arn:aws:bedrock:{region}:{acct}:imported-model/000000000000"
    C(br, "GetImportedModel", "ok", {"modelIdentifier": model_arn})
    C(br, "GetImportedModel", "by-name", {"modelIdentifier": f"conf-model-{sfx}"})
    C(br, "GetImportedModel", "not-found", {"modelIdentifier": f"arn:aws:bedrock:{region}:{acct}:imported-model/000000000000"}, expect="ResourceNotFoundException")
    C(brf, "GetImportedModel", "access-denied", {"modelIdentifier": model_arn}, expect="AccessDeniedException")
    C(br, "ListImportedModels", "ok", {})
    first = C(br, "ListImportedModels", "first-page", {"maxResults": 1})
    if first and first.get("nextToken"):
        C(br, "ListImportedModels", "next-page", {"maxResults": 1, "nextToken": first["nextToken"]})
    C(br, "ListImportedModels", "sorted-ascending", {"sortBy": "CreationTime", "sortOrder": "Ascending", "nameContains": "conf"})
    C(brf, "ListImportedModels", "access-denied", {}, expect="AccessDeniedException")

    # The imported-model quota (3 by default): fill it, then one more import is refused.
    for i in range(5):
        models = quiet.list_imported_models()["modelSummaries"]
        if len(models) >= 3:
            break
        extra = quiet.create_model_import_job(**job(f"conf-fill{i}-{sfx}", f"conf-fill{i}-{sfx}"))
        finished(extra["jobArn"])
    C(br, "CreateModelImportJob", "imported-model-quota", job(f"conf-over-{sfx}", f"conf-over-{sfx}"), expect="ServiceQuotaExceededException")

    # Tags on jobs and imported models (hosting-admin may tag; the importer's policy may not).
    bra = run.principal("bedrock", "hosting-admin")
    missing_job = f"arn:aws:bedrock:{region}:{acct}:model-import-job/000000000000"
    for kind, res in (("job", arn), ("model", model_arn)):
        C(bra, "ListTagsForResource", f"{kind}", {"resourceARN": res})
        C(bra, "TagResource", f"{kind}", {"resourceARN": res, "tags": [{"key": "reviewed", "value": "yes"}]})
        C(bra, "UntagResource", f"{kind}", {"resourceARN": res, "tagKeys": ["reviewed"]})
    C(bra, "TagResource", "too-many-tags", {"resourceARN": arn, "tags": [{"key": f"t{i}", "value": "v"} for i in range(51)]}, expect="TooManyTagsException")
    C(bra, "TagResource", "invalid-key", {"resourceARN": arn, "tags": [{"key": "bad*key", "value": "v"}]}, expect="ValidationException")
    C(bra, "ListTagsForResource", "not-found", {"resourceARN": missing_job}, expect="ResourceNotFoundException")
    C(bra, "UntagResource", "not-found", {"resourceARN": missing_job, "tagKeys": ["x"]}, expect="ResourceNotFoundException")
    C(br, "ListTagsForResource", "access-denied", {"resourceARN": arn}, expect="AccessDeniedException")
    C(br, "TagResource", "access-denied", {"resourceARN": arn, "tags": [{"key": "k", "value": "v"}]}, expect="AccessDeniedException")
    C(br, "UntagResource", "access-denied", {"resourceARN": arn, "tagKeys": ["k"]}, expect="AccessDeniedException")

    C(brf, "DeleteImportedModel", "access-denied", {"modelIdentifier": model_arn}, expect="AccessDeniedException")
    C(br, "DeleteImportedModel", "ok", {"modelIdentifier": model_arn})
    C(br, "DeleteImportedModel", "not-found", {"modelIdentifier": model_arn}, expect="ResourceNotFoundException")
    for m in quiet.list_imported_models()["modelSummaries"]:
        if sfx in m["modelName"]:
            quiet.delete_imported_model(modelIdentifier=m["modelArn"])


# --------------------------------------------------------------------------------------
# bedrock-runtime (REST-JSON, signing name bedrock): InvokeModel and Converse on imports
# --------------------------------------------------------------------------------------
def runtime_cases(run, ctx):
    C = run.case
    rt = run.principal("bedrock-runtime", "hosting-admin")
    rti = run.principal("bedrock-runtime", "hosting-importer")  # no bedrock:InvokeModel
    admin = run.principal("bedrock", "hosting-admin")  # imports, not cases
    s3r = run.principal("s3", "research-admin")
    sfx = ctx["suffix"]
    bucket = ctx["bucket"]
    prefix = ctx["uri"][len(f"s3://{bucket}/"):]

    def import_model(name, config=None):
        uri = ctx["uri"]
        if config is not None:
            # A copy of the sample with another architecture in config.json.
            variant = f"conf-rt-{name}-{sfx}/"
            listing = s3r.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
            for o in listing:
                rel = o["Key"][len(prefix):]
                data = json.dumps(config).encode() if rel == "config.json" else s3r.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                s3r.put_object(Bucket=bucket, Key=variant + rel, Body=data)
            uri = f"s3://{bucket}/{variant}"
        job = admin.create_model_import_job(
            jobName=f"conf-rt-{name}-{sfx}", importedModelName=f"conf-rt-{name}-{sfx}",
            roleArn=ctx["exec_role"], modelDataSource={"s3DataSource": {"s3Uri": uri}},
        )["jobArn"]

        def done():
            out = admin.get_model_import_job(jobIdentifier=job)
            return out if out["status"] != "InProgress" else None

        out = wait_for(done, timeout=120)
        return out.get("importedModelArn") if out else None

    native = json.dumps({"prompt": "conformance runs here", "max_gen_len": 8})
    chat = json.dumps({"messages": [{"role": "user", "content": "hello"}], "max_tokens": 8})
    conv = {"messages": [{"role": "user", "content": [{"text": "hello"}]}], "inferenceConfig": {"maxTokens": 8}}
    llama = import_model("llama")
    if not llama:
        print("FAIL bedrock-runtime: the sample model did not import")
        return
    # Loading after import (default cold start: 2 s).
    C(rt, "InvokeModel", "model-not-ready", {"modelId": llama, "body": native}, expect="ModelNotReadyException")
    C(rt, "Converse", "model-not-ready", dict(conv, modelId=llama), expect="ModelNotReadyException")

    def ready():
        try:
            rt.invoke_model(modelId=llama, body=native)
            return True
        except rt.exceptions.ModelNotReadyException:
            return False

    wait_for(ready, timeout=60)
    C(rt, "InvokeModel", "ok-native", {"modelId": llama, "body": native, "contentType": "application/json", "accept": "application/json"})
    C(rt, "InvokeModel", "ok-openai-chat", {"modelId": llama, "body": chat})
    C(rt, "InvokeModel", "ok-openai-completion", {"modelId": llama, "body": json.dumps({"prompt": "a b", "max_tokens": 4})})
    C(rt, "InvokeModel", "malformed-body", {"modelId": llama, "body": json.dumps({"input": "x"})}, expect="ValidationException")
    C(rt, "InvokeModel", "unknown-model", {"modelId": llama.rsplit("/", 1)[0] + "/zzzzzzzzzzzz", "body": native}, expect="ValidationException")
    C(rti, "InvokeModel", "access-denied", {"modelId": llama, "body": native}, expect="AccessDeniedException")
    C(rt, "Converse", "ok", dict(conv, modelId=llama))
    C(rt, "Converse", "ok-with-system", dict(conv, modelId=llama, system=[{"text": "be brief"}]))
    C(rt, "Converse", "first-message-not-user", {"modelId": llama, "messages": [{"role": "assistant", "content": [{"text": "hi"}]}]}, expect="ValidationException")
    C(rti, "Converse", "access-denied", dict(conv, modelId=llama), expect="AccessDeniedException")
    try:
        run.faults({"bedrock:InvokeModel": {"throttle_tps": 0}})
        C(rt, "InvokeModel", "throttled", {"modelId": llama, "body": native}, expect="ThrottlingException")
        run.faults({"bedrock:Converse": {"error_rate": 1.0}})
        C(rt, "Converse", "server-error", dict(conv, modelId=llama), expect="InternalServerException")
    finally:
        run.faults({})
    bad_sig, unknown = bad_clients(run, "bedrock-runtime", "hosting-admin")
    C(bad_sig, "InvokeModel", "bad-signature", {"modelId": llama, "body": native}, expect="InvalidSignatureException")
    C(unknown, "Converse", "unknown-access-key", dict(conv, modelId=llama), expect="UnrecognizedClientException")

    # Converse is refused for Qwen3 (the architecture table); InvokeModel still answers.
    qwen3 = import_model("qwen3", {"model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"]})
    if qwen3:
        C(rt, "Converse", "unsupported-architecture", dict(conv, modelId=qwen3), expect="ValidationException")
    for m in admin.list_imported_models(nameContains="conf-rt-")["modelSummaries"]:
        if sfx in m["modelName"]:
            admin.delete_imported_model(modelIdentifier=m["modelArn"])


# --------------------------------------------------------------------------------------
# Throttling and server errors, through the sim's fault injection (/_sim/faults)
# --------------------------------------------------------------------------------------
def fault_cases(run, ctx):
    C = run.case
    targets = [
        ("s3", "research-admin", "ListObjectsV2", {"Bucket": ctx["bucket"]}, "SlowDown", "InternalError"),
        ("sts", "hosting-admin", "GetCallerIdentity", {}, "Throttling", "InternalFailure"),
        ("iam", "hosting-admin", "GetRole", {"RoleName": ctx["exec_role"].rsplit("/", 1)[-1]}, "Throttling", "InternalFailure"),
        ("kms", "hosting-admin", "DescribeKey", {"KeyId": ctx["hosting_key"]}, "ThrottlingException", "KMSInternalException"),
        ("bedrock", "hosting-importer", "ListImportedModels", {}, "ThrottlingException", "InternalServerException"),
    ]
    for service, who, op, params, throttle_code, error_code in targets:
        client = run.principal(service, who)
        try:
            run.faults({f"{service}:{op}": {"throttle_tps": 0}})
            C(client, op, "throttled", params, expect=throttle_code)
            run.faults({f"{service}:{op}": {"error_rate": 1.0}})
            C(client, op, "server-error", params, expect=error_code)
        finally:
            run.faults({})


# --------------------------------------------------------------------------------------
# SigV4: wrong secret, unknown access key, per service
# --------------------------------------------------------------------------------------
def auth_cases(run, ctx):
    C = run.case
    targets = [
        ("s3", "ListObjectsV2", {"Bucket": ctx["bucket"]}, "SignatureDoesNotMatch", "InvalidAccessKeyId"),
        ("sts", "GetCallerIdentity", {}, "SignatureDoesNotMatch", "InvalidClientTokenId"),
        ("iam", "GetRole", {"RoleName": "conf-any"}, "SignatureDoesNotMatch", "InvalidClientTokenId"),
        ("kms", "DescribeKey", {"KeyId": ctx["hosting_key"]}, "InvalidSignatureException", "UnrecognizedClientException"),
        ("bedrock", "ListImportedModels", {}, "InvalidSignatureException", "UnrecognizedClientException"),
    ]
    for service, op, params, sig_code, key_code in targets:
        bad_sig, unknown = bad_clients(run, service, "hosting-admin")
        C(bad_sig, op, "bad-signature", params, expect=sig_code)
        C(unknown, op, "unknown-access-key", params, expect=key_code)


# --------------------------------------------------------------------------------------
# Expired sessions: moves the sim's clock, so it runs last and only on a sim we started
# --------------------------------------------------------------------------------------
def expiry_cases(run, ctx):
    if not getattr(run, "can_advance_clock", False):
        print("skip expired-session cases: the sim was not started by this run")
        return
    sts = run.principal("sts", "ferry-service")
    c = sts.assume_role(RoleArn=ctx["control_role"], RoleSessionName="conformance-expiry", DurationSeconds=900)["Credentials"]
    run.admin("clock", {"advance_secs": 1000})
    expected = {"s3": "ExpiredToken", "sts": "ExpiredToken", "iam": "ExpiredToken", "kms": "ExpiredTokenException", "bedrock": "ExpiredTokenException"}
    ops = {
        "s3": ("ListObjectsV2", {"Bucket": ctx["bucket"]}),
        "sts": ("GetCallerIdentity", {}),
        "iam": ("GetRole", {"RoleName": "conf-any"}),
        "kms": ("DescribeKey", {"KeyId": ctx["hosting_key"]}),
        "bedrock": ("ListImportedModels", {}),
    }
    for service, (op, params) in ops.items():
        client = run.client(service, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        run.case(client, op, "expired-session", params, expect=expected[service])
