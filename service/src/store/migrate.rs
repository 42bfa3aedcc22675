//! `kakaobot migrate`: moves data from the key layout of kakaobot ≤ 0.1 (one flat
//! `<prefix>:…` namespace, which Redis Cluster cannot split) to the hash-tagged layout
//! of [`Keys`] ([`run`]), and gives keys written before every key had a lifetime the
//! key lifetime ([`give_lifetimes`]).
//!
//! Old layout (`p` is the prefix; codes, categories and days percent-encode `%` and `:`):
//! `p:{bot}:session:U`, `p:{bot}:friends` (set of users), `p:quiz:score:U`,
//! `p:quiz:asked:U:CAT`, `p:lunch:member:U`, `p:lunch:group:C`,
//! `p:lunch:group:C:restaurants`, `p:lunch:votes:C:DAY`.
//!
//! Idempotent and safe to interrupt: each old key is copied into its new key only if
//! the new key does not exist yet (or, for sets and hashes, member by member without
//! overwriting), then deleted. A rerun finds only the keys not done yet; a crash
//! between the copy and the delete makes the rerun skip the copy and delete. It runs
//! on the single Redis the old layout lived on, before the new version starts.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::Script;

use super::keys::{glob_escape, slot};
use super::{BotName, Keys, RedisConnection, Result};
use crate::user::UserKey;

/// Most keys given a lifetime by one script call.
const LIFETIMES_PER_CALL: usize = 1000;

/// Lua: KEYS, all of one slot; ARGV: seconds. Gives each key that exists and has no
/// lifetime that one (a key with a lifetime of its own, a session or a day's votes,
/// keeps it); returns how many it gave. Reading and setting in one script, so a
/// message that writes the key meanwhile is never undone.
const GIVE_LIFETIMES: &str = r#"
local given = 0
for _, key in ipairs(KEYS) do
  if redis.call('TTL', key) == -1 then
    redis.call('EXPIRE', key, ARGV[1])
    given = given + 1
  end
end
return given
"#;

/// Gives every key under `prefix` (the current layout, on every node of a cluster)
/// that has no lifetime `ttl` from now: the keys a version before key lifetimes wrote
/// are then forgotten like any others if nobody uses them. Idempotent; returns how
/// many keys it gave one. One call per slot (at most 16,384, fewer on a small
/// keyspace), so a large keyspace takes seconds, not a round trip per key.
pub async fn give_lifetimes(
    conn: &mut RedisConnection,
    prefix: &str,
    ttl: Duration,
) -> Result<u64> {
    let keys = conn.scan_match(&Keys::new(prefix).pattern()).await?;
    let mut by_slot: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for key in keys {
        by_slot.entry(slot(&key)).or_default().push(key);
    }
    let script = Script::new(GIVE_LIFETIMES);
    let mut given = 0;
    for keys in by_slot.values() {
        for chunk in keys.chunks(LIFETIMES_PER_CALL) {
            let mut call = script.prepare_invoke();
            for key in chunk {
                call.key(key);
            }
            let n: u64 = call.arg(ttl.as_secs()).invoke_async(conn).await?;
            given += n;
        }
    }
    Ok(given)
}

/// What a migration did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Old keys copied to the new layout and deleted.
    pub migrated: u64,
    /// Old-looking keys that matched no known kind and were left alone.
    pub skipped: u64,
}

/// One old key, understood.
#[derive(Debug, PartialEq, Eq)]
enum OldKey {
    Session(BotName, String),
    Friends(BotName),
    Score(String),
    Asked(String, String),
    Member(String),
    Group(String),
    Restaurants(String),
    Votes(String, String),
}

/// Moves every key of the old layout under `prefix` to the new layout.
pub async fn run(conn: &mut RedisConnection, prefix: &str) -> Result<Report> {
    let keys = Keys::new(prefix);
    // Collected first, then migrated (sorted, each once): new keys start with '{' and
    // never match the pattern, but a SCAN cursor over a changing keyspace may repeat
    // keys.
    let old_keys = conn
        .scan_match(&format!("{}:*", glob_escape(prefix)))
        .await?;
    let mut report = Report::default();
    for old in old_keys {
        let Some(kind) = parse(prefix, &old) else {
            report.skipped += 1;
            continue;
        };
        if migrate_one(conn, &keys, &old, kind).await? {
            report.migrated += 1;
        } else {
            report.skipped += 1;
        }
    }
    Ok(report)
}

/// Copies one old key into the new layout and deletes it. `false` when the old key
/// names a user key the service would refuse (left alone).
async fn migrate_one<C>(conn: &mut C, keys: &Keys, old: &str, kind: OldKey) -> Result<bool>
where
    C: ConnectionLike + Send,
{
    let user = |raw: &str| UserKey::parse(raw).ok();
    match kind {
        OldKey::Session(bot, u) => {
            let Some(u) = user(&u) else { return Ok(false) };
            // A lunch member's session lives with their group now. Keys are migrated
            // in sorted order, so `…:lunch:member:U` is already in the new layout.
            let (value, pttl, code): (Option<String>, i64, Option<String>) = redis::pipe()
                .cmd("GET")
                .arg(old)
                .cmd("PTTL")
                .arg(old)
                .cmd("GET")
                .arg(keys.lunch_member(&u))
                .query_async(conn)
                .await?;
            let target = match (bot, code) {
                (BotName::Lunch, Some(code)) => keys.lunch_step(&code, &u),
                _ => keys.session(bot, &u),
            };
            if let (Some(value), true) = (value, pttl > 0) {
                redis::cmd("SET")
                    .arg(target)
                    .arg(value)
                    .arg("PX")
                    .arg(pttl)
                    .arg("NX")
                    .exec_async(conn)
                    .await?;
            }
        }
        OldKey::Friends(bot) => {
            let members: Vec<String> = redis::cmd("SMEMBERS").arg(old).query_async(conn).await?;
            let mut pipe = redis::pipe();
            for u in members.iter().filter_map(|m| user(m)) {
                pipe.cmd("SET").arg(keys.friend(bot, &u)).arg(1).ignore();
            }
            pipe.exec_async(conn).await?;
        }
        OldKey::Score(u) => {
            let Some(u) = user(&u) else { return Ok(false) };
            let fields: Vec<(String, String)> =
                redis::cmd("HGETALL").arg(old).query_async(conn).await?;
            let mut pipe = redis::pipe();
            for (field, value) in fields {
                pipe.cmd("HSETNX")
                    .arg(keys.quiz_score(&u))
                    .arg(field)
                    .arg(value)
                    .ignore();
            }
            pipe.exec_async(conn).await?;
        }
        OldKey::Asked(u, category) => {
            let Some(u) = user(&u) else { return Ok(false) };
            let ids: Vec<String> = redis::cmd("SMEMBERS").arg(old).query_async(conn).await?;
            if !ids.is_empty() {
                redis::cmd("SADD")
                    .arg(keys.quiz_asked(&u, &category))
                    .arg(ids)
                    .exec_async(conn)
                    .await?;
            }
        }
        OldKey::Member(u) => {
            let Some(u) = user(&u) else { return Ok(false) };
            let code: Option<String> = redis::cmd("GET").arg(old).query_async(conn).await?;
            if let Some(code) = code {
                // The member list is new: it is rebuilt from the users' pointers.
                redis::pipe()
                    .cmd("SET")
                    .arg(keys.lunch_member(&u))
                    .arg(&code)
                    .arg("NX")
                    .ignore()
                    .cmd("SADD")
                    .arg(keys.lunch_members(&code))
                    .arg(u.as_str())
                    .ignore()
                    .exec_async(conn)
                    .await?;
            }
        }
        OldKey::Group(code) => {
            let fields: Vec<(String, String)> =
                redis::cmd("HGETALL").arg(old).query_async(conn).await?;
            let mut pipe = redis::pipe();
            for (field, value) in fields {
                pipe.cmd("HSETNX")
                    .arg(keys.lunch_group(&code))
                    .arg(field)
                    .arg(value)
                    .ignore();
            }
            pipe.exec_async(conn).await?;
        }
        OldKey::Restaurants(code) => {
            let new = keys.lunch_restaurants(&code);
            let exists: bool = redis::cmd("EXISTS").arg(&new).query_async(conn).await?;
            let names: Vec<String> = redis::cmd("LRANGE")
                .arg(old)
                .arg(0)
                .arg(-1)
                .query_async(conn)
                .await?;
            // A list cannot be merged without duplicates: copied only if the new one
            // does not exist (a rerun after a crash finds it and skips).
            if !exists && !names.is_empty() {
                redis::cmd("RPUSH")
                    .arg(&new)
                    .arg(names)
                    .exec_async(conn)
                    .await?;
            }
        }
        OldKey::Votes(code, day) => {
            let new = keys.lunch_votes(&code, &day);
            let (fields, pttl): (Vec<(String, String)>, i64) = redis::pipe()
                .cmd("HGETALL")
                .arg(old)
                .cmd("PTTL")
                .arg(old)
                .query_async(conn)
                .await?;
            let mut pipe = redis::pipe();
            for (voter, restaurant) in fields {
                pipe.cmd("HSETNX")
                    .arg(&new)
                    .arg(voter)
                    .arg(restaurant)
                    .ignore();
            }
            if pttl > 0 {
                pipe.cmd("PEXPIRE").arg(&new).arg(pttl).ignore();
            }
            pipe.exec_async(conn).await?;
        }
    }
    redis::cmd("DEL").arg(old).exec_async(conn).await?;
    Ok(true)
}

/// Reads an old key name; `None` for anything else under the prefix.
fn parse(prefix: &str, key: &str) -> Option<OldKey> {
    let rest = key.strip_prefix(prefix)?.strip_prefix(':')?;
    let parts: Vec<&str> = rest.split(':').collect();
    let bot = |name: &str| match name {
        "quiz" => Some(BotName::Quiz),
        "lunch" => Some(BotName::Lunch),
        _ => None,
    };
    Some(match parts.as_slice() {
        [b, "session", u] => OldKey::Session(bot(b)?, (*u).to_owned()),
        [b, "friends"] => OldKey::Friends(bot(b)?),
        ["quiz", "score", u] => OldKey::Score((*u).to_owned()),
        ["quiz", "asked", u, category] => OldKey::Asked((*u).to_owned(), decode(category)),
        ["lunch", "member", u] => OldKey::Member((*u).to_owned()),
        ["lunch", "group", code] => OldKey::Group(decode(code)),
        ["lunch", "group", code, "restaurants"] => OldKey::Restaurants(decode(code)),
        ["lunch", "votes", code, day] => OldKey::Votes(decode(code), decode(day)),
        _ => return None,
    })
}

/// Undoes the old layout's encoding (`%3A` → `:`, `%25` → `%`, in that order).
fn decode(segment: &str) -> String {
    segment.replace("%3A", ":").replace("%25", "%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_old_key_kind_is_recognised() {
        let p = "kb";
        assert_eq!(
            parse(p, "kb:quiz:session:U1"),
            Some(OldKey::Session(BotName::Quiz, "U1".into()))
        );
        assert_eq!(
            parse(p, "kb:lunch:friends"),
            Some(OldKey::Friends(BotName::Lunch))
        );
        assert_eq!(
            parse(p, "kb:quiz:score:U1"),
            Some(OldKey::Score("U1".into()))
        );
        assert_eq!(
            parse(p, "kb:quiz:asked:U1:c%3A1"),
            Some(OldKey::Asked("U1".into(), "c:1".into()))
        );
        assert_eq!(
            parse(p, "kb:lunch:member:U1"),
            Some(OldKey::Member("U1".into()))
        );
        assert_eq!(
            parse(p, "kb:lunch:group:50%253A"),
            Some(OldKey::Group("50%3A".into()))
        );
        assert_eq!(
            parse(p, "kb:lunch:group:a%3Ab:restaurants"),
            Some(OldKey::Restaurants("a:b".into()))
        );
        assert_eq!(
            parse(p, "kb:lunch:votes:ABC:2026-11-21"),
            Some(OldKey::Votes("ABC".into(), "2026-11-21".into()))
        );
        assert_eq!(parse(p, "kb:weather:today"), None);
        assert_eq!(parse(p, "kbx:quiz:score:U1"), None);
    }
}
