//! How a discovered stack differs from the desired one, judged once: `up`
//! plans its actions and notes from a [`Drift`], `status` prints its lines
//! from the same one, so the two cannot disagree about what is wrong.
//!
//! A drift is a judgement, not a plan: it says which resources the stack keeps
//! ([`Stack`]'s selectors), what they lack or have too much of, and which
//! resources are duplicates. What to do about it is [`crate::plan`]'s business.

use std::fmt;

use crate::desired::{Desired, InstanceType};
use crate::stack::{Address, Group, Instance, KeyPair, Rule, Stack};

/// The stack beside the desired state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift<'a> {
    /// The key pair, when there is one.
    pub key_pair: Option<&'a KeyPair>,
    /// The group the stack keeps and how its rules differ; `None`: no group.
    pub group: Option<GroupDrift<'a>>,
    /// Other groups carrying the stack tag.
    pub extra_groups: Vec<&'a Group>,
    /// The instance the stack keeps and what about it differs; `None`: no
    /// instance that counts (terminated ones do not).
    pub instance: Option<InstanceDrift<'a>>,
    /// Other live instances carrying the stack tag: duplicates.
    pub extra_instances: Vec<&'a Instance>,
    /// The Elastic IP the stack keeps.
    pub address: Option<&'a Address>,
    /// Other Elastic IPs carrying the stack tag: duplicates.
    pub extra_addresses: Vec<&'a Address>,
}

/// The kept group and how its ingress differs from the desired one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDrift<'a> {
    /// The group.
    pub group: &'a Group,
    /// Desired rules it lacks, in the desired order.
    pub missing: Vec<Rule>,
    /// Rules it has that are not desired, in its order.
    pub unwanted: Vec<Rule>,
    /// With no SSH CIDR to compare with (`status` without `--ssh-cidr`), any
    /// one SSH rule is accepted; this is how many there are when that is not
    /// one.
    pub ssh_rules: Option<usize>,
}

impl GroupDrift<'_> {
    /// Whether the rules are exactly the desired ones.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.unwanted.is_empty() && self.ssh_rules.is_none()
    }

    /// What differs, one phrase each: "missing tcp 22 from 203.0.113.7/32".
    pub fn problems(&self) -> Vec<String> {
        let missing = self.missing.iter().map(|r| format!("missing {r}"));
        let unwanted = self.unwanted.iter().map(|r| format!("not wanted {r}"));
        let ssh = self
            .ssh_rules
            .map(|n| format!("want exactly one SSH rule, not {n}"));
        missing.chain(unwanted).chain(ssh).collect()
    }
}

/// The kept instance and what about it differs from the desired state in a
/// way `up` does not change (its state, which `up` does change, is on the
/// instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceDrift<'a> {
    /// The instance.
    pub instance: &'a Instance,
    /// What differs.
    pub differences: Vec<Difference>,
}

/// One way the kept instance differs; fixing it means replacing the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// Another instance type.
    Type {
        /// What it is.
        have: String,
        /// What is desired.
        want: InstanceType,
    },
    /// Launched with another key pair, or none.
    KeyPair {
        /// The key pair it has.
        have: Option<String>,
        /// The stack's key pair.
        want: String,
    },
    /// Not in the stack's security group.
    Group {
        /// The stack's group.
        want: String,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Type { have, want } => write!(f, "type {have} (want {want})"),
            Difference::KeyPair { have, want } => write!(
                f,
                "key pair {} (want {want})",
                have.as_deref().unwrap_or("(none)")
            ),
            Difference::Group { want } => write!(f, "not in security group {want}"),
        }
    }
}

impl<'a> Drift<'a> {
    /// Judges `stack` against `desired`.
    pub fn judge(desired: &Desired, stack: &'a Stack) -> Self {
        let name = desired.name.as_str();
        let group = stack.kept_group(name);
        let instance = stack.kept_instance();
        let address = stack.kept_address();
        // The instance should use the stack's key pair: the one there is, or
        // the one `up` creates under the stack's name.
        let key_name = stack.kept_key_pair().map_or(name, |k| k.name.as_str());
        Drift {
            key_pair: stack.kept_key_pair(),
            group: group.map(|g| judge_group(desired, g)),
            extra_groups: others(&stack.groups, group),
            instance: instance.map(|i| InstanceDrift {
                instance: i,
                differences: differences(desired, i, key_name, group),
            }),
            extra_instances: stack
                .instances
                .iter()
                .filter(|i| !i.state.is_going() && Some(&i.id) != instance.map(|k| &k.id))
                .collect(),
            address,
            extra_addresses: others(&stack.addresses, address),
        }
    }

    /// Whether `address` is associated with the kept instance.
    pub fn on_kept_instance(&self, address: &Address) -> bool {
        match (&address.instance_id, &self.instance) {
            (Some(on), Some(kept)) => *on == kept.instance.id,
            _ => false,
        }
    }

    /// What `up` leaves alone, for the user to know: differences that need
    /// a new instance, and groups besides the kept one.
    pub fn notes(&self) -> Vec<String> {
        let instance = self.instance.iter().flat_map(|i| {
            i.differences.iter().map(|d| {
                format!(
                    "instance {}: {d}; it is kept (run `provision down` and `up` to replace it)",
                    i.instance.id
                )
            })
        });
        let groups = self.group.iter().flat_map(|kept| {
            self.extra_groups.iter().map(|g| {
                format!(
                    "security group {} also carries the stack tag; {} is the one used \
                     (`provision down` removes every group with the tag)",
                    g.id, kept.group.id
                )
            })
        });
        instance.chain(groups).collect()
    }
}

/// The items of `all` that are not `kept`.
fn others<'a, T: PartialEq>(all: &'a [T], kept: Option<&T>) -> Vec<&'a T> {
    all.iter().filter(|x| Some(*x) != kept).collect()
}

fn judge_group<'a>(desired: &Desired, group: &'a Group) -> GroupDrift<'a> {
    let minus = |a: &[Rule], b: &[Rule]| -> Vec<Rule> {
        a.iter().filter(|r| !b.contains(r)).cloned().collect()
    };
    let want = desired.ingress();
    let mut unwanted = minus(&group.ingress, &want);
    let mut ssh_rules = None;
    if desired.ssh_cidr.is_none() {
        let ssh = group.ingress.iter().filter(|r| r.is_tcp_port(22)).count();
        unwanted.retain(|r| !r.is_tcp_port(22));
        ssh_rules = (ssh != 1).then_some(ssh);
    }
    GroupDrift {
        group,
        missing: minus(&want, &group.ingress),
        unwanted,
        ssh_rules,
    }
}

fn differences(
    desired: &Desired,
    instance: &Instance,
    key_name: &str,
    group: Option<&Group>,
) -> Vec<Difference> {
    let mut out = Vec::new();
    if instance.instance_type != desired.instance_type.as_str() {
        out.push(Difference::Type {
            have: instance.instance_type.clone(),
            want: desired.instance_type.clone(),
        });
    }
    if instance.key_name.as_deref() != Some(key_name) {
        out.push(Difference::KeyPair {
            have: instance.key_name.clone(),
            want: key_name.to_owned(),
        });
    }
    if let Some(g) = group.filter(|g| !instance.group_ids.contains(&g.id)) {
        out.push(Difference::Group { want: g.id.clone() });
    }
    out
}

/// A desired state and a stack that matches it, for the tests of everything
/// that judges drift.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::desired::{Cidr, Desired, Port};
    use crate::stack::{Address, Group, Instance, InstanceState, KeyPair, Rule, Stack};

    /// Stack `kb`: SSH from 203.0.113.7/32, 80, 443 and 5000 from anywhere,
    /// a t2.micro.
    pub fn desired() -> Desired {
        Desired {
            name: "kb".parse().unwrap(),
            port: Some(Port(5000)),
            app_cidr: Cidr::ANYWHERE,
            ssh_cidr: Some("203.0.113.7/32".parse().unwrap()),
            instance_type: "t2.micro".parse().unwrap(),
            key_file: "/k.pem".into(),
        }
    }

    /// What [`desired`] asks for, all there.
    pub fn complete() -> Stack {
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
                    Rule::tcp(22, "203.0.113.7/32".parse::<Cidr>().unwrap()),
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
}

#[cfg(test)]
mod tests {
    use super::fixtures::{complete, desired};
    use super::*;
    use crate::desired::Cidr;

    #[test]
    fn a_complete_stack_has_no_drift() {
        let stack = complete();
        let drift = Drift::judge(&desired(), &stack);
        assert!(drift.group.as_ref().is_some_and(GroupDrift::is_clean));
        assert!(drift.instance.as_ref().unwrap().differences.is_empty());
        assert!(drift.extra_groups.is_empty() && drift.extra_instances.is_empty());
        assert!(drift.extra_addresses.is_empty());
        assert!(drift.on_kept_instance(drift.address.unwrap()));
        assert!(drift.notes().is_empty());
    }

    #[test]
    fn missing_rules_keep_the_desired_order_and_unwanted_ones_the_groups() {
        let mut stack = complete();
        stack.groups[0].ingress = vec![
            Rule::tcp(8080, Cidr::ANYWHERE),
            Rule::tcp(22, Cidr::ANYWHERE),
            Rule::tcp(443, Cidr::ANYWHERE),
        ];
        let drift = Drift::judge(&desired(), &stack);
        let group = drift.group.unwrap();
        assert_eq!(
            group.missing,
            [
                Rule::tcp(22, "203.0.113.7/32".parse::<Cidr>().unwrap()),
                Rule::tcp(80, Cidr::ANYWHERE),
                Rule::tcp(5000, Cidr::ANYWHERE),
            ]
        );
        assert_eq!(
            group.unwanted,
            [
                Rule::tcp(8080, Cidr::ANYWHERE),
                Rule::tcp(22, Cidr::ANYWHERE)
            ]
        );
    }

    #[test]
    fn without_an_ssh_cidr_any_one_ssh_rule_is_accepted_and_two_are_not() {
        let mut d = desired();
        d.ssh_cidr = None;
        let mut stack = complete();
        stack.groups[0].ingress[0] = Rule::tcp(22, Cidr::ANYWHERE);
        assert!(Drift::judge(&d, &stack).group.unwrap().is_clean());
        stack.groups[0]
            .ingress
            .push(Rule::tcp(22, "192.0.2.0/24".parse::<Cidr>().unwrap()));
        let drift = Drift::judge(&d, &stack);
        let group = drift.group.unwrap();
        assert_eq!(group.ssh_rules, Some(2));
        assert!(group.unwanted.is_empty(), "{:?}", group.unwanted);
    }

    #[test]
    fn what_only_a_new_instance_fixes_is_a_difference_and_a_note() {
        let mut stack = complete();
        let i = &mut stack.instances[0];
        i.instance_type = "t3.small".into();
        i.key_name = None;
        i.group_ids.clear();
        let drift = Drift::judge(&desired(), &stack);
        let shown: Vec<String> = drift
            .instance
            .as_ref()
            .unwrap()
            .differences
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "type t3.small (want t2.micro)",
                "key pair (none) (want kb)",
                "not in security group sg-1"
            ]
        );
        assert_eq!(drift.notes().len(), 3);
    }
}
