//! Key pairs: find the stack's, create or import one, delete it.

use aws_sdk_ec2::types::{KeyFormat, KeyType, ResourceType};

use super::error::Sent;
use super::{non_empty, stack_filter, tags, Ec2, Ec2Error};
use crate::stack::KeyPair;

impl Ec2 {
    /// DescribeKeyPairs: the key pairs tagged with the stack.
    pub async fn describe_key_pairs(&self, name: &str) -> Result<Vec<KeyPair>, Ec2Error> {
        let out = self
            .client
            .describe_key_pairs()
            .filters(stack_filter(name))
            .send()
            .await
            .named("DescribeKeyPairs")?;
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

    /// CreateKeyPair (ed25519, tagged): returns the private key.
    pub async fn create_key_pair(&self, name: &str) -> Result<String, Ec2Error> {
        let call = "CreateKeyPair";
        let out = self
            .client
            .create_key_pair()
            .key_name(name)
            .key_type(KeyType::Ed25519)
            .key_format(KeyFormat::Pem)
            .tag_specifications(tags(ResourceType::KeyPair, name))
            .dry_run(self.dry_run)
            .send()
            .await
            .named(call)?;
        out.key_material()
            .map(str::to_owned)
            .ok_or_else(|| Ec2Error::new(call, None, "the answer has no private key"))
    }

    /// ImportKeyPair (tagged).
    pub async fn import_key_pair(&self, name: &str, public_key: &str) -> Result<(), Ec2Error> {
        self.client
            .import_key_pair()
            .key_name(name)
            .public_key_material(aws_sdk_ec2::primitives::Blob::new(public_key.as_bytes()))
            .tag_specifications(tags(ResourceType::KeyPair, name))
            .dry_run(self.dry_run)
            .send()
            .await
            .named("ImportKeyPair")?;
        Ok(())
    }

    /// DeleteKeyPair.
    pub async fn delete_key_pair(&self, name: &str) -> Result<(), Ec2Error> {
        self.client
            .delete_key_pair()
            .key_name(name)
            .dry_run(self.dry_run)
            .send()
            .await
            .named("DeleteKeyPair")?;
        Ok(())
    }
}
