//! Every phase of a connection has a deadline: a client that stalls or trickles in
//! any of them is cut off, on loopback, with sub-second timeouts (`quick_options`:
//! head 400 ms, request 800 ms, idle 1 s). And a request head has a size cap.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use support::{connect, get_on, quick_options, read_response, read_until_closed, start, End};

/// Slack for a loaded 2-core machine: deadlines are checked to ± this.
const MARGIN: Duration = Duration::from_millis(600);

#[test]
fn half_a_request_head_is_closed_at_the_header_timeout() {
    let options = quick_options();
    let timeout = options.header_read_timeout;
    let server = start(options);

    let mut partial = connect(server.addr);
    partial.write_all(b"GET / HTTP/1.1\r\nHost: te").unwrap();
    let mut silent = connect(server.addr);

    for stream in [&mut partial, &mut silent] {
        let (_, end, after) = read_until_closed(stream, timeout + MARGIN * 3);
        assert_eq!(end, End::Closed, "still open after {after:?}");
        assert!(after <= timeout + MARGIN, "closed after {after:?}");
    }
}

#[test]
fn a_trickled_head_gains_nothing() {
    let options = quick_options();
    let timeout = options.header_read_timeout;
    let server = start(options);

    let mut stream = connect(server.addr);
    let start = Instant::now();
    // One byte every 50 ms: each byte arrives well within the timeout.
    let mut closed_after = None;
    for byte in b"GET / HTTP/1.1\r\nHost: a-very-long-name.example\r\nX-Pad: aaaaaaaaaaaaaaa" {
        if stream.write_all(&[*byte]).is_err() {
            closed_after = Some(start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        let (_, end, _) = read_until_closed(&mut stream, Duration::from_millis(1));
        if end == End::Closed {
            closed_after = Some(start.elapsed());
            break;
        }
    }
    let after = closed_after.expect("the trickled head was never cut off");
    assert!(after <= timeout + MARGIN, "closed after {after:?}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout() {
    let options = quick_options();
    let (head, idle) = (options.header_read_timeout, options.idle_timeout);
    let server = start(options);

    let mut stream = connect(server.addr);
    assert_eq!(get_on(&mut stream, "/"), 200);
    // Idle for longer than the header timeout: the idle timeout applies, not that.
    std::thread::sleep(head + Duration::from_millis(200));
    assert_eq!(get_on(&mut stream, "/"), 200, "keep-alive reused");

    let (_, end, after) = read_until_closed(&mut stream, idle + MARGIN * 3);
    assert_eq!(end, End::Closed, "still open after {after:?}");
    assert!(after + MARGIN >= idle, "closed early, after {after:?}");
    assert!(after <= idle + MARGIN, "closed after {after:?}");
}

#[test]
fn a_trickled_body_gets_408_at_the_request_timeout() {
    let options = quick_options();
    let timeout = options.request_timeout;
    let server = start(options);

    let mut stream = connect(server.addr);
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n")
        .unwrap();
    let start = Instant::now();
    let mut writer = stream.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        // One byte every 50 ms would take 50 s; stops when the server closes.
        for _ in 0..100 {
            if writer.write_all(b"x").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let (status, head, _) = read_response(&mut stream);
    let after = start.elapsed();
    assert_eq!(status, 408, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(
        after + MARGIN >= timeout && after <= timeout + MARGIN,
        "408 after {after:?}"
    );
    let (_, end, _) = read_until_closed(&mut stream, MARGIN * 3);
    assert_eq!(end, End::Closed);
    drop(stream);
    trickle.join().unwrap();
}

#[test]
fn a_slow_handler_gets_408_at_the_request_timeout() {
    let options = quick_options();
    let timeout = options.request_timeout;
    let server = start(options);

    let mut stream = connect(server.addr);
    let start = Instant::now();
    assert_eq!(get_on(&mut stream, "/slow"), 408);
    let after = start.elapsed();
    assert!(
        after + MARGIN >= timeout && after <= timeout + MARGIN,
        "408 after {after:?}"
    );
}

#[test]
fn a_response_the_client_does_not_read_is_cut_off() {
    let options = quick_options();
    let timeout = options.request_timeout;
    let server = start(options);

    let mut stream = connect(server.addr);
    stream
        .write_all(b"GET /endless HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let start = Instant::now();
    // Read nothing until the deadline has passed, then drain what is in flight
    // (counted, not kept: were it not cut off, it would never end).
    std::thread::sleep(timeout + MARGIN);
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200", "the response had begun");
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => total += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false
            }
            Err(_) => break true, // reset
        }
        if total > 64 * 1024 * 1024 {
            break false;
        }
    };
    assert!(
        closed,
        "still streaming after {total} bytes and {:?}",
        start.elapsed()
    );
}

#[test]
fn an_oversized_request_head_is_refused() {
    let server = start(quick_options());
    let mut stream = connect(server.addr);
    let padding = "a".repeat(100 * 1024);
    // The server may answer and close before it has read it all.
    let _ = write!(
        stream,
        "GET / HTTP/1.1\r\nHost: t\r\nX-Pad: {padding}\r\n\r\n"
    );
    let (read, end, _) = read_until_closed(&mut stream, Duration::from_secs(3));
    assert_eq!(end, End::Closed);
    assert!(
        read.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&read)
    );

    // A head well under the cap is served.
    let mut stream = connect(server.addr);
    let padding = "a".repeat(16 * 1024);
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: t\r\nX-Pad: {padding}\r\n\r\n"
    )
    .unwrap();
    assert_eq!(read_response(&mut stream).0, 200);
}
