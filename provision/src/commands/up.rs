//! `provision up`: discover, resolve, plan, apply (or dry-run), then print how
//! to reach the stack.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use super::connect;
use crate::apply::{Applied, Interpreter, Step, Timing};
use crate::cli::{Common, UpArgs};
use crate::desired::{Cidr, Desired, ImageChoice, InstanceType, KeySource, Port, UserData};
use crate::discover::{discover, resolve};
use crate::ec2::{CallSummary, Image, Mode};
use crate::output;
use crate::plan::{self, Action, Local};
use crate::settings;
use crate::stack::Stack;
use crate::Exit;

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
    /// How to reach the stack.
    #[serde(flatten)]
    pub reach: Reach,
    /// Who may ssh in.
    pub ssh_cidr: String,
    /// The user-data file given to a new instance, if any.
    pub user_data: Option<PathBuf>,
    /// What a new instance is (or would be) launched with, when the plan
    /// launches one.
    pub launch: Option<LaunchReport>,
    /// EC2 calls made.
    pub calls: CallSummary,
}

/// How to reach the stack: its instance, its address and the URLs there.
#[derive(Debug, Serialize)]
pub struct Reach {
    /// The instance.
    pub instance_id: Option<String>,
    /// The Elastic IP.
    pub elastic_ip: Option<String>,
    /// How to ssh in.
    pub ssh: Option<String>,
    /// The service's base URL (HTTPS, with the certificate it obtains itself).
    pub app_url: Option<String>,
    /// The URLs to register as skills in Kakao's chatbot admin centre.
    pub skill_urls: Vec<String>,
    /// The Swagger UI.
    pub docs_url: Option<String>,
    /// The plain URL on the extra port, when `--port` opened one.
    pub legacy_url: Option<String>,
}

impl Reach {
    /// The instance and address this run made, else the ones the stack keeps.
    fn of(applied: &Applied, stack: &Stack, key: &KeySource, port: Option<Port>) -> Self {
        let instance_id = applied
            .instance()
            .map(str::to_owned)
            .or_else(|| stack.kept_instance().map(|i| i.id.clone()));
        let elastic_ip = applied
            .public_ip()
            .map(str::to_owned)
            .or_else(|| stack.kept_address().map(|a| a.public_ip.clone()));
        let ssh = elastic_ip.as_ref().map(|ip| match identity(key) {
            Some(file) => format!("ssh -i {} ubuntu@{ip}", shell_quote(&file)),
            None => format!("ssh ubuntu@{ip}"),
        });
        let app_url = elastic_ip.as_ref().map(|ip| format!("https://{ip}"));
        let skill_urls = app_url
            .iter()
            .flat_map(|u| [format!("{u}/quiz/skill"), format!("{u}/lunch/skill")])
            .collect();
        let legacy_url = elastic_ip
            .as_ref()
            .zip(port)
            .map(|(ip, port)| format!("http://{ip}:{port}"));
        Reach {
            instance_id,
            elastic_ip,
            ssh,
            docs_url: app_url.as_ref().map(|u| format!("{u}/docs")),
            app_url,
            skill_urls,
            legacy_url,
        }
    }
}

/// What the plan launches: the image, the type and the user data.
#[derive(Debug, Serialize)]
pub struct LaunchReport {
    /// The image.
    pub image: Image,
    /// The instance type.
    pub instance_type: InstanceType,
    /// The user-data file, or `None` for no user data.
    pub user_data: Option<PathBuf>,
}

impl LaunchReport {
    /// The launch in `plan`, if it has one.
    fn of(plan: &plan::Plan) -> Option<Self> {
        plan.actions.iter().find_map(|a| match a {
            Action::RunInstance {
                image,
                instance_type,
                user_data,
                ..
            } => Some(LaunchReport {
                image: image.clone(),
                instance_type: instance_type.clone(),
                user_data: user_data.as_ref().map(|u| u.path.clone()),
            }),
            _ => None,
        })
    }
}

fn text(r: &UpReport) -> String {
    let mut out = String::new();
    let changes = r.steps.iter().filter(|s| s.call.is_some()).count();
    if r.dry_run {
        out += &format!(
            "dry run for stack {} in {}: {} change(s) planned\n",
            r.stack, r.region, changes
        );
        if let Some(l) = &r.launch {
            out += &format!("image      {} ({})\n", l.image.id, l.image.name);
            out += &format!("type       {}\n", l.instance_type);
            out += &format!(
                "user data  {}\n",
                l.user_data.as_ref().map_or_else(
                    || format!(
                        "none ({} not found, --user-data not given)",
                        settings::DEFAULT_USER_DATA
                    ),
                    |p| p.display().to_string()
                )
            );
        }
        for s in &r.steps {
            out += &s.dry_run_line();
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
    let reach = &r.reach;
    line("instance", &reach.instance_id);
    line("elastic ip", &reach.elastic_ip);
    line("ssh", &reach.ssh);
    line("app", &reach.app_url);
    for skill in &reach.skill_urls {
        line("skill", &Some(skill.clone()));
    }
    line("swagger", &reach.docs_url);
    line("legacy", &reach.legacy_url);
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
pub async fn run(common: &Common, args: &UpArgs) -> anyhow::Result<Exit> {
    let Inputs {
        desired,
        image,
        key,
        user_data,
        ssh_detected,
    } = inputs(common, args).await?;
    let ssh_cidr = desired.ssh_cidr.map(|c| c.to_string()).unwrap_or_default();
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Apply
    };
    let ctx = connect(common, mode).await?;
    let progress = &ctx.progress;
    if ssh_detected {
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

    // Discover, resolve, plan: everything the plan needs is read first.
    let stack = discover(&ctx.ec2, &ctx.name).await?;
    let resolved = resolve(&ctx.ec2, plan::needs(&desired, &stack), &image).await?;
    if let Some(image) = &resolved.image {
        progress.note(&format!("using image {} ({})", image.id, image.name));
    }
    // An empty key file is what a run killed between CreateKeyPair and the
    // write leaves behind: it holds no key, so it counts as missing.
    let local = Local {
        key: key.clone(),
        key_file_exists: std::fs::metadata(&desired.key_file).is_ok_and(|m| m.len() > 0),
        user_data: user_data.clone(),
    };
    let plan = plan::plan_up(&desired, &stack, &resolved, &local)?;

    // Apply (or ask EC2 about) the plan.
    let interpreter = Interpreter {
        ec2: &ctx.ec2,
        timing: Timing::default(),
        progress,
    };
    let applied = interpreter.run(&plan.actions, false).await;

    let report = UpReport {
        stack: ctx.name.clone(),
        region: ctx.region.clone(),
        dry_run: args.dry_run,
        up_to_date: plan.actions.is_empty(),
        launch: LaunchReport::of(&plan),
        reach: Reach::of(&applied, &stack, &key, desired.port),
        steps: applied.steps,
        notes: plan.notes,
        ssh_cidr,
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
    let refused = report.steps.iter().any(|s| s.outcome.is_refusal());
    Ok(if refused { Exit::Error } else { Exit::Success })
}

/// What `up`'s flags name, every file read and the SSH address known, before the
/// first call to EC2.
struct Inputs {
    desired: Desired,
    image: ImageChoice,
    key: KeySource,
    user_data: Option<UserData>,
    /// The SSH rule's address is this machine's, asked of `--checkip-url`.
    ssh_detected: bool,
}

async fn inputs(common: &Common, args: &UpArgs) -> anyhow::Result<Inputs> {
    let mut desired = settings::desired(&common.name, &args.rules)?;
    let image = match &args.ami {
        Some(ami) => ImageChoice::Ami(ami.clone()),
        None => ImageChoice::Ubuntu(args.ubuntu.clone()),
    };
    let key = match &args.public_key {
        Some(path) => KeySource::Import {
            public_key: settings::public_key(path)?,
            path: path.clone(),
        },
        None => KeySource::Create {
            file: desired.key_file.clone(),
        },
    };
    let user_data = settings::user_data(args.user_data.as_deref())?;
    let ssh_detected = desired.ssh_cidr.is_none();
    if ssh_detected {
        desired.ssh_cidr = Some(this_machine(&args.checkip_url).await?);
    }
    Ok(Inputs {
        desired,
        image,
        key,
        user_data,
        ssh_detected,
    })
}

/// This machine's public address as a /32, for the SSH rule when
/// `--ssh-cidr` is not given.
async fn this_machine(checkip_url: &str) -> anyhow::Result<Cidr> {
    let ip = crate::public_ip::detect(checkip_url, crate::public_ip::TIMEOUT)
        .await
        .with_context(|| {
            format!(
                "could not detect this machine's public address via {checkip_url} to limit SSH \
                 to it; pass --ssh-cidr with the address or network that may ssh in, \
                 e.g. --ssh-cidr 203.0.113.7/32"
            )
        })?;
    Ok(Cidr::host(ip))
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
