//! Every flag node_exporter 1.12 defines on Linux, so a command line written for it
//! starts edge-exporter too.
//!
//! [`accept_the_rest`] runs last when the command is built: each flag of [`FLAGS`] and
//! each `--collector.<name>` switch of [`COLLECTORS`] that no collector and no part of
//! `cli.rs` defines is added as a hidden argument. Given, it is logged once at warn
//! (`--x: accepted for node_exporter compatibility, not supported; ignored`) and has
//! no effect. A flag defined by a collector is left alone, so a collector that gains
//! the flag later simply takes it over: nothing is defined twice (aliases count: a
//! deprecated spelling a collector accepts as an alias is that collector's). A flag in neither
//! place is still refused (clap's usage error, exit code 2).
//!
//! kingpin booleans also take `--no-<flag>`. Where we define the positive form only
//! (`--web.disable-exporter-metrics`), the negative one is added here as a real
//! override (the last of the two wins, as in kingpin), not as an ignored flag.
//!
//! Sources: prometheus/node_exporter's `collector/*.go` and `node_exporter.go` (the
//! newest versions we could read; where 1.12's own files were not at hand, node_exporter
//! 1.9.1's and 1.11.1's published `--help` output, and 1.12's release notes for the
//! collectors it added: dmmultipath, kernel_hung). Each group names the file that
//! defines it. What edge-exporter supports of them is in the README ("Flags").

use clap::{Arg, ArgAction, ArgMatches, Command};

/// Whether a kingpin flag takes a value or is a boolean (`--f` / `--no-f`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `--f=v` or `--f v`; kingpin's repeatable ones (`Strings()`) may be given again.
    Value,
    /// kingpin `Bool()`: `--f` and `--no-f`.
    Switch,
}

/// One node_exporter flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeFlag {
    /// The long name without `--`.
    pub name: &'static str,
    pub kind: Kind,
}

const fn value(name: &'static str) -> NodeFlag {
    NodeFlag {
        name,
        kind: Kind::Value,
    }
}

const fn switch(name: &'static str) -> NodeFlag {
    NodeFlag {
        name,
        kind: Kind::Switch,
    }
}

/// node_exporter 1.12's flags other than the `--collector.<name>` switches.
pub const FLAGS: &[NodeFlag] = &[
    // node_exporter.go
    value("web.telemetry-path"),
    switch("web.disable-exporter-metrics"),
    value("web.max-requests"),
    switch("collector.disable-defaults"),
    value("runtime.gomaxprocs"),
    // prometheus/exporter-toolkit web/kingpinflag/flag.go (web.systemd-socket: Linux only)
    switch("web.systemd-socket"),
    value("web.listen-address"),
    value("web.config.file"),
    // prometheus/common promslog/flag/flag.go
    value("log.level"),
    value("log.format"),
    // collector/paths.go
    value("path.procfs"),
    value("path.sysfs"),
    value("path.rootfs"),
    value("path.udev.data"),
    // collector/arp_linux.go
    value("collector.arp.device-include"),
    value("collector.arp.device-exclude"),
    switch("collector.arp.netlink"),
    // collector/bcache_linux.go
    switch("collector.bcache.priorityStats"),
    // collector/cpu_linux.go
    switch("collector.cpu.guest"),
    switch("collector.cpu.info"),
    value("collector.cpu.info.flags-include"),
    value("collector.cpu.info.bugs-include"),
    // collector/diskstats_common.go (ignored-devices: hidden, deprecated)
    value("collector.diskstats.device-exclude"),
    value("collector.diskstats.ignored-devices"),
    value("collector.diskstats.device-include"),
    // collector/ethtool_linux.go
    value("collector.ethtool.device-include"),
    value("collector.ethtool.device-exclude"),
    value("collector.ethtool.metrics-include"),
    // collector/filesystem_common.go (ignored-*: hidden, deprecated)
    value("collector.filesystem.mount-points-exclude"),
    value("collector.filesystem.mount-points-include"),
    value("collector.filesystem.ignored-mount-points"),
    value("collector.filesystem.fs-types-exclude"),
    value("collector.filesystem.fs-types-include"),
    value("collector.filesystem.ignored-fs-types"),
    // collector/filesystem_linux.go (both hidden)
    value("collector.filesystem.mount-timeout"),
    value("collector.filesystem.stat-workers"),
    // collector/hwmon_linux.go
    value("collector.hwmon.chip-include"),
    value("collector.hwmon.chip-exclude"),
    value("collector.hwmon.sensor-include"),
    value("collector.hwmon.sensor-exclude"),
    // collector/interrupts_linux.go
    value("collector.interrupts.name-include"),
    value("collector.interrupts.name-exclude"),
    switch("collector.interrupts.include-zeros"),
    // collector/ipvs_linux.go
    value("collector.ipvs.backend-labels"),
    // collector/netclass_linux.go
    value("collector.netclass.ignored-devices"),
    switch("collector.netclass.ignore-invalid-speed"),
    switch("collector.netclass.netlink"),
    // collector/netclass_rtnl_linux.go
    switch("collector.netclass_rtnl.with-stats"),
    // collector/netdev_common.go (device-whitelist/-blacklist: hidden, deprecated)
    value("collector.netdev.device-include"),
    value("collector.netdev.device-whitelist"),
    value("collector.netdev.device-exclude"),
    value("collector.netdev.device-blacklist"),
    switch("collector.netdev.address-info"),
    switch("collector.netdev.enable-detailed-metrics"),
    // collector/netdev_linux.go
    switch("collector.netdev.netlink"),
    switch("collector.netdev.label-ifalias"),
    // collector/netstat_linux.go
    value("collector.netstat.fields"),
    // collector/ntp.go (deprecated collector, still registered)
    value("collector.ntp.server"),
    value("collector.ntp.server-port"),
    value("collector.ntp.protocol-version"),
    switch("collector.ntp.server-is-local"),
    value("collector.ntp.ip-ttl"),
    value("collector.ntp.max-distance"),
    value("collector.ntp.local-offset-tolerance"),
    // collector/pcidevice_linux.go
    value("collector.pcidevice.idsfile"),
    switch("collector.pcidevice.names"),
    // collector/perf_linux.go
    value("collector.perf.cpus"),
    value("collector.perf.tracepoint"),
    switch("collector.perf.disable-hardware-profilers"),
    value("collector.perf.hardware-profilers"),
    switch("collector.perf.disable-software-profilers"),
    value("collector.perf.software-profilers"),
    switch("collector.perf.disable-cache-profilers"),
    value("collector.perf.cache-profilers"),
    // collector/powersupplyclass.go
    value("collector.powersupply.ignored-supplies"),
    // collector/qdisc_linux.go
    value("collector.qdisc.fixtures"),
    value("collector.qdisc.device-include"),
    value("collector.qdisc.device-exclude"),
    // collector/rapl_linux.go
    switch("collector.rapl.enable-zone-label"),
    // collector/runit.go (deprecated collector)
    value("collector.runit.servicedir"),
    // collector/slabinfo_linux.go
    value("collector.slabinfo.slabs-include"),
    value("collector.slabinfo.slabs-exclude"),
    // collector/stat_linux.go
    switch("collector.stat.softirq"),
    // collector/supervisord.go (deprecated collector)
    value("collector.supervisord.url"),
    // collector/sysctl_linux.go
    value("collector.sysctl.include"),
    value("collector.sysctl.include-info"),
    // collector/systemd_linux.go (unit-whitelist/-blacklist, private: hidden)
    value("collector.systemd.unit-include"),
    value("collector.systemd.unit-exclude"),
    value("collector.systemd.unit-whitelist"),
    value("collector.systemd.unit-blacklist"),
    switch("collector.systemd.private"),
    switch("collector.systemd.enable-task-metrics"),
    switch("collector.systemd.enable-restarts-metrics"),
    switch("collector.systemd.enable-start-time-metrics"),
    // collector/tapestats_linux.go
    value("collector.tapestats.ignored-devices"),
    // collector/textfile.go
    value("collector.textfile.directory"),
    // collector/vmstat_linux.go
    value("collector.vmstat.fields"),
    // collector/wifi_linux.go
    value("collector.wifi.fixtures"),
];

/// Every collector node_exporter 1.12 registers on Linux (`registerCollector` in
/// `collector/<name>_linux.go` or a common file), each a kingpin boolean
/// `--collector.<name>` / `--no-collector.<name>` (collector/collector.go).
pub const COLLECTORS: &[&str] = &[
    // Enabled by default.
    "arp",
    "bcache",
    "bcachefs",
    "bonding",
    "btrfs",
    "conntrack",
    "cpu",
    "cpufreq",
    "diskstats",
    "dmi",
    "dmmultipath",
    "edac",
    "entropy",
    "fibrechannel",
    "filefd",
    "filesystem",
    "hwmon",
    "infiniband",
    "ipvs",
    "kernel_hung",
    "loadavg",
    "mdadm",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "nfs",
    "nfsd",
    "nvme",
    "os",
    "powersupplyclass",
    "pressure",
    "rapl",
    "schedstat",
    "selinux",
    "sockstat",
    "softnet",
    "stat",
    "tapestats",
    "textfile",
    "thermal_zone",
    "time",
    "timex",
    "udp_queues",
    "uname",
    "vmstat",
    "watchdog",
    "xfs",
    "zfs",
    // Disabled by default.
    "buddyinfo",
    "cgroups",
    "cpu_vulnerabilities",
    "drbd",
    "drm",
    "ethtool",
    "interrupts",
    "ksmd",
    "lnstat",
    "logind",
    "meminfo_numa",
    "mountstats",
    "network_route",
    "ntp",
    "pcidevice",
    "perf",
    "processes",
    "qdisc",
    "runit",
    "slabinfo",
    "softirqs",
    "supervisord",
    "swap",
    "sysctl",
    "systemd",
    "tcpstat",
    "wifi",
    "xfrm",
    "zoneinfo",
];

/// The id prefix of the arguments added for flags we do not support.
const IGNORED: &str = "ignored:";

/// Every flag of the table, the collector switches included.
pub fn all() -> impl Iterator<Item = NodeFlag> {
    FLAGS.iter().copied().chain(COLLECTORS.iter().map(|name| {
        let name: &'static str = Box::leak(format!("collector.{name}").into_boxed_str());
        switch(name)
    }))
}

/// Adds, hidden, every flag of the table `command` does not define yet (see the
/// module doc). Call it once, after every other argument is in.
pub fn accept_the_rest(mut command: Command) -> Command {
    for flag in all() {
        let long = |name: &str| {
            command
                .get_arguments()
                .find(|arg| {
                    arg.get_long() == Some(name)
                        || arg
                            .get_all_aliases()
                            .is_some_and(|aliases| aliases.contains(&name))
                })
                .map(|arg| (arg.get_id().clone(), arg.get_action().clone()))
        };
        match flag.kind {
            Kind::Value => {
                if long(flag.name).is_none() {
                    command = command.arg(ignored(flag.name).action(ArgAction::Append));
                }
            }
            Kind::Switch => {
                let negated: &'static str = Box::leak(format!("no-{}", flag.name).into_boxed_str());
                match (long(flag.name), long(negated)) {
                    (Some(_), Some(_)) => {}
                    (Some((id, ArgAction::SetTrue)), None) => {
                        // Ours, without the negative form: add it, really meaning false.
                        command = command
                            .mut_arg(id.clone(), |arg| arg.overrides_with(negated))
                            .arg(
                                Arg::new(negated)
                                    .long(negated)
                                    .hide(true)
                                    .action(ArgAction::SetTrue)
                                    .overrides_with(id),
                            );
                    }
                    (positive, negative) => {
                        if positive.is_none() {
                            command = command.arg(ignored(flag.name).action(ArgAction::SetTrue));
                        }
                        if negative.is_none() {
                            command = command.arg(ignored(negated).action(ArgAction::SetTrue));
                        }
                    }
                }
            }
        }
    }
    command
}

fn ignored(name: &'static str) -> Arg {
    let id: &'static str = Box::leak(format!("{IGNORED}{name}").into_boxed_str());
    Arg::new(id).long(name).hide(true)
}

/// The flags given on the command line that were accepted only for compatibility
/// (`--` included), sorted.
pub fn ignored_given(matches: &ArgMatches) -> Vec<String> {
    let mut given: Vec<String> = matches
        .ids()
        .map(|id| id.as_str())
        .filter_map(|id| id.strip_prefix(IGNORED))
        .filter(|name| {
            matches.value_source(&format!("{IGNORED}{name}"))
                == Some(clap::parser::ValueSource::CommandLine)
        })
        .map(|name| format!("--{name}"))
        .collect();
    given.sort_unstable();
    given
}

/// Logs one warning per flag given that is accepted but not supported.
pub fn warn_ignored(matches: &ArgMatches) {
    for flag in ignored_given(matches) {
        tracing::warn!(
            flag = %flag,
            "{flag}: accepted for node_exporter compatibility, not supported; ignored"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_no_duplicates_and_node_exporter_counts() {
        let mut names: Vec<&str> = all().map(|f| f.name).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
        // 49 collectors on by default and 29 off, as in 1.12.
        assert_eq!(COLLECTORS.len(), 78);
    }

    #[test]
    fn existing_flags_are_kept_and_the_rest_added_hidden() {
        let command = accept_the_rest(
            Command::new("t")
                .arg(Arg::new("log.level").long("log.level"))
                .arg(
                    Arg::new("collector.disable-defaults")
                        .long("collector.disable-defaults")
                        .action(ArgAction::SetTrue),
                ),
        );
        let parse = |args: &[&str]| {
            command
                .clone()
                .try_get_matches_from(std::iter::once("t").chain(args.iter().copied()))
        };
        // Ours: parsed as before, not reported as ignored.
        let matches = parse(&["--log.level=debug"]).unwrap();
        assert_eq!(
            matches.get_one::<String>("log.level").map(String::as_str),
            Some("debug")
        );
        assert!(ignored_given(&matches).is_empty());
        // The added --no- form of our boolean really means false; the last one wins.
        let matches = parse(&[
            "--collector.disable-defaults",
            "--no-collector.disable-defaults",
        ])
        .unwrap();
        assert!(!matches.get_flag("collector.disable-defaults"));
        assert!(ignored_given(&matches).is_empty());
        let matches = parse(&[
            "--no-collector.disable-defaults",
            "--collector.disable-defaults",
        ])
        .unwrap();
        assert!(matches.get_flag("collector.disable-defaults"));
        // Someone else's: accepted and reported.
        let matches = parse(&[
            "--collector.ntp.server",
            "10.0.0.1",
            "--no-collector.ntp",
            "--collector.textfile.directory=/a",
            "--collector.textfile.directory=/b",
        ])
        .unwrap();
        assert_eq!(
            ignored_given(&matches),
            vec![
                "--collector.ntp.server",
                "--collector.textfile.directory",
                "--no-collector.ntp"
            ]
        );
        assert!(parse(&["--collector.nonsense"]).is_err());
        assert!(parse(&["--no-collector.ntp.server"]).is_err());
    }
}
