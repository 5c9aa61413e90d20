#!/usr/bin/env python3
"""SageMaker Model Registry against a running ferry sim, with boto3.

The research account registers a model version in a model package group, approves it and
shares the group with the hosting account through the group's resource policy
(PutModelPackageGroupPolicy); the hosting account then reads the package across accounts
(DescribeModelPackage), as Ferry does at submit. An unshared group is denied.

Usage: registry.py ENV_FILE
Prints one line per check, then `N passed, N failed`; exits non-zero if any check failed.
"""

import json
import sys
import uuid

sys.dont_write_bytecode = True  # importing walkthrough must not leave a __pycache__ in the tree

import boto3
import botocore.config

import walkthrough
from walkthrough import check, error_code, expect, read_env


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    env = read_env(sys.argv[1])
    endpoint, region = env["SIM_ENDPOINT"], env["REGION"]
    research, hosting = env["RESEARCH_ACCOUNT_ID"], env["HOSTING_ACCOUNT_ID"]
    cfg = botocore.config.Config(retries={"max_attempts": 1})

    def client(who):
        p = who.upper().replace("-", "_")
        return boto3.session.Session(
            aws_access_key_id=env[f"{p}_ACCESS_KEY_ID"],
            aws_secret_access_key=env[f"{p}_SECRET_ACCESS_KEY"],
            region_name=region,
        ).client("sagemaker", endpoint_url=endpoint, config=cfg)

    sm = client("research-admin")
    host = client("hosting-admin")
    group = f"boto3-{uuid.uuid4().hex[:8]}"
    spec = {"Containers": [{
        "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.29.0-lmi11.0.0-cu124",
        "ModelDataSource": {"S3DataSource": {"S3Uri": env["SAMPLE_MODEL_URI"], "S3DataType": "S3Prefix", "CompressionType": "None"}},
    }]}
    state = {}

    def register():
        sm.create_model_package_group(ModelPackageGroupName=group)
        out = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec)
        state["arn"] = out["ModelPackageArn"]
        expect(state["arn"] == f"arn:aws:sagemaker:{region}:{research}:model-package/{group}/1", state["arn"])
        d = sm.describe_model_package(ModelPackageName=state["arn"])
        expect(d["ModelApprovalStatus"] == "PendingManualApproval" and d["ModelPackageVersion"] == 1, d)

    check("a version is registered PendingManualApproval", register)

    def approve():
        sm.update_model_package(ModelPackageArn=state["arn"], ModelApprovalStatus="Approved")
        d = sm.describe_model_package(ModelPackageName=state["arn"])
        expect(d["ModelApprovalStatus"] == "Approved", d)
        src = d["InferenceSpecification"]["Containers"][0]["ModelDataSource"]["S3DataSource"]
        expect(src["S3Uri"] == env["SAMPLE_MODEL_URI"] and src["CompressionType"] == "None", src)

    check("UpdateModelPackage approves it", approve)

    def unshared():
        code, _, status = error_code(lambda: host.describe_model_package(ModelPackageName=state["arn"]))
        expect(code == "AccessDeniedException" and status == 400, (code, status))

    check("another account is denied before the group is shared", unshared)

    def shared():
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{hosting}:root"},
            "Action": "sagemaker:DescribeModelPackage",
            "Resource": f"arn:aws:sagemaker:{region}:{research}:model-package/{group}/*"}]}
        sm.put_model_package_group_policy(ModelPackageGroupName=group, ResourcePolicy=json.dumps(policy))
        d = host.describe_model_package(ModelPackageName=state["arn"])
        expect(d["ModelPackageGroupName"] == group and d["ModelPackageStatus"] == "Completed", d)

    check("the group's policy shares it with the hosting account", shared)

    def missing():
        code, msg, _ = error_code(lambda: sm.describe_model_package(ModelPackageName=f"{group}/9"))
        expect(code == "ValidationException" and "does not exist" in msg, (code, msg))

    check("an unknown version is a ValidationException", missing)

    print(f"{walkthrough.PASSED} passed, {walkthrough.FAILED} failed")
    return 0 if walkthrough.FAILED == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
