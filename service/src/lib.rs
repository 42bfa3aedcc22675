//! kakaobot: a KakaoTalk bot service, reached as Kakao i Open Builder skills or through
//! the tutorials' smart-chat API.
//!
//! Layers, each a module:
//! - [`kakao`]: the wire formats Kakao speaks (skills, smart-chat), and the renderers
//!   that keep their limits;
//! - [`callback`]: late skill answers delivered to Kakao's callback URL;
//! - [`bots`]: the quiz and lunch-vote bots, plain Rust deciding replies;
//! - [`store`]: what the bots remember, in Redis or in memory;
//! - [`api`]: the HTTP operations (poem-openapi), which also make the OpenAPI document;
//! - [`config`], [`telemetry`], [`listener`], [`startup`]: settings, logs, sockets and
//!   the assembly that `main` and the tests share; [`method_table`]: the `Allow` header
//!   of a 405, from the OpenAPI document;
//! - [`server`]: the HTTP/1.1 edge (timeouts, connection limit, accept back-off,
//!   draining); [`metrics`]: Prometheus metrics on their own listener;
//! - [`user`]: the validated, log-safe `user_key`.

pub mod api;
pub mod bots;
pub mod callback;
pub mod config;
pub mod kakao;
pub mod listener;
pub mod method_table;
pub mod metrics;
pub mod server;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod user;
