//! The connection cap: N + 50 idle connections leave N open and refuse 50 at once;
//! the server's open sockets stay under the cap (counted as this process's file
//! descriptors: a file of its own, so no other test's sockets are counted); when
//! the held ones time out their slots come back and a fresh client is answered.

mod support;

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use edge_server::ServerOptions;
use support::{connect, get_on, open_fds, start};

const CAP: usize = 20;
const EXTRA: usize = 50;
const HEADER_TIMEOUT: Duration = Duration::from_millis(1500);

/// Whether the server has closed `stream` (a 503 and EOF, or a reset) rather than
/// keeping it open, without waiting.
fn refused(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 512];
    let answer = match (&mut &*stream).read(&mut buf) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Ok(n) if n > 0 => {
            assert!(buf.starts_with(b"HTTP/1.1 503 "), "{:?}", &buf[..n]);
            true
        }
        _ => true,
    };
    stream.set_nonblocking(false).unwrap();
    answer
}

fn settle() {
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn beyond_the_cap_connections_are_refused_at_once_and_slots_come_back() {
    let server = start(ServerOptions {
        max_connections: CAP,
        header_read_timeout: HEADER_TIMEOUT,
        request_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        web_config_file: None,
    });
    let before = open_fds();

    // N + 50 connections that never send a byte.
    let opened = Instant::now();
    let idle: Vec<TcpStream> = (0..CAP + EXTRA).map(|_| connect(server.addr)).collect();
    settle();
    let refusals = idle.iter().filter(|s| refused(s)).count();
    assert_eq!(refusals, EXTRA, "refused at once, before any timeout");
    // This process holds the N + 50 client sockets; the server only N of its own.
    let added = open_fds() - before;
    assert!(
        added <= CAP + EXTRA + CAP + 4,
        "{added} descriptors for {} clients and a cap of {CAP}",
        CAP + EXTRA
    );

    // A fresh client while at the cap: refused at once, not left waiting.
    let start = Instant::now();
    let fresh = connect(server.addr);
    settle();
    assert!(refused(&fresh));
    assert!(start.elapsed() < Duration::from_secs(1));

    // Once the held ones time out, a fresh client is answered.
    let answered = loop {
        let mut client = connect(server.addr);
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        if !refused(&client) && get_on(&mut client, "/") == 200 {
            break opened.elapsed();
        }
        assert!(
            opened.elapsed() < HEADER_TIMEOUT + Duration::from_secs(3),
            "never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        answered >= HEADER_TIMEOUT,
        "answered at {answered:?}: before the held ones timed out?"
    );
    assert!(
        answered <= HEADER_TIMEOUT + Duration::from_secs(2),
        "answered at {answered:?}"
    );
    // (The answered client has closed too; let the server see it before the burst.)
    drop(idle);
    settle();

    // Every slot came back: N idle connections are held again, one more is refused.
    let again: Vec<TcpStream> = (0..CAP + 1).map(|_| connect(server.addr)).collect();
    settle();
    let refusals = again.iter().filter(|s| refused(s)).count();
    assert_eq!(refusals, 1);
}
