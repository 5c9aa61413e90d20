//! IAM (Query protocol): enough to change the chain with real tools: CreateRole, GetRole,
//! UpdateAssumeRolePolicy, Put/Get/DeleteRolePolicy (inline policies), Put/DeleteUserPolicy.

use axum::http::StatusCode;
use ferry_policy::iam::{Principal, RequestContext, ResourcePolicyMode};

use crate::server::{Caller, Ctx, authorize};
use crate::state::{Role, State, StoredPolicy};
use crate::wire::{
    IAM_NS, Service, SimError, SimRequest, SimResult, UPPER_ALNUM, iso8601, percent_encode,
    query_response, random_id, xml_escape,
};

fn param<'a>(form: &'a [(String, String)], name: &str) -> SimResult<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).ok_or_else(|| {
        SimError::new(StatusCode::BAD_REQUEST, "ValidationError", format!("1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"))
    })
}

fn no_such_entity(msg: String) -> SimError {
    SimError::new(StatusCode::NOT_FOUND, "NoSuchEntity", msg)
}

fn malformed(e: &ferry_policy::iam::PolicyError) -> SimError {
    SimError::new(
        StatusCode::BAD_REQUEST,
        "MalformedPolicyDocument",
        e.to_string(),
    )
}

fn check(state: &State, caller: &Caller, action: &str, resource: String) -> SimResult<()> {
    let rctx = RequestContext::new(caller.principal.clone(), action, resource, caller.account());
    authorize(
        state,
        Service::Iam,
        &rctx,
        None,
        ResourcePolicyMode::Optional,
    )
}

/// The answer of an IAM operation without an output shape (UpdateAssumeRolePolicy,
/// Put/DeleteRolePolicy, Put/DeleteUserPolicy): botocore's `iam/2010-05-08/service-2.json`
/// gives them no `output` and so no `resultWrapper`; IAM answers with `ResponseMetadata` only
/// (the IAM API reference's examples, e.g. PutRolePolicy: `<PutRolePolicyResponse
/// xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ResponseMetadata>...`).
fn metadata_only_response(action: &str, request_id: &str) -> axum::response::Response {
    let body = format!(
        "<{action}Response xmlns=\"{IAM_NS}\"><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    );
    axum::response::Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/xml")
        .header("x-amzn-requestid", request_id)
        .body(axum::body::Body::from(body))
        .unwrap_or_else(|_| axum::response::Response::new(axum::body::Body::empty()))
}

/// Records that a role's policies changed now (the `iam_propagation_ms` fault).
fn note_role_change(state: &mut State, account: &str, name: &str, now: time::OffsetDateTime) {
    if let Some(arn) = state
        .roles
        .get(&(account.to_owned(), name.to_owned()))
        .map(Role::arn)
    {
        state.iam_changed.insert(arn, now);
    }
}

fn role_xml(role: &Role) -> String {
    format!(
        "<Role><Path>{}</Path><RoleName>{}</RoleName><RoleId>{}</RoleId><Arn>{}</Arn><CreateDate>{}</CreateDate><AssumeRolePolicyDocument>{}</AssumeRolePolicyDocument>{}<MaxSessionDuration>{}</MaxSessionDuration></Role>",
        xml_escape(&role.path),
        xml_escape(&role.name),
        role.role_id,
        xml_escape(&role.arn()),
        iso8601(role.created),
        percent_encode(&role.trust.text),
        role.description
            .as_deref()
            .map(|d| format!("<Description>{}</Description>", xml_escape(d)))
            .unwrap_or_default(),
        role.max_session_secs
    )
}

pub(crate) async fn handle(ctx: &Ctx, req: &SimRequest, caller: &Caller) -> SimResult {
    let form = req.form();
    let action = param(&form, "Action")?.to_owned();
    ctx.gate(Service::Iam, &action).await?;
    let account = caller.account().to_owned();
    let role_arn = |name: &str| format!("arn:aws:iam::{account}:role/{name}");
    let rid = &req.request_id;
    let mut state = ctx.state();
    match action.as_str() {
        "CreateRole" => {
            let name = param(&form, "RoleName")?;
            let path = form
                .iter()
                .find(|(k, _)| k == "Path")
                .map_or("/", |(_, v)| v.as_str());
            check(
                &state,
                caller,
                "iam:CreateRole",
                format!("arn:aws:iam::{account}:role{path}{name}"),
            )?;
            let trust = StoredPolicy::parse(param(&form, "AssumeRolePolicyDocument")?)
                .map_err(|e| malformed(&e))?;
            if state
                .roles
                .contains_key(&(account.clone(), name.to_owned()))
            {
                return Err(SimError::new(
                    StatusCode::CONFLICT,
                    "EntityAlreadyExists",
                    format!("Role with name {name} already exists."),
                ));
            }
            let max_session_secs = match form.iter().find(|(k, _)| k == "MaxSessionDuration") {
                Some((_, v)) => v.parse().map_err(|_| {
                    SimError::new(
                        StatusCode::BAD_REQUEST,
                        "ValidationError",
                        "MaxSessionDuration must be an integer",
                    )
                })?,
                None => 3600,
            };
            let role = Role {
                account: account.clone(),
                name: name.to_owned(),
                path: path.to_owned(),
                role_id: format!("AROA{}", random_id(UPPER_ALNUM, 17)),
                description: form
                    .iter()
                    .find(|(k, _)| k == "Description")
                    .map(|(_, v)| v.clone()),
                trust,
                policies: Default::default(),
                max_session_secs,
                created: ctx.clock.now(),
            };
            let xml = role_xml(&role);
            state.iam_changed.insert(role.arn(), ctx.clock.now());
            state.roles.insert((account.clone(), name.to_owned()), role);
            Ok(query_response("CreateRole", IAM_NS, &xml, rid))
        }
        "SimulatePrincipalPolicy" => {
            // The identity policies of a role (its sessions), as IAM's policy
            // simulator evaluates them: resource policies are not consulted.
            let source = param(&form, "PolicySourceArn")?.to_owned();
            check(
                &state,
                caller,
                "iam:SimulatePrincipalPolicy",
                source.clone(),
            )?;
            let role = state
                .role_by_arn(&source)
                .cloned()
                .ok_or_else(|| no_such_entity(format!("The role {source} cannot be found.")))?;
            let list = |prefix: &str| -> Vec<String> {
                (1..)
                    .map_while(|i| {
                        form.iter()
                            .find(|(k, _)| *k == format!("{prefix}.member.{i}"))
                            .map(|(_, v)| v.clone())
                    })
                    .collect()
            };
            let actions = list("ActionNames");
            let mut resources = list("ResourceArns");
            if resources.is_empty() {
                resources.push("*".to_owned());
            }
            let mut context = Vec::new();
            for i in 1.. {
                let Some(key) = form
                    .iter()
                    .find(|(k, _)| *k == format!("ContextEntries.member.{i}.ContextKeyName"))
                    .map(|(_, v)| v.clone())
                else {
                    break;
                };
                let value = form
                    .iter()
                    .find(|(k, _)| {
                        *k == format!("ContextEntries.member.{i}.ContextKeyValues.member.1")
                    })
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                context.push((key, value));
            }
            let principal = Principal::AssumedRole {
                account: role.account.clone(),
                role: role.name.clone(),
                session: "policy-simulation".to_owned(),
            };
            let identity = state.identity_policies(&principal);
            let mut results = String::new();
            for action in &actions {
                for resource in &resources {
                    let mut rctx = RequestContext::new(
                        principal.clone(),
                        action.as_str(),
                        resource.as_str(),
                        role.account.clone(),
                    );
                    for (k, v) in &context {
                        rctx = rctx.with_key(k, v.clone());
                    }
                    let decision = ferry_policy::iam::authorize(
                        &rctx,
                        &identity,
                        None,
                        ResourcePolicyMode::Optional,
                    );
                    let verdict = match decision {
                        ferry_policy::iam::Decision::Allow => "allowed",
                        ferry_policy::iam::Decision::Deny(
                            ferry_policy::iam::DenyReason::ExplicitDenyInIdentityPolicy
                            | ferry_policy::iam::DenyReason::ExplicitDenyInResourcePolicy,
                        ) => "explicitDeny",
                        ferry_policy::iam::Decision::Deny(_) => "implicitDeny",
                    };
                    results.push_str(&format!(
                        "<member><EvalActionName>{}</EvalActionName><EvalResourceName>{}</EvalResourceName><EvalDecision>{verdict}</EvalDecision></member>",
                        xml_escape(action),
                        xml_escape(resource)
                    ));
                }
            }
            Ok(query_response(
                "SimulatePrincipalPolicy",
                IAM_NS,
                &format!(
                    "<EvaluationResults>{results}</EvaluationResults><IsTruncated>false</IsTruncated>"
                ),
                rid,
            ))
        }
        "GetRole" => {
            let name = param(&form, "RoleName")?;
            check(&state, caller, "iam:GetRole", role_arn(name))?;
            let role = state
                .roles
                .get(&(account.clone(), name.to_owned()))
                .ok_or_else(|| {
                    no_such_entity(format!("The role with name {name} cannot be found."))
                })?;
            Ok(query_response("GetRole", IAM_NS, &role_xml(role), rid))
        }
        "UpdateAssumeRolePolicy" => {
            let name = param(&form, "RoleName")?;
            check(&state, caller, "iam:UpdateAssumeRolePolicy", role_arn(name))?;
            let trust =
                StoredPolicy::parse(param(&form, "PolicyDocument")?).map_err(|e| malformed(&e))?;
            let role = state
                .roles
                .get_mut(&(account.clone(), name.to_owned()))
                .ok_or_else(|| {
                    no_such_entity(format!("The role with name {name} cannot be found."))
                })?;
            role.trust = trust;
            let arn = role.arn();
            state.iam_changed.insert(arn, ctx.clock.now());
            Ok(metadata_only_response("UpdateAssumeRolePolicy", rid))
        }
        "PutRolePolicy" | "PutUserPolicy" => {
            let user = action == "PutUserPolicy";
            let name = param(&form, if user { "UserName" } else { "RoleName" })?;
            let resource = if user {
                format!("arn:aws:iam::{account}:user/{name}")
            } else {
                role_arn(name)
            };
            check(&state, caller, &format!("iam:{action}"), resource)?;
            let policy_name = param(&form, "PolicyName")?.to_owned();
            let policy =
                StoredPolicy::parse(param(&form, "PolicyDocument")?).map_err(|e| malformed(&e))?;
            let policies = if user {
                state
                    .users
                    .get_mut(&(account.clone(), name.to_owned()))
                    .map(|u| &mut u.policies)
            } else {
                state
                    .roles
                    .get_mut(&(account.clone(), name.to_owned()))
                    .map(|r| &mut r.policies)
            };
            let policies = policies.ok_or_else(|| {
                no_such_entity(format!(
                    "The {} with name {name} cannot be found.",
                    if user { "user" } else { "role" }
                ))
            })?;
            policies.insert(policy_name, policy);
            if !user {
                note_role_change(&mut state, &account, name, ctx.clock.now());
            }
            Ok(metadata_only_response(&action, rid))
        }
        "GetRolePolicy" => {
            let name = param(&form, "RoleName")?;
            check(&state, caller, "iam:GetRolePolicy", role_arn(name))?;
            let policy_name = param(&form, "PolicyName")?;
            let role = state
                .roles
                .get(&(account.clone(), name.to_owned()))
                .ok_or_else(|| {
                    no_such_entity(format!("The role with name {name} cannot be found."))
                })?;
            let p = role.policies.get(policy_name).ok_or_else(|| {
                no_such_entity(format!(
                    "The role policy with name {policy_name} cannot be found."
                ))
            })?;
            Ok(query_response(
                "GetRolePolicy",
                IAM_NS,
                &format!(
                    "<RoleName>{}</RoleName><PolicyName>{}</PolicyName><PolicyDocument>{}</PolicyDocument>",
                    xml_escape(name),
                    xml_escape(policy_name),
                    percent_encode(&p.text)
                ),
                rid,
            ))
        }
        "DeleteRolePolicy" | "DeleteUserPolicy" => {
            let user = action == "DeleteUserPolicy";
            let name = param(&form, if user { "UserName" } else { "RoleName" })?;
            let resource = if user {
                format!("arn:aws:iam::{account}:user/{name}")
            } else {
                role_arn(name)
            };
            check(&state, caller, &format!("iam:{action}"), resource)?;
            let policy_name = param(&form, "PolicyName")?;
            let policies = if user {
                state
                    .users
                    .get_mut(&(account.clone(), name.to_owned()))
                    .map(|u| &mut u.policies)
            } else {
                state
                    .roles
                    .get_mut(&(account.clone(), name.to_owned()))
                    .map(|r| &mut r.policies)
            };
            let policies = policies.ok_or_else(|| {
                no_such_entity(format!("The entity with name {name} cannot be found."))
            })?;
            policies.remove(policy_name).ok_or_else(|| {
                no_such_entity(format!(
                    "The policy with name {policy_name} cannot be found."
                ))
            })?;
            if !user {
                note_role_change(&mut state, &account, name, ctx.clock.now());
            }
            Ok(metadata_only_response(&action, rid))
        }
        other => Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!("ferry-sim does not implement IAM {other}"),
        )),
    }
}
