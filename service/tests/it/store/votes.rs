//! Votes and tallies.

use super::*;

pub(super) async fn a_vote_for_an_unknown_restaurant_changes_nothing(s: &Subject) {
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

pub(super) async fn a_vote_is_recorded_and_ends_the_session(s: &Subject) {
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

pub(super) async fn a_new_vote_moves_the_old_one(s: &Subject) {
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

pub(super) async fn votes_are_kept_per_day(s: &Subject) {
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

pub(super) async fn the_tally_lists_every_restaurant_in_list_order_and_skips_removed_ones(
    s: &Subject,
) {
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

pub(super) async fn votes_in_another_group_are_not_counted(s: &Subject) {
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

pub(super) async fn votes_expire_after_the_vote_ttl_but_the_group_and_its_list_stay(s: &Subject) {
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

pub(super) async fn group_codes_and_days_with_separator_characters_are_kept_apart(s: &Subject) {
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

pub(super) async fn five_hundred_concurrent_voters_are_each_counted_once_with_their_last_vote(
    s: &Subject,
) {
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

pub(super) async fn a_member_who_moves_to_another_group_takes_todays_vote_out_of_the_old_one(
    s: &Subject,
) {
    let store = &*s.store;
    let (alice, bob, carol, dave) = (user("alice"), user("bob"), user("carol"), user("dave"));
    group_with(store, &alice, "ABC123", &["김밥"]).await;
    group_with(store, &carol, "CAR001", &["라멘"]).await;
    assert!(store.lunch_join_group(&bob, "ABC123").await.unwrap());
    assert!(store.lunch_join_group(&dave, "ABC123").await.unwrap());
    for member in [&alice, &bob] {
        assert_eq!(
            store.lunch_vote(member, DAY, "김밥").await.unwrap(),
            recorded(None)
        );
    }

    // A code that belongs to no group: bob stays, and so does his vote.
    awaiting_a_code(store, &bob).await;
    let state = store
        .lunch_open(&bob, DAY, &join("NOPE00", 20))
        .await
        .unwrap();
    assert_eq!(state.change, Some(ChangeOutcome::NoSuchGroup));
    assert_eq!(
        store.lunch_tally(&alice, DAY).await.unwrap().counts,
        counts(&[("김밥", 2)]),
        "a refused join keeps the vote"
    );

    let state = store
        .lunch_open(&bob, DAY, &join("CAR001", 20))
        .await
        .unwrap();
    assert_eq!(state.change, Some(ChangeOutcome::Joined));
    assert_eq!(
        store.lunch_tally(&alice, DAY).await.unwrap().counts,
        counts(&[("김밥", 1)]),
        "bob left: his vote left with him"
    );
    assert_eq!(
        store
            .lunch_load(&bob, DAY)
            .await
            .unwrap()
            .membership
            .unwrap()
            .my_vote,
        None
    );
    assert_eq!(
        store.lunch_vote(&bob, DAY, "라멘").await.unwrap(),
        recorded(None)
    );
    assert_eq!(
        store.lunch_tally(&carol, DAY).await.unwrap().counts,
        counts(&[("라멘", 1)])
    );

    // Creating a group is leaving one too.
    let state = store
        .lunch_open(&alice, DAY, &create("NEW001", 5))
        .await
        .unwrap();
    assert_eq!(state.change, Some(ChangeOutcome::Created));
    assert_eq!(
        store.lunch_tally(&dave, DAY).await.unwrap().counts,
        counts(&[("김밥", 0)]),
        "alice made a group of her own: her vote left with her"
    );
}

pub(super) async fn a_new_group_under_a_freed_code_starts_with_no_votes(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = (user("alice"), user("bob"));
    group_with(store, &alice, "FREE01", &["김밥"]).await;
    assert_eq!(
        store.lunch_vote(&alice, DAY, "김밥").await.unwrap(),
        recorded(None)
    );
    // Alice moves on; FREE01 has nobody left and its code is free.
    let state = store
        .lunch_open(&alice, DAY, &create("ALICE2", 5))
        .await
        .unwrap();
    assert_eq!(state.change, Some(ChangeOutcome::Created));

    let state = store
        .lunch_open(&bob, DAY, &create("FREE01", 5))
        .await
        .unwrap();
    assert_eq!(state.change, Some(ChangeOutcome::Created));
    assert_eq!(
        store.lunch_add_restaurant(&bob, "김밥", 20).await.unwrap(),
        AddOutcome::Added
    );
    assert_eq!(
        store.lunch_tally(&bob, DAY).await.unwrap().counts,
        counts(&[("김밥", 0)])
    );
    assert_eq!(
        store
            .lunch_load(&bob, DAY)
            .await
            .unwrap()
            .membership
            .unwrap()
            .my_vote,
        None
    );
}
