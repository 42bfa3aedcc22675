//! The planner: a pure function from (desired, actual) to an ordered list of
//! actions. No I/O happens here, so every ordering rule is unit-tested below,
//! including the ones the emulator does not enforce.
//!
//! Ordering rules for `up`:
//! 1. The key pair exists before an instance is launched with it.
//! 2. The group is created before its rules are authorized, and missing rules
//!    are authorized before drifted ones are revoked (no window without access).
//! 3. The group and its rules exist before the instance is launched.
//! 4. The instance is running before the Elastic IP is associated (AWS refuses
//!    to associate a pending instance).
//! 5. The Elastic IP is allocated only after the instance runs, so a failed
//!    launch leaves no billed address behind.
//! 6. Duplicates are cleaned up last: the address is moved to the kept
//!    instance before extra instances are terminated, and an extra address is
//!    disassociated before it is released.
//!
//! Ordering rules for `down` (dependency order):
//! 1. Addresses are disassociated, then released — first, so that nothing left
//!    behind by a later failure keeps billing.
//! 2. Instances are terminated, then waited for.
//! 3. The group is deleted after the instances are gone (their network
//!    interfaces hold it).
//! 4. The key pair is deleted last.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::stack::{Address, Group, Instance, InstanceState, Rule, Stack};

/// Where the stack's key pair comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// EC2 creates an ed25519 key pair; its private key goes to `file`.
    Create {
        /// Where the private key is written (mode 0600, never overwritten).
        file: PathBuf,
    },
    /// The user's OpenSSH public key is imported.
    Import {
        /// The public key line.
        public_key: String,
        /// The file it came from, for messages.
        path: PathBuf,
    },
}

/// What `up` should converge to.
#[derive(Debug, Clone)]
pub struct Desired {
    /// Stack name: key pair name, group name, tag value.
    pub name: String,
    /// The key pair's origin.
    pub key: KeySource,
    /// The group's complete ingress rules (SSH and the app port).
    pub ingress: Vec<Rule>,
    /// Instance type of a newly launched instance.
    pub instance_type: String,
}

/// Facts about this machine that the plan depends on.
#[derive(Debug, Clone, Copy)]
pub struct Local {
    /// Whether the private key file of a created key pair exists.
    pub key_file_exists: bool,
}

/// A resource id that is either known now or produced by an earlier action of
/// the same plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ref {
    /// An existing resource.
    Existing(String),
    /// The resource an earlier action in the plan creates.
    Created,
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Existing(id) => f.write_str(id),
            Ref::Created => f.write_str("(new)"),
        }
    }
}

/// One step of a plan. Each maps to one mutating EC2 call, or to a wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// CreateKeyPair (ed25519), private key written to `file`.
    CreateKeyPair { name: String, file: PathBuf },
    /// ImportKeyPair from the user's public key.
    ImportKeyPair {
        name: String,
        #[serde(skip)]
        public_key: String,
        path: PathBuf,
    },
    /// CreateSecurityGroup in the default VPC.
    CreateSecurityGroup { name: String },
    /// AuthorizeSecurityGroupIngress.
    AuthorizeIngress { group: Ref, rules: Vec<Rule> },
    /// RevokeSecurityGroupIngress of rules the stack does not want.
    RevokeIngress { group: String, rules: Vec<Rule> },
    /// RunInstances with the key pair, group, AMI and user data.
    RunInstance { group: Ref, key_name: String },
    /// StartInstances of a stopped instance.
    StartInstance { id: String },
    /// Wait until a stopping instance has stopped.
    WaitStopped { id: String },
    /// Wait until the instance is running.
    WaitRunning { instance: Ref },
    /// AllocateAddress (tagged).
    AllocateAddress,
    /// AssociateAddress with the instance.
    AssociateAddress { allocation: Ref, instance: Ref },
    /// DisassociateAddress.
    DisassociateAddress {
        association_id: String,
        public_ip: String,
    },
    /// ReleaseAddress.
    ReleaseAddress {
        allocation_id: String,
        public_ip: String,
    },
    /// TerminateInstances.
    TerminateInstances { ids: Vec<String> },
    /// Wait until the instances are terminated.
    WaitTerminated { ids: Vec<String> },
    /// DeleteSecurityGroup.
    DeleteSecurityGroup { id: String },
    /// DeleteKeyPair.
    DeleteKeyPair { name: String },
}

impl Action {
    /// The EC2 API call this action makes, or `None` for a wait.
    pub fn call(&self) -> Option<&'static str> {
        Some(match self {
            Action::CreateKeyPair { .. } => "CreateKeyPair",
            Action::ImportKeyPair { .. } => "ImportKeyPair",
            Action::CreateSecurityGroup { .. } => "CreateSecurityGroup",
            Action::AuthorizeIngress { .. } => "AuthorizeSecurityGroupIngress",
            Action::RevokeIngress { .. } => "RevokeSecurityGroupIngress",
            Action::RunInstance { .. } => "RunInstances",
            Action::StartInstance { .. } => "StartInstances",
            Action::AllocateAddress => "AllocateAddress",
            Action::AssociateAddress { .. } => "AssociateAddress",
            Action::DisassociateAddress { .. } => "DisassociateAddress",
            Action::ReleaseAddress { .. } => "ReleaseAddress",
            Action::TerminateInstances { .. } => "TerminateInstances",
            Action::DeleteSecurityGroup { .. } => "DeleteSecurityGroup",
            Action::DeleteKeyPair { .. } => "DeleteKeyPair",
            Action::WaitStopped { .. }
            | Action::WaitRunning { .. }
            | Action::WaitTerminated { .. } => return None,
        })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |rules: &[Rule]| {
            rules
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Action::CreateKeyPair { name, file } => write!(
                f,
                "create ed25519 key pair {name}, private key to {}",
                file.display()
            ),
            Action::ImportKeyPair { name, path, .. } => {
                write!(f, "import key pair {name} from {}", path.display())
            }
            Action::CreateSecurityGroup { name } => {
                write!(f, "create security group {name} in the default VPC")
            }
            Action::AuthorizeIngress { group, rules } => {
                write!(f, "allow {} in group {group}", list(rules))
            }
            Action::RevokeIngress { group, rules } => {
                write!(f, "remove {} from group {group}", list(rules))
            }
            Action::RunInstance { group, key_name } => write!(
                f,
                "launch an instance with key pair {key_name} and group {group}"
            ),
            Action::StartInstance { id } => write!(f, "start stopped instance {id}"),
            Action::WaitStopped { id } => write!(f, "wait for instance {id} to stop"),
            Action::WaitRunning { instance } => {
                write!(f, "wait for instance {instance} to be running")
            }
            Action::AllocateAddress => write!(f, "allocate an Elastic IP"),
            Action::AssociateAddress {
                allocation,
                instance,
            } => write!(
                f,
                "associate Elastic IP {allocation} with instance {instance}"
            ),
            Action::DisassociateAddress {
                association_id,
                public_ip,
            } => write!(f, "disassociate Elastic IP {public_ip} ({association_id})"),
            Action::ReleaseAddress {
                allocation_id,
                public_ip,
            } => write!(f, "release Elastic IP {public_ip} ({allocation_id})"),
            Action::TerminateInstances { ids } => {
                write!(f, "terminate instance {}", ids.join(", "))
            }
            Action::WaitTerminated { ids } => {
                write!(f, "wait for instance {} to terminate", ids.join(", "))
            }
            Action::DeleteSecurityGroup { id } => write!(f, "delete security group {id}"),
            Action::DeleteKeyPair { name } => write!(f, "delete key pair {name}"),
        }
    }
}

/// A plan: actions in order, plus notes about drift the plan does not fix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// What to do, in order.
    pub actions: Vec<Action>,
    /// Things the user should know that `up` deliberately leaves alone.
    pub notes: Vec<String>,
}

/// Why `up` cannot proceed safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The key pair exists in EC2, but its private key is not here, and an
    /// instance would be launched with it.
    #[error(
        "key pair {name} exists in EC2 but its private key {file} is missing here, so a new \
         instance would be unreachable. EC2 hands out a private key only once. Either pass \
         --key-file with the path where you kept it, or delete the key pair \
         (`aws ec2 delete-key-pair --key-name {name}`) so that `up` creates a new one, or \
         import your own public key: delete the key pair and pass --public-key ~/.ssh/id_ed25519.pub"
    )]
    KeyFileMissing {
        /// Key pair name.
        name: String,
        /// The expected private key path.
        file: PathBuf,
    },
    /// A new key pair would be created, but its file already exists.
    #[error(
        "{file} already exists and is never overwritten. Pass --key-file with a new path, \
         or import the matching public key with --public-key"
    )]
    KeyFileExists {
        /// The existing file.
        file: PathBuf,
    },
}

/// Picks the instance the stack keeps: the one holding an owned address, else
/// the most alive one (running, pending, stopped, stopping), oldest first.
pub fn kept_instance(stack: &Stack) -> Option<&Instance> {
    let holds_address = |i: &Instance| {
        stack
            .addresses
            .iter()
            .any(|a| a.instance_id.as_deref() == Some(&i.id))
    };
    let rank = |i: &Instance| match i.state {
        InstanceState::Running => 0,
        InstanceState::Pending => 1,
        InstanceState::Stopped => 2,
        InstanceState::Stopping => 3,
        InstanceState::ShuttingDown | InstanceState::Terminated => 4,
    };
    stack
        .instances
        .iter()
        .filter(|i| !i.state.is_going())
        .min_by_key(|i| {
            (
                !holds_address(i),
                rank(i),
                i.launch_time.clone(),
                i.id.clone(),
            )
        })
}

/// Picks the address the stack keeps: the one on the kept instance, else an
/// unassociated one, else any.
pub fn kept_address<'a>(stack: &'a Stack, instance: Option<&Instance>) -> Option<&'a Address> {
    let on_instance = |a: &Address| match (instance, &a.instance_id) {
        (Some(i), Some(id)) => *id == i.id,
        _ => false,
    };
    stack.addresses.iter().min_by_key(|a| {
        (
            !on_instance(a),
            a.instance_id.is_some(),
            a.allocation_id.clone(),
        )
    })
}

/// Picks the group the stack keeps: the one named after the stack, else the first.
pub fn kept_group<'a>(stack: &'a Stack, name: &str) -> Option<&'a Group> {
    stack
        .groups
        .iter()
        .find(|g| g.name == name)
        .or_else(|| stack.groups.first())
}

/// Rules in `a` that are not in `b`, in `a`'s order.
fn minus(a: &[Rule], b: &[Rule]) -> Vec<Rule> {
    a.iter().filter(|r| !b.contains(r)).cloned().collect()
}

/// Plans `up`: what to do to turn `stack` into `desired`.
pub fn plan_up(desired: &Desired, stack: &Stack, local: Local) -> Result<Plan, PlanError> {
    let mut plan = Plan::default();
    let actions = &mut plan.actions;
    let instance = kept_instance(stack);
    let launching = instance.is_none();

    // 1. Key pair.
    match (stack.key_pairs.first(), &desired.key) {
        (None, KeySource::Create { file }) => {
            if local.key_file_exists {
                return Err(PlanError::KeyFileExists { file: file.clone() });
            }
            actions.push(Action::CreateKeyPair {
                name: desired.name.clone(),
                file: file.clone(),
            });
        }
        (None, KeySource::Import { public_key, path }) => actions.push(Action::ImportKeyPair {
            name: desired.name.clone(),
            public_key: public_key.clone(),
            path: path.clone(),
        }),
        (Some(pair), KeySource::Create { file }) if !local.key_file_exists => {
            if launching {
                return Err(PlanError::KeyFileMissing {
                    name: pair.name.clone(),
                    file: file.clone(),
                });
            }
            plan.notes.push(format!(
                "the private key {} of key pair {} is not on this machine",
                file.display(),
                pair.name
            ));
        }
        (Some(pair), KeySource::Import { path, .. }) => plan.notes.push(format!(
            "key pair {} already exists; {} was not imported again",
            pair.name,
            path.display()
        )),
        (Some(_), KeySource::Create { .. }) => {}
    }
    let key_name = stack
        .key_pairs
        .first()
        .map_or_else(|| desired.name.clone(), |k| k.name.clone());

    // 2. Security group and its rules: add missing before removing extra.
    let group_ref = match kept_group(stack, &desired.name) {
        None => {
            actions.push(Action::CreateSecurityGroup {
                name: desired.name.clone(),
            });
            actions.push(Action::AuthorizeIngress {
                group: Ref::Created,
                rules: desired.ingress.clone(),
            });
            Ref::Created
        }
        Some(group) => {
            let missing = minus(&desired.ingress, &group.ingress);
            let extra = minus(&group.ingress, &desired.ingress);
            if !missing.is_empty() {
                actions.push(Action::AuthorizeIngress {
                    group: Ref::Existing(group.id.clone()),
                    rules: missing,
                });
            }
            if !extra.is_empty() {
                actions.push(Action::RevokeIngress {
                    group: group.id.clone(),
                    rules: extra,
                });
            }
            Ref::Existing(group.id.clone())
        }
    };

    // 3. Instance, running.
    let instance_ref = match instance {
        None => {
            actions.push(Action::RunInstance {
                group: group_ref.clone(),
                key_name: key_name.clone(),
            });
            actions.push(Action::WaitRunning {
                instance: Ref::Created,
            });
            Ref::Created
        }
        Some(i) => {
            let id = Ref::Existing(i.id.clone());
            match i.state {
                InstanceState::Running => {}
                InstanceState::Pending => actions.push(Action::WaitRunning {
                    instance: id.clone(),
                }),
                InstanceState::Stopping | InstanceState::Stopped => {
                    if i.state == InstanceState::Stopping {
                        actions.push(Action::WaitStopped { id: i.id.clone() });
                    }
                    actions.push(Action::StartInstance { id: i.id.clone() });
                    actions.push(Action::WaitRunning {
                        instance: id.clone(),
                    });
                }
                InstanceState::ShuttingDown | InstanceState::Terminated => {
                    unreachable!("kept_instance skips instances that are going")
                }
            }
            if i.instance_type != desired.instance_type {
                plan.notes.push(format!(
                    "instance {} is {}, not {}; it is kept (run `provision down` and `up` to replace it)",
                    i.id, i.instance_type, desired.instance_type
                ));
            }
            if i.key_name.as_deref() != Some(key_name.as_str()) {
                plan.notes.push(format!(
                    "instance {} was launched with key pair {}, not {key_name}",
                    i.id,
                    i.key_name.as_deref().unwrap_or("(none)")
                ));
            }
            if let Ref::Existing(g) = &group_ref {
                if !i.group_ids.contains(g) {
                    plan.notes
                        .push(format!("instance {} is not in security group {g}", i.id));
                }
            }
            id
        }
    };

    // 4. Elastic IP, associated once the instance runs.
    let address = kept_address(stack, instance);
    match address {
        None => {
            actions.push(Action::AllocateAddress);
            actions.push(Action::AssociateAddress {
                allocation: Ref::Created,
                instance: instance_ref.clone(),
            });
        }
        Some(a) => {
            let on_kept = matches!((&a.instance_id, &instance_ref), (Some(on), Ref::Existing(id)) if on == id);
            if !on_kept {
                actions.push(Action::AssociateAddress {
                    allocation: Ref::Existing(a.allocation_id.clone()),
                    instance: instance_ref.clone(),
                });
            }
        }
    }

    // 5. Duplicates left by interrupted runs or by hand.
    for extra in stack
        .addresses
        .iter()
        .filter(|a| Some(&a.allocation_id) != address.map(|k| &k.allocation_id))
    {
        if let Some(association_id) = &extra.association_id {
            actions.push(Action::DisassociateAddress {
                association_id: association_id.clone(),
                public_ip: extra.public_ip.clone(),
            });
        }
        actions.push(Action::ReleaseAddress {
            allocation_id: extra.allocation_id.clone(),
            public_ip: extra.public_ip.clone(),
        });
    }
    let extra_instances: Vec<String> = stack
        .instances
        .iter()
        .filter(|i| !i.state.is_going() && Some(&i.id) != instance.map(|k| &k.id))
        .map(|i| i.id.clone())
        .collect();
    if !extra_instances.is_empty() {
        actions.push(Action::TerminateInstances {
            ids: extra_instances,
        });
    }
    Ok(plan)
}

/// Plans `down`: remove everything in `stack`, in dependency order.
pub fn plan_down(stack: &Stack) -> Plan {
    let mut actions = Vec::new();
    for a in &stack.addresses {
        if let Some(association_id) = &a.association_id {
            actions.push(Action::DisassociateAddress {
                association_id: association_id.clone(),
                public_ip: a.public_ip.clone(),
            });
        }
        actions.push(Action::ReleaseAddress {
            allocation_id: a.allocation_id.clone(),
            public_ip: a.public_ip.clone(),
        });
    }
    let live: Vec<String> = stack
        .instances
        .iter()
        .filter(|i| !i.state.is_going())
        .map(|i| i.id.clone())
        .collect();
    let not_gone: Vec<String> = stack
        .instances
        .iter()
        .filter(|i| i.state != InstanceState::Terminated)
        .map(|i| i.id.clone())
        .collect();
    if !live.is_empty() {
        actions.push(Action::TerminateInstances { ids: live });
    }
    if !not_gone.is_empty() {
        actions.push(Action::WaitTerminated { ids: not_gone });
    }
    for g in &stack.groups {
        actions.push(Action::DeleteSecurityGroup { id: g.id.clone() });
    }
    for k in &stack.key_pairs {
        actions.push(Action::DeleteKeyPair {
            name: k.name.clone(),
        });
    }
    Plan {
        actions,
        notes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Cidr;
    use crate::stack::KeyPair;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn desired() -> Desired {
        Desired {
            name: "kb".into(),
            key: KeySource::Create {
                file: "/home/u/.ssh/kb.pem".into(),
            },
            ingress: vec![
                Rule::tcp(22, cidr("203.0.113.7/32")),
                Rule::tcp(5000, Cidr::ANYWHERE),
            ],
            instance_type: "t2.micro".into(),
        }
    }

    const NO_KEY_FILE: Local = Local {
        key_file_exists: false,
    };
    const KEY_FILE: Local = Local {
        key_file_exists: true,
    };

    fn instance(id: &str, state: InstanceState) -> Instance {
        Instance {
            id: id.into(),
            state,
            instance_type: "t2.micro".into(),
            key_name: Some("kb".into()),
            group_ids: vec!["sg-1".into()],
            image_id: Some("ami-1".into()),
            launch_time: Some(format!("2026-01-01T00:00:0{}Z", id.len() % 10)),
        }
    }

    fn address(alloc: &str, on: Option<&str>) -> Address {
        Address {
            allocation_id: alloc.into(),
            public_ip: format!("198.51.100.{}", alloc.len()),
            association_id: on.map(|i| format!("eipassoc-{i}")),
            instance_id: on.map(Into::into),
        }
    }

    fn complete() -> Stack {
        Stack {
            key_pairs: vec![KeyPair {
                name: "kb".into(),
                id: Some("key-1".into()),
            }],
            groups: vec![Group {
                id: "sg-1".into(),
                name: "kb".into(),
                vpc_id: Some("vpc-1".into()),
                ingress: desired().ingress,
            }],
            instances: vec![instance("i-1", InstanceState::Running)],
            addresses: vec![address("eipalloc-1", Some("i-1"))],
        }
    }

    fn calls(plan: &Plan) -> Vec<String> {
        plan.actions
            .iter()
            .map(|a| match a.call() {
                Some(c) => c.to_owned(),
                None => format!("{a:?}")
                    .split([' ', '{'])
                    .next()
                    .unwrap()
                    .to_owned(),
            })
            .collect()
    }

    fn position(plan: &Plan, call: &str) -> usize {
        calls(plan)
            .iter()
            .position(|c| c == call)
            .unwrap_or_else(|| panic!("{call} not in {:?}", calls(plan)))
    }

    #[test]
    fn a_fresh_stack_is_created_in_dependency_order() {
        let plan = plan_up(&desired(), &Stack::default(), NO_KEY_FILE).unwrap();
        assert_eq!(
            calls(&plan),
            [
                "CreateKeyPair",
                "CreateSecurityGroup",
                "AuthorizeSecurityGroupIngress",
                "RunInstances",
                "WaitRunning",
                "AllocateAddress",
                "AssociateAddress",
            ]
        );
        assert_eq!(
            plan.actions[3],
            Action::RunInstance {
                group: Ref::Created,
                key_name: "kb".into()
            }
        );
        assert_eq!(
            plan.actions[6],
            Action::AssociateAddress {
                allocation: Ref::Created,
                instance: Ref::Created
            }
        );
    }

    #[test]
    fn the_key_pair_comes_before_the_instance() {
        let mut stack = complete();
        stack.key_pairs.clear();
        stack.instances.clear();
        stack.addresses.clear();
        let plan = plan_up(&desired(), &stack, NO_KEY_FILE).unwrap();
        assert!(position(&plan, "CreateKeyPair") < position(&plan, "RunInstances"));
    }

    #[test]
    fn the_group_and_its_rules_come_before_the_instance() {
        let plan = plan_up(&desired(), &Stack::default(), NO_KEY_FILE).unwrap();
        assert!(
            position(&plan, "CreateSecurityGroup")
                < position(&plan, "AuthorizeSecurityGroupIngress")
        );
        assert!(position(&plan, "AuthorizeSecurityGroupIngress") < position(&plan, "RunInstances"));
    }

    #[test]
    fn the_address_is_allocated_after_the_instance_runs_and_associated_after_that() {
        let plan = plan_up(&desired(), &Stack::default(), NO_KEY_FILE).unwrap();
        assert!(position(&plan, "WaitRunning") < position(&plan, "AllocateAddress"));
        assert!(position(&plan, "AllocateAddress") < position(&plan, "AssociateAddress"));
    }

    #[test]
    fn a_complete_stack_needs_nothing() {
        let plan = plan_up(&desired(), &complete(), KEY_FILE).unwrap();
        assert_eq!(plan, Plan::default());
    }

    #[test]
    fn missing_rules_are_added_before_drifted_ones_are_removed() {
        let mut stack = complete();
        stack.groups[0].ingress = vec![
            Rule::tcp(22, cidr("192.0.2.0/24")),
            Rule::tcp(5000, Cidr::ANYWHERE),
            Rule::tcp(8080, Cidr::ANYWHERE),
        ];
        let plan = plan_up(&desired(), &stack, KEY_FILE).unwrap();
        assert_eq!(
            plan.actions,
            [
                Action::AuthorizeIngress {
                    group: Ref::Existing("sg-1".into()),
                    rules: vec![Rule::tcp(22, cidr("203.0.113.7/32"))],
                },
                Action::RevokeIngress {
                    group: "sg-1".into(),
                    rules: vec![
                        Rule::tcp(22, cidr("192.0.2.0/24")),
                        Rule::tcp(8080, Cidr::ANYWHERE)
                    ],
                },
            ]
        );
    }

    #[test]
    fn only_the_group_existing_converges_to_the_rest() {
        let mut stack = complete();
        stack.key_pairs.clear();
        stack.instances.clear();
        stack.addresses.clear();
        let plan = plan_up(&desired(), &stack, NO_KEY_FILE).unwrap();
        assert_eq!(
            calls(&plan),
            [
                "CreateKeyPair",
                "RunInstances",
                "WaitRunning",
                "AllocateAddress",
                "AssociateAddress"
            ]
        );
        assert_eq!(
            plan.actions[1],
            Action::RunInstance {
                group: Ref::Existing("sg-1".into()),
                key_name: "kb".into()
            }
        );
    }

    #[test]
    fn an_instance_without_an_address_gets_one() {
        let mut stack = complete();
        stack.addresses.clear();
        let plan = plan_up(&desired(), &stack, KEY_FILE).unwrap();
        assert_eq!(
            plan.actions,
            [
                Action::AllocateAddress,
                Action::AssociateAddress {
                    allocation: Ref::Created,
                    instance: Ref::Existing("i-1".into())
                }
            ]
        );
    }

    #[test]
    fn an_unassociated_address_is_associated_not_reallocated() {
        let mut stack = complete();
        stack.addresses = vec![address("eipalloc-1", None)];
        let plan = plan_up(&desired(), &stack, KEY_FILE).unwrap();
        assert_eq!(
            plan.actions,
            [Action::AssociateAddress {
                allocation: Ref::Existing("eipalloc-1".into()),
                instance: Ref::Existing("i-1".into())
            }]
        );
    }

    #[test]
    fn a_pending_instance_is_waited_for_before_association() {
        let mut stack = complete();
        stack.instances = vec![instance("i-1", InstanceState::Pending)];
        stack.addresses.clear();
        let plan = plan_up(&desired(), &stack, KEY_FILE).unwrap();
        assert!(position(&plan, "WaitRunning") < position(&plan, "AssociateAddress"));
    }

    #[test]
    fn a_stopping_instance_is_waited_for_then_started() {
        let mut stack = complete();
        stack.instances = vec![instance("i-1", InstanceState::Stopping)];
        let plan = plan_up(&desired(), &stack, KEY_FILE).unwrap();
        assert_eq!(
            calls(&plan),
            ["WaitStopped", "StartInstances", "WaitRunning"]
        );
    }

    #[test]
    fn terminated_or_terminating_instances_are_replaced() {
        let mut stack = complete();
        stack.instances = vec![
            instance("i-1", InstanceState::Terminated),
            instance("i-2", InstanceState::ShuttingDown),
        ];
        stack.addresses = vec![address("eipalloc-1", None)];
        let plan = plan_up(&desired(), &stack, KEY_FILE).unwrap();
        assert_eq!(
            calls(&plan),
            ["RunInstances", "WaitRunning", "AssociateAddress"]
        );
    }

    #[test]
    fn duplicates_are_cleaned_up_after_the_kept_ones_are_wired() {
        // An interrupted run launched a second instance and a second address.
        let mut stack = complete();
        stack
            .instances
            .push(instance("i-22", InstanceState::Running));
        stack.addresses.push(address("eipalloc-22", Some("i-22")));
        let plan = plan_up(&desired(), &stack, KEY_FILE).unwrap();
        assert_eq!(
            plan.actions,
            [
                Action::DisassociateAddress {
                    association_id: "eipassoc-i-22".into(),
                    public_ip: "198.51.100.11".into()
                },
                Action::ReleaseAddress {
                    allocation_id: "eipalloc-22".into(),
                    public_ip: "198.51.100.11".into()
                },
                Action::TerminateInstances {
                    ids: vec!["i-22".into()]
                },
            ]
        );
    }

    #[test]
    fn the_instance_holding_the_address_is_kept_and_the_address_moves_before_termination() {
        // The address sits on a stopped duplicate; the running one is kept
        // only if it holds the address, so here the stopped one is kept.
        let mut stack = complete();
        stack.instances = vec![
            instance("i-1", InstanceState::Running),
            instance("i-22", InstanceState::Stopped),
        ];
        stack.addresses = vec![address("eipalloc-1", Some("i-22"))];
        let plan = plan_up(&desired(), &stack, KEY_FILE).unwrap();
        assert_eq!(
            calls(&plan),
            ["StartInstances", "WaitRunning", "TerminateInstances"]
        );
        assert_eq!(
            plan.actions[2],
            Action::TerminateInstances {
                ids: vec!["i-1".into()]
            }
        );
    }

    #[test]
    fn an_address_on_a_terminated_instance_is_reassociated_before_anything_is_terminated() {
        let mut stack = complete();
        stack.instances = vec![
            instance("i-1", InstanceState::Running),
            instance("i-333", InstanceState::Terminated),
        ];
        stack.addresses = vec![address("eipalloc-1", Some("i-333"))];
        let plan = plan_up(&desired(), &stack, KEY_FILE).unwrap();
        assert_eq!(
            plan.actions,
            [Action::AssociateAddress {
                allocation: Ref::Existing("eipalloc-1".into()),
                instance: Ref::Existing("i-1".into())
            }]
        );
    }

    #[test]
    fn a_missing_private_key_stops_a_launch() {
        let mut stack = complete();
        stack.instances.clear();
        let err = plan_up(&desired(), &stack, NO_KEY_FILE).unwrap_err();
        assert!(matches!(err, PlanError::KeyFileMissing { .. }));
        let text = err.to_string();
        assert!(
            text.contains("--key-file") && text.contains("--public-key"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_private_key_is_only_noted_when_the_instance_exists() {
        let plan = plan_up(&desired(), &complete(), NO_KEY_FILE).unwrap();
        assert!(plan.actions.is_empty());
        assert_eq!(plan.notes.len(), 1);
    }

    #[test]
    fn an_existing_key_file_is_never_overwritten() {
        let err = plan_up(&desired(), &Stack::default(), KEY_FILE).unwrap_err();
        assert!(matches!(err, PlanError::KeyFileExists { .. }));
    }

    #[test]
    fn an_imported_key_needs_no_local_file() {
        let mut d = desired();
        d.key = KeySource::Import {
            public_key: "ssh-ed25519 AAAA x".into(),
            path: "/k.pub".into(),
        };
        let plan = plan_up(&d, &Stack::default(), NO_KEY_FILE).unwrap();
        assert_eq!(calls(&plan)[0], "ImportKeyPair");
    }

    #[test]
    fn drift_that_needs_replacement_is_noted_not_acted_on() {
        let mut stack = complete();
        stack.instances[0].instance_type = "t3.small".into();
        let plan = plan_up(&desired(), &stack, KEY_FILE).unwrap();
        assert!(plan.actions.is_empty());
        assert!(plan.notes[0].contains("t3.small"), "{:?}", plan.notes);
    }

    #[test]
    fn down_releases_addresses_first_then_instances_then_group_then_key() {
        let plan = plan_down(&complete());
        assert_eq!(
            calls(&plan),
            [
                "DisassociateAddress",
                "ReleaseAddress",
                "TerminateInstances",
                "WaitTerminated",
                "DeleteSecurityGroup",
                "DeleteKeyPair",
            ]
        );
    }

    #[test]
    fn down_waits_for_instances_already_shutting_down_before_deleting_the_group() {
        let mut stack = complete();
        stack.instances = vec![
            instance("i-1", InstanceState::ShuttingDown),
            instance("i-22", InstanceState::Terminated),
        ];
        stack.addresses = vec![address("eipalloc-1", None)];
        let plan = plan_down(&stack);
        assert_eq!(
            plan.actions,
            [
                Action::ReleaseAddress {
                    allocation_id: "eipalloc-1".into(),
                    public_ip: "198.51.100.10".into()
                },
                Action::WaitTerminated {
                    ids: vec!["i-1".into()]
                },
                Action::DeleteSecurityGroup { id: "sg-1".into() },
                Action::DeleteKeyPair { name: "kb".into() },
            ]
        );
    }

    #[test]
    fn down_of_nothing_is_nothing() {
        assert!(plan_down(&Stack::default()).actions.is_empty());
    }
}
