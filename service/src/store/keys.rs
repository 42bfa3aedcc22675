//! Redis key names: every key the service uses is built here, under one prefix.
//!
//! Layout (`{p}` is the configured prefix, `U` a user key, `C` a group code):
//!
//! | key | type | lifetime |
//! |---|---|---|
//! | `{p:u:U}:{bot}:session` | string, JSON of the bot's session record (lunch: while the user has no group) | [`SESSION_TTL`](super::SESSION_TTL) |
//! | `{p:u:U}:{bot}:friend` | string `1`: the user has the bot as a friend | key lifetime |
//! | `{p:u:U}:quiz:score` | hash `correct`, `answered` | key lifetime |
//! | `{p:u:U}:quiz:asked:{category}` | set of question ids | key lifetime |
//! | `{p:u:U}:lunch:group` | string, the user's group code | key lifetime |
//! | `{p:u:U}:lunch:limits` | hash, counters of group creations and join attempts | [`LIMIT_WINDOW`](super::LIMIT_WINDOW) |
//! | `{p:g:C}:group` | hash `created_at`: the group exists | key lifetime; a day once nobody belongs |
//! | `{p:g:C}:members` | set of user keys | key lifetime |
//! | `{p:g:C}:step:U` | string, JSON of member U's lunch session | [`SESSION_TTL`](super::SESSION_TTL) |
//! | `{p:g:C}:restaurants` | list, in the order added | key lifetime; a day once nobody belongs |
//! | `{p:g:C}:votes:{day}` | hash user → restaurant | [`VOTE_TTL`](super::VOTE_TTL) |
//! | `{p:g:C}:left` | set of members who left lately | a day |
//! | `{p:g:C}:left_votes:{day}` | hash user → restaurant: the day's votes of members who left lately, brought back if their leave is undone | a day |
//!
//! *Key lifetime* ([`RedisStore::key_ttl`](super::RedisStore::key_ttl),
//! `KAKAOBOT_REDIS_KEY_TTL_DAYS`): set again by every round trip that writes the key
//! and by the first of the day that reads it, so only data nobody used for that long
//! expires.
//!
//! The part in braces is Redis Cluster's *hash tag*: only it decides the slot, so all
//! keys of one user live in one slot and all keys of one group in another. A group
//! member's lunch session lives with the group, so that a typed vote, addition or
//! removal, which depends on the step the member is at, is decided and made in the
//! group's slot by one script. A Lua script
//! or a `MULTI` may only touch keys of one slot in a cluster; the store is built so that
//! each of them touches one user's keys or one group's keys, never both.
//!
//! User keys cannot contain `:` (see [`UserKey::parse`]). Group codes, categories,
//! days and user keys are encoded: `%`, `:`, `{` and `}` become `%25`, `%3A`, `%7B` and
//! `%7D`, so a typed join code such as `abc}:restaurants` can never name another
//! group's key nor move a key out of its hash tag.

use std::borrow::Cow;

use super::BotName;
use crate::user::UserKey;

/// Builds the Redis key names of one deployment, all under `<prefix>`.
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

    /// The prefix every hash tag starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A glob pattern (for `SCAN MATCH`) that matches every key of this prefix.
    pub fn pattern(&self) -> String {
        format!("\\{{{}:*", glob_escape(&self.prefix))
    }

    /// `{p:u:U}`: the hash tag of one user's keys.
    fn user_tag(&self, user: &UserKey) -> String {
        format!("{{{}:u:{}}}", self.prefix, segment(user.as_str()))
    }

    /// `{p:g:C}`: the hash tag of one group's keys.
    fn group_tag(&self, code: &str) -> String {
        format!("{{{}:g:{}}}", self.prefix, segment(code))
    }

    /// `{p:u:U}:{bot}:session`: the bot's conversation context with the user.
    pub fn session(&self, bot: BotName, user: &UserKey) -> String {
        format!("{}:{}:session", self.user_tag(user), bot.as_str())
    }

    /// `{p:u:U}:{bot}:friend`: exists while the user has the bot as a friend.
    pub fn friend(&self, bot: BotName, user: &UserKey) -> String {
        format!("{}:{}:friend", self.user_tag(user), bot.as_str())
    }

    /// `{p:u:U}:quiz:score`: hash with the fields `correct` and `answered`.
    pub fn quiz_score(&self, user: &UserKey) -> String {
        format!("{}:quiz:score", self.user_tag(user))
    }

    /// `{p:u:U}:quiz:asked:{category}`: ids of the questions already asked.
    pub fn quiz_asked(&self, user: &UserKey, category: &str) -> String {
        format!("{}:quiz:asked:{}", self.user_tag(user), segment(category))
    }

    /// `{p:u:U}:lunch:group`: the code of the user's group.
    pub fn lunch_member(&self, user: &UserKey) -> String {
        format!("{}:lunch:group", self.user_tag(user))
    }

    /// `{p:u:U}:lunch:limits`: the user's recent group creations and join attempts.
    pub fn lunch_limits(&self, user: &UserKey) -> String {
        format!("{}:lunch:limits", self.user_tag(user))
    }

    /// `{p:g:C}:group`: exists exactly when the group does.
    pub fn lunch_group(&self, code: &str) -> String {
        format!("{}:group", self.group_tag(code))
    }

    /// `{p:g:C}:members`: the users whose group this is.
    pub fn lunch_members(&self, code: &str) -> String {
        format!("{}:members", self.group_tag(code))
    }

    /// `{p:g:C}:left`: members who left lately (kept a day), whose leave can still be
    /// undone: a leave made ahead of a create or join that was then refused.
    pub fn lunch_left(&self, code: &str) -> String {
        format!("{}:left", self.group_tag(code))
    }

    /// `{p:g:C}:step:U`: the lunch session of member `user`.
    pub fn lunch_step(&self, code: &str, user: &UserKey) -> String {
        format!("{}:step:{}", self.group_tag(code), segment(user.as_str()))
    }

    /// `{p:g:C}:restaurants`: the group's list, in the order added.
    pub fn lunch_restaurants(&self, code: &str) -> String {
        format!("{}:restaurants", self.group_tag(code))
    }

    /// `{p:g:C}:votes:{day}`: hash from user key to restaurant.
    pub fn lunch_votes(&self, code: &str, day: &str) -> String {
        format!("{}:votes:{}", self.group_tag(code), segment(day))
    }

    /// `{p:g:C}:left_votes:{day}`: the day's votes of members who left lately, kept
    /// aside so that a leave that is undone brings the vote back.
    pub fn lunch_left_votes(&self, code: &str, day: &str) -> String {
        format!("{}:left_votes:{}", self.group_tag(code), segment(day))
    }
}

/// Encodes a free-text key segment: `%` → `%25`, `:` → `%3A`, `{` → `%7B`, `}` →
/// `%7D`, everything else as is.
pub(crate) fn segment(raw: &str) -> Cow<'_, str> {
    if raw.contains(['%', ':', '{', '}']) {
        Cow::Owned(
            raw.replace('%', "%25")
                .replace(':', "%3A")
                .replace('{', "%7B")
                .replace('}', "%7D"),
        )
    } else {
        Cow::Borrowed(raw)
    }
}

/// Escapes the glob characters of `SCAN MATCH` so a prefix matches only itself.
pub(crate) fn glob_escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The hash slot Redis Cluster assigns to `key` (CRC16 of the hash tag, mod 16384),
/// so tests can check which keys share a slot.
pub fn slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = match bytes.iter().position(|&b| b == b'{') {
        Some(open) => match bytes[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &bytes[open + 1..open + 1 + len],
            _ => bytes,
        },
        None => bytes,
    };
    crc16_xmodem(hashed) % 16384
}

/// CRC16-CCITT (XMODEM), the checksum of Redis Cluster's key slots.
fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
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
            k.session(BotName::Quiz, &u),
            "{kb:u:HASHED_KEY-1}:quiz:session"
        );
        assert_eq!(
            k.session(BotName::Lunch, &u),
            "{kb:u:HASHED_KEY-1}:lunch:session"
        );
        assert_eq!(
            k.friend(BotName::Lunch, &u),
            "{kb:u:HASHED_KEY-1}:lunch:friend"
        );
        assert_eq!(k.quiz_score(&u), "{kb:u:HASHED_KEY-1}:quiz:score");
        assert_eq!(
            k.quiz_asked(&u, "web"),
            "{kb:u:HASHED_KEY-1}:quiz:asked:web"
        );
        assert_eq!(k.lunch_member(&u), "{kb:u:HASHED_KEY-1}:lunch:group");
        assert_eq!(k.lunch_limits(&u), "{kb:u:HASHED_KEY-1}:lunch:limits");
        assert_eq!(k.lunch_group("ABC123"), "{kb:g:ABC123}:group");
        assert_eq!(k.lunch_members("ABC123"), "{kb:g:ABC123}:members");
        assert_eq!(
            k.lunch_step("ABC123", &u),
            "{kb:g:ABC123}:step:HASHED_KEY-1"
        );
        assert_eq!(k.lunch_restaurants("ABC123"), "{kb:g:ABC123}:restaurants");
        assert_eq!(
            k.lunch_votes("ABC123", "2026-11-21"),
            "{kb:g:ABC123}:votes:2026-11-21"
        );
    }

    #[test]
    fn a_users_keys_share_one_slot_and_a_groups_keys_another() {
        let k = Keys::new("kb");
        let u = user();
        let user_keys = [
            k.session(BotName::Quiz, &u),
            k.session(BotName::Lunch, &u),
            k.friend(BotName::Quiz, &u),
            k.quiz_score(&u),
            k.quiz_asked(&u, "python"),
            k.lunch_member(&u),
            k.lunch_limits(&u),
        ];
        assert!(user_keys.iter().all(|key| slot(key) == slot(&user_keys[0])));
        let group_keys = [
            k.lunch_group("A:B}C"),
            k.lunch_members("A:B}C"),
            k.lunch_step("A:B}C", &u),
            k.lunch_left("A:B}C"),
            k.lunch_restaurants("A:B}C"),
            k.lunch_votes("A:B}C", "2026-11-21"),
            k.lunch_left_votes("A:B}C", "2026-11-21"),
        ];
        assert!(group_keys
            .iter()
            .all(|key| slot(key) == slot(&group_keys[0])));
    }

    #[test]
    fn separators_and_braces_in_free_text_segments_are_encoded() {
        let k = Keys::new("kb");
        assert_eq!(
            k.lunch_group("x}:restaurants"),
            "{kb:g:x%7D%3Arestaurants}:group"
        );
        assert_eq!(k.lunch_group("50%3A"), "{kb:g:50%253A}:group");
        assert_ne!(k.lunch_group("50%3A"), k.lunch_group("50:"));
        assert_eq!(k.lunch_votes("a:b", "c:d"), "{kb:g:a%3Ab}:votes:c%3Ad");
        assert_eq!(
            k.quiz_asked(&UserKey::parse("{x}").unwrap(), "c:1"),
            "{kb:u:%7Bx%7D}:quiz:asked:c%3A1"
        );
    }

    #[test]
    fn slots_match_redis_cluster() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("{user1000}.following"), slot("{user1000}.followers"));
        assert_eq!(slot("foo{}{bar}"), slot("foo{}{bar}"));
        assert_ne!(slot("foo{}{bar}"), slot("bar"));
    }

    #[test]
    fn the_scan_pattern_matches_only_the_prefix() {
        assert_eq!(Keys::new("kb").pattern(), "\\{kb:*");
        assert_eq!(Keys::new("a*b").pattern(), "\\{a\\*b:*");
    }
}
