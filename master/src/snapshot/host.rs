//! Host identity: hostname and kernel from `node_uname_info`, the OS from
//! `node_os_info`, uptime from `node_time_seconds` and `node_boot_time_seconds`.

use chrono::{DateTime, Utc};

use super::series::Series;

/// The host fields of a snapshot.
#[derive(Debug, PartialEq)]
pub(super) struct HostInfo {
    pub hostname: String,
    pub os: String,
    pub kernel: String,
    pub uptime: i64,
}

/// `scraped_at` stands in for the node's clock when the time collector is off.
pub(super) fn record(series: &Series, scraped_at: DateTime<Utc>) -> HostInfo {
    let uname = series.samples("node_uname_info").next();
    let uname_label = |name| {
        uname
            .and_then(|s| s.label(name))
            .unwrap_or_default()
            .to_string()
    };
    let os = series
        .samples("node_os_info")
        .find_map(|s| s.label("pretty_name").filter(|p| !p.is_empty()))
        .unwrap_or("Linux")
        .to_string();
    let now = series
        .scalar("node_time_seconds")
        .unwrap_or(scraped_at.timestamp_millis() as f64 / 1000.0);
    let uptime = series
        .scalar("node_boot_time_seconds")
        .map_or(0, |boot| (now - boot).max(0.0) as i64);
    HostInfo {
        hostname: uname_label("nodename"),
        os,
        kernel: uname_label("release"),
        uptime,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::*;

    fn host(text: &str) -> HostInfo {
        let scrape = scrape(text, 0);
        record(&Series::new(&scrape.families), scrape.at)
    }

    #[test]
    fn from_uname_os_and_time() {
        let text = format!(
            "{EDGE}node_uname_info{{domainname=\"(none)\",machine=\"x86_64\",nodename=\"edge-1\",release=\"6.1.0-18-amd64\",sysname=\"Linux\",version=\"#1 SMP\"}} 1
node_time_seconds 1.7000864005e+09
"
        );
        assert_eq!(
            host(&text),
            HostInfo {
                hostname: "edge-1".into(),
                os: "Raspbian GNU/Linux 12 (bookworm)".into(),
                kernel: "6.1.0-18-amd64".into(),
                uptime: 86400,
            }
        );
    }

    #[test]
    fn degrades_where_data_is_missing() {
        // No uname, no time: the scrape's time (1_700_100_000) stands in for the clock.
        let info = host(EDGE);
        assert_eq!((info.hostname.as_str(), info.kernel.as_str()), ("", ""));
        assert_eq!(info.uptime, 100_000);
        let bare = host("node_os_info{pretty_name=\"\"} 1\n");
        assert_eq!(bare.os, "Linux");
        assert_eq!(bare.uptime, 0);
    }
}
