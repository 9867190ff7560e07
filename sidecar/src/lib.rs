//! edge-sidecar: runs this node's `key=value` scripts and native sensor reads (I2C,
//! IIO, 1-Wire) on their schedules from `nodes.conf`, and writes the values
//! atomically to a `.prom` file that edge-exporter's (or node_exporter's) textfile
//! collector reads.
//!
//! - `config` — `nodes.conf` and the flags: what runs on this node, how often.
//! - `runner` — one script run: own process group, timeout, capped output, reaping.
//! - `script_env` — what a script starts with: a clean environment, optionally
//!   another user (`--run-as`).
//! - `parse` — a run's `key=value` output into values; bad lines (and keys that
//!   would take the sidecar's own names) dropped and counted, keys capped per run.
//! - `names` — keys into names, and the rule that keeps names apart in text 0.0.4
//!   and OpenMetrics.
//! - `status` — the sidecar's own families, the one list of them.
//! - `i2c` — sensor files, the generic reader and chip drivers over i2cdev.
//! - `sysfs_sensors` — the kernel's IIO devices and 1-Wire thermometers, read from
//!   sysfs (`--path.sysfs`) into base units.
//! - `writer` — the `.prom` text (edge-common's text 0.0.4 writer; names from outside
//!   checked, so nothing from a script can inject text) and the atomic
//!   temp-file-and-rename write.
//! - `schedule` — a thread per source on its interval.
//! - `source_states` — what each source last produced and how its runs went, with
//!   the reload and write status: the state the workers record and the writer reads.
//! - `output` — the statuses as the file's text (stale values dropped, names
//!   claimed, the size capped), the writer thread.
//! - `watch` — live reload of `nodes.conf` (ConfigMap `..data` swaps), with polling.
//! - `cli`, `http` — flags and `--check`; the optional `--listen` endpoint.
//! - `scan` — `edge-sidecar scan`: what is on the I2C buses, identified by id
//!   registers (reads only), and the sensor files and `nodes.conf` line for it.
//!
//! It never runs anything outside its scripts directory.

pub mod cli;
pub mod config;
pub mod http;
pub mod i2c;
pub mod names;
pub mod output;
pub mod parse;
pub mod runner;
pub mod scan;
pub mod schedule;
pub mod script_env;
pub mod source_states;
pub mod status;
pub mod sysfs_sensors;
pub mod watch;
pub mod writer;
