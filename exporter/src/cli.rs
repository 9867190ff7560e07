//! The command line: node_exporter's flag names and defaults where they overlap,
//! plus `--node-name`. Bad values become a [`ConfigError`] (exit code 2).

use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::collector::{switch_args, BuildContext, Collector, Scraper};
use crate::collectors;
use crate::error::ConfigError;
use crate::node_exporter_flags;
use crate::own_process::OwnProcess;
use crate::paths::Paths;
use edge_common::exposition::MetricSet;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The most `--web.listen-address` flags one exporter takes.
pub const MAX_LISTEN_ADDRESSES: usize = 16;

/// How `/metrics` answers, from the flags.
#[derive(Debug, Clone)]
pub struct MetricsEndpoint {
    /// `--web.telemetry-path`.
    pub path: String,
    /// `--web.max-requests`: scrapes in flight at once; 0 = no limit.
    pub max_requests: usize,
    /// Not `--web.disable-exporter-metrics`: adds the `promhttp_*` families.
    pub exporter_metrics: bool,
}

/// Everything the exporter needs to run, built from the flags.
pub struct Config {
    /// `--web.listen-address`, each one listened on.
    pub listen_addresses: Vec<String>,
    /// `--web.telemetry-path`, `--web.max-requests`, `--web.disable-exporter-metrics`.
    pub endpoint: MetricsEndpoint,
    pub node_name: String,
    pub scraper: Scraper,
    /// Connection limits, timeouts, TLS and basic auth (`--web.*`).
    pub server: edge_server::ServerOptions,
    /// `--runtime.gomaxprocs`: threads that run the async runtime's work (1: one
    /// current-thread runtime).
    pub runtime_workers: usize,
}

/// `--runtime.gomaxprocs`, named and defaulted as node_exporter's (env `GOMAXPROCS`).
const RUNTIME_WORKERS: &str = "runtime.gomaxprocs";

pub fn command() -> Command {
    let mut command = Command::new("edge-exporter")
        .version(VERSION)
        .about("Exports node hardware metrics with node_exporter's names, for Prometheus, vmagent and edge-master.")
        .args(edge_server::ServerOptions::args())
        .arg(
            Arg::new("web.disable-exporter-metrics")
                .long("web.disable-exporter-metrics")
                .action(ArgAction::SetTrue)
                .help("Leave out the exporter's own process_* families (CPU, memory, file descriptors, start time), as node_exporter does."),
        )
        .arg(
            Arg::new("web.max-requests")
                .long("web.max-requests")
                .default_value("40")
                .value_parser(clap::value_parser!(usize))
                .help("Maximum number of parallel scrape requests; beyond it a scrape gets 503 at once. Use 0 to disable."),
        )
        .arg(
            Arg::new("web.listen-address")
                .long("web.listen-address")
                .default_value(":9100")
                .action(ArgAction::Append)
                .help("Addresses on which to expose metrics and web interface ([host]:port). Repeatable, to listen on several addresses."),
        )
        .arg(
            Arg::new("web.telemetry-path")
                .long("web.telemetry-path")
                .default_value("/metrics")
                .help("Path under which to expose metrics."),
        )
        .arg(path_arg("path.procfs", "/proc", "procfs mountpoint."))
        .arg(path_arg("path.sysfs", "/sys", "sysfs mountpoint."))
        .arg(path_arg("path.rootfs", "/", "rootfs mountpoint."))
        .arg(path_arg("path.udev.data", "/run/udev/data", "udev data path."))
        .arg(
            Arg::new("node-name")
                .long("node-name")
                .env("NODE_NAME")
                .help("Kubernetes node name exported as edge_node_info (default: $NODE_NAME, else the hostname)."),
        )
        .arg(edge_common::flags::log_level_arg())
        .arg(
            Arg::new(RUNTIME_WORKERS)
                .long(RUNTIME_WORKERS)
                .env("GOMAXPROCS")
                .default_value("1")
                .allow_negative_numbers(true)
                .value_parser(clap::value_parser!(i64))
                .help("Threads that serve HTTP and run the runtime's work, node_exporter's GOMAXPROCS: 1 (the default) is one thread, N > 1 a runtime with N worker threads, 0 or less one per CPU. Scrapes run one at a time on a small pool of their own either way."),
        )
        .arg(
            Arg::new("collector.disable-defaults")
                .long("collector.disable-defaults")
                .action(ArgAction::SetTrue)
                .help("Set all collectors to disabled by default."),
        );
    for spec in collectors::ALL {
        let flag: &'static str = Box::leak(format!("collector.{}", spec.name).into_boxed_str());
        let help: &'static str = Box::leak(
            format!(
                "Enable the {} collector (default: {}).",
                spec.name,
                if spec.enabled_by_default {
                    "enabled"
                } else {
                    "disabled"
                }
            )
            .into_boxed_str(),
        );
        command = command.args(switch_args(flag, help));
        command = command.args((spec.args)());
    }
    // Last: node_exporter's flags that nothing above defines are accepted and ignored.
    node_exporter_flags::accept_the_rest(command)
}

fn path_arg(name: &'static str, default: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).default_value(default).help(help)
}

impl Config {
    pub fn from_matches(matches: &ArgMatches) -> Result<Config, ConfigError> {
        node_exporter_flags::warn_ignored(matches);
        let paths = Paths {
            procfs: directory(matches, "path.procfs")?,
            sysfs: directory(matches, "path.sysfs")?,
            rootfs: directory(matches, "path.rootfs")?,
            // udev data is optional on a host (containers often lack it).
            udev_data: PathBuf::from(string(matches, "path.udev.data")),
        };
        let listen_addresses: Vec<String> = matches
            .get_many::<String>("web.listen-address")
            .map(|values| values.cloned().collect())
            .unwrap_or_default();
        if listen_addresses.len() > MAX_LISTEN_ADDRESSES {
            return Err(ConfigError::new(
                "--web.listen-address",
                format!(
                    "given {} times, at most {MAX_LISTEN_ADDRESSES}",
                    listen_addresses.len()
                ),
            ));
        }
        for address in &listen_addresses {
            parse_listen_address(address)
                .map_err(|m| ConfigError::new("--web.listen-address", m))?;
        }
        let telemetry_path = string(matches, "web.telemetry-path");
        if !telemetry_path.starts_with('/') || telemetry_path == "/" || telemetry_path == "/healthz"
        {
            return Err(ConfigError::new(
                "--web.telemetry-path",
                format!("{telemetry_path:?}: must start with / and not be / or /healthz"),
            ));
        }
        let node_name = match matches.get_one::<String>("node-name") {
            Some(name) if !name.trim().is_empty() => name.trim().to_string(),
            _ => nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_default(),
        };
        if node_name.is_empty() {
            return Err(ConfigError::new(
                "--node-name",
                "empty, and neither $NODE_NAME nor the hostname is set",
            ));
        }

        let context = BuildContext {
            paths: &paths,
            matches,
        };
        let defaults_on = !matches.get_flag("collector.disable-defaults");
        let mut enabled: Vec<(&'static str, Box<dyn Collector>)> = Vec::new();
        for spec in collectors::ALL {
            let flag = format!("collector.{}", spec.name);
            if context.switch(&flag, spec.enabled_by_default && defaults_on) {
                enabled.push((spec.name, (spec.build)(&context)?));
            }
        }
        let server = edge_server::ServerOptions::from_matches(matches)
            .map_err(|e| ConfigError::new(format!("--{}", e.flag), e.message))?;
        if let Some(path) = &server.web_config_file {
            edge_server::check_web_config(path)
                .map_err(|e| ConfigError::new(format!("--{}", edge_server::WEB_CONFIG_FILE), e))?;
        }
        let mut scraper = Scraper::new(enabled, constant_families(&node_name));
        if !matches.get_flag("web.disable-exporter-metrics") {
            let own = OwnProcess::new().map_err(|e| {
                ConfigError::new(
                    "--web.disable-exporter-metrics",
                    format!("reading this process's /proc/self: {e}"),
                )
            })?;
            scraper = scraper.with_own_process(own);
        }
        Ok(Config {
            listen_addresses,
            endpoint: MetricsEndpoint {
                path: telemetry_path,
                max_requests: matches
                    .get_one::<usize>("web.max-requests")
                    .copied()
                    .unwrap_or(40),
                exporter_metrics: !matches.get_flag("web.disable-exporter-metrics"),
            },
            scraper,
            node_name,
            server,
            runtime_workers: runtime_workers(matches),
        })
    }
}

/// Families that do not change while the exporter runs.
fn constant_families(node_name: &str) -> MetricSet {
    let mut set = MetricSet::new();
    set.gauge(
        "edge_exporter_build_info",
        "A metric with a constant '1' value labeled by version, revision, rustversion, os and arch from which edge-exporter was built.",
        &[
            ("version", VERSION),
            ("revision", env!("EDGE_BUILD_REVISION")),
            ("rustversion", env!("EDGE_BUILD_RUSTC")),
            ("os", std::env::consts::OS),
            ("arch", std::env::consts::ARCH),
        ],
        1.0,
    );
    set.gauge(
        "edge_node_info",
        "The node this exporter runs on (--node-name, default $NODE_NAME or the hostname), value is always 1.",
        &[("node_name", node_name)],
        1.0,
    );
    set
}

/// Go's GOMAXPROCS: a value below 1 leaves it at the number of CPUs.
fn runtime_workers(matches: &ArgMatches) -> usize {
    match matches
        .get_one::<i64>(RUNTIME_WORKERS)
        .copied()
        .unwrap_or(1)
    {
        n if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// `--log.level`, read before the collectors are built so their warnings are logged.
pub fn log_level(matches: &ArgMatches) -> tracing::Level {
    edge_common::flags::log_level(matches)
}

fn string(matches: &ArgMatches, id: &str) -> String {
    matches.get_one::<String>(id).cloned().unwrap_or_default()
}

fn directory(matches: &ArgMatches, id: &str) -> Result<PathBuf, ConfigError> {
    let path = PathBuf::from(string(matches, id));
    match std::fs::read_dir(&path) {
        Ok(_) => Ok(path),
        Err(e) => Err(ConfigError::new(
            format!("--{id}"),
            format!("{}: {e}", Path::new(&path).display()),
        )),
    }
}

/// Where to listen: Go's `:port` means every address; otherwise `host:port`.
pub enum ListenAddress {
    AnyHost(u16),
    Host(String),
}

/// Why a listen address cannot be used; the message quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenAddressError {
    #[error("{0:?}: expected [host]:port")]
    NoPort(String),
    #[error("{text:?}: port {port:?} is not a number from 0 to 65535")]
    BadPort { text: String, port: String },
}

pub fn parse_listen_address(text: &str) -> Result<ListenAddress, ListenAddressError> {
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(ListenAddressError::NoPort(text.to_owned()));
    };
    let port: u16 = port.parse().map_err(|_| ListenAddressError::BadPort {
        text: text.to_owned(),
        port: port.to_owned(),
    })?;
    if host.is_empty() {
        Ok(ListenAddress::AnyHost(port))
    } else {
        Ok(ListenAddress::Host(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut argv = vec!["edge-exporter"];
        argv.extend_from_slice(args);
        let matches = command()
            .try_get_matches_from(argv)
            .map_err(|e| e.to_string())?;
        Config::from_matches(&matches).map_err(|e| e.to_string())
    }

    #[test]
    fn collectors_follow_kingpin_switches() {
        let config = parse(&["--node-name=n1"]).unwrap();
        let names = config.scraper.collector_names();
        assert!(names.contains(&"cpu") && names.contains(&"netdev"));
        let config = parse(&["--node-name=n1", "--no-collector.cpu"]).unwrap();
        assert!(!config.scraper.collector_names().contains(&"cpu"));
        let config = parse(&[
            "--node-name=n1",
            "--collector.disable-defaults",
            "--collector.meminfo",
        ])
        .unwrap();
        assert_eq!(config.scraper.collector_names(), vec!["meminfo"]);
        // The last of a --x / --no-x pair wins.
        let config = parse(&[
            "--node-name=n1",
            "--collector.disable-defaults",
            "--collector.stat",
            "--no-collector.stat",
            "--collector.loadavg",
        ])
        .unwrap();
        assert_eq!(config.scraper.collector_names(), vec!["loadavg"]);
    }

    /// A value clap accepts for `arg`: its default, else any text.
    fn sample_value(command: &Command, long: &str) -> String {
        command
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .and_then(|a| a.get_default_values().first().cloned())
            .map_or_else(|| "x".to_string(), |v| v.to_string_lossy().into_owned())
    }

    #[test]
    fn every_node_exporter_flag_parses_and_the_unsupported_ones_are_named() {
        use crate::node_exporter_flags::{all, ignored_given, Kind};
        let command = command();
        let is_ignored = |long: &str| {
            command
                .get_arguments()
                .find(|a| a.get_long() == Some(long))
                .is_some_and(|a| a.get_id().as_str().starts_with("ignored:"))
        };
        for flag in all() {
            let name = flag.name;
            let mut forms: Vec<(Vec<String>, String)> = Vec::new();
            match flag.kind {
                Kind::Value => {
                    let value = sample_value(&command, name);
                    forms.push((vec![format!("--{name}={value}")], name.to_string()));
                    forms.push((vec![format!("--{name}"), value], name.to_string()));
                }
                Kind::Switch => {
                    forms.push((vec![format!("--{name}")], name.to_string()));
                    forms.push((vec![format!("--no-{name}")], format!("no-{name}")));
                }
            }
            for (argv, given) in forms {
                let matches = command
                    .clone()
                    .try_get_matches_from(
                        std::iter::once("edge-exporter".to_string()).chain(argv.clone()),
                    )
                    .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
                let named = ignored_given(&matches);
                if is_ignored(&given) {
                    assert_eq!(named, vec![format!("--{given}")], "{argv:?}");
                } else {
                    assert!(named.is_empty(), "{argv:?} is supported: {named:?}");
                }
            }
        }
        // Not node_exporter's: refused as before.
        for argv in [
            &["edge-exporter", "--collector.nonsense"][..],
            &["edge-exporter", "--no-collector.ntp.server"],
            &["edge-exporter", "--no-web.telemetry-path"],
        ] {
            let err = command.clone().try_get_matches_from(argv).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{argv:?}");
        }
    }

    #[test]
    fn our_booleans_take_kingpins_no_form() {
        for flag in ["collector.disable-defaults", "web.disable-exporter-metrics"] {
            let parse = |argv: [&str; 2]| {
                command()
                    .try_get_matches_from(std::iter::once("edge-exporter").chain(argv))
                    .unwrap()
                    .get_flag(flag)
            };
            let (on, off) = (format!("--{flag}"), format!("--no-{flag}"));
            assert!(!parse([&on, &off]), "{flag}");
            assert!(parse([&off, &on]), "{flag}");
        }
        let config = parse(&[
            "--node-name=n1",
            "--collector.disable-defaults",
            "--no-collector.disable-defaults",
        ])
        .unwrap();
        assert!(config.scraper.collector_names().contains(&"cpu"));
    }

    #[test]
    fn gomaxprocs_sets_the_runtime_workers() {
        assert_eq!(parse(&["--node-name=n1"]).unwrap().runtime_workers, 1);
        let config = parse(&["--node-name=n1", "--runtime.gomaxprocs=3"]).unwrap();
        assert_eq!(config.runtime_workers, 3);
        let cpus = std::thread::available_parallelism().unwrap().get();
        let config = parse(&["--node-name=n1", "--runtime.gomaxprocs", "0"]).unwrap();
        assert_eq!(config.runtime_workers, cpus);
        let config = parse(&["--node-name=n1", "--runtime.gomaxprocs=-1"]).unwrap();
        assert_eq!(config.runtime_workers, cpus);
        let err = parse(&["--runtime.gomaxprocs=two"]).err().unwrap();
        assert!(err.contains("runtime.gomaxprocs"), "{err}");
    }

    #[test]
    fn bad_values_are_one_line_errors() {
        let err = parse(&["--path.procfs=/does/not/exist"]).err().unwrap();
        assert!(err.starts_with("--path.procfs: /does/not/exist: "), "{err}");
        let err = parse(&["--web.listen-address=localhost"]).err().unwrap();
        assert_eq!(
            err,
            "--web.listen-address: \"localhost\": expected [host]:port"
        );
        let err = parse(&["--web.telemetry-path=metrics"]).err().unwrap();
        assert!(err.starts_with("--web.telemetry-path:"), "{err}");
        let err = parse(&["--collector.filesystem.mount-points-exclude=(("])
            .err()
            .unwrap();
        assert!(
            err.starts_with(
                "--collector.filesystem.mount-points-exclude: not a valid regular expression:"
            ),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }
}
