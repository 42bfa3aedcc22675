//! The store contract: one suite, written once, run against [`MemoryStore`], against
//! [`RedisStore`] on a real `redis-server`, and against [`RedisStore`] on a real
//! six-node Redis Cluster (`on_memory::*`, `on_redis::*`, and `on_cluster`, which runs
//! the whole suite on one cluster, each test under its own key prefix), then the
//! checks that only make sense for one of them (`only_redis::*`, `only_memory::*`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kakaobot::lunch::{
    AddOutcome, ChangeOutcome, GroupChange, GroupEdit, LunchRequest, LunchSession, NextStep,
    SessionWrite, StepMove, StepOutcome, VoteOutcome,
};
use kakaobot::store::{
    AnswerCheck, Keys, MemoryStore, QuizChange, QuizSession, RedisConnection, RedisStore,
    RedisTarget, RedisTimeouts, Score, Store, StoreError, SESSION_TTL, VOTE_TTL,
};
use kakaobot::user::{BotName, UserKey};
use redis::aio::MultiplexedConnection;

use crate::helpers::{unique_prefix, RedisCluster, RedisServer, Steps};

const DAY: &str = "2026-11-21";
const NEXT_DAY: &str = "2026-11-22";
/// The contract is about what the store does, not how fast: the suite runs beside the
/// rest of the tests, and five hundred voters at once on a busy machine can wait for
/// Redis longer than the service's own limit (half a second) allows.
const PATIENT: RedisTimeouts = RedisTimeouts {
    connect: Duration::from_secs(5),
    response: Duration::from_secs(30),
};

/// A store under test, with the means to make its entries expire without waiting.
struct Subject {
    store: Arc<dyn Store>,
    backend: Backend,
}

enum Backend {
    Memory(Arc<MemoryStore>),
    Redis {
        /// Kept alive for the test; killed on drop.
        _server: RedisServer,
        keys: Keys,
        /// A plain connection of the test's own, to look at and age keys.
        admin: MultiplexedConnection,
    },
    Cluster {
        /// Shared by the whole suite's run on the cluster.
        _cluster: Arc<RedisCluster>,
        keys: Keys,
        /// A cluster connection of the test's own, to age keys wherever they live.
        admin: RedisConnection,
        /// One connection per node, to find keys (SCAN sees one node only).
        nodes: Vec<MultiplexedConnection>,
    },
}

impl Subject {
    fn memory() -> Self {
        let store = Arc::new(MemoryStore::new());
        Self {
            store: store.clone(),
            backend: Backend::Memory(store),
        }
    }

    async fn redis(test_name: &str) -> Self {
        let server = RedisServer::start();
        let prefix = unique_prefix(test_name);
        let store = RedisStore::new(&server.url(), &prefix, PATIENT).unwrap();
        let admin = admin_connection(&server).await;
        Self {
            backend: Backend::Redis {
                keys: store.keys().clone(),
                _server: server,
                admin,
            },
            store: Arc::new(store),
        }
    }

    async fn cluster(cluster: &Arc<RedisCluster>, test_name: &str) -> Self {
        let prefix = unique_prefix(test_name);
        let target = RedisTarget::Cluster(cluster.urls());
        let store = RedisStore::open(&target, &prefix, PATIENT, None).unwrap();
        let admin = RedisConnection::open(&target, PATIENT, None).unwrap();
        let mut nodes = Vec::new();
        for url in cluster.urls() {
            nodes.push(
                redis::Client::open(url)
                    .unwrap()
                    .get_multiplexed_async_connection()
                    .await
                    .unwrap(),
            );
        }
        Self {
            backend: Backend::Cluster {
                _cluster: cluster.clone(),
                keys: store.keys().clone(),
                admin,
                nodes,
            },
            store: Arc::new(store),
        }
    }

    /// Whether `user` is a friend of `bot`: the service writes friends and never
    /// reads them, so the test looks at the record itself.
    async fn is_friend(&self, bot: BotName, user: &UserKey) -> bool {
        match &self.backend {
            Backend::Memory(store) => store.is_friend(bot, user),
            Backend::Redis { keys, admin, .. } => {
                friend_recorded(&mut admin.clone(), keys, bot, user).await
            }
            Backend::Cluster { keys, admin, .. } => {
                friend_recorded(&mut admin.clone(), keys, bot, user).await
            }
        }
    }

    /// The same store as another kakaobot process sees it: for Redis a second store
    /// on the same keys, which has seen nothing of this one's users.
    fn another_process(&self) -> Arc<dyn Store> {
        match &self.backend {
            Backend::Memory(store) => store.clone(),
            Backend::Redis { _server, keys, .. } => {
                Arc::new(RedisStore::new(&_server.url(), keys.prefix(), PATIENT).unwrap())
            }
            Backend::Cluster { _cluster, keys, .. } => Arc::new(
                RedisStore::open(
                    &RedisTarget::Cluster(_cluster.urls()),
                    keys.prefix(),
                    PATIENT,
                    None,
                )
                .unwrap(),
            ),
        }
    }

    async fn expire_sessions(&self) {
        self.expire(SESSION_TTL, |p| format!("{{{p}:u:*}}:*:session"))
            .await;
        // A lunch member's session lives with the group.
        self.expire(SESSION_TTL, |p| format!("{{{p}:g:*}}:step:*"))
            .await;
    }

    /// Lets every day's votes run out, as if a few days had passed.
    async fn expire_votes(&self) {
        self.expire(VOTE_TTL, |p| format!("{{{p}:g:*}}:votes:*"))
            .await;
    }

    /// Moves the memory clock past `ttl`, or expires the Redis keys matching the
    /// pattern `pattern(prefix)` makes.
    async fn expire(&self, ttl: Duration, pattern: impl Fn(&str) -> String) {
        match &self.backend {
            Backend::Memory(store) => store.advance_clock(ttl + Duration::from_secs(1)),
            Backend::Redis { keys, admin, .. } => {
                expire_now(admin, &pattern(keys.prefix())).await;
            }
            Backend::Cluster {
                keys, admin, nodes, ..
            } => {
                let pattern = pattern(keys.prefix());
                let mut found = Vec::new();
                for node in nodes {
                    found.extend(scan(node, &pattern).await);
                }
                found.sort();
                found.dedup();
                let mut admin = admin.clone();
                for key in found {
                    let _: bool = redis::cmd("PEXPIRE")
                        .arg(&key)
                        .arg(1)
                        .query_async(&mut admin)
                        .await
                        .unwrap();
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Whether Redis holds `user`'s friend record for `bot`.
pub async fn friend_recorded(
    admin: &mut impl redis::aio::ConnectionLike,
    keys: &Keys,
    bot: BotName,
    user: &UserKey,
) -> bool {
    redis::cmd("EXISTS")
        .arg(keys.friend(bot, user))
        .query_async(admin)
        .await
        .unwrap()
}

async fn admin_connection(server: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// All keys matching a `SCAN MATCH` pattern, sorted.
async fn scan(admin: &MultiplexedConnection, pattern: &str) -> Vec<String> {
    let mut admin = admin.clone();
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut admin)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Gives every matching key a 1 ms time to live and waits until it has passed.
async fn expire_now(admin: &MultiplexedConnection, pattern: &str) {
    let mut conn = admin.clone();
    for key in scan(admin, pattern).await {
        let _: bool = redis::cmd("PEXPIRE")
            .arg(&key)
            .arg(1)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}

fn user(name: &str) -> UserKey {
    UserKey::parse(name).unwrap()
}

fn question(category: &str, id: &str) -> QuizSession {
    QuizSession {
        category: category.to_owned(),
        question_id: id.to_owned(),
    }
}

/// A change that only makes `question` the pending one.
fn pending(question: QuizSession) -> QuizChange {
    QuizChange {
        session: Some(Some(question)),
        ..Default::default()
    }
}

/// A change that asks a question, as the quiz bot does: it becomes the pending
/// one and is marked asked in its category.
fn ask(category: &str, id: &str) -> QuizChange {
    QuizChange {
        session: Some(Some(question(category, id))),
        mark_asked: Some((category.into(), id.into())),
        ..Default::default()
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn counts(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

/// Creates group `code` owned by `owner` with the given restaurants.
async fn group_with(store: &dyn Store, owner: &UserKey, code: &str, restaurants: &[&str]) {
    assert!(store.lunch_create_group(owner, code).await.unwrap());
    for name in restaurants {
        assert_eq!(
            store.lunch_add_restaurant(owner, name, 20).await.unwrap(),
            AddOutcome::Added
        );
    }
}

/// A lunch request that only writes the session.
fn write(write: SessionWrite) -> LunchRequest {
    LunchRequest {
        write,
        ..Default::default()
    }
}

fn recorded(previous: Option<&str>) -> VoteOutcome {
    VoteOutcome::Recorded {
        previous: previous.map(str::to_owned),
    }
}

/// Runs each listed contract test once on each store.
macro_rules! contract_suite {
    ($($test:ident),+ $(,)?) => {
        mod on_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(&super::Subject::memory()).await;
                }
            )+
        }

        mod on_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(&super::Subject::redis(stringify!($test)).await).await;
                }
            )+
        }

        mod on_cluster {
            /// One cluster for the whole suite (forming one takes seconds); every test
            /// gets its own key prefix on it, and the cluster is removed at the end.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_whole_contract_holds_on_a_six_node_cluster() {
                let cluster = std::sync::Arc::new(crate::helpers::RedisCluster::start());
                $(
                    super::$test(
                        &super::Subject::cluster(&cluster, stringify!($test)).await
                    ).await;
                )+
            }
        }
    };
}

contract_suite!(
    the_store_answers_a_ping,
    a_session_lasts_until_it_expires,
    clearing_a_session_forgets_only_that_bots_session_and_can_be_repeated,
    a_session_can_be_replaced_and_ended,
    friends_are_recorded_per_bot_and_idempotently,
    removing_a_friend_forgets_their_session_with_that_bot,
    a_new_quiz_user_has_no_session_no_score_and_nothing_asked,
    a_quiz_change_is_applied_in_full,
    an_empty_quiz_change_changes_nothing,
    asked_questions_are_kept_per_category_and_per_user,
    a_reset_forgets_only_its_category_and_comes_before_the_new_mark,
    scores_and_asked_questions_outlive_the_session,
    an_answer_to_the_pending_question_is_judged_once,
    an_answer_to_a_question_no_longer_pending_changes_nothing,
    concurrent_answers_to_one_question_count_once,
    a_user_without_a_group_has_no_membership,
    creating_a_group_makes_the_creator_its_member,
    a_taken_group_code_is_refused_and_changes_nothing,
    joining_an_unknown_group_changes_nothing,
    joining_a_group_ends_the_session_and_leaves_the_previous_group,
    restaurants_are_listed_in_the_order_they_were_added_per_group,
    a_duplicate_restaurant_is_refused_whatever_its_case,
    a_full_list_refuses_more_restaurants,
    removing_a_restaurant_takes_it_off_the_list,
    a_vote_for_an_unknown_restaurant_changes_nothing,
    a_vote_is_recorded_and_ends_the_session,
    a_new_vote_moves_the_old_one,
    votes_are_kept_per_day,
    the_tally_lists_every_restaurant_in_list_order_and_skips_removed_ones,
    votes_in_another_group_are_not_counted,
    votes_expire_after_the_vote_ttl_but_the_group_and_its_list_stay,
    group_codes_and_days_with_separator_characters_are_kept_apart,
    five_hundred_concurrent_voters_are_each_counted_once_with_their_last_vote,
    a_user_creating_groups_over_and_over_leaves_only_their_last_group,
    a_group_is_removed_once_its_last_member_leaves,
    a_create_message_makes_the_group_and_leaves_the_old_one,
    a_create_over_the_allowance_leaves_everything_as_it_was,
    a_create_with_a_taken_code_changes_nothing,
    a_typed_code_joins_only_while_a_code_is_awaited,
    a_join_message_makes_the_member_and_leaves_the_old_group,
    a_join_with_an_unknown_code_keeps_the_group_and_the_step_awaiting_a_code,
    a_join_over_the_allowance_keeps_the_group_and_admits_nobody,
    a_join_awaited_in_another_process_is_made_all_the_same,
    a_code_typed_after_another_process_ended_the_step_joins_nothing,
    a_removed_restaurant_is_nobodys_vote_and_re_adding_it_starts_from_nothing,
    a_session_step_started_with_the_load_is_made_as_the_message_decides,
    an_allowance_refuses_uses_past_its_maximum_per_user_and_budget,
    a_choosing_or_removing_step_starts_only_when_the_group_lists_a_restaurant,
    the_move_made_for_the_members_step_applies_and_starts_the_step_it_names,
    a_tapped_vote_or_removal_applies_whatever_the_step_and_needs_a_group,
    a_question_is_asked_fresh_first_and_a_category_starts_over_without_the_pending_one,
    an_answer_is_judged_only_against_the_questions_its_choice_answers,
);

// --- sessions and friends --------------------------------------------------------

async fn the_store_answers_a_ping(s: &Subject) {
    s.store.ping().await.unwrap();
}

async fn a_session_lasts_until_it_expires(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    store
        .quiz_save(&alice, &pending(question("python", "py-1")))
        .await
        .unwrap();
    store
        .lunch_set_session(&alice, Some(LunchSession::Choosing))
        .await
        .unwrap();
    assert_eq!(
        store.quiz_load(&alice, None).await.unwrap().session,
        Some(question("python", "py-1"))
    );
    assert_eq!(
        store.lunch_load(&alice, DAY).await.unwrap().session,
        Some(LunchSession::Choosing)
    );

    s.expire_sessions().await;

    assert_eq!(store.quiz_load(&alice, None).await.unwrap().session, None);
    assert_eq!(store.lunch_load(&alice, DAY).await.unwrap().session, None);
}

async fn clearing_a_session_forgets_only_that_bots_session_and_can_be_repeated(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    store
        .quiz_save(&alice, &pending(question("web", "web-1")))
        .await
        .unwrap();
    store
        .lunch_set_session(&alice, Some(LunchSession::Settings))
        .await
        .unwrap();

    store.clear_session(BotName::Quiz, &alice).await.unwrap();
    store.clear_session(BotName::Quiz, &alice).await.unwrap();

    assert_eq!(store.quiz_load(&alice, None).await.unwrap().session, None);
    assert_eq!(
        store.lunch_load(&alice, DAY).await.unwrap().session,
        Some(LunchSession::Settings)
    );
    store.clear_session(BotName::Lunch, &alice).await.unwrap();
    assert_eq!(store.lunch_load(&alice, DAY).await.unwrap().session, None);
    // Never had one: still fine.
    store
        .clear_session(BotName::Lunch, &user("nobody"))
        .await
        .unwrap();
}

async fn a_session_can_be_replaced_and_ended(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    for (step, session) in [
        LunchSession::Settings,
        LunchSession::AwaitingJoinCode,
        LunchSession::AwaitingNewRestaurant,
        LunchSession::AwaitingRemoval,
        LunchSession::Choosing,
    ]
    .into_iter()
    .enumerate()
    {
        store
            .lunch_set_session(&alice, Some(session))
            .await
            .unwrap();
        assert_eq!(
            store.lunch_load(&alice, DAY).await.unwrap().session,
            Some(session),
            "step {step}"
        );
    }
    store.lunch_set_session(&alice, None).await.unwrap();
    assert_eq!(store.lunch_load(&alice, DAY).await.unwrap().session, None);

    let start = pending(question("python", "py-1"));
    let replace = pending(question("web", "web-2"));
    let end = QuizChange {
        session: Some(None),
        ..Default::default()
    };
    store.quiz_save(&alice, &start).await.unwrap();
    store.quiz_save(&alice, &replace).await.unwrap();
    assert_eq!(
        store.quiz_load(&alice, None).await.unwrap().session,
        Some(question("web", "web-2"))
    );
    store.quiz_save(&alice, &end).await.unwrap();
    assert_eq!(store.quiz_load(&alice, None).await.unwrap().session, None);
}

async fn friends_are_recorded_per_bot_and_idempotently(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    assert!(!s.is_friend(BotName::Quiz, &alice).await);

    store.add_friend(BotName::Quiz, &alice).await.unwrap();
    store.add_friend(BotName::Quiz, &alice).await.unwrap();

    assert!(s.is_friend(BotName::Quiz, &alice).await);
    assert!(!s.is_friend(BotName::Lunch, &alice).await);
    assert!(!s.is_friend(BotName::Quiz, &user("bob")).await);

    store.remove_friend(BotName::Quiz, &alice).await.unwrap();
    store.remove_friend(BotName::Quiz, &alice).await.unwrap();
    assert!(!s.is_friend(BotName::Quiz, &alice).await);
}

async fn removing_a_friend_forgets_their_session_with_that_bot(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    store.add_friend(BotName::Lunch, &alice).await.unwrap();
    store
        .lunch_set_session(&alice, Some(LunchSession::Choosing))
        .await
        .unwrap();
    store
        .quiz_save(&alice, &pending(question("python", "py-1")))
        .await
        .unwrap();

    store.remove_friend(BotName::Lunch, &alice).await.unwrap();

    assert_eq!(store.lunch_load(&alice, DAY).await.unwrap().session, None);
    assert_eq!(
        store.quiz_load(&alice, None).await.unwrap().session,
        Some(question("python", "py-1"))
    );
}

// --- quiz --------------------------------------------------------------------------

async fn a_new_quiz_user_has_no_session_no_score_and_nothing_asked(s: &Subject) {
    let state = s
        .store
        .quiz_load(&user("newbie"), Some("python"))
        .await
        .unwrap();
    assert_eq!(state, Default::default());
}

async fn a_quiz_change_is_applied_in_full(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    store
        .quiz_save(&alice, &ask("python", "py-1"))
        .await
        .unwrap();
    let state = store.quiz_load(&alice, Some("python")).await.unwrap();
    assert_eq!(state.session, Some(question("python", "py-1")));
    assert_eq!(state.score, Score::default());
    assert_eq!(state.asked, names(&["py-1"]));

    assert!(store
        .quiz_answer(&alice, &question("python", "py-1"), true)
        .await
        .unwrap());
    store
        .quiz_save(&alice, &ask("python", "py-2"))
        .await
        .unwrap();
    assert!(store
        .quiz_answer(&alice, &question("python", "py-2"), false)
        .await
        .unwrap());

    let state = store.quiz_load(&alice, Some("python")).await.unwrap();
    assert_eq!(state.session, None);
    assert_eq!(
        state.score,
        Score {
            correct: 1,
            answered: 2
        }
    );
    assert_eq!(state.asked, names(&["py-1", "py-2"]));
}

async fn an_answer_to_the_pending_question_is_judged_once(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    let asked = question("python", "py-1");
    store
        .quiz_save(&alice, &pending(asked.clone()))
        .await
        .unwrap();

    assert!(store.quiz_answer(&alice, &asked, true).await.unwrap());
    assert!(!store.quiz_answer(&alice, &asked, true).await.unwrap());

    let state = store.quiz_load(&alice, None).await.unwrap();
    assert_eq!(state.session, None);
    assert_eq!(
        state.score,
        Score {
            correct: 1,
            answered: 1
        }
    );
}

async fn an_answer_to_a_question_no_longer_pending_changes_nothing(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    let now_pending = question("web", "web-2");
    store
        .quiz_save(&alice, &pending(now_pending.clone()))
        .await
        .unwrap();

    let earlier = question("python", "py-1");
    assert!(!store.quiz_answer(&alice, &earlier, false).await.unwrap());
    assert!(!store
        .quiz_answer(&user("bob"), &now_pending, true)
        .await
        .unwrap());

    let state = store.quiz_load(&alice, None).await.unwrap();
    assert_eq!(state.session, Some(now_pending));
    assert_eq!(state.score, Score::default());
}

async fn concurrent_answers_to_one_question_count_once(s: &Subject) {
    let alice = user("alice");
    let asked = question("computer", "cs-1");
    s.store
        .quiz_save(&alice, &pending(asked.clone()))
        .await
        .unwrap();

    let taps = (0..20).map(|_| {
        let store = s.store.clone();
        let (alice, asked) = (alice.clone(), asked.clone());
        tokio::spawn(async move { store.quiz_answer(&alice, &asked, true).await.unwrap() })
    });
    let mut judged = 0;
    for tap in taps.collect::<Vec<_>>() {
        judged += usize::from(tap.await.unwrap());
    }

    assert_eq!(judged, 1);
    let state = s.store.quiz_load(&alice, None).await.unwrap();
    assert_eq!(
        state.score,
        Score {
            correct: 1,
            answered: 1
        }
    );
}

async fn an_empty_quiz_change_changes_nothing(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    store.quiz_save(&alice, &ask("web", "web-1")).await.unwrap();
    assert!(store
        .quiz_answer(&alice, &question("web", "web-1"), true)
        .await
        .unwrap());
    store.quiz_save(&alice, &ask("web", "web-2")).await.unwrap();
    let before = store.quiz_load(&alice, Some("web")).await.unwrap();

    store
        .quiz_save(&alice, &QuizChange::default())
        .await
        .unwrap();

    assert_eq!(store.quiz_load(&alice, Some("web")).await.unwrap(), before);
}

async fn asked_questions_are_kept_per_category_and_per_user(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = (user("alice"), user("bob"));
    for (who, category, id) in [
        (&alice, "python", "py-2"),
        (&alice, "python", "py-1"),
        (&alice, "python", "py-1"),
        (&alice, "web", "web-1"),
        (&bob, "python", "py-3"),
    ] {
        let change = QuizChange {
            mark_asked: Some((category.into(), id.into())),
            ..Default::default()
        };
        store.quiz_save(who, &change).await.unwrap();
    }

    let asked = |who: &UserKey, category: Option<&'static str>| {
        let who = who.clone();
        async move { store.quiz_load(&who, category).await.unwrap().asked }
    };
    assert_eq!(
        asked(&alice, Some("python")).await,
        names(&["py-1", "py-2"])
    );
    assert_eq!(asked(&alice, Some("web")).await, names(&["web-1"]));
    assert_eq!(asked(&alice, Some("computer")).await, names(&[]));
    assert_eq!(asked(&alice, None).await, names(&[]));
    assert_eq!(asked(&bob, Some("python")).await, names(&["py-3"]));
}

async fn a_reset_forgets_only_its_category_and_comes_before_the_new_mark(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    for (category, id) in [("python", "py-1"), ("python", "py-2"), ("web", "web-1")] {
        let change = QuizChange {
            mark_asked: Some((category.into(), id.into())),
            ..Default::default()
        };
        store.quiz_save(&alice, &change).await.unwrap();
    }

    let new_round = QuizChange {
        session: Some(Some(question("python", "py-2"))),
        reset_asked: Some("python".into()),
        mark_asked: Some(("python".into(), "py-2".into())),
    };
    store.quiz_save(&alice, &new_round).await.unwrap();

    let python = store.quiz_load(&alice, Some("python")).await.unwrap();
    assert_eq!(python.asked, names(&["py-2"]));
    assert_eq!(python.session, Some(question("python", "py-2")));
    let web = store.quiz_load(&alice, Some("web")).await.unwrap();
    assert_eq!(web.asked, names(&["web-1"]));
}

async fn scores_and_asked_questions_outlive_the_session(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    store
        .quiz_save(&alice, &ask("computer", "com-1"))
        .await
        .unwrap();
    assert!(store
        .quiz_answer(&alice, &question("computer", "com-1"), true)
        .await
        .unwrap());

    s.expire_sessions().await;

    let state = store.quiz_load(&alice, Some("computer")).await.unwrap();
    assert_eq!(state.session, None);
    assert_eq!(
        state.score,
        Score {
            correct: 1,
            answered: 1
        }
    );
    assert_eq!(state.asked, names(&["com-1"]));
}

// --- lunch groups and restaurants ------------------------------------------------------

async fn a_user_without_a_group_has_no_membership(s: &Subject) {
    let state = s.store.lunch_load(&user("loner"), DAY).await.unwrap();
    assert_eq!(state, Default::default());
}

async fn creating_a_group_makes_the_creator_its_member(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");

    assert!(store.lunch_create_group(&alice, "ABC123").await.unwrap());

    let membership = store
        .lunch_load(&alice, DAY)
        .await
        .unwrap()
        .membership
        .unwrap();
    assert_eq!(membership.code, "ABC123");
    assert_eq!(membership.restaurants, names(&[]));
    assert_eq!(membership.my_vote, None);
}

async fn a_taken_group_code_is_refused_and_changes_nothing(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = (user("alice"), user("bob"));
    group_with(store, &alice, "ABC123", &["김밥천국"]).await;
    group_with(store, &bob, "XYZ789", &[]).await;

    assert!(!store.lunch_create_group(&bob, "ABC123").await.unwrap());
    assert!(!store.lunch_create_group(&alice, "ABC123").await.unwrap());

    let bobs = store
        .lunch_load(&bob, DAY)
        .await
        .unwrap()
        .membership
        .unwrap();
    assert_eq!(bobs.code, "XYZ789");
    let alices = store
        .lunch_load(&alice, DAY)
        .await
        .unwrap()
        .membership
        .unwrap();
    assert_eq!(alices.code, "ABC123");
    assert_eq!(alices.restaurants, names(&["김밥천국"]));
}

async fn joining_an_unknown_group_changes_nothing(s: &Subject) {
    let store = &*s.store;
    let bob = user("bob");
    group_with(store, &bob, "XYZ789", &[]).await;
    store
        .lunch_set_session(&bob, Some(LunchSession::AwaitingJoinCode))
        .await
        .unwrap();

    assert!(!store.lunch_join_group(&bob, "NOPE00").await.unwrap());
    assert!(!store
        .lunch_join_group(&user("carol"), "NOPE00")
        .await
        .unwrap());

    let state = store.lunch_load(&bob, DAY).await.unwrap();
    assert_eq!(state.session, Some(LunchSession::AwaitingJoinCode));
    assert_eq!(state.membership.unwrap().code, "XYZ789");
    assert_eq!(
        store.lunch_load(&user("carol"), DAY).await.unwrap(),
        Default::default()
    );
}

async fn joining_a_group_ends_the_session_and_leaves_the_previous_group(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = (user("alice"), user("bob"));
    group_with(store, &alice, "ABC123", &["짜장면", "김치찌개"]).await;
    group_with(store, &bob, "XYZ789", &["pizza"]).await;
    store
        .lunch_set_session(&bob, Some(LunchSession::AwaitingJoinCode))
        .await
        .unwrap();

    assert!(store.lunch_join_group(&bob, "ABC123").await.unwrap());

    let state = store.lunch_load(&bob, DAY).await.unwrap();
    assert_eq!(state.session, None);
    let membership = state.membership.unwrap();
    assert_eq!(membership.code, "ABC123");
    assert_eq!(membership.restaurants, names(&["짜장면", "김치찌개"]));
    // Joining the group one is in already is fine too.
    assert!(store.lunch_join_group(&bob, "ABC123").await.unwrap());
}

async fn restaurants_are_listed_in_the_order_they_were_added_per_group(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = (user("alice"), user("bob"));
    group_with(store, &alice, "ABC123", &["c", "a", "b"]).await;
    group_with(store, &bob, "XYZ789", &["z"]).await;

    let list = |who: UserKey| async move {
        store
            .lunch_load(&who, DAY)
            .await
            .unwrap()
            .membership
            .unwrap()
            .restaurants
    };
    assert_eq!(list(alice).await, names(&["c", "a", "b"]));
    assert_eq!(list(bob).await, names(&["z"]));
}

async fn a_duplicate_restaurant_is_refused_whatever_its_case(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    group_with(store, &alice, "ABC123", &["Pizza Hut", "김밥천국"]).await;

    for name in ["Pizza Hut", "pizza hut", "PIZZA HUT", "김밥천국"] {
        assert_eq!(
            store.lunch_add_restaurant(&alice, name, 20).await.unwrap(),
            AddOutcome::Duplicate,
            "{name}"
        );
    }

    let membership = store
        .lunch_load(&alice, DAY)
        .await
        .unwrap()
        .membership
        .unwrap();
    assert_eq!(membership.restaurants, names(&["Pizza Hut", "김밥천국"]));
}

async fn a_full_list_refuses_more_restaurants(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    group_with(store, &alice, "ABC123", &[]).await;
    let add = |name: &'static str| store.lunch_add_restaurant(&alice, name, 2);

    assert_eq!(add("a").await.unwrap(), AddOutcome::Added);
    assert_eq!(add("b").await.unwrap(), AddOutcome::Added);
    assert_eq!(add("c").await.unwrap(), AddOutcome::Full);
    // A duplicate is reported as such even when the list is full.
    assert_eq!(add("A").await.unwrap(), AddOutcome::Duplicate);
    assert!(store
        .lunch_remove_restaurant(&alice, "a", DAY)
        .await
        .unwrap());
    assert_eq!(add("c").await.unwrap(), AddOutcome::Added);

    let membership = store
        .lunch_load(&alice, DAY)
        .await
        .unwrap()
        .membership
        .unwrap();
    assert_eq!(membership.restaurants, names(&["b", "c"]));
}

async fn removing_a_restaurant_takes_it_off_the_list(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    group_with(store, &alice, "ABC123", &["a", "b", "c"]).await;

    assert!(store
        .lunch_remove_restaurant(&alice, "b", DAY)
        .await
        .unwrap());
    assert!(!store
        .lunch_remove_restaurant(&alice, "b", DAY)
        .await
        .unwrap());
    assert!(!store
        .lunch_remove_restaurant(&alice, "zzz", DAY)
        .await
        .unwrap());
    assert!(!store
        .lunch_remove_restaurant(&user("nobody"), "a", DAY)
        .await
        .unwrap());

    let membership = store
        .lunch_load(&alice, DAY)
        .await
        .unwrap()
        .membership
        .unwrap();
    assert_eq!(membership.restaurants, names(&["a", "c"]));
}

// --- votes -------------------------------------------------------------------------

async fn a_vote_for_an_unknown_restaurant_changes_nothing(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    group_with(store, &alice, "ABC123", &["a", "b"]).await;
    assert_eq!(
        store.lunch_vote(&alice, DAY, "a").await.unwrap(),
        recorded(None)
    );
    store
        .lunch_set_session(&alice, Some(LunchSession::Choosing))
        .await
        .unwrap();
    assert!(store
        .lunch_remove_restaurant(&alice, "b", DAY)
        .await
        .unwrap());

    for name in ["nope", "b", "A"] {
        assert_eq!(
            store.lunch_vote(&alice, DAY, name).await.unwrap(),
            VoteOutcome::UnknownRestaurant,
            "{name}"
        );
    }

    let state = store.lunch_load(&alice, DAY).await.unwrap();
    assert_eq!(state.session, Some(LunchSession::Choosing));
    assert_eq!(state.membership.unwrap().my_vote.as_deref(), Some("a"));
    assert_eq!(
        store.lunch_tally(&alice, DAY).await.unwrap().counts,
        counts(&[("a", 1)])
    );
}

async fn a_vote_is_recorded_and_ends_the_session(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    group_with(store, &alice, "ABC123", &["a", "b"]).await;
    store
        .lunch_set_session(&alice, Some(LunchSession::Choosing))
        .await
        .unwrap();

    assert_eq!(
        store.lunch_vote(&alice, DAY, "b").await.unwrap(),
        recorded(None)
    );

    let state = store.lunch_load(&alice, DAY).await.unwrap();
    assert_eq!(state.session, None);
    assert_eq!(state.membership.unwrap().my_vote.as_deref(), Some("b"));
}

async fn a_new_vote_moves_the_old_one(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = (user("alice"), user("bob"));
    group_with(store, &alice, "ABC123", &["a", "b", "c"]).await;
    assert!(store.lunch_join_group(&bob, "ABC123").await.unwrap());
    store.lunch_vote(&bob, DAY, "a").await.unwrap();

    let first = store.lunch_vote(&alice, DAY, "a").await.unwrap();
    let second = store.lunch_vote(&alice, DAY, "c").await.unwrap();
    let same_again = store.lunch_vote(&alice, DAY, "c").await.unwrap();

    assert_eq!(first, recorded(None));
    assert_eq!(second, recorded(Some("a")));
    assert_eq!(same_again, recorded(Some("c")));
    assert_eq!(
        store.lunch_tally(&alice, DAY).await.unwrap().counts,
        counts(&[("a", 1), ("b", 0), ("c", 1)])
    );
    let membership = store
        .lunch_load(&alice, DAY)
        .await
        .unwrap()
        .membership
        .unwrap();
    assert_eq!(membership.my_vote.as_deref(), Some("c"));
}

async fn votes_are_kept_per_day(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    group_with(store, &alice, "ABC123", &["a", "b"]).await;

    store.lunch_vote(&alice, DAY, "a").await.unwrap();
    assert_eq!(
        store.lunch_vote(&alice, NEXT_DAY, "b").await.unwrap(),
        recorded(None)
    );

    let my_vote = |day: &'static str| {
        let alice = alice.clone();
        async move {
            store
                .lunch_load(&alice, day)
                .await
                .unwrap()
                .membership
                .unwrap()
                .my_vote
        }
    };
    assert_eq!(my_vote(DAY).await.as_deref(), Some("a"));
    assert_eq!(my_vote(NEXT_DAY).await.as_deref(), Some("b"));
    assert_eq!(my_vote("2026-11-23").await, None);
    assert_eq!(
        store.lunch_tally(&alice, DAY).await.unwrap().counts,
        counts(&[("a", 1), ("b", 0)])
    );
    assert_eq!(
        store.lunch_tally(&alice, NEXT_DAY).await.unwrap().counts,
        counts(&[("a", 0), ("b", 1)])
    );
}

async fn the_tally_lists_every_restaurant_in_list_order_and_skips_removed_ones(s: &Subject) {
    let store = &*s.store;
    let owner = user("owner");
    group_with(store, &owner, "ABC123", &["d", "c", "b", "a"]).await;
    assert_eq!(
        store.lunch_tally(&owner, DAY).await.unwrap().counts,
        counts(&[("d", 0), ("c", 0), ("b", 0), ("a", 0)])
    );
    for (voter, pick) in [
        ("u1", "a"),
        ("u2", "a"),
        ("u3", "b"),
        ("u4", "c"),
        ("u5", "a"),
    ] {
        assert!(store
            .lunch_join_group(&user(voter), "ABC123")
            .await
            .unwrap());
        store.lunch_vote(&user(voter), DAY, pick).await.unwrap();
    }

    assert!(store
        .lunch_remove_restaurant(&owner, "b", DAY)
        .await
        .unwrap());

    assert_eq!(
        store.lunch_tally(&owner, DAY).await.unwrap().counts,
        counts(&[("d", 0), ("c", 1), ("a", 3)])
    );
    assert_eq!(
        store
            .lunch_tally(&user("nobody"), DAY)
            .await
            .unwrap()
            .counts,
        counts(&[])
    );
}

async fn votes_in_another_group_are_not_counted(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = (user("alice"), user("bob"));
    group_with(store, &alice, "ABC123", &["a", "b"]).await;
    group_with(store, &bob, "XYZ789", &["a", "b"]).await;

    store.lunch_vote(&alice, DAY, "a").await.unwrap();
    store.lunch_vote(&bob, DAY, "b").await.unwrap();

    assert_eq!(
        store.lunch_tally(&alice, DAY).await.unwrap().counts,
        counts(&[("a", 1), ("b", 0)])
    );
    assert_eq!(
        store.lunch_tally(&bob, DAY).await.unwrap().counts,
        counts(&[("a", 0), ("b", 1)])
    );
}

async fn votes_expire_after_the_vote_ttl_but_the_group_and_its_list_stay(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    group_with(store, &alice, "ABC123", &["a", "b"]).await;
    store.lunch_vote(&alice, DAY, "a").await.unwrap();
    s.expire_sessions().await;
    assert_eq!(
        store.lunch_tally(&alice, DAY).await.unwrap().counts,
        counts(&[("a", 1), ("b", 0)]),
        "votes outlive sessions"
    );

    s.expire_votes().await;

    let membership = store
        .lunch_load(&alice, DAY)
        .await
        .unwrap()
        .membership
        .unwrap();
    assert_eq!(membership.code, "ABC123");
    assert_eq!(membership.restaurants, names(&["a", "b"]));
    assert_eq!(membership.my_vote, None);
    assert_eq!(
        store.lunch_tally(&alice, DAY).await.unwrap().counts,
        counts(&[("a", 0), ("b", 0)])
    );
    assert_eq!(
        store.lunch_vote(&alice, DAY, "b").await.unwrap(),
        recorded(None)
    );
}

async fn group_codes_and_days_with_separator_characters_are_kept_apart(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = (user("alice"), user("bob"));
    group_with(store, &alice, "A", &["x"]).await;

    // Typed join codes that spell another group's keys name no group.
    for code in ["A:restaurants", "A%3Arestaurants", "A:", ""] {
        assert!(!store.lunch_join_group(&bob, code).await.unwrap(), "{code}");
    }

    let odd_code = "50%:x";
    let odd_day = "2026:11%21";
    group_with(store, &bob, odd_code, &["y", "z"]).await;
    assert_eq!(
        store.lunch_vote(&bob, odd_day, "z").await.unwrap(),
        recorded(None)
    );

    let membership = store
        .lunch_load(&bob, odd_day)
        .await
        .unwrap()
        .membership
        .unwrap();
    assert_eq!(membership.code, odd_code);
    assert_eq!(membership.restaurants, names(&["y", "z"]));
    assert_eq!(membership.my_vote.as_deref(), Some("z"));
    assert_eq!(
        store.lunch_tally(&bob, odd_day).await.unwrap().counts,
        counts(&[("y", 0), ("z", 1)])
    );
    let alices = store
        .lunch_load(&alice, DAY)
        .await
        .unwrap()
        .membership
        .unwrap();
    assert_eq!(alices.restaurants, names(&["x"]));
}

async fn five_hundred_concurrent_voters_are_each_counted_once_with_their_last_vote(s: &Subject) {
    const VOTERS: usize = 500;
    const PLACES: [&str; 5] = ["짜장면", "김치찌개", "pizza", "sushi", "bibimbap"];
    let code = "CROWD1";
    group_with(&*s.store, &user("owner"), code, &PLACES).await;

    // Each voter joins, then votes one to three times in a row (each vote after the
    // previous one was answered); all voters run at once.
    let voters: Vec<_> = (0..VOTERS)
        .map(|i| {
            let store = s.store.clone();
            tokio::spawn(async move {
                let voter = user(&format!("voter-{i}"));
                assert!(store.lunch_join_group(&voter, code).await.unwrap());
                let picks: Vec<&str> = (0..=i % 3)
                    .map(|k| PLACES[(i * 7 + k * 3) % PLACES.len()])
                    .collect();
                let mut previous = None;
                for pick in &picks {
                    let outcome = store.lunch_vote(&voter, DAY, pick).await.unwrap();
                    assert_eq!(outcome, recorded(previous));
                    previous = Some(*pick);
                }
                (voter, previous.unwrap())
            })
        })
        .collect();
    let mut last_votes = Vec::with_capacity(VOTERS);
    for voter in voters {
        last_votes.push(voter.await.unwrap());
    }

    let mut expected: HashMap<&str, u64> = HashMap::new();
    for (_, pick) in &last_votes {
        *expected.entry(pick).or_default() += 1;
    }
    let tally = s.store.lunch_tally(&user("owner"), DAY).await.unwrap();
    assert_eq!(
        tally.counts,
        PLACES
            .iter()
            .map(|p| (p.to_string(), expected.get(p).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        tally.counts.iter().map(|(_, n)| n).sum::<u64>(),
        VOTERS as u64
    );
    for (voter, pick) in last_votes.iter().step_by(25) {
        let membership = s
            .store
            .lunch_load(voter, DAY)
            .await
            .unwrap()
            .membership
            .unwrap();
        assert_eq!(membership.my_vote.as_deref(), Some(*pick));
    }
}

// --- bounded growth ------------------------------------------------------------------

async fn a_user_creating_groups_over_and_over_leaves_only_their_last_group(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = (user("alice"), user("bob"));
    for code in ["GRP001", "GRP002", "GRP003"] {
        assert!(store.lunch_create_group(&alice, code).await.unwrap());
    }

    assert!(!store.lunch_join_group(&bob, "GRP001").await.unwrap());
    assert!(!store.lunch_join_group(&bob, "GRP002").await.unwrap());
    assert!(store.lunch_join_group(&bob, "GRP003").await.unwrap());
}

async fn a_group_is_removed_once_its_last_member_leaves(s: &Subject) {
    let store = &*s.store;
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    group_with(store, &alice, "OLD001", &["김밥"]).await;
    assert!(store.lunch_join_group(&bob, "OLD001").await.unwrap());

    assert!(store.lunch_create_group(&alice, "NEW001").await.unwrap());
    let bobs = store
        .lunch_load(&bob, DAY)
        .await
        .unwrap()
        .membership
        .unwrap();
    assert_eq!(
        bobs.restaurants,
        names(&["김밥"]),
        "bob still has the old group"
    );
    assert!(store.lunch_join_group(&bob, "NEW001").await.unwrap());

    assert!(!store.lunch_join_group(&carol, "OLD001").await.unwrap());
    assert!(store.lunch_add_restaurant(&alice, "라멘", 20).await.is_ok());
    assert!(store.lunch_create_group(&carol, "OLD001").await.unwrap());
    let carols = store
        .lunch_load(&carol, DAY)
        .await
        .unwrap()
        .membership
        .unwrap();
    assert_eq!(
        carols.restaurants,
        names(&[]),
        "a new group under a freed code starts with an empty list"
    );
}

async fn a_removed_restaurant_is_nobodys_vote_and_re_adding_it_starts_from_nothing(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = (user("alice"), user("bob"));
    group_with(store, &alice, "ABC123", &["김밥", "라멘"]).await;
    store.lunch_join_group(&bob, "ABC123").await.unwrap();
    store.lunch_vote(&alice, DAY, "김밥").await.unwrap();
    store.lunch_vote(&bob, DAY, "김밥").await.unwrap();

    assert!(store
        .lunch_remove_restaurant(&alice, "김밥", DAY)
        .await
        .unwrap());
    let state = store.lunch_load(&alice, DAY).await.unwrap();
    assert_eq!(state.membership.unwrap().my_vote, None);
    store
        .lunch_add_restaurant(&alice, "김밥", 20)
        .await
        .unwrap();

    let state = store
        .lunch_open(
            &bob,
            DAY,
            &LunchRequest {
                tally: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(state.membership.unwrap().my_vote, None);
    assert_eq!(
        state.tally.unwrap().counts,
        counts(&[("라멘", 0), ("김밥", 0)])
    );
}

async fn a_session_step_started_with_the_load_is_made_as_the_message_decides(s: &Subject) {
    let store = &*s.store;
    let (alice, loner) = (user("alice"), user("loner"));
    group_with(store, &alice, "ABC123", &["김밥"]).await;

    let before = store
        .lunch_open(
            &alice,
            DAY,
            &write(SessionWrite::Set(LunchSession::AwaitingJoinCode)),
        )
        .await
        .unwrap();
    let after_set = store
        .lunch_open(
            &alice,
            DAY,
            &write(SessionWrite::SetIfMember(LunchSession::Choosing)),
        )
        .await
        .unwrap();
    let after_member_only = store
        .lunch_open(&alice, DAY, &write(SessionWrite::Clear))
        .await
        .unwrap();
    let after_clear = store.lunch_load(&alice, DAY).await.unwrap();
    store
        .lunch_open(
            &loner,
            DAY,
            &write(SessionWrite::SetIfMember(LunchSession::Choosing)),
        )
        .await
        .unwrap();

    assert_eq!(
        before.session,
        Some(LunchSession::Settings),
        "left by creating"
    );
    assert_eq!(after_set.session, Some(LunchSession::AwaitingJoinCode));
    assert_eq!(after_member_only.session, Some(LunchSession::Choosing));
    assert_eq!(after_clear.session, None);
    assert_eq!(store.lunch_load(&loner, DAY).await.unwrap().session, None);
}

async fn an_allowance_refuses_uses_past_its_maximum_per_user_and_budget(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = (user("alice"), user("bob"));
    let awaiting = write(SessionWrite::Set(LunchSession::AwaitingJoinCode));
    for who in [&alice, &bob] {
        store.lunch_open(who, DAY, &awaiting).await.unwrap();
    }
    let try_code = |who: &UserKey| {
        let who = who.clone();
        async move {
            let state = store.lunch_open(&who, DAY, &join("NOPE00", 3)).await;
            state.unwrap().change
        }
    };

    for attempt in 0..3 {
        let tried = try_code(&alice).await;
        assert_eq!(tried, Some(ChangeOutcome::NoSuchGroup), "attempt {attempt}");
    }

    assert_eq!(try_code(&alice).await, Some(ChangeOutcome::OverBudget));
    assert_eq!(try_code(&bob).await, Some(ChangeOutcome::NoSuchGroup));
    let created = store.lunch_open(&alice, DAY, &create("ALICE1", 3)).await;
    assert_eq!(created.unwrap().change, Some(ChangeOutcome::Created));
}

// --- one-call lunch steps ---------------------------------------------------------------

// --- creating and joining with the load ---------------------------------------

fn create(code: &str, max: u32) -> LunchRequest {
    LunchRequest {
        change: Some(GroupChange::Create {
            code: code.to_owned(),
            max,
            step: LunchSession::Settings,
        }),
        ..LunchRequest::default()
    }
}

fn join(code: &str, max: u32) -> LunchRequest {
    LunchRequest {
        change: Some(GroupChange::Join {
            code: code.to_owned(),
            max,
        }),
        ..LunchRequest::default()
    }
}

/// `user`'s group code and list, as their next message would see them.
async fn group_of(store: &dyn Store, user: &UserKey) -> Option<(String, Vec<String>)> {
    store
        .lunch_load(user, DAY)
        .await
        .unwrap()
        .membership
        .map(|m| (m.code, m.restaurants))
}

/// `user` as a member of `code`, seen by the store as the bot sees them: the store
/// has loaded their group, and they asked to join another.
async fn awaiting_a_code(store: &dyn Store, user: &UserKey) {
    store
        .lunch_open(
            user,
            DAY,
            &write(SessionWrite::Set(LunchSession::AwaitingJoinCode)),
        )
        .await
        .unwrap();
}

/// Alice in group ABC123 listing 김밥, and bob in his own group BOB001 listing 라멘,
/// asked for a code to join another.
async fn two_groups_and_bob_asked_for_a_code(store: &dyn Store) -> (UserKey, UserKey) {
    let (alice, bob) = (user("alice"), user("bob"));
    group_with(store, &alice, "ABC123", &["김밥"]).await;
    group_with(store, &bob, "BOB001", &["라멘"]).await;
    awaiting_a_code(store, &bob).await;
    (alice, bob)
}

async fn a_create_message_makes_the_group_and_leaves_the_old_one(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = (user("alice"), user("bob"));
    group_with(store, &alice, "OLD001", &["김밥"]).await;
    assert!(store.lunch_join_group(&bob, "OLD001").await.unwrap());
    group_of(store, &alice).await;

    let state = store
        .lunch_open(&alice, DAY, &create("NEW001", 5))
        .await
        .unwrap();

    assert_eq!(state.change, Some(ChangeOutcome::Created));
    assert_eq!(state.membership.map(|m| m.code).as_deref(), Some("OLD001"));
    assert_eq!(
        group_of(store, &alice).await,
        Some(("NEW001".into(), vec![]))
    );
    let next = store.lunch_load(&alice, DAY).await.unwrap();
    assert_eq!(next.session, Some(LunchSession::Settings));
    assert!(
        !store
            .lunch_join_group(&user("carol"), "OLD002")
            .await
            .unwrap(),
        "no stray group"
    );
    assert_eq!(
        group_of(store, &bob).await,
        Some(("OLD001".into(), names(&["김밥"]))),
        "the old group keeps its other member and its list"
    );
    assert!(store.lunch_join_group(&bob, "NEW001").await.unwrap());
    assert!(
        !store
            .lunch_join_group(&user("carol"), "OLD001")
            .await
            .unwrap(),
        "once bob left too, nobody is in the old group: it is gone"
    );
}

async fn a_create_over_the_allowance_leaves_everything_as_it_was(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    group_with(store, &alice, "OLD001", &["김밥"]).await;
    group_of(store, &alice).await;

    let state = store
        .lunch_open(&alice, DAY, &create("NEW001", 0))
        .await
        .unwrap();

    assert_eq!(state.change, Some(ChangeOutcome::OverBudget));
    assert!(state.membership.is_some(), "alice was a member");
    assert_eq!(
        group_of(store, &alice).await,
        Some(("OLD001".into(), names(&["김밥"]))),
        "alice, the only member, keeps her group and its list"
    );
    assert!(
        !store
            .lunch_join_group(&user("bob"), "NEW001")
            .await
            .unwrap(),
        "the refused group does not exist"
    );
    assert!(store
        .lunch_join_group(&user("bob"), "OLD001")
        .await
        .unwrap());
}

async fn a_create_with_a_taken_code_changes_nothing(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = (user("alice"), user("bob"));
    group_with(store, &alice, "ABC123", &["김밥"]).await;
    group_with(store, &bob, "BOB001", &["라멘"]).await;
    group_of(store, &bob).await;

    let state = store
        .lunch_open(&bob, DAY, &create("ABC123", 5))
        .await
        .unwrap();

    assert_eq!(state.change, Some(ChangeOutcome::CodeTaken));
    assert_eq!(
        group_of(store, &bob).await,
        Some(("BOB001".into(), names(&["라멘"]))),
        "bob is still in his own group, not in alice's"
    );
    assert_eq!(
        group_of(store, &alice).await,
        Some(("ABC123".into(), names(&["김밥"])))
    );
    let fresh = store
        .lunch_open(&bob, DAY, &create("NEW001", 5))
        .await
        .unwrap();
    assert_eq!(fresh.change, Some(ChangeOutcome::Created));
}

async fn a_typed_code_joins_only_while_a_code_is_awaited(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = (user("alice"), user("bob"));
    group_with(store, &alice, "ABC123", &["김밥"]).await;

    let state = store
        .lunch_open(&bob, DAY, &join("ABC123", 1))
        .await
        .unwrap();
    assert_eq!(state.change, None, "bob was not asked for a code");
    assert_eq!(group_of(store, &bob).await, None);

    awaiting_a_code(store, &bob).await;
    let state = store
        .lunch_open(&bob, DAY, &join("ABC123", 1))
        .await
        .unwrap();
    assert_eq!(
        state.change,
        Some(ChangeOutcome::Joined),
        "the code typed out of turn did not use the only attempt"
    );
    assert_eq!(state.session, Some(LunchSession::AwaitingJoinCode));
    let next = store.lunch_load(&bob, DAY).await.unwrap();
    assert_eq!(next.session, None, "the join ended the step");
    assert_eq!(
        next.membership.map(|m| m.restaurants),
        Some(names(&["김밥"]))
    );
}

async fn a_join_message_makes_the_member_and_leaves_the_old_group(s: &Subject) {
    let store = &*s.store;
    let (_, bob) = two_groups_and_bob_asked_for_a_code(store).await;

    let state = store
        .lunch_open(&bob, DAY, &join("ABC123", 20))
        .await
        .unwrap();

    assert_eq!(state.change, Some(ChangeOutcome::Joined));
    assert_eq!(
        group_of(store, &bob).await,
        Some(("ABC123".into(), names(&["김밥"])))
    );
    assert!(
        !store
            .lunch_join_group(&user("carol"), "BOB001")
            .await
            .unwrap(),
        "bob was alone in his old group: it is gone"
    );
}

async fn a_join_with_an_unknown_code_keeps_the_group_and_the_step_awaiting_a_code(s: &Subject) {
    let store = &*s.store;
    let bob = user("bob");
    group_with(store, &bob, "BOB001", &["라멘"]).await;
    awaiting_a_code(store, &bob).await;

    let state = store
        .lunch_open(&bob, DAY, &join("NOPE00", 20))
        .await
        .unwrap();

    assert_eq!(state.change, Some(ChangeOutcome::NoSuchGroup));
    let next = store.lunch_load(&bob, DAY).await.unwrap();
    assert_eq!(next.session, Some(LunchSession::AwaitingJoinCode));
    assert_eq!(
        next.membership.map(|m| (m.code, m.restaurants)),
        Some(("BOB001".into(), names(&["라멘"]))),
        "bob, alone in his group, still has it and its list"
    );
    assert!(store
        .lunch_join_group(&user("carol"), "BOB001")
        .await
        .unwrap());
}

async fn a_join_over_the_allowance_keeps_the_group_and_admits_nobody(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = two_groups_and_bob_asked_for_a_code(store).await;

    let state = store
        .lunch_open(&bob, DAY, &join("ABC123", 0))
        .await
        .unwrap();

    assert_eq!(state.change, Some(ChangeOutcome::OverBudget));
    assert_eq!(
        group_of(store, &bob).await,
        Some(("BOB001".into(), names(&["라멘"])))
    );
    assert_eq!(
        store.lunch_load(&bob, DAY).await.unwrap().session,
        Some(LunchSession::AwaitingJoinCode)
    );
    // Alice leaving her group removes it only if bob was never put on its list.
    assert!(store.lunch_create_group(&alice, "NEW001").await.unwrap());
    assert!(!store
        .lunch_join_group(&user("carol"), "ABC123")
        .await
        .unwrap());
}

async fn a_join_awaited_in_another_process_is_made_all_the_same(s: &Subject) {
    let (_, bob) = two_groups_and_bob_asked_for_a_code(&*s.store).await;
    let other = s.another_process();

    let state = other
        .lunch_open(&bob, DAY, &join("NOPE00", 20))
        .await
        .unwrap();
    assert_eq!(state.change, Some(ChangeOutcome::NoSuchGroup));
    let state = other
        .lunch_open(&bob, DAY, &join("ABC123", 20))
        .await
        .unwrap();
    assert_eq!(state.change, Some(ChangeOutcome::Joined));

    for store in [&s.store, &other] {
        assert_eq!(
            group_of(&**store, &bob).await,
            Some(("ABC123".into(), names(&["김밥"])))
        );
    }
    assert!(!other
        .lunch_join_group(&user("carol"), "BOB001")
        .await
        .unwrap());
}

async fn a_code_typed_after_another_process_ended_the_step_joins_nothing(s: &Subject) {
    let (alice, bob) = two_groups_and_bob_asked_for_a_code(&*s.store).await;
    s.another_process()
        .lunch_open(&bob, DAY, &write(SessionWrite::Clear))
        .await
        .unwrap();

    let state = s
        .store
        .lunch_open(&bob, DAY, &join("ABC123", 20))
        .await
        .unwrap();

    assert_eq!(state.change, None);
    assert_eq!(
        state.membership.map(|m| (m.code, m.restaurants)),
        Some(("BOB001".into(), names(&["라멘"]))),
        "the message is read as any other of bob's"
    );
    assert_eq!(
        group_of(&*s.store, &bob).await,
        Some(("BOB001".into(), names(&["라멘"])))
    );
    // Bob was never left on alice's list: once she leaves, her group is gone.
    assert!(s.store.lunch_create_group(&alice, "NEW001").await.unwrap());
    assert!(!s
        .store
        .lunch_join_group(&user("carol"), "ABC123")
        .await
        .unwrap());
}

/// A lunch request that makes `moves`.
fn moving(moves: Vec<StepMove>) -> LunchRequest {
    LunchRequest {
        moves,
        ..Default::default()
    }
}

/// The moves of typed text, as the lunch bot makes them: what each step waits for.
fn typed(text: &str) -> Vec<StepMove> {
    let settings = NextStep::Start(LunchSession::Settings);
    let at = |step, edit, on_change, on_refusal| StepMove {
        at: Some(step),
        edit,
        on_change,
        on_refusal,
    };
    vec![
        at(
            LunchSession::Choosing,
            GroupEdit::Vote(text.into()),
            NextStep::End,
            NextStep::Keep,
        ),
        at(
            LunchSession::AwaitingRemoval,
            GroupEdit::Remove(text.into()),
            settings,
            NextStep::Keep,
        ),
        at(
            LunchSession::AwaitingNewRestaurant,
            GroupEdit::Add {
                name: text.into(),
                max: 20,
            },
            settings,
            settings,
        ),
    ]
}

/// A tapped vote for `name`: any step, ending it.
fn tapped_vote(name: &str) -> Vec<StepMove> {
    vec![StepMove {
        at: None,
        edit: GroupEdit::Vote(name.into()),
        on_change: NextStep::End,
        on_refusal: NextStep::Keep,
    }]
}

/// A tapped removal of `name`: any step, opening the settings once removed.
fn tapped_removal(name: &str) -> Vec<StepMove> {
    vec![StepMove {
        at: None,
        edit: GroupEdit::Remove(name.into()),
        on_change: NextStep::Start(LunchSession::Settings),
        on_refusal: NextStep::Keep,
    }]
}

async fn a_choosing_or_removing_step_starts_only_when_the_group_lists_a_restaurant(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    group_with(store, &alice, "ABC123", &[]).await;
    store.lunch_set_session(&alice, None).await.unwrap();

    store
        .lunch_open(
            &alice,
            DAY,
            &write(SessionWrite::SetIfListed(LunchSession::Choosing)),
        )
        .await
        .unwrap();
    let empty = store.lunch_load(&alice, DAY).await.unwrap().session;
    store
        .lunch_add_restaurant(&alice, "김밥", 20)
        .await
        .unwrap();
    store
        .lunch_open(
            &alice,
            DAY,
            &write(SessionWrite::SetIfListed(LunchSession::Choosing)),
        )
        .await
        .unwrap();
    let listed = store.lunch_load(&alice, DAY).await.unwrap().session;

    assert_eq!(empty, None);
    assert_eq!(listed, Some(LunchSession::Choosing));
}

async fn the_move_made_for_the_members_step_applies_and_starts_the_step_it_names(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    group_with(store, &alice, "ABC123", &["김밥"]).await;

    store
        .lunch_set_session(&alice, Some(LunchSession::AwaitingNewRestaurant))
        .await
        .unwrap();
    let added = store
        .lunch_open(&alice, DAY, &moving(typed("라멘")))
        .await
        .unwrap();
    let in_settings = store
        .lunch_open(&alice, DAY, &moving(typed("국밥")))
        .await
        .unwrap();
    store
        .lunch_set_session(&alice, Some(LunchSession::Choosing))
        .await
        .unwrap();
    let unknown = store
        .lunch_open(&alice, DAY, &moving(typed("피자")))
        .await
        .unwrap();
    let voted = store
        .lunch_open(&alice, DAY, &moving(typed("라멘")))
        .await
        .unwrap();
    store
        .lunch_set_session(&alice, Some(LunchSession::AwaitingRemoval))
        .await
        .unwrap();
    let removed = store
        .lunch_open(&alice, DAY, &moving(typed("김밥")))
        .await
        .unwrap();
    let after = store.lunch_load(&alice, DAY).await.unwrap();

    assert_eq!(added.session, Some(LunchSession::AwaitingNewRestaurant));
    assert_eq!(added.outcome, Some(StepOutcome::Added(AddOutcome::Added)));
    assert_eq!(
        added.membership.unwrap().restaurants,
        names(&["김밥"]),
        "the list before"
    );
    assert_eq!(in_settings.session, Some(LunchSession::Settings));
    assert_eq!(
        in_settings.outcome, None,
        "nothing is waited for in settings"
    );
    assert_eq!(
        unknown.outcome,
        Some(StepOutcome::Voted(VoteOutcome::UnknownRestaurant))
    );
    assert_eq!(
        voted.session,
        Some(LunchSession::Choosing),
        "still choosing after a miss"
    );
    assert_eq!(voted.outcome, Some(StepOutcome::Voted(recorded(None))));
    assert_eq!(removed.outcome, Some(StepOutcome::Removed(true)));
    assert_eq!(after.session, Some(LunchSession::Settings));
    let group = after.membership.unwrap();
    assert_eq!(group.restaurants, names(&["라멘"]));
    assert_eq!(group.my_vote.as_deref(), Some("라멘"));
}

async fn a_tapped_vote_or_removal_applies_whatever_the_step_and_needs_a_group(s: &Subject) {
    let store = &*s.store;
    let (alice, loner) = (user("alice"), user("loner"));
    group_with(store, &alice, "ABC123", &["김밥", "라멘"]).await;
    store
        .lunch_set_session(&alice, Some(LunchSession::AwaitingNewRestaurant))
        .await
        .unwrap();

    let voted = store
        .lunch_open(&alice, DAY, &moving(tapped_vote("김밥")))
        .await
        .unwrap();
    let session_after_vote = store.lunch_load(&alice, DAY).await.unwrap().session;
    let not_listed = store
        .lunch_open(&alice, DAY, &moving(tapped_removal("피자")))
        .await
        .unwrap();
    let removed = store
        .lunch_open(&alice, DAY, &moving(tapped_removal("김밥")))
        .await
        .unwrap();
    let without_group = store
        .lunch_open(&loner, DAY, &moving(tapped_vote("김밥")))
        .await
        .unwrap();

    assert_eq!(voted.outcome, Some(StepOutcome::Voted(recorded(None))));
    assert_eq!(session_after_vote, None, "a vote ends the session");
    assert_eq!(not_listed.outcome, Some(StepOutcome::Removed(false)));
    assert_eq!(removed.outcome, Some(StepOutcome::Removed(true)));
    assert_eq!(
        store.lunch_load(&alice, DAY).await.unwrap().session,
        Some(LunchSession::Settings)
    );
    assert_eq!(
        (without_group.membership, without_group.outcome),
        (None, None)
    );
}

// --- one-call quiz steps ---------------------------------------------------------------

async fn a_question_is_asked_fresh_first_and_a_category_starts_over_without_the_pending_one(
    s: &Subject,
) {
    let store = &*s.store;
    let alice = user("alice");
    let in_order = [question("web", "w1"), question("web", "w2")];

    let first = store.quiz_ask(&alice, "web", &in_order).await.unwrap();
    let second = store.quiz_ask(&alice, "web", &in_order).await.unwrap();
    let third = store.quiz_ask(&alice, "web", &in_order).await.unwrap();

    assert_eq!((first.question_id.as_str(), first.restarted), ("w1", false));
    assert_eq!(
        (second.question_id.as_str(), second.restarted),
        ("w2", false)
    );
    assert_eq!(
        (third.question_id.as_str(), third.restarted),
        ("w1", true),
        "w2 is pending, so the new round starts with w1"
    );
    let state = store.quiz_load(&alice, Some("web")).await.unwrap();
    assert_eq!(state.asked, names(&["w1"]));
    assert_eq!(state.session, Some(question("web", "w1")));
}

async fn an_answer_is_judged_only_against_the_questions_its_choice_answers(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    store
        .quiz_save(&alice, &pending(question("web", "w1")))
        .await
        .unwrap();
    let check = |tapped: Option<&str>, valid: &[&str], correct: &[&str]| AnswerCheck {
        tapped: tapped.map(str::to_owned),
        valid_for: names(valid),
        correct_for: names(correct),
    };

    let not_a_choice = store
        .quiz_judge(&alice, &check(None, &["w9"], &[]))
        .await
        .unwrap();
    let other_tap = store
        .quiz_judge(&alice, &check(Some("w2"), &["w1"], &["w1"]))
        .await
        .unwrap();
    let judged = store
        .quiz_judge(&alice, &check(None, &["w1", "w9"], &["w1"]))
        .await
        .unwrap();
    let again = store
        .quiz_judge(&alice, &check(None, &["w1"], &["w1"]))
        .await
        .unwrap();

    assert_eq!(not_a_choice.counted, None);
    assert_eq!(not_a_choice.session, Some(question("web", "w1")));
    assert_eq!(other_tap.counted, None);
    assert_eq!(judged.counted, Some(true));
    assert_eq!(
        judged.score,
        Score::default(),
        "the score before the answer"
    );
    assert_eq!((again.counted, again.session), (None, None));
    assert_eq!(
        store.quiz_load(&alice, None).await.unwrap().score,
        Score {
            correct: 1,
            answered: 1
        }
    );
}

// --- Redis only ----------------------------------------------------------------------

mod only_redis {
    use super::*;

    /// Touches every kind of key the store writes.
    async fn use_every_key(store: &dyn Store) {
        let (alice, bob) = (user("alice"), user("bob"));
        store.add_friend(BotName::Quiz, &alice).await.unwrap();
        store.add_friend(BotName::Lunch, &alice).await.unwrap();
        store
            .quiz_save(&alice, &ask("python", "py-1"))
            .await
            .unwrap();
        store
            .quiz_answer(&alice, &question("python", "py-1"), true)
            .await
            .unwrap();
        store
            .quiz_save(&alice, &ask("python", "py-2"))
            .await
            .unwrap();
        group_with(store, &alice, "ABC123", &["a", "b"]).await;
        store.lunch_vote(&alice, DAY, "a").await.unwrap();
        store
            .lunch_set_session(&bob, Some(LunchSession::Settings))
            .await
            .unwrap();
    }

    fn subject_parts(s: &Subject) -> (&Keys, &MultiplexedConnection) {
        match &s.backend {
            Backend::Redis { keys, admin, .. } => (keys, admin),
            Backend::Memory(_) | Backend::Cluster { .. } => unreachable!("a Redis subject"),
        }
    }

    async fn ttl(admin: &MultiplexedConnection, key: &str) -> i64 {
        redis::cmd("TTL")
            .arg(key)
            .query_async(&mut admin.clone())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn every_key_the_store_writes_starts_with_its_prefix_and_follows_the_layout() {
        let s = Subject::redis("every_key").await;
        let (keys, admin) = subject_parts(&s);

        use_every_key(&*s.store).await;

        let (alice, bob) = (user("alice"), user("bob"));
        let mut expected = vec![
            keys.friend(BotName::Quiz, &alice),
            keys.friend(BotName::Lunch, &alice),
            keys.session(BotName::Quiz, &alice),
            keys.session(BotName::Lunch, &bob),
            keys.quiz_score(&alice),
            keys.quiz_asked(&alice, "python"),
            keys.lunch_member(&alice),
            keys.lunch_limits(&alice),
            keys.lunch_group("ABC123"),
            keys.lunch_members("ABC123"),
            keys.lunch_restaurants("ABC123"),
            keys.lunch_votes("ABC123", DAY),
        ];
        expected.sort();
        let all = scan(admin, "*").await;
        assert_eq!(all, expected);
        let prefix = format!("{{{}:", keys.prefix());
        assert!(all.iter().all(|k| k.starts_with(&prefix)), "{all:?}");
    }

    #[tokio::test]
    async fn a_session_key_lives_at_most_ten_minutes() {
        let s = Subject::redis("session_ttl").await;
        let (keys, admin) = subject_parts(&s);
        let alice = user("alice");

        use_every_key(&*s.store).await;
        s.store
            .lunch_set_session(&alice, Some(LunchSession::Choosing))
            .await
            .unwrap();

        // Alice has a group, so her lunch session lives with it.
        for key in [
            keys.session(BotName::Quiz, &alice),
            keys.lunch_step("ABC123", &alice),
        ] {
            let ttl = ttl(admin, &key).await;
            assert!((590..=600).contains(&ttl), "{key} ttl {ttl}");
        }
    }

    #[tokio::test]
    async fn a_days_votes_expire_after_a_few_days_and_nothing_else_but_sessions_expires() {
        let s = Subject::redis("vote_ttl").await;
        let (keys, admin) = subject_parts(&s);
        let alice = user("alice");

        use_every_key(&*s.store).await;

        let votes = ttl(admin, &keys.lunch_votes("ABC123", DAY)).await;
        let vote_ttl = VOTE_TTL.as_secs() as i64;
        assert!(
            (vote_ttl - 10..=vote_ttl).contains(&votes),
            "votes ttl {votes}"
        );
        for kept in [
            keys.friend(BotName::Quiz, &alice),
            keys.lunch_members("ABC123"),
            keys.quiz_score(&alice),
            keys.quiz_asked(&alice, "python"),
            keys.lunch_member(&alice),
            keys.lunch_group("ABC123"),
            keys.lunch_restaurants("ABC123"),
        ] {
            assert_eq!(ttl(admin, &kept).await, -1, "{kept} has no ttl");
        }
    }

    #[tokio::test]
    async fn an_unreadable_session_is_reported_as_corrupt() {
        let s = Subject::redis("corrupt").await;
        let (keys, admin) = subject_parts(&s);
        let alice = user("alice");
        for bot in [BotName::Quiz, BotName::Lunch] {
            let _: () = redis::cmd("SET")
                .arg(keys.session(bot, &alice))
                .arg("{not json")
                .query_async(&mut admin.clone())
                .await
                .unwrap();
        }

        let quiz = s.store.quiz_load(&alice, None).await;
        let lunch = s.store.lunch_load(&alice, DAY).await;

        assert!(matches!(quiz, Err(StoreError::Corrupt(_))), "{quiz:?}");
        assert!(matches!(lunch, Err(StoreError::Corrupt(_))), "{lunch:?}");
    }

    #[tokio::test]
    async fn a_stale_guess_of_a_users_group_is_corrected_and_the_left_group_let_go() {
        let s = Subject::redis("stale_guess").await;
        let (keys, admin) = subject_parts(&s);
        let other = RedisStore::new(
            &format!("redis://{}/", admin_address(admin).await),
            keys.prefix(),
            Default::default(),
        )
        .unwrap();
        let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
        group_with(&*s.store, &alice, "OLD001", &["김밥"]).await;
        s.store.lunch_join_group(&bob, "OLD001").await.unwrap();
        // This instance now guesses OLD001 for bob.
        s.store.lunch_load(&bob, DAY).await.unwrap();
        // Through another instance bob joins NEW001, but the last step (leaving
        // OLD001) is lost: he is still on OLD001's member list.
        group_with(&other, &carol, "NEW001", &["라멘"]).await;
        let _: () = redis::pipe()
            .cmd("SADD")
            .arg(keys.lunch_members("NEW001"))
            .arg("bob")
            .ignore()
            .cmd("SET")
            .arg(keys.lunch_member(&bob))
            .arg("NEW001")
            .ignore()
            .query_async(&mut admin.clone())
            .await
            .unwrap();

        let state = s.store.lunch_load(&bob, DAY).await.unwrap();

        assert_eq!(state.membership.unwrap().code, "NEW001");
        let still_listed: bool = redis::cmd("SISMEMBER")
            .arg(keys.lunch_members("OLD001"))
            .arg("bob")
            .query_async(&mut admin.clone())
            .await
            .unwrap();
        assert!(!still_listed, "the lost leave was finished");
        assert_eq!(
            s.store
                .lunch_load(&bob, DAY)
                .await
                .unwrap()
                .membership
                .unwrap()
                .restaurants,
            names(&["라멘"])
        );
    }

    /// `host:port` of the server an admin connection talks to.
    async fn admin_address(admin: &MultiplexedConnection) -> String {
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut admin.clone())
            .await
            .unwrap();
        let port = info
            .lines()
            .find_map(|l| l.strip_prefix("tcp_port:"))
            .unwrap()
            .trim()
            .to_owned();
        format!("127.0.0.1:{port}")
    }

    #[tokio::test]
    async fn stores_with_different_prefixes_do_not_see_each_other() {
        let server = RedisServer::start();
        let one =
            RedisStore::new(&server.url(), &unique_prefix("one"), Default::default()).unwrap();
        let two =
            RedisStore::new(&server.url(), &unique_prefix("two"), Default::default()).unwrap();
        let alice = user("alice");

        use_every_key(&one).await;

        let mut admin = admin_connection(&server).await;
        assert!(friend_recorded(&mut admin, one.keys(), BotName::Quiz, &alice).await);
        assert!(!friend_recorded(&mut admin, two.keys(), BotName::Quiz, &alice).await);
        assert_eq!(
            two.quiz_load(&alice, Some("python")).await.unwrap(),
            Default::default()
        );
        assert_eq!(
            two.lunch_load(&alice, DAY).await.unwrap(),
            Default::default()
        );
        assert!(two.lunch_create_group(&alice, "ABC123").await.unwrap());
    }

    /// Calls `ping` until it succeeds, for at most `limit`; returns how long it took.
    async fn until_ping_succeeds(store: &RedisStore, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            match store.ping().await {
                Ok(()) => return started.elapsed(),
                Err(e) => assert!(
                    started.elapsed() < limit,
                    "still failing after {limit:?}: {e}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_whose_redis_stopped_fails_within_a_second_and_recovers_after_a_restart() {
        let mut server = RedisServer::start();
        let store = RedisStore::new(
            &server.url(),
            &unique_prefix("outage"),
            RedisTimeouts::default(),
        )
        .unwrap();
        let alice = user("alice");
        store.add_friend(BotName::Quiz, &alice).await.unwrap();

        server.stop();

        // The first call finds the connection dropped, later ones find reconnecting
        // refused: every one fails, and fast.
        for attempt in 0..5 {
            let started = Instant::now();
            let result = store.quiz_load(&alice, None).await;
            let took = started.elapsed();
            assert!(result.is_err(), "attempt {attempt}: {result:?}");
            assert!(
                took < Duration::from_secs(1),
                "attempt {attempt} took {took:?}"
            );
        }

        server.start_again();

        until_ping_succeeds(&store, Duration::from_secs(3)).await;
        // Persistence is off, so the restarted server is empty; the same store works.
        let mut admin = admin_connection(&server).await;
        assert!(!friend_recorded(&mut admin, store.keys(), BotName::Quiz, &alice).await);
        store.add_friend(BotName::Quiz, &alice).await.unwrap();
        assert!(friend_recorded(&mut admin, store.keys(), BotName::Quiz, &alice).await);
        // Scripts are gone from the new server's cache; they are loaded again.
        assert!(store.lunch_create_group(&alice, "ABC123").await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_built_while_redis_is_down_works_once_redis_is_up() {
        let mut server = RedisServer::start();
        server.stop();

        let store = RedisStore::new(
            &server.url(),
            &unique_prefix("late"),
            RedisTimeouts::default(),
        )
        .unwrap();
        let started = Instant::now();
        assert!(store.ping().await.is_err());
        assert!(started.elapsed() < Duration::from_secs(1));

        server.start_again();

        until_ping_succeeds(&store, Duration::from_secs(3)).await;
        store
            .add_friend(BotName::Lunch, &user("alice"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_store_cannot_be_built_from_a_malformed_url() {
        assert!(RedisStore::new("not a url", "p", RedisTimeouts::default()).is_err());
    }

    #[test]
    fn a_store_built_outside_a_tokio_runtime_is_an_error_not_a_panic() {
        assert!(RedisStore::new("redis://127.0.0.1:1/", "p", RedisTimeouts::default()).is_err());
    }
}

// --- memory only ---------------------------------------------------------------------

mod only_memory {
    use super::*;

    #[tokio::test]
    async fn the_memory_store_forgets_the_least_recently_seen_users_past_its_cap() {
        let store = MemoryStore::with_user_cap(10);
        let first = user("user-0");
        store.add_friend(BotName::Quiz, &first).await.unwrap();
        group_with(&store, &first, "FIRST1", &["김밥"]).await;
        for n in 1..10 {
            store
                .add_friend(BotName::Quiz, &user(&format!("user-{n}")))
                .await
                .unwrap();
        }
        // The first user is seen again, so user-1 is now the least recently seen.
        store.lunch_load(&first, DAY).await.unwrap();

        store
            .add_friend(BotName::Quiz, &user("user-10"))
            .await
            .unwrap();

        assert!(store.users() <= 10, "{} users kept", store.users());
        assert!(store.is_friend(BotName::Quiz, &first));
        assert!(!store.is_friend(BotName::Quiz, &user("user-1")));
        assert!(store
            .lunch_load(&first, DAY)
            .await
            .unwrap()
            .membership
            .is_some());
    }

    #[tokio::test]
    async fn a_forgotten_users_group_goes_with_them_when_they_were_its_last_member() {
        let store = MemoryStore::with_user_cap(2);
        let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
        group_with(&store, &alice, "ALONE1", &["김밥"]).await;

        store.add_friend(BotName::Lunch, &bob).await.unwrap();
        store.add_friend(BotName::Lunch, &carol).await.unwrap();

        assert!(!store.lunch_join_group(&carol, "ALONE1").await.unwrap());
    }

    #[tokio::test]
    async fn a_memory_session_lasts_exactly_the_session_ttl() {
        let store = MemoryStore::new();
        let alice = user("alice");
        store
            .lunch_set_session(&alice, Some(LunchSession::Settings))
            .await
            .unwrap();

        store.advance_clock(SESSION_TTL - Duration::from_secs(1));
        assert_eq!(
            store.lunch_load(&alice, DAY).await.unwrap().session,
            Some(LunchSession::Settings)
        );
        store.advance_clock(Duration::from_secs(1));
        assert_eq!(store.lunch_load(&alice, DAY).await.unwrap().session, None);
    }

    #[tokio::test]
    async fn every_vote_renews_the_days_vote_ttl_in_memory() {
        let store = MemoryStore::new();
        let (alice, bob) = (user("alice"), user("bob"));
        group_with(&store, &alice, "ABC123", &["a"]).await;
        assert!(store.lunch_join_group(&bob, "ABC123").await.unwrap());
        store.lunch_vote(&alice, DAY, "a").await.unwrap();

        store.advance_clock(VOTE_TTL - Duration::from_secs(10));
        store.lunch_vote(&bob, DAY, "a").await.unwrap();
        store.advance_clock(Duration::from_secs(20));

        assert_eq!(
            store.lunch_tally(&alice, DAY).await.unwrap().counts,
            counts(&[("a", 2)])
        );
        store.advance_clock(VOTE_TTL);
        assert_eq!(
            store.lunch_tally(&alice, DAY).await.unwrap().counts,
            counts(&[("a", 0)])
        );
    }
}
