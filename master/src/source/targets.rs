//! The exporters to scrape: `--target NAME=URL` flags, a targets file re-read every
//! round, and DNS discovery (`--discover-dns HOST:PORT`: a Kubernetes headless
//! Service over the exporter DaemonSet resolves to every node's address).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::model::limits::is_node_name;

/// Why a target (a flag value or a line of the targets file) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{0:?}: empty node name before '='")]
    EmptyName(String),
    #[error(
        "{0:?}: the node name is not a DNS name (letters, digits, '-' and '.', at most 253 bytes)"
    )]
    BadName(String),
    #[error("{0:?}: not a URL")]
    NotAUrl(String),
    #[error("{0:?}: only http:// is supported")]
    NotHttp(String),
    #[error("{0:?}: no host")]
    NoHost(String),
}

/// The most targets scraped at once (flags, file and DNS together); beyond it the
/// file is refused and DNS answers are cut, each with a warning. Each target is a
/// timer, a pooled connection and its rate counters: the list must not grow without
/// bound because a file or a DNS answer does.
pub const MAX_TARGETS: usize = 20_000;
/// The largest targets file read (a line per target: ~100 bytes × [`MAX_TARGETS`]).
pub const MAX_TARGETS_FILE_BYTES: u64 = 4 << 20;

/// Why a targets file was not applied.
#[derive(Debug, thiserror::Error)]
pub enum TargetsFileError {
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: larger than {limit} bytes", .path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{}:{line}: more than {limit} targets", .path.display())]
    TooMany {
        path: PathBuf,
        line: usize,
        limit: usize,
    },
    #[error("{}:{line}: {source}", .path.display())]
    Line {
        path: PathBuf,
        line: usize,
        source: TargetError,
    },
}

/// `--discover-dns` is not `HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: expected HOST:PORT")]
pub struct HostPortError(String);

/// One exporter: its URL and, if configured, the node name to use for it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub name: Option<String>,
    pub url: String,
}

/// Parses `NAME=URL` or `URL`; a URL without a scheme gets `http://`, one without a
/// path gets `/metrics`.
pub fn parse_target(text: &str) -> Result<Target, TargetError> {
    let text = text.trim();
    let (name, url) = match text.split_once('=') {
        Some((name, url)) if !name.contains('/') && !name.contains(':') => {
            (Some(name.trim().to_string()), url.trim())
        }
        _ => (None, text),
    };
    if name.as_deref().is_some_and(str::is_empty) {
        return Err(TargetError::EmptyName(text.to_owned()));
    }
    if name.as_deref().is_some_and(|name| !is_node_name(name)) {
        return Err(TargetError::BadName(text.to_owned()));
    }
    Ok(Target {
        name,
        url: normalize_url(url)?,
    })
}

fn normalize_url(url: &str) -> Result<String, TargetError> {
    if url.is_empty() || url.contains(char::is_whitespace) {
        return Err(TargetError::NotAUrl(url.to_owned()));
    }
    let with_scheme = if url.contains("://") {
        if !url.starts_with("http://") {
            return Err(TargetError::NotHttp(url.to_owned()));
        }
        url.to_string()
    } else {
        format!("http://{url}")
    };
    let after_scheme = &with_scheme["http://".len()..];
    if after_scheme.is_empty() || after_scheme.starts_with('/') {
        return Err(TargetError::NoHost(url.to_owned()));
    }
    Ok(if after_scheme.contains('/') {
        with_scheme
    } else {
        format!("{with_scheme}/metrics")
    })
}

/// A targets file: one `NAME=URL` or `URL` per line, `#` comments.
pub fn parse_targets_file(text: &str, origin: &Path) -> Result<Vec<Target>, TargetsFileError> {
    let mut targets = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if targets.len() == MAX_TARGETS {
            return Err(TargetsFileError::TooMany {
                path: origin.to_owned(),
                line: index + 1,
                limit: MAX_TARGETS,
            });
        }
        targets.push(parse_target(line).map_err(|source| TargetsFileError::Line {
            path: origin.to_owned(),
            line: index + 1,
            source,
        })?);
    }
    Ok(targets)
}

/// DNS discovery of `host:port`, re-resolved every `refresh`.
#[derive(Debug, Clone)]
pub struct DnsDiscovery {
    host_port: String,
    refresh: Duration,
    last: Option<(Instant, Vec<Target>)>,
}

impl DnsDiscovery {
    pub fn new(host_port: &str, refresh: Duration) -> Result<Self, HostPortError> {
        let valid = host_port
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !valid {
            return Err(HostPortError(host_port.to_owned()));
        }
        Ok(DnsDiscovery {
            host_port: host_port.to_string(),
            refresh,
            last: None,
        })
    }

    /// The addresses behind the name; the last good answer while resolution fails.
    pub fn targets(&mut self) -> Vec<Target> {
        let fresh = matches!(&self.last, Some((at, _)) if at.elapsed() < self.refresh);
        if !fresh {
            match self.host_port.to_socket_addrs() {
                Ok(addresses) => {
                    let mut targets: Vec<Target> = addresses
                        .map(|address| Target {
                            name: None,
                            url: url_of(address),
                        })
                        .collect();
                    targets.sort();
                    targets.dedup();
                    self.last = Some((Instant::now(), targets));
                }
                Err(error) => {
                    tracing::warn!(name = %self.host_port, %error, "DNS discovery failed; keeping the last answer");
                    if let Some((at, _)) = &mut self.last {
                        *at = Instant::now();
                    }
                }
            }
        }
        self.last
            .as_ref()
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    }
}

fn url_of(address: SocketAddr) -> String {
    match address {
        SocketAddr::V4(v4) => format!("http://{}:{}/metrics", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!("http://[{}]:{}/metrics", v6.ip(), v6.port()),
    }
}

/// Every configured target: flags, then the file (re-read each round; a broken file
/// keeps its last good list), then DNS.
#[derive(Debug)]
pub struct TargetSet {
    pub flags: Vec<Target>,
    pub file: Option<PathBuf>,
    file_targets: Vec<Target>,
    pub dns: Option<DnsDiscovery>,
}

impl TargetSet {
    pub fn new(flags: Vec<Target>, file: Option<PathBuf>, dns: Option<DnsDiscovery>) -> Self {
        TargetSet {
            flags,
            file,
            file_targets: Vec::new(),
            dns,
        }
    }

    pub fn current(&mut self) -> Vec<Target> {
        if let Some(path) = &self.file {
            match read_targets_file(path).and_then(|text| parse_targets_file(&text, path)) {
                Ok(targets) => self.file_targets = targets,
                Err(error) => {
                    tracing::warn!(%error, "targets file not applied; keeping the last good list")
                }
            }
        }
        let mut all = self.flags.clone();
        all.extend(self.file_targets.iter().cloned());
        if let Some(dns) = &mut self.dns {
            all.extend(dns.targets());
        }
        // A URL is scraped once, under the first name given for it.
        let mut seen = std::collections::HashSet::new();
        all.retain(|t| seen.insert(t.url.clone()));
        if all.len() > MAX_TARGETS {
            tracing::warn!(
                targets = all.len(),
                limit = MAX_TARGETS,
                "more targets than edge-master scrapes; the last ones (DNS answers first) are left out"
            );
            all.truncate(MAX_TARGETS);
        }
        all
    }
}

/// The targets file's text, refused beyond [`MAX_TARGETS_FILE_BYTES`] before it is read
/// whole.
fn read_targets_file(path: &Path) -> Result<String, TargetsFileError> {
    use std::io::Read;
    let read = |source| TargetsFileError::Read {
        path: path.to_owned(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(read)?
        .take(MAX_TARGETS_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read)?;
    if text.len() as u64 > MAX_TARGETS_FILE_BYTES {
        return Err(TargetsFileError::TooLarge {
            path: path.to_owned(),
            limit: MAX_TARGETS_FILE_BYTES,
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_targets_file_is_bounded_in_size_and_count() {
        let many: String = (0..=MAX_TARGETS)
            .map(|i| format!("n{i}=10.0.{}.{}:9100\n", i / 250, i % 250))
            .collect();
        let error = parse_targets_file(&many, Path::new("t.conf")).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "t.conf:{}: more than {MAX_TARGETS} targets",
                MAX_TARGETS + 1
            )
        );
        let at_limit: String = many
            .lines()
            .take(MAX_TARGETS)
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            parse_targets_file(&at_limit, Path::new("t.conf"))
                .unwrap()
                .len(),
            MAX_TARGETS
        );

        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.conf");
        let line = "# a comment to fill the file\n";
        let copies = (MAX_TARGETS_FILE_BYTES as usize / line.len()) + 1;
        std::fs::write(&big, line.repeat(copies)).unwrap();
        let error = read_targets_file(&big).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{}: larger than {MAX_TARGETS_FILE_BYTES} bytes",
                big.display()
            )
        );
        // The set keeps its last good list (here: none) and the flags.
        let mut set = TargetSet::new(vec![parse_target("a=x:1").unwrap()], Some(big), None);
        assert_eq!(set.current().len(), 1);
    }

    #[test]
    fn targets_are_normalized() {
        assert_eq!(
            parse_target("node-a=10.0.0.5:9100").unwrap(),
            Target {
                name: Some("node-a".into()),
                url: "http://10.0.0.5:9100/metrics".into()
            }
        );
        assert_eq!(
            parse_target("http://[::1]:9100/metrics").unwrap(),
            Target {
                name: None,
                url: "http://[::1]:9100/metrics".into()
            }
        );
        assert_eq!(
            parse_target("localhost:9100/custom").unwrap().url,
            "http://localhost:9100/custom"
        );
        for bad in [
            "",
            "=x:1",
            "https://x:1",
            "http://",
            "a b",
            "a_b=x:1",
            "-a=x:1",
        ] {
            assert!(parse_target(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_target("bad_name=x:1").unwrap_err(),
            TargetError::BadName("bad_name=x:1".into())
        );
        let err = parse_targets_file("# c\na=x:1\n\nhttps://y\n", Path::new("t.conf")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.conf:4: \"https://y\": only http:// is supported"
        );
    }

    #[test]
    fn dns_discovery_resolves_and_the_set_dedups() {
        let mut dns = DnsDiscovery::new("localhost:9100", Duration::from_secs(30)).unwrap();
        let targets = dns.targets();
        assert!(
            targets
                .iter()
                .any(|t| t.url == "http://127.0.0.1:9100/metrics"),
            "{targets:?}"
        );
        assert!(DnsDiscovery::new("localhost", Duration::from_secs(1)).is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("targets");
        std::fs::write(&file, "b=127.0.0.1:9100\nc=127.0.0.1:9200\n").unwrap();
        let mut set = TargetSet::new(
            vec![parse_target("a=127.0.0.1:9100").unwrap()],
            Some(file.clone()),
            None,
        );
        let current = set.current();
        assert_eq!(current.len(), 2);
        assert_eq!(current[0].name.as_deref(), Some("a"));
        // A broken file keeps the last good list.
        std::fs::write(&file, "https://nope\n").unwrap();
        assert_eq!(set.current().len(), 2);
    }
}
