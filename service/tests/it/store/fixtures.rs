//! Small helpers the contract tests share: users, questions, groups, requests.

use super::*;

pub(super) fn user(name: &str) -> UserKey {
    UserKey::parse(name).unwrap()
}

pub(super) fn question(category: &str, id: &str) -> QuizSession {
    QuizSession {
        category: category.to_owned(),
        question_id: id.to_owned(),
    }
}

/// A change that only makes `question` the pending one.
pub(super) fn pending(question: QuizSession) -> QuizChange {
    QuizChange {
        session: Some(Some(question)),
        ..Default::default()
    }
}

/// A change that asks a question, as the quiz bot does: it becomes the pending
/// one and is marked asked in its category.
pub(super) fn ask(category: &str, id: &str) -> QuizChange {
    QuizChange {
        session: Some(Some(question(category, id))),
        mark_asked: Some((category.into(), id.into())),
        ..Default::default()
    }
}

pub(super) fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub(super) fn counts(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

/// Creates group `code` owned by `owner` with the given restaurants.
pub(super) async fn group_with(
    store: &dyn Store,
    owner: &UserKey,
    code: &str,
    restaurants: &[&str],
) {
    assert!(store.lunch_create_group(owner, code).await.unwrap());
    for name in restaurants {
        assert_eq!(
            store.lunch_add_restaurant(owner, name, 20).await.unwrap(),
            AddOutcome::Added
        );
    }
}

/// A lunch request that only writes the session.
pub(super) fn write(write: SessionWrite) -> LunchRequest {
    LunchRequest {
        write,
        ..Default::default()
    }
}

pub(super) fn recorded(previous: Option<&str>) -> VoteOutcome {
    VoteOutcome::Recorded {
        previous: previous.map(str::to_owned),
    }
}
