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
