//! Many simulated nodes for scripts/bench-master.sh, on loopback.
//!
//! `fake_exporters serve BODY_FILE [DELAY_MS]`: one HTTP server on a free 127.0.0.1 port
//! (printed on stdout as `port N`) that answers `GET /n/{i}/metrics` for any `i` with
//! the same exporter body (a real edge-exporter's, captured by the script), after
//! `DELAY_MS` if given, as a slow board over a WAN would; and `POST /api/v1/write`
//! with 204 and nothing kept, the sink of vmagent's remote write. `GET /requests`
//! answers how many scrapes it has served. One body, shared: the simulated nodes cost
//! the benchmark almost nothing, so the figures are the scrapers'.
//!
//! `fake_exporters push URL SNAPSHOT_FILE NODES INTERVAL_S`: posts a node's snapshot
//! (JSON, as `GET …/node-metrics` lists it) to `URL` (`…/metrics/node`) for `node-00000`
//! … every `INTERVAL_S` seconds each, spread evenly over the interval, with the name
//! and timestamp replaced; runs until killed. Counts refusals on stderr.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;

/// The largest body or snapshot file read.
const MAX_FILE_BYTES: u64 = 64 << 20;

struct Served {
    body: Bytes,
    delay: Duration,
    requests: AtomicU64,
}

async fn metrics(
    State(served): State<Arc<Served>>,
) -> (StatusCode, [(&'static str, &'static str); 1], Bytes) {
    if !served.delay.is_zero() {
        tokio::time::sleep(served.delay).await;
    }
    served.requests.fetch_add(1, Ordering::Relaxed);
    (
        StatusCode::OK,
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        served.body.clone(),
    )
}

fn read_file(path: &str) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| path.to_string())?
        .len();
    if size > MAX_FILE_BYTES {
        bail!("{path}: {size} bytes, more than {MAX_FILE_BYTES}");
    }
    std::fs::read(path).with_context(|| path.to_string())
}

fn serve(body_file: &str, delay_ms: u64) -> Result<()> {
    let served = Arc::new(Served {
        body: Bytes::from(read_file(body_file)?),
        delay: Duration::from_millis(delay_ms),
        requests: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/n/{node}/metrics", get(metrics))
        .route("/api/v1/write", post(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/requests",
            get(|State(s): State<Arc<Served>>| async move {
                s.requests.load(Ordering::Relaxed).to_string()
            }),
        )
        .with_state(served);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("port {}", listener.local_addr()?.port());
        axum::serve(listener, app).await?;
        Ok(())
    })
}

fn push(url: &str, snapshot_file: &str, nodes: usize, interval_s: u64) -> Result<()> {
    let template: serde_json::Value =
        serde_json::from_slice(&read_file(snapshot_file)?).context(snapshot_file.to_string())?;
    if nodes == 0 || interval_s == 0 {
        bail!("NODES and INTERVAL_S must be positive");
    }
    let interval = Duration::from_secs(interval_s);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .max_idle_connections_per_host(4)
        .build()
        .into();
    let refused = AtomicU64::new(0);
    // Two pushers, each its half of the nodes, each node at its own offset.
    std::thread::scope(|scope| {
        for half in 0..2 {
            let (agent, template, refused) = (&agent, &template, &refused);
            scope.spawn(move || {
                let started = Instant::now();
                for round in 0u32.. {
                    for i in (half..nodes).step_by(2) {
                        let due = interval * round + interval.mul_f64(i as f64 / nodes as f64);
                        if let Some(wait) = due.checked_sub(started.elapsed()) {
                            std::thread::sleep(wait);
                        }
                        let mut snapshot = template.clone();
                        snapshot["node_name"] = serde_json::json!(format!("node-{i:05}"));
                        snapshot["timestamp"] = serde_json::json!(chrono::Utc::now().to_rfc3339());
                        let status = agent
                            .post(url)
                            .header("Content-Type", "application/json")
                            .send(snapshot.to_string())
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0);
                        if status != 200 && refused.fetch_add(1, Ordering::Relaxed) % 100 == 0 {
                            eprintln!("fake_exporters push: {url} answered {status}");
                        }
                    }
                }
            });
        }
    });
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, what: &str| -> Result<u64> {
        args.get(i)
            .with_context(|| format!("missing {what}"))?
            .parse()
            .with_context(|| format!("{what} is not a number"))
    };
    match args.first().map(String::as_str) {
        Some("serve") if args.len() >= 2 => {
            let delay = if args.len() > 2 { number(2, "DELAY_MS")? } else { 0 };
            serve(&args[1], delay)
        }
        Some("push") if args.len() == 5 => push(
            &args[1],
            &args[2],
            number(3, "NODES")? as usize,
            number(4, "INTERVAL_S")?,
        ),
        _ => bail!(
            "usage: fake_exporters serve BODY_FILE [DELAY_MS] | push URL SNAPSHOT_FILE NODES INTERVAL_S"
        ),
    }
}
