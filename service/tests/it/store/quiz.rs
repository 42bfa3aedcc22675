//! The quiz: sessions, scores, asked questions, and the one-call steps `quiz_ask`
//! and `quiz_judge`.

use super::*;

pub(super) async fn a_new_quiz_user_has_no_session_no_score_and_nothing_asked(s: &Subject) {
    let state = s
        .store
        .quiz_load(&user("newbie"), Some("python"))
        .await
        .unwrap();
    assert_eq!(state, Default::default());
}

pub(super) async fn a_quiz_change_is_applied_in_full(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    store
        .quiz_save(&alice, &ask("python", "py-1"))
        .await
        .unwrap();
    let state = store.quiz_load(&alice, Some("python")).await.unwrap();
    assert_eq!(state.session, Some(question("python", "py-1")));
    assert_eq!(state.score, Score::default());
    assert_eq!(state.asked, names(&["py-1"]));

    assert!(store
        .quiz_answer(&alice, &question("python", "py-1"), true)
        .await
        .unwrap());
    store
        .quiz_save(&alice, &ask("python", "py-2"))
        .await
        .unwrap();
    assert!(store
        .quiz_answer(&alice, &question("python", "py-2"), false)
        .await
        .unwrap());

    let state = store.quiz_load(&alice, Some("python")).await.unwrap();
    assert_eq!(state.session, None);
    assert_eq!(
        state.score,
        Score {
            correct: 1,
            answered: 2
        }
    );
    assert_eq!(state.asked, names(&["py-1", "py-2"]));
}

pub(super) async fn an_answer_to_the_pending_question_is_judged_once(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    let asked = question("python", "py-1");
    store
        .quiz_save(&alice, &pending(asked.clone()))
        .await
        .unwrap();

    assert!(store.quiz_answer(&alice, &asked, true).await.unwrap());
    assert!(!store.quiz_answer(&alice, &asked, true).await.unwrap());

    let state = store.quiz_load(&alice, None).await.unwrap();
    assert_eq!(state.session, None);
    assert_eq!(
        state.score,
        Score {
            correct: 1,
            answered: 1
        }
    );
}

pub(super) async fn an_answer_to_a_question_no_longer_pending_changes_nothing(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    let now_pending = question("web", "web-2");
    store
        .quiz_save(&alice, &pending(now_pending.clone()))
        .await
        .unwrap();

    let earlier = question("python", "py-1");
    assert!(!store.quiz_answer(&alice, &earlier, false).await.unwrap());
    assert!(!store
        .quiz_answer(&user("bob"), &now_pending, true)
        .await
        .unwrap());

    let state = store.quiz_load(&alice, None).await.unwrap();
    assert_eq!(state.session, Some(now_pending));
    assert_eq!(state.score, Score::default());
}

pub(super) async fn concurrent_answers_to_one_question_count_once(s: &Subject) {
    let alice = user("alice");
    let asked = question("computer", "cs-1");
    s.store
        .quiz_save(&alice, &pending(asked.clone()))
        .await
        .unwrap();

    let taps = (0..20).map(|_| {
        let store = s.store.clone();
        let (alice, asked) = (alice.clone(), asked.clone());
        tokio::spawn(async move { store.quiz_answer(&alice, &asked, true).await.unwrap() })
    });
    let mut judged = 0;
    for tap in taps.collect::<Vec<_>>() {
        judged += usize::from(tap.await.unwrap());
    }

    assert_eq!(judged, 1);
    let state = s.store.quiz_load(&alice, None).await.unwrap();
    assert_eq!(
        state.score,
        Score {
            correct: 1,
            answered: 1
        }
    );
}

pub(super) async fn an_empty_quiz_change_changes_nothing(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    store.quiz_save(&alice, &ask("web", "web-1")).await.unwrap();
    assert!(store
        .quiz_answer(&alice, &question("web", "web-1"), true)
        .await
        .unwrap());
    store.quiz_save(&alice, &ask("web", "web-2")).await.unwrap();
    let before = store.quiz_load(&alice, Some("web")).await.unwrap();

    store
        .quiz_save(&alice, &QuizChange::default())
        .await
        .unwrap();

    assert_eq!(store.quiz_load(&alice, Some("web")).await.unwrap(), before);
}

pub(super) async fn asked_questions_are_kept_per_category_and_per_user(s: &Subject) {
    let store = &*s.store;
    let (alice, bob) = (user("alice"), user("bob"));
    for (who, category, id) in [
        (&alice, "python", "py-2"),
        (&alice, "python", "py-1"),
        (&alice, "python", "py-1"),
        (&alice, "web", "web-1"),
        (&bob, "python", "py-3"),
    ] {
        let change = QuizChange {
            mark_asked: Some((category.into(), id.into())),
            ..Default::default()
        };
        store.quiz_save(who, &change).await.unwrap();
    }

    let asked = |who: &UserKey, category: Option<&'static str>| {
        let who = who.clone();
        async move { store.quiz_load(&who, category).await.unwrap().asked }
    };
    assert_eq!(
        asked(&alice, Some("python")).await,
        names(&["py-1", "py-2"])
    );
    assert_eq!(asked(&alice, Some("web")).await, names(&["web-1"]));
    assert_eq!(asked(&alice, Some("computer")).await, names(&[]));
    assert_eq!(asked(&alice, None).await, names(&[]));
    assert_eq!(asked(&bob, Some("python")).await, names(&["py-3"]));
}

pub(super) async fn a_reset_forgets_only_its_category_and_comes_before_the_new_mark(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    for (category, id) in [("python", "py-1"), ("python", "py-2"), ("web", "web-1")] {
        let change = QuizChange {
            mark_asked: Some((category.into(), id.into())),
            ..Default::default()
        };
        store.quiz_save(&alice, &change).await.unwrap();
    }

    let new_round = QuizChange {
        session: Some(Some(question("python", "py-2"))),
        reset_asked: Some("python".into()),
        mark_asked: Some(("python".into(), "py-2".into())),
    };
    store.quiz_save(&alice, &new_round).await.unwrap();

    let python = store.quiz_load(&alice, Some("python")).await.unwrap();
    assert_eq!(python.asked, names(&["py-2"]));
    assert_eq!(python.session, Some(question("python", "py-2")));
    let web = store.quiz_load(&alice, Some("web")).await.unwrap();
    assert_eq!(web.asked, names(&["web-1"]));
}

pub(super) async fn scores_and_asked_questions_outlive_the_session(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    store
        .quiz_save(&alice, &ask("computer", "com-1"))
        .await
        .unwrap();
    assert!(store
        .quiz_answer(&alice, &question("computer", "com-1"), true)
        .await
        .unwrap());

    s.expire_sessions().await;

    let state = store.quiz_load(&alice, Some("computer")).await.unwrap();
    assert_eq!(state.session, None);
    assert_eq!(
        state.score,
        Score {
            correct: 1,
            answered: 1
        }
    );
    assert_eq!(state.asked, names(&["com-1"]));
}

pub(super) async fn a_question_is_asked_fresh_first_and_a_category_starts_over_without_the_pending_one(
    s: &Subject,
) {
    let store = &*s.store;
    let alice = user("alice");
    let in_order = [question("web", "w1"), question("web", "w2")];

    let first = store.quiz_ask(&alice, "web", &in_order).await.unwrap();
    let second = store.quiz_ask(&alice, "web", &in_order).await.unwrap();
    let third = store.quiz_ask(&alice, "web", &in_order).await.unwrap();

    assert_eq!((first.question_id.as_str(), first.restarted), ("w1", false));
    assert_eq!(
        (second.question_id.as_str(), second.restarted),
        ("w2", false)
    );
    assert_eq!(
        (third.question_id.as_str(), third.restarted),
        ("w1", true),
        "w2 is pending, so the new round starts with w1"
    );
    let state = store.quiz_load(&alice, Some("web")).await.unwrap();
    assert_eq!(state.asked, names(&["w1"]));
    assert_eq!(state.session, Some(question("web", "w1")));
}

pub(super) async fn an_answer_is_judged_only_against_the_questions_its_choice_answers(s: &Subject) {
    let store = &*s.store;
    let alice = user("alice");
    store
        .quiz_save(&alice, &pending(question("web", "w1")))
        .await
        .unwrap();
    let check = |tapped: Option<&str>, valid: &[&str], correct: &[&str]| AnswerCheck {
        tapped: tapped.map(str::to_owned),
        valid_for: names(valid),
        correct_for: names(correct),
    };

    let not_a_choice = store
        .quiz_judge(&alice, &check(None, &["w9"], &[]))
        .await
        .unwrap();
    let other_tap = store
        .quiz_judge(&alice, &check(Some("w2"), &["w1"], &["w1"]))
        .await
        .unwrap();
    let judged = store
        .quiz_judge(&alice, &check(None, &["w1", "w9"], &["w1"]))
        .await
        .unwrap();
    let again = store
        .quiz_judge(&alice, &check(None, &["w1"], &["w1"]))
        .await
        .unwrap();

    assert_eq!(not_a_choice.counted, None);
    assert_eq!(not_a_choice.session, Some(question("web", "w1")));
    assert_eq!(other_tap.counted, None);
    assert_eq!(judged.counted, Some(true));
    assert_eq!(
        judged.score,
        Score::default(),
        "the score before the answer"
    );
    assert_eq!((again.counted, again.session), (None, None));
    assert_eq!(
        store.quiz_load(&alice, None).await.unwrap().score,
        Score {
            correct: 1,
            answered: 1
        }
    );
}
