//! Shared test helpers. Not every test module uses every helper.
#![allow(dead_code)]

pub mod app;
pub mod callback_receiver;
pub mod conn;
pub mod pebble;
pub mod process;
pub mod prometheus;
pub mod raw_http;
pub mod redis_cluster;
pub mod redis_server;
pub mod skill;
pub mod steps;

pub use app::{spawn_app, spawn_app_with, Answer, Plain, TestApp, KAKAO_CONTENT_TYPE};
pub use callback_receiver::CallbackReceiver;
pub use conn::Conn;
pub use pebble::{free_port, Pebble, TestCa};
pub use process::Service;
pub use raw_http::{chunked, raw_request};
pub use redis_cluster::RedisCluster;
pub use redis_server::{connect, unique_prefix, RedisServer};
pub use skill::{kakao_sample, payload as skill_payload, SkillAnswer};
pub use steps::Steps;
