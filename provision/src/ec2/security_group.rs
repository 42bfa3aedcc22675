//! Security groups: find the stack's, create one in the default VPC, change
//! its ingress rules, delete it; and the default VPC itself.

use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, UserIdGroupPair,
};

use super::error::Sent;
use super::{non_empty, stack_filter, tags, Ec2, Ec2Error};
use crate::stack::{Group, Rule, Source};

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

impl Ec2 {
    /// DescribeSecurityGroups: the groups tagged with the stack.
    pub async fn describe_security_groups(&self, name: &str) -> Result<Vec<Group>, Ec2Error> {
        let out = self
            .client
            .describe_security_groups()
            .filters(stack_filter(name))
            .send()
            .await
            .named("DescribeSecurityGroups")?;
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

    /// DescribeVpcs: the region's default VPC, if there is one.
    pub async fn default_vpc(&self) -> Result<Option<String>, Ec2Error> {
        let out = self
            .client
            .describe_vpcs()
            .filters(Filter::builder().name("is-default").values("true").build())
            .send()
            .await
            .named("DescribeVpcs")?;
        Ok(out
            .vpcs()
            .iter()
            .find_map(|v| v.vpc_id().map(str::to_owned)))
    }

    /// CreateSecurityGroup (tagged): returns the group id.
    pub async fn create_security_group(
        &self,
        name: &str,
        vpc_id: &str,
    ) -> Result<String, Ec2Error> {
        let call = "CreateSecurityGroup";
        let out = self
            .client
            .create_security_group()
            .group_name(name)
            .description(format!("kakaobot stack {name}: ssh and the app port"))
            .vpc_id(vpc_id)
            .tag_specifications(tags(ResourceType::SecurityGroup, name))
            .dry_run(self.dry_run)
            .send()
            .await
            .named(call)?;
        out.group_id()
            .map(str::to_owned)
            .ok_or_else(|| Ec2Error::new(call, None, "the answer has no group id"))
    }

    /// AuthorizeSecurityGroupIngress.
    pub async fn authorize_ingress(&self, group_id: &str, rules: &[Rule]) -> Result<(), Ec2Error> {
        self.client
            .authorize_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(rules.iter().map(permission).collect()))
            .dry_run(self.dry_run)
            .send()
            .await
            .named("AuthorizeSecurityGroupIngress")?;
        Ok(())
    }

    /// RevokeSecurityGroupIngress.
    pub async fn revoke_ingress(&self, group_id: &str, rules: &[Rule]) -> Result<(), Ec2Error> {
        self.client
            .revoke_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(rules.iter().map(permission).collect()))
            .dry_run(self.dry_run)
            .send()
            .await
            .named("RevokeSecurityGroupIngress")?;
        Ok(())
    }

    /// DeleteSecurityGroup.
    pub async fn delete_security_group(&self, id: &str) -> Result<(), Ec2Error> {
        self.client
            .delete_security_group()
            .group_id(id)
            .dry_run(self.dry_run)
            .send()
            .await
            .named("DeleteSecurityGroup")?;
        Ok(())
    }
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
}
