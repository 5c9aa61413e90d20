//! `ferry policy`: render the chain's IAM/KMS documents, or check the ones an account has.
//!
//! The documents come from `ferry_policy`; this module reads the configuration and
//! files, writes files and reports. CloudFormation templates are plain JSON templates, one per
//! account: the research account's bucket policy as a resource and its key policy statement as
//! an output; the hosting account's execution and control roles as resources and its key
//! policy statement as an output (a key policy cannot be amended in place by a stack).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use ferry_domain::chain::AccountSide;
use ferry_policy::iam::PolicyDocument;
use ferry_policy::{
    ChainInputs, CheckReport, DocumentKind, FindingKind, GivenDocuments, RenderedDocument,
    ServiceAccountTrust, check, render,
};
use serde_json::{Value, json};

use crate::config::Config;

mod terraform;

/// `ferry policy ...`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Write every IAM/KMS document the import chain needs, from the configuration.
    Render(RenderArgs),
    /// Check documents an account already has against exactly the access the import needs.
    Check(CheckArgs),
}

/// Output format of `ferry policy render`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One IAM JSON document per file.
    Json,
    /// One CloudFormation template per account.
    Cloudformation,
    /// One Terraform root module per account (`<side>-<account>/main.tf`).
    Terraform,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The environment (a table under [environments]).
    #[arg(long = "env", value_name = "NAME")]
    env: String,
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// Directory to write the files into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Write nothing; exit non-zero when a file in DIR differs from what the code renders.
    #[arg(long)]
    check: bool,
    /// The principal Ferry runs as, trusted by the control role (default: the hosting
    /// account's root, i.e. any principal there that IAM allows).
    #[arg(long, value_name = "ARN")]
    ferry_principal: Option<String>,
    #[command(flatten)]
    irsa: IrsaArgs,
}

/// IAM roles for service accounts: the control role's trust policy also lets an EKS service
/// account's pods assume it with their web identity token.
#[derive(Debug, Args)]
pub struct IrsaArgs {
    /// The Kubernetes service account Ferry's pods run as, `NAMESPACE/NAME`
    /// (`deploy/kubernetes`: `ferry/ferry`).
    #[arg(
        long,
        value_name = "NAMESPACE/NAME",
        env = "FERRY_IRSA_SERVICE_ACCOUNT"
    )]
    service_account: Option<String>,
    /// The cluster's IAM OIDC provider ARN
    /// (`arn:aws:iam::<account>:oidc-provider/oidc.eks.<region>.amazonaws.com/id/<id>`).
    #[arg(
        long,
        value_name = "ARN",
        env = "FERRY_IRSA_OIDC_PROVIDER_ARN",
        conflicts_with = "oidc_issuer",
        requires = "service_account"
    )]
    oidc_provider_arn: Option<String>,
    /// Or the cluster's OIDC issuer URL (`aws eks describe-cluster --query
    /// cluster.identity.oidc.issuer`); the provider is the one registered for it in the
    /// hosting account.
    #[arg(
        long,
        value_name = "URL",
        env = "FERRY_IRSA_OIDC_ISSUER",
        requires = "service_account"
    )]
    oidc_issuer: Option<String>,
}

impl IrsaArgs {
    fn trust(&self, inputs: &ChainInputs) -> anyhow::Result<Option<ServiceAccountTrust>> {
        let Some(sa) = &self.service_account else {
            return Ok(None);
        };
        let Some((namespace, name)) = sa.split_once('/') else {
            bail!("--service-account {sa:?} must be NAMESPACE/NAME");
        };
        let trust = match (&self.oidc_provider_arn, &self.oidc_issuer) {
            (Some(arn), _) => ServiceAccountTrust::new(arn, namespace, name),
            (None, Some(issuer)) => ServiceAccountTrust::from_issuer(
                issuer,
                inputs.partition(),
                inputs.environment.account.as_str(),
                namespace,
                name,
            ),
            (None, None) => {
                bail!("--service-account needs --oidc-provider-arn or --oidc-issuer")
            }
        };
        trust.map(Some).map_err(|e| anyhow::anyhow!(e))
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The environment (a table under [environments]).
    #[arg(long = "env", value_name = "NAME")]
    env: String,
    /// The research bucket's policy (JSON).
    #[arg(long, value_name = "FILE")]
    bucket_policy: PathBuf,
    /// The execution role's identity policy (JSON; merge several into one document).
    #[arg(long, value_name = "FILE")]
    execution_role_policy: PathBuf,
    /// The execution role's trust policy (JSON).
    #[arg(long, value_name = "FILE")]
    trust_policy: PathBuf,
    /// The research key's policy (JSON), when the artifacts are encrypted.
    #[arg(long, value_name = "FILE")]
    source_key_policy: Option<PathBuf>,
    /// The hosting key's policy (JSON), when the environment has one.
    #[arg(long, value_name = "FILE")]
    hosting_key_policy: Option<PathBuf>,
    /// Ferry's control role identity policy (JSON).
    #[arg(long, value_name = "FILE")]
    control_role_policy: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Exit non-zero on over-grants too (2 when nothing is missing).
    #[arg(long)]
    strict: bool,
    /// As for `render` (the control role's trust policy is not checked).
    #[arg(long, value_name = "ARN")]
    ferry_principal: Option<String>,
}

fn inputs(
    config: &Config,
    env: &str,
    ferry_principal: Option<String>,
) -> anyhow::Result<ChainInputs> {
    let catalog = config.catalog()?;
    let Some(environment) = catalog.environment(env) else {
        let known: Vec<String> = catalog.environments().map(|e| e.name.to_string()).collect();
        bail!(
            "--env {env} is not declared under [environments]; known: {}",
            known.join(", ")
        );
    };
    Ok(ChainInputs::for_environment(
        &catalog,
        environment,
        ferry_principal,
    ))
}

/// Runs `ferry policy ...`, writing to `out`.
pub fn run(
    config: &Config,
    command: &PolicyCommand,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Render(args) => {
            let mut inputs = inputs(config, &args.env, args.ferry_principal.clone())?;
            if let Some(sa) = args.irsa.trust(&inputs)? {
                inputs = inputs.with_service_account(sa, args.ferry_principal.is_some());
            }
            let files = match args.format {
                Format::Json => json_files(&render(&inputs))?,
                Format::Cloudformation => cloudformation_files(&inputs)?,
                Format::Terraform => terraform::files(&inputs)?,
            };
            if args.check {
                return check_files(&args.out, &files, out);
            }
            write_files(&args.out, &files, out)?;
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Check(args) => {
            let inputs = inputs(config, &args.env, args.ferry_principal.clone())?;
            let given = GivenDocuments {
                bucket_policy: Some(read_doc(&args.bucket_policy)?),
                execution_role_policy: Some(read_doc(&args.execution_role_policy)?),
                trust_policy: Some(read_doc(&args.trust_policy)?),
                source_key_policy: args
                    .source_key_policy
                    .as_deref()
                    .map(read_doc)
                    .transpose()?,
                hosting_key_policy: args
                    .hosting_key_policy
                    .as_deref()
                    .map(read_doc)
                    .transpose()?,
                control_role_policy: args
                    .control_role_policy
                    .as_deref()
                    .map(read_doc)
                    .transpose()?,
            };
            let report = check(&inputs, &given);
            if args.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                write_report(&report, out)?;
            }
            let over = report.of(FindingKind::OverGrant).next().is_some();
            Ok(if !report.is_complete() {
                ExitCode::from(1)
            } else if args.strict && over {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

fn read_doc(path: &Path) -> anyhow::Result<PolicyDocument> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    PolicyDocument::parse(&text)
        .with_context(|| format!("{} is not a valid policy document", path.display()))
}

fn pretty(v: &Value) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(v)?;
    s.push('\n');
    Ok(s)
}

/// One file per document: `<name>.json`, plus `README.txt` explaining every statement.
fn json_files(docs: &[RenderedDocument]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    let mut readme = String::from("Rendered by `ferry policy render`. One line per statement.\n");
    for d in docs {
        files.insert(format!("{}.json", d.name), pretty(&d.document)?);
        readme.push_str(&format!(
            "\n{}.json (account {}): {}\n",
            d.name, d.account, d.summary
        ));
        for n in &d.statements {
            readme.push_str(&format!("  {}: {}\n", n.sid, n.explanation));
        }
    }
    files.insert("README.txt".into(), readme);
    Ok(files)
}

fn logical_id(prefix: &str, text: &str) -> String {
    let mut id = String::from(prefix);
    let mut upper = true;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                id.push(c.to_ascii_uppercase());
            } else {
                id.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    id
}

fn notes(d: &RenderedDocument) -> Value {
    let statements: serde_json::Map<String, Value> = d
        .statements
        .iter()
        .map(|n| (n.sid.clone(), Value::from(n.explanation.clone())))
        .collect();
    json!({"Summary": d.summary, "Statements": statements})
}

fn role_name_and_path(arn: &str) -> (String, String) {
    let resource = arn.split_once(":role/").map_or(arn, |(_, r)| r);
    match resource.rsplit_once('/') {
        Some((path, name)) => (name.to_owned(), format!("/{path}/")),
        None => (resource.to_owned(), "/".to_owned()),
    }
}

fn role_resource(
    arn: &str,
    description: &str,
    trust: &RenderedDocument,
    policy: &RenderedDocument,
    policy_name: &str,
) -> Value {
    let (name, path) = role_name_and_path(arn);
    json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": name,
            "Path": path,
            "Description": description,
            "AssumeRolePolicyDocument": trust.document,
            "Policies": [{"PolicyName": policy_name, "PolicyDocument": policy.document}],
        },
    })
}

/// One template per account: `research-<account>.json`, `hosting-<account>.json`.
fn cloudformation_files(inputs: &ChainInputs) -> anyhow::Result<BTreeMap<String, String>> {
    let docs = render(inputs);
    let env = &inputs.environment;
    let mut files = BTreeMap::new();
    let mut research: BTreeMap<String, Vec<&RenderedDocument>> = BTreeMap::new();
    for d in docs
        .iter()
        .filter(|d| d.kind.side() == AccountSide::Research)
    {
        research.entry(d.account.clone()).or_default().push(d);
    }
    for (account, list) in research {
        let mut resources = serde_json::Map::new();
        let mut outputs = serde_json::Map::new();
        let mut metadata = serde_json::Map::new();
        for d in &list {
            metadata.insert(d.name.clone(), notes(d));
            match d.kind {
                DocumentKind::BucketPolicy => {
                    resources.insert(
                        logical_id("BucketPolicy", &d.attached_to),
                        json!({"Type": "AWS::S3::BucketPolicy", "Properties": {
                            "Bucket": d.attached_to, "PolicyDocument": d.document}}),
                    );
                }
                // The model registry reader role: one resource from its trust and identity
                // policies (the latter is matched here, by the role it is attached to).
                DocumentKind::RegistryReaderTrustPolicy => {
                    let Some(policy) = list.iter().find(|p| {
                        p.kind == DocumentKind::RegistryReaderPolicy
                            && p.attached_to == d.attached_to
                    }) else {
                        bail!("the rendering lacks the policy of {}", d.attached_to);
                    };
                    let (name, _) = role_name_and_path(&d.attached_to);
                    resources.insert(
                        logical_id("RegistryReaderRole", &name),
                        role_resource(
                            &d.attached_to,
                            "Ferry's model registry reader: reads SageMaker model packages (DescribeModelPackage) for imports, assumed from Ferry's control role",
                            d,
                            policy,
                            "FerryRegistryReaderPolicy",
                        ),
                    );
                }
                DocumentKind::RegistryReaderPolicy => {}
                DocumentKind::ModelPackageGroupPolicy => {
                    outputs.insert(
                        logical_id("ModelPackageGroupPolicyStatement", &d.account),
                        json!({
                            "Description": d.summary,
                            "Value": serde_json::to_string(&d.document["Statement"])?,
                        }),
                    );
                }
                _ => {
                    outputs.insert(
                        logical_id("KeyPolicyStatement", &d.name),
                        json!({
                            "Description": d.summary,
                            "Value": serde_json::to_string(&d.document["Statement"])?,
                        }),
                    );
                }
            }
        }
        let mut template = json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": format!(
                "Ferry: research account {account} side of the Bedrock import chain for environment {} (hosting account {}). The bucket policy resource replaces the bucket's policy: merge existing statements first. Key policy and model package group policy statements are outputs to add to those policies.",
                env.name, env.account
            ),
            "Metadata": {"Ferry": metadata},
            "Resources": resources,
        });
        if !outputs.is_empty() {
            template["Outputs"] = Value::Object(outputs);
        }
        if template["Resources"]
            .as_object()
            .is_some_and(serde_json::Map::is_empty)
        {
            // A template needs a resource; an account with outputs only (a key or a model
            // package group policy) documents with a wait condition.
            template["Resources"] =
                json!({"NoBucketPolicy": {"Type": "AWS::CloudFormation::WaitConditionHandle"}});
        }
        files.insert(format!("research-{account}.json"), pretty(&template)?);
    }

    let find = |kind: DocumentKind| docs.iter().find(|d| d.kind == kind);
    let (Some(exec_policy), Some(exec_trust), Some(control_policy), Some(control_trust)) = (
        find(DocumentKind::ExecutionRolePolicy),
        find(DocumentKind::ExecutionRoleTrustPolicy),
        find(DocumentKind::ControlRolePolicy),
        find(DocumentKind::ControlRoleTrustPolicy),
    ) else {
        bail!("the rendering lacks a role document");
    };
    let mut metadata = serde_json::Map::new();
    for d in docs
        .iter()
        .filter(|d| d.kind.side() == AccountSide::Hosting)
    {
        metadata.insert(d.name.clone(), notes(d));
    }
    let mut exec = role_resource(
        env.execution_role.as_str(),
        "IAM execution role to be used by CMI jobs (Bedrock reads the model artifacts with it)",
        exec_trust,
        exec_policy,
        "BedrockCMIExecutionPolicy",
    );
    // The trust policy names the control role: IAM rejects a principal that does not exist yet.
    exec["DependsOn"] = json!("ControlRole");
    let control = role_resource(
        env.control_role.as_str(),
        "Ferry's control role: submits and tracks Bedrock import jobs, preflights the execution role",
        control_trust,
        control_policy,
        "FerryControlPolicy",
    );
    let mut outputs = json!({
        "ExecutionRoleArn": {"Description": "roleArn of the import jobs", "Value": {"Fn::GetAtt": ["ExecutionRole", "Arn"]}},
        "ControlRoleArn": {"Description": "control_role_arn in Ferry's configuration", "Value": {"Fn::GetAtt": ["ControlRole", "Arn"]}},
    });
    if let Some(key) = find(DocumentKind::HostingKeyPolicy) {
        outputs["HostingKeyPolicyStatement"] = json!({
            "Description": key.summary,
            "Value": serde_json::to_string(&key.document["Statement"])?,
        });
    }
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "Ferry: hosting account {} side of the Bedrock import chain for environment {} in {}. Creates the execution role and Ferry's control role; the hosting key policy statement is an output to add to the key's policy.",
            env.account, env.name, env.region
        ),
        "Metadata": {"Ferry": metadata},
        "Resources": {"ExecutionRole": exec, "ControlRole": control},
        "Outputs": outputs,
    });
    files.insert(format!("hosting-{}.json", env.account), pretty(&template)?);
    Ok(files)
}

fn write_files(
    dir: &Path,
    files: &BTreeMap<String, String>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, body) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(())
}

fn check_files(
    dir: &Path,
    files: &BTreeMap<String, String>,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let mut stale = Vec::new();
    for (name, body) in files {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(body.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    if !stale.is_empty() {
        bail!(
            "{} out of date with the code; regenerate with `ferry policy render ... --out {}`",
            stale.join(", "),
            dir.display()
        );
    }
    writeln!(out, "{} is up to date", dir.display())?;
    Ok(ExitCode::SUCCESS)
}

fn write_report(report: &CheckReport, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "ferry policy check: environment {}",
        report.environment
    )?;
    for f in &report.findings {
        let tag = match f.kind {
            FindingKind::Missing => "MISSING",
            FindingKind::OverGrant => "OVER-GRANT",
            FindingKind::NotChecked => "NOT CHECKED",
        };
        writeln!(out, "{tag}: {} [{}]", f.step, f.document.slug())?;
        writeln!(out, "  {}", f.detail)?;
        if let Some(e) = &f.evidence {
            writeln!(out, "  AWS would answer: {e}")?;
        }
        if let Some(fix) = &f.fix {
            writeln!(out, "  statement to add: {}", serde_json::to_string(fix)?)?;
        }
    }
    let missing = report.of(FindingKind::Missing).count();
    let over = report.of(FindingKind::OverGrant).count();
    writeln!(
        out,
        "result: {missing} missing grant(s), {over} over-grant(s){}",
        if missing == 0 {
            "; the import's access is complete"
        } else {
            ""
        }
    )?;
    Ok(())
}
