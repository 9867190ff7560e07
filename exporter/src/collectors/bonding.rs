//! `node_bonding_slaves` and `node_bonding_active`: for each bond listed in
//! `<sysfs>/class/net/bonding_masters`, its slaves (`<bond>/bonding/slaves`) and how
//! many of them have MII status `up` (`<bond>/lower_<slave>/bonding_slave/mii_status`,
//! or `slave_<slave>/…` on older kernels).
//!
//! `bonding_masters` exists only while the bonding module is loaded: without it the
//! collector has no data, as in node_exporter. A bond or slave that cannot be read
//! fails the collector (node_exporter fails too), naming the file.

use std::io;
use std::path::{Path, PathBuf};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::read::read_attribute;
use crate::sources::Sources;
use edge_common::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "bonding",
    enabled_by_default: true,
    args: super::no_args,
    build: |ctx| Ok(Box::new(Bonding::new(ctx.paths))),
};

pub struct Bonding {
    class_net: PathBuf,
}

impl Bonding {
    pub fn new(paths: &Paths) -> Self {
        Bonding {
            class_net: paths.sys("class/net"),
        }
    }
}

/// One bond: its name, its configured slaves and how many of them are up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bond {
    pub master: String,
    pub slaves: u32,
    pub active: u32,
}

/// Reads every bond under `class_net`, in the order `bonding_masters` lists them.
pub fn read_bonds(class_net: &Path) -> Result<Vec<Bond>, CollectError> {
    let masters_path = class_net.join("bonding_masters");
    let masters = match read_attribute(&masters_path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(CollectError::NoData(format!(
                "{}: no bonding module",
                masters_path.display()
            )))
        }
        Err(e) => return Err(CollectError::read(&masters_path, e)),
    };
    let mut bonds = Vec::new();
    for master in masters.split_whitespace() {
        let bond_dir = class_net.join(master);
        let slaves_path = bond_dir.join("bonding/slaves");
        let slaves =
            read_attribute(&slaves_path).map_err(|e| CollectError::read(&slaves_path, e))?;
        let mut bond = Bond {
            master: master.to_string(),
            slaves: 0,
            active: 0,
        };
        for slave in slaves.split_whitespace() {
            let lower = bond_dir.join(format!("lower_{slave}/bonding_slave/mii_status"));
            let status = match read_attribute(&lower) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let older = bond_dir.join(format!("slave_{slave}/bonding_slave/mii_status"));
                    read_attribute(&older).map_err(|e| CollectError::read(&older, e))?
                }
                other => other.map_err(|e| CollectError::read(&lower, e))?,
            };
            bond.slaves += 1;
            if status == "up" {
                bond.active += 1;
            }
        }
        bonds.push(bond);
    }
    Ok(bonds)
}

impl Collector for Bonding {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let mut bonds = read_bonds(&self.class_net)?;
        bonds.sort_by(|a, b| a.master.cmp(&b.master));
        for bond in &bonds {
            out.gauge(
                "node_bonding_slaves",
                "Number of configured slaves per bonding interface.",
                &[("master", &bond.master)],
                bond.slaves.into(),
            );
        }
        for bond in &bonds {
            out.gauge(
                "node_bonding_active",
                "Number of active slaves per bonding interface.",
                &[("master", &bond.master)],
                bond.active.into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn scrape(paths: &Paths) -> Result<MetricSet, CollectError> {
        let mut set = MetricSet::new();
        Bonding::new(paths).update(&mut Sources::default(), &mut set)?;
        Ok(set)
    }

    #[test]
    fn counts_the_fixture_bond() {
        let set = scrape(&fixture_paths()).unwrap();
        let master = || vec![("master".to_string(), "bond0".to_string())];
        assert_eq!(
            rendered(&set, |name| name.starts_with("node_bonding")),
            vec![
                Line::Help(
                    "node_bonding_active".into(),
                    "Number of active slaves per bonding interface.".into()
                ),
                Line::Type("node_bonding_active".into(), "gauge".into()),
                Line::Sample("node_bonding_active".into(), master(), 1.0),
                Line::Help(
                    "node_bonding_slaves".into(),
                    "Number of configured slaves per bonding interface.".into()
                ),
                Line::Type("node_bonding_slaves".into(), "gauge".into()),
                Line::Sample("node_bonding_slaves".into(), master(), 2.0),
            ]
        );
    }

    #[test]
    fn older_slave_links_empty_bonds_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("class/net");
        std::fs::create_dir_all(&net).unwrap();
        let paths = Paths {
            sysfs: dir.path().to_path_buf(),
            ..Paths::default()
        };
        assert!(matches!(scrape(&paths), Err(CollectError::NoData(_))));

        std::fs::write(net.join("bonding_masters"), "int dmz\n").unwrap();
        for (bond, slaves) in [("int", "eth2 eth3\n"), ("dmz", "\n")] {
            std::fs::create_dir_all(net.join(bond).join("bonding")).unwrap();
            std::fs::write(net.join(bond).join("bonding/slaves"), slaves).unwrap();
        }
        for (slave, status) in [("eth2", "up\n"), ("eth3", "down\n")] {
            let dir = net.join(format!("int/slave_{slave}/bonding_slave"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("mii_status"), status).unwrap();
        }
        let bonds = read_bonds(&net).unwrap();
        assert_eq!(
            bonds,
            vec![
                Bond {
                    master: "int".into(),
                    slaves: 2,
                    active: 1
                },
                Bond {
                    master: "dmz".into(),
                    slaves: 0,
                    active: 0
                },
            ]
        );

        std::fs::write(net.join("dmz/bonding/slaves"), "eth9\n").unwrap();
        let err = read_bonds(&net).unwrap_err().to_string();
        assert!(
            err.contains("dmz/slave_eth9/bonding_slave/mii_status"),
            "{err}"
        );
    }
}
