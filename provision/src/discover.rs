//! Discovery: read what exists. Everything is found by the stack tag, so no
//! local state file can go stale; four read calls, made concurrently.

use crate::ec2::{Ec2, Ec2Error};
use crate::stack::Stack;

/// Reads every resource tagged `kakaobot:stack=<name>`.
pub async fn discover(ec2: &Ec2, name: &str) -> Result<Stack, Ec2Error> {
    let (key_pairs, groups, instances, addresses) = tokio::try_join!(
        ec2.describe_key_pairs(name),
        ec2.describe_security_groups(name),
        ec2.describe_instances(name),
        ec2.describe_addresses(name),
    )?;
    Ok(Stack {
        key_pairs,
        groups,
        instances,
        addresses,
    })
}
