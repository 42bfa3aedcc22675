//! [`MemoryStore`]: the store of the quick start and of tests. State lives in this
//! process only: it is neither shared between instances nor kept across restarts.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{
    AddOutcome, BotScope, LunchSession, LunchState, Membership, QuizChange, QuizSession, QuizState,
    Result, Score, Store, Tally, VoteOutcome, SESSION_TTL, VOTE_TTL,
};
use crate::user::UserKey;

/// How often expired entries are swept out; until then they are only skipped.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Plain maps behind one [`std::sync::Mutex`], with the same semantics as
/// [`RedisStore`](super::RedisStore), expiry included.
///
/// The lock is never held across an `.await` (no method awaits anything), so a plain
/// mutex is right here; every method is a short critical section.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
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
    friends: HashMap<BotScope, HashSet<String>>,
    scores: HashMap<String, Score>,
    /// (user, category) → asked question ids; sorted so loads are deterministic.
    asked: HashMap<(String, String), BTreeSet<String>>,
    /// user → group code.
    members: HashMap<String, String>,
    groups: HashSet<String>,
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
        let now = Instant::now();
        Self {
            state: Mutex::new(State {
                clock_offset: Duration::ZERO,
                last_sweep: now,
                quiz_sessions: HashMap::new(),
                lunch_sessions: HashMap::new(),
                friends: HashMap::new(),
                scores: HashMap::new(),
                asked: HashMap::new(),
                members: HashMap::new(),
                groups: HashSet::new(),
                restaurants: HashMap::new(),
                votes: HashMap::new(),
            }),
        }
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
        self.last_sweep = now;
    }

    fn clear_session(&mut self, bot: BotScope, user: &UserKey) {
        match bot {
            BotScope::Quiz => {
                self.quiz_sessions.remove(user.as_str());
            }
            BotScope::Lunch => {
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

    async fn add_friend(&self, bot: BotScope, user: &UserKey) -> Result<()> {
        let (mut state, _) = self.lock();
        state
            .friends
            .entry(bot)
            .or_default()
            .insert(user.as_str().to_owned());
        Ok(())
    }

    async fn remove_friend(&self, bot: BotScope, user: &UserKey) -> Result<()> {
        let (mut state, _) = self.lock();
        if let Some(friends) = state.friends.get_mut(&bot) {
            friends.remove(user.as_str());
        }
        state.clear_session(bot, user);
        Ok(())
    }

    async fn is_friend(&self, bot: BotScope, user: &UserKey) -> Result<bool> {
        let (state, _) = self.lock();
        Ok(state
            .friends
            .get(&bot)
            .is_some_and(|friends| friends.contains(user.as_str())))
    }

    async fn clear_session(&self, bot: BotScope, user: &UserKey) -> Result<()> {
        self.lock().0.clear_session(bot, user);
        Ok(())
    }

    async fn quiz_load(&self, user: &UserKey, category: Option<&str>) -> Result<QuizState> {
        let (state, now) = self.lock();
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

    async fn quiz_save(&self, user: &UserKey, change: &QuizChange) -> Result<()> {
        let (mut state, now) = self.lock();
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

    async fn quiz_answer(
        &self,
        user: &UserKey,
        asked: &QuizSession,
        correct: bool,
    ) -> Result<bool> {
        let (mut state, now) = self.lock();
        let user = user.as_str();
        let pending = state.quiz_sessions.get(user).and_then(|s| s.live(now));
        if pending != Some(asked) {
            return Ok(false);
        }
        state.quiz_sessions.remove(user);
        let score = state.scores.entry(user.to_owned()).or_default();
        score.answered += 1;
        if correct {
            score.correct += 1;
        }
        Ok(true)
    }

    async fn lunch_load(&self, user: &UserKey, day: &str) -> Result<LunchState> {
        let (state, now) = self.lock();
        let session = state
            .lunch_sessions
            .get(user.as_str())
            .and_then(|s| s.live(now))
            .copied();
        let membership = state.members.get(user.as_str()).map(|code| Membership {
            code: code.clone(),
            restaurants: state.restaurants.get(code).cloned().unwrap_or_default(),
            my_vote: state
                .votes
                .get(&(code.clone(), day.to_owned()))
                .and_then(|v| v.live(now))
                .and_then(|votes| votes.get(user.as_str()))
                .cloned(),
        });
        Ok(LunchState {
            session,
            membership,
        })
    }

    async fn lunch_set_session(&self, user: &UserKey, session: Option<LunchSession>) -> Result<()> {
        let (mut state, now) = self.lock();
        match session {
            Some(value) => {
                let entry = Expiring {
                    value,
                    expires_at: now + SESSION_TTL,
                };
                state.lunch_sessions.insert(user.as_str().to_owned(), entry);
            }
            None => state.clear_session(BotScope::Lunch, user),
        }
        Ok(())
    }

    async fn lunch_create_group(&self, user: &UserKey, code: &str) -> Result<bool> {
        let (mut state, _) = self.lock();
        if !state.groups.insert(code.to_owned()) {
            return Ok(false);
        }
        state
            .members
            .insert(user.as_str().to_owned(), code.to_owned());
        Ok(true)
    }

    async fn lunch_join_group(&self, user: &UserKey, code: &str) -> Result<bool> {
        let (mut state, _) = self.lock();
        if !state.groups.contains(code) {
            return Ok(false);
        }
        state
            .members
            .insert(user.as_str().to_owned(), code.to_owned());
        state.clear_session(BotScope::Lunch, user);
        Ok(true)
    }

    async fn lunch_add_restaurant(&self, code: &str, name: &str, max: usize) -> Result<AddOutcome> {
        let (mut state, _) = self.lock();
        let list = state.restaurants.entry(code.to_owned()).or_default();
        // ASCII case folding, exactly what Redis's Lua `string.lower` does, so both
        // stores agree on what a duplicate is.
        if list.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Ok(AddOutcome::Duplicate);
        }
        if list.len() >= max {
            return Ok(AddOutcome::Full);
        }
        list.push(name.to_owned());
        Ok(AddOutcome::Added)
    }

    async fn lunch_remove_restaurant(&self, code: &str, name: &str) -> Result<bool> {
        let (mut state, _) = self.lock();
        let Some(list) = state.restaurants.get_mut(code) else {
            return Ok(false);
        };
        let Some(at) = list.iter().position(|n| n == name) else {
            return Ok(false);
        };
        list.remove(at);
        Ok(true)
    }

    async fn lunch_vote(
        &self,
        code: &str,
        day: &str,
        user: &UserKey,
        restaurant: &str,
    ) -> Result<VoteOutcome> {
        let (mut state, now) = self.lock();
        let listed = state
            .restaurants
            .get(code)
            .is_some_and(|list| list.iter().any(|n| n == restaurant));
        if !listed {
            return Ok(VoteOutcome::UnknownRestaurant);
        }
        let entry = state
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
        state.clear_session(BotScope::Lunch, user);
        Ok(VoteOutcome::Recorded { previous })
    }

    async fn lunch_tally(&self, code: &str, day: &str) -> Result<Tally> {
        let (state, now) = self.lock();
        let votes = state
            .votes
            .get(&(code.to_owned(), day.to_owned()))
            .and_then(|v| v.live(now));
        let restaurants = state.restaurants.get(code).cloned().unwrap_or_default();
        Ok(Tally::count(
            restaurants,
            votes
                .into_iter()
                .flat_map(|v| v.values().map(String::as_str)),
        ))
    }
}
