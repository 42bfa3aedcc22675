//! The Open Builder skill routes: how every Kakao channel reaches the bots today.

use std::time::Instant;

use poem_openapi::param::{Header, Path};
use poem_openapi::{ApiResponse, OpenApi};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;
use tracing::warn;

use super::answer::{self, Answer, Outcome, Wire};
use super::payload::{Json, JsonBody, Written};
use super::rejection::{rejected, unreadable, ErrorBody, Rejection};
use super::{AppState, BotPath, Tag};
use crate::bots::BotName;
use crate::callback::{self, CallbackUrl};
use crate::kakao::skill::{self, SkillPayload, SkillResponse};

/// The header that carries `KAKAOBOT_SKILL_SECRET`, when one is set.
pub const SKILL_SECRET_HEADER: &str = "X-Kakaobot-Skill-Secret";

/// Response of a skill call.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "rejected::<SkillReply>")]
pub enum SkillReply {
    /// The bot's answer, `{"version":"2.0","template":{…}}`. Also sent when storage is
    /// slow or down: a "try again" answer with the home menu, or, when the request had a
    /// callback URL, `{"version":"2.0","useCallback":true,…}` with the real answer
    /// POSTed to that URL once it is ready (within 50 s).
    #[oai(status = 200)]
    Ok(Written<SkillResponse>),
    /// The body is not a skill payload: malformed JSON, or no `userRequest.user.id`.
    /// Kakao never sends these.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// `KAKAOBOT_SKILL_SECRET` is set and the request's `X-Kakaobot-Skill-Secret`
    /// header is missing or wrong.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No bot has that name; the bots are `quiz` and `lunch`.
    #[oai(status = 404)]
    UnknownBot(Json<ErrorBody>),
    /// The body is larger than 64 KiB.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
}

impl Rejection for SkillReply {
    const EXPECTED: &'static str = r#"{"userRequest": {"utterance": string, "user": {"id": string, …}, …}, "action": {"clientExtra": {…}, …}, …}"#;
    const WIRE: Option<Wire> = Some(Wire::Skill);

    fn bad_request(body: Json<ErrorBody>) -> Self {
        Self::BadRequest(body)
    }

    fn unknown_bot(body: Json<ErrorBody>) -> Self {
        Self::UnknownBot(body)
    }

    fn too_large(body: Json<ErrorBody>) -> Self {
        Self::PayloadTooLarge(body)
    }
}

/// The skill operations.
pub struct SkillsApi {
    pub(super) state: AppState,
}

#[OpenApi]
impl SkillsApi {
    /// A skill call to the default bot
    ///
    /// Kakao calls this when a block linked to the skill answers a user. Always answered
    /// with 200 and a SkillResponse 2.0, also when storage is down.
    #[oai(
        path = "/skill",
        method = "post",
        tag = "Tag::Skills",
        operation_id = "default_skill"
    )]
    async fn default_skill(
        &self,
        body: JsonBody<SkillPayload>,
        /// Required when `KAKAOBOT_SKILL_SECRET` is set: its value.
        #[oai(name = "X-Kakaobot-Skill-Secret")]
        secret: Header<Option<String>>,
    ) -> SkillReply {
        self.skill(self.state.default_bot, &body, secret.0.as_deref())
            .await
    }

    /// A skill call to a bot
    ///
    /// Kakao calls this when a block linked to the skill answers a user. Always answered
    /// with 200 and a SkillResponse 2.0, also when storage is down.
    #[oai(path = "/:bot/skill", method = "post", tag = "Tag::Skills")]
    async fn bot_skill(
        &self,
        /// The bot: `quiz` or `lunch`.
        bot: Path<BotPath>,
        body: JsonBody<SkillPayload>,
        /// Required when `KAKAOBOT_SKILL_SECRET` is set: its value.
        #[oai(name = "X-Kakaobot-Skill-Secret")]
        secret: Header<Option<String>>,
    ) -> SkillReply {
        self.skill(bot.0 .0, &body, secret.0.as_deref()).await
    }
}

impl SkillsApi {
    async fn skill(
        &self,
        bot: BotName,
        body: &JsonBody<SkillPayload>,
        secret: Option<&str>,
    ) -> SkillReply {
        let started = Instant::now();
        // The secret comes first: a stranger learns nothing about the body it expects.
        if !self.authorized(secret) {
            answer::settle(bot, Wire::Skill, Outcome::Unauthorized, started);
            return SkillReply::Unauthorized(ErrorBody::new(
                "unauthorized",
                format!(
                    "missing or wrong {SKILL_SECRET_HEADER} header: add it, with the value of \
                     KAKAOBOT_SKILL_SECRET, to the skill's headers in Kakao's chatbot admin centre"
                ),
            ));
        }
        let request = match body.parse() {
            Ok(request) => request,
            Err(err) => {
                answer::settle(bot, Wire::Skill, Outcome::BadRequest, started);
                return unreadable(err);
            }
        };
        let (user, input) = (request.user(), request.input());
        let answer = match request.callback_url().and_then(|raw| self.permit(bot, raw)) {
            None => Some(answer::answer(&self.state, bot, &user, &input).await),
            Some(url) => answer::answer_or_call_back(&self.state, bot, user, input, url).await,
        };
        let (outcome, body) = match answer {
            Some(Answer { reply, outcome }) => (outcome, skill::render_json(reply)),
            None => (
                Outcome::Callback,
                serde_json::to_vec(&SkillResponse::callback_ack(callback::WAITING_TEXT)),
            ),
        };
        answer::settle(bot, Wire::Skill, outcome, started);
        SkillReply::Ok(Written::new(body))
    }

    fn authorized(&self, secret: Option<&str>) -> bool {
        let Some(expected) = &self.state.skill_secret else {
            return true;
        };
        let given = secret.unwrap_or_default().as_bytes();
        bool::from(given.ct_eq(expected.expose_secret().as_bytes()))
    }

    fn permit(&self, bot: BotName, raw: &str) -> Option<CallbackUrl> {
        let permitted = self.state.callbacks.permit(raw);
        if permitted.is_none() {
            warn!(%bot, "callback URL refused (not https on kakao.com, nor an allowed host); answering without callback");
        }
        permitted
    }
}
