//! Settings: built-in defaults, then an optional TOML file, then `KAKAOBOT_*`
//! environment variables, loaded once at start-up and validated.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::bots::BotName;

/// Every environment variable kakaobot reads, with the file key it overrides.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("KAKAOBOT_LISTEN", "listen"),
    ("KAKAOBOT_REDIS_URL", "redis_url"),
    ("KAKAOBOT_REDIS_CLUSTER", "redis_cluster"),
    ("KAKAOBOT_REDIS_TLS_CA", "redis_tls_ca"),
    ("KAKAOBOT_DEFAULT_BOT", "default_bot"),
    ("KAKAOBOT_KEY_PREFIX", "key_prefix"),
    ("KAKAOBOT_QUESTION_BANK", "question_bank"),
    ("KAKAOBOT_LOG_FORMAT", "log_format"),
    (
        "KAKAOBOT_REDIS_CONNECT_TIMEOUT_MS",
        "redis_connect_timeout_ms",
    ),
    (
        "KAKAOBOT_REDIS_RESPONSE_TIMEOUT_MS",
        "redis_response_timeout_ms",
    ),
    ("KAKAOBOT_REPLY_BUDGET_MS", "reply_budget_ms"),
    ("KAKAOBOT_SHUTDOWN_GRACE_SECS", "shutdown_grace_secs"),
    ("KAKAOBOT_SKILL_SECRET", "skill_secret"),
    ("KAKAOBOT_CALLBACK_ALLOWED_HOSTS", "callback_allowed_hosts"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The service's configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Address to bind when systemd did not pass a socket. Port 0 picks a free port.
    pub listen: String,
    /// Redis URL; `None` keeps state in memory (not shared, lost on restart).
    /// May hold a password, hence secret.
    pub redis_url: Option<SecretString>,
    /// Redis Cluster seed nodes, comma-separated `host:port` or `redis://` /
    /// `rediss://` URLs (TLS); selects cluster mode. Exclusive with `redis_url`. May
    /// hold a password, hence secret.
    pub redis_cluster: Option<SecretString>,
    /// A PEM CA bundle trusted for `rediss://` instead of the system's roots (for a
    /// server whose certificate a private CA signed; ElastiCache needs none).
    pub redis_tls_ca: Option<PathBuf>,
    /// The bot served at the root paths (`/keyboard`, `/message`, …), so the
    /// tutorial's root URL keeps working.
    pub default_bot: BotName,
    /// Every Redis key starts with `<key_prefix>:`, so several deployments can share
    /// one Redis.
    pub key_prefix: String,
    /// A question bank file replacing the embedded one.
    pub question_bank: Option<PathBuf>,
    pub log_format: LogFormat,
    pub redis_connect_timeout: Duration,
    /// How long one Redis command may take before it counts as failed.
    pub redis_response_timeout: Duration,
    /// The most time a `/message` may spend before the fallback reply is sent.
    /// Kakao gives up after 5 s; answering within 1 s leaves room for the network.
    pub reply_budget: Duration,
    /// How long in-flight requests may run after SIGTERM.
    pub shutdown_grace: Duration,
    /// When set, a skill request must carry it in the `X-Kakaobot-Skill-Secret` header
    /// (added in the skill's settings in Kakao's admin centre); `None` leaves skills
    /// open to anyone who can reach the port.
    pub skill_secret: Option<SecretString>,
    /// Hosts (`host` or `host:port`) that callback URLs may name besides `*.kakao.com`,
    /// over http or https; for tests and private relays. Empty: Kakao only, over https.
    pub callback_allowed_hosts: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:5000".to_owned(),
            redis_url: None,
            redis_cluster: None,
            redis_tls_ca: None,
            default_bot: BotName::Quiz,
            key_prefix: "kakaobot".to_owned(),
            question_bank: None,
            log_format: LogFormat::Text,
            redis_connect_timeout: Duration::from_millis(500),
            redis_response_timeout: Duration::from_millis(500),
            reply_budget: Duration::from_millis(800),
            shutdown_grace: Duration::from_secs(10),
            skill_secret: None,
            callback_allowed_hosts: Vec::new(),
        }
    }
}

/// What the settings file may contain; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    redis_url: Option<String>,
    redis_cluster: Option<String>,
    redis_tls_ca: Option<PathBuf>,
    default_bot: Option<String>,
    key_prefix: Option<String>,
    question_bank: Option<PathBuf>,
    log_format: Option<String>,
    redis_connect_timeout_ms: Option<u64>,
    redis_response_timeout_ms: Option<u64>,
    reply_budget_ms: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    skill_secret: Option<String>,
    callback_allowed_hosts: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read settings file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("settings file {path} is not valid: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("{first} and {second} are both set: {reason}")]
    Conflict {
        first: &'static str,
        second: &'static str,
        reason: &'static str,
    },
    #[error("{key} = '{value}' is not valid: {reason}")]
    Invalid {
        key: &'static str,
        value: String,
        reason: String,
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
        let mut settings = Settings::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let parsed: FileSettings =
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.display().to_string(),
                    source: Box::new(source),
                })?;
            settings.apply_file(parsed)?;
        }
        settings.apply_env(env)?;
        settings.validate()?;
        Ok(settings)
    }

    fn apply_file(&mut self, f: FileSettings) -> Result<(), ConfigError> {
        if let Some(v) = f.listen {
            self.listen = v;
        }
        if let Some(v) = f.redis_url {
            self.redis_url = non_empty(v).map(SecretString::from);
        }
        if let Some(v) = f.redis_cluster {
            self.redis_cluster = non_empty(v).map(SecretString::from);
        }
        if let Some(v) = f.redis_tls_ca {
            self.redis_tls_ca = Some(v);
        }
        if let Some(v) = f.default_bot {
            self.default_bot = parse_bot("default_bot", &v)?;
        }
        if let Some(v) = f.key_prefix {
            self.key_prefix = v;
        }
        if let Some(v) = f.question_bank {
            self.question_bank = Some(v);
        }
        if let Some(v) = f.log_format {
            self.log_format = parse_log_format("log_format", &v)?;
        }
        if let Some(v) = f.redis_connect_timeout_ms {
            self.redis_connect_timeout = Duration::from_millis(v);
        }
        if let Some(v) = f.redis_response_timeout_ms {
            self.redis_response_timeout = Duration::from_millis(v);
        }
        if let Some(v) = f.reply_budget_ms {
            self.reply_budget = Duration::from_millis(v);
        }
        if let Some(v) = f.shutdown_grace_secs {
            self.shutdown_grace = Duration::from_secs(v);
        }
        if let Some(v) = f.skill_secret {
            self.skill_secret = non_empty(v).map(SecretString::from);
        }
        if let Some(v) = f.callback_allowed_hosts {
            self.callback_allowed_hosts = v.into_iter().filter_map(non_empty).collect();
        }
        Ok(())
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = env("KAKAOBOT_LISTEN") {
            self.listen = v;
        }
        // An empty value means "unset", so an env file can switch Redis off.
        if let Some(v) = env("KAKAOBOT_REDIS_URL") {
            self.redis_url = non_empty(v).map(SecretString::from);
        }
        if let Some(v) = env("KAKAOBOT_REDIS_CLUSTER") {
            self.redis_cluster = non_empty(v).map(SecretString::from);
        }
        if let Some(v) = env("KAKAOBOT_REDIS_TLS_CA") {
            self.redis_tls_ca = non_empty(v).map(PathBuf::from);
        }
        if let Some(v) = env("KAKAOBOT_DEFAULT_BOT") {
            self.default_bot = parse_bot("KAKAOBOT_DEFAULT_BOT", &v)?;
        }
        if let Some(v) = env("KAKAOBOT_KEY_PREFIX") {
            self.key_prefix = v;
        }
        if let Some(v) = env("KAKAOBOT_QUESTION_BANK") {
            self.question_bank = non_empty(v).map(PathBuf::from);
        }
        if let Some(v) = env("KAKAOBOT_LOG_FORMAT") {
            self.log_format = parse_log_format("KAKAOBOT_LOG_FORMAT", &v)?;
        }
        let number = |key: &'static str| -> Result<Option<u64>, ConfigError> {
            env(key)
                .map(|v| {
                    u64::from_str(v.trim()).map_err(|_| ConfigError::Invalid {
                        key,
                        value: v.clone(),
                        reason: "expected a whole number".into(),
                    })
                })
                .transpose()
        };
        if let Some(v) = number("KAKAOBOT_REDIS_CONNECT_TIMEOUT_MS")? {
            self.redis_connect_timeout = Duration::from_millis(v);
        }
        if let Some(v) = number("KAKAOBOT_REDIS_RESPONSE_TIMEOUT_MS")? {
            self.redis_response_timeout = Duration::from_millis(v);
        }
        if let Some(v) = number("KAKAOBOT_REPLY_BUDGET_MS")? {
            self.reply_budget = Duration::from_millis(v);
        }
        if let Some(v) = number("KAKAOBOT_SHUTDOWN_GRACE_SECS")? {
            self.shutdown_grace = Duration::from_secs(v);
        }
        if let Some(v) = env("KAKAOBOT_SKILL_SECRET") {
            self.skill_secret = non_empty(v).map(SecretString::from);
        }
        if let Some(v) = env("KAKAOBOT_CALLBACK_ALLOWED_HOSTS") {
            self.callback_allowed_hosts = v
                .split(',')
                .filter_map(|h| non_empty(h.to_owned()))
                .collect();
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, value: &str, reason: &str| ConfigError::Invalid {
            key,
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "listen",
                &self.listen,
                "expected an address and port such as 127.0.0.1:5000 or 0.0.0.0:5000",
            ));
        }
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
                    "expected redis[s]://[user:password@]host:port[/db] or unix:///path",
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
        Ok(())
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
            .filter_map(|n| non_empty(n.to_owned()))
            .map(|n| {
                if n.contains("://") {
                    n
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

fn non_empty(v: String) -> Option<String> {
    let v = v.trim().to_owned();
    (!v.is_empty()).then_some(v)
}

fn parse_bot(key: &'static str, v: &str) -> Result<BotName, ConfigError> {
    v.trim().parse().map_err(|_| ConfigError::Invalid {
        key,
        value: v.to_owned(),
        reason: "expected quiz or lunch".into(),
    })
}

fn parse_log_format(key: &'static str, v: &str) -> Result<LogFormat, ConfigError> {
    match v.trim() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(ConfigError::Invalid {
            key,
            value: v.to_owned(),
            reason: "expected text or json".into(),
        }),
    }
}

/// Hides the user and password of a URL: `redis://:pw@host:6379` → `redis://***@host:6379`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
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

    #[test]
    fn defaults_need_nothing() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.listen, "127.0.0.1:5000");
        assert!(s.redis_url.is_none());
        assert_eq!(s.default_bot, BotName::Quiz);
        assert_eq!(s.key_prefix, "kakaobot");
    }

    #[test]
    fn the_environment_overrides_the_file_which_overrides_defaults() {
        let f = file("listen = \"0.0.0.0:6000\"\ndefault_bot = \"lunch\"\nkey_prefix = \"file\"\n");
        let s =
            Settings::load_from(Some(f.path()), env(&[("KAKAOBOT_KEY_PREFIX", "env")])).unwrap();
        assert_eq!(s.listen, "0.0.0.0:6000");
        assert_eq!(s.default_bot, BotName::Lunch);
        assert_eq!(s.key_prefix, "env");
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
    fn bad_values_name_their_key() {
        let err = Settings::load_from(None, env(&[("KAKAOBOT_DEFAULT_BOT", "weather")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("KAKAOBOT_DEFAULT_BOT") && err.contains("quiz or lunch"),
            "{err}"
        );
        let err = Settings::load_from(None, env(&[("KAKAOBOT_LISTEN", "5000")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen"), "{err}");
        let err = Settings::load_from(None, env(&[("KAKAOBOT_REPLY_BUDGET_MS", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("whole number"), "{err}");
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
        assert!(err.contains("redis_cluster"), "{err}");
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
    fn the_redis_password_never_shows() {
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
}
