//! Images: the newest official Ubuntu server image of a release, or a given AMI.

use aws_sdk_ec2::types::Filter;
use serde::Serialize;

use super::error::Sent;
use super::{Ec2, Ec2Error};

/// An image a new instance is launched from.
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

fn image(i: &aws_sdk_ec2::types::Image) -> Option<Image> {
    Some(Image {
        id: i.image_id()?.to_owned(),
        name: i.name().unwrap_or_default().to_owned(),
        creation_date: i.creation_date().unwrap_or_default().to_owned(),
    })
}

impl Ec2 {
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
            .named("DescribeImages")?;
        Ok(out
            .images()
            .iter()
            .filter(|i| i.owner_id() == Some(CANONICAL))
            .filter_map(image)
            .max_by(|a, b| {
                a.creation_date
                    .cmp(&b.creation_date)
                    .then(a.name.cmp(&b.name))
            }))
    }

    /// DescribeImages: the image with this id, if the caller can launch it.
    /// EC2 answers `InvalidAMIID.NotFound` for an id it does not know.
    pub async fn image(&self, id: &str) -> Result<Option<Image>, Ec2Error> {
        let out = self
            .client
            .describe_images()
            .image_ids(id)
            .send()
            .await
            .named("DescribeImages")?;
        Ok(out.images().iter().find_map(image))
    }
}
