//! Creating and joining a group with the message's read, and what a refusal takes
//! back.

use super::*;

pub(super) fn create(code: &str, max: u32) -> LunchRequest {
    LunchRequest {
        change: Some(GroupChange::Create {
            code: code.to_owned(),
            max,
            step: LunchSession::Settings,
        }),
        ..LunchRequest::default()
    }
}

pub(super) fn join(code: &str, max: u32) -> LunchRequest {
    LunchRequest {
        change: Some(GroupChange::Join {
            code: code.to_owned(),
            max,
        }),
        ..LunchRequest::default()
    }
}

/// `user`'s group code and list, as their next message would see them.
pub(super) async fn group_of(store: &dyn Store, user: &UserKey) -> Option<(String, Vec<String>)> {
    store
        .lunch_load(user, DAY)
        .await
        .unwrap()
        .membership
        .map(|m| (m.code, m.restaurants))
}

/// `user` as a member of `code`, seen by the store as the bot sees them: the store
/// has loaded their group, and they asked to join another.
pub(super) async fn awaiting_a_code(store: &dyn Store, user: &UserKey) {
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
pub(super) async fn two_groups_and_bob_asked_for_a_code(store: &dyn Store) -> (UserKey, UserKey) {
    let (alice, bob) = (user("alice"), user("bob"));
    group_with(store, &alice, "ABC123", &["김밥"]).await;
    group_with(store, &bob, "BOB001", &["라멘"]).await;
    awaiting_a_code(store, &bob).await;
    (alice, bob)
}

pub(super) async fn a_create_message_makes_the_group_and_leaves_the_old_one(s: &Subject) {
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

pub(super) async fn a_create_over_the_allowance_leaves_everything_as_it_was(s: &Subject) {
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

pub(super) async fn a_create_with_a_taken_code_changes_nothing(s: &Subject) {
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

pub(super) async fn a_typed_code_joins_only_while_a_code_is_awaited(s: &Subject) {
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

pub(super) async fn a_join_message_makes_the_member_and_leaves_the_old_group(s: &Subject) {
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

pub(super) async fn a_join_with_an_unknown_code_keeps_the_group_and_the_step_awaiting_a_code(
    s: &Subject,
) {
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

pub(super) async fn a_join_over_the_allowance_keeps_the_group_and_admits_nobody(s: &Subject) {
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

pub(super) async fn a_join_awaited_in_another_process_is_made_all_the_same(s: &Subject) {
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

pub(super) async fn a_code_typed_after_another_process_ended_the_step_joins_nothing(s: &Subject) {
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
