//! edge-exporter: a per-node exporter whose standard families are node_exporter's, to
//! the name, label, unit and type, so existing dashboards and alerts keep working.
//!
//! How it fits together:
//! - `collectors/` — one module per source (cpu, meminfo, diskstats, …), each a
//!   [`collector::Collector`]; `collectors::ALL` is the registry, the only list of them.
//! - `paths` — the one helper that applies `--path.procfs/sysfs/rootfs/udev.data`.
//! - `own_process` — the exporter's own `process_*` families.
//! - `deadline` — work that may block forever (a dead mount), run under a deadline.
//! - `read` — bounded file reads and parse helpers; every parse error names its place.
//! - `sources` — what collectors share within a scrape: procfs tables and the
//!   rtnetlink link dump (`rtnetlink`).
//! - the samples of one scrape are an `edge_common::exposition::MetricSet`, written
//!   as Prometheus text 0.0.4 or OpenMetrics by `edge_common::exposition::write`.
//! - `cli` turns flags into a [`cli::Config`]; `server` serves `/metrics`, with
//!   node_exporter's `collect[]`/`exclude[]` parameters read by `scrape_filter`;
//!   `node_exporter_flags` accepts (and ignores, with a warning) node_exporter's
//!   flags that nothing here supports.
//!
//! It only reads: nothing here writes to procfs, sysfs or the host's filesystems.

pub mod cli;
pub mod collector;
pub mod collectors;
pub mod deadline;
pub mod error;
pub mod family_names;
pub mod node_exporter_flags;
pub mod own_process;
pub mod paths;
pub mod read;
pub mod resident;
pub mod rtnetlink;
pub mod scrape_filter;
pub mod server;
pub mod sources;
#[cfg(test)]
pub(crate) mod test_support;
