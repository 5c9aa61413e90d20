//! `POST /v1/imports`: submit an import request.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use ferry_domain::import::NewImport;
use ferry_store::imports;
use http::{HeaderMap, StatusCode, header};

use super::idempotency::Key;
use super::schema::{ImportCreate, ImportOut};
use super::{location, package};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::{AppState, Problem};

/// Submits an import request.
///
/// Every field is checked against Bedrock's own rules and the team's allowed
/// sources before anything is stored. A SageMaker model package ARN as `source`
/// is read at submit (`DescribeModelPackage`): it must be approved (where the
/// environment requires it) and keep its weights as an uncompressed S3 prefix,
/// which becomes the request's `source`; the package is kept as `model_package`. The request starts `queued`, or
/// `pending_approval` in environments that require approval.
///
/// Send an `Idempotency-Key` to retry safely: the same key with the same body
/// returns the first response again (with `Idempotent-Replayed: true`); the
/// same key with another body is refused. Keys are scoped to the caller and
/// remembered for 24 hours.
#[utoipa::path(
    post, path = "/v1/imports", tag = "imports",
    request_body = ImportCreate,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: 1 to 255 visible ASCII characters.",
         min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$"),
    ),
    responses(
        (status = 201, description = "Created (or replayed)", body = ImportOut,
         headers(("Location" = String, description = "URL of the new request"))),
        (status = 403, description = "The caller may not create requests for that team", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The model or job name is already in use in that environment", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field broke a rule (`validation_failed`; `errors` names each field and rule). Besides the rules of the schema, the configuration's: the environment and team must be configured (`unknown_environment`, `unknown_team`), the team allowed in the environment (`environment_not_allowed`), the source inside one of the team's sources (`source_not_allowed`); a caller without a team must name one (`required` at `/team`); tag keys must not start with `aws:` or `ferry:` (`tag.reserved`). A SageMaker model package as `source` is read at submit and refused at `/source` when Bedrock cannot import it: `model_package_arn` (malformed), `model_package.account_not_allowed`, `model_package.not_found`, `model_package.access_denied`, `model_package.not_approved`, `model_package.not_completed`, `model_package.no_s3_artifacts`, `model_package.compressed`, `model_package.not_a_prefix`, `model_package.unreadable`. The `Idempotency-Key` was used with another body: `idempotency_key_reused`.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "A SageMaker model package as `source` could not be read in time (SageMaker throttling, failing or silent); nothing was stored. Retry after `Retry-After` seconds.", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = String, description = "Seconds to wait before retrying"))),
    ),
)]
pub(super) async fn create_import(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ImportCreate>,
) -> Result<Response, ApiError> {
    let key = Key::from_request(&headers, &body)?;
    // A model package as the source is read before the transaction, not inside it.
    let mut draft = body.draft();
    if let Some(read) = draft.package_to_read(&caller.0, &state.catalog) {
        draft.package = Some(package::read(&state, &read).await?);
    }
    let validate = || -> Result<NewImport, ApiError> {
        let mut new = NewImport::from_draft(&draft, &caller.0, &state.catalog)?;
        new.traceparent = crate::trace::for_new_import(&headers);
        Ok(new)
    };
    let (new, out) = match key {
        // The request and its event are one statement, which commits on its own.
        None => {
            let new = validate()?;
            let mut conn = ferry_store::acquire(&state.pool).await?;
            let out = ImportOut::new(
                imports::insert(&mut conn, &new, &caller.0.id).await?,
                &caller,
            );
            (new, out)
        }
        // The key's answer is stored in the same transaction as the request,
        // and a replay answers as the first time did, before any check.
        Some(key) => {
            let mut tx = ferry_store::begin(&state.pool).await?;
            if let Some(replayed) = key.replay(&mut tx, &caller.0.id).await? {
                return Ok(replayed);
            }
            let new = validate()?;
            let out = ImportOut::new(imports::insert(&mut tx, &new, &caller.0.id).await?, &caller);
            key.remember(
                &mut tx,
                &caller.0.id,
                &out,
                new.id,
                state.settings.idempotency_ttl,
            )
            .await?;
            tx.commit().await?;
            (new, out)
        }
    };
    state.work.nudge();
    tracing::info!(import_id = %new.id, team = %new.team, environment = %new.environment, status = %new.status, "import request created");
    let mut res = (StatusCode::CREATED, Json(out)).into_response();
    res.headers_mut().insert(header::LOCATION, location(new.id));
    Ok(res)
}
