//! CPU: time shares over the window from `node_cpu_seconds_total{cpu,mode}`, load,
//! and identity from `node_cpu_info` and the frequency families.

use std::collections::{BTreeMap, BTreeSet};

use super::series::{increase, Series, Window};
use crate::model::CpuMetrics;

/// Seconds per mode of one CPU (`node_cpu_seconds_total` of one `cpu` label). Ordered:
/// the shares are sums over the modes, and a sum in a random order (a HashMap's) would
/// differ in its last digits from one process to the next, so that two masters, or
/// two reads of the same body, would not give the same snapshot.
type ModeSeconds<'a> = BTreeMap<&'a str, f64>;

pub(super) fn record(window: &Window) -> CpuMetrics {
    let now = cpu_times(&window.now);
    let before = window.before.as_ref().map(|(series, _)| cpu_times(series));
    let mut cpus: Vec<&str> = now.keys().copied().collect();
    // Numerically: cpu10 after cpu9.
    cpus.sort_by_key(|cpu| (cpu.parse::<u64>().unwrap_or(u64::MAX), *cpu));

    let mut total: ModeSeconds = BTreeMap::new();
    let mut per_core = Vec::with_capacity(cpus.len());
    for cpu in &cpus {
        let spent = before
            .as_ref()
            .and_then(|before| before.get(cpu))
            .and_then(|then| spent(&now[cpu], then));
        per_core.push(spent.as_ref().map_or(0.0, |s| Shares::of(s).usage));
        for (mode, seconds) in spent.into_iter().flatten() {
            *total.entry(mode).or_default() += seconds;
        }
    }
    let shares = Shares::of(&total);

    let series = &window.now;
    let threads = cpus.len() as i64;
    CpuMetrics {
        usage_percent: shares.usage,
        user_percent: shares.user,
        system_percent: shares.system,
        idle_percent: shares.idle,
        iowait_percent: shares.iowait,
        per_core,
        load_1: series.scalar("node_load1").unwrap_or(0.0),
        load_5: series.scalar("node_load5").unwrap_or(0.0),
        load_15: series.scalar("node_load15").unwrap_or(0.0),
        model: model(series),
        cores: cores(series).unwrap_or(threads),
        threads,
        frequency: frequency_mhz(series),
    }
}

fn cpu_times<'a>(series: &Series<'a>) -> BTreeMap<&'a str, ModeSeconds<'a>> {
    let mut cpus: BTreeMap<&str, ModeSeconds> = BTreeMap::new();
    for sample in series.samples("node_cpu_seconds_total") {
        if let (Some(cpu), Some(mode)) = (sample.label("cpu"), sample.label("mode")) {
            cpus.entry(cpu).or_default().insert(mode, sample.value);
        }
    }
    cpus
}

/// Seconds spent per mode between two readings of one CPU; `None` when a counter went
/// down (a reset) or no time passed.
fn spent<'a>(now: &ModeSeconds<'a>, then: &ModeSeconds<'a>) -> Option<ModeSeconds<'a>> {
    let mut spent = BTreeMap::new();
    for (mode, seconds) in now {
        if let Some(before) = then.get(mode) {
            spent.insert(*mode, increase(*seconds, *before)?);
        }
    }
    (spent.values().sum::<f64>() > 0.0).then_some(spent)
}

/// Percentages of the time spent; all 0 when no time was measured.
#[derive(Debug, Default, PartialEq)]
struct Shares {
    usage: f64,
    user: f64,
    system: f64,
    idle: f64,
    iowait: f64,
}

impl Shares {
    fn of(spent: &ModeSeconds) -> Shares {
        let total: f64 = spent.values().sum();
        if total <= 0.0 {
            return Shares::default();
        }
        let share = |mode: &str| spent.get(mode).copied().unwrap_or(0.0) / total * 100.0;
        Shares {
            // iowait is time the CPU could have run something: busy, as in the contract.
            usage: 100.0 - share("idle"),
            user: share("user") + share("nice"),
            system: share("system"),
            idle: share("idle"),
            iowait: share("iowait"),
        }
    }
}

fn model(series: &Series) -> String {
    series
        .samples("node_cpu_info")
        .find_map(|s| s.label("model_name").filter(|m| !m.is_empty()))
        .unwrap_or_default()
        .to_string()
}

/// Physical cores: distinct (package, core) pairs. ARM's cpuinfo has neither, and
/// node_cpu_info then carries empty labels, which say nothing.
fn cores(series: &Series) -> Option<i64> {
    let pairs: BTreeSet<(&str, &str)> = series
        .samples("node_cpu_info")
        .map(|s| (s.label_or_empty("package"), s.label_or_empty("core")))
        .filter(|(_, core)| !core.is_empty())
        .collect();
    (!pairs.is_empty()).then_some(pairs.len() as i64)
}

/// The average current frequency in MHz: cpufreq's kernel (scaling) value, else its
/// hardware value, else the clock `/proc/cpuinfo` reports (machines without cpufreq,
/// most VMs; edge-exporter only), else 0.
fn frequency_mhz(series: &Series) -> f64 {
    [
        "node_cpu_scaling_frequency_hertz",
        "node_cpu_frequency_hertz",
        "edge_cpu_clock_hertz",
    ]
    .into_iter()
    .find_map(|name| {
        let hertz: Vec<f64> = series.samples(name).map(|s| s.value).collect();
        (!hertz.is_empty()).then(|| hertz.iter().sum::<f64>() / hertz.len() as f64 / 1e6)
    })
    .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::super::Scrape;
    use super::*;

    fn cpu(current: &Scrape, previous: Option<&Scrape>) -> CpuMetrics {
        record(&Window::new(current, previous))
    }

    fn seconds(cpu: u32, mode: &str) -> String {
        format!("node_cpu_seconds_total{{cpu=\"{cpu}\",mode=\"{mode}\"}}")
    }

    #[test]
    fn identity_and_load_from_the_edge_fixture() {
        let metrics = cpu(&scrape(EDGE, 0), None);
        assert_eq!(metrics.model, "Intel(R) Core(TM) i3-7100U CPU @ 2.40GHz");
        // cpu0/cpu2 share core 0, cpu1/cpu3 core 1.
        assert_eq!((metrics.cores, metrics.threads), (2, 4));
        // (2400012000 + 1800000000 + 800000000 + 2390000000) / 4 Hz.
        assert_close(metrics.frequency, 1847.503);
        assert_eq!(
            (metrics.load_1, metrics.load_5, metrics.load_15),
            (0.52, 0.58, 0.59)
        );
        // One scrape: no shares yet.
        assert_eq!(metrics.usage_percent, 0.0);
        assert_eq!(metrics.idle_percent, 0.0);
        assert_eq!(metrics.per_core, [0.0; 4]);
    }

    #[test]
    fn shares_over_the_window() {
        let before = scrape(EDGE, 0);
        // cpu0: user +4, nice +1, system +1, iowait +1, idle +3; cpu1: idle +10.
        let mut text = EDGE.to_string();
        for (cpu, mode, value) in [
            (0, "user", 105.0),
            (0, "nice", 3.0),
            (0, "system", 32.0),
            (0, "iowait", 5.1),
            (0, "idle", 5004.0),
            (1, "idle", 5012.0),
        ] {
            text = with_value(&text, &seconds(cpu, mode), value);
        }
        let metrics = cpu(&scrape(&text, 10), Some(&before));
        // cpu0 10 s, 3 idle; cpu1 10 s idle; cpu2 and cpu3 no time.
        assert_close(metrics.per_core[0], 70.0);
        assert_eq!(metrics.per_core[1..], [0.0, 0.0, 0.0]);
        // All CPUs: 20 s, of which 13 idle, 5 user+nice, 1 system, 1 iowait.
        assert_close(metrics.usage_percent, 35.0);
        assert_close(metrics.idle_percent, 65.0);
        assert_close(metrics.user_percent, 25.0);
        assert_close(metrics.system_percent, 5.0);
        assert_close(metrics.iowait_percent, 5.0);
    }

    #[test]
    fn a_cpu_whose_counters_went_down_is_skipped() {
        let before = scrape(EDGE, 0);
        let text = with_value(EDGE, &seconds(0, "user"), 1.0);
        let text = with_value(&text, &seconds(0, "idle"), 6001.0);
        let text = with_value(&text, &seconds(1, "user"), 104.0);
        let text = with_value(&text, &seconds(1, "idle"), 5004.0);
        let metrics = cpu(&scrape(&text, 10), Some(&before));
        assert_eq!(metrics.per_core[0], 0.0);
        assert_close(metrics.per_core[1], 50.0);
        // Only cpu1's 4 s count.
        assert_close(metrics.usage_percent, 50.0);
        assert_close(metrics.user_percent, 50.0);
    }

    #[test]
    fn cpus_sort_numerically_and_identity_degrades() {
        let text: String = (0..12)
            .map(|n| format!("{} 100\n{} 10\n", seconds(n, "idle"), seconds(n, "user")))
            .collect();
        let before = scrape(&text, 0);
        let after = with_value(&text, &seconds(10, "user"), 15.0);
        let metrics = cpu(&scrape(&after, 5), Some(&before));
        assert_eq!(metrics.threads, 12);
        // No node_cpu_info: cores fall back to threads, no model; no frequency.
        assert_eq!(metrics.cores, 12);
        assert_eq!(metrics.model, "");
        assert_eq!(metrics.frequency, 0.0);
        // cpu10 is the 11th, not the 3rd.
        let mut expected = vec![0.0; 12];
        expected[10] = 100.0;
        assert_eq!(metrics.per_core, expected);
        assert_eq!(metrics.usage_percent, 100.0);
    }

    #[test]
    fn without_cpufreq_the_frequency_is_cpuinfos_clock() {
        // The edge fixture's exporter output with cpufreq's families taken out, as on
        // a machine without cpufreq: edge-exporter's cpuinfo clock is what is left.
        let text: String = EDGE
            .lines()
            .filter(|line| {
                !line.contains("node_cpu_scaling_frequency_hertz")
                    && !line.contains("node_cpu_frequency_hertz")
            })
            .map(|line| format!("{line}\n"))
            .collect();
        assert!(text.contains("edge_cpu_clock_hertz{cpu=\"1\"} 1800123000"));
        let metrics = cpu(&scrape(&text, 0), None);
        // cpu MHz of the fixture's cpuinfo: (2400 + 1800.123 + 800.456 + 2399.998) / 4.
        assert_close(metrics.frequency, 1850.14425);
    }

    #[test]
    fn arm_cpu_info_without_topology_and_hardware_frequency() {
        let text = "node_cpu_info{core=\"\",cpu=\"0\",model_name=\"\",package=\"\"} 1
node_cpu_info{core=\"\",cpu=\"1\",model_name=\"\",package=\"\"} 1
node_cpu_frequency_hertz{cpu=\"0\"} 1.5e+09
node_cpu_frequency_hertz{cpu=\"1\"} 6e+08
node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 1
node_cpu_seconds_total{cpu=\"1\",mode=\"idle\"} 1
";
        let metrics = cpu(&scrape(text, 0), None);
        assert_eq!((metrics.cores, metrics.threads), (2, 2));
        assert_eq!(metrics.model, "");
        assert_eq!(metrics.frequency, 1050.0);
    }
}
