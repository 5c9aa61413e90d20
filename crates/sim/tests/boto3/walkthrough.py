#!/usr/bin/env python3
"""Walk the cross-account import chain against a running ferry sim with boto3.

An independent client for the sim: botocore's own signer, serializers and parsers.

Usage: walkthrough.py ENV_FILE
  ENV_FILE is what `ferry sim --env-file ENV_FILE` (or the crate's `sim` example) writes.
Prints one line per check, then `N passed, N failed`; exits non-zero if any check failed.
"""

import json
import sys
import time
import uuid

import boto3
import botocore.config
import botocore.exceptions

PASSED = 0
FAILED = 0


def check(name, fn):
    """Runs one check; a check passes when fn returns without raising."""
    global PASSED, FAILED
    try:
        detail = fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the walk
        FAILED += 1
        print(f"FAIL {name}: {type(e).__name__}: {e}")
        return None
    PASSED += 1
    print(f"ok   {name}" + (f" ({detail})" if isinstance(detail, str) else ""))
    return detail


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def error_code(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"].get("Message", ""), e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("call succeeded but should have failed")


def read_env(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    env = read_env(sys.argv[1])
    endpoint, region = env["SIM_ENDPOINT"], env["REGION"]
    role_arn, uri = env["EXECUTION_ROLE_ARN"], env["SAMPLE_MODEL_URI"]
    bucket, prefix = uri[len("s3://"):].split("/", 1)
    role_name = role_arn.split("/")[-1]
    cfg = botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})

    def session(key_id, secret, token=None):
        return boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token, region_name=region)

    def client(sess, service):
        return sess.client(service, endpoint_url=endpoint, config=cfg)

    research = session(env["RESEARCH_ADMIN_ACCESS_KEY_ID"], env["RESEARCH_ADMIN_SECRET_ACCESS_KEY"])
    hosting = session(env["HOSTING_ADMIN_ACCESS_KEY_ID"], env["HOSTING_ADMIN_SECRET_ACCESS_KEY"])
    suffix = uuid.uuid4().hex[:8]

    me = check("sts get-caller-identity (hosting admin)", lambda: client(hosting, "sts").get_caller_identity())
    if me:
        check("caller is the hosting account", lambda: expect(me["Account"] == role_arn.split(":")[4], me))

    def allow_me_in_trust():
        iam = client(hosting, "iam")
        doc = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
        if isinstance(doc, str):
            doc = json.loads(doc)
        stmts = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
        if not any(s.get("Sid") == "Troubleshooting" for s in stmts):
            stmts.append({"Sid": "Troubleshooting", "Effect": "Allow", "Principal": {"AWS": me["Arn"]}, "Action": "sts:AssumeRole"})
        doc["Statement"] = stmts
        iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(doc))
        return f"{len(stmts)} statements"

    check("iam update-assume-role-policy (walkthrough troubleshooting step 2)", allow_me_in_trust)

    creds = check(
        "sts assume-role into the execution role",
        lambda: client(hosting, "sts").assume_role(RoleArn=role_arn, RoleSessionName="boto3-walkthrough", DurationSeconds=900)["Credentials"],
    )
    if creds:
        role = session(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        who = check("sts get-caller-identity (role session)", lambda: client(role, "sts").get_caller_identity()["Arn"])
        check("session ARN is the assumed role", lambda: expect(who and f"assumed-role/{role_name}/boto3-walkthrough" in who, who))
        s3r = client(role, "s3")

        def listing():
            out = s3r.list_objects_v2(Bucket=bucket, Prefix=prefix)
            keys = [o["Key"] for o in out.get("Contents", [])]
            expect(f"{prefix}config.json" in keys and f"{prefix}model.safetensors" in keys, keys)
            return f"{len(keys)} objects"

        check("s3 list-objects-v2 on the prefix as the role", listing)

        def paged():
            pages = list(s3r.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": 2}))
            expect(len(pages) >= 3, f"{len(pages)} pages")
            return f"{len(pages)} pages of 2"

        check("s3 list-objects-v2 pagination", paged)

        def read_config():
            obj = s3r.get_object(Bucket=bucket, Key=f"{prefix}config.json")
            expect(obj.get("ServerSideEncryption") == "aws:kms", obj.get("ServerSideEncryption"))
            cfgj = json.loads(obj["Body"].read())
            expect(cfgj["model_type"] == "llama", cfgj)
            return cfgj["architectures"][0]

        check("s3 get-object config.json (SSE-KMS, decrypted with the research key)", read_config)

        def safetensors_header():
            head = s3r.get_object(Bucket=bucket, Key=f"{prefix}model.safetensors", Range="bytes=0-7")["Body"].read()
            n = int.from_bytes(head, "little")
            raw = s3r.get_object(Bucket=bucket, Key=f"{prefix}model.safetensors", Range=f"bytes=8-{7 + n}")["Body"].read()
            header = json.loads(raw)
            tensors = [k for k in header if k != "__metadata__"]
            expect(tensors, header)
            return f"{len(tensors)} tensors"

        check("s3 ranged get of the safetensors header", safetensors_header)
        check("kms describe-key on the research key as the role", lambda: client(role, "kms").describe_key(KeyId=env["RESEARCH_KMS_KEY_ARN"])["KeyMetadata"]["KeyId"])

    def put_and_get():
        s3 = client(research, "s3")
        s3.put_object(Bucket=bucket, Key=f"scratch/boto3-{suffix}.txt", Body=b"hello from boto3")
        body = s3.get_object(Bucket=bucket, Key=f"scratch/boto3-{suffix}.txt")["Body"].read()
        expect(body == b"hello from boto3", body)

    check("s3 put-object/get-object round trip (botocore checksums)", put_and_get)

    def odd_keys():
        s3 = client(research, "s3")
        keys = [f"scratch/{suffix}/with space.txt", f"scratch/{suffix}/ünï+c=d&e.json"]
        for k in keys:
            s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
            expect(s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode(), k)
        listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"scratch/{suffix}/")["Contents"])
        expect(listed == sorted(keys), listed)

    check("s3 keys with spaces, unicode and reserved characters (encoding-type=url listing)", odd_keys)

    def multipart():
        import boto3.s3.transfer
        import os
        import tempfile
        s3 = client(research, "s3")
        data = os.urandom(6 * 1024 * 1024)
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            cfg5 = boto3.s3.transfer.TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
            s3.upload_file(f.name, bucket, f"scratch/{suffix}/multipart.bin", Config=cfg5)
        got = s3.get_object(Bucket=bucket, Key=f"scratch/{suffix}/multipart.bin")
        expect(got["Body"].read() == data, "content differs")
        return got["ETag"]

    check("s3 multipart upload (upload_file)", multipart)

    bedrock = client(hosting, "bedrock")
    job_name, model_name, token = f"boto3-{suffix}", f"boto3-model-{suffix}", f"boto3-{suffix}"

    def create():
        return bedrock.create_model_import_job(
            jobName=job_name,
            importedModelName=model_name,
            roleArn=role_arn,
            modelDataSource={"s3DataSource": {"s3Uri": uri}},
            importedModelKmsKeyId=env["HOSTING_KMS_KEY_ARN"],
            clientRequestToken=token,
        )["jobArn"]

    job = check("bedrock create-model-import-job", create)
    if job:
        check("create is idempotent with the same clientRequestToken", lambda: expect(create() == job, "different job"))

        def poll():
            deadline = time.time() + 120
            while time.time() < deadline:
                out = bedrock.get_model_import_job(jobIdentifier=job)
                if out["status"] != "InProgress":
                    expect(out["status"] == "Completed", out.get("failureMessage"))
                    return out["importedModelArn"]
                time.sleep(0.5)
            raise AssertionError("job still InProgress after 120 s")

        model_arn = check("import job completes", poll)
        if model_arn:
            check("get-imported-model", lambda: expect(bedrock.get_imported_model(modelIdentifier=model_arn)["modelArchitecture"] == "llama", "architecture"))
            check(
                "list-model-import-jobs statusEquals=Completed",
                lambda: expect(any(j["jobArn"] == job for j in bedrock.list_model_import_jobs(statusEquals="Completed")["modelImportJobSummaries"]), "job not listed"),
            )
            check("delete-imported-model", lambda: bedrock.delete_imported_model(modelIdentifier=model_arn))

    def conflict():
        # AWS: ValidationException "The provided job name is currently in use."
        # (aws/sagemaker-python-sdk PR 6076), not ConflictException.
        code, msg, status = error_code(lambda: bedrock.create_model_import_job(
            jobName=job_name, importedModelName=f"other-{suffix}", roleArn=role_arn, modelDataSource={"s3DataSource": {"s3Uri": uri}}))
        expect(code == "ValidationException" and status == 400 and "job name is currently in use" in msg, (code, msg, status))

    check("reused job name is a ValidationException", conflict)

    def validation():
        code, msg, _ = error_code(lambda: bedrock.create_model_import_job(
            jobName=f"v-{suffix}", importedModelName="bad..name", roleArn=role_arn, modelDataSource={"s3DataSource": {"s3Uri": uri}}))
        expect(code == "ValidationException" and "importedModelName" in msg, (code, msg))

    check("invalid importedModelName is a ValidationException", validation)

    def bad_signature():
        bad = session(env["HOSTING_ADMIN_ACCESS_KEY_ID"], "wrong-secret")
        code, _, status = error_code(lambda: client(bad, "sts").get_caller_identity())
        expect(code == "SignatureDoesNotMatch" and status == 403, (code, status))
        code, _, _ = error_code(lambda: client(bad, "s3").list_objects_v2(Bucket=bucket))
        expect(code == "SignatureDoesNotMatch", code)

    check("a wrong signature is rejected", bad_signature)

    def broken_bucket_policy():
        s3 = client(research, "s3")
        saved = s3.get_bucket_policy(Bucket=bucket)["Policy"]
        s3.delete_bucket_policy(Bucket=bucket)
        try:
            if creds:
                code, msg, status = error_code(lambda: s3r.list_objects_v2(Bucket=bucket, Prefix=prefix))
                expect(code == "AccessDenied" and status == 403 and "s3:ListBucket" in msg, (code, msg))
            failing = bedrock.create_model_import_job(
                jobName=f"broken-{suffix}", importedModelName=f"broken-{suffix}", roleArn=role_arn, modelDataSource={"s3DataSource": {"s3Uri": uri}})["jobArn"]
            deadline = time.time() + 120
            while time.time() < deadline:
                out = bedrock.get_model_import_job(jobIdentifier=failing)
                if out["status"] != "InProgress":
                    break
                time.sleep(0.5)
            expect(out["status"] == "Failed", out["status"])
            expect(f"arn:aws:s3:::{bucket}" in out["failureMessage"], out["failureMessage"])
            return out["failureMessage"][:80] + "..."
        finally:
            s3.put_bucket_policy(Bucket=bucket, Policy=saved)

    check("without the bucket policy: AccessDenied and a Failed job naming the bucket", broken_bucket_policy)

    print(f"{PASSED} passed, {FAILED} failed")
    return 0 if FAILED == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
