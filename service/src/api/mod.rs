//! The HTTP API: one OpenAPI document (and Swagger UI) made of one API per tag, as
//! poem-openapi combines a tuple of APIs:
//!
//! - `skills`: Open Builder skill routes, how Kakao channels reach the bots today;
//! - `smart_chat`: the tutorials' smart-chat routes, for the default bot at the root
//!   and for every bot under its prefix (retired by Kakao, deprecated in the document,
//!   still served);
//! - `operations`: health and readiness ([`StoreHealth`]: what recent requests saw
//!   of the store).
//!
//! What they share is written once: `payload` reads and writes JSON bodies with
//! serde, documented with their schema; `rejection` turns every way a request can
//! be refused into its JSON 4xx; `answer` gets the bot's answer within the reply
//! budget, or the fallback, or hands it to a callback — and knows no HTTP.

mod answer;
mod operations;
mod payload;
mod rejection;
mod route_template;
mod skills;
mod smart_chat;
pub mod store_health;

use std::sync::Arc;
use std::time::Duration;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult};
use poem_openapi::{OpenApiService, Tags};
use secrecy::SecretString;

pub use operations::OperationsApi;
pub use rejection::ErrorBody;
pub use route_template::route_template;
pub use skills::{SkillsApi, SKILL_SECRET_HEADER};
pub use smart_chat::SmartChatApi;
pub use store_health::StoreHealth;

use crate::bots::{BotName, Bots};
use crate::callback::Callbacks;
use crate::store::Store;

/// Every operation, in the document's order: skills first.
pub type Api = (SkillsApi, SmartChatApi, OperationsApi);

/// The APIs, sharing `state`.
pub fn api(state: AppState) -> Api {
    (
        SkillsApi {
            state: state.clone(),
        },
        SmartChatApi {
            state: state.clone(),
        },
        OperationsApi { state },
    )
}

/// The OpenAPI service for `state`. The document does not depend on the state.
pub fn openapi(state: AppState) -> OpenApiService<Api, ()> {
    OpenApiService::new(api(state), "kakaobot", env!("CARGO_PKG_VERSION")).description(
        "KakaoTalk bots: a quiz and a group lunch vote. Kakao calls these routes when users \
             talk to the bot. Today's Kakao channels reach them as Kakao i Open Builder skills: \
             register `https://HOST/quiz/skill` or `https://HOST/lunch/skill` as a skill \
             in Kakao's chatbot admin centre. The smart-chat routes (`/keyboard`, `/message`, …; \
             register `http://HOST:PORT`, `http://HOST:PORT/quiz` or `http://HOST:PORT/lunch`) \
             serve the tutorials and old integrations: Kakao retired that API on 2019-12-31. \
             Every Kakao route answers HTTP 200 with `application/json; charset=utf-8` — Kakao \
             counts anything else as a failure — including when storage is down, with a \
             \"try again\" reply. Besides the statuses each operation lists, any request may \
             get 408 with a JSON error body when its body arrives slower than \
             `KAKAOBOT_BODY_TIMEOUT_SECS`, and, from the HTTP layer before any operation and \
             so with an empty body, 431 for a header over 16 KiB or 400 for a malformed \
             request; the connection is closed after each. The server speaks HTTP/1.1 only.",
    )
}

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub bots: Bots,
    pub store: Arc<dyn Store>,
    /// The same data, for late skill answers: its calls wait for Redis up to the
    /// callback deadline instead of giving up after the response timeout.
    pub patient_store: Arc<dyn Store>,
    /// The bot behind the root paths.
    pub default_bot: BotName,
    /// Time a request may spend on the store before the fallback reply is sent.
    pub reply_budget: Duration,
    /// `redis` or `memory`, shown by `/ready`.
    pub store_kind: &'static str,
    /// When set, skill requests must carry it in [`SKILL_SECRET_HEADER`].
    pub skill_secret: Option<SecretString>,
    /// Where late skill answers go when Kakao sent a callback URL.
    pub callbacks: Callbacks,
    /// What recent requests saw of the store, for `/ready` and the log.
    pub store_health: Arc<StoreHealth>,
}

#[derive(Tags)]
enum Tag {
    /// Kakao i Open Builder skills, how Kakao channels reach bots today: register
    /// `https://HOST/quiz/skill` or `https://HOST/lunch/skill` as a skill in Kakao's
    /// chatbot admin centre and use it in the fallback and welcome blocks.
    Skills,
    /// The default bot (`KAKAOBOT_DEFAULT_BOT`, `quiz` unless set) at the root URL, so a
    /// Kakao app registered with `http://HOST:5000` works unchanged.
    DefaultBot,
    /// Every bot under its own prefix (smart-chat API of the tutorials, retired by Kakao
    /// on 2019-12-31): register `http://HOST:5000/quiz` or `http://HOST:5000/lunch`.
    Bots,
    /// Liveness and readiness for load balancers, systemd and deploy scripts.
    Operations,
}

/// The `{bot}` path segment. The document lists the bots as an enum, so clients and
/// fuzzers know the valid names; any other name is refused while the request is read
/// and answered 404 `unknown_bot` (`rejection::rejected`), not a generic 400.
#[derive(Debug, Clone)]
pub struct BotPath(BotName);

crate::kakao::scalar_type!(BotPath, "string(bot)", {
    let mut schema = MetaSchema::new("string");
    schema.enum_items = BotName::ALL
        .iter()
        .map(|b| serde_json::Value::from(b.as_str()))
        .collect();
    MetaSchemaRef::Inline(Box::new(schema))
});

impl ParseFromParameter for BotPath {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        value
            .parse::<BotName>()
            .map(Self)
            .map_err(|e| ParseError::custom(e.to_string()))
    }
}
