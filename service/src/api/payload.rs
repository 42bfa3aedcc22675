//! JSON bodies as the operations read and write them: with serde, straight between
//! bytes and typed structs, and documented with the schema of those structs.
//!
//! poem-openapi's own `Json<T>` parses a body into a `serde_json::Value` and converts
//! that into `T`, and renders an answer by building a `Value` first; for a 2 KB
//! SkillPayload of which a handful of fields are read, that tree is most of the cost of
//! a request. The types here implement poem-openapi's payload traits instead, so the
//! document shows the same schemas while no body passes through a `Value`. The bytes
//! are read and written by kakaobot's own [`json`](crate::json) reader and writer,
//! with serde_json behind them for whatever those leave to it (and for every error).

use std::marker::PhantomData;

use bytes::Bytes;
use poem::{FromRequest, IntoResponse, Request, RequestBody, Response};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::ApiResponse;
use serde::{Deserialize, Serialize};
use tracing::error;

use crate::kakao::Schema;

const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A request's JSON body of the shape `S` documents. It is only read when the
/// operation extracts it; [`JsonBody::parse`] parses it, so an operation can check
/// what must come first (the skill secret) before any parsing.
pub struct JsonBody<S> {
    bytes: Bytes,
    schema: PhantomData<S>,
}

/// A body that is not valid JSON of the expected shape. The message names the field
/// (`userRequest.user.id: …`), as a 400 should.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Checked for the whole body: the fields that are skipped are not read closely
    /// enough to notice.
    #[error("parse request payload error: the body is not UTF-8: {0}")]
    NotUtf8(#[from] simdutf8::compat::Utf8Error),
    #[error("parse request payload error: {0}")]
    Shape(#[from] serde_path_to_error::Error<serde_json::Error>),
    /// Something follows the JSON value.
    #[error("parse request payload error: {0}")]
    Json(#[from] serde_json::Error),
    /// Every body the API reads is a JSON object (serde would also take an array,
    /// filling the fields in order).
    #[error("parse request payload error: expected a JSON object")]
    NotObject,
}

impl<S: Schema> JsonBody<S> {
    /// The body as `S` is read: typed fields, borrowed from the body where they can be.
    pub fn parse(&self) -> Result<S::Wire<'_>, BodyError> {
        let text = simdutf8::compat::from_utf8(&self.bytes)?;
        if !text.trim_start().starts_with('{') {
            return Err(BodyError::NotObject);
        }
        // kakaobot's reader reads what real requests hold and leaves anything else to
        // serde_json, which reads it or says what is wrong. Tracking the path allocates
        // for every key passed; so only a body that fails is read again with it, to
        // name the field.
        if let Ok(wire) = crate::json::from_str(text) {
            return Ok(wire);
        }
        read::<S>(text).map_err(|untracked| match read_tracked::<S>(text) {
            Err(tracked) => tracked,
            // Both reads run the same deserializer; should they ever disagree, the
            // body is still refused, with the untracked read's reason.
            Ok(_) => BodyError::Json(untracked),
        })
    }
}

fn read<S: Schema>(text: &str) -> Result<S::Wire<'_>, serde_json::Error> {
    let mut json = serde_json::Deserializer::from_str(text);
    let wire = S::Wire::deserialize(&mut json)?;
    json.end()?;
    Ok(wire)
}

fn read_tracked<S: Schema>(text: &str) -> Result<S::Wire<'_>, BodyError> {
    let mut json = serde_json::Deserializer::from_str(text);
    let wire = serde_path_to_error::deserialize(&mut json)?;
    json.end()?;
    Ok(wire)
}

/// The payload trait of a JSON body or answer of the shape its type parameter
/// documents: the same content type, schema and registration for each.
macro_rules! json_payload {
    ($payload:ident) => {
        impl<T: Type> Payload for $payload<T> {
            const CONTENT_TYPE: &'static str = CONTENT_TYPE;

            fn check_content_type(content_type: &str) -> bool {
                is_json(content_type)
            }

            fn schema_ref() -> MetaSchemaRef {
                T::schema_ref()
            }

            fn register(registry: &mut Registry) {
                T::register(registry);
            }
        }
    };
}

/// `application/json` or `application/*+json`, as poem-openapi's `Json` accepts.
fn is_json(content_type: &str) -> bool {
    <poem_openapi::payload::Json<serde_json::Value> as Payload>::check_content_type(content_type)
}

json_payload!(JsonBody);

impl<S: Type> ParsePayload for JsonBody<S> {
    const IS_REQUIRED: bool = S::IS_REQUIRED;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self {
            // The body-limit middleware has read the body already: these are its bytes,
            // not a copy.
            bytes: Bytes::from_request(request, body).await?,
            schema: PhantomData,
        })
    }
}

poem_openapi::impl_apirequest_for_payload!(JsonBody<S>, S: Type);

/// A JSON answer, written straight from `T` with serde ([`crate::json::to_vec`]).
pub struct Json<T>(pub T);

json_payload!(Json);

impl<T: Serialize + Send> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        Written::<T>::new(crate::json::to_vec(&self.0)).into_response()
    }
}

/// A JSON answer of the shape `T` documents, written already: for an answer whose
/// renderer wrote it to measure it (a SkillResponse against Kakao's size limit), so
/// that it is not written twice.
pub struct Written<T> {
    body: serde_json::Result<Vec<u8>>,
    schema: PhantomData<T>,
}

impl<T> Written<T> {
    pub fn new(body: serde_json::Result<Vec<u8>>) -> Self {
        Self {
            body,
            schema: PhantomData,
        }
    }
}

json_payload!(Written);

impl<T: Send> IntoResponse for Written<T> {
    fn into_response(self) -> Response {
        match self.body {
            Ok(body) => Response::builder().content_type(CONTENT_TYPE).body(body),
            // The answer types hold strings, numbers and lists only; this cannot happen.
            Err(cause) => {
                error!(%cause, "an answer could not be written as JSON");
                poem::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

impl<T: Type + Serialize + Send> ApiResponse for Json<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: CONTENT_TYPE,
                    schema: T::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}
