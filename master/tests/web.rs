//! The dashboard at /system/metrics in a headless Chromium, against a real edge-master
//! scraping a real edge-exporter plus one pushed node that turns offline: no console
//! errors, cards equal to the API's summary, node rows with their status, a node's
//! detail (processes sorted and filtered, a history chart), and screenshots of both
//! views written to the artifacts directory.

mod browser;
mod support;

use std::time::{Duration, Instant};

use browser::{eventually, get_json, get_text, node, Browser};
use serde_json::{json, Value};
use support::{edge_exporter, free_port, spawn, Server};

const LIST: &str = "/api/v2/clusters/default/node-metrics";
/// The edge-exporter's node.
const NODE: &str = "edge-web";
/// Pushed once, then never again: offline after three missed scrape intervals.
const GONE: &str = "gone-node";
const DETAIL: &str = "tr.node-detail[data-node=\"edge-web\"]";

/// edge-master scraping one edge-exporter, with `gone-node` pushed once.
struct Cluster {
    base: String,
    _master: Server,
    _exporter: Server,
    _db: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Cluster {
        let db = tempfile::tempdir().unwrap();
        let exporter_port = free_port();
        let exporter = spawn(
            &edge_exporter(),
            &[
                format!("--web.listen-address=127.0.0.1:{exporter_port}"),
                format!("--node-name={NODE}"),
                "--collector.top_processes.interval=500ms".into(),
            ],
        );
        let port = free_port();
        let master = spawn(
            env!("CARGO_BIN_EXE_edge-master"),
            &[
                format!("--listen=127.0.0.1:{port}"),
                format!("--db={}", db.path().join("web.db").display()),
                format!("--target=127.0.0.1:{exporter_port}"),
                "--scrape-interval=500ms".into(),
                "--sample-interval=1s".into(),
                "--offline-after=3".into(),
            ],
        );
        let base = format!("http://127.0.0.1:{port}");
        let healthz = format!("{base}/healthz");
        eventually(
            "edge-master answering /healthz",
            Duration::from_secs(10),
            || async { get_text(&healthz).map(drop) },
        )
        .await;
        let snapshot = json!({
            "node_name": GONE,
            "timestamp": chrono::Utc::now().to_rfc3339(),
            "cpu": {"usage_percent": 12.5, "threads": 2},
            "memory": {"total": 1000, "used": 500, "usage_percent": 50.0},
            "disks": [{"device": "/dev/sda1", "mount_point": "/", "total": 100, "used": 25, "usage_percent": 25.0}],
        });
        ureq::post(&format!("{base}/metrics/node"))
            .header("Content-Type", "application/json")
            .send(snapshot.to_string())
            .unwrap_or_else(|e| panic!("pushing {GONE}: {e}"));
        Cluster {
            base,
            _master: master,
            _exporter: exporter,
            _db: db,
        }
    }

    fn list(&self) -> Result<Value, String> {
        get_json(&format!("{}{LIST}", self.base))
    }
}

const CARDS: [&str; 6] = [
    "card-nodes",
    "card-cpu",
    "card-memory",
    "card-temp",
    "card-disk",
    "card-warnings",
];

/// What each card should show for the API's `summary`, in the order of [`CARDS`].
fn expected_cards(summary: &Value) -> Vec<String> {
    let percent = |key: &str| format!("{:.1}%", summary[key].as_f64().unwrap_or(f64::NAN));
    let temp = match summary["max_cpu_temp"].as_f64() {
        Some(t) if t > 0.0 => format!("{t:.1}°C"),
        _ => "N/A".to_string(),
    };
    vec![
        format!("{}/{}", summary["online_nodes"], summary["total_nodes"]),
        percent("avg_cpu_usage"),
        percent("avg_memory_usage"),
        temp,
        percent("avg_disk_usage"),
        summary["warning_nodes"].to_string(),
    ]
}

/// The cards' `.value` texts, whitespace removed, in the order of [`CARDS`].
async fn shown_cards(browser: &Browser) -> Result<Vec<String>, String> {
    browser
        .js(
            "return arguments[0].map(id => {
                 const value = document.querySelector('#' + id + ' .value');
                 return value ? value.textContent.replace(/\\s+/g, '') : '(no #' + id + ' .value)';
             });",
            vec![json!(CARDS)],
        )
        .await
}

/// The `.pid` cells of the detail's visible process rows, top to bottom.
async fn shown_pids(browser: &Browser) -> Result<Vec<i64>, String> {
    let texts: Vec<String> = browser
        .js(
            "return [...document.querySelectorAll(arguments[0] + ' table.processes tbody tr[data-pid]')]
                 .filter(row => row.getClientRects().length > 0)
                 .map(row => row.querySelector('.pid').textContent.trim());",
            vec![json!(DETAIL)],
        )
        .await?;
    texts
        .iter()
        .map(|t| {
            t.parse()
                .map_err(|_| format!("pid cell {t:?} in {texts:?}"))
        })
        .collect()
}

/// The `.name` cells of the detail's visible process rows.
async fn shown_names(browser: &Browser) -> Result<Vec<String>, String> {
    browser
        .js(
            "return [...document.querySelectorAll(arguments[0] + ' table.processes tbody tr[data-pid]')]
                 .filter(row => row.getClientRects().length > 0)
                 .map(row => row.querySelector('.name').textContent.trim());",
            vec![json!(DETAIL)],
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_the_cluster_and_a_nodes_detail() {
    let started = Instant::now();
    // First: a missing Chromium fails the test before anything else starts.
    let browser = Browser::start(1280, 1000).await;
    let cluster = Cluster::start().await;
    eventually(
        "the exporter's node online with processes and the pushed node offline",
        Duration::from_secs(20),
        || async {
            let list = cluster.list()?;
            let ready = node(&list, NODE).is_some_and(|n| {
                n["status"] == "online" && n["processes"].as_array().is_some_and(|p| p.len() > 2)
            }) && node(&list, GONE).is_some_and(|n| n["status"] == "offline");
            if ready {
                Ok(())
            } else {
                Err(list.to_string())
            }
        },
    )
    .await;

    browser
        .client
        .goto(&format!("{}/", cluster.base))
        .await
        .unwrap();
    let url = browser.client.current_url().await.unwrap();
    assert_eq!(url.path(), "/system/metrics", "/ redirects to the page");

    // 1. The cards: filled in, then equal to the API's summary. Values move at every
    // scrape, so the page is refreshed between two reads of the API and must match one.
    eventually("the cards filled in", Duration::from_secs(10), || async {
        let shown = shown_cards(&browser).await?;
        if shown[0].contains('/') {
            Ok(())
        } else {
            Err(format!("{shown:?}"))
        }
    })
    .await;
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors at load: {errors:#?}");
    eventually(
        "the cards equal to the API's summary",
        Duration::from_secs(20),
        || async {
            let before = expected_cards(&cluster.list()?["summary"]);
            let updated: String = browser
                .js(
                    "return document.querySelector('#last-updated').textContent;",
                    vec![],
                )
                .await?;
            browser.click("#refresh").await?;
            let wait = Instant::now();
            while wait.elapsed() < Duration::from_millis(1500) {
                let now: String = browser
                    .js(
                        "return document.querySelector('#last-updated').textContent;",
                        vec![],
                    )
                    .await?;
                if now != updated {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let shown = shown_cards(&browser).await?;
            let after = expected_cards(&cluster.list()?["summary"]);
            if shown == before || shown == after {
                Ok(())
            } else {
                Err(format!(
                    "page {shown:?}, API before {before:?}, after {after:?}"
                ))
            }
        },
    )
    .await;
    let banner_hidden: bool = browser
        .js(
            "return document.querySelector('#error-banner').hidden;",
            vec![],
        )
        .await
        .unwrap();
    assert!(banner_hidden, "#error-banner shown with the API up");

    // 2. The node rows and their status.
    eventually(
        "the exporter's node online and the pushed one offline",
        Duration::from_secs(10),
        || async {
            let statuses: Vec<Option<String>> = browser
                .js(
                    "return arguments[0].map(name => {
                         const cell = document.querySelector(
                             'table#nodes tr.node-row[data-node=\"' + name + '\"] .status');
                         return cell ? cell.textContent.trim() : null;
                     });",
                    vec![json!([NODE, GONE])],
                )
                .await?;
            if statuses == [Some("online".into()), Some("offline".into())] {
                Ok(())
            } else {
                Err(format!("{NODE}, {GONE}: {statuses:?}"))
            }
        },
    )
    .await;
    let overview = browser.screenshot("dashboard-overview.png").await;

    // 3. The node's detail: processes, sorted by pid both ways, then filtered.
    let row = format!("tr.node-row[data-node=\"{NODE}\"]");
    browser.click(&row).await.unwrap();
    let all = eventually(
        "the node's detail with process rows",
        Duration::from_secs(10),
        || async {
            let pids = shown_pids(&browser).await?;
            if pids.len() > 2 {
                Ok(pids.len())
            } else {
                Err(format!("process rows: {pids:?}"))
            }
        },
    )
    .await;
    let sort_by_pid = format!("{DETAIL} table.processes th[data-sort=\"pid\"]");
    for (clicks, descending) in [(1, true), (2, false)] {
        browser.click(&sort_by_pid).await.unwrap();
        eventually(
            &format!("pids sorted after {clicks} click(s) on the pid header"),
            Duration::from_secs(5),
            || async {
                let pids = shown_pids(&browser).await?;
                let sorted = pids.windows(2).all(|w| {
                    if descending {
                        w[0] >= w[1]
                    } else {
                        w[0] <= w[1]
                    }
                });
                if sorted && pids.len() > 2 {
                    Ok(())
                } else {
                    Err(format!("descending {descending}: {pids:?}"))
                }
            },
        )
        .await;
    }
    let names = shown_names(&browser).await.unwrap();
    // The rarest name narrows the list (unless every row has the same name).
    let needle = names
        .iter()
        .filter(|n| !n.is_empty())
        .min_by_key(|n| names.iter().filter(|m| m.contains(n.as_str())).count())
        .cloned()
        .unwrap();
    let filter = browser
        .client
        .find(fantoccini::Locator::Css(&format!(
            "{DETAIL} input.process-filter"
        )))
        .await
        .unwrap();
    filter.send_keys(&needle).await.unwrap();
    eventually(
        &format!("the filter {needle:?} narrowing the {all} process rows"),
        Duration::from_secs(5),
        || async {
            let shown = shown_names(&browser).await?;
            if !shown.is_empty() && shown.len() < all && shown.contains(&needle) {
                Ok(())
            } else {
                Err(format!("{shown:?}"))
            }
        },
    )
    .await;
    filter
        .send_keys(&"\u{e003}".repeat(needle.chars().count()))
        .await
        .unwrap();
    eventually(
        "every process row back once the filter is empty",
        Duration::from_secs(5),
        || async {
            let shown = shown_pids(&browser).await?.len();
            if shown > 2 {
                Ok(())
            } else {
                Err(format!("{shown} rows"))
            }
        },
    )
    .await;

    // 4. The history chart over the last hour.
    browser
        .click(&format!("{DETAIL} button[data-hours=\"1\"]"))
        .await
        .unwrap();
    eventually(
        "the history chart's CPU series drawn",
        Duration::from_secs(15),
        || async {
            let d: Option<String> = browser
                .js(
                    "const path = document.querySelector(
                         arguments[0] + ' svg.history-chart path.series[data-series=\"cpu\"]');
                     return path ? path.getAttribute('d') : null;",
                    vec![json!(DETAIL)],
                )
                .await?;
            match d {
                Some(d) if !d.trim().is_empty() => Ok(()),
                d => Err(format!("d = {d:?}")),
            }
        },
    )
    .await;
    // Tall enough for the detail's processes below the chart.
    browser.client.set_window_size(1280, 1800).await.unwrap();
    browser
        .js::<Value>(
            "document.querySelector(arguments[0]).scrollIntoView({block: 'start'});",
            vec![json!(row)],
        )
        .await
        .unwrap();
    let detail = browser.screenshot("dashboard-node.png").await;

    // 5. The kernel cards show the exporter's figures: fs.file-max exactly (it does
    // not move), every PSI figure with 2 decimals.
    let api = node(&cluster.list().unwrap(), NODE).unwrap().clone();
    let max = api["system"]["filefd_max"].as_u64().unwrap();
    assert!(max > 0, "system.filefd_max of {api}");
    let fields: Vec<(String, String)> = browser
        .js(
            "return [...document.querySelectorAll(arguments[0] + ' [data-field]')]
                 .map(e => [e.getAttribute('data-field'), e.textContent]);",
            vec![json!(DETAIL)],
        )
        .await
        .unwrap();
    let shown = |field: &str| {
        fields
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, text)| text.clone())
            .unwrap_or_else(|| panic!("no {field} in {fields:?}"))
    };
    let filefd = shown("system.filefd");
    let (_, shown_max) = filefd
        .split_once(" / ")
        .unwrap_or_else(|| panic!("system.filefd {filefd:?}"));
    assert_eq!(shown_max.replace(',', ""), max.to_string(), "{filefd}");
    for key in [
        "cpu_some",
        "memory_some",
        "memory_full",
        "io_some",
        "io_full",
    ] {
        let text = shown(&format!("psi.{key}_percent"));
        let digits = text.strip_suffix('%').and_then(|t| t.split_once('.'));
        assert!(
            digits.is_some_and(|(_, decimals)| decimals.len() == 2),
            "psi.{key}_percent {text:?}"
        );
    }
    for field in [
        "tcp.curr_estab",
        "tcp.sockets_used",
        "softnet.dropped_rate",
        "vmstat.pgfault_rate",
        "system.entropy_bits",
    ] {
        assert!(!shown(field).is_empty(), "{field}");
    }

    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    // The capture itself works: an error logged now is read back.
    browser
        .js::<Value>("console.error('web.rs probe');", vec![])
        .await
        .unwrap();
    let probe = browser.console_errors();
    assert!(
        probe.iter().any(|e| e.contains("web.rs probe")),
        "the browser log missed a console.error: {probe:?}"
    );
    for path in [&overview, &detail] {
        assert!(browser::is_png(path), "{} is not a PNG", path.display());
    }
    browser.close().await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}
