//! Skill calls as Kakao makes them: [`payload`] builds a SkillPayload, [`TestApp::skill`]
//! sends a typed utterance, [`TestApp::tap`] replays a tap the way Kakao does (the
//! utterance is the item's `messageText`, `action.clientExtra` its `extra`), and
//! [`SkillAnswer`] reads the SkillResponse back, checking it is HTTP 200, Kakao's
//! content type and version 2.0.

use serde_json::{json, Value};

use super::app::{Plain, TestApp};

/// One of Kakao's own example payloads from `shared/kakao/openbuilder-samples/`, as
/// JSON. The tests run with the project's `shared/` folder beside the repository (as
/// CI has it); without it they fail saying so.
pub fn kakao_sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/kakao/openbuilder-samples")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read Kakao's sample {} ({e}): the tests expect the project's shared/ folder beside the repository",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

/// A SkillPayload from `user_id` saying `utterance`, shaped like Kakao's own example
/// (`openbuilder-samples/kakaodocs__answer_json_format__userrequest_example.json`).
pub fn payload(user_id: &str, utterance: &str) -> Value {
    json!({
        "intent": {"id": "b1", "name": "폴백 블록", "extra": {"reason": {"code": 1, "message": "OK"}}},
        "userRequest": {
            "timezone": "Asia/Seoul",
            "params": {"surface": "Kakaotalk.plusfriend"},
            "block": {"id": "b1", "name": "폴백 블록"},
            "utterance": utterance,
            "lang": "ko",
            "user": {"id": user_id, "type": "botUserKey", "properties": {"botUserKey": user_id}}
        },
        "contexts": [],
        "bot": {"id": "5ae9b76d7409b11ec845b746!", "name": "kakaobot"},
        "action": {"name": "kakaobot", "clientExtra": null, "params": {}, "id": "a1", "detailParams": {}}
    })
}

/// One tappable thing in an answer: a quick reply or a list item.
#[derive(Debug, Clone)]
pub struct Tappable {
    /// The quick reply's label or the list item's title.
    pub shown: String,
    pub message_text: String,
    pub extra: Value,
}

/// A skill answer, already checked to be 200, Kakao's content type and version 2.0.
#[derive(Debug, Clone)]
pub struct SkillAnswer {
    pub json: Value,
    /// The first simpleText's text.
    pub text: String,
}

impl SkillAnswer {
    /// The first simpleText's text of a SkillResponse, if it has one.
    pub fn text_of(json: &Value) -> Option<&str> {
        json["template"]["outputs"][0]["simpleText"]["text"].as_str()
    }

    pub fn from(plain: &Plain) -> Self {
        plain.assert_kakao_ok();
        let json = plain.json();
        assert_eq!(json["version"], "2.0", "{json}");
        let text = json["template"]["outputs"][0]["simpleText"]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("no simpleText first in {json}"))
            .to_owned();
        Self { json, text }
    }

    /// The quick replies' labels, in order.
    pub fn quick_labels(&self) -> Vec<String> {
        self.json["template"]["quickReplies"]
            .as_array()
            .map(|qs| {
                qs.iter()
                    .map(|q| q["label"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every quick reply and list item (in list cards and carousels), in order.
    pub fn tappables(&self) -> Vec<Tappable> {
        let mut out = Vec::new();
        let item = |v: &Value, shown: &str| Tappable {
            shown: v[shown].as_str().unwrap_or_default().to_owned(),
            message_text: v["messageText"].as_str().unwrap_or_default().to_owned(),
            extra: v.get("extra").cloned().unwrap_or(Value::Null),
        };
        for output in self.json["template"]["outputs"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let lists: Vec<&Value> = match (output.get("listCard"), output.get("carousel")) {
                (Some(list), _) => vec![list],
                (_, Some(carousel)) => carousel["items"].as_array().into_iter().flatten().collect(),
                _ => Vec::new(),
            };
            for list in lists {
                for i in list["items"].as_array().into_iter().flatten() {
                    out.push(item(i, "title"));
                }
            }
        }
        for q in self.json["template"]["quickReplies"]
            .as_array()
            .into_iter()
            .flatten()
        {
            out.push(item(q, "label"));
        }
        out
    }

    /// The tappable whose message text is `text`; panics when there is none.
    #[track_caller]
    pub fn tappable(&self, text: &str) -> Tappable {
        self.tappables()
            .into_iter()
            .find(|t| t.message_text == text)
            .unwrap_or_else(|| panic!("nothing to tap sends {text:?} in {}", self.json))
    }

    /// Asserts the text contains `needle`.
    #[track_caller]
    pub fn assert_says(&self, needle: &str) {
        assert!(
            self.text.contains(needle),
            "expected the skill answer to say {needle:?}, it said {:?}",
            self.text
        );
    }
}

impl TestApp {
    /// POSTs `body` to `{bot}/skill`.
    pub async fn skill_raw(&self, bot: &str, body: &Value) -> Plain {
        self.send_json(reqwest::Method::POST, &format!("{bot}/skill"), body)
            .await
    }

    /// `user_id` types `utterance` to `bot`'s skill.
    pub async fn skill(&self, bot: &str, user_id: &str, utterance: &str) -> SkillAnswer {
        SkillAnswer::from(&self.skill_raw(bot, &payload(user_id, utterance)).await)
    }

    /// `user_id` taps `item`, as Kakao delivers a tap.
    pub async fn tap(&self, bot: &str, user_id: &str, item: &Tappable) -> SkillAnswer {
        let mut body = payload(user_id, &item.message_text);
        body["action"]["clientExtra"] = item.extra.clone();
        SkillAnswer::from(&self.skill_raw(bot, &body).await)
    }
}
