//! What a stack looks like in EC2: plain Rust values that discovery fills in
//! and the planner reads, and which of its resources the stack keeps when
//! there are several. No SDK types cross this line.

use std::fmt;

use serde::Serialize;

/// The tag key that marks every resource of a stack; its value is the stack name.
pub const STACK_TAG: &str = "kakaobot:stack";

/// Where an ingress rule lets traffic come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Source {
    /// An IPv4 CIDR.
    Cidr4(String),
    /// An IPv6 CIDR (never desired here, but revoked if found).
    Cidr6(String),
    /// Another security group.
    Group(String),
    /// A managed prefix list.
    PrefixList(String),
}

/// One ingress permission of a security group, in the unit EC2 authorizes
/// and revokes: protocol, port range and a single source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Rule {
    /// `tcp`, `udp`, `icmp` or `-1` for all.
    pub protocol: String,
    /// First port (or ICMP type; -1 for all).
    pub from_port: i32,
    /// Last port (or ICMP code; -1 for all).
    pub to_port: i32,
    /// Who may connect.
    pub source: Source,
}

impl Rule {
    /// TCP on one port from `source` (for a stack, always an IPv4 CIDR).
    pub fn tcp(port: u16, source: impl Into<Source>) -> Self {
        Rule {
            protocol: "tcp".into(),
            from_port: port.into(),
            to_port: port.into(),
            source: source.into(),
        }
    }

    /// Whether this rule is TCP exactly on `port`.
    pub fn is_tcp_port(&self, port: u16) -> bool {
        self.protocol == "tcp"
            && self.from_port == i32::from(port)
            && self.to_port == i32::from(port)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ports = if self.from_port == self.to_port {
            self.from_port.to_string()
        } else {
            format!("{}-{}", self.from_port, self.to_port)
        };
        let protocol = if self.protocol == "-1" {
            "all"
        } else {
            &self.protocol
        };
        let source = match &self.source {
            Source::Cidr4(c) | Source::Cidr6(c) => c.clone(),
            Source::Group(g) => format!("group {g}"),
            Source::PrefixList(p) => format!("prefix list {p}"),
        };
        write!(f, "{protocol} {ports} from {source}")
    }
}

/// The stack's key pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyPair {
    /// Key pair name (the stack name).
    pub name: String,
    /// `key-…` id, when EC2 reports one.
    pub id: Option<String>,
}

/// The stack's security group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// `sg-…` id.
    pub id: String,
    /// Group name (the stack name).
    pub name: String,
    /// The VPC it lives in.
    pub vpc_id: Option<String>,
    /// Its ingress rules, one source per rule.
    pub ingress: Vec<Rule>,
}

/// An instance's lifecycle state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    /// Launching.
    Pending,
    /// Up.
    Running,
    /// On its way to stopped.
    Stopping,
    /// Stopped; can be started again.
    Stopped,
    /// Being terminated.
    ShuttingDown,
    /// Gone (stays visible for a while).
    Terminated,
}

impl InstanceState {
    /// Maps EC2's state name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            "shutting-down" => Self::ShuttingDown,
            "terminated" => Self::Terminated,
            _ => return None,
        })
    }

    /// EC2's name for the state.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::ShuttingDown => "shutting-down",
            Self::Terminated => "terminated",
        }
    }

    /// Whether the instance is on its way out (or gone) and no longer counts.
    pub fn is_going(&self) -> bool {
        matches!(self, Self::ShuttingDown | Self::Terminated)
    }
}

/// One instance tagged with the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// `i-…` id.
    pub id: String,
    /// Lifecycle state.
    pub state: InstanceState,
    /// Instance type, e.g. `t2.micro`.
    pub instance_type: String,
    /// The key pair it was launched with.
    pub key_name: Option<String>,
    /// Its security groups.
    pub group_ids: Vec<String>,
    /// The AMI it was launched from.
    pub image_id: Option<String>,
    /// Launch time (RFC 3339), to keep the oldest of duplicates.
    pub launch_time: Option<String>,
}

/// One Elastic IP tagged with the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    /// `eipalloc-…` id.
    pub allocation_id: String,
    /// The public address.
    pub public_ip: String,
    /// `eipassoc-…` id when associated.
    pub association_id: Option<String>,
    /// The instance it is associated with. moto reports an empty string for
    /// "none", which discovery turns into `None`.
    pub instance_id: Option<String>,
}

/// Everything tagged with one stack name, as discovery found it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stack {
    /// Tagged key pairs (normally zero or one).
    pub key_pairs: Vec<KeyPair>,
    /// Tagged security groups (normally zero or one).
    pub groups: Vec<Group>,
    /// Tagged instances, terminated ones included (EC2 lists them for a while).
    pub instances: Vec<Instance>,
    /// Tagged Elastic IPs.
    pub addresses: Vec<Address>,
}

impl Stack {
    /// The key pair the stack keeps (there is normally one).
    pub fn kept_key_pair(&self) -> Option<&KeyPair> {
        self.key_pairs.first()
    }

    /// The group the stack keeps: the one named after the stack, else the first.
    pub fn kept_group(&self, name: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.name == name)
            .or_else(|| self.groups.first())
    }

    /// The instance the stack keeps: the one holding an owned address, else
    /// the most alive one (running, pending, stopped, stopping), oldest first.
    pub fn kept_instance(&self) -> Option<&Instance> {
        let holds_address = |i: &Instance| {
            self.addresses
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
        self.instances
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

    /// The address the stack keeps: the one on the kept instance, else an
    /// unassociated one, else any.
    pub fn kept_address(&self) -> Option<&Address> {
        let kept = self.kept_instance();
        let on_kept = |a: &Address| match (kept, &a.instance_id) {
            (Some(i), Some(id)) => *id == i.id,
            _ => false,
        };
        self.addresses.iter().min_by_key(|a| {
            (
                !on_kept(a),
                a.instance_id.is_some(),
                a.allocation_id.clone(),
            )
        })
    }
}
