//! Compares the server-side cost of a scrape between a baseline (node_exporter) and a
//! candidate (edge-exporter), both running: `scrape_bench NAME PID URL NAME PID URL`,
//! as `scripts/bench-exporter.sh` does after starting both with the same collectors.
//! Env: `SCRAPES` (per server and round, default 300), `ROUNDS` (5), `WARMUP` (20),
//! `IDLE_SECONDS` (0: no idle measurement).
//!
//! Method. The machine is small and shared, so both servers must see the same noise:
//! after warm-up, each round scrapes A then B, `SCRAPES` times each, one at a time on a
//! keep-alive HTTP/1.1 connection, asking for plain text without gzip. Around each
//! batch we read the server's utime+stime from `/proc/PID/stat`: CPU per scrape =
//! Δticks / CLK_TCK / SCRAPES. A tick is 10 ms, so batches are long and we quote the
//! median over rounds. Latency p50/p99 is over all timed scrapes, on the client's clock.
//! RSS and peak RSS are VmRSS and VmHWM from `/proc/PID/status` after the run, in MB of
//! 10^6 bytes. `IDLE_SECONDS` adds each server's CPU while nobody scrapes it. Nothing
//! is asserted: it prints a table and ratios, and fails only if a scrape or read fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

type Conn = BufReader<TcpStream>;

/// One exporter under test, a keep-alive HTTP/1.1 connection to its
/// `http://host:port/path`, and what we measured on it.
#[derive(Default)]
struct Target {
    name: String,
    pid: u32,
    host: String,
    path: String,
    conn: Option<Conn>,
    cpu_ms_per_scrape: Vec<f64>,
    latencies_ms: Vec<f64>,
    bytes: usize,
    series: usize,
}

impl Target {
    fn new(name: &str, pid: &str, url: &str) -> Result<Target> {
        let pid = pid.parse().with_context(|| format!("PID {pid:?}"))?;
        let rest = url.strip_prefix("http://").context("not http://")?;
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        Ok(Target {
            name: name.to_string(),
            pid,
            host: host.to_string(),
            path: if path.is_empty() { "/" } else { path }.to_string(),
            ..Target::default()
        })
    }

    /// GETs the URL and returns the body. A reused connection may have been closed
    /// by the server while idle (we scrape the other server meanwhile): retry once.
    fn get(&mut self) -> Result<String> {
        let reused = self.conn.is_some();
        let mut result = self.exchange();
        if result.is_err() && reused {
            result = self.exchange();
        }
        result.with_context(|| format!("{}: GET http://{}{}", self.name, self.host, self.path))
    }

    fn exchange(&mut self) -> Result<String> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(&self.host).context("connect")?;
            stream.set_read_timeout(Some(Duration::from_secs(30)))?;
            self.conn = Some(BufReader::with_capacity(64 * 1024, stream));
        }
        let conn = self.conn.as_mut().context("no connection")?;
        let result = read_response(conn, &self.host, &self.path);
        if !matches!(result, Ok((_, true))) {
            self.conn = None; // closed by the server, or broken: reconnect next time
        }
        result.map(|(body, _)| body)
    }

    /// Scrapes `n` times in a row, recording latencies and the CPU per scrape.
    fn batch(&mut self, n: usize, ticks_per_second: f64) -> Result<f64> {
        let before = cpu_ticks(self.pid)?;
        for _ in 0..n {
            let started = Instant::now();
            self.get()?;
            self.latencies_ms
                .push(started.elapsed().as_secs_f64() * 1e3);
        }
        let ticks = cpu_ticks(self.pid)?.saturating_sub(before);
        let ms = ticks as f64 / ticks_per_second * 1e3 / n as f64;
        self.cpu_ms_per_scrape.push(ms);
        Ok(ms)
    }

    /// This target's column of the table: (row label, value).
    fn column(&self) -> Result<Vec<(&'static str, f64)>> {
        Ok(vec![
            (
                "CPU per scrape (ms)",
                percentile(&self.cpu_ms_per_scrape, 0.5),
            ),
            ("latency p50 (ms)", percentile(&self.latencies_ms, 0.50)),
            ("latency p99 (ms)", percentile(&self.latencies_ms, 0.99)),
            ("RSS (MB)", status_mb(self.pid, "VmRSS")?),
            ("peak RSS (MB)", status_mb(self.pid, "VmHWM")?),
            ("kB per scrape", self.bytes as f64 / 1e3),
            ("series per scrape", self.series as f64),
        ])
    }
}

/// Sends one request and reads its response (by Content-Length or chunked);
/// returns the body and whether the connection may be reused.
fn read_response(conn: &mut Conn, host: &str, path: &str) -> Result<(String, bool)> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/plain;version=0.0.4\r\n\
         User-Agent: scrape_bench\r\n\r\n"
    );
    conn.get_mut()
        .write_all(request.as_bytes())
        .context("send")?;
    let status = read_line(conn)?;
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("status {status:?}");
    }
    let (mut length, mut chunked, mut keep_alive) = (None, false, true);
    loop {
        let line = read_line(conn)?.to_ascii_lowercase();
        let Some((key, value)) = line.split_once(':') else {
            break;
        };
        match (key.trim(), value.trim()) {
            ("content-length", v) => length = Some(v.parse().context("Content-Length")?),
            ("transfer-encoding", v) => chunked = v.contains("chunked"),
            ("connection", v) => keep_alive = v != "close",
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let line = read_line(conn)?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).context("chunk size")?;
            if size == 0 {
                while !read_line(conn)?.is_empty() {} // trailers
                break;
            }
            read_exact(conn, size, &mut body)?;
            read_line(conn)?; // the CRLF that ends a chunk
        }
    } else {
        read_exact(conn, length.context("no Content-Length")?, &mut body)?;
    }
    Ok((String::from_utf8(body).context("body")?, keep_alive))
}

fn read_line(conn: &mut Conn) -> Result<String> {
    let mut line = String::new();
    if conn.read_line(&mut line).context("read")? == 0 {
        bail!("connection closed");
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn read_exact(conn: &mut Conn, n: usize, body: &mut Vec<u8>) -> Result<()> {
    let start = body.len();
    body.resize(start + n, 0);
    conn.read_exact(&mut body[start..]).context("read body")
}

/// utime + stime of a process in clock ticks: fields 14 and 15 of /proc/PID/stat,
/// counted after the `)` that ends field 2 (the command name may hold spaces).
fn cpu_ticks(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let (utime, stime) = field(14).zip(field(15)).with_context(|| path.clone())?;
    Ok(utime + stime)
}

/// A `kB` line of /proc/PID/status (VmRSS, VmHWM), in MB.
fn status_mb(pid: u32, key: &str) -> Result<f64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    let value = status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'));
    let kb = value.and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
    Ok(kb.with_context(|| format!("{path}: no {key}"))? * 1024.0 / 1e6)
}

/// Samples (lines neither blank nor comments), and the collectors reporting failure.
fn summarize(body: &str) -> (usize, Vec<&str>) {
    let samples = body
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let failed = samples.clone().filter(|l| l.ends_with(" 0"));
    let failed = failed.filter(|l| l.starts_with("node_scrape_collector_success{"));
    (samples.count(), failed.collect())
}

/// Nearest-rank percentile of non-empty values (p = 0.5 is the median of an odd count).
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn env_number(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().with_context(|| format!("{name}={v:?}")),
        Err(_) => Ok(default),
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 6 {
        bail!("usage: scrape_bench NAME PID URL NAME PID URL (baseline first)");
    }
    let scrapes = env_number("SCRAPES", 300)?.max(1);
    let rounds = env_number("ROUNDS", 5)?.max(1);
    let warmup = env_number("WARMUP", 20)?.max(1);
    let idle_seconds = env_number("IDLE_SECONDS", 0)?;
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    anyhow::ensure!(ticks_per_second > 0.0, "sysconf(_SC_CLK_TCK) failed");
    let mut targets = Vec::new();
    for arg in args.chunks(3) {
        targets.push(Target::new(&arg[0], &arg[1], &arg[2]).with_context(|| arg.join(" "))?);
    }

    for t in &mut targets {
        let mut body = String::new();
        for _ in 0..warmup {
            body = t.get()?;
        }
        let (series, failed) = summarize(&body);
        (t.bytes, t.series) = (body.len(), series);
        println!("{}: {} series, {} bytes", t.name, t.series, t.bytes);
        if !failed.is_empty() {
            println!("  WARNING: {}", failed.join(", "));
        }
    }
    println!("{rounds} rounds x {scrapes} scrapes per server, alternating:");
    for round in 1..=rounds {
        for t in &mut targets {
            let ms = t.batch(scrapes, ticks_per_second)?;
            println!("  round {round}: {:<15} {ms:.3} ms CPU per scrape", t.name);
        }
    }

    let mut columns = targets
        .iter()
        .map(Target::column)
        .collect::<Result<Vec<_>>>()?;
    if idle_seconds > 0 {
        let before = targets
            .iter()
            .map(|t| cpu_ticks(t.pid))
            .collect::<Result<Vec<_>>>()?;
        std::thread::sleep(Duration::from_secs(idle_seconds as u64));
        for ((t, before), column) in targets.iter().zip(before).zip(&mut columns) {
            let ticks = cpu_ticks(t.pid)?.saturating_sub(before);
            let ms_per_second = ticks as f64 / ticks_per_second * 1e3 / idle_seconds as f64;
            column.push(("idle CPU (ms/s)", ms_per_second));
        }
    }

    let (a, b) = (&targets[0].name, &targets[1].name);
    println!("\n{:<22}{a:>15}{b:>16}{:>9}", "", "ratio");
    let ratio = |a: f64, b: f64| (a > 0.0).then(|| format!("{:.2}x", b / a));
    let ratio = |a, b| ratio(a, b).unwrap_or_else(|| "-".into());
    for (&(label, a), &(_, b)) in columns[0].iter().zip(&columns[1]) {
        let d = 2 * usize::from(a.fract() != 0.0 || b.fract() != 0.0); // counts: no decimals
        println!("{label:<22}{a:>15.d$}{b:>16.d$}{:>9}", ratio(a, b));
    }
    let (cpu_a, cpu_b, rss_b) = (columns[0][0].1, columns[1][0].1, columns[1][3].1);
    // The goals: CPU per scrape at most a fifth of node_exporter's, RSS at most
    // 6 MB (GOAL_CPU_RATIO / GOAL_RSS_MB override them, e.g. for another pairing).
    let goal = |name: &str, default: f64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (goal_cpu, goal_rss) = (goal("GOAL_CPU_RATIO", 0.20), goal("GOAL_RSS_MB", 6.0));
    let met = cpu_a > 0.0 && cpu_b / cpu_a <= goal_cpu && rss_b <= goal_rss;
    println!(
        "goal: CPU ratio <= {goal_cpu:.2}x ({}) and RSS <= {goal_rss} MB ({rss_b:.2} MB): {}",
        ratio(cpu_a, cpu_b),
        if met { "MET" } else { "NOT MET" }
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("scrape_bench: error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
