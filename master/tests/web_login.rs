//! The dashboard in headless Chromium against a master with `--api.read-token`: the
//! page carries no data, asks for the token, refuses a wrong one, and with the right
//! one shows the nodes; the token is kept for the tab (a reload needs no new login).

mod browser;
mod support;

use std::time::Duration;

use browser::{eventually, get_text, Browser};
use serde_json::{json, Value};
use support::{free_port, spawn};

const TOKEN: &str = "rt-web-123";
const CLUSTER: &str = "edge-private";
const NODE: &str = "token-node";

/// Whether the page shows the login form, its message, and the node rows it shows.
async fn page_state(browser: &Browser) -> Result<Value, String> {
    browser
        .js(
            "return {
                 login: !document.getElementById('login').hidden,
                 message: document.getElementById('login-error').textContent,
                 state: document.body.getAttribute('data-state'),
                 cluster: document.getElementById('cluster-name').textContent,
                 nodes: [...document.querySelectorAll('#nodes tbody tr[data-node]')]
                     .map(row => row.getAttribute('data-node')),
                 stored: sessionStorage.getItem('edge-master.read-token'),
             };",
            vec![],
        )
        .await
}

async fn sign_in(browser: &Browser, token: &str) -> Result<(), String> {
    browser
        .js::<Value>(
            "document.getElementById('login-token').value = arguments[0];
             document.getElementById('login-submit').click();
             return null;",
            vec![json!(token)],
        )
        .await
        .map(drop)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_asks_for_the_read_token_and_keeps_it_for_the_tab() {
    let browser = Browser::start(1024, 800).await;
    let db = tempfile::tempdir().unwrap();
    let port = free_port();
    let _master = spawn(
        env!("CARGO_BIN_EXE_edge-master"),
        &[
            format!("--listen=127.0.0.1:{port}"),
            format!("--db={}", db.path().join("login.db").display()),
            format!("--cluster-id={CLUSTER}"),
            format!("--api.read-token={TOKEN}"),
            "--scrape-interval=1s".into(),
        ],
    );
    let base = format!("http://127.0.0.1:{port}");
    eventually(
        "edge-master answering /healthz",
        Duration::from_secs(10),
        || async { get_text(&format!("{base}/healthz")).map(drop) },
    )
    .await;
    ureq::post(&format!("{base}/metrics/node"))
        .header("Content-Type", "application/json")
        .send(json!({"node_name": NODE, "cpu": {"usage_percent": 12.5}}).to_string())
        .unwrap_or_else(|e| panic!("pushing {NODE}: {e}"));

    browser
        .client
        .goto(&format!("{base}/system/metrics?refresh=1"))
        .await
        .unwrap();
    let first = eventually("the login form", Duration::from_secs(10), || async {
        let state = page_state(&browser).await?;
        if state["login"] == true {
            Ok(state)
        } else {
            Err(state.to_string())
        }
    })
    .await;
    assert_eq!(first["nodes"], json!([]), "{first}");
    assert_eq!(first["cluster"], "", "no data before the token: {first}");

    sign_in(&browser, "wrong").await.unwrap();
    eventually(
        "the wrong token refused",
        Duration::from_secs(10),
        || async {
            let state = page_state(&browser).await?;
            if state["login"] == true && state["message"] == "The token was refused." {
                Ok(())
            } else {
                Err(state.to_string())
            }
        },
    )
    .await;

    sign_in(&browser, TOKEN).await.unwrap();
    let shown = eventually(
        "the nodes with the token",
        Duration::from_secs(10),
        || async {
            let state = page_state(&browser).await?;
            if state["nodes"] == json!([NODE]) && state["login"] == false {
                Ok(state)
            } else {
                Err(state.to_string())
            }
        },
    )
    .await;
    assert_eq!(shown["cluster"], CLUSTER, "{shown}");
    assert_eq!(shown["stored"], TOKEN, "{shown}");
    assert_eq!(shown["state"], "ok", "{shown}");

    // A reload in the same tab keeps the token.
    browser.client.refresh().await.unwrap();
    eventually(
        "the nodes after a reload",
        Duration::from_secs(10),
        || async {
            let state = page_state(&browser).await?;
            if state["nodes"] == json!([NODE]) && state["login"] == false {
                Ok(())
            } else {
                Err(state.to_string())
            }
        },
    )
    .await;
    // The only console errors are the 401 answers the page was meant to get.
    let errors: Vec<String> = browser
        .console_errors()
        .into_iter()
        .filter(|e| !e.contains("status of 401"))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    println!("read token: the page asked for it, refused a wrong one, showed {NODE} of {CLUSTER} with it, and kept it across a reload");
    browser.close().await;
}
