//! Helpers for the integration tests: start edge-exporter or the real node_exporter on
//! a free loopback port, fetch a page, parse the Prometheus text format.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `--path.*` flags pointing both exporters at the fixture tree.
pub fn fixture_path_args() -> Vec<String> {
    let f = fixtures();
    vec![
        format!("--path.procfs={}", f.join("proc").display()),
        format!("--path.sysfs={}", f.join("sys").display()),
        format!("--path.rootfs={}", f.join("rootfs").display()),
        format!("--path.udev.data={}", f.join("udev/data").display()),
    ]
}

/// Runs `command` (edge-exporter with its flags, no listen address), scrapes it once
/// and stops it: for runs that need their own environment.
pub fn scrape_once(mut command: Command) -> Vec<Series> {
    let port = free_port();
    let mut child = command
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start edge-exporter");
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        if let Ok(response) = try_get(port, "/metrics", None) {
            break response.body;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("edge-exporter did not answer on port {port}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    parse_exposition(&body)
}

/// A server process killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    pub name: &'static str,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn get(&self, path: &str) -> Response {
        get(self.port, path, None)
    }

    pub fn metrics(&self) -> Vec<Series> {
        let response = self.get("/metrics");
        assert_eq!(
            response.status, 200,
            "{} /metrics: {}",
            self.name, response.body
        );
        parse_exposition(&response.body)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn start(
    name: &'static str,
    program: &Path,
    args: &[String],
    ready_path: &str,
    ready_status: u16,
) -> Server {
    let port = free_port();
    let mut command = Command::new(program);
    command
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    let mut server = Server { child, port, name };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = server.child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("{name} exited with {status}: {stderr}");
        }
        if try_get(port, ready_path, None).is_ok_and(|r| r.status == ready_status) {
            // Drain stderr in the background so a chatty server never blocks.
            if let Some(mut pipe) = server.child.stderr.take() {
                std::thread::spawn(move || {
                    let mut sink = Vec::new();
                    let _ = pipe.read_to_end(&mut sink);
                });
            }
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not become ready on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn start_edge(args: &[String]) -> Server {
    start(
        "edge-exporter",
        Path::new(env!("CARGO_BIN_EXE_edge-exporter")),
        args,
        "/healthz",
        200,
    )
}

/// edge-exporter with basic auth in its web config: ready once it answers 401.
pub fn start_edge_with_auth(args: &[String]) -> Server {
    start(
        "edge-exporter",
        Path::new(env!("CARGO_BIN_EXE_edge-exporter")),
        args,
        "/healthz",
        401,
    )
}

pub fn start_node_exporter(args: &[String]) -> Server {
    assert!(
        Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} is missing: scripts/test.sh installs Debian's prometheus-node-exporter"
    );
    start("node_exporter", Path::new(NODE_EXPORTER), args, "/", 200)
}

pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub struct Response {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }
}

pub fn get(port: u16, path: &str, accept: Option<&str>) -> Response {
    try_get(port, path, accept).unwrap_or_else(|e| panic!("GET {path} on port {port}: {e}"))
}

/// GET over loopback with ureq: any status is a response, not an error.
pub fn try_get(port: u16, path: &str, accept: Option<&str>) -> Result<Response, ureq::Error> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut request = agent.get(&format!("http://127.0.0.1:{port}{path}"));
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let mut response = request.call()?;
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| format!("{name}: {}\r\n", value.to_str().unwrap_or_default()))
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()?;
    Ok(Response {
        status: response.status().as_u16(),
        headers,
        body,
    })
}

/// One sample of the text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses sample lines of Prometheus text 0.0.4 / OpenMetrics (comments skipped).
pub fn parse_exposition(text: &str) -> Vec<Series> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name_end, mut rest) = match line.find(['{', ' ']) {
            Some(i) => (i, &line[i..]),
            None => panic!("bad sample line {line:?}"),
        };
        let name = line[..name_end].to_string();
        let mut labels = BTreeMap::new();
        if rest.starts_with('{') {
            rest = &rest[1..];
            loop {
                if let Some(after) = rest.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let eq = rest
                    .find('=')
                    .unwrap_or_else(|| panic!("bad labels in {line:?}"));
                let key = rest[..eq].trim_start_matches(',').to_string();
                rest = &rest[eq + 1..];
                assert!(rest.starts_with('"'), "unquoted label value in {line:?}");
                let mut value = String::new();
                let mut chars = rest[1..].char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, other)) => value.push(other),
                            None => break,
                        },
                        '"' => {
                            end = Some(i + 2);
                            break;
                        }
                        c => value.push(c),
                    }
                }
                let end = end.unwrap_or_else(|| panic!("unterminated label value in {line:?}"));
                rest = rest[end..].trim_start_matches(',');
                labels.insert(key, value);
            }
        }
        let value_text = rest.split_whitespace().next().unwrap_or("");
        let value = match value_text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value {v:?} in {line:?}")),
        };
        out.push(Series {
            name,
            labels,
            value,
        });
    }
    out
}

/// Samples grouped by family name, then keyed by their label set.
pub type ByFamily = BTreeMap<String, BTreeMap<BTreeMap<String, String>, f64>>;

pub fn by_family(series: &[Series]) -> ByFamily {
    let mut out: ByFamily = BTreeMap::new();
    for s in series {
        out.entry(s.name.clone())
            .or_default()
            .insert(s.labels.clone(), s.value);
    }
    out
}

pub fn value(series: &[Series], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    series
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}
