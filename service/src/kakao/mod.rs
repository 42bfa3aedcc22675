//! The wire formats Kakao speaks, each with the renderer that turns a bot's
//! [`Reply`](crate::bots::Reply) into it within Kakao's limits:
//!
//! - [`skill`]: Kakao i Open Builder skills (SkillPayload in, SkillResponse 2.0 out),
//!   how every Kakao channel reaches a bot today;
//! - [`smartchat`]: the 2018 smart-chat API of the tutorials, retired by Kakao on
//!   2019-12-31 and kept for the tutorials' readers and old integrations.
//!
//! A wire format knows the bots' plain Rust types and JSON; it knows nothing of storage.

pub mod skill;
pub mod smartchat;

use std::borrow::Cow;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};

use crate::user::{UserKey, MAX_USER_KEY_LEN, USER_KEY_PATTERN};

/// A request field that must be a JSON string. poem-openapi's `String` also accepts a
/// number or a boolean (`{"user_key": 42}` would become `"42"`); a request with a
/// wrongly typed field is a 400, so this type takes strings only. Its schema is
/// `string`, exactly as `String`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl Type for JsonString {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

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

impl Type for UserKeyField {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string(user_key)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        schema.pattern = Some(USER_KEY_PATTERN.to_owned());
        schema.min_length = Some(1);
        schema.max_length = Some(MAX_USER_KEY_LEN);
        MetaSchemaRef::Inline(Box::new(schema))
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

/// Cuts `text` to at most `max` characters (Unicode scalar values, as Kakao counts
/// them), ending with `…` when anything was cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    text.chars()
        .take(max.saturating_sub(1))
        .chain(std::iter::once('…'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cut_keeps_short_text_and_marks_a_cut_with_an_ellipsis() {
        assert_eq!(cut("김밥천국", 14), "김밥천국");
        assert_eq!(cut("하이퍼텍스트 마크업 언어", 8), "하이퍼텍스트 …");
        assert_eq!(cut("하이퍼텍스트 마크업 언어", 8).chars().count(), 8);
    }
}
