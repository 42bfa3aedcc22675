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
//! out together with the message's load, and a refusal on one side takes back what
//! the others did ahead (see [`RedisStore::change_ahead`], where the argument for
//! consistency when a step fails is written). No script builds a key name: every key
//! arrives in `KEYS`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::{ErrorKind, RedisError, RedisFuture, Script};

use super::connection::{RedisConnection, RedisTarget};
use super::{
    AddOutcome, AnswerCheck, BotScope, Budget, ChangeOutcome, GroupChange, Judgement, Keys,
    LunchOp, LunchRequest, LunchSession, LunchState, Membership, QuizAsked, QuizChange,
    QuizSession, QuizState, Result, Score, SessionWrite, StepOutcome, Store, StoreError, Tally,
    VoteOutcome, LIMIT_WINDOW, SESSION_TTL, VOTE_TTL,
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

/// Most lunch users remembered (about 100 bytes each). When full the memory is
/// dropped and refilled: a forgotten user costs one extra round trip.
const HINTS_CAP: usize = 100_000;

/// How long a group nobody belongs to any more keeps its data (see LUNCH_GROUP_LEAVE):
/// long enough for a leave made ahead of a refused create or join to be undone, by
/// the request itself or by the user's next message.
const EMPTY_GROUP_GRACE: Duration = Duration::from_secs(24 * 3600);

/// What this process last saw of a lunch user. Messages whose steps go out together
/// rely on it; each is a guess that the steps check against the user's own record, so
/// another process changing it costs a round trip, never a wrong answer.
#[derive(Clone, Debug, Default)]
struct Hint {
    /// Their group's code.
    group: Option<String>,
    /// Their step awaits a join code (so a typed code is a join).
    awaiting_code: bool,
}

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
}

struct Scripts {
    quiz_load: Script,
    quiz_ask: Script,
    quiz_judge: Script,
    quiz_answer: Script,
    lunch_user_open: Script,
    lunch_group_step: Script,
    lunch_group_create: Script,
    lunch_group_admit: Script,
    lunch_user_point: Script,
    lunch_user_undo: Script,
    lunch_group_restore: Script,
    lunch_group_leave: Script,
    lunch_add_restaurant: Script,
    lunch_remove_restaurant: Script,
    lunch_vote: Script,
    lunch_spend: Script,
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
            scripts: Scripts {
                quiz_load: Script::new(QUIZ_LOAD),
                quiz_ask: Script::new(QUIZ_ASK),
                quiz_judge: Script::new(QUIZ_JUDGE),
                quiz_answer: Script::new(QUIZ_ANSWER),
                lunch_user_open: Script::new(LUNCH_USER_OPEN),
                lunch_group_step: Script::new(LUNCH_GROUP_STEP),
                lunch_group_create: Script::new(LUNCH_GROUP_CREATE),
                lunch_group_admit: Script::new(LUNCH_GROUP_ADMIT),
                lunch_user_point: Script::new(LUNCH_USER_POINT),
                lunch_user_undo: Script::new(LUNCH_USER_UNDO),
                lunch_group_restore: Script::new(LUNCH_GROUP_RESTORE),
                lunch_group_leave: Script::new(LUNCH_GROUP_LEAVE),
                lunch_add_restaurant: Script::new(LUNCH_ADD_RESTAURANT),
                lunch_remove_restaurant: Script::new(LUNCH_REMOVE_RESTAURANT),
                lunch_vote: Script::new(LUNCH_VOTE),
                lunch_spend: Script::new(LUNCH_SPEND),
            },
            hints: Mutex::new(HashMap::new()),
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

    fn hint(&self, user: &UserKey) -> Hint {
        self.hints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(user.as_str())
            .cloned()
            .unwrap_or_default()
    }

    fn remember(&self, user: &UserKey, hint: Hint) {
        let mut hints = self.hints.lock().unwrap_or_else(PoisonError::into_inner);
        if hint.group.is_none() && !hint.awaiting_code {
            hints.remove(user.as_str());
            return;
        }
        if hints.len() >= HINTS_CAP && !hints.contains_key(user.as_str()) {
            hints.clear();
        }
        hints.insert(user.as_str().to_owned(), hint);
    }

    /// Keeps the user's group in the hint, leaving the rest as it was.
    fn remember_group(&self, user: &UserKey, group: Option<&str>) {
        let hint = Hint {
            group: group.map(str::to_owned),
            ..self.hint(user)
        };
        self.remember(user, hint);
    }

    /// The group's step of a lunch message (LUNCH_GROUP_STEP): `None` when `user` is
    /// not on `code`'s member list. `confirmed` says the user's own record names this
    /// group, so a member list that lost them (an interrupted join) is repaired; a
    /// guessed code is only trusted if the list has them.
    async fn group_step(
        &self,
        code: &str,
        user: &UserKey,
        day: &str,
        request: &LunchRequest,
        confirmed: bool,
    ) -> Result<Option<GroupStep>> {
        let (mode, json) = write_args(request.write)?;
        let (op, text, add, max) = match &request.op {
            LunchOp::None => ("", "", "", 0),
            LunchOp::Vote(name) => ("vote", name.as_str(), "", 0),
            LunchOp::Remove(name) => ("remove", name.as_str(), "", 0),
            LunchOp::Typed { text, add, max } => {
                ("typed", text.as_str(), add.as_deref().unwrap_or(""), *max)
            }
        };
        let (member, session, restaurants, my_vote, votes, outcome, previous): GroupStepReply =
            self.scripts
                .lunch_group_step
                .key(self.keys.lunch_restaurants(code))
                .key(self.keys.lunch_votes(code, day))
                .key(self.keys.lunch_step(code, user))
                .key(self.keys.lunch_members(code))
                .key(self.keys.lunch_group(code))
                .key(self.keys.lunch_left(code))
                .arg(user.as_str())
                .arg(i64::from(confirmed))
                .arg(mode)
                .arg(json)
                .arg(SESSION_TTL.as_secs())
                .arg(i64::from(request.tally))
                .arg(op)
                .arg(text)
                .arg(add)
                .arg(max)
                .arg(VOTE_TTL.as_secs())
                .arg(to_json(&LunchSession::Choosing)?)
                .arg(to_json(&LunchSession::AwaitingNewRestaurant)?)
                .arg(to_json(&LunchSession::AwaitingRemoval)?)
                .arg(to_json(&LunchSession::Settings)?)
                .invoke_async(&mut self.conn("group_step"))
                .await?;
        if member == 0 {
            return Ok(None);
        }
        let outcome = match outcome.as_str() {
            "" => None,
            "voted" => Some(StepOutcome::Voted(VoteOutcome::Recorded { previous })),
            "unknown" => Some(StepOutcome::Voted(VoteOutcome::UnknownRestaurant)),
            "added" => Some(StepOutcome::Added(AddOutcome::Added)),
            "duplicate" => Some(StepOutcome::Added(AddOutcome::Duplicate)),
            "full" => Some(StepOutcome::Added(AddOutcome::Full)),
            "removed" => Some(StepOutcome::Removed(true)),
            "not_removed" => Some(StepOutcome::Removed(false)),
            other => return Err(unexpected("lunch_group_step", other)),
        };
        Ok(Some(GroupStep {
            session,
            restaurants,
            my_vote,
            votes,
            outcome,
        }))
    }

    /// The user's step of a lunch message (LUNCH_USER_OPEN): their session while they
    /// have no group (applying `write` then), their group's code, and `change` when
    /// it applies.
    async fn user_step(
        &self,
        user: &UserKey,
        write: SessionWrite,
        change: Option<&GroupChange>,
    ) -> Result<UserStep> {
        let (mode, json) = write_args(write)?;
        let (kind, code, budget, max) = match change {
            None => ("", "", "", 0),
            Some(GroupChange::Create { code, max }) => {
                ("create", code.as_str(), Budget::CreateGroup.as_str(), *max)
            }
            Some(GroupChange::Join { code, max }) => {
                ("join", code.as_str(), Budget::JoinAttempt.as_str(), *max)
            }
        };
        let (session, code, change): (Option<String>, Option<String>, String) = self
            .scripts
            .lunch_user_open
            .key(self.keys.session(BotScope::Lunch, user))
            .key(self.keys.lunch_member(user))
            .key(self.keys.lunch_limits(user))
            .arg(mode)
            .arg(json)
            .arg(SESSION_TTL.as_secs())
            .arg(kind)
            .arg(code)
            .arg(budget)
            .arg(max)
            .arg(LIMIT_WINDOW.as_secs())
            .arg(to_json(&LunchSession::AwaitingJoinCode)?)
            .invoke_async(&mut self.conn("user_step"))
            .await?;
        let change = match change.as_str() {
            "" => Moved::No,
            "moved" => Moved::Yes,
            "over_budget" => Moved::OverBudget,
            other => return Err(unexpected("lunch_user_open", other)),
        };
        Ok(UserStep {
            session,
            code,
            change,
        })
    }

    /// Points `user` back at `before` after a change to `moved_to` that the group
    /// refused (LUNCH_USER_UNDO), restoring `session` as their own.
    async fn undo_move(
        &self,
        user: &UserKey,
        moved_to: &str,
        before: Option<&str>,
        session: Option<LunchSession>,
    ) -> Result<()> {
        let session = session.as_ref().map(to_json).transpose()?;
        let _: i64 = self
            .scripts
            .lunch_user_undo
            .key(self.keys.lunch_member(user))
            .key(self.keys.session(BotScope::Lunch, user))
            .arg(moved_to)
            .arg(before.unwrap_or(""))
            .arg(session.unwrap_or_default())
            .arg(SESSION_TTL.as_secs())
            .invoke_async(&mut self.conn("undo_move"))
            .await?;
        Ok(())
    }

    /// Creates the group `code` with `user` as its member (LUNCH_GROUP_CREATE);
    /// `false` when the code is taken.
    async fn create_group(&self, user: &UserKey, code: &str) -> Result<bool> {
        let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let created: i64 = self
            .scripts
            .lunch_group_create
            .key(self.keys.lunch_group(code))
            .key(self.keys.lunch_members(code))
            .key(self.keys.lunch_step(code, user))
            .key(self.keys.lunch_restaurants(code))
            .key(self.keys.lunch_left(code))
            .arg(created_at)
            .arg(user.as_str())
            .arg(to_json(&LunchSession::Settings)?)
            .arg(SESSION_TTL.as_secs())
            .invoke_async(&mut self.conn("create_group"))
            .await?;
        Ok(created == 1)
    }

    /// Puts `user` on the member list of `code` (LUNCH_GROUP_ADMIT); `false` when no
    /// group has that code.
    async fn admit(&self, user: &UserKey, code: &str) -> Result<bool> {
        let admitted: i64 = self
            .scripts
            .lunch_group_admit
            .key(self.keys.lunch_group(code))
            .key(self.keys.lunch_members(code))
            .key(self.keys.lunch_step(code, user))
            .arg(user.as_str())
            .invoke_async(&mut self.conn("admit"))
            .await?;
        Ok(admitted == 1)
    }

    /// Undoes `user`'s leave of `code` (LUNCH_GROUP_RESTORE).
    async fn restore(&self, user: &UserKey, code: &str) -> Result<()> {
        let _: i64 = self
            .scripts
            .lunch_group_restore
            .key(self.keys.lunch_members(code))
            .key(self.keys.lunch_left(code))
            .key(self.keys.lunch_group(code))
            .key(self.keys.lunch_restaurants(code))
            .arg(user.as_str())
            .invoke_async(&mut self.conn("restore"))
            .await?;
        Ok(())
    }

    /// Takes `user` off the member list of `code` (LUNCH_GROUP_LEAVE).
    async fn leave(&self, user: &UserKey, code: &str, how: Leave) -> Result<()> {
        let _: i64 = self
            .scripts
            .lunch_group_leave
            .key(self.keys.lunch_members(code))
            .key(self.keys.lunch_group(code))
            .key(self.keys.lunch_restaurants(code))
            .key(self.keys.lunch_step(code, user))
            .key(self.keys.lunch_left(code))
            .arg(user.as_str())
            .arg(how.as_str())
            .arg(EMPTY_GROUP_GRACE.as_secs())
            .invoke_async(&mut self.conn("leave"))
            .await?;
        Ok(())
    }

    /// `leave(user, code, how)` when there is a code.
    async fn leave_if(&self, user: &UserKey, code: Option<&str>, how: Leave) -> Result<()> {
        match code {
            Some(code) => self.leave(user, code, how).await,
            None => Ok(()),
        }
    }

    /// `restore(user, code)` when there is a code.
    async fn restore_if(&self, user: &UserKey, code: Option<&str>) -> Result<()> {
        match code {
            Some(code) => self.restore(user, code).await,
            None => Ok(()),
        }
    }

    /// Points `user` at `code` (their lunch session now lives with the group) and
    /// returns the group they pointed at before.
    async fn point_user_at(&self, user: &UserKey, code: &str) -> Result<Option<String>> {
        let previous: Option<String> = self
            .scripts
            .lunch_user_point
            .key(self.keys.lunch_member(user))
            .key(self.keys.session(BotScope::Lunch, user))
            .arg(code)
            .invoke_async(&mut self.conn("point_user_at"))
            .await?;
        self.remember_group(user, Some(code));
        Ok(previous)
    }

    /// Ends a lunch member's session, which lives with their group `code` (a second
    /// round trip, on the friend and chat-room notifications of members only).
    async fn clear_group_step(
        &self,
        bot: BotScope,
        user: &UserKey,
        code: Option<String>,
    ) -> Result<()> {
        if bot != BotScope::Lunch {
            return Ok(());
        }
        if let Some(code) = code {
            redis::cmd("DEL")
                .arg(self.keys.lunch_step(&code, user))
                .exec_async(&mut self.conn("clear_group_step"))
                .await?;
        }
        Ok(())
    }

    /// A lunch message without a change sent ahead: the user's step, and the group's
    /// step with it when the group is known, or after it. Returns the state and the
    /// user's group afterwards.
    async fn open_in_turn(
        &self,
        user: &UserKey,
        day: &str,
        request: &LunchRequest,
        hint: &Hint,
    ) -> Result<(LunchState, Option<String>)> {
        // With a known code, the group's step goes out with the user's (one round trip
        // of latency). The group's script trusts the guess only if its member list has
        // the user, and the user's record must name the same group, or the group's step
        // is done again for the group it names.
        let hinted = hint.group.as_deref();
        let change = request.change.as_ref();
        let (own, guessed) = match hinted {
            Some(hinted) => {
                let (own, group) = tokio::join!(
                    self.user_step(user, request.write, change),
                    self.group_step(hinted, user, day, request, false)
                );
                (own?, Some(group?))
            }
            None => (self.user_step(user, request.write, change).await?, None),
        };
        if let (Moved::Yes, Some(change)) = (own.change, change) {
            // A join whose code this process did not know was awaited.
            return self.finish_join(user, own, change.code()).await;
        }
        let code = own.code.clone();
        let group = match (&code, guessed) {
            (Some(code), Some(Some(step))) if hinted == Some(code.as_str()) => Some(step),
            (_, Some(Some(_))) => {
                // The guessed group still lists the user, but their record names
                // another (or none): a join or create whose last step, leaving the old
                // group, failed. This message's step went to the old group; finish the
                // leave so it cannot happen again, then do the step where it belongs.
                self.leave_group(user, hint.group.clone(), code.as_deref().unwrap_or(""))
                    .await?;
                match &code {
                    Some(code) => self.group_step(code, user, day, request, true).await?,
                    None => None,
                }
            }
            (Some(code), _) => self.group_step(code, user, day, request, true).await?,
            (None, _) => None,
        };
        let change = (own.change == Moved::OverBudget).then_some(ChangeOutcome::OverBudget);
        let Some((code, group)) = code.zip(group) else {
            // No group (or one that no longer exists): the session is the user's own.
            let state = LunchState {
                session: from_json::<LunchSession>(own.session)?,
                change,
                ..Default::default()
            };
            return Ok((state, None));
        };
        // A vote for a restaurant taken off the list is nobody's current vote.
        let my_vote = group
            .my_vote
            .filter(|vote| group.restaurants.contains(vote));
        let tally = request.tally.then(|| {
            Tally::count(
                group.restaurants.clone(),
                group.votes.iter().map(String::as_str),
            )
        });
        let state = LunchState {
            // A member's own session is only ever the step awaiting a join code.
            session: from_json::<LunchSession>(own.session.or(group.session))?,
            membership: Some(Membership {
                code: code.clone(),
                restaurants: group.restaurants,
                my_vote,
            }),
            tally,
            outcome: group.outcome,
            change,
        };
        Ok((state, Some(code)))
    }

    /// A create, or a join while the user's step awaits a code (as far as this
    /// process knows), sent together: the user's step (allowance and pointer), the
    /// group's side (create or admit) and leaving the user's group. One round trip
    /// when all goes through; when the user's or the group's side refuses, what the
    /// other sides did ahead is taken back (one more). `None` when a join did not
    /// apply after all (everything taken back; the message is then handled as any).
    ///
    /// Consistency when a step fails outright (an error, not a refusal): nothing is
    /// taken back, and every outcome is one the data can be in. The user's pointer is
    /// what makes them a member ([`GroupStep`] trusts a member list only together with
    /// it), so a landed create or admit without the pointer is an entry nobody reads
    /// (a created group holding only that entry stays behind: at most one per failed
    /// create); a pointer without the group's side names a group that does not have
    /// them, which reads as no group; a leave without the pointer moving is undone by
    /// the user's next message, whose group step finds them among those who left.
    async fn change_ahead(
        &self,
        user: &UserKey,
        change: &GroupChange,
        hint: &Hint,
    ) -> Result<Option<(LunchState, Option<String>)>> {
        let code = change.code();
        let create = matches!(change, GroupChange::Create { .. });
        let old = hint.group.as_deref().filter(|old| *old != code);
        let group_side = async {
            if create {
                self.create_group(user, code).await
            } else {
                self.admit(user, code).await
            }
        };
        let (own, landed, left) = tokio::join!(
            self.user_step(user, SessionWrite::Keep, Some(change)),
            group_side,
            self.leave_if(user, old, Leave::Left),
        );
        let (own, landed) = (own?, landed?);
        left?;
        let before = own.code.as_deref();
        // Only a leave of the user's actual group is undone; a hint that named another
        // group took them off a list they no longer belonged to, which stays done.
        let left_theirs = old.filter(|old| before == Some(*old));
        // An admit to the group they are in already changed nothing to take back.
        let landed = landed && before != Some(code);
        let (outcome, after) = match own.change {
            Moved::Yes if landed || (!create && before == Some(code)) => {
                // The hint missed the user's group: leave it now (one more round trip).
                let missed = before.filter(|b| Some(*b) != old && *b != code);
                self.leave_if(user, missed, Leave::Left).await?;
                let done = if create {
                    ChangeOutcome::Created
                } else {
                    ChangeOutcome::Joined
                };
                (done, Some(code))
            }
            Moved::Yes => {
                // The code is another group's (create) or nobody's (join): point the
                // user back, with the join step still awaiting a code, and undo the leave.
                let session = (!create).then_some(LunchSession::AwaitingJoinCode);
                let (undone, restored) = tokio::join!(
                    self.undo_move(user, code, before, session),
                    self.restore_if(user, left_theirs)
                );
                undone?;
                restored?;
                let refused = if create {
                    ChangeOutcome::CodeTaken
                } else {
                    ChangeOutcome::NoSuchGroup
                };
                (refused, before)
            }
            Moved::OverBudget => {
                self.take_back(user, code, create, landed, left_theirs)
                    .await?;
                (ChangeOutcome::OverBudget, before)
            }
            Moved::No => {
                // A join whose step did not await a code after all.
                self.take_back(user, code, create, landed, left_theirs)
                    .await?;
                return Ok(None);
            }
        };
        let state = LunchState {
            session: from_json::<LunchSession>(own.session)?,
            membership: before.map(code_only),
            change: Some(outcome),
            ..Default::default()
        };
        Ok(Some((state, after.map(str::to_owned))))
    }

    /// Takes back a change's group side that `landed` ahead of a refusal, and undoes
    /// the leave of `left`.
    async fn take_back(
        &self,
        user: &UserKey,
        code: &str,
        create: bool,
        landed: bool,
        left: Option<&str>,
    ) -> Result<()> {
        let how = if create { Leave::Drop } else { Leave::Undo };
        let (taken, restored) = tokio::join!(
            self.leave_if(user, landed.then_some(code), how),
            self.restore_if(user, left)
        );
        taken?;
        restored
    }

    /// The group's side of a join that the user's step made in turn: admitted to
    /// `code` and off their old group together; if no group has the code, pointed
    /// back and restored.
    async fn finish_join(
        &self,
        user: &UserKey,
        own: UserStep,
        code: &str,
    ) -> Result<(LunchState, Option<String>)> {
        let before = own.code.as_deref();
        let old = before.filter(|before| *before != code);
        let (admitted, left) = tokio::join!(
            self.admit(user, code),
            self.leave_if(user, old, Leave::Left)
        );
        let admitted = admitted?;
        left?;
        let (outcome, after) = if admitted {
            (ChangeOutcome::Joined, Some(code))
        } else {
            let (undone, restored) = tokio::join!(
                self.undo_move(user, code, before, Some(LunchSession::AwaitingJoinCode)),
                self.restore_if(user, old)
            );
            undone?;
            restored?;
            (ChangeOutcome::NoSuchGroup, before)
        };
        let state = LunchState {
            session: from_json::<LunchSession>(own.session)?,
            membership: before.map(code_only),
            change: Some(outcome),
            ..Default::default()
        };
        Ok((state, after.map(str::to_owned)))
    }

    /// Takes `user` off the member list of the group they left, unless it is the one
    /// they `joined`.
    async fn leave_group(&self, user: &UserKey, left: Option<String>, joined: &str) -> Result<()> {
        let left = left.filter(|left| left != joined);
        self.leave_if(user, left.as_deref(), Leave::Left).await
    }
}

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

/// LUNCH_GROUP_STEP's reply: member, step, list, vote, votes, outcome, previous vote.
type GroupStepReply = (
    i64,
    Option<String>,
    Vec<String>,
    Option<String>,
    Vec<String>,
    String,
    Option<String>,
);

/// The group's part of a lunch message, as LUNCH_GROUP_STEP returns it.
struct GroupStep {
    session: Option<String>,
    restaurants: Vec<String>,
    my_vote: Option<String>,
    votes: Vec<String>,
    outcome: Option<StepOutcome>,
}

/// The membership of a change's message: the group's code, its list left unread.
fn code_only(code: &str) -> Membership {
    Membership {
        code: code.to_owned(),
        restaurants: Vec::new(),
        my_vote: None,
    }
}

/// The user's part of a lunch message, as LUNCH_USER_OPEN returns it.
struct UserStep {
    /// Their own session (a member's is only ever the one awaiting a join code).
    session: Option<String>,
    /// Their group's code, before any change.
    code: Option<String>,
    change: Moved,
}

/// Whether the user's step moved them for a [`GroupChange`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Moved {
    /// The change did not apply (no change, or a join while no code was awaited).
    No,
    /// Now pointing at the change's code.
    Yes,
    /// Refused: the allowance is used up.
    OverBudget,
}

/// How a user comes off a member list (LUNCH_GROUP_LEAVE).
#[derive(Clone, Copy, Debug)]
enum Leave {
    /// A member leaves; undone by [`RedisStore::restore`].
    Left,
    /// An entry made ahead of a refused join is taken back.
    Undo,
    /// A group made ahead of a refused create is taken back, with the group.
    Drop,
}

impl Leave {
    fn as_str(self) -> &'static str {
        match self {
            Leave::Left => "left",
            Leave::Undo => "undo",
            Leave::Drop => "drop",
        }
    }
}

/// A [`SessionWrite`] as the scripts' (mode, session JSON) arguments. The step
/// awaiting a join code is the user's own even for a member (`set_own`): the join it
/// leads to is decided in the user's slot, with the allowance and the group pointer.
fn write_args(write: SessionWrite) -> Result<(&'static str, String)> {
    Ok(match write {
        SessionWrite::Keep => ("keep", String::new()),
        SessionWrite::Set(s @ LunchSession::AwaitingJoinCode) => ("set_own", to_json(&s)?),
        SessionWrite::Set(s) => ("set", to_json(&s)?),
        SessionWrite::SetIfMember(s) => ("set_if_member", to_json(&s)?),
        SessionWrite::SetIfListed(s) => ("set_if_listed", to_json(&s)?),
        SessionWrite::Clear => ("clear", String::new()),
    })
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
        redis::cmd("SET")
            .arg(self.keys.friend(bot, user))
            .arg(1)
            .exec_async(&mut self.conn("add_friend"))
            .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(bot = bot.as_str(), user = %user))]
    async fn remove_friend(&self, bot: BotScope, user: &UserKey) -> Result<()> {
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
    async fn is_friend(&self, bot: BotScope, user: &UserKey) -> Result<bool> {
        Ok(redis::cmd("EXISTS")
            .arg(self.keys.friend(bot, user))
            .query_async(&mut self.conn("is_friend"))
            .await?)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(bot = bot.as_str(), user = %user))]
    async fn clear_session(&self, bot: BotScope, user: &UserKey) -> Result<()> {
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
        call.key(self.keys.session(BotScope::Quiz, user))
            .key(self.keys.quiz_score(user));
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
        call.key(self.keys.session(BotScope::Quiz, user))
            .key(self.keys.quiz_asked(user, category))
            .arg(SESSION_TTL.as_secs());
        for candidate in candidates {
            // The session JSON is made here, by serde, so QUIZ_JUDGE and QUIZ_ANSWER
            // compare it byte for byte with what Rust would write.
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
        call.key(self.keys.session(BotScope::Quiz, user))
            .key(self.keys.quiz_score(user))
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
    async fn lunch_open(
        &self,
        user: &UserKey,
        day: &str,
        request: &LunchRequest,
    ) -> Result<LunchState> {
        let hint = self.hint(user);
        // A create always applies, and a join does when the user's step awaits a code:
        // then the group's side goes out with the user's step.
        let ahead = match &request.change {
            Some(change @ GroupChange::Create { .. }) => {
                self.change_ahead(user, change, &hint).await?
            }
            Some(change @ GroupChange::Join { .. }) if hint.awaiting_code => {
                self.change_ahead(user, change, &hint).await?
            }
            _ => None,
        };
        let (state, group) = match ahead {
            Some(done) => done,
            None => self.open_in_turn(user, day, request, &hint).await?,
        };
        let awaiting_code = match (&request.change, request.write) {
            (Some(GroupChange::Create { .. }), _) => false,
            (_, SessionWrite::Set(LunchSession::AwaitingJoinCode)) => true,
            (_, SessionWrite::Keep) => {
                state.session == Some(LunchSession::AwaitingJoinCode)
                    && state.change != Some(ChangeOutcome::Joined)
            }
            _ => false,
        };
        self.remember(
            user,
            Hint {
                group,
                awaiting_code,
            },
        );
        Ok(state)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, budget = budget.as_str()))]
    async fn lunch_spend(&self, user: &UserKey, budget: Budget, max: u32) -> Result<bool> {
        let used: u64 = self
            .scripts
            .lunch_spend
            .key(self.keys.lunch_limits(user))
            .arg(budget.as_str())
            .arg(LIMIT_WINDOW.as_secs())
            .invoke_async(&mut self.conn("lunch_spend"))
            .await?;
        Ok(used <= u64::from(max))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user))]
    async fn lunch_set_session(&self, user: &UserKey, session: Option<LunchSession>) -> Result<()> {
        let write = match session {
            Some(s) => SessionWrite::Set(s),
            None => SessionWrite::Clear,
        };
        // The user's step writes the session of a user without a group, and a
        // member's step awaiting a join code; a member's other steps live with the
        // group, written (or ended) once the code is known.
        let own = self.user_step(user, write, None).await?;
        if let Some(code) = own.code {
            let key = self.keys.lunch_step(&code, user);
            let mut pipe = redis::pipe();
            match session {
                Some(session) if session != LunchSession::AwaitingJoinCode => {
                    set_session(&mut pipe, key, to_json(&session)?)
                }
                _ => {
                    pipe.cmd("DEL").arg(key).ignore();
                }
            }
            pipe.exec_async(&mut self.conn("lunch_set_session")).await?;
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, code = %code))]
    async fn lunch_create_group(&self, user: &UserKey, code: &str) -> Result<bool> {
        // The same change as a create message's, in ordered steps: the group (with its
        // first member) first, then the user's pointer, then leaving the old group. If
        // the pointer step fails, the new group exists with nobody pointing at it and
        // the user is still in their old group, consistent. The pointer never names a
        // group that does not exist.
        if !self.create_group(user, code).await? {
            return Ok(false);
        }
        let left = self.point_user_at(user, code).await?;
        self.leave_group(user, left, code).await?;
        Ok(true)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, code = %code))]
    async fn lunch_join_group(&self, user: &UserKey, code: &str) -> Result<bool> {
        // Order as in create: admitted to the group's member list first (only if the
        // group exists), then the pointer, then leaving the old group. A failure after
        // the first step leaves the user on two member lists, which only keeps a
        // group alive a little longer; a failure after the second leaves the old
        // group one stale member.
        if !self.admit(user, code).await? {
            return Ok(false);
        }
        let left = self.point_user_at(user, code).await?;
        self.leave_group(user, left, code).await?;
        Ok(true)
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
    async fn lunch_remove_restaurant(&self, code: &str, name: &str, day: &str) -> Result<bool> {
        let removed: i64 = self
            .scripts
            .lunch_remove_restaurant
            .key(self.keys.lunch_restaurants(code))
            .key(self.keys.lunch_votes(code, day))
            .arg(name)
            .invoke_async(&mut self.conn("lunch_remove_restaurant"))
            .await?;
        Ok(removed == 1)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(code = %code, day = %day, user = %user))]
    async fn lunch_vote(
        &self,
        code: &str,
        day: &str,
        user: &UserKey,
        restaurant: &str,
    ) -> Result<VoteOutcome> {
        // The voter's session lives with the group (they are a member): one slot.
        let (recorded, previous): (i64, Option<String>) = self
            .scripts
            .lunch_vote
            .key(self.keys.lunch_restaurants(code))
            .key(self.keys.lunch_votes(code, day))
            .key(self.keys.lunch_step(code, user))
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

// The scripts. Every key a script touches arrives in KEYS, and all KEYS of one script
// share a hash tag (one user's or one group's), so each runs on a cluster too.

/// KEYS: quiz session, score[, asked of a category].
/// Returns {session or nil, correct or nil, answered or nil, asked ids}.
const QUIZ_LOAD: &str = r#"
local score = redis.call('HMGET', KEYS[2], 'correct', 'answered')
local asked = {}
if KEYS[3] then
  asked = redis.call('SMEMBERS', KEYS[3])
end
return {redis.call('GET', KEYS[1]), score[1], score[2], asked}
"#;

/// KEYS: quiz session, asked of the category. ARGV: session ttl seconds, then pairs of
/// (question id, its session JSON) in the order to try them.
/// Returns {question id, 1 when the category started over else 0}.
const QUIZ_ASK: &str = r#"
local n = (#ARGV - 1) / 2
for i = 0, n - 1 do
  local id, json = ARGV[2 + 2 * i], ARGV[3 + 2 * i]
  if redis.call('SISMEMBER', KEYS[2], id) == 0 then
    redis.call('SET', KEYS[1], json, 'EX', ARGV[1])
    redis.call('SADD', KEYS[2], id)
    return {id, 0}
  end
end
-- Every question was asked: start over, but not with the pending question.
local pending = redis.call('GET', KEYS[1])
local pick = 0
for i = 0, n - 1 do
  if ARGV[3 + 2 * i] ~= pending then
    pick = i
    break
  end
end
local id, json = ARGV[2 + 2 * pick], ARGV[3 + 2 * pick]
redis.call('DEL', KEYS[2])
redis.call('SADD', KEYS[2], id)
redis.call('SET', KEYS[1], json, 'EX', ARGV[1])
return {id, 1}
"#;

/// KEYS: quiz session, score. ARGV: tapped question id or '', the number n of ids the
/// choice is valid for, those n ids, then the ids it is correct for.
/// Returns {session or nil, correct, answered (both before), verdict} where verdict is
/// 0 when nothing was judged, 1 when judged wrong, 2 when judged right.
const QUIZ_JUDGE: &str = r#"
local session = redis.call('GET', KEYS[1])
local score = redis.call('HMGET', KEYS[2], 'correct', 'answered')
if not session then
  return {false, score[1], score[2], 0}
end
local ok, decoded = pcall(cjson.decode, session)
if not ok or type(decoded) ~= 'table' then
  return {session, score[1], score[2], 0}
end
local id = decoded['question_id']
if ARGV[1] ~= '' and id ~= ARGV[1] then
  return {session, score[1], score[2], 0}
end
local n = tonumber(ARGV[2])
local valid, correct = false, false
for i = 3, 2 + n do
  if ARGV[i] == id then valid = true end
end
for i = 3 + n, #ARGV do
  if ARGV[i] == id then correct = true end
end
if not valid then
  return {session, score[1], score[2], 0}
end
redis.call('DEL', KEYS[1])
redis.call('HINCRBY', KEYS[2], 'answered', 1)
if correct then
  redis.call('HINCRBY', KEYS[2], 'correct', 1)
  return {session, score[1], score[2], 2}
end
return {session, score[1], score[2], 1}
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

/// KEYS: lunch session (the user's own), group pointer, limits. ARGV: 1 mode (keep,
/// set, set_own, set_if_member, set_if_listed, clear), 2 session JSON, 3 session ttl
/// seconds, 4 change ('', create, join), 5 its code, 6 its budget, 7 the budget's
/// maximum, 8 the limit window seconds, 9 the awaiting-a-join-code session JSON.
///
/// A change applies to a create, or to a join while the user's own session awaits a
/// code: it spends the budget and, within it, points the user at the code and ends
/// their own session (the write is then not made). Otherwise the write is made here
/// for a user without a group, and for a member only `set_own` (the step awaiting a
/// join code, decided here) or the end of it (a member's other steps live with the
/// group, where LUNCH_GROUP_STEP writes them). Returns {session or nil, code before
/// or nil, change: '', 'moved' or 'over_budget'}.
const LUNCH_USER_OPEN: &str = r#"
local session = redis.call('GET', KEYS[1])
local code = redis.call('GET', KEYS[2])
if ARGV[4] == 'create' or (ARGV[4] == 'join' and session == ARGV[9]) then
  local used = redis.call('HINCRBY', KEYS[3], ARGV[6], 1)
  if redis.call('TTL', KEYS[3]) < 0 then
    redis.call('EXPIRE', KEYS[3], ARGV[8])
  end
  if used > tonumber(ARGV[7]) then
    return {session, code, 'over_budget'}
  end
  redis.call('SET', KEYS[2], ARGV[5])
  redis.call('DEL', KEYS[1])
  return {session, code, 'moved'}
end
local mode = ARGV[1]
if not code or mode == 'set_own' then
  if mode == 'set' or mode == 'set_own' then
    redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  elseif mode == 'clear' then
    redis.call('DEL', KEYS[1])
  end
elseif mode ~= 'keep' then
  redis.call('DEL', KEYS[1])
end
return {session, code, ''}
"#;

/// KEYS: group pointer, the user's own lunch session. ARGV: the code a change
/// pointed at, the code before or '', the session JSON to restore or '', session ttl.
/// Undoes a change that was refused on the group's side: points the user back, if
/// nothing moved them since. Returns 1 when undone.
const LUNCH_USER_UNDO: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
end
return 1
"#;

/// KEYS: restaurants, votes of the day, the member's step (session), members, group
/// marker, members who left. ARGV: 1 user, 2 '1' when the user's record names this group, 3 mode,
/// 4 session JSON, 5 session ttl, 6 '1' for every vote of the day, 7 op ('', vote,
/// remove, typed), 8 name or typed text, 9 name to add or '', 10 list maximum, 11 vote
/// ttl, 12–15 the session JSON of choosing, adding, removing and settings.
///
/// Reads the member's step, the list and their vote; applies the session write, then
/// the op (for typed text, the one the step waits for). Returns {1, step before or
/// nil, list before, vote or nil, votes, outcome, previous vote or nil}, or {0, …}
/// when the user is not a member (a guessed code that was wrong).
const LUNCH_GROUP_STEP: &str = r#"
if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 0 then
  if ARGV[2] ~= '1' or redis.call('EXISTS', KEYS[5]) == 0
      or redis.call('SREM', KEYS[6], ARGV[1]) == 0 then
    return {0, false, {}, false, {}, '', false}
  end
  -- The user's own record still names this group, which they left ahead of a create
  -- or join that did not happen: the leave is undone (LUNCH_GROUP_RESTORE's work).
  redis.call('SADD', KEYS[4], ARGV[1])
  redis.call('PERSIST', KEYS[5])
  redis.call('PERSIST', KEYS[1])
end
local step = redis.call('GET', KEYS[3])
local list = redis.call('LRANGE', KEYS[1], 0, -1)
local my_vote = redis.call('HGET', KEYS[2], ARGV[1])
local votes = {}
if ARGV[6] == '1' then
  votes = redis.call('HVALS', KEYS[2])
end
local mode = ARGV[3]
if mode == 'set' or mode == 'set_if_member' or (mode == 'set_if_listed' and #list > 0) then
  redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
elseif mode == 'clear' or mode == 'set_own' then
  redis.call('DEL', KEYS[3])
end

local function vote(name)
  if not redis.call('LPOS', KEYS[1], name) then
    return {'unknown', false}
  end
  local previous = redis.call('HGET', KEYS[2], ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], name)
  redis.call('EXPIRE', KEYS[2], ARGV[11])
  redis.call('DEL', KEYS[3])
  return {'voted', previous}
end
local function remove(name)
  if redis.call('LREM', KEYS[1], 1, name) == 0 then
    return {'not_removed', false}
  end
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    if all[i + 1] == name then
      redis.call('HDEL', KEYS[2], all[i])
    end
  end
  redis.call('SET', KEYS[3], ARGV[15], 'EX', ARGV[5])
  return {'removed', false}
end
local function add(name)
  local outcome = 'added'
  local wanted = string.lower(name)
  for _, listed in ipairs(list) do
    if string.lower(listed) == wanted then
      outcome = 'duplicate'
    end
  end
  if outcome == 'added' and #list >= tonumber(ARGV[10]) then
    outcome = 'full'
  end
  if outcome == 'added' then
    redis.call('RPUSH', KEYS[1], name)
  end
  redis.call('SET', KEYS[3], ARGV[15], 'EX', ARGV[5])
  return {outcome, false}
end

local outcome = {'', false}
local op = ARGV[7]
if op == 'vote' then
  outcome = vote(ARGV[8])
elseif op == 'remove' then
  outcome = remove(ARGV[8])
elseif op == 'typed' then
  local current = redis.call('GET', KEYS[3])
  if current == ARGV[12] then
    outcome = vote(ARGV[8])
  elseif current == ARGV[13] then
    if ARGV[9] ~= '' then
      outcome = add(ARGV[9])
    end
  elseif current == ARGV[14] then
    outcome = remove(ARGV[8])
  end
end
return {1, step, list, my_vote, votes, outcome[1], outcome[2]}
"#;

/// KEYS: group marker, members, the creator's step, restaurants, members who left.
/// ARGV: created_at, user, settings session JSON, session ttl. Returns 1 when created
/// (the creator on the member list, in the settings step), 0 when the code is taken.
/// A group nobody belongs to (kept for a while by LUNCH_GROUP_LEAVE) does not hold
/// its code: it is cleared and the code reused.
const LUNCH_GROUP_CREATE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('SCARD', KEYS[2]) > 0 then
    return 0
  end
  redis.call('DEL', KEYS[1], KEYS[4], KEYS[5])
end
redis.call('HSET', KEYS[1], 'created_at', ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
return 1
"#;

/// KEYS: group marker, members, the user's step. ARGV: user. Returns 1 when the group
/// exists and someone belongs to it (and the user is now on its member list, with no
/// step).
const LUNCH_GROUP_ADMIT: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('SCARD', KEYS[2]) == 0 then
  return 0
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
return 1
"#;

/// KEYS: members, members who left, group marker, restaurants. ARGV: user. Undoes a
/// leave (LUNCH_GROUP_LEAVE's `left`) whose create or join was refused: the user is
/// a member again, and the group is kept for good again. Returns 1 when undone.
const LUNCH_GROUP_RESTORE: &str = r#"
if redis.call('EXISTS', KEYS[3]) == 0 or redis.call('SREM', KEYS[2], ARGV[1]) == 0 then
  return 0
end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PERSIST', KEYS[3])
redis.call('PERSIST', KEYS[4])
return 1
"#;

/// KEYS: group pointer, the user's own lunch session. ARGV: code. Points the user at
/// the group (their session now lives with it) and returns the previous code or nil.
const LUNCH_USER_POINT: &str = r#"
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return previous
"#;

/// KEYS: members, group marker, restaurants, the user's step, members who left.
/// ARGV: user, how (`left`: a member leaves, and may be restored; `undo`: a member
/// list entry made ahead of a refused join is taken back; `drop`: a group made ahead
/// of a refused create is taken back), grace seconds. Takes the user off the list (and
/// their step). Once nobody is on it the group is gone for everyone (nobody can join,
/// its code is free), but `left` and `undo` keep its data for the grace period, so a
/// leave that is undone finds it as it was; `drop` removes it at once. The votes
/// expire with the day. Returns the number of members left.
const LUNCH_GROUP_LEAVE: &str = r#"
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[4])
if ARGV[2] == 'left' then
  redis.call('SADD', KEYS[5], ARGV[1])
  redis.call('EXPIRE', KEYS[5], ARGV[3])
end
local members = redis.call('SCARD', KEYS[1])
if members == 0 then
  if ARGV[2] == 'drop' then
    redis.call('DEL', KEYS[2], KEYS[3], KEYS[5])
  else
    redis.call('EXPIRE', KEYS[2], ARGV[3])
    redis.call('EXPIRE', KEYS[3], ARGV[3])
    redis.call('EXPIRE', KEYS[5], ARGV[3])
  end
end
return members
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

/// KEYS: restaurants, votes of the day. ARGV: name. Takes the name off the list and
/// drops the day's votes for it. Returns 1 when it was listed.
const LUNCH_REMOVE_RESTAURANT: &str = r#"
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then
  return 0
end
local votes = redis.call('HGETALL', KEYS[2])
for i = 1, #votes, 2 do
  if votes[i + 1] == ARGV[1] then
    redis.call('HDEL', KEYS[2], votes[i])
  end
end
return 1
"#;

/// KEYS: restaurants, votes, the voter's step. ARGV: user, restaurant, vote ttl
/// seconds. Returns {1, previous or nil} when recorded (ending the voter's step),
/// {0, nil} when not on the list.
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

/// KEYS: the user's limits. ARGV: budget, window seconds. Counts one use and returns
/// the uses in the window; the window starts with its first use.
const LUNCH_SPEND: &str = r#"
local used = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
if redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return used
"#;
