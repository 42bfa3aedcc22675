//! One raw TCP connection to the app, kept open across requests: for keep-alive,
//! slow and silent clients, which a well-behaved HTTP client cannot imitate.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::raw_http::{parse, response_complete, RawResponse};

pub struct Conn {
    stream: TcpStream,
    /// Bytes read but not yet returned as a response.
    pending: Vec<u8>,
}

impl Conn {
    pub async fn open(port: u16) -> Self {
        Self {
            stream: TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect to the app"),
            pending: Vec::new(),
        }
    }

    /// Writes `bytes`; `false` when the server has closed the connection.
    pub async fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// Reads one whole response (with a `Content-Length` or chunked body) within 5 s.
    pub async fn response(&mut self) -> RawResponse {
        let mut buf = [0u8; 16 * 1024];
        let deadline = Instant::now() + Duration::from_secs(5);
        while !response_complete(&self.pending) {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => panic!(
                    "the connection closed before a whole response; got {:?}",
                    String::from_utf8_lossy(&self.pending)
                ),
                Ok(Ok(n)) => self.pending.extend_from_slice(&buf[..n]),
                Err(_) => panic!(
                    "no whole response within 5 s; got {:?}",
                    String::from_utf8_lossy(&self.pending)
                ),
            }
        }
        let response = parse(&self.pending);
        self.pending.clear();
        response
    }

    /// Reads until the server closes the connection, at most `limit`; returns what
    /// came and how long it took, or `None` for the time when it stayed open.
    pub async fn until_closed(&mut self, limit: Duration) -> (Vec<u8>, Option<Duration>) {
        let started = Instant::now();
        let mut got = std::mem::take(&mut self.pending);
        let mut buf = [0u8; 16 * 1024];
        loop {
            let left = limit.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (got, Some(started.elapsed())),
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => return (got, None),
            }
        }
    }

    /// Whether the server closed the connection (end of stream or reset) within
    /// `wait`, ignoring anything it sent first.
    pub async fn is_closed_within(&mut self, wait: Duration) -> bool {
        self.until_closed(wait).await.1.is_some()
    }
}
