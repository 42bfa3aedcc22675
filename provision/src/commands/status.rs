//! `provision status`: each resource with its id and state, and whether it
//! matches the desired state, read from the same [`Drift`] that `up` plans
//! from. The assessment is pure and unit-tested.

use serde::Serialize;

use super::connect;
use crate::cli::{Common, StatusArgs};
use crate::desired::Desired;
use crate::discover::discover;
use crate::drift::Drift;
use crate::ec2::{CallSummary, Mode};
use crate::output;
use crate::settings;
use crate::stack::{Address, InstanceState, Stack};
use crate::Exit;

/// One line of the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceStatus {
    /// `key pair`, `private key`, `security group`, `instance` or `elastic ip`.
    pub kind: &'static str,
    /// Its id (or path), when it exists.
    pub id: Option<String>,
    /// `missing`, `present`, or the EC2 state.
    pub state: String,
    /// Whether it matches the desired state.
    pub ok: bool,
    /// What differs, or other facts.
    pub detail: Option<String>,
}

/// What `status` prints.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// Stack name.
    pub stack: String,
    /// Region.
    pub region: String,
    /// Whether every resource matches.
    pub complete: bool,
    /// The resources.
    pub resources: Vec<ResourceStatus>,
    /// EC2 calls made.
    pub calls: CallSummary,
}

fn line(
    kind: &'static str,
    id: Option<String>,
    state: &str,
    ok: bool,
    detail: Option<String>,
) -> ResourceStatus {
    ResourceStatus {
        kind,
        id,
        state: state.to_owned(),
        ok,
        detail,
    }
}

/// Compares the stack with the desired state, one line per resource.
/// `key_file_exists` says whether the private key is on this machine.
pub fn assess(desired: &Desired, stack: &Stack, key_file_exists: bool) -> Vec<ResourceStatus> {
    let drift = Drift::judge(desired, stack);
    let mut out = key_pair(desired, &drift, key_file_exists);
    out.extend(security_groups(&drift));
    out.extend(instances(&drift));
    out.extend(addresses(stack, &drift));
    out
}

/// The key pair, and (for information) its private key here.
fn key_pair(desired: &Desired, drift: &Drift, key_file_exists: bool) -> Vec<ResourceStatus> {
    let Some(k) = drift.key_pair else {
        return vec![line("key pair", None, "missing", false, None)];
    };
    let key_file = line(
        "private key",
        Some(desired.key_file.display().to_string()),
        if key_file_exists {
            "present"
        } else {
            "not here"
        },
        true,
        (!key_file_exists)
            .then(|| "fine if you imported your own public key or keep it elsewhere".to_owned()),
    );
    vec![
        line(
            "key pair",
            Some(k.name.clone()),
            "present",
            true,
            k.id.clone(),
        ),
        key_file,
    ]
}

/// The kept group with its rules, and a line for any other group.
fn security_groups(drift: &Drift) -> Vec<ResourceStatus> {
    let Some(kept) = &drift.group else {
        return vec![line("security group", None, "missing", false, None)];
    };
    let rules = kept
        .group
        .ingress
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let problems = kept.problems();
    let detail = std::iter::once(format!("rules: {rules}"))
        .chain(problems)
        .collect::<Vec<_>>()
        .join("; ");
    let clean = kept.is_clean();
    let mut out = vec![line(
        "security group",
        Some(kept.group.id.clone()),
        if clean { "present" } else { "drifted" },
        clean,
        Some(detail),
    )];
    out.extend(drift.extra_groups.iter().map(|g| {
        line(
            "security group",
            Some(g.id.clone()),
            "extra",
            false,
            Some(format!(
                "also carries the stack tag; {} is the one used",
                kept.group.id
            )),
        )
    }));
    out
}

/// The kept instance, and a line for the duplicates.
fn instances(drift: &Drift) -> Vec<ResourceStatus> {
    let Some(kept) = &drift.instance else {
        return vec![line("instance", None, "missing", false, None)];
    };
    let i = kept.instance;
    let running = (i.state != InstanceState::Running).then(|| "not running".to_owned());
    let problems: Vec<String> = running
        .into_iter()
        .chain(kept.differences.iter().map(ToString::to_string))
        .collect();
    let detail = std::iter::once(format!(
        "{}, image {}",
        i.instance_type,
        i.image_id.as_deref().unwrap_or("?")
    ))
    .chain(problems.iter().cloned())
    .collect::<Vec<_>>()
    .join("; ");
    let mut out = vec![line(
        "instance",
        Some(i.id.clone()),
        i.state.name(),
        problems.is_empty(),
        Some(detail),
    )];
    if !drift.extra_instances.is_empty() {
        let ids: Vec<&str> = drift
            .extra_instances
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        out.push(line(
            "instance",
            Some(ids.join(", ")),
            "extra",
            false,
            Some("duplicates; `provision up` terminates them".to_owned()),
        ));
    }
    out
}

/// Every Elastic IP: every unassociated one is billed by the hour.
fn addresses(stack: &Stack, drift: &Drift) -> Vec<ResourceStatus> {
    if stack.addresses.is_empty() {
        return vec![line("elastic ip", None, "missing", false, None)];
    }
    let kept = |a: &Address| Some(a) == drift.address;
    stack
        .addresses
        .iter()
        .map(|a| {
            let (state, ok, detail) = match &a.instance_id {
                None => (
                    "unassociated",
                    false,
                    "not associated with an instance, yet billed by the hour".to_owned(),
                ),
                Some(on) if !kept(a) => (
                    "extra",
                    false,
                    format!("duplicate, associated with {on}; billed by the hour"),
                ),
                Some(on) if drift.on_kept_instance(a) => ("associated", true, format!("with {on}")),
                Some(on) => (
                    "drifted",
                    false,
                    format!("associated with {on}, not the stack's instance"),
                ),
            };
            line(
                "elastic ip",
                Some(format!("{} ({})", a.public_ip, a.allocation_id)),
                state,
                ok,
                Some(detail),
            )
        })
        .collect()
}

fn text(r: &StatusReport) -> String {
    let mut out = format!(
        "stack {} in {}: {}\n",
        r.stack,
        r.region,
        if r.complete {
            "complete"
        } else {
            "incomplete or drifted"
        }
    );
    for s in &r.resources {
        out += &format!(
            "  {:<4} {:<15} {:<46} {:<13}{}\n",
            if s.ok { "ok" } else { "FIX" },
            s.kind,
            s.id.as_deref().unwrap_or("-"),
            s.state,
            s.detail.as_deref().unwrap_or("")
        );
    }
    out
}

/// Runs `provision status`; exit code 3 when the stack is incomplete or drifted.
pub async fn run(common: &Common, args: &StatusArgs) -> anyhow::Result<Exit> {
    let desired = settings::desired(&common.name, &args.rules)?;
    let ctx = connect(common, Mode::Apply).await?;
    let stack = discover(&ctx.ec2, &ctx.name).await?;
    let resources = assess(&desired, &stack, desired.key_file.exists());
    let report = StatusReport {
        stack: ctx.name.clone(),
        region: ctx.region.clone(),
        complete: resources.iter().all(|r| r.ok),
        resources,
        calls: ctx.ec2.log().summary(),
    };
    output::print_calls(ctx.verbose, &report.calls);
    output::print(ctx.output, &report, text);
    Ok(if report.complete {
        Exit::Success
    } else {
        Exit::Incomplete
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{Cidr, KeySource};
    use crate::drift::fixtures::{complete, desired};
    use crate::plan::{plan_up, Local, Resolved};
    use crate::stack::{Group, Rule};

    /// `status` as run without `--ssh-cidr`.
    fn expect() -> Desired {
        Desired {
            ssh_cidr: None,
            ..desired()
        }
    }

    #[test]
    fn a_complete_stack_is_all_ok() {
        let s = assess(&expect(), &complete(), true);
        assert!(s.iter().all(|r| r.ok), "{s:#?}");
    }

    #[test]
    fn an_empty_stack_is_all_missing() {
        let s = assess(&expect(), &Stack::default(), true);
        assert_eq!(
            s.iter().filter(|r| r.state == "missing").count(),
            4,
            "{s:#?}"
        );
    }

    #[test]
    fn an_unassociated_address_is_flagged_as_billed() {
        let mut stack = complete();
        stack.addresses[0].instance_id = None;
        stack.addresses[0].association_id = None;
        let s = assess(&expect(), &stack, true);
        let eip = s.iter().find(|r| r.kind == "elastic ip").unwrap();
        assert!(!eip.ok);
        assert!(eip.detail.as_deref().unwrap().contains("billed"));
    }

    #[test]
    fn a_wrong_ssh_cidr_or_extra_rule_is_drift() {
        let mut e = expect();
        e.ssh_cidr = Some("192.0.2.0/24".parse().unwrap());
        assert!(!assess(&e, &complete(), true).iter().all(|r| r.ok));
        let mut stack = complete();
        stack.groups[0]
            .ingress
            .push(Rule::tcp(8080, Cidr::ANYWHERE));
        assert!(!assess(&expect(), &stack, true).iter().all(|r| r.ok));
    }

    #[test]
    fn a_stopped_instance_is_not_ok() {
        let mut stack = complete();
        stack.instances[0].state = InstanceState::Stopped;
        assert!(!assess(&expect(), &stack, true).iter().all(|r| r.ok));
    }

    /// Stacks that differ from [`desired`] in one way each.
    fn drifted() -> Vec<(&'static str, Stack)> {
        let with = |change: fn(&mut Stack)| {
            let mut stack = complete();
            change(&mut stack);
            stack
        };
        vec![
            ("nothing", Stack::default()),
            ("no key pair", with(|s| s.key_pairs.clear())),
            ("no group", with(|s| s.groups.clear())),
            ("a second group", {
                with(|s| {
                    let mut other: Group = s.groups[0].clone();
                    other.id = "sg-2".into();
                    other.name = "kb-old".into();
                    s.groups.push(other);
                })
            }),
            (
                "an unwanted rule",
                with(|s| s.groups[0].ingress.push(Rule::tcp(8080, Cidr::ANYWHERE))),
            ),
            (
                "a missing rule",
                with(|s| {
                    s.groups[0].ingress.pop();
                }),
            ),
            (
                "a stopped instance",
                with(|s| s.instances[0].state = InstanceState::Stopped),
            ),
            (
                "another type",
                with(|s| s.instances[0].instance_type = "t3.small".into()),
            ),
            (
                "a wrong key name",
                with(|s| s.instances[0].key_name = Some("old".into())),
            ),
            ("no key name", with(|s| s.instances[0].key_name = None)),
            (
                "outside the group",
                with(|s| s.instances[0].group_ids.clear()),
            ),
            ("a duplicate instance", {
                with(|s| {
                    let mut twin = s.instances[0].clone();
                    twin.id = "i-2".into();
                    s.instances.push(twin);
                })
            }),
            ("no address", with(|s| s.addresses.clear())),
            (
                "an unassociated address",
                with(|s| s.addresses[0].instance_id = None),
            ),
            ("a duplicate address", {
                with(|s| {
                    let mut twin = s.addresses[0].clone();
                    twin.allocation_id = "eipalloc-2".into();
                    twin.instance_id = None;
                    twin.association_id = None;
                    s.addresses.push(twin);
                })
            }),
        ]
    }

    /// The same judgement behind both commands: `status` finds a stack
    /// complete exactly when `up` has nothing to do and nothing to note.
    #[test]
    fn up_and_status_agree_on_drift() {
        let d = desired();
        let local = Local {
            key: KeySource::Create {
                file: d.key_file.clone(),
            },
            key_file_exists: true,
            user_data: None,
        };
        let resolved = Resolved {
            default_vpc: Some("vpc-1".into()),
            image: Some(crate::ec2::Image {
                id: "ami-1".into(),
                name: "ubuntu".into(),
                creation_date: String::new(),
            }),
        };
        let judge = |stack: &Stack| {
            // A stack without a key pair needs a new private key file.
            let local = Local {
                key_file_exists: !stack.key_pairs.is_empty(),
                ..local.clone()
            };
            let plan = plan_up(&d, stack, &resolved, &local).unwrap();
            let up_to_date = plan.actions.is_empty() && plan.notes.is_empty();
            let complete = assess(&d, stack, true).iter().all(|r| r.ok);
            (up_to_date, complete)
        };
        assert_eq!(judge(&complete()), (true, true));
        for (what, stack) in drifted() {
            assert_eq!(judge(&stack), (false, false), "with {what}");
        }
    }

    #[test]
    fn a_wrong_key_name_is_noted_by_up_and_flagged_by_status() {
        let d = desired();
        let mut stack = complete();
        stack.instances[0].key_name = Some("old".into());
        let local = Local {
            key: KeySource::Create {
                file: d.key_file.clone(),
            },
            key_file_exists: true,
            user_data: None,
        };
        let plan = plan_up(&d, &stack, &Resolved::default(), &local).unwrap();
        assert_eq!(
            plan.notes,
            [
                "instance i-1: key pair old (want kb); it is kept (run `provision down` and `up` \
              to replace it)"
            ]
        );
        let status = assess(&d, &stack, true);
        let instance = status.iter().find(|r| r.kind == "instance").unwrap();
        assert!(!instance.ok);
        assert!(
            instance
                .detail
                .as_deref()
                .unwrap()
                .ends_with("key pair old (want kb)"),
            "{instance:?}"
        );
    }
}
