//! The bots: plain Rust decisions, no JSON and no Redis.
//!
//! A bot receives a user's text (and, for a tapped button, what the button meant) and a
//! [`Store`], and returns a [`Reply`]: text, an optional photo or link, and the keyboard
//! to show next. How a reply travels (the tutorials' smart-chat format, or Open Builder
//! skills) is the `kakao` module's job.
//!
//! - [`quiz`]: the quiz bot of tutorial 1, with per-user pending questions and scores.
//! - [`lunch`]: the group lunch-vote bot of tutorial 2.
//! - [`question_bank`]: the quiz's questions, loaded from TOML and validated.
//! - [`help`]: whether a message asks how to use a bot (`도움말`).

pub mod help;
pub mod lunch;
pub mod question_bank;
pub mod quiz;

use std::sync::Arc;

use async_trait::async_trait;

use crate::store::{Store, StoreError};
use crate::user::UserKey;

pub use self::lunch::LunchBot;
pub use self::question_bank::{BankError, BankSource, QuestionBank};
pub use self::quiz::QuizBot;
pub use crate::user::{BotName, UnknownBot};

/// What the user sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Typed text or a pressed button's label.
    Text(String),
    /// A tapped button that said what it meant ([`Button::tap`]); `text` is what the
    /// button showed. The meaning wins over the text: a tap on an old message still
    /// means what that message offered.
    Tapped { text: String, tap: Tap },
    /// A photo, video or audio message; bots answer these politely but do not read them.
    Media(MediaKind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    Photo,
    Video,
    Audio,
    /// A message type Kakao may add in the future.
    Other,
}

/// What a button means, beyond its label: the item it picks.
///
/// A wire format that can carry it with the button (Open Builder's `extra`) hands it
/// back with the tap, so the bot acts on what was offered even when the conversation
/// has moved on; one that cannot (smart-chat) sends the label alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tap {
    /// A quiz choice, for the question it was offered with.
    Answer { question: String, choice: String },
    /// A lunch restaurant to vote for.
    Vote { restaurant: String },
    /// A lunch restaurant to take off the group's list.
    Remove { restaurant: String },
}

/// One button of a keyboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Button {
    /// What the button shows, and what tapping it sends as text.
    pub label: String,
    /// `Some` for an item picked from a list (a choice, a restaurant); `None` for a
    /// menu button, whose label is its meaning.
    pub tap: Option<Tap>,
}

impl Button {
    /// A menu button.
    pub fn menu(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            tap: None,
        }
    }

    /// An item button that carries its meaning.
    pub fn item(label: impl Into<String>, tap: Tap) -> Self {
        Self {
            label: label.into(),
            tap: Some(tap),
        }
    }
}

/// The keyboard shown under a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Keyboard {
    /// Free text input.
    Text,
    /// A choice of buttons, in order.
    Buttons(Vec<Button>),
}

impl Keyboard {
    /// A keyboard of menu buttons.
    pub fn buttons<I, S>(labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Keyboard::Buttons(labels.into_iter().map(Button::menu).collect())
    }
}

/// An image shown with a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Photo {
    pub url: String,
    pub width: u32,
    pub height: u32,
}

/// A link button shown with a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub label: String,
    pub url: String,
}

/// A bot's decision. It always has text, so it always renders to a valid Kakao
/// message; the renderer enforces the length and count limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    pub photo: Option<Photo>,
    pub link: Option<Link>,
    pub keyboard: Keyboard,
}

impl Reply {
    pub fn new(text: impl Into<String>, keyboard: Keyboard) -> Self {
        Self {
            text: text.into(),
            photo: None,
            link: None,
            keyboard,
        }
    }
}

/// One bot's conversation logic.
#[async_trait]
pub trait Bot: Send + Sync {
    /// The keyboard Kakao shows when a chat opens (`GET /keyboard`).
    fn home(&self) -> Keyboard;

    /// How to use the bot: the answer to `도움말` ([`help::asks_for_help`]), with the
    /// home keyboard.
    fn help(&self) -> Reply;

    /// Decides the reply to `text` from `user`. `tap` is what the tapped button meant,
    /// when the wire format brought it back; it takes precedence over `text`.
    async fn reply(
        &self,
        user: &UserKey,
        text: &str,
        tap: Option<&Tap>,
        store: &dyn Store,
    ) -> Result<Reply, StoreError>;
}

/// Every hosted bot, and the replies common to all of them.
#[derive(Clone)]
pub struct Bots {
    quiz: Arc<QuizBot>,
    lunch: Arc<LunchBot>,
}

impl Bots {
    pub fn new(quiz: QuizBot, lunch: LunchBot) -> Self {
        Self {
            quiz: Arc::new(quiz),
            lunch: Arc::new(lunch),
        }
    }

    pub fn get(&self, name: BotName) -> &dyn Bot {
        match name {
            BotName::Quiz => self.quiz.as_ref(),
            BotName::Lunch => self.lunch.as_ref(),
        }
    }

    /// Answers one message. Media and requests for help are answered here, without
    /// touching the store: no bot reads pictures or sound, and every bot explains
    /// itself the same way whatever the conversation's step. A tapped item is never
    /// a request for help: it carries what it means.
    pub async fn reply(
        &self,
        name: BotName,
        user: &UserKey,
        input: &Input,
        store: &dyn Store,
    ) -> Result<Reply, StoreError> {
        let bot = self.get(name);
        match input {
            Input::Text(text) if help::asks_for_help(text) => Ok(bot.help()),
            Input::Text(text) => bot.reply(user, text, None, store).await,
            Input::Tapped { text, tap } => bot.reply(user, text, Some(tap), store).await,
            Input::Media(kind) => Ok(Reply::new(media_reply(*kind), bot.home())),
        }
    }

    /// Reads the quiz's bank again from `source` and uses it from the next message on.
    /// When the new bank is invalid, the one in use stays and the error says why.
    pub fn reload_question_bank(
        &self,
        source: &BankSource,
    ) -> Result<Arc<QuestionBank>, BankError> {
        let bank = source.load()?;
        self.quiz.replace_bank(bank);
        Ok(self.quiz.bank())
    }

    /// The reply when the store is slow or down: still a valid answer, so Kakao does
    /// not count a failure against the bot.
    pub fn unavailable(&self, name: BotName) -> Reply {
        Reply::new(
            "일시적인 문제로 답을 드리지 못했어요. 잠시 후 다시 시도해 주세요.",
            self.get(name).home(),
        )
    }
}

fn media_reply(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Photo => {
            "사진 잘 받았어요! 아쉽게도 아직 사진은 볼 줄 몰라요. 아래 버튼에서 골라 주세요."
        }
        MediaKind::Video => {
            "동영상 잘 받았어요! 아쉽게도 아직 동영상은 볼 줄 몰라요. 아래 버튼에서 골라 주세요."
        }
        MediaKind::Audio => {
            "음성 메시지 잘 받았어요! 아쉽게도 아직 음성은 들을 줄 몰라요. 아래 버튼에서 골라 주세요."
        }
        MediaKind::Other => "이런 메시지는 아직 읽을 줄 몰라요. 아래 버튼에서 골라 주세요.",
    }
}
