//! The smart-chat routes of the tutorials (retired by Kakao on 2019-12-31; marked
//! deprecated in the document, and still served): the default bot at the root, every
//! bot under its own prefix.

use std::time::Instant;

use poem_openapi::param::Path;
use poem_openapi::{ApiResponse, OpenApi};
use tracing::{info, warn};

use super::answer::{self, within_budget, Answer, Outcome, Wire};
use super::payload::{Json, JsonBody};
use super::rejection::{rejected, unreadable, ErrorBody, Rejection};
use super::{AppState, BotPath, Tag};
use crate::bots::BotName;
use crate::kakao::smartchat::{
    self, Ack, FriendRequest, KeyboardBody, MessageRequest, MessageResponse,
};
use crate::kakao::UserKeyField;
use crate::user::UserKey;

/// Response of `GET /keyboard`.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "rejected::<KeyboardResponse>")]
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

impl Rejection for KeyboardResponse {
    const EXPECTED: &'static str = "";

    fn bad_request(body: Json<ErrorBody>) -> Self {
        Self::BadRequest(body)
    }

    fn unknown_bot(body: Json<ErrorBody>) -> Self {
        Self::UnknownBot(body)
    }
}

/// Response of `POST /message`.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "rejected::<MessageReply>")]
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

impl Rejection for MessageReply {
    const EXPECTED: &'static str =
        r#"{"user_key": string, "type": "text"|"photo"|"video"|"audio", "content": string}"#;
    const WIRE: Option<Wire> = Some(Wire::SmartChat);

    fn bad_request(body: Json<ErrorBody>) -> Self {
        Self::BadRequest(body)
    }

    fn unknown_bot(body: Json<ErrorBody>) -> Self {
        Self::UnknownBot(body)
    }

    fn too_large(body: Json<ErrorBody>) -> Self {
        Self::PayloadTooLarge(body)
    }
}

/// Response of the friend and chat-room notifications.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "rejected::<AckReply>")]
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

impl Rejection for AckReply {
    const EXPECTED: &'static str = r#"{"user_key": string}"#;

    fn bad_request(body: Json<ErrorBody>) -> Self {
        Self::BadRequest(body)
    }

    fn unknown_bot(body: Json<ErrorBody>) -> Self {
        Self::UnknownBot(body)
    }

    fn too_large(body: Json<ErrorBody>) -> Self {
        Self::PayloadTooLarge(body)
    }
}

/// Which kind of notification a friend or chat-room call is.
#[derive(Clone, Copy, Debug)]
enum Notice {
    FriendAdded,
    FriendBlocked,
    LeftChatRoom,
}

/// The smart-chat operations.
pub struct SmartChatApi {
    pub(super) state: AppState,
}

#[OpenApi]
impl SmartChatApi {
    /// Home keyboard of the default bot
    ///
    /// Kakao calls this when a user opens the chat (and after the 10-minute context expires).
    #[oai(
        path = "/keyboard",
        method = "get",
        tag = "Tag::DefaultBot",
        operation_id = "default_keyboard",
        deprecated
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
        operation_id = "default_message",
        deprecated
    )]
    async fn default_message(&self, body: JsonBody<MessageRequest>) -> MessageReply {
        self.message(self.state.default_bot, &body).await
    }

    /// A user added the default bot as a friend
    #[oai(
        path = "/friend",
        method = "post",
        tag = "Tag::DefaultBot",
        operation_id = "default_friend_added",
        deprecated
    )]
    async fn default_friend_added(&self, body: JsonBody<FriendRequest>) -> AckReply {
        self.notice_in_body(self.state.default_bot, &body, Notice::FriendAdded)
            .await
    }

    /// A user blocked the default bot (user key in the path)
    #[oai(
        path = "/friend/:user_key",
        method = "delete",
        tag = "Tag::DefaultBot",
        operation_id = "default_friend_blocked",
        deprecated
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
        operation_id = "default_friend_blocked_body",
        deprecated
    )]
    async fn default_friend_blocked_body(&self, body: JsonBody<FriendRequest>) -> AckReply {
        self.notice_in_body(self.state.default_bot, &body, Notice::FriendBlocked)
            .await
    }

    /// A user left the chat room with the default bot; their conversation context is cleared
    #[oai(
        path = "/chat_room/:user_key",
        method = "delete",
        tag = "Tag::DefaultBot",
        operation_id = "default_left_chat_room",
        deprecated
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
    #[oai(path = "/:bot/keyboard", method = "get", tag = "Tag::Bots", deprecated)]
    async fn bot_keyboard(
        &self,
        /// The bot: `quiz` or `lunch`.
        bot: Path<BotPath>,
    ) -> KeyboardResponse {
        self.keyboard(bot.0 .0)
    }

    /// A message to a bot
    ///
    /// Answered with 200 and a reply, even when storage is down (with a "try again" reply).
    #[oai(path = "/:bot/message", method = "post", tag = "Tag::Bots", deprecated)]
    async fn bot_message(
        &self,
        /// The bot: `quiz` or `lunch`.
        bot: Path<BotPath>,
        body: JsonBody<MessageRequest>,
    ) -> MessageReply {
        self.message(bot.0 .0, &body).await
    }

    /// A user added a bot as a friend
    #[oai(path = "/:bot/friend", method = "post", tag = "Tag::Bots", deprecated)]
    async fn bot_friend_added(
        &self,
        /// The bot: `quiz` or `lunch`.
        bot: Path<BotPath>,
        body: JsonBody<FriendRequest>,
    ) -> AckReply {
        self.notice_in_body(bot.0 .0, &body, Notice::FriendAdded)
            .await
    }

    /// A user blocked a bot (user key in the path)
    #[oai(
        path = "/:bot/friend/:user_key",
        method = "delete",
        tag = "Tag::Bots",
        deprecated
    )]
    async fn bot_friend_blocked(
        &self,
        /// The bot: `quiz` or `lunch`.
        bot: Path<BotPath>,
        /// The user's key.
        user_key: Path<UserKeyField>,
    ) -> AckReply {
        self.notice(bot.0 .0, &user_key.0 .0, Notice::FriendBlocked)
            .await
    }

    /// A user blocked a bot (user key in a JSON body, as some deployments send it)
    #[oai(
        path = "/:bot/friend",
        method = "delete",
        tag = "Tag::Bots",
        deprecated
    )]
    async fn bot_friend_blocked_body(
        &self,
        /// The bot: `quiz` or `lunch`.
        bot: Path<BotPath>,
        body: JsonBody<FriendRequest>,
    ) -> AckReply {
        self.notice_in_body(bot.0 .0, &body, Notice::FriendBlocked)
            .await
    }

    /// A user left the chat room with a bot; their conversation context is cleared
    #[oai(
        path = "/:bot/chat_room/:user_key",
        method = "delete",
        tag = "Tag::Bots",
        deprecated
    )]
    async fn bot_left_chat_room(
        &self,
        /// The bot: `quiz` or `lunch`.
        bot: Path<BotPath>,
        /// The user's key.
        user_key: Path<UserKeyField>,
    ) -> AckReply {
        self.notice(bot.0 .0, &user_key.0 .0, Notice::LeftChatRoom)
            .await
    }
}

impl SmartChatApi {
    fn keyboard(&self, bot: BotName) -> KeyboardResponse {
        KeyboardResponse::Ok(Json(smartchat::keyboard(&self.state.bots.get(bot).home())))
    }

    async fn message(&self, bot: BotName, body: &JsonBody<MessageRequest>) -> MessageReply {
        let started = Instant::now();
        let request = match body.parse() {
            Ok(request) => request,
            Err(err) => {
                answer::settle(bot, Wire::SmartChat, Outcome::BadRequest, started);
                return unreadable(err);
            }
        };
        let Answer { reply, outcome } =
            answer::answer(&self.state, bot, &request.user_key.0, &request.input()).await;
        answer::settle(bot, Wire::SmartChat, outcome, started);
        MessageReply::Ok(Json(smartchat::message(&reply)))
    }

    async fn notice_in_body(
        &self,
        bot: BotName,
        body: &JsonBody<FriendRequest>,
        notice: Notice,
    ) -> AckReply {
        match body.parse() {
            Ok(request) => self.notice(bot, &request.user_key.0, notice).await,
            Err(err) => unreadable(err),
        }
    }

    async fn notice(&self, bot: BotName, user: &UserKey, notice: Notice) -> AckReply {
        let store = self.state.store.as_ref();
        let budget = self.state.reply_budget;
        let result = match notice {
            Notice::FriendAdded => within_budget(budget, store.add_friend(bot, user)).await,
            Notice::FriendBlocked => within_budget(budget, store.remove_friend(bot, user)).await,
            Notice::LeftChatRoom => within_budget(budget, store.clear_session(bot, user)).await,
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
