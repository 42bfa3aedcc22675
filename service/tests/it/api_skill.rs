//! Open Builder skills over HTTP: whole conversations played the way Kakao delivers
//! taps (utterance = the item's `messageText`, `action.clientExtra` = its `extra`), one
//! person across both wire formats, the request variants real payloads show, bad
//! requests, and the optional skill secret.

use std::io::Write;

use kakaobot::bots::question_bank::{Category, Question};
use kakaobot::bots::QuestionBank;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    kakao_sample, skill_payload, spawn_app, spawn_app_with, RedisServer, SkillAnswer, TestApp,
};

const QUIZ: &str = "/quiz";
const LUNCH: &str = "/lunch";
const QUIZ_HOME: [&str; 4] = ["파이썬 퀴즈", "웹 퀴즈", "컴퓨터 퀴즈", "내 점수"];
const LUNCH_HOME: [&str; 3] = ["#점심 선택", "#결과 보기", "#설정"];

/// A botUserKey as Kakao sends them: 66 lowercase hex characters.
fn bot_user_key(seed: &str) -> String {
    let hex: String = seed.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex:0>66}")
}

/// The embedded bank's category `id`.
fn category(id: &str) -> Category {
    QuestionBank::embedded()
        .unwrap()
        .category(id)
        .expect("an embedded category")
        .clone()
}

/// The question `answer` asks in `category`, found by its text in the embedded bank.
#[track_caller]
fn question_in(category: Category, answer: &SkillAnswer) -> Question {
    let header = format!("[{}] ", category.label());
    let asked = answer
        .text
        .split_once(&header)
        .unwrap_or_else(|| panic!("no {header:?} in {:?}", answer.text))
        .1;
    QuestionBank::embedded()
        .unwrap()
        .in_category(&category)
        .find(|q| q.text == asked)
        .unwrap_or_else(|| panic!("{asked:?} is not a {category} question"))
        .clone()
}

/// Taps the home menu's `category` and returns the question asked, checking that every
/// choice is offered as a tap that carries its question.
async fn ask_by_tap(
    app: &TestApp,
    user: &str,
    menu: &SkillAnswer,
    category: Category,
) -> (Question, SkillAnswer) {
    let asked = app.tap(QUIZ, user, &menu.tappable(category.label())).await;
    let question = question_in(category, &asked);
    for choice in &question.choices {
        let tap = asked.tappable(choice);
        assert_eq!(
            tap.extra,
            json!({"kakaobot": "answer", "question": question.id, "choice": choice}),
            "{choice}"
        );
    }
    (question, asked)
}

fn a_wrong_choice(question: &Question) -> &str {
    question
        .choices
        .iter()
        .find(|c| **c != question.answer)
        .unwrap()
}

async fn a_quiz_conversation_by_taps(app: &TestApp) {
    let user = bot_user_key("quiz-taps");

    let start = app.skill(QUIZ, &user, "내 점수").await;
    start.assert_says("아직 푼 문제가 없어요");
    assert_eq!(start.quick_labels(), QUIZ_HOME);

    let (web, asked) = ask_by_tap(app, &user, &start, category("web")).await;
    let right = app.tap(QUIZ, &user, &asked.tappable(&web.answer)).await;
    right.assert_says("정답입니다");
    assert_eq!(right.quick_labels(), QUIZ_HOME);
    // The same bubble tapped again: judged once.
    let again = app.tap(QUIZ, &user, &asked.tappable(&web.answer)).await;
    again.assert_says("이미 채점했거나 시간이 지난 문제예요");

    let (python, asked) = ask_by_tap(app, &user, &right, category("python")).await;
    let wrong = app
        .tap(QUIZ, &user, &asked.tappable(a_wrong_choice(&python)))
        .await;
    wrong.assert_says(&format!("오답입니다. 정답은 '{}'", python.answer));

    let score = app.tap(QUIZ, &user, &wrong.tappable("내 점수")).await;
    score.assert_says("지금까지 2문제 중 1문제를 맞혔어요");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quiz_played_by_taps_judges_each_answer_once_on_redis() {
    let redis = RedisServer::start();
    let app = spawn_app("skill_quiz_redis", Some(&redis)).await;
    a_quiz_conversation_by_taps(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quiz_played_by_taps_judges_each_answer_once_in_memory() {
    let app = spawn_app("skill_quiz_memory", None).await;
    a_quiz_conversation_by_taps(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_tapped_on_an_old_bubble_is_never_judged_against_the_new_question() {
    let app = spawn_app("skill_old_bubble", None).await;
    let user = bot_user_key("old-bubble");
    let home = app.skill(QUIZ, &user, "처음").await;
    let (first, first_bubble) = ask_by_tap(&app, &user, &home, category("web")).await;
    let (second, _) = ask_by_tap(&app, &user, &home, category("python")).await;

    let stale = app
        .tap(QUIZ, &user, &first_bubble.tappable(&first.answer))
        .await;

    stale.assert_says("이전 문제의 보기를 누르셨어요");
    stale.assert_says(&second.text);
    for choice in &second.choices {
        stale.tappable(choice);
    }
    // Nothing was counted; the pending question is still the second one.
    let right = app.tap(QUIZ, &user, &stale.tappable(&second.answer)).await;
    right.assert_says("정답입니다");
    right.assert_says("지금까지 1문제 중 1문제 정답");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typed_answer_works_exactly_like_the_tap_it_matches() {
    let app = spawn_app("skill_typed", None).await;
    let user = bot_user_key("typed");

    let asked = app.skill(QUIZ, &user, "웹 퀴즈").await;
    let question = question_in(category("web"), &asked);
    let typed = app
        .skill(QUIZ, &user, &format!("{}\n", question.answer))
        .await;

    typed.assert_says("정답입니다");
}

/// A bank whose one question per category has choices too long for a quick reply.
fn long_choice_bank() -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let mut toml = String::new();
    for category in ["python", "web", "computer"] {
        toml.push_str(&format!(
            "[[question]]\nid = \"{category}-long\"\ncategory = \"{category}\"\ntext = \"가장 알맞은 설명은?\"\n\
             choices = [\"하이퍼텍스트를 표시하는 마크업 언어입니다\", \"스타일을 정하는 언어입니다\", \"데이터베이스 질의 언어\", \"정답이 아닌 네 번째 긴 보기입니다\"]\n\
             answer = \"하이퍼텍스트를 표시하는 마크업 언어입니다\"\nexplanation = \"HTML 이야기예요.\"\n\n"
        ));
    }
    file.write_all(toml.as_bytes()).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread")]
async fn choices_too_long_for_a_quick_reply_are_a_list_card_whose_items_answer() {
    let bank = long_choice_bank();
    let path = bank.path().to_str().unwrap().to_owned();
    let app = spawn_app_with(
        "skill_long_choices",
        None,
        &[("KAKAOBOT_QUESTION_BANK", &path)],
        |_| {},
    )
    .await;
    let user = bot_user_key("long-choices");

    let asked = app.skill(QUIZ, &user, "웹 퀴즈").await;

    let list = &asked.json["template"]["outputs"][1]["listCard"];
    let titles: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 4, "{}", asked.json);
    assert_eq!(titles[0], "하이퍼텍스트를 표시하는 마크업 언어입니다");
    let right = app
        .tap(
            QUIZ,
            &user,
            &asked.tappable("하이퍼텍스트를 표시하는 마크업 언어입니다"),
        )
        .await;
    right.assert_says("정답입니다");
}

/// Creates a lunch group by typing, as a new operator would in the bot test, and
/// returns its join code.
async fn create_group(app: &TestApp, user: &str) -> String {
    let settings = app.skill(LUNCH, user, "#설정").await;
    let created = app
        .tap(LUNCH, user, &settings.tappable("그룹 만들기"))
        .await;
    created
        .text
        .split_once("참여 코드: ")
        .unwrap_or_else(|| panic!("no code in {:?}", created.text))
        .1
        .chars()
        .take(6)
        .collect()
}

/// Twenty names of 14 to 20 characters: none fits a quick reply.
fn twenty_restaurants() -> Vec<String> {
    (1..=20)
        .map(|i| format!("{i:02}번 아주 맛있는 동네 식당{}", "집".repeat(i % 4)))
        .collect()
}

async fn a_lunch_conversation_by_taps(app: &TestApp) {
    let owner = bot_user_key("lunch-owner");
    let friend = bot_user_key("lunch-friend");
    let code = create_group(app, &owner).await;

    let settings = app.skill(LUNCH, &friend, "#설정").await;
    let prompt = app
        .tap(LUNCH, &friend, &settings.tappable("그룹 참여"))
        .await;
    assert!(
        prompt.quick_labels().is_empty(),
        "a code is typed: {}",
        prompt.json
    );
    app.skill(LUNCH, &friend, &code.to_lowercase())
        .await
        .assert_says(&format!("{code} 그룹에 참여했어요"));

    let names = twenty_restaurants();
    for name in &names {
        app.skill(LUNCH, &owner, "식당 추가").await;
        app.skill(LUNCH, &owner, name)
            .await
            .assert_says("추가했어요");
    }

    let choosing = app.skill(LUNCH, &friend, "#점심 선택").await;
    let carousel = &choosing.json["template"]["outputs"][1]["carousel"];
    assert_eq!(carousel["type"], "listCard");
    assert_eq!(carousel["items"].as_array().unwrap().len(), 5);
    assert_eq!(choosing.quick_labels(), ["처음으로"]);
    // Every restaurant is one tap away, each tap from the same (now old) carousel.
    let mut previous: Option<&String> = None;
    for name in &names {
        let tap = choosing.tappable(name);
        assert_eq!(tap.extra, json!({"kakaobot": "vote", "restaurant": name}));
        let voted = app.tap(LUNCH, &friend, &tap).await;
        match previous {
            None => voted.assert_says(&format!("'{name}'에 투표했어요")),
            Some(before) => voted.assert_says(&format!("투표를 바꿨어요: {before} → {name}")),
        }
        assert_eq!(voted.quick_labels(), LUNCH_HOME);
        previous = Some(name);
    }
    let owner_choosing = app.skill(LUNCH, &owner, "#점심 선택").await;
    app.tap(LUNCH, &owner, &owner_choosing.tappable(&names[19]))
        .await
        .assert_says("투표했어요");

    let results = app.skill(LUNCH, &owner, "#결과 보기").await;
    results.assert_says("총 2표");
    results.assert_says(&format!("오늘의 점심은 '{}'", names[19]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lunch_group_of_twenty_restaurants_is_created_joined_and_voted_by_taps_on_redis() {
    let redis = RedisServer::start();
    let app = spawn_app("skill_lunch_redis", Some(&redis)).await;
    a_lunch_conversation_by_taps(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lunch_group_of_twenty_restaurants_is_created_joined_and_voted_by_taps_in_memory() {
    let app = spawn_app("skill_lunch_memory", None).await;
    a_lunch_conversation_by_taps(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restaurant_is_removed_by_a_tap_on_the_removal_list() {
    let app = spawn_app("skill_remove", None).await;
    let owner = bot_user_key("remover");
    create_group(&app, &owner).await;
    for name in ["김밥천국", "국밥"] {
        app.skill(LUNCH, &owner, "식당 추가").await;
        app.skill(LUNCH, &owner, name).await;
    }

    let removal = app.skill(LUNCH, &owner, "식당 삭제").await;
    let tap = removal.tappable("김밥천국");
    assert_eq!(
        tap.extra,
        json!({"kakaobot": "remove", "restaurant": "김밥천국"})
    );
    let removed = app.tap(LUNCH, &owner, &tap).await;

    removed.assert_says("목록에서 지웠어요: 김밥천국");
    removed.assert_says("식당 목록: 국밥");
}

/// A skill payload for the same person, with the smart-chat `user_key` as the
/// plusfriend property spelled `spelling`.
fn aliased(user_key: &str, spelling: &str, utterance: &str) -> Value {
    let mut body = skill_payload(&bot_user_key(user_key), utterance);
    body["userRequest"]["user"]["properties"][spelling] = json!(user_key);
    body
}

async fn one_person_on_both_wire_formats(app: &TestApp, spelling: &str) {
    let user_key = format!("PFKEY{:07}", spelling.len());
    let asked = app.post_message(QUIZ, &user_key, "웹 퀴즈").await;
    let asked_text = asked.text.split_once("[웹 퀴즈] ").unwrap().1.to_owned();
    let question = QuestionBank::embedded()
        .unwrap()
        .in_category(&category("web"))
        .find(|q| q.text == asked_text)
        .unwrap()
        .clone();
    app.post_message(QUIZ, &user_key, &question.answer)
        .await
        .assert_says("정답입니다");

    let score = SkillAnswer::from(
        &app.skill_raw(QUIZ, &aliased(&user_key, spelling, "내 점수"))
            .await,
    );
    score.assert_says("지금까지 1문제 중 1문제를 맞혔어요");

    // A lunch group created over skills is the group on the smart-chat side.
    let settings = SkillAnswer::from(
        &app.skill_raw(LUNCH, &aliased(&user_key, spelling, "#설정"))
            .await,
    );
    let created = SkillAnswer::from(
        &app.skill_raw(LUNCH, &aliased(&user_key, spelling, "그룹 만들기"))
            .await,
    );
    drop(settings);
    let code: String = created
        .text
        .split_once("참여 코드: ")
        .unwrap()
        .1
        .chars()
        .take(6)
        .collect();
    app.post_message(LUNCH, &user_key, "#설정")
        .await
        .assert_says(&format!("참여 코드: {code}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plusfriend_user_key_makes_a_skill_user_the_smart_chat_user_on_redis() {
    let redis = RedisServer::start();
    let app = spawn_app("skill_alias_redis", Some(&redis)).await;
    one_person_on_both_wire_formats(&app, "plusfriendUserKey").await;
    one_person_on_both_wire_formats(&app, "plusfriend_user_key").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plusfriend_user_key_makes_a_skill_user_the_smart_chat_user_in_memory() {
    let app = spawn_app("skill_alias_memory", None).await;
    one_person_on_both_wire_formats(&app, "plusfriendUserKey").await;
    one_person_on_both_wire_formats(&app, "plusfriend_user_key").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_plusfriend_key_the_bot_user_key_is_a_user_of_its_own() {
    let app = spawn_app("skill_no_alias", None).await;
    let asked = app.post_message(QUIZ, "SMARTCHAT01", "웹 퀴즈").await;
    assert!(asked.text.starts_with("[웹 퀴즈]"));

    let mut body = skill_payload(&bot_user_key("no-alias"), "내 점수");
    body["userRequest"]["user"]["properties"] =
        json!({"botUserKey": bot_user_key("no-alias"), "isFriend": true});
    let score = SkillAnswer::from(&app.skill_raw(QUIZ, &body).await);

    score.assert_says("아직 푼 문제가 없어요");
}

// --- request variants real payloads show (OPENBUILDER.md §2.2–2.7), one test each ------

/// Sends `body` to the quiz skill and checks it is answered as "내 점수" is.
async fn answers_my_score(name: &str, body: Value) {
    let app = spawn_app(name, None).await;
    let plain = app.skill_raw(QUIZ, &body).await;
    let answer = SkillAnswer::from(&plain);
    answer.assert_says("아직 푼 문제가 없어요");
    assert_eq!(answer.quick_labels(), QUIZ_HOME);
}

fn my_score() -> Value {
    skill_payload(&bot_user_key("variant"), "내 점수")
}

#[tokio::test(flavor = "multi_thread")]
async fn lang_kr_as_older_payloads_send_it_is_accepted() {
    let mut body = my_score();
    body["userRequest"]["lang"] = json!("kr");
    answers_my_score("variant_lang_kr", body).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lang_null_or_missing_is_accepted() {
    let mut body = my_score();
    body["userRequest"]["lang"] = Value::Null;
    answers_my_score("variant_lang_null", body.clone()).await;
    body["userRequest"].as_object_mut().unwrap().remove("lang");
    answers_my_score("variant_lang_missing", body).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_extra_as_an_object_null_or_the_string_null_is_accepted() {
    for (i, extra) in [
        json!({}),
        Value::Null,
        json!("null"),
        json!({"operator": "own"}),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = my_score();
        body["action"]["clientExtra"] = extra;
        answers_my_score(&format!("variant_extra_{i}"), body).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn snake_case_user_properties_are_read_like_camel_case() {
    let mut body = my_score();
    body["userRequest"]["user"]["properties"] = json!({
        "bot_user_key": bot_user_key("variant"),
        "plusfriend_user_key": "SNAKE0000001",
        "app_user_status": "REGISTERED",
        "app_user_id": "12345"
    });
    answers_my_score("variant_snake", body).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn user_types_other_than_bot_user_key_are_accepted() {
    for (i, kind) in ["talk_user_id", "appUserId", "plusfriendUserKey"]
        .iter()
        .enumerate()
    {
        let mut body = my_score();
        body["userRequest"]["user"]["type"] = json!(kind);
        answers_my_score(&format!("variant_type_{i}"), body).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_utterance_ending_in_a_newline_means_the_same_without_it() {
    let mut body = my_score();
    body["userRequest"]["utterance"] = json!("내 점수\n");
    answers_my_score("variant_newline", body).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_and_newer_top_level_keys_are_ignored() {
    let mut body = my_score();
    body["flow"] = json!({"trigger": {"type": "QUICKREPLY_BUTTON_MESSAGE", "referrerBlock": {"id": "b", "name": "n"}}, "lastBlock": {"id": "b", "name": "n"}});
    body["skillOption"] = json!({"timeout": 5000});
    body["contexts"] = json!([
        {"name": "quiz", "lifespan": 3, "ttl": 60, "params": {"score": {"value": "10", "resolvedValue": "10"}}},
        {"name": "flat", "lifespan": 1, "params": {"score": "10"}}
    ]);
    body["action"]["params"] = json!({"sys_number": "{\"amount\": 1, \"unit\": }"});
    body["action"]["detailParams"] =
        json!({"sys_number": {"origin": "1", "value": {"amount": 1}, "groupName": ""}});
    body["userRequest"]["params"] = json!({"surface": "BuilderBotTest", "ignoreMe": "true"});
    answers_my_score("variant_unknown_keys", body).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seventy_character_user_id_is_accepted() {
    let body = skill_payload(&"f".repeat(70), "내 점수");
    answers_my_score("variant_70", body).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payload_without_action_is_answered_from_the_utterance() {
    let mut body = my_score();
    body.as_object_mut().unwrap().remove("action");
    answers_my_score("variant_no_action", body).await;
}

/// Kakao's own example payload, with its `<사용자 botUserKey>` placeholder replaced by
/// a real-looking id (the placeholder has a space, which no real key has).
fn kakao_payload_sample(name: &str) -> Value {
    let mut body = kakao_sample(name);
    body["userRequest"]["user"]["id"] = json!(bot_user_key("sample"));
    body["userRequest"]["utterance"] = json!("내 점수");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn kakaos_own_example_payloads_are_answered() {
    answers_my_score(
        "sample_userrequest",
        kakao_payload_sample("kakaodocs__answer_json_format__userrequest_example.json"),
    )
    .await;
    answers_my_score(
        "sample_knowledge",
        kakao_payload_sample("kakaodocs__answer_json_format__skillpayload_knowledge.json"),
    )
    .await;
}

// --- bad requests -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_or_no_user_id_is_a_400_with_a_json_error() {
    let app = spawn_app("skill_bad", None).await;
    let malformed = app
        .send_raw(
            reqwest::Method::POST,
            "/quiz/skill",
            "application/json",
            b"{\"userRequest\":".to_vec(),
        )
        .await;
    malformed.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    for body in [
        json!({}),
        json!([]),
        json!({"userRequest": {"utterance": "hi"}}),
        json!({"userRequest": {"utterance": "hi", "user": {"type": "botUserKey"}}}),
        json!({"userRequest": {"utterance": "hi", "user": {"id": ""}}}),
        json!({"userRequest": {"utterance": "hi", "user": {"id": "a b"}}}),
    ] {
        let resp = app.skill_raw(QUIZ, &body).await;
        let message = resp.assert_error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains("user"), "{message} for {body}");
    }
}

/// The fields kakaobot does not read are skipped, but one the document types as a
/// string must still be one, and an object an object (schemathesis sends
/// `"action": {"name": {}}` and `"action": [null, null]` and expects the refusal the
/// document promises).
#[tokio::test(flavor = "multi_thread")]
async fn a_documented_string_field_of_another_type_is_a_400_naming_it() {
    let app = spawn_app("skill_field_types", None).await;
    let user = json!({"id": "typeduser01"});
    for (body, field) in [
        (
            json!({"userRequest": {"utterance": "hi", "user": user, "lang": 42}}),
            "lang",
        ),
        (
            json!({"userRequest": {"utterance": "hi", "user": user, "timezone": []}}),
            "timezone",
        ),
        (
            json!({"userRequest": {"utterance": "hi", "user": {"id": "typeduser01", "type": 7}}}),
            "type",
        ),
        (
            json!({"userRequest": {"utterance": "hi", "user": user}, "action": {"name": {}}}),
            "name",
        ),
        (
            json!({"userRequest": {"utterance": "hi", "user": user}, "action": {"id": true}}),
            "id",
        ),
        // An object given as an array (serde would fill the fields in order).
        (
            json!({"userRequest": {"utterance": "hi", "user": user}, "action": [null, null]}),
            "action",
        ),
        (
            json!({"userRequest": {"utterance": "hi", "user": ["typeduser01"]}}),
            "user",
        ),
        (
            json!({"userRequest": {"utterance": "hi", "user": {"id": "u1", "properties": ["x"]}}}),
            "properties",
        ),
        (
            json!({"userRequest": ["hi", {"id": "typeduser01"}]}),
            "userRequest",
        ),
        (json!([{"utterance": "hi", "user": {"id": "u1"}}]), "object"),
    ] {
        let resp = app.skill_raw(QUIZ, &body).await;
        let message = resp.assert_error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains(field), "{message} for {body}");
    }
    // Null, missing or any string is fine, as real payloads have them.
    let lenient = json!({"userRequest": {"utterance": "내 점수", "user": {"id": "typeduser01", "type": null},
        "lang": null, "timezone": "Asia/Seoul"}, "action": {"name": "kakaobot", "id": null}});
    assert_eq!(app.skill_raw(QUIZ, &lenient).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_bot_skill_is_a_404_with_a_json_error() {
    let app = spawn_app("skill_unknown_bot", None).await;
    let resp = app.skill_raw("/weather", &my_score()).await;
    resp.assert_error(StatusCode::NOT_FOUND, "unknown_bot");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_bot_answers_skills_at_the_root() {
    let app = spawn_app_with(
        "skill_root",
        None,
        &[("KAKAOBOT_DEFAULT_BOT", "lunch")],
        |_| {},
    )
    .await;
    let answer = SkillAnswer::from(
        &app.skill_raw("", &skill_payload(&bot_user_key("root"), "안녕"))
            .await,
    );
    assert_eq!(answer.quick_labels(), LUNCH_HOME);
}

// --- the skill secret ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn with_a_skill_secret_set_only_requests_carrying_it_are_answered() {
    let app = spawn_app_with(
        "skill_secret",
        None,
        &[("KAKAOBOT_SKILL_SECRET", "s3cret-value")],
        |_| {},
    )
    .await;
    let send = |secret: Option<&'static str>| {
        let mut req = app.client.post(app.url("/quiz/skill")).json(&my_score());
        if let Some(secret) = secret {
            req = req.header("X-Kakaobot-Skill-Secret", secret);
        }
        req.send()
    };

    let missing = crate::helpers::Plain::from(send(None).await.unwrap()).await;
    let wrong = crate::helpers::Plain::from(send(Some("s3cret-valuX")).await.unwrap()).await;
    let right = crate::helpers::Plain::from(send(Some("s3cret-value")).await.unwrap()).await;

    let message = missing.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(message.contains("X-Kakaobot-Skill-Secret"), "{message}");
    wrong.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    SkillAnswer::from(&right).assert_says("아직 푼 문제가 없어요");
    // The smart-chat routes are not behind the secret: Kakao never sent one there.
    app.post_message(QUIZ, "OLDUSER00001", "내 점수").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_skill_secret_set_the_secret_is_checked_before_the_body_is_read() {
    let app = spawn_app_with(
        "skill_secret_first",
        None,
        &[("KAKAOBOT_SKILL_SECRET", "s3cret-value")],
        |_| {},
    )
    .await;
    let send = |secret: Option<&'static str>, body: &'static [u8]| {
        let mut req = app
            .client
            .post(app.url("/quiz/skill"))
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(secret) = secret {
            req = req.header("X-Kakaobot-Skill-Secret", secret);
        }
        req.send()
    };

    for body in [
        &b"{\"userRequest\":"[..],
        br#"{"userRequest": {"user": {}}}"#,
        b"",
    ] {
        let missing = crate::helpers::Plain::from(send(None, body).await.unwrap()).await;
        let wrong = crate::helpers::Plain::from(send(Some("nope"), body).await.unwrap()).await;

        // A stranger learns nothing about the shape the service expects.
        let message = missing.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        assert!(!message.contains("userRequest"), "{message}");
        wrong.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // With the secret, the same bad body is the usual 400 naming what is expected.
    let bad = crate::helpers::Plain::from(
        send(Some("s3cret-value"), b"{\"userRequest\":")
            .await
            .unwrap(),
    )
    .await;
    let message = bad.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(message.contains("userRequest"), "{message}");
}

// --- wire shapes ----------------------------------------------------------------------------

/// Every key path of a JSON value (`template.outputs[].simpleText.text`), array
/// positions folded, `extra` contents left out (they are kakaobot's own).
fn key_paths(value: &Value) -> std::collections::BTreeSet<String> {
    fn walk(v: &Value, at: String, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let path = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    out.insert(path.clone());
                    if k != "extra" {
                        walk(child, path, out);
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, format!("{at}[]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Default::default();
    walk(value, String::new(), &mut out);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_twenty_restaurant_vote_has_the_shape_of_kakaos_list_card_carousel_example() {
    let app = spawn_app("skill_shape_carousel", None).await;
    let owner = bot_user_key("shape");
    create_group(&app, &owner).await;
    for name in twenty_restaurants() {
        app.skill(LUNCH, &owner, "식당 추가").await;
        app.skill(LUNCH, &owner, &name).await;
    }
    let choosing = app.skill(LUNCH, &owner, "#점심 선택").await;

    let ours = key_paths(&choosing.json);
    let kakaos = key_paths(&kakao_sample(
        "kakaodocs__answer_json_format__response_listcard_carousel_quickreplies.json",
    ));
    // Beyond the example: our simpleText, and the ListItem fields the format documents
    // for a tappable item (OPENBUILDER.md §3.2) that the display-only example leaves out.
    let documented = [
        "template.outputs[].simpleText",
        "template.outputs[].simpleText.text",
        "template.outputs[].carousel.items[].items[].action",
        "template.outputs[].carousel.items[].items[].messageText",
        "template.outputs[].carousel.items[].items[].extra",
        "template.quickReplies[].extra",
    ];
    let foreign: Vec<&String> = ours
        .iter()
        .filter(|p| !kakaos.contains(*p) && !documented.contains(&p.as_str()))
        .collect();
    assert!(
        foreign.is_empty(),
        "keys Kakao's example does not have: {foreign:?}"
    );
    assert_eq!(choosing.json, golden_json(LUNCH_CAROUSEL));
}

const LUNCH_CAROUSEL: &str = include_str!("golden/skill_lunch_carousel.json");
const QUIZ_SCORE: &str = include_str!("golden/skill_quiz_first_score.json");

fn golden_json(text: &str) -> Value {
    serde_json::from_str(text).expect("golden files are JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_text_answer_with_a_menu_is_simple_text_and_quick_replies_byte_for_byte() {
    let app = spawn_app("skill_golden_score", None).await;
    let resp = app
        .skill_raw(QUIZ, &skill_payload(&bot_user_key("golden"), "내 점수"))
        .await;
    resp.assert_kakao_ok();
    assert_eq!(resp.body, QUIZ_SCORE.trim_end());
}
