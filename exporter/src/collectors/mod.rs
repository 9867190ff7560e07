//! The registry: the only place that knows the list of collectors.
//!
//! Each module holds one collector, its flags and a `SPEC` describing both.

pub mod arp;
pub mod bcache;
pub mod bcachefs;
pub mod bonding;
pub mod btrfs;
pub mod cgroups;
pub mod conntrack;
pub mod cpu;
pub mod cpufreq;
pub mod diskstats;
pub mod dmi;
pub mod dmmultipath;
pub mod edac;
pub mod entropy;
pub mod fibrechannel;
pub mod filefd;
pub mod filesystem;
pub mod hwmon;
pub mod infiniband;
pub mod interrupts;
pub mod ipvs;
pub mod kernel_hung;
pub mod ksmd;
pub mod loadavg;
pub mod mdadm;
pub mod meminfo;
pub mod meminfo_numa;
pub mod mountstats;
pub mod netclass;
pub mod netdev;
pub mod netstat;
pub mod network_route;
pub mod nfs;
pub mod nfsd;
pub mod nvme;
pub mod os;
pub mod powersupplyclass;
pub mod pressure;
pub mod processes;
pub mod qdisc;
pub mod rapl;
pub mod schedstat;
pub mod selinux;
pub mod sockstat;
pub mod softnet;
pub mod stat;
mod sysfs_dir;
pub mod systemd;
pub mod tapestats;
pub mod tcpstat;
pub mod textfile;
pub mod thermal_zone;
pub mod time;
pub mod timex;
pub mod top_processes;
pub mod udp_queues;
pub mod uname;
pub mod vmstat;
pub mod watchdog;
pub mod xfs;
pub mod zfs;

use clap::Arg;

use crate::collector::CollectorSpec;

/// Every collector, in the order they run.
pub const ALL: &[CollectorSpec] = &[
    arp::SPEC,
    bcache::SPEC,
    bcachefs::SPEC,
    bonding::SPEC,
    btrfs::SPEC,
    cgroups::SPEC,
    conntrack::SPEC,
    cpu::SPEC,
    cpufreq::SPEC,
    diskstats::SPEC,
    dmi::SPEC,
    dmmultipath::SPEC,
    edac::SPEC,
    entropy::SPEC,
    fibrechannel::SPEC,
    filefd::SPEC,
    filesystem::SPEC,
    hwmon::SPEC,
    infiniband::SPEC,
    interrupts::SPEC,
    ipvs::SPEC,
    kernel_hung::SPEC,
    ksmd::SPEC,
    loadavg::SPEC,
    mdadm::SPEC,
    meminfo::SPEC,
    meminfo_numa::SPEC,
    mountstats::SPEC,
    netclass::SPEC,
    netdev::SPEC,
    netstat::SPEC,
    network_route::SPEC,
    nfs::SPEC,
    nfsd::SPEC,
    nvme::SPEC,
    os::SPEC,
    powersupplyclass::SPEC,
    pressure::SPEC,
    processes::SPEC,
    qdisc::SPEC,
    rapl::SPEC,
    schedstat::SPEC,
    selinux::SPEC,
    sockstat::SPEC,
    softnet::SPEC,
    stat::SPEC,
    systemd::SPEC,
    tapestats::SPEC,
    tcpstat::SPEC,
    thermal_zone::SPEC,
    time::SPEC,
    timex::SPEC,
    top_processes::SPEC,
    udp_queues::SPEC,
    uname::SPEC,
    vmstat::SPEC,
    watchdog::SPEC,
    xfs::SPEC,
    zfs::SPEC,
    // Last: a textfile family that clashes with a built-in one is dropped, the
    // built-in one kept (node_exporter's registry does the same).
    textfile::SPEC,
];

/// For collectors without flags of their own.
pub fn no_args() -> Vec<Arg> {
    Vec::new()
}
