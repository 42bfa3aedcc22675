//! `provision up`: converge the stack, then print how to reach it.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::apply::{Applier, ImageChoice, Launch, Outcome, Step, Timing};
use crate::cli::{Common, RuleArgs, UpArgs};
use crate::discover::discover;
use crate::ec2::CallSummary;
use crate::output;
use crate::plan::{self, Desired, KeySource, Local};
use crate::settings::{self, Cidr, UserData};
use crate::stack::Rule;
use crate::{connect, exit};

/// The validated desired rules shared by `up` and `status`.
#[derive(Debug, Clone)]
pub struct Rules {
    /// App port.
    pub port: u16,
    /// Who may reach the app port.
    pub app_cidr: Cidr,
    /// Who may ssh in, if given.
    pub ssh_cidr: Option<Cidr>,
    /// Instance type.
    pub instance_type: String,
    /// Where a created key pair's private key lives.
    pub key_file: PathBuf,
}

impl Rules {
    /// Validates the shared flags (no AWS calls).
    pub fn from_args(name: &str, args: &RuleArgs) -> Result<Self, settings::SettingsError> {
        Ok(Rules {
            port: settings::port(&args.port)?,
            app_cidr: settings::cidr("--app-cidr", &args.app_cidr)?,
            ssh_cidr: args
                .ssh_cidr
                .as_deref()
                .map(|c| settings::cidr("--ssh-cidr", c))
                .transpose()?,
            instance_type: settings::instance_type(&args.instance_type)?,
            key_file: match &args.key_file {
                Some(p) => p.clone(),
                None => settings::default_key_file(name)?,
            },
        })
    }
}

/// What `up` prints.
#[derive(Debug, Serialize)]
pub struct UpReport {
    /// Stack name.
    pub stack: String,
    /// Region.
    pub region: String,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Whether nothing needed changing.
    pub up_to_date: bool,
    /// The actions and their outcomes.
    pub steps: Vec<Step>,
    /// Drift left alone and other remarks.
    pub notes: Vec<String>,
    /// The instance.
    pub instance_id: Option<String>,
    /// The Elastic IP.
    pub elastic_ip: Option<String>,
    /// How to ssh in.
    pub ssh: Option<String>,
    /// The Kakao skill URL base.
    pub app_url: Option<String>,
    /// The Swagger UI.
    pub docs_url: Option<String>,
    /// Who may ssh in.
    pub ssh_cidr: String,
    /// The user-data file given to a new instance, if any.
    pub user_data: Option<PathBuf>,
    /// EC2 calls made.
    pub calls: CallSummary,
}

fn text(r: &UpReport) -> String {
    let mut out = String::new();
    let changes = r.steps.iter().filter(|s| s.call.is_some()).count();
    if r.dry_run {
        out += &format!(
            "dry run for stack {} in {}: {} change(s) planned\n",
            r.stack, r.region, changes
        );
        for s in &r.steps {
            let verdict = match &s.outcome {
                Outcome::Permitted => "permitted".to_owned(),
                Outcome::Denied { error } => format!("DENIED: {error}"),
                Outcome::NotChecked { reason } => format!("not checked: {reason}"),
                Outcome::Done { .. } => "done".to_owned(),
                Outcome::Failed { error } => format!("failed: {error}"),
            };
            out += &format!("  would {}: {verdict}\n", s.action);
        }
    } else if r.up_to_date {
        out += &format!("stack {} in {} is up to date\n", r.stack, r.region);
    } else {
        out += &format!(
            "stack {} in {} is up ({changes} change(s) made)\n",
            r.stack, r.region
        );
    }
    let mut line = |label: &str, value: &Option<String>| {
        if let Some(v) = value {
            out += &format!("{label:<11}{v}\n");
        }
    };
    line("instance", &r.instance_id);
    line("elastic ip", &r.elastic_ip);
    line("ssh", &r.ssh);
    line("app", &r.app_url);
    line("swagger", &r.docs_url);
    for n in &r.notes {
        out += &format!("note: {n}\n");
    }
    out
}

/// The private key to pass to `ssh -i`: the created key file, or the
/// imported public key's private half when it sits beside it.
fn identity(key: &KeySource) -> Option<PathBuf> {
    match key {
        KeySource::Create { file } => Some(file.clone()),
        KeySource::Import { path, .. } => {
            let private = path.with_extension("");
            (path.extension().is_some_and(|e| e == "pub") && private.is_file()).then_some(private)
        }
    }
}

/// Runs `provision up`.
pub async fn run(common: &Common, args: &UpArgs) -> anyhow::Result<u8> {
    // Every flag is checked before the first network call.
    let name = settings::stack_name(&common.name)?;
    let rules = Rules::from_args(&name, &args.rules)?;
    let image = match &args.ami {
        Some(ami) => ImageChoice::Ami(settings::ami(ami)?),
        None => ImageChoice::Ubuntu(settings::ubuntu_release(&args.ubuntu)?),
    };
    let key = match &args.public_key {
        Some(path) => KeySource::Import {
            public_key: settings::public_key(path)?,
            path: path.clone(),
        },
        None => KeySource::Create {
            file: rules.key_file.clone(),
        },
    };
    let user_data: Option<UserData> = settings::user_data(args.user_data.as_deref())?;
    let ssh_cidr = match rules.ssh_cidr {
        Some(c) => c,
        None => {
            let ip = crate::public_ip::detect(&args.checkip_url, crate::public_ip::TIMEOUT)
                .await
                .with_context(|| {
                    format!(
                        "could not detect this machine's public address via {} to limit SSH to it; \
                         pass --ssh-cidr with the address or network that may ssh in, \
                         e.g. --ssh-cidr 203.0.113.7/32",
                        args.checkip_url
                    )
                })?;
            Cidr::host(ip)
        }
    };

    let ctx = connect(common, name.clone()).await?;
    let progress = &ctx.progress;
    if rules.ssh_cidr.is_none() {
        progress.note(&format!(
            "SSH allowed from this machine's address {ssh_cidr}"
        ));
    }
    match &user_data {
        Some(u) => progress.note(&format!("user data: {}", u.path.display())),
        None => progress.note(&format!(
            "no user data: {} does not exist here and --user-data was not given",
            settings::DEFAULT_USER_DATA
        )),
    }

    let desired = Desired {
        name: name.clone(),
        key: key.clone(),
        ingress: vec![
            Rule::tcp(22, ssh_cidr),
            Rule::tcp(rules.port, rules.app_cidr),
        ],
        instance_type: rules.instance_type.clone(),
    };
    let stack = discover(&ctx.ec2, &name).await?;
    // An empty key file is what a run killed between CreateKeyPair and the
    // write leaves behind: it holds no key, so it counts as missing.
    let local = Local {
        key_file_exists: std::fs::metadata(&rules.key_file).is_ok_and(|m| m.len() > 0),
    };
    let plan = plan::plan_up(&desired, &stack, local)?;
    let launch = Launch {
        name: name.clone(),
        instance_type: rules.instance_type.clone(),
        image,
        user_data: user_data.as_ref().map(|u| u.bytes.clone()),
    };
    let applier = Applier {
        ec2: &ctx.ec2,
        launch: Some(&launch),
        timing: Timing::default(),
        dry_run: args.dry_run,
        progress,
    };
    let applied = applier.apply(&plan.actions, false).await;

    let instance_id = applied
        .produced
        .instance_id
        .clone()
        .or_else(|| plan::kept_instance(&stack).map(|i| i.id.clone()));
    let elastic_ip = applied
        .produced
        .address
        .as_ref()
        .map(|(_, ip)| ip.clone())
        .or_else(|| {
            plan::kept_address(&stack, plan::kept_instance(&stack)).map(|a| a.public_ip.clone())
        });
    let ssh = elastic_ip.as_ref().map(|ip| match identity(&key) {
        Some(file) => format!("ssh -i {} ubuntu@{ip}", shell_quote(&file)),
        None => format!("ssh ubuntu@{ip}"),
    });
    let app_url = elastic_ip
        .as_ref()
        .map(|ip| format!("http://{ip}:{}", rules.port));
    let report = UpReport {
        stack: name,
        region: ctx.region.clone(),
        dry_run: args.dry_run,
        up_to_date: plan.actions.is_empty(),
        steps: applied.steps,
        notes: plan.notes,
        instance_id,
        elastic_ip,
        ssh,
        docs_url: app_url.as_ref().map(|u| format!("{u}/docs")),
        app_url,
        ssh_cidr: ssh_cidr.to_string(),
        user_data: user_data.map(|u| u.path),
        calls: ctx.ec2.log().summary(),
    };
    output::print_calls(ctx.verbose, &report.calls);
    if let Some(e) = applied.errors.into_iter().next() {
        // The steps done so far are already on stderr; the next `up` finishes
        // the job from wherever this one stopped.
        return Err(anyhow::Error::new(e).context(format!(
            "up stopped part-way; run `provision up` again to finish stack {}",
            report.stack
        )));
    }
    output::print(ctx.output, &report, text);
    let denied = report
        .steps
        .iter()
        .any(|s| matches!(s.outcome, Outcome::Denied { .. }));
    Ok(if denied { exit::ERROR } else { 0 })
}

/// Quotes a path for the printed ssh command when it needs it.
fn shell_quote(path: &Path) -> String {
    let s = path.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-~+".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
