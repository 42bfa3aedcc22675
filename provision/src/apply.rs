//! The interpreter: one loop that runs a plan's actions in order against EC2,
//! resolving the ids that earlier actions produce ([`Ref::Step`]) and retrying
//! the transient errors EC2 is known for.
//!
//! The same loop runs a dry run: the [`Ec2`] wrapper was built in
//! [`Mode::DryRun`], so each mutating call is sent with `DryRun` and EC2's
//! answer becomes the step's outcome. An action that uses a resource the plan
//! would create first is not sent at all (there is no id to ask about); its
//! outcome says which step it depends on. Waits are not sent either.
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

use crate::ec2::{Ec2, Ec2Error, LaunchSpec, Mode};
use crate::output::Progress;
use crate::plan::{Action, Ref};
use crate::stack::Rule;

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
    /// An action needs what an earlier step makes, and that step did not
    /// succeed (only possible when running past failures).
    #[error("not attempted: it needs {what} (step {step}), which was not made")]
    Skipped {
        /// What the earlier step makes, e.g. "the instance this plan launches".
        what: &'static str,
        /// The earlier step, counted from 1.
        step: usize,
    },
}

/// What an action made, for later actions and the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Made {
    /// A key pair, by name.
    KeyPair {
        /// Its name.
        name: String,
    },
    /// A security group.
    Group {
        /// `sg-…` id.
        id: String,
    },
    /// An instance.
    Instance {
        /// `i-…` id.
        id: String,
    },
    /// An Elastic IP.
    Address {
        /// `eipalloc-…` id.
        allocation_id: String,
        /// The public address.
        public_ip: String,
    },
}

impl Made {
    /// The id a later action passes to EC2.
    fn id(&self) -> &str {
        match self {
            Made::KeyPair { name } => name,
            Made::Group { id } | Made::Instance { id } => id,
            Made::Address { allocation_id, .. } => allocation_id,
        }
    }
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
    /// Dry run: EC2 would refuse it for another reason than permissions.
    Refused {
        /// The refusal.
        error: String,
    },
    /// Dry run: not asked, because it uses resources the plan makes first.
    Depends {
        /// What it needs, e.g. "the instance this plan launches (step 4)".
        on: Vec<String>,
    },
    /// Dry run: a wait, which has nothing to ask EC2.
    Wait,
    /// It failed.
    Failed {
        /// The error.
        error: String,
    },
}

impl Outcome {
    /// Whether EC2 said no in a dry run.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Outcome::Denied { .. } | Outcome::Refused { .. })
    }

    /// How a dry run reports it: "permitted", "DENIED: …", "not checked: …".
    pub fn verdict(&self) -> String {
        match self {
            Outcome::Permitted => "permitted".to_owned(),
            Outcome::Denied { error } => format!("DENIED: {error}"),
            Outcome::Refused { error } => format!("REFUSED: {error}"),
            Outcome::Depends { on } => {
                format!("not checked: depends on {}", on.join(" and "))
            }
            Outcome::Wait => "not checked: a wait, nothing to ask EC2".to_owned(),
            Outcome::Done { .. } => "done".to_owned(),
            Outcome::Failed { error } => format!("failed: {error}"),
        }
    }
}

/// One applied action and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Its place in the plan, counted from 1 (as in "(new, step 2)").
    pub step: usize,
    /// What the plan said.
    pub action: String,
    /// The EC2 call, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<&'static str>,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl Step {
    /// Its line in a dry run's report: `  2. would create …: permitted`.
    pub fn dry_run_line(&self) -> String {
        format!(
            "  {}. would {}: {}\n",
            self.step,
            self.action,
            self.outcome.verdict()
        )
    }
}

/// The result of applying a plan.
#[derive(Debug, Default)]
pub struct Applied {
    /// Each action in order with its outcome.
    pub steps: Vec<Step>,
    /// What each action made, by its index in the plan (none in a dry run).
    pub made: Vec<Option<Made>>,
    /// The errors, in order (with `keep_going`, possibly several).
    pub errors: Vec<ApplyError>,
}

impl Applied {
    /// The instance this run launched.
    pub fn instance(&self) -> Option<&str> {
        self.made.iter().flatten().find_map(|m| match m {
            Made::Instance { id } => Some(id.as_str()),
            _ => None,
        })
    }

    /// The public IP of the address this run allocated (and kept).
    pub fn public_ip(&self) -> Option<&str> {
        self.made.iter().flatten().find_map(|m| match m {
            Made::Address { public_ip, .. } => Some(public_ip.as_str()),
            _ => None,
        })
    }
}

/// Runs plans against one EC2 wrapper, in the wrapper's [`Mode`].
pub struct Interpreter<'a> {
    /// The EC2 wrapper; its mode decides between applying and a dry run.
    pub ec2: &'a Ec2,
    /// Retry and wait limits.
    pub timing: Timing,
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

impl Interpreter<'_> {
    /// Runs `actions` in order. Stops at the first error unless `keep_going`
    /// (used by `down`, which reports everything it could not remove).
    pub async fn run(&self, actions: &[Action], keep_going: bool) -> Applied {
        let dry_run = self.ec2.mode() == Mode::DryRun;
        let mut applied = Applied {
            made: vec![None; actions.len()],
            ..Applied::default()
        };
        for (n, action) in actions.iter().enumerate() {
            let missing = unmade(action, actions, &applied.made);
            let (outcome, error) = if dry_run {
                (self.ask(n, action, &missing, &mut applied.made).await, None)
            } else {
                match self.apply(n, action, &missing, &mut applied.made).await {
                    Ok(detail) => (Outcome::Done { detail }, None),
                    Err(e) => {
                        let error = e.to_string();
                        (Outcome::Failed { error }, Some(e))
                    }
                }
            };
            applied.steps.push(Step {
                step: n + 1,
                action: action.to_string(),
                call: action.call(),
                outcome,
            });
            if let Some(e) = error {
                applied.errors.push(e);
                if !keep_going {
                    break;
                }
            }
        }
        applied
    }

    /// Dry run: asks EC2 whether step `n` would be permitted, unless it uses
    /// what earlier steps would make (`missing`) or is a wait.
    async fn ask(
        &self,
        n: usize,
        action: &Action,
        missing: &[(usize, &'static str)],
        made: &mut [Option<Made>],
    ) -> Outcome {
        if !missing.is_empty() {
            let on = missing
                .iter()
                .map(|(m, what)| format!("{what} (step {})", m + 1))
                .collect();
            return Outcome::Depends { on };
        }
        if action.call().is_none() {
            return Outcome::Wait;
        }
        match self.exec(action, made).await {
            // EC2 answers a permitted DryRun with an error, but an emulator
            // may simply say yes.
            Ok((made_now, _)) => {
                made[n] = made_now;
                Outcome::Permitted
            }
            Err(ApplyError::Ec2(e)) if e.is_dry_run_ok() => Outcome::Permitted,
            Err(ApplyError::Ec2(e)) if e.is_unauthorized() => Outcome::Denied {
                error: e.to_string(),
            },
            Err(e) => Outcome::Refused {
                error: e.to_string(),
            },
        }
    }

    /// Applies step `n`, unless an earlier step it needs made nothing
    /// (`missing`); returns its detail for the report.
    async fn apply(
        &self,
        n: usize,
        action: &Action,
        missing: &[(usize, &'static str)],
        made: &mut [Option<Made>],
    ) -> Result<Option<String>, ApplyError> {
        let shown = action.to_string();
        self.progress.start(&shown);
        let result = match missing.first() {
            Some(&(m, what)) => Err(ApplyError::Skipped { what, step: m + 1 }),
            None => self.exec(action, made).await,
        };
        match result {
            Ok((made_now, detail)) => {
                made[n] = made_now;
                self.progress.done(&shown, detail.as_deref());
                Ok(detail)
            }
            Err(e) => {
                self.progress.failed(&shown);
                Err(e)
            }
        }
    }

    /// The backoff for an action on `refs`: retry not-found only for
    /// resources this run just made.
    fn after_create(&self, refs: &[&Ref]) -> Backoff {
        if refs.iter().any(|r| matches!(r, Ref::Step(_))) {
            self.timing.not_found
        } else {
            Backoff::NONE
        }
    }

    /// Runs one action (for real, or as a DryRun call in a dry run); returns
    /// what it made and a detail for the report.
    async fn exec(&self, action: &Action, made: &mut [Option<Made>]) -> Executed {
        let ec2 = self.ec2;
        let id = |r: &Ref| resolve(r, made);
        match action {
            Action::CreateKeyPair { name, file } => self.create_key_pair(name, file).await,
            Action::ImportKeyPair {
                name, public_key, ..
            } => {
                ec2.import_key_pair(name, public_key).await?;
                Ok((Some(Made::KeyPair { name: name.clone() }), None))
            }
            Action::CreateSecurityGroup { name, vpc_id } => {
                let id = ec2.create_security_group(name, vpc_id).await?;
                Ok((Some(Made::Group { id: id.clone() }), Some(id)))
            }
            Action::AuthorizeIngress { group, rules } => {
                let backoff = self.after_create(&[group]);
                self.authorize_ingress(&id(group), rules, backoff).await
            }
            Action::RevokeIngress { group, rules } => done(ec2.revoke_ingress(group, rules).await),
            Action::RunInstance {
                name,
                image,
                instance_type,
                key,
                group,
                user_data,
            } => {
                let (key_name, group_id) = (id(key), id(group));
                let spec = LaunchSpec {
                    name,
                    image_id: &image.id,
                    instance_type: instance_type.as_str(),
                    key_name: &key_name,
                    group_id: &group_id,
                    user_data: user_data.as_ref().map(|u| u.bytes.as_slice()),
                };
                self.run_instance(&spec, self.after_create(&[key, group]))
                    .await
            }
            Action::StartInstance { id } => done(ec2.start_instance(id).await),
            Action::WaitStopped { id } => self.wait_stopped(id).await,
            Action::WaitRunning { instance } => self.wait_running(&id(instance)).await,
            Action::AllocateAddress { name } => self.allocate_address(name).await,
            Action::AssociateAddress {
                allocation,
                instance,
            } => self.associate_address(allocation, instance, made).await,
            Action::DisassociateAddress { association_id, .. } => {
                done(ec2.disassociate_address(association_id).await)
            }
            Action::ReleaseAddress { allocation_id, .. } => {
                self.release_address(allocation_id).await
            }
            Action::TerminateInstances { ids } => done(ec2.terminate_instances(ids).await),
            Action::WaitTerminated { ids } => self.wait_terminated(ids).await,
            Action::DeleteSecurityGroup { id } => self.delete_security_group(id).await,
            Action::DeleteKeyPair { name } => done(ec2.delete_key_pair(name).await),
        }
    }

    /// Creates the key pair and writes its private key to `file`. The file is
    /// claimed before EC2 is asked, so a key that EC2 hands out only once
    /// always has somewhere to go.
    async fn create_key_pair(&self, name: &str, file: &Path) -> Executed {
        let ec2 = self.ec2;
        if ec2.mode() == Mode::DryRun {
            ec2.create_key_pair(name).await?;
            return Ok((None, None));
        }
        let key_file_error = |source| ApplyError::KeyFile {
            path: file.to_owned(),
            source,
        };
        let mut f = open_key_file(file).map_err(key_file_error)?;
        let material = match ec2.create_key_pair(name).await {
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
        let made = Made::KeyPair {
            name: name.to_owned(),
        };
        Ok((Some(made), Some("written, mode 0600".to_owned())))
    }

    /// Adds rules to the group, which may have been made a moment ago.
    async fn authorize_ingress(
        &self,
        group_id: &str,
        rules: &[Rule],
        backoff: Backoff,
    ) -> Executed {
        retry(backoff, self.progress, Ec2Error::is_not_found, || {
            self.ec2.authorize_ingress(group_id, rules)
        })
        .await?;
        Ok((None, Some(group_id.to_owned())))
    }

    /// Launches the instance. Its key pair and group may have been made a
    /// moment ago (`backoff` then retries their not-found); an unknown image,
    /// on the other hand, is not worth waiting for.
    async fn run_instance(&self, spec: &LaunchSpec<'_>, backoff: Backoff) -> Executed {
        let instance = retry(
            backoff,
            self.progress,
            |e| {
                matches!(
                    e.code(),
                    "InvalidGroup.NotFound" | "InvalidKeyPair.NotFound"
                )
            },
            || self.ec2.run_instance(spec),
        )
        .await?;
        let detail = format!("{instance} from {}", spec.image_id);
        Ok((Some(Made::Instance { id: instance }), Some(detail)))
    }

    async fn wait_stopped(&self, id: &str) -> Executed {
        let spinner = self.progress.spinner(&format!("waiting for {id} to stop"));
        let r = self.ec2.wait_stopped(id, self.timing.wait_stopped).await;
        spinner.finish_and_clear();
        done(r)
    }

    async fn wait_running(&self, id: &str) -> Executed {
        let spinner = self.progress.spinner(&format!(
            "waiting for {id} to be running (at most {}s)",
            self.timing.wait_running.as_secs()
        ));
        let r = self.ec2.wait_running(id, self.timing.wait_running).await;
        spinner.finish_and_clear();
        r?;
        Ok((None, Some(id.to_owned())))
    }

    async fn allocate_address(&self, name: &str) -> Executed {
        let (allocation_id, public_ip) = self.ec2.allocate_address(name).await?;
        let detail = format!("{public_ip} ({allocation_id})");
        let made = Made::Address {
            allocation_id,
            public_ip,
        };
        Ok((Some(made), Some(detail)))
    }

    /// Associates the address with the instance, retrying while the
    /// instance is still starting (and, for resources this run made, while EC2
    /// does not see them yet). An address this run allocated and could not
    /// attach would bill by the hour for nothing: it is given back.
    async fn associate_address(
        &self,
        allocation: &Ref,
        instance: &Ref,
        made: &mut [Option<Made>],
    ) -> Executed {
        let (allocation_id, instance_id) = (resolve(allocation, made), resolve(instance, made));
        let fresh = self.after_create(&[allocation, instance]) != Backoff::NONE;
        let associated = retry(
            self.timing.incorrect_state,
            self.progress,
            |e| e.code() == "IncorrectInstanceState" || (fresh && e.is_not_found()),
            || self.ec2.associate_address(&allocation_id, &instance_id),
        )
        .await;
        if let Err(e) = associated {
            if let Ref::Step(m) = allocation {
                if self.release_unused(&allocation_id).await {
                    made[*m] = None;
                }
            }
            return Err(e.into());
        }
        Ok((None, Some(format!("{allocation_id} with {instance_id}"))))
    }

    /// Releases an address this run allocated and could not use; says whether
    /// it is gone, and if not, where the user sees it.
    async fn release_unused(&self, allocation_id: &str) -> bool {
        match self.ec2.release_address(allocation_id).await {
            Ok(()) => {
                self.progress.note(&format!(
                    "released {allocation_id} again, so it does not bill unused"
                ));
                true
            }
            Err(r) => {
                self.progress.note(&format!(
                    "could not release {allocation_id} ({r}); `provision status` \
                     shows it, `provision down` removes it"
                ));
                false
            }
        }
    }

    /// Releases an address; right after DisassociateAddress, EC2 may still
    /// see it in use.
    async fn release_address(&self, allocation_id: &str) -> Executed {
        let released = retry(
            self.timing.incorrect_state,
            self.progress,
            |e| e.code() == "InvalidIPAddress.InUse",
            || self.ec2.release_address(allocation_id),
        )
        .await;
        done(released)
    }

    async fn wait_terminated(&self, ids: &[String]) -> Executed {
        let spinner = self.progress.spinner(&format!(
            "waiting for {} to terminate (at most {}s)",
            ids.join(", "),
            self.timing.wait_terminated.as_secs()
        ));
        let r = self
            .ec2
            .wait_terminated(ids, self.timing.wait_terminated)
            .await;
        spinner.finish_and_clear();
        done(r)
    }

    /// Deletes the group, retrying while a terminated instance's network
    /// interface still holds it.
    async fn delete_security_group(&self, id: &str) -> Executed {
        let spinner = self
            .progress
            .spinner(&format!("deleting security group {id}"));
        let r = retry(
            self.timing.dependency,
            self.progress,
            |e| e.code() == "DependencyViolation",
            || self.ec2.delete_security_group(id),
        )
        .await;
        spinner.finish_and_clear();
        done(r)
    }
}

/// What an action made, and a detail for the report.
type Executed = Result<(Option<Made>, Option<String>), ApplyError>;

/// The earlier steps `action` needs that made nothing (in a dry run, every
/// step that creates something), with what each was to make.
fn unmade(
    action: &Action,
    actions: &[Action],
    made: &[Option<Made>],
) -> Vec<(usize, &'static str)> {
    action
        .refs()
        .into_iter()
        .filter_map(|r| match r {
            Ref::Step(m) if made[*m].is_none() => Some((
                *m,
                actions[*m].makes().unwrap_or("an earlier step's result"),
            )),
            _ => None,
        })
        .collect()
}

/// An action that makes nothing and has nothing to report.
fn done(result: Result<(), Ec2Error>) -> Executed {
    result?;
    Ok((None, None))
}

/// The id `r` stands for: known, or made by an earlier step (`run` checked
/// that every step referred to made something).
fn resolve(r: &Ref, made: &[Option<Made>]) -> String {
    match r {
        Ref::Existing(id) => id.clone(),
        Ref::Step(m) => made[*m]
            .as_ref()
            .map(|x| x.id().to_owned())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    //! The retry paths, which the emulator never exercises, against
    //! aws-smithy-mocks.
    use super::*;
    use aws_sdk_ec2::error::ErrorMetadata;
    use aws_sdk_ec2::operation::allocate_address::{AllocateAddressError, AllocateAddressOutput};
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
    use aws_sdk_ec2::operation::release_address::{ReleaseAddressError, ReleaseAddressOutput};
    use aws_sdk_ec2::Client;
    use aws_smithy_mocks::{mock, mock_client, Rule as MockRule, RuleMode};

    use crate::desired::Cidr;
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
        Ec2::from_client(client, Mode::Apply)
    }

    fn dry_ec2(rules: &[&MockRule]) -> Ec2 {
        let client: Client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, rules);
        Ec2::from_client(client, Mode::DryRun)
    }

    async fn apply(ec2: &Ec2, actions: &[Action], keep_going: bool) -> Applied {
        let progress = Progress::default();
        let interpreter = Interpreter {
            ec2,
            timing: fast(),
            progress: &progress,
        };
        interpreter.run(actions, keep_going).await
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
        let actions = [
            Action::AllocateAddress { name: "kb".into() },
            Action::AssociateAddress {
                allocation: Ref::Step(0),
                instance: Ref::Existing("i-1".into()),
            },
        ];
        let applied = apply(&ec2, &actions, false).await;
        assert_eq!(applied.errors.len(), 1);
        assert_eq!(release.num_calls(), 1);
        assert!(applied.public_ip().is_none());
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
        let ec2 = ec2(&[&create, &authorize]);
        let actions = [
            Action::CreateSecurityGroup {
                name: "kb".into(),
                vpc_id: "vpc-1".into(),
            },
            Action::AuthorizeIngress {
                group: Ref::Step(0),
                rules: vec![Rule::tcp(5000, Cidr::ANYWHERE)],
            },
        ];
        let applied = apply(&ec2, &actions, false).await;
        assert!(applied.errors.is_empty(), "{:?}", applied.errors);
        assert_eq!(authorize.num_calls(), 2);
        assert_eq!(
            applied.made[0],
            Some(Made::Group {
                id: "sg-new".into()
            })
        );
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

    #[tokio::test]
    async fn a_dry_run_asks_ec2_once_per_action_and_reports_its_answer() {
        let create = mock!(Client::create_key_pair)
            .then_error(|| CreateKeyPairError::generic(meta("DryRunOperation")));
        let release = mock!(Client::release_address)
            .then_error(|| ReleaseAddressError::generic(meta("UnauthorizedOperation")));
        let ec2 = dry_ec2(&[&create, &release]);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kb.pem");
        let actions = [
            Action::CreateKeyPair {
                name: "kb".into(),
                file: file.clone(),
            },
            Action::ReleaseAddress {
                allocation_id: "eipalloc-1".into(),
                public_ip: "198.51.100.1".into(),
            },
        ];
        let applied = apply(&ec2, &actions, false).await;
        assert!(matches!(applied.steps[0].outcome, Outcome::Permitted));
        assert!(matches!(applied.steps[1].outcome, Outcome::Denied { .. }));
        assert!(applied.errors.is_empty(), "{:?}", applied.errors);
        assert_eq!((create.num_calls(), release.num_calls()), (1, 1));
        assert!(!file.exists(), "a dry run writes no key file");
    }

    #[tokio::test]
    async fn a_dry_run_does_not_ask_about_actions_on_resources_the_plan_would_create() {
        let allocate = mock!(Client::allocate_address)
            .then_error(|| AllocateAddressError::generic(meta("DryRunOperation")));
        let associate = mock!(Client::associate_address)
            .then_output(|| AssociateAddressOutput::builder().build());
        let ec2 = dry_ec2(&[&allocate, &associate]);
        let actions = [
            Action::AllocateAddress { name: "kb".into() },
            Action::WaitRunning {
                instance: Ref::Existing("i-1".into()),
            },
            Action::AssociateAddress {
                allocation: Ref::Step(0),
                instance: Ref::Existing("i-1".into()),
            },
        ];
        let applied = apply(&ec2, &actions, false).await;
        assert!(matches!(applied.steps[0].outcome, Outcome::Permitted));
        assert!(matches!(applied.steps[1].outcome, Outcome::Wait));
        assert_eq!(
            applied.steps[2].outcome.verdict(),
            "not checked: depends on the Elastic IP this plan allocates (step 1)"
        );
        assert_eq!(associate.num_calls(), 0, "no call with a made-up id");
    }
}
