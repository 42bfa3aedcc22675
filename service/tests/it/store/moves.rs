//! The step moves of a lunch message: the store applies the move the bot made for
//! the member's step and starts the step it names.

use super::*;

/// A lunch request that makes `moves`.
pub(super) fn moving(moves: Vec<StepMove>) -> LunchRequest {
    LunchRequest {
        moves,
        ..Default::default()
    }
}

/// The moves of typed text, as the lunch bot makes them: what each step waits for.
pub(super) fn typed(text: &str) -> Vec<StepMove> {
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
pub(super) fn tapped_vote(name: &str) -> Vec<StepMove> {
    vec![StepMove {
        at: None,
        edit: GroupEdit::Vote(name.into()),
        on_change: NextStep::End,
        on_refusal: NextStep::Keep,
    }]
}

/// A tapped removal of `name`: any step, opening the settings once removed.
pub(super) fn tapped_removal(name: &str) -> Vec<StepMove> {
    vec![StepMove {
        at: None,
        edit: GroupEdit::Remove(name.into()),
        on_change: NextStep::Start(LunchSession::Settings),
        on_refusal: NextStep::Keep,
    }]
}

pub(super) async fn a_choosing_or_removing_step_starts_only_when_the_group_lists_a_restaurant(
    s: &Subject,
) {
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

pub(super) async fn the_move_made_for_the_members_step_applies_and_starts_the_step_it_names(
    s: &Subject,
) {
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

pub(super) async fn a_tapped_vote_or_removal_applies_whatever_the_step_and_needs_a_group(
    s: &Subject,
) {
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
