//! The HTTP API: Open Builder skill routes and the tutorials' smart-chat routes for
//! every bot (and for the default bot at the root), plus health and readiness.
//! Operations are declared with poem-openapi, so the OpenAPI document and the Swagger
//! UI come from this file.

use std::sync::Arc;
use std::time::{Duration, Instant};

use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::time::Instant as TokioInstant;
use tracing::{debug, info, warn};

use crate::bots::{BotName, Bots, Input, Reply};
use crate::callback::{self, Callbacks};
use crate::kakao::skill::{self, SkillRequest, SkillResponse};
use crate::kakao::smartchat::{
    self, Ack, FriendRequest, KeyboardBody, MessageRequest, MessageResponse,
};
use crate::kakao::UserKeyField;
use crate::metrics::{Outcome, Wire};
use crate::store::{BotScope, Store, StoreError};
use crate::user::UserKey;

/// The header that carries `KAKAOBOT_SKILL_SECRET`, when one is set.
pub const SKILL_SECRET_HEADER: &str = "X-Kakaobot-Skill-Secret";

/// The `{bot}` path segment. The document lists the bots as an enum, so clients and
/// fuzzers know the valid names; any other name still reaches the handler, which
/// answers 404 `unknown_bot` rather than a generic 400.
#[derive(Debug, Clone)]
pub struct BotPath(String);

impl poem_openapi::types::Type for BotPath {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> std::borrow::Cow<'static, str> {
        "string(bot)".into()
    }

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        let mut schema = poem_openapi::registry::MetaSchema::new("string");
        schema.enum_items = BotName::ALL
            .iter()
            .map(|b| serde_json::Value::from(b.as_str()))
            .collect();
        poem_openapi::registry::MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl poem_openapi::types::ParseFromParameter for BotPath {
    fn parse_from_parameter(value: &str) -> poem_openapi::types::ParseResult<Self> {
        Ok(Self(value.to_owned()))
    }
}

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub bots: Bots,
    pub store: Arc<dyn Store>,
    /// The bot behind the root paths.
    pub default_bot: BotName,
    /// Time a request may spend on the store before the fallback reply is sent.
    pub reply_budget: Duration,
    /// `redis` or `memory`, shown by `/ready`.
    pub store_kind: &'static str,
    /// When set, skill requests must carry it in [`SKILL_SECRET_HEADER`].
    pub skill_secret: Option<SecretString>,
    /// Where late skill answers go when Kakao sent a callback URL.
    pub callbacks: Callbacks,
}

#[derive(Tags)]
enum Tag {
    /// Kakao i Open Builder skills, how Kakao channels reach bots today: register
    /// `http://HOST:5000/quiz/skill` or `http://HOST:5000/lunch/skill` as a skill in Kakao's
    /// chatbot admin centre and use it in the fallback and welcome blocks.
    Skills,
    /// The default bot (`KAKAOBOT_DEFAULT_BOT`, `quiz` unless set) at the root URL, so a
    /// Kakao app registered with `http://HOST:5000` works unchanged.
    DefaultBot,
    /// Every bot under its own prefix (smart-chat API of the tutorials, retired by Kakao
    /// on 2019-12-31): register `http://HOST:5000/quiz` or `http://HOST:5000/lunch`.
    Bots,
    /// Liveness and readiness for load balancers, systemd and deploy scripts.
    Operations,
}

/// An error, in JSON. These never go to Kakao users: Kakao only sends valid requests.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Error")]
pub struct ErrorBody {
    /// A short machine-readable code: `bad_request`, `unknown_bot`, `not_found`, `payload_too_large`, ….
    pub error: String,
    /// What went wrong, and what to do about it.
    pub message: String,
}

impl ErrorBody {
    pub fn new(error: &str, message: impl Into<String>) -> Json<Self> {
        Json(Self {
            error: error.to_owned(),
            message: message.into(),
        })
    }
}

/// Maps a request that poem-openapi could not parse (bad JSON, missing or mistyped
/// field, non-UTF-8, too large) to its 4xx variant. poem-openapi's message says what
/// was wrong but not which field, so the expected shape is spelled out too.
fn parse_error(err: &poem::Error, expected: &str) -> (bool, Json<ErrorBody>) {
    let too_large = err.status() == poem::http::StatusCode::PAYLOAD_TOO_LARGE;
    let body = if too_large {
        ErrorBody::new("payload_too_large", err.to_string())
    } else if expected.is_empty() {
        ErrorBody::new("bad_request", err.to_string())
    } else {
        ErrorBody::new(
            "bad_request",
            format!("{err}; expected a JSON body {expected}"),
        )
    };
    (too_large, body)
}

const MESSAGE_SHAPE: &str =
    r#"{"user_key": string, "type": "text"|"photo"|"video"|"audio", "content": string}"#;
const FRIEND_SHAPE: &str = r#"{"user_key": string}"#;

/// Response of `GET /keyboard`.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "keyboard_bad_request")]
pub enum KeyboardResponse {
    /// The home keyboard, unwrapped, as Kakao expects: `{"type":"buttons","buttons":[…]}`.
    #[oai(status = 200)]
    Ok(Json<KeyboardBody>),
    /// The request could not be read.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No bot has that name; the bots are `quiz` and `lunch`.
    #[oai(status = 404)]
    UnknownBot(Json<ErrorBody>),
}

fn keyboard_bad_request(err: poem::Error) -> KeyboardResponse {
    KeyboardResponse::BadRequest(parse_error(&err, "").1)
}

/// Response of `POST /message`.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "message_bad_request")]
pub enum MessageReply {
    /// The bot's reply and the keyboard to show next. Also sent, with a "try again"
    /// text, when storage is slow or down: Kakao counts any other status as a failure.
    #[oai(status = 200)]
    Ok(Json<MessageResponse>),
    /// The body is not a valid message: malformed JSON, a missing or mistyped field,
    /// or an empty or overlong `user_key`.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No bot has that name; the bots are `quiz` and `lunch`.
    #[oai(status = 404)]
    UnknownBot(Json<ErrorBody>),
    /// The body is larger than 64 KiB.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
}

fn message_bad_request(err: poem::Error) -> MessageReply {
    crate::metrics::answer(None, Wire::SmartChat, Outcome::BadRequest);
    match parse_error(&err, MESSAGE_SHAPE) {
        (true, body) => MessageReply::PayloadTooLarge(body),
        (false, body) => MessageReply::BadRequest(body),
    }
}

/// Response of a skill call.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "skill_bad_request")]
pub enum SkillReply {
    /// The bot's answer, `{"version":"2.0","template":{…}}`. Also sent when storage is
    /// slow or down: a "try again" answer with the home menu, or, when the request had a
    /// callback URL, `{"version":"2.0","useCallback":true,…}` with the real answer
    /// POSTed to that URL once it is ready (within 50 s).
    #[oai(status = 200)]
    Ok(Json<SkillResponse>),
    /// The body is not a skill payload: malformed JSON, or no `userRequest.user.id`.
    /// Kakao never sends these.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// `KAKAOBOT_SKILL_SECRET` is set and the request's `X-Kakaobot-Skill-Secret`
    /// header is missing or wrong.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No bot has that name; the bots are `quiz` and `lunch`.
    #[oai(status = 404)]
    UnknownBot(Json<ErrorBody>),
    /// The body is larger than 64 KiB.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
}

const SKILL_SHAPE: &str = r#"{"userRequest": {"utterance": string, "user": {"id": string, …}, …}, "action": {"clientExtra": {…}, …}, …}"#;

fn skill_bad_request(err: poem::Error) -> SkillReply {
    crate::metrics::answer(None, Wire::Skill, Outcome::BadRequest);
    match parse_error(&err, SKILL_SHAPE) {
        (true, body) => SkillReply::PayloadTooLarge(body),
        (false, body) => SkillReply::BadRequest(body),
    }
}

/// Response of the friend and chat-room notifications.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "ack_bad_request")]
pub enum AckReply {
    /// Recorded: `{"code":0,"message":"SUCCESS","comment":"정상 응답"}`. Repeating a
    /// notification is harmless.
    #[oai(status = 200)]
    Ok(Json<Ack>),
    /// The body or `user_key` is not valid.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No bot has that name; the bots are `quiz` and `lunch`.
    #[oai(status = 404)]
    UnknownBot(Json<ErrorBody>),
    /// The body is larger than 64 KiB.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
}

fn ack_bad_request(err: poem::Error) -> AckReply {
    match parse_error(&err, FRIEND_SHAPE) {
        (true, body) => AckReply::PayloadTooLarge(body),
        (false, body) => AckReply::BadRequest(body),
    }
}

/// Liveness and readiness.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Status")]
pub struct StatusBody {
    /// `ok`, `ready` or `unavailable`.
    pub status: String,
    /// Where state is kept: `redis` or `memory`.
    pub store: String,
}

/// Response of `GET /health`.
#[derive(ApiResponse)]
pub enum HealthReply {
    /// The process is alive and serving.
    #[oai(status = 200)]
    Ok(Json<StatusBody>),
}

/// Response of `GET /ready`.
#[derive(ApiResponse)]
pub enum ReadyReply {
    /// The store answers: messages get real replies.
    #[oai(status = 200)]
    Ready(Json<StatusBody>),
    /// The store does not answer in time: messages get the "try again" reply until it
    /// comes back (no restart needed).
    #[oai(status = 503)]
    Unavailable(Json<StatusBody>),
}

/// The operations. One struct, so every route shares [`AppState`].
pub struct Api {
    state: AppState,
}

/// Why the store gave no answer within the reply budget.
#[derive(Debug, thiserror::Error)]
enum Unanswered {
    #[error("no answer within {} ms", .0.as_millis())]
    Slow(Duration),
    #[error(transparent)]
    Failed(StoreError),
}

impl Unanswered {
    /// The `reason` label of `kakaobot_fallback_replies_total`.
    fn reason(&self) -> crate::metrics::FallbackReason {
        match self {
            Unanswered::Slow(_) => crate::metrics::FallbackReason::Timeout,
            Unanswered::Failed(_) => crate::metrics::FallbackReason::Error,
        }
    }
}

/// Which kind of notification a friend or chat-room call is.
#[derive(Clone, Copy, Debug)]
enum Notice {
    FriendAdded,
    FriendBlocked,
    LeftChatRoom,
}

impl Api {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    fn bot(&self, name: &str) -> Result<BotName, Json<ErrorBody>> {
        name.parse::<BotName>()
            .map_err(|e| ErrorBody::new("unknown_bot", e.to_string()))
    }

    /// Runs a store operation within the reply budget; a slow store is a failure.
    async fn within_budget<T>(
        &self,
        op: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, Unanswered> {
        match tokio::time::timeout(self.state.reply_budget, op).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(Unanswered::Failed(err)),
            Err(_) => Err(Unanswered::Slow(self.state.reply_budget)),
        }
    }

    fn keyboard(&self, bot: BotName) -> KeyboardResponse {
        KeyboardResponse::Ok(Json(smartchat::keyboard(&self.state.bots.get(bot).home())))
    }

    async fn message(&self, bot: BotName, body: MessageRequest) -> MessageReply {
        let user = body.user_key.0.clone();
        let input = body.input();
        let started = Instant::now();
        let reply = self.answer(bot, Wire::SmartChat, &user, &input).await;
        debug!(
            %bot,
            %user,
            kind = %input_kind(&input),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "message answered"
        );
        MessageReply::Ok(Json(smartchat::message(&reply)))
    }

    /// The bot's reply within the reply budget, or the "try again" reply.
    async fn answer(&self, bot: BotName, wire: Wire, user: &UserKey, input: &Input) -> Reply {
        let store = self.state.store.as_ref();
        match self
            .within_budget(self.state.bots.reply(bot, user, input, store))
            .await
        {
            Ok(reply) => {
                crate::metrics::answer(Some(bot), wire, Outcome::Answered);
                reply
            }
            Err(cause) => {
                warn!(%bot, %user, %cause, "store failed; sending the fallback reply");
                crate::metrics::answer(Some(bot), wire, Outcome::Fallback);
                crate::metrics::fallback_reply(bot, cause.reason());
                self.state.bots.unavailable(bot)
            }
        }
    }

    async fn skill(&self, bot: BotName, body: SkillRequest, secret: Option<&str>) -> SkillReply {
        if let Some(expected) = &self.state.skill_secret {
            let given = secret.unwrap_or_default().as_bytes();
            if !bool::from(given.ct_eq(expected.expose_secret().as_bytes())) {
                crate::metrics::answer(Some(bot), Wire::Skill, Outcome::Unauthorized);
                return SkillReply::Unauthorized(ErrorBody::new(
                    "unauthorized",
                    format!(
                        "missing or wrong {SKILL_SECRET_HEADER} header: add it, with the value of \
                         KAKAOBOT_SKILL_SECRET, to the skill's headers in Kakao's chatbot admin centre"
                    ),
                ));
            }
        }
        let user = body.user();
        let input = body.input();
        let started = Instant::now();
        let callback = body.callback_url().and_then(|raw| {
            let permitted = self.state.callbacks.permit(raw);
            if permitted.is_none() {
                warn!(%bot, "callback URL refused (not https on kakao.com, nor an allowed host); answering without callback");
            }
            permitted
        });
        let reply = match callback {
            None => self.answer(bot, Wire::Skill, &user, &input).await,
            Some(url) => match self
                .answer_or_call_back(bot, user.clone(), input.clone(), url)
                .await
            {
                Some(reply) => {
                    crate::metrics::answer(Some(bot), Wire::Skill, Outcome::Answered);
                    reply
                }
                None => {
                    crate::metrics::answer(Some(bot), Wire::Skill, Outcome::Callback);
                    debug!(%bot, %user, elapsed_ms = started.elapsed().as_millis() as u64, "skill answered with useCallback");
                    return SkillReply::Ok(Json(SkillResponse::callback_ack(
                        callback::WAITING_TEXT,
                    )));
                }
            },
        };
        debug!(
            %bot,
            %user,
            kind = %input_kind(&input),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "skill answered"
        );
        SkillReply::Ok(Json(skill::render(&reply)))
    }

    /// The reply if it is ready within the budget; otherwise `None`, and the reply is
    /// delivered to `url` when it is ready (see [`callback`]).
    async fn answer_or_call_back(
        &self,
        bot: BotName,
        user: UserKey,
        input: Input,
        url: callback::CallbackUrl,
    ) -> Option<Reply> {
        let started = TokioInstant::now();
        let state = self.state.clone();
        let work = {
            let (state, user, input) = (state.clone(), user.clone(), input.clone());
            move || {
                let (state, user, input) = (state.clone(), user.clone(), input.clone());
                async move {
                    state
                        .bots
                        .reply(bot, &user, &input, state.store.as_ref())
                        .await
                }
            }
        };
        let mut first = tokio::spawn(work());
        let first = match tokio::time::timeout(state.reply_budget, &mut first).await {
            Ok(Ok(Ok(reply))) => return Some(reply),
            Ok(Ok(Err(cause))) => {
                warn!(%bot, %user, %cause, host = url.host(), "store failed; answering useCallback");
                None
            }
            Ok(Err(join)) => {
                warn!(%bot, %user, cause = %join, "reply task failed; answering useCallback");
                None
            }
            Err(_) => {
                warn!(%bot, %user, host = url.host(), "store slow; answering useCallback");
                Some(first)
            }
        };
        let acked = TokioInstant::now();
        tokio::spawn(async move {
            let host = url.host().to_owned();
            let outcome = state
                .callbacks
                .follow_up(
                    url,
                    first,
                    work,
                    skill::render,
                    acked,
                    started + callback::DEADLINE,
                )
                .await;
            callback::record_outcome(bot, &host, &outcome);
        });
        None
    }

    async fn notice(&self, bot: BotName, user: &UserKey, notice: Notice) -> AckReply {
        let store = self.state.store.as_ref();
        let scope: BotScope = bot.scope();
        let result = match notice {
            Notice::FriendAdded => self.within_budget(store.add_friend(scope, user)).await,
            Notice::FriendBlocked => self.within_budget(store.remove_friend(scope, user)).await,
            Notice::LeftChatRoom => self.within_budget(store.clear_session(scope, user)).await,
        };
        match result {
            Ok(()) => info!(%bot, %user, ?notice, "notice recorded"),
            // Still acknowledged: Kakao does not retry, and an error would count
            // against the bot. Sessions expire on their own anyway.
            Err(cause) => warn!(%bot, %user, ?notice, %cause, "notice not recorded"),
        }
        AckReply::Ok(Json(Ack::success()))
    }
}

fn input_kind(input: &Input) -> &'static str {
    match input {
        Input::Text(_) => "text",
        Input::Tapped { .. } => "tap",
        Input::Media(_) => "media",
    }
}

#[OpenApi]
impl Api {
    /// A skill call to the default bot
    ///
    /// Kakao calls this when a block linked to the skill answers a user. Always answered
    /// with 200 and a SkillResponse 2.0, also when storage is down.
    #[oai(
        path = "/skill",
        method = "post",
        tag = "Tag::Skills",
        operation_id = "default_skill"
    )]
    async fn default_skill(
        &self,
        body: Json<SkillRequest>,
        /// Required when `KAKAOBOT_SKILL_SECRET` is set: its value.
        #[oai(name = "X-Kakaobot-Skill-Secret")]
        secret: Header<Option<String>>,
    ) -> SkillReply {
        self.skill(self.state.default_bot, body.0, secret.0.as_deref())
            .await
    }

    /// A skill call to a bot
    ///
    /// Kakao calls this when a block linked to the skill answers a user. Always answered
    /// with 200 and a SkillResponse 2.0, also when storage is down.
    #[oai(path = "/:bot/skill", method = "post", tag = "Tag::Skills")]
    async fn bot_skill(
        &self,
        /// The bot: `quiz` or `lunch`.
        bot: Path<BotPath>,
        body: Json<SkillRequest>,
        /// Required when `KAKAOBOT_SKILL_SECRET` is set: its value.
        #[oai(name = "X-Kakaobot-Skill-Secret")]
        secret: Header<Option<String>>,
    ) -> SkillReply {
        match self.bot(&bot.0 .0) {
            Ok(bot) => self.skill(bot, body.0, secret.0.as_deref()).await,
            Err(e) => SkillReply::UnknownBot(e),
        }
    }

    /// Home keyboard of the default bot
    ///
    /// Kakao calls this when a user opens the chat (and after the 10-minute context expires).
    #[oai(
        path = "/keyboard",
        method = "get",
        tag = "Tag::DefaultBot",
        operation_id = "default_keyboard"
    )]
    async fn default_keyboard(&self) -> KeyboardResponse {
        self.keyboard(self.state.default_bot)
    }

    /// A message to the default bot
    ///
    /// Answered with 200 and a reply, even when storage is down (with a "try again" reply).
    #[oai(
        path = "/message",
        method = "post",
        tag = "Tag::DefaultBot",
        operation_id = "default_message"
    )]
    async fn default_message(&self, body: Json<MessageRequest>) -> MessageReply {
        self.message(self.state.default_bot, body.0).await
    }

    /// A user added the default bot as a friend
    #[oai(
        path = "/friend",
        method = "post",
        tag = "Tag::DefaultBot",
        operation_id = "default_friend_added"
    )]
    async fn default_friend_added(&self, body: Json<FriendRequest>) -> AckReply {
        self.notice(
            self.state.default_bot,
            &body.0.user_key.0,
            Notice::FriendAdded,
        )
        .await
    }

    /// A user blocked the default bot (user key in the path)
    #[oai(
        path = "/friend/:user_key",
        method = "delete",
        tag = "Tag::DefaultBot",
        operation_id = "default_friend_blocked"
    )]
    async fn default_friend_blocked(
        &self,
        /// The user's key.
        user_key: Path<UserKeyField>,
    ) -> AckReply {
        self.notice(
            self.state.default_bot,
            &user_key.0 .0,
            Notice::FriendBlocked,
        )
        .await
    }

    /// A user blocked the default bot (user key in a JSON body, as some deployments send it)
    #[oai(
        path = "/friend",
        method = "delete",
        tag = "Tag::DefaultBot",
        operation_id = "default_friend_blocked_body"
    )]
    async fn default_friend_blocked_body(&self, body: Json<FriendRequest>) -> AckReply {
        self.notice(
            self.state.default_bot,
            &body.0.user_key.0,
            Notice::FriendBlocked,
        )
        .await
    }

    /// A user left the chat room with the default bot; their conversation context is cleared
    #[oai(
        path = "/chat_room/:user_key",
        method = "delete",
        tag = "Tag::DefaultBot",
        operation_id = "default_left_chat_room"
    )]
    async fn default_left_chat_room(
        &self,
        /// The user's key.
        user_key: Path<UserKeyField>,
    ) -> AckReply {
        self.notice(self.state.default_bot, &user_key.0 .0, Notice::LeftChatRoom)
            .await
    }

    /// Home keyboard of a bot
    #[oai(path = "/:bot/keyboard", method = "get", tag = "Tag::Bots")]
    async fn bot_keyboard(
        &self,
        /// The bot: `quiz` or `lunch`.
        bot: Path<BotPath>,
    ) -> KeyboardResponse {
        match self.bot(&bot.0 .0) {
            Ok(bot) => self.keyboard(bot),
            Err(e) => KeyboardResponse::UnknownBot(e),
        }
    }

    /// A message to a bot
    ///
    /// Answered with 200 and a reply, even when storage is down (with a "try again" reply).
    #[oai(path = "/:bot/message", method = "post", tag = "Tag::Bots")]
    async fn bot_message(
        &self,
        /// The bot: `quiz` or `lunch`.
        bot: Path<BotPath>,
        body: Json<MessageRequest>,
    ) -> MessageReply {
        match self.bot(&bot.0 .0) {
            Ok(bot) => self.message(bot, body.0).await,
            Err(e) => MessageReply::UnknownBot(e),
        }
    }

    /// A user added a bot as a friend
    #[oai(path = "/:bot/friend", method = "post", tag = "Tag::Bots")]
    async fn bot_friend_added(
        &self,
        /// The bot: `quiz` or `lunch`.
        bot: Path<BotPath>,
        body: Json<FriendRequest>,
    ) -> AckReply {
        match self.bot(&bot.0 .0) {
            Ok(bot) => {
                self.notice(bot, &body.0.user_key.0, Notice::FriendAdded)
                    .await
            }
            Err(e) => AckReply::UnknownBot(e),
        }
    }

    /// A user blocked a bot (user key in the path)
    #[oai(path = "/:bot/friend/:user_key", method = "delete", tag = "Tag::Bots")]
    async fn bot_friend_blocked(
        &self,
        /// The bot: `quiz` or `lunch`.
        bot: Path<BotPath>,
        /// The user's key.
        user_key: Path<UserKeyField>,
    ) -> AckReply {
        match self.bot(&bot.0 .0) {
            Ok(bot) => {
                self.notice(bot, &user_key.0 .0, Notice::FriendBlocked)
                    .await
            }
            Err(e) => AckReply::UnknownBot(e),
        }
    }

    /// A user blocked a bot (user key in a JSON body, as some deployments send it)
    #[oai(path = "/:bot/friend", method = "delete", tag = "Tag::Bots")]
    async fn bot_friend_blocked_body(
        &self,
        /// The bot: `quiz` or `lunch`.
        bot: Path<BotPath>,
        body: Json<FriendRequest>,
    ) -> AckReply {
        match self.bot(&bot.0 .0) {
            Ok(bot) => {
                self.notice(bot, &body.0.user_key.0, Notice::FriendBlocked)
                    .await
            }
            Err(e) => AckReply::UnknownBot(e),
        }
    }

    /// A user left the chat room with a bot; their conversation context is cleared
    #[oai(
        path = "/:bot/chat_room/:user_key",
        method = "delete",
        tag = "Tag::Bots"
    )]
    async fn bot_left_chat_room(
        &self,
        /// The bot: `quiz` or `lunch`.
        bot: Path<BotPath>,
        /// The user's key.
        user_key: Path<UserKeyField>,
    ) -> AckReply {
        match self.bot(&bot.0 .0) {
            Ok(bot) => self.notice(bot, &user_key.0 .0, Notice::LeftChatRoom).await,
            Err(e) => AckReply::UnknownBot(e),
        }
    }

    /// Liveness: the process is up
    #[oai(path = "/health", method = "get", tag = "Tag::Operations")]
    async fn health(&self) -> HealthReply {
        HealthReply::Ok(Json(StatusBody {
            status: "ok".into(),
            store: self.state.store_kind.into(),
        }))
    }

    /// Readiness: the store answers
    #[oai(path = "/ready", method = "get", tag = "Tag::Operations")]
    async fn ready(&self) -> ReadyReply {
        let store = self.state.store_kind.to_owned();
        match self.within_budget(self.state.store.ping()).await {
            Ok(()) => ReadyReply::Ready(Json(StatusBody {
                status: "ready".into(),
                store,
            })),
            Err(cause) => {
                warn!(%cause, "not ready: the store does not answer");
                ReadyReply::Unavailable(Json(StatusBody {
                    status: "unavailable".into(),
                    store,
                }))
            }
        }
    }
}
