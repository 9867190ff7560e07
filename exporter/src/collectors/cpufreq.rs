//! CPU frequencies from `<sysfs>/devices/system/cpu/cpuN/cpufreq/`, in hertz (sysfs
//! gives kHz). A machine without cpufreq (most VMs) reports nothing, successfully.
//!
//! The hardware limits (`cpuinfo_min_freq`, `cpuinfo_max_freq`) and the available
//! governors are read once per CPU; current frequencies, the scaling limits (which
//! governors and thermal daemons change) and the governor every scrape.
//!
//! As node_exporter 1.12: `node_cpu_scaling_governor{cpu,governor}` (1.6) is 1 for the
//! current governor and 0 for each other available one; `node_cpu_frequency_avg_hertz`
//! comes from `cpuinfo_avg_freq` (kernel 6.13+) where the kernel has it; HELP texts say
//! "CPU" (1.5 said "cpu").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::{read_attribute, read_u64_attribute};
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
    /// Per CPU number: its cpufreq directory, hardware limits in kHz and available governors.
    limits: BTreeMap<u32, Fixed>,
}

/// What the kernel does not change while a CPU's cpufreq policy exists.
struct Fixed {
    dir: PathBuf,
    min: Option<u64>,
    max: Option<u64>,
    governors: Vec<String>,
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
            .retain(|n, fixed| cpus.iter().any(|(m, d)| m == n && *d == fixed.dir));
        let mut governors = Vec::new();
        for (number, dir) in cpus {
            let fixed = self.limits.entry(number).or_insert_with(|| Fixed {
                min: khz(&dir, "cpuinfo_min_freq"),
                max: khz(&dir, "cpuinfo_max_freq"),
                // Go splits the trimmed text on single spaces.
                governors: read_attribute(&dir.join("scaling_available_governors"))
                    .map(|text| text.split(' ').map(str::to_string).collect())
                    .unwrap_or_default(),
                dir: dir.clone(),
            });
            let (min, max) = (fixed.min, fixed.max);
            let cpu = number.to_string();
            if let Ok(current) = read_attribute(&dir.join("scaling_governor")) {
                if !current.is_empty() {
                    for governor in &fixed.governors {
                        let state = if *governor == current { 1.0 } else { 0.0 };
                        governors.push((cpu.clone(), governor.clone(), state));
                    }
                }
            }
            let values = [
                (
                    "node_cpu_frequency_hertz",
                    "Current CPU thread frequency in hertz.",
                    khz(&dir, "cpuinfo_cur_freq"),
                ),
                (
                    "node_cpu_frequency_avg_hertz",
                    "Average CPU thread frequency in hertz.",
                    khz(&dir, "cpuinfo_avg_freq"),
                ),
                (
                    "node_cpu_frequency_max_hertz",
                    "Maximum CPU thread frequency in hertz.",
                    max,
                ),
                (
                    "node_cpu_frequency_min_hertz",
                    "Minimum CPU thread frequency in hertz.",
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
        // node_exporter's order: by label values (cpu as text, then governor).
        governors.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        for (cpu, governor, state) in &governors {
            out.gauge(
                "node_cpu_scaling_governor",
                "Current enabled CPU frequency governor.",
                &[("cpu", cpu), ("governor", governor)],
                *state,
            );
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
        assert!(
            out.get("node_cpu_scaling_governor").is_none(),
            "no governor files"
        );
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

    #[test]
    fn governors_and_average_on_the_fixture_tree() {
        let paths = crate::test_support::fixture_paths();
        let mut collector = CpuFreq::new(&paths);
        let mut out = MetricSet::new();
        collector.update(&mut Sources::default(), &mut out).unwrap();
        let family = out.get("node_cpu_scaling_governor").unwrap();
        assert_eq!(family.help, "Current enabled CPU frequency governor.");
        // 4 CPUs × 6 available governors, schedutil current on each.
        assert_eq!(family.samples().len(), 24);
        for cpu in ["0", "3"] {
            let state = |g| {
                out.value(
                    "node_cpu_scaling_governor",
                    &[("cpu", cpu), ("governor", g)],
                )
            };
            assert_eq!(state("schedutil"), Some(1.0));
            assert_eq!(state("performance"), Some(0.0));
            assert_eq!(state("conservative"), Some(0.0));
        }
        assert_eq!(
            out.get("node_cpu_frequency_max_hertz").unwrap().help,
            "Maximum CPU thread frequency in hertz."
        );
        // cpuinfo_avg_freq (kernel 6.13+), distinct per CPU.
        let avg = out.get("node_cpu_frequency_avg_hertz").unwrap().samples();
        assert_eq!(avg.len(), 4);
        assert_eq!(
            out.value("node_cpu_frequency_avg_hertz", &[("cpu", "2")]),
            Some(2_209_876_000.0)
        );
    }
}
