//! One certificate with its private key, as served: the rustls signing key, and what
//! the service needs to know about it (when it lapses, when to renew, which names it
//! covers).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use x509_parser::extensions::GeneralName;

use super::TlsError;

/// How long before expiry a long-lived certificate is renewed at the latest: 30 days,
/// as certbot and Caddy do for 90-day certificates.
const RENEW_BEFORE_LONG: Duration = Duration::from_secs(30 * 24 * 3600);

/// A certificate chain and its key, checked to belong together.
#[derive(Clone)]
pub struct Certificate {
    key: Arc<CertifiedKey>,
    /// The leaf's serial number, in hex, as `openssl x509 -serial` shows it.
    pub serial: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// The leaf's subject alternative names: DNS names and IP addresses, as text.
    pub names: Vec<String>,
    /// The chain and key as PEM text, for the state directory.
    pub chain_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Certificate {
    // The key is never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("serial", &self.serial)
            .field("names", &self.names)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Certificate {
    /// Parses a PEM chain (leaf first) and its PEM private key (PKCS#8, PKCS#1 or
    /// SEC1), and checks that the key is the leaf's.
    pub fn from_pem(chain_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| TlsError::Pem(format!("the certificate chain: {err}")))?;
        let leaf = chain
            .first()
            .ok_or_else(|| TlsError::Pem("the certificate file holds no certificate".into()))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|err| TlsError::Pem(format!("the private key: {err}")))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(leaf)
            .map_err(|err| TlsError::Pem(format!("the leaf certificate: {err}")))?;
        let validity = parsed.validity();
        let names = match parsed.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(general_name_text)
                .collect(),
            _ => Vec::new(),
        };
        let serial = parsed
            .raw_serial_as_string()
            .replace(':', "")
            .to_uppercase();
        let not_before = to_system_time(validity.not_before.timestamp());
        let not_after = to_system_time(validity.not_after.timestamp());
        let provider = rustls::crypto::ring::default_provider();
        let key = CertifiedKey::from_der(chain.clone(), key, &provider).map_err(|err| {
            TlsError::Pem(format!(
                "the private key does not belong to the certificate, or is of a kind \
                 rustls cannot sign with: {err}"
            ))
        })?;
        Ok(Self {
            key: Arc::new(key),
            serial,
            not_before,
            not_after,
            names,
            chain_pem: chain_pem.to_owned(),
            key_pem: key_pem.to_owned(),
        })
    }

    /// What rustls serves.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        self.key.clone()
    }

    /// When to order the next one: after a third of its life (a 6-day certificate
    /// after 2 days, leaving 4 for retries), but for a long-lived one not before 30
    /// days are left (a 90-day certificate at day 60, not day 30, so that it is not
    /// ordered three times as often as it needs to be).
    pub fn renew_at(&self) -> SystemTime {
        let life = self
            .not_after
            .duration_since(self.not_before)
            .unwrap_or_default();
        let a_third_in = self.not_before + life / 3;
        let thirty_days_left = self
            .not_after
            .checked_sub(RENEW_BEFORE_LONG)
            .unwrap_or(self.not_before);
        a_third_in.max(thirty_days_left)
    }

    /// Whether it names every one of `wanted` (IP addresses compared as addresses).
    pub fn covers(&self, wanted: &[String]) -> bool {
        wanted.iter().all(|want| {
            self.names.iter().any(
                |have| match (want.parse::<IpAddr>(), have.parse::<IpAddr>()) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => want.eq_ignore_ascii_case(have),
                },
            )
        })
    }

    /// Seconds since the Unix epoch at which it expires, for the metric.
    pub fn expiry_unix_secs(&self) -> f64 {
        self.not_after
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

fn general_name_text(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::DNSName(dns) => Some((*dns).to_owned()),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => Some(IpAddr::from(<[u8; 4]>::try_from(*bytes).ok()?).to_string()),
            16 => Some(IpAddr::from(<[u8; 16]>::try_from(*bytes).ok()?).to_string()),
            _ => None,
        },
        _ => None,
    }
}

fn to_system_time(unix_secs: i64) -> SystemTime {
    match u64::try_from(unix_secs) {
        Ok(secs) => UNIX_EPOCH + Duration::from_secs(secs),
        Err(_) => UNIX_EPOCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(names: &[&str], days_ago: i64, days_left: i64) -> (String, String) {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let now = rcgen::date_time_ymd(2026, 1, 1);
        params.not_before = now - time_days(days_ago);
        params.not_after = now + time_days(days_left);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn time_days(days: i64) -> time::Duration {
        time::Duration::days(days)
    }

    #[test]
    fn a_pair_is_read_with_its_names_and_dates() {
        let (cert, key) = self_signed(&["127.0.0.1", "bot.example.com"], 0, 6);
        let parsed = Certificate::from_pem(&cert, &key).unwrap();
        assert_eq!(parsed.names, ["127.0.0.1", "bot.example.com"]);
        assert!(parsed.covers(&["127.0.0.1".into()]));
        assert!(parsed.covers(&["BOT.example.com".into(), "127.0.0.1".into()]));
        assert!(!parsed.covers(&["10.0.0.1".into()]));
        assert!(!parsed.serial.is_empty());
    }

    #[test]
    fn a_short_lived_certificate_renews_after_a_third_of_its_life() {
        let (cert, key) = self_signed(&["127.0.0.1"], 0, 6);
        let c = Certificate::from_pem(&cert, &key).unwrap();
        let two_days = Duration::from_secs(2 * 24 * 3600);
        assert_eq!(c.renew_at(), c.not_before + two_days);
    }

    #[test]
    fn a_ninety_day_certificate_renews_thirty_days_before_expiry() {
        let (cert, key) = self_signed(&["bot.example.com"], 0, 90);
        let c = Certificate::from_pem(&cert, &key).unwrap();
        assert_eq!(c.renew_at(), c.not_after - RENEW_BEFORE_LONG);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let (cert, _) = self_signed(&["127.0.0.1"], 0, 6);
        let (_, other_key) = self_signed(&["127.0.0.1"], 0, 6);
        let err = Certificate::from_pem(&cert, &other_key).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
    }

    #[test]
    fn text_that_is_not_pem_is_refused() {
        let err = Certificate::from_pem("hello", "world").unwrap_err();
        assert!(err.to_string().contains("certificate"), "{err}");
    }
}
