//! [`RedisConnection`]: one connection type for a single Redis and for Redis Cluster,
//! so the store has one code path for both (as svix-webhooks does).
//!
//! Both variants are cheap to clone and share their sockets; both connect lazily, so
//! the service starts while Redis is down and recovers without a restart.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Client, Cmd, ErrorKind, IntoConnectionInfo, Pipeline, RedisError, RedisFuture};
use redis::{TlsCertificates, Value};
use tokio::sync::OnceCell;

/// How long the store waits for Redis before giving up on a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedisTimeouts {
    /// Limit for each attempt to open a connection.
    pub connect: Duration,
    /// Limit for the answer to each command, pipeline or script.
    pub response: Duration,
}

impl Default for RedisTimeouts {
    /// Short enough that a call fails within a second even when Redis's host silently
    /// drops packets: a reconnect round is 3 attempts of at most `connect` each plus at
    /// most 300 ms of back-off (3 × 200 + 300 = 900 ms). A refused connection (Redis
    /// down, host up) fails after the back-off alone.
    fn default() -> Self {
        Self {
            connect: Duration::from_millis(200),
            response: Duration::from_millis(500),
        }
    }
}

/// Where the data is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisTarget {
    /// One Redis (or a primary with replicas behind one endpoint): `redis://` or
    /// `rediss://` URL.
    Single(String),
    /// Redis Cluster (or ElastiCache in cluster mode): seed node URLs; the client learns
    /// the rest of the cluster from them.
    Cluster(Vec<String>),
}

/// Reconnect attempts per outage before pending calls fail (single Redis). While
/// Redis is down each call fails fast instead of queueing behind a long back-off; the
/// next call starts a new round of attempts.
const RECONNECT_RETRIES: usize = 2;
/// Back-off between reconnect attempts: the delay starts at `min`, doubles up to
/// `max`, and each wait adds a random jitter of up to the delay itself (so the two
/// waits of a round are 50–100 ms and 100–200 ms).
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(200);
/// Cluster: how often a request is retried after a MOVED, a refused connection or a
/// slot without a primary. Few and short: during a failover the reply budget runs out
/// first, the user gets the "try again" reply, and the next message finds the new
/// primary (the client refreshes its slot map on the first error).
const CLUSTER_RETRIES: u32 = 3;
const CLUSTER_MIN_RETRY_WAIT_MS: u64 = 20;
const CLUSTER_MAX_RETRY_WAIT_MS: u64 = 200;

/// A cloneable connection to a single Redis or to a cluster.
#[derive(Clone)]
pub enum RedisConnection {
    /// A multiplexed connection that reconnects by itself.
    Single(ConnectionManager),
    /// Connections to every cluster node, opened on the first call.
    Cluster(LazyCluster),
}

/// A cluster connection opened on first use, and again after a failed attempt.
#[derive(Clone)]
pub struct LazyCluster {
    client: Arc<ClusterClient>,
    conn: Arc<OnceCell<ClusterConnection>>,
}

impl LazyCluster {
    async fn get(&self) -> Result<ClusterConnection, RedisError> {
        // `get_or_try_init` leaves the cell empty on failure, so the next call tries
        // again: a cluster that is down at start-up is picked up once it is up.
        // `get_async_connection` (not `…_with_config(ClusterConfig::new())`, which
        // would reset them) keeps the builder's timeouts.
        self.conn
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }
}

impl RedisConnection {
    /// Prepares a connection; does not connect. `tls_root` is a PEM CA bundle that
    /// replaces the system's roots for `rediss://` (for a private CA); `None` uses the
    /// system's roots.
    ///
    /// Fails on a malformed URL, or outside a Tokio runtime (the single-node manager
    /// spawns a task).
    pub fn open(
        target: &RedisTarget,
        timeouts: RedisTimeouts,
        tls_root: Option<Vec<u8>>,
    ) -> Result<Self, RedisError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisError::from((
                ErrorKind::Client,
                "a Redis connection must be opened inside a Tokio runtime",
            )));
        }
        crate::install_crypto_provider();
        let certs = || TlsCertificates {
            client_tls: None,
            root_cert: tls_root.clone(),
        };
        match target {
            RedisTarget::Single(url) => {
                let client = match &tls_root {
                    Some(_) => Client::build_with_tls(url.as_str(), certs())?,
                    None => Client::open(url.as_str())?,
                };
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeouts.connect))
                    .set_response_timeout(Some(timeouts.response))
                    .set_number_of_retries(RECONNECT_RETRIES)
                    .set_min_delay(RECONNECT_MIN_DELAY)
                    .set_max_delay(RECONNECT_MAX_DELAY);
                Ok(Self::Single(ConnectionManager::new_lazy_with_config(
                    client, config,
                )?))
            }
            RedisTarget::Cluster(seeds) => {
                let infos = seeds
                    .iter()
                    .map(|s| s.as_str().into_connection_info())
                    .collect::<Result<Vec<_>, _>>()?;
                // The cluster client has no response timeout unless given one: without
                // it a node that stops answering holds every call to its slots.
                let mut builder = ClusterClientBuilder::new(infos)
                    .connection_timeout(timeouts.connect)
                    .response_timeout(timeouts.response)
                    .retries(CLUSTER_RETRIES)
                    .min_retry_wait(CLUSTER_MIN_RETRY_WAIT_MS)
                    .max_retry_wait(CLUSTER_MAX_RETRY_WAIT_MS);
                if tls_root.is_some() {
                    builder = builder.certs(certs());
                }
                Ok(Self::Cluster(LazyCluster {
                    client: Arc::new(builder.build()?),
                    conn: Arc::new(OnceCell::new()),
                }))
            }
        }
    }
}

impl RedisConnection {
    /// Every key matching `pattern`, from every primary of a cluster (a `SCAN` cursor
    /// covers one node only), without duplicates. For maintenance (`kakaobot
    /// migrate`), never on a request path: it reads the whole keyspace.
    pub async fn scan_match(&self, pattern: &str) -> Result<Vec<String>, RedisError> {
        let mut keys = match self {
            Self::Single(conn) => scan_node(&mut conn.clone(), pattern, None).await?,
            Self::Cluster(lazy) => {
                let mut conn = lazy.get().await?;
                let mut keys = Vec::new();
                for primary in primaries(&mut conn).await? {
                    keys.extend(scan_node(&mut conn, pattern, Some(primary)).await?);
                }
                keys
            }
        };
        // A cursor over a keyspace that changes meanwhile may return a key twice.
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }
}

/// A node of a cluster by address, as `CLUSTER SLOTS` names it.
type NodeAddress = (String, u16);

/// The addresses of a cluster's primaries, from `CLUSTER SLOTS` (each slot range's
/// first node is its primary).
async fn primaries(conn: &mut ClusterConnection) -> Result<Vec<NodeAddress>, RedisError> {
    let ranges: Vec<Vec<Value>> = redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
    let mut nodes: Vec<NodeAddress> = Vec::new();
    for range in ranges {
        let Some(primary) = range.get(2) else {
            continue;
        };
        let (host, port): (String, u16) = match primary {
            Value::Array(node) if node.len() >= 2 => (
                redis::from_redis_value_ref(&node[0])?,
                redis::from_redis_value_ref(&node[1])?,
            ),
            _ => continue,
        };
        if !nodes.contains(&(host.clone(), port)) {
            nodes.push((host, port));
        }
    }
    Ok(nodes)
}

/// `SCAN … MATCH pattern` to the end, on a single Redis or on one cluster node.
async fn scan_node<C: ScanRoute>(
    conn: &mut C,
    pattern: &str,
    node: Option<NodeAddress>,
) -> Result<Vec<String>, RedisError> {
    let mut keys = Vec::new();
    let mut cursor = 0u64;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000);
        let (next, batch): (u64, Vec<String>) = conn.scan_page(scan, node.clone()).await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// Sends one `SCAN` page: as it is on a single Redis, to the named node on a cluster.
trait ScanRoute {
    async fn scan_page(
        &mut self,
        scan: Cmd,
        node: Option<NodeAddress>,
    ) -> Result<(u64, Vec<String>), RedisError>;
}

impl ScanRoute for ConnectionManager {
    async fn scan_page(
        &mut self,
        scan: Cmd,
        _node: Option<NodeAddress>,
    ) -> Result<(u64, Vec<String>), RedisError> {
        scan.query_async(self).await
    }
}

impl ScanRoute for ClusterConnection {
    async fn scan_page(
        &mut self,
        scan: Cmd,
        node: Option<NodeAddress>,
    ) -> Result<(u64, Vec<String>), RedisError> {
        let Some((host, port)) = node else {
            return scan.query_async(self).await;
        };
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
        let page = self.route_command(scan, routing).await?;
        Ok(redis::from_redis_value(page)?)
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(lazy) => Box::pin(async move {
                let mut conn = lazy.get().await?;
                conn.req_packed_command(cmd).await
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(lazy) => Box::pin(async move {
                let mut conn = lazy.get().await?;
                conn.req_packed_commands(pipeline, offset, count).await
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            // A cluster has only database 0.
            Self::Cluster(_) => 0,
        }
    }
}

impl super::StoreError {
    /// Whether the call certainly never reached Redis: no connection could be opened
    /// (refused, or no socket file). Only then may it be tried again without risking
    /// that its change is made twice: a call that timed out or lost its connection
    /// may have run, or may still run when a paused Redis resumes.
    pub fn never_sent(&self) -> bool {
        self.redis_error()
            .is_some_and(|err| err.is_connection_refusal())
    }

    /// Whether Redis answered the call with an error reply (out of memory, a script
    /// error): it is reachable but does not serve, which a `PING` does not show.
    pub fn refused_by_store(&self) -> bool {
        self.redis_error().is_some_and(|err| {
            !(err.is_io_error() || err.is_timeout() || err.is_connection_dropped())
        })
    }

    /// The driver's error, which the variant keeps opaque to the layers above.
    fn redis_error(&self) -> Option<&redis::RedisError> {
        match self {
            Self::Redis(err) => err.downcast_ref(),
            _ => None,
        }
    }
}
