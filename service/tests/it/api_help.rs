//! `도움말`: each bot explains itself, on both wire formats, to every usual way of
//! asking; asking neither disturbs the conversation under way nor needs the store.

use kakaobot::bots::QuestionBank;

use crate::helpers::{spawn_app, RedisServer};

const QUIZ: &str = "/quiz";
const LUNCH: &str = "/lunch";
const QUIZ_HOME: [&str; 4] = ["파이썬 퀴즈", "웹 퀴즈", "컴퓨터 퀴즈", "내 점수"];
const LUNCH_HOME: [&str; 3] = ["#점심 선택", "#결과 보기", "#설정"];
const ASKING: [&str; 7] = ["도움말", "도움", "사용법", "help", "HELP", "?", "도움말?"];

/// What each bot's help says first, and what it must explain.
const QUIZ_HELP: &str = "퀴즈 봇 사용법이에요.";
const LUNCH_HELP: &str = "점심 투표 봇 사용법이에요.";

#[tokio::test(flavor = "multi_thread")]
async fn each_bot_explains_itself_on_smart_chat_to_every_way_of_asking() {
    let app = spawn_app("help_smartchat", None).await;

    for asking in ASKING {
        // The root URL serves the default bot, the quiz.
        for bot in ["", QUIZ] {
            let help = app.post_message(bot, "help_user", asking).await;
            help.assert_says(QUIZ_HELP);
            help.assert_says("'파이썬 퀴즈', '웹 퀴즈', '컴퓨터 퀴즈' 중 하나를 누르면");
            help.assert_says("'내 점수'");
            help.assert_buttons(&QUIZ_HOME);
        }
        let help = app.post_message(LUNCH, "help_user", asking).await;
        help.assert_says(LUNCH_HELP);
        for explained in [
            "#설정",
            "그룹 만들기",
            "그룹 참여",
            "식당 추가",
            "#점심 선택",
            "#결과 보기",
        ] {
            help.assert_says(explained);
        }
        help.assert_buttons(&LUNCH_HOME);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_bot_explains_itself_on_skills_to_every_way_of_asking() {
    let app = spawn_app("help_skill", None).await;

    for asking in ASKING {
        for bot in ["", QUIZ] {
            let help = app.skill(bot, "help-user", asking).await;
            help.assert_says(QUIZ_HELP);
            assert_eq!(help.quick_labels(), QUIZ_HOME, "{asking}");
        }
        let help = app.skill(LUNCH, "help-user", asking).await;
        help.assert_says(LUNCH_HELP);
        assert_eq!(help.quick_labels(), LUNCH_HOME, "{asking}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn asking_for_help_in_the_middle_of_a_question_keeps_the_question() {
    let redis = RedisServer::start();
    let app = spawn_app("help_mid_question", Some(&redis)).await;
    let bank = QuestionBank::embedded().unwrap();

    let asked = app.post_message(QUIZ, "help_mid", "웹 퀴즈").await;
    let question = bank
        .in_category(bank.category("web").unwrap())
        .find(|q| asked.text.ends_with(&q.text))
        .unwrap_or_else(|| panic!("no web question in {:?}", asked.text));

    app.post_message(QUIZ, "help_mid", "도움말")
        .await
        .assert_says(QUIZ_HELP);

    let answer = app.post_message(QUIZ, "help_mid", &question.answer).await;
    answer.assert_says("정답입니다");
    answer.assert_says("(지금까지 1문제 중 1문제 정답)");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lunch_member_asking_for_help_keeps_their_step_and_group() {
    let redis = RedisServer::start();
    let app = spawn_app("help_lunch_member", Some(&redis)).await;

    app.post_message(LUNCH, "help_lunch", "#설정").await;
    app.post_message(LUNCH, "help_lunch", "그룹 만들기").await;
    app.post_message(LUNCH, "help_lunch", "식당 추가").await;
    app.post_message(LUNCH, "help_lunch", "사용법")
        .await
        .assert_says(LUNCH_HELP);

    // The name typed after the help still answers the step that asked for it.
    app.post_message(LUNCH, "help_lunch", "김밥")
        .await
        .assert_says("식당을 추가했어요: 김밥");
    app.post_message(LUNCH, "help_lunch", "#점심 선택")
        .await
        .assert_buttons(&["김밥", "처음으로"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_help_needs_no_store_so_it_still_answers_when_redis_is_down() {
    let mut redis = RedisServer::start();
    let app = spawn_app("help_redis_down", Some(&redis)).await;

    redis.stop();

    let help = app.post_message(QUIZ, "help_down", "도움말").await;
    help.assert_says(QUIZ_HELP);
    help.assert_buttons(&QUIZ_HOME);
    app.skill(LUNCH, "help-down", "사용법")
        .await
        .assert_says(LUNCH_HELP);
}
