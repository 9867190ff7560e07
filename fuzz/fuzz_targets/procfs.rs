//! The exporter's public parsers of procfs, sysfs, udev and rtnetlink input, one
//! target for all (one binary to build): the first byte picks the parser, the rest is
//! the file. Text parsers get only UTF-8, as the exporter reads those files with
//! `read_to_string`; the binary ones (rtnetlink, `/proc/<pid>/stat`) get the bytes
//! (`/proc/<pid>/stat` as the length of the process name, the name, the fields).
//!
//! None of them may panic or allocate without bound; where it is cheap, what they
//! return is checked against what they promise.
#![no_main]

use std::path::Path;

use edge_common::redact::redact_cmdline;
use edge_exporter::collectors::cpu::{parse_cpu_list, parse_cpuinfo};
use edge_exporter::collectors::diskstats::{
    parse_diskstats, parse_udev_properties, DeviceInfo, DeviceMapperInfo,
};
use edge_exporter::collectors::filesystem::parse_mountinfo;
use edge_exporter::collectors::hwmon::{
    clean_metric_name, explode_sensor_filename, family_for, label_text,
};
use edge_exporter::collectors::loadavg::parse_loadavg;
use edge_exporter::collectors::meminfo::parse_meminfo;
use edge_exporter::collectors::netclass::{parse_go_int, speed_bytes};
use edge_exporter::collectors::netdev::proc_net_dev::parse_proc_net_dev;
use edge_exporter::collectors::os::parse_os_release;
use edge_exporter::collectors::top_processes::parse_passwd;
use edge_exporter::collectors::stat::parse_proc_stat;
use edge_exporter::rtnetlink::parse_link;
use edge_metrics_fuzz::text;
use libfuzzer_sys::fuzz_target;
use procfs::FromRead;

/// The parsers, in the order of the selector byte (its value modulo their number).
/// The seed corpus (fuzz/corpus/procfs/<n>-<name>) starts each file with its byte.
const PARSERS: [&str; 17] = [
    "proc_stat",
    "cpuinfo",
    "cpu_list",
    "mountinfo",
    "meminfo",
    "diskstats",
    "udev_data",
    "device_mapper",
    "net_dev",
    "loadavg",
    "os_release",
    "passwd",
    "go_int",
    "hwmon_file",
    "rtnetlink_link",
    "pid_stat",
    "cmdline",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let parser = PARSERS[usize::from(selector) % PARSERS.len()];
    let path = Path::new(parser);
    match parser {
        "rtnetlink_link" => {
            if let Ok(Some(link)) = parse_link(input) {
                let _ = format!("{link:?}");
            }
            return;
        }
        "pid_stat" => {
            // What the kernel writes: `<pid> (<comm>) <fields>`. The comm is anyone's
            // to choose (prctl(PR_SET_NAME), any bytes); the fields are numbers and
            // never hold a parenthesis. (procfs-core 0.18 panics on some lines the
            // kernel never writes, e.g. one starting with `(`: not a case here.)
            let Some((&comm_len, rest)) = input.split_first() else {
                return;
            };
            let (comm, fields) = rest.split_at(usize::from(comm_len).min(rest.len()));
            let mut line = b"1234 (".to_vec();
            line.extend_from_slice(comm);
            line.extend_from_slice(b") ");
            // The state letter always follows.
            if !fields.first().is_some_and(u8::is_ascii_alphabetic) {
                line.push(b'S');
            }
            line.extend(fields.iter().filter(|&&b| b != b'(' && b != b')'));
            let _ = procfs::process::Stat::from_read(line.as_slice());
            return;
        }
        "hwmon_file" => {
            // A sensor's file name, its label file's bytes and its chip's name.
            let cleaned = clean_metric_name(input);
            assert!(
                cleaned
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_:".contains(&b)),
                "{cleaned:?}"
            );
            assert!(
                !cleaned.starts_with('_') && !cleaned.ends_with('_'),
                "{cleaned:?}"
            );
            let _ = label_text(input);
            if let Some(name) = text(input) {
                if let Some((sensor_type, _, element)) = explode_sensor_filename(name) {
                    assert!(!sensor_type.is_empty());
                    assert!(!sensor_type.bytes().any(|b| b.is_ascii_digit()));
                    let _ = family_for(sensor_type, element, false);
                    let _ = family_for(sensor_type, element, true);
                }
            }
            return;
        }
        _ => {}
    }
    let Some(text) = text(input) else {
        return;
    };
    match parser {
        "proc_stat" => {
            let _ = parse_proc_stat(text, path);
        }
        "cpuinfo" => {
            if let Ok(cpus) = parse_cpuinfo(text, path) {
                assert!(!cpus.is_empty());
            }
        }
        "cpu_list" => {
            let _ = parse_cpu_list(text);
        }
        "mountinfo" => {
            let _ = parse_mountinfo(text, path);
        }
        "meminfo" => {
            let _ = parse_meminfo(text, path);
        }
        "diskstats" => {
            let _ = parse_diskstats(text, path);
        }
        "udev_data" => {
            let properties = parse_udev_properties(text);
            let _ = DeviceInfo::from_udev(&properties, "sda");
        }
        "device_mapper" => {
            // sysfs `dm/name` and `dm/uuid`, one per line.
            let (name, uuid) = text.split_once('\n').unwrap_or((text, "LVM-x"));
            let _ = DeviceMapperInfo::from_sysfs(name, uuid);
        }
        "net_dev" => {
            let _ = parse_proc_net_dev(text, path);
        }
        "loadavg" => {
            let _ = parse_loadavg(text, path);
        }
        "os_release" => {
            if let Ok(release) = parse_os_release(text, path) {
                let _ = release.version();
            }
        }
        "passwd" => {
            let _ = parse_passwd(text, path);
        }
        "go_int" => {
            if let Ok(value) = parse_go_int(text, path) {
                let _ = speed_bytes(value, false);
                let _ = speed_bytes(value, true);
            }
        }
        "cmdline" => {
            let _ = redact_cmdline(text);
        }
        other => unreachable!("{other}"),
    }
});
