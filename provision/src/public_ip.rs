//! Detecting this machine's public IPv4 address, for the default SSH rule.
//!
//! It asks checkip.amazonaws.com over plain HTTP, as AWS's own docs do. The
//! answer only narrows the SSH rule to one address and is printed, so a forged
//! answer would at worst open SSH to another single address (key
//! authentication still applies); avoiding a second TLS stack keeps the build
//! lean.

use std::net::Ipv4Addr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where the address is asked for by default.
pub const DEFAULT_URL: &str = "http://checkip.amazonaws.com/";

/// How long detection may take in all.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Why the address could not be detected.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The URL is not `http://host[:port]/path`.
    #[error("unsupported URL {0:?} (expected http://host[:port]/path)")]
    Url(String),
    /// Connecting, sending or reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The answer was not `200` with an IPv4 address.
    #[error("unexpected answer: {0:?}")]
    Answer(String),
}

/// Asks `url` for the caller's public IPv4 address, within `timeout`.
pub async fn detect(url: &str, timeout: Duration) -> Result<Ipv4Addr, DetectError> {
    tokio::time::timeout(timeout, ask(url))
        .await
        .map_err(|_| DetectError::Timeout(timeout))?
}

async fn ask(url: &str) -> Result<Ipv4Addr, DetectError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| DetectError::Url(url.to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(DetectError::Url(url.to_owned()));
    }
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let addr = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: provision/{}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| DetectError::Answer(answer.to_string()))?;
    let status_ok = head
        .lines()
        .next()
        .is_some_and(|l| l.split_whitespace().nth(1) == Some("200"));
    let body = body.trim();
    match (status_ok, body.parse::<Ipv4Addr>()) {
        (true, Ok(ip)) => Ok(ip),
        _ => Err(DetectError::Answer(
            head.lines().next().unwrap_or_default().to_owned() + " " + body,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn serve_once(answer: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(answer.as_bytes()).await.unwrap();
        });
        format!("http://{addr}/")
    }

    #[tokio::test]
    async fn the_address_in_the_answer_is_returned() {
        let url = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n203.0.113.7\n").await;
        assert_eq!(
            detect(&url, TIMEOUT).await.unwrap(),
            Ipv4Addr::new(203, 0, 113, 7)
        );
    }

    #[tokio::test]
    async fn an_error_page_is_refused() {
        let url = serve_once("HTTP/1.1 503 Slow Down\r\n\r\n<html/>").await;
        assert!(matches!(
            detect(&url, TIMEOUT).await,
            Err(DetectError::Answer(_))
        ));
    }

    #[tokio::test]
    async fn only_http_urls_are_supported() {
        assert!(matches!(
            detect("https://checkip.amazonaws.com", TIMEOUT).await,
            Err(DetectError::Url(_))
        ));
    }
}
