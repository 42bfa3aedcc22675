//! Assembling and running the service: store, bots, routes, listener. Shared by
//! `main` and the integration tests, which run the real server on a free port.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use anyhow::Context;
use poem::http::uri::Scheme;
use poem::http::StatusCode;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server};
use poem_openapi::OpenApiService;
use secrecy::ExposeSecret;
use tracing::{info, warn};

use crate::api::{Api, AppState};
use crate::bots::{Bots, LunchBot, QuestionBank, QuizBot};
use crate::callback::Callbacks;
use crate::config::Settings;
use crate::listener;
use crate::store::{MemoryStore, RedisStore, RedisTarget, RedisTimeouts, Store};

/// Largest request body accepted; Kakao's are a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A built service, bound and ready to run.
pub struct Application {
    acceptor: TcpAcceptor,
    local_addr: SocketAddr,
    app: poem::endpoint::BoxEndpoint<'static>,
    settings: Settings,
}

impl Application {
    /// Loads the question bank, connects the store and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let state = build_state(&settings)?;
        let app = routes(state).boxed();
        let (std_listener, from_systemd) =
            listener::open(&settings.listen).context("failed to open the listening socket")?;
        let local_addr = std_listener
            .local_addr()
            .context("failed to read the listening address")?;
        let acceptor =
            TcpAcceptor::from_std(std_listener).context("failed to use the listening socket")?;
        if from_systemd {
            info!(%local_addr, "serving on the socket passed by systemd");
        } else {
            info!(%local_addr, "listening");
        }
        Ok(Self {
            acceptor,
            local_addr,
            app,
            settings,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then stops accepting, waits
    /// [`FIRST_BYTES_WAIT`] for connections already accepted to send their request,
    /// and gives in-flight requests `shutdown_grace` to finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let acceptor = StopAccepting {
            inner: self.acceptor,
            stop: stop_rx,
        };
        let shutdown = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
            tokio::time::sleep(FIRST_BYTES_WAIT).await;
        };
        Server::new_with_acceptor(acceptor)
            .name("kakaobot")
            .run_with_graceful_shutdown(self.app, shutdown, Some(self.settings.shutdown_grace))
            .await
            .context("the HTTP server failed")
    }
}

/// How long connections accepted just before shutdown get to send their request.
///
/// hyper's graceful shutdown closes a connection that has not sent its first byte
/// yet, and the client sees a reset. So accepting stops first, and the connections
/// already accepted get this long to become in-flight requests, which are then
/// drained. Connections not yet accepted stay queued in the socket, which systemd
/// holds open for the next process (socket activation): a restart drops nothing.
pub const FIRST_BYTES_WAIT: Duration = Duration::from_secs(1);

/// An acceptor that stops taking connections once `stop` turns true.
struct StopAccepting<A> {
    inner: A,
    stop: watch::Receiver<bool>,
}

impl<A: Acceptor> Acceptor for StopAccepting<A> {
    type Io = A::Io;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> std::io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        if !*self.stop.borrow() {
            tokio::select! {
                accepted = self.inner.accept() => return accepted,
                _ = self.stop.wait_for(|stopped| *stopped) => {}
            }
        }
        std::future::pending().await
    }
}

/// The store the settings ask for, with a log line saying what that means.
pub fn build_store(settings: &Settings) -> anyhow::Result<(Arc<dyn Store>, &'static str)> {
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
            return Ok((Arc::new(MemoryStore::new()), "memory"));
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
    let store = RedisStore::open(
        &target,
        &settings.key_prefix,
        RedisTimeouts {
            connect: settings.redis_connect_timeout,
            response: settings.redis_response_timeout,
        },
        tls_root,
    )
    .with_context(|| format!("failed to set up Redis at {shown}"))?;
    info!(redis = %shown, mode = kind, key_prefix = %settings.key_prefix, "state is kept in Redis");
    Ok((Arc::new(store), kind))
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

/// Bots and store, as the handlers share them.
pub fn build_state(settings: &Settings) -> anyhow::Result<AppState> {
    let bank = match &settings.question_bank {
        Some(path) => QuestionBank::from_file(path)?,
        None => QuestionBank::embedded()?,
    };
    info!(questions = bank.len(), "question bank loaded");
    let (store, store_kind) = build_store(settings)?;
    if settings.skill_secret.is_none() {
        warn!(
            "skills are open to anyone who can reach this port; set KAKAOBOT_SKILL_SECRET \
             and add the header X-Kakaobot-Skill-Secret in the skill's settings to require it"
        );
    }
    Ok(AppState {
        bots: Bots::new(QuizBot::new(bank), LunchBot::new()),
        store,
        default_bot: settings.default_bot,
        reply_budget: settings.reply_budget,
        store_kind,
        skill_secret: settings.skill_secret.clone(),
        callbacks: Callbacks::new(settings.callback_allowed_hosts.clone())?,
    })
}

/// The OpenAPI service for `state`. The document does not depend on the state.
pub fn openapi(state: AppState) -> OpenApiService<Api, ()> {
    OpenApiService::new(Api::new(state), "kakaobot", env!("CARGO_PKG_VERSION")).description(
        "KakaoTalk bots: a quiz and a group lunch vote. Kakao calls these routes when users \
             talk to the bot. Today's Kakao channels reach them as Kakao i Open Builder skills: \
             register `http://HOST:PORT/quiz/skill` or `http://HOST:PORT/lunch/skill` as a skill \
             in Kakao's chatbot admin centre. The smart-chat routes (`/keyboard`, `/message`, …; \
             register `http://HOST:PORT`, `http://HOST:PORT/quiz` or `http://HOST:PORT/lunch`) \
             serve the tutorials and old integrations: Kakao retired that API on 2019-12-31. \
             Every Kakao route answers HTTP 200 with `application/json; charset=utf-8` — Kakao \
             counts anything else as a failure — including when storage is down, with a \
             \"try again\" reply.",
    )
}

/// The OpenAPI document as pretty JSON, exactly as committed in `openapi/kakaobot.json`.
pub fn spec_json() -> anyhow::Result<String> {
    let state = AppState {
        bots: Bots::new(QuizBot::new(QuestionBank::embedded()?), LunchBot::new()),
        store: Arc::new(MemoryStore::new()),
        default_bot: crate::bots::BotName::Quiz,
        reply_budget: Duration::from_millis(800),
        store_kind: "memory",
        skill_secret: None,
        callbacks: Callbacks::new(Vec::new())?,
    };
    Ok(openapi(state).spec())
}

/// Every route: the API, its document, the Swagger UI; body limit, JSON errors and
/// access logs around them.
pub fn routes(state: AppState) -> impl Endpoint<Output = Response> {
    let api = openapi(state);
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    Route::new()
        .nest("/docs", docs)
        .at("/openapi.json", spec)
        .nest("/", api)
        .around(|ep, mut req| async move {
            collapse_slashes(&mut req);
            limit_body(ep, req).await
        })
        .catch_all_error(|err| async move { error_response(err) })
        .around(|ep, req| async move { access_log(ep, req).await })
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
/// their length.
async fn limit_body<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let announced = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let body = req.take_body();
    let bytes = body
        .into_bytes_limit(MAX_BODY_BYTES)
        .await
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
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (
            "not_found",
            "no such route: the Kakao routes are /keyboard, /message, /friend and /chat_room, at the root or under /quiz and /lunch; see /docs".to_owned(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", err.to_string()),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", err.to_string()),
        s if s.is_server_error() => {
            warn!(cause = %err, "internal error");
            ("internal", "internal error; see the service log".to_owned())
        }
        _ => ("bad_request", err.to_string()),
    };
    let body = serde_json::json!({ "error": code, "message": message });
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(body.to_string())
}

/// One log line per request. The path is logged without user keys.
async fn access_log<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let method = req.method().clone();
    let path = redact_path(req.uri().path());
    let started = Instant::now();
    let resp = ep.call(req).await?.into_response();
    info!(
        %method,
        %path,
        status = resp.status().as_u16(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "request"
    );
    Ok(resp)
}

/// `/quiz/friend/abcdef123456` → `/quiz/friend/…`: the last segment after `friend`
/// or `chat_room` is a user key.
pub fn redact_path(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::with_capacity(segments.len());
    for (i, seg) in segments.iter().enumerate() {
        let after_marker = i > 0 && matches!(segments[i - 1], "friend" | "chat_room");
        out.push(if after_marker && !seg.is_empty() {
            "…"
        } else {
            seg
        });
    }
    out.join("/")
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
    fn a_registered_url_with_a_trailing_slash_still_routes() {
        let mut req = Request::builder().uri_str("/quiz//keyboard?x=1").finish();
        collapse_slashes(&mut req);
        assert_eq!(req.uri().to_string(), "/quiz/keyboard?x=1");
        let mut req = Request::builder().uri_str("//").finish();
        collapse_slashes(&mut req);
        assert_eq!(req.uri().path(), "/");
    }

    #[test]
    fn user_keys_are_cut_from_logged_paths() {
        assert_eq!(redact_path("/quiz/friend/abcdef123456"), "/quiz/friend/…");
        assert_eq!(redact_path("/chat_room/abcdef123456"), "/chat_room/…");
        assert_eq!(redact_path("/quiz/message"), "/quiz/message");
    }
}
