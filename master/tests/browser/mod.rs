//! Headless Chromium over WebDriver for the dashboard's tests: chromedriver on a free
//! loopback port, Chromium with a fresh profile, the browser console kept for reading
//! (`goog:loggingPrefs`), screenshots written where CI keeps its artifacts.
//!
//! Debian's `chromium` and `chromium-driver` provide both binaries (scripts/test.sh
//! installs them); a missing one fails the test rather than skipping it.

#![allow(dead_code)]

use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Retries `attempt` every 100 ms until it gives `Ok`; panics with `what` and the
/// last reason once `within` has passed.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(reason) if started.elapsed() >= within => {
                panic!("{what} within {within:?}; last: {reason}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// chromedriver, in a process group of its own so that the Chromium it started goes
/// with it even when a failed test never closes its session.
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // /shutdown quits the browsers of the open sessions; the group kill is for
        // whatever is left.
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .new_agent();
        let _ = agent
            .get(&format!("http://127.0.0.1:{}/shutdown", self.port))
            .call();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session of a headless Chromium.
pub struct Browser {
    pub client: Client,
    session: String,
    driver: Chromedriver,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start(width: u32, height: u32) -> Browser {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: scripts/test.sh installs Debian's chromium and chromium-driver"
            );
        }
        let port = crate::free_port();
        let driver = Chromedriver {
            child: Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{CHROMEDRIVER}: {e}")),
            port,
        };
        let status = format!("http://127.0.0.1:{port}/status");
        eventually("chromedriver ready", Duration::from_secs(10), || async {
            let body = get_text(&status)?;
            let status: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            match status["value"]["ready"].as_bool() {
                Some(true) => Ok(()),
                _ => Err(body),
            }
        })
        .await;

        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                    "--disable-dev-shm-usage",
                    "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        // chromedriver is plain HTTP on loopback: no TLS connector needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("a Chromium session from chromedriver: {e}"));
        let session = client
            .session_id()
            .await
            .unwrap()
            .expect("chromedriver gave no session id");
        Browser {
            client,
            session,
            driver,
            _profile: profile,
        }
    }

    /// The console entries at SEVERE level (uncaught exceptions, `console.error`,
    /// failed loads) since the last call: chromedriver's log endpoint empties its
    /// buffer on each read.
    pub fn console_errors(&self) -> Vec<String> {
        let url = format!(
            "http://127.0.0.1:{}/session/{}/se/log",
            self.driver.port, self.session
        );
        let reply = ureq::post(&url)
            .header("Content-Type", "application/json")
            .send(r#"{"type":"browser"}"#)
            .and_then(|mut r| r.body_mut().read_to_string())
            .unwrap_or_else(|e| panic!("reading the browser log from {url}: {e}"));
        let reply: Value = serde_json::from_str(&reply).unwrap();
        reply["value"]
            .as_array()
            .unwrap_or_else(|| panic!("no log entries in {reply}"))
            .iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The value of `script` (a function body that `return`s), deserialized.
    pub async fn js<T: serde::de::DeserializeOwned>(
        &self,
        script: &str,
        args: Vec<Value>,
    ) -> Result<T, String> {
        let value = self
            .client
            .execute(script, args)
            .await
            .map_err(|e| format!("{script}: {e}"))?;
        serde_json::from_value(value.clone()).map_err(|e| format!("{script} gave {value}: {e}"))
    }

    /// Clicks the first element matching `css`.
    pub async fn click(&self, css: &str) -> Result<(), String> {
        self.client
            .find(Locator::Css(css))
            .await
            .map_err(|e| format!("{css}: {e}"))?
            .click()
            .await
            .map_err(|e| format!("clicking {css}: {e}"))
    }

    /// Writes a screenshot of the viewport as `name` into the artifacts directory and
    /// returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(PNG_SIGNATURE), "{name}: not a PNG");
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = dir.join(name);
        std::fs::write(&path, &png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// `$ARTIFACTS_DIR` if set (CI), else `artifacts/` at the workspace's root.
pub fn artifacts_dir() -> PathBuf {
    match std::env::var_os("ARTIFACTS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .join("artifacts"),
    }
}

/// Whether `path` is a non-empty PNG file.
pub fn is_png(path: &Path) -> bool {
    std::fs::read(path)
        .is_ok_and(|bytes| bytes.len() > PNG_SIGNATURE.len() && bytes.starts_with(PNG_SIGNATURE))
}

/// The body of `GET url`, or why not.
pub fn get_text(url: &str) -> Result<String, String> {
    ureq::get(url)
        .call()
        .and_then(|mut r| r.body_mut().read_to_string())
        .map_err(|e| format!("GET {url}: {e}"))
}

/// `GET url` as JSON, or why not (the body named).
pub fn get_json(url: &str) -> Result<Value, String> {
    let body = get_text(url)?;
    serde_json::from_str(&body).map_err(|e| format!("GET {url}: {e}: {body}"))
}

/// The node `name` of a v2 list body.
pub fn node<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["node_name"] == name)
}
