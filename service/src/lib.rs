//! kakaobot: a KakaoTalk smart-chat bot service.
//!
//! Layers, each a module:
//! - [`kakao`]: the wire format Kakao speaks, and the renderer that keeps its limits;
//! - [`bots`]: the quiz and lunch-vote bots, plain Rust deciding replies;
//! - [`store`]: what the bots remember, in Redis or in memory;
//! - [`api`]: the HTTP operations (poem-openapi), which also make the OpenAPI document;
//! - [`config`], [`telemetry`], [`listener`], [`startup`]: settings, logs, sockets and
//!   the assembly that `main` and the tests share;
//! - [`user`]: the validated, log-safe `user_key`.

pub mod api;
pub mod bots;
pub mod config;
pub mod kakao;
pub mod listener;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod user;
