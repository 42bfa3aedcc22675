//! The lunch-vote bot (tutorial 2): a user joins one group, the group keeps a list of
//! restaurants, and each member has one vote per day (Asia/Seoul), which a new pick
//! moves. The result ranks restaurants by votes; ties go to the restaurant that was
//! added to the list first, so everyone sees the same winner.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use rand::Rng;

use super::{Bot, Button, Keyboard, Reply, Tap};
use crate::lunch::{
    AddOutcome, ChangeOutcome, GroupChange, GroupEdit, LunchRequest, LunchSession, LunchState,
    Membership, NextStep, SessionWrite, StepMove, StepOutcome, VoteOutcome,
};
use crate::store::{Store, StoreError};
use crate::user::UserKey;

pub const CHOOSE: &str = "#점심 선택";
pub const RESULTS: &str = "#결과 보기";
pub const SETTINGS: &str = "#설정";
pub const CREATE_GROUP: &str = "그룹 만들기";
pub const JOIN_GROUP: &str = "그룹 참여";
pub const ADD_RESTAURANT: &str = "식당 추가";
pub const REMOVE_RESTAURANT: &str = "식당 삭제";
pub const BACK: &str = "처음으로";
pub const CANCEL: &str = "취소";

/// Most restaurants a group may list: enough for any office, few enough to page
/// through three buttons at a time.
pub const MAX_RESTAURANTS: usize = 20;
/// Longest restaurant name, in characters: it is a button label.
pub const MAX_RESTAURANT_CHARS: usize = 20;
/// Join codes avoid look-alike characters (0/O, 1/I/L) since people type them.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 6;
/// Groups one user may create per hour: enough to start over after a mistake, few
/// enough that nobody fills Redis with empty groups.
pub const MAX_GROUPS_PER_HOUR: u32 = 5;
/// Join codes one user may try per hour. At this pace finding a stranger's group
/// among 31^6 codes takes a user key thousands of years (before: 48,480 guesses at
/// 12,000 a second).
pub const MAX_JOIN_ATTEMPTS_PER_HOUR: u32 = 20;

/// Returns today's date as `YYYY-MM-DD`; a function so tests can move the clock.
pub type Clock = Arc<dyn Fn() -> String + Send + Sync>;

pub struct LunchBot {
    today: Clock,
}

impl Default for LunchBot {
    fn default() -> Self {
        Self::new()
    }
}

impl LunchBot {
    /// A bot whose day is the calendar day in Seoul.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(|| {
            Utc::now()
                .with_timezone(&chrono_tz::Asia::Seoul)
                .format("%Y-%m-%d")
                .to_string()
        }))
    }

    pub fn with_clock(today: Clock) -> Self {
        Self { today }
    }

    pub fn home_keyboard() -> Keyboard {
        Keyboard::buttons([CHOOSE, RESULTS, SETTINGS])
    }

    fn settings_keyboard(member: bool) -> Keyboard {
        if member {
            Keyboard::buttons([
                ADD_RESTAURANT,
                REMOVE_RESTAURANT,
                CREATE_GROUP,
                JOIN_GROUP,
                BACK,
            ])
        } else {
            Keyboard::buttons([CREATE_GROUP, JOIN_GROUP, BACK])
        }
    }

    /// The group's restaurants as buttons that vote for them.
    fn vote_keyboard(restaurants: &[String]) -> Keyboard {
        Self::list_keyboard(restaurants, |r| Tap::Vote { restaurant: r }, BACK)
    }

    /// The group's restaurants as buttons that take them off the list.
    fn removal_keyboard(restaurants: &[String]) -> Keyboard {
        Self::list_keyboard(restaurants, |r| Tap::Remove { restaurant: r }, CANCEL)
    }

    fn list_keyboard(restaurants: &[String], tap: fn(String) -> Tap, last: &str) -> Keyboard {
        Keyboard::Buttons(
            restaurants
                .iter()
                .map(|r| Button::item(r.clone(), tap(r.clone())))
                .chain([Button::menu(last)])
                .collect(),
        )
    }

    /// How to use the lunch vote.
    fn help_text() -> String {
        format!(
            "점심 투표 봇 사용법이에요.\n\
             • {SETTINGS}: '{CREATE_GROUP}'를 누르면 참여 코드가 나와요. 함께 먹을 사람들은 \
             '{JOIN_GROUP}'를 누르고 그 코드를 입력하면 같은 그룹이 돼요. \
             '{ADD_RESTAURANT}', '{REMOVE_RESTAURANT}'로 후보 식당을 관리해요(최대 {MAX_RESTAURANTS}곳).\n\
             • {CHOOSE}: 오늘 갈 식당에 투표해요. 한 사람이 하루에 한 표이고, 다시 고르면 표가 옮겨 가요.\n\
             • {RESULTS}: 오늘의 순위와 1등 식당을 보여 줘요. 표가 같으면 목록에 먼저 오른 식당이 뽑혀요.\n\
             • '{BACK}', '{CANCEL}': 하던 일을 그만두고 처음 메뉴로 돌아가요.\n\
             투표는 매일 자정(한국 시간)에 새로 시작해요. \
             이 안내는 언제든 '도움말'을 입력하면 다시 볼 수 있어요."
        )
    }

    fn no_group() -> Reply {
        Reply::new(
            "아직 참여한 그룹이 없어요. '#설정'에서 그룹을 만들거나, 받은 참여 코드로 그룹에 들어가 주세요.",
            Self::home_keyboard(),
        )
    }

    /// The settings step was started by `lunch_open` ([`session_write`]).
    fn settings(state: &LunchState) -> Reply {
        let text = match &state.membership {
            None => {
                "설정 메뉴예요. 새 그룹을 만들거나, 받은 참여 코드로 그룹에 들어가세요.".to_owned()
            }
            Some(m) => format!(
                "설정 메뉴예요.\n우리 그룹 참여 코드: {}\n식당 목록: {}",
                m.code,
                describe_list(&m.restaurants)
            ),
        };
        Reply::new(text, Self::settings_keyboard(state.membership.is_some()))
    }

    /// The group was created by `lunch_open` ([`GroupChange::Create`]) unless its code
    /// was taken: then a few fresh codes are tried (a collision among 31^6 codes is
    /// rare; a few fresh draws make it vanishing).
    async fn create_group(
        &self,
        user: &UserKey,
        today: &str,
        request: &LunchRequest,
        state: LunchState,
        store: &dyn Store,
    ) -> Result<Reply, StoreError> {
        let (mut request, mut state) = (request.clone(), state);
        for _ in 0..5 {
            match state.change {
                Some(ChangeOutcome::Created) => {
                    let code = request.change.as_ref().map_or("", GroupChange::code);
                    return Ok(Reply::new(
                        format!(
                            "새 그룹을 만들었어요! 참여 코드: {code}\n함께 점심 먹을 사람들에게 이 코드를 알려 주고, '{ADD_RESTAURANT}'로 후보 식당을 올려 주세요."
                        ),
                        Self::settings_keyboard(true),
                    ));
                }
                Some(ChangeOutcome::OverBudget) => {
                    return Ok(Reply::new(
                        format!(
                            "그룹은 한 시간에 {MAX_GROUPS_PER_HOUR}번까지 만들 수 있어요. 잠시 후 다시 시도해 주세요."
                        ),
                        Self::settings_keyboard(state.membership.is_some()),
                    ));
                }
                Some(ChangeOutcome::CodeTaken) => {
                    request = LunchRequest {
                        change: Some(new_group()),
                        ..LunchRequest::default()
                    };
                    state = store.lunch_open(user, today, &request).await?;
                }
                other => return Err(no_change("a create", other)),
            }
        }
        Ok(Reply::new(
            "그룹을 만들지 못했어요. 잠시 후 다시 시도해 주세요.",
            Self::settings_keyboard(state.membership.is_some()),
        ))
    }

    /// The join was tried by `lunch_open` ([`GroupChange::Join`]) if the text is a
    /// well-formed code; each try used one of the hour's attempts, so a guesser learns
    /// nothing once they are spent.
    fn join(typed: &str, change: Option<ChangeOutcome>) -> Result<Reply, StoreError> {
        match change {
            Some(ChangeOutcome::Joined) => Ok(Reply::new(
                format!(
                    "{} 그룹에 참여했어요! '{CHOOSE}'으로 오늘 점심에 투표해 보세요.",
                    normalize_code(typed)
                ),
                Self::home_keyboard(),
            )),
            Some(ChangeOutcome::OverBudget) => Ok(Reply::new(
                format!(
                    "참여 코드를 너무 많이 입력했어요. 한 시간에 {MAX_JOIN_ATTEMPTS_PER_HOUR}번까지 시도할 수 있어요. '{CANCEL}'를 입력하고 잠시 후 다시 시도해 주세요."
                ),
                Keyboard::Text,
            )),
            None | Some(ChangeOutcome::NoSuchGroup) => Ok(Reply::new(
                format!(
                    "참여 코드가 '{}'인 그룹을 찾지 못했어요. 참여 코드 {CODE_LEN}자리를 다시 입력하거나 '{CANCEL}'를 입력하세요.",
                    shorten(typed, 20)
                ),
                Keyboard::Text,
            )),
            other => Err(no_change("a join", other)),
        }
    }

    /// The addition was made with the read ([`step_moves`]) when the name was
    /// acceptable; `outcome` is what it did.
    fn added(
        member: &Membership,
        typed: &str,
        outcome: Option<&StepOutcome>,
    ) -> Result<Reply, StoreError> {
        let name = match normalize_restaurant(typed) {
            Ok(name) => name,
            Err(problem) => {
                return Ok(Reply::new(
                    format!("{problem} 식당 이름을 다시 입력하거나 '{CANCEL}'를 입력하세요."),
                    Keyboard::Text,
                ))
            }
        };
        let text = match outcome {
            Some(StepOutcome::Added(AddOutcome::Added)) => {
                let mut list = member.restaurants.clone();
                list.push(name.clone());
                format!(
                    "식당을 추가했어요: {name}\n식당 목록: {}",
                    describe_list(&list)
                )
            }
            Some(StepOutcome::Added(AddOutcome::Duplicate)) => {
                format!("이미 목록에 있는 식당이에요: {name}")
            }
            Some(StepOutcome::Added(AddOutcome::Full)) => format!(
                "식당은 {MAX_RESTAURANTS}곳까지 올릴 수 있어요. '식당 삭제'로 자리를 만들어 주세요."
            ),
            other => return Err(no_outcome("an addition", other)),
        };
        Ok(Reply::new(text, Self::settings_keyboard(true)))
    }

    /// The removal was made with the read ([`step_moves`]).
    fn removed(
        member: &Membership,
        picked: &str,
        outcome: Option<&StepOutcome>,
    ) -> Result<Reply, StoreError> {
        match outcome {
            Some(StepOutcome::Removed(true)) => {}
            Some(StepOutcome::Removed(false)) => {
                return Ok(Reply::new(
                    "목록에 없는 식당이에요. 아래에서 지울 식당을 골라 주세요.",
                    Self::removal_keyboard(&member.restaurants),
                ))
            }
            other => return Err(no_outcome("a removal", other)),
        }
        let rest: Vec<String> = member
            .restaurants
            .iter()
            .filter(|r| *r != picked)
            .cloned()
            .collect();
        Ok(Reply::new(
            format!(
                "목록에서 지웠어요: {picked}\n식당 목록: {}",
                describe_list(&rest)
            ),
            Self::settings_keyboard(true),
        ))
    }

    /// The choosing step was started by `lunch_open`, if the list has a restaurant
    /// ([`session_write`]).
    fn choose(member: &Membership) -> Reply {
        if member.restaurants.is_empty() {
            return Reply::new(
                "아직 식당 목록이 비어 있어요. '#설정' → '식당 추가'로 후보 식당을 올려 주세요.",
                Self::home_keyboard(),
            );
        }
        let mine = match &member.my_vote {
            Some(vote) => format!(" (지금 내 선택: {vote})"),
            None => String::new(),
        };
        Reply::new(
            format!("오늘 점심은 어디로 갈까요?{mine}"),
            Self::vote_keyboard(&member.restaurants),
        )
    }

    /// The vote was made with the read ([`step_moves`]).
    fn voted(
        member: &Membership,
        picked: &str,
        outcome: Option<&StepOutcome>,
    ) -> Result<Reply, StoreError> {
        match outcome {
            Some(StepOutcome::Voted(VoteOutcome::Recorded {
                previous: Some(previous),
            })) if previous != picked => Ok(Reply::new(
                format!("투표를 바꿨어요: {previous} → {picked}"),
                Self::home_keyboard(),
            )),
            Some(StepOutcome::Voted(VoteOutcome::Recorded { .. })) => Ok(Reply::new(
                format!(
                    "'{picked}'에 투표했어요! '#결과 보기'에서 지금까지의 결과를 볼 수 있어요."
                ),
                Self::home_keyboard(),
            )),
            Some(StepOutcome::Voted(VoteOutcome::UnknownRestaurant)) => Ok(Reply::new(
                "목록에 없는 식당이에요. 아래에서 골라 주세요.",
                Self::vote_keyboard(&member.restaurants),
            )),
            other => Err(no_outcome("a vote", other)),
        }
    }

    /// The tally came with `lunch_open`'s answer.
    fn results(today: &str, state: &LunchState) -> Reply {
        let counts = state
            .tally
            .as_ref()
            .map(|t| t.counts.as_slice())
            .unwrap_or_default();
        Reply::new(describe_results(today, counts), Self::home_keyboard())
    }
}

#[async_trait]
impl Bot for LunchBot {
    fn home(&self) -> Keyboard {
        Self::home_keyboard()
    }

    fn help(&self) -> Reply {
        Reply::new(Self::help_text(), Self::home_keyboard())
    }

    async fn reply(
        &self,
        user: &UserKey,
        text: &str,
        tap: Option<&Tap>,
        store: &dyn Store,
    ) -> Result<Reply, StoreError> {
        let text = text.trim();
        let today = (self.today)();
        // Everything the message could change that is known before anything is read
        // goes to the store with the read, in one `lunch_open`: one round trip.
        let request = LunchRequest {
            write: session_write(text, tap),
            moves: step_moves(text, tap),
            tally: text == RESULTS,
            change: group_change(text, tap),
        };
        let state = store.lunch_open(user, &today, &request).await?;
        let member = state.membership.as_ref();
        let outcome = state.outcome.as_ref();

        // A tapped restaurant says what it was for, so it does that whatever step the
        // conversation is at now (an old list, an expired context).
        match (tap, member) {
            (Some(Tap::Vote { restaurant }), Some(member)) => {
                return Self::voted(member, restaurant, outcome)
            }
            (Some(Tap::Remove { restaurant }), Some(member)) => {
                return Self::removed(member, restaurant, outcome)
            }
            (Some(Tap::Vote { .. } | Tap::Remove { .. }), None) => return Ok(Self::no_group()),
            _ => {}
        }

        // Menu buttons mean the same thing at every step, so a button pressed after
        // the context expired still does what its label says.
        match text {
            // The session writes of these steps were made by `lunch_open`.
            BACK | CANCEL => {
                return Ok(Reply::new(
                    "처음 화면으로 돌아왔어요.",
                    Self::home_keyboard(),
                ));
            }
            SETTINGS => return Ok(Self::settings(&state)),
            CREATE_GROUP => {
                return self
                    .create_group(user, &today, &request, state, store)
                    .await
            }
            JOIN_GROUP => {
                return Ok(Reply::new(
                    format!("참여 코드 {CODE_LEN}자리를 입력해 주세요. 그만두려면 '{CANCEL}'를 입력하세요."),
                    Keyboard::Text,
                ));
            }
            _ => {}
        }
        let Some(member) = member else {
            return match state.session {
                Some(LunchSession::AwaitingJoinCode) => Self::join(text, state.change),
                _ => Ok(Self::no_group()),
            };
        };
        match text {
            CHOOSE => return Ok(Self::choose(member)),
            RESULTS => return Ok(Self::results(&today, &state)),
            ADD_RESTAURANT => {
                return Ok(Reply::new(
                    format!(
                        "추가할 식당 이름을 입력해 주세요. ({MAX_RESTAURANT_CHARS}자까지, 그만두려면 '{CANCEL}')"
                    ),
                    Keyboard::Text,
                ));
            }
            REMOVE_RESTAURANT => {
                if member.restaurants.is_empty() {
                    return Ok(Reply::new(
                        "지울 식당이 없어요.",
                        Self::settings_keyboard(true),
                    ));
                }
                return Ok(Reply::new(
                    "지울 식당을 골라 주세요.",
                    Self::removal_keyboard(&member.restaurants),
                ));
            }
            _ => {}
        }
        match state.session {
            Some(LunchSession::AwaitingJoinCode) => Self::join(text, state.change),
            Some(LunchSession::AwaitingNewRestaurant) => Self::added(member, text, outcome),
            Some(LunchSession::AwaitingRemoval) => Self::removed(member, text, outcome),
            Some(LunchSession::Choosing) => Self::voted(member, text, outcome),
            Some(LunchSession::Settings) => Ok(Reply::new(
                "아래 버튼에서 골라 주세요.",
                Self::settings_keyboard(true),
            )),
            None if member.restaurants.iter().any(|r| r == text) => Ok(Reply::new(
                "선택 시간이 지났어요. '#점심 선택'을 다시 눌러 주세요.",
                Self::home_keyboard(),
            )),
            None => Ok(Reply::new(
                "무엇을 할까요? '#점심 선택'에서 투표하고, '#결과 보기'에서 결과를 확인하고, '#설정'에서 그룹과 식당을 관리할 수 있어요. 자세한 사용법은 '도움말'을 입력해 보세요.",
                Self::home_keyboard(),
            )),
        }
    }
}

/// The session change a message makes whatever the state, so the store makes it in
/// the same round trip as the read. Mirrors the menu handling of [`LunchBot::reply`]:
/// a tapped restaurant is handled before any menu label, and the member-only steps
/// start only for members (the store checks membership as it writes).
fn session_write(text: &str, tap: Option<&Tap>) -> SessionWrite {
    if matches!(tap, Some(Tap::Vote { .. } | Tap::Remove { .. })) {
        return SessionWrite::Keep;
    }
    match text {
        BACK | CANCEL => SessionWrite::Clear,
        SETTINGS => SessionWrite::Set(LunchSession::Settings),
        JOIN_GROUP => SessionWrite::Set(LunchSession::AwaitingJoinCode),
        CHOOSE => SessionWrite::SetIfListed(LunchSession::Choosing),
        ADD_RESTAURANT => SessionWrite::SetIfMember(LunchSession::AwaitingNewRestaurant),
        REMOVE_RESTAURANT => SessionWrite::SetIfListed(LunchSession::AwaitingRemoval),
        _ => SessionWrite::Keep,
    }
}

/// What the message does to the member's group at each step they may be at, decided
/// from the message alone as [`LunchBot::reply`] would, so the store can apply it
/// with the read (it alone knows the step then):
/// - a tapped restaurant says what it is for, whatever the step: its vote (which ends
///   the step) or its removal (which opens the settings);
/// - typed text that is no menu label means what the step waits for: while choosing,
///   a vote for it; while adding, the name as it would be listed (when acceptable),
///   and the settings follow whatever came of it; while removing, its removal.
///
/// A vote or a removal that found nothing to change leaves the step as it was, so
/// the member can try again.
fn step_moves(text: &str, tap: Option<&Tap>) -> Vec<StepMove> {
    let vote = |at, name: &str| StepMove {
        at,
        edit: GroupEdit::Vote(name.to_owned()),
        on_change: NextStep::End,
        on_refusal: NextStep::Keep,
    };
    let remove = |at, name: &str| StepMove {
        at,
        edit: GroupEdit::Remove(name.to_owned()),
        on_change: NextStep::Start(LunchSession::Settings),
        on_refusal: NextStep::Keep,
    };
    match tap {
        Some(Tap::Vote { restaurant }) => return vec![vote(None, restaurant)],
        Some(Tap::Remove { restaurant }) => return vec![remove(None, restaurant)],
        _ => {}
    }
    if is_menu_label(text) {
        return Vec::new();
    }
    let mut moves = vec![
        vote(Some(LunchSession::Choosing), text),
        remove(Some(LunchSession::AwaitingRemoval), text),
    ];
    if let Ok(name) = normalize_restaurant(text) {
        moves.push(StepMove {
            at: Some(LunchSession::AwaitingNewRestaurant),
            edit: GroupEdit::Add {
                name,
                max: MAX_RESTAURANTS,
            },
            on_change: NextStep::Start(LunchSession::Settings),
            on_refusal: NextStep::Start(LunchSession::Settings),
        });
    }
    moves
}

/// The group change a message asks for, decided from the message alone: the create
/// button creates a group with a fresh code; a typed join code joins (the store
/// applies it only while the user's step awaits a code).
fn group_change(text: &str, tap: Option<&Tap>) -> Option<GroupChange> {
    if tap.is_some() {
        return None;
    }
    if text == CREATE_GROUP {
        return Some(new_group());
    }
    let code = normalize_code(text);
    (code.len() == CODE_LEN && !is_menu_label(text)).then_some(GroupChange::Join {
        code,
        max: MAX_JOIN_ATTEMPTS_PER_HOUR,
    })
}

/// Creating a group under a fresh code.
fn new_group() -> GroupChange {
    GroupChange::Create {
        code: new_code(),
        max: MAX_GROUPS_PER_HOUR,
        // The creator goes on to list the group's restaurants.
        step: LunchSession::Settings,
    }
}

/// The store did not report the group change the message called for.
fn no_change(what: &str, got: Option<ChangeOutcome>) -> StoreError {
    StoreError::Inconsistent(format!("expected the outcome of {what}, got {got:?}"))
}

/// The store did not report the change the step called for.
fn no_outcome(what: &str, got: Option<&StepOutcome>) -> StoreError {
    StoreError::Inconsistent(format!("expected the outcome of {what}, got {got:?}"))
}

/// Trims and folds inner white space; refuses names that would be ambiguous as
/// buttons or too long to show.
pub fn normalize_restaurant(typed: &str) -> Result<String, String> {
    let name = typed.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars = name.chars().count();
    if chars == 0 {
        Err("식당 이름이 비어 있어요.".into())
    } else if chars > MAX_RESTAURANT_CHARS {
        Err(format!(
            "식당 이름은 {MAX_RESTAURANT_CHARS}자까지예요. (지금 {chars}자)"
        ))
    } else if name.starts_with('#') || is_menu_label(&name) {
        Err(format!(
            "'#'으로 시작하거나 메뉴 버튼과 같은 이름은 쓸 수 없어요: {name}"
        ))
    } else {
        Ok(name)
    }
}

fn is_menu_label(text: &str) -> bool {
    [
        CHOOSE,
        RESULTS,
        SETTINGS,
        CREATE_GROUP,
        JOIN_GROUP,
        ADD_RESTAURANT,
        REMOVE_RESTAURANT,
        BACK,
        CANCEL,
    ]
    .contains(&text)
}

fn normalize_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

fn describe_list(restaurants: &[String]) -> String {
    if restaurants.is_empty() {
        "(아직 없어요)".to_owned()
    } else {
        restaurants.join(", ")
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        text.chars().take(max).chain(['…']).collect()
    }
}

/// Ranks a tally: most votes first; equal counts keep list order, which is the
/// order restaurants were added, so the earliest-added wins a tie.
pub fn rank(counts: &[(String, u64)]) -> Vec<(String, u64)> {
    let mut ranked = counts.to_vec();
    // A stable sort, so equal counts stay in list order.
    ranked.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    ranked
}

fn describe_results(day: &str, counts: &[(String, u64)]) -> String {
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return format!("오늘({day})은 아직 투표가 없어요. '{CHOOSE}'에서 첫 표를 던져 보세요!");
    }
    let ranked = rank(counts);
    let mut lines = vec![format!("{day} 점심 투표 결과 (총 {total}표)")];
    for (i, (name, n)) in ranked.iter().enumerate().filter(|(_, (_, n))| *n > 0) {
        lines.push(format!("{}. {name} {n}표", i + 1));
    }
    let (winner, top) = &ranked[0];
    let tied: Vec<&str> = ranked
        .iter()
        .filter(|(_, n)| n == top)
        .map(|(name, _)| name.as_str())
        .collect();
    if tied.len() > 1 {
        lines.push(format!(
            "\n{}: {top}표로 같아요. 목록에 먼저 오른 식당이 이겨요.\n오늘의 점심은 '{winner}'!",
            tied.join(", ")
        ));
    } else {
        lines.push(format!("\n오늘의 점심은 '{winner}'!"));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
        pairs.iter().map(|(n, c)| (n.to_string(), *c)).collect()
    }

    #[test]
    fn ranking_puts_most_votes_first_and_breaks_ties_by_list_order() {
        let ranked = rank(&counts(&[
            ("김밥", 1),
            ("국밥", 3),
            ("라멘", 3),
            ("피자", 0),
        ]));
        let names: Vec<&str> = ranked.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["국밥", "라멘", "김밥", "피자"]);
    }

    #[test]
    fn results_name_the_winner_and_explain_a_tie() {
        let text = describe_results("2026-11-22", &counts(&[("김밥", 2), ("국밥", 2)]));
        assert!(text.contains("총 4표"), "{text}");
        assert!(text.contains("김밥, 국밥: 2표로 같아요"), "{text}");
        assert!(text.contains("오늘의 점심은 '김밥'"), "{text}");
        let text = describe_results("2026-11-22", &counts(&[("김밥", 1), ("국밥", 2)]));
        assert!(text.contains("오늘의 점심은 '국밥'"), "{text}");
    }

    #[test]
    fn results_without_votes_invite_the_first_vote() {
        assert!(describe_results("d", &counts(&[("김밥", 0)])).contains("아직 투표가 없어요"));
    }

    #[test]
    fn restaurant_names_are_trimmed_folded_and_bounded() {
        assert_eq!(normalize_restaurant("  김밥   천국 ").unwrap(), "김밥 천국");
        assert!(normalize_restaurant("   ").is_err());
        assert!(normalize_restaurant(&"가".repeat(21)).is_err());
        assert!(normalize_restaurant("#설정").is_err());
        assert!(normalize_restaurant("처음으로").is_err());
    }

    #[test]
    fn join_codes_are_read_forgivingly() {
        assert_eq!(normalize_code(" ab3-k9x "), "AB3K9X");
        let code = new_code();
        assert_eq!(code.len(), CODE_LEN);
        assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)));
    }
}
