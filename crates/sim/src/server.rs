//! The HTTP front door: buffers the request, authenticates it (SigV4), routes it by the signing
//! service name to the service module, and serves the `/_sim/` admin endpoints.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State as AxState};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use ferry_policy::iam::{self, PolicyDocument, Principal, RequestContext, ResourcePolicyMode};

use crate::faults::{Faults, Injected};
use crate::scenario::ScenarioInfo;
use crate::sigv4::{self, AuthHeader, SigError};
use crate::state::{Clock, State};
use crate::wire::{Service, SimError, SimRequest, SimResult, access_denied, json_response};

/// Largest request body accepted (S3 PutObject of a model shard in tests).
const MAX_BODY: usize = 1 << 30;

/// Shared server context.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) state: Mutex<State>,
    pub(crate) faults: Arc<Faults>,
    pub(crate) clock: Clock,
    pub(crate) region: String,
    pub(crate) info: Mutex<Option<ScenarioInfo>>,
    /// bedrock-runtime: cold starts and their configuration.
    pub(crate) runtime: crate::runtime::Runtime,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) principal: Principal,
    pub(crate) user_id: String,
}

impl Caller {
    pub(crate) fn account(&self) -> &str {
        self.principal.account().unwrap_or_default()
    }
}

impl Ctx {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies injected faults for `service:op`.
    pub(crate) async fn gate(&self, service: Service, op: &str) -> SimResult<()> {
        match self.faults.before(service.name(), op).await {
            Injected::None => Ok(()),
            Injected::Throttle => Err(match service {
                Service::Bedrock => SimError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "ThrottlingException",
                    "Too many requests, please wait before trying again.",
                ),
                Service::S3 => SimError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SlowDown",
                    "Please reduce your request rate.",
                ),
                Service::Kms => SimError::new(
                    StatusCode::BAD_REQUEST,
                    "ThrottlingException",
                    "Rate exceeded",
                ),
                // CloudWatch's Query-protocol throttling code (awsQueryCompatible).
                Service::CloudWatch => {
                    SimError::new(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded")
                }
                // The error GetServiceQuota's model declares for throttling.
                Service::Quotas => SimError::new(
                    StatusCode::BAD_REQUEST,
                    "TooManyRequestsException",
                    "Rate exceeded",
                ),
                // SageMaker's JSON errors: `ThrottlingException` (the SDK's throttling list).
                Service::SageMaker => SimError::new(
                    StatusCode::BAD_REQUEST,
                    "ThrottlingException",
                    "Rate exceeded",
                ),
                Service::Sts | Service::Iam => {
                    SimError::new(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded")
                }
            }),
            Injected::ServerError => Err(match service {
                Service::Bedrock => SimError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerException",
                    "An internal server error occurred. Retry your request.",
                ),
                Service::S3 => SimError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                ),
                Service::Kms => SimError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "KMSInternalException",
                    "An internal error occurred.",
                ),
                Service::Quotas => SimError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ServiceException",
                    "Something went wrong.",
                ),
                // The model's InternalServiceFault (Query code InternalServiceError).
                Service::CloudWatch => SimError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServiceFault",
                    "Internal service error.",
                ),
                Service::Sts | Service::Iam | Service::SageMaker => SimError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalFailure",
                    "An internal error occurred.",
                ),
            }),
        }
    }
}

/// One call of an AWS JSON 1.0/1.1 service: the operation named by `X-Amz-Target`
/// (`<prefix>.<Operation>`) and the JSON body (`{}` when empty).
#[derive(Debug)]
pub(crate) struct JsonRpc {
    pub(crate) op: String,
    pub(crate) body: serde_json::Value,
}

/// The awsJson prelude every JSON service shares: reads the operation from `X-Amz-Target`
/// after `prefix` and the dot, applies injected faults for it, and parses the body (bad JSON is
/// `SerializationException`, as the services answer).
pub(crate) async fn json_rpc(
    ctx: &Ctx,
    req: &SimRequest,
    service: Service,
    prefix: &str,
) -> SimResult<JsonRpc> {
    let target = req.header("x-amz-target").unwrap_or_default();
    let op = target
        .strip_prefix(prefix)
        .and_then(|t| t.strip_prefix('.'))
        .unwrap_or(target)
        .to_owned();
    ctx.gate(service, &op).await?;
    let body = if req.body.is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_slice(&req.body).map_err(|e| {
            SimError::new(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                e.to_string(),
            )
        })?
    };
    Ok(JsonRpc { op, body })
}

/// Decides `rctx` with the caller's identity policies and `resource_policy`; renders AWS's
/// AccessDenied for `service` on denial.
pub(crate) fn authorize(
    state: &State,
    service: Service,
    rctx: &RequestContext,
    resource_policy: Option<&PolicyDocument>,
    mode: ResourcePolicyMode,
) -> SimResult<()> {
    let identity = state.identity_policies(&rctx.principal);
    let decision = iam::authorize(rctx, &identity, resource_policy, mode);
    match decision.message(rctx) {
        None => Ok(()),
        Some(msg) => {
            tracing::debug!(action = %rctx.action, resource = %rctx.resource, "denied: {msg}");
            Err(access_denied(service, msg))
        }
    }
}

fn guess_service(req: &SimRequest) -> Service {
    if let Some(auth) = req.header("authorization").and_then(AuthHeader::parse)
        && let Some(s) = Service::from_signing_name(&auth.service)
    {
        return s;
    }
    if req
        .header("x-amz-target")
        .is_some_and(|t| t.starts_with("TrentService"))
    {
        Service::Kms
    } else if req
        .header("x-amz-target")
        .is_some_and(|t| t.starts_with("ServiceQuotasV20190624"))
    {
        Service::Quotas
    } else if req
        .header("x-amz-target")
        .is_some_and(|t| t.starts_with(crate::cloudwatch::TARGET_PREFIX))
    {
        Service::CloudWatch
    } else if req
        .header("x-amz-target")
        .is_some_and(|t| t.starts_with("SageMaker."))
    {
        Service::SageMaker
    } else if req.path.starts_with("/model-import-jobs")
        || req.path.starts_with("/imported-models")
        || crate::runtime::is_runtime_path(&req.path)
    {
        Service::Bedrock
    } else if req.method == Method::POST && req.path == "/" {
        let form = req.form();
        let action = form
            .iter()
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v.as_str());
        if matches!(action, Some("AssumeRole" | "GetCallerIdentity")) {
            Service::Sts
        } else {
            Service::Iam
        }
    } else {
        Service::S3
    }
}

fn authenticate(ctx: &Ctx, req: &SimRequest) -> SimResult<(Service, Caller)> {
    let service = guess_service(req);
    let Some(raw) = req.header("authorization") else {
        return Err(match service {
            Service::S3 => SimError::new(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Anonymous access is not allowed by ferry-sim",
            ),
            Service::Kms | Service::Bedrock | Service::Quotas | Service::CloudWatch | Service::SageMaker => {
                SimError::new(
                    StatusCode::BAD_REQUEST,
                    "MissingAuthenticationTokenException",
                    "Missing Authentication Token",
                )
            }
            Service::Sts | Service::Iam => SimError::new(
                StatusCode::FORBIDDEN,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            ),
        });
    };
    let auth = AuthHeader::parse(raw).ok_or_else(|| {
        SimError::new(
            StatusCode::BAD_REQUEST,
            if service == Service::S3 {
                "AuthorizationHeaderMalformed"
            } else {
                "IncompleteSignature"
            },
            "The authorization header is malformed",
        )
    })?;
    if Service::from_signing_name(&auth.service).is_none() {
        return Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!("ferry-sim does not implement the {} service", auth.service),
        ));
    }
    let cred = ctx.state().credentials.get(&auth.access_key_id).cloned();
    let Some(cred) = cred else {
        return Err(match service {
            Service::S3 => SimError::new(
                StatusCode::FORBIDDEN,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            ),
            Service::Sts | Service::Iam => SimError::new(
                StatusCode::FORBIDDEN,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            ),
            Service::Kms | Service::Quotas | Service::CloudWatch | Service::SageMaker => SimError::new(
                StatusCode::BAD_REQUEST,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
            Service::Bedrock => SimError::new(
                StatusCode::FORBIDDEN,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
        });
    };
    if cred.session_token.is_some()
        && req.header("x-amz-security-token") != cred.session_token.as_deref()
    {
        return Err(match service {
            Service::S3 => SimError::new(
                StatusCode::BAD_REQUEST,
                "InvalidToken",
                "The provided token is malformed or otherwise invalid.",
            ),
            Service::Kms | Service::Bedrock | Service::Quotas | Service::CloudWatch | Service::SageMaker => {
                SimError::new(
                    StatusCode::BAD_REQUEST,
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                )
            }
            Service::Sts | Service::Iam => SimError::new(
                StatusCode::FORBIDDEN,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            ),
        });
    }
    if cred.expires.is_some_and(|e| e <= ctx.clock.now()) {
        return Err(match service {
            Service::S3 => SimError::new(
                StatusCode::BAD_REQUEST,
                "ExpiredToken",
                "The provided token has expired.",
            ),
            Service::Kms | Service::Bedrock | Service::Quotas | Service::CloudWatch | Service::SageMaker => {
                SimError::new(
                    StatusCode::BAD_REQUEST,
                    "ExpiredTokenException",
                    "The security token included in the request is expired",
                )
            }
            Service::Sts | Service::Iam => SimError::new(
                StatusCode::FORBIDDEN,
                "ExpiredToken",
                "The security token included in the request is expired",
            ),
        });
    }
    if let Err(e) = sigv4::verify(req, &auth, &cred.secret, cred.session_token.as_deref()) {
        return Err(match (&e, service) {
            (SigError::ContentSha256Mismatch, _) => SimError::new(
                StatusCode::BAD_REQUEST,
                "XAmzContentSHA256Mismatch",
                e.to_string(),
            ),
            (SigError::Skewed(_), Service::S3) => SimError::new(
                StatusCode::FORBIDDEN,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            ),
            (_, Service::Kms | Service::Quotas | Service::CloudWatch | Service::SageMaker) => SimError::new(
                StatusCode::BAD_REQUEST,
                "InvalidSignatureException",
                e.to_string(),
            ),
            (_, Service::Bedrock) => SimError::new(
                StatusCode::FORBIDDEN,
                "InvalidSignatureException",
                e.to_string(),
            ),
            _ => SimError::new(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                e.to_string(),
            ),
        });
    }
    Ok((
        service,
        Caller {
            principal: cred.principal,
            user_id: cred.user_id,
        },
    ))
}

/// The single handler behind every path.
pub(crate) async fn handle(AxState(ctx): AxState<Arc<Ctx>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b.to_vec(),
        Err(_) => {
            return SimError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "EntityTooLarge",
                "Request body too large",
            )
            .render(Service::S3, &request_id);
        }
    };
    let raw_path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default();
    let req = SimRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        raw_path_and_query,
        query,
        headers: parts.headers,
        body,
        request_id: request_id.clone(),
    };
    if req.path == "/_sim/runtime" {
        return crate::runtime::admin(&ctx, &req);
    }
    if req.path.starts_with("/_sim/") {
        return crate::admin::handle(&ctx, &req);
    }
    let (service, caller) = match authenticate(&ctx, &req) {
        Ok(ok) => ok,
        Err(e) => {
            tracing::debug!(code = %e.code, "authentication failed: {}", e.message);
            return e.render(guess_service(&req), &request_id);
        }
    };
    let result = match service {
        Service::S3 => crate::s3::handle(&ctx, &req, &caller).await,
        Service::Sts => crate::sts::handle(&ctx, &req, &caller).await,
        Service::Iam => crate::iam_api::handle(&ctx, &req, &caller).await,
        Service::Kms => crate::kms::handle(&ctx, &req, &caller).await,
        Service::Quotas => crate::quotas::handle(&ctx, &req, &caller).await,
        Service::CloudWatch => crate::cloudwatch::handle(&ctx, &req, &caller).await,
        Service::SageMaker => crate::sagemaker::handle(&ctx, &req, &caller).await,
        // bedrock-runtime signs as `bedrock` too; its paths are `/model/{modelId}/...`.
        Service::Bedrock if crate::runtime::is_runtime_path(&req.path) => {
            crate::runtime::handle(&ctx, &req, &caller).await
        }
        Service::Bedrock => crate::bedrock::handle(&ctx, &req, &caller).await,
    };
    match result {
        Ok(mut resp) => {
            if let Ok(v) = request_id.parse() {
                resp.headers_mut().insert("x-amzn-requestid", v);
            }
            resp
        }
        Err(e) => {
            tracing::debug!(service = service.name(), code = %e.code, status = %e.status, "{}", e.message);
            e.render(service, &request_id)
        }
    }
}

pub(crate) fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

pub(crate) fn ok_json(value: &serde_json::Value) -> Response {
    json_response(StatusCode::OK, "application/json", value)
}
