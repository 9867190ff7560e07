//! The dashboard with 1,000 nodes in a headless Chromium: a real edge-master scraping a
//! real edge-exporter, plus 999 nodes pushed as copies of that node's snapshot (its
//! processes included, so the list is as large as a real one), each with values of
//! its own and three history points over the last 40 minutes.
//!
//! Checked: rows are made lazily (100, then 100 more), the node filter, the top-5
//! trend charts (the nodes the API's values rank first, their values in the legend,
//! the interval the chart chooses for the data and the one clicked, the windows), and
//! a node's PSI, TCP/softnet, system and vmstat cards, value by value with their
//! colour levels. Printed, not asserted: the page's first render and the main-thread
//! time of a refresh, from the Performance API. Screenshots go to the artifacts.

mod browser;
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use browser::{eventually, get_json, node, Browser};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use support::{edge_exporter, free_port, spawn, Server};

const LIST: &str = "/api/v2/clusters/default/node-metrics";
/// The edge-exporter's node.
const NODE: &str = "edge-scale";
/// Pushed nodes: `node-0001` … `node-0999`.
const PUSHED: usize = 999;
/// Minutes before now of each pushed node's history points (the last one is now).
const HISTORY_MINUTES: [i64; 3] = [40, 20, 0];
/// What the page makes at first and adds per "show more".
const ROW_BATCH: usize = 100;
/// Refreshes timed after the first render.
const TIMED_REFRESHES: usize = 5;

fn name(i: usize) -> String {
    format!("node-{i:04}")
}

/// Node `i`'s current values (CPU, memory, disk %, CPU °C): each a permutation of
/// 1..=999 (7, 13 and 17 are prime to 999), so that every ranking has no ties.
fn values(i: usize) -> [f64; 4] {
    [
        i as f64 / 10.0,
        ((i * 7) % 999) as f64 / 10.0,
        ((i * 13) % 999) as f64 / 10.0,
        30.0 + ((i * 17) % 999) as f64 / 20.0,
    ]
}

/// What every pushed node reports in its kernel cards, and what the page must show.
fn kernel_blocks() -> Value {
    json!({
        "psi": {"cpu_some_percent": 12.34, "memory_some_percent": 3.5, "memory_full_percent": 1.25,
                "io_some_percent": 30.0, "io_full_percent": 0.5},
        "tcp": {"curr_estab": 1234, "alloc": 1500, "in_use": 1300, "time_wait": 250, "sockets_used": 2000},
        "system": {"conntrack_entries": 52428, "conntrack_limit": 262144, "filefd_allocated": 900000,
                   "filefd_max": 1000000, "entropy_bits": 128},
        "vmstat": {"pgfault_rate": 2500.5, "pgmajfault_rate": 150.0, "pswpin_rate": 0.0, "pswpout_rate": 3.5},
        "softnet": {"dropped_rate": 0.5, "squeezed_rate": 6.0},
    })
}

/// `data-field` → (text, colour level) the node detail must show for [`kernel_blocks`].
const KERNEL_CARDS: [(&str, &str, &str); 17] = [
    ("psi.cpu_some_percent", "12.34%", "warn"),
    ("psi.memory_some_percent", "3.50%", "info"),
    ("psi.memory_full_percent", "1.25%", "info"),
    ("psi.io_some_percent", "30.00%", "crit"),
    ("psi.io_full_percent", "0.50%", ""),
    ("tcp.curr_estab", "1,234", ""),
    ("tcp.time_wait", "250", "warn"),
    ("tcp.alloc", "1,500", ""),
    ("tcp.in_use", "1,300", ""),
    ("tcp.sockets_used", "2,000", ""),
    ("softnet.dropped_rate", "0.5/s", "crit"),
    ("softnet.squeezed_rate", "6.0/s", "warn"),
    ("system.filefd", "900,000 / 1,000,000", "crit"),
    ("system.conntrack", "52,428 / 262,144", ""),
    ("system.entropy_bits", "128 bits", "warn"),
    ("vmstat.pgmajfault_rate", "150.0/s", "crit"),
    ("vmstat.pswpout_rate", "3.5/s pages", "warn"),
];

/// The real node's snapshot made into node `i` at `at`, `back` minutes before now
/// (values lower the further back, so that the lines slope).
fn pushed_snapshot(template: &Value, i: usize, at: DateTime<Utc>, back: i64) -> Value {
    let [cpu, memory, disk, temp] = values(i);
    let earlier = back as f64 / 4.0 * (1 + i % 5) as f64;
    let mut s = template.clone();
    s["node_name"] = json!(name(i));
    s["hostname"] = json!(name(i));
    s["node_ip"] = json!(format!("10.0.{}.{}", i / 250, i % 250 + 1));
    s["timestamp"] = json!(at.to_rfc3339());
    s["cpu"]["usage_percent"] = json!((cpu - earlier).max(0.0));
    s["memory"]["usage_percent"] = json!((memory - earlier).max(0.0));
    s["disks"] = json!([{"device": "/dev/mmcblk0p2", "mount_point": "/", "fs_type": "ext4",
        "total": 64_000_000_000u64, "used": (disk * 640_000_000.0) as u64, "available": 1,
        "usage_percent": (disk - earlier).max(0.0)}]);
    s["temperature"] = json!({"cpu_temp": temp - earlier, "cpu_temp_max": 85.0, "cpu_temp_crit": 95.0,
        "sensors": [{"name": "cpu_thermal", "label": "temp1", "current": temp - earlier}]});
    for (key, block) in kernel_blocks().as_object().unwrap() {
        s[key] = block.clone();
    }
    s
}

struct Cluster {
    base: String,
    _master: Server,
    _exporter: Server,
    _db: tempfile::TempDir,
}

impl Cluster {
    /// A master scraping one edge-exporter, once that node has its processes.
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
                format!("--db={}", db.path().join("scale.db").display()),
                format!("--target=127.0.0.1:{exporter_port}"),
                "--scrape-interval=1s".into(),
                "--sample-interval=1s".into(),
                // Pushed nodes stay online for the whole test.
                "--offline-after=600".into(),
            ],
        );
        let cluster = Cluster {
            base: format!("http://127.0.0.1:{port}"),
            _master: master,
            _exporter: exporter,
            _db: db,
        };
        eventually(
            "the exporter's node online with processes",
            Duration::from_secs(30),
            || async {
                let list = cluster.list()?;
                let ready = node(&list, NODE).is_some_and(|n| {
                    n["status"] == "online"
                        && n["processes"].as_array().is_some_and(|p| p.len() > 2)
                });
                if ready {
                    Ok(())
                } else {
                    Err(list.to_string())
                }
            },
        )
        .await;
        cluster
    }

    fn list(&self) -> Result<Value, String> {
        get_json(&format!("{}{LIST}", self.base))
    }

    /// Pushes the 999 nodes, oldest points first, from 4 threads.
    fn push_nodes(&self, template: &Value, now: DateTime<Utc>) {
        let next = AtomicUsize::new(1);
        let url = format!("{}/metrics/node", self.base);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i > PUSHED {
                        break;
                    }
                    for back in HISTORY_MINUTES {
                        let at = now - chrono::Duration::minutes(back);
                        let body = pushed_snapshot(template, i, at, back).to_string();
                        ureq::post(&url)
                            .header("Content-Type", "application/json")
                            .send(body)
                            .unwrap_or_else(|e| panic!("pushing {}: {e}", name(i)));
                    }
                });
            }
        });
    }
}

/// The page's rule: a node's current value per trend metric (`None`: no such value).
fn current(node: &Value, metric: &str) -> Option<f64> {
    match metric {
        "cpu" => node["cpu"]["usage_percent"].as_f64(),
        "memory" => node["memory"]["usage_percent"].as_f64(),
        "disk" => {
            let disks = node["disks"].as_array()?;
            let disk = disks
                .iter()
                .find(|d| d["mount_point"] == "/")
                .or(disks.first())?;
            disk["usage_percent"].as_f64()
        }
        "temp" => node["temperature"]["cpu_temp"]
            .as_f64()
            .filter(|t| *t > 0.0),
        _ => unreachable!(),
    }
}

/// The five online nodes with the highest value, highest first (ties by name).
fn top_five(list: &Value, metric: &str) -> Vec<(String, f64)> {
    let mut ranked: Vec<(String, f64)> = list["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["status"] == "online")
        .filter_map(|n| Some((n["node_name"].as_str()?.to_string(), current(n, metric)?)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(5);
    ranked
}

/// The widest of `intervals` (s) giving at least 3 epoch-aligned buckets from `first`
/// to `last`; the narrowest when none does.
fn auto_interval(intervals: [i64; 3], first: DateTime<Utc>, last: DateTime<Utc>) -> i64 {
    let (first, last) = (first.timestamp_millis(), last.timestamp_millis());
    intervals
        .into_iter()
        .rev()
        .find(|s| last.div_euclid(s * 1000) - first.div_euclid(s * 1000) + 1 >= 3)
        .unwrap_or(intervals[0])
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn refreshes(browser: &Browser) -> Result<u64, String> {
    let text: Option<String> = browser
        .js(
            "return document.querySelector('#last-updated').getAttribute('data-refreshes');",
            vec![],
        )
        .await?;
    Ok(text.and_then(|t| t.parse().ok()).unwrap_or(0))
}

/// What a trend chart shows: its interval, which is the chosen one, the legend's
/// nodes and texts, and per line the number of points drawn.
#[derive(Debug, serde::Deserialize)]
struct TrendShown {
    interval: String,
    auto: bool,
    buttons: Vec<String>,
    legend: Vec<(String, String)>,
    points: Vec<(String, usize)>,
}

async fn trend_shown(browser: &Browser, metric: &str) -> Result<TrendShown, String> {
    browser
        .js(
            "const box = document.querySelector('#trends .trend[data-metric=\"' + arguments[0] + '\"]');
             if (!box) return null;
             const active = box.querySelector('.trend-intervals button.active');
             return {
               interval: box.getAttribute('data-interval') || '',
               auto: !!(active && active.getAttribute('data-auto') === 'true'),
               buttons: [...box.querySelectorAll('.trend-intervals button')].map(b => b.getAttribute('data-interval')),
               legend: [...box.querySelectorAll('.trend-legend .legend-item')]
                 .map(i => [i.getAttribute('data-node'), i.querySelector('b').textContent]),
               points: [...box.querySelectorAll('svg.trend-chart path.series')]
                 .map(p => [p.getAttribute('data-series'), (p.getAttribute('d').match(/[ML]/g) || []).length]),
             };",
            vec![json!(metric)],
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_stays_fast_with_a_thousand_nodes() {
    let started = Instant::now();
    let browser = Browser::start(1280, 1100).await;
    let cluster = Cluster::start().await;
    let template = node(&cluster.list().unwrap(), NODE).unwrap().clone();
    let now = Utc::now();
    let pushing = Instant::now();
    cluster.push_nodes(&template, now);
    let list = cluster.list().unwrap();
    let nodes = list["nodes"].as_array().unwrap().len();
    assert_eq!(nodes, PUSHED + 1, "nodes listed");
    let list_bytes = list.to_string().len();
    eprintln!(
        "{} pushes in {:.1} s; the list answers {nodes} nodes, {:.1} MB",
        PUSHED * HISTORY_MINUTES.len(),
        pushing.elapsed().as_secs_f64(),
        list_bytes as f64 / 1e6
    );

    // ?refresh=0: refreshes only when the test clicks, so that each is timed alone.
    browser
        .client
        .goto(&format!("{}/system/metrics?refresh=0", cluster.base))
        .await
        .unwrap();
    let first_render: f64 = eventually("the first render", Duration::from_secs(60), || async {
        let d: Option<f64> = browser
            .js(
                "const m = performance.getEntriesByName('edge:first-render');
                 return m.length ? m[0].duration : null;",
                vec![],
            )
            .await?;
        d.ok_or_else(|| "not yet".to_string())
    })
    .await;
    let waited: f64 = browser
        .js(
            "const r = performance.getEntriesByType('resource')
                 .filter(e => e.name.includes('/node-metrics') && !e.name.includes('/history'));
             return r.length ? r[0].responseEnd - r[0].requestStart : -1;",
            vec![],
        )
        .await
        .unwrap();
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors at load: {errors:#?}");

    // 1. Lazy rows: 100 made, 100 more on demand; the count says how many there are.
    let rows = "return [document.querySelectorAll('#nodes tbody tr.node-row').length,
                        document.querySelector('#node-count').textContent];";
    let (made, count): (usize, String) = browser.js(rows, vec![]).await.unwrap();
    assert_eq!(
        (made, count.as_str()),
        (ROW_BATCH, format!("{} nodes", PUSHED + 1).as_str())
    );
    // Clicked from a script: WebDriver's click would scroll the row into view first,
    // which loads a batch by itself.
    browser
        .js::<Value>(
            "document.querySelector('#nodes tr.more-rows button').click();",
            vec![],
        )
        .await
        .unwrap();
    let (made, _): (usize, String) = browser.js(rows, vec![]).await.unwrap();
    assert_eq!(made, 2 * ROW_BATCH, "rows after one 'show more'");
    // Scrolled to the end of the list: one batch more, and no more than one.
    browser
        .js::<Value>(
            "document.querySelector('#nodes tr.more-rows').scrollIntoView({block: 'end'});",
            vec![],
        )
        .await
        .unwrap();
    eventually("a batch on scrolling", Duration::from_secs(5), || async {
        let (made, _): (usize, String) = browser.js(rows, vec![]).await?;
        if made == 3 * ROW_BATCH {
            Ok(())
        } else {
            Err(format!("{made} rows"))
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (made, _): (usize, String) = browser.js(rows, vec![]).await.unwrap();
    assert_eq!(
        made,
        3 * ROW_BATCH,
        "rows a while after scrolling to the end"
    );

    // 2. Timed refreshes, with long tasks observed as well.
    browser
        .js::<Value>(
            "window.longTasks = [];
             new PerformanceObserver(l => l.getEntries().forEach(e => window.longTasks.push(e.duration)))
                 .observe({type: 'longtask'});",
            vec![],
        )
        .await
        .unwrap();
    for _ in 0..TIMED_REFRESHES {
        let before = refreshes(&browser).await.unwrap();
        browser.click("#refresh").await.unwrap();
        eventually("a refresh", Duration::from_secs(30), || async {
            let after = refreshes(&browser).await?;
            if after > before {
                Ok(())
            } else {
                Err(format!("refreshes {after}"))
            }
        })
        .await;
    }
    let (mut timed, long_tasks): (Vec<f64>, Vec<f64>) = browser
        .js(
            "return [performance.getEntriesByName('edge:refresh').slice(1).map(m => m.duration),
                     window.longTasks];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(timed.len(), TIMED_REFRESHES, "edge:refresh measures");
    let max = timed.iter().cloned().fold(0.0, f64::max);
    let refresh_median = median(&mut timed);
    eprintln!(
        "dashboard, {nodes} nodes ({:.1} MB list): first render {first_render:.0} ms after navigation \
         (of which {waited:.0} ms waiting for the debug-build master's list); refresh main-thread time \
         (JSON parse, render, style and layout) median {refresh_median:.0} ms, max {max:.0} ms over \
         {TIMED_REFRESHES}; long tasks during them: {long_tasks:.0?} ms",
        list_bytes as f64 / 1e6
    );

    // 3. The trend charts: the API's top five per metric, in the legend with their
    // current values; three buckets of 15 minutes from the 40 minutes of history.
    let list = cluster.list().unwrap();
    let first_point = now - chrono::Duration::minutes(HISTORY_MINUTES[0]);
    for metric in ["cpu", "memory", "disk", "temp"] {
        let top = top_five(&list, metric);
        let unit = if metric == "temp" { "°C" } else { "%" };
        let legend: Vec<(String, String)> = top
            .iter()
            .map(|(n, v)| (n.clone(), format!("{v:.1}{unit}")))
            .collect();
        let expected_interval = auto_interval([60, 300, 900], first_point, Utc::now());
        eventually(
            &format!("the {metric} trend chart"),
            Duration::from_secs(30),
            || async {
                let shown = trend_shown(&browser, metric).await?;
                let pushed_lines = shown
                    .points
                    .iter()
                    .filter(|(n, _)| n.starts_with("node-"))
                    .all(|(_, points)| *points == HISTORY_MINUTES.len());
                if shown.legend == legend
                    && shown.interval == expected_interval.to_string()
                    && shown.auto
                    && shown.buttons == ["60", "300", "900"]
                    && shown.points.len() == 5
                    && pushed_lines
                {
                    Ok(())
                } else {
                    Err(format!(
                        "{shown:?}; expected legend {legend:?}, interval {expected_interval}"
                    ))
                }
            },
        )
        .await;
    }
    browser
        .js::<Value>("window.scrollTo(0, 0);", vec![])
        .await
        .unwrap();
    let trends_1h = browser.screenshot("dashboard-1000-trends-1h.png").await;

    // A clicked interval stays until the window changes; a window brings its own.
    browser
        .click("#trends .trend[data-metric=\"cpu\"] button[data-interval=\"300\"]")
        .await
        .unwrap();
    let shown = trend_shown(&browser, "cpu").await.unwrap();
    assert_eq!(
        (shown.interval.as_str(), shown.auto),
        ("300", false),
        "{shown:?}"
    );
    browser
        .click("#trends .trend-windows button[data-hours=\"6\"]")
        .await
        .unwrap();
    let expected = auto_interval([300, 900, 1800], first_point, Utc::now());
    eventually("the 6h window", Duration::from_secs(30), || async {
        let shown = trend_shown(&browser, "cpu").await?;
        if shown.buttons == ["300", "900", "1800"]
            && shown.interval == expected.to_string()
            && shown.auto
            && shown.points.len() == 5
        {
            Ok(())
        } else {
            Err(format!("{shown:?}, expected {expected}"))
        }
    })
    .await;
    let trends_6h = browser.screenshot("dashboard-1000-trends-6h.png").await;

    // 4. The node filter, then one node's kernel cards.
    let filter = browser
        .client
        .find(fantoccini::Locator::Css("#node-filter"))
        .await
        .unwrap();
    filter.send_keys("node-0500").await.unwrap();
    eventually("the filter", Duration::from_secs(5), || async {
        let (made, count): (usize, String) = browser.js(rows, vec![]).await?;
        if made == 1 && count == format!("1 of {} nodes", PUSHED + 1) {
            Ok(())
        } else {
            Err(format!("{made} rows, {count:?}"))
        }
    })
    .await;
    browser
        .click("tr.node-row[data-node=\"node-0500\"]")
        .await
        .unwrap();
    let cards: Vec<(String, String, String)> = eventually(
        "node-0500's kernel cards",
        Duration::from_secs(10),
        || async {
            let cards: Vec<(String, String, String)> = browser
                .js(
                    "return [...document.querySelectorAll('tr.node-detail[data-node=\"node-0500\"] [data-field]')]
                         .map(e => [e.getAttribute('data-field'), e.textContent,
                                    ['info', 'warn', 'crit'].filter(l => e.classList.contains(l)).join(' ')]);",
                    vec![],
                )
                .await?;
            if cards.len() >= KERNEL_CARDS.len() {
                Ok(cards)
            } else {
                Err(format!("{cards:?}"))
            }
        },
    )
    .await;
    for (field, text, level) in KERNEL_CARDS {
        let shown = cards.iter().find(|(f, _, _)| f == field);
        assert_eq!(
            shown.map(|(_, t, l)| (t.as_str(), l.as_str())),
            Some((text, level)),
            "{field}"
        );
    }
    let warning: String = browser
        .js(
            "const w = document.querySelector('tr.node-detail[data-node=\"node-0500\"] .vmstat-warning');
             return w.hidden ? '' : w.textContent;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        warning.contains("major page faults") && warning.contains("swapping"),
        "{warning:?}"
    );
    browser
        .js::<Value>(
            "document.querySelector('tr.node-row[data-node=\"node-0500\"]').scrollIntoView({block: 'start'});",
            vec![],
        )
        .await
        .unwrap();
    let node_cards = browser.screenshot("dashboard-1000-node-cards.png").await;

    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    for path in [&trends_1h, &trends_6h, &node_cards] {
        assert!(browser::is_png(path), "{} is not a PNG", path.display());
    }
    browser.close().await;
    eprintln!("took {:.1} s", started.elapsed().as_secs_f64());
}
