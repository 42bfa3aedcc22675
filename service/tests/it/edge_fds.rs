//! Running out of file descriptors: the real binary under a low open-file limit,
//! held at the limit by idle clients. It must wait between failed accepts instead of
//! spinning a core, and serve again as soon as the clients let go.

use std::net::TcpStream;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::helpers::Service;

/// The open-file limit the service runs under: its own descriptors (runtime,
/// listeners, stdio) take a few dozen.
const NOFILE: u64 = 64;
/// More clients than the limit leaves room for.
const CLIENTS: usize = 100;

#[test]
fn running_out_of_file_descriptors_backs_off_instead_of_spinning_and_recovers() {
    // Idle clients stay for a minute unless they leave.
    let service = Service::start_with_fd_limit(&[("KAKAOBOT_HEADER_TIMEOUT_SECS", "60")], NOFILE);
    let clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(("127.0.0.1", service.port)).expect("connect"))
        .collect();
    service.wait_for_log("cannot accept connections", 1);

    let before = service.cpu_ticks();
    sleep(Duration::from_secs(2));
    let spent = service.cpu_ticks() - before;

    // Spinning on accept4 → EMFILE burns the whole 2 s (200 ticks) of a core; the
    // back-off tries about once a second.
    assert!(
        spent < 30,
        "the service used {spent} ticks (1/100 s) of CPU in 2 s while out of descriptors"
    );

    drop(clients);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some((200, _)) = service.request("GET", "/health", None) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/health did not answer within 5 s of the clients leaving; the log:\n{}",
            service.log()
        );
        sleep(Duration::from_millis(100));
    }
    // One warning per episode, not one per failed accept.
    assert!(service.log_lines("cannot accept connections").len() < 5);
}
