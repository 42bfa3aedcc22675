//! The Lua scripts of [`RedisStore`](super::RedisStore). Every key a script touches
//! arrives in `KEYS`, and all `KEYS` of one script share a hash tag (one user's or one
//! group's), so each runs on a cluster too; no script builds a key name.
//!
//! Lifetimes: every script that uses a user's or a group's lasting keys (those
//! without a lifetime of their own: scores, asked sets, friend markers, pointers,
//! groups, members, lists) sets the key lifetime it is given on them, so the round
//! trip that uses the data also keeps it, and nothing lives forever. A key the call
//! writes always gets it (`keep_written`: a write may have made the key afresh); the
//! keys it only reads get it when the lifetime argument is positive (`keep`), which
//! [`RedisStore`](super::RedisStore) asks for once a day per user and per group, as
//! each `EXPIRE` from Lua costs Redis about as much as a small command.

use redis::Script;

/// Lua: the key lifetime argument is the lifetime in seconds, negative when the keys
/// a call only reads were given it lately. `keep_written(lifetime, key…)` sets each
/// existing key to expire that many seconds from now (a missing key stays missing);
/// `keep(lifetime, key…)` does the same only for a positive argument. (Not `arg`: in
/// Redis's Lua 5.1 a function with `...` has an `arg` table of its own.)
macro_rules! keep_fn {
    () => {
        r#"
local function keep_written(lifetime, ...)
  local ttl = math.abs(tonumber(lifetime))
  for _, key in ipairs({...}) do
    redis.call('EXPIRE', key, ttl)
  end
end
local function keep(lifetime, ...)
  if tonumber(lifetime) > 0 then
    keep_written(lifetime, ...)
  end
end
"#
    };
}

/// Lua: `spend(limits, budget, window)` counts one use of `budget` in the hash
/// `limits` and returns the uses in the window, which starts with its first use.
/// Kept apart from the script that uses it (LUNCH_USER_OPEN) for reading.
macro_rules! spend_fn {
    () => {
        r#"
local function spend(limits, budget, window)
  local used = redis.call('HINCRBY', limits, budget, 1)
  if redis.call('TTL', limits) < 0 then
    redis.call('EXPIRE', limits, window)
  end
  return used
end
"#
    };
}

/// Lua: `restore(user, members, left, marker, restaurants, votes, left_votes,
/// vote_ttl, lifetime)` undoes `user`'s leave (LUNCH_GROUP_LEAVE's `left`) if the group
/// still exists and has them among those who left: they are a member again, with the
/// vote the leave took out, and the group is kept for the key lifetime again (not the
/// grace period of a group nobody belongs to). Returns whether it was undone. Needs
/// `keep_fn!` before it. Shared by LUNCH_GROUP_RESTORE and LUNCH_GROUP_STEP.
macro_rules! restore_fn {
    () => {
        r#"
local function restore(user, members, left, marker, restaurants, votes, left_votes,
                       vote_ttl, lifetime)
  if redis.call('EXISTS', marker) == 0 or redis.call('SREM', left, user) == 0 then
    return false
  end
  redis.call('SADD', members, user)
  keep_written(lifetime, marker, members, restaurants)
  local kept = redis.call('HGET', left_votes, user)
  if kept then
    redis.call('HDEL', left_votes, user)
    redis.call('HSET', votes, user, kept)
    redis.call('EXPIRE', votes, vote_ttl)
  end
  return true
end
"#
    };
}

/// The Lua scripts, hashed once; Redis caches each after its first `EVAL`.
pub(super) struct Scripts {
    pub(super) quiz_load: Script,
    pub(super) quiz_ask: Script,
    pub(super) quiz_judge: Script,
    pub(super) lunch_user_open: Script,
    pub(super) lunch_group_step: Script,
    pub(super) lunch_group_create: Script,
    pub(super) lunch_group_admit: Script,
    pub(super) lunch_user_undo: Script,
    pub(super) lunch_group_restore: Script,
    pub(super) lunch_group_leave: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            quiz_load: Script::new(QUIZ_LOAD),
            quiz_ask: Script::new(QUIZ_ASK),
            quiz_judge: Script::new(QUIZ_JUDGE),
            lunch_user_open: Script::new(LUNCH_USER_OPEN),
            lunch_group_step: Script::new(LUNCH_GROUP_STEP),
            lunch_group_create: Script::new(LUNCH_GROUP_CREATE),
            lunch_group_admit: Script::new(LUNCH_GROUP_ADMIT),
            lunch_user_undo: Script::new(LUNCH_USER_UNDO),
            lunch_group_restore: Script::new(LUNCH_GROUP_RESTORE),
            lunch_group_leave: Script::new(LUNCH_GROUP_LEAVE),
        }
    }
}

/// KEYS: quiz session, score, friend marker[, asked of a category]. ARGV: key ttl.
/// Returns {session or nil, correct or nil, answered or nil, asked ids}.
const QUIZ_LOAD: &str = concat!(
    keep_fn!(),
    r#"
local score = redis.call('HMGET', KEYS[2], 'correct', 'answered')
local asked = {}
if KEYS[4] then
  asked = redis.call('SMEMBERS', KEYS[4])
end
keep(ARGV[1], KEYS[2], KEYS[3], KEYS[4])
return {redis.call('GET', KEYS[1]), score[1], score[2], asked}
"#
);

/// KEYS: quiz session, asked of the category, score, friend marker. ARGV: session
/// ttl seconds, key ttl, then pairs of (question id, its session JSON) in the order
/// to try them. Returns {question id, 1 when the category started over else 0}.
const QUIZ_ASK: &str = concat!(
    keep_fn!(),
    r#"
local function ask()
  local n = (#ARGV - 2) / 2
  for i = 0, n - 1 do
    local id, json = ARGV[3 + 2 * i], ARGV[4 + 2 * i]
    if redis.call('SISMEMBER', KEYS[2], id) == 0 then
      redis.call('SET', KEYS[1], json, 'EX', ARGV[1])
      redis.call('SADD', KEYS[2], id)
      return {id, 0}
    end
  end
  -- Every question was asked: start over, but not with the pending question.
  local pending = redis.call('GET', KEYS[1])
  local pick = 0
  for i = 0, n - 1 do
    if ARGV[4 + 2 * i] ~= pending then
      pick = i
      break
    end
  end
  local id, json = ARGV[3 + 2 * pick], ARGV[4 + 2 * pick]
  redis.call('DEL', KEYS[2])
  redis.call('SADD', KEYS[2], id)
  redis.call('SET', KEYS[1], json, 'EX', ARGV[1])
  return {id, 1}
end
local asked = ask()
keep_written(ARGV[2], KEYS[2])
keep(ARGV[2], KEYS[3], KEYS[4])
return asked
"#
);

/// KEYS: quiz session, score, friend marker. ARGV: key ttl, tapped question id or '',
/// the number n of ids the choice is valid for, those n ids, then the ids it is
/// correct for. Returns {session or nil, correct, answered (both before), verdict}
/// where verdict is 0 when nothing was judged, 1 when judged wrong, 2 when judged
/// right.
const QUIZ_JUDGE: &str = concat!(
    keep_fn!(),
    r#"
local function judge()
  local session = redis.call('GET', KEYS[1])
  local score = redis.call('HMGET', KEYS[2], 'correct', 'answered')
  if not session then
    return {false, score[1], score[2], 0}
  end
  local ok, decoded = pcall(cjson.decode, session)
  if not ok or type(decoded) ~= 'table' then
    return {session, score[1], score[2], 0}
  end
  local id = decoded['question_id']
  if ARGV[2] ~= '' and id ~= ARGV[2] then
    return {session, score[1], score[2], 0}
  end
  local n = tonumber(ARGV[3])
  local valid, correct = false, false
  for i = 4, 3 + n do
    if ARGV[i] == id then valid = true end
  end
  for i = 4 + n, #ARGV do
    if ARGV[i] == id then correct = true end
  end
  if not valid then
    return {session, score[1], score[2], 0}
  end
  redis.call('DEL', KEYS[1])
  redis.call('HINCRBY', KEYS[2], 'answered', 1)
  if correct then
    redis.call('HINCRBY', KEYS[2], 'correct', 1)
  end
  keep_written(ARGV[1], KEYS[2])
  if correct then
    return {session, score[1], score[2], 2}
  end
  return {session, score[1], score[2], 1}
end
local judged = judge()
keep(ARGV[1], KEYS[2], KEYS[3])
return judged
"#
);

/// KEYS: lunch session (the user's own), group pointer, limits, friend marker. ARGV:
/// 1 mode (keep, set, set_own, set_if_member, set_if_listed, clear), 2 session JSON,
/// 3 session ttl seconds, 4 change ('', create, join), 5 its code, 6 its budget, 7
/// the budget's maximum, 8 the limit window seconds, 9 the awaiting-a-join-code
/// session JSON, 10 key ttl.
///
/// A change applies to a create, or to a join while the user's own session awaits a
/// code: it spends the budget and, within it, points the user at the code and ends
/// their own session (the write is then not made). Otherwise the write is made here
/// for a user without a group, and for a member only `set_own` (the step awaiting a
/// join code, decided here) or the end of it (a member's other steps live with the
/// group, where LUNCH_GROUP_STEP writes them). Returns {session or nil, code before
/// or nil, change: '', 'moved' or 'over_budget'}.
const LUNCH_USER_OPEN: &str = concat!(
    spend_fn!(),
    keep_fn!(),
    r#"
local function open()
  local session = redis.call('GET', KEYS[1])
  local code = redis.call('GET', KEYS[2])
  if ARGV[4] == 'create' or (ARGV[4] == 'join' and session == ARGV[9]) then
    if spend(KEYS[3], ARGV[6], ARGV[8]) > tonumber(ARGV[7]) then
      return {session, code, 'over_budget'}
    end
    redis.call('SET', KEYS[2], ARGV[5])
    keep_written(ARGV[10], KEYS[2])
    redis.call('DEL', KEYS[1])
    return {session, code, 'moved'}
  end
  local mode = ARGV[1]
  if not code or mode == 'set_own' then
    if mode == 'set' or mode == 'set_own' then
      redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
    elseif mode == 'clear' then
      redis.call('DEL', KEYS[1])
    end
  elseif mode ~= 'keep' then
    redis.call('DEL', KEYS[1])
  end
  return {session, code, ''}
end
local opened = open()
keep(ARGV[10], KEYS[2], KEYS[4])
return opened
"#
);

/// KEYS: group pointer, the user's own lunch session. ARGV: the code a change
/// pointed at, the code before or '', the session JSON to restore or '', session ttl,
/// key ttl. Undoes a change that was refused on the group's side: points the user
/// back, if nothing moved them since. Returns 1 when undone.
const LUNCH_USER_UNDO: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[5])
end
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
end
return 1
"#;

/// KEYS: restaurants, votes of the day, the member's step (session), members, group
/// marker, members who left, the day's votes of those who left. ARGV: 1 user, 2 '1' when the user's record names this
/// group, 3 mode, 4 session JSON, 5 session ttl, 6 '1' for every vote of the day, 7 vote
/// ttl, 8 key ttl (the group's marker, members and list), then six per move the bot made (see `StepMove`): the step it is for (session
/// JSON, '' for any), the edit (vote, add, remove), the name, the list maximum (add),
/// the step after a change and after a refusal ('keep', 'end' or a session JSON).
///
/// Reads the member's step, the list and their vote; applies the session write, then
/// the first move for the step the write left, as it says. Returns {1, step before or
/// nil, list before, vote or nil, votes, outcome, previous vote or nil}, or {0, …}
/// when the user is not a member (a guessed code that was wrong).
const LUNCH_GROUP_STEP: &str = concat!(
    keep_fn!(),
    restore_fn!(),
    r#"
-- Not a member: unless the user's own record still names this group, which they left
-- ahead of a create or join that did not happen, and the leave is undone here.
if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 0 and (ARGV[2] ~= '1'
    or not restore(ARGV[1], KEYS[4], KEYS[6], KEYS[5], KEYS[1], KEYS[2], KEYS[7],
                   ARGV[7], ARGV[8])) then
  return {0, false, {}, false, {}, '', false}
end
local step = redis.call('GET', KEYS[3])
local list = redis.call('LRANGE', KEYS[1], 0, -1)
local my_vote = redis.call('HGET', KEYS[2], ARGV[1])
local votes = {}
if ARGV[6] == '1' then
  votes = redis.call('HVALS', KEYS[2])
end
local mode = ARGV[3]
if mode == 'set' or mode == 'set_if_member' or (mode == 'set_if_listed' and #list > 0) then
  redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
elseif mode == 'clear' or mode == 'set_own' then
  redis.call('DEL', KEYS[3])
end

local function vote(name)
  if not redis.call('LPOS', KEYS[1], name) then
    return {'unknown', false}
  end
  local previous = redis.call('HGET', KEYS[2], ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], name)
  redis.call('EXPIRE', KEYS[2], ARGV[7])
  return {'voted', previous}
end
local function remove(name)
  if redis.call('LREM', KEYS[1], 1, name) == 0 then
    return {'not_removed', false}
  end
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    if all[i + 1] == name then
      redis.call('HDEL', KEYS[2], all[i])
    end
  end
  return {'removed', false}
end
local function add(name, max)
  local wanted = string.lower(name)
  for _, listed in ipairs(list) do
    if string.lower(listed) == wanted then
      return {'duplicate', false}
    end
  end
  if #list >= tonumber(max) then
    return {'full', false}
  end
  redis.call('RPUSH', KEYS[1], name)
  keep_written(ARGV[8], KEYS[1])
  return {'added', false}
end
local edits = {vote = vote, remove = remove, add = add}
local changed = {voted = true, added = true, removed = true}

local outcome = {'', false}
local current = redis.call('GET', KEYS[3]) or ''
for at = 9, #ARGV, 6 do
  if ARGV[at] == '' or ARGV[at] == current then
    outcome = edits[ARGV[at + 1]](ARGV[at + 2], ARGV[at + 3])
    local next = ARGV[at + 5]
    if changed[outcome[1]] then
      next = ARGV[at + 4]
    end
    if next == 'end' then
      redis.call('DEL', KEYS[3])
    elseif next ~= 'keep' then
      redis.call('SET', KEYS[3], next, 'EX', ARGV[5])
    end
    break
  end
end
-- The group is in use: kept (again) for the key lifetime.
keep(ARGV[8], KEYS[5], KEYS[4], KEYS[1])
return {1, step, list, my_vote, votes, outcome[1], outcome[2]}
"#
);

/// KEYS: group marker, members, the creator's step, restaurants, members who left,
/// votes of the day, the day's votes of those who left.
/// ARGV: created_at, user, the creator's step (session JSON), session ttl, key ttl. Returns 1
/// when created (the creator on the member list, at that step), 0 when the code is
/// taken.
/// A group nobody belongs to (kept for a while by LUNCH_GROUP_LEAVE) does not hold
/// its code: it is cleared and the code reused. A new group starts with no votes,
/// whatever an earlier group under its code left of the day's.
const LUNCH_GROUP_CREATE: &str = concat!(
    keep_fn!(),
    r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('SCARD', KEYS[2]) > 0 then
    return 0
  end
  redis.call('DEL', KEYS[1], KEYS[4], KEYS[5])
end
redis.call('DEL', KEYS[6], KEYS[7])
redis.call('HSET', KEYS[1], 'created_at', ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
keep_written(ARGV[5], KEYS[1], KEYS[2])
return 1
"#
);

/// KEYS: group marker, members, the user's step, restaurants. ARGV: user, key ttl.
/// Returns 1 when the group exists and someone belongs to it (and the user is now on
/// its member list, with no step).
const LUNCH_GROUP_ADMIT: &str = concat!(
    keep_fn!(),
    r#"
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('SCARD', KEYS[2]) == 0 then
  return 0
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
keep_written(ARGV[2], KEYS[1], KEYS[2], KEYS[4])
return 1
"#
);

/// KEYS: members, members who left, group marker, restaurants, votes of the day, the
/// day's votes of those who left. ARGV: user, vote ttl, key ttl. Undoes a leave whose
/// create or join was refused (`restore`). Returns 1 when undone.
const LUNCH_GROUP_RESTORE: &str = concat!(
    keep_fn!(),
    restore_fn!(),
    r#"
if restore(ARGV[1], KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[2], ARGV[3]) then
  return 1
end
return 0
"#
);

/// KEYS: members, group marker, restaurants, the user's step, members who left, votes
/// of the day, the day's votes of those who left.
/// ARGV: user, how (`left`: a member leaves, and may be restored; `undo`: a member
/// list entry made ahead of a refused join is taken back; `drop`: a group made ahead
/// of a refused create is taken back), grace seconds. Takes the user off the list (and
/// their step). A member who leaves takes their vote of the day out of the group's
/// result; it is kept aside for the grace period, so a leave that is undone brings it
/// back. Once nobody is on the list the group is gone for everyone (nobody can join,
/// its code is free), but `left` and `undo` keep its data for the grace period, so a
/// leave that is undone finds it as it was; `drop` removes it at once. The votes
/// expire with the day. Returns the number of members left.
const LUNCH_GROUP_LEAVE: &str = r#"
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[4])
if ARGV[2] == 'left' then
  redis.call('SADD', KEYS[5], ARGV[1])
  redis.call('EXPIRE', KEYS[5], ARGV[3])
  local vote = redis.call('HGET', KEYS[6], ARGV[1])
  if vote then
    redis.call('HDEL', KEYS[6], ARGV[1])
    redis.call('HSET', KEYS[7], ARGV[1], vote)
    redis.call('EXPIRE', KEYS[7], ARGV[3])
  else
    redis.call('HDEL', KEYS[7], ARGV[1])
  end
end
local members = redis.call('SCARD', KEYS[1])
if members == 0 then
  if ARGV[2] == 'drop' then
    redis.call('DEL', KEYS[2], KEYS[3], KEYS[5], KEYS[7])
  else
    redis.call('EXPIRE', KEYS[2], ARGV[3])
    redis.call('EXPIRE', KEYS[3], ARGV[3])
    redis.call('EXPIRE', KEYS[5], ARGV[3])
  end
end
return members
"#;
