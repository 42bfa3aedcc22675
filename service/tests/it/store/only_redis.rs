//! What only the Redis store has: its key layout and time to live, its prefix, its
//! reconnects, and a change whose last step was lost.

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

/// Alice's and her group's keys that have no lifetime of their own (after
/// [`use_every_key`]) live the key lifetime from now.
async fn assert_every_lasting_key_lives_the_key_lifetime(
    admin: &MultiplexedConnection,
    keys: &Keys,
) {
    let alice = user("alice");
    let key_ttl = DEFAULT_KEY_TTL.as_secs() as i64;
    for lasting in [
        keys.friend(BotName::Quiz, &alice),
        keys.friend(BotName::Lunch, &alice),
        keys.quiz_score(&alice),
        keys.quiz_asked(&alice, "python"),
        keys.lunch_member(&alice),
        keys.lunch_group("ABC123"),
        keys.lunch_members("ABC123"),
        keys.lunch_restaurants("ABC123"),
    ] {
        let ttl = ttl(admin, &lasting).await;
        assert!(
            (key_ttl - 10..=key_ttl).contains(&ttl),
            "{lasting} lives {ttl} s, not the key lifetime"
        );
    }
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
async fn a_days_votes_expire_after_a_few_days_and_every_other_key_after_the_key_lifetime() {
    let s = Subject::redis("vote_ttl").await;
    let (keys, admin) = subject_parts(&s);

    use_every_key(&*s.store).await;

    let votes = ttl(admin, &keys.lunch_votes("ABC123", DAY)).await;
    let vote_ttl = VOTE_TTL.as_secs() as i64;
    assert!(
        (vote_ttl - 10..=vote_ttl).contains(&votes),
        "votes ttl {votes}"
    );
    assert_every_lasting_key_lives_the_key_lifetime(admin, keys).await;
    for key in scan(admin, "*").await {
        let ttl = ttl(admin, &key).await;
        assert!(ttl > 0, "{key} has no lifetime ({ttl})");
    }
}

#[tokio::test]
async fn a_user_who_comes_back_keeps_their_data_and_their_group_for_another_key_lifetime() {
    let s = Subject::redis("comes_back").await;
    let (keys, admin) = subject_parts(&s);
    let alice = user("alice");
    use_every_key(&*s.store).await;
    // As if she had been away for most of the key lifetime: her next message comes
    // on a later day (a process that has not renewed her keys today).
    expire_every_key_in(admin, 60).await;
    let later = s.another_process();

    later.quiz_load(&alice, Some("python")).await.unwrap();
    later.lunch_load(&alice, DAY).await.unwrap();

    assert_every_lasting_key_lives_the_key_lifetime(admin, keys).await;
}

#[tokio::test]
async fn on_the_same_day_a_message_renews_only_the_keys_it_writes() {
    let s = Subject::redis("same_day").await;
    let (keys, admin) = subject_parts(&s);
    let alice = user("alice");
    use_every_key(&*s.store).await;
    expire_every_key_in(admin, 1000).await;

    s.store
        .quiz_ask(&alice, "python", &[question("python", "py-3")])
        .await
        .unwrap();

    let key_ttl = DEFAULT_KEY_TTL.as_secs() as i64;
    let asked = ttl(admin, &keys.quiz_asked(&alice, "python")).await;
    assert!((key_ttl - 10..=key_ttl).contains(&asked), "asked: {asked}");
    for only_read in [keys.quiz_score(&alice), keys.friend(BotName::Quiz, &alice)] {
        let ttl = ttl(admin, &only_read).await;
        assert!(
            (1..=1000).contains(&ttl),
            "{only_read} renewed again: {ttl}"
        );
    }
}

/// Sets every key to expire in `seconds`.
async fn expire_every_key_in(admin: &MultiplexedConnection, seconds: u64) {
    for key in scan(admin, "*").await {
        let _: () = redis::cmd("EXPIRE")
            .arg(&key)
            .arg(seconds)
            .query_async(&mut admin.clone())
            .await
            .unwrap();
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
    let one = RedisStore::new(&server.url(), &unique_prefix("one"), Default::default()).unwrap();
    let two = RedisStore::new(&server.url(), &unique_prefix("two"), Default::default()).unwrap();
    let alice = user("alice");

    use_every_key(&one).await;

    let mut admin = server.admin().await;
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
    let mut admin = server.admin().await;
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
