//! edge-sidecar as it runs in a pod: a ConfigMap-shaped directory (every file a
//! symlink through `..data`, updates swap `..data`), real bash scripts, the output
//! file read by the real node_exporter's textfile collector.

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::{processes_with, ConfigMap, Sidecar};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

const GOOD: &str = "#!/bin/bash\necho temp=21.5\necho 'hum= 40'\necho 'spaced = 1'\necho 'bad key=1'\necho x=abc\necho temp=22.5\n";
/// A script that hangs with a background child holding its stdout; `marker` (a sleep
/// duration unique to this test run) finds its processes.
fn hang_script(marker: &str) -> String {
    format!("#!/bin/bash\necho hang_started=1\nsleep {marker} &\nsleep {marker}\n")
}
const BIG: &str = "#!/bin/bash\nhead -c 20000000 /dev/zero | tr '\\0' x\necho\necho tail=1\n";
const SMALL: &str = "#!/bin/bash\necho small=7\n";

#[test]
fn runs_scripts_drops_bad_lines_kills_hung_ones_and_reloads_live() {
    let marker = format!("9{}.5", std::process::id());
    let hang = hang_script(&marker);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("textfile");
    std::fs::create_dir(&out).unwrap();
    let mut cm = ConfigMap::new(
        &tmp.path().join("cm"),
        &[
            ("nodes.conf", "# test\nother-node=small:1s\ntest-node=good:300ms,hang:300ms,big:300ms,small:300ms\n"),
            ("good.sh", GOOD),
            ("hang.sh", &hang),
            ("big.sh", BIG),
            ("small.sh", SMALL),
        ],
    );
    let sidecar = Sidecar::start(
        &cm.root.join("nodes.conf"),
        &out.join("custom_metrics.prom"),
        &[],
    );

    // Values parsed, the last duplicate wins, bad lines dropped and counted.
    sidecar.wait_for("edge_temp 22.5", Duration::from_secs(5));
    assert_eq!(sidecar.value("edge_hum"), Some(40.0));
    assert_eq!(sidecar.value("edge_x"), None);
    let good = "{kind=\"script\",source=\"good\"}";
    assert_eq!(sidecar.value("edge_spaced"), None);
    // 3 bad lines a run (`spaced = 1`, `bad key=1`, `x=abc`).
    let dropped = sidecar
        .value(&format!("edge_sidecar_source_dropped_lines_total{good}"))
        .unwrap();
    assert!(dropped >= 3.0 && dropped % 3.0 == 0.0, "{dropped}");
    assert!(
        sidecar
            .value(&format!("edge_sidecar_source_duplicate_keys_total{good}"))
            .unwrap()
            >= 1.0
    );
    assert_eq!(
        sidecar.value(&format!("edge_sidecar_source_success{good}")),
        Some(1.0)
    );

    // The hung script (with a background child holding stdout) is killed at the 1 s
    // timeout with its child: no process of it survives.
    let hang = "{kind=\"script\",source=\"hang\"}";
    sidecar.wait_for(
        &format!("edge_sidecar_source_timeouts_total{hang} 3"),
        Duration::from_secs(10),
    );
    assert_eq!(
        sidecar.value(&format!("edge_sidecar_source_success{hang}")),
        Some(0.0)
    );
    assert_eq!(
        sidecar.value("edge_hang_started"),
        None,
        "a timed-out run's output is not used"
    );
    // Runs of one source never overlap, so only the run in progress (its script and
    // the background sleep) may be alive; three killed runs would leave six if the
    // group were not killed.
    let left = processes_with(&marker);
    assert!(
        left.len() <= 2,
        "processes of earlier hung runs survive: {left:?}"
    );

    // 20 MB of output: capped and counted, and the next runs are unaffected.
    let big = "{kind=\"script\",source=\"big\"}";
    sidecar.wait_for(
        &format!("edge_sidecar_source_runs_total{big} 2"),
        Duration::from_secs(10),
    );
    assert!(
        sidecar
            .value(&format!(
                "edge_sidecar_source_discarded_output_bytes_total{big}"
            ))
            .unwrap()
            >= 18e6
    );
    assert_eq!(sidecar.value("edge_small"), Some(7.0));
    assert!(
        sidecar
            .value(&format!("edge_sidecar_source_runs_total{good}"))
            .unwrap()
            >= 3.0
    );

    // A ConfigMap update is applied within 2 s, without a restart.
    cm.update(&[
        ("nodes.conf", "test-node=good:300ms,fresh:300ms\n"),
        ("good.sh", GOOD),
        ("fresh.sh", "#!/bin/bash\necho fresh=1\n"),
    ]);
    let took = sidecar.wait_for("edge_fresh 1", Duration::from_secs(2));
    eprintln!("config swap applied in {took:?}");
    sidecar.wait_for(
        "edge_sidecar_config_reload_success 1",
        Duration::from_secs(1),
    );
    // Dropped sources are gone from the file with their values, and the hung run
    // that was in progress is killed at its timeout like any other.
    sleep(Duration::from_millis(1500));
    assert_eq!(sidecar.value("edge_small"), None);
    assert!(!sidecar.text().contains("source=\"hang\""));
    assert_eq!(processes_with(&marker), Vec::<String>::new());

    // A broken config keeps the last good one running.
    cm.update(&[
        (
            "nodes.conf",
            "test-node=good:300ms,fresh:300ms\nthis line is broken\n",
        ),
        ("good.sh", GOOD),
        ("fresh.sh", "#!/bin/bash\necho fresh=2\n"),
    ]);
    sidecar.wait_for(
        "edge_sidecar_config_reload_success 0",
        Duration::from_secs(2),
    );
    // fresh.sh was edited in place (new ConfigMap version): picked up on its next run.
    sidecar.wait_for("edge_fresh 2", Duration::from_secs(2));
    assert_eq!(sidecar.value("edge_temp"), Some(22.5));

    drop(sidecar);
    // The sidecar was killed mid-run: whatever its last runs started is not its to
    // clean up any more (a pod's or a systemd unit's end takes the whole group).
    for process in processes_with(&marker) {
        if let Some(pid) = process.split(':').next() {
            let _ = Command::new("kill").arg(pid).status();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// The body of a 200 answer to GET `path` on loopback.
fn get(port: u16, path: &str) -> Result<String, ureq::Error> {
    ureq::get(&format!("http://127.0.0.1:{port}{path}"))
        .call()?
        .body_mut()
        .read_to_string()
}

#[test]
fn node_exporter_never_sees_a_partial_file() {
    assert!(
        Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} is missing: scripts/test.sh installs Debian's prometheus-node-exporter"
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("textfile");
    std::fs::create_dir(&out).unwrap();
    // A 100 ms script whose output changes size every run, so a torn file would show.
    let script = "#!/bin/bash\nn=$(( $(date +%N | sed 's/^0*//;s/^$/0/') % 50 ))\nfor i in $(seq 0 $n); do echo \"v$i=$i\"; done\necho n=$n\n";
    let cm = ConfigMap::new(
        &tmp.path().join("cm"),
        &[
            ("nodes.conf", "test-node=fast:100ms\n"),
            ("fast.sh", script),
        ],
    );
    let listen = free_port();
    let sidecar = Sidecar::start(
        &cm.root.join("nodes.conf"),
        &out.join("custom_metrics.prom"),
        &[&format!("--listen=127.0.0.1:{listen}")],
    );
    sidecar.wait_for("edge_n ", Duration::from_secs(5));

    let port = free_port();
    let mut node_exporter = Command::new(NODE_EXPORTER)
        .args([
            &format!("--web.listen-address=127.0.0.1:{port}"),
            "--collector.disable-defaults",
            "--collector.textfile",
            &format!("--collector.textfile.directory={}", out.display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ready = false;
    for _ in 0..200 {
        if get(port, "/metrics").is_ok() {
            ready = true;
            break;
        }
        sleep(Duration::from_millis(20));
    }
    assert!(ready, "node_exporter did not start");

    let (mut scrapes, mut errors, mut mtimes) = (0, 0, std::collections::BTreeSet::new());
    let started = Instant::now();
    while scrapes < 3000 && started.elapsed() < Duration::from_secs(60) {
        let body = get(port, "/metrics").unwrap();
        scrapes += 1;
        if !body.contains("node_textfile_scrape_error 0") || !body.contains("edge_n ") {
            errors += 1;
        }
        if let Some(line) = body
            .lines()
            .find(|l| l.starts_with("node_textfile_mtime_seconds"))
        {
            mtimes.insert(line.to_string());
        }
    }
    let _ = node_exporter.kill();
    let _ = node_exporter.wait();
    eprintln!(
        "{scrapes} scrapes in {:?}, {errors} with a textfile error, {} file versions seen",
        started.elapsed(),
        mtimes.len()
    );
    assert!(scrapes >= 1000, "only {scrapes} scrapes");
    assert_eq!(errors, 0, "node_exporter saw a partial or unreadable file");
    assert!(
        mtimes.len() >= 2,
        "the file was not rewritten during the scrapes"
    );
    // No temporary file is left behind and none ends in .prom.
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n == "custom_metrics.prom" || n.contains(".tmp")),
        "{names:?}"
    );

    // --listen serves the same metrics.
    let served = get(listen, "/metrics").unwrap();
    assert!(served.contains("edge_n "), "{served}");
    drop(sidecar);
}

#[test]
fn bad_flags_exit_2_and_check_reports_the_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_edge-sidecar"))
        .args(["--timeout=ten", "--node-name=n"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("edge-sidecar: error: --timeout: "),
        "{stderr}"
    );

    let cm = ConfigMap::new(
        &tmp.path().join("cm"),
        &[
            ("nodes.conf", "n=good:10s,missing:5s\nm=good\n"),
            ("good.sh", GOOD),
        ],
    );
    let check = |node: &str| {
        Command::new(env!("CARGO_BIN_EXE_edge-sidecar"))
            .args([
                &format!("--config={}", cm.root.join("nodes.conf").display()),
                &format!("--node-name={node}"),
                "--check",
            ])
            .output()
            .unwrap()
    };
    let ok = check("m");
    let text = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{text}");
    assert!(text.contains("script good every 15s: bash "), "{text}");
    let bad = check("n");
    let text = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(text.contains("script missing every 5s: MISSING"), "{text}");
    let none = check("low-power");
    assert_eq!(none.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&none.stdout).contains("no sources"));
}
