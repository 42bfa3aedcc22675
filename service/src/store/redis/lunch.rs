//! The lunch bot's steps on Redis: the user's step and the group's step of a message,
//! sent together; creating and joining a group with the message, and taking back what
//! went ahead when one side refuses.

use std::sync::PoisonError;
use std::time::Duration;

use super::{from_json, to_json, unexpected, RedisStore};
use crate::lunch::{
    AddOutcome, ChangeOutcome, GroupChange, GroupEdit, LunchRequest, LunchSession, LunchState,
    Membership, NextStep, SessionWrite, StepOutcome, Tally, VoteOutcome,
};
use crate::store::{BotName, Budget, Result, LIMIT_WINDOW, SESSION_TTL, VOTE_TTL};
use crate::user::UserKey;

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
pub(super) struct Hint {
    /// Their group's code.
    group: Option<String>,
    /// Their step awaits a join code (so a typed code is a join).
    awaiting_code: bool,
}

impl RedisStore {
    /// [`Store::lunch_open`](crate::store::Store::lunch_open) on Redis.
    pub(super) async fn open_lunch(
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
                self.change_ahead(user, day, change, &hint).await?
            }
            Some(change @ GroupChange::Join { .. }) if hint.awaiting_code => {
                self.change_ahead(user, day, change, &hint).await?
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
        let (member, session, restaurants, my_vote, votes, outcome, previous): GroupStepReply =
            self.scripts
                .lunch_group_step
                .key(self.keys.lunch_restaurants(code))
                .key(self.keys.lunch_votes(code, day))
                .key(self.keys.lunch_step(code, user))
                .key(self.keys.lunch_members(code))
                .key(self.keys.lunch_group(code))
                .key(self.keys.lunch_left(code))
                .key(self.keys.lunch_left_votes(code, day))
                .arg(user.as_str())
                .arg(i64::from(confirmed))
                .arg(mode)
                .arg(json)
                .arg(SESSION_TTL.as_secs())
                .arg(i64::from(request.tally))
                .arg(VOTE_TTL.as_secs())
                .arg(self.group_ttl_arg(code))
                .arg(move_args(request)?)
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
            Some(GroupChange::Create { code, max, .. }) => {
                ("create", code.as_str(), Budget::CreateGroup.as_str(), *max)
            }
            Some(GroupChange::Join { code, max }) => {
                ("join", code.as_str(), Budget::JoinAttempt.as_str(), *max)
            }
        };
        let (session, code, change): (Option<String>, Option<String>, String) = self
            .scripts
            .lunch_user_open
            .key(self.keys.session(BotName::Lunch, user))
            .key(self.keys.lunch_member(user))
            .key(self.keys.lunch_limits(user))
            .key(self.keys.friend(BotName::Lunch, user))
            .arg(mode)
            .arg(json)
            .arg(SESSION_TTL.as_secs())
            .arg(kind)
            .arg(code)
            .arg(budget)
            .arg(max)
            .arg(LIMIT_WINDOW.as_secs())
            .arg(to_json(&LunchSession::AwaitingJoinCode)?)
            .arg(self.user_ttl_arg(BotName::Lunch, user))
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

    /// After a change to `moved_to` that the group refused: points `user` back at
    /// `before` (LUNCH_USER_UNDO), restoring `session` as their own, and undoes their
    /// leave of `left`, together.
    async fn point_back(
        &self,
        user: &UserKey,
        day: &str,
        moved_to: &str,
        before: Option<&str>,
        session: Option<LunchSession>,
        left: Option<&str>,
    ) -> Result<()> {
        let session = session.as_ref().map(to_json).transpose()?;
        let mut undo = self
            .scripts
            .lunch_user_undo
            .key(self.keys.lunch_member(user));
        undo.key(self.keys.session(BotName::Lunch, user))
            .arg(moved_to)
            .arg(before.unwrap_or(""))
            .arg(session.unwrap_or_default())
            .arg(SESSION_TTL.as_secs())
            .arg(self.key_ttl);
        let mut conn = self.conn("point_back");
        let (undone, restored) = tokio::join!(
            undo.invoke_async::<i64>(&mut conn),
            self.restore_if(user, day, left)
        );
        undone?;
        restored
    }

    /// Creates the group `code` with `user` as its member (LUNCH_GROUP_CREATE);
    /// `false` when the code is taken.
    pub(super) async fn create_group(
        &self,
        user: &UserKey,
        day: &str,
        code: &str,
        step: LunchSession,
    ) -> Result<bool> {
        let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let created: i64 = self
            .scripts
            .lunch_group_create
            .key(self.keys.lunch_group(code))
            .key(self.keys.lunch_members(code))
            .key(self.keys.lunch_step(code, user))
            .key(self.keys.lunch_restaurants(code))
            .key(self.keys.lunch_left(code))
            .key(self.keys.lunch_votes(code, day))
            .key(self.keys.lunch_left_votes(code, day))
            .arg(created_at)
            .arg(user.as_str())
            .arg(to_json(&step)?)
            .arg(SESSION_TTL.as_secs())
            .arg(self.key_ttl)
            .invoke_async(&mut self.conn("create_group"))
            .await?;
        Ok(created == 1)
    }

    /// Puts `user` on the member list of `code` (LUNCH_GROUP_ADMIT); `false` when no
    /// group has that code.
    pub(super) async fn admit(&self, user: &UserKey, code: &str) -> Result<bool> {
        let admitted: i64 = self
            .scripts
            .lunch_group_admit
            .key(self.keys.lunch_group(code))
            .key(self.keys.lunch_members(code))
            .key(self.keys.lunch_step(code, user))
            .key(self.keys.lunch_restaurants(code))
            .arg(user.as_str())
            .arg(self.key_ttl)
            .invoke_async(&mut self.conn("admit"))
            .await?;
        Ok(admitted == 1)
    }

    /// Undoes `user`'s leave of `code` (LUNCH_GROUP_RESTORE), their vote of `day` with it.
    async fn restore(&self, user: &UserKey, day: &str, code: &str) -> Result<()> {
        let _: i64 = self
            .scripts
            .lunch_group_restore
            .key(self.keys.lunch_members(code))
            .key(self.keys.lunch_left(code))
            .key(self.keys.lunch_group(code))
            .key(self.keys.lunch_restaurants(code))
            .key(self.keys.lunch_votes(code, day))
            .key(self.keys.lunch_left_votes(code, day))
            .arg(user.as_str())
            .arg(VOTE_TTL.as_secs())
            .arg(self.key_ttl)
            .invoke_async(&mut self.conn("restore"))
            .await?;
        Ok(())
    }

    /// Takes `user` off the member list of `code` (LUNCH_GROUP_LEAVE), with their vote
    /// of `day` when they leave.
    async fn leave(&self, user: &UserKey, day: &str, code: &str, how: Leave) -> Result<()> {
        let _: i64 = self
            .scripts
            .lunch_group_leave
            .key(self.keys.lunch_members(code))
            .key(self.keys.lunch_group(code))
            .key(self.keys.lunch_restaurants(code))
            .key(self.keys.lunch_step(code, user))
            .key(self.keys.lunch_left(code))
            .key(self.keys.lunch_votes(code, day))
            .key(self.keys.lunch_left_votes(code, day))
            .arg(user.as_str())
            .arg(how.as_str())
            .arg(EMPTY_GROUP_GRACE.as_secs())
            .invoke_async(&mut self.conn("leave"))
            .await?;
        Ok(())
    }

    /// `leave(user, day, code, how)` when there is a code.
    async fn leave_if(
        &self,
        user: &UserKey,
        day: &str,
        code: Option<&str>,
        how: Leave,
    ) -> Result<()> {
        match code {
            Some(code) => self.leave(user, day, code, how).await,
            None => Ok(()),
        }
    }

    /// `restore(user, day, code)` when there is a code.
    async fn restore_if(&self, user: &UserKey, day: &str, code: Option<&str>) -> Result<()> {
        match code {
            Some(code) => self.restore(user, day, code).await,
            None => Ok(()),
        }
    }

    /// Ends a lunch member's session, which lives with their group `code` (a second
    /// round trip, on the friend and chat-room notifications of members only).
    pub(super) async fn clear_group_step(
        &self,
        bot: BotName,
        user: &UserKey,
        code: Option<String>,
    ) -> Result<()> {
        if bot != BotName::Lunch {
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
            return self.finish_join(user, day, own, change.code()).await;
        }
        let code = own.code.clone();
        let group = match (&code, guessed) {
            (Some(code), Some(Some(step))) if hinted == Some(code.as_str()) => Some(step),
            (_, Some(Some(_))) => {
                // The guessed group still lists the user, but their record names
                // another (or none): a join or create whose last step, leaving the old
                // group, failed. This message's step went to the old group; finish the
                // leave so it cannot happen again, then do the step where it belongs.
                let joined = code.as_deref().unwrap_or("");
                self.leave_group(user, day, hint.group.clone(), joined)
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
        day: &str,
        change: &GroupChange,
        hint: &Hint,
    ) -> Result<Option<(LunchState, Option<String>)>> {
        let code = change.code();
        let creator_step = match change {
            GroupChange::Create { step, .. } => Some(*step),
            GroupChange::Join { .. } => None,
        };
        let create = creator_step.is_some();
        let old = hint.group.as_deref().filter(|old| *old != code);
        let group_side = async {
            if let Some(step) = creator_step {
                self.create_group(user, day, code, step).await
            } else {
                self.admit(user, code).await
            }
        };
        let (own, landed, left) = tokio::join!(
            self.user_step(user, SessionWrite::Keep, Some(change)),
            group_side,
            self.leave_if(user, day, old, Leave::Left),
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
                self.leave_if(user, day, missed, Leave::Left).await?;
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
                self.point_back(user, day, code, before, session, left_theirs)
                    .await?;
                let refused = if create {
                    ChangeOutcome::CodeTaken
                } else {
                    ChangeOutcome::NoSuchGroup
                };
                (refused, before)
            }
            Moved::OverBudget => {
                self.take_back(user, day, code, create, landed, left_theirs)
                    .await?;
                (ChangeOutcome::OverBudget, before)
            }
            Moved::No => {
                // A join whose step did not await a code after all.
                self.take_back(user, day, code, create, landed, left_theirs)
                    .await?;
                return Ok(None);
            }
        };
        Ok(Some((
            changed(own.session, before, outcome)?,
            after.map(str::to_owned),
        )))
    }

    /// Takes back a change's group side that `landed` ahead of a refusal, and undoes
    /// the leave of `left`.
    async fn take_back(
        &self,
        user: &UserKey,
        day: &str,
        code: &str,
        create: bool,
        landed: bool,
        left: Option<&str>,
    ) -> Result<()> {
        let how = if create { Leave::Drop } else { Leave::Undo };
        let (taken, restored) = tokio::join!(
            self.leave_if(user, day, landed.then_some(code), how),
            self.restore_if(user, day, left)
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
        day: &str,
        own: UserStep,
        code: &str,
    ) -> Result<(LunchState, Option<String>)> {
        let before = own.code.as_deref();
        let old = before.filter(|before| *before != code);
        let (admitted, left) = tokio::join!(
            self.admit(user, code),
            self.leave_if(user, day, old, Leave::Left)
        );
        let admitted = admitted?;
        left?;
        let (outcome, after) = if admitted {
            (ChangeOutcome::Joined, Some(code))
        } else {
            let session = Some(LunchSession::AwaitingJoinCode);
            self.point_back(user, day, code, before, session, old)
                .await?;
            (ChangeOutcome::NoSuchGroup, before)
        };
        Ok((
            changed(own.session, before, outcome)?,
            after.map(str::to_owned),
        ))
    }

    /// Takes `user` off the member list of the group they left, unless it is the one
    /// they `joined`.
    pub(super) async fn leave_group(
        &self,
        user: &UserKey,
        day: &str,
        left: Option<String>,
        joined: &str,
    ) -> Result<()> {
        let left = left.filter(|left| left != joined);
        self.leave_if(user, day, left.as_deref(), Leave::Left).await
    }
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

/// The state of a message whose change was made or refused: the user's own session,
/// and the group they were in by its code only, its list left unread.
fn changed(
    session: Option<String>,
    before: Option<&str>,
    outcome: ChangeOutcome,
) -> Result<LunchState> {
    Ok(LunchState {
        session: from_json::<LunchSession>(session)?,
        membership: before.map(|code| Membership {
            code: code.to_owned(),
            restaurants: Vec::new(),
            my_vote: None,
        }),
        change: Some(outcome),
        ..Default::default()
    })
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

/// The moves of a request as LUNCH_GROUP_STEP's arguments, six per move.
fn move_args(request: &LunchRequest) -> Result<Vec<String>> {
    let step = |next: NextStep| -> Result<String> {
        Ok(match next {
            NextStep::Keep => "keep".to_owned(),
            NextStep::End => "end".to_owned(),
            NextStep::Start(session) => to_json(&session)?,
        })
    };
    let mut args = Vec::with_capacity(request.moves.len() * 6);
    for m in &request.moves {
        let at = m.at.as_ref().map(to_json).transpose()?.unwrap_or_default();
        let (edit, name, max) = match &m.edit {
            GroupEdit::Vote(name) => ("vote", name, 0),
            GroupEdit::Add { name, max } => ("add", name, *max),
            GroupEdit::Remove(name) => ("remove", name, 0),
        };
        args.extend([
            at,
            edit.to_owned(),
            name.clone(),
            max.to_string(),
            step(m.on_change)?,
            step(m.on_refusal)?,
        ]);
    }
    Ok(args)
}
