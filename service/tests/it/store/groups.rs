//! Lunch groups and their restaurant lists.

use super::*;

pub(super) async fn a_user_without_a_group_has_no_membership(s: &Subject) {
    let state = s.store.lunch_load(&user("loner"), DAY).await.unwrap();
    assert_eq!(state, Default::default());
}

pub(super) async fn creating_a_group_makes_the_creator_its_member(s: &Subject) {
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

pub(super) async fn a_taken_group_code_is_refused_and_changes_nothing(s: &Subject) {
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

pub(super) async fn joining_an_unknown_group_changes_nothing(s: &Subject) {
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

pub(super) async fn joining_a_group_ends_the_session_and_leaves_the_previous_group(s: &Subject) {
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

pub(super) async fn restaurants_are_listed_in_the_order_they_were_added_per_group(s: &Subject) {
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

pub(super) async fn a_duplicate_restaurant_is_refused_whatever_its_case(s: &Subject) {
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

pub(super) async fn a_full_list_refuses_more_restaurants(s: &Subject) {
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

pub(super) async fn removing_a_restaurant_takes_it_off_the_list(s: &Subject) {
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
