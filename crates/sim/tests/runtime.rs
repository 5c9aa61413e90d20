//! bedrock-runtime on imported models, over plain SigV4-signed HTTP (the way every SDK signs
//! it: service `bedrock`, REST-JSON, `POST /model/{modelId}/invoke|converse` with the ARN
//! percent-encoded as one path label, per botocore's bedrock-runtime service model).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_bedrock::types::{ModelDataSource, ModelImportJobStatus, S3DataSource};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use common::*;
use ferry_sim::{RuntimeConfig, SimHandle};
use serde_json::{Value, json};

struct Reply {
    status: u16,
    error_type: Option<String>,
    content_type: Option<String>,
    body: Value,
}

/// Sends `body` to `/model/{model}/{action}` signed as `user`.
async fn call(sim: &SimHandle, user: &str, model: &str, action: &str, body: &Value) -> Reply {
    let p = sim.scenario().principal(user).expect("principal");
    const LABEL: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let label = percent_encoding::utf8_percent_encode(model, LABEL).to_string();
    let url = format!("{}/model/{label}/{action}", sim.endpoint());
    let host = sim.endpoint().trim_start_matches("http://").to_owned();
    let bytes = body.to_string().into_bytes();
    let identity: Identity = Credentials::new(
        p.access_key_id.clone(),
        p.secret_access_key.clone(),
        None,
        None,
        "test",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("bedrock")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/json"),
        ("accept", "application/json"),
    ];
    let signable = SignableRequest::new(
        "POST",
        url.clone(),
        headers.iter().copied(),
        SignableBody::Bytes(&bytes),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = reqwest::Client::new().post(&url).body(bytes.clone());
    for (k, v) in headers
        .iter()
        .skip(1)
        .copied()
        .chain(instructions.headers())
    {
        req = req.header(k, v);
    }
    let resp = req.send().await.expect("http");
    let status = resp.status().as_u16();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (error_type, content_type) = (header("x-amzn-errortype"), header("content-type"));
    let body = resp.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        error_type,
        content_type,
        body,
    }
}

/// Imports the sample model (or a copy with `config`) as hosting-admin; returns its ARN.
async fn import(sim: &SimHandle, name: &str, config: Option<Value>) -> String {
    let mut uri = env(sim, "SAMPLE_MODEL_URI");
    if let Some(config) = config {
        let s3 = s3(&config_for(sim, RESEARCH_ADMIN));
        let prefix = format!("models/{name}/");
        let mut files = ferry_sim::model::sample_llama();
        files.insert("config.json".into(), config.to_string().into_bytes());
        for (file, data) in files {
            s3.put_object()
                .bucket(env(sim, "ARTIFACT_BUCKET"))
                .key(format!("{prefix}{file}"))
                .body(data.into())
                .send()
                .await
                .expect("upload");
        }
        uri = format!("s3://{}/{prefix}", env(sim, "ARTIFACT_BUCKET"));
    }
    let client = bedrock(&config_for(sim, HOSTING_ADMIN));
    let job = client
        .create_model_import_job()
        .job_name(format!("job-{name}"))
        .imported_model_name(name)
        .role_arn(env(sim, "EXECUTION_ROLE_ARN"))
        .model_data_source(ModelDataSource::S3DataSource(
            S3DataSource::builder().s3_uri(uri).build().unwrap(),
        ))
        .send()
        .await
        .expect("create job")
        .job_arn()
        .to_owned();
    for _ in 0..400 {
        let out = client
            .get_model_import_job()
            .job_identifier(&job)
            .send()
            .await
            .unwrap();
        match out.status() {
            Some(ModelImportJobStatus::Completed) => {
                return out.imported_model_arn().unwrap().to_owned();
            }
            Some(ModelImportJobStatus::InProgress) => {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            other => panic!("job ended {other:?}: {:?}", out.failure_message()),
        }
    }
    panic!("job still running");
}

fn no_cold_start(sim: &SimHandle) {
    sim.runtime().set_config(RuntimeConfig {
        cold_start_ms: 0,
        idle_after_ms: None,
    });
}

#[tokio::test]
async fn a_fresh_import_is_not_ready_until_its_cold_start_ends_and_goes_cold_when_idle() {
    let sim = start().await;
    sim.runtime().set_config(RuntimeConfig {
        cold_start_ms: 60_000,
        idle_after_ms: Some(600_000),
    });
    let arn = import(&sim, "cold-model", None).await;
    let prompt = json!({"prompt": "one two three", "max_gen_len": 8});
    let r = call(&sim, HOSTING_ADMIN, &arn, "invoke", &prompt).await;
    assert_eq!(r.status, 429, "{:?}", r.body);
    assert_eq!(r.error_type.as_deref(), Some("ModelNotReadyException"));
    assert_eq!(
        r.body["message"],
        "Model is not ready for inference. Wait and try your request again."
    );
    // Converse waits for the same load.
    let conv = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]});
    assert_eq!(
        call(&sim, HOSTING_ADMIN, &arn, "converse", &conv)
            .await
            .status,
        429
    );

    sim.advance_clock(Duration::from_secs(61));
    let r = call(&sim, HOSTING_ADMIN, &arn, "invoke", &prompt).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        r.body,
        json!({"generation": "three two one", "prompt_token_count": 3,
               "generation_token_count": 3, "stop_reason": "stop"})
    );

    // Eleven idle minutes later the model was evicted: loading again.
    sim.advance_clock(Duration::from_secs(660));
    assert_eq!(
        call(&sim, HOSTING_ADMIN, &arn, "invoke", &prompt)
            .await
            .status,
        429
    );
    sim.advance_clock(Duration::from_secs(61));
    assert_eq!(
        call(&sim, HOSTING_ADMIN, &arn, "invoke", &prompt)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn invoke_answers_each_body_format_deterministically() {
    let sim = start().await;
    no_cold_start(&sim);
    let arn = import(&sim, "llama-formats", None).await;

    let r = call(
        &sim,
        HOSTING_ADMIN,
        &arn,
        "invoke",
        &json!({"prompt": "a b c d", "max_gen_len": 2}),
    )
    .await;
    assert_eq!(r.body["generation"], "d c");
    assert_eq!(r.body["stop_reason"], "length");

    let r = call(
        &sim,
        HOSTING_ADMIN,
        &arn,
        "invoke",
        &json!({"prompt": "a b", "max_tokens": 5}),
    )
    .await;
    assert_eq!(r.body["object"], "text_completion");
    assert_eq!(r.body["choices"][0]["text"], "b a");
    assert_eq!(
        r.body["usage"],
        json!({"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4})
    );

    let chat = json!({"messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there"}
    ], "max_tokens": 10});
    let r = call(&sim, HOSTING_ADMIN, &arn, "invoke", &chat).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["object"], "chat.completion");
    assert_eq!(
        r.body["choices"][0]["message"],
        json!({"role": "assistant", "content": "there hello"})
    );
    assert_eq!(r.body["choices"][0]["finish_reason"], "stop");
    assert_eq!(r.body["usage"]["prompt_tokens"], 4);
    // Same prompt, same answer.
    let again = call(&sim, HOSTING_ADMIN, &arn, "invoke", &chat).await;
    assert_eq!(again.body["id"], r.body["id"]);

    let r = call(&sim, HOSTING_ADMIN, &arn, "invoke", &json!({"input": "x"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type.as_deref(), Some("ValidationException"));
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Malformed input request")
    );

    let conv = json!({"system": [{"text": "terse"}],
        "messages": [{"role": "user", "content": [{"text": "x y z"}]}],
        "inferenceConfig": {"maxTokens": 2}});
    let r = call(&sim, HOSTING_ADMIN, &arn, "converse", &conv).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["output"]["message"]["content"][0]["text"], "z y");
    assert_eq!(r.body["stopReason"], "max_tokens");
    assert_eq!(
        r.body["usage"],
        json!({"inputTokens": 4, "outputTokens": 2, "totalTokens": 6})
    );
    assert!(r.body["metrics"]["latencyMs"].is_u64());
}

#[tokio::test]
async fn converse_is_refused_for_families_that_do_not_support_it() {
    let sim = start().await;
    no_cold_start(&sim);
    let qwen3 = import(
        &sim,
        "qwen3-model",
        Some(json!({"model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"]})),
    )
    .await;
    let conv = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]});
    let r = call(&sim, HOSTING_ADMIN, &qwen3, "converse", &conv).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.error_type.as_deref(), Some("ValidationException"));
    assert_eq!(
        r.body["message"],
        "This action doesn't support the model that you provided. Try again with a supported text or chat model."
    );
    // InvokeModel still answers, natively and with the OpenAI chat body.
    let r = call(
        &sim,
        HOSTING_ADMIN,
        &qwen3,
        "invoke",
        &json!({"prompt": "hi"}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let chat = json!({"messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        call(&sim, HOSTING_ADMIN, &qwen3, "invoke", &chat)
            .await
            .status,
        200
    );

    // GPT-OSS takes the OpenAI-compatible bodies only.
    let oss = import(
        &sim,
        "gpt-oss-model",
        Some(json!({"model_type": "gpt_oss", "architectures": ["GptOssForCausalLM"]})),
    )
    .await;
    assert_eq!(
        call(&sim, HOSTING_ADMIN, &oss, "converse", &conv)
            .await
            .status,
        400
    );
    let r = call(
        &sim,
        HOSTING_ADMIN,
        &oss,
        "invoke",
        &json!({"prompt": "hi", "max_gen_len": 4}),
    )
    .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(
        call(&sim, HOSTING_ADMIN, &oss, "invoke", &chat)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn invocation_is_authorized_as_bedrock_invoke_model() {
    let sim = start().await;
    no_cold_start(&sim);
    let arn = import(&sim, "private-model", None).await;
    let body = json!({"prompt": "hi"});
    // hosting-importer may import but not invoke; Converse needs bedrock:InvokeModel too.
    for action in ["invoke", "converse"] {
        let r = call(&sim, HOSTING_IMPORTER, &arn, action, &body).await;
        assert_eq!(r.status, 403, "{action}: {:?}", r.body);
        assert_eq!(r.error_type.as_deref(), Some("AccessDeniedException"));
        let msg = r.body["message"].as_str().unwrap();
        assert!(
            msg.contains("bedrock:InvokeModel") && msg.contains(&arn),
            "{msg}"
        );
    }
    // An unknown model in the caller's account.
    let missing = arn.rsplit_once('/').unwrap().0.to_owned() + "/zzzzzzzzzzzz";
    let r = call(&sim, HOSTING_ADMIN, &missing, "invoke", &body).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        "The provided model identifier is invalid."
    );
    // Unsigned requests are refused as Bedrock refuses them.
    let r = reqwest::Client::new()
        .post(format!("{}/model/x/invoke", sim.endpoint()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.headers().get("x-amzn-errortype").unwrap(),
        "MissingAuthenticationTokenException"
    );
}

#[tokio::test]
async fn the_runtime_is_configurable_over_http() {
    let sim = start().await;
    let url = format!("{}/_sim/runtime", sim.endpoint());
    let got: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(got, json!({"cold_start_ms": 2000, "idle_after_ms": 300000}));
    let set: Value = reqwest::Client::new()
        .post(&url)
        .body(r#"{"cold_start_ms": 5, "idle_after_ms": null}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set, json!({"cold_start_ms": 5, "idle_after_ms": null}));
    assert_eq!(
        sim.runtime().config(),
        RuntimeConfig {
            cold_start_ms: 5,
            idle_after_ms: None
        }
    );
}
