//! The node's address (`nodeIP`). atlhyper's is the host of its scrape target
//! (node_exporter on the host network, scraped by IP), so that comes first when the
//! target is an IP address; a target named by DNS, or a pushed snapshot, falls back to
//! the node's own first global IPv4 address (`node_network_address_info`, off by
//! default in node_exporter 1.5), on a non-virtual interface, by interface name.

use std::net::{IpAddr, Ipv4Addr};

use super::networks::is_shown;
use super::series::Series;

pub(super) fn record(series: &Series, target_url: Option<&str>) -> String {
    target_url
        .and_then(target_ip)
        .or_else(|| own_address(series))
        .map(|ip| ip.to_string())
        .unwrap_or_default()
}

/// The host of `http://host[:port][/path]` when it is an IP address.
fn target_ip(url: &str) -> Option<IpAddr> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?.0,
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    host.parse().ok()
}

fn own_address(series: &Series) -> Option<IpAddr> {
    series
        .samples("node_network_address_info")
        .filter(|s| s.label("scope") == Some("global"))
        .filter_map(|s| {
            let device = s.label("device").filter(|d| is_shown(d))?;
            let ip: Ipv4Addr = s.label("address")?.parse().ok()?;
            Some((device, ip))
        })
        .min()
        .map(|(_, ip)| IpAddr::V4(ip))
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::*;

    const ADDRESSES: &str = "node_network_address_info{address=\"fe80::1\",device=\"eth0\",netmask=\"64\",scope=\"link\"} 1
node_network_address_info{address=\"2001:db8::5\",device=\"eth0\",netmask=\"64\",scope=\"global\"} 1
node_network_address_info{address=\"192.168.1.20\",device=\"eth0\",netmask=\"24\",scope=\"global\"} 1
node_network_address_info{address=\"10.42.0.1\",device=\"cni0\",netmask=\"24\",scope=\"global\"} 1
node_network_address_info{address=\"127.0.0.1\",device=\"lo\",netmask=\"8\",scope=\"host\"} 1
node_network_address_info{address=\"10.0.0.9\",device=\"wlan0\",netmask=\"24\",scope=\"global\"} 1
";

    fn node_ip(text: &str, target: Option<&str>) -> String {
        let scrape = scrape(text, 0);
        record(&Series::new(&scrape.families), target)
    }

    #[test]
    fn the_target_host_when_it_is_an_ip() {
        let text = format!("{EDGE}{ADDRESSES}");
        for (url, expected) in [
            ("http://10.0.0.5:9100/metrics", "10.0.0.5"),
            ("http://10.0.0.5/metrics", "10.0.0.5"),
            ("http://[fd00::7]:9100/metrics", "fd00::7"),
            // A DNS name: the node's own global IPv4 on eth0 (not cni0, not IPv6).
            ("http://pi-1.lan:9100/metrics", "192.168.1.20"),
        ] {
            assert_eq!(node_ip(&text, Some(url)), expected, "{url}");
        }
        assert_eq!(node_ip(&text, None), "192.168.1.20");
    }

    #[test]
    fn empty_when_nothing_says() {
        // The fixture output leaves addresses out (live values).
        assert_eq!(node_ip(EDGE, Some("http://edge-1:9100/metrics")), "");
        assert_eq!(node_ip(EDGE, None), "");
    }
}
