//! The Kakao `user_key`: validated once at the edge, redacted whenever it is shown;
//! and [`BotName`], the bot a key belongs to (Kakao gives each bot its own keys).

use std::fmt;
use std::str::FromStr;

/// Longest `user_key` accepted. Kakao's are 12 characters and Open Builder's user ids
/// are at most 70; anything far beyond that is not from Kakao.
pub const MAX_USER_KEY_LEN: usize = 128;

/// An opaque, stable per-user and per-bot identifier chosen by Kakao.
///
/// `Display` and `Debug` show only a short prefix, so a key can be put in a log line
/// without exposing the whole identifier.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserKey(String);

/// The characters a key may hold, as the OpenAPI document states it (ECMA-262
/// syntax): printable ASCII except `:` (it separates Redis key segments) and the
/// characters that mean something in a URL path (`/`, `%`, `?`, `#`) or need quoting
/// (`"`). Kakao's keys are `[A-Za-z0-9_-]` (smart-chat) and lowercase hex (Open Builder).
pub const USER_KEY_PATTERN: &str = "^[!$&-.0-9;->@-~]+$";

/// Why a `user_key` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserKeyError {
    #[error("user_key is empty")]
    Empty,
    #[error("user_key is longer than {MAX_USER_KEY_LEN} characters")]
    TooLong,
    #[error("user_key may hold printable ASCII only, without spaces or any of \" # % / : ?")]
    BadCharacter,
}

impl UserKey {
    /// Validates a raw key against [`USER_KEY_PATTERN`] and [`MAX_USER_KEY_LEN`]. `:`
    /// is refused because it separates Redis key segments, `/` because the key also
    /// travels in URL paths.
    pub fn parse(raw: &str) -> Result<Self, UserKeyError> {
        if raw.is_empty() {
            return Err(UserKeyError::Empty);
        }
        if !raw.bytes().all(is_key_byte) {
            return Err(UserKeyError::BadCharacter);
        }
        // ASCII only, so bytes and characters count alike.
        if raw.len() > MAX_USER_KEY_LEN {
            return Err(UserKeyError::TooLong);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The full key, for storage only.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// [`USER_KEY_PATTERN`]'s class: printable ASCII (`!` to `~`) except `" # % / : ?`.
fn is_key_byte(b: u8) -> bool {
    (b'!'..=b'~').contains(&b) && !b"\"#%/:?".contains(&b)
}

impl fmt::Display for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix: String = self.0.chars().take(4).collect();
        write!(f, "{prefix}…")
    }
}

impl fmt::Debug for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserKey({self})")
    }
}

/// The bots kakaobot hosts, as they appear in URLs (`/quiz/message`). Sessions and
/// friends are kept per bot because Kakao's `user_key` is per bot too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BotName {
    Quiz,
    Lunch,
}

impl BotName {
    pub const ALL: [BotName; 2] = [BotName::Quiz, BotName::Lunch];

    pub fn as_str(self) -> &'static str {
        match self {
            BotName::Quiz => "quiz",
            BotName::Lunch => "lunch",
        }
    }
}

impl fmt::Display for BotName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown bot '{0}': the bots are quiz and lunch")]
pub struct UnknownBot(pub String);

impl FromStr for BotName {
    type Err = UnknownBot;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "quiz" => Ok(BotName::Quiz),
            "lunch" => Ok(BotName::Lunch),
            other => Err(UnknownBot(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kakao_style_key_is_accepted() {
        assert_eq!(
            UserKey::parse("HASHED_KEY-1").unwrap().as_str(),
            "HASHED_KEY-1"
        );
    }

    #[test]
    fn empty_long_and_odd_keys_are_refused() {
        assert_eq!(UserKey::parse(""), Err(UserKeyError::Empty));
        assert_eq!(UserKey::parse(&"a".repeat(129)), Err(UserKeyError::TooLong));
        assert_eq!(UserKey::parse("a b"), Err(UserKeyError::BadCharacter));
        assert_eq!(UserKey::parse("a:b"), Err(UserKeyError::BadCharacter));
        for odd in ["a/b", "a%2F", "a?b", "a#b", "a\"b"] {
            assert_eq!(
                UserKey::parse(odd),
                Err(UserKeyError::BadCharacter),
                "{odd}"
            );
        }
        assert_eq!(UserKey::parse("a\u{7f}"), Err(UserKeyError::BadCharacter));
        assert_eq!(UserKey::parse("사용자"), Err(UserKeyError::BadCharacter));
    }

    /// The OpenAPI document states the rule as a pattern; the two must agree on every
    /// byte, or the fuzzer's schema-valid keys would be refused.
    #[test]
    fn the_documented_pattern_is_the_rule_parse_applies() {
        let class = USER_KEY_PATTERN
            .strip_prefix("^[")
            .and_then(|p| p.strip_suffix("]+$"))
            .unwrap();
        let in_class = |b: u8| {
            let c = class.as_bytes();
            let mut i = 0;
            while i < c.len() {
                if i + 2 < c.len() && c[i + 1] == b'-' {
                    if (c[i]..=c[i + 2]).contains(&b) {
                        return true;
                    }
                    i += 3;
                } else {
                    if c[i] == b {
                        return true;
                    }
                    i += 1;
                }
            }
            false
        };
        for b in 0..=255u8 {
            assert_eq!(in_class(b), is_key_byte(b), "byte {b:#04x}");
        }
    }

    #[test]
    fn display_never_shows_the_whole_key() {
        let key = UserKey::parse("abcdefghijkl").unwrap();
        assert_eq!(key.to_string(), "abcd…");
        assert!(!format!("{key:?}").contains("efgh"));
    }
}
