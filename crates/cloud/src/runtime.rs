//! bedrock-runtime calls on imported models, as the environment's control role: the readiness
//! check's `InvokeModel` and `Converse` (botocore's `bedrock-runtime/2023-09-30` service model:
//! `POST /model/{modelId}/invoke` with the body as the payload and `contentType`/`accept` as
//! headers; `POST /model/{modelId}/converse` with `messages` and `inferenceConfig`).
//!
//! The runtime client makes one attempt per call: `ModelNotReadyException` (a 429 the service
//! model says SDKs retry) and throttling come back to the worker, which reschedules with its
//! own backoff instead of holding a step for the SDK's retries.

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message,
};
use ferry_domain::names::EnvironmentName;

use crate::error::{CallError, map_bedrock_error};
use crate::{Cloud, EnvironmentClients};

/// What an invocation answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The answer's text (`generation`, `choices[0].message.content`, `choices[0].text`, or
    /// Converse's first text block), when Ferry found one.
    pub text: Option<String>,
    /// The response's `Content-Type` (InvokeModel only).
    pub content_type: Option<String>,
}

/// The text of an `InvokeModel` answer in one of the formats imported models answer in.
fn answer_text(body: &serde_json::Value) -> Option<String> {
    body.get("generation")
        .or_else(|| body.pointer("/choices/0/message/content"))
        .or_else(|| body.pointer("/choices/0/text"))
        .or_else(|| body.pointer("/outputs/0/text"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

impl Cloud {
    fn map_runtime<E>(
        clients: &EnvironmentClients,
    ) -> impl FnOnce(
        aws_sdk_bedrockruntime::error::SdkError<
            E,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    ) -> CallError
    where
        E: aws_sdk_bedrockruntime::error::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
    {
        let caller = clients.target.control_role.to_string();
        let account = clients.target.account.to_string();
        move |e| map_bedrock_error(e, &caller, &account)
    }

    /// `InvokeModel` on `model_arn` with the JSON `body` (`application/json` both ways).
    #[tracing::instrument(skip_all, fields(env = %env, op = "InvokeModel"), err)]
    pub async fn invoke_model(
        &self,
        env: &EnvironmentName,
        model_arn: &str,
        body: &serde_json::Value,
    ) -> Result<Invocation, CallError> {
        let clients = self.clients(env)?;
        let bytes =
            serde_json::to_vec(body).map_err(|e| CallError::Validation(format!("body: {e}")))?;
        let out = clients
            .call(|| {
                clients
                    .runtime
                    .invoke_model()
                    .model_id(model_arn)
                    .content_type("application/json")
                    .accept("application/json")
                    .body(Blob::new(bytes.clone()))
                    .send()
            })
            .await
            .map_err(Self::map_runtime(clients))?;
        let answer: Option<serde_json::Value> = serde_json::from_slice(out.body().as_ref()).ok();
        Ok(Invocation {
            text: answer.as_ref().and_then(answer_text),
            content_type: Some(out.content_type().to_owned()),
        })
    }

    /// `Converse` on `model_arn`: one user message `text`, at most `max_tokens` back.
    #[tracing::instrument(skip_all, fields(env = %env, op = "Converse"), err)]
    pub async fn converse(
        &self,
        env: &EnvironmentName,
        model_arn: &str,
        text: &str,
        max_tokens: u32,
    ) -> Result<Invocation, CallError> {
        let clients = self.clients(env)?;
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(text.to_owned()))
            .build()
            .map_err(|e| CallError::Validation(format!("messages: {e}")))?;
        let config = InferenceConfiguration::builder()
            .max_tokens(i32::try_from(max_tokens).unwrap_or(i32::MAX))
            .build();
        let out = clients
            .call(|| {
                clients
                    .runtime
                    .converse()
                    .model_id(model_arn)
                    .messages(message.clone())
                    .inference_config(config.clone())
                    .send()
            })
            .await
            .map_err(Self::map_runtime(clients))?;
        let text = out
            .output()
            .and_then(|o| o.as_message().ok())
            .and_then(|m| m.content().iter().find_map(|c| c.as_text().ok()))
            .cloned();
        Ok(Invocation {
            text,
            content_type: None,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::answer_text;

    #[test]
    fn the_answer_is_found_in_each_format() {
        let native = serde_json::json!({"generation": "ready", "stop_reason": "stop"});
        let chat = serde_json::json!({"choices": [{"message": {"role": "assistant", "content": "ready"}}]});
        let completion = serde_json::json!({"choices": [{"text": "ready"}]});
        for v in [native, chat, completion] {
            assert_eq!(answer_text(&v).as_deref(), Some("ready"), "{v}");
        }
        assert_eq!(answer_text(&serde_json::json!({"other": 1})), None);
    }
}
