//! Storage: what the bots remember between messages.
//!
//! [`Store`] is the one interface the bots see. It speaks in the bots' own records
//! (a pending quiz question, a lunch group, a vote) and hides how they are kept:
//! [`RedisStore`] for real deployments (a single Redis or a Redis Cluster, through one
//! [`RedisConnection`]), [`MemoryStore`] for the quick start and tests. Both pass the
//! same contract suite (`service/tests/it/store/`), the Redis one on a single server
//! and on a six-node cluster. [`migrate`] moves data from the 0.1 key layout. The
//! lunch bot's records are [`crate::lunch`]'s: the bot decides what a message does,
//! the store applies it and reports what happened.
//!
//! Lifetimes: sessions (a conversation's context) expire after [`SESSION_TTL`], as
//! Kakao's own context does; a day's votes expire after [`VOTE_TTL`]. On Redis
//! everything else a user or a group has (scores, asked questions, friend markers,
//! group pointers, groups, their lists) is kept for a lifetime after its last use
//! (`KAKAOBOT_REDIS_KEY_TTL_DAYS`, [`DEFAULT_KEY_TTL`] unless set), which the round
//! trip that uses it starts again (one that only reads it, once a day): no key lives
//! forever, and a full Redis with
//! `volatile-lru` evicts the longest-idle first. The memory store forgets instead by
//! its cap, least recently seen first.
//!
//! Round trips: the trait is cut along what one message needs, so a bot's message
//! costs one call on the user's keys, sometimes issued together with one call on a
//! group's keys (two concurrent calls cost one round trip of latency). See each
//! method for its cost on Redis.
//!
//! Words the store's code uses in a sense of its own:
//! - *step*: a lunch user's place in a multi-step conversation
//!   ([`crate::lunch::LunchSession`]); also one script call on one slot's keys (the
//!   user's step, the group's step of a message), as the context says.
//! - *pointer*: the user's record naming their group's code (`lunch:group`).
//! - *hint*: what one process last saw of a lunch user (their group, whether their
//!   step awaits a join code), kept in memory so the user's and the group's steps can
//!   go out together; a guess that the scripts check, so a stale one costs a round
//!   trip, never a wrong answer.
//! - *ahead*: a create or join sent together with the message's read, before it is
//!   known whether the other side accepts it.
//! - *take back*: undo what went ahead when the other side refused: drop a group
//!   made for a code that was taken, take a user off a member list they were put on
//!   for nothing.
//! - *point back*: the take back of the user's side: the pointer names their old
//!   group again, with the step they had, and their leave of it is undone.

mod connection;
mod keys;
mod memory;
pub mod migrate;
mod redis;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::lunch::{LunchRequest, LunchState};
use crate::user::{BotName, UserKey};

pub use self::connection::{RedisConnection, RedisTarget, RedisTimeouts};
pub use self::keys::{slot, Keys};
pub use self::memory::{MemoryStore, MEMORY_USER_CAP};
pub use self::redis::RedisStore;

/// Kakao keeps a conversation's context for 10 minutes after the last message.
pub const SESSION_TTL: Duration = Duration::from_secs(600);
/// A day's lunch votes are kept a few days so yesterday's result can still be asked about.
pub const VOTE_TTL: Duration = Duration::from_secs(3 * 24 * 3600);
/// How long a user's or a group's lasting Redis keys outlive their last use unless
/// configured otherwise (`KAKAOBOT_REDIS_KEY_TTL_DAYS`'s default; a unit test keeps
/// the two equal).
pub const DEFAULT_KEY_TTL: Duration = Duration::from_secs(90 * 24 * 3600);
/// The window of the per-user allowances ([`crate::lunch::GroupChange`]): counts start
/// again this long after the first use in a window.
pub const LIMIT_WINDOW: Duration = Duration::from_secs(3600);

/// What a per-user allowance limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Budget {
    /// Creating a lunch group.
    CreateGroup,
    /// Trying a join code.
    JoinAttempt,
}

impl Budget {
    pub fn as_str(self) -> &'static str {
        match self {
            Budget::CreateGroup => "create_group",
            Budget::JoinAttempt => "join_attempt",
        }
    }
}

/// Why the store could not answer. The service turns every variant into a polite
/// "try again" reply; the variant only goes to the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis could not answer: unreachable, past the response timeout, or an error
    /// reply. The driver's error is the source, boxed, so that no Redis type reaches
    /// the bots' signatures.
    #[error("redis: {0}")]
    Redis(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("stored value is not readable: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("the store answered something it was not asked for: {0}")]
    Inconsistent(String),
}

impl From<::redis::RedisError> for StoreError {
    fn from(err: ::redis::RedisError) -> Self {
        StoreError::Redis(Box::new(err))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A quiz user's running score.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Score {
    pub correct: u64,
    pub answered: u64,
}

/// The question a quiz user was asked and has not answered yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuizSession {
    pub category: String,
    pub question_id: String,
}

/// What the quiz bot needs to decide on one message, read in one round trip.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuizState {
    pub session: Option<QuizSession>,
    pub score: Score,
    /// Ids already asked in the category that was requested in the same call.
    pub asked: Vec<String>,
}

/// Everything one quiz message changes, written in one round trip.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuizChange {
    /// `Some(Some(s))` starts a session, `Some(None)` ends it, `None` leaves it.
    pub session: Option<Option<QuizSession>>,
    /// Forget which questions of this category were asked (all were). Applied before
    /// `mark_asked`, so a change that starts a new round leaves just its question marked.
    pub reset_asked: Option<String>,
    /// Remember that this (category, question id) was asked.
    pub mark_asked: Option<(String, String)>,
}

/// The question [`Store::quiz_ask`] picked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuizAsked {
    pub question_id: String,
    /// Every candidate had been asked: the category started over with this one.
    pub restarted: bool,
}

/// Which pending questions a typed or tapped choice answers, worked out from the
/// question bank before the store is asked (see [`Store::quiz_judge`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnswerCheck {
    /// For a tapped button, the question it belonged to: only that one is judged.
    pub tapped: Option<String>,
    /// Ids of the questions for which the choice is one of the offered choices.
    pub valid_for: Vec<String>,
    /// Ids of the questions for which the choice is the right answer.
    pub correct_for: Vec<String>,
}

/// What [`Store::quiz_judge`] found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// The pending question before the call.
    pub session: Option<QuizSession>,
    /// The score before the call.
    pub score: Score,
    /// `Some(correct)` when the answer was judged and counted (the session ended).
    pub counted: Option<bool>,
}

/// The bots' memory: exactly the calls the service makes. Each method is one round
/// trip to Redis unless its doc says otherwise: [`Store::lunch_open`] sends a user's
/// and a group's steps together (a create or join with them), and the notifications
/// of a member ([`Store::clear_session`], [`Store::remove_friend`]) take ordered steps.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the store answers (used by `/ready`).
    async fn ping(&self) -> Result<()>;

    /// Records that `user` added the bot as a friend. Idempotent.
    async fn add_friend(&self, bot: BotName, user: &UserKey) -> Result<()>;
    /// Records that `user` blocked the bot, and forgets their session. Idempotent.
    async fn remove_friend(&self, bot: BotName, user: &UserKey) -> Result<()>;
    /// Forgets `user`'s conversation context with the bot. Idempotent.
    async fn clear_session(&self, bot: BotName, user: &UserKey) -> Result<()>;

    /// Reads the quiz session and score, and the asked ids of `category` if given.
    /// One round trip.
    async fn quiz_load(&self, user: &UserKey, category: Option<&str>) -> Result<QuizState>;
    /// Asks the first of `candidates` (the category's questions, in the random order
    /// the bot chose) not asked yet in `category`, making it the pending question; when
    /// all were asked, starts the category over with the first candidate that is not
    /// the pending question (or the first, if there is only one). One round trip.
    async fn quiz_ask(
        &self,
        user: &UserKey,
        category: &str,
        candidates: &[QuizSession],
    ) -> Result<QuizAsked>;
    /// Reads the pending question and score and, when the pending question is one the
    /// choice answers (`check`), judges it once: ends the session and counts the
    /// answer, atomically. One round trip.
    async fn quiz_judge(&self, user: &UserKey, check: &AnswerCheck) -> Result<Judgement>;
    /// Starts, replaces or ends the quiz session and records asked questions,
    /// atomically. It counts no answer: answers are counted only by
    /// [`Store::quiz_judge`], so each is judged once.
    async fn quiz_save(&self, user: &UserKey, change: &QuizChange) -> Result<()>;
    /// Everything one lunch message needs, atomically per slot: reads the lunch
    /// session, the user's group with its list, and their vote on `day` (only if the
    /// restaurant is still listed), with `request.tally` the day's tally too; then
    /// applies `request.write` to the session, and to the group the first of
    /// `request.moves` made for the step the write left, then starts the step that move
    /// names for what its edit did ([`crate::lunch::StepMove`]). The store decides
    /// nothing of the dialog: the request says what each step means.
    ///
    /// With `request.change`, also creates or joins a group
    /// ([`crate::lunch::GroupChange`]).
    ///
    /// One round trip when the store knows the user's group code already (Redis
    /// remembers the codes it has seen and checks them against the group's member
    /// list): the user's step and the group's step go out together. Otherwise the
    /// group's step follows once the code is known: two. Creating and joining a group
    /// are one round trip too when the store knows the user's group (and, to join,
    /// that their step awaits a code); a refused or failed change takes one more to
    /// undo what was done ahead of the answer.
    async fn lunch_open(
        &self,
        user: &UserKey,
        day: &str,
        request: &LunchRequest,
    ) -> Result<LunchState>;
}
