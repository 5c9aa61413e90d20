//! STS (Query protocol): AssumeRole with the trust policy evaluated, GetCallerIdentity.

use axum::http::StatusCode;
use ferry_policy::iam::{Principal, RequestContext, ResourcePolicyMode};
use time::Duration;

use crate::server::{Caller, Ctx, authorize};
use crate::state::{Credential, State};
use crate::wire::{
    STS_NS, Service, SimError, SimRequest, SimResult, UPPER_ALNUM, iso8601, query_response,
    random_id, xml_escape,
};

fn param<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn validation(msg: impl Into<String>) -> SimError {
    SimError::new(StatusCode::BAD_REQUEST, "ValidationError", msg)
}

pub(crate) async fn handle(ctx: &Ctx, req: &SimRequest, caller: &Caller) -> SimResult {
    let form = req.form();
    let action = param(&form, "Action").unwrap_or_default().to_owned();
    ctx.gate(Service::Sts, &action).await?;
    match action.as_str() {
        "GetCallerIdentity" => Ok(query_response(
            "GetCallerIdentity",
            STS_NS,
            &format!(
                "<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>",
                xml_escape(&caller.principal.arn()),
                xml_escape(&caller.user_id),
                caller.account()
            ),
            &req.request_id,
        )),
        "AssumeRole" => assume_role(ctx, req, caller, &form),
        other => Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!("Could not find operation {other} for version 2011-06-15"),
        )),
    }
}

/// The outcome of a successful AssumeRole.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) access_key_id: String,
    pub(crate) secret: String,
    pub(crate) token: String,
    pub(crate) expiration: time::OffsetDateTime,
    pub(crate) principal: Principal,
    pub(crate) assumed_role_id: String,
}

/// Checks the trust policy (and the caller's identity policy) and mints a session.
/// `rctx_extra` adds condition keys (`aws:SourceArn` for services, `sts:ExternalId`, ...).
pub(crate) fn assume(
    state: &mut State,
    now: time::OffsetDateTime,
    principal: &Principal,
    role_arn: &str,
    session_name: &str,
    duration_secs: i64,
    extra_keys: &[(&str, String)],
) -> SimResult<Session> {
    let denied = |msg: String| crate::wire::access_denied(Service::Sts, msg);
    let Some(role) = state.role_by_arn(role_arn).cloned() else {
        return Err(denied(format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            principal.arn()
        )));
    };
    let mut rctx = RequestContext::new(
        principal.clone(),
        "sts:AssumeRole",
        role.arn(),
        role.account.clone(),
    )
    .with_key("sts:RoleSessionName", session_name);
    for (k, v) in extra_keys {
        rctx = rctx.with_key(k, v.clone());
    }
    authorize(
        state,
        Service::Sts,
        &rctx,
        Some(&role.trust.doc),
        ResourcePolicyMode::Required,
    )?;
    if duration_secs > role.max_session_secs {
        return Err(validation(format!(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role. (requested {duration_secs}, max {})",
            role.max_session_secs
        )));
    }
    let access_key_id = format!("ASIA{}", random_id(UPPER_ALNUM, 16));
    let secret = random_id(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        40,
    );
    let token = format!(
        "FwoGZXIvYXdzEferrysim{}",
        random_id(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            120
        )
    );
    let expiration = now + Duration::seconds(duration_secs);
    let session_principal = Principal::AssumedRole {
        account: role.account.clone(),
        role: role.name.clone(),
        session: session_name.to_owned(),
    };
    let assumed_role_id = format!("{}:{session_name}", role.role_id);
    state.credentials.insert(
        access_key_id.clone(),
        Credential {
            secret: secret.clone(),
            session_token: Some(token.clone()),
            principal: session_principal.clone(),
            expires: Some(expiration),
            user_id: assumed_role_id.clone(),
        },
    );
    Ok(Session {
        access_key_id,
        secret,
        token,
        expiration,
        principal: session_principal,
        assumed_role_id,
    })
}

fn valid_session_name(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

fn assume_role(
    ctx: &Ctx,
    req: &SimRequest,
    caller: &Caller,
    form: &[(String, String)],
) -> SimResult {
    let role_arn = param(form, "RoleArn").ok_or_else(|| validation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null"))?;
    let session_name = param(form, "RoleSessionName").ok_or_else(|| validation("1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null"))?;
    if !valid_session_name(session_name) {
        return Err(validation(format!(
            "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64"
        )));
    }
    let duration: i64 = match param(form, "DurationSeconds") {
        None => 3600,
        Some(d) => d
            .parse()
            .map_err(|_| validation("DurationSeconds must be an integer"))?,
    };
    if !(900..=43_200).contains(&duration) {
        return Err(validation(format!(
            "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
        )));
    }
    let mut extra = Vec::new();
    if let Some(ext) = param(form, "ExternalId") {
        if !(2..=1224).contains(&ext.len()) {
            return Err(validation("ExternalId must have length between 2 and 1224"));
        }
        extra.push(("sts:ExternalId", ext.to_owned()));
    }
    if param(form, "Policy").is_some() || param(form, "PolicyArns.member.1.arn").is_some() {
        return Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "ferry-sim does not implement session policies",
        ));
    }
    // Session tags: AWS also requires the trust policy to allow sts:TagSession.
    let mut tags = Vec::new();
    for i in 1.. {
        let Some(key) = param(form, &format!("Tags.member.{i}.Key")) else {
            break;
        };
        let value = param(form, &format!("Tags.member.{i}.Value")).unwrap_or_default();
        if key.is_empty() || key.len() > 128 || value.len() > 256 {
            return Err(validation(
                "a session tag key must be 1 to 128 characters and a value at most 256",
            ));
        }
        tags.push((key.to_owned(), value.to_owned()));
    }
    if tags.len() > 50 {
        return Err(validation("at most 50 session tags"));
    }
    let now = ctx.clock.now();
    if !tags.is_empty() {
        let state = ctx.state();
        let role = state.role_by_arn(role_arn).cloned();
        if let Some(role) = role {
            let mut rctx = RequestContext::new(
                caller.principal.clone(),
                "sts:TagSession",
                role.arn(),
                role.account.clone(),
            );
            for (k, v) in &tags {
                rctx = rctx.with_key(&format!("aws:RequestTag/{k}"), v.clone());
            }
            authorize(
                &state,
                Service::Sts,
                &rctx,
                Some(&role.trust.doc),
                ResourcePolicyMode::Required,
            )?;
        }
    }
    let session = {
        let mut state = ctx.state();
        assume(
            &mut state,
            now,
            &caller.principal,
            role_arn,
            session_name,
            duration,
            &extra,
        )?
    };
    Ok(query_response(
        "AssumeRole",
        STS_NS,
        &format!(
            "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser><PackedPolicySize>0</PackedPolicySize>",
            session.access_key_id,
            xml_escape(&session.secret),
            xml_escape(&session.token),
            iso8601(session.expiration),
            xml_escape(&session.assumed_role_id),
            xml_escape(&session.principal.arn())
        ),
        &req.request_id,
    ))
}
