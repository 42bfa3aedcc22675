//! The planner: a pure function from (desired, discovered, resolved, local) to
//! an ordered list of complete actions, working from the stack's [`Drift`],
//! one function per resource in the order below. No I/O happens here, so every
//! ordering rule is unit-tested below, including the ones the emulator does not
//! enforce.
//! [`needs`] says what must be looked up in AWS before planning (the default
//! VPC, the image), so that the plan never has to ask while it runs.
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

use crate::desired::{Desired, InstanceType, KeySource, UserData};
use crate::drift::Drift;
use crate::ec2::Image;
use crate::stack::{InstanceState, Rule, Stack};

/// Facts about this machine that the plan depends on: what `up` read from
/// local files before planning.
#[derive(Debug, Clone)]
pub struct Local {
    /// The key pair's origin (for an import, the public key already read).
    pub key: KeySource,
    /// Whether the private key file of a created key pair exists.
    pub key_file_exists: bool,
    /// User data for a new instance, if any.
    pub user_data: Option<UserData>,
}

/// What the plan needs from AWS besides the stack itself. Only what the plan
/// will use is looked up, so a stack that needs nothing costs no extra call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// The default VPC, because a security group will be created in it.
    pub default_vpc: bool,
    /// The image, because an instance will be launched.
    pub image: bool,
}

/// What discovery must look up for [`plan_up`] besides the stack.
pub fn needs(desired: &Desired, stack: &Stack) -> Needs {
    Needs {
        default_vpc: stack.kept_group(desired.name.as_str()).is_none(),
        image: stack.kept_instance().is_none(),
    }
}

/// What discovery looked up for the plan, as [`needs`] asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// The region's default VPC, when a group will be created.
    pub default_vpc: Option<String>,
    /// The image a new instance is launched from.
    pub image: Option<Image>,
}

/// A resource id that is either known now or produced by an earlier action of
/// the same plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    /// An existing resource: its id (a key pair: its name).
    Existing(String),
    /// The resource that the action at this index of the plan creates.
    Step(usize),
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Existing(id) => f.write_str(id),
            Ref::Step(n) => write!(f, "(new, step {})", n + 1),
        }
    }
}

/// One step of a plan. Each maps to one mutating EC2 call, or to a wait, and
/// carries everything that call needs. Reports show it through `Display`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// CreateKeyPair (ed25519), private key written to `file`.
    CreateKeyPair { name: String, file: PathBuf },
    /// ImportKeyPair from the user's public key.
    ImportKeyPair {
        name: String,
        public_key: String,
        path: PathBuf,
    },
    /// CreateSecurityGroup in the default VPC.
    CreateSecurityGroup { name: String, vpc_id: String },
    /// AuthorizeSecurityGroupIngress.
    AuthorizeIngress { group: Ref, rules: Vec<Rule> },
    /// RevokeSecurityGroupIngress of rules the stack does not want.
    RevokeIngress { group: String, rules: Vec<Rule> },
    /// RunInstances: one instance of `instance_type` from `image`, with the
    /// key pair, the group and the user data, tagged with the stack `name`.
    RunInstance {
        name: String,
        image: Image,
        instance_type: InstanceType,
        key: Ref,
        group: Ref,
        user_data: Option<UserData>,
    },
    /// StartInstances of a stopped instance.
    StartInstance { id: String },
    /// Wait until a stopping instance has stopped.
    WaitStopped { id: String },
    /// Wait until the instance is running.
    WaitRunning { instance: Ref },
    /// AllocateAddress, tagged with the stack `name`.
    AllocateAddress { name: String },
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
            Action::AllocateAddress { .. } => "AllocateAddress",
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

    /// The resources this action uses, known or made by earlier actions.
    pub fn refs(&self) -> Vec<&Ref> {
        match self {
            Action::AuthorizeIngress { group, .. } => vec![group],
            Action::RunInstance { key, group, .. } => vec![key, group],
            Action::WaitRunning { instance } => vec![instance],
            Action::AssociateAddress {
                allocation,
                instance,
            } => vec![allocation, instance],
            _ => Vec::new(),
        }
    }

    /// What this action makes, for a later action that depends on it:
    /// "the instance this plan launches".
    pub fn makes(&self) -> Option<&'static str> {
        Some(match self {
            Action::CreateKeyPair { .. } => "the key pair this plan creates",
            Action::ImportKeyPair { .. } => "the key pair this plan imports",
            Action::CreateSecurityGroup { .. } => "the security group this plan creates",
            Action::RunInstance { .. } => "the instance this plan launches",
            Action::AllocateAddress { .. } => "the Elastic IP this plan allocates",
            _ => return None,
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
            Action::CreateSecurityGroup { name, vpc_id } => {
                write!(
                    f,
                    "create security group {name} in the default VPC {vpc_id}"
                )
            }
            Action::AuthorizeIngress { group, rules } => {
                write!(f, "allow {} in group {group}", list(rules))
            }
            Action::RevokeIngress { group, rules } => {
                write!(f, "remove {} from group {group}", list(rules))
            }
            Action::RunInstance {
                name,
                image,
                instance_type,
                key,
                group,
                user_data,
            } => {
                // The key pair is named after the stack, so its name reads
                // better than "(new, step 1)".
                let key = match key {
                    Ref::Existing(k) => k.clone(),
                    Ref::Step(n) => format!("{name} (new, step {})", n + 1),
                };
                write!(
                    f,
                    "launch a {instance_type} instance from {} ({}) with key pair {key} and \
                     group {group}, ",
                    image.id, image.name
                )?;
                match user_data {
                    Some(u) => write!(f, "user data {}", u.path.display()),
                    None => f.write_str("no user data"),
                }
            }
            Action::StartInstance { id } => write!(f, "start stopped instance {id}"),
            Action::WaitStopped { id } => write!(f, "wait for instance {id} to stop"),
            Action::WaitRunning { instance } => {
                write!(f, "wait for instance {instance} to be running")
            }
            Action::AllocateAddress { .. } => write!(f, "allocate an Elastic IP"),
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// The plan needs something that was not looked up before planning: a
    /// bug in the caller, which must follow [`needs`].
    #[error("internal error: the plan needs {0}, which was not looked up before planning")]
    Unresolved(&'static str),
}

/// Plans `up`: what to do to turn `stack` into `desired`. The plan is
/// complete: every action carries what its call needs, and a resource made
/// by an earlier action is referred to by that action's index. Drift that
/// only a new instance would fix is noted, not acted on.
pub fn plan_up(
    desired: &Desired,
    stack: &Stack,
    resolved: &Resolved,
    local: &Local,
) -> Result<Plan, PlanError> {
    if desired.ssh_cidr.is_none() {
        return Err(PlanError::Unresolved("the SSH CIDR"));
    }
    let drift = Drift::judge(desired, stack);
    let mut plan = Plan::default();
    let key = key_pair(&mut plan, desired, &drift, local)?;
    let group = security_group(&mut plan, desired, &drift, resolved)?;
    let instance = instance(&mut plan, desired, &drift, resolved, local, key, group)?;
    elastic_ip(&mut plan, desired, &drift, instance);
    duplicates(&mut plan, &drift);
    plan.notes.extend(drift.notes());
    Ok(plan)
}

impl Plan {
    /// Adds `action`; returns the reference to what it makes.
    fn push(&mut self, action: Action) -> Ref {
        self.actions.push(action);
        Ref::Step(self.actions.len() - 1)
    }
}

/// Step 1, the key pair: created or imported when there is none, else the one
/// there is, provided a launch can use it.
fn key_pair(
    plan: &mut Plan,
    desired: &Desired,
    drift: &Drift,
    local: &Local,
) -> Result<Ref, PlanError> {
    let name = desired.name.as_str().to_owned();
    let Some(pair) = drift.key_pair else {
        return match &local.key {
            KeySource::Create { file } if local.key_file_exists => {
                Err(PlanError::KeyFileExists { file: file.clone() })
            }
            KeySource::Create { file } => Ok(plan.push(Action::CreateKeyPair {
                name,
                file: file.clone(),
            })),
            KeySource::Import { public_key, path } => Ok(plan.push(Action::ImportKeyPair {
                name,
                public_key: public_key.clone(),
                path: path.clone(),
            })),
        };
    };
    match &local.key {
        KeySource::Create { file } if !local.key_file_exists => {
            if drift.instance.is_none() {
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
        KeySource::Import { path, .. } => plan.notes.push(format!(
            "key pair {} already exists; {} was not imported again",
            pair.name,
            path.display()
        )),
        KeySource::Create { .. } => {}
    }
    Ok(Ref::Existing(pair.name.clone()))
}

/// Step 2, the security group and its rules: created with every rule when there
/// is none; otherwise missing rules are added before unwanted ones are
/// removed, so access never lapses.
fn security_group(
    plan: &mut Plan,
    desired: &Desired,
    drift: &Drift,
    resolved: &Resolved,
) -> Result<Ref, PlanError> {
    let Some(kept) = &drift.group else {
        let vpc_id = resolved
            .default_vpc
            .clone()
            .ok_or(PlanError::Unresolved("the default VPC"))?;
        let group = plan.push(Action::CreateSecurityGroup {
            name: desired.name.as_str().to_owned(),
            vpc_id,
        });
        plan.push(Action::AuthorizeIngress {
            group: group.clone(),
            rules: desired.ingress(),
        });
        return Ok(group);
    };
    let id = &kept.group.id;
    if !kept.missing.is_empty() {
        plan.push(Action::AuthorizeIngress {
            group: Ref::Existing(id.clone()),
            rules: kept.missing.clone(),
        });
    }
    if !kept.unwanted.is_empty() {
        plan.push(Action::RevokeIngress {
            group: id.clone(),
            rules: kept.unwanted.clone(),
        });
    }
    Ok(Ref::Existing(id.clone()))
}

/// Step 3, the instance, running: launched when there is none, else started or
/// waited for as its state requires.
fn instance(
    plan: &mut Plan,
    desired: &Desired,
    drift: &Drift,
    resolved: &Resolved,
    local: &Local,
    key: Ref,
    group: Ref,
) -> Result<Ref, PlanError> {
    let Some(kept) = &drift.instance else {
        let image = resolved
            .image
            .clone()
            .ok_or(PlanError::Unresolved("the image"))?;
        let launched = plan.push(Action::RunInstance {
            name: desired.name.as_str().to_owned(),
            image,
            instance_type: desired.instance_type.clone(),
            key,
            group,
            user_data: local.user_data.clone(),
        });
        plan.push(Action::WaitRunning {
            instance: launched.clone(),
        });
        return Ok(launched);
    };
    let i = kept.instance;
    let id = Ref::Existing(i.id.clone());
    match i.state {
        InstanceState::Running => {}
        InstanceState::Pending => {
            plan.push(Action::WaitRunning {
                instance: id.clone(),
            });
        }
        InstanceState::Stopping | InstanceState::Stopped => {
            if i.state == InstanceState::Stopping {
                plan.push(Action::WaitStopped { id: i.id.clone() });
            }
            plan.push(Action::StartInstance { id: i.id.clone() });
            plan.push(Action::WaitRunning {
                instance: id.clone(),
            });
        }
        InstanceState::ShuttingDown | InstanceState::Terminated => {
            unreachable!("the stack never keeps an instance that is going")
        }
    }
    Ok(id)
}

/// Step 4, the Elastic IP, associated once the instance runs: allocated only now,
/// so a failed launch leaves no billed address behind.
fn elastic_ip(plan: &mut Plan, desired: &Desired, drift: &Drift, instance: Ref) {
    match drift.address {
        None => {
            let allocation = plan.push(Action::AllocateAddress {
                name: desired.name.as_str().to_owned(),
            });
            plan.push(Action::AssociateAddress {
                allocation,
                instance,
            });
        }
        Some(a) if !drift.on_kept_instance(a) => {
            plan.push(Action::AssociateAddress {
                allocation: Ref::Existing(a.allocation_id.clone()),
                instance,
            });
        }
        Some(_) => {}
    }
}

/// Step 5, duplicates left by interrupted runs or by hand, last: the kept address
/// is on the kept instance by now.
fn duplicates(plan: &mut Plan, drift: &Drift) {
    for extra in &drift.extra_addresses {
        if let Some(association_id) = &extra.association_id {
            plan.push(Action::DisassociateAddress {
                association_id: association_id.clone(),
                public_ip: extra.public_ip.clone(),
            });
        }
        plan.push(Action::ReleaseAddress {
            allocation_id: extra.allocation_id.clone(),
            public_ip: extra.public_ip.clone(),
        });
    }
    if !drift.extra_instances.is_empty() {
        plan.push(Action::TerminateInstances {
            ids: drift.extra_instances.iter().map(|i| i.id.clone()).collect(),
        });
    }
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
    use crate::desired::{Cidr, Port};
    use crate::stack::{Address, Group, Instance, KeyPair};

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn desired() -> Desired {
        Desired {
            name: "kb".parse().unwrap(),
            port: Some(Port(5000)),
            app_cidr: Cidr::ANYWHERE,
            ssh_cidr: Some(cidr("203.0.113.7/32")),
            instance_type: "t2.micro".parse().unwrap(),
            key_file: "/home/u/.ssh/kb.pem".into(),
        }
    }

    fn image() -> Image {
        Image {
            id: "ami-0b0000000000002404".into(),
            name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261101".into(),
            creation_date: "2026-11-01T00:00:00.000Z".into(),
        }
    }

    fn resolved() -> Resolved {
        Resolved {
            default_vpc: Some("vpc-1".into()),
            image: Some(image()),
        }
    }

    fn local(key_file_exists: bool) -> Local {
        Local {
            key: KeySource::Create {
                file: "/home/u/.ssh/kb.pem".into(),
            },
            key_file_exists,
            user_data: None,
        }
    }

    const NO_KEY_FILE: bool = false;
    const KEY_FILE: bool = true;

    /// Plans `up` of the usual desired state with everything resolved.
    fn up(stack: &Stack, key_file_exists: bool) -> Result<Plan, PlanError> {
        plan_up(&desired(), stack, &resolved(), &local(key_file_exists))
    }

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
                ingress: desired().ingress(),
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
        let plan = up(&Stack::default(), NO_KEY_FILE).unwrap();
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
            plan.actions[1],
            Action::CreateSecurityGroup {
                name: "kb".into(),
                vpc_id: "vpc-1".into()
            }
        );
        assert_eq!(
            plan.actions[2],
            Action::AuthorizeIngress {
                group: Ref::Step(1),
                rules: desired().ingress()
            }
        );
        assert_eq!(
            plan.actions[3],
            Action::RunInstance {
                name: "kb".into(),
                image: image(),
                instance_type: "t2.micro".parse().unwrap(),
                key: Ref::Step(0),
                group: Ref::Step(1),
                user_data: None,
            }
        );
        assert_eq!(
            plan.actions[4],
            Action::WaitRunning {
                instance: Ref::Step(3)
            }
        );
        assert_eq!(
            plan.actions[6],
            Action::AssociateAddress {
                allocation: Ref::Step(5),
                instance: Ref::Step(3)
            }
        );
    }

    #[test]
    fn the_key_pair_comes_before_the_instance() {
        let mut stack = complete();
        stack.key_pairs.clear();
        stack.instances.clear();
        stack.addresses.clear();
        let plan = up(&stack, NO_KEY_FILE).unwrap();
        assert!(position(&plan, "CreateKeyPair") < position(&plan, "RunInstances"));
    }

    #[test]
    fn the_group_and_its_rules_come_before_the_instance() {
        let plan = up(&Stack::default(), NO_KEY_FILE).unwrap();
        assert!(
            position(&plan, "CreateSecurityGroup")
                < position(&plan, "AuthorizeSecurityGroupIngress")
        );
        assert!(position(&plan, "AuthorizeSecurityGroupIngress") < position(&plan, "RunInstances"));
    }

    #[test]
    fn the_address_is_allocated_after_the_instance_runs_and_associated_after_that() {
        let plan = up(&Stack::default(), NO_KEY_FILE).unwrap();
        assert!(position(&plan, "WaitRunning") < position(&plan, "AllocateAddress"));
        assert!(position(&plan, "AllocateAddress") < position(&plan, "AssociateAddress"));
    }

    #[test]
    fn a_complete_stack_needs_nothing() {
        let plan = up(&complete(), KEY_FILE).unwrap();
        assert_eq!(plan, Plan::default());
    }

    #[test]
    fn missing_rules_are_added_before_drifted_ones_are_removed() {
        let mut stack = complete();
        stack.groups[0].ingress = vec![
            Rule::tcp(22, cidr("192.0.2.0/24")),
            Rule::tcp(80, Cidr::ANYWHERE),
            Rule::tcp(443, Cidr::ANYWHERE),
            Rule::tcp(5000, Cidr::ANYWHERE),
            Rule::tcp(8080, Cidr::ANYWHERE),
        ];
        let plan = up(&stack, KEY_FILE).unwrap();
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
        let plan = up(&stack, NO_KEY_FILE).unwrap();
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
        assert!(
            matches!(
                &plan.actions[1],
                Action::RunInstance { key: Ref::Step(0), group: Ref::Existing(g), .. } if g == "sg-1"
            ),
            "{:?}",
            plan.actions[1]
        );
    }

    #[test]
    fn an_instance_without_an_address_gets_one() {
        let mut stack = complete();
        stack.addresses.clear();
        let plan = up(&stack, KEY_FILE).unwrap();
        assert_eq!(
            plan.actions,
            [
                Action::AllocateAddress { name: "kb".into() },
                Action::AssociateAddress {
                    allocation: Ref::Step(0),
                    instance: Ref::Existing("i-1".into())
                }
            ]
        );
    }

    #[test]
    fn an_unassociated_address_is_associated_not_reallocated() {
        let mut stack = complete();
        stack.addresses = vec![address("eipalloc-1", None)];
        let plan = up(&stack, KEY_FILE).unwrap();
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
        let plan = up(&stack, KEY_FILE).unwrap();
        assert!(position(&plan, "WaitRunning") < position(&plan, "AssociateAddress"));
    }

    #[test]
    fn a_stopping_instance_is_waited_for_then_started() {
        let mut stack = complete();
        stack.instances = vec![instance("i-1", InstanceState::Stopping)];
        let plan = up(&stack, KEY_FILE).unwrap();
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
        let plan = up(&stack, KEY_FILE).unwrap();
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
        let plan = up(&stack, KEY_FILE).unwrap();
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
        let plan = up(&stack, KEY_FILE).unwrap();
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
        let plan = up(&stack, KEY_FILE).unwrap();
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
        let err = up(&stack, NO_KEY_FILE).unwrap_err();
        assert!(matches!(err, PlanError::KeyFileMissing { .. }));
        let text = err.to_string();
        assert!(
            text.contains("--key-file") && text.contains("--public-key"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_private_key_is_only_noted_when_the_instance_exists() {
        let plan = up(&complete(), NO_KEY_FILE).unwrap();
        assert!(plan.actions.is_empty());
        assert_eq!(plan.notes.len(), 1);
    }

    #[test]
    fn an_existing_key_file_is_never_overwritten() {
        let err = up(&Stack::default(), KEY_FILE).unwrap_err();
        assert!(matches!(err, PlanError::KeyFileExists { .. }));
    }

    #[test]
    fn an_imported_key_needs_no_local_file() {
        let mut l = local(NO_KEY_FILE);
        l.key = KeySource::Import {
            public_key: "ssh-ed25519 AAAA x".into(),
            path: "/k.pub".into(),
        };
        let plan = plan_up(&desired(), &Stack::default(), &resolved(), &l).unwrap();
        assert_eq!(calls(&plan)[0], "ImportKeyPair");
        assert!(
            matches!(
                &plan.actions[3],
                Action::RunInstance {
                    key: Ref::Step(0),
                    ..
                }
            ),
            "{:?}",
            plan.actions[3]
        );
    }

    #[test]
    fn a_launch_uses_the_existing_key_pair_by_name() {
        let mut stack = complete();
        stack.instances.clear();
        stack.addresses.clear();
        let plan = up(&stack, KEY_FILE).unwrap();
        assert!(
            matches!(&plan.actions[0], Action::RunInstance { key: Ref::Existing(k), .. } if k == "kb"),
            "{:?}",
            plan.actions[0]
        );
    }

    #[test]
    fn every_reference_to_a_new_resource_names_an_earlier_action_that_makes_it() {
        let plan = up(&Stack::default(), NO_KEY_FILE).unwrap();
        for (n, action) in plan.actions.iter().enumerate() {
            for r in action.refs() {
                if let Ref::Step(m) = r {
                    assert!(*m < n, "step {n} refers to later step {m}");
                    assert!(plan.actions[*m].makes().is_some(), "{:?}", plan.actions[*m]);
                }
            }
        }
    }

    #[test]
    fn only_what_the_plan_will_use_is_looked_up() {
        assert_eq!(
            needs(&desired(), &complete()),
            Needs {
                default_vpc: false,
                image: false
            }
        );
        assert_eq!(
            needs(&desired(), &Stack::default()),
            Needs {
                default_vpc: true,
                image: true
            }
        );
    }

    #[test]
    fn a_launch_without_a_looked_up_image_is_an_internal_error_not_a_guess() {
        let missing = Resolved {
            default_vpc: Some("vpc-1".into()),
            image: None,
        };
        let err =
            plan_up(&desired(), &Stack::default(), &missing, &local(NO_KEY_FILE)).unwrap_err();
        assert_eq!(err, PlanError::Unresolved("the image"));
    }

    #[test]
    fn the_launch_reads_as_one_line_with_image_type_and_user_data() {
        let plan = up(&Stack::default(), NO_KEY_FILE).unwrap();
        assert_eq!(
            plan.actions[3].to_string(),
            "launch a t2.micro instance from ami-0b0000000000002404 \
             (ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261101) with key pair \
             kb (new, step 1) and group (new, step 2), no user data"
        );
    }

    #[test]
    fn drift_that_needs_replacement_is_noted_not_acted_on() {
        let mut stack = complete();
        stack.instances[0].instance_type = "t3.small".into();
        let plan = up(&stack, KEY_FILE).unwrap();
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
