//! Assembling and running the service: store, bots, routes, listener. Shared by
//! `main` and the integration tests, which run the real server on a free port.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use poem::endpoint::BoxEndpoint;
use poem::http::header::CONNECTION;
use poem::http::{HeaderValue, StatusCode};
use poem::{Endpoint, EndpointExt, IntoResponse, PathPattern, Request, Response, Route};
use poem_openapi::OpenApiService;
use secrecy::ExposeSecret;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::access_log::{self, AccessLog, Served};
use crate::api::{self, Api, AppState};
use crate::bots::{BankError, BankSource, Bots, LunchBot, QuestionBank, QuizBot};
use crate::callback::Callbacks;
use crate::config::Settings;
use crate::method_table::MethodTable;
use crate::server::{HttpServer, Limits};
use crate::store::{MemoryStore, RedisStore, RedisTarget, RedisTimeouts, Store};
use crate::tls::{self, Challenges, Tls};
use crate::{listener, metrics};

pub use crate::server::FIRST_BYTES_WAIT;

/// Largest request body accepted; Kakao's are a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Connections the metrics listener serves at once: one Prometheus, a person with
/// curl.
const METRICS_MAX_CONNECTIONS: usize = 16;

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
            Some(addr) => metrics_server(addr, limits).await,
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
        let app: Arc<BoxEndpoint<'static, Response>> =
            Arc::new(routes(state, settings.body_timeout, &challenges).boxed());
        let (servers, local_addr, tls_addr) =
            serve_on(listeners, &app, &settings, tls.as_ref(), limits)?;

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

/// One server per listener: every plain one serves the API (or, with
/// `plain_http_api` off, only ACME challenges and `/health`), the HTTPS one the API.
/// Returns them with the first plain address and the HTTPS one.
fn serve_on(
    listeners: listener::Listeners,
    app: &Arc<BoxEndpoint<'static, Response>>,
    settings: &Settings,
    tls: Option<&Tls>,
    limits: Limits,
) -> anyhow::Result<(Vec<HttpServer>, SocketAddr, Option<SocketAddr>)> {
    let tokio_listener = |std: std::net::TcpListener| -> anyhow::Result<_> {
        let addr = std
            .local_addr()
            .context("failed to read a listening address")?;
        let listener =
            tokio::net::TcpListener::from_std(std).context("failed to use a listening socket")?;
        Ok((listener, addr))
    };
    let plain_app: BoxEndpoint<'static, Response> = if settings.plain_http_api {
        app.clone().boxed()
    } else {
        challenges_and_health_only(app.clone()).boxed()
    };
    let plain_app = Arc::new(plain_app);
    let mut servers = Vec::new();
    let mut first = None;
    for std in listeners.plain {
        let (listener, local_addr) = tokio_listener(std)?;
        let api = settings.plain_http_api;
        if listeners.from_systemd {
            info!(%local_addr, api, "serving on the socket passed by systemd");
        } else {
            info!(%local_addr, api, "listening");
        }
        first.get_or_insert(local_addr);
        servers.push(HttpServer::new(
            "api",
            listener,
            plain_app.clone().boxed(),
            limits,
        ));
    }
    let local_addr = first.context("no plain listener")?;
    let mut tls_addr = None;
    if let (Some(std), Some(tls)) = (listeners.tls, tls) {
        let (listener, addr) = tokio_listener(std)?;
        info!(local_addr = %addr, "HTTPS listening; serving once a certificate is there");
        tls_addr = Some(addr);
        let config = tls::server_config(tls.slot()).context("failed to set up TLS")?;
        servers.push(
            HttpServer::new("https", listener, app.clone().boxed(), limits)
                .with_tls(config, tls.slot().clone()),
        );
    }
    Ok((servers, local_addr, tls_addr))
}

/// The plain listener once Kakao calls the `https://` URL: ACME's `http-01`
/// challenges, `/health` and `/ready` (for load balancers and the deploy script);
/// anything else is told where to go instead.
fn challenges_and_health_only(
    app: Arc<BoxEndpoint<'static, Response>>,
) -> impl Endpoint<Output = Response> {
    poem::endpoint::make(move |req: Request| {
        let app = app.clone();
        async move {
            let path = req.uri().path();
            if matches!(path, "/health" | "/ready") || path.starts_with(tls::acme::CHALLENGE_PREFIX)
            {
                return app.get_response(req).await;
            }
            error_response(poem::Error::from_string(
                "this port serves only ACME challenges, /health and /ready \
                 (KAKAOBOT_PLAIN_HTTP_API=false): call the https:// URL",
                StatusCode::NOT_FOUND,
            ))
        }
    })
}

/// The metrics listener on `addr`. A failure to bind is logged, not fatal: the bots
/// matter more than their metrics, and the error says what to change.
async fn metrics_server(addr: SocketAddr, limits: Limits) -> Option<(HttpServer, SocketAddr)> {
    let bound = tokio::net::TcpListener::bind(addr)
        .await
        .and_then(|listener| listener.local_addr().map(|addr| (listener, addr)));
    let (listener, addr) = match bound {
        Ok(bound) => bound,
        Err(err) => {
            error!(
                %addr,
                cause = %err,
                "metrics are off: cannot bind their listener; set KAKAOBOT_METRICS_LISTEN to a \
                 free loopback address, or empty it"
            );
            return None;
        }
    };
    metrics::handle();
    metrics::spawn_upkeep();
    info!(%addr, "metrics at http://{addr}/metrics");
    let limits = Limits {
        max_connections: METRICS_MAX_CONNECTIONS,
        ..limits
    };
    Some((
        HttpServer::new("metrics", listener, metrics::routes(), limits),
        addr,
    ))
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

/// The store the settings ask for, with a log line saying what that means.
/// The store twice over, and its kind. Both are one memory store; on Redis each has
/// its own connection, opened on first use.
pub struct Stores {
    /// For requests: its calls give up after `redis_response_timeout`.
    pub store: Arc<dyn Store>,
    /// For late skill answers: its one call may wait up to the callback deadline (see
    /// [`crate::api::answer::answer_or_call_back`]).
    pub patient: Arc<dyn Store>,
    /// `redis`, `redis-cluster` or `memory`.
    pub kind: &'static str,
}

/// The configured store: Redis, a Redis Cluster, or memory.
pub fn build_store(settings: &Settings) -> anyhow::Result<Stores> {
    let (target, shown, kind) = match &settings.redis_url {
        Some(url) => (
            RedisTarget::Single(url.expose_secret().to_owned()),
            settings.redis_url_for_logs().unwrap_or_default(),
            "redis",
        ),
        None if settings.redis_cluster.is_some() => {
            let nodes = settings.redis_cluster_nodes();
            let shown = nodes
                .iter()
                .map(|n| crate::config::redact_url(n))
                .collect::<Vec<_>>()
                .join(",");
            (RedisTarget::Cluster(nodes), shown, "redis-cluster")
        }
        None => {
            warn!(
                "state is kept in memory: not shared between processes and lost on restart; \
                 set KAKAOBOT_REDIS_URL or KAKAOBOT_REDIS_CLUSTER for real use"
            );
            let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
            return Ok(Stores {
                store: memory.clone(),
                patient: memory,
                kind: "memory",
            });
        }
    };
    let tls_root = settings
        .redis_tls_ca
        .as_ref()
        .map(|path| {
            std::fs::read(path)
                .with_context(|| format!("failed to read the Redis CA bundle {}", path.display()))
        })
        .transpose()?;
    let open = |timeouts| {
        RedisStore::open(&target, &settings.key_prefix, timeouts, tls_root.clone())
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

/// Runs the key-layout migration (see [`crate::store::migrate`]) on the configured
/// single Redis and says what it did. Nothing to do in memory or on a cluster: the
/// old layout only ever ran on a single Redis.
pub async fn migrate(settings: &Settings) -> anyhow::Result<String> {
    let Some(url) = &settings.redis_url else {
        return Ok("nothing to migrate: KAKAOBOT_REDIS_URL is not set".to_owned());
    };
    let shown = settings.redis_url_for_logs().unwrap_or_default();
    let tls_root = settings
        .redis_tls_ca
        .as_ref()
        .map(|path| {
            std::fs::read(path)
                .with_context(|| format!("failed to read the Redis CA bundle {}", path.display()))
        })
        .transpose()?;
    let mut conn = crate::store::RedisConnection::open(
        &RedisTarget::Single(url.expose_secret().to_owned()),
        RedisTimeouts {
            connect: settings.redis_connect_timeout,
            // A migration runs commands over whole lists and hashes: more generous.
            response: settings.redis_response_timeout.max(Duration::from_secs(5)),
        },
        tls_root,
    )
    .with_context(|| format!("failed to set up Redis at {shown}"))?;
    let report = crate::store::migrate::run(&mut conn, &settings.key_prefix)
        .await
        .with_context(|| {
            format!(
                "failed to migrate the keys under '{}' at {shown}",
                settings.key_prefix
            )
        })?;
    Ok(format!(
        "migrated {} keys under '{}' to the cluster-ready layout ({} left alone)",
        report.migrated, settings.key_prefix, report.skipped
    ))
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

/// The OpenAPI service for `state`. The document does not depend on the state.
pub fn openapi(state: AppState) -> OpenApiService<Api, ()> {
    OpenApiService::new(api::api(state), "kakaobot", env!("CARGO_PKG_VERSION")).description(
        "KakaoTalk bots: a quiz and a group lunch vote. Kakao calls these routes when users \
             talk to the bot. Today's Kakao channels reach them as Kakao i Open Builder skills: \
             register `https://HOST/quiz/skill` or `https://HOST/lunch/skill` as a skill \
             in Kakao's chatbot admin centre. The smart-chat routes (`/keyboard`, `/message`, …; \
             register `http://HOST:PORT`, `http://HOST:PORT/quiz` or `http://HOST:PORT/lunch`) \
             serve the tutorials and old integrations: Kakao retired that API on 2019-12-31. \
             Every Kakao route answers HTTP 200 with `application/json; charset=utf-8` — Kakao \
             counts anything else as a failure — including when storage is down, with a \
             \"try again\" reply. Besides the statuses each operation lists, any request may \
             get 408 with a JSON error body when its body arrives slower than \
             `KAKAOBOT_BODY_TIMEOUT_SECS`, and, from the HTTP layer before any operation and \
             so with an empty body, 431 for a header over 16 KiB or 400 for a malformed \
             request; the connection is closed after each. The server speaks HTTP/1.1 only.",
    )
}

/// The OpenAPI document as pretty JSON, exactly as committed in `openapi/kakaobot.json`.
pub fn spec_json() -> anyhow::Result<String> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let state = AppState {
        bots: Bots::new(QuizBot::new(QuestionBank::embedded()?), LunchBot::new()),
        store: store.clone(),
        patient_store: store,
        default_bot: crate::bots::BotName::Quiz,
        reply_budget: Settings::default().reply_budget,
        store_kind: "memory",
        skill_secret: None,
        callbacks: Callbacks::new(Vec::new(), Settings::default().callback_max_pending)?,
        store_health: Arc::default(),
    };
    Ok(openapi(state).spec())
}

/// Every route: the API, its document, the Swagger UI; body limits, JSON errors,
/// the access log and metrics around them.
pub fn routes(
    state: AppState,
    body_timeout: Duration,
    challenges: &Challenges,
) -> impl Endpoint<Output = Response> {
    let access_log = AccessLog::start(access_log::SUMMARY_EVERY);
    let api = openapi(state);
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let methods = Arc::new(MethodTable::from_spec(
        &serde_json::from_str(&api.spec()).unwrap_or_default(),
    ));
    Route::new()
        .at(
            format!("{}:token", tls::acme::CHALLENGE_PREFIX),
            challenges.endpoint(),
        )
        .nest("/docs", docs)
        .at("/openapi.json", spec)
        .nest("/", api)
        .around(move |ep, req| limit_body(ep, req, body_timeout))
        .catch_all_error(|err| async move { error_response(err) })
        .around(move |ep, req| {
            let methods = methods.clone();
            async move { methods.with_allow(&ep, req).await }
        })
        .around(move |ep, mut req| {
            let access_log = access_log.clone();
            async move {
                // Before the access log, so the log sees the path the routes see (and
                // redacts the user key wherever the slashes put it).
                collapse_slashes(&mut req);
                observe(ep, req, &access_log).await
            }
        })
}

/// Kakao appends `/keyboard`, `/message`, … to the URL the operator registered, so
/// `http://HOST:5000/quiz/` becomes `/quiz//keyboard`. Empty path segments carry no
/// meaning here; dropping them makes both spellings work.
fn collapse_slashes(req: &mut Request) {
    let uri = req.uri();
    if !uri.path().contains("//") {
        return;
    }
    let mut path = String::with_capacity(uri.path().len());
    for segment in uri.path().split('/').filter(|s| !s.is_empty()) {
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() {
        path.push('/');
    }
    if let Some(query) = uri.query() {
        path.push('?');
        path.push_str(query);
    }
    if let Ok(collapsed) = path.parse() {
        *req.uri_mut() = collapsed;
    }
}

/// Refuses bodies over [`MAX_BODY_BYTES`] with 413, whether or not they announce
/// their length, and bodies slower than `timeout` with 408: a client that announces
/// 100 bytes and sends 10, or an endless chunked trickle, does not hold the
/// connection.
async fn limit_body<E: Endpoint>(
    ep: Arc<E>,
    mut req: Request,
    timeout: Duration,
) -> poem::Result<Response> {
    let announced = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let body = req.take_body();
    let bytes = tokio::time::timeout(timeout, body.into_bytes_limit(MAX_BODY_BYTES))
        .await
        .map_err(|_| {
            poem::Error::from_string(
                format!(
                    "the request body did not arrive within {} s",
                    timeout.as_secs()
                ),
                StatusCode::REQUEST_TIMEOUT,
            )
        })?
        .map_err(|err| match err {
            poem::error::ReadBodyError::PayloadTooLarge => too_large(),
            other => poem::Error::from_string(
                format!("cannot read the request body: {other}"),
                StatusCode::BAD_REQUEST,
            ),
        })?;
    req.set_body(bytes);
    Ok(ep.call(req).await?.into_response())
}

fn too_large() -> poem::Error {
    poem::Error::from_string(
        format!(
            "the request body is larger than {} KiB",
            MAX_BODY_BYTES / 1024
        ),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
}

/// Every error as a JSON body. 5xx bodies stay generic; the cause goes to the log.
fn error_response(err: poem::Error) -> Response {
    let status = err.status();
    // The route the error came from, for the metrics label.
    let pattern = err.data::<PathPattern>().cloned();
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (
            "not_found",
            "no such route: the Kakao routes are /keyboard, /message, /friend and /chat_room, at the root or under /quiz and /lunch; see /docs".to_owned(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", err.to_string()),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", err.to_string()),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", err.to_string()),
        s if s.is_server_error() => {
            warn!(cause = %err, "internal error");
            ("internal", "internal error; see the service log".to_owned())
        }
        _ => ("bad_request", err.to_string()),
    };
    let body = serde_json::json!({ "error": code, "message": message });
    let mut resp = Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(body.to_string());
    if status == StatusCode::REQUEST_TIMEOUT {
        // The rest of the body may still come; the connection cannot be reused.
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    if let Some(pattern) = pattern {
        resp.set_data(pattern);
    }
    resp
}

/// One access-log record and one metrics sample per request. Neither holds a user
/// key: the log's path is redacted, the metrics label is the route pattern.
async fn observe<E: Endpoint>(
    ep: Arc<E>,
    req: Request,
    access_log: &AccessLog,
) -> poem::Result<Response> {
    let _in_flight = metrics::InFlight::start();
    let method = req.method().clone();
    // Shares the request's bytes: the path is only read (and redacted) if logged.
    let uri = req.uri().clone();
    let started = Instant::now();
    let resp = ep.call(req).await?.into_response();
    let elapsed = started.elapsed();
    let status = resp.status();
    let route = route_label(status, resp.data::<PathPattern>());
    metrics::request(method.as_str(), route, status.as_u16(), elapsed);
    access_log.record(&Served {
        method: method.as_str(),
        path: uri.path(),
        route,
        status: status.as_u16(),
        elapsed,
    });
    Ok(resp)
}

/// The route that answered, as the OpenAPI document writes it (`/{bot}/skill`), or
/// [`metrics::UNMATCHED_ROUTE`] when none did (a 404: poem marks even those with the
/// pattern of the nest they fell through).
fn route_label(status: StatusCode, pattern: Option<&PathPattern>) -> &'static str {
    match pattern {
        Some(PathPattern(pattern)) if status != StatusCode::NOT_FOUND && !pattern.is_empty() => {
            metrics::http_route(pattern)
        }
        _ => metrics::UNMATCHED_ROUTE,
    }
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

    #[test]
    fn a_registered_url_with_a_trailing_slash_still_routes() {
        let mut req = Request::builder().uri_str("/quiz//keyboard?x=1").finish();
        collapse_slashes(&mut req);
        assert_eq!(req.uri().to_string(), "/quiz/keyboard?x=1");
        let mut req = Request::builder().uri_str("//").finish();
        collapse_slashes(&mut req);
        assert_eq!(req.uri().path(), "/");
    }
}
