//! [`Steps`]: what the store tests do that the service has no single call for,
//! made of the calls the service makes, so the tests reach the store only through
//! the [`Store`] the bots use.

use kakaobot::lunch::{
    AddOutcome, ChangeOutcome, GroupChange, GroupEdit, LunchRequest, LunchSession, LunchState,
    NextStep, SessionWrite, StepMove, StepOutcome, Tally, VoteOutcome,
};
use kakaobot::store::{AnswerCheck, QuizSession, Store, StoreError};
use kakaobot::user::UserKey;

/// The day of steps that read or change nothing of a day.
const ANY_DAY: &str = "2026-01-01";

/// Steps made of [`Store::lunch_open`] and [`Store::quiz_judge`]. A step that needs a group
/// takes one of its members: the store reaches a group only through its members.
pub trait Steps {
    /// The lunch state on `day`, changing nothing.
    async fn lunch_load(&self, user: &UserKey, day: &str) -> Result<LunchState, StoreError>;
    /// Starts (`Some`) or ends (`None`) the user's lunch step.
    async fn lunch_set_session(
        &self,
        user: &UserKey,
        session: Option<LunchSession>,
    ) -> Result<(), StoreError>;
    /// Creates the group `code` with the user as its member (no allowance in the way);
    /// `false` when the code is taken.
    async fn lunch_create_group(&self, user: &UserKey, code: &str) -> Result<bool, StoreError>;
    /// Joins the group `code` as a typed code does (no allowance in the way); `false`
    /// when no group has it, and then the user's step is as it was.
    async fn lunch_join_group(&self, user: &UserKey, code: &str) -> Result<bool, StoreError>;
    /// Adds `name` to the member's group, leaving the step as it was.
    async fn lunch_add_restaurant(
        &self,
        member: &UserKey,
        name: &str,
        max: usize,
    ) -> Result<AddOutcome, StoreError>;
    /// Takes `name` off the member's group's list, leaving the step as it was; `false`
    /// when the user has no group or it was not listed.
    async fn lunch_remove_restaurant(
        &self,
        member: &UserKey,
        name: &str,
        day: &str,
    ) -> Result<bool, StoreError>;
    /// The member's tapped vote for `restaurant` on `day` (which ends their step).
    async fn lunch_vote(
        &self,
        member: &UserKey,
        day: &str,
        restaurant: &str,
    ) -> Result<VoteOutcome, StoreError>;
    /// The tally of the member's group on `day`; empty when the user has no group.
    async fn lunch_tally(&self, member: &UserKey, day: &str) -> Result<Tally, StoreError>;
    /// A tapped answer to `asked`, right when `correct`: `true` when it was judged
    /// (it was the pending question).
    async fn quiz_answer(
        &self,
        user: &UserKey,
        asked: &QuizSession,
        correct: bool,
    ) -> Result<bool, StoreError>;
}

impl<S: Store + ?Sized> Steps for S {
    async fn lunch_load(&self, user: &UserKey, day: &str) -> Result<LunchState, StoreError> {
        self.lunch_open(user, day, &LunchRequest::default()).await
    }

    async fn lunch_set_session(
        &self,
        user: &UserKey,
        session: Option<LunchSession>,
    ) -> Result<(), StoreError> {
        let write = session.map_or(SessionWrite::Clear, SessionWrite::Set);
        self.lunch_open(user, ANY_DAY, &only(write)).await?;
        Ok(())
    }

    async fn lunch_create_group(&self, user: &UserKey, code: &str) -> Result<bool, StoreError> {
        let change = GroupChange::Create {
            code: code.to_owned(),
            max: u32::MAX,
            step: LunchSession::Settings,
        };
        match self
            .lunch_open(user, ANY_DAY, &changing(change))
            .await?
            .change
        {
            Some(ChangeOutcome::Created) => Ok(true),
            Some(ChangeOutcome::CodeTaken) => Ok(false),
            other => panic!("a create came out as {other:?}"),
        }
    }

    async fn lunch_join_group(&self, user: &UserKey, code: &str) -> Result<bool, StoreError> {
        let awaiting = only(SessionWrite::Set(LunchSession::AwaitingJoinCode));
        let before = self.lunch_open(user, ANY_DAY, &awaiting).await?.session;
        let change = GroupChange::Join {
            code: code.to_owned(),
            max: u32::MAX,
        };
        match self
            .lunch_open(user, ANY_DAY, &changing(change))
            .await?
            .change
        {
            Some(ChangeOutcome::Joined) => Ok(true),
            Some(ChangeOutcome::NoSuchGroup) => {
                self.lunch_set_session(user, before).await?;
                Ok(false)
            }
            other => panic!("a join came out as {other:?}"),
        }
    }

    async fn lunch_add_restaurant(
        &self,
        member: &UserKey,
        name: &str,
        max: usize,
    ) -> Result<AddOutcome, StoreError> {
        let request = LunchRequest {
            moves: vec![any_step(GroupEdit::Add {
                name: name.to_owned(),
                max,
            })],
            ..Default::default()
        };
        let state = self.lunch_open(member, ANY_DAY, &request).await?;
        match state.outcome {
            Some(StepOutcome::Added(added)) => Ok(added),
            other => panic!("{member} added {name:?} with the outcome {other:?}: not a member?"),
        }
    }

    async fn lunch_remove_restaurant(
        &self,
        member: &UserKey,
        name: &str,
        day: &str,
    ) -> Result<bool, StoreError> {
        let request = LunchRequest {
            moves: vec![any_step(GroupEdit::Remove(name.to_owned()))],
            ..Default::default()
        };
        let state = self.lunch_open(member, day, &request).await?;
        if state.membership.is_none() {
            return Ok(false);
        }
        match state.outcome {
            Some(StepOutcome::Removed(removed)) => Ok(removed),
            other => panic!("{member} removed {name:?} with the outcome {other:?}"),
        }
    }

    async fn lunch_vote(
        &self,
        member: &UserKey,
        day: &str,
        restaurant: &str,
    ) -> Result<VoteOutcome, StoreError> {
        let request = LunchRequest {
            moves: vec![StepMove {
                on_change: NextStep::End,
                ..any_step(GroupEdit::Vote(restaurant.to_owned()))
            }],
            ..Default::default()
        };
        match self.lunch_open(member, day, &request).await?.outcome {
            Some(StepOutcome::Voted(voted)) => Ok(voted),
            other => panic!("{member} voted with the outcome {other:?}: not a member?"),
        }
    }

    async fn lunch_tally(&self, member: &UserKey, day: &str) -> Result<Tally, StoreError> {
        let request = LunchRequest {
            tally: true,
            ..Default::default()
        };
        let state = self.lunch_open(member, day, &request).await?;
        Ok(state.tally.unwrap_or_default())
    }

    async fn quiz_answer(
        &self,
        user: &UserKey,
        asked: &QuizSession,
        correct: bool,
    ) -> Result<bool, StoreError> {
        let id = asked.question_id.clone();
        let check = AnswerCheck {
            tapped: Some(id.clone()),
            valid_for: vec![id.clone()],
            correct_for: if correct { vec![id] } else { vec![] },
        };
        let judged = self.quiz_judge(user, &check).await?;
        Ok(judged.counted.is_some() && judged.session.as_ref() == Some(asked))
    }
}

/// A lunch request that only asks for `change`.
fn changing(change: GroupChange) -> LunchRequest {
    LunchRequest {
        change: Some(change),
        ..Default::default()
    }
}

/// A lunch request that only writes the session.
fn only(write: SessionWrite) -> LunchRequest {
    LunchRequest {
        write,
        ..Default::default()
    }
}

/// `edit` whatever the step, leaving the step as it was.
fn any_step(edit: GroupEdit) -> StepMove {
    StepMove {
        at: None,
        edit,
        on_change: NextStep::Keep,
        on_refusal: NextStep::Keep,
    }
}
