//! kakaobot: a KakaoTalk bot service, reached as Kakao i Open Builder skills or through
//! the tutorials' smart-chat API.
//!
//! Layers, each a module, in the order a request travels them (`main` → [`startup`]
//! → [`http`] → [`api`] → [`bots`] → [`store`]):
//! - [`startup`]: the assembly that `main` and the tests share;
//! - [`http`]: the HTTP edge: sockets, the HTTP/1.1 server (timeouts, connection
//!   limit, accept back-off, draining, TLS), the routes and the middleware around
//!   them, the access log;
//! - [`api`]: the HTTP operations (poem-openapi), which also make the OpenAPI document;
//! - [`kakao`]: the wire formats Kakao speaks (skills, smart-chat), and the renderers
//!   that keep their limits;
//! - [`json`]: the reader of request bodies and writer of answers, faster than
//!   serde_json for what those hold and leaving to it anything else;
//! - [`callback`]: late skill answers delivered to Kakao's callback URL;
//! - [`bots`]: the quiz and lunch-vote bots, plain Rust deciding replies;
//! - [`store`]: what the bots remember, in Redis or in memory;
//! - [`lunch`]: the lunch vote's domain types, which the bot decides with and the
//!   store applies;
//! - beside them: [`config`] (settings), [`telemetry`] (logs), [`tls`] (the
//!   certificate HTTPS serves, from ACME or files), [`metrics`] (Prometheus metrics on
//!   their own listener), [`user`] (the validated, log-safe `user_key`).

pub mod api;
pub mod bots;
pub mod callback;
pub mod config;
pub mod http;
pub mod json;
pub mod kakao;
pub mod lunch;
pub mod metrics;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod user;

/// Makes ring the process's TLS crypto provider, once; later calls change nothing.
///
/// rustls chooses its provider from the features it was built with. Built alone this
/// crate enables only ring, but in a workspace build `provision`'s AWS SDK also enables
/// aws-lc-rs, and rustls then panics on the first TLS connection rather than guess.
/// Called wherever kakaobot opens TLS (Redis `rediss://`, skill callbacks).
pub fn install_crypto_provider() {
    // Err only means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
