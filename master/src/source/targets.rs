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

/// Why a targets file was not applied.
#[derive(Debug, thiserror::Error)]
pub enum TargetsFileError {
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
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
            match std::fs::read_to_string(path)
                .map_err(|source| TargetsFileError::Read {
                    path: path.clone(),
                    source,
                })
                .and_then(|text| parse_targets_file(&text, path))
            {
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
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
