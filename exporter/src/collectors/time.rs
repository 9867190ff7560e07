//! `node_time_seconds`, `node_time_zone_offset_seconds{time_zone}` and the clock
//! sources from `<sysfs>/devices/system/clocksource/clocksource*/`.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_attribute;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "time",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Time::new(ctx.paths))),
};

pub struct Time {
    clocksource_dir: PathBuf,
}

impl Time {
    pub fn new(paths: &Paths) -> Self {
        Time {
            clocksource_dir: paths.sys("devices/system/clocksource"),
        }
    }
}

/// The local zone's abbreviation and offset east of UTC at `unix_seconds`.
pub fn local_zone(unix_seconds: i64) -> Option<(String, i64)> {
    let t: libc::time_t = unix_seconds as libc::time_t;
    // SAFETY: localtime_r writes only into the `tm` we own; tm_zone then points to
    // static storage inside libc that lives for the whole process.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        let zone = if tm.tm_zone.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(tm.tm_zone)
                .to_string_lossy()
                .into_owned()
        };
        Some((zone, tm.tm_gmtoff))
    }
}

impl Collector for Time {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let now =
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_err(|e| CollectError::System {
                    context: "system clock before 1970".into(),
                    source: std::io::Error::other(e),
                })?;
        out.gauge(
            "node_time_seconds",
            "System time in seconds since epoch (1970).",
            &[],
            now.as_secs_f64(),
        );
        if let Some((zone, offset)) = local_zone(now.as_secs() as i64) {
            out.gauge(
                "node_time_zone_offset_seconds",
                "System time zone offset in seconds.",
                &[("time_zone", &zone)],
                offset as f64,
            );
        }
        self.clocksources(out);
        Ok(())
    }
}

impl Time {
    /// Clock sources are optional (containers may hide them): absent means none.
    fn clocksources(&self, out: &mut MetricSet) {
        let Ok(entries) = std::fs::read_dir(&self.clocksource_dir) else {
            return;
        };
        let mut dirs: Vec<(String, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let number = name.strip_prefix("clocksource")?;
                (!number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| (name.clone(), e.path()))
            })
            .collect();
        // node_exporter labels a clock source by its position in the sorted listing.
        dirs.sort();
        let devices = dirs
            .into_iter()
            .enumerate()
            .map(|(position, (_, dir))| (position.to_string(), dir));
        for (device, dir) in devices {
            if let Ok(available) = read_attribute(&dir.join("available_clocksource")) {
                let family = out.family(
                    "node_time_clocksource_available_info",
                    "Available clocksources read from '/sys/devices/system/clocksource'.",
                    MetricKind::Gauge,
                );
                for source in available.split_whitespace() {
                    family.push(&[("clocksource", source), ("device", &device)], 1.0);
                }
            }
            if let Ok(current) = read_attribute(&dir.join("current_clocksource")) {
                out.gauge(
                    "node_time_clocksource_current_info",
                    "Current clocksource read from '/sys/devices/system/clocksource'.",
                    &[("clocksource", &current), ("device", &device)],
                    1.0,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_clock_and_clocksources() {
        let dir = tempfile::tempdir().unwrap();
        let cs = dir.path().join("devices/system/clocksource/clocksource0");
        std::fs::create_dir_all(&cs).unwrap();
        std::fs::write(cs.join("available_clocksource"), "tsc hpet acpi_pm \n").unwrap();
        std::fs::write(cs.join("current_clocksource"), "tsc\n").unwrap();
        let paths = Paths {
            sysfs: dir.path().to_path_buf(),
            ..Paths::default()
        };
        let mut out = MetricSet::new();
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        Time::new(&paths)
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        let now = out.value("node_time_seconds", &[]).unwrap();
        assert!(now >= before && now < before + 5.0);
        let available = out.get("node_time_clocksource_available_info").unwrap();
        assert_eq!(available.samples().len(), 3);
        assert_eq!(
            out.value(
                "node_time_clocksource_current_info",
                &[("clocksource", "tsc"), ("device", "0")]
            ),
            Some(1.0)
        );
    }
}
