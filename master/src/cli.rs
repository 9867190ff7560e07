//! edge-master's command line: each flag, its default, and the one-line error (exit
//! code 2) for a value it cannot run with.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};
use edge_common::duration::{parse_duration_or_days, parse_go_duration, DurationError};
use edge_common::flags::{self, FlagError};

use crate::admission::CmdlinePolicy;
use crate::api::{AllowedOrigins, ApiSettings, HistoryShape};
use crate::source::promql::assemble::NodeNaming;
use crate::source::promql::backend_tls::{
    BackendTls, CaBundle, ClientIdentity, ClientIdentityError,
};
use crate::source::promql::query_api::BackendAuth;
use crate::source::promql::{HistoryFrom, PromqlConfig, RATE_WINDOW_INTERVALS};
use crate::source::targets::{parse_target, DnsDiscovery, Target};

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    /// Connection limits, timeouts, TLS and basic auth (`--web.*`).
    pub server: edge_server::ServerOptions,
    pub db: PathBuf,
    pub cluster_id: String,
    pub targets: Vec<Target>,
    pub targets_file: Option<PathBuf>,
    /// `--discover-dns`, re-resolved every `--dns-refresh`.
    pub discover_dns: Option<DnsDiscovery>,
    /// `--source prometheus=URL` and its `--source.*` flags; `None` scrapes.
    pub promql: Option<PromqlConfig>,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub scrape_concurrency: usize,
    pub sample_interval: Duration,
    pub retention: Duration,
    pub latest_retention: Duration,
    /// `--latest.persist-interval`: how often the latest snapshots in memory go to disk.
    pub latest_persist_interval: Duration,
    pub cleanup_interval: Duration,
    pub offline_after_missed: u32,
    pub warn_cpu: f64,
    pub warn_memory: f64,
    pub warn_temp: f64,
    pub push_token: Option<String>,
    /// `--api.read-token`: reads, `/metrics` and the dashboard's data need it.
    pub read_token: Option<String>,
    /// `--max-nodes`: pushes may not add nodes beyond it.
    pub max_nodes: usize,
    /// `--process.cmdline`: what is kept of processes' command lines.
    pub cmdlines: CmdlinePolicy,
    pub allowed_origins: AllowedOrigins,
    /// `--atlhyper-api`: the shape of the `?cluster_id=` history route.
    pub history_shape: HistoryShape,
    pub log_level: tracing::Level,
}

pub fn command() -> Command {
    let arg = |name: &'static str, default: Option<&'static str>, help: &'static str| {
        let arg = Arg::new(name).long(name).help(help);
        match default {
            Some(default) => arg.default_value(default),
            None => arg,
        }
    };
    Command::new("edge-master")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Scrapes edge-exporters (or node_exporters) into SQLite and serves atlhyper's node-metrics API.")
        .args(edge_server::ServerOptions::args())
        .arg(arg("listen", Some("0.0.0.0:8080"), "Address of the API (host:port)."))
        .arg(arg("db", Some("edge-master.db"), "The SQLite database file (created and migrated)."))
        .arg(arg("cluster-id", Some("default"), "The cluster this master's nodes belong to (the API's clusterId)."))
        .arg(arg("target", None, "An exporter to scrape: NAME=URL or URL (host:port means http://host:port/metrics). Repeatable.").action(ArgAction::Append))
        .arg(arg("targets-file", None, "A file of targets, one NAME=URL or URL per line, re-read every round."))
        .arg(arg("discover-dns", None, "HOST:PORT whose addresses are scraped (a headless Service over the exporter DaemonSet)."))
        .arg(arg("dns-refresh", Some("30s"), "How often --discover-dns is resolved again."))
        .arg(arg("source", Some("scrape"), "Where node data comes from: scrape (the targets, --target/--targets-file/--discover-dns) or prometheus=URL, a Prometheus-compatible query API (Prometheus, VictoriaMetrics single node or a cluster's select/<tenant>/prometheus URL, Thanos Query; http:// or https://) read with a fixed number of instant queries per --scrape-interval, whatever the number of nodes. Set --scrape-interval to the backend's scrape interval."))
        .arg(arg("source.node-label", Some("instance"), "PromQL source: the label that tells nodes apart (our manifests' vmagent sets instance to the node name)."))
        .arg(arg("source.node-name", Some("label"), "PromQL source: a node's name: label (the --source.node-label value, a :port suffix removed) or reported (edge_node_info{node_name}, else node_uname_info{nodename}, as when scraping)."))
        .arg(arg("source.bearer-token-file", None, "PromQL source: a file whose content is sent as Authorization: Bearer (re-read every round)."))
        .arg(arg("source.basic-auth-username", None, "PromQL source: basic-auth user name (with --source.basic-auth-password-file)."))
        .arg(arg("source.basic-auth-password-file", None, "PromQL source: a file holding the basic-auth password (re-read every round)."))
        .arg(arg(TLS_CA_FILE, None, "PromQL source, https:// URL: a PEM file of the CA certificates the backend's certificate must chain to, instead of Mozilla's public roots (in-cluster backends have private CAs). Read once at start."))
        .arg(arg(TLS_CERT_FILE, None, "PromQL source, https:// URL: a PEM file of the client certificate shown to a backend that requires one (mutual TLS), with --source.tls-key-file. Read once at start."))
        .arg(arg(TLS_KEY_FILE, None, "PromQL source, https:// URL: the PEM private key of --source.tls-cert-file. Read once at start."))
        .arg(arg(TLS_INSECURE_SKIP_VERIFY, None, "PromQL source, https:// URL: take any certificate the backend shows, unchecked. For tests only: anyone between the master and the backend can read and change the answers.").action(ArgAction::SetTrue))
        .arg(arg("source.rate-window", None, "PromQL source: the window of rate() (default: 4 × --scrape-interval, so that it holds at least two samples when one scrape is missed; at least 4 × the backend's scrape interval)."))
        .arg(arg("source.history", Some("backend"), "PromQL source: where /history is answered from: backend (query_range at the step that fits the window) or local (the SQLite sampler, for a backend whose retention is shorter)."))
        .arg(arg("source.slow-interval", Some("60s"), "PromQL source: how often the groups that describe a node (OS, boot time, CPU model, filesystem sizes, interface addresses and speeds, sensor names and limits) and the top processes are asked, at times aligned to it; the rounds in between reuse them. The --scrape-interval asks everything every round."))
        .arg(arg("source.delay", Some("30s"), "PromQL source: how far behind now rounds are evaluated, so that what was scraped has reached the backend: at least VictoriaMetrics' -search.latencyOffset (30s by default); a few seconds for Prometheus. A node's last-seen time is its newest sample's time plus this."))
        .arg(arg("scrape-interval", Some("5s"), "How often every target is scraped."))
        .arg(arg("scrape-timeout", Some("4s"), "Longest one scrape may take."))
        .arg(arg("scrape-concurrency", Some("64"), "Scrapes in flight at most. Every target has its own timer; a scrape that falls due while this many are running waits for one to finish (a dead target holds one for at most --scrape-timeout)."))
        .arg(arg("sample-interval", Some("5m"), "Spacing of history points per node."))
        .arg(arg("retention", Some("30d"), "How long history is kept (10s, 5m, 7d…); older than 7 days is kept hourly."))
        .arg(arg("latest-retention", Some("24h"), "How long a node that stopped reporting stays listed."))
        .arg(arg("latest.persist-interval", Some("30s"), "How often the nodes' latest snapshots, kept in memory, are written to the database (also at shutdown, and at once when a node appears or comes back). A crash loses at most this much of them, never history."))
        .arg(arg("cleanup-interval", Some("1h"), "How often retention and downsampling run (and once at start)."))
        .arg(arg("offline-after", Some("3"), "Missed scrape intervals after which a node is offline."))
        .arg(arg("warn-cpu", Some("80"), "CPU usage % from which a node counts as a warning node."))
        .arg(arg("warn-memory", Some("80"), "Memory usage % from which a node counts as a warning node."))
        .arg(arg("warn-temp", Some("75"), "CPU temperature °C from which a node counts as a warning node."))
        .arg(arg("push-token", None, "Bearer token required by POST /metrics/node (default: none required). Checked from the headers, before the body is read.").env("EDGE_MASTER_PUSH_TOKEN"))
        .arg(arg("api.read-token", None, "Bearer token required by the read API, /metrics and the dashboard's data (default: none required; /healthz, /readyz and CORS preflights stay open). The dashboard asks for it and keeps it for the browser tab.").env("EDGE_MASTER_API_READ_TOKEN"))
        .arg(arg("max-nodes", Some(DEFAULT_MAX_NODES_TEXT), "Most nodes the store holds (all clusters, offline ones included until --latest-retention): a push of a new node beyond it is refused with 507. Scraped nodes are never refused."))
        .arg(arg("process.cmdline", Some("redact"), "What is kept of the command lines of top processes, scraped or pushed: redact (values of arguments and VAR=value assignments named like a secret — password, passwd, secret, token, key, credential, auth — become ***), drop (no command lines), or full."))
        .arg(arg("atlhyper-api", Some("v2"), "The body of GET /api/v2/node-metrics/{node}/history: v2 (atlhyper's v2 server: snake_case, every stored point) or current (what atlhyper's web page reads today: {nodeName, start, end, data: {cpu, memory, disk, temp}} in 60 s / 300 s / 900 s buckets)."))
        .arg(arg("cors.allowed-origin", Some("*"), "An origin (scheme://host[:port]) whose web pages may call the API, or * for any, as atlhyper answers. Repeatable.").action(ArgAction::Append))
        .arg(flags::log_level_arg())
}

const TLS_CA_FILE: &str = "source.tls-ca-file";
const TLS_CERT_FILE: &str = "source.tls-cert-file";
const TLS_KEY_FILE: &str = "source.tls-key-file";
const TLS_INSECURE_SKIP_VERIFY: &str = "source.tls-insecure-skip-verify";

/// `--max-nodes`'s default, as clap wants it.
const DEFAULT_MAX_NODES_TEXT: &str = "5000";

fn fail(flag: &'static str, message: impl ToString) -> FlagError {
    FlagError::new(flag, message)
}

fn text(matches: &ArgMatches, id: &str) -> String {
    matches.get_one::<String>(id).cloned().unwrap_or_default()
}

fn positive(
    matches: &ArgMatches,
    flag: &'static str,
    parse: fn(&str) -> Result<Duration, DurationError>,
) -> Result<Duration, FlagError> {
    let value = parse(&text(matches, flag)).map_err(|e| fail(flag, e))?;
    if value.is_zero() {
        return Err(fail(flag, "must be longer than 0"));
    }
    Ok(value)
}

fn number<T: std::str::FromStr + PartialOrd>(
    matches: &ArgMatches,
    flag: &'static str,
    range: std::ops::RangeInclusive<T>,
    what: &str,
) -> Result<T, FlagError> {
    let raw = text(matches, flag);
    raw.parse::<T>()
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| fail(flag, format!("{raw:?}: must be {what}")))
}

pub fn settings(matches: &ArgMatches) -> Result<Settings, FlagError> {
    let listen = text(matches, "listen");
    if listen
        .rsplit_once(':')
        .is_none_or(|(_, port)| port.parse::<u16>().is_err())
    {
        return Err(fail("listen", format!("{listen:?}: expected host:port")));
    }
    let targets = matches
        .get_many::<String>("target")
        .into_iter()
        .flatten()
        .map(|t| parse_target(t).map_err(|e| fail("target", e)))
        .collect::<Result<Vec<_>, _>>()?;
    let dns_refresh = positive(matches, "dns-refresh", parse_go_duration)?;
    let discover_dns = matches
        .get_one::<String>("discover-dns")
        .map(|host_port| DnsDiscovery::new(host_port, dns_refresh))
        .transpose()
        .map_err(|e| fail("discover-dns", e))?;
    let cluster_id = text(matches, "cluster-id");
    if cluster_id.trim().is_empty() {
        return Err(fail("cluster-id", "must not be empty"));
    }
    let retention = positive(matches, "retention", parse_duration_or_days)?;
    if retention < Duration::from_secs(3600) {
        return Err(fail(
            "retention",
            "must be at least 1h (the history API's smallest window)",
        ));
    }
    let allowed_origins = AllowedOrigins::parse(
        matches
            .get_many::<String>("cors.allowed-origin")
            .into_iter()
            .flatten()
            .map(String::as_str),
    )
    .map_err(|e| fail("cors.allowed-origin", e))?;
    let scrape_interval = positive(matches, "scrape-interval", parse_go_duration)?;
    let promql = promql_config(matches, scrape_interval)?;
    let scrapes =
        !targets.is_empty() || discover_dns.is_some() || matches.contains_id("targets-file");
    if promql.is_some() && scrapes {
        return Err(fail(
            "source",
            "prometheus=URL reads no targets: leave out --target, --targets-file and --discover-dns",
        ));
    }
    let log_level = flags::log_level(matches);
    let server = edge_server::ServerOptions::from_matches(matches)?;
    if let Some(path) = &server.web_config_file {
        edge_server::check_web_config(path).map_err(|e| fail(edge_server::WEB_CONFIG_FILE, e))?;
    }
    Ok(Settings {
        server,
        listen,
        db: PathBuf::from(text(matches, "db")),
        cluster_id,
        targets,
        targets_file: matches.get_one::<String>("targets-file").map(PathBuf::from),
        promql,
        discover_dns,
        scrape_interval,
        scrape_timeout: positive(matches, "scrape-timeout", parse_go_duration)?,
        scrape_concurrency: number(
            matches,
            "scrape-concurrency",
            1..=256,
            "a whole number from 1 to 256",
        )?,
        sample_interval: positive(matches, "sample-interval", parse_duration_or_days)?,
        retention,
        latest_retention: positive(matches, "latest-retention", parse_duration_or_days)?,
        latest_persist_interval: positive(matches, "latest.persist-interval", parse_go_duration)?,
        cleanup_interval: positive(matches, "cleanup-interval", parse_duration_or_days)?,
        offline_after_missed: number(
            matches,
            "offline-after",
            1..=1000,
            "a whole number of intervals from 1 to 1000",
        )?,
        warn_cpu: number(
            matches,
            "warn-cpu",
            0.0..=100.0,
            "a percentage from 0 to 100",
        )?,
        warn_memory: number(
            matches,
            "warn-memory",
            0.0..=100.0,
            "a percentage from 0 to 100",
        )?,
        warn_temp: number(matches, "warn-temp", -50.0..=200.0, "°C from -50 to 200")?,
        push_token: matches
            .get_one::<String>("push-token")
            .filter(|t| !t.is_empty())
            .cloned(),
        read_token: matches
            .get_one::<String>("api.read-token")
            .filter(|t| !t.is_empty())
            .cloned(),
        max_nodes: number(
            matches,
            "max-nodes",
            1..=1_000_000,
            "a whole number from 1 to 1000000",
        )?,
        cmdlines: {
            let text = text(matches, "process.cmdline");
            CmdlinePolicy::parse(&text).ok_or_else(|| {
                fail(
                    "process.cmdline",
                    format!(
                        "{text:?}: must be one of {}",
                        CmdlinePolicy::NAMES.join(", ")
                    ),
                )
            })?
        },
        allowed_origins,
        history_shape: {
            let text = text(matches, "atlhyper-api");
            HistoryShape::parse(&text).ok_or_else(|| {
                fail(
                    "atlhyper-api",
                    format!(
                        "{text:?}: must be one of {}",
                        HistoryShape::NAMES.join(", ")
                    ),
                )
            })?
        },
        log_level,
    })
}

/// `--source` and, for `prometheus=URL`, the `--source.*` flags.
fn promql_config(
    matches: &ArgMatches,
    scrape_interval: Duration,
) -> Result<Option<PromqlConfig>, FlagError> {
    let source = text(matches, "source");
    let url = match source.as_str() {
        "scrape" => None,
        _ => Some(source.strip_prefix("prometheus=").ok_or_else(|| {
            fail(
                "source",
                format!("{source:?}: expected scrape or prometheus=URL"),
            )
        })?),
    };
    let https = url.is_some_and(|url| url.starts_with("https://"));
    // Given for an http:// URL, or when scraping, they would be silently ignored.
    if let Some(flag) = [
        TLS_CA_FILE,
        TLS_CERT_FILE,
        TLS_KEY_FILE,
        TLS_INSECURE_SKIP_VERIFY,
    ]
    .into_iter()
    .find(|id| given(matches, id))
    {
        if !https {
            return Err(fail(flag, "needs --source=prometheus=https://…"));
        }
    }
    let Some(url) = url else {
        return Ok(None);
    };
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    if host.is_none_or(str::is_empty) {
        return Err(fail(
            "source",
            format!("{url:?}: expected an http:// or https:// URL"),
        ));
    }
    let node_label = text(matches, "source.node-label");
    let is_label_name = node_label
        .bytes()
        .enumerate()
        .all(|(i, b)| b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()));
    if node_label.is_empty() || !is_label_name || node_label.starts_with("__") {
        return Err(fail(
            "source.node-label",
            format!("{node_label:?}: expected a label name"),
        ));
    }
    let naming_text = text(matches, "source.node-name");
    let naming = NodeNaming::parse(&naming_text).ok_or_else(|| {
        fail(
            "source.node-name",
            format!(
                "{naming_text:?}: must be one of {}",
                NodeNaming::NAMES.join(", ")
            ),
        )
    })?;
    let path = |id: &str| matches.get_one::<String>(id).map(PathBuf::from);
    let auth = match (
        path("source.bearer-token-file"),
        matches.get_one::<String>("source.basic-auth-username"),
        path("source.basic-auth-password-file"),
    ) {
        (None, None, None) => BackendAuth::None,
        (Some(file), None, None) => BackendAuth::BearerTokenFile(file),
        (None, Some(username), Some(password_file)) => BackendAuth::Basic {
            username: username.clone(),
            password_file,
        },
        (Some(_), _, _) => {
            return Err(fail(
                "source.bearer-token-file",
                "cannot be used with basic auth",
            ))
        }
        (None, _, _) => {
            return Err(fail(
                "source.basic-auth-username",
                "needs --source.basic-auth-password-file, and the other way round",
            ))
        }
    };
    let tls = backend_tls(matches)?;
    let rate_window = match matches.get_one::<String>("source.rate-window") {
        Some(_) => positive(matches, "source.rate-window", parse_go_duration)?,
        None => scrape_interval.saturating_mul(RATE_WINDOW_INTERVALS),
    };
    let delay =
        parse_go_duration(&text(matches, "source.delay")).map_err(|e| fail("source.delay", e))?;
    let slow_interval = positive(matches, "source.slow-interval", parse_go_duration)?;
    let history_text = text(matches, "source.history");
    let history = HistoryFrom::parse(&history_text).ok_or_else(|| {
        fail(
            "source.history",
            format!(
                "{history_text:?}: must be one of {}",
                HistoryFrom::NAMES.join(", ")
            ),
        )
    })?;
    Ok(Some(PromqlConfig {
        url: url.to_owned(),
        auth,
        tls,
        node_label,
        naming,
        rate_window,
        delay,
        history,
        slow_interval,
    }))
}

/// Whether the flag `id` was given (a `SetTrue` flag always has a value).
fn given(matches: &ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
}

/// `--source.tls-*`, their files read and checked now.
fn backend_tls(matches: &ArgMatches) -> Result<BackendTls, FlagError> {
    let path = |id: &str| matches.get_one::<String>(id).map(PathBuf::from);
    let insecure_skip_verify = matches.get_flag(TLS_INSECURE_SKIP_VERIFY);
    let ca = path(TLS_CA_FILE)
        .map(|file| CaBundle::read(&file))
        .transpose()
        .map_err(|e| fail(TLS_CA_FILE, e))?;
    if ca.is_some() && insecure_skip_verify {
        return Err(fail(
            TLS_INSECURE_SKIP_VERIFY,
            "cannot be used with --source.tls-ca-file (nothing is verified)",
        ));
    }
    let client = match (path(TLS_CERT_FILE), path(TLS_KEY_FILE)) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            Some(ClientIdentity::read(&cert, &key).map_err(|e| match e {
                ClientIdentityError::Certificate(e) => fail(TLS_CERT_FILE, e),
                e => fail(TLS_KEY_FILE, e),
            })?)
        }
        (Some(_), None) => return Err(fail(TLS_CERT_FILE, "needs --source.tls-key-file")),
        (None, Some(_)) => return Err(fail(TLS_KEY_FILE, "needs --source.tls-cert-file")),
    };
    Ok(BackendTls {
        ca,
        client,
        insecure_skip_verify,
    })
}

impl Settings {
    /// What the API needs of the flags.
    pub fn api_settings(&self) -> ApiSettings {
        ApiSettings {
            cluster_id: self.cluster_id.clone(),
            retention: self.retention,
            offline_after: self
                .scrape_interval
                .saturating_mul(self.offline_after_missed),
            warn_cpu: self.warn_cpu,
            warn_memory: self.warn_memory,
            warn_temp: self.warn_temp,
            push_token: self.push_token.clone(),
            read_token: self.read_token.clone(),
            max_nodes: self.max_nodes,
            cmdlines: self.cmdlines,
            sample_interval: self.sample_interval,
            allowed_origins: self.allowed_origins.clone(),
            history_shape: self.history_shape,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DEFAULT_MAX_NODES;
    use crate::source::promql::backend_tls::MAX_PEM_FILE_BYTES;

    fn parse(args: &[&str]) -> Result<Settings, String> {
        let matches = command()
            .try_get_matches_from(std::iter::once("edge-master").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        settings(&matches).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_values() {
        let s = parse(&[
            "--target=n1=127.0.0.1:9100",
            "--target=127.0.0.1:9200",
            "--retention=7d",
        ])
        .unwrap();
        assert_eq!(s.targets.len(), 2);
        assert_eq!(s.targets[0].name.as_deref(), Some("n1"));
        assert_eq!(s.retention, Duration::from_secs(7 * 86_400));
        assert_eq!(s.scrape_interval, Duration::from_secs(5));
        assert_eq!(s.sample_interval, Duration::from_secs(300));
        assert_eq!(s.offline_after_missed, 3);
        assert_eq!(s.cluster_id, "default");
        assert_eq!(s.max_nodes, DEFAULT_MAX_NODES);
        assert_eq!(s.latest_persist_interval, Duration::from_secs(30));
        assert_eq!(
            parse(&["--latest.persist-interval=2m"])
                .unwrap()
                .latest_persist_interval,
            Duration::from_secs(120)
        );
        assert!(parse(&["--latest.persist-interval=0s"])
            .unwrap_err()
            .contains("--latest.persist-interval"));
        assert_eq!(s.cmdlines, CmdlinePolicy::Redact);
        assert_eq!(s.read_token, None);
        assert_eq!(s.api_settings().history_shape, HistoryShape::V2);
        let current = parse(&["--atlhyper-api=current"]).unwrap();
        assert_eq!(current.api_settings().history_shape, HistoryShape::Current);
        let s = parse(&[
            "--max-nodes=10",
            "--process.cmdline=drop",
            "--api.read-token=rt",
        ])
        .unwrap();
        assert_eq!(
            (s.max_nodes, s.cmdlines, s.read_token.as_deref()),
            (10, CmdlinePolicy::Drop, Some("rt"))
        );
        assert!(s.api_settings().reads_need_a_token());
    }

    #[test]
    fn promql_source_flags() {
        assert_eq!(parse(&[]).unwrap().promql, None);
        let s = parse(&[
            "--source=prometheus=http://vmselect:8481/select/0/prometheus",
            "--scrape-interval=15s",
            "--source.bearer-token-file=/run/token",
        ])
        .unwrap();
        assert_eq!(
            s.promql,
            Some(PromqlConfig {
                url: "http://vmselect:8481/select/0/prometheus".into(),
                auth: BackendAuth::BearerTokenFile("/run/token".into()),
                tls: BackendTls::default(),
                node_label: "instance".into(),
                naming: NodeNaming::Label,
                rate_window: Duration::from_secs(60),
                delay: Duration::from_secs(30),
                history: HistoryFrom::Backend,
                slow_interval: Duration::from_secs(60),
            })
        );
        let s = parse(&[
            "--source=prometheus=http://prometheus:9090",
            "--source.node-label=node",
            "--source.node-name=reported",
            "--source.basic-auth-username=reader",
            "--source.basic-auth-password-file=/run/password",
            "--source.rate-window=1m30s",
            "--source.delay=2s",
            "--source.history=local",
            "--source.slow-interval=5m",
        ])
        .unwrap()
        .promql
        .unwrap();
        assert_eq!(
            (
                s.node_label.as_str(),
                s.naming,
                s.rate_window,
                s.delay,
                s.history
            ),
            (
                "node",
                NodeNaming::Reported,
                Duration::from_secs(90),
                Duration::from_secs(2),
                HistoryFrom::Local
            )
        );
        assert_eq!(
            s.auth,
            BackendAuth::Basic {
                username: "reader".into(),
                password_file: "/run/password".into()
            }
        );
        assert_eq!(s.slow_interval, Duration::from_secs(300));
    }

    /// A self-signed certificate and its key in `dir` (one file each), as PEM.
    fn self_signed(dir: &std::path::Path, name: &str) -> (String, String) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}-key.pem"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        (cert.display().to_string(), key.display().to_string())
    }

    #[test]
    fn tls_flags_read_their_files_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path(), "client");
        let tls = parse(&[
            "--source=prometheus=https://prometheus:9090",
            &format!("--source.tls-ca-file={cert}"),
            &format!("--source.tls-cert-file={cert}"),
            &format!("--source.tls-key-file={key}"),
        ])
        .unwrap()
        .promql
        .unwrap()
        .tls;
        assert_eq!(tls.ca.map(|ca| ca.len()), Some(1));
        assert!(tls.client.is_some());
        assert!(!tls.insecure_skip_verify);
        let insecure = parse(&[
            "--source=prometheus=https://prometheus:9090",
            "--source.tls-insecure-skip-verify",
        ])
        .unwrap()
        .promql
        .unwrap()
        .tls;
        assert_eq!(
            insecure,
            BackendTls {
                ca: None,
                client: None,
                insecure_skip_verify: true
            }
        );
        // Public roots when no CA file is given.
        let public = parse(&["--source=prometheus=https://prometheus:9090"]).unwrap();
        assert_eq!(public.promql.unwrap().tls, BackendTls::default());
    }

    #[test]
    fn bad_tls_flags_and_files_name_the_flag_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path(), "client");
        let (_, other_key) = self_signed(dir.path(), "other");
        let file = |name: &str, content: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            path.display().to_string()
        };
        let empty = file("empty.pem", b"");
        let not_base64 = file(
            "bad.pem",
            b"-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n",
        );
        let not_a_certificate = file(
            "junk.pem",
            b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
        );
        let large = file("large.pem", &vec![b'#'; MAX_PEM_FILE_BYTES as usize + 1]);
        let missing = dir.path().join("missing.pem").display().to_string();
        let https = "--source=prometheus=https://p:9090";
        let ca = |path: &str| format!("--source.tls-ca-file={path}");
        for (args, expected) in [
            (
                vec!["--source=prometheus=http://p:9090".into(), ca(&cert)],
                "--source.tls-ca-file: needs --source=prometheus=https://".to_owned(),
            ),
            (
                vec!["--source.tls-insecure-skip-verify".into()],
                "--source.tls-insecure-skip-verify: needs --source=prometheus=https://".into(),
            ),
            (
                vec![https.into(), format!("--source.tls-cert-file={cert}")],
                "--source.tls-cert-file: needs --source.tls-key-file".into(),
            ),
            (
                vec![https.into(), format!("--source.tls-key-file={key}")],
                "--source.tls-key-file: needs --source.tls-cert-file".into(),
            ),
            (
                vec![
                    https.into(),
                    ca(&cert),
                    "--source.tls-insecure-skip-verify".into(),
                ],
                "--source.tls-insecure-skip-verify: cannot be used with --source.tls-ca-file"
                    .into(),
            ),
            (
                vec![https.into(), ca(&empty)],
                format!("--source.tls-ca-file: {empty}: no CERTIFICATE in it"),
            ),
            (
                vec![https.into(), ca(&not_base64)],
                format!("--source.tls-ca-file: {not_base64}: not PEM: base64 decode error"),
            ),
            (
                vec![https.into(), ca(&not_a_certificate)],
                format!("--source.tls-ca-file: {not_a_certificate}: certificate 1: "),
            ),
            (
                vec![https.into(), ca(&large)],
                format!("--source.tls-ca-file: {large}: larger than 1048576 bytes"),
            ),
            (
                vec![https.into(), ca(&missing)],
                format!("--source.tls-ca-file: {missing}: No such file"),
            ),
            (
                vec![
                    https.into(),
                    format!("--source.tls-cert-file={key}"),
                    format!("--source.tls-key-file={key}"),
                ],
                format!("--source.tls-cert-file: {key}: no CERTIFICATE in it"),
            ),
            (
                vec![
                    https.into(),
                    format!("--source.tls-cert-file={cert}"),
                    format!("--source.tls-key-file={cert}"),
                ],
                format!("--source.tls-key-file: {cert}: no PRIVATE KEY in it"),
            ),
            (
                vec![
                    https.into(),
                    format!("--source.tls-cert-file={cert}"),
                    format!("--source.tls-key-file={other_key}"),
                ],
                format!("--source.tls-key-file: {other_key}: not a usable key for the certificate"),
            ),
        ] {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let err = parse(&args).unwrap_err();
            assert!(err.starts_with(&expected), "{args:?}: {err}");
        }
    }

    #[test]
    fn log_levels_are_tracing_levels() {
        assert_eq!(parse(&[]).unwrap().log_level, tracing::Level::INFO);
        assert_eq!(
            parse(&["--log.level=debug"]).unwrap().log_level,
            tracing::Level::DEBUG
        );
        assert_eq!(
            parse(&["--log.level=error"]).unwrap().log_level,
            tracing::Level::ERROR
        );
        // Only the four listed: tracing would also read "trace" and "5".
        for bad in ["trace", "5", "verbose"] {
            let err = parse(&[&format!("--log.level={bad}")]).unwrap_err();
            assert!(err.contains("--log.level"), "{bad}: {err}");
        }
    }

    #[test]
    fn dns_discovery_is_built_once_from_the_flags() {
        let s = parse(&["--discover-dns=localhost:9100", "--dns-refresh=10s"]).unwrap();
        assert!(s.discover_dns.is_some());
        assert!(parse(&[]).unwrap().discover_dns.is_none());
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (args, expected) in [
            (
                vec!["--retention=10x"],
                "--retention: unknown unit \"x\" in duration \"10x\"",
            ),
            (
                vec!["--scrape-interval=0s"],
                "--scrape-interval: must be longer than 0",
            ),
            (
                vec!["--target=https://x"],
                "--target: \"https://x\": only http:// is supported",
            ),
            (
                vec!["--warn-cpu=120"],
                "--warn-cpu: \"120\": must be a percentage from 0 to 100",
            ),
            (
                vec!["--listen=8080"],
                "--listen: \"8080\": expected host:port",
            ),
            (
                vec!["--cors.allowed-origin=atlhyper.example"],
                "--cors.allowed-origin: \"atlhyper.example\": an origin is scheme://host[:port]",
            ),
            (
                vec!["--discover-dns=svc"],
                "--discover-dns: \"svc\": expected HOST:PORT",
            ),
            (
                vec!["--max-nodes=0"],
                "--max-nodes: \"0\": must be a whole number from 1 to 1000000",
            ),
            (
                vec!["--atlhyper-api=v3"],
                "--atlhyper-api: \"v3\": must be one of v2, current",
            ),
            (
                vec![
                    "--source=prometheus=http://p:9090",
                    "--target=127.0.0.1:9100",
                ],
                "--source: prometheus=URL reads no targets",
            ),
            (
                vec!["--source=victoria"],
                "--source: \"victoria\": expected scrape or prometheus=URL",
            ),
            (
                vec!["--source=prometheus=https://"],
                "--source: \"https://\": expected an http:// or https:// URL",
            ),
            (
                vec!["--source=prometheus=prom:9090"],
                "--source: \"prom:9090\": expected an http:// or https:// URL",
            ),
            (
                vec![
                    "--source=prometheus=http://p:9090",
                    "--source.node-label=node-name",
                ],
                "--source.node-label: \"node-name\": expected a label name",
            ),
            (
                vec![
                    "--source=prometheus=http://p:9090",
                    "--source.node-name=uname",
                ],
                "--source.node-name: \"uname\": must be one of label, reported",
            ),
            (
                vec![
                    "--source=prometheus=http://p:9090",
                    "--source.basic-auth-username=u",
                ],
                "--source.basic-auth-username: needs --source.basic-auth-password-file",
            ),
            (
                vec!["--process.cmdline=hide"],
                "--process.cmdline: \"hide\": must be one of redact, drop, full",
            ),
        ] {
            let err = parse(&args).unwrap_err();
            assert!(err.starts_with(expected), "{args:?}: {err}");
        }
    }
}
