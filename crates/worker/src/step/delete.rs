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
    // A request that completed by reference to another's model holds no model of its own:
    // deleting it drops the reference, and the model stays with the request that imported it.
    if let Some(owner) = record.reused_from {
        let message = format!(
            "{model_arn} belongs to request {owner}, which imported it; this request's reference to it was dropped and the model was left in place"
        );
        return finish(
            ctx,
            record,
            (
                Cause::ModelDeleted,
                Status::Deleted,
                EventKind::ModelDeleted,
            ),
            Condition::new(
                ConditionType::ModelDeleted,
                ConditionStatus::True,
                Reason::Deleted,
                message,
            ),
            &model_arn,
        )
        .await;
    }
    // A model other requests still use by reference is not deleted from under them.
    let users = {
        let mut conn = ferry_store::acquire(&ctx.pool).await?;
        ferry_store::work::references(&mut conn, record.id).await?
    };
    if !users.is_empty() {
        let ids: Vec<String> = users.iter().map(ToString::to_string).collect();
        let message = format!(
            "{model_arn} is also the model of request(s) {} (the same artifact, reused); delete their models first, then this one",
            ids.join(", ")
        );
        return finish(
            ctx,
            record,
            (
                Cause::DeleteFailed,
                Status::Completed,
                EventKind::DeleteFailed,
            ),
            Condition::new(
                ConditionType::ModelDeleted,
                ConditionStatus::False,
                Reason::DeleteRefused,
                message,
            ),
            &model_arn,
        )
        .await;
    }
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
    finish(ctx, record, (cause, to, kind), condition, &model_arn).await
}

/// Ends the deletion: `to` for `cause`, with `condition` and an event of `kind`.
async fn finish(
    ctx: &Ctx,
    record: &ImportRecord,
    (cause, to, kind): (Cause, Status, EventKind),
    condition: Condition,
    model_arn: &str,
) -> Result<(), StepError> {
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
