//! The desired state of a stack and the typed values it is made of.
//!
//! Every value here parses from the text a user types ([`FromStr`]), so the
//! command line ([`crate::cli`]) can hand them to clap as value parsers: a bad
//! `--port` or `--ssh-cidr` is a usage error before any AWS call. `up` and
//! `status` compare one [`Desired`] with the stack through [`crate::drift`].

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;

use crate::stack::{Rule, Source};

/// An IPv4 network in CIDR notation, e.g. `203.0.113.7/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    /// The network address (host bits are zero).
    pub addr: Ipv4Addr,
    /// The prefix length, 0 to 32.
    pub prefix: u8,
}

impl Cidr {
    /// The whole IPv4 internet.
    pub const ANYWHERE: Cidr = Cidr {
        addr: Ipv4Addr::UNSPECIFIED,
        prefix: 0,
    };

    /// A single address as a /32.
    pub fn host(addr: Ipv4Addr) -> Self {
        Cidr { addr, prefix: 32 }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl From<Cidr> for Source {
    fn from(cidr: Cidr) -> Self {
        Source::Cidr4(cidr.to_string())
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// Parses `a.b.c.d/n`, or a bare address as a /32. Host bits must be zero,
    /// because EC2 would silently store a different network than the one typed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| "expected an IPv4 CIDR such as 203.0.113.7/32".to_owned())?;
        let prefix = match prefix {
            None => 32,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= 32)
                .ok_or_else(|| "the prefix length must be a number from 0 to 32".to_owned())?,
        };
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        let network = Ipv4Addr::from(u32::from(addr) & mask);
        if network != addr {
            return Err(format!(
                "host bits are set; the network is {network}/{prefix}"
            ));
        }
        Ok(Cidr { addr, prefix })
    }
}

/// The app's TCP port: 1 to 65535 and not 22, which is the SSH rule's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port(pub u16);

/// The ports the service always needs: 80 (ACME `http-01`, plain HTTP) and 443
/// (HTTPS, the URL registered with Kakao).
pub const WEB_PORTS: [u16; 2] = [80, 443];

impl FromStr for Port {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let port: u16 = s
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| "expected a TCP port from 1 to 65535".to_owned())?;
        if port == 22 {
            return Err("22 is the SSH port, which --ssh-cidr controls".to_owned());
        }
        if WEB_PORTS.contains(&port) {
            return Err(format!(
                "{port} is always open (80 for the certificate's challenges, 443 for HTTPS); \
                 --port adds another, such as 5000"
            ));
        }
        Ok(Port(port))
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stack name. It names the key pair and the security group, so it must
/// suit both: letters, digits, `-` and `_`, at most 64, not `sg-…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackName(String);

impl StackName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for StackName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if s.is_empty() || s.len() > 64 || !ok_chars {
            return Err("use 1 to 64 letters, digits, '-' or '_'".to_owned());
        }
        if s.starts_with("sg-") {
            return Err("security group names may not start with 'sg-'".to_owned());
        }
        Ok(StackName(s.to_owned()))
    }
}

impl fmt::Display for StackName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An EC2 instance type such as `t2.micro`. Only its shape (`family.size`) is
/// checked here; EC2 decides whether it exists in the region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct InstanceType(String);

impl InstanceType {
    /// The type as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for InstanceType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shape_ok = s.split_once('.').is_some_and(|(family, size)| {
            !family.is_empty()
                && !size.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        });
        if !shape_ok {
            return Err("expected an EC2 instance type such as t2.micro".to_owned());
        }
        Ok(InstanceType(s.to_owned()))
    }
}

impl fmt::Display for InstanceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Ubuntu LTS release such as `24.04`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UbuntuRelease(String);

impl FromStr for UbuntuRelease {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.split_once('.').is_some_and(|(year, month)| {
            year.len() == 2 && year.chars().all(|c| c.is_ascii_digit()) && month == "04"
        }) && s[..2].parse::<u8>().is_ok_and(|y| y % 2 == 0);
        if !ok {
            return Err("expected an Ubuntu LTS release such as 24.04 or 22.04".to_owned());
        }
        Ok(UbuntuRelease(s.to_owned()))
    }
}

impl fmt::Display for UbuntuRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An image id such as `ami-0123456789abcdef0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmiId(String);

impl AmiId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AmiId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s
            .strip_prefix("ami-")
            .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()));
        if !ok {
            return Err("expected an image id such as ami-0123456789abcdef0".to_owned());
        }
        Ok(AmiId(s.to_owned()))
    }
}

impl fmt::Display for AmiId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An AWS region name such as `eu-west-1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionName(String);

impl RegionName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RegionName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err("expected a region name such as eu-west-1".to_owned());
        }
        Ok(RegionName(s.to_owned()))
    }
}

/// Where a new instance's image comes from; discovery turns it into an
/// [`crate::ec2::Image`] before planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageChoice {
    /// The newest official Ubuntu server image of this LTS release.
    Ubuntu(UbuntuRelease),
    /// This AMI.
    Ami(AmiId),
}

/// Where the stack's key pair comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// EC2 creates an ed25519 key pair; its private key goes to `file`.
    Create {
        /// Where the private key is written (mode 0600, never overwritten).
        file: PathBuf,
    },
    /// The user's OpenSSH public key is imported.
    Import {
        /// The public key line.
        public_key: String,
        /// The file it came from, for messages.
        path: PathBuf,
    },
}

/// User data for a new instance and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its contents, sent base64-encoded.
    pub bytes: Vec<u8>,
}

/// What the stack should look like: what `up` converges to and what `status`
/// compares with.
#[derive(Debug, Clone)]
pub struct Desired {
    /// Stack name: key pair name, group name, tag value.
    pub name: StackName,
    /// A port opened besides 80 and 443 (5000 for skills registered with the
    /// tutorial's `http://EIP:5000` URL), open to `app_cidr` like them.
    pub port: Option<Port>,
    /// Who may reach the service's ports.
    pub app_cidr: Cidr,
    /// Who may ssh in. `status` without `--ssh-cidr` leaves it `None` and then
    /// accepts any one SSH rule; `up` always knows it (the flag or this
    /// machine's address) before it plans.
    pub ssh_cidr: Option<Cidr>,
    /// Instance type of the instance.
    pub instance_type: InstanceType,
    /// Where the private key of a created key pair lives.
    pub key_file: PathBuf,
}

impl Desired {
    /// The service's rules: 80, 443 and the extra port, if any.
    pub fn app_rules(&self) -> Vec<Rule> {
        WEB_PORTS
            .into_iter()
            .chain(self.port.map(|p| p.0))
            .map(|port| Rule::tcp(port, self.app_cidr))
            .collect()
    }

    /// The group's complete ingress rules: SSH (when known) and the service's.
    pub fn ingress(&self) -> Vec<Rule> {
        self.ssh_cidr
            .map(|c| Rule::tcp(22, c))
            .into_iter()
            .chain(self.app_rules())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cidr_parses_and_prints_back() {
        let c: Cidr = "203.0.113.0/24".parse().unwrap();
        assert_eq!(c.to_string(), "203.0.113.0/24");
        assert_eq!("0.0.0.0/0".parse::<Cidr>().unwrap(), Cidr::ANYWHERE);
    }

    #[test]
    fn a_bare_address_is_a_slash_32() {
        assert_eq!(
            "198.51.100.7".parse::<Cidr>().unwrap().to_string(),
            "198.51.100.7/32"
        );
    }

    #[test]
    fn bad_cidrs_are_refused_with_a_reason() {
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "10.0.0.1/8",
            "::/0",
            "a.b.c.d/1",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad} accepted");
        }
        let err = "10.0.0.1/8".parse::<Cidr>().unwrap_err();
        assert!(err.contains("10.0.0.0/8"), "{err}");
    }

    #[test]
    fn ports_are_checked() {
        assert_eq!("5000".parse::<Port>().unwrap(), Port(5000));
        for bad in ["0", "65536", "-1", "http", "22", "80", "443"] {
            assert!(bad.parse::<Port>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn stack_names_suit_key_pairs_and_groups() {
        assert!("kakaobot-test_1".parse::<StackName>().is_ok());
        for bad in ["", "has space", "sg-1", "ümlaut", &"x".repeat(65)] {
            assert!(bad.parse::<StackName>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn ubuntu_releases_must_be_lts() {
        assert!("24.04".parse::<UbuntuRelease>().is_ok());
        assert!("22.04".parse::<UbuntuRelease>().is_ok());
        for bad in ["23.10", "24.10", "25.04", "noble", "24"] {
            assert!(bad.parse::<UbuntuRelease>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn instance_types_amis_and_regions_are_shape_checked() {
        assert!("t2.micro".parse::<InstanceType>().is_ok());
        assert!("micro".parse::<InstanceType>().is_err());
        assert!("ami-0123456789abcdef0".parse::<AmiId>().is_ok());
        assert!("image-1".parse::<AmiId>().is_err());
        assert!("eu-west-1".parse::<RegionName>().is_ok());
        assert!("EU West".parse::<RegionName>().is_err());
    }

    #[test]
    fn the_ingress_is_ssh_then_http_https_and_the_extra_port() {
        let mut d = Desired {
            name: "kb".parse().unwrap(),
            port: Some(Port(5000)),
            app_cidr: Cidr::ANYWHERE,
            ssh_cidr: Some("203.0.113.7/32".parse().unwrap()),
            instance_type: "t2.micro".parse().unwrap(),
            key_file: "/k.pem".into(),
        };
        assert_eq!(
            d.ingress(),
            [
                Rule::tcp(22, "203.0.113.7/32".parse::<Cidr>().unwrap()),
                Rule::tcp(80, Cidr::ANYWHERE),
                Rule::tcp(443, Cidr::ANYWHERE),
                Rule::tcp(5000, Cidr::ANYWHERE)
            ]
        );
        d.ssh_cidr = None;
        d.port = None;
        assert_eq!(
            d.ingress(),
            [
                Rule::tcp(80, Cidr::ANYWHERE),
                Rule::tcp(443, Cidr::ANYWHERE)
            ]
        );
    }
}
