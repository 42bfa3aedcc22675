//! Kakao i Open Builder skills (`../shared/kakao/OPENBUILDER.md`): the SkillPayload
//! Kakao POSTs when a block calls the skill, and the SkillResponse "2.0" it expects back.
//!
//! Requests are read leniently, as real payloads vary (§2.2–2.7): `lang` may be `ko`,
//! `kr` or null; `clientExtra` an object, null or the string `"null"`; user properties
//! come in camelCase and snake_case; utterances may end in a newline; unknown keys are
//! ignored. Only `userRequest.user.id` is required.
//!
//! Responses hold Kakao's limits by construction ([`render`]): 1–3 outputs, at most 10
//! quick replies with labels of at most 14 characters, simpleText of at most 1000
//! characters, a listCard of at most 5 items (4 in a carousel), a carousel of at most 10
//! cards, and a body of at most 30,000 bytes. Every button a bot offers stays one tap
//! away: items that do not fit as quick replies become list cards, in a carousel when
//! there are more than 5.

use std::borrow::Cow;
use std::collections::HashMap;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{Example, ParseError, ParseFromJSON, ParseResult, ToJSON};
use poem_openapi::{Enum, Object};
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    cut, cut_owned, fits, scalar_type, JsonString, Schema, StringIfAny, Text, UserKeyField,
};
use crate::bots::{Button, Input, Keyboard, Reply, Tap};
use crate::user::UserKey;

/// The only response version Kakao supports.
pub const VERSION: &str = "2.0";
/// Longest simpleText.
pub const MAX_TEXT_CHARS: usize = 1000;
/// Most components in `template.outputs`.
pub const MAX_OUTPUTS: usize = 3;
/// Most quick replies.
pub const MAX_QUICK_REPLIES: usize = 10;
/// Longest quick-reply or button label. Kakao states 14 for buttons (8 when two sit side
/// by side, which kakaobot never does) and no limit for quick replies; 14 is our rule for both.
pub const MAX_LABEL_CHARS: usize = 14;
/// Most items in a listCard shown on its own.
pub const MAX_LIST_ITEMS: usize = 5;
/// Most items in a listCard inside a carousel.
pub const MAX_CAROUSEL_LIST_ITEMS: usize = 4;
/// Most cards in a carousel of listCards.
pub const MAX_CAROUSEL_LIST_CARDS: usize = 5;
/// Longest list item title we send (Kakao states none; a title this long already wraps).
pub const MAX_ITEM_TITLE_CHARS: usize = 50;
/// Longest text a tap sends back as the user's utterance.
pub const MAX_MESSAGE_TEXT_CHARS: usize = 100;
/// Largest body Kakao delivers: "30KB 이하로" (keep it at or under 30 KB).
pub const MAX_BODY_BYTES: usize = 30_000;
/// Longest textCard description on its own.
const MAX_TEXT_CARD_CHARS: usize = 400;
/// Longest image alt text.
const MAX_ALT_TEXT_CHARS: usize = 50;

/// The key of `extra` (and so of the next request's `action.clientExtra`) that says which
/// kakaobot item a button is; other keys are left to the operator's own blocks.
const EXTRA_KIND: &str = "kakaobot";

// --- request --------------------------------------------------------------------------

/// A skill call as it is read: the fields kakaobot uses, borrowed from the body. The
/// rest of a SkillPayload (`intent`, `bot`, `contexts`, `flow`, `action.params`, …) is
/// skipped while parsing, never stored. Only `userRequest.user.id` is required.
///
/// The fields the document types as strings but kakaobot does not use (the `_`
/// fields below) are read as borrowed text all the same, so that a request the
/// document calls invalid (`"action": {"name": {}}`) is refused as the document says.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillRequest<'a> {
    #[serde(borrow, deserialize_with = "object")]
    user_request: UserRequest<'a>,
    #[serde(default, borrow, deserialize_with = "optional_object")]
    action: Option<Action<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserRequest<'a> {
    #[serde(default, borrow)]
    utterance: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "object")]
    user: User<'a>,
    #[serde(default, borrow)]
    callback_url: Option<Text<'a>>,
    #[serde(default, borrow, rename = "lang")]
    _lang: Option<Text<'a>>,
    #[serde(default, borrow, rename = "timezone")]
    _timezone: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct User<'a> {
    id: UserKeyField,
    #[serde(default, borrow, deserialize_with = "optional_object")]
    properties: Option<Properties<'a>>,
    #[serde(default, borrow, rename = "type")]
    _kind: Option<Text<'a>>,
}

/// The user properties that name the smart-chat user, in both spellings Kakao used.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Properties<'a> {
    #[serde(borrow, rename = "plusfriendUserKey")]
    camel: StringIfAny<'a>,
    #[serde(borrow, rename = "plusfriend_user_key")]
    snake: StringIfAny<'a>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Action<'a> {
    #[serde(default)]
    client_extra: ClientExtra,
    #[serde(default, borrow, rename = "id")]
    _id: Option<Text<'a>>,
    #[serde(default, borrow, rename = "name")]
    _name: Option<Text<'a>>,
}

/// A struct read only from a JSON object: serde's derived structs would also take an
/// array, filling the fields in order, where the document says object.
fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Object<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<T, M::Error> {
            T::deserialize(MapAccessDeserializer::new(map))
        }
    }
    deserializer.deserialize_map(Object(std::marker::PhantomData))
}

/// [`object`], or null.
fn optional_object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Nullable<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Nullable<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object or null")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
            object(d).map(Some)
        }
    }
    deserializer.deserialize_option(Nullable(std::marker::PhantomData))
}

impl SkillRequest<'_> {
    /// The user this request acts for: the smart-chat `user_key` when Kakao sends it
    /// (`plusfriendUserKey`, either spelling), so one person is one user on both wire
    /// formats; otherwise `user.id` (checked when the request was read, since it is
    /// the one field every skill request has).
    pub fn user(&self) -> UserKey {
        let user = &self.user_request.user;
        let alias = user.properties.as_ref().and_then(|props| {
            [&props.camel, &props.snake]
                .into_iter()
                .find_map(|key| key.0.as_deref())
                .and_then(|raw| UserKey::parse(raw).ok())
        });
        alias.unwrap_or_else(|| user.id.0.clone())
    }

    /// What the bot sees: the utterance, and what the tapped item meant when its
    /// `extra` came back as `clientExtra`.
    pub fn input(&self) -> Input {
        let text = self
            .user_request
            .utterance
            .as_ref()
            .map_or("", |t| &t.0)
            .trim_end_matches(['\n', '\r'])
            .to_owned();
        let tap = self.action.as_ref().and_then(|a| a.client_extra.0.clone());
        match tap {
            Some(tap) => Input::Tapped { text, tap },
            None => Input::Text(text),
        }
    }

    /// The callback URL, when the block has callback on.
    pub fn callback_url(&self) -> Option<&str> {
        self.user_request
            .callback_url
            .as_ref()
            .map(|u| &*u.0)
            .filter(|u| !u.is_empty())
    }
}

// The SkillPayload as the document shows it (and its example); requests are read as
// [`SkillRequest`], which keeps only what kakaobot uses.
/// A skill call: what Kakao POSTs when a block linked to the skill answers a user.
/// Fields kakaobot does not read (`intent`, `bot`, `contexts`, `flow`, …) are accepted
/// as they come.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SkillPayload", rename_all = "camelCase", example)]
pub struct SkillPayload {
    /// Who said what, and where to call back.
    pub user_request: PayloadUserRequest,
    /// The skill's action; `clientExtra` carries the tapped button's `extra`.
    #[oai(nullable)]
    pub action: Option<PayloadAction>,
    /// The block that matched (`{id, name, extra}`); not read.
    #[oai(nullable)]
    pub intent: Option<Value>,
    /// The bot (`{id, name}`); not read.
    #[oai(nullable)]
    pub bot: Option<Value>,
    /// Open Builder contexts; kakaobot keeps its own state and does not read them.
    #[oai(nullable)]
    pub contexts: Option<Value>,
}

/// `userRequest`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SkillUserRequest", rename_all = "camelCase")]
pub struct PayloadUserRequest {
    /// What the user said, or the text of the button they tapped. A trailing newline,
    /// seen in real payloads, is ignored.
    #[oai(nullable)]
    pub utterance: Option<JsonString>,
    /// The user.
    pub user: PayloadUser,
    /// Present only for an approved "AI chatbot" block with callback on: a one-time
    /// URL, valid for a minute, to POST the real answer to.
    #[oai(nullable)]
    pub callback_url: Option<JsonString>,
    /// `ko`, `kr` or null, depending on the era of the payload; not read.
    #[oai(nullable)]
    pub lang: Option<JsonString>,
    /// `Asia/Seoul` for users in Korea; not read.
    #[oai(nullable)]
    pub timezone: Option<JsonString>,
    /// `{"surface": "Kakaotalk.plusfriend"}` for channel traffic; not read.
    #[oai(nullable)]
    pub params: Option<Value>,
    /// The block that answered (`{id, name}`); not read.
    #[oai(nullable)]
    pub block: Option<Value>,
}

/// `userRequest.user`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SkillUser")]
pub struct PayloadUser {
    /// The user's botUserKey: up to 70 characters (Kakao's are lowercase hex), stable
    /// per user and bot. Required; printable ASCII without spaces or any of `" # % / : ?`.
    pub id: UserKeyField,
    /// `botUserKey` today; other values are accepted.
    #[oai(rename = "type")]
    #[oai(nullable)]
    pub kind: Option<JsonString>,
    /// `plusfriendUserKey` (or `plusfriend_user_key`) is the `user_key` the smart-chat
    /// API sent for the same person: when present, the request acts for that user, so
    /// scores and groups carry over. Other properties are not read.
    #[oai(nullable)]
    pub properties: Option<HashMap<String, Value>>,
}

/// `action`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SkillAction", rename_all = "camelCase")]
pub struct PayloadAction {
    /// The skill's id; not read.
    #[oai(nullable)]
    pub id: Option<JsonString>,
    /// The skill's name; not read.
    #[oai(nullable)]
    pub name: Option<JsonString>,
    /// Parameters extracted by the block; not read.
    #[oai(nullable)]
    pub params: Option<Value>,
    /// Parameters with their origin text; not read.
    #[oai(nullable)]
    pub detail_params: Option<Value>,
    /// The `extra` of the tapped quick reply or list item: an object, null, or the
    /// string `"null"` (older payloads).
    #[oai(nullable)]
    pub client_extra: Option<Value>,
}

impl Schema for SkillPayload {
    type Wire<'a> = SkillRequest<'a>;
}

impl Example for SkillPayload {
    /// A quiz answer tapped on a quick reply, as Kakao sends it (OPENBUILDER.md §2).
    fn example() -> Self {
        Self {
            user_request: PayloadUserRequest {
                utterance: Some("JSON".into()),
                user: PayloadUser {
                    id: UserKeyField(
                        UserKey::parse(
                            "b1f5c3e9a0d24f6e8c7b5a3d1e9f0c2b4a6d8e0f1a3c5e7b9d1f3a5c7e9b1d3f5a",
                        )
                        .expect("a valid key"),
                    ),
                    kind: Some("botUserKey".into()),
                    properties: Some(HashMap::from([(
                        "plusfriendUserKey".to_owned(),
                        json!("Wb8QkM2xRt1a"),
                    )])),
                },
                callback_url: None,
                lang: Some("ko".into()),
                timezone: Some("Asia/Seoul".into()),
                params: Some(json!({"surface": "Kakaotalk.plusfriend"})),
                block: Some(json!({"id": "5f1b2c3d4e5f6a7b8c9d0e1f", "name": "폴백 블록"})),
            },
            action: Some(PayloadAction {
                id: Some("5f1b2c3d4e5f6a7b8c9d0e20".into()),
                name: Some("kakaobot quiz".into()),
                params: Some(json!({})),
                detail_params: Some(json!({})),
                client_extra: extra_for(&Tap::Answer {
                    question: "web-not-markup".to_owned(),
                    choice: "JSON".to_owned(),
                })
                .to_json(),
            }),
            intent: Some(json!({
                "id": "5f1b2c3d4e5f6a7b8c9d0e1f",
                "name": "폴백 블록",
                "extra": {"reason": {"code": 1, "message": "OK"}}
            })),
            bot: Some(json!({"id": "5ae9b76d7409b11ec845b746!", "name": "kakaobot"})),
            contexts: Some(json!([])),
        }
    }
}

/// The fields of a `clientExtra` that say which kakaobot item was tapped; any other
/// key is skipped.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ExtraFields<'a> {
    #[serde(borrow, rename = "kakaobot")]
    kind: StringIfAny<'a>,
    #[serde(borrow)]
    question: StringIfAny<'a>,
    #[serde(borrow)]
    choice: StringIfAny<'a>,
    #[serde(borrow)]
    restaurant: StringIfAny<'a>,
}

/// `clientExtra` → the tap it describes. Anything else (null, the string `"null"`, an
/// operator's own extra, an item this version does not know) is no tap: the utterance
/// decides, exactly as if the user had typed it.
#[derive(Debug, Default)]
struct ClientExtra(Option<Tap>);

impl<'de> Deserialize<'de> for ClientExtra {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ClientExtraVisitor)
    }
}

struct ClientExtraVisitor;

impl<'de> Visitor<'de> for ClientExtraVisitor {
    type Value = ClientExtra;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ClientExtra, A::Error> {
        let fields = ExtraFields::deserialize(MapAccessDeserializer::new(map))?;
        Ok(ClientExtra(fields.tap()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ClientExtra, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ClientExtra(None))
    }

    fn visit_bool<E>(self, _: bool) -> Result<ClientExtra, E> {
        Ok(ClientExtra(None))
    }

    fn visit_i64<E>(self, _: i64) -> Result<ClientExtra, E> {
        Ok(ClientExtra(None))
    }

    fn visit_u64<E>(self, _: u64) -> Result<ClientExtra, E> {
        Ok(ClientExtra(None))
    }

    fn visit_f64<E>(self, _: f64) -> Result<ClientExtra, E> {
        Ok(ClientExtra(None))
    }

    fn visit_str<E>(self, _: &str) -> Result<ClientExtra, E> {
        Ok(ClientExtra(None))
    }

    fn visit_unit<E>(self) -> Result<ClientExtra, E> {
        Ok(ClientExtra(None))
    }
}

impl ExtraFields<'_> {
    fn tap(self) -> Option<Tap> {
        let field = |f: StringIfAny| f.0.map(Cow::into_owned);
        match self.kind.0.as_deref()? {
            "answer" => Some(Tap::Answer {
                question: field(self.question)?,
                choice: field(self.choice)?,
            }),
            "vote" => Some(Tap::Vote {
                restaurant: field(self.restaurant)?,
            }),
            "remove" => Some(Tap::Remove {
                restaurant: field(self.restaurant)?,
            }),
            _ => None,
        }
    }
}

/// The `extra` a button carries: which kakaobot item it is, as a JSON object that
/// comes back as the next request's `clientExtra` (`{"kakaobot": "vote", "restaurant": …}`).
/// Written straight from the tap; documented as any JSON value, since the keys are
/// kakaobot's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extra(pub Tap);

scalar_type!(
    Extra,
    "any",
    MetaSchemaRef::Inline(Box::new(MetaSchema::ANY))
);

impl Serialize for Extra {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The same JSON object as a map with these keys, written as a struct: its keys
        // are fixed strings, as a struct's field names are.
        let len = match &self.0 {
            Tap::Answer { .. } => 3,
            Tap::Vote { .. } | Tap::Remove { .. } => 2,
        };
        let mut object = serializer.serialize_struct("Extra", len)?;
        match &self.0 {
            Tap::Answer { question, choice } => {
                object.serialize_field(EXTRA_KIND, "answer")?;
                object.serialize_field("question", question)?;
                object.serialize_field("choice", choice)?;
            }
            Tap::Vote { restaurant } => {
                object.serialize_field(EXTRA_KIND, "vote")?;
                object.serialize_field("restaurant", restaurant)?;
            }
            Tap::Remove { restaurant } => {
                object.serialize_field(EXTRA_KIND, "remove")?;
                object.serialize_field("restaurant", restaurant)?;
            }
        }
        object.end()
    }
}

impl ParseFromJSON for Extra {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        let value = value.unwrap_or_default();
        match ClientExtra::deserialize(&value) {
            Ok(ClientExtra(Some(tap))) => Ok(Self(tap)),
            _ => Err(ParseError::expected_type(value)),
        }
    }
}

impl ToJSON for Extra {
    fn to_json(&self) -> Option<Value> {
        serde_json::to_value(self).ok()
    }
}

/// The tap → the `extra` its button carries.
fn extra_for(tap: &Tap) -> Extra {
    Extra(tap.clone())
}

// --- response -------------------------------------------------------------------------

/// The answer to a skill call.
#[derive(Debug, Clone, PartialEq, Object, Serialize)]
#[oai(rename = "SkillResponse", rename_all = "camelCase", example)]
#[serde(rename_all = "camelCase")]
pub struct SkillResponse {
    /// Always `2.0`.
    pub version: String,
    /// What the user sees. Absent in a callback acknowledgement.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<SkillTemplate>,
    /// `true` in a callback acknowledgement: the real answer follows on the callback URL.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_callback: Option<bool>,
    /// With `useCallback`: `{"text": …}` fills the block's waiting message.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<CallbackData>,
}

/// `data` of a callback acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "SkillCallbackData")]
pub struct CallbackData {
    /// The waiting message shown until the real answer arrives.
    pub text: String,
}

/// `template`: 1 to 3 outputs and at most 10 quick replies.
#[derive(Debug, Clone, PartialEq, Object, Serialize)]
#[oai(rename = "SkillTemplate", rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct SkillTemplate {
    /// The speech bubbles, in order (1 to 3).
    pub outputs: Vec<Component>,
    /// Buttons under the last bubble (at most 10); tapping one sends its `messageText`.
    #[oai(skip_serializing_if_is_empty)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quick_replies: Vec<QuickReply>,
}

/// One output; exactly one field is present.
#[derive(Debug, Clone, PartialEq, Object, Serialize)]
#[oai(rename = "SkillComponent", rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct Component {
    /// Text (at most 1000 characters).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simple_text: Option<SimpleText>,
    /// An image.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simple_image: Option<SimpleImage>,
    /// A text card with a link button.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_card: Option<TextCard>,
    /// A list of up to 5 tappable items.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_card: Option<ListCard>,
    /// Up to 5 list cards of up to 4 items each, side by side.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carousel: Option<Carousel>,
}

impl Component {
    fn empty() -> Self {
        Self {
            simple_text: None,
            simple_image: None,
            text_card: None,
            list_card: None,
            carousel: None,
        }
    }

    fn text(text: String) -> Self {
        Self {
            simple_text: Some(SimpleText { text }),
            ..Self::empty()
        }
    }
}

/// `simpleText`.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "SkillSimpleText")]
pub struct SimpleText {
    /// At most 1000 characters; past 500 Kakao folds the rest behind "전체 보기".
    pub text: String,
}

/// `simpleImage`.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "SkillSimpleImage", rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct SimpleImage {
    /// The image URL.
    pub image_url: String,
    /// What a screen reader says (at most 50 characters).
    pub alt_text: String,
}

/// `textCard`.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "SkillTextCard")]
pub struct TextCard {
    /// At most 400 characters.
    pub description: String,
    /// One link button.
    pub buttons: Vec<CardButton>,
}

/// A card button that opens a page.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "SkillCardButton", rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct CardButton {
    /// At most 14 characters.
    pub label: String,
    /// Always `webLink`.
    pub action: ButtonAction,
    /// The page to open.
    pub web_link_url: String,
}

/// `listCard`.
#[derive(Debug, Clone, PartialEq, Object, Serialize)]
#[oai(rename = "SkillListCard")]
pub struct ListCard {
    /// The card's title.
    pub header: ListHeader,
    /// The items (at most 5; at most 4 inside a carousel).
    pub items: Vec<ListItem>,
}

/// A listCard's header.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
#[oai(rename = "SkillListHeader")]
pub struct ListHeader {
    /// The card's title.
    pub title: String,
}

/// One tappable line of a listCard: tapping sends `messageText` and hands `extra` to
/// the next skill call as `clientExtra`.
#[derive(Debug, Clone, PartialEq, Object, Serialize)]
#[oai(rename = "SkillListItem", rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct ListItem {
    /// What the item shows.
    pub title: String,
    /// Always `message`.
    pub action: ButtonAction,
    /// The text sent as the user's utterance when tapped.
    pub message_text: String,
    /// What the item means to kakaobot (`{"kakaobot": "vote", "restaurant": …}`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<Extra>,
}

/// `carousel` of listCards.
#[derive(Debug, Clone, PartialEq, Object, Serialize)]
#[oai(rename = "SkillCarousel")]
pub struct Carousel {
    /// Always `listCard`.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: CarouselType,
    /// At most 5 list cards.
    pub items: Vec<ListCard>,
}

/// The card type of a carousel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename = "SkillCarouselType")]
pub enum CarouselType {
    /// List cards.
    #[oai(rename = "listCard")]
    #[serde(rename = "listCard")]
    ListCard,
}

/// What tapping does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize)]
#[oai(rename = "SkillButtonAction")]
pub enum ButtonAction {
    /// Sends `messageText` as if the user typed it. kakaobot uses no `block` action: a
    /// skill server cannot know the operator's block ids.
    #[oai(rename = "message")]
    #[serde(rename = "message")]
    Message,
    /// Opens `webLinkUrl`.
    #[oai(rename = "webLink")]
    #[serde(rename = "webLink")]
    WebLink,
}

/// A quick reply under the last bubble.
#[derive(Debug, Clone, PartialEq, Object, Serialize)]
#[oai(rename = "SkillQuickReply", rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
pub struct QuickReply {
    /// At most 14 characters.
    pub label: String,
    /// Always `message`.
    pub action: ButtonAction,
    /// The text sent as the user's utterance when tapped.
    pub message_text: String,
    /// What the button means to kakaobot, for an item (a quiz choice, a restaurant).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<Extra>,
}

impl Example for SkillResponse {
    /// A quiz question with its choices as quick replies, each carrying its question.
    fn example() -> Self {
        let question = "web-not-markup";
        let choices = ["HTML", "XML", "JSON", "Markdown"];
        render(&Reply::new(
            "[웹 퀴즈] 다음 중 마크업 언어가 아닌 것은?",
            Keyboard::Buttons(
                choices
                    .iter()
                    .map(|choice| {
                        Button::item(
                            *choice,
                            Tap::Answer {
                                question: question.to_owned(),
                                choice: (*choice).to_owned(),
                            },
                        )
                    })
                    .collect(),
            ),
        ))
    }
}

impl SkillResponse {
    /// The immediate answer when the real one will follow on the callback URL.
    pub fn callback_ack(waiting: &str) -> Self {
        Self {
            version: VERSION.to_owned(),
            template: None,
            use_callback: Some(true),
            data: Some(CallbackData {
                text: cut(waiting, MAX_TEXT_CHARS),
            }),
        }
    }
}

/// Renders a bot's reply as a SkillResponse within Kakao's limits.
///
/// The text is a simpleText. Menu buttons become quick replies. Item buttons (a quiz's
/// choices, a group's restaurants) become quick replies too when all of them fit (at
/// most 10 buttons in all, labels of at most 14 characters); otherwise they become a
/// listCard, or a carousel of listCards when there are more than 5, so that every one
/// of them stays a tap away with its full name.
pub fn render(reply: &Reply) -> SkillResponse {
    let mut response = shape(reply.clone());
    // Only the response is wanted here; a failure to write it shows where it is written.
    let _ = fit_body(&mut response);
    response
}

/// [`render`], written as JSON: the body whose size was checked, so that it is sent
/// without being written a second time. It takes the reply, whose strings become the
/// response's where they fit as they are.
pub fn render_json(reply: Reply) -> serde_json::Result<Vec<u8>> {
    fit_body(&mut shape(reply))
}

/// The response [`render`] makes, before its size is checked.
fn shape(reply: Reply) -> SkillResponse {
    let Reply {
        text,
        photo,
        link,
        keyboard,
    } = reply;
    // A button without a label cannot be shown or tapped; bots never make one.
    let buttons: Vec<Button> = match keyboard {
        Keyboard::Text => Vec::new(),
        Keyboard::Buttons(mut buttons) => {
            buttons.retain(|b| !is_blank(&b.label));
            buttons
        }
    };
    let all_fit = buttons.len() <= MAX_QUICK_REPLIES
        && buttons.iter().all(|b| fits(&b.label, MAX_LABEL_CHARS));
    let (items, quick): (Vec<Button>, Vec<Button>) = if all_fit {
        (Vec::new(), buttons)
    } else {
        buttons.into_iter().partition(|b| b.tap.is_some())
    };

    // Cut before the text moves into its bubble.
    let alt_text = photo.as_ref().map(|_| cut(&text, MAX_ALT_TEXT_CHARS));
    let text = if is_blank(&text) {
        // A simpleText needs text; a bot never sends none, but the wire must hold.
        " ".to_owned()
    } else {
        cut_owned(text, MAX_TEXT_CHARS)
    };
    let mut outputs = vec![Component::text(text)];
    if let Some(cards) = item_cards(items) {
        outputs.push(cards);
    }
    // Media comes after what must stay reachable, and only while there is room.
    if let (Some(photo), Some(alt_text)) = (photo, alt_text) {
        outputs.push(Component {
            simple_image: Some(SimpleImage {
                image_url: photo.url,
                alt_text,
            }),
            ..Component::empty()
        });
    }
    if let Some(link) = link {
        outputs.push(Component {
            text_card: Some(TextCard {
                description: cut(&link.label, MAX_TEXT_CARD_CHARS),
                buttons: vec![CardButton {
                    label: cut(&link.label, MAX_LABEL_CHARS),
                    action: ButtonAction::WebLink,
                    web_link_url: link.url,
                }],
            }),
            ..Component::empty()
        });
    }
    outputs.truncate(MAX_OUTPUTS);

    let quick_replies = quick
        .into_iter()
        .take(MAX_QUICK_REPLIES)
        .map(|b| QuickReply {
            message_text: cut(&b.label, MAX_MESSAGE_TEXT_CHARS),
            label: cut_owned(b.label, MAX_LABEL_CHARS),
            action: ButtonAction::Message,
            extra: b.tap.map(Extra),
        })
        .collect();
    SkillResponse {
        version: VERSION.to_owned(),
        template: Some(SkillTemplate {
            outputs,
            quick_replies,
        }),
        use_callback: None,
        data: None,
    }
}

/// Whether `text` is empty or only whitespace. Asked of every label and text an answer
/// shows, this stops at the first visible character, where trimming looks at both ends.
fn is_blank(text: &str) -> bool {
    text.chars().all(char::is_whitespace)
}

/// Items as one listCard (up to 5) or a carousel of listCards (4 each, up to 5 cards).
fn item_cards(items: Vec<Button>) -> Option<Component> {
    if items.is_empty() {
        return None;
    }
    let item = |b: Button| ListItem {
        title: cut(&b.label, MAX_ITEM_TITLE_CHARS),
        message_text: cut_owned(b.label, MAX_MESSAGE_TEXT_CHARS),
        action: ButtonAction::Message,
        extra: b.tap.map(Extra),
    };
    if items.len() <= MAX_LIST_ITEMS {
        return Some(Component {
            list_card: Some(ListCard {
                header: ListHeader {
                    title: "골라 주세요".to_owned(),
                },
                items: items.into_iter().map(item).collect(),
            }),
            ..Component::empty()
        });
    }
    let total = items
        .len()
        .div_ceil(MAX_CAROUSEL_LIST_ITEMS)
        .min(MAX_CAROUSEL_LIST_CARDS);
    let mut items = items.into_iter();
    Some(Component {
        carousel: Some(Carousel {
            kind: CarouselType::ListCard,
            items: (1..=total)
                .map(|page| ListCard {
                    header: ListHeader {
                        title: format!("골라 주세요 ({page}/{total})"),
                    },
                    items: items
                        .by_ref()
                        .take(MAX_CAROUSEL_LIST_ITEMS)
                        .map(item)
                        .collect(),
                })
                .collect(),
        }),
        ..Component::empty()
    })
}

/// Keeps the body within [`MAX_BODY_BYTES`], and returns it. Only input far beyond
/// what the bots send (they are bounded by the question bank's and the lunch list's own
/// limits) needs more than one pass: the last list items go first, then quick
/// replies, then the text shrinks.
fn fit_body(response: &mut SkillResponse) -> serde_json::Result<Vec<u8>> {
    loop {
        let body = crate::json::to_vec(response)?;
        if body.len() <= MAX_BODY_BYTES || !shrink(response) {
            return Ok(body);
        }
    }
}

/// Takes the least needed part off a response that is too large; `false` when
/// nothing is left to take.
fn shrink(response: &mut SkillResponse) -> bool {
    let Some(template) = response.template.as_mut() else {
        return false;
    };
    if let Some(cards) = template.outputs.iter_mut().find_map(|o| {
        o.carousel
            .as_mut()
            .map(|c| &mut c.items)
            .filter(|cards| cards.len() > 1)
    }) {
        cards.pop();
    } else if let Some(list) = template
        .outputs
        .iter_mut()
        .find_map(|o| o.list_card.as_mut().filter(|l| l.items.len() > 1))
    {
        list.items.pop();
    } else if template.quick_replies.pop().is_some() {
    } else if template.outputs.len() > 1 {
        template.outputs.pop();
    } else if let Some(text) = template.outputs[0].simple_text.as_mut() {
        let half = text.text.chars().count() / 2;
        if half == 0 {
            return false;
        }
        text.text = cut(&text.text, half);
    } else {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads `value` as a request body is read. The body is leaked so that the
    /// request may borrow from it for the rest of the test.
    fn read(value: Value) -> serde_json::Result<SkillRequest<'static>> {
        serde_json::from_str(Box::leak(value.to_string().into_boxed_str()))
    }

    fn parse(value: Value) -> SkillRequest<'static> {
        read(value).expect("a valid skill payload")
    }

    fn payload(user: Value, utterance: &str, client_extra: Value) -> Value {
        json!({
            "userRequest": {"utterance": utterance, "user": user, "lang": "ko"},
            "action": {"clientExtra": client_extra},
        })
    }

    #[test]
    fn the_plusfriend_user_key_is_the_user_in_either_spelling() {
        for name in ["plusfriendUserKey", "plusfriend_user_key"] {
            let req = parse(payload(
                json!({"id": "a".repeat(66), "type": "botUserKey", "properties": {name: "OLDKEY123456"}}),
                "hi",
                Value::Null,
            ));
            assert_eq!(req.user().as_str(), "OLDKEY123456", "{name}");
        }
    }

    #[test]
    fn without_a_plusfriend_key_the_bot_user_key_is_the_user() {
        let id = "f".repeat(70);
        let req = parse(payload(
            json!({"id": id, "type": "appUserId", "properties": {"isFriend": true}}),
            "hi",
            Value::Null,
        ));
        assert_eq!(req.user().as_str(), id);
    }

    #[test]
    fn an_empty_or_odd_user_id_is_refused_when_read() {
        for id in ["", "a b", "a:b", "사용자", &"a".repeat(129)] {
            let read = read(payload(json!({ "id": id }), "hi", Value::Null));
            assert!(read.is_err(), "{id:?}");
        }
    }

    #[test]
    fn client_extra_null_or_the_string_null_or_foreign_is_no_tap() {
        for extra in [
            Value::Null,
            json!("null"),
            json!({}),
            json!({"menu": 3}),
            json!({"kakaobot": "launch"}),
        ] {
            let req = parse(payload(json!({"id": "u"}), "김밥\n", extra.clone()));
            assert_eq!(req.input(), Input::Text("김밥".into()), "{extra}");
        }
    }

    #[test]
    fn a_tapped_item_comes_back_as_its_tap() {
        for tap in [
            Tap::Answer {
                question: "web-2".into(),
                choice: "JSON".into(),
            },
            Tap::Vote {
                restaurant: "김밥천국".into(),
            },
            Tap::Remove {
                restaurant: "김밥천국".into(),
            },
        ] {
            let extra = serde_json::to_value(extra_for(&tap)).unwrap();
            let req = parse(payload(json!({"id": "u"}), "x", extra));
            assert_eq!(
                req.input(),
                Input::Tapped {
                    text: "x".into(),
                    tap
                }
            );
        }
    }

    #[test]
    fn the_documented_example_parses_and_acts_for_its_plusfriend_user() {
        let example = SkillPayload::example().to_json().unwrap();
        let req = parse(example);
        assert_eq!(req.user().as_str(), "Wb8QkM2xRt1a");
        assert!(matches!(req.input(), Input::Tapped { .. }));
    }

    fn button(label: &str, item: bool) -> Button {
        if item {
            Button::item(
                label,
                Tap::Vote {
                    restaurant: label.into(),
                },
            )
        } else {
            Button::menu(label)
        }
    }

    #[test]
    fn short_buttons_become_quick_replies_carrying_their_extra() {
        let reply = Reply::new(
            "어디로 갈까요?",
            Keyboard::Buttons(vec![button("김밥", true), button("처음으로", false)]),
        );
        let template = render(&reply).template.unwrap();
        assert_eq!(template.outputs.len(), 1);
        let labels: Vec<&str> = template
            .quick_replies
            .iter()
            .map(|q| q.label.as_str())
            .collect();
        assert_eq!(labels, ["김밥", "처음으로"]);
        assert!(template.quick_replies[0].extra.is_some());
        assert!(template.quick_replies[1].extra.is_none());
    }

    #[test]
    fn long_choices_become_a_list_card_with_their_full_text() {
        let long = "HTML (HyperText Markup Language)";
        let reply = Reply::new(
            "고르세요",
            Keyboard::Buttons(vec![button(long, true), button("짧은", true)]),
        );
        let template = render(&reply).template.unwrap();
        let list = template.outputs[1].list_card.as_ref().unwrap();
        assert_eq!(list.items[0].title, long);
        assert_eq!(list.items[0].message_text, long);
        assert!(template.quick_replies.is_empty());
    }

    #[test]
    fn twenty_restaurants_are_a_carousel_of_five_lists_and_all_tappable() {
        let mut buttons: Vec<Button> = (1..=20)
            .map(|i| button(&format!("{i:02}번째 아주 긴 식당 이름입니다"), true))
            .collect();
        buttons.push(button("처음으로", false));
        let template = render(&Reply::new("골라요", Keyboard::Buttons(buttons)))
            .template
            .unwrap();
        let carousel = template.outputs[1].carousel.as_ref().unwrap();
        assert_eq!(carousel.items.len(), 5);
        let titles: Vec<&str> = carousel
            .items
            .iter()
            .flat_map(|c| c.items.iter().map(|i| i.title.as_str()))
            .collect();
        assert_eq!(titles.len(), 20);
        assert_eq!(template.quick_replies.len(), 1);
        assert_eq!(template.quick_replies[0].label, "처음으로");
    }

    /// Every limit of OPENBUILDER.md §3 that a rendered reply could break.
    fn assert_within_limits(response: &SkillResponse) -> Result<(), TestCaseError> {
        prop_assert_eq!(&response.version, VERSION);
        let body = serde_json::to_string(response).expect("a response serializes");
        prop_assert!(body.len() <= MAX_BODY_BYTES);
        // What is sent is what the document describes.
        prop_assert_eq!(
            serde_json::from_str::<Value>(&body).ok(),
            response.to_json()
        );
        let template = response.template.as_ref().expect("a template");
        prop_assert!((1..=MAX_OUTPUTS).contains(&template.outputs.len()));
        prop_assert!(template.quick_replies.len() <= MAX_QUICK_REPLIES);
        for q in &template.quick_replies {
            prop_assert!((1..=MAX_LABEL_CHARS).contains(&q.label.chars().count()));
            prop_assert!(!q.message_text.is_empty());
        }
        for output in &template.outputs {
            let json = output.to_json().unwrap();
            prop_assert_eq!(json.as_object().unwrap().len(), 1, "one kind per output");
            if let Some(t) = &output.simple_text {
                prop_assert!(!t.text.is_empty());
                prop_assert!(t.text.chars().count() <= MAX_TEXT_CHARS);
            }
            if let Some(list) = &output.list_card {
                prop_assert!((1..=MAX_LIST_ITEMS).contains(&list.items.len()));
            }
            if let Some(carousel) = &output.carousel {
                prop_assert!((1..=MAX_CAROUSEL_LIST_CARDS).contains(&carousel.items.len()));
                for list in &carousel.items {
                    prop_assert!((1..=MAX_CAROUSEL_LIST_ITEMS).contains(&list.items.len()));
                }
            }
            if let Some(card) = &output.text_card {
                prop_assert!(card.description.chars().count() <= MAX_TEXT_CARD_CHARS);
                prop_assert!(card.buttons.len() <= 1);
                for b in &card.buttons {
                    prop_assert!(b.label.chars().count() <= MAX_LABEL_CHARS);
                }
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn no_reply_ever_renders_over_kakaos_skill_limits(
            text in ".{0,1500}",
            buttons in proptest::collection::vec((".{0,60}", any::<bool>()), 0..60),
            photo in proptest::option::of(".{1,40}"),
            link in proptest::option::of(".{1,500}"),
        ) {
            let mut reply = Reply::new(
                text,
                Keyboard::Buttons(buttons.iter().map(|(l, item)| button(l, *item)).collect()),
            );
            reply.photo = photo.map(|url| crate::bots::Photo { url, width: 720, height: 630 });
            reply.link = link.map(|label| crate::bots::Link { label, url: "https://example.com".into() });
            assert_within_limits(&render(&reply))?;
        }

        #[test]
        fn the_body_sent_is_the_rendered_response_written(
            text in ".{0,1500}",
            buttons in proptest::collection::vec((".{0,60}", any::<bool>()), 0..60),
        ) {
            let reply = Reply::new(
                text,
                Keyboard::Buttons(buttons.iter().map(|(l, item)| button(l, *item)).collect()),
            );
            let body = render_json(reply.clone()).expect("a response serializes");
            prop_assert_eq!(body, serde_json::to_vec(&render(&reply)).unwrap());
        }

        #[test]
        fn every_item_a_bot_can_offer_stays_one_tap_away(
            labels in proptest::collection::hash_set("[가-힣a-z][가-힣a-z ]{0,19}", 1..=20),
        ) {
            // A lunch group's worst case: 20 restaurants of up to 20 characters, plus
            // the way back.
            let mut buttons: Vec<Button> = labels.iter().map(|l| button(l, true)).collect();
            buttons.push(button("처음으로", false));
            let response = render(&Reply::new("골라요", Keyboard::Buttons(buttons.clone())));
            assert_within_limits(&response)?;
            let json = serde_json::to_string(&response).unwrap();
            for b in &buttons {
                let extra = b.tap.as_ref().map(|t| serde_json::to_string(&extra_for(t)).unwrap());
                let reachable = match extra {
                    Some(extra) => json.contains(&extra),
                    None => json.contains(&format!("\"messageText\":{}", Value::from(b.label.clone()))),
                };
                prop_assert!(reachable, "{} is not tappable", b.label);
            }
        }
    }
}
