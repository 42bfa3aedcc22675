//! A bot's answer to a Kakao request, within the reply budget: the store gets the
//! budget; when it fails or does not answer in time, the user gets the bot's "try
//! again" reply — or, for a skill call that carries a callback URL, an
//! acknowledgement now and the real answer POSTed to that URL once it is ready
//! ([`callback`]). No HTTP here: the routes render what this returns, and report how
//! each request ended through [`settle`].

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio::time::Instant as TokioInstant;
use tracing::{debug, warn};

use super::AppState;
use crate::bots::{BotName, Input, Reply};
use crate::callback::{self, CallbackUrl};
use crate::kakao::skill;
use crate::metrics::FallbackReason;
use crate::store::StoreError;
use crate::user::UserKey;

/// How a Kakao request ended, and which API it came in on: the labels of
/// `kakaobot_answers_total`.
pub use crate::metrics::{Outcome, Wire};

/// A reply to send now, and whether it is the bot's or the "try again" one.
#[derive(Debug)]
pub struct Answer {
    pub reply: Reply,
    /// [`Outcome::Answered`] or [`Outcome::Fallback`].
    pub outcome: Outcome,
}

/// Reports how a Kakao request to `bot` ended, in the answers metric and the debug
/// log: every skill and message request that reaches its handler passes here exactly
/// once. (Those refused while being extracted — an unknown bot, a body over the size
/// limit or not declared as JSON — never name a bot; [`super::rejection::rejected`]
/// counts them.)
pub fn settle(bot: BotName, wire: Wire, outcome: Outcome, started: Instant) {
    crate::metrics::answer(Some(bot), wire, outcome);
    debug!(
        %bot,
        ?wire,
        outcome = outcome.as_str(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request settled"
    );
}

/// Why the store gave no answer within the reply budget.
#[derive(Debug, thiserror::Error)]
pub enum Unanswered {
    #[error("no answer within {} ms", .0.as_millis())]
    Slow(Duration),
    #[error(transparent)]
    Failed(StoreError),
}

impl Unanswered {
    /// The `reason` label of `kakaobot_fallback_replies_total`.
    fn reason(&self) -> FallbackReason {
        match self {
            Unanswered::Slow(_) => FallbackReason::Timeout,
            Unanswered::Failed(_) => FallbackReason::Error,
        }
    }
}

/// Runs a store operation within `budget`; a slow store is a failure.
pub async fn within_budget<T>(
    budget: Duration,
    op: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, Unanswered> {
    match tokio::time::timeout(budget, op).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(Unanswered::Failed(err)),
        Err(_) => Err(Unanswered::Slow(budget)),
    }
}

/// The bot's reply within the reply budget, or the "try again" reply.
pub async fn answer(state: &AppState, bot: BotName, user: &UserKey, input: &Input) -> Answer {
    let store = state.store.as_ref();
    let reply = state.bots.reply(bot, user, input, store);
    match within_budget(state.reply_budget, reply).await {
        Ok(reply) => {
            state.store_health.succeeded();
            Answer {
                reply,
                outcome: Outcome::Answered,
            }
        }
        Err(cause) => fallback(state, bot, user, input, cause),
    }
}

/// The "try again" reply, logged and counted.
fn fallback(
    state: &AppState,
    bot: BotName,
    user: &UserKey,
    input: &Input,
    cause: Unanswered,
) -> Answer {
    let refused = matches!(&cause, Unanswered::Failed(err) if err.refused_by_store());
    if let Some(unlogged) = state.store_health.failed(refused) {
        // `unlogged`: store failures since the previous line that had none of their own.
        warn!(%bot, %user, kind = input_kind(input), %cause, unlogged, "store failed; sending the fallback reply");
    }
    crate::metrics::fallback_reply(bot, cause.reason());
    Answer {
        reply: state.bots.unavailable(bot),
        outcome: Outcome::Fallback,
    }
}

/// The reply if it is ready within the budget; otherwise `None` (send the callback
/// acknowledgement, [`Outcome::Callback`]), and the reply is delivered to `url` when
/// it is ready (see [`callback`]).
///
/// The work runs once, on the patient store, whose call waits for a stalled Redis up
/// to the callback deadline: the reply budget only decides whether its answer goes in
/// the response or to the callback URL. It is tried again only when it never reached
/// Redis ([`StoreError::never_sent`]); a call that timed out or lost its connection may
/// have made its change, so that one ends in the "try again" reply (when it failed
/// within the budget) or no callback (later), never in a second change. The argument
/// is written at [`callback::Callbacks::follow_up`].
///
/// At most `callback_max_pending` answers wait at once; a request over that gets
/// [`answer`]'s reply, the plain one or the "try again" one.
pub async fn answer_or_call_back(
    state: &AppState,
    bot: BotName,
    user: UserKey,
    input: Input,
    url: CallbackUrl,
) -> Option<Answer> {
    let Some(pending) = state.callbacks.reserve() else {
        debug!(%bot, %user, "callback_max_pending answers are waiting already; answering without callback");
        return Some(answer(state, bot, &user, &input).await);
    };
    let started = TokioInstant::now();
    let work = {
        let (state, user, input) = (state.clone(), user.clone(), input.clone());
        move || {
            let (state, user, input) = (state.clone(), user.clone(), input.clone());
            async move {
                state
                    .bots
                    .reply(bot, &user, &input, state.patient_store.as_ref())
                    .await
            }
        }
    };
    let mut first = tokio::spawn(work());
    let first = match tokio::time::timeout(state.reply_budget, &mut first).await {
        Ok(Ok(Ok(reply))) => {
            state.store_health.succeeded();
            return Some(Answer {
                reply,
                outcome: Outcome::Answered,
            });
        }
        Ok(Ok(Err(cause))) if cause.never_sent() => {
            if let Some(unlogged) = state.store_health.failed(false) {
                warn!(%bot, %user, %cause, unlogged, host = url.host(), "store unreachable; answering useCallback");
            }
            None
        }
        Ok(Ok(Err(cause))) => {
            return Some(fallback(
                state,
                bot,
                &user,
                &input,
                Unanswered::Failed(cause),
            ))
        }
        Ok(Err(join)) => {
            warn!(%bot, %user, cause = %join, "reply task failed; sending the fallback reply");
            crate::metrics::fallback_reply(bot, FallbackReason::Error);
            return Some(Answer {
                reply: state.bots.unavailable(bot),
                outcome: Outcome::Fallback,
            });
        }
        Err(_) => {
            if let Some(unlogged) = state.store_health.failed(false) {
                warn!(%bot, %user, unlogged, host = url.host(), "store slow; answering useCallback");
            }
            Some(first)
        }
    };
    let window = callback::Window {
        acked: TokioInstant::now(),
        deadline: started + callback::DEADLINE,
    };
    call_back_later(state, bot, url, first, work, window, pending);
    None
}

/// Delivers what `first` (or, when it never reached the store, `work` tried again)
/// answers to `url` within `window`, on a task of its own; `pending` is its place
/// among the pending callbacks, given back when it ends.
fn call_back_later<W, Fut>(
    state: &AppState,
    bot: BotName,
    url: CallbackUrl,
    first: Option<JoinHandle<Result<Reply, StoreError>>>,
    work: W,
    window: callback::Window,
    pending: callback::Pending,
) where
    W: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Reply, StoreError>> + Send,
{
    let callbacks = state.callbacks.clone();
    tokio::spawn(async move {
        let host = url.host().to_owned();
        let outcome = callbacks
            .follow_up(
                url,
                first,
                work,
                StoreError::never_sent,
                skill::render,
                window,
            )
            .await;
        drop(pending);
        callback::record_outcome(bot, &host, &outcome);
    });
}

/// The kind of input, for log lines (never its text).
fn input_kind(input: &Input) -> &'static str {
    match input {
        Input::Text(_) => "text",
        Input::Tapped { .. } => "tap",
        Input::Media(_) => "media",
    }
}
