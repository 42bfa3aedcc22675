//! The JSON 4xx answers every operation shares: a body that cannot be read, a bot
//! that does not exist, a body that is too large. Each reply enum names its own 4xx
//! variants (so the document lists them per operation) and implements [`Rejection`];
//! [`rejected`] and [`unreadable`] decide which variant a failure is, once for all.

use poem::http::StatusCode;
use poem_openapi::error::ParsePathError;
use poem_openapi::Object;
use serde::Serialize;

use poem_openapi::types::Type;

use super::answer::{Outcome, Wire};
use super::payload::{BodyError, Json};
use super::BotPath;

/// An error, in JSON. These never go to Kakao users: Kakao only sends valid requests.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "Error")]
pub struct ErrorBody {
    /// A short machine-readable code: `bad_request`, `unknown_bot`, `not_found`, `payload_too_large`, ….
    pub error: String,
    /// What went wrong, and what to do about it.
    pub message: String,
}

impl ErrorBody {
    pub fn new(error: &str, message: impl Into<String>) -> Json<Self> {
        Json(Self {
            error: error.to_owned(),
            message: message.into(),
        })
    }
}

/// The 4xx variants of an operation's reply enum.
pub trait Rejection: Sized {
    /// The body the operation reads, spelled out in a 400's message; empty when it
    /// reads none. The parser's message says what was wrong, this says what is right.
    const EXPECTED: &'static str;

    /// The Kakao API the operation serves, whose refused requests count as
    /// `bad_request` answers; `None` for the operations Kakao only notifies.
    const WIRE: Option<Wire> = None;

    fn bad_request(body: Json<ErrorBody>) -> Self;

    fn unknown_bot(body: Json<ErrorBody>) -> Self;

    /// An operation that reads no body is never too large.
    fn too_large(body: Json<ErrorBody>) -> Self {
        Self::bad_request(body)
    }
}

/// A request poem-openapi could not extract (the operations' `bad_request_handler`):
/// a `{bot}` that names no bot is a 404, a body over the limit a 413, anything else (a
/// bad user key in the path, a missing or wrong content type, an unreadable body) a 400.
pub fn rejected<R: Rejection>(err: poem::Error) -> R {
    if let Some(wire) = R::WIRE {
        crate::metrics::answer(None, wire, Outcome::BadRequest);
    }
    if let Some(message) = unknown_bot(&err) {
        return R::unknown_bot(ErrorBody::new("unknown_bot", message));
    }
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return R::too_large(ErrorBody::new("payload_too_large", err.to_string()));
    }
    R::bad_request(bad_request(err, R::EXPECTED))
}

/// Why the `{bot}` segment names no bot, if that is the error. poem-openapi names path
/// parameters by position in its errors (`param0`), so the error is known by the type
/// that failed to parse: `failed to parse "string(bot)": unknown bot 'x': …`.
fn unknown_bot(err: &poem::Error) -> Option<String> {
    let reason = &err.downcast_ref::<ParsePathError>()?.reason;
    let prefix = format!("failed to parse \"{}\": ", BotPath::name());
    reason.strip_prefix(&prefix).map(str::to_owned)
}

/// A body that is not JSON of the operation's shape.
pub fn unreadable<R: Rejection>(err: BodyError) -> R {
    R::bad_request(bad_request(err, R::EXPECTED))
}

fn bad_request(err: impl std::fmt::Display, expected: &str) -> Json<ErrorBody> {
    if expected.is_empty() {
        ErrorBody::new("bad_request", err.to_string())
    } else {
        ErrorBody::new(
            "bad_request",
            format!("{err}; expected a JSON body {expected}"),
        )
    }
}
