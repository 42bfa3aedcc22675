//! The lunch conversation's records: what the lunch bot decides (a [`LunchRequest`]:
//! the step to start, the [`StepMove`]s of the message, a group to create or join) and
//! what it learns back ([`LunchState`]). The bot fills them in; the store
//! ([`crate::store`]) applies them as they say and reports what happened, so every
//! rule of the dialog lives in `bots/lunch.rs`.

use serde::{Deserialize, Serialize};

/// Where a lunch user is in a multi-step conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LunchSession {
    /// The settings menu is showing.
    Settings,
    /// Waiting for a typed join code.
    AwaitingJoinCode,
    /// Waiting for a typed restaurant name to add.
    AwaitingNewRestaurant,
    /// The group's restaurants are showing as buttons, to remove one.
    AwaitingRemoval,
    /// The group's restaurants are showing as buttons, to vote.
    Choosing,
}

/// The group a lunch user belongs to, as seen on one day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub code: String,
    /// In the order they were added.
    pub restaurants: Vec<String>,
    /// This user's vote on the day asked for.
    pub my_vote: Option<String>,
}

/// What the lunch bot needs to decide on one message, read in one round trip.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LunchState {
    /// The session as it was before the [`SessionWrite`] of the request.
    pub session: Option<LunchSession>,
    /// The group as it was before the request's [`StepMove`]. When the message asked
    /// for a [`GroupChange`], only whether there was one and its code are certain: the
    /// store may leave the list and the vote unread.
    pub membership: Option<Membership>,
    /// The group's tally of the day, when the request asked for it and the user has a
    /// group.
    pub tally: Option<Tally>,
    /// What the edit of the [`StepMove`] applied did; `None` when none applied.
    pub outcome: Option<StepOutcome>,
    /// What the [`GroupChange`] did; `None` when it did not apply.
    pub change: Option<ChangeOutcome>,
}

/// What one lunch message asks of the store, all decided by the bot from the message
/// alone, so that the store does it in the same round trip as the read
/// ([`Store::lunch_open`](crate::store::Store::lunch_open)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LunchRequest {
    pub write: SessionWrite,
    /// What the message does to the group, by step: the first that fits applies.
    pub moves: Vec<StepMove>,
    /// Also count the day's votes.
    pub tally: bool,
    /// Create or join a group. When it applies, the session write and the moves do not.
    pub change: Option<GroupChange>,
}

/// A move to another lunch group that the message asks for, made with the read so
/// that creating or joining a group costs the round trip of any other message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupChange {
    /// Create the group `code` with the user as its only member, at `step`; the user
    /// leaves their group. Uses one of the user's `max`
    /// [`Budget::CreateGroup`](crate::store::Budget) uses per
    /// [`LIMIT_WINDOW`](crate::store::LIMIT_WINDOW).
    Create {
        code: String,
        max: u32,
        step: LunchSession,
    },
    /// Join the group `code`, where the user has no step yet (a newcomer's
    /// conversation starts over); the user leaves their group. Applies
    /// only while the user's step is [`LunchSession::AwaitingJoinCode`] (a code typed
    /// at any other step is not one), and then uses one of the user's `max`
    /// [`Budget::JoinAttempt`](crate::store::Budget) uses per
    /// [`LIMIT_WINDOW`](crate::store::LIMIT_WINDOW), found or not.
    Join { code: String, max: u32 },
}

impl GroupChange {
    pub fn code(&self) -> &str {
        match self {
            GroupChange::Create { code, .. } | GroupChange::Join { code, .. } => code,
        }
    }
}

/// What a [`GroupChange`] did. Only `Created` and `Joined` change anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeOutcome {
    Created,
    /// The code belongs to another group: try another.
    CodeTaken,
    Joined,
    /// No group has that code; the step still awaits a code.
    NoSuchGroup,
    /// The hour's allowance is used up; the step is unchanged.
    OverBudget,
}

/// What a member's message does to their group, decided by the bot for each step
/// the member may be at, so that the store can apply it in the call that reads the
/// step (the bot does not know the step before it): the store applies the first move whose [`StepMove::at`] is the
/// member's step as the request's [`SessionWrite`] left it, then starts the step the
/// move names for what the edit did. It decides nothing itself. Applied only if the
/// user belongs to a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepMove {
    /// The step this move is for; `None`: any step (a tapped restaurant says what it
    /// is for whatever the step).
    pub at: Option<LunchSession>,
    pub edit: GroupEdit,
    /// The step once the edit changed the group (a vote recorded, a restaurant added
    /// or removed).
    pub on_change: NextStep,
    /// The step when the edit changed nothing (not listed, a duplicate, a full list).
    pub on_refusal: NextStep,
}

/// A change to a group's list or votes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupEdit {
    /// The user's vote for the day, replacing any earlier one; only for a listed name.
    Vote(String),
    /// A restaurant to list, unless a duplicate (compared as [`AddOutcome::Duplicate`]
    /// says) or the list holds `max` already.
    Add { name: String, max: usize },
    /// A restaurant to take off the list, with the day's votes for it.
    Remove(String),
}

/// The member's step after a [`StepMove`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NextStep {
    /// As it was.
    #[default]
    Keep,
    Start(LunchSession),
    /// No step: the conversation is back at its start.
    End,
}

/// What the edit of a [`StepMove`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    Voted(VoteOutcome),
    Added(AddOutcome),
    /// `true` when the name was listed and is now removed.
    Removed(bool),
}

impl StepOutcome {
    /// Whether the edit changed the group: a vote recorded, a restaurant added or
    /// removed.
    pub fn changed(&self) -> bool {
        matches!(
            self,
            StepOutcome::Voted(VoteOutcome::Recorded { .. })
                | StepOutcome::Added(AddOutcome::Added)
                | StepOutcome::Removed(true)
        )
    }
}

/// A change to the lunch session that the bot can decide from the message alone, so
/// it is made in the same round trip as the read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionWrite {
    #[default]
    Keep,
    /// Start this step.
    Set(LunchSession),
    /// Start this step if the user belongs to a group (decided by the store, which
    /// knows the answer when it writes).
    SetIfMember(LunchSession),
    /// Start this step if the user belongs to a group that lists a restaurant.
    SetIfListed(LunchSession),
    /// End the conversation step.
    Clear,
}

/// Result of adding a restaurant to a group's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddOutcome {
    Added,
    /// Already on the list (compared case-insensitively, folding ASCII letters as Redis's
    /// Lua does). Reported even when the list is full.
    Duplicate,
    /// The list already holds the maximum number of restaurants.
    Full,
}

/// Result of a vote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoteOutcome {
    /// Recorded; `previous` is the vote it replaced, if any.
    Recorded { previous: Option<String> },
    /// The restaurant is not (or no longer) on the group's list; nothing changed.
    UnknownRestaurant,
}

/// One day's votes in a group: every restaurant on the list, in list order, with its
/// number of votes. Votes for restaurants removed since are not counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub counts: Vec<(String, u64)>,
}

impl Tally {
    /// Counts `votes` (one restaurant name per voter) for each restaurant on the list,
    /// in list order; votes for names not on the list are not counted. Shared by both
    /// stores so they count alike.
    pub fn count<'v>(restaurants: Vec<String>, votes: impl IntoIterator<Item = &'v str>) -> Self {
        let mut per_name: std::collections::HashMap<&str, u64> = Default::default();
        for vote in votes {
            *per_name.entry(vote).or_default() += 1;
        }
        let counts = restaurants
            .into_iter()
            .map(|name| {
                let n = per_name.get(name.as_str()).copied().unwrap_or(0);
                (name, n)
            })
            .collect();
        Self { counts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tally_follows_the_list_and_ignores_votes_for_unlisted_names() {
        let list = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        assert_eq!(
            Tally::count(list, ["c", "a", "c", "gone"]).counts,
            vec![("a".into(), 1), ("b".into(), 0), ("c".into(), 2)]
        );
    }
}
