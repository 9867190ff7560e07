//! `node_systemd_*`: unit states and counters from systemd's manager over D-Bus
//! (`org.freedesktop.systemd1`), as node_exporter 1.12's systemd collector (off by
//! default there and here).
//!
//! What it asks, per scrape: the manager's `Version`, `Virtualization` and
//! `SystemState` properties, `ListUnits`, and for each unit the filters keep, the
//! properties its type has (a service's `Type`, `NRestarts`, `TasksCurrent`,
//! `TasksMax`; a mount's `Type`; a socket's `NAccepted`, `NConnections`, `NRefused`; a
//! timer's `LastTriggerUSec`; a unit's `ActiveEnterTimestamp`). One `Properties.Get`
//! per value, as node_exporter does; a value that cannot be read leaves its series out
//! (logged at debug), as there.
//!
//! Unlike node_exporter, which dials the bus on every scrape, the connection is kept
//! and dialled again after an error; every call has a deadline
//! ([`METHOD_TIMEOUT`]), so a systemd that does not answer costs one timeout, not a
//! stuck scrape. The unit list is bounded ([`MAX_UNITS`]).
//!
//! The D-Bus client is zbus (pure Rust, the crate the Rust D-Bus ecosystem settled
//! on); node_exporter's `--collector.systemd.private` (a direct connection to
//! `/run/systemd/private`, root only) is its peer-to-peer mode.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Arg;
use regex_lite::Regex;
use zbus::blocking::Connection;
use zbus::zvariant::{OwnedObjectPath, OwnedValue};

use crate::collector::{switch_args, BuildContext, Collector, CollectorSpec};
use crate::error::{CollectError, ConfigError};
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "systemd",
    enabled_by_default: false,
    args,
    build: |ctx| Ok(Box::new(Systemd::from_flags(ctx)?)),
};

/// Longest wait for one D-Bus call.
pub const METHOD_TIMEOUT: Duration = Duration::from_secs(5);
/// The most units one `ListUnits` answer may list; a larger answer fails the
/// collector rather than growing the scrape without bound.
pub const MAX_UNITS: usize = 20_000;
/// systemd's private socket, for `--collector.systemd.private`.
pub const PRIVATE_SOCKET: &str = "/run/systemd/private";
/// The first systemd with `SystemState` and timers' `LastTriggerUSec`.
const MIN_VERSION_SYSTEM_STATE: f64 = 212.0;

const UNIT_STATES: [&str; 5] = ["active", "activating", "deactivating", "inactive", "failed"];
const DESTINATION: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

const INCLUDE: &str = "collector.systemd.unit-include";
const EXCLUDE: &str = "collector.systemd.unit-exclude";
const OLD_INCLUDE: &str = "collector.systemd.unit-whitelist";
const OLD_EXCLUDE: &str = "collector.systemd.unit-blacklist";
const PRIVATE: &str = "collector.systemd.private";
const TASKS: &str = "collector.systemd.enable-task-metrics";
const RESTARTS: &str = "collector.systemd.enable-restarts-metrics";
const START_TIME: &str = "collector.systemd.enable-start-time-metrics";
const DEFAULT_EXCLUDE: &str = ".+\\.(automount|device|mount|scope|slice)";

fn args() -> Vec<Arg> {
    let mut list = vec![
        Arg::new(INCLUDE)
            .long(INCLUDE)
            .default_value(".+")
            .help("Regexp of systemd units to include. Units must both match include and not match exclude to be included."),
        Arg::new(OLD_INCLUDE)
            .long(OLD_INCLUDE)
            .hide(true)
            .help("DEPRECATED: Use --collector.systemd.unit-include"),
        Arg::new(EXCLUDE)
            .long(EXCLUDE)
            .default_value(DEFAULT_EXCLUDE)
            .help("Regexp of systemd units to exclude. Units must both match include and not match exclude to be included."),
        Arg::new(OLD_EXCLUDE)
            .long(OLD_EXCLUDE)
            .hide(true)
            .help("DEPRECATED: Use collector.systemd.unit-exclude"),
    ];
    list.extend(switch_args(
        PRIVATE,
        "Establish a private, direct connection to systemd without dbus (Strongly discouraged since it requires root. For testing purposes only).",
    ));
    list.extend(switch_args(
        TASKS,
        "Enables service unit tasks metrics unit_tasks_current and unit_tasks_max",
    ));
    list.extend(switch_args(
        RESTARTS,
        "Enables service unit metric service_restart_total",
    ));
    list.extend(switch_args(
        START_TIME,
        "Enables service unit metric unit_start_time_seconds",
    ));
    list
}

/// Where the manager is reached.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// The system bus (`$DBUS_SYSTEM_BUS_ADDRESS`, else `/run/dbus/system_bus_socket`).
    SystemBus,
    /// A direct connection to systemd's own socket, no bus daemon in between.
    Private(std::path::PathBuf),
}

/// Which optional families to ask for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras {
    pub tasks: bool,
    pub restarts: bool,
    pub start_time: bool,
}

pub struct Systemd {
    endpoint: Endpoint,
    include: Regex,
    exclude: Regex,
    extras: Extras,
    /// Kept across scrapes; dropped after an error and dialled again on the next.
    connection: Option<Connection>,
}

/// One entry of `ListUnits`: name, description, load state, active state, sub state,
/// followed unit, object path, job id, job type, job path.
type ListedUnit = (
    String,
    String,
    String,
    String,
    String,
    String,
    OwnedObjectPath,
    u32,
    String,
    OwnedObjectPath,
);

/// What the collector uses of a listed unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub name: String,
    pub load_state: String,
    pub active_state: String,
    pub path: String,
}

impl Systemd {
    fn from_flags(ctx: &BuildContext) -> Result<Self, ConfigError> {
        let include = pattern(ctx, INCLUDE, OLD_INCLUDE)?;
        let exclude = pattern(ctx, EXCLUDE, OLD_EXCLUDE)?;
        let endpoint = if ctx.switch(PRIVATE, false) {
            Endpoint::Private(PRIVATE_SOCKET.into())
        } else {
            Endpoint::SystemBus
        };
        let extras = Extras {
            tasks: ctx.switch(TASKS, false),
            restarts: ctx.switch(RESTARTS, false),
            start_time: ctx.switch(START_TIME, false),
        };
        Systemd::new(endpoint, &include, &exclude, extras)
    }

    /// `include` and `exclude` are unanchored as given on the command line; both are
    /// matched against the whole unit name, as node_exporter anchors them.
    pub fn new(
        endpoint: Endpoint,
        include: &str,
        exclude: &str,
        extras: Extras,
    ) -> Result<Self, ConfigError> {
        let anchored = |flag: &str, text: &str| {
            Regex::new(&format!("^(?:{text})$")).map_err(|e| {
                ConfigError::new(
                    format!("--{flag}"),
                    format!("not a valid regular expression: {e}"),
                )
            })
        };
        Ok(Systemd {
            endpoint,
            include: anchored(INCLUDE, include)?,
            exclude: anchored(EXCLUDE, exclude)?,
            extras,
            connection: None,
        })
    }

    fn connect(&self) -> zbus::Result<Connection> {
        let builder = match &self.endpoint {
            Endpoint::SystemBus => zbus::blocking::connection::Builder::system()?,
            Endpoint::Private(path) => {
                let address = format!("unix:path={}", path.display());
                zbus::blocking::connection::Builder::address(address.as_str())?.p2p()
            }
        };
        builder.method_timeout(METHOD_TIMEOUT).build()
    }

    fn destination(&self) -> Option<&'static str> {
        match self.endpoint {
            Endpoint::SystemBus => Some(DESTINATION),
            Endpoint::Private(_) => None,
        }
    }

    fn collect(&self, bus: &Connection, out: &mut MetricSet) -> Result<(), CollectError> {
        let ask = Asker {
            bus,
            destination: self.destination(),
        };
        let (version, version_text) = match ask.property::<String>(MANAGER_PATH, MANAGER, "Version")
        {
            Ok(text) => parse_version(&text),
            Err(error) => {
                tracing::debug!(%error, "systemd: no Version property, taken as 0");
                (0.0, String::new())
            }
        };
        out.gauge(
            "node_systemd_version",
            "Detected systemd version",
            &[("version", &version_text)],
            version,
        );
        let virtualization = match ask.property::<String>(MANAGER_PATH, MANAGER, "Virtualization") {
            Ok(text) if text.is_empty() => "none".to_string(),
            Ok(text) => text,
            Err(error) => {
                tracing::debug!(%error, "systemd: no Virtualization property");
                "unknown".to_string()
            }
        };
        out.gauge(
            "node_systemd_virtualization_info",
            "Detected virtualization technology",
            &[("virtualization_type", &virtualization)],
            1.0,
        );

        let units = ask.list_units()?;
        let mut summary: BTreeMap<&str, f64> = UNIT_STATES.iter().map(|s| (*s, 0.0)).collect();
        for unit in &units {
            *summary.entry(unit.active_state.as_str()).or_insert(0.0) += 1.0;
        }
        let family = out.family(
            "node_systemd_units",
            "Summary of systemd unit states",
            MetricKind::Gauge,
        );
        for (state, count) in &summary {
            family.push(&[("state", state)], *count);
        }

        let kept: Vec<&Unit> = units
            .iter()
            .filter(|u| {
                u.load_state == "loaded"
                    && self.include.is_match(&u.name)
                    && !self.exclude.is_match(&u.name)
            })
            .collect();
        for unit in &kept {
            self.unit_families(&ask, unit, version, out);
        }
        if version >= MIN_VERSION_SYSTEM_STATE {
            let state = ask
                .property::<String>(MANAGER_PATH, MANAGER, "SystemState")
                .map_err(|e| dbus_error("reading the manager's SystemState", e))?;
            out.gauge(
                "node_systemd_system_running",
                "Whether the system is operational (see 'systemctl is-system-running')",
                &[],
                if state == "running" { 1.0 } else { 0.0 },
            );
        }
        Ok(())
    }

    fn unit_families(&self, ask: &Asker, unit: &Unit, version: f64, out: &mut MetricSet) {
        let name = unit.name.as_str();
        let path = unit.path.as_str();
        let kind = name.rsplit_once('.').map_or("", |(_, kind)| kind);
        let type_interface = match kind {
            "service" => Some("org.freedesktop.systemd1.Service"),
            "mount" => Some("org.freedesktop.systemd1.Mount"),
            _ => None,
        };
        let unit_type = type_interface
            .and_then(|iface| {
                optional(
                    name,
                    ask.property::<String>(path, iface, "Type"),
                    "unit type",
                )
            })
            .unwrap_or_default();
        let family = out.family("node_systemd_unit_state", "Systemd unit", MetricKind::Gauge);
        for state in UNIT_STATES {
            let value = if state == unit.active_state { 1.0 } else { 0.0 };
            family.push(
                &[("name", name), ("state", state), ("type", &unit_type)],
                value,
            );
        }
        const SERVICE: &str = "org.freedesktop.systemd1.Service";
        if self.extras.restarts && kind == "service" {
            if let Some(restarts) = optional(
                name,
                ask.property::<u32>(path, SERVICE, "NRestarts"),
                "NRestarts",
            ) {
                out.counter(
                    "node_systemd_service_restart_total",
                    "Service unit count of Restart triggers",
                    &[("name", name)],
                    f64::from(restarts),
                );
            }
        }
        if self.extras.start_time {
            let started = if unit.active_state == "active" {
                optional(
                    name,
                    ask.property::<u64>(
                        path,
                        "org.freedesktop.systemd1.Unit",
                        "ActiveEnterTimestamp",
                    ),
                    "ActiveEnterTimestamp",
                )
            } else {
                Some(0)
            };
            if let Some(microseconds) = started {
                out.gauge(
                    "node_systemd_unit_start_time_seconds",
                    "Start time of the unit since unix epoch in seconds.",
                    &[("name", name)],
                    microseconds as f64 / 1e6,
                );
            }
        }
        if self.extras.tasks && kind == "service" {
            for (property, family, help) in [
                (
                    "TasksCurrent",
                    "node_systemd_unit_tasks_current",
                    "Current number of tasks per Systemd unit",
                ),
                (
                    "TasksMax",
                    "node_systemd_unit_tasks_max",
                    "Maximum number of tasks per Systemd unit",
                ),
            ] {
                // systemd reports "no value" as the largest u64.
                if let Some(count) =
                    optional(name, ask.property::<u64>(path, SERVICE, property), property)
                {
                    if count != u64::MAX {
                        out.gauge(family, help, &[("name", name)], count as f64);
                    }
                }
            }
        }
        if kind == "timer" && version >= MIN_VERSION_SYSTEM_STATE {
            if let Some(microseconds) = optional(
                name,
                ask.property::<u64>(path, "org.freedesktop.systemd1.Timer", "LastTriggerUSec"),
                "LastTriggerUSec",
            ) {
                out.gauge(
                    "node_systemd_timer_last_trigger_seconds",
                    "Seconds since epoch of last trigger.",
                    &[("name", name)],
                    microseconds as f64 / 1e6,
                );
            }
        }
        if kind == "socket" {
            const SOCKET: &str = "org.freedesktop.systemd1.Socket";
            let Some(accepted) = optional(
                name,
                ask.property::<u32>(path, SOCKET, "NAccepted"),
                "NAccepted",
            ) else {
                return;
            };
            out.counter(
                "node_systemd_socket_accepted_connections_total",
                "Total number of accepted socket connections",
                &[("name", name)],
                f64::from(accepted),
            );
            let Some(current) = optional(
                name,
                ask.property::<u32>(path, SOCKET, "NConnections"),
                "NConnections",
            ) else {
                return;
            };
            out.gauge(
                "node_systemd_socket_current_connections",
                "Current number of socket connections",
                &[("name", name)],
                f64::from(current),
            );
            // NRefused is systemd 239+; node_exporter exports it as a gauge.
            if let Ok(refused) = ask.property::<u32>(path, SOCKET, "NRefused") {
                out.gauge(
                    "node_systemd_socket_refused_connections_total",
                    "Total number of refused socket connections",
                    &[("name", name)],
                    f64::from(refused),
                );
            }
        }
    }
}

/// A value a unit may lack (older systemd, another unit type): logged, left out.
fn optional<T>(unit: &str, result: zbus::Result<T>, what: &str) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::debug!(unit, %error, "systemd: couldn't get {what}");
            None
        }
    }
}

/// The new flag, or the deprecated one when only that is given (both: an error).
fn pattern(ctx: &BuildContext, flag: &str, old: &str) -> Result<String, ConfigError> {
    let given = ctx.matches.value_source(flag) == Some(clap::parser::ValueSource::CommandLine);
    match ctx.string(old) {
        Some(value) if !value.is_empty() => {
            if given {
                return Err(ConfigError::new(
                    format!("--{old}"),
                    format!("cannot be combined with --{flag}"),
                ));
            }
            tracing::warn!("--{old} is DEPRECATED, use --{flag}");
            Ok(value)
        }
        _ => Ok(ctx.string(flag).unwrap_or_default()),
    }
}

/// node_exporter's reading of `Version` ("252.22-1~deb12u1"): the first run of three
/// or more digits with an optional `.minor`, as a number; the label keeps the text.
pub fn parse_version(text: &str) -> (f64, String) {
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        if !bytes[start].is_ascii_digit() {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        if end - start >= 3 {
            if end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_digit() {
                end += 1;
                while end < bytes.len() && bytes[end].is_ascii_digit() {
                    end += 1;
                }
            }
            return match text[start..end].parse() {
                Ok(version) => (version, text.to_string()),
                Err(_) => (0.0, String::new()),
            };
        }
        start = end;
    }
    (0.0, String::new())
}

/// Method calls on one connection.
struct Asker<'a> {
    bus: &'a Connection,
    destination: Option<&'static str>,
}

impl Asker<'_> {
    fn property<T>(&self, path: &str, interface: &str, name: &str) -> zbus::Result<T>
    where
        T: TryFrom<OwnedValue>,
        <T as TryFrom<OwnedValue>>::Error: Into<zbus::zvariant::Error>,
    {
        let reply = self.bus.call_method(
            self.destination,
            path,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &(interface, name),
        )?;
        let value: OwnedValue = reply.body().deserialize()?;
        T::try_from(value).map_err(|e| zbus::Error::Variant(e.into()))
    }

    fn list_units(&self) -> Result<Vec<Unit>, CollectError> {
        let reply = self
            .bus
            .call_method(
                self.destination,
                MANAGER_PATH,
                Some(MANAGER),
                "ListUnits",
                &(),
            )
            .map_err(|e| dbus_error("listing units", e))?;
        let listed: Vec<ListedUnit> = reply
            .body()
            .deserialize()
            .map_err(|e| dbus_error("reading the ListUnits answer", e))?;
        if listed.len() > MAX_UNITS {
            return Err(CollectError::NoData(format!(
                "systemd lists {} units, more than the {MAX_UNITS} this collector reads",
                listed.len()
            )));
        }
        Ok(listed
            .into_iter()
            .map(
                |(name, _, load_state, active_state, _, _, path, _, _, _)| Unit {
                    name,
                    load_state,
                    active_state,
                    path: path.as_str().to_string(),
                },
            )
            .collect())
    }
}

fn dbus_error(context: &str, error: zbus::Error) -> CollectError {
    CollectError::System {
        context: format!("systemd over D-Bus: {context}"),
        source: std::io::Error::other(error.to_string()),
    }
}

impl Collector for Systemd {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let bus = match self.connection.take() {
            Some(bus) => bus,
            None => self
                .connect()
                .map_err(|e| dbus_error("couldn't get dbus connection", e))?,
        };
        let result = self.collect(&bus, out);
        if result.is_ok() {
            self.connection = Some(bus);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_as_node_exporter_reads_them() {
        assert_eq!(
            parse_version("252.22-1~deb12u1"),
            (252.22, "252.22-1~deb12u1".into())
        );
        assert_eq!(parse_version("249"), (249.0, "249".into()));
        assert_eq!(
            parse_version("v12 then 255.4"),
            (255.4, "v12 then 255.4".into())
        );
        assert_eq!(parse_version("255."), (255.0, "255.".into()));
        assert_eq!(parse_version("unknown"), (0.0, String::new()));
    }

    #[test]
    fn bad_patterns_name_the_flag() {
        let err = Systemd::new(Endpoint::SystemBus, "(", ".*", Extras::default())
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with("--collector.systemd.unit-include: "),
            "{err}"
        );
        let ok = Systemd::new(
            Endpoint::SystemBus,
            ".+",
            DEFAULT_EXCLUDE,
            Extras::default(),
        )
        .unwrap();
        assert!(ok.exclude.is_match("dev-sda.device") && !ok.exclude.is_match("ssh.service"));
        // Anchored: a unit must match the whole pattern.
        let only = Systemd::new(Endpoint::SystemBus, "ssh", "", Extras::default()).unwrap();
        assert!(only.include.is_match("ssh") && !only.include.is_match("ssh.service"));
    }

    #[test]
    fn no_bus_is_an_error_naming_dbus() {
        let dir = tempfile::tempdir().unwrap();
        let mut collector = Systemd::new(
            Endpoint::Private(dir.path().join("nothing-here")),
            ".+",
            DEFAULT_EXCLUDE,
            Extras::default(),
        )
        .unwrap();
        let mut out = MetricSet::new();
        let err = collector
            .update(&mut Sources::default(), &mut out)
            .unwrap_err();
        assert!(
            err.to_string().contains("couldn't get dbus connection"),
            "{err}"
        );
    }
}
