//! HTTPS on the public port: the certificate served (from ACME or the operator's
//! files), swapped in without a restart, and the rustls configuration around it.
//!
//! - [`certificate`]: one chain and key, and when to renew it;
//! - [`acme`]: obtaining and renewing it from an ACME directory (Let's Encrypt),
//!   answering `http-01` on the plain listener;
//! - [`state`]: the account, certificate and key kept in the state directory.

pub mod acme;
pub mod certificate;
pub mod state;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio::sync::{watch, Notify};
use tracing::{error, info, warn};

pub use acme::Challenges;
pub use certificate::Certificate;

use crate::config::Settings;
use crate::metrics;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("not a usable certificate and key: {0}")]
    Pem(String),
    #[error("the stored ACME account in {path} cannot be read: {reason}")]
    Account { path: String, reason: String },
    #[error(
        "no state directory for the ACME account and certificate: set KAKAOBOT_STATE_DIR \
         (under systemd, StateDirectory= sets it for you)"
    )]
    NoStateDir,
    #[error("cannot set up TLS: {0}")]
    Config(String),
    #[error("ACME: {0}")]
    Acme(String),
}

/// The certificate being served, shared by the handshakes and whatever replaces it.
/// Starts empty when nothing is stored yet; [`CertificateSlot::ready`] waits for the
/// first one.
#[derive(Clone, Debug)]
pub struct CertificateSlot {
    current: Arc<RwLock<Option<Certificate>>>,
    filled: watch::Sender<bool>,
}

impl Default for CertificateSlot {
    fn default() -> Self {
        Self {
            current: Arc::default(),
            filled: watch::Sender::new(false),
        }
    }
}

impl CertificateSlot {
    /// Serves `cert` from the next handshake on; connections already open keep the one
    /// they began with.
    pub fn set(&self, cert: Certificate) {
        metrics::certificate_expiry(cert.expiry_unix_secs());
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        *current = Some(cert);
        drop(current);
        self.filled.send_replace(true);
    }

    /// The certificate served now, if any.
    pub fn current(&self) -> Option<Certificate> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Completes once a certificate is served.
    pub async fn ready(&self) {
        let mut filled = self.filled.subscribe();
        // Err only if the sender is gone, and `self` holds it.
        let _ = filled.wait_for(|filled| *filled).await;
    }
}

impl ResolvesServerCert for CertificateSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(Certificate::certified_key)
    }
}

/// rustls for the public port: TLS 1.3 and 1.2 only (rustls has nothing older), ALPN
/// `http/1.1` (the edge speaks nothing else), the certificate from `slot`.
pub fn server_config(slot: &CertificateSlot) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|err| TlsError::Config(err.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(slot.clone()));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Where the certificate comes from.
#[derive(Clone)]
enum Source {
    /// The operator's PEM files, re-read on reload.
    Files { cert: PathBuf, key: PathBuf },
    /// The ACME task; a reload wakes it to look again now.
    Acme(Arc<Notify>),
}

/// HTTPS as configured: the certificate served and where it comes from.
#[derive(Clone)]
pub struct Tls {
    slot: CertificateSlot,
    source: Source,
}

impl Tls {
    /// Sets up the certificate the settings name, or `None` when HTTPS is off. The
    /// operator's files must be valid now; with ACME a stored certificate serves at
    /// once and the ACME task (spawned here) orders one when none is stored or it is
    /// due.
    pub async fn start(
        settings: &Settings,
        challenges: &Challenges,
    ) -> Result<Option<Self>, TlsError> {
        if settings.tls_listen.is_none() {
            return Ok(None);
        }
        let slot = CertificateSlot::default();
        let source = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => {
                let loaded = read_pair(cert.clone(), key.clone()).await?;
                info!(serial = %loaded.serial, names = ?loaded.names, "serving the certificate from KAKAOBOT_TLS_CERT");
                slot.set(loaded);
                Source::Files {
                    cert: cert.clone(),
                    key: key.clone(),
                }
            }
            _ => {
                let config = acme::AcmeConfig::from_settings(settings)?;
                let wake = Arc::new(Notify::new());
                acme::spawn(config, slot.clone(), challenges.clone(), wake.clone())?;
                Source::Acme(wake)
            }
        };
        Ok(Some(Self { slot, source }))
    }

    /// The certificate slot the handshakes read.
    pub fn slot(&self) -> &CertificateSlot {
        &self.slot
    }

    /// `systemctl reload`: the operator's files are read again (a bad pair is refused
    /// and the one in use stays); with ACME, a certificate that is missing or due is
    /// ordered now instead of after the back-off (say, once port 80 is open).
    pub async fn reload(&self) -> Result<(), TlsError> {
        match &self.source {
            Source::Files { cert, key } => match read_pair(cert.clone(), key.clone()).await {
                Ok(loaded) => {
                    info!(serial = %loaded.serial, names = ?loaded.names, "certificate reloaded");
                    self.slot.set(loaded);
                    Ok(())
                }
                Err(err) => {
                    error!(cause = %err, "certificate not reloaded; the one in use stays");
                    Err(err)
                }
            },
            Source::Acme(wake) => {
                info!("looking at the certificate again now");
                wake.notify_one();
                Ok(())
            }
        }
    }
}

/// Reads a PEM pair off the runtime's workers: a hung mount must not stall requests.
async fn read_pair(cert: PathBuf, key: PathBuf) -> Result<Certificate, TlsError> {
    tokio::task::spawn_blocking(move || {
        let chain = read_text(&cert)?;
        let key_text = read_text(&key)?;
        Certificate::from_pem(&chain, &key_text)
    })
    .await
    .map_err(|err| TlsError::Config(format!("the certificate reader stopped: {err}")))?
}

fn read_text(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Logs once, at start, what HTTPS will do for the operator.
pub fn warn_if_plain_only(settings: &Settings) {
    if settings.tls_listen.is_none() {
        warn!(
            "HTTPS is off: Kakao's requests and the skill secret cross the internet in \
             cleartext; set KAKAOBOT_TLS_LISTEN and KAKAOBOT_ACME_IDENTIFIERS (see README)"
        );
    }
}
