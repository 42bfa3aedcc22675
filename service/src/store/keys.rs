//! Redis key names: every key the service uses is built here, under one prefix.
//!
//! Layout (`{p}` is the configured prefix):
//!
//! | key | type | lifetime |
//! |---|---|---|
//! | `{p}:{bot}:session:{user}` | string, JSON of the bot's session record | [`SESSION_TTL`](super::SESSION_TTL) |
//! | `{p}:{bot}:friends` | set of user keys | kept |
//! | `{p}:quiz:score:{user}` | hash `correct`, `answered` | kept |
//! | `{p}:quiz:asked:{user}:{category}` | set of question ids | kept |
//! | `{p}:lunch:member:{user}` | string, the user's group code | kept |
//! | `{p}:lunch:group:{code}` | hash `created_at`: the group exists | kept |
//! | `{p}:lunch:group:{code}:restaurants` | list, in the order added | kept |
//! | `{p}:lunch:votes:{code}:{day}` | hash user → restaurant | [`VOTE_TTL`](super::VOTE_TTL) |
//!
//! User keys cannot contain `:` (see [`UserKey::parse`]). Group codes, categories and
//! days are free text, so `%` and `:` in them are percent-encoded: a typed join code
//! such as `abc:restaurants` can never name another group's key.

use std::borrow::Cow;

use super::BotScope;
use crate::user::UserKey;

/// Builds the Redis key names of one deployment, all under `<prefix>:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// Lets several deployments (or test runs) share one Redis without touching each
    /// other's data.
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The prefix every key starts with (followed by `:`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A glob pattern (for `SCAN MATCH`) that matches every key of this prefix.
    pub fn pattern(&self) -> String {
        format!("{}:*", glob_escape(&self.prefix))
    }

    /// `{p}:{bot}:session:{user}`: the bot's conversation context with the user.
    pub fn session(&self, bot: BotScope, user: &UserKey) -> String {
        format!("{}:{}:session:{}", self.prefix, bot.as_str(), user.as_str())
    }

    /// `{p}:{bot}:friends`: the users who have the bot as a friend.
    pub fn friends(&self, bot: BotScope) -> String {
        format!("{}:{}:friends", self.prefix, bot.as_str())
    }

    /// `{p}:quiz:score:{user}`: hash with the fields `correct` and `answered`.
    pub fn quiz_score(&self, user: &UserKey) -> String {
        format!("{}:quiz:score:{}", self.prefix, user.as_str())
    }

    /// `{p}:quiz:asked:{user}:{category}`: ids of the questions already asked.
    pub fn quiz_asked(&self, user: &UserKey, category: &str) -> String {
        format!(
            "{}:quiz:asked:{}:{}",
            self.prefix,
            user.as_str(),
            segment(category)
        )
    }

    /// `{p}:lunch:member:{user}`: the code of the user's group.
    pub fn lunch_member(&self, user: &UserKey) -> String {
        format!("{}:lunch:member:{}", self.prefix, user.as_str())
    }

    /// `{p}:lunch:group:{code}`: exists exactly when the group does.
    pub fn lunch_group(&self, code: &str) -> String {
        format!("{}{}", self.lunch_group_prefix(), segment(code))
    }

    /// `{p}:lunch:group:{code}:restaurants`: the group's list, in the order added.
    pub fn lunch_restaurants(&self, code: &str) -> String {
        format!("{}{}", self.lunch_group(code), RESTAURANTS_SUFFIX)
    }

    /// `{p}:lunch:votes:{code}:{day}`: hash from user key to restaurant.
    pub fn lunch_votes(&self, code: &str, day: &str) -> String {
        format!(
            "{}{}{}",
            self.lunch_votes_prefix(),
            segment(code),
            self.lunch_votes_day_suffix(day)
        )
    }

    /// The pieces around an encoded group code, for the one Lua script that reads a
    /// code from Redis and must name that group's keys itself:
    /// `lunch_restaurants(code) == group_prefix + encode(code) + restaurants_suffix`
    /// and `lunch_votes(code, day) == votes_prefix + encode(code) + votes_day_suffix`.
    pub(crate) fn lunch_script_parts(&self, day: &str) -> LunchScriptParts {
        LunchScriptParts {
            group_prefix: self.lunch_group_prefix(),
            restaurants_suffix: RESTAURANTS_SUFFIX,
            votes_prefix: self.lunch_votes_prefix(),
            votes_day_suffix: self.lunch_votes_day_suffix(day),
        }
    }

    fn lunch_group_prefix(&self) -> String {
        format!("{}:lunch:group:", self.prefix)
    }

    fn lunch_votes_prefix(&self) -> String {
        format!("{}:lunch:votes:", self.prefix)
    }

    fn lunch_votes_day_suffix(&self, day: &str) -> String {
        format!(":{}", segment(day))
    }
}

/// See [`Keys::lunch_script_parts`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LunchScriptParts {
    pub group_prefix: String,
    pub restaurants_suffix: &'static str,
    pub votes_prefix: String,
    pub votes_day_suffix: String,
}

const RESTAURANTS_SUFFIX: &str = ":restaurants";

/// Encodes a free-text key segment: `%` → `%25`, `:` → `%3A`, everything else as is.
/// The Lua script in `redis.rs` does the same with `string.gsub`; the contract tests
/// use codes with both characters to keep the two in step.
pub(crate) fn segment(raw: &str) -> Cow<'_, str> {
    if raw.contains(['%', ':']) {
        Cow::Owned(raw.replace('%', "%25").replace(':', "%3A"))
    } else {
        Cow::Borrowed(raw)
    }
}

/// Escapes the glob characters of `SCAN MATCH` so a prefix matches only itself.
fn glob_escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserKey {
        UserKey::parse("HASHED_KEY-1").unwrap()
    }

    #[test]
    fn every_key_follows_the_documented_layout() {
        let k = Keys::new("kb");
        let u = user();
        assert_eq!(
            k.session(BotScope::Quiz, &u),
            "kb:quiz:session:HASHED_KEY-1"
        );
        assert_eq!(
            k.session(BotScope::Lunch, &u),
            "kb:lunch:session:HASHED_KEY-1"
        );
        assert_eq!(k.friends(BotScope::Lunch), "kb:lunch:friends");
        assert_eq!(k.quiz_score(&u), "kb:quiz:score:HASHED_KEY-1");
        assert_eq!(k.quiz_asked(&u, "web"), "kb:quiz:asked:HASHED_KEY-1:web");
        assert_eq!(k.lunch_member(&u), "kb:lunch:member:HASHED_KEY-1");
        assert_eq!(k.lunch_group("ABC123"), "kb:lunch:group:ABC123");
        assert_eq!(
            k.lunch_restaurants("ABC123"),
            "kb:lunch:group:ABC123:restaurants"
        );
        assert_eq!(
            k.lunch_votes("ABC123", "2026-11-21"),
            "kb:lunch:votes:ABC123:2026-11-21"
        );
    }

    #[test]
    fn separators_in_free_text_segments_are_encoded() {
        let k = Keys::new("kb");
        assert_eq!(
            k.lunch_group("x:restaurants"),
            "kb:lunch:group:x%3Arestaurants"
        );
        assert_ne!(k.lunch_group("x:restaurants"), k.lunch_restaurants("x"));
        assert_eq!(k.lunch_group("50%3A"), "kb:lunch:group:50%253A");
        assert_ne!(k.lunch_group("50%3A"), k.lunch_group("50:"));
        assert_eq!(k.lunch_votes("a:b", "c:d"), "kb:lunch:votes:a%3Ab:c%3Ad");
        assert_eq!(
            k.quiz_asked(&user(), "c:1"),
            "kb:quiz:asked:HASHED_KEY-1:c%3A1"
        );
    }

    #[test]
    fn script_parts_rebuild_the_same_keys() {
        let k = Keys::new("kb");
        for code in ["ABC123", "a:b", "50%", "한식"] {
            let parts = k.lunch_script_parts("2026:11%21");
            let seg = segment(code);
            assert_eq!(
                format!("{}{}{}", parts.group_prefix, seg, parts.restaurants_suffix),
                k.lunch_restaurants(code)
            );
            assert_eq!(
                format!("{}{}{}", parts.votes_prefix, seg, parts.votes_day_suffix),
                k.lunch_votes(code, "2026:11%21")
            );
        }
    }

    #[test]
    fn the_scan_pattern_matches_only_the_prefix() {
        assert_eq!(Keys::new("kb").pattern(), "kb:*");
        assert_eq!(Keys::new("a*b[1]").pattern(), "a\\*b\\[1\\]:*");
    }
}
