//! `node_cpu_seconds_total{cpu,mode}`, `node_cpu_guest_seconds_total{cpu,mode}` from
//! `/proc/stat`, `node_cpu_info` from `/proc/cpuinfo`, the thermal throttle counters
//! from `<sysfs>/devices/system/cpu/cpuN/thermal_throttle/`, and `node_cpu_isolated`.
//! As node_exporter 1.12: `node_cpu_online{cpu}` (1.9) from `cpuN/online`, for every
//! CPU directory, unless `cpu0/online` does not exist (x86 cannot take cpu0 offline:
//! then node_exporter reports nothing); CPUs that are offline are not in `/proc/stat`
//! and so get no `node_cpu_seconds_total` (1.6); `node_cpu_flag_info{flag}` and
//! `node_cpu_bug_info{bug}` list the first CPU's flags and bugs that
//! `--collector.cpu.info.flags-include` / `bugs-include` match (either flag turns the
//! info on).
//! With the info: `edge_cpu_clock_hertz{cpu}`, the `cpu MHz` of `/proc/cpuinfo`
//! (node_exporter has no family for it): the clock of machines without cpufreq (most
//! VMs), which edge-master falls back to.
//!
//! Like node_exporter, counters never go backwards: the kernel's iowait (and, after a
//! CPU hotplug, idle) can decrease; a decrease keeps the previous value, and an idle
//! drop of 3 s or more resets that CPU's state. `/proc/cpuinfo` and the CPU topology
//! are read once and again only when the set of CPUs changes: they are the CPU's
//! identity, which does not change while it is online (node_exporter re-reads them
//! every scrape). The isolated list is read at start, as node_exporter does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Arg;

use super::stat::{parse_proc_stat, CpuTimes};
use crate::collector::{switch_args, Collector, CollectorSpec};
use crate::error::{CollectError, ConfigError};
use crate::paths::Paths;
use crate::read::{read_attribute, read_table_string, read_u64_attribute};
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "cpu",
    enabled_by_default: true,
    args: cpu_args,
    build: |ctx| {
        Ok(Box::new(Cpu::new(
            ctx.paths,
            CpuOptions {
                guest: ctx.switch("collector.cpu.guest", true),
                info: ctx.switch("collector.cpu.info", true),
                flags_include: ctx.regex(FLAGS_INCLUDE)?,
                bugs_include: ctx.regex(BUGS_INCLUDE)?,
            },
        )?))
    },
};

fn cpu_args() -> Vec<Arg> {
    let mut args = Vec::new();
    args.extend(switch_args(
        "collector.cpu.guest",
        "Enables metric node_cpu_guest_seconds_total (default: enabled).",
    ));
    args.extend(switch_args(
        "collector.cpu.info",
        "Enables metric node_cpu_info (default: enabled; node_exporter's default is disabled).",
    ));
    args.push(Arg::new(FLAGS_INCLUDE).long(FLAGS_INCLUDE).help(
        "Filter the `flags` field in cpuInfo with a value that must be a regular expression",
    ));
    args.push(
        Arg::new(BUGS_INCLUDE).long(BUGS_INCLUDE).help(
            "Filter the `bugs` field in cpuInfo with a value that must be a regular expression",
        ),
    );
    args
}

const FLAGS_INCLUDE: &str = "collector.cpu.info.flags-include";
const BUGS_INCLUDE: &str = "collector.cpu.info.bugs-include";

/// An idle counter falling this far means the CPU was replaced (hotplug).
const JUMP_BACK_SECONDS: f64 = 3.0;

#[derive(Debug, Clone, Default)]
pub struct CpuOptions {
    pub guest: bool,
    pub info: bool,
    /// The first CPU's flags and bugs to report as `node_cpu_{flag,bug}_info`.
    pub flags_include: Option<regex_lite::Regex>,
    pub bugs_include: Option<regex_lite::Regex>,
}

pub struct Cpu {
    stat_path: PathBuf,
    cpuinfo_path: PathBuf,
    options: CpuOptions,
    /// Last exported times per CPU id: the floor for the next scrape.
    last: BTreeMap<u32, CpuTimes>,
    /// Parsed cpuinfo and the CPU ids it was read for.
    info: Option<(Vec<u32>, Vec<CpuInfo>)>,
    sys_cpu_dir: PathBuf,
    /// Thermal throttle sources and the CPU ids they were found for.
    throttles: Option<(Vec<u32>, ThrottleSources)>,
    isolated: Vec<u32>,
}

/// Where each core's and package's throttle counter is: the `thermal_throttle`
/// directories of every CPU of that core or package, first CPU first (a sibling is
/// tried when the first one cannot be read, as node_exporter does).
#[derive(Debug, Default)]
struct ThrottleSources {
    cores: BTreeMap<(u64, u64), Vec<PathBuf>>,
    packages: BTreeMap<u64, Vec<PathBuf>>,
}

impl Cpu {
    pub fn new(paths: &Paths, mut options: CpuOptions) -> Result<Self, ConfigError> {
        if options.flags_include.is_some() || options.bugs_include.is_some() {
            options.info = true;
        }
        let isolated_path = paths.sys("devices/system/cpu/isolated");
        let isolated = match read_attribute(&isolated_path) {
            Ok(text) => parse_cpu_list(&text).map_err(|message| {
                ConfigError::new(
                    "--path.sysfs",
                    format!("{}: {message}", isolated_path.display()),
                )
            })?,
            Err(_) => Vec::new(),
        };
        Ok(Cpu {
            stat_path: paths.proc("stat"),
            cpuinfo_path: paths.proc("cpuinfo"),
            options,
            last: BTreeMap::new(),
            info: None,
            sys_cpu_dir: paths.sys("devices/system/cpu"),
            throttles: None,
            isolated,
        })
    }

    fn throttle_sources(&mut self, ids: &[u32]) -> &ThrottleSources {
        if !matches!(&self.throttles, Some((cached, _)) if cached == ids) {
            self.throttles = None;
        }
        let cpu_dir = &self.sys_cpu_dir;
        &self
            .throttles
            .get_or_insert_with(|| (ids.to_vec(), find_throttle_sources(cpu_dir)))
            .1
    }

    fn cpu_info(&mut self, ids: &[u32]) -> Result<&[CpuInfo], CollectError> {
        let fresh = matches!(&self.info, Some((cached, _)) if cached == ids);
        if !fresh {
            let text = read_table_string(&self.cpuinfo_path)?;
            self.info = Some((ids.to_vec(), parse_cpuinfo(&text, &self.cpuinfo_path)?));
        }
        Ok(self
            .info
            .as_ref()
            .map(|(_, info)| info.as_slice())
            .unwrap_or(&[]))
    }
}

/// Applies node_exporter's rule for counters that go backwards.
pub fn monotonic(previous: Option<&CpuTimes>, new: &CpuTimes) -> CpuTimes {
    let Some(previous) = previous else {
        return *new;
    };
    if previous.idle - new.idle >= JUMP_BACK_SECONDS {
        return *new;
    }
    let keep = |old: f64, new: f64| if new >= old { new } else { old };
    CpuTimes {
        user: keep(previous.user, new.user),
        nice: keep(previous.nice, new.nice),
        system: keep(previous.system, new.system),
        idle: keep(previous.idle, new.idle),
        iowait: keep(previous.iowait, new.iowait),
        irq: keep(previous.irq, new.irq),
        softirq: keep(previous.softirq, new.softirq),
        steal: keep(previous.steal, new.steal),
        guest: keep(previous.guest, new.guest),
        guest_nice: keep(previous.guest_nice, new.guest_nice),
    }
}

impl Collector for Cpu {
    fn update(&mut self, sources: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let stat = parse_proc_stat(sources.table(&self.stat_path)?, &self.stat_path)?;
        let mut next = BTreeMap::new();
        for (id, times) in &stat.cpus {
            next.insert(*id, monotonic(self.last.get(id), times));
        }
        // CPUs that went offline drop out instead of repeating stale values.
        self.last = next;

        let seconds = out.family(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
            MetricKind::Counter,
        );
        let mut label = String::new();
        for (id, t) in &self.last {
            label.clear();
            label.push_str(&id.to_string());
            for (mode, value) in [
                ("idle", t.idle),
                ("iowait", t.iowait),
                ("irq", t.irq),
                ("nice", t.nice),
                ("softirq", t.softirq),
                ("steal", t.steal),
                ("system", t.system),
                ("user", t.user),
            ] {
                seconds.push(&[("cpu", &label), ("mode", mode)], value);
            }
        }
        if self.options.guest {
            let guest = out.family(
                "node_cpu_guest_seconds_total",
                "Seconds the CPUs spent in guests (VMs) for each mode.",
                MetricKind::Counter,
            );
            for (id, t) in &self.last {
                let cpu = id.to_string();
                guest.push(&[("cpu", &cpu), ("mode", "nice")], t.guest_nice);
                guest.push(&[("cpu", &cpu), ("mode", "user")], t.guest);
            }
        }
        let ids: Vec<u32> = self.last.keys().copied().collect();
        let sources = self.throttle_sources(&ids);
        for ((package, core), dirs) in &sources.cores {
            if let Some(count) = first_readable(dirs, "core_throttle_count") {
                out.counter(
                    "node_cpu_core_throttles_total",
                    "Number of times this CPU core has been throttled.",
                    &[
                        ("core", &core.to_string()),
                        ("package", &package.to_string()),
                    ],
                    count,
                );
            }
        }
        for (package, dirs) in &sources.packages {
            if let Some(count) = first_readable(dirs, "package_throttle_count") {
                out.counter(
                    "node_cpu_package_throttles_total",
                    "Number of times this CPU package has been throttled.",
                    &[("package", &package.to_string())],
                    count,
                );
            }
        }
        for cpu in &self.isolated {
            out.gauge(
                "node_cpu_isolated",
                "Whether each core is isolated, information from /sys/devices/system/cpu/isolated.",
                &[("cpu", &cpu.to_string())],
                1.0,
            );
        }
        record_online(&online_states(&self.sys_cpu_dir), out);
        if self.options.info {
            self.cpu_info(&ids)?;
            let info = self
                .info
                .as_ref()
                .map_or(&[][..], |(_, info)| info.as_slice());
            let (flags_include, bugs_include) =
                (&self.options.flags_include, &self.options.bugs_include);
            if let Some(first) = info.first() {
                for (filter, list, name, label, help) in [
                    (
                        flags_include,
                        &first.flags,
                        "node_cpu_flag_info",
                        "flag",
                        "The `flags` field of CPU information from /proc/cpuinfo taken from the first core.",
                    ),
                    (
                        bugs_include,
                        &first.bugs,
                        "node_cpu_bug_info",
                        "bug",
                        "The `bugs` field of CPU information from /proc/cpuinfo taken from the first core.",
                    ),
                ] {
                    let Some(filter) = filter else { continue };
                    let mut values: Vec<&str> =
                        list.split_whitespace().filter(|v| filter.is_match(v)).collect();
                    // node_exporter's order: by label value.
                    values.sort_unstable();
                    values.dedup();
                    for value in values {
                        out.gauge(name, help, &[(label, value)], 1.0);
                    }
                }
            }
            let family = out.family(
                "node_cpu_info",
                "CPU information from /proc/cpuinfo.",
                MetricKind::Gauge,
            );
            for cpu in info {
                family.push(
                    &[
                        ("cachesize", &cpu.cache_size),
                        ("core", &cpu.core_id),
                        ("cpu", &cpu.processor),
                        ("family", &cpu.family),
                        ("microcode", &cpu.microcode),
                        ("model", &cpu.model),
                        ("model_name", &cpu.model_name),
                        ("package", &cpu.physical_id),
                        ("stepping", &cpu.stepping),
                        ("vendor", &cpu.vendor),
                    ],
                    1.0,
                );
            }
            let clocks: Vec<(&str, f64)> = info
                .iter()
                .filter_map(|cpu| Some((cpu.processor.as_str(), cpu.mhz?)))
                .collect();
            if !clocks.is_empty() {
                let family = out.family(
                    "edge_cpu_clock_hertz",
                    "CPU clock from the cpu MHz line of /proc/cpuinfo, read with node_cpu_info (when the set of CPUs changes).",
                    MetricKind::Gauge,
                );
                for (cpu, mhz) in clocks {
                    family.push(&[("cpu", cpu)], mhz * 1e6);
                }
            }
        }
        Ok(())
    }
}

/// `cpuN/online` of every CPU directory, as (N, online); empty when `cpu0/online` does
/// not exist (node_exporter then reports no `node_cpu_online` at all).
fn online_states(cpu_dir: &Path) -> Vec<(String, bool)> {
    if matches!(
        std::fs::metadata(cpu_dir.join("cpu0/online")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound
    ) {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(cpu_dir) else {
        return Vec::new();
    };
    let mut states: Vec<(String, bool)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let number = name.to_str()?.strip_prefix("cpu")?;
            if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let online = read_attribute(&entry.path().join("online")).is_ok_and(|v| v == "1");
            Some((number.to_string(), online))
        })
        .collect();
    states.sort();
    states
}

fn record_online(states: &[(String, bool)], out: &mut MetricSet) {
    for (cpu, online) in states {
        out.gauge(
            "node_cpu_online",
            "CPUs that are online and being scheduled.",
            &[("cpu", cpu)],
            if *online { 1.0 } else { 0.0 },
        );
    }
}

fn first_readable(dirs: &[PathBuf], file: &str) -> Option<f64> {
    dirs.iter()
        .find_map(|dir| read_u64_attribute(&dir.join(file)).ok())
        .map(|count| count as f64)
}

/// Groups the CPUs under `cpu_dir` by package and core; CPUs without a readable
/// topology or without `thermal_throttle/` (VMs, ARM) are left out.
fn find_throttle_sources(cpu_dir: &Path) -> ThrottleSources {
    let mut sources = ThrottleSources::default();
    let Ok(entries) = std::fs::read_dir(cpu_dir) else {
        return sources;
    };
    let mut cpus: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let number = name.strip_prefix("cpu")?;
            (!number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
                .then(|| (name.clone(), e.path()))
        })
        .collect();
    // node_exporter globs, so CPUs come in lexical order (cpu10 before cpu2).
    cpus.sort();
    for (_, dir) in cpus {
        let throttle = dir.join("thermal_throttle");
        if !throttle.is_dir() {
            continue;
        }
        let (Ok(package), Ok(core)) = (
            read_u64_attribute(&dir.join("topology/physical_package_id")),
            read_u64_attribute(&dir.join("topology/core_id")),
        ) else {
            continue;
        };
        sources
            .cores
            .entry((package, core))
            .or_default()
            .push(throttle.clone());
        sources.packages.entry(package).or_default().push(throttle);
    }
    sources
}

/// The most CPUs a list may name: the kernel's largest `NR_CPUS`. A list naming
/// more (`0-4294967295`, found by fuzz/) is refused, not allocated.
pub const MAX_CPUS: u32 = 8192;

/// A kernel CPU list that does not read as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a CPU list of at most {MAX_CPUS} CPUs: {0:?}")]
pub struct CpuListError(String);

/// Parses a kernel CPU list such as `1,3-5`.
pub fn parse_cpu_list(text: &str) -> Result<Vec<u32>, CpuListError> {
    let mut cpus = Vec::new();
    let invalid = || CpuListError(text.to_owned());
    for item in text.trim().split(',').filter(|i| !i.is_empty()) {
        let number = |s: &str| {
            s.trim()
                .parse::<u32>()
                .ok()
                .filter(|cpu| *cpu < MAX_CPUS)
                .ok_or_else(invalid)
        };
        if cpus.len() >= MAX_CPUS as usize {
            return Err(invalid());
        }
        match item.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (number(from)?, number(to)?);
                if from > to || cpus.len() + (to - from) as usize >= MAX_CPUS as usize {
                    return Err(invalid());
                }
                cpus.extend(from..=to);
            }
            None => cpus.push(number(item)?),
        }
    }
    Ok(cpus)
}

/// The identity of one logical CPU, as node_cpu_info labels it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuInfo {
    pub processor: String,
    pub vendor: String,
    pub family: String,
    pub model: String,
    pub model_name: String,
    pub stepping: String,
    pub microcode: String,
    pub cache_size: String,
    pub physical_id: String,
    pub core_id: String,
    /// `cpu MHz`, where the kernel gives one (x86; not ARM).
    pub mhz: Option<f64>,
    /// The `flags` and `bugs` lines, space separated (x86).
    pub flags: String,
    pub bugs: String,
}

/// Parses `/proc/cpuinfo` as node_exporter's procfs does. x86 keys map one to one.
/// On ARM only `model name` is used (node_exporter leaves vendor, family, model and
/// stepping empty there, so we do too: the labels are series identity), and a leading
/// `Processor : <name>` (32-bit ARM) is the model name of every CPU.
pub fn parse_cpuinfo(text: &str, path: &Path) -> Result<Vec<CpuInfo>, CollectError> {
    let mut cpus: Vec<CpuInfo> = Vec::new();
    let mut common_model_name = String::new();
    for (index, line) in text.lines().enumerate() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim();
        let value = value.trim().to_string();
        if key == "processor" {
            if value.parse::<u32>().is_err() {
                return Err(CollectError::parse(
                    path,
                    index + 1,
                    format!("processor: not a CPU number: {value:?}"),
                ));
            }
            cpus.push(CpuInfo {
                processor: value,
                model_name: common_model_name.clone(),
                ..CpuInfo::default()
            });
            continue;
        }
        let Some(cpu) = cpus.last_mut() else {
            if key == "Processor" {
                common_model_name = value;
            }
            continue;
        };
        match key {
            "vendor_id" | "vendor" => cpu.vendor = value,
            "cpu family" => cpu.family = value,
            "model" => cpu.model = value,
            "model name" => cpu.model_name = value,
            "stepping" => cpu.stepping = value,
            "microcode" => cpu.microcode = value,
            "cache size" => cpu.cache_size = value,
            "physical id" => cpu.physical_id = value,
            "core id" => cpu.core_id = value,
            "flags" => cpu.flags = value,
            "bugs" => cpu.bugs = value,
            "cpu MHz" => {
                let mhz = value
                    .parse::<f64>()
                    .ok()
                    .filter(|mhz| mhz.is_finite() && *mhz >= 0.0);
                if mhz.is_none() {
                    return Err(CollectError::parse(
                        path,
                        index + 1,
                        format!("cpu MHz: not a clock: {value:?}"),
                    ));
                }
                cpu.mhz = mhz;
            }
            _ => {}
        }
    }
    if cpus.is_empty() {
        return Err(CollectError::parse(path, 0, "no `processor` lines"));
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(idle: f64, iowait: f64, user: f64) -> CpuTimes {
        CpuTimes {
            idle,
            iowait,
            user,
            ..CpuTimes::default()
        }
    }

    #[test]
    fn counters_never_go_backwards() {
        let first = times(100.0, 5.0, 10.0);
        let second = monotonic(Some(&first), &times(101.0, 4.5, 11.0));
        assert_eq!(second.iowait, 5.0, "iowait decrease keeps the old value");
        assert_eq!(second.idle, 101.0);
        assert_eq!(second.user, 11.0);
        // Idle falling 3 s or more is a hotplug: take the new values as they are.
        let replaced = monotonic(Some(&second), &times(2.0, 0.1, 0.5));
        assert_eq!(replaced, times(2.0, 0.1, 0.5));
        // Less than 3 s: kept.
        let jitter = monotonic(Some(&second), &times(99.0, 5.0, 11.0));
        assert_eq!(jitter.idle, 101.0);
    }

    #[test]
    fn parses_x86_cpuinfo() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 158\nmodel name\t: Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz\nstepping\t: 10\nmicrocode\t: 0xf0\ncpu MHz\t\t: 800.000\ncache size\t: 12288 KB\nphysical id\t: 0\ncore id\t\t: 3\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\ncore id\t\t: 4\n";
        let cpus = parse_cpuinfo(text, Path::new("cpuinfo")).unwrap();
        assert_eq!(cpus.len(), 2);
        assert_eq!(
            cpus[0],
            CpuInfo {
                processor: "0".into(),
                vendor: "GenuineIntel".into(),
                family: "6".into(),
                model: "158".into(),
                model_name: "Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz".into(),
                stepping: "10".into(),
                microcode: "0xf0".into(),
                cache_size: "12288 KB".into(),
                physical_id: "0".into(),
                core_id: "3".into(),
                mhz: Some(800.0),
                ..CpuInfo::default()
            }
        );
        assert_eq!(cpus[1].core_id, "4");
        assert_eq!(cpus[1].model_name, "");
        assert_eq!(cpus[1].mhz, None);
        let err =
            parse_cpuinfo("processor : 0\ncpu MHz : fast\n", Path::new("cpuinfo")).unwrap_err();
        assert_eq!(err.to_string(), "cpuinfo:2: cpu MHz: not a clock: \"fast\"");
    }

    #[test]
    fn the_cpuinfo_clock_is_exported_without_cpufreq() {
        // A machine without cpufreq (a VM): /proc only, no sysfs CPU directory.
        let dir = tempfile::tempdir().unwrap();
        let proc_dir = dir.path().join("proc");
        std::fs::create_dir_all(&proc_dir).unwrap();
        std::fs::write(
            proc_dir.join("stat"),
            "cpu0 1 0 1 10 0 0 0 0 0 0\ncpu1 1 0 1 10 0 0 0 0 0 0\n",
        )
        .unwrap();
        std::fs::write(
            proc_dir.join("cpuinfo"),
            "processor\t: 0\ncpu MHz\t\t: 2299.998\n\nprocessor\t: 1\ncpu MHz\t\t: 1800.5\n",
        )
        .unwrap();
        let paths = Paths {
            procfs: proc_dir.clone(),
            sysfs: dir.path().join("sys"),
            ..Paths::default()
        };
        let options = CpuOptions {
            guest: false,
            info: true,
            ..CpuOptions::default()
        };
        let mut out = MetricSet::new();
        Cpu::new(&paths, options.clone())
            .unwrap()
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        let clock = |cpu: &str| out.value("edge_cpu_clock_hertz", &[("cpu", cpu)]);
        assert_eq!(clock("0"), Some(2_299_998_000.0));
        assert_eq!(clock("1"), Some(1_800_500_000.0));
        // ARM's cpuinfo has no clock: no family at all.
        std::fs::write(
            proc_dir.join("cpuinfo"),
            "processor\t: 0\nBogoMIPS\t: 108.00\n\nprocessor\t: 1\n",
        )
        .unwrap();
        let mut out = MetricSet::new();
        Cpu::new(&paths, options)
            .unwrap()
            .update(&mut Sources::default(), &mut out)
            .unwrap();
        assert!(out.get("edge_cpu_clock_hertz").is_none());
        assert!(out.get("node_cpu_info").is_some());
    }

    #[test]
    fn parses_arm_cpuinfo() {
        let text = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\nprocessor\t: 1\nCPU implementer\t: 0x41\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";
        let cpus = parse_cpuinfo(text, Path::new("cpuinfo")).unwrap();
        assert_eq!(cpus.len(), 2);
        // As node_exporter 1.5: ARM's implementer/part codes are not mapped.
        assert_eq!(cpus[1].processor, "1");
        assert_eq!((cpus[0].vendor.as_str(), cpus[0].model.as_str()), ("", ""));
        let text = "Processor\t: ARMv7 Processor rev 4 (v7l)\nprocessor\t: 0\nBogoMIPS\t: 38.40\n";
        let cpus = parse_cpuinfo(text, Path::new("cpuinfo")).unwrap();
        assert_eq!(cpus[0].model_name, "ARMv7 Processor rev 4 (v7l)");
    }

    #[test]
    fn parses_cpu_lists() {
        assert_eq!(parse_cpu_list("1,3-5\n").unwrap(), vec![1, 3, 4, 5]);
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<u32>::new());
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
        // Found by fuzz/: a range naming 4 billion CPUs asked for a 16 GiB vector.
        assert!(parse_cpu_list("0-4294967295").is_err());
        assert!(parse_cpu_list("0-3,7-803507508").is_err());
        assert_eq!(parse_cpu_list("0-8191").unwrap().len(), 8192);
        assert!(parse_cpu_list("0-8191,8191").is_err());
    }

    #[test]
    fn throttle_counters_per_core_and_package() {
        let dir = tempfile::tempdir().unwrap();
        let proc_dir = dir.path().join("proc");
        std::fs::create_dir_all(&proc_dir).unwrap();
        std::fs::write(
            proc_dir.join("stat"),
            "cpu0 1 0 1 10 0 0 0 0 0 0\ncpu1 1 0 1 10 0 0 0 0 0 0\ncpu2 1 0 1 10 0 0 0 0 0 0\n",
        )
        .unwrap();
        // cpu0 and cpu1 are hyper-threads of core 0; cpu2 is core 1; cpu0's core count
        // is unreadable, so its sibling's is used.
        for (cpu, core, core_count, package_count) in [
            (0, 0, None, Some(7)),
            (1, 0, Some(3), Some(7)),
            (2, 1, Some(4), Some(7)),
        ] {
            let base = dir.path().join(format!("sys/devices/system/cpu/cpu{cpu}"));
            std::fs::create_dir_all(base.join("topology")).unwrap();
            std::fs::create_dir_all(base.join("thermal_throttle")).unwrap();
            std::fs::write(base.join("topology/physical_package_id"), "0\n").unwrap();
            std::fs::write(base.join("topology/core_id"), format!("{core}\n")).unwrap();
            if let Some(count) = core_count {
                std::fs::write(
                    base.join("thermal_throttle/core_throttle_count"),
                    format!("{count}\n"),
                )
                .unwrap();
            }
            if let Some(count) = package_count {
                std::fs::write(
                    base.join("thermal_throttle/package_throttle_count"),
                    format!("{count}\n"),
                )
                .unwrap();
            }
        }
        std::fs::write(dir.path().join("sys/devices/system/cpu/isolated"), "2\n").unwrap();
        let paths = Paths {
            procfs: proc_dir,
            sysfs: dir.path().join("sys"),
            ..Paths::default()
        };
        let mut cpu = Cpu::new(
            &paths,
            CpuOptions {
                guest: false,
                info: false,
                ..CpuOptions::default()
            },
        )
        .unwrap();
        let mut out = MetricSet::new();
        cpu.update(&mut Sources::default(), &mut out).unwrap();
        let core = |c: &str| {
            out.value(
                "node_cpu_core_throttles_total",
                &[("core", c), ("package", "0")],
            )
        };
        assert_eq!(core("0"), Some(3.0));
        assert_eq!(core("1"), Some(4.0));
        assert_eq!(
            out.value("node_cpu_package_throttles_total", &[("package", "0")]),
            Some(7.0)
        );
        assert_eq!(
            out.get("node_cpu_package_throttles_total")
                .map(|f| f.samples().len()),
            Some(1)
        );
        assert_eq!(out.value("node_cpu_isolated", &[("cpu", "2")]), Some(1.0));
        assert_eq!(
            out.value("node_cpu_seconds_total", &[("cpu", "2"), ("mode", "idle")]),
            Some(0.1)
        );

        std::fs::write(dir.path().join("sys/devices/system/cpu/isolated"), "x\n").unwrap();
        let err = Cpu::new(
            &paths,
            CpuOptions {
                guest: false,
                info: false,
                ..CpuOptions::default()
            },
        )
        .err()
        .unwrap();
        assert!(
            err.to_string().contains("isolated: not a CPU list"),
            "{err}"
        );
    }

    #[test]
    fn rejects_unreadable_cpuinfo() {
        let err = parse_cpuinfo("processor : zero\n", Path::new("cpuinfo")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cpuinfo:1: processor: not a CPU number: \"zero\""
        );
        let err = parse_cpuinfo("garbage\n", Path::new("cpuinfo")).unwrap_err();
        assert_eq!(err.to_string(), "cpuinfo:0: no `processor` lines");
    }

    #[test]
    fn flag_and_bug_info_on_the_fixture_tree() {
        let options = CpuOptions {
            guest: true,
            info: false,
            flags_include: regex_lite::Regex::new("^(aes|avx.?|constant_tsc)$").ok(),
            bugs_include: regex_lite::Regex::new("^(cpu_meltdown|spectre_.*|mds)$").ok(),
        };
        let mut cpu = Cpu::new(&crate::test_support::fixture_paths(), options).unwrap();
        let mut out = MetricSet::new();
        cpu.update(&mut Sources::default(), &mut out).unwrap();
        let values = |name: &str| -> Vec<String> {
            out.get(name)
                .map(|f| f.samples().iter().map(|s| s.labels[0].1.clone()).collect())
                .unwrap_or_default()
        };
        assert_eq!(
            values("node_cpu_flag_info"),
            ["aes", "avx", "avx2", "constant_tsc"]
        );
        assert_eq!(
            values("node_cpu_bug_info"),
            ["cpu_meltdown", "mds", "spectre_v1", "spectre_v2"]
        );
        assert_eq!(
            out.get("node_cpu_bug_info").unwrap().help,
            "The `bugs` field of CPU information from /proc/cpuinfo taken from the first core."
        );
        // Either include flag turns node_cpu_info on.
        assert_eq!(out.get("node_cpu_info").unwrap().samples().len(), 4);
        // x86: cpu0 has no online file, so no node_cpu_online (as node_exporter).
        assert!(out.get("node_cpu_online").is_none());
        // Without the include flags, no flag or bug families.
        let options = CpuOptions {
            guest: true,
            info: true,
            ..CpuOptions::default()
        };
        let mut cpu = Cpu::new(&crate::test_support::fixture_paths(), options).unwrap();
        let mut out = MetricSet::new();
        cpu.update(&mut Sources::default(), &mut out).unwrap();
        assert!(out.get("node_cpu_flag_info").is_none() && out.get("node_cpu_bug_info").is_none());
    }

    #[test]
    fn online_state_of_every_cpu_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cpu_dir = dir.path();
        for (cpu, online) in [
            ("cpu0", Some("1")),
            ("cpu1", Some("0")),
            ("cpu2", Some("1")),
            ("cpu10", None),
        ] {
            std::fs::create_dir_all(cpu_dir.join(cpu)).unwrap();
            if let Some(online) = online {
                std::fs::write(cpu_dir.join(cpu).join("online"), format!("{online}\n")).unwrap();
            }
        }
        std::fs::create_dir_all(cpu_dir.join("cpufreq")).unwrap();
        std::fs::create_dir_all(cpu_dir.join("cpuidle")).unwrap();
        let mut out = MetricSet::new();
        record_online(&online_states(cpu_dir), &mut out);
        let state = |cpu| out.value("node_cpu_online", &[("cpu", cpu)]);
        assert_eq!(state("0"), Some(1.0));
        assert_eq!(state("1"), Some(0.0));
        assert_eq!(state("2"), Some(1.0));
        assert_eq!(state("10"), Some(0.0), "unreadable counts as offline");
        assert_eq!(out.get("node_cpu_online").unwrap().samples().len(), 4);
        assert_eq!(
            out.get("node_cpu_online").unwrap().help,
            "CPUs that are online and being scheduled."
        );
        // Without cpu0/online (x86), nothing at all.
        std::fs::remove_file(cpu_dir.join("cpu0/online")).unwrap();
        assert!(online_states(cpu_dir).is_empty());
    }

    #[test]
    fn a_cpu_taken_offline_is_no_longer_reported() {
        // node_exporter 1.6 (#2605): the CPU's cached times are dropped, not repeated.
        let dir = tempfile::tempdir().unwrap();
        let stat = dir.path().join("stat");
        std::fs::write(
            &stat,
            "cpu 4 0 0 0\ncpu0 1 0 0 0\ncpu1 1 0 0 0\ncpu2 1 0 0 0\n",
        )
        .unwrap();
        let paths = Paths {
            procfs: dir.path().to_path_buf(),
            sysfs: dir.path().join("sys"),
            ..Paths::default()
        };
        let options = CpuOptions {
            guest: true,
            ..CpuOptions::default()
        };
        let mut cpu = Cpu::new(&paths, options).unwrap();
        let idle = |out: &MetricSet, id| {
            out.value("node_cpu_seconds_total", &[("cpu", id), ("mode", "user")])
        };
        let mut out = MetricSet::new();
        cpu.update(&mut Sources::default(), &mut out).unwrap();
        assert_eq!(idle(&out, "1"), Some(0.01));
        std::fs::write(&stat, "cpu 4 0 0 0\ncpu0 2 0 0 0\ncpu2 2 0 0 0\n").unwrap();
        let mut out = MetricSet::new();
        cpu.update(&mut Sources::default(), &mut out).unwrap();
        assert_eq!(idle(&out, "1"), None);
        assert_eq!(idle(&out, "2"), Some(0.02));
        assert!(out
            .value(
                "node_cpu_guest_seconds_total",
                &[("cpu", "1"), ("mode", "user")]
            )
            .is_none());
    }
}
