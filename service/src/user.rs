//! The Kakao `user_key`: validated once at the edge, redacted whenever it is shown.

use std::fmt;

/// Longest `user_key` accepted. Kakao's are 12 characters and Open Builder's user ids
/// are at most 70; anything far beyond that is not from Kakao.
pub const MAX_USER_KEY_LEN: usize = 128;

/// An opaque, stable per-user and per-bot identifier chosen by Kakao.
///
/// `Display` and `Debug` show only a short prefix, so a key can be put in a log line
/// without exposing the whole identifier.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserKey(String);

/// Why a `user_key` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserKeyError {
    #[error("user_key is empty")]
    Empty,
    #[error("user_key is longer than {MAX_USER_KEY_LEN} bytes")]
    TooLong,
    #[error("user_key may not contain whitespace, control characters, ':' or '/'")]
    BadCharacter,
}

impl UserKey {
    /// Validates a raw key. `:` is refused because it separates Redis key segments,
    /// `/` because the key also travels in URL paths.
    pub fn parse(raw: &str) -> Result<Self, UserKeyError> {
        if raw.is_empty() {
            return Err(UserKeyError::Empty);
        }
        if raw.len() > MAX_USER_KEY_LEN {
            return Err(UserKeyError::TooLong);
        }
        if raw
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':' || c == '/')
        {
            return Err(UserKeyError::BadCharacter);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The full key, for storage only.
    pub fn as_str(&self) -> &str {
        &self.0
    }
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
    }

    #[test]
    fn display_never_shows_the_whole_key() {
        let key = UserKey::parse("abcdefghijkl").unwrap();
        assert_eq!(key.to_string(), "abcd…");
        assert!(!format!("{key:?}").contains("efgh"));
    }
}
