//! What only the memory store has: its cap on users and its own clock.

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

/// A full store of `cap` users, each alone in a group with today's vote, a score,
/// a question asked and a session.
async fn a_full_store(cap: usize) -> MemoryStore {
    let store = MemoryStore::with_user_cap(cap);
    for n in 0..cap {
        let member = user(&format!("user-{n}"));
        group_with(&store, &member, &format!("G{n}"), &["김밥"]).await;
        store.lunch_vote(&member, DAY, "김밥").await.unwrap();
        store.quiz_save(&member, &ask("web", "q1")).await.unwrap();
        store
            .quiz_answer(&member, &question("web", "q1"), true)
            .await
            .unwrap();
        store.quiz_save(&member, &ask("web", "q2")).await.unwrap();
        store.add_friend(BotName::Quiz, &member).await.unwrap();
    }
    store
}

#[tokio::test]
async fn forgetting_a_user_visits_only_that_users_entries_however_full_the_store_is() {
    const CAP: usize = 2_000;
    let store = a_full_store(CAP).await;
    let before = store.housekeeping_visits();

    store
        .add_friend(BotName::Quiz, &user("newcomer"))
        .await
        .unwrap();

    let visited = store.housekeeping_visits() - before;
    // A user has a handful of entries (session, friend, score, asked, pointer, group,
    // list, votes): forgetting one must not visit the other users' entries.
    assert!(
        visited <= 32,
        "forgetting one user of {CAP} visited {visited} entries"
    );
    assert_eq!(store.users(), CAP);
    assert!(
        !store.is_friend(BotName::Quiz, &user("user-0")),
        "the least recently seen is forgotten"
    );
    assert!(store.is_friend(BotName::Quiz, &user("user-1")));
    assert!(
        !store.lunch_join_group(&user("late"), "G0").await.unwrap(),
        "its group with it"
    );
}

#[tokio::test]
async fn expiring_sessions_and_votes_visits_nothing_of_the_rest_of_the_store() {
    const CAP: usize = 2_000;
    let store = a_full_store(CAP).await;
    store.advance_clock(VOTE_TTL + Duration::from_secs(3600));
    let before = store.housekeeping_visits();

    let state = store.lunch_load(&user("user-7"), DAY).await.unwrap();

    let visited = store.housekeeping_visits() - before;
    assert_eq!(state.membership.unwrap().my_vote, None, "the vote expired");
    assert!(
        visited <= 32,
        "one call in a store of {CAP} users visited {visited} entries to expire them"
    );
}
