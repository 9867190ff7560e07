//! The latest snapshots live in memory and reach the SQLite file on a schedule, at
//! shutdown and when a node appears; history is written as it comes. A real
//! edge-master on a real file, 100 nodes pushed as copies of a real edge-exporter's
//! snapshot (found by a master scraping it), round after round:
//!
//! - after SIGKILL, the file holds every history point and each node's first snapshot
//!   (written when it appeared), nothing else of `latest` (persist interval 1 h);
//! - restarted on that file, the master lists those snapshots; with a 1 s persist
//!   interval the file catches up with pushes without a restart, and after SIGTERM it
//!   holds the last round pushed;
//! - restarted once more, the list body is byte for byte the one served before the
//!   SIGTERM.
//!
//! Printed, not asserted: the bytes the master wrote while taking 100 pushes a second
//! (`/proc/PID/io` `write_bytes`, and the growth of the database and its WAL).

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};
use support::http::{get, wait_until};
use support::{edge_exporter, free_port, spawn, Server};

const LIST: &str = "/api/v2/clusters/default/node-metrics";
/// The edge-exporter's node.
const NODE: &str = "edge-real";
const PUSHED: usize = 100;
/// Rounds pushed in the measured window, one a second.
const MEASURED_ROUNDS: usize = 10;
const SAMPLE_INTERVAL_MS: i64 = 2000;

fn name(i: usize) -> String {
    format!("node-{i:03}")
}

/// Node `i`'s CPU usage in round `round`: both can be read back from it.
fn cpu(round: usize, i: usize) -> f64 {
    round as f64 + i as f64 / 1000.0
}

fn master(db: &Path, extra: &[String]) -> (Server, u16) {
    let port = free_port();
    let mut args = vec![
        format!("--listen=127.0.0.1:{port}"),
        format!("--db={}", db.display()),
        "--scrape-interval=1s".into(),
        format!("--sample-interval={SAMPLE_INTERVAL_MS}ms"),
        // Pushed nodes stay online for the whole test.
        "--offline-after=600".into(),
    ];
    args.extend_from_slice(extra);
    let server = spawn(env!("CARGO_BIN_EXE_edge-master"), &args);
    wait_until(
        "edge-master answering /healthz",
        Duration::from_secs(10),
        || support::http::try_get(port, "/healthz").is_ok_and(|a| a.status == 200),
    );
    (server, port)
}

/// Pushes round `round` of every node from 4 threads; returns each node's timestamp.
fn push_round(port: u16, template: &Value, round: usize) -> Vec<DateTime<Utc>> {
    let at = Utc::now();
    let next = AtomicUsize::new(0);
    let url = format!("http://127.0.0.1:{port}/metrics/node");
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= PUSHED {
                    break;
                }
                let mut s = template.clone();
                s["node_name"] = json!(name(i));
                s["hostname"] = json!(name(i));
                s["timestamp"] = json!(at.to_rfc3339());
                s["cpu"]["usage_percent"] = json!(cpu(round, i));
                ureq::post(&url)
                    .header("Content-Type", "application/json")
                    .send(s.to_string())
                    .unwrap_or_else(|e| panic!("pushing {} round {round}: {e}", name(i)));
            });
        }
    });
    vec![at; PUSHED]
}

fn signal(server: &mut Server, name: &str) -> std::process::ExitStatus {
    let pid = server.0.id().to_string();
    let sent = Command::new("kill").args([name, &pid]).status().unwrap();
    assert!(sent.success(), "kill {name} {pid}");
    server.0.wait().unwrap()
}

fn write_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("write_bytes: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

fn file_bytes(db: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .map(|suffix| {
            std::fs::metadata(format!("{}{suffix}", db.display()))
                .map(|m| m.len())
                .unwrap_or(0)
        })
        .sum()
}

fn open_read_only(db: &Path) -> Connection {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// Each pushed node's stored CPU usage, by name.
fn stored_cpu(db: &Path) -> Vec<(String, f64)> {
    let conn = open_read_only(db);
    let mut stmt = conn
        .prepare("SELECT node, snapshot FROM latest WHERE node LIKE 'node-%' ORDER BY node")
        .unwrap();
    let rows = stmt
        .query_map([], |row| {
            let json: String = row.get(1)?;
            let snapshot: Value = serde_json::from_str(&json).unwrap();
            Ok((
                row.get(0)?,
                snapshot["cpu"]["usage_percent"].as_f64().unwrap(),
            ))
        })
        .unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

fn expected_cpu(round: usize) -> Vec<(String, f64)> {
    (0..PUSHED).map(|i| (name(i), cpu(round, i))).collect()
}

/// The points `add_if_due` keeps of timestamps in order: one when none is within the
/// sample interval.
fn expected_points(timestamps: &[DateTime<Utc>]) -> usize {
    let mut last: Option<i64> = None;
    let mut points = 0;
    for ts in timestamps.iter().map(DateTime::timestamp_millis) {
        if last.is_none_or(|p| ts - p >= SAMPLE_INTERVAL_MS) {
            points += 1;
            last = Some(ts);
        }
    }
    points
}

#[test]
fn latest_reaches_disk_on_schedule_at_shutdown_and_history_always() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("master.db");

    // A real node's snapshot, from a master scraping a real edge-exporter.
    let exporter_port = free_port();
    let exporter = spawn(
        &edge_exporter(),
        &[
            format!("--web.listen-address=127.0.0.1:{exporter_port}"),
            format!("--node-name={NODE}"),
            "--collector.top_processes.interval=500ms".into(),
        ],
    );
    let (mut first, port) = master(
        &db,
        &[
            format!("--target=127.0.0.1:{exporter_port}"),
            "--latest.persist-interval=1h".into(),
        ],
    );
    let mut template = Value::Null;
    wait_until(
        "the exporter's node with its processes",
        Duration::from_secs(30),
        || {
            let answer = support::http::try_get(port, &format!("{LIST}/{NODE}"));
            match answer {
                Ok(a) if a.status == 200 => {
                    template = a.json();
                    template["processes"]
                        .as_array()
                        .is_some_and(|p| p.len() > 2)
                }
                _ => false,
            }
        },
    );
    drop(exporter);
    let template = {
        let mut t = template;
        let object = t.as_object_mut().unwrap();
        object.remove("status");
        object.remove("last_seen");
        t
    };
    println!(
        "snapshot of {NODE}: {} bytes of JSON",
        template.to_string().len()
    );

    // Round 0 adds the nodes; rounds 1..=10, one a second, are measured.
    let mut pushed_at = vec![push_round(port, &template, 0)];
    let pid = first.0.id();
    let (io_before, files_before, started) = (write_bytes(pid), file_bytes(&db), Instant::now());
    for round in 1..=MEASURED_ROUNDS {
        let round_started = Instant::now();
        pushed_at.push(push_round(port, &template, round));
        std::thread::sleep(Duration::from_secs(1).saturating_sub(round_started.elapsed()));
    }
    let seconds = started.elapsed().as_secs_f64();
    let written = write_bytes(pid) - io_before;
    let grown = file_bytes(&db).saturating_sub(files_before);
    println!(
        "{PUSHED} nodes pushed every second for {seconds:.1} s: write_bytes {:.1} KB/s, \
         database + WAL grew {:.1} KB/s",
        written as f64 / seconds / 1000.0,
        grown as f64 / seconds / 1000.0
    );

    // Served from memory: the last round.
    let list = get(port, LIST).json();
    let nodes = list["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), PUSHED + 1);
    assert_eq!(nodes[0]["node_name"], NODE);
    assert_eq!(nodes[1]["cpu"]["usage_percent"], cpu(MEASURED_ROUNDS, 0));
    assert_eq!(list["summary"]["online_nodes"], (PUSHED + 1) as i64);

    // SIGKILL: latest on disk is what was written when each node appeared; every
    // history point is there.
    signal(&mut first, "-KILL");
    assert_eq!(stored_cpu(&db), expected_cpu(0));
    {
        let conn = open_read_only(&db);
        for i in [0, PUSHED / 2, PUSHED - 1] {
            let timestamps: Vec<DateTime<Utc>> = pushed_at.iter().map(|round| round[i]).collect();
            let points: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM history WHERE node = ?1",
                    [name(i)],
                    |row| row.get(0),
                )
                .unwrap();
            assert_eq!(points as usize, expected_points(&timestamps), "{}", name(i));
        }
        let scraped: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM latest WHERE node = ?1",
                [NODE],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(scraped, 1);
    }

    // Restarted: what the file holds is listed, and persisted every second.
    let (mut second, port) = master(&db, &["--latest.persist-interval=1s".into()]);
    let list = get(port, LIST).json();
    assert_eq!(list["nodes"].as_array().unwrap().len(), PUSHED + 1);
    assert_eq!(list["nodes"][1]["cpu"]["usage_percent"], cpu(0, 0));
    push_round(port, &template, 20);
    wait_until("round 20 persisted", Duration::from_secs(15), || {
        stored_cpu(&db) == expected_cpu(20)
    });
    // SIGTERM right after a round: it is on disk when the master has exited.
    push_round(port, &template, 21);
    let before_sigterm = get(port, LIST).body;
    let exit = signal(&mut second, "-TERM");
    assert!(exit.success(), "{exit}");
    assert_eq!(stored_cpu(&db), expected_cpu(21));

    // Restarted once more: the same list, byte for byte.
    let (_third, port) = master(&db, &[]);
    let after_restart = get(port, LIST).body;
    let first_difference = before_sigterm
        .bytes()
        .zip(after_restart.bytes())
        .position(|(a, b)| a != b);
    assert_eq!(
        (first_difference, after_restart.len()),
        (None, before_sigterm.len()),
        "around {:?}",
        first_difference
            .map(|at| &after_restart[at.saturating_sub(80)..(at + 80).min(after_restart.len())])
    );
}
