//! The CPU cost of one scrape in edge-master, for `valgrind --tool=callgrind`
//! (instruction counts repeat on a shared machine, where timings do not).
//!
//! `scrape_cost MODE BODY_FILE N`: parses the exporter body `BODY_FILE` and builds a
//! snapshot from it (with the previous parse as the rate window) `N` times, and prints
//! the series read. MODE `full` reads every family ([`Scrape::parse`]); `snapshot` reads
//! only the families the snapshot needs, as the scraper does
//! ([`Scrape::parse_for_snapshot`]). Instructions per scrape are callgrind's total for
//! N minus the total for N = 0 (start-up and reading the file), divided by N.

use std::hint::black_box;

use anyhow::{bail, Context, Result};
use chrono::{TimeDelta, Utc};
use edge_master::snapshot::{build_snapshot, Scrape};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, file, count] = args.as_slice() else {
        bail!("usage: scrape_cost full|snapshot BODY_FILE N");
    };
    let body = std::fs::read(file).with_context(|| format!("reading {file}"))?;
    let count: u32 = count.parse().context("N is a count")?;
    let parse = match mode.as_str() {
        "full" => Scrape::parse,
        "snapshot" => Scrape::parse_for_snapshot,
        other => bail!("unknown mode {other:?}: full or snapshot"),
    };
    let start = Utc::now();
    let mut previous: Option<Scrape> = None;
    let mut series = 0;
    for round in 0..count {
        let at = start + TimeDelta::seconds(5 * i64::from(round));
        let scrape = parse(black_box(&body), at)?;
        let snapshot = build_snapshot("n1", &scrape, previous.as_ref(), None);
        black_box(&snapshot);
        series = scrape.sample_count();
        previous = Some(scrape.into_rate_counters());
    }
    println!(
        "{mode}: {count} scrapes of {} bytes, {series} series",
        body.len()
    );
    Ok(())
}
