//! Elastic IPs: find the stack's, allocate, associate, disassociate, release.

use aws_sdk_ec2::types::{DomainType, ResourceType};

use super::error::Sent;
use super::{non_empty, stack_filter, tags, Ec2, Ec2Error};
use crate::stack::Address;

impl Ec2 {
    /// DescribeAddresses: the Elastic IPs tagged with the stack.
    pub async fn describe_addresses(&self, name: &str) -> Result<Vec<Address>, Ec2Error> {
        let out = self
            .client
            .describe_addresses()
            .filters(stack_filter(name))
            .send()
            .await
            .named("DescribeAddresses")?;
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

    /// AllocateAddress (VPC, tagged): returns (allocation id, public IP).
    pub async fn allocate_address(&self, name: &str) -> Result<(String, String), Ec2Error> {
        let call = "AllocateAddress";
        let out = self
            .client
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tags(ResourceType::ElasticIp, name))
            .dry_run(self.dry_run)
            .send()
            .await
            .named(call)?;
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
    ) -> Result<(), Ec2Error> {
        self.client
            .associate_address()
            .allocation_id(allocation_id)
            .instance_id(instance_id)
            .allow_reassociation(true)
            .dry_run(self.dry_run)
            .send()
            .await
            .named("AssociateAddress")?;
        Ok(())
    }

    /// DisassociateAddress.
    pub async fn disassociate_address(&self, association_id: &str) -> Result<(), Ec2Error> {
        self.client
            .disassociate_address()
            .association_id(association_id)
            .dry_run(self.dry_run)
            .send()
            .await
            .named("DisassociateAddress")?;
        Ok(())
    }

    /// ReleaseAddress.
    pub async fn release_address(&self, allocation_id: &str) -> Result<(), Ec2Error> {
        self.client
            .release_address()
            .allocation_id(allocation_id)
            .dry_run(self.dry_run)
            .send()
            .await
            .named("ReleaseAddress")?;
        Ok(())
    }
}
