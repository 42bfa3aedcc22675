//! The applier: runs a plan's actions in order against EC2, resolving the ids
//! that earlier actions produce, retrying the transient errors EC2 is known
//! for, and in dry-run mode asking EC2 with `DryRun` instead of changing
//! anything.
//!
//! Retries (all bounded, with exponential backoff):
//! - `*.NotFound` right after this run created the resource (EC2 is
//!   eventually consistent);
//! - `IncorrectInstanceState` while associating an address with an instance
//!   that is still starting;
//! - `DependencyViolation` while deleting the group and the terminated
//!   instance's network interface is still going away.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::ec2::{Ec2, Ec2Error, Image, LaunchSpec};
use crate::output::Progress;
use crate::plan::{Action, Ref};

/// A bounded exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Delay before the second attempt.
    pub first: Duration,
    /// Longest delay between attempts.
    pub max: Duration,
}

impl Backoff {
    /// One attempt, no retries.
    pub const NONE: Backoff = Backoff {
        attempts: 1,
        first: Duration::ZERO,
        max: Duration::ZERO,
    };
}

/// How long to retry and wait. Tests shrink these.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// `*.NotFound` right after a create (~15 s in all).
    pub not_found: Backoff,
    /// `IncorrectInstanceState` while associating (~40 s in all).
    pub incorrect_state: Backoff,
    /// `DependencyViolation` while deleting the group (~3 min in all).
    pub dependency: Backoff,
    /// Longest wait for an instance to run.
    pub wait_running: Duration,
    /// Longest wait for an instance to stop.
    pub wait_stopped: Duration,
    /// Longest wait for instances to terminate.
    pub wait_terminated: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            not_found: Backoff {
                attempts: 6,
                first: Duration::from_millis(500),
                max: Duration::from_secs(5),
            },
            incorrect_state: Backoff {
                attempts: 10,
                first: Duration::from_secs(1),
                max: Duration::from_secs(5),
            },
            dependency: Backoff {
                attempts: 15,
                first: Duration::from_secs(2),
                max: Duration::from_secs(15),
            },
            wait_running: Duration::from_secs(300),
            wait_stopped: Duration::from_secs(300),
            wait_terminated: Duration::from_secs(600),
        }
    }
}

/// Where a new instance's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageChoice {
    /// The newest official Ubuntu server image of this LTS release.
    Ubuntu(String),
    /// This AMI.
    Ami(String),
}

/// Everything a launch needs besides the plan.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Stack name, for tags.
    pub name: String,
    /// Instance type.
    pub instance_type: String,
    /// The image.
    pub image: ImageChoice,
    /// Raw user data.
    pub user_data: Option<Vec<u8>>,
}

impl Launch {
    /// What `RunInstances` gets, once the image, key pair and group are known.
    fn spec<'a>(
        &'a self,
        image_id: &'a str,
        key_name: &'a str,
        group_id: &'a str,
    ) -> LaunchSpec<'a> {
        LaunchSpec {
            name: &self.name,
            image_id,
            instance_type: &self.instance_type,
            key_name,
            group_id,
            user_data: self.user_data.as_deref(),
        }
    }
}

/// Why applying stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// An EC2 call failed.
    #[error(transparent)]
    Ec2(#[from] Ec2Error),
    /// The private key could not be stored.
    #[error("cannot write the private key to {path}: {source}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No default VPC to put the group in.
    #[error("the region has no default VPC to create the security group in (create one with `aws ec2 create-default-vpc`)")]
    NoDefaultVpc,
    /// No Ubuntu image found.
    #[error("no official Ubuntu {0} amd64 server image found in this region; pass --ami or another --ubuntu")]
    NoImage(String),
    /// An action referred to a resource no earlier action created: a planner bug.
    #[error("internal error: the plan uses a new {0} before creating it")]
    Unresolved(&'static str),
}

/// What happened to one action.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// It was done.
    Done {
        /// The created resource or other detail, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// Dry run: EC2 says it would be permitted.
    Permitted,
    /// Dry run: EC2 says the caller may not.
    Denied {
        /// The refusal.
        error: String,
    },
    /// Dry run: could not be checked (e.g. it needs a resource the plan
    /// creates first), or it is a wait.
    NotChecked {
        /// Why.
        reason: String,
    },
    /// It failed.
    Failed {
        /// The error.
        error: String,
    },
}

/// One applied action and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What the plan said.
    pub action: String,
    /// The EC2 call, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<&'static str>,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Ids produced while applying, so later actions and the report can use them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Produced {
    /// The group created by this run.
    pub group_id: Option<String>,
    /// The instance launched by this run.
    pub instance_id: Option<String>,
    /// The address allocated by this run: (allocation id, public IP).
    pub address: Option<(String, String)>,
    /// Whether this run created or imported the key pair.
    pub key_pair: bool,
    /// The image a launch used or would use.
    pub image: Option<Image>,
}

/// The result of applying a plan.
#[derive(Debug, Default)]
pub struct Applied {
    /// Each action in order with its outcome.
    pub steps: Vec<Step>,
    /// Ids produced.
    pub produced: Produced,
    /// The errors, in order (with `keep_going`, possibly several).
    pub errors: Vec<ApplyError>,
}

/// Placeholder ids for dry runs of actions on resources the plan would create.
const PLACEHOLDER_GROUP: &str = "sg-00000000000000000";
const PLACEHOLDER_INSTANCE: &str = "i-00000000000000000";
const PLACEHOLDER_ALLOCATION: &str = "eipalloc-00000000000000000";

/// Runs plans against one EC2 wrapper.
pub struct Applier<'a> {
    /// The EC2 wrapper.
    pub ec2: &'a Ec2,
    /// What to launch.
    pub launch: Option<&'a Launch>,
    /// Retry and wait limits.
    pub timing: Timing,
    /// Ask EC2 with DryRun instead of changing anything.
    pub dry_run: bool,
    /// Where progress goes (stderr).
    pub progress: &'a Progress,
}

/// Retries `op` while `retryable` says so, within `backoff`.
pub async fn retry<T, F, Fut>(
    backoff: Backoff,
    progress: &Progress,
    retryable: impl Fn(&Ec2Error) -> bool,
    mut op: F,
) -> Result<T, Ec2Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Ec2Error>>,
{
    let mut delay = backoff.first;
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < backoff.attempts && retryable(&e) => {
                progress.note(&format!(
                    "{} answered {}; retrying in {:.1}s (attempt {}/{})",
                    e.call,
                    e.code(),
                    delay.as_secs_f32(),
                    attempt + 1,
                    backoff.attempts
                ));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(backoff.max);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Opens a new private key file: parent directory created with mode 0700,
/// the file with 0600, and never an existing file (`create_new`).
fn open_key_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

impl Applier<'_> {
    /// Applies `actions` in order. Stops at the first error unless
    /// `keep_going` (used by `down`, which reports everything it could not remove).
    pub async fn apply(&self, actions: &[Action], keep_going: bool) -> Applied {
        let mut applied = Applied::default();
        for action in actions {
            let outcome = if self.dry_run {
                self.check(action, &mut applied.produced).await
            } else {
                self.progress.start(&action.to_string());
                match self.run(action, &mut applied.produced).await {
                    Ok(detail) => {
                        self.progress.done(&action.to_string(), detail.as_deref());
                        Outcome::Done { detail }
                    }
                    Err(e) => {
                        self.progress.failed(&action.to_string());
                        let outcome = Outcome::Failed {
                            error: e.to_string(),
                        };
                        applied.errors.push(e);
                        applied.steps.push(Step {
                            action: action.to_string(),
                            call: action.call(),
                            outcome,
                        });
                        if keep_going {
                            continue;
                        }
                        break;
                    }
                }
            };
            applied.steps.push(Step {
                action: action.to_string(),
                call: action.call(),
                outcome,
            });
        }
        applied
    }

    fn launch(&self) -> Result<&Launch, ApplyError> {
        self.launch
            .ok_or(ApplyError::Unresolved("launch specification"))
    }

    async fn image(&self, produced: &mut Produced) -> Result<String, ApplyError> {
        if let Some(image) = &produced.image {
            return Ok(image.id.clone());
        }
        match &self.launch()?.image {
            ImageChoice::Ami(id) => Ok(id.clone()),
            ImageChoice::Ubuntu(release) => {
                let image = self
                    .ec2
                    .newest_ubuntu_image(release)
                    .await?
                    .ok_or_else(|| ApplyError::NoImage(release.clone()))?;
                self.progress
                    .note(&format!("using image {} ({})", image.id, image.name));
                let id = image.id.clone();
                produced.image = Some(image);
                Ok(id)
            }
        }
    }

    async fn default_vpc(&self) -> Result<String, ApplyError> {
        self.ec2
            .default_vpc()
            .await?
            .ok_or(ApplyError::NoDefaultVpc)
    }

    /// Resolves a reference; `placeholder` stands in during dry runs.
    fn resolve(
        &self,
        r: &Ref,
        produced: Option<&String>,
        what: &'static str,
        placeholder: &str,
    ) -> Result<String, ApplyError> {
        match (r, produced) {
            (Ref::Existing(id), _) => Ok(id.clone()),
            (Ref::Created, Some(id)) => Ok(id.clone()),
            (Ref::Created, None) if self.dry_run => Ok(placeholder.to_owned()),
            (Ref::Created, None) => Err(ApplyError::Unresolved(what)),
        }
    }

    /// The backoff for an action on `r`: retry not-found only for resources
    /// this run just created.
    fn after_create(&self, refs: &[&Ref]) -> Backoff {
        if refs.iter().any(|r| **r == Ref::Created) {
            self.timing.not_found
        } else {
            Backoff::NONE
        }
    }

    /// Runs one action for real; returns a detail for the report.
    async fn run(
        &self,
        action: &Action,
        produced: &mut Produced,
    ) -> Result<Option<String>, ApplyError> {
        let ec2 = self.ec2;
        let p = self.progress;
        Ok(match action {
            Action::CreateKeyPair { name, file } => {
                // Claim the file before asking EC2, so a key that EC2 hands
                // out only once always has somewhere to go.
                let key_file_error = |source| ApplyError::KeyFile {
                    path: file.clone(),
                    source,
                };
                let mut f = open_key_file(file).map_err(key_file_error)?;
                let material = match ec2.create_key_pair(name, false).await {
                    Ok(m) => m,
                    Err(e) => {
                        let _ = std::fs::remove_file(file);
                        return Err(e.into());
                    }
                };
                let mut text = material.into_bytes();
                if !text.ends_with(b"\n") {
                    text.push(b'\n');
                }
                f.write_all(&text)
                    .and_then(|()| f.sync_all())
                    .map_err(key_file_error)?;
                produced.key_pair = true;
                Some("written, mode 0600".to_owned())
            }
            Action::ImportKeyPair {
                name, public_key, ..
            } => {
                ec2.import_key_pair(name, public_key, false).await?;
                produced.key_pair = true;
                None
            }
            Action::CreateSecurityGroup { name } => {
                let vpc = self.default_vpc().await?;
                let id = ec2.create_security_group(name, &vpc, false).await?;
                produced.group_id = Some(id.clone());
                Some(id)
            }
            Action::AuthorizeIngress { group, rules } => {
                let id = self.resolve(
                    group,
                    produced.group_id.as_ref(),
                    "security group",
                    PLACEHOLDER_GROUP,
                )?;
                retry(
                    self.after_create(&[group]),
                    p,
                    Ec2Error::is_not_found,
                    || ec2.authorize_ingress(&id, rules, false),
                )
                .await?;
                Some(id)
            }
            Action::RevokeIngress { group, rules } => {
                ec2.revoke_ingress(group, rules, false).await?;
                None
            }
            Action::RunInstance { group, key_name } => {
                let group_id = self.resolve(
                    group,
                    produced.group_id.as_ref(),
                    "security group",
                    PLACEHOLDER_GROUP,
                )?;
                let image_id = self.image(produced).await?;
                let launch = self.launch()?;
                let spec = launch.spec(&image_id, key_name, &group_id);
                // The key pair or group may have been created a moment ago;
                // an unknown image, on the other hand, is not worth waiting for.
                let backoff = if produced.key_pair {
                    self.timing.not_found
                } else {
                    self.after_create(&[group])
                };
                let id = retry(
                    backoff,
                    p,
                    |e| {
                        matches!(
                            e.code(),
                            "InvalidGroup.NotFound" | "InvalidKeyPair.NotFound"
                        )
                    },
                    || ec2.run_instance(&spec, false),
                )
                .await?;
                produced.instance_id = Some(id.clone());
                Some(format!("{id} from {image_id}"))
            }
            Action::StartInstance { id } => {
                ec2.start_instance(id, false).await?;
                None
            }
            Action::WaitStopped { id } => {
                let spinner = p.spinner(&format!("waiting for {id} to stop"));
                let r = ec2.wait_stopped(id, self.timing.wait_stopped).await;
                spinner.finish_and_clear();
                r?;
                None
            }
            Action::WaitRunning { instance } => {
                let id = self.resolve(
                    instance,
                    produced.instance_id.as_ref(),
                    "instance",
                    PLACEHOLDER_INSTANCE,
                )?;
                let spinner = p.spinner(&format!(
                    "waiting for {id} to be running (at most {}s)",
                    self.timing.wait_running.as_secs()
                ));
                let r = ec2.wait_running(&id, self.timing.wait_running).await;
                spinner.finish_and_clear();
                r?;
                Some(id)
            }
            Action::AllocateAddress => {
                let name = &self.launch()?.name;
                let (allocation, ip) = ec2.allocate_address(name, false).await?;
                produced.address = Some((allocation.clone(), ip.clone()));
                Some(format!("{ip} ({allocation})"))
            }
            Action::AssociateAddress {
                allocation,
                instance,
            } => {
                let produced_allocation = produced.address.as_ref().map(|(a, _)| a);
                let allocation_id = self.resolve(
                    allocation,
                    produced_allocation,
                    "address",
                    PLACEHOLDER_ALLOCATION,
                )?;
                let instance_id = self.resolve(
                    instance,
                    produced.instance_id.as_ref(),
                    "instance",
                    PLACEHOLDER_INSTANCE,
                )?;
                let fresh = self.after_create(&[allocation, instance]) != Backoff::NONE;
                let associated = retry(
                    self.timing.incorrect_state,
                    p,
                    |e| e.code() == "IncorrectInstanceState" || (fresh && e.is_not_found()),
                    || ec2.associate_address(&allocation_id, &instance_id, false),
                )
                .await;
                if let Err(e) = associated {
                    // An address this run allocated and could not attach would
                    // bill by the hour for nothing: give it back.
                    if *allocation == Ref::Created {
                        match ec2.release_address(&allocation_id, false).await {
                            Ok(()) => {
                                produced.address = None;
                                p.note(&format!("released {allocation_id} again, so it does not bill unused"));
                            }
                            Err(r) => p.note(&format!(
                                "could not release {allocation_id} ({r}); `provision status` shows it, `provision down` removes it"
                            )),
                        }
                    }
                    return Err(e.into());
                }
                Some(format!("{allocation_id} with {instance_id}"))
            }
            Action::DisassociateAddress { association_id, .. } => {
                ec2.disassociate_address(association_id, false).await?;
                None
            }
            Action::ReleaseAddress { allocation_id, .. } => {
                // Right after DisassociateAddress, EC2 may still see it in use.
                retry(
                    self.timing.incorrect_state,
                    p,
                    |e| e.code() == "InvalidIPAddress.InUse",
                    || ec2.release_address(allocation_id, false),
                )
                .await?;
                None
            }
            Action::TerminateInstances { ids } => {
                ec2.terminate_instances(ids, false).await?;
                None
            }
            Action::WaitTerminated { ids } => {
                let spinner = p.spinner(&format!(
                    "waiting for {} to terminate (at most {}s)",
                    ids.join(", "),
                    self.timing.wait_terminated.as_secs()
                ));
                let r = ec2.wait_terminated(ids, self.timing.wait_terminated).await;
                spinner.finish_and_clear();
                r?;
                None
            }
            Action::DeleteSecurityGroup { id } => {
                let spinner = p.spinner(&format!("deleting security group {id}"));
                let r = retry(
                    self.timing.dependency,
                    p,
                    |e| e.code() == "DependencyViolation",
                    || ec2.delete_security_group(id, false),
                )
                .await;
                spinner.finish_and_clear();
                r?;
                None
            }
            Action::DeleteKeyPair { name } => {
                ec2.delete_key_pair(name, false).await?;
                None
            }
        })
    }

    /// Asks EC2 with DryRun whether one action would be permitted.
    async fn check(&self, action: &Action, produced: &mut Produced) -> Outcome {
        match self.dry_call(action, produced).await {
            Ok(None) => Outcome::NotChecked {
                reason: "a wait; nothing to ask".into(),
            },
            Ok(Some(())) => Outcome::Permitted,
            Err(ApplyError::Ec2(e)) if e.is_dry_run_ok() => Outcome::Permitted,
            Err(ApplyError::Ec2(e)) if e.is_unauthorized() => Outcome::Denied {
                error: e.to_string(),
            },
            Err(e) => Outcome::NotChecked {
                reason: e.to_string(),
            },
        }
    }

    /// Sends the DryRun variant of an action's call; `Ok(None)` for waits.
    async fn dry_call(
        &self,
        action: &Action,
        produced: &mut Produced,
    ) -> Result<Option<()>, ApplyError> {
        let ec2 = self.ec2;
        match action {
            Action::CreateKeyPair { name, .. } => {
                ec2.create_key_pair(name, true).await?;
            }
            Action::ImportKeyPair {
                name, public_key, ..
            } => ec2.import_key_pair(name, public_key, true).await?,
            Action::CreateSecurityGroup { name } => {
                let vpc = self.default_vpc().await?;
                ec2.create_security_group(name, &vpc, true).await?;
            }
            Action::AuthorizeIngress { group, rules } => {
                let id = self.resolve(group, None, "security group", PLACEHOLDER_GROUP)?;
                ec2.authorize_ingress(&id, rules, true).await?;
            }
            Action::RevokeIngress { group, rules } => {
                ec2.revoke_ingress(group, rules, true).await?
            }
            Action::RunInstance { group, key_name } => {
                let group_id = self.resolve(group, None, "security group", PLACEHOLDER_GROUP)?;
                let image_id = self.image(produced).await?;
                let launch = self.launch()?;
                let spec = launch.spec(&image_id, key_name, &group_id);
                ec2.run_instance(&spec, true).await?;
            }
            Action::StartInstance { id } => ec2.start_instance(id, true).await?,
            Action::AllocateAddress => {
                ec2.allocate_address(&self.launch()?.name, true).await?;
            }
            Action::AssociateAddress {
                allocation,
                instance,
            } => {
                let allocation_id =
                    self.resolve(allocation, None, "address", PLACEHOLDER_ALLOCATION)?;
                let instance_id = self.resolve(instance, None, "instance", PLACEHOLDER_INSTANCE)?;
                ec2.associate_address(&allocation_id, &instance_id, true)
                    .await?;
            }
            Action::DisassociateAddress { association_id, .. } => {
                ec2.disassociate_address(association_id, true).await?
            }
            Action::ReleaseAddress { allocation_id, .. } => {
                ec2.release_address(allocation_id, true).await?
            }
            Action::TerminateInstances { ids } => ec2.terminate_instances(ids, true).await?,
            Action::DeleteSecurityGroup { id } => ec2.delete_security_group(id, true).await?,
            Action::DeleteKeyPair { name } => ec2.delete_key_pair(name, true).await?,
            Action::WaitStopped { .. }
            | Action::WaitRunning { .. }
            | Action::WaitTerminated { .. } => return Ok(None),
        }
        Ok(Some(()))
    }
}

#[cfg(test)]
mod tests {
    //! The retry paths, which the emulator never exercises, against
    //! aws-smithy-mocks.
    use super::*;
    use aws_sdk_ec2::error::ErrorMetadata;
    use aws_sdk_ec2::operation::allocate_address::AllocateAddressOutput;
    use aws_sdk_ec2::operation::associate_address::{
        AssociateAddressError, AssociateAddressOutput,
    };
    use aws_sdk_ec2::operation::authorize_security_group_ingress::{
        AuthorizeSecurityGroupIngressError, AuthorizeSecurityGroupIngressOutput,
    };
    use aws_sdk_ec2::operation::create_key_pair::{CreateKeyPairError, CreateKeyPairOutput};
    use aws_sdk_ec2::operation::create_security_group::CreateSecurityGroupOutput;
    use aws_sdk_ec2::operation::delete_key_pair::DeleteKeyPairOutput;
    use aws_sdk_ec2::operation::delete_security_group::{
        DeleteSecurityGroupError, DeleteSecurityGroupOutput,
    };
    use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput;
    use aws_sdk_ec2::operation::release_address::{ReleaseAddressError, ReleaseAddressOutput};
    use aws_sdk_ec2::types::Vpc;
    use aws_sdk_ec2::Client;
    use aws_smithy_mocks::{mock, mock_client, Rule as MockRule, RuleMode};

    use crate::settings::Cidr;
    use crate::stack::Rule;

    fn meta(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder()
            .code(code)
            .message(format!("{code} from the mock"))
            .build()
    }

    fn fast() -> Timing {
        let b = Backoff {
            attempts: 4,
            first: Duration::from_millis(1),
            max: Duration::from_millis(4),
        };
        Timing {
            not_found: b,
            incorrect_state: b,
            dependency: b,
            wait_running: Duration::from_secs(1),
            wait_stopped: Duration::from_secs(1),
            wait_terminated: Duration::from_secs(1),
        }
    }

    fn ec2(rules: &[&MockRule]) -> Ec2 {
        let client: Client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, rules);
        Ec2::from_client(client)
    }

    async fn apply(ec2: &Ec2, actions: &[Action], keep_going: bool) -> Applied {
        let progress = Progress::default();
        let applier = Applier {
            ec2,
            launch: None,
            timing: fast(),
            dry_run: false,
            progress: &progress,
        };
        applier.apply(actions, keep_going).await
    }

    #[tokio::test]
    async fn deleting_the_group_retries_a_dependency_violation() {
        let delete = mock!(Client::delete_security_group)
            .sequence()
            .error(|| DeleteSecurityGroupError::generic(meta("DependencyViolation")))
            .times(2)
            .output(|| DeleteSecurityGroupOutput::builder().build())
            .build();
        let ec2 = ec2(&[&delete]);
        let applied = apply(
            &ec2,
            &[Action::DeleteSecurityGroup { id: "sg-1".into() }],
            false,
        )
        .await;
        assert!(applied.errors.is_empty(), "{:?}", applied.errors);
        assert_eq!(delete.num_calls(), 3);
    }

    #[tokio::test]
    async fn a_dependency_violation_that_persists_is_reported_after_the_last_attempt() {
        let delete = mock!(Client::delete_security_group)
            .sequence()
            .error(|| DeleteSecurityGroupError::generic(meta("DependencyViolation")))
            .repeatedly()
            .build();
        let ec2 = ec2(&[&delete]);
        let applied = apply(
            &ec2,
            &[Action::DeleteSecurityGroup { id: "sg-1".into() }],
            false,
        )
        .await;
        assert_eq!(delete.num_calls(), 4);
        let text = applied.errors[0].to_string();
        assert!(
            text.contains("DeleteSecurityGroup") && text.contains("DependencyViolation"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn associating_retries_while_the_instance_is_not_running_yet() {
        let associate = mock!(Client::associate_address)
            .sequence()
            .error(|| AssociateAddressError::generic(meta("IncorrectInstanceState")))
            .times(2)
            .output(|| {
                AssociateAddressOutput::builder()
                    .association_id("eipassoc-1")
                    .build()
            })
            .build();
        let ec2 = ec2(&[&associate]);
        let action = Action::AssociateAddress {
            allocation: Ref::Existing("eipalloc-1".into()),
            instance: Ref::Existing("i-1".into()),
        };
        let applied = apply(&ec2, &[action], false).await;
        assert!(applied.errors.is_empty(), "{:?}", applied.errors);
        assert_eq!(associate.num_calls(), 3);
    }

    #[tokio::test]
    async fn an_address_that_cannot_be_associated_is_released_again() {
        let allocate = mock!(Client::allocate_address).then_output(|| {
            AllocateAddressOutput::builder()
                .allocation_id("eipalloc-new")
                .public_ip("198.51.100.9")
                .build()
        });
        let associate = mock!(Client::associate_address)
            .then_error(|| AssociateAddressError::generic(meta("UnauthorizedOperation")));
        let release = mock!(Client::release_address)
            .match_requests(|r| r.allocation_id() == Some("eipalloc-new"))
            .then_output(|| ReleaseAddressOutput::builder().build());
        let ec2 = ec2(&[&allocate, &associate, &release]);
        let launch = Launch {
            name: "kb".into(),
            instance_type: "t2.micro".into(),
            image: ImageChoice::Ami("ami-1".into()),
            user_data: None,
        };
        let progress = Progress::default();
        let applier = Applier {
            ec2: &ec2,
            launch: Some(&launch),
            timing: fast(),
            dry_run: false,
            progress: &progress,
        };
        let actions = [
            Action::AllocateAddress,
            Action::AssociateAddress {
                allocation: Ref::Created,
                instance: Ref::Existing("i-1".into()),
            },
        ];
        let applied = applier.apply(&actions, false).await;
        assert_eq!(applied.errors.len(), 1);
        assert_eq!(release.num_calls(), 1);
        assert!(applied.produced.address.is_none());
    }

    #[tokio::test]
    async fn releasing_retries_an_address_still_in_use_after_disassociation() {
        let release = mock!(Client::release_address)
            .sequence()
            .error(|| ReleaseAddressError::generic(meta("InvalidIPAddress.InUse")))
            .output(|| ReleaseAddressOutput::builder().build())
            .build();
        let ec2 = ec2(&[&release]);
        let action = Action::ReleaseAddress {
            allocation_id: "eipalloc-1".into(),
            public_ip: "198.51.100.1".into(),
        };
        let applied = apply(&ec2, &[action], false).await;
        assert!(applied.errors.is_empty(), "{:?}", applied.errors);
        assert_eq!(release.num_calls(), 2);
    }

    #[tokio::test]
    async fn not_found_right_after_a_create_is_retried() {
        let vpcs = mock!(Client::describe_vpcs).then_output(|| {
            DescribeVpcsOutput::builder()
                .vpcs(Vpc::builder().vpc_id("vpc-1").is_default(true).build())
                .build()
        });
        let create = mock!(Client::create_security_group).then_output(|| {
            CreateSecurityGroupOutput::builder()
                .group_id("sg-new")
                .build()
        });
        let authorize = mock!(Client::authorize_security_group_ingress)
            .match_requests(|r| r.group_id() == Some("sg-new"))
            .sequence()
            .error(|| AuthorizeSecurityGroupIngressError::generic(meta("InvalidGroup.NotFound")))
            .output(|| {
                AuthorizeSecurityGroupIngressOutput::builder()
                    .r#return(true)
                    .build()
            })
            .build();
        let ec2 = ec2(&[&vpcs, &create, &authorize]);
        let actions = [
            Action::CreateSecurityGroup { name: "kb".into() },
            Action::AuthorizeIngress {
                group: Ref::Created,
                rules: vec![Rule::tcp(5000, Cidr::ANYWHERE)],
            },
        ];
        let applied = apply(&ec2, &actions, false).await;
        assert!(applied.errors.is_empty(), "{:?}", applied.errors);
        assert_eq!(authorize.num_calls(), 2);
        assert_eq!(applied.produced.group_id.as_deref(), Some("sg-new"));
    }

    #[tokio::test]
    async fn not_found_on_a_resource_that_existed_before_is_not_retried() {
        let authorize = mock!(Client::authorize_security_group_ingress)
            .sequence()
            .error(|| AuthorizeSecurityGroupIngressError::generic(meta("InvalidGroup.NotFound")))
            .repeatedly()
            .build();
        let ec2 = ec2(&[&authorize]);
        let action = Action::AuthorizeIngress {
            group: Ref::Existing("sg-gone".into()),
            rules: vec![Rule::tcp(5000, Cidr::ANYWHERE)],
        };
        let applied = apply(&ec2, &[action], false).await;
        assert_eq!(authorize.num_calls(), 1);
        assert_eq!(applied.errors.len(), 1);
    }

    #[tokio::test]
    async fn a_created_private_key_is_written_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ssh").join("kb.pem");
        let create = mock!(Client::create_key_pair).then_output(|| {
            CreateKeyPairOutput::builder()
                .key_name("kb")
                .key_material(
                    "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----",
                )
                .build()
        });
        let ec2 = ec2(&[&create]);
        let action = Action::CreateKeyPair {
            name: "kb".into(),
            file: file.clone(),
        };
        let applied = apply(&ec2, &[action], false).await;
        assert!(applied.errors.is_empty(), "{:?}", applied.errors);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("-----BEGIN") && text.ends_with("-----\n"));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
    }

    #[tokio::test]
    async fn a_refused_key_pair_leaves_no_empty_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kb.pem");
        let create = mock!(Client::create_key_pair)
            .then_error(|| CreateKeyPairError::generic(meta("UnauthorizedOperation")));
        let ec2 = ec2(&[&create]);
        let action = Action::CreateKeyPair {
            name: "kb".into(),
            file: file.clone(),
        };
        let applied = apply(&ec2, &[action], false).await;
        assert!(applied.errors[0].to_string().contains("ec2:CreateKeyPair"));
        assert!(!file.exists());
    }

    #[tokio::test]
    async fn down_keeps_going_past_a_failure_and_reports_it() {
        let release = mock!(Client::release_address)
            .then_error(|| ReleaseAddressError::generic(meta("AuthFailure")));
        let delete_group = mock!(Client::delete_security_group)
            .then_output(|| DeleteSecurityGroupOutput::builder().build());
        let delete_key =
            mock!(Client::delete_key_pair).then_output(|| DeleteKeyPairOutput::builder().build());
        let ec2 = ec2(&[&release, &delete_group, &delete_key]);
        let actions = [
            Action::ReleaseAddress {
                allocation_id: "eipalloc-1".into(),
                public_ip: "198.51.100.1".into(),
            },
            Action::DeleteSecurityGroup { id: "sg-1".into() },
            Action::DeleteKeyPair { name: "kb".into() },
        ];
        let applied = apply(&ec2, &actions, true).await;
        assert_eq!(applied.errors.len(), 1);
        assert_eq!(delete_group.num_calls(), 1);
        assert_eq!(delete_key.num_calls(), 1);
        assert!(matches!(applied.steps[0].outcome, Outcome::Failed { .. }));
    }
}
