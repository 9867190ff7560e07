//! The exporter's sysfs collectors whose parsing is private (`hwmon`'s value and
//! label reading, `thermal_zone`'s integers), reached the way the exporter reaches
//! it: a fresh collector scraping a small sysfs tree written from the input.
//!
//! The first byte picks the collector. For hwmon the rest is the chip's `name`, then
//! (after each 0xFF) up to eight files as `<file name>\n<contents>` in
//! `class/hwmon/hwmon0/`; for thermal_zone it is the contents of a zone's `type`,
//! `temp` and `policy` and a cooling device's `type`, `cur_state` and `max_state`.
//! Never panics, and the scrape renders to text the strict parser accepts.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use edge_common::exposition::MetricSet;
use edge_exporter::collector::Collector;
use edge_exporter::collectors::hwmon::Hwmon;
use edge_exporter::collectors::thermal_zone::ThermalZone;
use edge_exporter::paths::Paths;
use edge_exporter::sources::Sources;
use edge_metrics_fuzz::{parts, render_and_reparse};
use libfuzzer_sys::fuzz_target;

const MAX_FILES: usize = 8;
const THERMAL_FILES: [(&str, &str); 6] = [
    ("thermal_zone0", "type"),
    ("thermal_zone0", "temp"),
    ("thermal_zone0", "policy"),
    ("cooling_device0", "type"),
    ("cooling_device0", "cur_state"),
    ("cooling_device0", "max_state"),
];

/// One tree per fuzz process, under `$TMPDIR` (scripts/fuzz.sh points that at a
/// directory of its own and removes it after the run).
fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        std::env::temp_dir().join(format!("edge-fuzz-sysfs-{}", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let root = root();
    let _ = std::fs::remove_dir_all(root);
    let paths = Paths {
        sysfs: root.clone(),
        ..Paths::default()
    };
    let mut collector: Box<dyn Collector> = if selector % 2 == 0 {
        write_hwmon(root, rest);
        Box::new(Hwmon::new(&paths))
    } else {
        write_thermal(root, rest);
        Box::new(ThermalZone::new(&paths))
    };
    let mut out = MetricSet::new();
    if collector.update(&mut Sources::default(), &mut out).is_ok() {
        render_and_reparse(&out);
    }
});

fn write_hwmon(root: &Path, input: &[u8]) {
    let chip = root.join("class/hwmon/hwmon0");
    std::fs::create_dir_all(&chip).expect("hwmon tree");
    let parts = parts(input, MAX_FILES + 1);
    std::fs::write(chip.join("name"), parts[0]).expect("name");
    for file in &parts[1..] {
        let (name, contents) = match file.iter().position(|&b| b == b'\n') {
            Some(end) => (&file[..end], &file[end + 1..]),
            None => (*file, &[][..]),
        };
        // A name sysfs could have: one path component.
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        if name.is_empty()
            || name.len() > 64
            || name == "."
            || name == ".."
            || name.contains(['/', '\0'])
        {
            continue;
        }
        std::fs::write(chip.join(name), contents).expect("sensor file");
    }
}

fn write_thermal(root: &Path, input: &[u8]) {
    let class = root.join("class/thermal");
    for dir in ["thermal_zone0", "cooling_device0"] {
        std::fs::create_dir_all(class.join(dir)).expect("thermal tree");
    }
    for ((dir, file), contents) in THERMAL_FILES.iter().zip(parts(input, THERMAL_FILES.len())) {
        std::fs::write(class.join(dir).join(file), contents).expect("thermal file");
    }
}
