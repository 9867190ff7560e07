//! The registry: the only place that knows the list of collectors.
//!
//! Each module holds one collector, its flags and a `SPEC` describing both.

pub mod cpu;
pub mod cpufreq;
pub mod diskstats;
pub mod filesystem;
pub mod hwmon;
pub mod loadavg;
pub mod meminfo;
pub mod mountstats;
pub mod netclass;
pub mod netdev;
pub mod nfs;
pub mod nfsd;
pub mod nvme;
pub mod os;
pub mod processes;
pub mod stat;
pub mod tapestats;
pub mod textfile;
pub mod thermal_zone;
pub mod time;
pub mod uname;
pub mod zfs;

use clap::Arg;

use crate::collector::CollectorSpec;

/// Every collector, in the order they run.
pub const ALL: &[CollectorSpec] = &[
    cpu::SPEC,
    cpufreq::SPEC,
    diskstats::SPEC,
    filesystem::SPEC,
    hwmon::SPEC,
    loadavg::SPEC,
    meminfo::SPEC,
    mountstats::SPEC,
    netclass::SPEC,
    netdev::SPEC,
    nfs::SPEC,
    nfsd::SPEC,
    nvme::SPEC,
    os::SPEC,
    stat::SPEC,
    tapestats::SPEC,
    thermal_zone::SPEC,
    time::SPEC,
    uname::SPEC,
    zfs::SPEC,
    processes::SPEC,
    // Last: a textfile family that clashes with a built-in one is dropped, the
    // built-in one kept (node_exporter's registry does the same).
    textfile::SPEC,
];

/// For collectors without flags of their own.
pub fn no_args() -> Vec<Arg> {
    Vec::new()
}
