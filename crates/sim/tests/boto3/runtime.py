#!/usr/bin/env python3
"""bedrock-runtime on an imported model against a running ferry sim, with boto3.

A freshly imported model answers ModelNotReadyException (HTTP 429) while it loads, as Bedrock
does (re:Post knowledge center, "bedrock-imported-models-modelnotreadyexception"), then answers
InvokeModel (native and OpenAI chat-completion bodies) and Converse. Retries are off, so the
first answer is seen; botocore would otherwise retry ModelNotReadyException itself.

Usage: runtime.py ENV_FILE   (start the sim with a cold start, e.g. `--cold-start 2`)
Prints one line per check, then `N passed, N failed`; exits non-zero if any check failed.
"""

import json
import sys
import time
import uuid

sys.dont_write_bytecode = True  # importing walkthrough must not leave a __pycache__ in the tree

import boto3
import botocore.config
import botocore.exceptions

import walkthrough
from walkthrough import check, error_code, expect, read_env


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    env = read_env(sys.argv[1])
    endpoint, region = env["SIM_ENDPOINT"], env["REGION"]
    cfg = botocore.config.Config(retries={"max_attempts": 1})
    hosting = boto3.session.Session(
        aws_access_key_id=env["HOSTING_ADMIN_ACCESS_KEY_ID"],
        aws_secret_access_key=env["HOSTING_ADMIN_SECRET_ACCESS_KEY"],
        region_name=region,
    )
    importer = boto3.session.Session(
        aws_access_key_id=env["HOSTING_IMPORTER_ACCESS_KEY_ID"],
        aws_secret_access_key=env["HOSTING_IMPORTER_SECRET_ACCESS_KEY"],
        region_name=region,
    )
    bedrock = hosting.client("bedrock", endpoint_url=endpoint, config=cfg)
    runtime = hosting.client("bedrock-runtime", endpoint_url=endpoint, config=cfg)
    suffix = uuid.uuid4().hex[:8]

    def import_model():
        job = bedrock.create_model_import_job(
            jobName=f"rt-{suffix}",
            importedModelName=f"rt-model-{suffix}",
            roleArn=env["EXECUTION_ROLE_ARN"],
            modelDataSource={"s3DataSource": {"s3Uri": env["SAMPLE_MODEL_URI"]}},
        )["jobArn"]
        deadline = time.time() + 120
        while time.time() < deadline:
            out = bedrock.get_model_import_job(jobIdentifier=job)
            if out["status"] != "InProgress":
                expect(out["status"] == "Completed", out.get("failureMessage"))
                return out["importedModelArn"]
            time.sleep(0.2)
        raise AssertionError("job still InProgress after 120 s")

    model = check("import a model", import_model)
    if not model:
        print("0 passed, 1 failed")
        return 1
    native = json.dumps({"prompt": "alpha beta gamma", "max_gen_len": 8})

    def invoke(body=native):
        out = runtime.invoke_model(modelId=model, body=body, contentType="application/json", accept="application/json")
        expect(out["contentType"] == "application/json", out["contentType"])
        return json.loads(out["body"].read())

    def not_ready():
        code, msg, status = error_code(invoke)
        expect(code == "ModelNotReadyException" and status == 429, (code, status))
        expect(msg == "Model is not ready for inference. Wait and try your request again.", msg)
        return msg

    check("a freshly imported model answers ModelNotReadyException (429)", not_ready)

    def after_cold_start():
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                answer = invoke()
            except runtime.exceptions.ModelNotReadyException:
                time.sleep(0.25)
                continue
            expect(answer == {"generation": "gamma beta alpha", "prompt_token_count": 3,
                              "generation_token_count": 3, "stop_reason": "stop"}, answer)
            return answer["generation"]
        raise AssertionError("still not ready after 60 s")

    check("after the cold start InvokeModel answers (native body)", after_cold_start)

    def openai_chat():
        answer = invoke(json.dumps({"messages": [{"role": "user", "content": "hello world"}], "max_tokens": 4}))
        expect(answer["object"] == "chat.completion", answer)
        expect(answer["choices"][0]["message"]["content"] == "world hello", answer)
        expect(answer["usage"]["total_tokens"] == 4, answer["usage"])

    check("InvokeModel takes the OpenAI chat-completion body", openai_chat)

    def converse():
        out = runtime.converse(modelId=model, messages=[{"role": "user", "content": [{"text": "one two"}]}],
                               inferenceConfig={"maxTokens": 8})
        expect(out["output"]["message"]["content"][0]["text"] == "two one", out["output"])
        expect(out["stopReason"] == "end_turn" and out["usage"]["totalTokens"] == 4, out)

    check("Converse answers on a Llama import", converse)

    def denied():
        rt = importer.client("bedrock-runtime", endpoint_url=endpoint, config=cfg)
        code, msg, status = error_code(lambda: rt.invoke_model(modelId=model, body=native))
        expect(code == "AccessDeniedException" and status == 403 and "bedrock:InvokeModel" in msg, (code, msg))

    check("without bedrock:InvokeModel: AccessDeniedException", denied)
    check("delete the model", lambda: bedrock.delete_imported_model(modelIdentifier=model))

    print(f"{walkthrough.PASSED} passed, {walkthrough.FAILED} failed")
    return 0 if walkthrough.FAILED == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
