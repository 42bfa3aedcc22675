//! The wire formats Kakao speaks, each with the renderer that turns a bot's
//! [`Reply`](crate::bots::Reply) into it within Kakao's limits:
//!
//! - [`skill`]: Kakao i Open Builder skills (SkillPayload in, SkillResponse 2.0 out),
//!   how every Kakao channel reaches a bot today;
//! - [`smartchat`]: the 2018 smart-chat API of the tutorials, retired by Kakao on
//!   2019-12-31 and kept for the tutorials' readers and old integrations.
//!
//! A wire format knows the bots' plain Rust types and JSON; it knows nothing of storage.
//!
//! Each request and response type is declared once and does two jobs: its
//! poem-openapi derive gives the document its schema, and its serde derive reads or
//! writes the body straight from or into bytes, with no `serde_json::Value` between.
//! The SkillPayload is the one exception: Kakao sends 1.5–3 KB of which kakaobot
//! reads a handful of fields, so it is read as [`skill::SkillRequest`] (those fields,
//! borrowed from the body) and documented as [`skill::SkillPayload`]; [`Schema`] ties
//! the two.

pub mod skill;
pub mod smartchat;

use std::borrow::Cow;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON};
use serde::de::{Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::user::{UserKey, MAX_USER_KEY_LEN, USER_KEY_PATTERN};

/// Implements poem-openapi's [`Type`] for a type that is one JSON value or one path
/// parameter, from its name and its inline schema; the rest is the same for all of them.
macro_rules! scalar_type {
    ($ty:ty, $name:expr, $schema:expr) => {
        impl poem_openapi::types::Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
                $schema
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }
    };
}
pub(crate) use scalar_type;

/// A request body's documented type, and the type it is read as (which may borrow
/// from the body's bytes).
pub trait Schema {
    type Wire<'a>: Deserialize<'a>;
}

/// A request field that must be a JSON string. poem-openapi's `String` also accepts a
/// number or a boolean (`{"user_key": 42}` would become `"42"`); a request with a
/// wrongly typed field is a 400, so this type takes strings only. Its schema is
/// `string`, exactly as `String`'s.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct JsonString(pub String);

impl Deref for JsonString {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for JsonString {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for JsonString {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

scalar_type!(
    JsonString,
    "string",
    MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
);

impl ParseFromJSON for JsonString {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            serde_json::Value::String(s) => Ok(Self(s)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for JsonString {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.clone()))
    }
}

/// A user key as it arrives on the wire (`user_key`, a skill's `user.id`, a path
/// segment): a JSON string that [`UserKey::parse`] accepts. Its schema states that
/// rule ([`USER_KEY_PATTERN`], 1 to [`MAX_USER_KEY_LEN`] characters), and its parse
/// checks it with `UserKey`'s byte test rather than a regular expression, which
/// poem-openapi's `pattern` validator would compile again on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserKeyField(pub UserKey);

scalar_type!(UserKeyField, "string(user_key)", {
    let mut schema = MetaSchema::new("string");
    schema.pattern = Some(USER_KEY_PATTERN.to_owned());
    schema.min_length = Some(1);
    schema.max_length = Some(MAX_USER_KEY_LEN);
    MetaSchemaRef::Inline(Box::new(schema))
});

impl ParseFromJSON for UserKeyField {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            serde_json::Value::String(s) => UserKey::parse(&s)
                .map(Self)
                .map_err(|e| ParseError::custom(e.to_string())),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ParseFromParameter for UserKeyField {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        UserKey::parse(value)
            .map(Self)
            .map_err(|e| ParseError::custom(e.to_string()))
    }
}

impl ToJSON for UserKeyField {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.as_str().to_owned()))
    }
}

impl<'de> Deserialize<'de> for UserKeyField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Text::deserialize(deserializer)?;
        UserKey::parse(&raw.0).map(Self).map_err(D::Error::custom)
    }
}

/// A JSON string read from a body, borrowed from it unless it holds escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_str(TextVisitor { lenient: false })?
            .ok_or_else(|| D::Error::custom("expected a string"))
    }
}

/// A value that counts only if it is a string: anything else (a number, an object,
/// null) is skipped without being stored, and reads as `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StringIfAny<'a>(pub Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for StringIfAny<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(TextVisitor { lenient: true })
            .map(|text| Self(text.map(|t| t.0)))
    }
}

/// Reads a string for [`Text`] (`lenient: false`, where anything else is an error)
/// and [`StringIfAny`] (`lenient: true`, where anything else is `None`).
struct TextVisitor {
    lenient: bool,
}

impl TextVisitor {
    fn other<T, E: serde::de::Error>(&self, found: serde::de::Unexpected) -> Result<Option<T>, E> {
        if self.lenient {
            Ok(None)
        } else {
            Err(E::invalid_type(found, self))
        }
    }
}

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Option<Text<'de>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Text(Cow::Borrowed(v))))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Text(Cow::Owned(v.to_owned()))))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.other(serde::de::Unexpected::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.other(serde::de::Unexpected::Signed(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.other(serde::de::Unexpected::Unsigned(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.other(serde::de::Unexpected::Float(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        self.other(serde::de::Unexpected::Unit)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if !self.lenient {
            return Err(A::Error::invalid_type(serde::de::Unexpected::Seq, &self));
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if !self.lenient {
            return Err(A::Error::invalid_type(serde::de::Unexpected::Map, &self));
        }
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// Whether `text` has at most `max` characters. A character takes at least a byte,
/// so most texts (labels, choices) fit without being counted.
pub fn fits(text: &str, max: usize) -> bool {
    text.len() <= max || text.chars().count() <= max
}

/// Cuts `text` to at most `max` characters (Unicode scalar values, as Kakao counts
/// them), ending with `…` when anything was cut.
pub fn cut(text: &str, max: usize) -> String {
    if fits(text, max) {
        return text.to_owned();
    }
    text.chars()
        .take(max.saturating_sub(1))
        .chain(std::iter::once('…'))
        .collect()
}

/// [`cut`], keeping `text` itself when it fits.
pub fn cut_owned(text: String, max: usize) -> String {
    if fits(&text, max) {
        text
    } else {
        cut(&text, max)
    }
}

#[cfg(test)]
mod tests {
    use super::{cut, fits};

    #[test]
    fn a_text_fits_by_its_characters_not_its_bytes() {
        assert!(fits("", 0));
        assert!(fits("abc", 3));
        assert!(!fits("abcd", 3));
        // Twelve bytes, four characters.
        assert!(fits("김밥천국", 4));
        assert!(!fits("김밥천국", 3));
    }

    #[test]
    fn cut_keeps_short_text_and_marks_a_cut_with_an_ellipsis() {
        assert_eq!(cut("김밥천국", 14), "김밥천국");
        assert_eq!(cut("하이퍼텍스트 마크업 언어", 8), "하이퍼텍스트 …");
        assert_eq!(cut("하이퍼텍스트 마크업 언어", 8).chars().count(), 8);
    }
}
