//! The HTTP/1.1 server at the service's edge: accepts connections, serves poem
//! endpoints on them through hyper, bounds what a slow or hostile client can hold,
//! and drains on shutdown without losing a request.
//!
//! Why not poem's `Server`: poem 3 builds hyper without a timer, so hyper's header
//! timeout is off and a client that sends nothing keeps its connection forever; its
//! accept loop retries `EMFILE` at once, spinning a core while file descriptors are
//! exhausted; and it speaks cleartext HTTP/2 with no stream limit to anyone.
//!
//! HTTP/1.1 only: Kakao's servers call bots over HTTP/1.1, and refusing HTTP/2 takes
//! away its whole class of stream-multiplexing abuse (one connection opening
//! thousands of streams). A client speaking HTTP/2 prior knowledge gets its
//! connection closed; over TLS, ALPN offers `http/1.1` alone.
//!
//! HTTPS is the same server with a TLS handshake first, done in the connection's own
//! task (a handshake flood holds connection permits, never the accept loop) and
//! bounded by the header timeout counted from the accept, so a client that never
//! finishes its handshake is cut off like one that never finishes its header.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION};
use hyper_util::rt::{TokioIo, TokioTimer};
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, Response};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::tls::CertificateSlot;

/// Largest request header (request line included) hyper reads; a larger one gets
/// `431 Request Header Fields Too Large`. Kakao's headers are a few hundred bytes;
/// 16 KiB leaves room for long URLs while keeping a partial header's memory small
/// (1,000 connections × 16 KiB, where hyper's default allowed ~400 KiB each).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// hyper's read buffer: a whole header plus the start of a body.
const READ_BUFFER_BYTES: usize = 2 * MAX_HEADER_BYTES;

/// The first wait after an accept error other than a vanished peer; it doubles up to
/// [`ACCEPT_BACKOFF_MAX`]. Out of file descriptors (`EMFILE`, `ENFILE`) or memory,
/// retrying at once spins a core without freeing anything; waiting lets open
/// connections finish (the header timeout closes idle ones) and give theirs back.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How long connections accepted just before shutdown get to send their request.
///
/// hyper's graceful shutdown closes a connection that has not sent its first byte
/// yet, and the client sees a reset. So accepting stops first, and the connections
/// already accepted get this long to become in-flight requests, which are then
/// drained. Connections not yet accepted stay queued in the socket, which systemd
/// holds open for the next process (socket activation): a restart drops nothing.
pub const FIRST_BYTES_WAIT: Duration = Duration::from_secs(1);

/// What one listener allows each client.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Time for a request header to arrive, from the connection's opening or the end
    /// of the previous response: it also closes silent and idle keep-alive
    /// connections.
    pub header_timeout: Duration,
    /// Connections served at once; at the limit a new one replaces the one that has
    /// gone longest without a request.
    pub max_connections: usize,
    /// After the shutdown signal and [`FIRST_BYTES_WAIT`], how long in-flight
    /// requests may still run before every connection is closed.
    pub shutdown_grace: Duration,
}

/// One listening socket and what it serves.
pub struct HttpServer {
    /// Names the listener in log lines (`api`, `metrics`).
    name: &'static str,
    listener: TcpListener,
    endpoint: Arc<BoxEndpoint<'static, Response>>,
    limits: Limits,
    tls: Option<Tls>,
}

/// What a listener needs to speak HTTPS.
#[derive(Clone)]
struct Tls {
    acceptor: TlsAcceptor,
    slot: CertificateSlot,
}

impl HttpServer {
    /// `endpoint` is shared as it is: every `boxed()` around an endpoint costs each
    /// request a heap allocation and a copy of the request's future.
    pub fn new(
        name: &'static str,
        listener: TcpListener,
        endpoint: Arc<BoxEndpoint<'static, Response>>,
        limits: Limits,
    ) -> Self {
        Self {
            name,
            listener,
            endpoint,
            limits,
            tls: None,
        }
    }

    /// Speaks HTTPS with `config`, whose certificates come from `slot`: accepting
    /// starts once the slot holds one (until then connections wait in the kernel's
    /// queue, as at the connection limit).
    pub fn with_tls(mut self, config: Arc<rustls::ServerConfig>, slot: CertificateSlot) -> Self {
        self.tls = Some(Tls {
            acceptor: TlsAcceptor::from(config),
            slot,
        });
        self
    }

    /// Serves until `shutdown` completes, then drains: stops accepting (connections
    /// not yet accepted stay queued in the socket), marks every further response
    /// `Connection: close` so no keep-alive client sends a request into a closing
    /// connection, waits [`FIRST_BYTES_WAIT`] for connections accepted just before to
    /// send theirs, then closes connections with no request being answered and asks
    /// the others to close after their current response, and after `shutdown_grace`
    /// closes whatever is left.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let Self {
            name,
            listener,
            endpoint,
            limits,
            tls,
        } = self;
        let local_addr = listener.local_addr()?;
        tokio::pin!(shutdown);
        if let Some(tls) = &tls {
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = tls.slot.ready() => info!(listener = name, %local_addr, "serving HTTPS"),
            }
        }
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        let connections = TaskTracker::new();
        // `true` once draining: responses carry `Connection: close`.
        let (draining_tx, draining) = watch::channel(false);
        // Cancelled after FIRST_BYTES_WAIT: connections shut down gracefully.
        let close_idle = CancellationToken::new();
        // Cancelled when the grace is over: connections are dropped.
        let hard_stop = CancellationToken::new();

        let sheddable = Arc::new(Sheddable::default());
        let mut shedding = false;
        let mut backoff = ACCEPT_BACKOFF_MIN;
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            let (stream, remote_addr) = match accepted {
                Ok(accepted) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    accepted
                }
                // The client gave up between connecting and our accept: nothing to
                // wait for.
                Err(err) if is_peer_gone(&err) => continue,
                Err(err) => {
                    if backoff == ACCEPT_BACKOFF_MIN {
                        warn!(listener = name, cause = %err, "cannot accept connections; retrying with back-off");
                    }
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            };
            // At the connection limit, the connection just accepted (the one over the
            // limit: a single descriptor) takes the place of the one that has gone
            // longest without a request: silent connections from one client cannot
            // keep Kakao's requests queued behind them until the header timeout. Not a
            // cap per address: Kakao's calls come from few addresses.
            let permit = match permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    shedding = false;
                    permit
                }
                Err(_) => {
                    if sheddable.shed_oldest() && !shedding {
                        shedding = true;
                        warn!(
                            listener = name,
                            max_connections = limits.max_connections,
                            "at the connection limit; closing connections that have sent no request"
                        );
                    }
                    tokio::select! {
                        () = &mut shutdown => break,
                        permit = permits.clone().acquire_owned() => match permit {
                            Ok(permit) => permit,
                            // The semaphore is never closed.
                            Err(_) => break,
                        },
                    }
                }
            };
            let connection = Connection {
                endpoint: endpoint.clone(),
                local_addr,
                remote_addr,
                draining: draining.clone(),
                close_idle: close_idle.clone(),
                hard_stop: hard_stop.clone(),
                header_timeout: limits.header_timeout,
                place: sheddable.enter(),
            };
            let tls = tls.as_ref().map(|tls| tls.acceptor.clone());
            connections.spawn(async move {
                connection.accept(stream, tls).await;
                drop(permit);
            });
        }

        info!(
            listener = name,
            "stopped accepting; draining the open connections"
        );
        let _ = draining_tx.send(true);
        connections.close();
        if tokio::time::timeout(FIRST_BYTES_WAIT, connections.wait())
            .await
            .is_err()
        {
            close_idle.cancel();
            if tokio::time::timeout(limits.shutdown_grace, connections.wait())
                .await
                .is_err()
            {
                warn!(
                    listener = name,
                    open = connections.len(),
                    grace_secs = limits.shutdown_grace.as_secs(),
                    "closing connections still open after the shutdown grace"
                );
                hard_stop.cancel();
                connections.wait().await;
            }
        }
        // The listener is dropped only now: until the end, connections not yet
        // accepted stay queued (under systemd, for the next process).
        drop(listener);
        Ok(())
    }
}

/// Errors of `accept` that concern one connection, not the listener.
fn is_peer_gone(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// One accepted connection and what it needs to serve and drain.
struct Connection {
    endpoint: Arc<BoxEndpoint<'static, Response>>,
    local_addr: SocketAddr,
    remote_addr: SocketAddr,
    draining: watch::Receiver<bool>,
    close_idle: CancellationToken,
    hard_stop: CancellationToken,
    header_timeout: Duration,
    /// Its place among the connections that may be closed at the limit.
    place: Place,
}

impl Connection {
    /// Serves `stream`, after a TLS handshake when `tls` is given. The handshake gets
    /// the header timeout, counted from the accept, and ends with the drain.
    async fn accept(self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        // Nagle would hold back the last segment of a response waiting for an ACK.
        let _ = stream.set_nodelay(true);
        let Some(acceptor) = tls else {
            return self.serve(stream, Scheme::HTTP).await;
        };
        let handshake = tokio::time::timeout(self.header_timeout, acceptor.accept(stream));
        let stream = tokio::select! {
            done = handshake => match done {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => {
                    debug!(remote_addr = %self.remote_addr, cause = %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    debug!(remote_addr = %self.remote_addr, "TLS handshake too slow; closed");
                    return;
                }
            },
            () = self.close_idle.cancelled() => return,
            () = self.place.shed.cancelled() => return,
        };
        self.serve(stream, Scheme::HTTPS).await;
    }

    async fn serve<S>(self, stream: S, scheme: Scheme)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            endpoint,
            local_addr,
            remote_addr,
            draining,
            close_idle,
            hard_stop,
            header_timeout,
            place,
        } = self;
        let place = Arc::new(place);
        // Requests of this connection being answered: 0 or 1 (HTTP/1.1 without
        // pipelining answers one at a time).
        let in_flight = Arc::new(AtomicUsize::new(0));
        let service = hyper::service::service_fn({
            let (in_flight, place) = (in_flight.clone(), place.clone());
            move |req: hyper::Request<Incoming>| {
                let endpoint = endpoint.clone();
                let draining = draining.clone();
                let scheme = scheme.clone();
                let answering = InFlight::start(&in_flight, &place);
                async move {
                    let _answering = answering;
                    let req = poem::Request::from((
                        req,
                        LocalAddr(local_addr.into()),
                        RemoteAddr(remote_addr.into()),
                        scheme,
                    ));
                    let mut resp = endpoint.get_response(req).await;
                    if *draining.borrow() {
                        // hyper closes the connection after a response that says so, and
                        // the client sends its next request on a new connection (under
                        // systemd, queued for the next process) instead of into this one
                        // as it closes.
                        resp.headers_mut()
                            .insert(CONNECTION, HeaderValue::from_static("close"));
                    }
                    Ok::<_, Infallible>(hyper::Response::from(resp))
                }
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .max_header_size(MAX_HEADER_BYTES)
            .max_buf_size(READ_BUFFER_BYTES)
            .keep_alive(true);
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        let result = tokio::select! {
            result = conn.as_mut() => result,
            // Draining, or shed at the connection limit.
            () = either(&close_idle, &place.shed) => {
                // No request being answered: the connection is idle, or still sending
                // a header (a second after the drain began, or when the limit needs
                // room), which is a stalled client rather than a request to finish.
                // Closing it now keeps it from holding the exit or a place until the
                // header timeout. A request that began as it was shed is finished.
                if in_flight.load(Ordering::Acquire) == 0 {
                    return;
                }
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    result = conn.as_mut() => result,
                    () = hard_stop.cancelled() => return,
                }
            }
        };
        if let Err(err) = result {
            // Timeouts, resets and malformed requests: the client's doing, and
            // hyper has already answered what can be answered (400, 431, 414).
            debug!(%remote_addr, cause = %err, "connection ended with an error");
        }
    }
}

/// Completes when either token is cancelled.
async fn either(a: &CancellationToken, b: &CancellationToken) {
    tokio::select! {
        () = a.cancelled() => {}
        () = b.cancelled() => {}
    }
}

/// Counts a request of one connection as being answered until dropped; meanwhile
/// the connection cannot be shed.
struct InFlight {
    count: Arc<AtomicUsize>,
    place: Arc<Place>,
}

impl InFlight {
    fn start(count: &Arc<AtomicUsize>, place: &Arc<Place>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        place.set(Standing::Busy);
        Self {
            count: count.clone(),
            place: place.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
        self.place.set(Standing::Idle);
    }
}

/// Where a connection stands for shedding, once it has sent a request header (until
/// then it is fresh, and shed first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// Between requests (keep-alive): shed when no fresh one is left.
    Idle,
    /// A request is being answered: never shed.
    Busy,
}

/// The connections that may be closed to make room at the connection limit, oldest
/// first (ids grow with each accept). A connection a client opened to send nothing
/// is always older than the one Kakao opens to send a request at once.
#[derive(Default)]
struct Sheddable {
    inner: Mutex<Shelves>,
}

#[derive(Default)]
struct Shelves {
    next: u64,
    fresh: BTreeMap<u64, CancellationToken>,
    idle: BTreeMap<u64, CancellationToken>,
}

impl Sheddable {
    /// A new connection's place, as [`Standing::Fresh`].
    fn enter(self: &Arc<Self>) -> Place {
        let shed = CancellationToken::new();
        let mut shelves = self.lock();
        let id = shelves.next;
        shelves.next += 1;
        shelves.fresh.insert(id, shed.clone());
        Place {
            id,
            shed,
            shelves: self.clone(),
        }
    }

    /// Closes the oldest fresh connection, or else the oldest idle one; `false` when
    /// every connection is answering a request.
    fn shed_oldest(&self) -> bool {
        let mut shelves = self.lock();
        let oldest = match shelves.fresh.pop_first() {
            Some(entry) => Some(entry),
            None => shelves.idle.pop_first(),
        };
        match oldest {
            Some((id, shed)) => {
                debug!(
                    connection = id,
                    "closing a connection to make room at the limit"
                );
                shed.cancel();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shelves> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One connection's entry in [`Sheddable`], removed when the connection ends.
struct Place {
    id: u64,
    /// Cancelled when the connection is shed.
    shed: CancellationToken,
    shelves: Arc<Sheddable>,
}

impl Place {
    fn set(&self, standing: Standing) {
        let mut shelves = self.shelves.lock();
        shelves.fresh.remove(&self.id);
        shelves.idle.remove(&self.id);
        // A connection already shed stays out.
        if standing == Standing::Idle && !self.shed.is_cancelled() {
            shelves.idle.insert(self.id, self.shed.clone());
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.set(Standing::Busy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_fresh_connection_is_shed_first_then_the_oldest_idle_one() {
        let sheddable = Arc::new(Sheddable::default());
        let (first, second, third) = (sheddable.enter(), sheddable.enter(), sheddable.enter());
        first.set(Standing::Idle);
        third.set(Standing::Busy);

        assert!(sheddable.shed_oldest());
        assert!(second.shed.is_cancelled() && !first.shed.is_cancelled());
        assert!(sheddable.shed_oldest());
        assert!(first.shed.is_cancelled());
        assert!(!sheddable.shed_oldest(), "a busy connection is never shed");
        assert!(!third.shed.is_cancelled());
    }
}
