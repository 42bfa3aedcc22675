//! The one wrapper around the EC2 client, split by resource: [`key_pair`],
//! [`security_group`] (and the default VPC it goes in), [`image`],
//! [`instance`], [`address`]. Each method is one API call (or one waiter):
//! SDK types in, plain [`crate::stack`] types out, and every failure an
//! [`Ec2Error`] ([`error`]) naming the call.
//!
//! Whether mutating calls are sent with `DryRun` is decided once, when the
//! wrapper is built ([`Mode`]), not by each call. The wrapper also records
//! every call on the wire ([`calls`]).

pub mod address;
pub mod calls;
pub mod error;
pub mod image;
pub mod instance;
pub mod key_pair;
pub mod security_group;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use aws_sdk_ec2::Client;

pub use calls::{Call, CallLog, CallSummary};
pub use error::Ec2Error;
pub use image::Image;
pub use instance::LaunchSpec;

use crate::stack::STACK_TAG;

/// Whether mutating calls change anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Calls do what they say.
    Apply,
    /// Mutating calls are sent with `DryRun=true`: EC2 answers whether it
    /// would permit them (`DryRunOperation`) and changes nothing. Reads and
    /// waits are sent as usual.
    DryRun,
}

/// The EC2 client wrapper.
#[derive(Debug, Clone)]
pub struct Ec2 {
    client: Client,
    log: CallLog,
    /// Sent as `DryRun` on every mutating call; set once from [`Mode`].
    dry_run: bool,
}

impl Ec2 {
    /// Wraps a client built from `config`, recording its calls.
    pub fn new(config: &aws_config::SdkConfig, mode: Mode) -> Self {
        let log = CallLog::default();
        let conf = aws_sdk_ec2::config::Builder::from(config)
            .interceptor(calls::Recorder(log.clone()))
            .build();
        Ec2 {
            client: Client::from_conf(conf),
            log,
            dry_run: mode == Mode::DryRun,
        }
    }

    /// Wraps a ready client whose calls are not recorded (tests with mocks).
    pub fn from_client(client: Client, mode: Mode) -> Self {
        Ec2 {
            client,
            log: CallLog::default(),
            dry_run: mode == Mode::DryRun,
        }
    }

    /// The mode it was built with.
    pub fn mode(&self) -> Mode {
        if self.dry_run {
            Mode::DryRun
        } else {
            Mode::Apply
        }
    }

    /// The calls made so far.
    pub fn log(&self) -> &CallLog {
        &self.log
    }
}

/// The filter that finds a stack's resources by their tag.
fn stack_filter(name: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{STACK_TAG}"))
        .values(name)
        .build()
}

/// The stack tag and a `Name` tag, set on a resource at creation.
fn tags(resource: ResourceType, name: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .tags(Tag::builder().key(STACK_TAG).value(name).build())
        .tags(Tag::builder().key("Name").value(name).build())
        .build()
}

/// An empty string means "none" (moto reports a disassociated address so).
fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_owned)
}
