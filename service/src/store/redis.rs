//! [`RedisStore`]: the store of real deployments.
//!
//! One [`ConnectionManager`] (a multiplexed connection that reconnects by itself) is
//! cloned into every call. Each trait method is one round trip: a single command, a
//! pipeline (`MULTI`/`EXEC` where the writes must land together), or a Lua script for
//! read-modify-write steps, which Redis runs atomically. Key names come from [`Keys`].

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ErrorKind, RedisError, RedisFuture, Script, Value};

use super::{
    AddOutcome, BotScope, Keys, LunchSession, LunchState, Membership, QuizChange, QuizSession,
    QuizState, Result, Score, Store, StoreError, Tally, VoteOutcome, SESSION_TTL, VOTE_TTL,
};
use crate::user::UserKey;

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
    /// drops packets: a reconnect round is 1 + [`RECONNECT_RETRIES`] attempts of at most
    /// `connect` each plus at most 300 ms of back-off (3 × 200 + 300 = 900 ms). A
    /// refused connection (Redis down, host up) fails after the back-off alone.
    fn default() -> Self {
        Self {
            connect: Duration::from_millis(200),
            response: Duration::from_millis(500),
        }
    }
}

/// Reconnect attempts per outage before pending calls fail. While Redis is down each
/// call fails fast instead of queueing behind a long back-off; the next call starts a
/// new round of attempts, so the store recovers as soon as Redis is back.
const RECONNECT_RETRIES: usize = 2;
/// Back-off between reconnect attempts: the delay starts at `min`, doubles up to
/// `max`, and each wait adds a random jitter of up to the delay itself (so the two
/// waits of a round are 50–100 ms and 100–200 ms).
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(200);

/// The [`Store`] on Redis. Cheap to share behind an `Arc`; all calls share one
/// multiplexed connection.
pub struct RedisStore {
    /// Cloned per call; clones share the connection and its reconnect state.
    conn: ConnectionManager,
    keys: Keys,
    /// Lua scripts, hashed once here; Redis caches them after the first `EVAL`.
    scripts: Scripts,
}

struct Scripts {
    lunch_load: Script,
    lunch_create_group: Script,
    lunch_join_group: Script,
    lunch_add_restaurant: Script,
    lunch_vote: Script,
    quiz_answer: Script,
}

impl RedisStore {
    /// Prepares a store for `url` (e.g. `redis://127.0.0.1:6379/0`) whose keys all
    /// start with `prefix:`.
    ///
    /// Does not connect: the connection is opened on the first call and reopened
    /// after any failure, so the service can start while Redis is down and recovers
    /// without a restart when it comes back. Fails only on a malformed URL, or when
    /// called outside a Tokio runtime (the connection manager spawns a task).
    pub fn new(url: &str, prefix: &str, timeouts: RedisTimeouts) -> Result<Self> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisError::from((
                ErrorKind::Client,
                "RedisStore::new must be called inside a Tokio runtime",
            ))
            .into());
        }
        let client = Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeouts.connect))
            .set_response_timeout(Some(timeouts.response))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            conn,
            keys: Keys::new(prefix),
            scripts: Scripts {
                lunch_load: Script::new(LUNCH_LOAD),
                lunch_create_group: Script::new(LUNCH_CREATE_GROUP),
                lunch_join_group: Script::new(LUNCH_JOIN_GROUP),
                lunch_add_restaurant: Script::new(LUNCH_ADD_RESTAURANT),
                lunch_vote: Script::new(LUNCH_VOTE),
                quiz_answer: Script::new(QUIZ_ANSWER),
            },
        })
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

/// A connection that records how long each round trip took and how it ended
/// (`kakaobot_redis_command_duration_seconds`). A thin wrapper: it passes every call
/// through unchanged.
struct Timed {
    conn: ConnectionManager,
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
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, Value> {
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
    ) -> RedisFuture<'a, Vec<Value>> {
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
    async fn add_friend(&self, bot: BotScope, user: &UserKey) -> Result<()> {
        redis::cmd("SADD")
            .arg(self.keys.friends(bot))
            .arg(user.as_str())
            .exec_async(&mut self.conn("add_friend"))
            .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(bot = bot.as_str(), user = %user))]
    async fn remove_friend(&self, bot: BotScope, user: &UserKey) -> Result<()> {
        redis::pipe()
            .atomic()
            .cmd("SREM")
            .arg(self.keys.friends(bot))
            .arg(user.as_str())
            .ignore()
            .cmd("DEL")
            .arg(self.keys.session(bot, user))
            .ignore()
            .exec_async(&mut self.conn("remove_friend"))
            .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(bot = bot.as_str(), user = %user))]
    async fn is_friend(&self, bot: BotScope, user: &UserKey) -> Result<bool> {
        Ok(redis::cmd("SISMEMBER")
            .arg(self.keys.friends(bot))
            .arg(user.as_str())
            .query_async(&mut self.conn("is_friend"))
            .await?)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(bot = bot.as_str(), user = %user))]
    async fn clear_session(&self, bot: BotScope, user: &UserKey) -> Result<()> {
        redis::cmd("DEL")
            .arg(self.keys.session(bot, user))
            .exec_async(&mut self.conn("clear_session"))
            .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, category = ?category))]
    async fn quiz_load(&self, user: &UserKey, category: Option<&str>) -> Result<QuizState> {
        let mut pipe = redis::pipe();
        // MULTI/EXEC so the three reads see one moment.
        pipe.atomic()
            .cmd("GET")
            .arg(self.keys.session(BotScope::Quiz, user))
            .cmd("HMGET")
            .arg(self.keys.quiz_score(user))
            .arg("correct")
            .arg("answered");
        let mut conn = self.conn("quiz_load");
        let (session, (correct, answered), mut asked) = match category {
            Some(category) => {
                pipe.cmd("SMEMBERS")
                    .arg(self.keys.quiz_asked(user, category));
                let (session, score, asked): (
                    Option<String>,
                    (Option<u64>, Option<u64>),
                    Vec<String>,
                ) = pipe.query_async(&mut conn).await?;
                (session, score, asked)
            }
            None => {
                let (session, score): (Option<String>, (Option<u64>, Option<u64>)) =
                    pipe.query_async(&mut conn).await?;
                (session, score, Vec::new())
            }
        };
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

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user))]
    async fn quiz_save(&self, user: &UserKey, change: &QuizChange) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut writes = 0;
        match &change.session {
            Some(Some(session)) => {
                set_session(
                    &mut pipe,
                    self.keys.session(BotScope::Quiz, user),
                    to_json(session)?,
                );
                writes += 1;
            }
            Some(None) => {
                pipe.cmd("DEL")
                    .arg(self.keys.session(BotScope::Quiz, user))
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
            pipe.cmd("SADD")
                .arg(self.keys.quiz_asked(user, category))
                .arg(id)
                .ignore();
            writes += 1;
        }
        if writes > 0 {
            pipe.exec_async(&mut self.conn("quiz_save")).await?;
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, correct = correct))]
    async fn quiz_answer(
        &self,
        user: &UserKey,
        asked: &QuizSession,
        correct: bool,
    ) -> Result<bool> {
        let counted: i64 = self
            .scripts
            .quiz_answer
            .key(self.keys.session(BotScope::Quiz, user))
            .key(self.keys.quiz_score(user))
            .arg(to_json(asked)?)
            .arg(i64::from(correct))
            .invoke_async(&mut self.conn("quiz_answer"))
            .await?;
        Ok(counted == 1)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, day = %day))]
    async fn lunch_load(&self, user: &UserKey, day: &str) -> Result<LunchState> {
        let parts = self.keys.lunch_script_parts(day);
        let (session, code, restaurants, my_vote): (
            Option<String>,
            Option<String>,
            Vec<String>,
            Option<String>,
        ) = self
            .scripts
            .lunch_load
            .key(self.keys.lunch_member(user))
            .key(self.keys.session(BotScope::Lunch, user))
            .arg(parts.group_prefix)
            .arg(parts.restaurants_suffix)
            .arg(parts.votes_prefix)
            .arg(parts.votes_day_suffix)
            .arg(user.as_str())
            .invoke_async(&mut self.conn("lunch_load"))
            .await?;
        Ok(LunchState {
            session: from_json::<LunchSession>(session)?,
            membership: code.map(|code| Membership {
                code,
                restaurants,
                my_vote,
            }),
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user))]
    async fn lunch_set_session(&self, user: &UserKey, session: Option<LunchSession>) -> Result<()> {
        let key = self.keys.session(BotScope::Lunch, user);
        let mut pipe = redis::pipe();
        match session {
            Some(session) => set_session(&mut pipe, key, to_json(&session)?),
            None => {
                pipe.cmd("DEL").arg(key).ignore();
            }
        }
        pipe.exec_async(&mut self.conn("lunch_set_session")).await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, code = %code))]
    async fn lunch_create_group(&self, user: &UserKey, code: &str) -> Result<bool> {
        let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let created: i64 = self
            .scripts
            .lunch_create_group
            .key(self.keys.lunch_group(code))
            .key(self.keys.lunch_member(user))
            .arg(created_at)
            .arg(code)
            .invoke_async(&mut self.conn("lunch_create_group"))
            .await?;
        Ok(created == 1)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, code = %code))]
    async fn lunch_join_group(&self, user: &UserKey, code: &str) -> Result<bool> {
        let joined: i64 = self
            .scripts
            .lunch_join_group
            .key(self.keys.lunch_group(code))
            .key(self.keys.lunch_member(user))
            .key(self.keys.session(BotScope::Lunch, user))
            .arg(code)
            .invoke_async(&mut self.conn("lunch_join_group"))
            .await?;
        Ok(joined == 1)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(code = %code, max = max))]
    async fn lunch_add_restaurant(&self, code: &str, name: &str, max: usize) -> Result<AddOutcome> {
        let outcome: String = self
            .scripts
            .lunch_add_restaurant
            .key(self.keys.lunch_restaurants(code))
            .arg(name)
            .arg(max)
            .invoke_async(&mut self.conn("lunch_add_restaurant"))
            .await?;
        match outcome.as_str() {
            "added" => Ok(AddOutcome::Added),
            "duplicate" => Ok(AddOutcome::Duplicate),
            "full" => Ok(AddOutcome::Full),
            other => Err(unexpected("lunch_add_restaurant", other)),
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(code = %code))]
    async fn lunch_remove_restaurant(&self, code: &str, name: &str) -> Result<bool> {
        let removed: u64 = redis::cmd("LREM")
            .arg(self.keys.lunch_restaurants(code))
            .arg(1)
            .arg(name)
            .query_async(&mut self.conn("lunch_remove_restaurant"))
            .await?;
        Ok(removed > 0)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(code = %code, day = %day, user = %user))]
    async fn lunch_vote(
        &self,
        code: &str,
        day: &str,
        user: &UserKey,
        restaurant: &str,
    ) -> Result<VoteOutcome> {
        let (recorded, previous): (i64, Option<String>) = self
            .scripts
            .lunch_vote
            .key(self.keys.lunch_restaurants(code))
            .key(self.keys.lunch_votes(code, day))
            .key(self.keys.session(BotScope::Lunch, user))
            .arg(user.as_str())
            .arg(restaurant)
            .arg(VOTE_TTL.as_secs())
            .invoke_async(&mut self.conn("lunch_vote"))
            .await?;
        Ok(if recorded == 1 {
            VoteOutcome::Recorded { previous }
        } else {
            VoteOutcome::UnknownRestaurant
        })
    }

    #[tracing::instrument(level = "debug", skip_all, fields(code = %code, day = %day))]
    async fn lunch_tally(&self, code: &str, day: &str) -> Result<Tally> {
        let (restaurants, votes): (Vec<String>, Vec<String>) = redis::pipe()
            .atomic()
            .cmd("LRANGE")
            .arg(self.keys.lunch_restaurants(code))
            .arg(0)
            .arg(-1)
            .cmd("HVALS")
            .arg(self.keys.lunch_votes(code, day))
            .query_async(&mut self.conn("lunch_tally"))
            .await?;
        Ok(Tally::count(restaurants, votes.iter().map(String::as_str)))
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

// The scripts. Every key a script touches is passed in KEYS, except in LUNCH_LOAD,
// which learns the group code from Redis and so builds that group's two keys itself
// from pieces made by `Keys::lunch_script_parts`, encoding the code as
// `keys::segment` does. (That is fine on a single Redis; Redis Cluster would refuse it.)

/// KEYS: member, lunch session. ARGV: group prefix, restaurants suffix, votes prefix,
/// votes day suffix, user.
/// Returns {session or nil, code or nil, restaurants, vote or nil}.
const LUNCH_LOAD: &str = r#"
local session = redis.call('GET', KEYS[2])
local code = redis.call('GET', KEYS[1])
if not code then
  return {session, false, {}, false}
end
local seg = string.gsub(code, '[%%:]', {['%'] = '%25', [':'] = '%3A'})
local restaurants = redis.call('LRANGE', ARGV[1] .. seg .. ARGV[2], 0, -1)
local vote = redis.call('HGET', ARGV[3] .. seg .. ARGV[4], ARGV[5])
return {session, code, restaurants, vote}
"#;

/// KEYS: group marker, member. ARGV: created_at, code. Returns 1 when created.
const LUNCH_CREATE_GROUP: &str = r#"
if redis.call('HSETNX', KEYS[1], 'created_at', ARGV[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2])
return 1
"#;

/// KEYS: group marker, member, lunch session. ARGV: code. Returns 1 when joined.
const LUNCH_JOIN_GROUP: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
return 1
"#;

/// KEYS: restaurants. ARGV: name, max. Returns 'added', 'duplicate' or 'full'.
/// `string.lower` folds ASCII letters only; MemoryStore compares the same way.
const LUNCH_ADD_RESTAURANT: &str = r#"
local wanted = string.lower(ARGV[1])
local names = redis.call('LRANGE', KEYS[1], 0, -1)
for _, name in ipairs(names) do
  if string.lower(name) == wanted then
    return 'duplicate'
  end
end
if #names >= tonumber(ARGV[2]) then
  return 'full'
end
redis.call('RPUSH', KEYS[1], ARGV[1])
return 'added'
"#;

/// KEYS: restaurants, votes, lunch session. ARGV: user, restaurant, vote ttl seconds.
/// Returns {1, previous or nil} when recorded, {0, nil} when not on the list.
const LUNCH_VOTE: &str = r#"
if not redis.call('LPOS', KEYS[1], ARGV[2]) then
  return {0, false}
end
local previous = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('DEL', KEYS[3])
return {1, previous}
"#;

/// KEYS: quiz session, quiz score. ARGV: the session JSON the answer was judged
/// against, 1 when correct else 0. Returns 1 when counted, 0 when that session is no
/// longer there (the answer was already judged).
const QUIZ_ANSWER: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HINCRBY', KEYS[2], 'answered', 1)
if ARGV[2] == '1' then
  redis.call('HINCRBY', KEYS[2], 'correct', 1)
end
return 1
"#;

#[cfg(test)]
mod tests {
    use super::super::keys::segment;
    use super::*;

    #[test]
    fn the_lua_encoding_of_a_code_matches_the_rust_one() {
        // The Lua pattern in LUNCH_LOAD handles exactly the two characters `segment`
        // encodes; this pins the Rust side of that pair.
        assert!(LUNCH_LOAD.contains(r"'[%%:]', {['%'] = '%25', [':'] = '%3A'}"));
        assert_eq!(segment("a%b:c"), "a%25b%3Ac");
    }
}
