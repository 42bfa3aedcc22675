//! Upgrading keeps data: a Redis holding kakaobot 0.1's key layout (as `keys.rs`
//! built it before the cluster-ready layout) is migrated by `kakaobot migrate`, and
//! the store then finds every score, group, restaurant list and today's votes.

use kakaobot::lunch::{LunchRequest, LunchSession};
use kakaobot::store::{QuizSession, RedisStore, Score, Store, VOTE_TTL};
use kakaobot::user::{BotName, UserKey};
use redis::aio::MultiplexedConnection;

use crate::helpers::{process, unique_prefix, RedisServer, Steps};

const DAY: &str = "2026-11-21";

fn user(name: &str) -> UserKey {
    UserKey::parse(name).unwrap()
}

/// Writes what kakaobot 0.1 would have written for two users in one group, one of
/// them in the middle of a quiz question and of a lunch vote, a user waiting to type
/// a join code, and a group whose code needs encoding.
async fn load_the_old_layout(admin: &mut MultiplexedConnection, p: &str) {
    let vote_ttl = VOTE_TTL.as_secs() - 3600;
    redis::pipe()
        .cmd("HSET")
        .arg(format!("{p}:quiz:score:alice"))
        .arg("correct")
        .arg(3)
        .arg("answered")
        .arg(5)
        .ignore()
        .cmd("SADD")
        .arg(format!("{p}:quiz:asked:alice:python"))
        .arg("python-len")
        .arg("python-immutable")
        .ignore()
        .cmd("SET")
        .arg(format!("{p}:quiz:session:alice"))
        .arg(r#"{"category":"python","question_id":"python-list-append"}"#)
        .arg("EX")
        .arg(600)
        .ignore()
        .cmd("SET")
        .arg(format!("{p}:lunch:session:alice"))
        .arg(r#""choosing""#)
        .arg("EX")
        .arg(600)
        .ignore()
        .cmd("SET")
        .arg(format!("{p}:lunch:session:dave"))
        .arg(r#""awaiting_join_code""#)
        .arg("EX")
        .arg(600)
        .ignore()
        .cmd("SADD")
        .arg(format!("{p}:quiz:friends"))
        .arg("alice")
        .ignore()
        .cmd("SADD")
        .arg(format!("{p}:lunch:friends"))
        .arg("alice")
        .arg("bob")
        .ignore()
        .cmd("SET")
        .arg(format!("{p}:lunch:member:alice"))
        .arg("ABC123")
        .ignore()
        .cmd("SET")
        .arg(format!("{p}:lunch:member:bob"))
        .arg("ABC123")
        .ignore()
        .cmd("SET")
        .arg(format!("{p}:lunch:member:carol"))
        .arg("x:y%")
        .ignore()
        .cmd("HSET")
        .arg(format!("{p}:lunch:group:ABC123"))
        .arg("created_at")
        .arg("2026-11-01T09:00:00Z")
        .ignore()
        .cmd("HSET")
        .arg(format!("{p}:lunch:group:x%3Ay%25"))
        .arg("created_at")
        .arg("2026-11-02T09:00:00Z")
        .ignore()
        .cmd("RPUSH")
        .arg(format!("{p}:lunch:group:ABC123:restaurants"))
        .arg("김밥")
        .arg("라멘")
        .arg("국밥")
        .ignore()
        .cmd("RPUSH")
        .arg(format!("{p}:lunch:group:x%3Ay%25:restaurants"))
        .arg("피자")
        .ignore()
        .cmd("HSET")
        .arg(format!("{p}:lunch:votes:ABC123:{DAY}"))
        .arg("alice")
        .arg("라멘")
        .arg("bob")
        .arg("라멘")
        .ignore()
        .cmd("EXPIRE")
        .arg(format!("{p}:lunch:votes:ABC123:{DAY}"))
        .arg(vote_ttl)
        .ignore()
        .exec_async(admin)
        .await
        .unwrap();
}

/// Runs the real binary's `migrate` against `redis` and returns what it printed.
fn run_migrate(redis: &RedisServer, prefix: &str) -> String {
    process::migrate(&[
        ("KAKAOBOT_REDIS_URL", &redis.url()),
        ("KAKAOBOT_KEY_PREFIX", prefix),
    ])
}

async fn keys_matching(admin: &mut MultiplexedConnection, pattern: &str) -> Vec<String> {
    redis::cmd("KEYS")
        .arg(pattern)
        .query_async(admin)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_keeps_scores_groups_lists_and_todays_votes_and_a_rerun_changes_nothing() {
    let redis = RedisServer::start();
    let prefix = unique_prefix("migrate");
    let mut admin = redis.admin().await;
    load_the_old_layout(&mut admin, &prefix).await;

    let first = run_migrate(&redis, &prefix);
    let second = run_migrate(&redis, &prefix);

    assert!(first.contains("migrated 15 keys"), "{first}");
    assert!(second.contains("migrated 0 keys"), "{second}");
    assert!(
        keys_matching(&mut admin, &format!("{prefix}:*"))
            .await
            .is_empty(),
        "old keys are gone"
    );
    let store = RedisStore::new(&redis.url(), &prefix, Default::default()).unwrap();
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));

    let quiz = store.quiz_load(&alice, Some("python")).await.unwrap();
    assert_eq!(
        quiz.score,
        Score {
            correct: 3,
            answered: 5
        }
    );
    assert_eq!(quiz.asked, ["python-immutable", "python-len"]);
    assert_eq!(
        quiz.session,
        Some(QuizSession {
            category: "python".into(),
            question_id: "python-list-append".into()
        })
    );
    let friend = |bot, user| {
        let mut admin = admin.clone();
        let key = store.keys().friend(bot, user);
        async move {
            redis::cmd("EXISTS")
                .arg(key)
                .query_async::<bool>(&mut admin)
                .await
                .unwrap()
        }
    };
    assert!(friend(BotName::Quiz, &alice).await);
    assert!(friend(BotName::Lunch, &bob).await);
    assert!(!friend(BotName::Quiz, &bob).await);

    let lunch = store
        .lunch_open(
            &alice,
            DAY,
            &LunchRequest {
                tally: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        lunch.session,
        Some(LunchSession::Choosing),
        "a member's step moves to the group"
    );
    assert_eq!(
        store.lunch_load(&user("dave"), DAY).await.unwrap().session,
        Some(LunchSession::AwaitingJoinCode),
        "a newcomer's step stays with them"
    );
    let group = lunch.membership.expect("alice is still in her group");
    assert_eq!(group.code, "ABC123");
    assert_eq!(group.restaurants, ["김밥", "라멘", "국밥"]);
    assert_eq!(group.my_vote.as_deref(), Some("라멘"));
    assert_eq!(
        lunch.tally.unwrap().counts,
        [("김밥".into(), 0), ("라멘".into(), 2), ("국밥".into(), 0)]
    );
    let bobs = store
        .lunch_load(&bob, DAY)
        .await
        .unwrap()
        .membership
        .unwrap();
    assert_eq!(bobs.my_vote.as_deref(), Some("라멘"));
    let carols = store
        .lunch_load(&carol, DAY)
        .await
        .unwrap()
        .membership
        .unwrap();
    assert_eq!(
        (carols.code.as_str(), carols.restaurants.as_slice()),
        ("x:y%", &["피자".to_owned()][..])
    );

    let ttl: i64 = redis::cmd("TTL")
        .arg(store.keys().lunch_votes("ABC123", DAY))
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(
        ttl > 0 && ttl <= VOTE_TTL.as_secs() as i64 - 3600,
        "votes keep their expiry: {ttl}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrated_members_can_leave_and_a_group_left_empty_is_removed() {
    let redis = RedisServer::start();
    let prefix = unique_prefix("migrate_leave");
    let mut admin = redis.admin().await;
    load_the_old_layout(&mut admin, &prefix).await;
    run_migrate(&redis, &prefix);
    let store = RedisStore::new(&redis.url(), &prefix, Default::default()).unwrap();

    assert!(store
        .lunch_create_group(&user("carol"), "NEW001")
        .await
        .unwrap());

    assert!(
        !store.lunch_join_group(&user("dave"), "x:y%").await.unwrap(),
        "carol's old group had only her, so nobody can join it"
    );
    for key in keys_matching(&mut admin, &format!("{{{prefix}:g:x%3Ay%25}}:*")).await {
        let ttl: i64 = redis::cmd("TTL")
            .arg(&key)
            .query_async(&mut admin)
            .await
            .unwrap();
        // The day's votes keep their own expiry.
        let limit = if key.contains(":votes:") {
            VOTE_TTL.as_secs() as i64
        } else {
            24 * 3600
        };
        assert!(
            ttl > 0 && ttl <= limit,
            "{key} of the emptied group expires within {limit} s: {ttl}"
        );
    }
}

#[test]
fn migrate_without_redis_says_there_is_nothing_to_do() {
    assert!(process::migrate(&[]).contains("nothing to migrate"));
}
