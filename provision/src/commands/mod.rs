//! The commands, each discover → (drift →) plan → apply put together for one
//! purpose: [`up`] converges the stack, [`status`] reports its drift, [`down`]
//! removes it.

pub mod down;
pub mod status;
pub mod up;

use anyhow::Context as _;
use aws_config::{BehaviorVersion, Region};

use crate::cli::{Common, OutputFormat};
use crate::ec2::{Ec2, Mode};
use crate::output::Progress;

/// What a command needs to talk to EC2 and to the user.
pub struct Context {
    /// The EC2 wrapper.
    pub ec2: Ec2,
    /// The resolved region.
    pub region: String,
    /// The stack name.
    pub name: String,
    /// stdout format.
    pub output: OutputFormat,
    /// `-v` count.
    pub verbose: u8,
    /// stderr progress.
    pub progress: Progress,
}

/// Loads the AWS configuration the standard way (profiles, environment, SSO,
/// IMDS; `AWS_ENDPOINT_URL`), with `--region` taking precedence. `mode`
/// decides, once, whether mutating calls are sent as dry runs.
pub async fn connect(common: &Common, mode: Mode) -> anyhow::Result<Context> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &common.region {
        loader = loader.region(Region::new(region.as_str().to_owned()));
    }
    let config = loader.load().await;
    let region = config
        .region()
        .context(
            "no AWS region: pass --region, set AWS_REGION, or set one in the profile \
             (`aws configure set region eu-west-1`)",
        )?
        .to_string();
    Ok(Context {
        ec2: Ec2::new(&config, mode),
        region,
        name: common.name.to_string(),
        output: common.output,
        verbose: common.verbose,
        progress: Progress::default(),
    })
}
