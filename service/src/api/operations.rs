//! Liveness and readiness, for load balancers, systemd and deploy scripts.

use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Serialize;
use tracing::warn;

use super::answer::within_budget;
use super::payload::Json;
use super::{AppState, Tag};

/// Liveness and readiness.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename = "Status")]
pub struct StatusBody {
    /// `ok`, `ready` or `unavailable`.
    pub status: String,
    /// Where state is kept: `redis` or `memory`.
    pub store: String,
}

/// Response of `GET /health`.
#[derive(ApiResponse)]
pub enum HealthReply {
    /// The process is alive and serving.
    #[oai(status = 200)]
    Ok(Json<StatusBody>),
}

/// Response of `GET /ready`.
#[derive(ApiResponse)]
pub enum ReadyReply {
    /// The store answers: messages get real replies.
    #[oai(status = 200)]
    Ready(Json<StatusBody>),
    /// The store does not answer in time, or refused most requests of the last 5–10 s
    /// (a Redis out of memory refusing writes): messages get the "try again" reply
    /// until it comes back (no restart needed).
    #[oai(status = 503)]
    Unavailable(Json<StatusBody>),
}

/// Health and readiness.
pub struct OperationsApi {
    pub(super) state: AppState,
}

#[OpenApi]
impl OperationsApi {
    /// Liveness: the process is up
    #[oai(path = "/health", method = "get", tag = "Tag::Operations")]
    async fn health(&self) -> HealthReply {
        HealthReply::Ok(Json(self.status("ok")))
    }

    /// Readiness: the store answers
    #[oai(path = "/ready", method = "get", tag = "Tag::Operations")]
    async fn ready(&self) -> ReadyReply {
        // A Redis at maxmemory answers PING and refuses every write: what the
        // requests saw counts first.
        if self.state.store_health.refusing() {
            warn!("not ready: the store refused most requests of the last seconds");
            return ReadyReply::Unavailable(Json(self.status("unavailable")));
        }
        match within_budget(self.state.reply_budget, self.state.store.ping()).await {
            Ok(()) => ReadyReply::Ready(Json(self.status("ready"))),
            Err(cause) => {
                warn!(%cause, "not ready: the store does not answer");
                ReadyReply::Unavailable(Json(self.status("unavailable")))
            }
        }
    }
}

impl OperationsApi {
    fn status(&self, status: &str) -> StatusBody {
        StatusBody {
            status: status.to_owned(),
            store: self.state.store_kind.to_owned(),
        }
    }
}
