//! `deleting`: deleting the imported model in Bedrock (it bills storage
//! until deleted).

use ferry_cloud::CallError;
use ferry_domain::catalog::Environment;
use ferry_domain::condition::{Condition, ConditionStatus, ConditionType, Reason};
use ferry_domain::events::EventKind;
use ferry_domain::status::{Cause, Status};
use ferry_domain::update::{Changes, Event};
use ferry_store::imports::ImportRecord;

use super::{StepError, budget, change, refusal_message, release, retry_later, soon, write};
use crate::Ctx;

pub(super) async fn delete_model(
    ctx: &Ctx,
    record: &ImportRecord,
    env: &Environment,
) -> Result<(), StepError> {
    let Some(model_arn) = record.imported_model_arn.clone().filter(|a| !a.is_empty()) else {
        let message = "no imported model is recorded for this request".to_owned();
        let update = change(record)
            .to(Cause::DeleteFailed, Status::Completed)
            .condition(Condition::new(
                ConditionType::ModelDeleted,
                ConditionStatus::False,
                Reason::NoModel,
                message.clone(),
            ))
            .changes(Changes {
                release: true,
                ..Changes::default()
            })
            .event(Event::new(
                EventKind::DeleteFailed,
                serde_json::json!({ "message": message }),
            ));
        return write(ctx, record, update).await;
    };
    if !budget(ctx, env).await? {
        return release(ctx, record, Some(soon())).await;
    }
    let deleted = |detail: &str| {
        Condition::new(
            ConditionType::ModelDeleted,
            ConditionStatus::True,
            Reason::Deleted,
            format!("{model_arn} {detail}"),
        )
    };
    let (cause, to, condition, kind) =
        match ctx.cloud.delete_imported_model(&env.name, &model_arn).await {
            Ok(()) => (
                Cause::ModelDeleted,
                Status::Deleted,
                deleted("was deleted"),
                EventKind::ModelDeleted,
            ),
            // Already gone (deleted by hand, or a retry after a lost answer).
            Err(CallError::NotFound(_)) => (
                Cause::ModelDeleted,
                Status::Deleted,
                deleted("no longer exists"),
                EventKind::ModelDeleted,
            ),
            Err(e) if e.is_retryable() => {
                let c = Condition::new(
                    ConditionType::ModelDeleted,
                    ConditionStatus::Unknown,
                    Reason::Retrying,
                    format!("will retry: {e}"),
                );
                return retry_later(ctx, record, vec![c], None).await;
            }
            Err(e) => (
                Cause::DeleteFailed,
                Status::Completed,
                Condition::new(
                    ConditionType::ModelDeleted,
                    ConditionStatus::False,
                    Reason::DeleteRefused,
                    refusal_message(&e),
                ),
                EventKind::DeleteFailed,
            ),
        };
    let update = change(record)
        .to(cause, to)
        .condition(condition)
        .changes(Changes {
            release: true,
            retries: Some(0),
            ..Changes::default()
        })
        .event(Event::new(
            kind,
            serde_json::json!({ "model_arn": model_arn }),
        ));
    write(ctx, record, update).await
}
