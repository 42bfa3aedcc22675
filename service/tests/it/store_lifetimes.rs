//! No key lives forever: a Redis that fills up forgets the longest-idle users instead
//! of refusing writes, and `kakaobot migrate` gives the keys an earlier version wrote
//! without a lifetime one, on a single Redis and on a cluster. (That every key the
//! store writes has a lifetime, and that a user who comes back keeps theirs, is in
//! `store::only_redis`.)

use std::time::Duration;

use kakaobot::store::{AnswerCheck, QuizSession, RedisStore, RedisTimeouts, Store};
use kakaobot::user::{BotName, UserKey};
use redis::aio::MultiplexedConnection;

use crate::helpers::{connect, process, unique_prefix, RedisCluster, RedisServer};

/// Made-up users, each asking and answering one question: far more than fit in the
/// room the test gives Redis.
const USERS: usize = 6000;
/// Room for the users' keys above what an empty Redis uses: about a third of what
/// they need.
const ROOM: u64 = 1 << 20;
/// This is about what the store does when Redis is full, not how fast: on a busy
/// machine a call may wait longer than the service's own half second.
const PATIENT: RedisTimeouts = RedisTimeouts {
    connect: Duration::from_secs(5),
    response: Duration::from_secs(30),
};

/// A field of `INFO` (e.g. `used_memory`, `evicted_keys`).
async fn info(admin: &mut MultiplexedConnection, field: &str) -> u64 {
    let text: String = redis::cmd("INFO").query_async(admin).await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO has no {field}"))
        .trim()
        .parse()
        .unwrap()
}

/// What a quiz user leaves: asked a question, answered it, and friends with the bot.
async fn ask_and_answer(store: &RedisStore, user: &UserKey) -> kakaobot::store::Result<()> {
    let question = QuizSession {
        category: "python".into(),
        question_id: "py-1".into(),
    };
    store.add_friend(BotName::Quiz, user).await?;
    store
        .quiz_ask(user, "python", std::slice::from_ref(&question))
        .await?;
    let check = AnswerCheck {
        tapped: Some("py-1".into()),
        valid_for: vec!["py-1".into()],
        correct_for: vec!["py-1".into()],
    };
    store.quiz_judge(user, &check).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redis_forgets_the_longest_idle_users_instead_of_refusing_writes() {
    let redis = RedisServer::start_with(&["--maxmemory-policy", "volatile-lru"]);
    let mut admin = redis.admin().await;
    let limit = info(&mut admin, "used_memory").await + ROOM;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(limit)
        .query_async(&mut admin)
        .await
        .unwrap();
    let store = RedisStore::new(&redis.url(), &unique_prefix("full"), PATIENT).unwrap();

    let mut refused = Vec::new();
    for i in 0..USERS {
        let user = UserKey::parse(&format!("made-up-user-{i:05}")).unwrap();
        if let Err(err) = ask_and_answer(&store, &user).await {
            refused.push(format!("user {i}: {err}"));
        }
    }

    let evicted = info(&mut admin, "evicted_keys").await;
    println!(
        "{USERS} made-up users, Redis limited to {limit} bytes: {} refused, {evicted} keys evicted",
        refused.len()
    );
    assert!(
        refused.is_empty(),
        "{} of {USERS} users were refused, the first: {:?}",
        refused.len(),
        refused.first()
    );
    assert!(
        evicted > 0,
        "Redis never reached its limit: the test proves nothing"
    );
    // Redis evicts before each command, so what the last one wrote may stand a few
    // KiB over the limit; the users' data (three times the room) did not.
    let used = info(&mut admin, "used_memory").await;
    assert!(
        used < limit + ROOM / 4,
        "Redis uses {used} bytes, far over its limit {limit}"
    );
    // Which users were forgotten is Redis's sampled LRU, whose clock ticks once a
    // second: not asserted, as it depends on the machine's speed.
}

/// What a version before key lifetimes left: a quiz user's and a lunch group's
/// lasting keys with no lifetime, and a session with its own.
async fn load_keys_without_lifetimes<C: redis::aio::ConnectionLike>(
    conn: &mut C,
    p: &str,
    users: &[&str],
) {
    for u in users {
        redis::pipe()
            .cmd("HSET")
            .arg(format!("{{{p}:u:{u}}}:quiz:score"))
            .arg("correct")
            .arg(1)
            .ignore()
            .cmd("SADD")
            .arg(format!("{{{p}:u:{u}}}:quiz:asked:python"))
            .arg("py-1")
            .ignore()
            .cmd("SET")
            .arg(format!("{{{p}:u:{u}}}:quiz:friend"))
            .arg(1)
            .ignore()
            .cmd("SET")
            .arg(format!("{{{p}:u:{u}}}:quiz:session"))
            .arg(r#"{"category":"python","question_id":"py-2"}"#)
            .arg("EX")
            .arg(600)
            .ignore()
            .exec_async(conn)
            .await
            .unwrap();
        redis::pipe()
            .cmd("HSET")
            .arg(format!("{{{p}:g:G{u}}}:group"))
            .arg("created_at")
            .arg("2026-01-01T00:00:00Z")
            .ignore()
            .cmd("SADD")
            .arg(format!("{{{p}:g:G{u}}}:members"))
            .arg(*u)
            .ignore()
            .exec_async(conn)
            .await
            .unwrap();
    }
}

/// Runs the real binary's `migrate` with a 30-day key lifetime and the given Redis
/// setting, and returns what it printed.
fn run_migrate(redis: (&str, &str), prefix: &str) -> String {
    process::migrate(&[
        redis,
        ("KAKAOBOT_KEY_PREFIX", prefix),
        ("KAKAOBOT_REDIS_KEY_TTL_DAYS", "30"),
    ])
}

/// Every key under `prefix` on `node` with its lifetime in seconds.
async fn lifetimes(node: &mut MultiplexedConnection, prefix: &str) -> Vec<(String, i64)> {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{{{prefix}:*"))
        .query_async(node)
        .await
        .unwrap();
    let mut found = Vec::new();
    for key in keys {
        let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(node).await.unwrap();
        found.push((key, ttl));
    }
    found
}

/// Each lasting key now lives 30 days, each session keeps its ten minutes.
fn assert_thirty_days(found: &[(String, i64)]) {
    let thirty_days = 30 * 24 * 3600;
    for (key, ttl) in found {
        if key.ends_with(":session") {
            assert!(
                (1..=600).contains(ttl),
                "{key} lost its own lifetime: {ttl}"
            );
        } else {
            assert!(
                (thirty_days - 60..=thirty_days).contains(ttl),
                "{key} lives {ttl} s, not 30 days"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_gives_every_key_without_a_lifetime_one_and_a_rerun_gives_none() {
    let redis = RedisServer::start();
    let prefix = unique_prefix("lifetimes");
    let mut admin = redis.admin().await;
    load_keys_without_lifetimes(&mut admin, &prefix, &["alice", "bob"]).await;

    let first = run_migrate(("KAKAOBOT_REDIS_URL", &redis.url()), &prefix);
    let second = run_migrate(("KAKAOBOT_REDIS_URL", &redis.url()), &prefix);

    assert!(first.contains("gave 10 keys"), "{first}");
    assert!(second.contains("gave 0 keys"), "{second}");
    let found = lifetimes(&mut admin, &prefix).await;
    assert_eq!(found.len(), 12, "{found:?}");
    assert_thirty_days(&found);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_gives_lifetimes_on_every_node_of_a_cluster() {
    let cluster = RedisCluster::start();
    let prefix = unique_prefix("cluster_lifetimes");
    let users = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
    ];
    let client = redis::cluster::ClusterClient::new(cluster.urls()).unwrap();
    let mut conn = client.get_async_connection().await.unwrap();
    load_keys_without_lifetimes(&mut conn, &prefix, &users).await;

    let said = run_migrate(("KAKAOBOT_REDIS_CLUSTER", &cluster.seeds()), &prefix);

    assert!(said.contains("gave 40 keys"), "{said}");
    assert!(!said.contains("cluster-ready layout"), "{said}");
    // Read on the primaries: a replica may not have the EXPIREs yet.
    let mut found = Vec::new();
    let mut primaries_with_keys = 0;
    for url in cluster.urls() {
        let mut node = connect(&url).await;
        let role: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut node)
            .await
            .unwrap();
        if !role.contains("role:master") {
            continue;
        }
        let on_node = lifetimes(&mut node, &prefix).await;
        primaries_with_keys += usize::from(!on_node.is_empty());
        found.extend(on_node);
    }
    assert_eq!(found.len(), users.len() * 6, "{found:?}");
    assert!(
        primaries_with_keys > 1,
        "the keys did not spread over the primaries: the test proves nothing"
    );
    assert_thirty_days(&found);
}
