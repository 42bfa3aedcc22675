//! Instances: find the stack's, launch, start, terminate, and wait for a state.

use std::time::Duration;

use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::types::{
    HttpTokensState, InstanceMetadataEndpointState, InstanceMetadataOptionsRequest, InstanceType,
    ResourceType,
};

use super::error::{waiter_error, Sent};
use super::{non_empty, stack_filter, tags, Ec2, Ec2Error};
use crate::stack::{Instance, InstanceState};

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

impl Ec2 {
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
                .named("DescribeInstances")?;
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

    /// RunInstances: one instance, IMDSv2 required, tagged (instance and
    /// volume) at creation. Returns the instance id.
    pub async fn run_instance(&self, spec: &LaunchSpec<'_>) -> Result<String, Ec2Error> {
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
            .dry_run(self.dry_run)
            .send()
            .await
            .named(call)?;
        out.instances()
            .first()
            .and_then(|i| i.instance_id())
            .map(str::to_owned)
            .ok_or_else(|| Ec2Error::new(call, None, "the answer has no instance"))
    }

    /// StartInstances.
    pub async fn start_instance(&self, id: &str) -> Result<(), Ec2Error> {
        self.client
            .start_instances()
            .instance_ids(id)
            .dry_run(self.dry_run)
            .send()
            .await
            .named("StartInstances")?;
        Ok(())
    }

    /// TerminateInstances.
    pub async fn terminate_instances(&self, ids: &[String]) -> Result<(), Ec2Error> {
        self.client
            .terminate_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .dry_run(self.dry_run)
            .send()
            .await
            .named("TerminateInstances")?;
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
}
