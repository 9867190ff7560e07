//! Every field of a snapshot against its bound: strings by length (and free of control
//! characters), arrays by entries, numbers finite and in range, the node name a DNS
//! name. One walk over the snapshot serves both uses: [`check`] refuses the first field
//! out of bounds, naming it (a push); [`fit`] brings every field within its bound (a
//! scrape, whose exporter the operator chose: a long string is cut, not the node lost).
//!
//! The walk names every field, so a field added to the model does not compile until it
//! has a bound here.

use std::fmt;
use std::ops::RangeInclusive;

use crate::model::limits::{
    is_node_name, MAX_CMDLINE_BYTES, MAX_CPUS, MAX_DISKS, MAX_NETWORKS, MAX_NODE_NAME_BYTES,
    MAX_PATH_BYTES, MAX_PROCESSES, MAX_SENSORS, MAX_SHORT_TEXT_BYTES, MAX_TEXT_BYTES,
};
use crate::model::{
    CpuMetrics, DiskMetrics, MemoryMetrics, NetworkMetrics, NodeMetricsSnapshot, ProcessMetrics,
    PsiMetrics, SensorTemperature, SoftnetMetrics, SystemMetrics, TcpMetrics, TemperatureMetrics,
    VmstatMetrics,
};

/// Percentages of one whole (a CPU, the memory, a disk).
const PERCENT: RangeInclusive<f64> = 0.0..=100.0;
/// A process's CPU percentage: 100 per CPU it keeps busy.
const PROCESS_CPU_PERCENT: RangeInclusive<f64> = 0.0..=(100.0 * MAX_CPUS as f64);
/// Rates, loads, frequencies: anything finite and not negative.
const NOT_NEGATIVE: RangeInclusive<f64> = 0.0..=f64::MAX;
/// °C, from absolute zero to well past any sensor's range.
const TEMPERATURE: RangeInclusive<f64> = -273.15..=1000.0;
/// Counts, times, sizes, ids.
const COUNT: RangeInclusive<i64> = 0..=i64::MAX;
/// `cpu.cores`, `cpu.threads`.
const CPUS: RangeInclusive<i64> = 0..=MAX_CPUS as i64;

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    TooLong { max: usize },
    TooMany { max: usize },
    ControlCharacter,
    NotFinite,
    OutOfRange { min: f64, max: f64 },
    NotANodeName,
}

/// The first field out of bounds: `processes[3].cmdline: longer than 512 bytes`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct BoundsError {
    pub field: String,
    pub problem: Problem,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::TooLong { max } => write!(f, "longer than {max} bytes"),
            Problem::TooMany { max } => write!(f, "more than {max} entries"),
            Problem::ControlCharacter => write!(f, "contains a control character"),
            Problem::NotFinite => write!(f, "not a finite number"),
            // Open-ended ranges (counts, rates) are only bounded below.
            Problem::OutOfRange { min, max } if *max >= i64::MAX as f64 => {
                write!(f, "below {min}")
            }
            Problem::OutOfRange { min, max } => write!(f, "outside {min}..={max}"),
            Problem::NotANodeName => write!(
                f,
                "not a node name (1 to {MAX_NODE_NAME_BYTES} bytes of dot-separated labels of \
                 letters, digits and '-', each starting and ending with a letter or digit)"
            ),
        }
    }
}

/// Where a field is, written out only when it is reported: `name`,
/// `section.name`, `section[index].name` or `section.name[index]`.
#[derive(Debug, Clone, Copy)]
struct Field {
    section: Option<(&'static str, Option<usize>)>,
    name: &'static str,
    index: Option<usize>,
}

impl Field {
    const fn top(name: &'static str) -> Field {
        Field {
            section: None,
            name,
            index: None,
        }
    }

    const fn of(section: &'static str, name: &'static str) -> Field {
        Field {
            section: Some((section, None)),
            name,
            index: None,
        }
    }

    const fn entry(section: &'static str, index: usize, name: &'static str) -> Field {
        Field {
            section: Some((section, Some(index))),
            name,
            index: None,
        }
    }

    const fn at(self, index: usize) -> Field {
        Field {
            index: Some(index),
            ..self
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.section {
            Some((section, Some(index))) => write!(f, "{section}[{index}].")?,
            Some((section, None)) => write!(f, "{section}.")?,
            None => {}
        }
        f.write_str(self.name)?;
        if let Some(index) = self.index {
            write!(f, "[{index}]")?;
        }
        Ok(())
    }
}

fn error(field: Field, problem: Problem) -> BoundsError {
    BoundsError {
        field: field.to_string(),
        problem,
    }
}

/// What to do with a field out of bounds.
trait Rule {
    fn text(&mut self, field: Field, value: &mut String, max: usize) -> Result<(), BoundsError>;
    fn number(
        &mut self,
        field: Field,
        value: &mut f64,
        range: RangeInclusive<f64>,
    ) -> Result<(), BoundsError>;
    fn integer(
        &mut self,
        field: Field,
        value: &mut i64,
        range: RangeInclusive<i64>,
    ) -> Result<(), BoundsError>;
    fn list<T>(&mut self, field: Field, list: &mut Vec<T>, max: usize) -> Result<(), BoundsError>;
}

/// Refuses the first field out of bounds.
struct Check;

impl Rule for Check {
    fn text(&mut self, field: Field, value: &mut String, max: usize) -> Result<(), BoundsError> {
        if value.len() > max {
            return Err(error(field, Problem::TooLong { max }));
        }
        if value.chars().any(char::is_control) {
            return Err(error(field, Problem::ControlCharacter));
        }
        Ok(())
    }

    fn number(
        &mut self,
        field: Field,
        value: &mut f64,
        range: RangeInclusive<f64>,
    ) -> Result<(), BoundsError> {
        if !value.is_finite() {
            return Err(error(field, Problem::NotFinite));
        }
        if !range.contains(value) {
            return Err(error(
                field,
                Problem::OutOfRange {
                    min: *range.start(),
                    max: *range.end(),
                },
            ));
        }
        Ok(())
    }

    fn integer(
        &mut self,
        field: Field,
        value: &mut i64,
        range: RangeInclusive<i64>,
    ) -> Result<(), BoundsError> {
        if !range.contains(value) {
            return Err(error(
                field,
                Problem::OutOfRange {
                    min: *range.start() as f64,
                    max: *range.end() as f64,
                },
            ));
        }
        Ok(())
    }

    fn list<T>(&mut self, field: Field, list: &mut Vec<T>, max: usize) -> Result<(), BoundsError> {
        if list.len() > max {
            return Err(error(field, Problem::TooMany { max }));
        }
        Ok(())
    }
}

/// Brings every field within bounds: cuts strings (on a character boundary) and
/// lists, replaces control characters by spaces, clamps numbers (0 for NaN).
struct Fit;

impl Rule for Fit {
    fn text(&mut self, _: Field, value: &mut String, max: usize) -> Result<(), BoundsError> {
        if value.len() > max {
            let mut end = max;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            value.truncate(end);
        }
        if value.chars().any(char::is_control) {
            *value = value
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
        }
        Ok(())
    }

    fn number(
        &mut self,
        _: Field,
        value: &mut f64,
        range: RangeInclusive<f64>,
    ) -> Result<(), BoundsError> {
        *value = if value.is_nan() {
            0.0
        } else {
            value.clamp(*range.start(), *range.end())
        };
        Ok(())
    }

    fn integer(
        &mut self,
        _: Field,
        value: &mut i64,
        range: RangeInclusive<i64>,
    ) -> Result<(), BoundsError> {
        *value = (*value).clamp(*range.start(), *range.end());
        Ok(())
    }

    fn list<T>(&mut self, _: Field, list: &mut Vec<T>, max: usize) -> Result<(), BoundsError> {
        list.truncate(max);
        Ok(())
    }
}

/// Sets every float that is NaN or infinite to 0 and leaves the rest as it is: what
/// the snapshot builder guarantees of every snapshot it makes.
struct Finite;

impl Rule for Finite {
    fn text(&mut self, _: Field, _: &mut String, _: usize) -> Result<(), BoundsError> {
        Ok(())
    }

    fn number(
        &mut self,
        _: Field,
        value: &mut f64,
        _: RangeInclusive<f64>,
    ) -> Result<(), BoundsError> {
        if !value.is_finite() {
            *value = 0.0;
        }
        Ok(())
    }

    fn integer(
        &mut self,
        _: Field,
        _: &mut i64,
        _: RangeInclusive<i64>,
    ) -> Result<(), BoundsError> {
        Ok(())
    }

    fn list<T>(&mut self, _: Field, _: &mut Vec<T>, _: usize) -> Result<(), BoundsError> {
        Ok(())
    }
}

/// Refuses the snapshot at its first field out of bounds.
pub fn check(snapshot: &mut NodeMetricsSnapshot) -> Result<(), BoundsError> {
    check_node_name(snapshot)?;
    walk(snapshot, &mut Check)
}

/// Brings the snapshot within bounds. Fails only for a node name, which cannot be
/// fitted without becoming another node's.
pub fn fit(snapshot: &mut NodeMetricsSnapshot) -> Result<(), BoundsError> {
    check_node_name(snapshot)?;
    walk(snapshot, &mut Fit)
}

/// Sets every float of the snapshot that is NaN or infinite to 0, nothing else: the
/// same walk over every field as [`check`] and [`fit`], so a float added to the model
/// is covered by all three or compiles in none.
pub fn zero_non_finite(snapshot: &mut NodeMetricsSnapshot) {
    // The Finite rule refuses nothing.
    let _ = walk(snapshot, &mut Finite);
}

fn check_node_name(snapshot: &NodeMetricsSnapshot) -> Result<(), BoundsError> {
    if is_node_name(&snapshot.node_name) {
        Ok(())
    } else {
        Err(error(Field::top("node_name"), Problem::NotANodeName))
    }
}

fn walk(snapshot: &mut NodeMetricsSnapshot, rule: &mut impl Rule) -> Result<(), BoundsError> {
    let NodeMetricsSnapshot {
        // Checked by `check_node_name`: it cannot be fitted.
        node_name: _,
        timestamp: _,
        hostname,
        os,
        kernel,
        uptime,
        node_ip,
        cpu,
        memory,
        disks,
        networks,
        temperature,
        processes,
        psi,
        tcp,
        system,
        vmstat,
        softnet,
    } = snapshot;
    rule.text(Field::top("hostname"), hostname, MAX_NODE_NAME_BYTES)?;
    rule.text(Field::top("os"), os, MAX_TEXT_BYTES)?;
    rule.text(Field::top("kernel"), kernel, MAX_TEXT_BYTES)?;
    rule.integer(Field::top("uptime"), uptime, COUNT)?;
    rule.text(Field::top("node_ip"), node_ip, MAX_SHORT_TEXT_BYTES)?;
    walk_cpu(cpu, rule)?;
    walk_memory(memory, rule)?;
    rule.list(Field::top("disks"), disks, MAX_DISKS)?;
    for (i, disk) in disks.iter_mut().enumerate() {
        walk_disk(i, disk, rule)?;
    }
    rule.list(Field::top("networks"), networks, MAX_NETWORKS)?;
    for (i, network) in networks.iter_mut().enumerate() {
        walk_network(i, network, rule)?;
    }
    walk_temperature(temperature, rule)?;
    rule.list(Field::top("processes"), processes, MAX_PROCESSES)?;
    for (i, process) in processes.iter_mut().enumerate() {
        walk_process(i, process, rule)?;
    }
    walk_kernel_tables(psi, tcp, system, vmstat, softnet, rule)
}

/// PSI shares are percentages; the rates are not negative; the counts are u64, in
/// range whatever JSON gives them.
fn walk_kernel_tables(
    psi: &mut PsiMetrics,
    _: &mut TcpMetrics,
    _: &mut SystemMetrics,
    vmstat: &mut VmstatMetrics,
    softnet: &mut SoftnetMetrics,
    rule: &mut impl Rule,
) -> Result<(), BoundsError> {
    let PsiMetrics {
        cpu_some_percent,
        memory_some_percent,
        memory_full_percent,
        io_some_percent,
        io_full_percent,
    } = psi;
    for (name, value) in [
        ("cpu_some_percent", cpu_some_percent),
        ("memory_some_percent", memory_some_percent),
        ("memory_full_percent", memory_full_percent),
        ("io_some_percent", io_some_percent),
        ("io_full_percent", io_full_percent),
    ] {
        rule.number(Field::of("psi", name), value, PERCENT)?;
    }
    let VmstatMetrics {
        pgfault_rate,
        pgmajfault_rate,
        pswpin_rate,
        pswpout_rate,
    } = vmstat;
    for (name, value) in [
        ("pgfault_rate", pgfault_rate),
        ("pgmajfault_rate", pgmajfault_rate),
        ("pswpin_rate", pswpin_rate),
        ("pswpout_rate", pswpout_rate),
    ] {
        rule.number(Field::of("vmstat", name), value, NOT_NEGATIVE)?;
    }
    let SoftnetMetrics {
        dropped_rate,
        squeezed_rate,
    } = softnet;
    rule.number(
        Field::of("softnet", "dropped_rate"),
        dropped_rate,
        NOT_NEGATIVE,
    )?;
    rule.number(
        Field::of("softnet", "squeezed_rate"),
        squeezed_rate,
        NOT_NEGATIVE,
    )
}

fn walk_cpu(cpu: &mut CpuMetrics, rule: &mut impl Rule) -> Result<(), BoundsError> {
    let CpuMetrics {
        usage_percent,
        user_percent,
        system_percent,
        idle_percent,
        iowait_percent,
        per_core,
        load_1,
        load_5,
        load_15,
        model,
        cores,
        threads,
        frequency,
    } = cpu;
    let field = |name| Field::of("cpu", name);
    for (name, value) in [
        ("usage_percent", usage_percent),
        ("user_percent", user_percent),
        ("system_percent", system_percent),
        ("idle_percent", idle_percent),
        ("iowait_percent", iowait_percent),
    ] {
        rule.number(field(name), value, PERCENT)?;
    }
    rule.list(field("per_core"), per_core, MAX_CPUS)?;
    for (i, value) in per_core.iter_mut().enumerate() {
        rule.number(field("per_core").at(i), value, PERCENT)?;
    }
    for (name, value) in [
        ("load_1", load_1),
        ("load_5", load_5),
        ("load_15", load_15),
        ("frequency", frequency),
    ] {
        rule.number(field(name), value, NOT_NEGATIVE)?;
    }
    rule.text(field("model"), model, MAX_TEXT_BYTES)?;
    rule.integer(field("cores"), cores, CPUS)?;
    rule.integer(field("threads"), threads, CPUS)
}

fn walk_memory(memory: &mut MemoryMetrics, rule: &mut impl Rule) -> Result<(), BoundsError> {
    // The byte counts are u64: any value JSON can give them is in range.
    let MemoryMetrics {
        usage_percent,
        swap_percent,
        total: _,
        used: _,
        available: _,
        free: _,
        cached: _,
        buffers: _,
        swap_total: _,
        swap_used: _,
        swap_free: _,
    } = memory;
    rule.number(Field::of("memory", "usage_percent"), usage_percent, PERCENT)?;
    rule.number(Field::of("memory", "swap_percent"), swap_percent, PERCENT)
}

fn walk_disk(i: usize, disk: &mut DiskMetrics, rule: &mut impl Rule) -> Result<(), BoundsError> {
    let DiskMetrics {
        device,
        mount_point,
        fs_type,
        usage_percent,
        read_rate,
        write_rate,
        read_iops,
        write_iops,
        io_util,
        total: _,
        used: _,
        available: _,
        read_bytes: _,
        write_bytes: _,
    } = disk;
    let field = |name| Field::entry("disks", i, name);
    rule.text(field("device"), device, MAX_PATH_BYTES)?;
    rule.text(field("mount_point"), mount_point, MAX_PATH_BYTES)?;
    rule.text(field("fs_type"), fs_type, MAX_SHORT_TEXT_BYTES)?;
    rule.number(field("usage_percent"), usage_percent, PERCENT)?;
    rule.number(field("io_util"), io_util, PERCENT)?;
    for (name, value) in [
        ("read_rate", read_rate),
        ("write_rate", write_rate),
        ("read_iops", read_iops),
        ("write_iops", write_iops),
    ] {
        rule.number(field(name), value, NOT_NEGATIVE)?;
    }
    Ok(())
}

fn walk_network(
    i: usize,
    network: &mut NetworkMetrics,
    rule: &mut impl Rule,
) -> Result<(), BoundsError> {
    let NetworkMetrics {
        interface,
        ip_address,
        mac_address,
        status,
        speed,
        mtu,
        rx_rate,
        tx_rate,
        rx_packet_rate,
        tx_packet_rate,
        rx_error_rate,
        tx_error_rate,
        rx_drop_rate,
        tx_drop_rate,
        rx_bytes: _,
        tx_bytes: _,
        rx_packets: _,
        tx_packets: _,
        rx_errors: _,
        tx_errors: _,
        rx_dropped: _,
        tx_dropped: _,
    } = network;
    let field = |name| Field::entry("networks", i, name);
    for (name, value) in [
        ("interface", interface),
        ("ip_address", ip_address),
        ("mac_address", mac_address),
        ("status", status),
    ] {
        rule.text(field(name), value, MAX_SHORT_TEXT_BYTES)?;
    }
    rule.integer(field("speed"), speed, COUNT)?;
    rule.integer(field("mtu"), mtu, COUNT)?;
    for (name, value) in [
        ("rx_rate", rx_rate),
        ("tx_rate", tx_rate),
        ("rx_packet_rate", rx_packet_rate),
        ("tx_packet_rate", tx_packet_rate),
        ("rx_error_rate", rx_error_rate),
        ("tx_error_rate", tx_error_rate),
        ("rx_drop_rate", rx_drop_rate),
        ("tx_drop_rate", tx_drop_rate),
    ] {
        rule.number(field(name), value, NOT_NEGATIVE)?;
    }
    Ok(())
}

fn walk_temperature(
    temperature: &mut TemperatureMetrics,
    rule: &mut impl Rule,
) -> Result<(), BoundsError> {
    let TemperatureMetrics {
        cpu_temp,
        cpu_temp_max,
        sensors,
    } = temperature;
    rule.number(Field::of("temperature", "cpu_temp"), cpu_temp, TEMPERATURE)?;
    rule.number(
        Field::of("temperature", "cpu_temp_max"),
        cpu_temp_max,
        TEMPERATURE,
    )?;
    rule.list(Field::of("temperature", "sensors"), sensors, MAX_SENSORS)?;
    for (i, sensor) in sensors.iter_mut().enumerate() {
        let SensorTemperature {
            name,
            label,
            current,
            max,
            critical,
        } = sensor;
        let field = |name| Field::entry("temperature.sensors", i, name);
        rule.text(field("name"), name, MAX_SHORT_TEXT_BYTES)?;
        rule.text(field("label"), label, MAX_SHORT_TEXT_BYTES)?;
        rule.number(field("current"), current, TEMPERATURE)?;
        rule.number(field("max"), max, TEMPERATURE)?;
        rule.number(field("critical"), critical, TEMPERATURE)?;
    }
    Ok(())
}

fn walk_process(
    i: usize,
    process: &mut ProcessMetrics,
    rule: &mut impl Rule,
) -> Result<(), BoundsError> {
    let ProcessMetrics {
        pid,
        name,
        cmdline,
        user,
        status,
        cpu_percent,
        mem_percent,
        mem_rss: _,
        threads,
        start_time,
    } = process;
    let field = |name| Field::entry("processes", i, name);
    rule.integer(field("pid"), pid, COUNT)?;
    rule.text(field("name"), name, MAX_SHORT_TEXT_BYTES)?;
    rule.text(field("cmdline"), cmdline, MAX_CMDLINE_BYTES)?;
    rule.text(field("user"), user, MAX_SHORT_TEXT_BYTES)?;
    rule.text(field("status"), status, MAX_SHORT_TEXT_BYTES)?;
    rule.number(field("cpu_percent"), cpu_percent, PROCESS_CPU_PERCENT)?;
    rule.number(field("mem_percent"), mem_percent, PERCENT)?;
    rule.integer(field("threads"), threads, COUNT)?;
    rule.integer(field("start_time"), start_time, COUNT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> NodeMetricsSnapshot {
        let mut s = NodeMetricsSnapshot {
            node_name: "n1".into(),
            hostname: "n1".into(),
            ..NodeMetricsSnapshot::default()
        };
        s.cpu.usage_percent = 12.5;
        s.cpu.per_core = vec![10.0, 15.0];
        s.disks = vec![DiskMetrics {
            mount_point: "/".into(),
            usage_percent: 40.0,
            ..DiskMetrics::default()
        }];
        s.processes = vec![ProcessMetrics {
            pid: 7,
            cmdline: "/bin/x --flag".into(),
            cpu_percent: 150.0,
            ..ProcessMetrics::default()
        }];
        s.temperature.cpu_temp = -5.0;
        s
    }

    fn checked(change: impl FnOnce(&mut NodeMetricsSnapshot)) -> Result<(), String> {
        let mut s = snapshot();
        change(&mut s);
        check(&mut s).map_err(|e| e.to_string())
    }

    #[test]
    fn a_snapshot_within_bounds_passes_unchanged() {
        let mut s = snapshot();
        check(&mut s).unwrap();
        assert_eq!(s, snapshot());
        fit(&mut s).unwrap();
        assert_eq!(s, snapshot());
    }

    #[test]
    fn the_first_field_out_of_bounds_is_named() {
        type Change = Box<dyn FnOnce(&mut NodeMetricsSnapshot)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|s| s.node_name = "x".repeat(1 << 20)),
                "node_name: not a node name",
            ),
            (
                Box::new(|s| s.node_name = "a b".into()),
                "node_name: not a node name",
            ),
            (
                Box::new(|s| s.hostname = "h".repeat(254)),
                "hostname: longer than 253 bytes",
            ),
            (
                Box::new(|s| s.os = "a\u{7}b".into()),
                "os: contains a control character",
            ),
            (
                Box::new(|s| s.processes = vec![ProcessMetrics::default(); MAX_PROCESSES + 1]),
                "processes: more than 64 entries",
            ),
            (
                Box::new(|s| s.processes[0].cmdline = "c".repeat(MAX_CMDLINE_BYTES + 1)),
                "processes[0].cmdline: longer than 512 bytes",
            ),
            (
                Box::new(|s| s.cpu.per_core[1] = 100.5),
                "cpu.per_core[1]: outside 0..=100",
            ),
            (
                Box::new(|s| s.cpu.usage_percent = f64::NAN),
                "cpu.usage_percent: not a finite number",
            ),
            (
                Box::new(|s| s.disks[0].read_rate = -1.0),
                "disks[0].read_rate: below 0",
            ),
            (
                Box::new(|s| s.temperature.cpu_temp = -300.0),
                "temperature.cpu_temp: outside -273.15..=1000",
            ),
            (
                Box::new(|s| {
                    s.temperature.sensors = vec![SensorTemperature {
                        label: "l".repeat(65),
                        ..SensorTemperature::default()
                    }]
                }),
                "temperature.sensors[0].label: longer than 64 bytes",
            ),
            (Box::new(|s| s.uptime = -1), "uptime: below 0"),
            (
                Box::new(|s| s.psi.io_full_percent = 100.5),
                "psi.io_full_percent: outside 0..=100",
            ),
            (
                Box::new(|s| s.softnet.dropped_rate = -0.5),
                "softnet.dropped_rate: below 0",
            ),
            (
                Box::new(|s| s.vmstat.pswpout_rate = f64::NAN),
                "vmstat.pswpout_rate: not a finite number",
            ),
            (
                Box::new(|s| s.node_ip = "1".repeat(65)),
                "node_ip: longer than 64 bytes",
            ),
            (
                Box::new(|s| s.cpu.threads = 5000),
                "cpu.threads: outside 0..=1024",
            ),
        ];
        for (change, expected) in cases {
            let error = checked(change).unwrap_err();
            assert!(error.starts_with(expected), "{error} (expected {expected})");
        }
    }

    #[test]
    fn fit_cuts_and_clamps_what_check_refuses() {
        let mut s = snapshot();
        s.hostname = "é".repeat(200);
        s.processes = vec![ProcessMetrics::default(); MAX_PROCESSES + 5];
        s.cpu.per_core = vec![f64::NAN, 120.0, -1.0];
        s.os = "a\nb".into();
        s.temperature.cpu_temp = f64::INFINITY;
        fit(&mut s).unwrap();
        assert_eq!(s.hostname.len(), 252, "cut on a character boundary");
        assert_eq!(s.processes.len(), MAX_PROCESSES);
        assert_eq!(s.cpu.per_core, [0.0, 100.0, 0.0]);
        assert_eq!(s.os, "a b");
        assert_eq!(s.temperature.cpu_temp, 1000.0);
        check(&mut s).unwrap();
        // A node name is never fitted.
        s.node_name = "not/a/name".into();
        assert!(fit(&mut s).is_err());
    }
}
