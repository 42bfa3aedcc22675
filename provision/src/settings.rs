//! Validated settings: the flags turned into typed values, checked before any
//! AWS call so that a bad CIDR or port fails fast and names the flag.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The tag key that marks every resource of a stack; its value is the stack name.
pub const STACK_TAG: &str = "kakaobot:stack";

/// The user-data file used when `--user-data` is not given, relative to the
/// current directory (the repository root in the usual workflow).
pub const DEFAULT_USER_DATA: &str = "deploy/cloud-init.yaml";

/// EC2 refuses user data larger than this many bytes (before base64).
const MAX_USER_DATA: usize = 16 * 1024;

/// A flag value that cannot be used, with the flag's name and the user's input.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The value does not parse or is out of range.
    #[error("invalid {flag} {value:?}: {reason}")]
    Invalid {
        /// The flag, e.g. `--ssh-cidr`.
        flag: &'static str,
        /// What the user passed.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A file named by a flag cannot be read.
    #[error("cannot read {flag} file {path}: {source}")]
    Read {
        /// The flag, e.g. `--public-key`.
        flag: &'static str,
        /// The path as given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No home directory to put the default key file in.
    #[error("HOME is not set, so there is no default for --key-file; pass --key-file")]
    NoHome,
}

fn invalid(flag: &'static str, value: &str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        flag,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

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

/// Checks a stack name: it names the key pair and the security group, so it
/// must suit both (letters, digits, `-` and `_`, at most 64, not `sg-…`).
pub fn stack_name(value: &str) -> Result<String, SettingsError> {
    let ok_chars = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if value.is_empty() || value.len() > 64 || !ok_chars {
        return Err(invalid(
            "--name",
            value,
            "use 1 to 64 letters, digits, '-' or '_'",
        ));
    }
    if value.starts_with("sg-") {
        return Err(invalid(
            "--name",
            value,
            "security group names may not start with 'sg-'",
        ));
    }
    Ok(value.to_owned())
}

/// Parses a CIDR flag.
pub fn cidr(flag: &'static str, value: &str) -> Result<Cidr, SettingsError> {
    value.parse().map_err(|reason| invalid(flag, value, reason))
}

/// Parses `--port`: 1 to 65535 and not 22, which is the SSH rule's port.
pub fn port(value: &str) -> Result<u16, SettingsError> {
    let port: u16 = value
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| invalid("--port", value, "expected a TCP port from 1 to 65535"))?;
    if port == 22 {
        return Err(invalid(
            "--port",
            value,
            "22 is the SSH port, which --ssh-cidr controls",
        ));
    }
    Ok(port)
}

/// Checks the shape of `--instance-type` (`family.size`); EC2 decides whether it exists.
pub fn instance_type(value: &str) -> Result<String, SettingsError> {
    let shape_ok = value.split_once('.').is_some_and(|(family, size)| {
        !family.is_empty()
            && !size.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    });
    if !shape_ok {
        return Err(invalid(
            "--instance-type",
            value,
            "expected an EC2 instance type such as t2.micro",
        ));
    }
    Ok(value.to_owned())
}

/// Checks `--ubuntu`: an LTS release such as 24.04.
pub fn ubuntu_release(value: &str) -> Result<String, SettingsError> {
    let ok = value.split_once('.').is_some_and(|(year, month)| {
        year.len() == 2 && year.chars().all(|c| c.is_ascii_digit()) && month == "04"
    }) && value[..2].parse::<u8>().is_ok_and(|y| y % 2 == 0);
    if !ok {
        return Err(invalid(
            "--ubuntu",
            value,
            "expected an Ubuntu LTS release such as 24.04 or 22.04",
        ));
    }
    Ok(value.to_owned())
}

/// Checks `--ami`: an image id such as ami-0123456789abcdef0.
pub fn ami(value: &str) -> Result<String, SettingsError> {
    let ok = value
        .strip_prefix("ami-")
        .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok {
        return Err(invalid(
            "--ami",
            value,
            "expected an image id such as ami-0123456789abcdef0",
        ));
    }
    Ok(value.to_owned())
}

/// The default private key path: `~/.ssh/<name>.pem`.
pub fn default_key_file(name: &str) -> Result<PathBuf, SettingsError> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or(SettingsError::NoHome)?;
    Ok(Path::new(&home).join(".ssh").join(format!("{name}.pem")))
}

/// Reads `--public-key`: one OpenSSH public key line.
pub fn public_key(path: &Path) -> Result<String, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
        flag: "--public-key",
        path: path.to_owned(),
        source,
    })?;
    let key = text.trim().to_owned();
    let known = ["ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-"];
    if !known.iter().any(|k| key.starts_with(k)) || key.contains('\n') {
        return Err(invalid(
            "--public-key",
            &path.display().to_string(),
            "expected one OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa-sha2-…), \
             e.g. ~/.ssh/id_ed25519.pub",
        ));
    }
    Ok(key)
}

/// User data for the instance and where it came from.
#[derive(Debug, Clone)]
pub struct UserData {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its contents, sent base64-encoded.
    pub bytes: Vec<u8>,
}

/// Resolves `--user-data`: the given file, else `deploy/cloud-init.yaml` when
/// it exists, else none.
pub fn user_data(flag: Option<&Path>) -> Result<Option<UserData>, SettingsError> {
    let path = match flag {
        Some(p) => p.to_owned(),
        None => {
            let default = PathBuf::from(DEFAULT_USER_DATA);
            if !default.is_file() {
                return Ok(None);
            }
            default
        }
    };
    let bytes = std::fs::read(&path).map_err(|source| SettingsError::Read {
        flag: "--user-data",
        path: path.clone(),
        source,
    })?;
    if bytes.len() > MAX_USER_DATA {
        return Err(invalid(
            "--user-data",
            &path.display().to_string(),
            format!("{} bytes; EC2 accepts at most {MAX_USER_DATA}", bytes.len()),
        ));
    }
    Ok(Some(UserData { path, bytes }))
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
        let err = cidr("--ssh-cidr", "10.0.0.1/8").unwrap_err().to_string();
        assert!(
            err.contains("--ssh-cidr") && err.contains("10.0.0.0/8"),
            "{err}"
        );
    }

    #[test]
    fn ports_are_checked() {
        assert_eq!(port("5000").unwrap(), 5000);
        for bad in ["0", "65536", "-1", "http", "22"] {
            assert!(port(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn stack_names_suit_key_pairs_and_groups() {
        assert!(stack_name("kakaobot-test_1").is_ok());
        for bad in ["", "has space", "sg-1", "ümlaut", &"x".repeat(65)] {
            assert!(stack_name(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn ubuntu_releases_must_be_lts() {
        assert!(ubuntu_release("24.04").is_ok());
        assert!(ubuntu_release("22.04").is_ok());
        for bad in ["23.10", "24.10", "25.04", "noble", "24"] {
            assert!(ubuntu_release(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn instance_types_and_amis_are_shape_checked() {
        assert!(instance_type("t2.micro").is_ok());
        assert!(instance_type("micro").is_err());
        assert!(ami("ami-0123456789abcdef0").is_ok());
        assert!(ami("image-1").is_err());
    }
}
