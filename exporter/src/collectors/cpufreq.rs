//! CPU frequencies from `<sysfs>/devices/system/cpu/cpuN/cpufreq/`, in hertz (sysfs
//! gives kHz). A machine without cpufreq (most VMs) reports nothing, successfully.
//!
//! The hardware limits (`cpuinfo_min_freq`, `cpuinfo_max_freq`) are read once per CPU;
//! current frequencies and the scaling limits (which governors and thermal daemons
//! change) every scrape.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_u64_attribute;
use crate::sources::Sources;
use edge_common::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "cpufreq",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(CpuFreq::new(ctx.paths))),
};

pub struct CpuFreq {
    cpu_dir: PathBuf,
    /// Per CPU number: its cpufreq directory and hardware limits in kHz.
    limits: BTreeMap<u32, (PathBuf, Option<u64>, Option<u64>)>,
}

impl CpuFreq {
    pub fn new(paths: &Paths) -> Self {
        CpuFreq {
            cpu_dir: paths.sys("devices/system/cpu"),
            limits: BTreeMap::new(),
        }
    }

    /// The CPUs that have a cpufreq directory now.
    fn cpus(&self) -> Result<Vec<(u32, PathBuf)>, CollectError> {
        let entries =
            std::fs::read_dir(&self.cpu_dir).map_err(|e| CollectError::read(&self.cpu_dir, e))?;
        let mut cpus = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(number) = name
                .to_str()
                .and_then(|n| n.strip_prefix("cpu"))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let dir = entry.path().join("cpufreq");
            if dir.is_dir() {
                cpus.push((number, dir));
            }
        }
        cpus.sort();
        Ok(cpus)
    }
}

fn khz(dir: &Path, file: &str) -> Option<u64> {
    // cpuinfo_cur_freq is readable by root only; absent values are simply not exported.
    read_u64_attribute(&dir.join(file)).ok()
}

impl Collector for CpuFreq {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let cpus = self.cpus()?;
        self.limits
            .retain(|n, (dir, _, _)| cpus.iter().any(|(m, d)| m == n && d == dir));
        for (number, dir) in cpus {
            let (_, min, max) = self.limits.entry(number).or_insert_with(|| {
                let min = khz(&dir, "cpuinfo_min_freq");
                let max = khz(&dir, "cpuinfo_max_freq");
                (dir.clone(), min, max)
            });
            let (min, max) = (*min, *max);
            let cpu = number.to_string();
            let values = [
                (
                    "node_cpu_frequency_hertz",
                    "Current cpu thread frequency in hertz.",
                    khz(&dir, "cpuinfo_cur_freq"),
                ),
                (
                    "node_cpu_frequency_max_hertz",
                    "Maximum cpu thread frequency in hertz.",
                    max,
                ),
                (
                    "node_cpu_frequency_min_hertz",
                    "Minimum cpu thread frequency in hertz.",
                    min,
                ),
                (
                    "node_cpu_scaling_frequency_hertz",
                    "Current scaled CPU thread frequency in hertz.",
                    khz(&dir, "scaling_cur_freq"),
                ),
                (
                    "node_cpu_scaling_frequency_max_hertz",
                    "Maximum scaled CPU thread frequency in hertz.",
                    khz(&dir, "scaling_max_freq"),
                ),
                (
                    "node_cpu_scaling_frequency_min_hertz",
                    "Minimum scaled CPU thread frequency in hertz.",
                    khz(&dir, "scaling_min_freq"),
                ),
            ];
            for (name, help, value) in values {
                if let Some(value) = value {
                    out.gauge(name, help, &[("cpu", &cpu)], value as f64 * 1000.0);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_hertz_and_caches_hardware_limits() {
        let dir = tempfile::tempdir().unwrap();
        let freq = dir.path().join("devices/system/cpu/cpu1/cpufreq");
        std::fs::create_dir_all(&freq).unwrap();
        std::fs::create_dir_all(dir.path().join("devices/system/cpu/cpuidle")).unwrap();
        for (file, value) in [
            ("cpuinfo_min_freq", "600000"),
            ("cpuinfo_max_freq", "1500000"),
            ("scaling_cur_freq", "1200000"),
            ("scaling_min_freq", "600000"),
            ("scaling_max_freq", "1500000"),
        ] {
            std::fs::write(freq.join(file), format!("{value}\n")).unwrap();
        }
        let paths = Paths {
            sysfs: dir.path().to_path_buf(),
            ..Paths::default()
        };
        let mut collector = CpuFreq::new(&paths);
        let mut out = MetricSet::new();
        collector.update(&mut Sources::default(), &mut out).unwrap();
        let get = |out: &MetricSet, name| out.value(name, &[("cpu", "1")]);
        assert_eq!(get(&out, "node_cpu_scaling_frequency_hertz"), Some(1.2e9));
        assert_eq!(get(&out, "node_cpu_frequency_max_hertz"), Some(1.5e9));
        assert_eq!(get(&out, "node_cpu_frequency_min_hertz"), Some(6e8));
        assert_eq!(
            get(&out, "node_cpu_frequency_hertz"),
            None,
            "no cpuinfo_cur_freq"
        );

        // The governor moves the current frequency; hardware limits are not re-read.
        std::fs::write(freq.join("scaling_cur_freq"), "600000\n").unwrap();
        std::fs::write(freq.join("cpuinfo_max_freq"), "999\n").unwrap();
        let mut out = MetricSet::new();
        collector.update(&mut Sources::default(), &mut out).unwrap();
        assert_eq!(get(&out, "node_cpu_scaling_frequency_hertz"), Some(6e8));
        assert_eq!(get(&out, "node_cpu_frequency_max_hertz"), Some(1.5e9));
    }
}
