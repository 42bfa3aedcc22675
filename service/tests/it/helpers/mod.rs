//! Shared test helpers. Not every test module uses every helper.
#![allow(dead_code)]

pub mod redis_server;

pub use redis_server::{unique_prefix, RedisServer};
