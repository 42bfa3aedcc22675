//! The state directory: the ACME account, and the certificate with its key, so that a
//! restart serves at once and places no new order. Files are written whole (a
//! temporary file renamed over the old one) and readable by the service's user only.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use instant_acme::AccountCredentials;
use serde::{Deserialize, Serialize};

use super::{Certificate, TlsError};

const ACCOUNT_FILE: &str = "acme-account.json";
const CERTIFICATE_FILE: &str = "certificate.pem";
const KEY_FILE: &str = "private-key.pem";

/// An ACME account as stored: bound to the directory it was made with, so that moving
/// from the staging directory to production makes a new one.
#[derive(Serialize, Deserialize)]
pub struct StoredAccount {
    pub directory: String,
    pub credentials: AccountCredentials,
}

#[derive(Clone, Debug)]
pub struct StateDir(PathBuf);

impl StateDir {
    /// `KAKAOBOT_STATE_DIR`, else systemd's `$STATE_DIRECTORY` (the unit's
    /// `StateDirectory=`), which must exist.
    pub fn resolve(configured: Option<&Path>) -> Result<Self, TlsError> {
        let dir = match configured {
            Some(dir) => dir.to_owned(),
            None => std::env::var_os("STATE_DIRECTORY")
                .map(PathBuf::from)
                .ok_or(TlsError::NoStateDir)?,
        };
        std::fs::create_dir_all(&dir).map_err(|source| TlsError::Write {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(Self(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The stored certificate, `None` when there is none yet.
    pub fn certificate(&self) -> Result<Option<Certificate>, TlsError> {
        let (Some(chain), Some(key)) = (
            self.read_if_there(CERTIFICATE_FILE)?,
            self.read_if_there(KEY_FILE)?,
        ) else {
            return Ok(None);
        };
        Certificate::from_pem(&chain, &key).map(Some)
    }

    /// Keeps `cert` for the next start; the key first, so a certificate on disk
    /// always has its key beside it.
    pub fn save_certificate(&self, cert: &Certificate) -> Result<(), TlsError> {
        self.write(KEY_FILE, cert.key_pem.as_bytes())?;
        self.write(CERTIFICATE_FILE, cert.chain_pem.as_bytes())
    }

    /// The stored account, `None` when there is none yet.
    pub fn account(&self) -> Result<Option<StoredAccount>, TlsError> {
        let Some(text) = self.read_if_there(ACCOUNT_FILE)? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|err| TlsError::Account {
                path: self.0.join(ACCOUNT_FILE).display().to_string(),
                reason: format!("{err}; move it away to make a new account"),
            })
    }

    pub fn save_account(&self, account: &StoredAccount) -> Result<(), TlsError> {
        let text = serde_json::to_vec_pretty(account).map_err(|err| TlsError::Account {
            path: self.0.join(ACCOUNT_FILE).display().to_string(),
            reason: err.to_string(),
        })?;
        self.write(ACCOUNT_FILE, &text)
    }

    fn read_if_there(&self, name: &str) -> Result<Option<String>, TlsError> {
        let path = self.0.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(TlsError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), TlsError> {
        let path = self.0.join(name);
        let temporary = self.0.join(format!(".{name}.new"));
        let failed = |source| TlsError::Write {
            path: path.display().to_string(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(failed)?;
        file.write_all(bytes).map_err(failed)?;
        file.sync_all().map_err(failed)?;
        std::fs::rename(&temporary, &path).map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_saved_certificate_is_read_back_and_only_its_owner_may_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::resolve(Some(dir.path())).unwrap();
        assert!(state.certificate().unwrap().is_none());
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let cert = Certificate::from_pem(&cert.pem(), &key.serialize_pem()).unwrap();
        state.save_certificate(&cert).unwrap();
        let back = state.certificate().unwrap().unwrap();
        assert_eq!(back.serial, cert.serial);
        for file in [KEY_FILE, CERTIFICATE_FILE] {
            let mode = std::fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }
}
