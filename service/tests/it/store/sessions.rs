//! Sessions and friends.

use super::*;

pub(super) async fn the_store_answers_a_ping(s: &Subject) {
    s.store.ping().await.unwrap();
}

pub(super) async fn a_session_lasts_until_it_expires(s: &Subject) {
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

pub(super) async fn clearing_a_session_forgets_only_that_bots_session_and_can_be_repeated(
    s: &Subject,
) {
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

pub(super) async fn a_session_can_be_replaced_and_ended(s: &Subject) {
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

pub(super) async fn friends_are_recorded_per_bot_and_idempotently(s: &Subject) {
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

pub(super) async fn removing_a_friend_forgets_their_session_with_that_bot(s: &Subject) {
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
