//! Top processes from edge-exporter's `edge_process_*` families (one series per
//! process, keyed by `pid`). A plain node_exporter has none: the list is empty.

use std::collections::BTreeMap;

use super::series::Series;
use crate::model::ProcessMetrics;

/// Stores a family's value in its field.
type Setter = fn(&mut ProcessMetrics, f64);

pub(super) fn record(series: &Series) -> Vec<ProcessMetrics> {
    let mut by_pid: BTreeMap<i64, ProcessMetrics> = BTreeMap::new();
    let families: [(&str, Setter); 5] = [
        ("edge_process_cpu_ratio", |p, v| p.cpu_percent = v * 100.0),
        ("edge_process_memory_ratio", |p, v| {
            p.mem_percent = v * 100.0
        }),
        ("edge_process_resident_memory_bytes", |p, v| {
            p.mem_rss = v as u64
        }),
        ("edge_process_threads", |p, v| p.threads = v as i64),
        ("edge_process_start_time_seconds", |p, v| {
            p.start_time = v as i64
        }),
    ];
    for (family, set) in families {
        for sample in series.samples(family) {
            let Some(pid) = sample.label("pid").and_then(|p| p.parse().ok()) else {
                continue;
            };
            let process = by_pid.entry(pid).or_insert_with(|| ProcessMetrics {
                pid,
                name: sample.label_or_empty("comm").to_string(),
                user: sample.label_or_empty("user").to_string(),
                ..ProcessMetrics::default()
            });
            set(process, sample.value);
        }
    }
    for sample in series.samples("edge_process_info") {
        let pid = sample.label("pid").and_then(|p| p.parse().ok());
        if let Some(process) = pid.and_then(|pid: i64| by_pid.get_mut(&pid)) {
            process.cmdline = sample.label_or_empty("cmdline").to_string();
        }
    }
    // A state set: the series with value 1 names the current state.
    for sample in series
        .samples("edge_process_state")
        .filter(|s| s.value == 1.0)
    {
        let pid = sample.label("pid").and_then(|p| p.parse().ok());
        if let Some(process) = pid.and_then(|pid: i64| by_pid.get_mut(&pid)) {
            process.status = sample.label_or_empty("state").to_string();
        }
    }
    // The exporter sends the top N by CPU and the top N by memory; busiest first.
    let mut processes: Vec<ProcessMetrics> = by_pid.into_values().collect();
    processes.sort_by(|a, b| {
        b.cpu_percent
            .total_cmp(&a.cpu_percent)
            .then(b.mem_rss.cmp(&a.mem_rss))
            .then(a.pid.cmp(&b.pid))
    });
    processes
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::*;

    /// What edge-exporter serves for three processes; java (pid 99) is in its first
    /// window, so it has no CPU ratio yet.
    const TOP: &str = r#"# TYPE edge_process_cpu_ratio gauge
edge_process_cpu_ratio{pid="42",comm="nginx",user="www-data"} 0.25
edge_process_cpu_ratio{pid="7",comm="kubelet",user="root"} 1.5
# TYPE edge_process_resident_memory_bytes gauge
edge_process_resident_memory_bytes{pid="42",comm="nginx",user="www-data"} 1.048576e+07
edge_process_resident_memory_bytes{pid="7",comm="kubelet",user="root"} 2e+08
edge_process_resident_memory_bytes{pid="99",comm="java",user="1001"} 3e+09
# TYPE edge_process_memory_ratio gauge
edge_process_memory_ratio{pid="42",comm="nginx",user="www-data"} 0.0625
edge_process_memory_ratio{pid="7",comm="kubelet",user="root"} 0.015625
edge_process_memory_ratio{pid="99",comm="java",user="1001"} 0.1875
# TYPE edge_process_threads gauge
edge_process_threads{pid="42",comm="nginx",user="www-data"} 1
edge_process_threads{pid="7",comm="kubelet",user="root"} 23
edge_process_threads{pid="99",comm="java",user="1001"} 120
# TYPE edge_process_start_time_seconds gauge
edge_process_start_time_seconds{pid="42",comm="nginx",user="www-data"} 1.7000001e+09
edge_process_start_time_seconds{pid="7",comm="kubelet",user="root"} 1.70000002e+09
edge_process_start_time_seconds{pid="99",comm="java",user="1001"} 1.700099995e+09
# TYPE edge_process_info gauge
edge_process_info{pid="42",comm="nginx",user="www-data",cmdline="nginx: worker process"} 1
edge_process_info{pid="7",comm="kubelet",user="root",cmdline="/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml"} 1
edge_process_info{pid="99",comm="java",user="1001",cmdline="java -jar app.jar"} 1
# TYPE edge_process_state gauge
edge_process_state{pid="42",comm="nginx",user="www-data",state="R"} 0
edge_process_state{pid="42",comm="nginx",user="www-data",state="S"} 1
edge_process_state{pid="7",comm="kubelet",user="root",state="R"} 1
edge_process_state{pid="7",comm="kubelet",user="root",state="S"} 0
edge_process_state{pid="99",comm="java",user="1001",state="D"} 1
"#;

    fn processes(text: &str) -> Vec<ProcessMetrics> {
        let scrape = scrape(text, 0);
        record(&Series::new(&scrape.families))
    }

    #[test]
    fn top_processes_busiest_first() {
        let processes = processes(TOP);
        assert_eq!(
            processes,
            [
                ProcessMetrics {
                    pid: 7,
                    name: "kubelet".into(),
                    cmdline: "/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml".into(),
                    user: "root".into(),
                    status: "R".into(),
                    cpu_percent: 150.0,
                    mem_percent: 1.5625,
                    mem_rss: 200_000_000,
                    threads: 23,
                    start_time: 1_700_000_020,
                },
                ProcessMetrics {
                    pid: 42,
                    name: "nginx".into(),
                    cmdline: "nginx: worker process".into(),
                    user: "www-data".into(),
                    status: "S".into(),
                    cpu_percent: 25.0,
                    mem_percent: 6.25,
                    mem_rss: 10_485_760,
                    threads: 1,
                    start_time: 1_700_000_100,
                },
                ProcessMetrics {
                    pid: 99,
                    name: "java".into(),
                    cmdline: "java -jar app.jar".into(),
                    user: "1001".into(),
                    status: "D".into(),
                    cpu_percent: 0.0,
                    mem_percent: 18.75,
                    mem_rss: 3_000_000_000,
                    threads: 120,
                    start_time: 1_700_099_995,
                },
            ]
        );
    }

    #[test]
    fn none_without_edge_families() {
        assert!(processes(NODE_EXPORTER).is_empty());
        assert!(processes(EDGE).is_empty());
    }
}
