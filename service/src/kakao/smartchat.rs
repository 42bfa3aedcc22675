//! The smart-chat wire format (CONTRACT.md §1), which the tutorials use and Kakao
//! retired on 2019-12-31: request and response bodies as Kakao sent and expected them,
//! and the renderer that turns a bot's [`Reply`] into them.
//!
//! The renderer is where Kakao's limits hold by construction: text is cut to 1000
//! characters (newlines not counted) at a character boundary, and at most 100 buttons
//! are sent, whatever a bot or a question bank produces.

use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use super::{JsonString, Schema, UserKeyField};
use crate::bots::{Input, Keyboard, MediaKind, Reply};

/// Longest message text Kakao shows; newlines do not count.
pub const MAX_TEXT_CHARS: usize = 1000;
/// Most buttons a keyboard may carry.
pub const MAX_BUTTONS: usize = 100;

/// The keyboard Kakao shows under a message or when a chat opens.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "Keyboard")]
pub struct KeyboardBody {
    /// `buttons` shows the listed buttons; `text` shows free text input.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: KeyboardType,
    /// The button labels, in order (at most 100; Kakao shows three per page). Only with `type` = `buttons`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buttons: Option<Vec<String>>,
}

/// Kind of keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum KeyboardType {
    /// Buttons to pick from.
    Buttons,
    /// Free text input.
    Text,
}

/// A message a user sent to the bot.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename = "MessageRequest")]
pub struct MessageRequest {
    /// The user's key: opaque, stable per user and bot (Kakao's are 12 characters of
    /// `[A-Za-z0-9_-]`); printable ASCII without spaces or any of `" # % / : ?`, at most
    /// 128 characters.
    pub user_key: UserKeyField,
    /// `text`, `photo`, `video` or `audio`; other kinds get a polite reply.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: JsonString,
    /// The text, or the media URL for `photo`, `video` and `audio`.
    pub content: JsonString,
}

impl Schema for MessageRequest {
    type Wire<'a> = Self;
}

impl MessageRequest {
    /// What the bot sees of this message. Unknown kinds are answered politely rather
    /// than refused: Kakao counts any error against the bot.
    pub fn input(&self) -> Input {
        match &*self.kind {
            "text" => Input::Text(self.content.to_string()),
            "photo" => Input::Media(MediaKind::Photo),
            "video" => Input::Media(MediaKind::Video),
            "audio" => Input::Media(MediaKind::Audio),
            _ => Input::Media(MediaKind::Other),
        }
    }
}

/// An image in a reply.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "Photo")]
pub struct PhotoBody {
    /// Image URL (one JPEG or PNG; 720×630 and ≤ 500 KB recommended).
    pub url: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// A link button in a reply.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "MessageButton")]
pub struct MessageButtonBody {
    /// The button's label.
    pub label: String,
    /// The page the button opens.
    pub url: String,
}

/// One reply message: at least one and at most all three of text, photo and link button.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "Message")]
pub struct MessageBody {
    /// The reply text (at most 1000 characters, newlines not counted).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An image shown with the text.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo: Option<PhotoBody>,
    /// A link button shown under the text.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_button: Option<MessageButtonBody>,
}

/// The answer to a user's message.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "MessageResponse")]
pub struct MessageResponse {
    /// The reply shown to the user.
    pub message: MessageBody,
    /// The keyboard to show next; absent means free text input.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyboard: Option<KeyboardBody>,
}

/// A user added, blocked, or left the bot (`POST /friend`, `DELETE /friend` with a body).
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename = "FriendRequest")]
pub struct FriendRequest {
    /// The user's key: printable ASCII without spaces or any of `" # % / : ?`, at most
    /// 128 characters.
    pub user_key: UserKeyField,
}

impl Schema for FriendRequest {
    type Wire<'a> = Self;
}

/// Kakao's acknowledgement body: `{"code":0,"message":"SUCCESS","comment":"정상 응답"}`.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "Ack")]
pub struct Ack {
    /// Always 0.
    pub code: i32,
    /// Always `SUCCESS`.
    pub message: String,
    /// Always `정상 응답`.
    pub comment: String,
}

impl Ack {
    pub fn success() -> Self {
        Self {
            code: 0,
            message: "SUCCESS".to_owned(),
            comment: "정상 응답".to_owned(),
        }
    }
}

/// Renders a keyboard, keeping at most [`MAX_BUTTONS`] buttons.
pub fn keyboard(keyboard: &Keyboard) -> KeyboardBody {
    match keyboard {
        Keyboard::Text => KeyboardBody {
            kind: KeyboardType::Text,
            buttons: None,
        },
        // An empty button list is not a valid buttons keyboard; free text is the
        // honest fallback.
        Keyboard::Buttons(buttons) if buttons.is_empty() => KeyboardBody {
            kind: KeyboardType::Text,
            buttons: None,
        },
        // Smart-chat buttons carry their label only; the bots read a label as the
        // pending step's choice, as the tutorials did.
        Keyboard::Buttons(buttons) => KeyboardBody {
            kind: KeyboardType::Buttons,
            buttons: Some(
                buttons
                    .iter()
                    .take(MAX_BUTTONS)
                    .map(|b| b.label.clone())
                    .collect(),
            ),
        },
    }
}

/// Renders a bot's reply within Kakao's limits.
pub fn message(reply: &Reply) -> MessageResponse {
    let text = if reply.text.is_empty() {
        // A message needs at least one part; a bot never returns empty text, but the
        // wire must hold even if one did.
        " ".to_owned()
    } else {
        fit_text(&reply.text)
    };
    MessageResponse {
        message: MessageBody {
            text: Some(text),
            photo: reply.photo.as_ref().map(|p| PhotoBody {
                url: p.url.clone(),
                width: p.width,
                height: p.height,
            }),
            message_button: reply.link.as_ref().map(|l| MessageButtonBody {
                label: l.label.clone(),
                url: l.url.clone(),
            }),
        },
        keyboard: Some(keyboard(&reply.keyboard)),
    }
}

/// Cuts `text` to [`MAX_TEXT_CHARS`] characters, not counting newlines, ending with
/// `…` when anything was cut.
pub fn fit_text(text: &str) -> String {
    if counted_chars(text) <= MAX_TEXT_CHARS {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len().min(4 * MAX_TEXT_CHARS));
    let mut counted = 0;
    for c in text.chars() {
        if c != '\n' {
            // Keep one place for the ellipsis.
            if counted == MAX_TEXT_CHARS - 1 {
                break;
            }
            counted += 1;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// Characters as Kakao counts them: newlines are free.
pub fn counted_chars(text: &str) -> usize {
    text.chars().filter(|&c| c != '\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_text_is_kept_as_is() {
        assert_eq!(fit_text("안녕\n하세요"), "안녕\n하세요");
    }

    #[test]
    fn newlines_do_not_count_toward_the_limit() {
        let text = "가\n".repeat(MAX_TEXT_CHARS);
        assert_eq!(fit_text(&text), text);
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary_with_an_ellipsis() {
        let cut = fit_text(&"한".repeat(1500));
        assert_eq!(counted_chars(&cut), MAX_TEXT_CHARS);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn an_empty_button_list_renders_as_a_text_keyboard() {
        let body = keyboard(&Keyboard::Buttons(vec![]));
        assert_eq!(body.kind, KeyboardType::Text);
        assert_eq!(body.buttons, None);
    }

    #[test]
    fn unknown_message_types_are_media_not_errors() {
        let req = MessageRequest {
            user_key: super::UserKeyField(crate::user::UserKey::parse("k").unwrap()),
            kind: "sticker".into(),
            content: "x".into(),
        };
        assert_eq!(req.input(), Input::Media(MediaKind::Other));
    }

    proptest! {
        #[test]
        fn no_reply_ever_renders_over_kakaos_limits(
            text in ".{0,3000}",
            newlines in 0usize..50,
            buttons in proptest::collection::vec(".{0,20}", 0..300),
        ) {
            let text = format!("{text}{}", "\n".repeat(newlines));
            let rendered = message(&Reply::new(text, Keyboard::buttons(buttons)));
            let shown = rendered.message.text.expect("text is always present");
            prop_assert!(!shown.is_empty());
            prop_assert!(counted_chars(&shown) <= MAX_TEXT_CHARS);
            let kb = rendered.keyboard.expect("keyboard is always present");
            match kb.kind {
                KeyboardType::Buttons => {
                    let n = kb.buttons.as_ref().map_or(0, Vec::len);
                    prop_assert!((1..=MAX_BUTTONS).contains(&n));
                }
                KeyboardType::Text => prop_assert!(kb.buttons.is_none()),
            }
        }
    }
}
