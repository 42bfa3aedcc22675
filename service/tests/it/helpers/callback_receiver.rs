//! A stand-in for Kakao's callback endpoint on a free loopback port: it records every
//! POST (path and JSON body) and answers as Kakao does,
//! `{"taskId": …, "status": "SUCCESS", …}`.

use std::time::Duration;

use poem::listener::TcpAcceptor;
use poem::web::{Data, Json, Path};
use poem::{handler, post, EndpointExt, Route, Server};
use serde_json::{json, Value};
use tokio::sync::mpsc;

type Received = (String, Value);

pub struct CallbackReceiver {
    /// `127.0.0.1:<port>`, as `KAKAOBOT_CALLBACK_ALLOWED_HOSTS` names it.
    pub host: String,
    received: mpsc::UnboundedReceiver<Received>,
    server: tokio::task::JoinHandle<()>,
}

#[handler]
async fn callback(
    Path(path): Path<String>,
    Json(body): Json<Value>,
    sink: Data<&mpsc::UnboundedSender<Received>>,
) -> Json<Value> {
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
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = TcpAcceptor::from_std(listener).unwrap();
        let (sink, received) = mpsc::unbounded_channel();
        let app = Route::new().at("/*path", post(callback)).data(sink);
        let server = tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor).run(app).await;
        });
        Self {
            host: format!("127.0.0.1:{port}"),
            received,
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
