//! `ferry policy render --format terraform`: the chain's documents as Terraform (HCL), one root
//! module per account (`research-<account>/main.tf`, `hosting-<account>/main.tf`).
//!
//! Every policy document is an `aws_iam_policy_document` data source named after the JSON
//! rendering's file (`-` becomes `_`), one `statement` block per statement, so the output can be
//! compared with `--format json` statement for statement (`tests/terraform/compare.py`). What
//! differs per deployment (accounts, region, role names, buckets, keys) is a variable whose
//! default is the configured value; the documents interpolate the variables, so the defaults
//! reproduce the JSON rendering exactly. Resources: the bucket policy in the research account,
//! the execution and control roles with their inline policies in the hosting account. Key
//! policies are outputs, as in the CloudFormation rendering: `aws_kms_key_policy` replaces a
//! key's whole policy, so the statements are to be merged into it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::bail;
use ferry_domain::catalog::AllowedSource;
use ferry_domain::chain::AccountSide;
use ferry_policy::{ChainInputs, DocumentKind, RenderedDocument, render};
use serde_json::Value;

/// A Terraform input variable: its name, default and description.
struct Var {
    name: String,
    default: String,
    description: String,
}

/// Names and numbers values of one kind: `source_bucket` when there is one, `source_bucket_1`,
/// `source_bucket_2`, ... when there are more.
fn numbered(
    vars: &mut Vec<Var>,
    name: &str,
    values: &[String],
    description: impl Fn(&str) -> String,
) {
    for (i, v) in values.iter().enumerate() {
        let name = if values.len() == 1 {
            name.to_owned()
        } else {
            format!("{name}_{}", i + 1)
        };
        vars.push(Var {
            name,
            default: v.clone(),
            description: description(v),
        });
    }
}

fn distinct(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn role_name(arn: &str) -> String {
    let resource = arn.split_once(":role/").map_or(arn, |(_, r)| r);
    resource
        .rsplit_once('/')
        .map_or(resource, |(_, n)| n)
        .to_owned()
}

/// The variables of one account's module: the values its documents mention.
fn variables(inputs: &ChainInputs, sources: &[&AllowedSource]) -> Vec<Var> {
    let env = &inputs.environment;
    let mut vars = vec![
        Var {
            name: "region".into(),
            default: env.region.to_string(),
            description: "The region of the Bedrock imports (the hosting environment's region)"
                .into(),
        },
        Var {
            name: "hosting_account_id".into(),
            default: env.account.to_string(),
            description: "The hosting account, where Bedrock imports and serves the models".into(),
        },
        Var {
            name: "execution_role_name".into(),
            default: role_name(env.execution_role.as_str()),
            description: "The name of the IAM execution role of the import jobs".into(),
        },
        Var {
            name: "control_role_name".into(),
            default: role_name(env.control_role.as_str()),
            description: "The name of Ferry's control role in the hosting account".into(),
        },
    ];
    if let Some(key) = &env.imported_model_kms_key {
        vars.push(Var {
            name: "hosting_kms_key".into(),
            default: key.as_str().to_owned(),
            description: "The hosting key that encrypts the imported models".into(),
        });
    }
    let accounts = distinct(sources.iter().map(|s| s.account.to_string()));
    numbered(&mut vars, "research_account_id", &accounts, |_| {
        "A research account that holds model artifacts".into()
    });
    let buckets = distinct(sources.iter().map(|s| s.bucket.clone()));
    numbered(&mut vars, "source_bucket", &buckets, |b| {
        format!("The research bucket configured as {b}")
    });
    let keys = distinct(
        sources
            .iter()
            .filter_map(|s| s.kms_key.as_ref().map(|k| k.as_str().to_owned())),
    );
    numbered(&mut vars, "source_kms_key", &keys, |_| {
        "A research key that encrypts model artifacts".into()
    });
    vars
}

/// An HCL string literal: quoted, escaped, with every variable's value replaced by its
/// interpolation (the longest value first at each position).
fn hcl_string(s: &str, vars: &[Var]) -> String {
    let mut by_length: Vec<&Var> = vars.iter().filter(|v| !v.default.is_empty()).collect();
    by_length.sort_by_key(|v| std::cmp::Reverse(v.default.len()));
    let mut out = String::from("\"");
    let mut rest = s;
    'scan: while !rest.is_empty() {
        for v in &by_length {
            if let Some(after) = rest.strip_prefix(v.default.as_str()) {
                let _ = write!(out, "${{var.{}}}", v.name);
                rest = after;
                continue 'scan;
            }
        }
        let mut chars = rest.chars();
        let Some(c) = chars.next() else { break };
        let next = chars.as_str();
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `${` and `%{` start templates in HCL; IAM policy variables stay literal.
            '$' if next.starts_with('{') => out.push_str("$$"),
            '%' if next.starts_with('{') => out.push_str("%%"),
            c => out.push(c),
        }
        rest = next;
    }
    out.push('"');
    out
}

/// A plain (uninterpolated) HCL string literal.
fn literal(s: &str) -> String {
    hcl_string(s, &[])
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn list(values: &[String], vars: &[Var]) -> String {
    let items: Vec<String> = values.iter().map(|v| hcl_string(v, vars)).collect();
    format!("[{}]", items.join(", "))
}

/// The identifier of a document: its JSON file's stem with `-` as `_`.
fn ident(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// One `aws_iam_policy_document` data source.
fn policy_document(out: &mut String, d: &RenderedDocument, vars: &[Var]) -> anyhow::Result<()> {
    let _ = writeln!(out, "# {}", d.summary);
    let _ = writeln!(
        out,
        "data \"aws_iam_policy_document\" \"{}\" {{",
        ident(&d.name)
    );
    let Some(statements) = d.document["Statement"].as_array() else {
        bail!("{} has no statements", d.name);
    };
    for s in statements {
        let Some(obj) = s.as_object() else {
            bail!("{} has a statement that is not an object", d.name);
        };
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "Sid" | "Effect" | "Action" | "Resource" | "Principal" | "Condition"
            ) {
                bail!("{}: statement key {key} has no Terraform rendering", d.name);
            }
        }
        out.push_str("  statement {\n");
        if let Some(sid) = s["Sid"].as_str() {
            if let Some(note) = d.statements.iter().find(|n| n.sid == sid) {
                let _ = writeln!(out, "    # {}", note.explanation);
            }
            let _ = writeln!(out, "    sid       = {}", literal(sid));
        }
        let _ = writeln!(
            out,
            "    effect    = {}",
            literal(s["Effect"].as_str().unwrap_or("Allow"))
        );
        let _ = writeln!(
            out,
            "    actions   = {}",
            list(&strings(&s["Action"]), vars)
        );
        if !s["Resource"].is_null() {
            let _ = writeln!(
                out,
                "    resources = {}",
                list(&strings(&s["Resource"]), vars)
            );
        }
        match &s["Principal"] {
            Value::Null => {}
            Value::String(star) => {
                let _ = writeln!(
                    out,
                    "    principals {{\n      type        = \"*\"\n      identifiers = [{}]\n    }}",
                    literal(star)
                );
            }
            Value::Object(principals) => {
                for (kind, ids) in principals {
                    let _ = writeln!(
                        out,
                        "    principals {{\n      type        = {}\n      identifiers = {}\n    }}",
                        literal(kind),
                        list(&strings(ids), vars)
                    );
                }
            }
            other => bail!("{}: principal {other} has no Terraform rendering", d.name),
        }
        if let Some(conditions) = s["Condition"].as_object() {
            for (test, keys) in conditions {
                let Some(keys) = keys.as_object() else {
                    bail!("{}: condition {test} is not an object", d.name);
                };
                for (variable, values) in keys {
                    let _ = writeln!(
                        out,
                        "    condition {{\n      test     = {}\n      variable = {}\n      values   = {}\n    }}",
                        literal(test),
                        hcl_string(variable, vars),
                        list(&strings(values), vars)
                    );
                }
            }
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n\n");
    Ok(())
}

fn header(out: &mut String, description: &str, account_var: &str, vars: &[Var]) {
    let _ = writeln!(
        out,
        "# Rendered by `ferry policy render --format terraform`; regenerate rather than edit.\n# {description}\n"
    );
    out.push_str(
        "terraform {\n  required_providers {\n    aws = {\n      source  = \"hashicorp/aws\"\n      version = \">= 5.0\"\n    }\n  }\n}\n\n",
    );
    for v in vars {
        let _ = writeln!(
            out,
            "variable \"{}\" {{\n  type        = string\n  default     = {}\n  description = {}\n}}\n",
            v.name,
            literal(&v.default),
            literal(&v.description)
        );
    }
    let _ = writeln!(
        out,
        "provider \"aws\" {{\n  region              = var.region\n  allowed_account_ids = [var.{account_var}]\n}}\n"
    );
}

fn output(out: &mut String, name: &str, description: &str, value: &str) {
    let _ = writeln!(
        out,
        "output \"{name}\" {{\n  description = {}\n  value       = {value}\n}}\n",
        literal(description)
    );
}

/// The research account's module: its bucket policies as resources, its key policy statements
/// as outputs.
fn research(
    inputs: &ChainInputs,
    account: &str,
    docs: &[&RenderedDocument],
) -> anyhow::Result<String> {
    let env = &inputs.environment;
    let sources: Vec<&AllowedSource> = inputs
        .sources
        .iter()
        .filter(|s| s.account.as_str() == account)
        .collect();
    let mut vars = variables(inputs, &sources);
    if sources.is_empty() {
        // An account that only holds model packages.
        vars.push(Var {
            name: "research_account_id".into(),
            default: account.to_owned(),
            description: "A research account that holds SageMaker model packages".into(),
        });
    }
    let readers: Vec<String> = docs
        .iter()
        .filter(|d| d.kind == DocumentKind::RegistryReaderTrustPolicy)
        .map(|d| role_name(&d.attached_to))
        .collect();
    numbered(&mut vars, "registry_reader_role_name", &readers, |_| {
        "The name of the model registry reader role Ferry's control role assumes".into()
    });
    let mut out = String::new();
    header(
        &mut out,
        &format!(
            "Research account {account} side of the Bedrock import chain for environment {} (hosting account {}). The bucket policy resource replaces the bucket's policy: merge existing statements first. Key policy and model package group policy statements are outputs to add to those policies.",
            env.name, env.account
        ),
        "research_account_id",
        &vars,
    );
    for d in docs {
        policy_document(&mut out, d, &vars)?;
        let id = ident(&d.name);
        match d.kind {
            DocumentKind::BucketPolicy => {
                let _ = writeln!(
                    out,
                    "resource \"aws_s3_bucket_policy\" \"{id}\" {{\n  bucket = {}\n  policy = data.aws_iam_policy_document.{id}.json\n}}\n",
                    hcl_string(&d.attached_to, &vars)
                );
            }
            DocumentKind::RegistryReaderTrustPolicy => {
                let Some(policy) = docs.iter().find(|p| {
                    p.kind == DocumentKind::RegistryReaderPolicy && p.attached_to == d.attached_to
                }) else {
                    bail!("the rendering lacks the policy of {}", d.attached_to);
                };
                let name = role_name(&d.attached_to);
                let Some(name_var) = vars
                    .iter()
                    .find(|v| v.name.starts_with("registry_reader_role_name") && v.default == name)
                else {
                    bail!("no variable for the reader role {name}");
                };
                role(
                    &mut out,
                    &Role {
                        id: &format!("registry_reader_{}", ident(&name).to_lowercase()),
                        name_var: &name_var.name,
                        arn: &d.attached_to,
                        description: "Ferry's model registry reader: reads SageMaker model packages (DescribeModelPackage) for imports, assumed from Ferry's control role",
                        trust: d,
                        policy,
                        policy_name: "FerryRegistryReaderPolicy",
                        depends_on: None,
                    },
                );
            }
            // Its role, rendered with the trust policy above.
            DocumentKind::RegistryReaderPolicy => {}
            _ => output(
                &mut out,
                &id,
                &d.summary,
                &format!("data.aws_iam_policy_document.{id}.json"),
            ),
        }
    }
    Ok(out)
}

/// A role resource with its inline policy.
struct Role<'a> {
    id: &'a str,
    name_var: &'a str,
    arn: &'a str,
    description: &'a str,
    trust: &'a RenderedDocument,
    policy: &'a RenderedDocument,
    policy_name: &'a str,
    depends_on: Option<&'a str>,
}

fn role(out: &mut String, r: &Role<'_>) {
    let Role {
        id,
        name_var,
        arn,
        description,
        trust,
        policy,
        policy_name,
        depends_on,
    } = *r;
    let path = arn
        .split_once(":role/")
        .map_or("", |(_, r)| r)
        .rsplit_once('/')
        .map_or_else(|| "/".to_owned(), |(p, _)| format!("/{p}/"));
    let _ = writeln!(
        out,
        "resource \"aws_iam_role\" \"{id}\" {{\n  name               = var.{name_var}\n  path               = {}\n  description        = {}\n  assume_role_policy = data.aws_iam_policy_document.{}.json",
        literal(&path),
        literal(description),
        ident(&trust.name)
    );
    if let Some(dep) = depends_on {
        let _ = writeln!(
            out,
            "  # The trust policy names the other role: IAM rejects a principal that does not exist yet.\n  depends_on         = [{dep}]"
        );
    }
    out.push_str("}\n\n");
    let _ = writeln!(
        out,
        "resource \"aws_iam_role_policy\" \"{id}\" {{\n  name   = {}\n  role   = aws_iam_role.{id}.id\n  policy = data.aws_iam_policy_document.{}.json\n}}\n",
        literal(policy_name),
        ident(&policy.name)
    );
}

/// The hosting account's module: the execution and control roles with their policies; the
/// hosting key policy statement as an output.
fn hosting(inputs: &ChainInputs, docs: &[RenderedDocument]) -> anyhow::Result<String> {
    let env = &inputs.environment;
    let sources: Vec<&AllowedSource> = inputs.sources.iter().collect();
    let vars = variables(inputs, &sources);
    let find = |kind: DocumentKind| docs.iter().find(|d| d.kind == kind);
    let (Some(exec_policy), Some(exec_trust), Some(control_policy), Some(control_trust)) = (
        find(DocumentKind::ExecutionRolePolicy),
        find(DocumentKind::ExecutionRoleTrustPolicy),
        find(DocumentKind::ControlRolePolicy),
        find(DocumentKind::ControlRoleTrustPolicy),
    ) else {
        bail!("the rendering lacks a role document");
    };
    let mut out = String::new();
    header(
        &mut out,
        &format!(
            "Hosting account {} side of the Bedrock import chain for environment {} in {}. Creates the execution role and Ferry's control role; the hosting key policy statement is an output to add to the key's policy.",
            env.account, env.name, env.region
        ),
        "hosting_account_id",
        &vars,
    );
    for d in docs
        .iter()
        .filter(|d| d.kind.side() == AccountSide::Hosting)
    {
        policy_document(&mut out, d, &vars)?;
    }
    role(
        &mut out,
        &Role {
            id: "control_role",
            name_var: "control_role_name",
            arn: env.control_role.as_str(),
            description: "Ferry's control role: submits and tracks Bedrock import jobs, preflights the execution role",
            trust: control_trust,
            policy: control_policy,
            policy_name: "FerryControlPolicy",
            depends_on: None,
        },
    );
    role(
        &mut out,
        &Role {
            id: "execution_role",
            name_var: "execution_role_name",
            arn: env.execution_role.as_str(),
            description: "IAM execution role to be used by CMI jobs (Bedrock reads the model artifacts with it)",
            trust: exec_trust,
            policy: exec_policy,
            policy_name: "BedrockCMIExecutionPolicy",
            depends_on: Some("aws_iam_role.control_role"),
        },
    );
    output(
        &mut out,
        "execution_role_arn",
        "roleArn of the import jobs",
        "aws_iam_role.execution_role.arn",
    );
    output(
        &mut out,
        "control_role_arn",
        "control_role_arn in Ferry's configuration",
        "aws_iam_role.control_role.arn",
    );
    if let Some(key) = find(DocumentKind::HostingKeyPolicy) {
        output(
            &mut out,
            &ident(&key.name),
            &key.summary,
            &format!("data.aws_iam_policy_document.{}.json", ident(&key.name)),
        );
    }
    Ok(out)
}

/// One module per account: `research-<account>/main.tf`, `hosting-<account>/main.tf`.
pub(super) fn files(inputs: &ChainInputs) -> anyhow::Result<BTreeMap<String, String>> {
    let docs = render(inputs);
    let mut research_docs: BTreeMap<String, Vec<&RenderedDocument>> = BTreeMap::new();
    for d in docs
        .iter()
        .filter(|d| d.kind.side() == AccountSide::Research)
    {
        research_docs.entry(d.account.clone()).or_default().push(d);
    }
    let mut files = BTreeMap::new();
    for (account, list) in research_docs {
        files.insert(
            format!("research-{account}/main.tf"),
            research(inputs, &account, &list)?,
        );
    }
    files.insert(
        format!("hosting-{}/main.tf", inputs.environment.account),
        hosting(inputs, &docs)?,
    );
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, default: &str) -> Var {
        Var {
            name: name.into(),
            default: default.into(),
            description: String::new(),
        }
    }

    #[test]
    fn strings_interpolate_the_longest_value_and_escape_templates() {
        let vars = [
            var("hosting_account_id", "777788889999"),
            var("execution_role_name", "Exec-777788889999"),
        ];
        assert_eq!(
            hcl_string("arn:aws:iam::777788889999:role/Exec-777788889999", &vars),
            "\"arn:aws:iam::${var.hosting_account_id}:role/${var.execution_role_name}\""
        );
        assert_eq!(
            hcl_string("home/${aws:username}/%{x} \"q\" \\", &vars),
            "\"home/$${aws:username}/%%{x} \\\"q\\\" \\\\\""
        );
    }
}
