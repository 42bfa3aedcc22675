//! Discovery: read what exists, then look up what the plan will need. Both
//! happen before planning, so the plan is complete and applying it never has
//! to ask EC2 for anything but the changes themselves.
//!
//! Everything of the stack is found by the stack tag, so no local state file
//! can go stale; four read calls, made concurrently. The default VPC and the
//! image are looked up only when the plan will create a group or launch an
//! instance ([`crate::plan::needs`]), so an up-to-date stack costs four calls.

use crate::desired::ImageChoice;
use crate::ec2::{Ec2, Ec2Error};
use crate::plan::{Needs, Resolved};
use crate::stack::Stack;

/// Why discovery could not find what the plan needs.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// An EC2 call failed.
    #[error(transparent)]
    Ec2(#[from] Ec2Error),
    /// No default VPC to put the group in.
    #[error(
        "the region has no default VPC to create the security group in (create one with \
         `aws ec2 create-default-vpc`)"
    )]
    NoDefaultVpc,
    /// No Ubuntu image found.
    #[error(
        "no official Ubuntu {0} amd64 server image found in this region; pass --ami or \
         another --ubuntu"
    )]
    NoUbuntuImage(String),
    /// The AMI given with `--ami` is not there.
    #[error("image {0} does not exist in this region or is not available to this account; check --ami and --region")]
    NoSuchAmi(String),
}

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

/// Looks up what `needs` asks for: the default VPC and the image to launch.
pub async fn resolve(
    ec2: &Ec2,
    needs: Needs,
    image: &ImageChoice,
) -> Result<Resolved, DiscoverError> {
    let default_vpc = async {
        if !needs.default_vpc {
            return Ok(None);
        }
        match ec2.default_vpc().await? {
            Some(vpc) => Ok(Some(vpc)),
            None => Err(DiscoverError::NoDefaultVpc),
        }
    };
    let image = async {
        if !needs.image {
            return Ok(None);
        }
        let found = match image {
            ImageChoice::Ubuntu(release) => ec2
                .newest_ubuntu_image(&release.to_string())
                .await?
                .ok_or_else(|| DiscoverError::NoUbuntuImage(release.to_string()))?,
            ImageChoice::Ami(id) => match ec2.image(id.as_str()).await {
                Ok(Some(found)) => found,
                Ok(None) => return Err(DiscoverError::NoSuchAmi(id.to_string())),
                Err(e) if e.code().starts_with("InvalidAMIID.") => {
                    return Err(DiscoverError::NoSuchAmi(id.to_string()))
                }
                Err(e) => return Err(e.into()),
            },
        };
        Ok(Some(found))
    };
    let (default_vpc, image) = tokio::try_join!(default_vpc, image)?;
    Ok(Resolved { default_vpc, image })
}
