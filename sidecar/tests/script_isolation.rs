//! What a script gets from the sidecar: only the environment it is given, the user
//! `--run-as` names, and an end when the sidecar stops.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::thread::sleep;
use std::time::{Duration, Instant};

use edge_sidecar::script_env::DEFAULT_SCRIPT_PATH;
use support::{processes_with, ConfigMap, KillOnDrop, Sidecar};

#[test]
fn scripts_start_with_a_clean_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let seen = tmp.path().join("env.txt");
    let script = format!(
        "#!/bin/bash\nenv > {}.tmp && mv {0}.tmp {0}\necho vars=$(env | wc -l)\n",
        seen.display()
    );
    let cm = ConfigMap::new(
        &tmp.path().join("cm"),
        &[("nodes.conf", "test-node=env:200ms\n"), ("env.sh", &script)],
    );
    let output = tmp.path().join("custom_metrics.prom");
    let mut command = Sidecar::command(&cm.config(), &output, &["--script-env=SITE_ID,UNSET_ONE"]);
    command
        .env("AWS_SECRET_ACCESS_KEY", "do-not-leak-7f3a")
        .env("EDGE_TOKEN", "do-not-leak-either")
        .env("TZ", "UTC")
        .env("LANG", "C.UTF-8")
        .env("SITE_ID", "42")
        .env("PATH", format!("{}:/usr/bin:/bin", tmp.path().display()))
        .env_remove("UNSET_ONE");
    let sidecar = Sidecar::spawn(&mut command, &output);
    sidecar.wait_for("edge_vars ", Duration::from_secs(5));

    let text = std::fs::read_to_string(&seen).unwrap();
    assert!(!text.contains("do-not-leak"), "{text}");
    let vars: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(vars.get("PATH"), Some(&DEFAULT_SCRIPT_PATH), "{text}");
    assert_eq!(vars.get("NODE_NAME"), Some(&"test-node"));
    assert_eq!(vars.get("TZ"), Some(&"UTC"));
    assert_eq!(vars.get("LANG"), Some(&"C.UTF-8"));
    assert_eq!(vars.get("SITE_ID"), Some(&"42"));
    // Besides those, only what bash sets itself.
    let expected = [
        "PATH",
        "NODE_NAME",
        "TZ",
        "LANG",
        "SITE_ID",
        "PWD",
        "SHLVL",
        "_",
    ];
    let other: Vec<&&str> = vars.keys().filter(|k| !expected.contains(k)).collect();
    assert!(
        other.is_empty(),
        "unexpected variables {other:?} in:\n{text}"
    );
}

#[test]
fn scripts_run_as_the_run_as_user() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: --run-as needs a root sidecar, and this test runs as another user");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // nobody must reach the scripts and their directory (the tempdir is 0700).
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cm = ConfigMap::new(
        &tmp.path().join("cm"),
        &[
            ("nodes.conf", "test-node=who:200ms\n"),
            (
                "who.sh",
                "#!/bin/bash\necho uid=$(id -u)\necho gid=$(id -g)\necho groups=$(id -G | wc -w)\n",
            ),
        ],
    );
    let output = tmp.path().join("custom_metrics.prom");
    let sidecar = Sidecar::start(&cm.config(), &output, &["--run-as=nobody"]);
    sidecar.wait_for("edge_uid ", Duration::from_secs(5));
    assert_eq!(
        sidecar.value("edge_uid"),
        Some(65534.0),
        "{}",
        sidecar.text()
    );
    assert_ne!(sidecar.value("edge_gid"), Some(0.0));
    // The sidecar itself still runs as root.
    let status = std::fs::read_to_string(format!("/proc/{}/status", sidecar.pid())).unwrap();
    assert!(
        status.lines().any(|l| l.starts_with("Uid:\t0\t")),
        "{status}"
    );
}

#[test]
fn sigterm_stops_every_running_script_before_the_sidecar_exits() {
    let tmp = tempfile::tempdir().unwrap();
    // Unique script names and sleep durations find this test's processes.
    let id = std::process::id();
    let (hang, deaf) = (format!("hang_{id}"), format!("deaf_{id}"));
    let (marker, deaf_marker) = (format!("7{id}.25"), format!("7{id}.75"));
    // Dies of SIGTERM, leaving a subshell that ignores it and a sleep.
    let hang_script = format!(
        "#!/bin/bash\n\
         echo started=1\n\
         (trap '' TERM; while :; do sleep 0.05; done) &\n\
         sleep {marker} &\n\
         sleep {marker}\n"
    );
    // Ignores SIGTERM, and so does its background sleep: only SIGKILL ends them.
    let deaf_script = format!(
        "#!/bin/bash\n\
         trap '' TERM\n\
         sleep {deaf_marker} &\n\
         while :; do sleep 0.05; done\n"
    );
    let cm = ConfigMap::new(
        &tmp.path().join("cm"),
        &[
            (
                "nodes.conf",
                &format!("test-node={hang}:200ms,{deaf}:200ms\n"),
            ),
            (&format!("{hang}.sh"), &hang_script),
            (&format!("{deaf}.sh"), &deaf_script),
        ],
    );
    let markers = [
        format!("{hang}.sh"),
        format!("{deaf}.sh"),
        marker.clone(),
        deaf_marker.clone(),
    ];
    let _cleanup = KillOnDrop(markers.to_vec());
    let left = || -> Vec<String> { markers.iter().flat_map(|m| processes_with(m)).collect() };
    let output = tmp.path().join("custom_metrics.prom");
    let grace = Duration::from_millis(500);
    let mut sidecar = Sidecar::start(
        &cm.config(),
        &output,
        &[
            "--timeout=60s",
            &format!("--kill-grace={}ms", grace.as_millis()),
        ],
    );
    // The scripts, the subshell and the three sleeps.
    let started = Instant::now();
    while processes_with(&marker).len() < 2
        || processes_with(&format!("{hang}.sh")).len() < 2
        || processes_with(&format!("{deaf}.sh")).is_empty()
        || processes_with(&deaf_marker).is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the scripts did not start: {:?}",
            left()
        );
        sleep(Duration::from_millis(20));
    }

    let stopping = Instant::now();
    let status = sidecar.terminate(Duration::from_secs(5));
    let exited_after = stopping.elapsed();
    assert!(status.success(), "{status}");
    // Everything of the scripts is gone within 2 s of SIGTERM.
    loop {
        let left = left();
        if left.is_empty() {
            break;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(2),
            "left behind after the sidecar's exit: {left:?}"
        );
        sleep(Duration::from_millis(20));
    }
    eprintln!(
        "sidecar exited {exited_after:?} after SIGTERM; the scripts' processes were gone {:?} after it",
        stopping.elapsed()
    );
    // The script that ignores SIGTERM had its grace before SIGKILL.
    assert!(exited_after >= grace, "exited after {exited_after:?}");
}
