//! The serving limits and the web config file's path: each limit a named default and
//! a `--web.*` flag, durations spelled as node_exporter's flags spell them (`10s`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgMatches};
use edge_common::duration::parse_go_duration;
use edge_common::flags::FlagError;

/// Flag ids and long names.
pub const WEB_CONFIG_FILE: &str = "web.config.file";
pub const MAX_CONNECTIONS: &str = "web.max-connections";
pub const HEADER_READ_TIMEOUT: &str = "web.header-read-timeout";
pub const REQUEST_TIMEOUT: &str = "web.request-timeout";
pub const IDLE_TIMEOUT: &str = "web.idle-timeout";

/// One default for all three programs: their clients are a few scrapers and a
/// dashboard, and 256 leaves three quarters of systemd's default 1,024 open files to
/// the program itself (SQLite, procfs reads, scripts).
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// The largest `--web.max-connections`: beyond any file limit we run under.
pub const MAX_CONNECTIONS_LIMIT: usize = 65_536;
/// A real client sends its request head in one packet; ten seconds allow for a
/// slow link and a TLS handshake on a small ARM board (a fraction of a second).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Above Prometheus' default 10 s scrape timeout, so a slow scrape is the scraper's
/// to give up on; the master's API answers and the sidecar's pushes are far smaller.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longer than the usual 1 m scrape interval (vmagent's default), so a scraper's
/// keep-alive connection, and its TLS session, is reused rather than redone every
/// scrape; short enough that an idle connection gives its slot back within 90 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

// The defaults as the flags show them; a test checks they agree with the constants.
const DEFAULT_MAX_CONNECTIONS_TEXT: &str = "256";
const DEFAULT_HEADER_READ_TIMEOUT_TEXT: &str = "10s";
const DEFAULT_REQUEST_TIMEOUT_TEXT: &str = "30s";
const DEFAULT_IDLE_TIMEOUT_TEXT: &str = "90s";

/// Limits and timeouts for [`serve`](crate::serve), and the web config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Connections open at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// From accept to the end of the request head, TLS handshake included.
    pub header_read_timeout: Duration,
    /// From the end of the request head to the handler's answer, body read
    /// included (408 and close when it runs out); then again for the response to
    /// be sent (close when it runs out). A request lasts at most twice this.
    pub request_timeout: Duration,
    /// Between the end of a response and the first byte of the next request.
    pub idle_timeout: Duration,
    /// exporter-toolkit's web config: TLS, basic auth, headers, rate limit.
    pub web_config_file: Option<PathBuf>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            web_config_file: None,
        }
    }
}

impl ServerOptions {
    /// The flags, to add to a program's `clap::Command`.
    pub fn args() -> Vec<Arg> {
        vec![
            Arg::new(WEB_CONFIG_FILE)
                .long(WEB_CONFIG_FILE)
                .default_value("")
                .help("Path to a configuration file that can enable TLS or authentication, in exporter-toolkit's web-configuration format."),
            Arg::new(MAX_CONNECTIONS)
                .long(MAX_CONNECTIONS)
                .default_value(DEFAULT_MAX_CONNECTIONS_TEXT)
                .help("Connections served at once; more are closed when accepted."),
            Arg::new(HEADER_READ_TIMEOUT)
                .long(HEADER_READ_TIMEOUT)
                .default_value(DEFAULT_HEADER_READ_TIMEOUT_TEXT)
                .help("Time a client has to send its request head (TLS handshake included)."),
            Arg::new(REQUEST_TIMEOUT)
                .long(REQUEST_TIMEOUT)
                .default_value(DEFAULT_REQUEST_TIMEOUT_TEXT)
                .help("Time from request head to the handler's answer (body read included), and again to send the answer."),
            Arg::new(IDLE_TIMEOUT)
                .long(IDLE_TIMEOUT)
                .default_value(DEFAULT_IDLE_TIMEOUT_TEXT)
                .help("Time a keep-alive connection may stay idle between requests."),
        ]
    }

    /// The options the flags give; defaults for flags the command does not have.
    pub fn from_matches(matches: &ArgMatches) -> Result<Self, FlagError> {
        let text = |id: &str| {
            matches
                .try_get_one::<String>(id)
                .ok()
                .flatten()
                .map(String::as_str)
        };
        let mut options = ServerOptions::default();
        if let Some(path) = text(WEB_CONFIG_FILE).filter(|path| !path.is_empty()) {
            options.web_config_file = Some(PathBuf::from(path));
        }
        if let Some(value) = text(MAX_CONNECTIONS) {
            options.max_connections = value
                .parse()
                .map_err(|_| FlagError::new(MAX_CONNECTIONS, format!("not a number: {value:?}")))?;
        }
        let duration = |id: &'static str, default: Duration| match text(id) {
            Some(value) => parse_go_duration(value).map_err(|e| FlagError::new(id, e)),
            None => Ok(default),
        };
        options.header_read_timeout = duration(HEADER_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT)?;
        options.request_timeout = duration(REQUEST_TIMEOUT, DEFAULT_REQUEST_TIMEOUT)?;
        options.idle_timeout = duration(IDLE_TIMEOUT, DEFAULT_IDLE_TIMEOUT)?;
        options.check()?;
        Ok(options)
    }

    /// Every limit in range: a cap of at least one, no zero (disabled) timeout.
    pub fn check(&self) -> Result<(), FlagError> {
        if !(1..=MAX_CONNECTIONS_LIMIT).contains(&self.max_connections) {
            return Err(FlagError::new(
                MAX_CONNECTIONS,
                format!("must be between 1 and {MAX_CONNECTIONS_LIMIT}"),
            ));
        }
        for (flag, timeout) in [
            (HEADER_READ_TIMEOUT, self.header_read_timeout),
            (REQUEST_TIMEOUT, self.request_timeout),
            (IDLE_TIMEOUT, self.idle_timeout),
        ] {
            if timeout.is_zero() {
                return Err(FlagError::new(flag, "must be longer than 0"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServerOptions, String> {
        let command = clap::Command::new("t").args(ServerOptions::args());
        let matches = command
            .try_get_matches_from(std::iter::once("t").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        ServerOptions::from_matches(&matches).map_err(|e| e.to_string())
    }

    #[test]
    fn flag_defaults_are_the_constants() {
        assert_eq!(parse(&[]), Ok(ServerOptions::default()));
    }

    #[test]
    fn reads_every_flag() {
        let options = parse(&[
            "--web.config.file=/etc/web.yml",
            "--web.max-connections=8",
            "--web.header-read-timeout=500ms",
            "--web.request-timeout=2s",
            "--web.idle-timeout=1m",
        ]);
        assert_eq!(
            options,
            Ok(ServerOptions {
                max_connections: 8,
                header_read_timeout: Duration::from_millis(500),
                request_timeout: Duration::from_secs(2),
                idle_timeout: Duration::from_secs(60),
                web_config_file: Some(PathBuf::from("/etc/web.yml")),
            })
        );
    }

    #[test]
    fn refuses_values_that_disable_a_limit() {
        assert_eq!(
            parse(&["--web.max-connections=0"]),
            Err("--web.max-connections: must be between 1 and 65536".to_string())
        );
        assert_eq!(
            parse(&["--web.idle-timeout=0s"]),
            Err("--web.idle-timeout: must be longer than 0".to_string())
        );
        assert_eq!(
            parse(&["--web.request-timeout=5"]),
            Err("--web.request-timeout: missing unit in duration \"5\"".to_string())
        );
        assert_eq!(
            parse(&["--web.max-connections=many"]),
            Err("--web.max-connections: not a number: \"many\"".to_string())
        );
    }

    #[test]
    fn a_command_without_the_flags_gets_the_defaults() {
        let matches = clap::Command::new("t").get_matches_from(["t"]);
        assert_eq!(
            ServerOptions::from_matches(&matches),
            Ok(ServerOptions::default())
        );
    }
}
