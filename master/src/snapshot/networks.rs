//! Network interfaces: counters from netdev (`node_network_{receive,transmit}_*_total`),
//! identity from netclass (`node_network_info`, `_mtu_bytes`, `_speed_bytes`) and the
//! first IPv4 address from `node_network_address_info`.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::series::Window;
use crate::model::NetworkMetrics;

/// Virtual interfaces the page leaves out (container, bridge and CNI plumbing), by
/// name prefix; `lo` is left out too. The PromQL source asks the backend to leave out
/// the same ones (`source::promql::families::HIDDEN_INTERFACES`).
pub const VIRTUAL_PREFIXES: [&str; 8] = [
    "veth", "docker", "br-", "virbr", "vnet", "cni", "flannel", "cali",
];

pub(super) fn record(window: &Window) -> Vec<NetworkMetrics> {
    let series = &window.now;
    let interfaces: BTreeSet<&str> = series
        .samples("node_network_receive_bytes_total")
        .chain(series.samples("node_network_info"))
        .filter_map(|s| s.label("device"))
        .filter(|name| is_shown(name))
        .collect();
    interfaces
        .into_iter()
        .map(|interface| {
            let counter = |name: &str| {
                series
                    .find(&format!("node_network_{name}_total"), "device", interface)
                    .map_or(0, |v| v as u64)
            };
            let gauge = |name: &str| series.find(name, "device", interface);
            let rate = |name: &str| {
                window.rate(&format!("node_network_{name}_total"), "device", interface)
            };
            let info = series
                .samples("node_network_info")
                .find(|s| s.label("device") == Some(interface));
            let info_label = |name| {
                info.and_then(|s| s.label(name))
                    .unwrap_or_default()
                    .to_string()
            };
            NetworkMetrics {
                interface: interface.to_string(),
                ip_address: series
                    .samples("node_network_address_info")
                    .filter(|s| s.label("device") == Some(interface))
                    .filter_map(|s| s.label("address")?.parse::<Ipv4Addr>().ok())
                    .next()
                    .map(|ip| ip.to_string())
                    .unwrap_or_default(),
                mac_address: info_label("address"),
                status: info_label("operstate"),
                // Bytes per second to Mbps; -1 (unknown, e.g. virtual links) is 0.
                speed: gauge("node_network_speed_bytes")
                    .map_or(0, |bytes| (bytes / 125_000.0).max(0.0) as i64),
                mtu: gauge("node_network_mtu_bytes").map_or(0, |v| v as i64),
                rx_bytes: counter("receive_bytes"),
                tx_bytes: counter("transmit_bytes"),
                rx_packets: counter("receive_packets"),
                tx_packets: counter("transmit_packets"),
                rx_rate: window.rate("node_network_receive_bytes_total", "device", interface),
                tx_rate: window.rate("node_network_transmit_bytes_total", "device", interface),
                rx_errors: counter("receive_errs"),
                tx_errors: counter("transmit_errs"),
                rx_dropped: counter("receive_drop"),
                tx_dropped: counter("transmit_drop"),
                rx_packet_rate: rate("receive_packets"),
                tx_packet_rate: rate("transmit_packets"),
                rx_error_rate: rate("receive_errs"),
                tx_error_rate: rate("transmit_errs"),
                rx_drop_rate: rate("receive_drop"),
                tx_drop_rate: rate("transmit_drop"),
            }
        })
        .collect()
}

/// Physical-ish interfaces: not loopback and not the virtual ones of containers.
pub(super) fn is_shown(interface: &str) -> bool {
    interface != "lo"
        && !VIRTUAL_PREFIXES
            .iter()
            .any(|prefix| interface.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::super::Scrape;
    use super::*;

    fn networks(current: &Scrape, previous: Option<&Scrape>) -> Vec<NetworkMetrics> {
        record(&Window::new(current, previous))
    }

    #[test]
    fn eth0_of_the_edge_fixture() {
        let before = scrape(EDGE, 0);
        let text = with_value(
            EDGE,
            "node_network_receive_bytes_total{device=\"eth0\"}",
            987654321.0 + 1_250_000.0,
        );
        let text = with_value(
            &text,
            "node_network_transmit_bytes_total{device=\"eth0\"}",
            123456789.0 + 5.0,
        );
        // Addresses are live values, left out of the fixture output.
        let text = text
            + "node_network_address_info{address=\"fe80::3e7c:3fff:fe1a:2b3c\",device=\"eth0\",netmask=\"64\",scope=\"link\"} 1
node_network_address_info{address=\"192.168.1.20\",device=\"eth0\",netmask=\"24\",scope=\"global\"} 1
node_network_address_info{address=\"192.168.1.21\",device=\"eth0\",netmask=\"24\",scope=\"global\"} 1
";
        let networks = networks(&scrape(&text, 10), Some(&before));
        // bond0 (in sysfs only, no counters), eth0, wlan0; lo is left out.
        assert_eq!(networks.len(), 3, "lo is left out");
        assert_eq!(networks[0].interface, "bond0");
        assert_eq!(
            networks[1],
            NetworkMetrics {
                interface: "eth0".into(),
                ip_address: "192.168.1.20".into(),
                mac_address: "3c:7c:3f:1a:2b:3c".into(),
                status: "up".into(),
                speed: 1000,
                mtu: 1500,
                rx_bytes: 987654321 + 1_250_000,
                tx_bytes: 123456789 + 5,
                rx_packets: 765432,
                tx_packets: 543210,
                rx_rate: 125_000.0,
                tx_rate: 0.5,
                rx_errors: 301,
                tx_errors: 299,
                rx_dropped: 143,
                tx_dropped: 130,
                ..NetworkMetrics::default()
            }
        );
        // wlan0 is down and has no speed.
        let wlan = &networks[2];
        assert_eq!(
            (
                wlan.interface.as_str(),
                wlan.status.as_str(),
                wlan.speed,
                wlan.ip_address.as_str()
            ),
            ("wlan0", "down", 0, "")
        );
        assert_eq!((wlan.rx_rate, wlan.tx_rate), (0.0, 0.0));
    }

    #[test]
    fn packet_error_and_drop_rates_of_eth0() {
        let before = scrape(EDGE, 0);
        let mut text = EDGE.to_string();
        for (name, value) in [
            ("receive_packets", 765432.0 + 1000.0),
            ("transmit_packets", 543210.0 + 250.0),
            ("receive_errs", 301.0 + 3.0),
            ("transmit_errs", 299.0),
            ("receive_drop", 143.0 + 1.0),
            // Down: a reset, no rate for the interval.
            ("transmit_drop", 100.0),
        ] {
            let series = format!("node_network_{name}_total{{device=\"eth0\"}}");
            text = with_value(&text, &series, value);
        }
        let eth0 = networks(&scrape(&text, 10), Some(&before))
            .into_iter()
            .find(|n| n.interface == "eth0")
            .unwrap();
        assert_eq!(
            (
                eth0.rx_packet_rate,
                eth0.tx_packet_rate,
                eth0.rx_error_rate,
                eth0.tx_error_rate,
                eth0.rx_drop_rate,
                eth0.tx_drop_rate
            ),
            (100.0, 25.0, 0.3, 0.0, 0.1, 0.0)
        );
    }

    #[test]
    fn virtual_interfaces_are_left_out() {
        let names = [
            "lo",
            "veth1a2b3c",
            "docker0",
            "br-5f3e",
            "virbr0",
            "vnet3",
            "cni0",
            "flannel.1",
            "cali12ab",
            "eth0",
            "enp3s0",
            "wlan0",
            "br0",
            "tailscale0",
            "wg0",
        ];
        let text: String = names
            .iter()
            .map(|n| format!("node_network_receive_bytes_total{{device=\"{n}\"}} 1\n"))
            .collect();
        let shown: Vec<String> = networks(&scrape(&text, 0), None)
            .into_iter()
            .map(|n| n.interface)
            .collect();
        assert_eq!(
            shown,
            ["br0", "enp3s0", "eth0", "tailscale0", "wg0", "wlan0"]
        );
    }

    #[test]
    fn unknown_speed_and_reset_counters() {
        let text = "node_network_speed_bytes{device=\"eth0\"} -125000
node_network_receive_bytes_total{device=\"eth0\"} 5000
";
        let before = scrape(text, 0);
        let after = scrape(
            &with_value(
                text,
                "node_network_receive_bytes_total{device=\"eth0\"}",
                10.0,
            ),
            10,
        );
        let networks = networks(&after, Some(&before));
        assert_eq!(networks[0].speed, 0);
        assert_eq!((networks[0].rx_bytes, networks[0].rx_rate), (10, 0.0));
        assert_eq!(networks[0].mac_address, "");
    }
}
