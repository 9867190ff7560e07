//! The command line and what `--check` prints; the flags of `edge-sidecar scan`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};
use edge_common::duration::parse_go_duration;
use edge_common::exposition::names::is_metric_name;
use edge_common::flags::{self, FlagError};

use crate::config::{self, ConfigError, SourceKind};
use crate::i2c::I2cSource;
use crate::output::DEFAULT_MAX_FILE_BYTES;
use crate::parse::DEFAULT_MAX_KEYS_PER_RUN;
use crate::runner::{STDERR_LIMIT, STDOUT_LIMIT};
use crate::scan::ScanSettings;
use crate::script_env::{self, RunAs, DEFAULT_SCRIPT_PATH, PASSED_BY_DEFAULT};
use crate::sysfs_sensors::{IioDevice, W1Probes, DEFAULT_SYSFS_ROOT};

/// Everything the sidecar runs with, from the flags.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: PathBuf,
    pub scripts_dir: PathBuf,
    /// `--path.sysfs`: the root of the IIO and 1-Wire reads.
    pub sysfs: PathBuf,
    pub output: PathBuf,
    pub prefix: String,
    pub default_interval: Duration,
    pub timeout: Duration,
    pub kill_grace: Duration,
    pub stale_after: u32,
    pub node_name: String,
    pub listen: Option<String>,
    /// `--listen`'s limits, timeouts, TLS and basic auth (`--web.*`).
    pub server: edge_server::ServerOptions,
    pub reload_poll: Duration,
    pub max_keys_per_run: usize,
    pub max_file_bytes: usize,
    /// `PATH` of the scripts.
    pub script_path: String,
    /// Variables passed to the scripts besides PATH, NODE_NAME, TZ and LANG.
    pub script_env: Vec<String>,
    pub run_as: Option<RunAs>,
    pub check: bool,
    pub log_level: tracing::Level,
}

/// What `--help` says after the flags: the fixed limits, and what a script gets.
fn limits_help() -> String {
    format!(
        "Scripts and limits: a run keeps {stdout} KiB of a script's stdout and {stderr} KiB of its stderr (the rest is counted and dropped). \
A key whose name would collide with one of the sidecar's own edge_sidecar_* families (in text or OpenMetrics form: x, x_total, x_created, x_sum, x_count, x_bucket, x_info, …) is dropped and counted as a bad line. \
Scripts start with a clean environment: PATH (--script-path), NODE_NAME, {passed} when the sidecar has them, and what --script-env names. \
On SIGTERM or SIGINT every running script's process group gets SIGTERM, then SIGKILL after --kill-grace, before the sidecar exits.",
        stdout = STDOUT_LIMIT >> 10,
        stderr = STDERR_LIMIT >> 10,
        passed = PASSED_BY_DEFAULT.join(" and "),
    )
}

pub fn command() -> Command {
    Command::new("edge-sidecar")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Runs this node's key=value scripts and I2C, IIO and 1-Wire sensor reads from nodes.conf and writes their values to a .prom file for the textfile collector.")
        .args(edge_server::ServerOptions::args())
        .arg(Arg::new("config").long("config").default_value("/etc/edge-sidecar/nodes.conf").help("nodes.conf: lines node=script[:interval][,…] (reloaded live)."))
        .arg(Arg::new("scripts-dir").long("scripts-dir").help("Directory of the scripts (<name>.sh) and sensor files (default: the config's directory). Nothing outside it is ever run."))
        .arg(Arg::new("path.sysfs").long("path.sysfs").default_value(DEFAULT_SYSFS_ROOT).help("sysfs mount point: iio: and w1: sources read <path.sysfs>/bus/iio/devices and <path.sysfs>/bus/w1/devices (point it at the host's /sys mounted elsewhere)."))
        .arg(Arg::new("output").long("output").default_value("/var/lib/edge-metrics/textfile/custom_metrics.prom").help("The .prom file to write (atomically) for the textfile collector."))
        .arg(Arg::new("prefix").long("prefix").default_value("edge_").help("Prefix of the gauges made from the scripts' keys."))
        .arg(Arg::new("default-interval").long("default-interval").default_value("15s").help("Interval of a source listed without one."))
        .arg(Arg::new("timeout").long("timeout").default_value("10s").help("Longest a script run may take; then its process group gets SIGTERM, and SIGKILL after --kill-grace."))
        .arg(Arg::new("kill-grace").long("kill-grace").default_value("2s").help("Time between SIGTERM and SIGKILL to the process group of a script past its timeout, and of every running script when the sidecar stops (SIGTERM or SIGINT)."))
        .arg(Arg::new("stale-after").long("stale-after").default_value("3").help("How many of its intervals a source's last good values stay in the file while its runs fail."))
        .arg(Arg::new("node-name").long("node-name").env("NODE_NAME").help("This node's name in nodes.conf (default: $NODE_NAME, else the hostname)."))
        .arg(Arg::new("listen").long("listen").help("Also serve the same metrics on http://<addr>/metrics (e.g. 127.0.0.1:9101)."))
        .arg(Arg::new("reload-poll").long("reload-poll").default_value("1m").help("Re-read nodes.conf at least this often, besides watching it."))
        .arg(Arg::new("max-keys-per-run").long("max-keys-per-run").default_value(DEFAULT_MAX_KEYS_PER_RUN.to_string()).help("Most distinct keys kept from one run of a script (or values of a sensor file); lines with further new keys are dropped and counted in edge_sidecar_source_dropped_keys_total, and the run still counts as a success."))
        .arg(Arg::new("max-file-bytes").long("max-file-bytes").default_value(DEFAULT_MAX_FILE_BYTES.to_string()).help("Size limit of the .prom file, in bytes (keep it below what the textfile collector reads: edge-exporter skips the files past --collector.textfile.max-bytes, 4 MiB by default, for all files together). The sidecar's own status families are always written; sources' values are placed whole in nodes.conf order, and a source that does not fit is left out (edge_sidecar_source_left_out_values)."))
        .arg(Arg::new("script-path").long("script-path").default_value(DEFAULT_SCRIPT_PATH).help("PATH of the scripts, whose environment is otherwise only NODE_NAME, TZ, LANG and --script-env."))
        .arg(Arg::new("script-env").long("script-env").value_name("NAME").action(ArgAction::Append).value_delimiter(',').help("Also pass this variable of the sidecar's environment to the scripts, if set (repeatable, or comma-separated). Nothing else of the sidecar's environment reaches them."))
        .arg(Arg::new("run-as").long("run-as").value_name("USER[:GROUP]").help("Run the scripts as this user (name or uid) with its supplementary groups, and GROUP (default: the user's) as their group. Needs a root sidecar; native I2C reads stay with the sidecar."))
        .arg(Arg::new("check").long("check").action(ArgAction::SetTrue).help("Check nodes.conf, the scripts, the sensor files and the IIO and 1-Wire devices, print what would run on this node (for iio: and w1:, the device, channels and files read), write nothing, and exit 0 (all fine) or 1."))
        .arg(flags::log_level_arg())
        .after_help(limits_help())
        .subcommand(scan_command())
}

/// `edge-sidecar scan`: its flags live here with the others; what it does is `scan`'s.
fn scan_command() -> Command {
    Command::new("scan")
        .about("List what is on this node's I2C buses, identify known chips (reads only), and print sensor files and a nodes.conf line for them.")
        .long_about("List the devices on this node's I2C buses (a read per address, as `i2cdetect -y -r` does; addresses a kernel driver holds are left alone), identify known chips by reading their id registers (never writing to any device), and print a sensor file for each identified chip with a driver and the nodes.conf line that schedules them.")
        .arg(Arg::new("path.dev").long("path.dev").value_name("DIR").default_value("/dev").help("Where the i2c-N bus devices are."))
        .arg(Arg::new("path.sysfs").long("path.sysfs").value_name("DIR").default_value(DEFAULT_SYSFS_ROOT).help("sysfs mount point: the IIO devices and 1-Wire thermometers listed are under <path.sysfs>/bus/iio/devices and <path.sysfs>/bus/w1/devices."))
        .arg(Arg::new("bus").long("bus").value_name("N").action(ArgAction::Append).value_delimiter(',').value_parser(clap::value_parser!(u32)).help("Scan only bus N, i2c-N under --path.dev (repeatable, or comma-separated); default: every i2c-N there."))
        .arg(Arg::new("node").long("node").value_name("NAME").env("NODE_NAME").help("This node's name in the nodes.conf line (default: $NODE_NAME, else the hostname, as the sidecar picks its line)."))
        .arg(Arg::new("write").long("write").value_name("DIR").help("Write the sensor files into DIR (the scripts directory), each atomically, instead of printing them; nothing is written if one exists already."))
        .arg(Arg::new("force").long("force").action(ArgAction::SetTrue).requires("write").help("With --write: replace existing files."))
        .after_help("Exit status: 0 every bus found was scanned (finding none is 0 too), 1 a bus could not be scanned to the end or the files not written, 2 bad flags. See SENSORS.md, \"Finding what is on a bus\".")
}

fn flag_error(flag: &'static str, message: impl ToString) -> FlagError {
    FlagError::new(flag, message)
}

fn text(matches: &ArgMatches, id: &str) -> String {
    matches.get_one::<String>(id).cloned().unwrap_or_default()
}

/// A whole number of at least 1.
fn count(matches: &ArgMatches, flag: &'static str) -> Result<usize, FlagError> {
    text(matches, flag)
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| flag_error(flag, "must be a whole number, at least 1"))
}

fn duration(matches: &ArgMatches, flag: &'static str) -> Result<Duration, FlagError> {
    let value = parse_go_duration(&text(matches, flag)).map_err(|e| flag_error(flag, e))?;
    if value.is_zero() {
        return Err(flag_error(flag, "must be longer than 0"));
    }
    Ok(value)
}

/// The flag's value (or $NODE_NAME, through the flag's `env`), else the hostname.
fn node_name(matches: &ArgMatches, flag: &'static str) -> Result<String, FlagError> {
    match matches.get_one::<String>(flag) {
        Some(name) if !name.trim().is_empty() => Ok(name.trim().to_string()),
        _ => nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                flag_error(
                    flag,
                    "empty, and neither $NODE_NAME nor the hostname is set",
                )
            }),
    }
}

/// `scan`'s settings from its own matches (`matches.subcommand()`).
pub fn scan_settings(matches: &ArgMatches) -> Result<ScanSettings, FlagError> {
    let node = node_name(matches, "node")?;
    // What nodes.conf takes as a node name, and nothing that would cut the line.
    if node.contains(|c: char| c.is_whitespace() || "=,#".contains(c)) {
        return Err(flag_error(
            "node",
            format!("{node:?} cannot be a node name in nodes.conf (no spaces, =, , or #)"),
        ));
    }
    Ok(ScanSettings {
        dev_root: PathBuf::from(text(matches, "path.dev")),
        sysfs_root: PathBuf::from(text(matches, "path.sysfs")),
        buses: matches
            .get_many::<u32>("bus")
            .into_iter()
            .flatten()
            .copied()
            .collect(),
        node,
        write_dir: matches.get_one::<String>("write").map(PathBuf::from),
        force: matches.get_flag("force"),
    })
}

pub fn settings(matches: &ArgMatches) -> Result<Settings, FlagError> {
    let config = PathBuf::from(text(matches, "config"));
    let scripts_dir = match matches.get_one::<String>("scripts-dir") {
        Some(dir) => PathBuf::from(dir),
        None => config
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    let prefix = text(matches, "prefix");
    if !is_metric_name(&prefix) {
        return Err(flag_error(
            "prefix",
            format!("{prefix:?} is not the start of a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"),
        ));
    }
    let stale_after: u32 = text(matches, "stale-after")
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            flag_error(
                "stale-after",
                "must be a whole number of intervals, at least 1",
            )
        })?;
    let output = PathBuf::from(text(matches, "output"));
    if output.file_name().is_none() || output.extension().is_none_or(|e| e != "prom") {
        return Err(flag_error(
            "output",
            format!(
                "{}: the textfile collector reads only *.prom files",
                output.display()
            ),
        ));
    }
    let node_name = node_name(matches, "node-name")?;
    let script_env: Vec<String> = matches
        .get_many::<String>("script-env")
        .into_iter()
        .flatten()
        .filter(|name| !name.is_empty())
        .cloned()
        .collect();
    for name in &script_env {
        script_env::check_passed_name(name).map_err(|e| flag_error("script-env", e))?;
    }
    let run_as = match matches.get_one::<String>("run-as") {
        Some(spec) => {
            let run_as = RunAs::parse(spec).map_err(|e| flag_error("run-as", e))?;
            if !nix::unistd::geteuid().is_root() {
                return Err(flag_error(
                    "run-as",
                    "switching users needs the sidecar to run as root",
                ));
            }
            Some(run_as)
        }
        None => None,
    };
    let server = edge_server::ServerOptions::from_matches(matches)?;
    if let Some(path) = &server.web_config_file {
        edge_server::check_web_config(path)
            .map_err(|e| flag_error(edge_server::WEB_CONFIG_FILE, e))?;
    }
    Ok(Settings {
        server,
        config,
        scripts_dir,
        sysfs: PathBuf::from(text(matches, "path.sysfs")),
        output,
        prefix,
        default_interval: duration(matches, "default-interval")?,
        timeout: duration(matches, "timeout")?,
        kill_grace: duration(matches, "kill-grace")?,
        stale_after,
        node_name,
        listen: matches.get_one::<String>("listen").cloned(),
        reload_poll: duration(matches, "reload-poll")?,
        max_keys_per_run: count(matches, "max-keys-per-run")?,
        max_file_bytes: count(matches, "max-file-bytes")?,
        script_path: text(matches, "script-path"),
        script_env,
        run_as,
        check: matches.get_flag("check"),
        log_level: flags::log_level(matches),
    })
}

/// What `--check` found: the plan for this node and how many of its sources cannot
/// run. Displayed as `--check` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub plan: String,
    pub problems: usize,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.problems == 0
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.plan)?;
        if !self.is_clean() {
            writeln!(f, "{} problem(s)", self.problems)?;
        }
        Ok(())
    }
}

/// `--check`: what would run on this node, each missing script or invalid sensor
/// file marked in the plan and counted; `Err` when nodes.conf itself cannot be used.
pub fn check(settings: &Settings) -> Result<CheckReport, ConfigError> {
    let conf = config::load(&settings.config, settings.default_interval)?;
    let mut plan = format!(
        "node {}: {} ({})\n",
        settings.node_name,
        settings.config.display(),
        settings.scripts_dir.display()
    );
    let mut problems = 0;
    let sources = conf.sources_for(&settings.node_name);
    if sources.is_empty() {
        plan.push_str("  no sources: only the sidecar's own status is written\n");
    }
    for source in sources {
        let line = match check_source(settings, &source.kind) {
            Ok(what) => format!("  {} every {:?}: {what}", source.kind, source.interval),
            Err(problem) => {
                problems += 1;
                format!("  {} every {:?}: {problem}", source.kind, source.interval)
            }
        };
        plan.push_str(&line);
        plan.push('\n');
    }
    Ok(CheckReport { plan, problems })
}

/// What one source would read, or why it cannot (`MISSING: …`, `INVALID: …`).
fn check_source(settings: &Settings, kind: &SourceKind) -> Result<String, String> {
    let resolve = || {
        config::resolve(&settings.scripts_dir, kind).map_err(|error| format!("MISSING: {error}"))
    };
    match kind {
        SourceKind::Script(_) => Ok(format!("bash {}", resolve()?.display())),
        SourceKind::I2c(_) => {
            let path = resolve()?;
            I2cSource::load(&path).map_err(|error| format!("INVALID: {error}"))?;
            Ok(path.display().to_string())
        }
        SourceKind::Iio(device) => IioDevice::open(&settings.sysfs, device)
            .map(|device| device.describe())
            .map_err(|error| format!("MISSING: {error}")),
        SourceKind::W1(id) => W1Probes::find(&settings.sysfs, id)
            .map(|probes| probes.describe())
            .map_err(|error| format!("MISSING: {error}")),
    }
}
