//! Settings: built-in defaults, then an optional TOML file, then `KAKAOBOT_*`
//! environment variables (layered with figment), loaded once at start-up and
//! validated.
//!
//! Every setting is declared once, in the `settings!` invocation below: its field,
//! type, file key, default and doc. The macro makes the [`Settings`] struct and the
//! [`SETTINGS`] table; the defaults are the text an operator would write in the env
//! file, parsed by the same code as the file and the environment, so the default a
//! README shows and the default the code uses cannot disagree (a unit test compares
//! the README table and `deploy/kakaobot.env.example` with [`SETTINGS`]).
//!
//! Adding a setting: one entry below, one row in the README's configuration table,
//! one commented line in `deploy/kakaobot.env.example`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::bots::BotName;

/// The prefix of every environment variable kakaobot reads.
pub const ENV_PREFIX: &str = "KAKAOBOT_";

/// One setting as the docs show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The key in the settings file; the environment variable is
    /// `KAKAOBOT_<KEY>` (see [`Setting::env`]).
    pub key: &'static str,
    /// The default, as written in the env file (`""`: unset).
    pub default: &'static str,
    /// What it means.
    pub doc: &'static str,
}

impl Setting {
    /// The environment variable: `KAKAOBOT_` and the key in capitals.
    pub fn env(&self) -> String {
        format!("{ENV_PREFIX}{}", self.key.to_ascii_uppercase())
    }
}

/// Declares the settings: for each, `/// doc`, `field: Type`, the file key, the
/// default (as env-file text) and the serde adapter that reads both a TOML value and
/// the environment's text.
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident: $ty:ty, key $key:tt, default $default:tt, with $with:tt;
    )+) => {
        /// The service's configuration. Built by [`Settings::load`]; `Debug` never
        /// shows the Redis URL.
        #[derive(Clone, Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Settings {
            $(
                $(#[doc = $doc])+
                #[serde(rename = $key, with = $with)]
                pub $field: $ty,
            )+
        }

        /// Every setting, in the order the README lists them.
        pub const SETTINGS: &[Setting] = &[
            $(Setting { key: $key, default: $default, doc: concat!($($doc),+) },)+
        ];
    };
}

settings! {
    /// Address to bind when systemd passed no socket. `0.0.0.0:5000` to be reachable
    /// from outside; port 0 picks a free port.
    listen: SocketAddr, key "listen", default "127.0.0.1:5000", with "address";
    /// Redis URL: `redis://[[user]:password@]host:port[/db]` or
    /// `unix:///path/redis.sock[?db=N&pass=…]`. Empty keeps state in memory (not
    /// shared between processes, lost on restart). May hold a password, so it is a
    /// secret: never logged.
    redis_url: Option<SecretString>, key "redis_url", default "", with "optional_secret";
    /// Redis Cluster seed nodes, comma-separated `host:port` or
    /// `redis[s]://[[user]:password@]host:port` (TLS with `rediss://`, as ElastiCache's
    /// in-transit encryption needs); selects cluster mode. Exclusive with `redis_url`.
    /// May hold a password, so it is a secret: never logged.
    redis_cluster: Option<SecretString>, key "redis_cluster", default "", with "optional_secret";
    /// A PEM CA bundle trusted for `rediss://` instead of the built-in roots, for a
    /// server whose certificate a private CA signed (ElastiCache needs none).
    redis_tls_ca: Option<PathBuf>, key "redis_tls_ca", default "", with "optional_path";
    /// The bot at the root URL (`/keyboard`, `/message`, …): `quiz` or `lunch`.
    default_bot: BotName, key "default_bot", default "quiz", with "parsed";
    /// Every Redis key starts with `{<prefix>:` (inside the hash tag that keeps one
    /// user's or one group's keys on one cluster slot), so several deployments can
    /// share one Redis.
    key_prefix: String, key "key_prefix", default "kakaobot", with "text";
    /// Days a user's data in Redis (score, asked questions, group, friend marker) and
    /// a group's are kept after they were last used; every message that uses them
    /// starts the count again (a key it only reads, once a day). It also lets a Redis
    /// with a memory limit and `maxmemory-policy volatile-lru` evict the least
    /// recently used instead of refusing writes. `kakaobot migrate` gives it to keys
    /// written before it existed.
    redis_key_ttl: Duration, key "redis_key_ttl_days", default "90", with "days";
    /// A quiz TOML file replacing the embedded question bank; empty uses the embedded
    /// one.
    question_bank: Option<PathBuf>, key "question_bank", default "", with "optional_path";
    /// Log format on stdout: `text`, or `json` (one object per line) for journald and
    /// log shippers.
    log_format: LogFormat, key "log_format", default "text", with "parsed";
    /// Milliseconds one attempt to connect to Redis may take. A store call fails
    /// within a second even when Redis's host drops packets: 3 attempts of 200 ms
    /// plus at most 300 ms of back-off.
    redis_connect_timeout: Duration, key "redis_connect_timeout_ms", default "200", with "millis";
    /// Milliseconds one Redis command, pipeline or script may take.
    redis_response_timeout: Duration, key "redis_response_timeout_ms", default "500", with "millis";
    /// Milliseconds a `/message` may spend before the fallback reply is sent. Kakao
    /// gives up after 5 s; answering within 1 s leaves room for the network.
    reply_budget: Duration, key "reply_budget_ms", default "800", with "millis";
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT, after the
    /// one-second wait for connections accepted just before; then every connection
    /// is closed. Keep it below the unit's `TimeoutStopSec=`.
    shutdown_grace: Duration, key "shutdown_grace_secs", default "10", with "secs";
    /// Seconds a client has to send a request's header, counted from the connection's
    /// opening or from the end of its previous response, so it also closes silent
    /// and idle keep-alive connections.
    header_timeout: Duration, key "header_timeout_secs", default "10", with "secs";
    /// Seconds a client has to send a request's body once its header has arrived;
    /// a slower body gets 408 and the connection is closed.
    body_timeout: Duration, key "body_timeout_secs", default "10", with "secs";
    /// Most connections served at once. At the limit, each new connection takes the
    /// place of the one that has gone longest without a request (one that sent
    /// nothing yet, else one idle between requests), so silent clients cannot hold
    /// the limit. Keep it well below the unit's `LimitNOFILE=`, so Redis and the
    /// metrics listener always find a file descriptor.
    max_connections: usize, key "max_connections", default "4096", with "number";
    /// When set, a skill request must carry it in the `X-Kakaobot-Skill-Secret` header
    /// (added in the skill's settings in Kakao's admin centre); empty leaves skills
    /// open to anyone who can reach the port. A secret: never logged.
    skill_secret: Option<SecretString>, key "skill_secret", default "", with "optional_secret";
    /// Hosts (`host` or `host:port`, comma-separated) that callback URLs may name
    /// besides `*.kakao.com`, over http or https; for tests and private relays. Empty:
    /// Kakao only, over https.
    callback_allowed_hosts: Vec<String>, key "callback_allowed_hosts", default "", with "list";
    /// Most skill answers waiting for a slow store to be sent to their callback URL;
    /// over it, a request with a callback URL gets the plain answer (the "try again"
    /// one while the store is slow). Each waiting answer holds a few KiB, and, when
    /// sent, one of at most 8 outgoing connections. 0 turns callbacks off.
    callback_max_pending: usize, key "callback_max_pending", default "1024", with "number";
    /// Address of the Prometheus metrics listener (`GET /metrics`), never the public
    /// port; empty turns metrics off.
    metrics_listen: Option<SocketAddr>, key "metrics_listen", default "127.0.0.1:9464", with "optional_address";
    /// Address of the HTTPS listener when systemd passed no socket named `https`
    /// (`0.0.0.0:443`); empty turns HTTPS off. Needs a certificate: ACME
    /// identifiers, or a certificate and key file.
    tls_listen: Option<SocketAddr>, key "tls_listen", default "", with "optional_address";
    /// `false`: once Kakao calls the `https://` URL, the plain listener answers only
    /// ACME challenges and `/health`. `true` keeps the API on plain HTTP too, for
    /// skills registered with an `http://` URL.
    plain_http_api: bool, key "plain_http_api", default "true", with "parsed";
    /// The names the certificate is ordered for, comma-separated: IP addresses (the
    /// Elastic IP; any IP means Let's Encrypt's 6-day `shortlived` profile) and/or
    /// DNS names. Exclusive with `tls_cert`.
    acme_identifiers: Vec<AcmeIdentifier>, key "acme_identifiers", default "", with "parsed_list";
    /// The ACME directory URL. Let's Encrypt's staging directory
    /// (`https://acme-staging-v02.api.letsencrypt.org/directory`) issues untrusted
    /// certificates under far higher rate limits, for trying things out.
    acme_directory: String, key "acme_directory", default "https://acme-v02.api.letsencrypt.org/directory", with "text";
    /// A PEM file of one more root to trust when talking to the ACME directory (a
    /// private CA, a test server).
    acme_directory_ca: Option<PathBuf>, key "acme_directory_ca", default "", with "optional_path";
    /// Optional `mailto:` address for the ACME account (expiry warnings from the CA).
    acme_contact: Option<String>, key "acme_contact", default "", with "optional_text";
    /// The operator's own certificate chain (PEM, leaf first), instead of ACME; re-read
    /// with the key on SIGHUP (`systemctl reload kakaobot`), where a bad pair is
    /// refused and the one in use stays.
    tls_cert: Option<PathBuf>, key "tls_cert", default "", with "optional_path";
    /// The private key of `tls_cert` (PEM). Never logged.
    tls_key: Option<PathBuf>, key "tls_key", default "", with "optional_path";
    /// Where the ACME account key, the certificate and its key are kept (files
    /// 0600). Empty: systemd's `$STATE_DIRECTORY` (the unit's `StateDirectory=`).
    state_dir: Option<PathBuf>, key "state_dir", default "", with "optional_path";
}

/// One name the certificate is for: an IP address (the Elastic IP) or a DNS name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcmeIdentifier {
    Ip(IpAddr),
    Dns(String),
}

impl FromStr for AcmeIdentifier {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        let name = text.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |label: &str| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if name.len() <= 253 && name.split('.').all(label_ok) {
            Ok(Self::Dns(name))
        } else {
            Err(format!(
                "'{text}' is neither an IP address nor a DNS name: list the Elastic IP \
                 (e.g. 203.0.113.7) and/or your own domain, separated by commas"
            ))
        }
    }
}

impl fmt::Display for AcmeIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => ip.fmt(f),
            Self::Dns(name) => f.write_str(name),
        }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format '{other}': use text or json")),
        }
    }
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

impl Default for Settings {
    /// The built-in defaults alone.
    fn default() -> Self {
        // The defaults are static text checked by the unit tests below, so failing
        // here is a broken build, not a bad input.
        Settings::load_from(None, |_| None).expect("the built-in defaults are valid")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read settings file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// A value that does not parse, or an unknown file key. figment's message names
    /// the key (the environment variable, or the file key and the file) and the
    /// value.
    #[error("{0}")]
    Load(Box<figment::Error>),
    #[error("{key} = '{value}' is not valid: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
    #[error("{key} is missing: {reason}")]
    Missing {
        key: &'static str,
        reason: &'static str,
    },
    #[error("{first} and {second} are both set: {reason}")]
    Conflict {
        first: &'static str,
        second: &'static str,
        reason: &'static str,
    },
}

impl Settings {
    /// Loads defaults, then `file`, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, |name| std::env::var(name).ok())
    }

    /// Like [`Settings::load`] with the environment given as a function, for tests.
    pub fn load_from(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Layer::defaults());
        if let Some(path) = file {
            // figment skips a missing file silently; a file the operator named must
            // exist.
            std::fs::metadata(path).map_err(|source| ConfigError::Read {
                path: path.display().to_string(),
                source,
            })?;
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Layer::environment(env));
        let settings: Settings = figment
            .extract()
            .map_err(|err| ConfigError::Load(Box::new(err)))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: &str, reason: &str| ConfigError::Invalid {
            key: format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()),
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        if self.key_prefix.is_empty()
            || self.key_prefix.len() > 64
            || self
                .key_prefix
                .contains(|c: char| c.is_whitespace() || matches!(c, ':' | '{' | '}'))
        {
            // Braces would end the keys' Redis Cluster hash tag early.
            return Err(invalid(
                "key_prefix",
                &self.key_prefix,
                "use 1 to 64 characters without spaces, ':', '{' or '}'",
            ));
        }
        if self.redis_url.is_some() && self.redis_cluster.is_some() {
            return Err(ConfigError::Conflict {
                first: "redis_url (KAKAOBOT_REDIS_URL)",
                second: "redis_cluster (KAKAOBOT_REDIS_CLUSTER)",
                reason: "set redis_url for a single Redis or redis_cluster for a Redis Cluster, not both",
            });
        }
        if let Some(url) = &self.redis_url {
            let url = url.expose_secret();
            if !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("unix://"))
            {
                return Err(invalid(
                    "redis_url",
                    &redact_url(url),
                    "expected redis[s]://[[user]:password@]host:port[/db] or unix:///path",
                ));
            }
        }
        for node in self.redis_cluster_nodes() {
            let bare = node
                .strip_prefix("redis://")
                .or_else(|| node.strip_prefix("rediss://"))
                .map(|rest| {
                    rest.rsplit('@')
                        .next()
                        .unwrap_or(rest)
                        .trim_end_matches('/')
                });
            let ok = bare.is_some_and(|hp| {
                hp.rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            });
            if !ok {
                return Err(invalid(
                    "redis_cluster",
                    &redact_url(&node),
                    "expected seed nodes as host:port or redis[s]://[user:password@]host:port, separated by commas",
                ));
            }
        }
        for host in &self.callback_allowed_hosts {
            if host.contains(['/', '@', '*']) || host.chars().any(char::is_whitespace) {
                return Err(invalid(
                    "callback_allowed_hosts",
                    host,
                    "name hosts as host or host:port, separated by commas (no scheme, path or wildcard)",
                ));
            }
        }
        for (key, d) in [
            ("redis_connect_timeout_ms", self.redis_connect_timeout),
            ("redis_response_timeout_ms", self.redis_response_timeout),
            ("reply_budget_ms", self.reply_budget),
        ] {
            if d.is_zero() || d > Duration::from_secs(4) {
                return Err(invalid(
                    key,
                    &d.as_millis().to_string(),
                    "use 1 to 4000 ms: Kakao gives up after 5 s",
                ));
            }
        }
        for (key, d) in [
            ("header_timeout_secs", self.header_timeout),
            ("body_timeout_secs", self.body_timeout),
        ] {
            if d.is_zero() || d > Duration::from_secs(300) {
                return Err(invalid(
                    key,
                    &d.as_secs().to_string(),
                    "use 1 to 300 s: a connection that sends nothing must be closed",
                ));
            }
        }
        let days = self.redis_key_ttl.as_secs() / DAY_SECS;
        if !(1..=3650).contains(&days) {
            return Err(invalid(
                "redis_key_ttl_days",
                &days.to_string(),
                "use 1 to 3650 days: how long a user's data outlives their last message",
            ));
        }
        if self.max_connections == 0 {
            return Err(invalid(
                "max_connections",
                "0",
                "use at least 1, and well below the open-file limit (LimitNOFILE)",
            ));
        }
        self.validate_tls()?;
        if let Some(metrics) = self
            .metrics_listen
            .filter(|m| m.port() != 0 && m.port() == self.listen.port())
        {
            return Err(invalid(
                "metrics_listen",
                &metrics.to_string(),
                "metrics must not share the public port; use 127.0.0.1:9464, or empty to turn them off",
            ));
        }
        Ok(())
    }

    /// HTTPS needs exactly one source of certificates, and a source is only useful
    /// with HTTPS on.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let acme = !self.acme_identifiers.is_empty();
        let files = self.tls_cert.is_some() || self.tls_key.is_some();
        let conflict = |first, second, reason| ConfigError::Conflict {
            first,
            second,
            reason,
        };
        if acme && files {
            return Err(conflict(
                "acme_identifiers (KAKAOBOT_ACME_IDENTIFIERS)",
                "tls_cert (KAKAOBOT_TLS_CERT)",
                "the certificate comes from ACME or from your files: set one of them",
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Missing {
                key: "KAKAOBOT_TLS_CERT and KAKAOBOT_TLS_KEY",
                reason: "set both: the certificate chain and its private key",
            });
        }
        match self.tls_listen {
            Some(_) if !acme && !files => Err(ConfigError::Missing {
                key: "KAKAOBOT_ACME_IDENTIFIERS",
                reason: "KAKAOBOT_TLS_LISTEN needs a certificate: list the names to \
                         order one for (the Elastic IP), or set KAKAOBOT_TLS_CERT and \
                         KAKAOBOT_TLS_KEY",
            }),
            None if acme || files => Err(ConfigError::Missing {
                key: "KAKAOBOT_TLS_LISTEN",
                reason: "a certificate is configured but HTTPS is off: set it (0.0.0.0:443)",
            }),
            None if !self.plain_http_api => Err(ConfigError::Missing {
                key: "KAKAOBOT_TLS_LISTEN",
                reason: "KAKAOBOT_PLAIN_HTTP_API=false leaves the API nowhere without HTTPS",
            }),
            _ if acme && !self.acme_directory.starts_with("https://") => {
                Err(ConfigError::Invalid {
                    key: "KAKAOBOT_ACME_DIRECTORY".into(),
                    value: self.acme_directory.clone(),
                    reason: "an ACME directory is an https:// URL".into(),
                })
            }
            _ if self
                .acme_contact
                .as_ref()
                .is_some_and(|c| !c.starts_with("mailto:")) =>
            {
                Err(ConfigError::Invalid {
                    key: "KAKAOBOT_ACME_CONTACT".into(),
                    value: self.acme_contact.clone().unwrap_or_default(),
                    reason: "write it as mailto:you@example.com".into(),
                })
            }
            Some(tls) if tls.port() != 0 && tls.port() == self.listen.port() => {
                Err(ConfigError::Invalid {
                    key: "KAKAOBOT_TLS_LISTEN".into(),
                    value: tls.to_string(),
                    reason: "HTTPS needs its own port (443), not KAKAOBOT_LISTEN's".into(),
                })
            }
            _ => Ok(()),
        }
    }

    /// The cluster seed nodes as URLs (`host:port` becomes `redis://host:port`); empty
    /// outside cluster mode.
    pub fn redis_cluster_nodes(&self) -> Vec<String> {
        let Some(nodes) = &self.redis_cluster else {
            return Vec::new();
        };
        nodes
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                if n.contains("://") {
                    n.to_owned()
                } else {
                    format!("redis://{n}")
                }
            })
            .collect()
    }

    /// The Redis URL with any password hidden, for log lines.
    pub fn redis_url_for_logs(&self) -> Option<String> {
        self.redis_url
            .as_ref()
            .map(|url| redact_url(url.expose_secret()))
    }
}

/// A figment layer of settings given as text, keyed by file key: the built-in
/// defaults, or the environment. Env values stay strings (figment's own `Env`
/// provider would guess types, turning a key prefix `123` into a number); the
/// adapters below parse them.
struct Layer {
    name: &'static str,
    values: Dict,
    /// Errors name the environment variable, not the file key.
    env_names: bool,
}

impl Layer {
    fn defaults() -> Self {
        Self {
            name: "built-in defaults",
            values: SETTINGS
                .iter()
                .map(|s| (s.key.to_owned(), Value::from(s.default.to_owned())))
                .collect(),
            env_names: false,
        }
    }

    fn environment(env: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            name: "environment variable",
            values: SETTINGS
                .iter()
                .filter_map(|s| env(&s.env()).map(|v| (s.key.to_owned(), Value::from(v))))
                .collect(),
            env_names: true,
        }
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        let metadata = Metadata::named(self.name);
        if self.env_names {
            metadata.interpolater(|_profile: &Profile, keys: &[&str]| {
                format!("{ENV_PREFIX}{}", keys.join("_").to_ascii_uppercase())
            })
        } else {
            metadata
        }
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

/// Serde adapters: each reads a TOML value or the environment's text.
mod text {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        String::deserialize(d)
    }
}

/// A value whose `FromStr` says what is wrong with bad text.
mod parsed {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::de::Error;
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr,
        T::Err: Display,
    {
        let text = String::deserialize(d)?;
        // The type's own message names the bad value and the good ones.
        text.trim().parse().map_err(D::Error::custom)
    }
}

/// An address and port.
mod address {
    use std::net::SocketAddr;

    use serde::de::{Error, Unexpected};
    use serde::{Deserialize, Deserializer};

    pub const EXPECTED: &str = "an address and port such as 127.0.0.1:5000 or 0.0.0.0:5000";

    pub fn parse<E: Error>(text: &str) -> Result<SocketAddr, E> {
        text.trim()
            .parse()
            .map_err(|_| E::invalid_value(Unexpected::Str(text), &EXPECTED))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
        parse(&String::deserialize(d)?)
    }
}

/// Like [`address`]; empty text is `None`.
mod optional_address {
    use std::net::SocketAddr;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        super::address::parse(&text).map(Some)
    }
}

/// A path; empty is `None`.
mod optional_path {
    use std::path::PathBuf;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        let text = String::deserialize(d)?;
        let text = text.trim();
        Ok((!text.is_empty()).then(|| PathBuf::from(text)))
    }
}

/// A secret; empty is `None`. Never echoed in an error: any string is accepted here
/// and checked, redacted, by `validate`.
mod optional_secret {
    use secrecy::SecretString;
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
        let text = String::deserialize(d)?;
        let text = text.trim();
        Ok((!text.is_empty()).then(|| SecretString::from(text.to_owned())))
    }
}

/// Text; empty (or blank) is `None`.
mod optional_text {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        let text = String::deserialize(d)?;
        let text = text.trim();
        Ok((!text.is_empty()).then(|| text.to_owned()))
    }
}

/// A [`list`] whose items each parse with `FromStr`, whose message names the bad one.
mod parsed_list {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::de::Error;
    use serde::Deserializer;

    pub fn deserialize<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr,
        T::Err: Display,
    {
        super::list::deserialize(d)?
            .iter()
            .map(|item| item.parse().map_err(D::Error::custom))
            .collect()
    }
}

/// A list of words: a TOML array of strings, or comma-separated text; empty items
/// are dropped.
mod list {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Items {
        Text(String),
        Array(Vec<String>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let items = match Items::deserialize(d)? {
            Items::Text(text) => text.split(',').map(str::to_owned).collect(),
            Items::Array(items) => items,
        };
        Ok(items
            .into_iter()
            .map(|item| item.trim().to_owned())
            .filter(|item| !item.is_empty())
            .collect())
    }
}

/// A whole number: a TOML integer, or digits in the environment.
mod number {
    use serde::de::{Error, Unexpected, Visitor};
    use serde::Deserializer;

    pub fn deserialize<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<u64>,
    {
        struct Whole;
        impl Visitor<'_> for Whole {
            type Value = u64;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<u64, E> {
                Ok(v)
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<u64, E> {
                u64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<u64, E> {
                v.trim()
                    .parse()
                    .map_err(|_| E::invalid_value(Unexpected::Str(v), &self))
            }
        }
        let n = d.deserialize_any(Whole)?;
        T::try_from(n)
            .map_err(|_| D::Error::invalid_value(Unexpected::Unsigned(n), &"a smaller number"))
    }
}

/// A whole number of milliseconds.
mod millis {
    use std::time::Duration;

    use serde::Deserializer;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        super::number::deserialize(d).map(Duration::from_millis)
    }
}

/// A whole number of seconds.
mod secs {
    use std::time::Duration;

    use serde::Deserializer;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        super::number::deserialize(d).map(Duration::from_secs)
    }
}

/// Seconds in a day.
const DAY_SECS: u64 = 24 * 3600;

/// A whole number of days.
mod days {
    use std::time::Duration;

    use serde::Deserializer;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        super::number::deserialize(d)
            .map(|days: u64| Duration::from_secs(days.saturating_mul(super::DAY_SECS)))
    }
}

/// Hides whatever in a Redis URL may be secret, for logs and error messages:
/// the user and password before `@`, and every query parameter's value but `db` and
/// `protocol` (a Unix socket URL carries its password as `?pass=`). Text that is not
/// a URL is hidden entirely.
///
/// `redis://:pw@host:6379/0` → `redis://***@host:6379/0`;
/// `unix:///run/redis.sock?pass=pw&db=1` → `unix:///run/redis.sock?pass=***&db=1`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(hidden: not a URL)".to_owned();
    };
    // The password may itself contain '@', '?' or '/': everything up to the last
    // '@' is user information.
    let (userinfo, rest) = match rest.rfind('@') {
        Some(at) => (true, &rest[at + 1..]),
        None => (false, rest),
    };
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (rest, None),
    };
    let mut out = format!("{scheme}://");
    if userinfo {
        out.push_str("***@");
    }
    out.push_str(location);
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, value)) if matches!(name, "db" | "protocol") => {
                    format!("{name}={value}")
                }
                Some((name, _)) => format!("{name}=***"),
                None => "***".to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};
    use std::io::Write;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn load_err(pairs: &[(&str, &str)]) -> String {
        Settings::load_from(None, env(pairs))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_key_lifetime_default_is_the_stores() {
        assert_eq!(
            Settings::default().redis_key_ttl,
            crate::store::DEFAULT_KEY_TTL
        );
    }

    #[test]
    fn a_key_lifetime_outside_a_day_to_ten_years_is_refused_naming_the_variable() {
        for days in ["0", "3651"] {
            let err = load_err(&[("KAKAOBOT_REDIS_KEY_TTL_DAYS", days)]);
            assert!(err.contains("KAKAOBOT_REDIS_KEY_TTL_DAYS"), "{err}");
        }
        let s = Settings::load_from(None, env(&[("KAKAOBOT_REDIS_KEY_TTL_DAYS", "30")])).unwrap();
        assert_eq!(s.redis_key_ttl, Duration::from_secs(30 * 24 * 3600));
    }

    #[test]
    fn defaults_need_nothing() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:5000");
        assert!(s.redis_url.is_none());
        assert_eq!(s.default_bot, BotName::Quiz);
        assert_eq!(s.key_prefix, "kakaobot");
        assert_eq!(s.header_timeout, Duration::from_secs(10));
        assert_eq!(s.metrics_listen.unwrap().to_string(), "127.0.0.1:9464");
    }

    /// The store's own defaults (used by its tests) and the service's are one
    /// policy; they once said 200 and 500 ms.
    #[test]
    fn the_redis_timeouts_default_as_the_store_does() {
        let s = Settings::default();
        let store = crate::store::RedisTimeouts::default();
        assert_eq!(s.redis_connect_timeout, store.connect);
        assert_eq!(s.redis_response_timeout, store.response);
    }

    #[test]
    fn the_environment_overrides_the_file_which_overrides_defaults() {
        let f = file(
            "listen = \"0.0.0.0:6000\"\ndefault_bot = \"lunch\"\nkey_prefix = \"file\"\n\
             reply_budget_ms = 700\n",
        );
        let s = Settings::load_from(
            Some(f.path()),
            env(&[
                ("KAKAOBOT_KEY_PREFIX", "env"),
                ("KAKAOBOT_HEADER_TIMEOUT_SECS", "3"),
            ]),
        )
        .unwrap();
        assert_eq!(s.listen.to_string(), "0.0.0.0:6000");
        assert_eq!(s.default_bot, BotName::Lunch);
        assert_eq!(s.key_prefix, "env");
        assert_eq!(s.reply_budget, Duration::from_millis(700));
        assert_eq!(s.header_timeout, Duration::from_secs(3));
    }

    #[test]
    fn identifiers_are_ip_addresses_or_dns_names() {
        assert_eq!(
            "203.0.113.7".parse::<AcmeIdentifier>().unwrap(),
            AcmeIdentifier::Ip("203.0.113.7".parse().unwrap())
        );
        assert_eq!(
            " Bot.Example.COM. ".parse::<AcmeIdentifier>().unwrap(),
            AcmeIdentifier::Dns("bot.example.com".into())
        );
        assert!("2001:db8::1".parse::<AcmeIdentifier>().is_ok());
        for bad in [
            "http://1.2.3.4",
            "1.2.3.4:443",
            "-bad.example",
            "a b",
            "",
            "*.example.com",
        ] {
            let err = bad.parse::<AcmeIdentifier>().unwrap_err();
            assert!(
                err.contains("neither an IP address nor a DNS name"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn https_needs_exactly_one_source_of_certificates() {
        let ok = Settings::load_from(
            None,
            env(&[
                ("KAKAOBOT_TLS_LISTEN", "0.0.0.0:443"),
                ("KAKAOBOT_ACME_IDENTIFIERS", "203.0.113.7, bot.example.com"),
            ]),
        )
        .unwrap();
        assert_eq!(ok.acme_identifiers.len(), 2);
        let err = load_err(&[("KAKAOBOT_TLS_LISTEN", "0.0.0.0:443")]);
        assert!(err.contains("KAKAOBOT_ACME_IDENTIFIERS"), "{err}");
        let err = load_err(&[("KAKAOBOT_ACME_IDENTIFIERS", "203.0.113.7")]);
        assert!(err.contains("KAKAOBOT_TLS_LISTEN"), "{err}");
        let err = load_err(&[
            ("KAKAOBOT_TLS_LISTEN", "0.0.0.0:443"),
            ("KAKAOBOT_ACME_IDENTIFIERS", "203.0.113.7"),
            ("KAKAOBOT_TLS_CERT", "/etc/cert.pem"),
            ("KAKAOBOT_TLS_KEY", "/etc/key.pem"),
        ]);
        assert!(err.contains("both set"), "{err}");
        let err = load_err(&[
            ("KAKAOBOT_TLS_LISTEN", "0.0.0.0:443"),
            ("KAKAOBOT_TLS_CERT", "/etc/cert.pem"),
        ]);
        assert!(err.contains("set both"), "{err}");
        let err = load_err(&[("KAKAOBOT_PLAIN_HTTP_API", "false")]);
        assert!(err.contains("KAKAOBOT_TLS_LISTEN"), "{err}");
    }

    #[test]
    fn a_malformed_acme_identifier_is_named_with_its_variable() {
        let err = load_err(&[
            ("KAKAOBOT_TLS_LISTEN", "0.0.0.0:443"),
            ("KAKAOBOT_ACME_IDENTIFIERS", "203.0.113.7,http://bot"),
        ]);
        assert!(
            err.contains("KAKAOBOT_ACME_IDENTIFIERS") && err.contains("http://bot"),
            "{err}"
        );
        let err = load_err(&[
            ("KAKAOBOT_TLS_LISTEN", "0.0.0.0:443"),
            ("KAKAOBOT_ACME_IDENTIFIERS", "203.0.113.7"),
            ("KAKAOBOT_ACME_CONTACT", "me@example.com"),
        ]);
        assert!(err.contains("mailto:"), "{err}");
    }

    #[test]
    fn a_key_prefix_of_digits_stays_text() {
        let s = Settings::load_from(None, env(&[("KAKAOBOT_KEY_PREFIX", "123")])).unwrap();
        assert_eq!(s.key_prefix, "123");
    }

    #[test]
    fn an_unknown_file_key_is_named_in_the_error() {
        let f = file("lissten = \"0.0.0.0:6000\"\n");
        let err = Settings::load_from(Some(f.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lissten"), "{err}");
    }

    #[test]
    fn a_missing_settings_file_is_an_error() {
        let err = Settings::load_from(Some(Path::new("/nonexistent/kakaobot.toml")), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/kakaobot.toml"), "{err}");
    }

    #[test]
    fn bad_values_name_their_variable_their_value_and_what_is_expected() {
        let err = load_err(&[("KAKAOBOT_DEFAULT_BOT", "weather")]);
        assert!(
            err.contains("KAKAOBOT_DEFAULT_BOT")
                && err.contains("weather")
                && err.contains("quiz and lunch"),
            "{err}"
        );
        let err = load_err(&[("KAKAOBOT_LISTEN", "5000")]);
        assert!(
            err.contains("KAKAOBOT_LISTEN") && err.contains("5000"),
            "{err}"
        );
        let err = load_err(&[("KAKAOBOT_REPLY_BUDGET_MS", "soon")]);
        assert!(
            err.contains("KAKAOBOT_REPLY_BUDGET_MS")
                && err.contains("soon")
                && err.contains("whole number"),
            "{err}"
        );
        let err = load_err(&[("KAKAOBOT_LOG_FORMAT", "xml")]);
        assert!(err.contains("text or json"), "{err}");
        let err = load_err(&[("KAKAOBOT_HEADER_TIMEOUT_SECS", "0")]);
        assert!(err.contains("KAKAOBOT_HEADER_TIMEOUT_SECS"), "{err}");
    }

    #[test]
    fn a_bad_file_value_names_the_file_key() {
        let f = file("reply_budget_ms = \"soon\"\n");
        let err = Settings::load_from(Some(f.path()), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("reply_budget_ms") && err.contains("soon"),
            "{err}"
        );
    }

    #[test]
    fn cluster_seeds_are_read_as_urls_and_exclude_a_single_redis_url() {
        let s = Settings::load_from(
            None,
            env(&[(
                "KAKAOBOT_REDIS_CLUSTER",
                "10.0.0.1:7000, rediss://:pw@cache.example:6379",
            )]),
        )
        .unwrap();
        assert_eq!(
            s.redis_cluster_nodes(),
            ["redis://10.0.0.1:7000", "rediss://:pw@cache.example:6379"]
        );
        assert!(!format!("{s:?}").contains("pw@"));

        let err = Settings::load_from(
            None,
            env(&[
                ("KAKAOBOT_REDIS_CLUSTER", "10.0.0.1:7000"),
                ("KAKAOBOT_REDIS_URL", "redis://127.0.0.1:6379"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("KAKAOBOT_REDIS_URL") && err.contains("KAKAOBOT_REDIS_CLUSTER"),
            "{err}"
        );
        let err = Settings::load_from(None, env(&[("KAKAOBOT_REDIS_CLUSTER", "10.0.0.1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("KAKAOBOT_REDIS_CLUSTER"), "{err}");
    }

    #[test]
    fn a_tls_redis_url_is_accepted() {
        let s = Settings::load_from(
            None,
            env(&[("KAKAOBOT_REDIS_URL", "rediss://cache.example:6379")]),
        )
        .unwrap();
        assert!(s.redis_url.is_some());
    }

    #[test]
    fn an_empty_redis_url_means_in_memory() {
        let s = Settings::load_from(None, env(&[("KAKAOBOT_REDIS_URL", "")])).unwrap();
        assert!(s.redis_url.is_none());
    }

    #[test]
    fn callback_hosts_come_as_a_comma_list_or_a_toml_array() {
        let s = Settings::load_from(
            None,
            env(&[(
                "KAKAOBOT_CALLBACK_ALLOWED_HOSTS",
                " relay:8080, ,127.0.0.1 ",
            )]),
        )
        .unwrap();
        assert_eq!(s.callback_allowed_hosts, ["relay:8080", "127.0.0.1"]);
        let f = file("callback_allowed_hosts = [\"relay\"]\n");
        let s = Settings::load_from(Some(f.path()), env(&[])).unwrap();
        assert_eq!(s.callback_allowed_hosts, ["relay"]);
        let err = load_err(&[("KAKAOBOT_CALLBACK_ALLOWED_HOSTS", "https://relay")]);
        assert!(err.contains("KAKAOBOT_CALLBACK_ALLOWED_HOSTS"), "{err}");
    }

    #[test]
    fn the_skill_secret_never_shows_in_debug_output() {
        let s = Settings::load_from(None, env(&[("KAKAOBOT_SKILL_SECRET", "hunter2")])).unwrap();
        assert!(s.skill_secret.is_some());
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn an_empty_metrics_address_turns_metrics_off() {
        let s = Settings::load_from(None, env(&[("KAKAOBOT_METRICS_LISTEN", "")])).unwrap();
        assert!(s.metrics_listen.is_none());
    }

    #[test]
    fn metrics_never_share_the_public_port() {
        let err = load_err(&[
            ("KAKAOBOT_LISTEN", "0.0.0.0:5000"),
            ("KAKAOBOT_METRICS_LISTEN", "0.0.0.0:5000"),
        ]);
        assert!(err.contains("KAKAOBOT_METRICS_LISTEN"), "{err}");
    }

    #[test]
    fn the_redis_password_never_shows_in_debug_output_or_logs() {
        let s = Settings::load_from(
            None,
            env(&[("KAKAOBOT_REDIS_URL", "redis://:hunter2@127.0.0.1:6379/0")]),
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(
            s.redis_url_for_logs().unwrap(),
            "redis://***@127.0.0.1:6379/0"
        );
    }

    #[test]
    fn every_form_of_redis_url_is_redacted() {
        for (url, shown) in [
            ("redis://:pw@host:6379/0", "redis://***@host:6379/0"),
            ("redis://user:pw@host", "redis://***@host"),
            ("rediss://user:p@ss@host:6380", "rediss://***@host:6380"),
            (
                "unix:///run/redis.sock?pass=SECRET&db=2",
                "unix:///run/redis.sock?pass=***&db=2",
            ),
            (
                "unix:///run/redis.sock?user=u&pass=SECRET",
                "unix:///run/redis.sock?user=***&pass=***",
            ),
            ("redis://host?password=SECRET", "redis://host?password=***"),
            ("redis://host?SECRET", "redis://host?***"),
            ("SECRET@host", "(hidden: not a URL)"),
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ] {
            assert_eq!(redact_url(url), shown, "for {url}");
        }
    }

    #[test]
    fn a_url_of_another_scheme_is_refused_without_showing_its_password() {
        let err = load_err(&[("KAKAOBOT_REDIS_URL", "http://user:hunter2@host:6380")]);
        assert!(
            err.contains("KAKAOBOT_REDIS_URL") && !err.contains("hunter2"),
            "{err}"
        );
        let err = load_err(&[("KAKAOBOT_REDIS_CLUSTER", "rediss://:hunter2@host")]);
        assert!(
            err.contains("KAKAOBOT_REDIS_CLUSTER") && !err.contains("hunter2"),
            "{err}"
        );
    }

    /// The env variables (column one) of the README's configuration table and the
    /// `KAKAOBOT_*` lines of the env example, commented out or not.
    fn documented(text: &str, table: bool) -> BTreeSet<String> {
        text.lines()
            .filter_map(|line| {
                if table {
                    let cell = line.strip_prefix("| `")?;
                    cell.split('`').next().map(str::to_owned)
                } else {
                    let line = line.trim_start_matches('#');
                    let (name, _) = line.split_once('=')?;
                    Some(name.to_owned())
                }
            })
            .filter(|name| {
                name.starts_with(ENV_PREFIX)
                    && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            })
            .collect()
    }

    fn code_settings() -> BTreeSet<String> {
        SETTINGS.iter().map(Setting::env).collect()
    }

    #[test]
    fn the_readme_table_lists_exactly_the_settings_with_their_defaults() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        let mut in_readme = documented(&readme, true);
        // `--config`'s variable, read by clap, not a setting.
        in_readme.remove("KAKAOBOT_CONFIG");
        assert_eq!(
            in_readme,
            code_settings(),
            "README.md's configuration table"
        );
        for setting in SETTINGS {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", setting.env())))
                .unwrap();
            let default = if setting.default.is_empty() {
                "unset".to_owned()
            } else {
                format!("`{}`", setting.default)
            };
            assert!(
                row.contains(&format!("| {default} |")),
                "README.md shows another default for {}; the code's is {default}:\n{row}",
                setting.env()
            );
        }
    }

    #[test]
    fn the_env_example_lists_exactly_the_settings_with_their_defaults() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let example = std::fs::read_to_string(root.join("deploy/kakaobot.env.example")).unwrap();
        assert_eq!(
            documented(&example, false),
            code_settings(),
            "deploy/kakaobot.env.example"
        );
        // A commented-out line shows the default (for a setting unset by default,
        // an example).
        for setting in SETTINGS.iter().filter(|s| !s.default.is_empty()) {
            let commented = format!("#{}=", setting.env());
            if let Some(line) = example.lines().find(|l| l.starts_with(&commented)) {
                assert_eq!(
                    &line[commented.len()..],
                    setting.default,
                    "deploy/kakaobot.env.example's default for {}",
                    setting.env()
                );
            }
        }
    }
}
