//! [`RedisStore`]: the store of real deployments, on a single Redis or a Redis Cluster.
//!
//! One [`RedisConnection`] (multiplexed, reconnecting) is cloned into every call. Every
//! command, pipeline and Lua script touches the keys of one hash slot only: one user's
//! keys or one group's keys (see [`Keys`]), so the same code runs on a cluster. A lunch
//! message needs both: the user's step (their group pointer, or their session while
//! they have none) and the group's step (the list, the votes, and the member's session,
//! which lives with the group so that a typed vote or addition is decided and made
//! there) are issued together, one round trip of latency. Creating and joining a group
//! change three slots (the user's, the new group's, the old group's); their steps go
//! out together with the message's read, and a refusal on one side takes back what
//! the others did ahead (see [`RedisStore::change_ahead`], where the argument for
//! consistency when a step fails is written). No script builds a key name: every key
//! arrives in `KEYS`.

mod lunch;
mod scripts;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::{ErrorKind, RedisError, RedisFuture};

use self::lunch::Hint;
use self::scripts::Scripts;
use super::connection::{RedisConnection, RedisTarget, RedisTimeouts};
use super::{
    AnswerCheck, BotName, Judgement, Keys, LunchRequest, LunchState, QuizAsked, QuizChange,
    QuizSession, QuizState, Result, Score, Store, StoreError, DEFAULT_KEY_TTL, SESSION_TTL,
};
use crate::user::UserKey;

/// The [`Store`] on Redis. Cheap to share behind an `Arc`; all calls share one
/// multiplexed connection (per node, in a cluster).
pub struct RedisStore {
    /// Cloned per call; clones share the connection and its reconnect state.
    conn: RedisConnection,
    keys: Keys,
    /// Lua scripts, hashed once here; Redis caches them after the first `EVAL`.
    scripts: Scripts,
    /// What this process last saw of each lunch user; see [`Hint`].
    hints: Mutex<HashMap<String, Hint>>,
    /// Whole seconds a user's or a group's lasting keys outlive the round trip that
    /// last used them (see [`RedisStore::key_ttl`]).
    key_ttl: u64,
    /// The day (since the epoch) this process last gave each user's and each group's
    /// keys their lifetime, by a hash of the scope; see [`RedisStore::key_ttl_arg`].
    renewed: Mutex<HashMap<u64, u64>>,
}

impl RedisStore {
    /// Prepares a store for a single Redis at `url` (e.g. `redis://127.0.0.1:6379/0`)
    /// whose keys all start with `{prefix:`.
    ///
    /// Does not connect: the connection is opened on the first call and reopened
    /// after any failure, so the service can start while Redis is down and recovers
    /// without a restart when it comes back. Fails only on a malformed URL, or when
    /// called outside a Tokio runtime (the connection manager spawns a task).
    pub fn new(url: &str, prefix: &str, timeouts: RedisTimeouts) -> Result<Self> {
        Self::open(&RedisTarget::Single(url.to_owned()), prefix, timeouts, None)
    }

    /// Like [`RedisStore::new`], for a single Redis or a cluster, with an optional PEM
    /// CA bundle for `rediss://` servers whose certificate a private CA signed.
    pub fn open(
        target: &RedisTarget,
        prefix: &str,
        timeouts: RedisTimeouts,
        tls_root: Option<Vec<u8>>,
    ) -> Result<Self> {
        let conn = RedisConnection::open(target, timeouts, tls_root)?;
        Ok(Self {
            conn,
            keys: Keys::new(prefix),
            scripts: Scripts::new(),
            hints: Mutex::new(HashMap::new()),
            key_ttl: DEFAULT_KEY_TTL.as_secs(),
            renewed: Mutex::new(HashMap::new()),
        })
    }

    /// Keeps a user's or a group's lasting keys (everything but sessions, votes and
    /// allowances, which have lifetimes of their own) for `ttl` after the round trip
    /// that last used them: each round trip sets it again on the keys it names, so a
    /// user who comes back keeps everything, and a user who never does is forgotten.
    /// [`DEFAULT_KEY_TTL`] unless set; whole seconds, at least one.
    pub fn key_ttl(mut self, ttl: Duration) -> Self {
        self.key_ttl = ttl.as_secs().max(1);
        self
    }

    /// The key lifetime argument of a script on the keys of `scope` (a user's or a
    /// group's): the lifetime, to be set on every lasting key the script names, the
    /// first time today this process asks; after that its negative, to be set only on
    /// the keys the script writes (see the scripts' module). A key read each message
    /// would otherwise cost Redis an `EXPIRE` (a `redis.call` from Lua, about as
    /// costly as a small command) each message, for a lifetime counted in months.
    /// Another process, or a forgotten entry, renews once more: harmless.
    ///
    /// Scopes are remembered by a 64-bit hash (16 bytes an entry, not the scope's
    /// text): two scopes that share one only share their renewal day, which leaves a
    /// key at most a day short of its lifetime.
    fn key_ttl_arg(&self, scope: impl Hash) -> i64 {
        let today = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs() / (24 * 3600));
        let scope = {
            let mut hasher = DefaultHasher::new();
            scope.hash(&mut hasher);
            hasher.finish()
        };
        let ttl = i64::try_from(self.key_ttl).unwrap_or(i64::MAX);
        let mut renewed = self.renewed.lock().unwrap_or_else(PoisonError::into_inner);
        if renewed.get(&scope) == Some(&today) {
            return -ttl;
        }
        if renewed.len() >= RENEWED_CAP && !renewed.contains_key(&scope) {
            renewed.clear();
        }
        renewed.insert(scope, today);
        ttl
    }

    /// [`RedisStore::key_ttl_arg`] for `user`'s keys of `bot` (each bot's scripts
    /// name only its own).
    fn user_ttl_arg(&self, bot: BotName, user: &UserKey) -> i64 {
        self.key_ttl_arg(("u", bot.as_str(), user.as_str()))
    }

    /// [`RedisStore::key_ttl_arg`] for the keys of the group `code`.
    fn group_ttl_arg(&self, code: &str) -> i64 {
        self.key_ttl_arg(("g", code))
    }

    /// The key names this store uses.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The shared connection, timing each round trip as a call of `operation`
    /// (a [`Store`] method's name) for the metrics.
    fn conn(&self, operation: &'static str) -> Timed {
        Timed {
            conn: self.conn.clone(),
            operation,
        }
    }
}

/// Most users and groups whose last renewal day one process remembers (about 32
/// bytes each); when full it forgets them all, which costs one renewal each.
const RENEWED_CAP: usize = 100_000;

/// A connection that records how long each round trip took and how it ended
/// (`kakaobot_redis_command_duration_seconds`). A thin wrapper: it passes every call
/// through unchanged.
struct Timed {
    conn: RedisConnection,
    operation: &'static str,
}

impl Timed {
    async fn timed<T>(
        operation: &'static str,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> redis::RedisResult<T> {
        let started = std::time::Instant::now();
        let result = call.await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(err) if err.is_timeout() => "timeout",
            // The first call of a script after Redis restarted: expected, and retried
            // with the script's text at once.
            Err(err) if err.kind() == ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                "noscript"
            }
            Err(_) => "error",
        };
        crate::metrics::redis_call(operation, outcome, started.elapsed());
        result
    }
}

impl ConnectionLike for Timed {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, redis::Value> {
        Box::pin(Self::timed(
            self.operation,
            self.conn.req_packed_command(cmd),
        ))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<redis::Value>> {
        Box::pin(Self::timed(
            self.operation,
            self.conn.req_packed_commands(pipeline, offset, count),
        ))
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.keys.prefix())
            .finish_non_exhaustive()
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    Ok(serde_json::to_string(value)?)
}

fn from_json<T: serde::de::DeserializeOwned>(raw: Option<String>) -> Result<Option<T>> {
    raw.map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(StoreError::Corrupt)
}

/// `SET key value EX <session ttl>`.
fn set_session(pipe: &mut redis::Pipeline, key: String, json: String) {
    pipe.cmd("SET")
        .arg(key)
        .arg(json)
        .arg("EX")
        .arg(SESSION_TTL.as_secs())
        .ignore();
}

#[async_trait::async_trait]
impl Store for RedisStore {
    #[tracing::instrument(level = "debug", skip_all)]
    async fn ping(&self) -> Result<()> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.conn("ping"))
            .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(bot = bot.as_str(), user = %user))]
    async fn add_friend(&self, bot: BotName, user: &UserKey) -> Result<()> {
        redis::cmd("SET")
            .arg(self.keys.friend(bot, user))
            .arg(1)
            .arg("EX")
            .arg(self.key_ttl)
            .exec_async(&mut self.conn("add_friend"))
            .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(bot = bot.as_str(), user = %user))]
    async fn remove_friend(&self, bot: BotName, user: &UserKey) -> Result<()> {
        // One DEL of two keys in one slot (atomic), and the group pointer read with it.
        let (_, code): (i64, Option<String>) = redis::pipe()
            .cmd("DEL")
            .arg(self.keys.friend(bot, user))
            .arg(self.keys.session(bot, user))
            .cmd("GET")
            .arg(self.keys.lunch_member(user))
            .query_async(&mut self.conn("remove_friend"))
            .await?;
        self.clear_group_step(bot, user, code).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(bot = bot.as_str(), user = %user))]
    async fn clear_session(&self, bot: BotName, user: &UserKey) -> Result<()> {
        let (_, code): (i64, Option<String>) = redis::pipe()
            .cmd("DEL")
            .arg(self.keys.session(bot, user))
            .cmd("GET")
            .arg(self.keys.lunch_member(user))
            .query_async(&mut self.conn("clear_session"))
            .await?;
        self.clear_group_step(bot, user, code).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, category = ?category))]
    async fn quiz_load(&self, user: &UserKey, category: Option<&str>) -> Result<QuizState> {
        let mut call = self.scripts.quiz_load.prepare_invoke();
        call.key(self.keys.session(BotName::Quiz, user))
            .key(self.keys.quiz_score(user))
            .key(self.keys.friend(BotName::Quiz, user))
            .arg(self.user_ttl_arg(BotName::Quiz, user));
        if let Some(category) = category {
            call.key(self.keys.quiz_asked(user, category));
        }
        let (session, correct, answered, mut asked): (
            Option<String>,
            Option<u64>,
            Option<u64>,
            Vec<String>,
        ) = call.invoke_async(&mut self.conn("quiz_load")).await?;
        // Sets have no order; sorted, the answer is the same on every store.
        asked.sort_unstable();
        Ok(QuizState {
            session: from_json::<QuizSession>(session)?,
            score: Score {
                correct: correct.unwrap_or(0),
                answered: answered.unwrap_or(0),
            },
            asked,
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, category = %category))]
    async fn quiz_ask(
        &self,
        user: &UserKey,
        category: &str,
        candidates: &[QuizSession],
    ) -> Result<QuizAsked> {
        if candidates.is_empty() {
            return Err(unexpected("quiz_ask", "no candidates"));
        }
        let mut call = self.scripts.quiz_ask.prepare_invoke();
        call.key(self.keys.session(BotName::Quiz, user))
            .key(self.keys.quiz_asked(user, category))
            .key(self.keys.quiz_score(user))
            .key(self.keys.friend(BotName::Quiz, user))
            .arg(SESSION_TTL.as_secs())
            .arg(self.user_ttl_arg(BotName::Quiz, user));
        for candidate in candidates {
            // The session JSON is made here, by serde, so QUIZ_ASK compares the
            // pending one byte for byte with what Rust would write.
            call.arg(&candidate.question_id).arg(to_json(candidate)?);
        }
        let (question_id, restarted): (String, i64) =
            call.invoke_async(&mut self.conn("quiz_ask")).await?;
        Ok(QuizAsked {
            question_id,
            restarted: restarted == 1,
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user))]
    async fn quiz_judge(&self, user: &UserKey, check: &AnswerCheck) -> Result<Judgement> {
        let mut call = self.scripts.quiz_judge.prepare_invoke();
        call.key(self.keys.session(BotName::Quiz, user))
            .key(self.keys.quiz_score(user))
            .key(self.keys.friend(BotName::Quiz, user))
            .arg(self.user_ttl_arg(BotName::Quiz, user))
            .arg(check.tapped.as_deref().unwrap_or(""))
            .arg(check.valid_for.len());
        for id in check.valid_for.iter().chain(&check.correct_for) {
            call.arg(id);
        }
        let (session, correct, answered, verdict): (Option<String>, Option<u64>, Option<u64>, i64) =
            call.invoke_async(&mut self.conn("quiz_judge")).await?;
        Ok(Judgement {
            session: from_json::<QuizSession>(session)?,
            score: Score {
                correct: correct.unwrap_or(0),
                answered: answered.unwrap_or(0),
            },
            counted: match verdict {
                0 => None,
                1 => Some(false),
                _ => Some(true),
            },
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user))]
    async fn quiz_save(&self, user: &UserKey, change: &QuizChange) -> Result<()> {
        // Every key is the user's: one slot, so MULTI/EXEC works on a cluster too.
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut writes = 0;
        match &change.session {
            Some(Some(session)) => {
                set_session(
                    &mut pipe,
                    self.keys.session(BotName::Quiz, user),
                    to_json(session)?,
                );
                writes += 1;
            }
            Some(None) => {
                pipe.cmd("DEL")
                    .arg(self.keys.session(BotName::Quiz, user))
                    .ignore();
                writes += 1;
            }
            None => {}
        }
        // Reset before mark: a change that starts a new round leaves exactly the newly
        // asked question marked.
        if let Some(category) = &change.reset_asked {
            pipe.cmd("DEL")
                .arg(self.keys.quiz_asked(user, category))
                .ignore();
            writes += 1;
        }
        if let Some((category, id)) = &change.mark_asked {
            let asked = self.keys.quiz_asked(user, category);
            pipe.cmd("SADD").arg(&asked).arg(id).ignore();
            pipe.cmd("EXPIRE").arg(asked).arg(self.key_ttl).ignore();
            writes += 1;
        }
        if writes > 0 {
            for lasting in [
                self.keys.quiz_score(user),
                self.keys.friend(BotName::Quiz, user),
            ] {
                pipe.cmd("EXPIRE").arg(lasting).arg(self.key_ttl).ignore();
            }
            pipe.exec_async(&mut self.conn("quiz_save")).await?;
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, day = %day))]
    async fn lunch_open(
        &self,
        user: &UserKey,
        day: &str,
        request: &LunchRequest,
    ) -> Result<LunchState> {
        self.open_lunch(user, day, request).await
    }
}

fn unexpected(what: &'static str, got: &str) -> StoreError {
    RedisError::from((
        ErrorKind::UnexpectedReturnType,
        what,
        format!("unexpected script result {got:?}"),
    ))
    .into()
}
