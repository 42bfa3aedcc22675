//! Assembling and running the service: store, bots, the HTTP edge. Shared by `main`
//! and the integration tests, which run the real server on a free port.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::api::{self, AppState};
use crate::bots::{BankError, BankSource, Bots, LunchBot, QuestionBank, QuizBot};
use crate::callback::Callbacks;
use crate::config::Settings;
use crate::http::{self, listener, HttpServer, Limits};
use crate::store::{MemoryStore, RedisStore, RedisTarget, RedisTimeouts, Store};
use crate::tls::{self, Challenges, Tls};

pub use crate::http::FIRST_BYTES_WAIT;

/// A built service, bound and ready to run.
pub struct Application {
    /// The plain listeners (at least one), then HTTPS when it is on.
    servers: Vec<HttpServer>,
    local_addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    tls: Option<Tls>,
    /// The metrics listener, unless `metrics_listen` is empty.
    metrics: Option<(HttpServer, SocketAddr)>,
    reloader: BankReloader,
}

/// Reads the question bank again (SIGHUP, `systemctl reload kakaobot`).
#[derive(Clone)]
pub struct BankReloader {
    bots: Bots,
    source: BankSource,
    /// Set while a read is under way: a read that never ends (a FIFO nobody writes,
    /// a hung mount) holds one blocking thread, and later SIGHUPs do not add more.
    reading: Arc<std::sync::atomic::AtomicBool>,
}

/// How long a reload may take before it is reported as stuck.
pub const RELOAD_WITHIN: Duration = Duration::from_secs(10);

impl BankReloader {
    /// Loads the bank from its source; a valid one serves from the next message on, an
    /// invalid one is refused and the bank in use stays. Says which in the log.
    ///
    /// The file is read on Tokio's blocking pool, never on a worker: on one CPU (a
    /// t2.micro) a read that blocks a worker stalls every request, `/health` included.
    /// A read that has not ended within [`RELOAD_WITHIN`] is logged and left running;
    /// if it ever ends, its bank is applied (or refused) then.
    pub async fn reload(&self) {
        use std::sync::atomic::Ordering;
        if self.reading.swap(true, Ordering::AcqRel) {
            warn!("question bank not reloaded: the previous reload is still reading the file");
            return;
        }
        let this = self.clone();
        let read = tokio::task::spawn_blocking(move || {
            let outcome = this.bots.reload_question_bank(&this.source);
            this.reading.store(false, Ordering::Release);
            log_reload(outcome);
        });
        if tokio::time::timeout(RELOAD_WITHIN, read).await.is_err() {
            error!(
                within_secs = RELOAD_WITHIN.as_secs(),
                "question bank read has not finished; the one in use stays. Check that \
                 KAKAOBOT_QUESTION_BANK is a regular file on a mount that answers"
            );
        }
    }
}

fn log_reload(outcome: Result<Arc<QuestionBank>, BankError>) {
    match outcome {
        Ok(bank) => info!(
            questions = bank.len(),
            categories = bank.categories().len(),
            "question bank reloaded"
        ),
        Err(err) => error!(cause = %err, "question bank not reloaded; the one in use stays"),
    }
}

impl Application {
    /// Loads the question bank, connects the store, binds the listeners and sets up
    /// the certificate.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let state = build_state(&settings)?;
        let reloader = BankReloader {
            bots: state.bots.clone(),
            source: bank_source(&settings),
            reading: Arc::default(),
        };
        let tls_listen = settings.tls_listen.map(|addr| addr.to_string());
        let limits = Limits {
            header_timeout: settings.header_timeout,
            max_connections: settings.max_connections,
            shutdown_grace: settings.shutdown_grace,
        };
        let listeners = listener::open(&settings.listen.to_string(), tls_listen.as_deref())
            .context("failed to open the listening sockets")?;
        // Metrics first: the ACME task counts its failures from its first attempt.
        let metrics = match settings.metrics_listen {
            Some(addr) => http::metrics_server(addr, limits).await,
            None => {
                info!("metrics are off (KAKAOBOT_METRICS_LISTEN is empty)");
                None
            }
        };
        let challenges = Challenges::default();
        let tls = Tls::start(&settings, &challenges)
            .await
            .context("failed to set up HTTPS")?;
        tls::warn_if_plain_only(&settings);
        let routes = http::routes(state, settings.body_timeout, &challenges);
        let http::Servers {
            servers,
            local_addr,
            tls_addr,
        } = http::serve_on(
            listeners,
            routes,
            settings.plain_http_api,
            tls.as_ref(),
            limits,
        )?;

        warn_if_descriptors_run_short(settings.max_connections);
        Ok(Self {
            servers,
            local_addr,
            tls_addr,
            tls,
            metrics,
            reloader,
        })
    }

    /// What reloads the question bank of this application.
    pub fn bank_reloader(&self) -> BankReloader {
        self.reloader.clone()
    }

    /// HTTPS, when it is on: what `systemctl reload` refreshes.
    pub fn tls(&self) -> Option<Tls> {
        self.tls.clone()
    }

    /// The (first) plain listener's address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The HTTPS listener's address, when HTTPS is on.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// The metrics listener's address, unless metrics are off.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, addr)| *addr)
    }

    /// Serves until `shutdown` completes, then drains every listener (see
    /// [`HttpServer::run`]): stop accepting, `Connection: close` on every further
    /// response, [`FIRST_BYTES_WAIT`] for connections accepted just before, then
    /// `shutdown_grace` for in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop) = watch::channel(false);
        let stopped = |mut stop: watch::Receiver<bool>| async move {
            // An error means the sender is gone, which only happens once stopped.
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        let mut running = tokio::task::JoinSet::new();
        let servers = self.servers.into_iter().map(|s| (s, "the HTTP server"));
        let metrics = self
            .metrics
            .map(|(server, _)| (server, "the metrics server"));
        for (server, what) in servers.chain(metrics) {
            let stopped = stopped(stop.clone());
            running.spawn(async move { server.run(stopped).await.context(what) });
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        while let Some(ended) = running.join_next().await {
            ended.context("a server task panicked")??;
        }
        Ok(())
    }
}

/// Descriptors the process needs besides its connections: the runtime, stdio, the
/// listeners, Redis, the metrics scrapes.
const RESERVED_DESCRIPTORS: u64 = 64;

/// Warns when the open-file limit cannot hold `max_connections` connections: the
/// service still works (accepting backs off when descriptors run out), but the limit
/// will be reached before the connection cap protects Redis's descriptor.
fn warn_if_descriptors_run_short(max_connections: usize) {
    let Some(limit) = open_file_limit() else {
        return;
    };
    let needed = max_connections as u64 + RESERVED_DESCRIPTORS;
    if limit < needed {
        warn!(
            open_file_limit = limit,
            max_connections,
            "the open-file limit is below KAKAOBOT_MAX_CONNECTIONS + {RESERVED_DESCRIPTORS}: \
             raise it (LimitNOFILE= in the unit, ulimit -n by hand) or lower \
             KAKAOBOT_MAX_CONNECTIONS"
        );
    }
}

/// The soft open-file limit, from `/proc/self/limits` (Linux; `None` elsewhere or
/// when unlimited).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The store twice over, and its kind. Both are one memory store; on Redis each has
/// its own connection, opened on first use.
pub struct Stores {
    /// For requests: its calls give up after `redis_response_timeout`.
    pub store: Arc<dyn Store>,
    /// For late skill answers: its one call may wait up to the callback deadline (see
    /// `api::answer::answer_or_call_back`).
    pub patient: Arc<dyn Store>,
    /// `redis`, `redis-cluster` or `memory`.
    pub kind: &'static str,
}

impl Stores {
    /// One memory store in both roles.
    fn memory() -> Self {
        let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
        Self {
            store: memory.clone(),
            patient: memory,
            kind: "memory",
        }
    }
}

/// The store the settings ask for (Redis, a Redis Cluster, or memory), with a log
/// line saying what that means.
pub fn build_store(settings: &Settings) -> anyhow::Result<Stores> {
    let Some((target, shown)) = redis_target(settings) else {
        warn!(
            "state is kept in memory: not shared between processes and lost on restart; \
             set KAKAOBOT_REDIS_URL or KAKAOBOT_REDIS_CLUSTER for real use"
        );
        return Ok(Stores::memory());
    };
    let kind = match target {
        RedisTarget::Single(_) => "redis",
        RedisTarget::Cluster(_) => "redis-cluster",
    };
    let tls_root = redis_tls_root(settings)?;
    let open = |timeouts| {
        RedisStore::open(&target, &settings.key_prefix, timeouts, tls_root.clone())
            .map(|store| store.key_ttl(settings.redis_key_ttl))
            .with_context(|| format!("failed to set up Redis at {shown}"))
    };
    let store = open(RedisTimeouts {
        connect: settings.redis_connect_timeout,
        response: settings.redis_response_timeout,
    })?;
    // Connecting waits too: a stalled Redis accepts the socket but answers the
    // handshake only when it resumes, and a refused connection still fails at once.
    let patient = open(RedisTimeouts {
        connect: crate::callback::DEADLINE,
        response: crate::callback::DEADLINE,
    })?;
    info!(redis = %shown, mode = kind, key_prefix = %settings.key_prefix, "state is kept in Redis");
    Ok(Stores {
        store: Arc::new(store),
        patient: Arc::new(patient),
        kind,
    })
}

/// Runs `kakaobot migrate` on the configured Redis and says what it did: the
/// key-layout migration (see [`crate::store::migrate`]) on a single Redis (the old
/// layout only ever ran on one), then, on a single Redis or a cluster, a lifetime for
/// every key written before keys had one. Nothing to do in memory.
pub async fn migrate(settings: &Settings) -> anyhow::Result<String> {
    let Some((target, shown)) = redis_target(settings) else {
        return Ok(
            "nothing to migrate: neither KAKAOBOT_REDIS_URL nor KAKAOBOT_REDIS_CLUSTER is set"
                .to_owned(),
        );
    };
    let tls_root = redis_tls_root(settings)?;
    let mut conn = crate::store::RedisConnection::open(
        &target,
        RedisTimeouts {
            connect: settings.redis_connect_timeout,
            // A migration runs commands over whole lists and hashes: more generous.
            response: settings.redis_response_timeout.max(Duration::from_secs(5)),
        },
        tls_root,
    )
    .with_context(|| format!("failed to set up Redis at {shown}"))?;
    let prefix = &settings.key_prefix;
    let failed = || format!("failed to migrate the keys under '{prefix}' at {shown}");
    let mut said = Vec::new();
    if let RedisTarget::Single(_) = target {
        let report = crate::store::migrate::run(&mut conn, prefix)
            .await
            .with_context(failed)?;
        said.push(format!(
            "migrated {} keys under '{prefix}' to the cluster-ready layout ({} left alone)",
            report.migrated, report.skipped
        ));
    }
    let ttl = settings.redis_key_ttl;
    let given = crate::store::migrate::give_lifetimes(&mut conn, prefix, ttl)
        .await
        .with_context(failed)?;
    said.push(format!(
        "gave {given} keys under '{prefix}' without a lifetime one of {} days",
        ttl.as_secs() / (24 * 3600)
    ));
    Ok(said.join("\n"))
}

/// The Redis the settings name, with how to show it in logs (no password); `None`
/// keeps state in memory.
fn redis_target(settings: &Settings) -> Option<(RedisTarget, String)> {
    if let Some(url) = &settings.redis_url {
        let shown = settings.redis_url_for_logs().unwrap_or_default();
        return Some((RedisTarget::Single(url.expose_secret().to_owned()), shown));
    }
    settings.redis_cluster.as_ref()?;
    let nodes = settings.redis_cluster_nodes();
    let shown = nodes
        .iter()
        .map(|n| crate::config::redact_url(n))
        .collect::<Vec<_>>()
        .join(",");
    Some((RedisTarget::Cluster(nodes), shown))
}

/// The CA bundle trusted for `rediss://` when one is set (`KAKAOBOT_REDIS_TLS_CA`),
/// read once for whatever connects to Redis; `None` means the built-in roots.
fn redis_tls_root(settings: &Settings) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(path) = &settings.redis_tls_ca else {
        return Ok(None);
    };
    let bundle = std::fs::read(path)
        .with_context(|| format!("failed to read the Redis CA bundle {}", path.display()))?;
    Ok(Some(bundle))
}

fn bank_source(settings: &Settings) -> BankSource {
    match &settings.question_bank {
        Some(path) => BankSource::File(path.clone()),
        None => BankSource::Embedded,
    }
}

/// Bots and store, as the handlers share them.
pub fn build_state(settings: &Settings) -> anyhow::Result<AppState> {
    let bank = bank_source(settings).load()?;
    info!(questions = bank.len(), "question bank loaded");
    let stores = build_store(settings)?;
    if settings.skill_secret.is_none() {
        warn!(
            "skills are open to anyone who can reach this port; set KAKAOBOT_SKILL_SECRET \
             and add the header X-Kakaobot-Skill-Secret in the skill's settings to require it"
        );
    }
    app_state(settings, bank, stores)
}

/// The state `settings` describe, around `bank` and `stores`: the one place an
/// [`AppState`] is made.
pub fn app_state(
    settings: &Settings,
    bank: QuestionBank,
    stores: Stores,
) -> anyhow::Result<AppState> {
    Ok(AppState {
        bots: Bots::new(QuizBot::new(bank), LunchBot::new()),
        store: stores.store,
        patient_store: stores.patient,
        default_bot: settings.default_bot,
        reply_budget: settings.reply_budget,
        store_kind: stores.kind,
        skill_secret: settings.skill_secret.clone(),
        callbacks: Callbacks::new(
            settings.callback_allowed_hosts.clone(),
            settings.callback_max_pending,
        )?,
        store_health: Arc::default(),
    })
}

/// The OpenAPI document as pretty JSON, exactly as committed in `openapi/kakaobot.json`.
pub fn spec_json() -> anyhow::Result<String> {
    let state = app_state(
        &Settings::default(),
        QuestionBank::embedded()?,
        Stores::memory(),
    )?;
    Ok(api::openapi(state).spec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed document is what users and tools read; it must be what the code
    /// serves.
    #[test]
    fn the_committed_openapi_document_matches_the_code() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/kakaobot.json");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        let generated = spec_json().unwrap();
        assert!(
            committed.trim_end() == generated.trim_end(),
            "openapi/kakaobot.json is out of date with the code; regenerate it with:\n    \
             cargo run -p kakaobot -- openapi > openapi/kakaobot.json"
        );
    }

    #[test]
    fn the_open_file_limit_is_read_from_proc() {
        assert!(open_file_limit().is_some_and(|n| n > 0));
    }
}
