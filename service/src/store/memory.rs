//! [`MemoryStore`]: the store of the quick start and of tests. State lives in this
//! process only: it is neither shared between instances nor kept across restarts.
//!
//! Dev-mode limit: it remembers at most [`MEMORY_USER_CAP`] users. Past that, the
//! least recently seen user is forgotten (sessions, friendship, score, asked
//! questions, group membership), so a flood of distinct user keys cannot grow the
//! process without bound. Use Redis for real deployments.
//!
//! No call holds the lock across work proportional to the store's size: every map is
//! keyed so that a call reaches the entries of its user and of their group directly,
//! forgetting a user removes just that user's entries (one user per newcomer past the
//! cap, found in an age index), and expired entries are skipped when read and dropped
//! when their owner writes or is forgotten, never swept store-wide.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{
    AnswerCheck, BotName, Budget, Judgement, QuizAsked, QuizChange, QuizSession, QuizState, Result,
    Score, Store, LIMIT_WINDOW, SESSION_TTL, VOTE_TTL,
};

/// Every budget, so forgetting a user removes their allowances by key.
const BUDGETS: [Budget; 2] = [Budget::CreateGroup, Budget::JoinAttempt];
use crate::lunch::{
    AddOutcome, ChangeOutcome, GroupChange, GroupEdit, LunchRequest, LunchSession, LunchState,
    Membership, NextStep, SessionWrite, StepMove, StepOutcome, Tally, VoteOutcome,
};
use crate::user::UserKey;

/// Most users the memory store remembers; past it the least recently seen is
/// forgotten, one per newcomer. A busy user (a friend of both bots, a score and an
/// asked question, a group of their own listing a restaurant, with today's vote)
/// holds about 3 KB, so a full store holds about 280 MiB: measured with
/// `cargo run -p kakaobot --example memory_store_size` (282.5 MiB for 100 000 such
/// users); users who only chat hold less.
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
    quiz_sessions: HashMap<String, Expiring<QuizSession>>,
    lunch_sessions: HashMap<String, Expiring<LunchSession>>,
    friends: HashMap<BotName, HashSet<String>>,
    scores: HashMap<String, Score>,
    /// user → category → asked question ids; sorted so loads are deterministic.
    asked: HashMap<String, HashMap<String, BTreeSet<String>>>,
    /// user → group code.
    members: HashMap<String, String>,
    /// group code → its members (the group exists while it is here).
    groups: HashMap<String, HashSet<String>>,
    /// (user, budget) → uses in the current window.
    spent: HashMap<(String, Budget), Expiring<u64>>,
    /// user → the tick of their last call.
    last_seen: HashMap<String, u64>,
    /// tick → user: `last_seen` by age, so the least recently seen is found at once.
    by_age: BTreeMap<u64, String>,
    tick: u64,
    /// group code → restaurants in the order added.
    restaurants: HashMap<String, Vec<String>>,
    /// group code → day → user → restaurant: a group's votes are reached (and
    /// forgotten) without visiting other groups'.
    votes: HashMap<String, HashMap<String, Expiring<HashMap<String, String>>>>,
    /// Entries visited to forget users and drop expired votes, for tests: the work
    /// done under the lock besides the call's own.
    visits: u64,
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
        Self {
            user_cap: user_cap.max(1),
            state: Mutex::new(State {
                clock_offset: Duration::ZERO,
                quiz_sessions: HashMap::new(),
                lunch_sessions: HashMap::new(),
                friends: HashMap::new(),
                scores: HashMap::new(),
                asked: HashMap::new(),
                members: HashMap::new(),
                groups: HashMap::new(),
                spent: HashMap::new(),
                last_seen: HashMap::new(),
                by_age: BTreeMap::new(),
                tick: 0,
                restaurants: HashMap::new(),
                votes: HashMap::new(),
                visits: 0,
            }),
        }
    }

    /// How many users the store remembers now.
    pub fn users(&self) -> usize {
        self.lock().0.last_seen.len()
    }

    /// Entries visited so far to forget users and drop expired votes (see the module
    /// doc): lets tests check that this work follows what is forgotten, not the
    /// store's size.
    #[doc(hidden)]
    pub fn housekeeping_visits(&self) -> u64 {
        self.lock().0.visits
    }

    /// Locks the state for a call by `user`, marking them as just seen and forgetting
    /// the least recently seen user when there are too many.
    fn lock_for(&self, user: &UserKey) -> (MutexGuard<'_, State>, Instant) {
        let (mut state, now) = self.lock();
        state.tick += 1;
        let tick = state.tick;
        if let Some(before) = state.last_seen.insert(user.as_str().to_owned(), tick) {
            state.by_age.remove(&before);
        }
        state.by_age.insert(tick, user.as_str().to_owned());
        while state.last_seen.len() > self.user_cap {
            state.forget_least_recent();
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
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now() + state.clock_offset;
        (state, now)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    /// Forgets the least recently seen user: each of their entries is removed by key,
    /// so the cost is that user's entries (and their votes in their group), whatever
    /// the store's size.
    fn forget_least_recent(&mut self) {
        let Some((_, user)) = self.by_age.pop_first() else {
            return;
        };
        self.last_seen.remove(&user);
        self.quiz_sessions.remove(&user);
        self.lunch_sessions.remove(&user);
        for friends in self.friends.values_mut() {
            friends.remove(&user);
        }
        self.scores.remove(&user);
        self.asked.remove(&user);
        for budget in BUDGETS {
            self.spent.remove(&(user.clone(), budget));
        }
        self.visits += 6 + self.friends.len() as u64 + BUDGETS.len() as u64;
        if let Some(code) = self.members.remove(&user) {
            self.leave(&user, &code, None);
        }
    }

    /// Takes `user` off `code`'s members, with their vote of `day` (a leaver no longer
    /// counts in the group's result), or of every day the group keeps when `day` is
    /// `None` (a forgotten user); removes the group once nobody is left.
    fn leave(&mut self, user: &str, code: &str, day: Option<&str>) {
        let Some(members) = self.groups.get_mut(code) else {
            return;
        };
        members.remove(user);
        let empty = members.is_empty();
        if empty {
            self.groups.remove(code);
            self.restaurants.remove(code);
            self.votes.remove(code);
            self.visits += 3;
            return;
        }
        let Some(days) = self.votes.get_mut(code) else {
            return;
        };
        for (voted_on, votes) in days.iter_mut() {
            if day.is_none_or(|day| day == voted_on) {
                self.visits += 1;
                votes.value.remove(user);
            }
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
        let days = self.votes.entry(code.to_owned()).or_default();
        // Past days' votes go when the group votes again: a group keeps a few days'.
        let before = days.len();
        days.retain(|_, votes| votes.live(now).is_some());
        self.visits += before as u64;
        let entry = days.entry(day.to_owned()).or_insert_with(|| Expiring {
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
        if let Some(votes) = self.votes.get_mut(code).and_then(|days| days.get_mut(day)) {
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
        self.votes.remove(code);
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
            .and_then(|c| state.asked.get(user.as_str())?.get(c))
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
        let asked = state
            .asked
            .get(user.as_str())
            .and_then(|categories| categories.get(category));
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
        let ids = state
            .asked
            .entry(user.as_str().to_owned())
            .or_default()
            .entry(category.to_owned())
            .or_default();
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
            if let Some(categories) = state.asked.get_mut(user) {
                categories.remove(category);
            }
        }
        if let Some((category, id)) = &change.mark_asked {
            state
                .asked
                .entry(user.to_owned())
                .or_default()
                .entry(category.clone())
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
                .get(code)
                .and_then(|days| days.get(day))
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
                    .get(&m.code)
                    .and_then(|days| days.get(day))
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
