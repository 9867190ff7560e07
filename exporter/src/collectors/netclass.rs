//! `node_network_info`, `node_network_up` and one `node_network_<property>` family per
//! numeric attribute of `<sysfs>/class/net/<iface>/`, as node_exporter 1.12's netclass
//! collector (sysfs mode) emits them. `node_network_info` carries `adminstate` (1.6):
//! "up" when `flags` has IFF_UP, "down" when not, "unknown" without `flags`.
//! (`node_network_altnames_info`, 1.11, belongs to the rtnetlink mode only.)
//!
//! An attribute that cannot be read (ENOENT, EACCES, EOPNOTSUPP, EINVAL — the carrier,
//! speed and duplex of a down link) is left out, as node_exporter leaves it out.
//! Attributes the kernel never changes while an interface exists are read once per
//! interface and kept until the interface goes away or is re-created.
//!
//! Unlike node_exporter, on input a kernel does not produce or at moments it rarely
//! hits: a value that is not an integer fails the collector with its file named
//! (node_exporter reports 0); an interface that disappears while it is read is left
//! out, and ENODEV skips an attribute (node_exporter fails the scrape); only the
//! attributes exported are read, not every file of the directory; and
//! `--collector.netclass.netlink` (the rtnetlink mode) is refused at startup.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io;
use std::os::unix::fs::DirEntryExt;
use std::path::{Path, PathBuf};

use clap::Arg;
use regex_lite::Regex;

use crate::collector::{switch_args, BuildContext, Collector, CollectorSpec};
use crate::error::{CollectError, ConfigError};
use crate::read::AttributeDir;
use crate::rtnetlink::LinkProperties;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "netclass",
    enabled_by_default: true,
    args,
    build: |ctx| Ok(Box::new(NetClass::new(ctx)?)),
};

const IGNORED_DEVICES: &str = "collector.netclass.ignored-devices";
const IGNORE_INVALID_SPEED: &str = "collector.netclass.ignore-invalid-speed";
const NETLINK: &str = "collector.netclass.netlink";
const RTNL_WITH_STATS: &str = "collector.netclass_rtnl.with-stats";

fn args() -> Vec<Arg> {
    let mut args = vec![Arg::new(IGNORED_DEVICES)
        .long(IGNORED_DEVICES)
        .default_value("^$")
        .help("Regexp of net devices to ignore for netclass collector.")];
    args.extend(switch_args(
        IGNORE_INVALID_SPEED,
        "Ignore devices where the speed is invalid. This will be the default behavior in 2.x.",
    ));
    args.extend(switch_args(
        NETLINK,
        "Use netlink to gather stats instead of /proc/net/dev. (Not supported by edge-exporter: only the default sysfs mode is.)",
    ));
    args.extend(switch_args(
        RTNL_WITH_STATS,
        "Expose the statistics for each network device, replacing netdev collector. (Only with --collector.netclass.netlink.)",
    ));
    args
}

/// node_exporter reads at most this much of an attribute (procfs' `SysReadFile`).
const GO_READ_BYTES: usize = 128;

/// Where a numeric attribute comes from.
#[derive(Clone, Copy)]
enum Source {
    /// Fixed when the kernel registers the interface: read from sysfs once.
    Interface,
    /// Read from sysfs every scrape: netlink does not report it, or reports it
    /// differently (`flags` there include RUNNING, LOWER_UP and DORMANT).
    Sysfs,
    /// From the rtnetlink link dump when it shows the same links as sysfs (see
    /// [`NetClass::matching_links`]), else read from sysfs every scrape.
    Link(fn(&LinkProperties, u32) -> Option<i64>),
}

/// A numeric attribute file and the family it becomes.
struct Numeric {
    file: &'static str,
    metric: &'static str,
    help: &'static str,
    kind: MetricKind,
    source: Source,
}

const fn numeric(
    file: &'static str,
    metric: &'static str,
    help: &'static str,
    kind: MetricKind,
    source: Source,
) -> Numeric {
    Numeric {
        file,
        metric,
        help,
        kind,
        source,
    }
}

use MetricKind::{Counter, Gauge};
use Source::{Interface, Link, Sysfs};

const IFF_UP: u32 = 0x1;
const IFF_DORMANT: u32 = 0x20000;

/// sysfs answers `carrier` and `dormant` only for a running (up) link: EINVAL otherwise.
fn running(p: &LinkProperties) -> bool {
    p.flags & IFF_UP != 0
}

/// Every numeric attribute node_exporter exports except `speed` (scaled, see
/// [`speed_bytes`]). Only the ifindex, dev_id and name_assign_type are fixed for the
/// life of an interface: a MAC address (and with it addr_assign_type) and the
/// broadcast address can be set, link_mode changes with `ip link set mode`, iflink
/// when a veth peer moves to another namespace, and type when a bond or team takes
/// its first non-Ethernet port or a tun device is given TUNSETLINK.
///
/// The `Link` readers give what the kernel's sysfs attribute shows, from the same
/// kernel fields (net/core/net-sysfs.c and rtnetlink.c): iflink is the link's own
/// index when IFLA_LINK is absent; carrier and dormant exist only while the link is up.
#[rustfmt::skip]
const NUMERIC: [Numeric; 16] = [
    numeric("addr_assign_type",   "node_network_address_assign_type",        "Network device property: address_assign_type", Gauge, Sysfs),
    numeric("carrier",            "node_network_carrier",                    "Network device property: carrier", Gauge, Link(|p, _| if running(p) { p.carrier.map(i64::from) } else { None })),
    numeric("carrier_changes",    "node_network_carrier_changes_total",      "Network device property: carrier_changes_total", Counter, Link(|p, _| p.carrier_changes.map(i64::from))),
    numeric("carrier_up_count",   "node_network_carrier_up_changes_total",   "Network device property: carrier_up_changes_total", Counter, Link(|p, _| p.carrier_up_count.map(i64::from))),
    numeric("carrier_down_count", "node_network_carrier_down_changes_total", "Network device property: carrier_down_changes_total", Counter, Link(|p, _| p.carrier_down_count.map(i64::from))),
    numeric("dev_id",             "node_network_device_id",                  "Network device property: device_id", Gauge, Interface),
    numeric("dormant",            "node_network_dormant",                    "Network device property: dormant", Gauge, Link(|p, _| running(p).then_some(i64::from(p.flags & IFF_DORMANT != 0)))),
    numeric("flags",              "node_network_flags",                      "Network device property: flags", Gauge, Sysfs),
    numeric("ifindex",            "node_network_iface_id",                   "Network device property: iface_id", Gauge, Interface),
    numeric("iflink",             "node_network_iface_link",                 "Network device property: iface_link", Gauge, Link(|p, index| Some(i64::from(p.link.unwrap_or(index))))),
    numeric("link_mode",          "node_network_iface_link_mode",            "Network device property: iface_link_mode", Gauge, Link(|p, _| p.link_mode.map(i64::from))),
    numeric("mtu",                "node_network_mtu_bytes",                  "Network device property: mtu_bytes", Gauge, Link(|p, _| p.mtu.map(i64::from))),
    numeric("name_assign_type",   "node_network_name_assign_type",           "Network device property: name_assign_type", Gauge, Interface),
    numeric("netdev_group",       "node_network_net_dev_group",              "Network device property: net_dev_group", Gauge, Link(|p, _| p.group.map(i64::from))),
    numeric("tx_queue_len",       "node_network_transmit_queue_length",      "Network device property: transmit_queue_length", Gauge, Link(|p, _| p.tx_queue_len.map(i64::from))),
    numeric("type",               "node_network_protocol_type",              "Network device property: protocol_type", Gauge, Link(|p, _| Some(i64::from(p.link_type)))),
];

/// The position of `ifindex` in [`NUMERIC`].
const IFINDEX: usize = 8;

/// `IF_OPER_*` as sysfs spells them.
const OPERSTATES: [&str; 7] = [
    "unknown",
    "notpresent",
    "down",
    "lowerlayerdown",
    "testing",
    "dormant",
    "up",
];

/// A hardware address as sysfs prints it: lowercase hex bytes joined by colons.
fn format_hardware_address(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 3);
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 {
            text.push(':');
        }
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// The string attributes, in the order of [`NetClassIface::strings`].
const STRINGS: [&str; 5] = ["address", "broadcast", "duplex", "ifalias", "operstate"];
const ADDRESS: usize = 0;
const BROADCAST: usize = 1;
const DUPLEX: usize = 2;
const IFALIAS: usize = 3;
const OPERSTATE: usize = 4;

/// What one scrape knows of one interface; `None` where the file could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetClassIface {
    pub name: String,
    /// Indexed like [`STRINGS`]; "" where unreadable, as node_exporter reports them.
    pub strings: [String; 5],
    /// Indexed like [`NUMERIC`].
    pub numbers: [Option<i64>; 16],
    /// Link speed in Mbit/s; -1 when the driver does not know it.
    pub speed: Option<i64>,
}

/// The attributes of one interface that never change, and the directory entry they
/// were read under: a re-created interface has a new entry (inode), even under the
/// same name and ifindex.
struct Fixed {
    inode: u64,
    /// The interface's directory, kept open: its attributes are read with openat.
    dir: AttributeDir,
    numbers: [Option<i64>; 16],
    /// The last scrape that listed the interface.
    seen: u64,
}

pub struct NetClass {
    class_dir: PathBuf,
    ignored: Option<Regex>,
    ignore_invalid_speed: bool,
    fixed: HashMap<String, Fixed>,
    scrapes: u64,
    /// Take what the link dump has from it when it matches sysfs (off only in tests
    /// that compare both ways).
    use_link_dump: bool,
}

impl NetClass {
    pub fn new(ctx: &BuildContext) -> Result<Self, ConfigError> {
        if ctx.switch(NETLINK, false) {
            return Err(ConfigError::new(
                format!("--{NETLINK}"),
                "the rtnetlink mode of netclass is not supported; the default sysfs mode reports the same families",
            ));
        }
        Ok(NetClass {
            class_dir: ctx.paths.sys("class/net"),
            ignored: ctx.regex(IGNORED_DEVICES)?,
            ignore_invalid_speed: ctx.switch(IGNORE_INVALID_SPEED, false),
            fixed: HashMap::new(),
            scrapes: 0,
            use_link_dump: true,
        })
    }

    /// Reads every interface not ignored, sorted by name.
    pub fn read_interfaces(
        &mut self,
        sources: &mut Sources,
    ) -> Result<Vec<NetClassIface>, CollectError> {
        let names = self.list_interfaces()?;
        let links = if self.use_link_dump {
            self.matching_links(&names, sources)
        } else {
            None
        };
        let mut interfaces = Vec::with_capacity(names.len());
        for name in names {
            let Some(fixed) = self.fixed.get(&name) else {
                continue;
            };
            let link = links.and_then(|links| links.iter().find(|l| l.name == name));
            let read = match link {
                Some(link) => Some(read_with_link(&fixed.dir, name, link)?),
                None => read_interface(&fixed.dir, name)?,
            };
            if let Some(mut iface) = read {
                for (number, (attribute, fixed)) in iface
                    .numbers
                    .iter_mut()
                    .zip(NUMERIC.iter().zip(fixed.numbers))
                {
                    if matches!(attribute.source, Interface) {
                        *number = fixed;
                    }
                }
                interfaces.push(iface);
            }
        }
        interfaces.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(interfaces)
    }

    /// Lists the interfaces not ignored, opening and reading the fixed attributes of
    /// those not seen before, and forgets those that are gone.
    fn list_interfaces(&mut self) -> Result<Vec<String>, CollectError> {
        let entries = std::fs::read_dir(&self.class_dir)
            .map_err(|e| CollectError::read(&self.class_dir, e))?;
        let mut names = Vec::new();
        self.scrapes += 1;
        for entry in entries {
            let entry = entry.map_err(|e| CollectError::read(&self.class_dir, e))?;
            // Regular files (bonding_masters) are not interfaces; node_exporter keeps
            // symlinks and directories.
            let is_file = entry
                .file_type()
                .map_err(|e| CollectError::read(&entry.path(), e))?
                .is_file();
            let Ok(name) = entry.file_name().into_string() else {
                tracing::debug!(entry = ?entry.file_name(), "skipping an interface name that is not UTF-8");
                continue;
            };
            if is_file || self.ignored.as_ref().is_some_and(|re| re.is_match(&name)) {
                continue;
            }
            let fixed = match self.fixed.entry(name.clone()) {
                Entry::Occupied(occupied) if occupied.get().inode == entry.ino() => {
                    occupied.into_mut()
                }
                vacant_or_stale => {
                    let path = entry.path();
                    let dir = match AttributeDir::open(&path) {
                        Ok(dir) => dir,
                        // Unregistered between the listing and now.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(CollectError::read(&path, e)),
                    };
                    let fixed = Fixed {
                        inode: entry.ino(),
                        numbers: read_numbers(&dir, |source| matches!(source, Interface))?,
                        dir,
                        seen: self.scrapes,
                    };
                    match vacant_or_stale {
                        Entry::Occupied(mut stale) => {
                            stale.insert(fixed);
                            stale.into_mut()
                        }
                        Entry::Vacant(vacant) => vacant.insert(fixed),
                    }
                }
            };
            fixed.seen = self.scrapes;
            names.push(name);
        }
        self.fixed.retain(|_, fixed| fixed.seen == self.scrapes);
        Ok(names)
    }

    /// The link dump, if it shows exactly the interfaces sysfs lists, each under the
    /// same ifindex: then sysfs and our netlink socket see the same network namespace
    /// (not so for a fixture tree, or a host's /sys mounted into a pod without
    /// hostNetwork), and the dump's values are what sysfs would show.
    fn matching_links<'s>(
        &self,
        names: &[String],
        sources: &'s mut Sources,
    ) -> Option<&'s [crate::rtnetlink::Link]> {
        let links = match sources.links() {
            Ok(links) => links,
            Err(error) => {
                tracing::debug!(%error, "no link dump, reading sysfs only");
                return None;
            }
        };
        let considered = links
            .iter()
            .filter(|l| !self.ignored.as_ref().is_some_and(|re| re.is_match(&l.name)))
            .count();
        let same = considered == names.len()
            && names.iter().all(|name| {
                let sysfs_index = self.fixed.get(name).and_then(|f| f.numbers[IFINDEX]);
                links
                    .iter()
                    .any(|l| &l.name == name && sysfs_index == Some(i64::from(l.index)))
            });
        same.then_some(links)
    }
}

/// Reads an interface from the link dump, and from sysfs what the dump lacks.
fn read_with_link(
    dir: &AttributeDir,
    name: String,
    link: &crate::rtnetlink::Link,
) -> Result<NetClassIface, CollectError> {
    let p = &link.properties;
    let mut iface = NetClassIface {
        name,
        numbers: read_numbers(dir, |source| matches!(source, Sysfs))?,
        ..NetClassIface::default()
    };
    for (number, attribute) in iface.numbers.iter_mut().zip(&NUMERIC) {
        if let Link(get) = attribute.source {
            *number = get(p, link.index);
        }
    }
    let mac = |bytes: &Option<Vec<u8>>| bytes.as_deref().map(format_hardware_address);
    iface.strings[ADDRESS] = mac(&p.address).unwrap_or_default();
    iface.strings[BROADCAST] = mac(&p.broadcast).unwrap_or_default();
    iface.strings[DUPLEX] = read_optional(dir, "duplex")?.unwrap_or_default();
    iface.strings[IFALIAS] = p.ifalias.clone().unwrap_or_default();
    truncate_like_go(&mut iface.strings[IFALIAS]);
    iface.strings[OPERSTATE] = p
        .operstate
        .and_then(|state| OPERSTATES.get(usize::from(state)))
        .map_or(String::new(), |state| state.to_string());
    iface.speed = read_optional(dir, "speed")?
        .map(|text| parse_go_int(&text, &dir.path_of("speed")))
        .transpose()?;
    Ok(iface)
}

/// Reads the attributes of `dir` that change while the interface exists; `None` if the
/// interface went away while it was being read.
fn read_interface(dir: &AttributeDir, name: String) -> Result<Option<NetClassIface>, CollectError> {
    let mut iface = NetClassIface {
        name,
        numbers: read_numbers(dir, |source| !matches!(source, Interface))?,
        ..NetClassIface::default()
    };
    for (value, file) in iface.strings.iter_mut().zip(STRINGS) {
        match read_optional(dir, file)? {
            Some(text) => *value = text,
            // Every interface has an operstate: without it, the interface is gone.
            None if file == "operstate" && !dir.path().exists() => return Ok(None),
            None => {}
        }
    }
    truncate_like_go(&mut iface.strings[IFALIAS]);
    iface.speed = read_optional(dir, "speed")?
        .map(|text| parse_go_int(&text, &dir.path_of("speed")))
        .transpose()?;
    Ok(Some(iface))
}

/// Reads from sysfs the numeric attributes whose source `wanted` selects; the
/// others stay `None`.
fn read_numbers(
    dir: &AttributeDir,
    wanted: impl Fn(Source) -> bool,
) -> Result<[Option<i64>; 16], CollectError> {
    let mut numbers = [None; 16];
    for (number, attribute) in numbers.iter_mut().zip(&NUMERIC) {
        if !wanted(attribute.source) {
            continue;
        }
        *number = read_optional(dir, attribute.file)?
            .map(|text| parse_go_int(&text, &dir.path_of(attribute.file)))
            .transpose()?;
    }
    Ok(numbers)
}

/// One attribute, or `None` for the errors node_exporter skips an attribute on.
/// ENODEV (an interface unregistered between open and read) is skipped too, where
/// node_exporter would fail the scrape.
fn read_optional(dir: &AttributeDir, file: &str) -> Result<Option<String>, CollectError> {
    match dir.read(file) {
        Ok(text) => Ok(Some(text)),
        Err(e) if skippable(&e) => Ok(None),
        Err(e) => Err(CollectError::read(&dir.path_of(file), e)),
    }
}

fn skippable(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied | io::ErrorKind::Unsupported
    ) || matches!(
        error.raw_os_error(),
        Some(code) if code == nix::libc::EINVAL
            || code == nix::libc::EOPNOTSUPP
            || code == nix::libc::ENODEV
    )
}

/// node_exporter keeps the first 128 bytes of an attribute; only an ifalias (up to
/// 255 bytes) can be longer.
fn truncate_like_go(text: &mut String) {
    if text.len() > GO_READ_BYTES {
        let mut end = GO_READ_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.truncate(text.trim_end().len());
    }
}

/// Go's `strconv.ParseInt(text, 0, 64)`: an optional sign, then decimal, `0x` hex,
/// `0o`/`0` octal or `0b` binary — sysfs writes `flags` and `dev_id` in hex.
pub fn parse_go_int(text: &str, path: &Path) -> Result<i64, CollectError> {
    let bad = || CollectError::parse(path, 1, format!("not an integer: {text:?}"));
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = unsigned.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits) = match lower.as_deref() {
        Some("0x") => (16, &unsigned[2..]),
        Some("0o") => (8, &unsigned[2..]),
        Some("0b") => (2, &unsigned[2..]),
        _ if unsigned.len() > 1 && unsigned.starts_with('0') => (8, &unsigned[1..]),
        _ => (10, unsigned),
    };
    // from_str_radix would also take a second sign.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad());
    }
    let magnitude = u64::from_str_radix(digits, radix).map_err(|_| bad())?;
    if negative {
        0i64.checked_sub_unsigned(magnitude).ok_or_else(bad)
    } else {
        i64::try_from(magnitude).map_err(|_| bad())
    }
}

/// `speed` (Mbit/s) as node_exporter reports it: `int64(speed * 1000 * 1000 / 8)`,
/// so an unknown speed (-1) is -125000 unless `--collector.netclass.ignore-invalid-speed`.
pub fn speed_bytes(speed: i64, ignore_invalid: bool) -> Option<i64> {
    (speed >= 0 || !ignore_invalid).then(|| speed.wrapping_mul(1_000_000) / 8)
}

/// Appends the families of `interfaces` (sorted by name) in node_exporter's sample order.
pub fn record(interfaces: &[NetClassIface], ignore_invalid_speed: bool, out: &mut MetricSet) {
    if interfaces.is_empty() {
        return;
    }
    let up = out.family(
        "node_network_up",
        "Value is 1 if operstate is 'up', 0 otherwise.",
        Gauge,
    );
    for iface in interfaces {
        let value = if iface.strings[OPERSTATE] == "up" {
            1.0
        } else {
            0.0
        };
        up.push(&[("device", &iface.name)], value);
    }

    // Samples are ordered by label values in label-name order, so by address first.
    let mut by_labels: Vec<&NetClassIface> = interfaces.iter().collect();
    by_labels.sort_by(|a, b| info_labels(a).cmp(&info_labels(b)));
    let info = out.family(
        "node_network_info",
        "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
        Gauge,
    );
    for iface in by_labels {
        let values = info_labels(iface);
        let labels: [(&'static str, &str); 7] =
            std::array::from_fn(|i| (INFO_LABELS[i], values[i]));
        info.push(&labels, 1.0);
    }

    for (index, attribute) in NUMERIC.iter().enumerate() {
        if interfaces.iter().all(|i| i.numbers[index].is_none()) {
            continue;
        }
        let family = out.family(attribute.metric, attribute.help, attribute.kind);
        for iface in interfaces {
            if let Some(value) = iface.numbers[index] {
                family.push(&[("device", &iface.name)], value as f64);
            }
        }
    }

    let speeds: Vec<(&str, i64)> = interfaces
        .iter()
        .filter_map(|i| {
            Some((
                i.name.as_str(),
                speed_bytes(i.speed?, ignore_invalid_speed)?,
            ))
        })
        .collect();
    if !speeds.is_empty() {
        let family = out.family(
            "node_network_speed_bytes",
            "Network device property: speed_bytes",
            Gauge,
        );
        for (device, bytes) in speeds {
            family.push(&[("device", device)], bytes as f64);
        }
    }
}

const INFO_LABELS: [&str; 7] = [
    "address",
    "adminstate",
    "broadcast",
    "device",
    "duplex",
    "ifalias",
    "operstate",
];

/// node_exporter's `adminstate`: from IFF_UP in `flags`, "unknown" when flags is unread.
fn admin_state(iface: &NetClassIface) -> &'static str {
    let flags = NUMERIC
        .iter()
        .position(|n| n.file == "flags")
        .and_then(|index| iface.numbers[index]);
    match flags {
        None => "unknown",
        Some(flags) if flags & i64::from(IFF_UP) != 0 => "up",
        Some(_) => "down",
    }
}

/// The label values of `node_network_info`, in [`INFO_LABELS`] order.
fn info_labels(iface: &NetClassIface) -> [&str; 7] {
    let s = &iface.strings;
    [
        &s[ADDRESS],
        admin_state(iface),
        &s[BROADCAST],
        &iface.name,
        &s[DUPLEX],
        &s[IFALIAS],
        &s[OPERSTATE],
    ]
}

impl Collector for NetClass {
    fn update(&mut self, sources: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let interfaces = self.read_interfaces(sources)?;
        record(&interfaces, self.ignore_invalid_speed, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;

    use crate::test_support::{fixture_paths, Line};

    fn build(paths: &Paths, flags: &[&str]) -> Result<NetClass, ConfigError> {
        let matches = clap::Command::new("test")
            .args(args())
            .try_get_matches_from(std::iter::once("test").chain(flags.iter().copied()))
            .unwrap();
        NetClass::new(&BuildContext {
            paths,
            matches: &matches,
        })
    }

    fn scrape(netclass: &mut NetClass) -> MetricSet {
        let mut out = MetricSet::new();
        netclass.update(&mut Sources::default(), &mut out).unwrap();
        out
    }

    fn is_netclass_family(name: &str) -> bool {
        let netdev = (name.starts_with("node_network_receive_")
            || name.starts_with("node_network_transmit_"))
            && name.ends_with("_total");
        name.starts_with("node_network_") && !netdev && name != "node_network_address_info"
    }

    #[test]
    fn the_fixture_matches_node_exporter() {
        let paths = Paths::under(&crate::test_support::fixtures());
        let set = scrape(&mut build(&paths, &[]).unwrap());
        let expected = crate::test_support::reference(is_netclass_family);
        // 19 families; bond0 (the bonding fixture) has a sample in each of them.
        assert_eq!(expected.len(), 19 * 2 + 53 + 19);
        // 1.5's reference, apart from 1.6's adminstate label on node_network_info.
        let mut admin_states = Vec::new();
        let ours: Vec<Line> = crate::test_support::rendered(&set, is_netclass_family)
            .into_iter()
            .map(|line| match line {
                Line::Sample(name, mut labels, value) if name == "node_network_info" => {
                    let at = labels.iter().position(|(k, _)| k == "adminstate").unwrap();
                    let (_, state) = labels.remove(at);
                    let device = labels.iter().find(|(k, _)| k == "device").unwrap();
                    admin_states.push((device.1.clone(), state));
                    Line::Sample(name, labels, value)
                }
                other => other,
            })
            .collect();
        assert_eq!(ours, expected);
        admin_states.sort();
        let states: Vec<(&str, &str)> = admin_states
            .iter()
            .map(|(d, s)| (d.as_str(), s.as_str()))
            .collect();
        // flags: bond0 0x1403, eth0 0x1003, lo 0x9, wlan0 0x1002.
        assert_eq!(
            states,
            [
                ("bond0", "up"),
                ("eth0", "up"),
                ("lo", "up"),
                ("wlan0", "down")
            ]
        );
        // Spot checks, with exact values from tests/fixtures/sys/class/net.
        let value = |name, device| set.value(name, &[("device", device)]);
        assert_eq!(value("node_network_flags", "eth0"), Some(4099.0));
        assert_eq!(
            value("node_network_speed_bytes", "eth0"),
            Some(125_000_000.0)
        );
        assert_eq!(value("node_network_up", "lo"), Some(0.0));
        assert_eq!(value("node_network_iface_link_mode", "wlan0"), Some(1.0));
        // wlan0 is down: its carrier, dormant and speed read as EINVAL.
        assert_eq!(value("node_network_carrier", "wlan0"), None);
        assert_eq!(value("node_network_speed_bytes", "wlan0"), None);
        let eth0 = [
            ("address", "3c:7c:3f:1a:2b:3c"),
            ("device", "eth0"),
            ("duplex", "full"),
            ("ifalias", "uplink to switch1"),
        ];
        assert_eq!(set.value("node_network_info", &eth0), Some(1.0));
    }

    /// A fake `class/net` with one interface `eth9` and a `bonding_masters` file.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("class/net");
        std::fs::create_dir_all(&net).unwrap();
        std::fs::write(net.join("bonding_masters"), "bond0\n").unwrap();
        write_iface(&net.join("eth9"), "5");
        dir
    }

    fn write_iface(dir: &Path, ifindex: &str) {
        std::fs::create_dir(dir).unwrap();
        for (file, text) in [
            ("operstate", "up\n"),
            ("speed", "-1\n"),
            ("flags", "0x1003\n"),
            ("ifindex", ifindex),
            ("dev_id", "0x10\n"),
            ("mtu", "9000\n"),
            ("type", "1\n"),
        ] {
            std::fs::write(dir.join(file), text).unwrap();
        }
    }

    fn sys_paths(dir: &tempfile::TempDir) -> Paths {
        crate::test_support::sysfs_under(dir.path())
    }

    #[test]
    fn reads_what_exists_and_omits_the_rest() {
        let dir = tree();
        let set = scrape(&mut build(&sys_paths(&dir), &[]).unwrap());
        let value = |name| set.value(name, &[("device", "eth9")]);
        assert_eq!(value("node_network_up"), Some(1.0));
        assert_eq!(value("node_network_flags"), Some(4099.0));
        assert_eq!(value("node_network_device_id"), Some(16.0));
        assert_eq!(value("node_network_iface_id"), Some(5.0));
        assert_eq!(value("node_network_mtu_bytes"), Some(9000.0));
        assert_eq!(value("node_network_speed_bytes"), Some(-125000.0));
        assert!(set.get("node_network_carrier").is_none());
        let info = &set.get("node_network_info").unwrap().samples();
        assert_eq!(info.len(), 1, "bonding_masters is not an interface");
        let labels: Vec<(&str, &str)> = info[0]
            .labels
            .iter()
            .map(|(k, v)| (&**k, v.as_str()))
            .collect();
        assert_eq!(
            labels,
            [
                ("address", ""),
                ("adminstate", "up"),
                ("broadcast", ""),
                ("device", "eth9"),
                ("duplex", ""),
                ("ifalias", ""),
                ("operstate", "up")
            ]
        );
        let flags = ["--collector.netclass.ignore-invalid-speed"];
        let set = scrape(&mut build(&sys_paths(&dir), &flags).unwrap());
        assert!(set.get("node_network_speed_bytes").is_none());
        assert!(set.get("node_network_mtu_bytes").is_some());
        let flags = ["--collector.netclass.ignored-devices=^eth"];
        let set = scrape(&mut build(&sys_paths(&dir), &flags).unwrap());
        assert!(set.families().is_empty());
    }

    #[test]
    fn fixed_attributes_are_read_once_per_interface() {
        let dir = tree();
        let net = dir.path().join("class/net");
        let mut netclass = build(&sys_paths(&dir), &[]).unwrap();
        let iface_id = |set: &MetricSet| set.value("node_network_iface_id", &[("device", "eth9")]);
        assert_eq!(iface_id(&scrape(&mut netclass)), Some(5.0));
        // Fixed attributes are not read again; the others are.
        std::fs::write(net.join("eth9/ifindex"), "99").unwrap();
        std::fs::write(net.join("eth9/mtu"), "1500").unwrap();
        let set = scrape(&mut netclass);
        assert_eq!(iface_id(&set), Some(5.0));
        assert_eq!(
            set.value("node_network_mtu_bytes", &[("device", "eth9")]),
            Some(1500.0)
        );
        // The same name re-created (a new directory entry) is read afresh. The old
        // directory is kept until then so that its inode cannot be reused.
        std::fs::rename(net.join("eth9"), dir.path().join("old")).unwrap();
        write_iface(&net.join("eth9"), "6");
        assert_eq!(iface_id(&scrape(&mut netclass)), Some(6.0));
        // A vanished interface is forgotten.
        std::fs::remove_dir_all(net.join("eth9")).unwrap();
        assert!(scrape(&mut netclass).families().is_empty());
        assert!(netclass.fixed.is_empty());
    }

    #[test]
    fn an_interface_that_vanished_is_skipped() {
        let dir = tree();
        let net = dir.path().join("class/net");
        std::os::unix::fs::symlink(dir.path().join("gone"), net.join("veth1")).unwrap();
        let set = scrape(&mut build(&sys_paths(&dir), &[]).unwrap());
        assert_eq!(set.get("node_network_up").unwrap().samples().len(), 1);
    }

    #[test]
    fn unreadable_values_fail_the_collector_naming_the_file() {
        let dir = tree();
        let flags = dir.path().join("class/net/eth9/flags");
        std::fs::write(&flags, "0xZZ\n").unwrap();
        let err = build(&sys_paths(&dir), &[])
            .unwrap()
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}:1: not an integer: \"0xZZ\"", flags.display())
        );
        // node_exporter reads an empty file as 0; a kernel never writes one.
        std::fs::write(&flags, "").unwrap();
        let err = build(&sys_paths(&dir), &[])
            .unwrap()
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert!(
            err.to_string().ends_with("flags:1: not an integer: \"\""),
            "{err}"
        );
        let missing = Paths {
            sysfs: dir.path().join("nowhere"),
            ..Paths::default()
        };
        let err = build(&missing, &[])
            .unwrap()
            .update(&mut Sources::default(), &mut MetricSet::new())
            .unwrap_err();
        assert!(err.to_string().starts_with("reading "), "{err}");
    }

    #[test]
    fn integers_parse_like_go_strconv_base_0() {
        let p = Path::new("flags");
        let ok = |text| parse_go_int(text, p).unwrap();
        assert_eq!(ok("0x1003"), 4099);
        assert_eq!(ok("0X1f"), 31);
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("-1"), -1);
        assert_eq!(ok("+7"), 7);
        assert_eq!(ok("010"), 8);
        assert_eq!(ok("0o17"), 15);
        assert_eq!(ok("0b101"), 5);
        assert_eq!(ok("-0x10"), -16);
        assert_eq!(ok("9223372036854775807"), i64::MAX);
        assert_eq!(ok("-9223372036854775808"), i64::MIN);
        for bad in [
            "",
            "x",
            "0x",
            "--1",
            "+-1",
            "1.5",
            "08",
            "9223372036854775808",
            " 1",
        ] {
            let err = parse_go_int(bad, p).unwrap_err();
            assert_eq!(err.to_string(), format!("flags:1: not an integer: {bad:?}"));
        }
    }

    #[test]
    fn speed_is_scaled_and_unknown_speed_optional() {
        assert_eq!(speed_bytes(1000, false), Some(125_000_000));
        assert_eq!(speed_bytes(0, true), Some(0));
        assert_eq!(speed_bytes(-1, false), Some(-125_000));
        assert_eq!(speed_bytes(-1, true), None);
    }

    #[test]
    fn a_long_ifalias_is_cut_where_node_exporter_cuts_it() {
        let mut text = format!("{} {}", "a".repeat(126), "b".repeat(100));
        truncate_like_go(&mut text);
        assert_eq!(text, format!("{} b", "a".repeat(126)));
        let mut text = format!("{} {}", "a".repeat(127), "b".repeat(100));
        truncate_like_go(&mut text);
        assert_eq!(text, "a".repeat(127));
        let mut text = format!("{}é", "a".repeat(127));
        truncate_like_go(&mut text);
        assert_eq!(text, "a".repeat(127));
        let mut text = "short".to_string();
        truncate_like_go(&mut text);
        assert_eq!(text, "short");
    }

    #[test]
    fn the_rtnetlink_mode_is_refused() {
        let err = build(&Paths::default(), &["--collector.netclass.netlink"])
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with("--collector.netclass.netlink: "),
            "{err}"
        );
        assert!(build(&Paths::default(), &["--collector.netclass_rtnl.with-stats"]).is_ok());
    }

    /// On this host sysfs and our socket share a namespace: the link dump is used, and
    /// must give exactly what reading every attribute from sysfs gives.
    #[test]
    fn the_link_dump_gives_what_sysfs_gives() {
        let mut sources = Sources::default();
        let mut with_dump = build(&Paths::default(), &[]).unwrap();
        let mut sysfs_only = build(&Paths::default(), &[]).unwrap();
        sysfs_only.use_link_dump = false;
        let names = with_dump.list_interfaces().unwrap();
        assert!(
            with_dump.matching_links(&names, &mut sources).is_some(),
            "the dump should match this host's sysfs"
        );
        // Counters (carrier changes) could move between two reads: retry a few times.
        let mut last = None;
        for _ in 0..5 {
            sources.begin_scrape();
            let a = with_dump.read_interfaces(&mut sources).unwrap();
            let b = sysfs_only.read_interfaces(&mut sources).unwrap();
            if a == b {
                assert!(a.iter().any(|i| i.name == "lo"));
                return;
            }
            last = Some((a, b));
        }
        panic!("link dump and sysfs differ: {last:#?}");
    }

    #[test]
    fn a_fixture_tree_is_not_mixed_with_this_hosts_links() {
        let mut netclass = build(&fixture_paths(), &[]).unwrap();
        let names = netclass.list_interfaces().unwrap();
        assert!(netclass
            .matching_links(&names, &mut Sources::default())
            .is_none());
    }

    #[test]
    fn formats_hardware_addresses_as_sysfs_does() {
        assert_eq!(
            format_hardware_address(&[2, 0xfc, 0, 0xab, 0, 1]),
            "02:fc:00:ab:00:01"
        );
        assert_eq!(format_hardware_address(&[]), "");
    }

    #[test]
    fn reads_this_hosts_loopback() {
        let mut netclass = build(&Paths::default(), &[]).unwrap();
        for _ in 0..2 {
            let set = scrape(&mut netclass);
            let lo = [("device", "lo")];
            assert_eq!(set.value("node_network_iface_id", &lo), Some(1.0));
            assert_eq!(set.value("node_network_protocol_type", &lo), Some(772.0));
            let lo_info = [("address", "00:00:00:00:00:00"), ("device", "lo")];
            assert_eq!(set.value("node_network_info", &lo_info), Some(1.0));
        }
    }
}
