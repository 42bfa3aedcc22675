//! A stand-in for Kakao's callback endpoint on a free loopback port: it records every
//! POST (path and JSON body) and answers as Kakao does,
//! `{"taskId": …, "status": "SUCCESS", …}`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use poem::listener::TcpAcceptor;
use poem::web::{Data, Json, Path};
use poem::{handler, post, EndpointExt, Route, Server};
use serde_json::{json, Value};
use tokio::sync::mpsc;

type Received = (String, Value);

/// POSTs being answered now, and the most there were at once.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    most: AtomicUsize,
}

pub struct CallbackReceiver {
    /// `127.0.0.1:<port>`, as `KAKAOBOT_CALLBACK_ALLOWED_HOSTS` names it.
    pub host: String,
    received: mpsc::UnboundedReceiver<Received>,
    in_flight: Arc<InFlight>,
    server: tokio::task::JoinHandle<()>,
}

#[handler]
async fn callback(
    Path(path): Path<String>,
    Json(body): Json<Value>,
    sink: Data<&mpsc::UnboundedSender<Received>>,
    in_flight: Data<&Arc<InFlight>>,
    hold: Data<&Duration>,
) -> Json<Value> {
    let now = in_flight.now.fetch_add(1, Ordering::SeqCst) + 1;
    in_flight.most.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(*hold.0).await;
    in_flight.now.fetch_sub(1, Ordering::SeqCst);
    let _ = sink.send((format!("/{path}"), body));
    Json(json!({
        "taskId": "00000000-0000-0000-0000-000000000000",
        "status": "SUCCESS",
        "message": "OK",
        "timestamp": 1_700_000_000
    }))
}

impl CallbackReceiver {
    pub async fn start() -> Self {
        Self::start_holding(Duration::ZERO).await
    }

    /// Like [`CallbackReceiver::start`], answering each POST only after `hold`, as a
    /// far or busy endpoint does, so that POSTs sent together overlap.
    pub async fn start_holding(hold: Duration) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = TcpAcceptor::from_std(listener).unwrap();
        let (sink, received) = mpsc::unbounded_channel();
        let in_flight = Arc::new(InFlight::default());
        let app = Route::new()
            .at("/*path", post(callback))
            .data(sink)
            .data(in_flight.clone())
            .data(hold);
        let server = tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor).run(app).await;
        });
        Self {
            host: format!("127.0.0.1:{port}"),
            received,
            in_flight,
            server,
        }
    }

    /// A callback URL on this receiver, shaped like Kakao's.
    pub fn url(&self, token: &str) -> String {
        format!(
            "http://{}/v1/bots/5ae9b76d7409b11ec845b746!/callback/{token}",
            self.host
        )
    }

    /// The most POSTs that were being answered at once.
    pub fn most_at_once(&self) -> usize {
        self.in_flight.most.load(Ordering::SeqCst)
    }

    /// The next POST, if one arrives within `within`.
    pub async fn next(&mut self, within: Duration) -> Option<Received> {
        tokio::time::timeout(within, self.received.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for CallbackReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}
