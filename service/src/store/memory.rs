//! [`MemoryStore`]: the store of the quick start and of tests. State lives in this
//! process only: it is neither shared between instances nor kept across restarts.
//!
//! Dev-mode limit: it remembers at most [`MEMORY_USER_CAP`] users. Past that, the
//! least recently seen users are forgotten (sessions, friendship, score, asked
//! questions, group membership), so a flood of distinct user keys cannot grow the
//! process without bound. Use Redis for real deployments.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{
    AnswerCheck, BotName, Budget, Judgement, QuizAsked, QuizChange, QuizSession, QuizState, Result,
    Score, Store, LIMIT_WINDOW, SESSION_TTL, VOTE_TTL,
};
use crate::lunch::{
    AddOutcome, ChangeOutcome, GroupChange, GroupEdit, LunchRequest, LunchSession, LunchState,
    Membership, NextStep, SessionWrite, StepMove, StepOutcome, Tally, VoteOutcome,
};
use crate::user::UserKey;

/// How often expired entries are swept out; until then they are only skipped.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Most users the memory store remembers (a few hundred bytes each, so tens of MiB at
/// most); past it the least recently seen tenth is forgotten at once.
pub const MEMORY_USER_CAP: usize = 100_000;

/// Plain maps behind one [`std::sync::Mutex`], with the same semantics as
/// [`RedisStore`](super::RedisStore), expiry included.
///
/// The lock is never held across an `.await` (no method awaits anything), so a plain
/// mutex is right here; every method is a short critical section.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// See [`MEMORY_USER_CAP`]; smaller in tests.
    user_cap: usize,
}

#[derive(Debug)]
struct State {
    /// Added to `Instant::now()`: lets tests move time forward (see
    /// [`MemoryStore::advance_clock`]).
    clock_offset: Duration,
    /// When expired entries were last removed.
    last_sweep: Instant,
    quiz_sessions: HashMap<String, Expiring<QuizSession>>,
    lunch_sessions: HashMap<String, Expiring<LunchSession>>,
    friends: HashMap<BotName, HashSet<String>>,
    scores: HashMap<String, Score>,
    /// (user, category) → asked question ids; sorted so loads are deterministic.
    asked: HashMap<(String, String), BTreeSet<String>>,
    /// user → group code.
    members: HashMap<String, String>,
    /// group code → its members (the group exists while it is here).
    groups: HashMap<String, HashSet<String>>,
    /// (user, budget) → uses in the current window.
    spent: HashMap<(String, Budget), Expiring<u64>>,
    /// user → the tick of their last call, for forgetting the least recently seen.
    last_seen: HashMap<String, u64>,
    tick: u64,
    /// group code → restaurants in the order added.
    restaurants: HashMap<String, Vec<String>>,
    /// (group code, day) → user → restaurant.
    votes: HashMap<(String, String), Expiring<HashMap<String, String>>>,
}

/// A value with a deadline, checked when it is read.
#[derive(Debug)]
struct Expiring<T> {
    value: T,
    expires_at: Instant,
}

impl<T> Expiring<T> {
    fn live(&self, now: Instant) -> Option<&T> {
        (now < self.expires_at).then_some(&self.value)
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::with_user_cap(MEMORY_USER_CAP)
    }

    /// A store that remembers at most `user_cap` users.
    pub fn with_user_cap(user_cap: usize) -> Self {
        let now = Instant::now();
        Self {
            user_cap: user_cap.max(1),
            state: Mutex::new(State {
                clock_offset: Duration::ZERO,
                last_sweep: now,
                quiz_sessions: HashMap::new(),
                lunch_sessions: HashMap::new(),
                friends: HashMap::new(),
                scores: HashMap::new(),
                asked: HashMap::new(),
                members: HashMap::new(),
                groups: HashMap::new(),
                spent: HashMap::new(),
                last_seen: HashMap::new(),
                tick: 0,
                restaurants: HashMap::new(),
                votes: HashMap::new(),
            }),
        }
    }

    /// How many users the store remembers now.
    pub fn users(&self) -> usize {
        self.lock().0.last_seen.len()
    }

    /// Locks the state for a call by `user`, marking them as just seen and forgetting
    /// the least recently seen users when there are too many.
    fn lock_for(&self, user: &UserKey) -> (MutexGuard<'_, State>, Instant) {
        let (mut state, now) = self.lock();
        state.tick += 1;
        let tick = state.tick;
        state.last_seen.insert(user.as_str().to_owned(), tick);
        if state.last_seen.len() > self.user_cap {
            state.forget_least_recent(self.user_cap);
        }
        (state, now)
    }

    /// Whether `user` is a friend of `bot`, for tests: the service records friends but
    /// never reads them back. Does not count as a use by `user`.
    pub fn is_friend(&self, bot: BotName, user: &UserKey) -> bool {
        self.lock()
            .0
            .friends
            .get(&bot)
            .is_some_and(|friends| friends.contains(user.as_str()))
    }

    /// Moves this store's clock forward, so tests can see sessions and votes expire
    /// without waiting.
    #[doc(hidden)]
    pub fn advance_clock(&self, by: Duration) {
        self.lock().0.clock_offset += by;
    }

    /// Locks the state and returns it with the current (possibly advanced) time.
    /// Nothing panics while the lock is held, so a poisoned lock still holds
    /// consistent data and is used as is.
    fn lock(&self) -> (MutexGuard<'_, State>, Instant) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now() + state.clock_offset;
        if now.duration_since(state.last_sweep) >= SWEEP_EVERY {
            state.sweep(now);
        }
        (state, now)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    fn sweep(&mut self, now: Instant) {
        self.quiz_sessions.retain(|_, s| s.live(now).is_some());
        self.lunch_sessions.retain(|_, s| s.live(now).is_some());
        self.votes.retain(|_, v| v.live(now).is_some());
        self.spent.retain(|_, v| v.live(now).is_some());
        self.last_sweep = now;
    }

    /// Forgets the least recently seen users down to nine tenths of `cap`, so the
    /// O(users) scan runs once per tenth of the cap, not on every call.
    fn forget_least_recent(&mut self, cap: usize) {
        let keep = cap - cap / 10;
        let mut by_age: Vec<(u64, String)> = self
            .last_seen
            .iter()
            .map(|(user, tick)| (*tick, user.clone()))
            .collect();
        by_age.sort_unstable();
        let forget = by_age.len().saturating_sub(keep);
        let gone: HashSet<String> = by_age.into_iter().take(forget).map(|(_, u)| u).collect();
        self.last_seen.retain(|user, _| !gone.contains(user));
        self.quiz_sessions.retain(|user, _| !gone.contains(user));
        self.lunch_sessions.retain(|user, _| !gone.contains(user));
        for friends in self.friends.values_mut() {
            friends.retain(|user| !gone.contains(user));
        }
        self.scores.retain(|user, _| !gone.contains(user));
        self.asked.retain(|(user, _), _| !gone.contains(user));
        self.spent.retain(|(user, _), _| !gone.contains(user));
        for user in &gone {
            if let Some(code) = self.members.remove(user) {
                self.leave(user, &code, None);
            }
        }
    }

    /// Takes `user` off `code`'s members, with their vote of `day` (a leaver no longer
    /// counts in the group's result); removes the group once nobody is left.
    fn leave(&mut self, user: &str, code: &str, day: Option<&str>) {
        let Some(members) = self.groups.get_mut(code) else {
            return;
        };
        members.remove(user);
        if let Some(day) = day {
            if let Some(votes) = self.votes.get_mut(&(code.to_owned(), day.to_owned())) {
                votes.value.remove(user);
            }
        }
        if members.is_empty() {
            self.groups.remove(code);
            self.restaurants.remove(code);
            self.votes.retain(|(group, _), _| group != code);
        }
    }

    /// Points `user` at `code`, leaving their previous group (and its vote of `day`).
    fn point(&mut self, user: &str, code: &str, day: &str) {
        if let Some(left) = self.members.insert(user.to_owned(), code.to_owned()) {
            if left != code {
                self.leave(user, &left, Some(day));
            }
        }
    }

    /// A vote for a listed restaurant.
    fn vote(
        &mut self,
        code: &str,
        day: &str,
        user: &UserKey,
        restaurant: &str,
        now: Instant,
    ) -> VoteOutcome {
        let listed = self
            .restaurants
            .get(code)
            .is_some_and(|list| list.iter().any(|n| n == restaurant));
        if !listed {
            return VoteOutcome::UnknownRestaurant;
        }
        let entry = self
            .votes
            .entry((code.to_owned(), day.to_owned()))
            .or_insert_with(|| Expiring {
                value: HashMap::new(),
                expires_at: now,
            });
        if entry.expires_at <= now {
            // Expired but not swept yet: the day's votes are gone, as in Redis.
            entry.value.clear();
        }
        // Every vote renews the day's expiry, like Redis's EXPIRE after HSET.
        entry.expires_at = now + VOTE_TTL;
        let previous = entry
            .value
            .insert(user.as_str().to_owned(), restaurant.to_owned());
        VoteOutcome::Recorded { previous }
    }

    /// Takes a listed restaurant off, with the day's votes for it; `false` when it was
    /// not listed.
    fn remove_restaurant(&mut self, code: &str, name: &str, day: &str) -> bool {
        let Some(list) = self.restaurants.get_mut(code) else {
            return false;
        };
        let Some(at) = list.iter().position(|n| n == name) else {
            return false;
        };
        list.remove(at);
        if let Some(votes) = self.votes.get_mut(&(code.to_owned(), day.to_owned())) {
            votes.value.retain(|_, vote| vote != name);
        }
        true
    }

    fn add(&mut self, code: &str, name: &str, max: usize) -> AddOutcome {
        let list = self.restaurants.entry(code.to_owned()).or_default();
        // ASCII case folding, exactly what Redis's Lua `string.lower` does, so both
        // stores agree on what a duplicate is.
        if list.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return AddOutcome::Duplicate;
        }
        if list.len() >= max {
            return AddOutcome::Full;
        }
        list.push(name.to_owned());
        AddOutcome::Added
    }

    /// Makes the edit of `chosen` in group `code`, then starts the step it names for
    /// what the edit did.
    fn apply(
        &mut self,
        code: &str,
        day: &str,
        user: &UserKey,
        chosen: &StepMove,
        now: Instant,
    ) -> StepOutcome {
        let outcome = match &chosen.edit {
            GroupEdit::Vote(name) => StepOutcome::Voted(self.vote(code, day, user, name, now)),
            GroupEdit::Add { name, max } => StepOutcome::Added(self.add(code, name, *max)),
            GroupEdit::Remove(name) => {
                StepOutcome::Removed(self.remove_restaurant(code, name, day))
            }
        };
        let next = if outcome.changed() {
            chosen.on_change
        } else {
            chosen.on_refusal
        };
        match next {
            NextStep::Keep => {}
            NextStep::Start(step) => self.set_lunch_session(user.as_str(), step, now),
            NextStep::End => self.clear_session(BotName::Lunch, user),
        }
        outcome
    }

    fn set_lunch_session(&mut self, user: &str, session: LunchSession, now: Instant) {
        let entry = Expiring {
            value: session,
            expires_at: now + SESSION_TTL,
        };
        self.lunch_sessions.insert(user.to_owned(), entry);
    }

    /// Counts one use of `budget`; `false` once more than `max` were used in the window.
    fn spend(&mut self, user: &str, budget: Budget, max: u32, now: Instant) -> bool {
        let entry = self
            .spent
            .entry((user.to_owned(), budget))
            .or_insert(Expiring {
                value: 0,
                expires_at: now,
            });
        if entry.expires_at <= now {
            // A new window starts with this use, as the Redis key's expiry does.
            *entry = Expiring {
                value: 0,
                expires_at: now + LIMIT_WINDOW,
            };
        }
        entry.value += 1;
        entry.value <= u64::from(max)
    }

    /// Creates `code` with `user` as its member, at `step`; `false` when the code is
    /// taken.
    fn create(
        &mut self,
        user: &str,
        code: &str,
        day: &str,
        step: LunchSession,
        now: Instant,
    ) -> bool {
        if self.groups.contains_key(code) {
            return false;
        }
        self.groups
            .insert(code.to_owned(), HashSet::from([user.to_owned()]));
        self.restaurants.remove(code);
        self.votes.retain(|(group, _), _| group != code);
        self.point(user, code, day);
        self.set_lunch_session(user, step, now);
        true
    }

    /// Makes `user` a member of `code`, where they have no step yet; `false` when
    /// there is no such group.
    fn join(&mut self, user: &str, code: &str, day: &str) -> bool {
        let Some(members) = self.groups.get_mut(code) else {
            return false;
        };
        members.insert(user.to_owned());
        self.point(user, code, day);
        self.lunch_sessions.remove(user);
        true
    }

    /// Applies a [`GroupChange`] as [`Store::lunch_open`] describes, given the session
    /// before the message.
    fn change_group(
        &mut self,
        user: &str,
        change: &GroupChange,
        day: &str,
        session: Option<LunchSession>,
        now: Instant,
    ) -> Option<ChangeOutcome> {
        Some(match change {
            GroupChange::Create { code, max, step } => {
                if !self.spend(user, Budget::CreateGroup, *max, now) {
                    ChangeOutcome::OverBudget
                } else if self.create(user, code, day, *step, now) {
                    ChangeOutcome::Created
                } else {
                    ChangeOutcome::CodeTaken
                }
            }
            GroupChange::Join { code, max } => {
                if session != Some(LunchSession::AwaitingJoinCode) {
                    return None;
                }
                if !self.spend(user, Budget::JoinAttempt, *max, now) {
                    ChangeOutcome::OverBudget
                } else if self.join(user, code, day) {
                    ChangeOutcome::Joined
                } else {
                    ChangeOutcome::NoSuchGroup
                }
            }
        })
    }

    fn clear_session(&mut self, bot: BotName, user: &UserKey) {
        match bot {
            BotName::Quiz => {
                self.quiz_sessions.remove(user.as_str());
            }
            BotName::Lunch => {
                self.lunch_sessions.remove(user.as_str());
            }
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> Result<()> {
        Ok(())
    }

    async fn add_friend(&self, bot: BotName, user: &UserKey) -> Result<()> {
        let (mut state, _) = self.lock_for(user);
        state
            .friends
            .entry(bot)
            .or_default()
            .insert(user.as_str().to_owned());
        Ok(())
    }

    async fn remove_friend(&self, bot: BotName, user: &UserKey) -> Result<()> {
        let (mut state, _) = self.lock_for(user);
        if let Some(friends) = state.friends.get_mut(&bot) {
            friends.remove(user.as_str());
        }
        state.clear_session(bot, user);
        Ok(())
    }

    async fn clear_session(&self, bot: BotName, user: &UserKey) -> Result<()> {
        self.lock_for(user).0.clear_session(bot, user);
        Ok(())
    }

    async fn quiz_load(&self, user: &UserKey, category: Option<&str>) -> Result<QuizState> {
        let (state, now) = self.lock_for(user);
        let session = state
            .quiz_sessions
            .get(user.as_str())
            .and_then(|s| s.live(now))
            .cloned();
        let score = state.scores.get(user.as_str()).copied().unwrap_or_default();
        let asked = category
            .and_then(|c| state.asked.get(&(user.as_str().to_owned(), c.to_owned())))
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        Ok(QuizState {
            session,
            score,
            asked,
        })
    }

    async fn quiz_ask(
        &self,
        user: &UserKey,
        category: &str,
        candidates: &[QuizSession],
    ) -> Result<QuizAsked> {
        let (mut state, now) = self.lock_for(user);
        let Some(first) = candidates.first() else {
            return Ok(QuizAsked {
                question_id: String::new(),
                restarted: false,
            });
        };
        let asked_key = (user.as_str().to_owned(), category.to_owned());
        let asked = state.asked.get(&asked_key);
        let fresh = candidates
            .iter()
            .find(|c| !asked.is_some_and(|ids| ids.contains(&c.question_id)));
        // As QUIZ_ASK does: the first fresh candidate; when none is left, start over
        // with the first that is not the pending question.
        let (picked, restarted) = match fresh {
            Some(picked) => (picked.clone(), false),
            None => {
                let pending = state
                    .quiz_sessions
                    .get(user.as_str())
                    .and_then(|s| s.live(now));
                let picked = candidates
                    .iter()
                    .find(|c| Some(*c) != pending)
                    .unwrap_or(first);
                (picked.clone(), true)
            }
        };
        let ids = state.asked.entry(asked_key).or_default();
        if restarted {
            ids.clear();
        }
        ids.insert(picked.question_id.clone());
        let question_id = picked.question_id.clone();
        state.quiz_sessions.insert(
            user.as_str().to_owned(),
            Expiring {
                value: picked,
                expires_at: now + SESSION_TTL,
            },
        );
        Ok(QuizAsked {
            question_id,
            restarted,
        })
    }

    async fn quiz_judge(&self, user: &UserKey, check: &AnswerCheck) -> Result<Judgement> {
        let (mut state, now) = self.lock_for(user);
        let session = state
            .quiz_sessions
            .get(user.as_str())
            .and_then(|s| s.live(now))
            .cloned();
        let score = state.scores.get(user.as_str()).copied().unwrap_or_default();
        let judged = session.as_ref().filter(|s| {
            check.tapped.as_ref().is_none_or(|t| *t == s.question_id)
                && check.valid_for.contains(&s.question_id)
        });
        let counted = judged.map(|s| check.correct_for.contains(&s.question_id));
        if let Some(correct) = counted {
            state.quiz_sessions.remove(user.as_str());
            let entry = state.scores.entry(user.as_str().to_owned()).or_default();
            entry.answered += 1;
            if correct {
                entry.correct += 1;
            }
        }
        Ok(Judgement {
            session,
            score,
            counted,
        })
    }

    async fn quiz_save(&self, user: &UserKey, change: &QuizChange) -> Result<()> {
        let (mut state, now) = self.lock_for(user);
        let user = user.as_str();
        match &change.session {
            Some(Some(session)) => {
                let entry = Expiring {
                    value: session.clone(),
                    expires_at: now + SESSION_TTL,
                };
                state.quiz_sessions.insert(user.to_owned(), entry);
            }
            Some(None) => {
                state.quiz_sessions.remove(user);
            }
            None => {}
        }
        // Reset before mark, as the Redis pipeline does: a change that starts a new
        // round leaves exactly the newly asked question marked.
        if let Some(category) = &change.reset_asked {
            state.asked.remove(&(user.to_owned(), category.clone()));
        }
        if let Some((category, id)) = &change.mark_asked {
            state
                .asked
                .entry((user.to_owned(), category.clone()))
                .or_default()
                .insert(id.clone());
        }
        Ok(())
    }

    async fn lunch_open(
        &self,
        user: &UserKey,
        day: &str,
        request: &LunchRequest,
    ) -> Result<LunchState> {
        let (mut state, now) = self.lock_for(user);
        let session = state
            .lunch_sessions
            .get(user.as_str())
            .and_then(|s| s.live(now))
            .copied();
        let code = state.members.get(user.as_str()).cloned();
        let membership = code.as_ref().map(|code| {
            let restaurants = state.restaurants.get(code).cloned().unwrap_or_default();
            let my_vote = state
                .votes
                .get(&(code.clone(), day.to_owned()))
                .and_then(|v| v.live(now))
                .and_then(|votes| votes.get(user.as_str()))
                .filter(|vote| restaurants.contains(vote))
                .cloned();
            Membership {
                code: code.clone(),
                restaurants,
                my_vote,
            }
        });
        let tally = match (&membership, request.tally) {
            (Some(m), true) => {
                let votes = state
                    .votes
                    .get(&(m.code.clone(), day.to_owned()))
                    .and_then(|v| v.live(now));
                Some(Tally::count(
                    m.restaurants.clone(),
                    votes
                        .into_iter()
                        .flat_map(|v| v.values().map(String::as_str)),
                ))
            }
            _ => None,
        };
        if let Some(change) = &request.change {
            if let Some(done) = state.change_group(user.as_str(), change, day, session, now) {
                return Ok(LunchState {
                    session,
                    membership,
                    tally,
                    outcome: None,
                    change: Some(done),
                });
            }
        }
        match request.write {
            SessionWrite::Keep => {}
            SessionWrite::Set(next) => state.set_lunch_session(user.as_str(), next, now),
            SessionWrite::SetIfMember(next) => {
                if membership.is_some() {
                    state.set_lunch_session(user.as_str(), next, now);
                }
            }
            SessionWrite::SetIfListed(next) => {
                if membership
                    .as_ref()
                    .is_some_and(|m| !m.restaurants.is_empty())
                {
                    state.set_lunch_session(user.as_str(), next, now);
                }
            }
            SessionWrite::Clear => state.clear_session(BotName::Lunch, user),
        }
        // The moves see the session as the write left it, as the Redis script does.
        let current = state
            .lunch_sessions
            .get(user.as_str())
            .and_then(|s| s.live(now))
            .copied();
        let chosen = request
            .moves
            .iter()
            .find(|m| m.at.is_none() || m.at == current);
        let outcome = match (&code, chosen) {
            (Some(code), Some(chosen)) => Some(state.apply(code, day, user, chosen, now)),
            _ => None,
        };
        Ok(LunchState {
            session,
            membership,
            tally,
            outcome,
            change: None,
        })
    }
}
