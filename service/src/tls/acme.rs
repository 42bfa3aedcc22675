//! The certificate from an ACME directory (Let's Encrypt by default): ordered when
//! none is stored or the stored one is due, validated by `http-01` on the plain
//! listener, kept in the state directory, and swapped into the running server.
//!
//! The ACME server is contacted only when an order is needed: a restart with a valid
//! stored certificate places no order and needs no network.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::BodyExt;
use instant_acme::{
    Account, AuthorizationStatus, BodyWrapper, BytesResponse, ChallengeType, HttpClient,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use poem::http::StatusCode;
use poem::web::Path;
use poem::{handler, Endpoint, EndpointExt, Response};
use tokio::sync::Notify;
use tracing::{info, warn};

use super::state::{StateDir, StoredAccount};
use super::{Certificate, CertificateSlot, TlsError};
use crate::config::{AcmeIdentifier, Settings};
use crate::metrics;

/// The first wait after a failed order; it doubles up to [`RETRY_MAX`]. Long enough
/// that a misconfigured host does not spend Let's Encrypt's failed-validation limit
/// (5 an hour) in a minute; `systemctl reload` retries at once after a fix.
const RETRY_FIRST: Duration = Duration::from_secs(30);
const RETRY_MAX: Duration = Duration::from_secs(3600);

/// How long the ACME server may take to validate and to issue.
const ORDER_PATIENCE: Duration = Duration::from_secs(90);

/// Where `http-01` answers are served, on the plain listener.
pub const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// Let's Encrypt's only profile for IP addresses (certificates of about 6 days).
const SHORTLIVED_PROFILE: &str = "shortlived";

/// The identifier as the ACME client sends it.
fn to_acme(identifier: &AcmeIdentifier) -> Identifier {
    match identifier {
        AcmeIdentifier::Ip(ip) => Identifier::Ip(*ip),
        AcmeIdentifier::Dns(name) => Identifier::Dns(name.clone()),
    }
}

/// The `http-01` answers being offered: token → key authorization. Served by the
/// plain listener at `/.well-known/acme-challenge/{token}`.
#[derive(Clone, Default)]
pub struct Challenges(Arc<RwLock<HashMap<String, String>>>);

impl Challenges {
    fn offer(&self, token: &str, key_authorization: &str) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.to_owned(), key_authorization.to_owned());
    }

    fn withdraw(&self, token: &str) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(token);
    }

    fn answer(&self, token: &str) -> Option<String> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }

    /// The route that answers them (`GET /.well-known/acme-challenge/:token`).
    pub fn endpoint(&self) -> impl Endpoint<Output = Response> {
        answer_challenge.data(self.clone()).map_to_response()
    }
}

#[handler]
fn answer_challenge(
    Path(token): Path<String>,
    challenges: poem::web::Data<&Challenges>,
) -> Response {
    match challenges.answer(&token) {
        Some(answer) => Response::builder()
            .content_type("application/octet-stream")
            .body(answer),
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("text/plain; charset=utf-8")
            .body("no such ACME challenge"),
    }
}

/// What the ACME task needs from the settings.
pub struct AcmeConfig {
    directory: String,
    directory_ca: Option<PathBuf>,
    contact: Option<String>,
    identifiers: Vec<AcmeIdentifier>,
    state: StateDir,
}

impl AcmeConfig {
    pub fn from_settings(settings: &Settings) -> Result<Self, TlsError> {
        Ok(Self {
            directory: settings.acme_directory.clone(),
            directory_ca: settings.acme_directory_ca.clone(),
            contact: settings.acme_contact.clone(),
            identifiers: settings.acme_identifiers.clone(),
            state: StateDir::resolve(settings.state_dir.as_deref())?,
        })
    }

    fn names(&self) -> Vec<String> {
        self.identifiers.iter().map(ToString::to_string).collect()
    }
}

/// Serves the stored certificate (if any) and starts the task that orders and renews.
/// Fails only on what an operator must fix before starting: an unreadable state
/// directory or directory CA.
pub fn spawn(
    config: AcmeConfig,
    slot: CertificateSlot,
    challenges: Challenges,
    wake: Arc<Notify>,
) -> Result<(), TlsError> {
    let http = http_client(config.directory_ca.as_ref())?;
    // The series exists from the start, so that an alert on its increase sees the
    // first failure.
    metrics::acme_failure_count_starts();
    match config.state.certificate() {
        Ok(Some(stored)) => {
            info!(serial = %stored.serial, names = ?stored.names, "serving the stored certificate");
            slot.set(stored);
        }
        Ok(None) => info!(
            state_dir = %config.state.path().display(),
            "no stored certificate yet: HTTPS starts once the first one is issued"
        ),
        Err(err) => warn!(cause = %err, "the stored certificate is unusable; ordering a new one"),
    }
    let task = Renewal {
        config,
        slot,
        challenges,
        http,
    };
    tokio::spawn(task.run(wake));
    Ok(())
}

struct Renewal {
    config: AcmeConfig,
    slot: CertificateSlot,
    challenges: Challenges,
    http: reqwest::Client,
}

impl Renewal {
    /// Forever: wait until the certificate is due (or a reload), order, swap it in; on
    /// failure keep serving what there is and retry with back-off.
    async fn run(self, wake: Arc<Notify>) {
        let mut retry = RETRY_FIRST;
        loop {
            if let Some(due) = self.next_due() {
                info!(
                    renew_at = %humantime(due),
                    "certificate valid; next renewal then"
                );
                wait_until(due, &wake).await;
                if self.next_due().is_some_and(|due| due > SystemTime::now()) {
                    continue;
                }
            }
            match self.order().await {
                Ok(cert) => {
                    info!(serial = %cert.serial, names = ?cert.names, "certificate issued; serving it");
                    if let Err(err) = self.config.state.save_certificate(&cert) {
                        warn!(cause = %err, "the new certificate is served but not stored; the next start orders again");
                    }
                    self.slot.set(cert);
                    retry = RETRY_FIRST;
                }
                Err(err) => {
                    metrics::acme_failure();
                    warn!(
                        cause = %err,
                        retry_in_secs = retry.as_secs(),
                        "no certificate from the ACME server; serving what there is and trying again"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(retry) => {}
                        () = wake.notified() => {}
                    }
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// When the served certificate is due; `None` when it is due now (or there is
    /// none, or it does not cover the names asked for).
    fn next_due(&self) -> Option<SystemTime> {
        let current = self.slot.current()?;
        if !current.covers(&self.config.names()) {
            info!(have = ?current.names, want = ?self.config.names(), "the certificate does not cover KAKAOBOT_ACME_IDENTIFIERS; ordering one that does");
            return None;
        }
        Some(current.renew_at()).filter(|due| *due > SystemTime::now())
    }

    async fn order(&self) -> Result<Certificate, TlsError> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self.config.identifiers.iter().map(to_acme).collect();
        let mut new_order = NewOrder::new(&identifiers);
        if let Some(profile) = self.profile(&account) {
            new_order = new_order.profile(profile);
        }
        let mut order = account.new_order(&new_order).await.map_err(acme)?;
        let mut offered = Vec::new();
        let validated = self.validate(&mut order, &mut offered).await;
        for token in &offered {
            self.challenges.withdraw(token);
        }
        validated?;
        let key_pem = order.finalize().await.map_err(acme)?;
        let patience = RetryPolicy::new().timeout(ORDER_PATIENCE);
        let chain_pem = order.poll_certificate(&patience).await.map_err(acme)?;
        Certificate::from_pem(&chain_pem, &key_pem)
    }

    /// Offers the `http-01` answer of every pending authorization and waits until the
    /// server has checked them all.
    async fn validate(
        &self,
        order: &mut instant_acme::Order,
        offered: &mut Vec<String>,
    ) -> Result<(), TlsError> {
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization.map_err(acme)?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(TlsError::Acme(format!(
                        "an authorization is {other:?}; nothing to answer"
                    )))
                }
            }
            let mut challenge = authorization
                .challenge(ChallengeType::Http01)
                .ok_or_else(|| TlsError::Acme("the server offers no http-01 challenge".into()))?;
            self.challenges
                .offer(&challenge.token, challenge.key_authorization().as_str());
            offered.push(challenge.token.clone());
            challenge.set_ready().await.map_err(acme)?;
        }
        let patience = RetryPolicy::new().timeout(ORDER_PATIENCE);
        match order.poll_ready(&patience).await.map_err(acme)? {
            OrderStatus::Ready => Ok(()),
            status => Err(TlsError::Acme(format!(
                "the order is {status:?} after validation: is port 80 of {} open to the \
                 internet and served by kakaobot?",
                self.config.names().join(", ")
            ))),
        }
    }

    /// Let's Encrypt issues for IP addresses only under its `shortlived` profile, so
    /// any IP asks for it — where the directory offers profiles at all. A directory
    /// without profiles (a private CA, an older test server) is asked for its
    /// default.
    fn profile(&self, account: &Account) -> Option<&'static str> {
        let has_ip = self
            .config
            .identifiers
            .iter()
            .any(|id| matches!(id, AcmeIdentifier::Ip(_)));
        let offered = account.profiles().any(|p| p.name == SHORTLIVED_PROFILE);
        (has_ip && offered).then_some(SHORTLIVED_PROFILE)
    }

    /// The stored account for this directory, or a new one (then stored).
    async fn account(&self) -> Result<Account, TlsError> {
        let builder = || Account::builder_with_http(Box::new(AcmeHttp(self.http.clone())));
        let stored = match self.config.state.account() {
            Ok(stored) => stored.filter(|s| s.directory == self.config.directory),
            Err(err) => {
                warn!(cause = %err, "making a new ACME account");
                None
            }
        };
        if let Some(stored) = stored {
            return builder()
                .from_credentials(stored.credentials)
                .await
                .map_err(acme);
        }
        let contact: Vec<&str> = self.config.contact.as_deref().into_iter().collect();
        let (account, credentials) = builder()
            .create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.config.directory.clone(),
                None,
            )
            .await
            .map_err(acme)?;
        info!(directory = %self.config.directory, "ACME account created");
        self.config.state.save_account(&StoredAccount {
            directory: self.config.directory.clone(),
            credentials,
        })?;
        Ok(account)
    }
}

fn acme(err: instant_acme::Error) -> TlsError {
    TlsError::Acme(err.to_string())
}

async fn wait_until(due: SystemTime, wake: &Notify) {
    let wait = due
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        () = wake.notified() => {}
    }
}

fn humantime(at: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The ACME client's HTTP through reqwest: the process's one HTTPS stack, Mozilla's
/// roots plus `KAKAOBOT_ACME_DIRECTORY_CA`.
fn http_client(extra_root: Option<&PathBuf>) -> Result<reqwest::Client, TlsError> {
    crate::install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .https_only(true)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30));
    if let Some(path) = extra_root {
        let pem = std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let root = reqwest::Certificate::from_pem(&pem).map_err(|err| {
            TlsError::Pem(format!(
                "KAKAOBOT_ACME_DIRECTORY_CA {}: {err}",
                path.display()
            ))
        })?;
        builder = builder.add_root_certificate(root);
    }
    builder
        .build()
        .map_err(|err| TlsError::Config(format!("the ACME HTTP client: {err}")))
}

struct AcmeHttp(reqwest::Client);

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let client = self.0.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(never) => match never {},
            };
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|err| instant_acme::Error::Other(Box::new(err)))?;
            Ok(BytesResponse::from(http::Response::from(response)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_is_answered_only_while_offered() {
        let challenges = Challenges::default();
        challenges.offer("tok", "tok.thumb");
        assert_eq!(challenges.answer("tok").as_deref(), Some("tok.thumb"));
        challenges.withdraw("tok");
        assert!(challenges.answer("tok").is_none());
    }
}
