//! Where the service listens: the socket systemd passed (socket activation), or an
//! address it binds itself.
//!
//! Under socket activation systemd holds the port while the service restarts, so a
//! deploy queues connections instead of refusing them.

use std::net::TcpListener;
use std::os::fd::FromRawFd;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const SD_LISTEN_FDS_START: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("systemd passed LISTEN_FDS={0}; kakaobot expects exactly one socket (check kakaobot.socket)")]
    FdCount(String),
    #[error("the descriptor systemd passed is not a TCP socket: {0}")]
    NotTcp(std::io::Error),
    #[error(
        "cannot bind {addr}: {source} (is another process using the port? set KAKAOBOT_LISTEN)"
    )]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// Returns the socket systemd passed to this process, if any, following
/// `sd_listen_fds(3)`: `LISTEN_PID` must be this process and `LISTEN_FDS` one.
pub fn from_systemd(
    listen_pid: Option<String>,
    listen_fds: Option<String>,
) -> Result<Option<TcpListener>, ListenerError> {
    let for_us = listen_pid
        .and_then(|pid| pid.trim().parse::<u32>().ok())
        .is_some_and(|pid| pid == std::process::id());
    let Some(fds) = listen_fds.filter(|_| for_us) else {
        return Ok(None);
    };
    if fds.trim() != "1" {
        return Err(ListenerError::FdCount(fds));
    }
    // SAFETY: under the sd_listen_fds protocol, descriptor 3 was opened by systemd for
    // this process (LISTEN_PID matched) and nothing else in the process owns it.
    let listener = unsafe { TcpListener::from_raw_fd(SD_LISTEN_FDS_START) };
    listener.local_addr().map_err(ListenerError::NotTcp)?;
    listener
        .set_nonblocking(true)
        .map_err(ListenerError::NotTcp)?;
    Ok(Some(listener))
}

/// The socket to serve on: systemd's if it passed one, else `addr` bound here.
pub fn open(addr: &str) -> Result<(TcpListener, bool), ListenerError> {
    if let Some(listener) = from_systemd(
        std::env::var("LISTEN_PID").ok(),
        std::env::var("LISTEN_FDS").ok(),
    )? {
        return Ok((listener, true));
    }
    let listener = TcpListener::bind(addr).map_err(|source| ListenerError::Bind {
        addr: addr.to_owned(),
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ListenerError::Bind {
            addr: addr.to_owned(),
            source,
        })?;
    Ok((listener, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_systemd_variables_means_no_passed_socket() {
        assert!(from_systemd(None, None).unwrap().is_none());
    }

    #[test]
    fn a_socket_passed_to_another_process_is_ignored() {
        let other = (std::process::id() + 1).to_string();
        assert!(from_systemd(Some(other), Some("1".into()))
            .unwrap()
            .is_none());
    }

    #[test]
    fn more_than_one_passed_socket_is_an_error() {
        let me = std::process::id().to_string();
        let err = from_systemd(Some(me), Some("2".into())).unwrap_err();
        assert!(err.to_string().contains("exactly one socket"));
    }
}
