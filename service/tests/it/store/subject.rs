//! [`Subject`]: a store under test, on memory, one Redis or the cluster, with the
//! means to age its entries and look at its records.

use super::*;

/// A store under test, with the means to make its entries expire without waiting.
pub(super) struct Subject {
    pub(super) store: Arc<dyn Store>,
    pub(super) backend: Backend,
}

pub(super) enum Backend {
    Memory(Arc<MemoryStore>),
    Redis {
        /// Kept alive for the test; killed on drop.
        _server: RedisServer,
        keys: Keys,
        /// A plain connection of the test's own, to look at and age keys.
        admin: MultiplexedConnection,
    },
    Cluster {
        /// Shared by the whole suite's run on the cluster.
        _cluster: Arc<RedisCluster>,
        keys: Keys,
        /// A cluster connection of the test's own, to age keys wherever they live.
        admin: RedisConnection,
        /// One connection per node, to find keys (SCAN sees one node only).
        nodes: Vec<MultiplexedConnection>,
    },
}

impl Subject {
    pub(super) fn memory() -> Self {
        let store = Arc::new(MemoryStore::new());
        Self {
            store: store.clone(),
            backend: Backend::Memory(store),
        }
    }

    pub(super) async fn redis(test_name: &str) -> Self {
        let server = RedisServer::start();
        let prefix = unique_prefix(test_name);
        let store = RedisStore::new(&server.url(), &prefix, PATIENT).unwrap();
        let admin = server.admin().await;
        Self {
            backend: Backend::Redis {
                keys: store.keys().clone(),
                _server: server,
                admin,
            },
            store: Arc::new(store),
        }
    }

    pub(super) async fn cluster(cluster: &Arc<RedisCluster>, test_name: &str) -> Self {
        let prefix = unique_prefix(test_name);
        let target = RedisTarget::Cluster(cluster.urls());
        let store = RedisStore::open(&target, &prefix, PATIENT, None).unwrap();
        let admin = RedisConnection::open(&target, PATIENT, None).unwrap();
        let mut nodes = Vec::new();
        for url in cluster.urls() {
            nodes.push(connect(&url).await);
        }
        Self {
            backend: Backend::Cluster {
                _cluster: cluster.clone(),
                keys: store.keys().clone(),
                admin,
                nodes,
            },
            store: Arc::new(store),
        }
    }

    /// Whether `user` is a friend of `bot`: the service writes friends and never
    /// reads them, so the test looks at the record itself.
    pub(super) async fn is_friend(&self, bot: BotName, user: &UserKey) -> bool {
        match &self.backend {
            Backend::Memory(store) => store.is_friend(bot, user),
            Backend::Redis { keys, admin, .. } => {
                friend_recorded(&mut admin.clone(), keys, bot, user).await
            }
            Backend::Cluster { keys, admin, .. } => {
                friend_recorded(&mut admin.clone(), keys, bot, user).await
            }
        }
    }

    /// The same store as another kakaobot process sees it: for Redis a second store
    /// on the same keys, which has seen nothing of this one's users.
    pub(super) fn another_process(&self) -> Arc<dyn Store> {
        match &self.backend {
            Backend::Memory(store) => store.clone(),
            Backend::Redis { _server, keys, .. } => {
                Arc::new(RedisStore::new(&_server.url(), keys.prefix(), PATIENT).unwrap())
            }
            Backend::Cluster { _cluster, keys, .. } => Arc::new(
                RedisStore::open(
                    &RedisTarget::Cluster(_cluster.urls()),
                    keys.prefix(),
                    PATIENT,
                    None,
                )
                .unwrap(),
            ),
        }
    }

    pub(super) async fn expire_sessions(&self) {
        self.expire(SESSION_TTL, |p| format!("{{{p}:u:*}}:*:session"))
            .await;
        // A lunch member's session lives with the group.
        self.expire(SESSION_TTL, |p| format!("{{{p}:g:*}}:step:*"))
            .await;
    }

    /// Lets every day's votes run out, as if a few days had passed.
    pub(super) async fn expire_votes(&self) {
        self.expire(VOTE_TTL, |p| format!("{{{p}:g:*}}:votes:*"))
            .await;
    }

    /// Moves the memory clock past `ttl`, or expires the Redis keys matching the
    /// pattern `pattern(prefix)` makes.
    pub(super) async fn expire(&self, ttl: Duration, pattern: impl Fn(&str) -> String) {
        match &self.backend {
            Backend::Memory(store) => store.advance_clock(ttl + Duration::from_secs(1)),
            Backend::Redis { keys, admin, .. } => {
                expire_now(admin, &pattern(keys.prefix())).await;
            }
            Backend::Cluster {
                keys, admin, nodes, ..
            } => {
                let pattern = pattern(keys.prefix());
                let mut found = Vec::new();
                for node in nodes {
                    found.extend(scan(node, &pattern).await);
                }
                found.sort();
                found.dedup();
                let mut admin = admin.clone();
                for key in found {
                    let _: bool = redis::cmd("PEXPIRE")
                        .arg(&key)
                        .arg(1)
                        .query_async(&mut admin)
                        .await
                        .unwrap();
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Whether Redis holds `user`'s friend record for `bot`.
pub(super) async fn friend_recorded(
    admin: &mut impl redis::aio::ConnectionLike,
    keys: &Keys,
    bot: BotName,
    user: &UserKey,
) -> bool {
    redis::cmd("EXISTS")
        .arg(keys.friend(bot, user))
        .query_async(admin)
        .await
        .unwrap()
}

/// All keys matching a `SCAN MATCH` pattern, sorted.
pub(super) async fn scan(admin: &MultiplexedConnection, pattern: &str) -> Vec<String> {
    let mut admin = admin.clone();
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut admin)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Gives every matching key a 1 ms time to live and waits until it has passed.
pub(super) async fn expire_now(admin: &MultiplexedConnection, pattern: &str) {
    let mut conn = admin.clone();
    for key in scan(admin, pattern).await {
        let _: bool = redis::cmd("PEXPIRE")
            .arg(&key)
            .arg(1)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}
