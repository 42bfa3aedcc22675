//! HTTP/1.1 by hand, for requests a well-behaved client will not send: chunked bodies
//! of a chosen size, bytes that are not UTF-8, a lying or missing `Content-Length`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What came back: the status and the (de-chunked) body.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
}

/// Sends `head` (request line and headers, without the blank line) and then `body`,
/// on a new connection to `127.0.0.1:port`, and reads the answer.
///
/// The body is written while the answer is read, so a server that answers early
/// (413 before the body ends) is seen answering rather than as a write error.
pub async fn raw_request(port: u16, head: &str, body: Vec<u8>) -> RawResponse {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the app");
    let (mut reader, mut writer) = stream.into_split();
    let mut request = format!("{head}\r\nConnection: close\r\n\r\n").into_bytes();
    request.extend_from_slice(&body);
    let writing = tokio::spawn(async move {
        // A server that has answered may close before reading everything: fine.
        for piece in request.chunks(8 * 1024) {
            if writer.write_all(piece).await.is_err() {
                return;
            }
        }
        let _ = writer.flush().await;
        // Keep the write half open until the reader is done: dropping it would
        // half-close the connection, which some servers read as an aborted request.
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    raw.extend_from_slice(&buf[..n]);
                    if response_complete(&raw) {
                        break;
                    }
                }
                // A reset after the answer arrived is the server dropping the unread
                // rest of the body; the answer is what counts.
                Err(_) if !raw.is_empty() => break,
                Err(e) => panic!("reading the answer failed: {e}"),
            }
        }
    })
    .await;
    writing.abort();
    read.unwrap_or_else(|_| {
        panic!(
            "no complete answer within 5 s; got {:?}",
            String::from_utf8_lossy(&raw)
        )
    });
    parse(&raw)
}

/// Whether `raw` holds a whole response (headers plus a body of the announced length,
/// or a finished chunked body).
pub fn response_complete(raw: &[u8]) -> bool {
    let Some(end) = find(raw, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let body = &raw[end + 4..];
    if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return body.len() >= len;
    }
    if head.contains("transfer-encoding: chunked") {
        return find(body, b"0\r\n\r\n").is_some();
    }
    false
}

pub fn parse(raw: &[u8]) -> RawResponse {
    let end = find(raw, b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    RawResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = find(data, b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `body` in HTTP/1.1 chunked encoding, in chunks of `chunk` bytes.
pub fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / chunk * 8 + 8);
    for piece in body.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
