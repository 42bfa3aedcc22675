//! Settings that need more than parsing: the files flags name (the public key,
//! the user data) and the default key file under HOME. Read before any AWS
//! call, so that a missing file fails fast and names the flag. The values
//! that only need parsing are typed in [`crate::desired`] and parsed by clap.

use std::path::{Path, PathBuf};

use crate::cli::RuleArgs;
use crate::desired::{Desired, StackName, UserData};

/// The user-data file used when `--user-data` is not given, relative to the
/// current directory (the repository root in the usual workflow).
pub const DEFAULT_USER_DATA: &str = "deploy/cloud-init.yaml";

/// EC2 refuses user data larger than this many bytes (before base64).
const MAX_USER_DATA: usize = 16 * 1024;

/// A file named by a flag that cannot be used, with the flag's name.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file's contents are not what the flag wants.
    #[error("invalid {flag} {value:?}: {reason}")]
    Invalid {
        /// The flag, e.g. `--public-key`.
        flag: &'static str,
        /// The file as given.
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

/// The desired state `up` and `status` compare with, from the shared flags.
pub fn desired(name: &StackName, rules: &RuleArgs) -> Result<Desired, SettingsError> {
    Ok(Desired {
        name: name.clone(),
        port: rules.port,
        app_cidr: rules.app_cidr,
        ssh_cidr: rules.ssh_cidr,
        instance_type: rules.instance_type.clone(),
        key_file: match &rules.key_file {
            Some(p) => p.clone(),
            None => default_key_file(name.as_str())?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_key_file_must_hold_one_openssh_key() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("id.pub");
        std::fs::write(&good, "ssh-ed25519 AAAA me@host\n").unwrap();
        assert_eq!(public_key(&good).unwrap(), "ssh-ed25519 AAAA me@host");
        let bad = dir.path().join("id");
        std::fs::write(&bad, "-----BEGIN OPENSSH PRIVATE KEY-----\n").unwrap();
        let err = public_key(&bad).unwrap_err().to_string();
        assert!(err.contains("--public-key"), "{err}");
    }

    #[test]
    fn user_data_larger_than_ec2_accepts_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; MAX_USER_DATA + 1]).unwrap();
        let err = user_data(Some(&big)).unwrap_err().to_string();
        assert!(
            err.contains("--user-data") && err.contains("16384"),
            "{err}"
        );
    }
}
