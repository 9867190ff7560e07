//! `--listen` through edge-server: half-open and idle connections are closed at their
//! timeouts, the metrics are still served, and a web config's basic auth guards them.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use support::{ConfigMap, Sidecar};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn status(port: u16, authorization: Option<&str>) -> Option<u16> {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .new_agent();
    let mut request = agent.get(&format!("http://127.0.0.1:{port}/metrics"));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    request.call().ok().map(|r| r.status().as_u16())
}

fn wait_for_status(port: u16, authorization: Option<&str>, expected: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(port, authorization) != Some(expected) {
        assert!(Instant::now() < deadline, "no {expected} from --listen");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn listen_closes_half_open_and_idle_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let cm = ConfigMap::new(
        &tmp.path().join("cm"),
        &[
            ("nodes.conf", "test-node=v:1s\n"),
            ("v.sh", "#!/bin/bash\necho v=1\n"),
        ],
    );
    let port = free_port();
    let listen = format!("--listen=127.0.0.1:{port}");
    let _sidecar = Sidecar::start(
        &cm.config(),
        &tmp.path().join("out.prom"),
        &[
            &listen,
            "--web.header-read-timeout=400ms",
            "--web.idle-timeout=600ms",
        ],
    );
    wait_for_status(port, None, 200);
    let mut half = TcpStream::connect(("127.0.0.1", port)).unwrap();
    half.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let _ = half.read_to_end(&mut Vec::new());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let mut idle: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    for stream in &mut idle {
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        assert_eq!(stream.read(&mut [0u8; 1]).unwrap_or(0), 0, "still open");
    }
    assert_eq!(status(port, None), Some(200));
}

#[test]
fn listen_takes_basic_auth_from_the_web_config() {
    let tmp = tempfile::tempdir().unwrap();
    let cm = ConfigMap::new(
        &tmp.path().join("cm"),
        &[
            ("nodes.conf", "test-node=v:1s\n"),
            ("v.sh", "#!/bin/bash\necho v=1\n"),
        ],
    );
    let web = tmp.path().join("web.yml");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(&web, format!("basic_auth_users:\n  scraper: {hash}\n")).unwrap();
    let port = free_port();
    let listen = format!("--listen=127.0.0.1:{port}");
    let web_flag = format!("--web.config.file={}", web.display());
    let _sidecar = Sidecar::start(
        &cm.config(),
        &tmp.path().join("out.prom"),
        &[&listen, &web_flag],
    );
    wait_for_status(port, None, 401);
    // "scraper:s3cret" and "scraper:wrong" in base64.
    assert_eq!(status(port, Some("Basic c2NyYXBlcjpzM2NyZXQ=")), Some(200));
    assert_eq!(status(port, Some("Basic c2NyYXBlcjp3cm9uZw==")), Some(401));
}
