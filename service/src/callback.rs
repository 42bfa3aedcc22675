//! Skill callbacks (OPENBUILDER.md §4): when a block of an approved "AI chatbot" has
//! callback on, Kakao sends a one-time `callbackUrl` with the request. If the store does
//! not answer within the reply budget, the skill answers `useCallback` at once and this
//! module delivers the real answer to that URL later: at most once, within
//! [`DEADLINE`] of the request, or not at all (logged).
//!
//! Only `https` URLs on `kakao.com` and its subdomains are called, so a request cannot
//! make the service POST to an address of the sender's choosing; the
//! `callback_allowed_hosts` setting names further hosts (for tests and private relays).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::Url;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::kakao::skill::SkillResponse;

/// How long after the request the real answer may still be delivered. Kakao's callback
/// URL is valid for one minute; the rest is margin for the POST itself.
pub const DEADLINE: Duration = Duration::from_secs(50);
/// The least time between the acknowledgement and the callback POST: a callback that
/// races its own acknowledgement can be refused.
pub const AFTER_ACK: Duration = Duration::from_secs(1);
/// Longest a callback POST may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Callback POSTs in flight at once, so that the answers a stall held back leave in
/// a stream when the store resumes, not in one burst of sockets and buffers.
pub const POSTS_AT_ONCE: usize = 8;

/// The waiting message shown until the callback arrives.
pub const WAITING_TEXT: &str = "답변을 준비하고 있어요. 잠시만 기다려 주세요!";

/// Sends callbacks to the hosts that may receive them.
#[derive(Clone, Debug)]
pub struct Callbacks {
    client: reqwest::Client,
    extra_hosts: Vec<String>,
    /// One permit per answer waiting to be called back (`callback_max_pending`).
    pending: Arc<Semaphore>,
    /// One permit per POST in flight ([`POSTS_AT_ONCE`]).
    posting: Arc<Semaphore>,
}

/// A place among the pending callbacks, held until the callback is sent or given up.
#[derive(Debug)]
pub struct Pending {
    _place: OwnedSemaphorePermit,
}

/// When a callback may go out: not before [`AFTER_ACK`] after `acked`, not after
/// `deadline`.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub acked: Instant,
    pub deadline: Instant,
}

/// A callback URL that passed [`Callbacks::permit`].
#[derive(Clone, Debug)]
pub struct CallbackUrl(Url);

impl CallbackUrl {
    /// The host, for log lines: the URL's path is a one-time token and is never logged.
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }
}

/// Why a callback was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("no answer from the store within {} s of the request", DEADLINE.as_secs())]
    NoAnswer,
    #[error("the store failed, and trying again could repeat a change: {0}")]
    Failed(String),
    #[error("the answer could not be written as JSON: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("the callback POST failed: {0}")]
    Post(#[source] reqwest::Error),
    #[error("Kakao refused the callback: HTTP {status}: {body}")]
    Refused { status: u16, body: String },
}

impl Callbacks {
    /// `extra_hosts`: `host` or `host:port` entries allowed besides Kakao's, over http
    /// or https; `max_pending`: most answers waiting to be called back at once.
    pub fn new(extra_hosts: Vec<String>, max_pending: usize) -> anyhow::Result<Self> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .pool_max_idle_per_host(POSTS_AT_ONCE)
            // A redirect could lead anywhere; Kakao's callback endpoint does not redirect.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| anyhow::anyhow!("failed to build the callback HTTP client: {e}"))?;
        Ok(Self {
            client,
            extra_hosts: extra_hosts
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            pending: Arc::new(Semaphore::new(max_pending)),
            posting: Arc::new(Semaphore::new(POSTS_AT_ONCE)),
        })
    }

    /// A place among the pending callbacks, or `None` when `callback_max_pending`
    /// answers are waiting already: then the request gets the plain answer (the
    /// "try again" one if the store is slow), which costs nothing once sent.
    pub fn reserve(&self) -> Option<Pending> {
        self.pending
            .clone()
            .try_acquire_owned()
            .ok()
            .map(|place| Pending { _place: place })
    }

    /// The URL, if it may be called: `https` on `kakao.com` or a subdomain, or any
    /// http(s) URL on a host named in `callback_allowed_hosts`.
    pub fn permit(&self, raw: &str) -> Option<CallbackUrl> {
        let url = Url::parse(raw).ok()?;
        let host = url.host_str()?.to_ascii_lowercase();
        let kakao = url.scheme() == "https"
            && (host == "kakao.com" || host.ends_with(".kakao.com"))
            && url.username().is_empty()
            && url.password().is_none();
        let named = matches!(url.scheme(), "http" | "https")
            && self.extra_hosts.iter().any(|allowed| {
                *allowed == host
                    || url
                        .port_or_known_default()
                        .is_some_and(|port| *allowed == format!("{host}:{port}"))
            });
        (kakao || named).then_some(CallbackUrl(url))
    }

    /// Delivers the answer that the still-running `first` try will produce to `url`:
    /// once, not before [`AFTER_ACK`] after `window.acked`, and only if it is ready by
    /// `window.deadline`. Another try (`retry`, with back-off) is made only after a failure
    /// that `never_ran` says left no effect — `first` being `None` means it failed so.
    ///
    /// Why one try, awaited, and not a retry on timeout: a call that timed out is
    /// still queued on the connection, and a paused Redis runs it when it resumes. A
    /// second try would then find the first one's change (a judged answer, an asked
    /// question) and the user would be sent what the second try saw — "already
    /// judged" for an answer that counted. So the first try's reply is the answer,
    /// however late, up to the deadline; the store it runs on waits that long.
    pub async fn follow_up<T, E, F, Fut>(
        &self,
        url: CallbackUrl,
        first: Option<tokio::task::JoinHandle<Result<T, E>>>,
        retry: F,
        never_ran: impl Fn(&E) -> bool,
        render: impl Fn(&T) -> SkillResponse,
        window: Window,
    ) -> Result<(), CallbackError>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let Window { acked, deadline } = window;
        let first = match first {
            None => None,
            Some(task) => match tokio::time::timeout_at(deadline, task).await {
                Ok(Ok(Ok(answer))) => Some(answer),
                Ok(Ok(Err(err))) if never_ran(&err) => None,
                Ok(Ok(Err(err))) => return Err(CallbackError::Failed(err.to_string())),
                Ok(Err(join)) => return Err(CallbackError::Failed(join.to_string())),
                Err(_) => return Err(CallbackError::NoAnswer),
            },
        };
        let answer = match first {
            Some(answer) => answer,
            None => {
                info!(
                    host = url.host(),
                    "the store was not reached; trying again for the callback"
                );
                let backoff = ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(250))
                    .with_max_delay(Duration::from_secs(2))
                    .without_max_times();
                let tries = retry.retry(backoff).when(&never_ran).notify(|err, pause| {
                    info!(cause = %err, ?pause, "store still unreachable; callback retry");
                });
                match tokio::time::timeout_at(deadline, tries).await {
                    Ok(Ok(answer)) => answer,
                    Ok(Err(err)) if !never_ran(&err) => {
                        return Err(CallbackError::Failed(err.to_string()))
                    }
                    _ => return Err(CallbackError::NoAnswer),
                }
            }
        };
        tokio::time::sleep_until(acked + AFTER_ACK).await;
        let Ok(Ok(_turn)) = tokio::time::timeout_at(deadline, self.posting.acquire()).await else {
            return Err(CallbackError::NoAnswer);
        };
        self.post(&url, &render(&answer)).await
    }

    async fn post(&self, url: &CallbackUrl, body: &SkillResponse) -> Result<(), CallbackError> {
        let body = serde_json::to_vec(body).map_err(CallbackError::Encode)?;
        let response = self
            .client
            .post(url.0.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| CallbackError::Post(e.without_url()))?;
        let status = response.status();
        // Kakao answers {taskId, status: SUCCESS|FAIL|ERROR, message, timestamp}.
        let text = response.text().await.unwrap_or_default();
        let kakao_status = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("status")?.as_str().map(str::to_owned));
        if !status.is_success() || matches!(kakao_status.as_deref(), Some("FAIL" | "ERROR")) {
            return Err(CallbackError::Refused {
                status: status.as_u16(),
                body: crate::kakao::cut(&text, 300),
            });
        }
        Ok(())
    }
}

/// Logs and counts how a callback of `bot` ended; the URL's token is never logged.
pub fn record_outcome(
    bot: impl std::fmt::Display,
    host: &str,
    outcome: &Result<(), CallbackError>,
) {
    let label = match outcome {
        Ok(()) => "delivered",
        Err(CallbackError::NoAnswer | CallbackError::Failed(_)) => "gave_up",
        Err(CallbackError::Post(_) | CallbackError::Encode(_)) => "failed",
        Err(CallbackError::Refused { .. }) => "refused",
    };
    crate::metrics::skill_callback(&bot, label);
    match outcome {
        Ok(()) => info!(%bot, host, "callback delivered"),
        Err(err) => {
            warn!(%bot, host, cause = %err, "callback not delivered; the user saw only the waiting message")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn callbacks(extra: &[&str]) -> Callbacks {
        Callbacks::new(extra.iter().map(|h| h.to_string()).collect(), 4).unwrap()
    }

    #[test]
    fn only_kakao_over_https_is_called_back_by_default() {
        let c = callbacks(&[]);
        assert!(c
            .permit("https://bot-api.kakao.com/v1/bots/5ae9!/callback/tok")
            .is_some());
        for refused in [
            "http://bot-api.kakao.com/v1/bots/x/callback/tok",
            "https://kakao.com.evil.example/cb",
            "https://evilkakao.com/cb",
            "https://user:pw@bot-api.kakao.com/cb",
            "https://127.0.0.1/cb",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(c.permit(refused).is_none(), "{refused}");
        }
    }

    #[test]
    fn a_named_host_may_be_called_over_http_on_its_port() {
        let c = callbacks(&["127.0.0.1:8080", "relay.internal"]);
        assert!(c.permit("http://127.0.0.1:8080/cb").is_some());
        assert!(c.permit("http://127.0.0.1:9090/cb").is_none());
        assert!(c.permit("https://relay.internal/cb").is_some());
        assert!(c.permit("ftp://relay.internal/cb").is_none());
    }

    #[tokio::test]
    async fn nothing_is_posted_when_no_answer_comes_before_the_deadline() {
        let c = callbacks(&["127.0.0.1:9"]);
        let url = c.permit("http://127.0.0.1:9/cb").unwrap();
        let now = Instant::now();
        let mut tries = 0;

        let outcome = c
            .follow_up(
                url,
                None::<tokio::task::JoinHandle<Result<(), String>>>,
                || {
                    tries += 1;
                    async { Err::<(), _>("store down".to_owned()) }
                },
                |_| true,
                |_| SkillResponse::callback_ack("unused"),
                Window {
                    acked: now,
                    deadline: now + Duration::from_millis(600),
                },
            )
            .await;

        assert!(
            matches!(outcome, Err(CallbackError::NoAnswer)),
            "{outcome:?}"
        );
        assert!(tries >= 2, "retried {tries} times");
    }

    #[test]
    fn the_logged_host_never_carries_the_token() {
        let url = callbacks(&[])
            .permit("https://bot-api.kakao.com/v1/bots/b/callback/SECRET-TOKEN")
            .unwrap();
        assert_eq!(url.host(), "bot-api.kakao.com");
    }
}
