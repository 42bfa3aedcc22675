//! `provision status`: each resource with its id and state, and whether it
//! matches the desired state. The assessment is pure and unit-tested.

use serde::Serialize;

use crate::cli::{Common, StatusArgs};
use crate::desired::Desired;
use crate::discover::discover;
use crate::ec2::{CallSummary, Mode};
use crate::output;
use crate::plan::{kept_address, kept_group, kept_instance};
use crate::settings;
use crate::stack::{InstanceState, Rule, Stack};
use crate::{connect, Exit};

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
    let mut out = Vec::new();

    // Key pair, and (for information) its private key here.
    match stack.key_pairs.first() {
        None => out.push(line("key pair", None, "missing", false, None)),
        Some(k) => {
            out.push(line(
                "key pair",
                Some(k.name.clone()),
                "present",
                true,
                k.id.clone(),
            ));
            out.push(line(
                "private key",
                Some(desired.key_file.display().to_string()),
                if key_file_exists {
                    "present"
                } else {
                    "not here"
                },
                true,
                (!key_file_exists).then(|| {
                    "fine if you imported your own public key or keep it elsewhere".to_owned()
                }),
            ));
        }
    }

    // Security group and rules.
    match kept_group(stack, desired.name.as_str()) {
        None => out.push(line("security group", None, "missing", false, None)),
        Some(g) => {
            let mut app = desired.app_rules();
            app.sort_by_key(ToString::to_string);
            let ssh: Vec<&Rule> = g.ingress.iter().filter(|r| r.is_tcp_port(22)).collect();
            let others: Vec<&Rule> = g.ingress.iter().filter(|r| !r.is_tcp_port(22)).collect();
            let mut problems = Vec::new();
            match desired.ssh_cidr {
                Some(c) => {
                    let want = Rule::tcp(22, c);
                    if ssh.len() != 1 || *ssh[0] != want {
                        problems.push(format!("want {want}"));
                    }
                }
                None => {
                    if ssh.len() != 1 {
                        problems.push("want exactly one SSH rule".to_owned());
                    }
                }
            }
            let mut have: Vec<Rule> = others.into_iter().cloned().collect();
            have.sort_by_key(ToString::to_string);
            if have != app {
                let want: Vec<String> = app.iter().map(ToString::to_string).collect();
                problems.push(format!("want {} and no other rule", want.join(", ")));
            }
            let rules = g
                .ingress
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let detail = if problems.is_empty() {
                format!("rules: {rules}")
            } else {
                format!("rules: {rules}; {}", problems.join("; "))
            };
            out.push(line(
                "security group",
                Some(g.id.clone()),
                if problems.is_empty() {
                    "present"
                } else {
                    "drifted"
                },
                problems.is_empty(),
                Some(detail),
            ));
            if stack.groups.len() > 1 {
                out.push(line(
                    "security group",
                    None,
                    "extra",
                    false,
                    Some(format!("{} groups carry the stack tag", stack.groups.len())),
                ));
            }
        }
    }

    // Instance.
    let instance = kept_instance(stack);
    match instance {
        None => out.push(line("instance", None, "missing", false, None)),
        Some(i) => {
            let mut problems = Vec::new();
            if i.state != InstanceState::Running {
                problems.push("not running".to_owned());
            }
            if i.instance_type != desired.instance_type.as_str() {
                problems.push(format!(
                    "type {} (want {})",
                    i.instance_type, desired.instance_type
                ));
            }
            let detail = format!(
                "{}, image {}",
                i.instance_type,
                i.image_id.as_deref().unwrap_or("?")
            );
            let detail = if problems.is_empty() {
                detail
            } else {
                format!("{detail}; {}", problems.join("; "))
            };
            out.push(line(
                "instance",
                Some(i.id.clone()),
                i.state.name(),
                problems.is_empty(),
                Some(detail),
            ));
        }
    }
    let extras: Vec<&str> = stack
        .instances
        .iter()
        .filter(|i| !i.state.is_going() && Some(&i.id) != instance.map(|k| &k.id))
        .map(|i| i.id.as_str())
        .collect();
    if !extras.is_empty() {
        out.push(line(
            "instance",
            Some(extras.join(", ")),
            "extra",
            false,
            Some("duplicates; `provision up` terminates them".to_owned()),
        ));
    }

    // Elastic IP: every unassociated address is billed by the hour.
    let address = kept_address(stack, instance);
    for a in &stack.addresses {
        let kept = Some(&a.allocation_id) == address.map(|k| &k.allocation_id);
        let on_instance = matches!((&a.instance_id, instance), (Some(on), Some(i)) if *on == i.id);
        let (state, ok, detail) = match (&a.instance_id, kept, on_instance) {
            (Some(on), true, true) => ("associated", true, format!("with {on}")),
            (None, _, _) => (
                "unassociated",
                false,
                "not associated with an instance, yet billed by the hour".to_owned(),
            ),
            (Some(on), true, false) => (
                "drifted",
                false,
                format!("associated with {on}, not the stack's instance"),
            ),
            (Some(on), false, _) => (
                "extra",
                false,
                format!("duplicate, associated with {on}; billed by the hour"),
            ),
        };
        out.push(line(
            "elastic ip",
            Some(format!("{} ({})", a.public_ip, a.allocation_id)),
            state,
            ok,
            Some(detail),
        ));
    }
    if stack.addresses.is_empty() {
        out.push(line("elastic ip", None, "missing", false, None));
    }
    out
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
    use crate::desired::{Cidr, Port};
    use crate::stack::{Address, Group, Instance, KeyPair};

    fn expect() -> Desired {
        Desired {
            name: "kb".parse().unwrap(),
            port: Some(Port(5000)),
            app_cidr: Cidr::ANYWHERE,
            ssh_cidr: None,
            instance_type: "t2.micro".parse().unwrap(),
            key_file: "/k.pem".into(),
        }
    }

    fn complete() -> Stack {
        Stack {
            key_pairs: vec![KeyPair {
                name: "kb".into(),
                id: None,
            }],
            groups: vec![Group {
                id: "sg-1".into(),
                name: "kb".into(),
                vpc_id: None,
                ingress: vec![
                    Rule::tcp(22, "203.0.113.7/32".parse().unwrap()),
                    Rule::tcp(80, Cidr::ANYWHERE),
                    Rule::tcp(443, Cidr::ANYWHERE),
                    Rule::tcp(5000, Cidr::ANYWHERE),
                ],
            }],
            instances: vec![Instance {
                id: "i-1".into(),
                state: InstanceState::Running,
                instance_type: "t2.micro".into(),
                key_name: Some("kb".into()),
                group_ids: vec!["sg-1".into()],
                image_id: None,
                launch_time: None,
            }],
            addresses: vec![Address {
                allocation_id: "eipalloc-1".into(),
                public_ip: "198.51.100.1".into(),
                association_id: Some("eipassoc-1".into()),
                instance_id: Some("i-1".into()),
            }],
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
}
