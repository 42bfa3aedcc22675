//! The one wrapper around the EC2 client: one method per API call, SDK types
//! in, plain [`crate::stack`] types out, and every failure turned into an
//! [`Ec2Error`] that names the call, the AWS error code and message, and a hint.
//!
//! It also records every call on the wire (see [`CallLog`]) so that `-v` and
//! `--output json` can say how many calls were made and how many changed
//! something.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{
    DomainType, Filter, HttpTokensState, InstanceMetadataEndpointState,
    InstanceMetadataOptionsRequest, InstanceType, IpPermission, IpRange, Ipv6Range, KeyFormat,
    KeyType, PrefixListId, ResourceType, Tag, TagSpecification, UserIdGroupPair,
};
use aws_sdk_ec2::Client;
use serde::Serialize;

use crate::settings::STACK_TAG;
use crate::stack::{Address, Group, Instance, InstanceState, KeyPair, Rule, Source};

/// A failed EC2 call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Error {
    /// The API call, e.g. `RunInstances`.
    pub call: &'static str,
    /// AWS's error code, e.g. `UnauthorizedOperation`; `None` when the
    /// request never got an answer (no credentials, no network, timeout).
    pub code: Option<String>,
    /// AWS's message, or the cause chain of a local failure.
    pub message: String,
    /// What to do about it, for the common cases.
    pub hint: Option<String>,
}

impl fmt::Display for Ec2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EC2 {} failed: ", self.call)?;
        if let Some(code) = &self.code {
            write!(f, "{code}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Ec2Error {}

impl Ec2Error {
    /// Builds the error for `call`, adding the hint for its code.
    pub fn new(call: &'static str, code: Option<&str>, message: impl Into<String>) -> Self {
        let message = message.into();
        let hint = hint(call, code, &message);
        Ec2Error {
            call,
            code: code.map(str::to_owned),
            message,
            hint,
        }
    }

    fn from_sdk<E, R>(call: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        let code = err.code().map(str::to_owned);
        let message = match (&code, err.message()) {
            (Some(_), Some(m)) => m.to_owned(),
            _ => chain(&err),
        };
        Ec2Error::new(call, code.as_deref(), message)
    }

    /// The AWS error code, or "" when there is none.
    pub fn code(&self) -> &str {
        self.code.as_deref().unwrap_or("")
    }

    /// Whether EC2 says the resource does not exist (yet): `*.NotFound`.
    pub fn is_not_found(&self) -> bool {
        self.code().ends_with(".NotFound")
    }

    /// Whether this is the answer to a `DryRun` call that would have succeeded.
    pub fn is_dry_run_ok(&self) -> bool {
        self.code() == "DryRunOperation"
    }

    /// Whether the caller lacks the IAM permission.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self.code(), "UnauthorizedOperation" | "AccessDenied")
    }
}

/// The hint for the common failures.
fn hint(call: &str, code: Option<&str>, message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    let text = match code {
        None if lower.contains("credential") => {
            "no AWS credentials were found: run `aws configure`, set AWS_PROFILE or \
             AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or `aws sso login`"
                .to_owned()
        }
        None if lower.contains("dispatch") || lower.contains("connect") || lower.contains("timeout") => {
            "the EC2 endpoint could not be reached: check the network, --region and AWS_ENDPOINT_URL"
                .to_owned()
        }
        Some("UnauthorizedOperation" | "AccessDenied") => format!(
            "the IAM identity is not allowed ec2:{call}; attach the policy in README.md, section 'IAM permissions'"
        ),
        Some("AuthFailure" | "InvalidClientTokenId" | "SignatureDoesNotMatch") => {
            "the credentials were refused: check the access key, or renew the SSO session with \
             `aws sso login`"
                .to_owned()
        }
        Some("ExpiredToken" | "RequestExpired") => {
            "the credentials or request expired: renew the session (`aws sso login`) and check \
             the clock"
                .to_owned()
        }
        Some("AddressLimitExceeded") => {
            "the region's Elastic IP quota (5 by default) is used up: release addresses you no \
             longer need (`aws ec2 describe-addresses`) or request a quota increase"
                .to_owned()
        }
        Some("InvalidPermission.Malformed") => {
            "a CIDR was refused: pass --ssh-cidr/--app-cidr as a.b.c.d/n".to_owned()
        }
        Some("InvalidParameterValue") if lower.contains("cidr") => {
            "a CIDR was refused: pass --ssh-cidr/--app-cidr as a.b.c.d/n".to_owned()
        }
        Some("InvalidParameterValue") if lower.contains("instance type") || lower.contains("instancetype") => {
            "check that --instance-type exists in this region".to_owned()
        }
        Some("InvalidKeyPair.Duplicate") => {
            "a key pair with the stack's name exists but is not tagged for this stack: delete \
             it or choose another --name"
                .to_owned()
        }
        Some("InvalidGroup.Duplicate") => {
            "a security group with the stack's name exists but is not tagged for this stack: \
             delete it or choose another --name"
                .to_owned()
        }
        Some("InvalidAMIID.NotFound" | "InvalidAMIID.Malformed" | "InvalidAMIID.Unavailable") => {
            "the image does not exist in this region: check --ami and --region".to_owned()
        }
        Some("VcpuLimitExceeded" | "InstanceLimitExceeded") => {
            "the account's instance quota is used up in this region: terminate an instance or \
             request a quota increase"
                .to_owned()
        }
        Some("OptInRequired") => "the account or region is not enabled for EC2 yet".to_owned(),
        Some("DependencyViolation") => {
            "another resource still uses it; try again once instances have terminated".to_owned()
        }
        _ => return None,
    };
    Some(text)
}

/// One EC2 request as it went on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    /// The API action, e.g. `DescribeInstances`.
    pub action: String,
    /// Whether it was sent with `DryRun=true`.
    pub dry_run: bool,
}

impl Call {
    /// Whether the call changes something: not a read and not a dry run.
    pub fn is_mutating(&self) -> bool {
        !self.dry_run && !self.action.starts_with("Describe") && !self.action.starts_with("Get")
    }
}

/// The calls a client made, shared with the interceptor that records them.
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

/// Counts of the recorded calls, as printed with `-v` and in `--output json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallSummary {
    /// All calls.
    pub total: usize,
    /// Calls that changed something.
    pub mutating: usize,
    /// Calls sent with DryRun.
    pub dry_run: usize,
    /// Calls per action.
    pub by_action: BTreeMap<String, usize>,
}

impl CallLog {
    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().expect("call log lock").clone()
    }

    /// Counts of the calls so far.
    pub fn summary(&self) -> CallSummary {
        let calls = self.calls();
        let mut by_action = BTreeMap::new();
        for c in &calls {
            *by_action.entry(c.action.clone()).or_insert(0) += 1;
        }
        CallSummary {
            total: calls.len(),
            mutating: calls.iter().filter(|c| c.is_mutating()).count(),
            dry_run: calls.iter().filter(|c| c.dry_run).count(),
            by_action,
        }
    }

    fn record(&self, call: Call) {
        self.0.lock().expect("call log lock").push(call);
    }
}

/// An SDK interceptor that records each operation once (after serialization,
/// before the retry loop) by reading `Action=` and `DryRun=` from the EC2
/// query-protocol body.
#[derive(Debug)]
struct Recorder(CallLog);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "provision::ec2::Recorder"
    }

    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.request().body().bytes().unwrap_or_default();
        let body = String::from_utf8_lossy(body);
        let mut call = Call {
            action: "Unknown".into(),
            dry_run: false,
        };
        for pair in body.split('&') {
            match pair.split_once('=') {
                Some(("Action", action)) => call.action = action.to_owned(),
                Some(("DryRun", value)) => call.dry_run = value == "true",
                _ => {}
            }
        }
        self.0.record(call);
        Ok(())
    }
}

/// What `RunInstances` launches.
#[derive(Debug, Clone)]
pub struct LaunchSpec<'a> {
    /// Stack name, for tags.
    pub name: &'a str,
    /// AMI id.
    pub image_id: &'a str,
    /// Instance type.
    pub instance_type: &'a str,
    /// Key pair name.
    pub key_name: &'a str,
    /// Security group id.
    pub group_id: &'a str,
    /// Raw user data (base64-encoded here).
    pub user_data: Option<&'a [u8]>,
}

/// An Ubuntu image found by [`Ec2::newest_ubuntu_image`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Image {
    /// `ami-…` id.
    pub id: String,
    /// Image name.
    pub name: String,
    /// Creation date (ISO 8601).
    pub creation_date: String,
}

/// Canonical's AWS account, the owner of the official Ubuntu images.
pub const CANONICAL: &str = "099720109477";

/// The EC2 client wrapper.
#[derive(Debug, Clone)]
pub struct Ec2 {
    client: Client,
    log: CallLog,
}

fn stack_filter(name: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{STACK_TAG}"))
        .values(name)
        .build()
}

fn tags(resource: ResourceType, name: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .tags(Tag::builder().key(STACK_TAG).value(name).build())
        .tags(Tag::builder().key("Name").value(name).build())
        .build()
}

/// Turns a rule into the IpPermission that authorizes or revokes exactly it.
fn permission(rule: &Rule) -> IpPermission {
    let p = IpPermission::builder()
        .ip_protocol(&rule.protocol)
        .from_port(rule.from_port)
        .to_port(rule.to_port);
    match &rule.source {
        Source::Cidr4(c) => p.ip_ranges(IpRange::builder().cidr_ip(c).build()),
        Source::Cidr6(c) => p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).build()),
        Source::Group(g) => p.user_id_group_pairs(UserIdGroupPair::builder().group_id(g).build()),
        Source::PrefixList(l) => {
            p.prefix_list_ids(PrefixListId::builder().prefix_list_id(l).build())
        }
    }
    .build()
}

/// Splits EC2's permissions (several sources each) into one rule per source.
fn rules(permissions: &[IpPermission]) -> Vec<Rule> {
    let mut out = Vec::new();
    for p in permissions {
        let rule = |source| Rule {
            protocol: p.ip_protocol().unwrap_or("-1").to_owned(),
            from_port: p.from_port().unwrap_or(-1),
            to_port: p.to_port().unwrap_or(-1),
            source,
        };
        out.extend(
            p.ip_ranges()
                .iter()
                .filter_map(|r| r.cidr_ip())
                .map(|c| rule(Source::Cidr4(c.to_owned()))),
        );
        out.extend(
            p.ipv6_ranges()
                .iter()
                .filter_map(|r| r.cidr_ipv6())
                .map(|c| rule(Source::Cidr6(c.to_owned()))),
        );
        out.extend(
            p.user_id_group_pairs()
                .iter()
                .filter_map(|g| g.group_id())
                .map(|g| rule(Source::Group(g.to_owned()))),
        );
        out.extend(
            p.prefix_list_ids()
                .iter()
                .filter_map(|l| l.prefix_list_id())
                .map(|l| rule(Source::PrefixList(l.to_owned()))),
        );
    }
    out.sort();
    out
}

/// An empty string means "none" (moto reports a disassociated address so).
fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_owned)
}

impl Ec2 {
    /// Wraps a client built from `config`, recording its calls.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        let log = CallLog::default();
        let conf = aws_sdk_ec2::config::Builder::from(config)
            .interceptor(Recorder(log.clone()))
            .build();
        Ec2 {
            client: Client::from_conf(conf),
            log,
        }
    }

    /// Wraps a ready client whose calls are not recorded (tests with mocks).
    pub fn from_client(client: Client) -> Self {
        Ec2 {
            client,
            log: CallLog::default(),
        }
    }

    /// The calls made so far.
    pub fn log(&self) -> &CallLog {
        &self.log
    }

    /// DescribeKeyPairs: the key pairs tagged with the stack.
    pub async fn describe_key_pairs(&self, name: &str) -> Result<Vec<KeyPair>, Ec2Error> {
        let out = self
            .client
            .describe_key_pairs()
            .filters(stack_filter(name))
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("DescribeKeyPairs", e))?;
        Ok(out
            .key_pairs()
            .iter()
            .filter_map(|k| {
                Some(KeyPair {
                    name: k.key_name()?.to_owned(),
                    id: non_empty(k.key_pair_id()),
                })
            })
            .collect())
    }

    /// DescribeSecurityGroups: the groups tagged with the stack.
    pub async fn describe_security_groups(&self, name: &str) -> Result<Vec<Group>, Ec2Error> {
        let out = self
            .client
            .describe_security_groups()
            .filters(stack_filter(name))
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("DescribeSecurityGroups", e))?;
        Ok(out
            .security_groups()
            .iter()
            .filter_map(|g| {
                Some(Group {
                    id: g.group_id()?.to_owned(),
                    name: g.group_name().unwrap_or_default().to_owned(),
                    vpc_id: non_empty(g.vpc_id()),
                    ingress: rules(g.ip_permissions()),
                })
            })
            .collect())
    }

    /// DescribeInstances: the instances tagged with the stack, terminated ones included.
    pub async fn describe_instances(&self, name: &str) -> Result<Vec<Instance>, Ec2Error> {
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .describe_instances()
                .filters(stack_filter(name))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| Ec2Error::from_sdk("DescribeInstances", e))?;
            for i in out.reservations().iter().flat_map(|r| r.instances()) {
                let (Some(id), Some(state)) = (
                    i.instance_id(),
                    i.state()
                        .and_then(|s| s.name())
                        .and_then(|n| InstanceState::from_name(n.as_str())),
                ) else {
                    continue;
                };
                found.push(Instance {
                    id: id.to_owned(),
                    state,
                    instance_type: i
                        .instance_type()
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                    key_name: non_empty(i.key_name()),
                    group_ids: i
                        .security_groups()
                        .iter()
                        .filter_map(|g| g.group_id().map(str::to_owned))
                        .collect(),
                    image_id: non_empty(i.image_id()),
                    launch_time: i.launch_time().and_then(|t| {
                        t.fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
                            .ok()
                    }),
                });
            }
            token = out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                return Ok(found);
            }
        }
    }

    /// DescribeAddresses: the Elastic IPs tagged with the stack.
    pub async fn describe_addresses(&self, name: &str) -> Result<Vec<Address>, Ec2Error> {
        let out = self
            .client
            .describe_addresses()
            .filters(stack_filter(name))
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("DescribeAddresses", e))?;
        Ok(out
            .addresses()
            .iter()
            .filter_map(|a| {
                Some(Address {
                    allocation_id: a.allocation_id()?.to_owned(),
                    public_ip: a.public_ip().unwrap_or_default().to_owned(),
                    association_id: non_empty(a.association_id()),
                    instance_id: non_empty(a.instance_id()),
                })
            })
            .collect())
    }

    /// DescribeVpcs: the region's default VPC, if there is one.
    pub async fn default_vpc(&self) -> Result<Option<String>, Ec2Error> {
        let out = self
            .client
            .describe_vpcs()
            .filters(Filter::builder().name("is-default").values("true").build())
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("DescribeVpcs", e))?;
        Ok(out
            .vpcs()
            .iter()
            .find_map(|v| v.vpc_id().map(str::to_owned)))
    }

    /// DescribeImages: the newest official Ubuntu `release` amd64 server image.
    /// The name pattern keeps to `ubuntu/images/…`, which excludes the EKS,
    /// Pro, minimal and testing series that share the rest of the name.
    pub async fn newest_ubuntu_image(&self, release: &str) -> Result<Option<Image>, Ec2Error> {
        let out = self
            .client
            .describe_images()
            .owners(CANONICAL)
            .filters(
                Filter::builder()
                    .name("name")
                    .values(format!("ubuntu/images/*/ubuntu-*-{release}-amd64-server-*"))
                    .build(),
            )
            .filters(
                Filter::builder()
                    .name("architecture")
                    .values("x86_64")
                    .build(),
            )
            .filters(Filter::builder().name("state").values("available").build())
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("DescribeImages", e))?;
        Ok(out
            .images()
            .iter()
            .filter(|i| i.owner_id() == Some(CANONICAL))
            .filter_map(|i| {
                Some(Image {
                    id: i.image_id()?.to_owned(),
                    name: i.name().unwrap_or_default().to_owned(),
                    creation_date: i.creation_date().unwrap_or_default().to_owned(),
                })
            })
            .max_by(|a, b| {
                a.creation_date
                    .cmp(&b.creation_date)
                    .then(a.name.cmp(&b.name))
            }))
    }

    /// CreateKeyPair (ed25519, tagged): returns the private key.
    pub async fn create_key_pair(&self, name: &str, dry_run: bool) -> Result<String, Ec2Error> {
        let call = "CreateKeyPair";
        let out = self
            .client
            .create_key_pair()
            .key_name(name)
            .key_type(KeyType::Ed25519)
            .key_format(KeyFormat::Pem)
            .tag_specifications(tags(ResourceType::KeyPair, name))
            .dry_run(dry_run)
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk(call, e))?;
        out.key_material()
            .map(str::to_owned)
            .ok_or_else(|| Ec2Error::new(call, None, "the answer has no private key"))
    }

    /// ImportKeyPair (tagged).
    pub async fn import_key_pair(
        &self,
        name: &str,
        public_key: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.client
            .import_key_pair()
            .key_name(name)
            .public_key_material(aws_sdk_ec2::primitives::Blob::new(public_key.as_bytes()))
            .tag_specifications(tags(ResourceType::KeyPair, name))
            .dry_run(dry_run)
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("ImportKeyPair", e))?;
        Ok(())
    }

    /// CreateSecurityGroup (tagged): returns the group id.
    pub async fn create_security_group(
        &self,
        name: &str,
        vpc_id: &str,
        dry_run: bool,
    ) -> Result<String, Ec2Error> {
        let call = "CreateSecurityGroup";
        let out = self
            .client
            .create_security_group()
            .group_name(name)
            .description(format!("kakaobot stack {name}: ssh and the app port"))
            .vpc_id(vpc_id)
            .tag_specifications(tags(ResourceType::SecurityGroup, name))
            .dry_run(dry_run)
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk(call, e))?;
        out.group_id()
            .map(str::to_owned)
            .ok_or_else(|| Ec2Error::new(call, None, "the answer has no group id"))
    }

    /// AuthorizeSecurityGroupIngress.
    pub async fn authorize_ingress(
        &self,
        group_id: &str,
        rules: &[Rule],
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.client
            .authorize_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(rules.iter().map(permission).collect()))
            .dry_run(dry_run)
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("AuthorizeSecurityGroupIngress", e))?;
        Ok(())
    }

    /// RevokeSecurityGroupIngress.
    pub async fn revoke_ingress(
        &self,
        group_id: &str,
        rules: &[Rule],
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.client
            .revoke_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(rules.iter().map(permission).collect()))
            .dry_run(dry_run)
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("RevokeSecurityGroupIngress", e))?;
        Ok(())
    }

    /// RunInstances: one instance, IMDSv2 required, tagged (instance and
    /// volume) at creation. Returns the instance id.
    pub async fn run_instance(
        &self,
        spec: &LaunchSpec<'_>,
        dry_run: bool,
    ) -> Result<String, Ec2Error> {
        let call = "RunInstances";
        let out = self
            .client
            .run_instances()
            .image_id(spec.image_id)
            .instance_type(InstanceType::from(spec.instance_type))
            .key_name(spec.key_name)
            .security_group_ids(spec.group_id)
            .min_count(1)
            .max_count(1)
            .set_user_data(spec.user_data.map(aws_smithy_types::base64::encode))
            .metadata_options(
                InstanceMetadataOptionsRequest::builder()
                    .http_tokens(HttpTokensState::Required)
                    .http_endpoint(InstanceMetadataEndpointState::Enabled)
                    .build(),
            )
            .tag_specifications(tags(ResourceType::Instance, spec.name))
            .tag_specifications(tags(ResourceType::Volume, spec.name))
            .dry_run(dry_run)
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk(call, e))?;
        out.instances()
            .first()
            .and_then(|i| i.instance_id())
            .map(str::to_owned)
            .ok_or_else(|| Ec2Error::new(call, None, "the answer has no instance"))
    }

    /// StartInstances.
    pub async fn start_instance(&self, id: &str, dry_run: bool) -> Result<(), Ec2Error> {
        self.client
            .start_instances()
            .instance_ids(id)
            .dry_run(dry_run)
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("StartInstances", e))?;
        Ok(())
    }

    /// TerminateInstances.
    pub async fn terminate_instances(&self, ids: &[String], dry_run: bool) -> Result<(), Ec2Error> {
        self.client
            .terminate_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .dry_run(dry_run)
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("TerminateInstances", e))?;
        Ok(())
    }

    /// Waits (DescribeInstances, at most `max`) until the instance is running.
    pub async fn wait_running(&self, id: &str, max: Duration) -> Result<(), Ec2Error> {
        self.client
            .wait_until_instance_running()
            .instance_ids(id)
            .wait(max)
            .await
            .map_err(|e| {
                waiter_error(
                    &format!("waiting up to {}s for {id} to run", max.as_secs()),
                    e,
                )
            })?;
        Ok(())
    }

    /// Waits (DescribeInstances, at most `max`) until the instance has stopped.
    pub async fn wait_stopped(&self, id: &str, max: Duration) -> Result<(), Ec2Error> {
        self.client
            .wait_until_instance_stopped()
            .instance_ids(id)
            .wait(max)
            .await
            .map_err(|e| {
                waiter_error(
                    &format!("waiting up to {}s for {id} to stop", max.as_secs()),
                    e,
                )
            })?;
        Ok(())
    }

    /// Waits (DescribeInstances, at most `max`) until the instances are terminated.
    pub async fn wait_terminated(&self, ids: &[String], max: Duration) -> Result<(), Ec2Error> {
        self.client
            .wait_until_instance_terminated()
            .set_instance_ids(Some(ids.to_vec()))
            .wait(max)
            .await
            .map_err(|e| {
                waiter_error(
                    &format!(
                        "waiting up to {}s for {} to terminate",
                        max.as_secs(),
                        ids.join(", ")
                    ),
                    e,
                )
            })?;
        Ok(())
    }

    /// AllocateAddress (VPC, tagged): returns (allocation id, public IP).
    pub async fn allocate_address(
        &self,
        name: &str,
        dry_run: bool,
    ) -> Result<(String, String), Ec2Error> {
        let call = "AllocateAddress";
        let out = self
            .client
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tags(ResourceType::ElasticIp, name))
            .dry_run(dry_run)
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk(call, e))?;
        match (out.allocation_id(), out.public_ip()) {
            (Some(a), Some(ip)) => Ok((a.to_owned(), ip.to_owned())),
            _ => Err(Ec2Error::new(
                call,
                None,
                "the answer has no allocation id or address",
            )),
        }
    }

    /// AssociateAddress (moving it from another instance if needed).
    pub async fn associate_address(
        &self,
        allocation_id: &str,
        instance_id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.client
            .associate_address()
            .allocation_id(allocation_id)
            .instance_id(instance_id)
            .allow_reassociation(true)
            .dry_run(dry_run)
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("AssociateAddress", e))?;
        Ok(())
    }

    /// DisassociateAddress.
    pub async fn disassociate_address(
        &self,
        association_id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.client
            .disassociate_address()
            .association_id(association_id)
            .dry_run(dry_run)
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("DisassociateAddress", e))?;
        Ok(())
    }

    /// ReleaseAddress.
    pub async fn release_address(
        &self,
        allocation_id: &str,
        dry_run: bool,
    ) -> Result<(), Ec2Error> {
        self.client
            .release_address()
            .allocation_id(allocation_id)
            .dry_run(dry_run)
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("ReleaseAddress", e))?;
        Ok(())
    }

    /// DeleteSecurityGroup.
    pub async fn delete_security_group(&self, id: &str, dry_run: bool) -> Result<(), Ec2Error> {
        self.client
            .delete_security_group()
            .group_id(id)
            .dry_run(dry_run)
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("DeleteSecurityGroup", e))?;
        Ok(())
    }

    /// DeleteKeyPair.
    pub async fn delete_key_pair(&self, name: &str, dry_run: bool) -> Result<(), Ec2Error> {
        self.client
            .delete_key_pair()
            .key_name(name)
            .dry_run(dry_run)
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("DeleteKeyPair", e))?;
        Ok(())
    }
}

/// An error and its sources on one line, each message once (the SDK's own
/// rendering appends Debug output, too long for a terminal).
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// A waiter's failure as an [`Ec2Error`] on DescribeInstances.
fn waiter_error(what: &str, err: impl std::error::Error + 'static) -> Ec2Error {
    Ec2Error::new(
        "DescribeInstances",
        None,
        format!("{what}: {}", chain(&err)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permission_with_several_sources_becomes_one_rule_per_source() {
        let p = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(22)
            .to_port(22)
            .ip_ranges(IpRange::builder().cidr_ip("192.0.2.0/24").build())
            .ip_ranges(IpRange::builder().cidr_ip("198.51.100.0/24").build())
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
            .build();
        let r = rules(&[p]);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].to_string(), "tcp 22 from 192.0.2.0/24");
        assert_eq!(permission(&r[2]).ipv6_ranges()[0].cidr_ipv6(), Some("::/0"));
    }

    #[test]
    fn errors_name_the_call_the_code_and_a_hint() {
        let e = Ec2Error::new(
            "AllocateAddress",
            Some("AddressLimitExceeded"),
            "The maximum number of addresses has been reached.",
        );
        let text = e.to_string();
        assert!(text.starts_with("EC2 AllocateAddress failed: AddressLimitExceeded: The maximum"));
        assert!(text.contains("quota"), "{text}");
        let e = Ec2Error::new(
            "RunInstances",
            Some("UnauthorizedOperation"),
            "You are not authorized",
        );
        assert!(e.to_string().contains("ec2:RunInstances"), "{e}");
        let e = Ec2Error::new(
            "DescribeKeyPairs",
            None,
            "failed to construct request: no credentials in the chain",
        );
        assert!(e.to_string().contains("aws configure"), "{e}");
    }

    #[test]
    fn reads_and_dry_runs_are_not_mutating() {
        let call = |action: &str, dry_run| Call {
            action: action.into(),
            dry_run,
        };
        assert!(!call("DescribeInstances", false).is_mutating());
        assert!(!call("RunInstances", true).is_mutating());
        assert!(call("RunInstances", false).is_mutating());
    }
}
