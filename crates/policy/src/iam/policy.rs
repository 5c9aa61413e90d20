//! The IAM policy document model: parsed once from JSON, then evaluated.
//!
//! Accepts the grammar AWS accepts for the elements Ferry meets: `Statement` as an object or
//! an array, `Principal`/`NotPrincipal` as `"*"` or a map of `AWS`/`Service`/`Federated` to a
//! string or an array, `Action`/`NotAction`, `Resource`/`NotResource`, and `Condition` with
//! `IfExists` suffixes and `ForAnyValue:`/`ForAllValues:` qualifiers.

use serde_json::Value;

/// Why a policy document was rejected (IAM answers `MalformedPolicyDocument`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn err(msg: impl Into<String>) -> PolicyError {
    PolicyError(msg.into())
}

/// A parsed policy document (identity, bucket, key or trust policy).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    /// `Version`, if present.
    pub version: Option<String>,
    /// The statements, in document order.
    pub statements: Vec<Statement>,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants the matched request.
    Allow,
    /// Denies the matched request; wins over every allow.
    Deny,
}

/// A `Principal` or `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrincipalSet {
    /// `"*"` (or `{"AWS": "*"}` counts in `aws`).
    pub anyone: bool,
    /// `AWS` entries: account ids, root ARNs, user/role/assumed-role ARNs or `*`.
    pub aws: Vec<String>,
    /// `Service` entries such as `bedrock.amazonaws.com`.
    pub service: Vec<String>,
    /// `Federated` entries (kept, never matched by the sim's principals).
    pub federated: Vec<String>,
}

/// One `Condition` test: `operator` applied to `key` against `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionTest {
    /// Operator without qualifier or `IfExists`, e.g. `StringLike`.
    pub operator: String,
    /// `ForAnyValue` / `ForAllValues` qualifier.
    pub set_qualifier: Option<SetQualifier>,
    /// The operator carried the `IfExists` suffix.
    pub if_exists: bool,
    /// The condition key as written, e.g. `aws:SourceArn`.
    pub key: String,
    /// Values; numbers and booleans are kept as their JSON text.
    pub values: Vec<String>,
}

/// Multi-valued condition qualifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    /// `ForAnyValue:`
    ForAnyValue,
    /// `ForAllValues:`
    ForAllValues,
}

/// Which actions a statement covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionMatch {
    /// `Action`: these patterns.
    Action(Vec<String>),
    /// `NotAction`: everything except these patterns.
    NotAction(Vec<String>),
}

/// Which resources a statement covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceMatch {
    /// No `Resource` element (trust policies): any resource.
    Unspecified,
    /// `Resource`: these ARN patterns.
    Resource(Vec<String>),
    /// `NotResource`: everything except these ARN patterns.
    NotResource(Vec<String>),
}

/// One statement of a policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// `Sid`, if present.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Principal` (resource policies only).
    pub principal: Option<PrincipalSet>,
    /// `NotPrincipal` (resource policies only).
    pub not_principal: Option<PrincipalSet>,
    /// `Action` / `NotAction`.
    pub action: ActionMatch,
    /// `Resource` / `NotResource`.
    pub resource: ResourceMatch,
    /// All condition tests; every one must hold.
    pub conditions: Vec<ConditionTest>,
}

impl PolicyDocument {
    /// Parses a policy document from its JSON text.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| err(format!("Syntax errors in policy: {e}")))?;
        Self::from_value(&value)
    }

    /// Parses a policy document from a JSON value.
    pub fn from_value(value: &Value) -> Result<Self, PolicyError> {
        let obj = value
            .as_object()
            .ok_or_else(|| err("Policy document must be a JSON object"))?;
        let version = match obj.get("Version") {
            None => None,
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => Some(v.clone()),
            Some(_) => return Err(err("The policy failed legacy parsing: invalid Version")),
        };
        let statements = match obj.get("Statement") {
            Some(Value::Array(items)) => items
                .iter()
                .map(parse_statement)
                .collect::<Result<_, _>>()?,
            Some(v @ Value::Object(_)) => vec![parse_statement(v)?],
            _ => return Err(err("Missing required field Statement")),
        };
        Ok(Self {
            version,
            statements,
        })
    }

    /// An empty document (no statements): allows nothing.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            version: Some("2012-10-17".to_owned()),
            statements: Vec::new(),
        }
    }
}

fn string_list(v: &Value, field: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                _ => Err(err(format!("{field} entries must be strings"))),
            })
            .collect(),
        _ => Err(err(format!(
            "{field} must be a string or an array of strings"
        ))),
    }
}

fn scalar_list(v: &Value, field: &str) -> Result<Vec<String>, PolicyError> {
    let one = |i: &Value| match i {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(err(format!(
            "{field} values must be strings, numbers or booleans"
        ))),
    };
    match v {
        Value::Array(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

fn parse_principal(v: &Value, field: &str) -> Result<PrincipalSet, PolicyError> {
    match v {
        Value::String(s) if s == "*" => Ok(PrincipalSet {
            anyone: true,
            ..PrincipalSet::default()
        }),
        Value::Object(map) => {
            let mut set = PrincipalSet::default();
            for (k, val) in map {
                let list = string_list(val, field)?;
                match k.as_str() {
                    "AWS" => set.aws.extend(list),
                    "Service" => set.service.extend(list),
                    "Federated" => set.federated.extend(list),
                    "CanonicalUser" => {}
                    other => return Err(err(format!("Invalid principal type {other} in {field}"))),
                }
            }
            Ok(set)
        }
        _ => Err(err(format!("Invalid {field} element"))),
    }
}

fn parse_statement(v: &Value) -> Result<Statement, PolicyError> {
    let obj = v
        .as_object()
        .ok_or_else(|| err("Statement must be an object"))?;
    let effect = match obj.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err(err("Statement Effect must be Allow or Deny")),
    };
    let action = match (obj.get("Action"), obj.get("NotAction")) {
        (Some(a), None) => ActionMatch::Action(string_list(a, "Action")?),
        (None, Some(a)) => ActionMatch::NotAction(string_list(a, "NotAction")?),
        _ => return Err(err("Statement needs exactly one of Action or NotAction")),
    };
    let resource = match (obj.get("Resource"), obj.get("NotResource")) {
        (Some(r), None) => ResourceMatch::Resource(string_list(r, "Resource")?),
        (None, Some(r)) => ResourceMatch::NotResource(string_list(r, "NotResource")?),
        (None, None) => ResourceMatch::Unspecified,
        _ => return Err(err("Statement cannot have both Resource and NotResource")),
    };
    let principal = obj
        .get("Principal")
        .map(|p| parse_principal(p, "Principal"))
        .transpose()?;
    let not_principal = obj
        .get("NotPrincipal")
        .map(|p| parse_principal(p, "NotPrincipal"))
        .transpose()?;
    let mut conditions = Vec::new();
    if let Some(cond) = obj.get("Condition") {
        let cond = cond
            .as_object()
            .ok_or_else(|| err("Condition must be an object"))?;
        for (op, tests) in cond {
            let tests = tests
                .as_object()
                .ok_or_else(|| err(format!("Condition {op} must map keys to values")))?;
            let (set_qualifier, rest) = if let Some(r) = op.strip_prefix("ForAnyValue:") {
                (Some(SetQualifier::ForAnyValue), r)
            } else if let Some(r) = op.strip_prefix("ForAllValues:") {
                (Some(SetQualifier::ForAllValues), r)
            } else {
                (None, op.as_str())
            };
            let (operator, if_exists) = match rest.strip_suffix("IfExists") {
                Some(base) => (base, true),
                None => (rest, false),
            };
            if !super::condition::is_known_operator(operator) {
                return Err(err(format!("Unsupported condition operator {op}")));
            }
            for (key, values) in tests {
                conditions.push(ConditionTest {
                    operator: operator.to_owned(),
                    set_qualifier,
                    if_exists,
                    key: key.clone(),
                    values: scalar_list(values, "Condition")?,
                });
            }
        }
    }
    Ok(Statement {
        sid: obj.get("Sid").and_then(Value::as_str).map(str::to_owned),
        effect,
        principal,
        not_principal,
        action,
        resource,
        conditions,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn single_statement_object_and_string_forms() {
        let doc = PolicyDocument::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"bedrock.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"777788889999"},"ArnLikeIfExists":{"aws:SourceArn":["a","b"]}}}}"#,
        )
        .expect("parses");
        let st = &doc.statements[0];
        assert_eq!(st.effect, Effect::Allow);
        assert_eq!(
            st.principal.as_ref().expect("principal").service,
            ["bedrock.amazonaws.com"]
        );
        assert_eq!(
            st.action,
            ActionMatch::Action(vec!["sts:AssumeRole".into()])
        );
        assert_eq!(st.resource, ResourceMatch::Unspecified);
        assert_eq!(st.conditions.len(), 2);
        let arn = st
            .conditions
            .iter()
            .find(|c| c.operator == "ArnLike")
            .expect("ArnLike");
        assert!(arn.if_exists);
        assert_eq!(arn.values, ["a", "b"]);
    }

    #[test]
    fn rejects_malformed_documents() {
        for bad in [
            "[]",
            r#"{"Statement":[{"Effect":"Maybe","Action":"s3:*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bogus":{"a":"b"}}}]}"#,
            r#"{"Version":"2020-01-01","Statement":[]}"#,
            "not json",
        ] {
            assert!(PolicyDocument::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn qualifiers_and_scalars() {
        let doc = PolicyDocument::parse(
            r#"{"Statement":[{"Effect":"Deny","NotAction":["s3:Get*"],"NotResource":"arn:aws:s3:::b/*","Principal":"*","Condition":{"ForAnyValue:StringLike":{"s3:prefix":["a/*"]},"Bool":{"aws:SecureTransport":false}}}]}"#,
        )
        .expect("parses");
        let st = &doc.statements[0];
        assert!(st.principal.as_ref().expect("p").anyone);
        let any = st
            .conditions
            .iter()
            .find(|c| c.operator == "StringLike")
            .expect("like");
        assert_eq!(any.set_qualifier, Some(SetQualifier::ForAnyValue));
        let b = st
            .conditions
            .iter()
            .find(|c| c.operator == "Bool")
            .expect("bool");
        assert_eq!(b.values, ["false"]);
    }
}
