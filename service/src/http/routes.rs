//! The route table and what every request passes through around it (`Edge`), in the
//! order a request meets them.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use poem::endpoint::make_sync;
use poem::error::ReadBodyError;
use poem::http::header::CONNECTION;
use poem::http::{HeaderValue, Method, StatusCode, Uri};
use poem::{Endpoint, PathPattern, Request, Response, Route};
use tracing::warn;

use super::access_log::{self, AccessLog, Served};
use super::method_table::MethodTable;
use crate::api::{self, AppState};
use crate::metrics;
use crate::tls::{self, Challenges};

/// Largest request body accepted; Kakao's are a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every route: the API, its document, the Swagger UI, ACME's challenges, behind
/// the `Edge` a request meets first.
pub fn routes(
    state: AppState,
    body_timeout: Duration,
    challenges: &Challenges,
) -> impl Endpoint<Output = Response> {
    let docs_api = api::openapi(state.clone());
    let docs = swagger_ui(move || docs_api.swagger_ui_html());
    let api = api::openapi(state);
    let spec = api.spec_endpoint();
    let methods = MethodTable::from_spec(&serde_json::from_str(&api.spec()).unwrap_or_default());
    let route = Route::new()
        .at(
            format!("{}:token", tls::acme::CHALLENGE_PREFIX),
            challenges.endpoint(),
        )
        .nest("/docs", docs)
        .at("/openapi.json", spec)
        .nest("/", api);
    Edge {
        route,
        methods,
        access_log: AccessLog::start(access_log::SUMMARY_EVERY),
        body_timeout,
    }
}

/// What every request passes through around its route, in one endpoint rather than a
/// chain of poem middleware: each middleware's future holds the request (472 bytes)
/// and the future of everything inside it, and is moved when it starts. The chain of
/// four that was here nested to 8.7 KB (this is 4.2 KB) and cost every request about
/// 10,000 instructions (callgrind), an eighth of a smart-chat message's.
struct Edge {
    route: Route,
    methods: MethodTable,
    access_log: Arc<AccessLog>,
    body_timeout: Duration,
}

impl Endpoint for Edge {
    type Output = Response;

    /// Slashes collapsed, the body read within its limits, the route called, any error
    /// answered as JSON, `Allow` added to a 405, and the request counted and logged.
    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        // Before the access log, so the log sees the path the routes see (and redacts
        // the user key wherever the slashes put it).
        collapse_slashes(&mut req);
        let _in_flight = metrics::InFlight::start();
        let method = req.method().clone();
        // Shares the request's bytes: the path is only read (and redacted) if logged.
        let uri = req.uri().clone();
        let started = Instant::now();
        let mut resp = match limit_body(&self.route, req, self.body_timeout).await {
            Ok(resp) => resp,
            Err(err) => error_response(err),
        };
        self.methods.add_allow(uri.path(), &mut resp);
        observe(&self.access_log, &method, &uri, started, &resp);
        Ok(resp)
    }
}

/// The Swagger UI page: poem-openapi's, which holds the Swagger UI bundle, its
/// stylesheet and the document (1.7 MB), so that it needs nothing from the internet.
/// poem-openapi's own endpoint builds it at start and copies all of it for every visit;
/// here it is built on the first visit (most instances never get one, and keep the
/// 1.7 MB and the bundle's pages of the binary out of memory) and every visit shares it.
fn swagger_ui(build: impl Fn() -> String + Send + Sync + 'static) -> Route {
    let page = OnceLock::new();
    let serve = make_sync(move |_| {
        let page: &Bytes = page.get_or_init(|| Bytes::from(build()));
        Response::builder()
            .content_type("text/html; charset=utf-8")
            .body(page.clone())
    });
    Route::new().at("/", serve)
}

/// Kakao appends `/keyboard`, `/message`, … to the URL the operator registered, so
/// `http://HOST:5000/quiz/` becomes `/quiz//keyboard`. Empty path segments carry no
/// meaning here; dropping them makes both spellings work.
fn collapse_slashes(req: &mut Request) {
    let uri = req.uri();
    if !uri.path().contains("//") {
        return;
    }
    let mut path = String::with_capacity(uri.path().len());
    for segment in uri.path().split('/').filter(|s| !s.is_empty()) {
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() {
        path.push('/');
    }
    if let Some(query) = uri.query() {
        path.push('?');
        path.push_str(query);
    }
    if let Ok(collapsed) = path.parse() {
        *req.uri_mut() = collapsed;
    }
}

/// Refuses bodies over [`MAX_BODY_BYTES`] with 413, whether or not they announce
/// their length, and bodies slower than `timeout` with 408: a client that announces
/// 100 bytes and sends 10, or an endless chunked trickle, does not hold the
/// connection.
async fn limit_body(route: &Route, mut req: Request, timeout: Duration) -> poem::Result<Response> {
    let announced = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    // Collected as the frames come rather than with poem's `into_bytes_limit`, whose
    // 4 KiB read buffer lives in this future, making every future around it (the
    // middleware's and the route's) 4 KiB larger, copied each time one is boxed.
    let body = Limited::new(BoxBody::from(req.take_body()), MAX_BODY_BYTES).collect();
    let bytes = tokio::time::timeout(timeout, body)
        .await
        .map_err(|_| {
            poem::Error::from_string(
                format!(
                    "the request body did not arrive within {} s",
                    timeout.as_secs()
                ),
                StatusCode::REQUEST_TIMEOUT,
            )
        })?
        .map_err(|err| {
            if err.is::<LengthLimitError>() {
                return too_large();
            }
            let cause = match err.downcast::<std::io::Error>() {
                Ok(io) => ReadBodyError::Io(*io).to_string(),
                Err(other) => other.to_string(),
            };
            poem::Error::from_string(
                format!("cannot read the request body: {cause}"),
                StatusCode::BAD_REQUEST,
            )
        })?
        .to_bytes();
    req.set_body(bytes);
    route.call(req).await
}

fn too_large() -> poem::Error {
    poem::Error::from_string(
        format!(
            "the request body is larger than {} KiB",
            MAX_BODY_BYTES / 1024
        ),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
}

/// Every error as a JSON body. 5xx bodies stay generic; the cause goes to the log.
pub(super) fn error_response(err: poem::Error) -> Response {
    let status = err.status();
    // The route the error came from, for the metrics label.
    let pattern = err.data::<PathPattern>().cloned();
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (
            "not_found",
            "no such route: the Kakao routes are /keyboard, /message, /friend and /chat_room, at the root or under /quiz and /lunch; see /docs".to_owned(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", err.to_string()),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", err.to_string()),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", err.to_string()),
        s if s.is_server_error() => {
            warn!(cause = %err, "internal error");
            ("internal", "internal error; see the service log".to_owned())
        }
        _ => ("bad_request", err.to_string()),
    };
    let body = serde_json::json!({ "error": code, "message": message });
    let mut resp = Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(body.to_string());
    if status == StatusCode::REQUEST_TIMEOUT {
        // The rest of the body may still come; the connection cannot be reused.
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    if let Some(pattern) = pattern {
        resp.set_data(pattern);
    }
    resp
}

/// One access-log record and one metrics sample per request. Neither holds a user
/// key: the log's path is redacted, the metrics label is the route pattern.
fn observe(access_log: &AccessLog, method: &Method, uri: &Uri, started: Instant, resp: &Response) {
    let elapsed = started.elapsed();
    let status = resp.status();
    let route = route_label(status, resp.data::<PathPattern>());
    metrics::request(method.as_str(), route, status.as_u16(), elapsed);
    access_log.record(&Served {
        method: method.as_str(),
        path: uri.path(),
        route,
        status: status.as_u16(),
        elapsed,
    });
}

/// The route that answered, as the OpenAPI document writes it (`/{bot}/skill`), or
/// [`metrics::UNMATCHED_ROUTE`] when none did (a 404: poem marks even those with the
/// pattern of the nest they fell through).
fn route_label(status: StatusCode, pattern: Option<&PathPattern>) -> &'static str {
    match pattern {
        Some(PathPattern(pattern)) if status != StatusCode::NOT_FOUND && !pattern.is_empty() => {
            crate::api::route_template(pattern)
        }
        _ => metrics::UNMATCHED_ROUTE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_url_with_a_trailing_slash_still_routes() {
        let mut req = Request::builder().uri_str("/quiz//keyboard?x=1").finish();
        collapse_slashes(&mut req);
        assert_eq!(req.uri().to_string(), "/quiz/keyboard?x=1");
        let mut req = Request::builder().uri_str("//").finish();
        collapse_slashes(&mut req);
        assert_eq!(req.uri().path(), "/");
    }

    #[tokio::test]
    async fn the_swagger_ui_page_is_built_on_the_first_visit_and_shared_by_the_next() {
        let builds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = builds.clone();
        let docs = swagger_ui(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            "<html>the page</html>".to_owned()
        });
        assert_eq!(builds.load(std::sync::atomic::Ordering::Relaxed), 0);

        let mut visits = Vec::new();
        for _ in 0..2 {
            let resp = docs
                .get_response(Request::builder().uri_str("/").finish())
                .await;
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(resp.content_type(), Some("text/html; charset=utf-8"));
            visits.push(resp.into_body().into_bytes().await.unwrap());
        }

        assert_eq!(builds.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(visits[0], "<html>the page</html>");
        // The same bytes, not a copy of them.
        assert_eq!(visits[0].as_ptr(), visits[1].as_ptr());
    }
}
