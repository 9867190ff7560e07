//! What collectors read during one scrape and share: procfs tables (`cpu` and `stat`
//! both read `/proc/stat`) and the kernel's list of links over rtnetlink (`netdev`,
//! `netclass`, `arp`, `network_route` and `qdisc` use it; the last two dump routes and
//! qdiscs on the same socket). The scraper keeps one `Sources` across scrapes so the
//! netlink socket is reused, and clears what was read at the start of each scrape.

use std::io;
use std::path::{Path, PathBuf};

use netlink_packet_route::address::AddressMessage;

use crate::error::CollectError;
use crate::read::read_table_string;
use crate::rtnetlink::{Link, Neighbour, Qdisc, Route, RouteSocket};

#[derive(Default)]
pub struct Sources {
    tables: Vec<(PathBuf, String)>,
    links: Option<Vec<Link>>,
    /// Kept across scrapes; dropped after an error and reopened on the next use.
    socket: Option<RouteSocket>,
}

impl Sources {
    /// Forgets what the previous scrape read (the socket stays open).
    pub fn begin_scrape(&mut self) {
        self.tables.clear();
        self.links = None;
    }

    /// A procfs table, read once per scrape.
    pub fn table(&mut self, path: &Path) -> Result<&str, CollectError> {
        let index = match self.tables.iter().position(|(p, _)| p == path) {
            Some(index) => index,
            None => {
                self.tables
                    .push((path.to_path_buf(), read_table_string(path)?));
                self.tables.len() - 1
            }
        };
        Ok(&self.tables[index].1)
    }

    /// Every link of this network namespace (RTM_GETLINK), dumped once per scrape.
    pub fn links(&mut self) -> Result<&[Link], CollectError> {
        if self.links.is_none() {
            let links = self.with_socket("rtnetlink link dump", RouteSocket::dump_links)?;
            self.links = Some(links);
        }
        Ok(self.links.as_deref().unwrap_or_default())
    }

    /// Every address of every family (RTM_GETADDR); only netdev's address info uses it.
    pub fn addresses(&mut self) -> Result<Vec<AddressMessage>, CollectError> {
        self.with_socket("rtnetlink address dump", RouteSocket::dump_addresses)
    }

    /// The IPv4 neighbour table (RTM_GETNEIGH); only arp uses it.
    pub fn ipv4_neighbours(&mut self) -> Result<Vec<Neighbour>, CollectError> {
        self.with_socket(
            "rtnetlink neighbour dump",
            RouteSocket::dump_ipv4_neighbours,
        )
    }

    /// Every route of every table and family (RTM_GETROUTE); only network_route uses it.
    pub fn routes(&mut self) -> Result<Vec<Route>, CollectError> {
        self.with_socket("rtnetlink route dump", RouteSocket::dump_routes)
    }

    /// Every queueing discipline (RTM_GETQDISC); only qdisc uses it.
    pub fn qdiscs(&mut self) -> Result<Vec<Qdisc>, CollectError> {
        self.with_socket("rtnetlink qdisc dump", RouteSocket::dump_qdiscs)
    }

    /// Runs `request` on the kept socket, opening it first if needed and dropping it
    /// on any error, so a dump cut short never leaves replies for the next one.
    fn with_socket<T>(
        &mut self,
        context: &str,
        request: impl FnOnce(&mut RouteSocket) -> io::Result<T>,
    ) -> Result<T, CollectError> {
        let socket = match &mut self.socket {
            Some(socket) => socket,
            None => {
                self.socket
                    .insert(RouteSocket::open().map_err(|source| CollectError::System {
                        context: "opening an rtnetlink socket".to_string(),
                        source,
                    })?)
            }
        };
        request(socket).map_err(|source| {
            self.socket = None;
            CollectError::System {
                context: context.to_string(),
                source,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_is_read_once_per_scrape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stat");
        std::fs::write(&path, "one\n").unwrap();
        let mut sources = Sources::default();
        assert_eq!(sources.table(&path).unwrap(), "one\n");
        std::fs::write(&path, "two\n").unwrap();
        assert_eq!(sources.table(&path).unwrap(), "one\n", "same scrape");
        sources.begin_scrape();
        assert_eq!(sources.table(&path).unwrap(), "two\n", "next scrape");
        assert!(sources.table(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn links_are_dumped_once_per_scrape_on_one_socket() {
        let mut sources = Sources::default();
        for _ in 0..2 {
            sources.begin_scrape();
            let links = sources.links().unwrap();
            assert!(links.iter().any(|l| l.name == "lo" && l.index == 1));
            assert!(!sources.addresses().unwrap().is_empty());
        }
    }
}
