//! The HTTP edge, from the socket to the API:
//!
//! - [`listener`]: the sockets, passed by systemd or bound here;
//! - [`server`]: HTTP/1.1 on each of them (timeouts, connection limit, accept
//!   back-off, draining, TLS);
//! - [`routes`]: the route table and the middleware a request passes before the
//!   [`api`](crate::api): slashes, the access log and metrics, `Allow` on a 405
//!   ([`method_table`]), JSON errors, the body limit;
//! - [`access_log`]: the request log and its minute summaries.
//!
//! This file puts them together: which routes each listener serves, and the metrics
//! listener.

pub mod access_log;
pub mod listener;
pub mod method_table;
mod routes;
pub mod server;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::{Endpoint, EndpointExt, Request, Response};
use tracing::{error, info};

pub use routes::{routes, MAX_BODY_BYTES};
pub use server::{HttpServer, Limits, FIRST_BYTES_WAIT};

use crate::metrics;
use crate::tls::{self, Tls};

/// Connections the metrics listener serves at once: one Prometheus, a person with
/// curl.
const METRICS_MAX_CONNECTIONS: usize = 16;

/// The servers of a service: one per listener, with the first plain address and the
/// HTTPS one.
pub struct Servers {
    pub servers: Vec<HttpServer>,
    pub local_addr: SocketAddr,
    pub tls_addr: Option<SocketAddr>,
}

/// One server per listener: every plain one serves `app` (or, with `plain_http_api`
/// off, only ACME challenges and `/health`), the HTTPS one `app`.
pub fn serve_on(
    listeners: listener::Listeners,
    app: impl Endpoint<Output = Response> + 'static,
    plain_http_api: bool,
    tls: Option<&Tls>,
    limits: Limits,
) -> anyhow::Result<Servers> {
    let app: Arc<BoxEndpoint<'static, Response>> = Arc::new(app.boxed());
    let plain_app = if plain_http_api {
        app.clone()
    } else {
        Arc::new(challenges_and_health_only(app.clone()).boxed())
    };
    let mut servers = Vec::new();
    let mut first = None;
    for std in listeners.plain {
        let (listener, local_addr) = tokio_listener(std)?;
        if listeners.from_systemd {
            info!(%local_addr, api = plain_http_api, "serving on the socket passed by systemd");
        } else {
            info!(%local_addr, api = plain_http_api, "listening");
        }
        first.get_or_insert(local_addr);
        servers.push(HttpServer::new("api", listener, plain_app.clone(), limits));
    }
    let local_addr = first.context("no plain listener")?;
    let mut tls_addr = None;
    if let (Some(std), Some(tls)) = (listeners.tls, tls) {
        let (listener, addr) = tokio_listener(std)?;
        info!(local_addr = %addr, "HTTPS listening; serving once a certificate is there");
        tls_addr = Some(addr);
        let config = tls::server_config(tls.slot()).context("failed to set up TLS")?;
        servers.push(
            HttpServer::new("https", listener, app.clone(), limits)
                .with_tls(config, tls.slot().clone()),
        );
    }
    Ok(Servers {
        servers,
        local_addr,
        tls_addr,
    })
}

fn tokio_listener(
    std: std::net::TcpListener,
) -> anyhow::Result<(tokio::net::TcpListener, SocketAddr)> {
    let addr = std
        .local_addr()
        .context("failed to read a listening address")?;
    let listener =
        tokio::net::TcpListener::from_std(std).context("failed to use a listening socket")?;
    Ok((listener, addr))
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
            routes::error_response(poem::Error::from_string(
                "this port serves only ACME challenges, /health and /ready \
                 (KAKAOBOT_PLAIN_HTTP_API=false): call the https:// URL",
                StatusCode::NOT_FOUND,
            ))
        }
    })
}

/// The metrics listener on `addr`. A failure to bind is logged, not fatal: the bots
/// matter more than their metrics, and the error says what to change.
pub async fn metrics_server(addr: SocketAddr, limits: Limits) -> Option<(HttpServer, SocketAddr)> {
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
        HttpServer::new("metrics", listener, Arc::new(metrics::routes()), limits),
        addr,
    ))
}
