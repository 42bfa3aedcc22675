//! The quiz bot over HTTP: whole conversations, judged against each user's own
//! pending question, on Redis and in memory.

use std::collections::HashSet;
use std::sync::Arc;

use kakaobot::bots::question_bank::{Category, Question};
use kakaobot::bots::QuestionBank;
use tokio::task::JoinSet;

use crate::helpers::{spawn_app, Answer, RedisServer, TestApp};

const QUIZ: &str = "/quiz";
const HOME: [&str; 4] = ["파이썬 퀴즈", "웹 퀴즈", "컴퓨터 퀴즈", "내 점수"];

fn bank() -> QuestionBank {
    QuestionBank::embedded().expect("the embedded bank is valid")
}

/// The embedded bank's category `id`.
fn category(id: &str) -> Category {
    bank().category(id).expect("an embedded category").clone()
}

/// The question `answer` asks in `category`, found by its text in the bank.
#[track_caller]
fn question_in(bank: &QuestionBank, category: Category, answer: &Answer) -> Question {
    let header = format!("[{}] ", category.label());
    let asked = answer
        .text
        .split_once(&header)
        .unwrap_or_else(|| panic!("no {header:?} in {:?}", answer.text))
        .1;
    let question = bank
        .in_category(&category)
        .find(|q| q.text == asked)
        .unwrap_or_else(|| panic!("{asked:?} is not a {category} question of the bank"))
        .clone();
    assert_eq!(
        answer.buttons(),
        question.choices,
        "the choices are the buttons"
    );
    question
}

/// Asks for a question in `category` and returns it.
async fn ask(app: &TestApp, user: &str, category: Category) -> Question {
    let answer = app.post_message(QUIZ, user, category.label()).await;
    question_in(&bank(), category, &answer)
}

fn a_wrong_choice(question: &Question) -> &str {
    question
        .choices
        .iter()
        .find(|c| **c != question.answer)
        .expect("a question has a wrong choice")
}

/// A whole conversation: score before anything, a right answer, a wrong answer, score.
async fn a_full_conversation(app: &TestApp) {
    let user = "quiz_player1";

    let score = app.post_message(QUIZ, user, "내 점수").await;
    score.assert_says("아직 푼 문제가 없어요");
    score.assert_buttons(&HOME);

    let python = ask(app, user, category("python")).await;
    let right = app.post_message(QUIZ, user, &python.answer).await;
    right.assert_says("정답입니다");
    right.assert_says(&python.explanation);
    right.assert_says("(지금까지 1문제 중 1문제 정답)");
    right.assert_buttons(&HOME);

    let web = ask(app, user, category("web")).await;
    let wrong = app.post_message(QUIZ, user, a_wrong_choice(&web)).await;
    wrong.assert_says(&format!("오답입니다. 정답은 '{}'입니다.", web.answer));
    wrong.assert_says(&web.explanation);
    wrong.assert_says("(지금까지 2문제 중 1문제 정답)");
    wrong.assert_buttons(&HOME);

    let score = app.post_message(QUIZ, user, "내 점수").await;
    score.assert_says("지금까지 2문제 중 1문제를 맞혔어요. (정답률 50%)");
    score.assert_buttons(&HOME);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_quiz_conversation_works_on_redis() {
    let redis = RedisServer::start();
    let app = spawn_app("quiz_conversation_redis", Some(&redis)).await;

    a_full_conversation(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_quiz_conversation_works_in_memory() {
    let app = spawn_app("quiz_conversation_memory", None).await;

    a_full_conversation(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_root_url_plays_the_quiz_by_default() {
    let app = spawn_app("quiz_at_root", None).await;

    let asked = app.post_message("", "root_player", "컴퓨터 퀴즈").await;
    let question = question_in(&bank(), category("computer"), &asked);
    let right = app.post_message("", "root_player", &question.answer).await;

    right.assert_says("정답입니다");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_from_another_question_is_not_accepted() {
    let app = spawn_app("quiz_own_question", None).await;
    let user = "own_question";
    let python = ask(&app, user, category("python")).await;
    assert!(!python.choices.contains(&"JSON".to_owned()));

    // "JSON" is the right answer to the web quiz's markup question, not to this one.
    let refused = app.post_message(QUIZ, user, "JSON").await;

    refused.assert_says("보기 중에서 골라 주세요");
    refused.assert_says(&python.text);
    assert_eq!(refused.buttons(), python.choices);
    let score = app.post_message(QUIZ, user, "내 점수").await;
    score.assert_says("아직 푼 문제가 없어요");
    // The question is still pending, and its own answer still counts.
    let right = app.post_message(QUIZ, user, &python.answer).await;
    right.assert_says("정답입니다");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_users_with_different_pending_questions_do_not_interfere() {
    let redis = RedisServer::start();
    let app = spawn_app("quiz_two_users", Some(&redis)).await;
    let python = ask(&app, "user_a_1234", category("python")).await;
    let web = ask(&app, "user_b_1234", category("web")).await;

    // Each user first answers with the other's right answer: it is not one of their
    // own choices (checked, since two questions may share a choice), so it is refused
    // and their own question stays pending.
    for (user, own, other) in [
        ("user_a_1234", &python, &web),
        ("user_b_1234", &web, &python),
    ] {
        if !own.choices.contains(&other.answer) {
            let refused = app.post_message(QUIZ, user, &other.answer).await;
            refused.assert_says("보기 중에서 골라 주세요");
            assert_eq!(refused.buttons(), own.choices);
        }
    }
    let a_right = app.post_message(QUIZ, "user_a_1234", &python.answer).await;
    let b_right = app.post_message(QUIZ, "user_b_1234", &web.answer).await;

    a_right.assert_says("정답입니다");
    a_right.assert_says(&python.explanation);
    b_right.assert_says("정답입니다");
    b_right.assert_says(&web.explanation);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_with_no_pending_question_gets_a_polite_reply_and_the_home_keyboard() {
    let app = spawn_app("quiz_stale_answer", None).await;
    let user = "stale_player";

    let never_asked = app.post_message(QUIZ, user, "append").await;
    let question = ask(&app, user, category("python")).await;
    app.post_message(QUIZ, user, &question.answer).await;
    let answered_twice = app.post_message(QUIZ, user, &question.answer).await;

    for stale in [never_asked, answered_twice] {
        stale.assert_says("풀고 있는 문제가 없어요");
        stale.assert_buttons(&HOME);
    }
    let score = app.post_message(QUIZ, user, "내 점수").await;
    score.assert_says("지금까지 1문제 중 1문제를 맞혔어요");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_choice_pressed_after_the_ten_minute_context_expired_is_answered_politely() {
    let redis = RedisServer::start();
    let app = spawn_app("quiz_expired_context", Some(&redis)).await;
    let question = ask(&app, "expired_user", category("web")).await;

    app.expire_sessions(&redis).await;
    let stale = app
        .post_message(QUIZ, "expired_user", &question.answer)
        .await;

    stale.assert_says("풀고 있는 문제가 없어요");
    stale.assert_buttons(&HOME);
    app.post_message(QUIZ, "expired_user", "내 점수")
        .await
        .assert_says("아직 푼 문제가 없어요");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_question_repeats_within_a_category_until_all_were_asked() {
    let redis = RedisServer::start();
    let app = spawn_app("quiz_no_repeat", Some(&redis)).await;
    let bank = bank();

    for category in bank.categories().to_vec() {
        let user = format!("norepeat_{}", category.id());
        let all: HashSet<String> = bank.in_category(&category).map(|q| q.id.clone()).collect();

        let mut asked = Vec::new();
        for _ in 0..all.len() {
            asked.push(ask(&app, &user, category.clone()).await.id);
        }
        let again = app.post_message(QUIZ, &user, category.label()).await;

        let unique: HashSet<String> = asked.iter().cloned().collect();
        assert_eq!(unique, all, "{category}: asked {asked:?}");
        again.assert_says("모두 풀었어요");
        let next = question_in(&bank, category, &again);
        assert_ne!(Some(&next.id), asked.last(), "not the question just seen");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn media_messages_get_a_polite_reply_with_the_home_keyboard() {
    let app = spawn_app("quiz_media", None).await;

    for (kind, says) in [
        ("photo", "사진 잘 받았어요"),
        ("video", "동영상 잘 받았어요"),
        ("audio", "음성 메시지 잘 받았어요"),
        ("sticker", "이런 메시지는 아직 읽을 줄 몰라요"),
    ] {
        for bot in ["", QUIZ] {
            let answer = app
                .send_message(bot, "media_sender", kind, "http://example.com/x.jpg")
                .await;

            answer.assert_says(says);
            answer.assert_buttons(&HOME);
        }
        let lunch = app
            .send_message("/lunch", "media_sender", kind, "http://example.com/x")
            .await;
        lunch.assert_says(says);
        lunch.assert_buttons(&["#점심 선택", "#결과 보기", "#설정"]);
    }
}

/// One user taps the right answer five times at once: it is judged and counted once.
async fn five_taps_of_one_answer_count_once(app: Arc<TestApp>) {
    let user = "double_tapper";
    let question = ask(&app, user, category("python")).await;

    let mut taps = JoinSet::new();
    for _ in 0..5 {
        let (app, answer) = (app.clone(), question.answer.clone());
        taps.spawn(async move { app.post_message(QUIZ, user, &answer).await });
    }
    let mut judged = 0;
    while let Some(answer) = taps.join_next().await {
        let answer = answer.unwrap();
        answer.assert_buttons(&HOME);
        if answer.text.contains("정답입니다") {
            judged += 1;
        }
    }
    let score = app.post_message(QUIZ, user, "내 점수").await;

    assert_eq!(judged, 1);
    score.assert_says("지금까지 1문제 중 1문제를 맞혔어요");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_tapped_many_times_at_once_counts_once_on_redis() {
    let redis = RedisServer::start();
    let app = Arc::new(spawn_app("quiz_taps_redis", Some(&redis)).await);

    five_taps_of_one_answer_count_once(app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_tapped_many_times_at_once_counts_once_in_memory() {
    let app = Arc::new(spawn_app("quiz_taps_memory", None).await);

    five_taps_of_one_answer_count_once(app).await;
}
