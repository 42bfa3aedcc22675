//! Where the service listens: the sockets systemd passed (socket activation), or the
//! addresses it binds itself.
//!
//! Under socket activation systemd holds the ports while the service restarts, so a
//! deploy queues connections instead of refusing them, and the unprivileged service
//! serves ports 80 and 443 without any capability. systemd names each socket
//! (`FileDescriptorName=`): the one named [`HTTPS_NAME`] gets TLS, every other one
//! (80, and 5000 for installations from before HTTPS) is plain HTTP.

use std::net::TcpListener;
use std::os::fd::FromRawFd;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const SD_LISTEN_FDS_START: i32 = 3;

/// The `FileDescriptorName=` of the HTTPS socket.
pub const HTTPS_NAME: &str = "https";

/// At most this many passed sockets: 80, 443, 5000, with room to spare.
const MAX_PASSED: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("systemd passed LISTEN_FDS={0}; kakaobot expects 1 to {MAX_PASSED} sockets (check kakaobot*.socket)")]
    FdCount(String),
    #[error("systemd passed more than one socket named '{HTTPS_NAME}' (check FileDescriptorName= in kakaobot*.socket)")]
    TwoHttps,
    #[error("the descriptor systemd passed is not a TCP socket: {0}")]
    NotTcp(std::io::Error),
    #[error("cannot bind {addr}: {source} (is another process using the port? set {setting})")]
    Bind {
        addr: String,
        setting: &'static str,
        source: std::io::Error,
    },
}

/// The sockets to serve on.
#[derive(Debug)]
pub struct Listeners {
    /// Plain HTTP: at least one.
    pub plain: Vec<TcpListener>,
    /// HTTPS, when it is on.
    pub tls: Option<TcpListener>,
    /// Whether systemd passed them.
    pub from_systemd: bool,
}

/// What systemd passed: the plain sockets and the one named [`HTTPS_NAME`].
pub type Passed = (Vec<TcpListener>, Option<TcpListener>);

/// The sockets systemd passed to this process, if any, following `sd_listen_fds(3)`:
/// `LISTEN_PID` must be this process; `LISTEN_FDNAMES` names them.
pub fn from_systemd(
    listen_pid: Option<String>,
    listen_fds: Option<String>,
    listen_fdnames: Option<String>,
) -> Result<Option<Passed>, ListenerError> {
    let for_us = listen_pid
        .and_then(|pid| pid.trim().parse::<u32>().ok())
        .is_some_and(|pid| pid == std::process::id());
    let Some(fds) = listen_fds.filter(|_| for_us) else {
        return Ok(None);
    };
    let count = fds
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_PASSED).contains(n))
        .ok_or_else(|| ListenerError::FdCount(fds.clone()))?;
    let names: Vec<String> = listen_fdnames
        .map(|names| names.split(':').map(str::to_owned).collect())
        .unwrap_or_default();
    let mut plain = Vec::new();
    let mut tls = None;
    for index in 0..count {
        // SAFETY: under the sd_listen_fds protocol, descriptors 3 to 3 + LISTEN_FDS - 1
        // were opened by systemd for this process (LISTEN_PID matched), and nothing
        // else in the process owns them.
        let listener = unsafe { TcpListener::from_raw_fd(SD_LISTEN_FDS_START + index as i32) };
        listener.local_addr().map_err(ListenerError::NotTcp)?;
        listener
            .set_nonblocking(true)
            .map_err(ListenerError::NotTcp)?;
        if names.get(index).map(String::as_str) == Some(HTTPS_NAME) {
            if tls.replace(listener).is_some() {
                return Err(ListenerError::TwoHttps);
            }
        } else {
            plain.push(listener);
        }
    }
    Ok(Some((plain, tls)))
}

/// The sockets to serve on: systemd's if it passed any, else `plain` and (when HTTPS
/// is on) `tls` bound here. A passed HTTPS socket with HTTPS off is left unserved,
/// with a warning.
pub fn open(plain: &str, tls: Option<&str>) -> Result<Listeners, ListenerError> {
    if let Some((passed_plain, passed_tls)) = from_systemd(
        std::env::var("LISTEN_PID").ok(),
        std::env::var("LISTEN_FDS").ok(),
        std::env::var("LISTEN_FDNAMES").ok(),
    )? {
        let tls = match (passed_tls, tls) {
            (Some(_), None) => {
                // An operator who turned HTTPS off keeps a working service on the
                // plain ports rather than a crash loop; the socket stays unserved.
                tracing::warn!(
                    "systemd passes the HTTPS socket but HTTPS is off: nothing answers \
                     there; set KAKAOBOT_TLS_LISTEN and a certificate source in \
                     /etc/kakaobot/kakaobot.env"
                );
                None
            }
            (Some(passed), Some(_)) => Some(passed),
            (None, Some(addr)) => Some(bind(addr, "KAKAOBOT_TLS_LISTEN")?),
            (None, None) => None,
        };
        let plain = match passed_plain.is_empty() {
            true => vec![bind(plain, "KAKAOBOT_LISTEN")?],
            false => passed_plain,
        };
        return Ok(Listeners {
            plain,
            tls,
            from_systemd: true,
        });
    }
    Ok(Listeners {
        plain: vec![bind(plain, "KAKAOBOT_LISTEN")?],
        tls: tls
            .map(|addr| bind(addr, "KAKAOBOT_TLS_LISTEN"))
            .transpose()?,
        from_systemd: false,
    })
}

fn bind(addr: &str, setting: &'static str) -> Result<TcpListener, ListenerError> {
    let failed = |source| ListenerError::Bind {
        addr: addr.to_owned(),
        setting,
        source,
    };
    let listener = TcpListener::bind(addr).map_err(failed)?;
    listener.set_nonblocking(true).map_err(failed)?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_systemd_variables_means_no_passed_socket() {
        assert!(from_systemd(None, None, None).unwrap().is_none());
    }

    #[test]
    fn a_socket_passed_to_another_process_is_ignored() {
        let other = (std::process::id() + 1).to_string();
        assert!(from_systemd(Some(other), Some("1".into()), None)
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_count_of_passed_sockets_out_of_range_is_an_error() {
        let me = std::process::id().to_string();
        for count in ["0", "9", "many"] {
            let err = from_systemd(Some(me.clone()), Some(count.into()), None).unwrap_err();
            assert!(err.to_string().contains("1 to 8 sockets"), "{err}");
        }
    }

    #[test]
    fn without_systemd_the_addresses_are_bound_here() {
        let listeners = open("127.0.0.1:0", Some("127.0.0.1:0")).unwrap();
        assert_eq!(listeners.plain.len(), 1);
        assert!(listeners.tls.is_some());
        assert!(!listeners.from_systemd);
        let listeners = open("127.0.0.1:0", None).unwrap();
        assert!(listeners.tls.is_none());
    }

    #[test]
    fn a_port_in_use_names_its_setting() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let err = open("127.0.0.1:0", Some(&addr)).unwrap_err();
        assert!(err.to_string().contains("KAKAOBOT_TLS_LISTEN"), "{err}");
    }
}
