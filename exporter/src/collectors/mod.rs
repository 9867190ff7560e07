//! The registry: the only place that knows the list of collectors.
//!
//! Each module holds one collector, its flags and a `SPEC` describing both.

pub mod bcache;
pub mod bcachefs;
pub mod btrfs;
pub mod cpu;
pub mod cpufreq;
pub mod diskstats;
pub mod dmmultipath;
pub mod filesystem;
pub mod hwmon;
pub mod loadavg;
pub mod mdadm;
pub mod meminfo;
pub mod netclass;
pub mod netdev;
pub mod os;
pub mod processes;
pub mod stat;
mod sysfs_dir;
pub mod textfile;
pub mod thermal_zone;
pub mod time;
pub mod uname;
pub mod xfs;

use clap::Arg;

use crate::collector::CollectorSpec;

/// Every collector, in the order they run.
pub const ALL: &[CollectorSpec] = &[
    bcache::SPEC,
    bcachefs::SPEC,
    btrfs::SPEC,
    cpu::SPEC,
    cpufreq::SPEC,
    diskstats::SPEC,
    dmmultipath::SPEC,
    filesystem::SPEC,
    hwmon::SPEC,
    loadavg::SPEC,
    mdadm::SPEC,
    meminfo::SPEC,
    netclass::SPEC,
    netdev::SPEC,
    os::SPEC,
    stat::SPEC,
    thermal_zone::SPEC,
    time::SPEC,
    uname::SPEC,
    xfs::SPEC,
    processes::SPEC,
    // Last: a textfile family that clashes with a built-in one is dropped, the
    // built-in one kept (node_exporter's registry does the same).
    textfile::SPEC,
];

/// For collectors without flags of their own.
pub fn no_args() -> Vec<Arg> {
    Vec::new()
}
