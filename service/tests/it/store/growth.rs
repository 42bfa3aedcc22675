//! Bounded growth: groups that go once nobody belongs to them, removed restaurants,
//! session steps and the per-user allowances.

use super::*;

pub(super) async fn a_user_creating_groups_over_and_over_leaves_only_their_last_group(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = (user("alice"), user("bob"));
    for code in ["GRP001", "GRP002", "GRP003"] {
        assert!(store.lunch_create_group(&alice, code).await.unwrap());
    }

    assert!(!store.lunch_join_group(&bob, "GRP001").await.unwrap());
    assert!(!store.lunch_join_group(&bob, "GRP002").await.unwrap());
    assert!(store.lunch_join_group(&bob, "GRP003").await.unwrap());
}

pub(super) async fn a_group_is_removed_once_its_last_member_leaves(s: &Subject) {
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

pub(super) async fn a_removed_restaurant_is_nobodys_vote_and_re_adding_it_starts_from_nothing(
    s: &Subject,
) {
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

pub(super) async fn a_session_step_written_with_the_read_is_made_as_the_message_decides(
    s: &Subject,
) {
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

pub(super) async fn an_allowance_refuses_uses_past_its_maximum_per_user_and_budget(s: &Subject) {
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
