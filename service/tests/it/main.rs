//! The integration tests of the kakaobot crate, in one binary (one link, one place
//! for the shared helpers).
//!
//! - `cluster_*`: the service on a real six-node Redis Cluster: a primary killed under
//!   load, two processes sharing one cluster;
//! - `store`: the store contract, on memory and on a real `redis-server`;
//! - `store_round_trips`: Redis round trips per message, counted by the service;
//! - `store_limits`: group creation and join attempts limited per user;
//! - `store_migrate`: `kakaobot migrate` keeps the data of the old key layout;
//! - `store_lifetimes`: no key lives forever: a full Redis evicts idle users instead
//!   of refusing writes, `kakaobot migrate` gives old keys a lifetime;
//! - `store_tls`: `rediss://` to a `redis-server` that speaks TLS only;
//! - `api_*`: the real service over HTTP on a free port, Kakao's routes and bots,
//!   bad input, and Redis outages; `api_skill*`: the same for Open Builder skills;
//! - `https`: HTTPS by itself: a certificate from a real ACME server (Pebble), its
//!   renewal and reuse, the operator's own files, the TLS edge;
//! - `docs_korean_readme`: `README.ko.md` kept in step with `README.md` and the code;
//! - `edge_*`: the HTTP edge against slow, silent and hostile clients, shutdown,
//!   log redaction and metrics, some on the real binary as a child process;
//!   `edge_prometheus`: a real Prometheus evaluates the alert rules and the dashboard.

mod api_errors;
mod api_help;
mod api_kakao;
mod api_lunch;
mod api_outage;
mod api_quiz;
mod api_skill;
mod api_skill_outage;
mod api_skill_stall;
mod api_store_full;
mod cluster_failover;
mod cluster_two_processes;
mod docs_korean_readme;
mod edge_connection_cap;
mod edge_fds;
mod edge_limits;
mod edge_logs;
mod edge_metrics;
mod edge_prometheus;
mod edge_shutdown;
mod helpers;
mod https;
mod quiz_reload;
mod store;
mod store_lifetimes;
mod store_limits;
mod store_migrate;
mod store_round_trips;
mod store_tls;
