//! Kakao's smart-chat routes over HTTP (CONTRACT.md §1): every route of both bots, at
//! the root and under `/quiz` and `/lunch`, the exact bytes Kakao sees, and the
//! operational routes around them (`/health`, `/ready`, `/docs`, `/openapi.json`).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, RedisServer, KAKAO_CONTENT_TYPE};

/// Every place a bot is served: the root (the default bot) and each bot's prefix.
const BOT_PATHS: [&str; 3] = ["", "/quiz", "/lunch"];

const QUIZ_KEYBOARD: &str = include_str!("golden/quiz_keyboard.json");
const LUNCH_KEYBOARD: &str = include_str!("golden/lunch_keyboard.json");
const ACK: &str = include_str!("golden/ack.json");
const QUIZ_FIRST_SCORE_MESSAGE: &str = include_str!("golden/quiz_first_score_message.json");

/// A golden file's bytes without the trailing newline editors add.
///
/// The golden files hold the exact bytes the service sends, keys in the order
/// CONTRACT.md shows them (the service enables serde_json's `preserve_order`, so the
/// order does not depend on which crates a build unifies features with).
fn golden(text: &str) -> &str {
    text.trim_end_matches('\n')
}

#[tokio::test(flavor = "multi_thread")]
async fn the_home_keyboard_is_the_bare_keyboard_object_byte_for_byte() {
    let app = spawn_app("keyboard_golden", None).await;

    for (bot, expected) in [
        ("", QUIZ_KEYBOARD),
        ("/quiz", QUIZ_KEYBOARD),
        ("/lunch", LUNCH_KEYBOARD),
    ] {
        let resp = app.keyboard(bot).await;

        resp.assert_kakao_ok();
        assert_eq!(resp.body, golden(expected), "GET {bot}/keyboard");
        assert!(resp.json().get("keyboard").is_none(), "must not be wrapped");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_notification_is_acknowledged_with_kakaos_exact_success_body() {
    let app = spawn_app("ack_golden", None).await;
    let user = "HASHED_KEY_1";

    for bot in BOT_PATHS {
        // Twice each: notifications are idempotent.
        for _ in 0..2 {
            for (what, resp) in [
                ("POST friend", app.friend_added(bot, user).await),
                ("DELETE friend/{key}", app.friend_blocked(bot, user).await),
                (
                    "DELETE friend + body",
                    app.friend_blocked_with_body(bot, user).await,
                ),
                (
                    "DELETE chat_room/{key}",
                    app.left_chat_room(bot, user).await,
                ),
            ] {
                resp.assert_kakao_ok();
                assert_eq!(resp.body, golden(ACK), "{what} at {bot:?}");
                assert_eq!(
                    resp.json(),
                    json!({"code": 0, "message": "SUCCESS", "comment": "정상 응답"})
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_answer_has_kakaos_exact_wire_shape() {
    let app = spawn_app("message_golden", None).await;

    let resp = app
        .send_json(
            Method::POST,
            "/quiz/message",
            &json!({"user_key": "golden_user1", "type": "text", "content": "내 점수"}),
        )
        .await;

    resp.assert_kakao_ok();
    assert_eq!(resp.body, golden(QUIZ_FIRST_SCORE_MESSAGE));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_message_answer_is_200_json_with_a_text_and_a_keyboard_on_every_bot_path() {
    let app = spawn_app("message_shape", None).await;

    for bot in BOT_PATHS {
        for text in ["내 점수", "#점심 선택", "안녕하세요", "", "   "] {
            let answer = app.post_message(bot, "shape_user_1", text).await;

            let message = answer.json["message"].as_object().unwrap();
            assert!(!answer.text.is_empty(), "{bot} {text:?}");
            assert!(message.keys().all(|k| k == "text"), "{}", answer.json);
            let kind = answer.json["keyboard"]["type"].as_str().unwrap();
            assert!(kind == "buttons" || kind == "text", "{}", answer.json);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tutorials_own_sample_requests_get_a_polite_200() {
    let app = spawn_app("tutorial_samples", None).await;
    // Kakao's auto_reply README, verbatim: a text the bot does not know, and a photo.
    let text_sample =
        json!({"user_key": "encryptedUserKey", "type": "text", "content": "차량번호등록"});
    let photo_sample = json!({"user_key": "encryptedUserKey", "type": "photo",
                              "content": "http://photo_url/number.jpg"});

    for bot in BOT_PATHS {
        for sample in [&text_sample, &photo_sample] {
            let resp = app
                .send_json(Method::POST, &format!("{bot}/message"), sample)
                .await;

            resp.assert_kakao_ok();
            let body = resp.json();
            assert!(body["message"]["text"].as_str().unwrap().chars().count() > 5);
            assert_eq!(body["keyboard"]["type"], "buttons", "{body}");
        }
        let ack = app
            .send_json(
                Method::POST,
                &format!("{bot}/friend"),
                &json!({"user_key": "HASHED_USER_KEY"}),
            )
            .await;
        assert_eq!(ack.body, golden(ACK));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kakaos_own_content_type_spelling_is_accepted() {
    let app = spawn_app("content_type_spelling", None).await;
    let body = r#"{"user_key":"spelling_1","type":"text","content":"내 점수"}"#
        .as_bytes()
        .to_vec();

    for content_type in [
        "application/json",
        "application/json;charset=UTF-8",
        "application/json; charset=utf-8",
    ] {
        let resp = app
            .send_raw(Method::POST, "/quiz/message", content_type, body.clone())
            .await;

        resp.assert_kakao_ok();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn leaving_the_chat_room_forgets_the_pending_question_on_every_bot_path() {
    let app = spawn_app("chat_room_clears", None).await;

    for (i, bot) in ["", "/quiz"].into_iter().enumerate() {
        let user = format!("room_user_{i}");
        let asked = app.post_message(bot, &user, "파이썬 퀴즈").await;
        let choice = asked.buttons()[0].clone();

        app.left_chat_room(bot, &user).await.assert_kakao_ok();
        let answer = app.post_message(bot, &user, &choice).await;

        answer.assert_says("풀고 있는 문제가 없어요");
        answer.assert_buttons(&["파이썬 퀴즈", "웹 퀴즈", "컴퓨터 퀴즈", "내 점수"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn leaving_the_lunch_chat_room_ends_a_half_typed_step() {
    let app = spawn_app("chat_room_lunch", None).await;
    let user = "lunch_room_1";
    app.post_message("/lunch", user, "#설정").await;
    app.post_message("/lunch", user, "그룹 만들기").await;
    assert!(app
        .post_message("/lunch", user, "식당 추가")
        .await
        .has_text_keyboard());

    app.left_chat_room("/lunch", user).await.assert_kakao_ok();
    let answer = app.post_message("/lunch", user, "김밥천국").await;

    answer.assert_says("무엇을 할까요?");
    let settings = app.post_message("/lunch", user, "#설정").await;
    settings.assert_says("식당 목록: (아직 없어요)");
}

#[tokio::test(flavor = "multi_thread")]
async fn blocking_the_bot_in_either_form_forgets_the_pending_question() {
    let app = spawn_app("friend_blocked_clears", None).await;

    for (i, bot) in BOT_PATHS[..2].iter().enumerate() {
        for with_body in [false, true] {
            let user = format!("blocker_{i}_{with_body}");
            app.friend_added(bot, &user).await.assert_kakao_ok();
            let asked = app.post_message(bot, &user, "웹 퀴즈").await;
            let choice = asked.buttons()[0].clone();

            let ack = if with_body {
                app.friend_blocked_with_body(bot, &user).await
            } else {
                app.friend_blocked(bot, &user).await
            };
            ack.assert_kakao_ok();
            let answer = app.post_message(bot, &user, &choice).await;

            answer.assert_says("풀고 있는 문제가 없어요");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_bot_is_a_404_with_a_json_error_on_every_route() {
    let app = spawn_app("unknown_bot", None).await;
    let message = json!({"user_key": "someone_1", "type": "text", "content": "안녕"});
    let friend = json!({"user_key": "someone_1"});

    let answers = [
        app.get("/weather/keyboard").await,
        app.send_json(Method::POST, "/weather/message", &message)
            .await,
        app.send_json(Method::POST, "/weather/friend", &friend)
            .await,
        app.send_json(Method::DELETE, "/weather/friend", &friend)
            .await,
        app.send_json(Method::DELETE, "/weather/friend/someone_1", &Value::Null)
            .await,
        app.send_json(Method::DELETE, "/weather/chat_room/someone_1", &Value::Null)
            .await,
    ];

    for resp in answers {
        let why = resp.assert_error(StatusCode::NOT_FOUND, "unknown_bot");
        assert!(why.contains("weather") && why.contains("quiz"), "{why}");
    }
    let resp = app.get("/no/such/route").await;
    resp.assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_bot_setting_makes_the_root_serve_lunch() {
    let app = spawn_app_with(
        "default_lunch",
        None,
        &[("KAKAOBOT_DEFAULT_BOT", "lunch")],
        |_| {},
    )
    .await;

    let root = app.keyboard("").await;
    let quiz = app.keyboard("/quiz").await;
    let answer = app.post_message("", "root_luncher", "#점심 선택").await;

    assert_eq!(root.body, golden(LUNCH_KEYBOARD));
    assert_eq!(quiz.body, golden(QUIZ_KEYBOARD));
    answer.assert_says("아직 참여한 그룹이 없어요");
    answer.assert_buttons(&["#점심 선택", "#결과 보기", "#설정"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_ready_answer_200_on_memory_and_on_redis() {
    let redis = RedisServer::start();
    let on_memory = spawn_app("health_memory", None).await;
    let on_redis = spawn_app("health_redis", Some(&redis)).await;

    for (app, store) in [(&on_memory, "memory"), (&on_redis, "redis")] {
        let health = app.get("/health").await;
        let ready = app.get("/ready").await;

        assert_eq!(health.status, StatusCode::OK);
        assert_eq!(health.json(), json!({"status": "ok", "store": store}));
        assert_eq!(ready.status, StatusCode::OK);
        assert_eq!(ready.json(), json!({"status": "ready", "store": store}));
    }
}

/// The values of `attr="…"` in `<tag …>` elements of `html`.
fn attribute_values(html: &str, tag: &str, attr: &str) -> Vec<String> {
    let mut found = Vec::new();
    let open = format!("<{tag}");
    let needle = format!("{attr}=\"");
    for element in html.split(&open).skip(1) {
        let element = element.split('>').next().unwrap_or_default();
        if let Some(start) = element.find(&needle) {
            let rest = &element[start + needle.len()..];
            found.push(rest.split('"').next().unwrap_or_default().to_owned());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn the_swagger_ui_and_its_assets_come_from_the_service_itself() {
    let app = spawn_app("docs", None).await;

    let page = app.get("/docs").await;

    assert_eq!(page.status, StatusCode::OK);
    assert!(page.content_type.starts_with("text/html"), "{page:?}");
    // The Swagger UI bundle and stylesheet are inside the page (poem-openapi inlines
    // them), so the page needs nothing from the internet...
    assert!(page.body.contains("SwaggerUIBundle"));
    assert!(page.body.len() > 500_000, "the bundle is inlined");
    assert!(page.body.contains("/quiz/message") || page.body.contains("{bot}/message"));
    // ...and anything it does reference by URL is served here, not by a CDN.
    let referenced: Vec<String> = attribute_values(&page.body, "script", "src")
        .into_iter()
        .chain(attribute_values(&page.body, "link", "href"))
        .collect();
    for url in &referenced {
        assert!(
            !url.starts_with("http:") && !url.starts_with("https:") && !url.starts_with("//"),
            "/docs loads {url} from elsewhere"
        );
        let path = if url.starts_with('/') {
            url.clone()
        } else {
            format!("/docs/{url}")
        };
        assert_eq!(app.get(&path).await.status, StatusCode::OK, "{path}");
    }
    // The same page with the trailing slash, and the same page on a second visit.
    let again = app.get("/docs/").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, page.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_lists_every_route() {
    let app = spawn_app("openapi", None).await;

    let resp = app.get("/openapi.json").await;

    assert_eq!(resp.status, StatusCode::OK);
    assert!(resp.content_type.starts_with("application/json"));
    let spec = resp.json();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/skill", &["post"][..]),
        ("/{bot}/skill", &["post"]),
        ("/keyboard", &["get"]),
        ("/message", &["post"]),
        ("/friend", &["post", "delete"]),
        ("/friend/{user_key}", &["delete"]),
        ("/chat_room/{user_key}", &["delete"]),
        ("/{bot}/keyboard", &["get"]),
        ("/{bot}/message", &["post"]),
        ("/{bot}/friend", &["post", "delete"]),
        ("/{bot}/friend/{user_key}", &["delete"]),
        ("/{bot}/chat_room/{user_key}", &["delete"]),
        ("/health", &["get"]),
        ("/ready", &["get"]),
    ] {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from {:?}", paths.keys()));
        for method in methods {
            assert!(item.get(*method).is_some(), "{method} {path}");
        }
    }
    assert_eq!(paths.len(), 14, "{:?}", paths.keys());
}

#[tokio::test(flavor = "multi_thread")]
async fn kakao_answers_carry_the_exact_content_type_header() {
    let app = spawn_app("content_type", None).await;

    let keyboard = app.keyboard("/lunch").await;
    let ack = app.left_chat_room("/lunch", "ct_user_1").await;

    assert_eq!(keyboard.content_type, KAKAO_CONTENT_TYPE);
    assert_eq!(ack.content_type, KAKAO_CONTENT_TYPE);
}

/// Every place the document describes a user key: the `user_key` path parameters and
/// body fields, and a skill's `userRequest.user.id`.
fn user_key_schemas(spec: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for param in op["parameters"].as_array().into_iter().flatten() {
                if param["name"] == "user_key" {
                    found.push((format!("{method} {path}"), param["schema"].clone()));
                }
            }
        }
    }
    let schemas = &spec["components"]["schemas"];
    for (schema, field) in [
        ("MessageRequest", "user_key"),
        ("FriendRequest", "user_key"),
        ("SkillUser", "id"),
    ] {
        found.push((
            format!("{schema}.{field}"),
            schemas[schema]["properties"][field].clone(),
        ));
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_states_exactly_the_user_key_rules_the_service_applies() {
    let app = spawn_app("spec_user_key", None).await;
    let spec = app.get("/openapi.json").await.json();

    let schemas = user_key_schemas(&spec);

    assert_eq!(schemas.len(), 7, "{schemas:?}");
    for (place, schema) in &schemas {
        assert_eq!(
            schema["pattern"],
            kakaobot::user::USER_KEY_PATTERN,
            "{place}"
        );
        assert_eq!(schema["minLength"], 1, "{place}");
        assert_eq!(
            schema["maxLength"],
            kakaobot::user::MAX_USER_KEY_LEN,
            "{place}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bot_path_is_documented_as_an_enum_and_an_unknown_bot_is_still_a_404() {
    let app = spawn_app("spec_bot_enum", None).await;
    let spec = app.get("/openapi.json").await.json();

    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for param in op["parameters"].as_array().into_iter().flatten() {
                if param["name"] == "bot" {
                    assert_eq!(
                        param["schema"]["enum"],
                        json!(["quiz", "lunch"]),
                        "{method} {path}"
                    );
                }
            }
        }
    }
    app.keyboard("/weather")
        .await
        .assert_error(StatusCode::NOT_FOUND, "unknown_bot");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undeclared_method_is_a_405_with_an_allow_header_naming_the_declared_ones() {
    let app = spawn_app("spec_allow", None).await;
    for (method, path, allow) in [
        ("TRACE", "/quiz/friend", "DELETE, POST"),
        ("PUT", "/skill", "POST"),
        ("GET", "/lunch/skill", "POST"),
        ("POST", "/quiz/keyboard", "GET"),
        ("PATCH", "/chat_room/abc", "DELETE"),
    ] {
        let resp = app
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(path),
            )
            .send()
            .await
            .unwrap();
        let got = resp
            .headers()
            .get(reqwest::header::ALLOW)
            .map(|v| v.to_str().unwrap().to_owned());
        let plain = crate::helpers::Plain::from(resp).await;
        plain.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        assert_eq!(got.as_deref(), Some(allow), "{method} {path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_with_characters_that_mean_something_in_a_url_are_refused_everywhere() {
    let app = spawn_app("spec_url_chars", None).await;
    for key in ["a%2Fb", "a?b", "a#b", "a\"b", "a:b", "키"] {
        let message = app
            .send_json(
                reqwest::Method::POST,
                "/quiz/message",
                &json!({"user_key": key, "type": "text", "content": "내 점수"}),
            )
            .await;
        message.assert_error(StatusCode::BAD_REQUEST, "bad_request");
        let skill = app
            .skill_raw(
                "/quiz",
                &json!({"userRequest": {"utterance": "내 점수", "user": {"id": key}}}),
            )
            .await;
        skill.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    }
}
