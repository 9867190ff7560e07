//! A loopback HTTP client for the integration tests and a master started on a free
//! port. (master.rs and hardening.rs still carry their own copies of these; they can
//! move here.)

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{free_port, spawn, Server};

/// One answer: status, the headers the tests read, the body.
pub struct Answer {
    pub status: u16,
    pub allow_origin: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// `GET http://127.0.0.1:{port}{path}` with an `Origin`, every status answered.
pub fn try_get(port: u16, path: &str) -> Result<Answer, ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut response = agent
        .get(&format!("http://127.0.0.1:{port}{path}"))
        .header("Origin", "http://atlhyper.example")
        .call()?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let allow_origin = header("access-control-allow-origin");
    let content_type = header("content-type");
    Ok(Answer {
        status: response.status().as_u16(),
        allow_origin,
        content_type,
        body: response.body_mut().read_to_string()?,
    })
}

pub fn get(port: u16, path: &str) -> Answer {
    try_get(port, path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// Plain text from any URL (an exporter's /metrics).
pub fn get_url_text(url: &str) -> String {
    ureq::get(url)
        .call()
        .and_then(|mut r| r.body_mut().read_to_string())
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

pub fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < within, "{what} within {within:?}");
        sleep(Duration::from_millis(100));
    }
}

/// edge-master on a free port with its database at `db`, scraping every 500 ms.
pub fn start_master(db: &Path, extra: &[String]) -> (Server, u16) {
    let port = free_port();
    let mut args = vec![
        format!("--listen=127.0.0.1:{port}"),
        format!("--db={}", db.display()),
        "--scrape-interval=500ms".into(),
        "--sample-interval=1s".into(),
    ];
    args.extend_from_slice(extra);
    let server = spawn(env!("CARGO_BIN_EXE_edge-master"), &args);
    wait_until(
        "edge-master answering /healthz",
        Duration::from_secs(10),
        || try_get(port, "/healthz").is_ok_and(|a| a.status == 200),
    );
    (server, port)
}
