//! `node_network_route_info{device,src,dest,gw,priority,proto,weight}` (one series per
//! route, or per next hop of a multipath route) and `node_network_routes{device}` (how
//! many of those each interface has), from an rtnetlink route dump (RTM_GETROUTE) on
//! the scrape's shared socket, with interface names from the shared link dump.
//!
//! As node_exporter does, the dump covers every table and both families, and keeps
//! the unicast routes only (`rtm_type` RTN_UNICAST): that leaves out the local table's
//! local and broadcast routes, so on most hosts what remains is the main table — but a
//! unicast route of a policy-routing table is reported too, with nothing to tell the
//! table apart. Labels are written as node_exporter writes them:
//! - `dest` is `default` for a prefix length of 0, else `address/length` as Go's
//!   `net.IPNet` prints it (an IPv4-mapped IPv6 address as IPv4);
//! - `src` is the preferred source (RTA_PREFSRC), `gw` the gateway, both empty when
//!   absent; `device` is empty for a route without an output interface;
//! - `priority` is the metric (0 when absent), `proto` the protocol's name from
//!   node_exporter's table (`unknown` for a number it does not list);
//! - `weight` is `rtnh_hops + 1` for a next hop of a multipath route, empty otherwise.
//!
//! Two routes that print the same labels (the same route in two tables) make one
//! series: node_exporter's registry drops the repeat; both still count in
//! `node_network_routes`.

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::rtnetlink::{Link, Route};
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "network_route",
    enabled_by_default: false,
    args: super::no_args,
    build: |_| Ok(Box::new(NetworkRoute)),
};

/// `rtm_type` RTN_UNICAST.
const RTN_UNICAST: u8 = 1;

pub struct NetworkRoute;

impl Collector for NetworkRoute {
    fn update(&mut self, sources: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let routes = sources.routes()?;
        let links = sources.links()?;
        record(&routes, links, out);
        Ok(())
    }
}

/// One `route_info` series: its label values in the family's label order.
type RouteLabels = [String; 7];

/// The series of every unicast route, in dump order.
pub fn route_series(routes: &[Route], links: &[Link]) -> Vec<RouteLabels> {
    let name_of = |index: u32| {
        links
            .iter()
            .find(|link| link.index == index)
            .map_or_else(String::new, |link| link.name.clone())
    };
    let mut series = Vec::new();
    for route in routes.iter().filter(|route| route.kind == RTN_UNICAST) {
        let source = go_ip(&route.preferred_source);
        let destination = go_prefix(&route.destination, route.destination_length);
        let priority = route.priority.to_string();
        let protocol = protocol_name(route.protocol).to_string();
        if route.next_hops.is_empty() {
            series.push([
                name_of(route.output_interface),
                source,
                destination,
                go_ip(&route.gateway),
                priority,
                protocol,
                String::new(),
            ]);
            continue;
        }
        for hop in &route.next_hops {
            series.push([
                name_of(hop.interface_index),
                source.clone(),
                destination.clone(),
                go_ip(&hop.gateway),
                priority.clone(),
                protocol.clone(),
                (u32::from(hop.hops) + 1).to_string(),
            ]);
        }
    }
    series
}

pub fn record(routes: &[Route], links: &[Link], out: &mut MetricSet) {
    let series = route_series(routes, links);
    let mut per_device: BTreeMap<&str, u32> = BTreeMap::new();
    let mut seen = HashSet::new();
    let info = out.family(
        "node_network_route_info",
        "network routing table information",
        MetricKind::Gauge,
    );
    for labels in &series {
        *per_device.entry(labels[0].as_str()).or_default() += 1;
        if !seen.insert(labels) {
            continue;
        }
        let [device, src, dest, gw, priority, proto, weight] = labels;
        // In label-name order, as client_golang writes them.
        info.push(
            &[
                ("dest", dest),
                ("device", device),
                ("gw", gw),
                ("priority", priority),
                ("proto", proto),
                ("src", src),
                ("weight", weight),
            ],
            1.0,
        );
    }
    info.sort_series();
    let routes = out.family(
        "node_network_routes",
        "network routes by interface",
        MetricKind::Gauge,
    );
    for (device, count) in per_device {
        routes.push(&[("device", device)], f64::from(count));
    }
}

/// An address as Go's `net.IP.String` writes it: empty for none, dotted quad for
/// four bytes or an IPv4-mapped IPv6 address, RFC 5952 for sixteen bytes, `?` and
/// hex for any other length.
fn go_ip(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return String::new();
    }
    match ip_of(bytes) {
        Some(Ip::V4(ip)) => ip.to_string(),
        Some(Ip::V6(ip)) => ip.to_string(),
        None => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("?{hex}")
        }
    }
}

/// node_exporter's destination: `default` for length 0, else Go's `net.IPNet` text;
/// a length the address cannot hold gives Go's `<nil>`.
fn go_prefix(bytes: &[u8], length: u8) -> String {
    if length == 0 {
        return "default".to_string();
    }
    match ip_of(bytes) {
        Some(Ip::V4(ip)) if length <= 32 => format!("{ip}/{length}"),
        Some(Ip::V6(ip)) if length <= 128 => format!("{ip}/{length}"),
        _ => "<nil>".to_string(),
    }
}

enum Ip {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

/// Go's view of an address: IPv4 when it is four bytes or IPv4-mapped.
fn ip_of(bytes: &[u8]) -> Option<Ip> {
    if let Ok(octets) = <[u8; 4]>::try_from(bytes) {
        return Some(Ip::V4(Ipv4Addr::from(octets)));
    }
    let ip = Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?);
    Some(match ip.to_ipv4_mapped() {
        Some(v4) => Ip::V4(v4),
        None => Ip::V6(ip),
    })
}

/// node_exporter's names for `rtm_protocol` (from `linux/rtnetlink.h`; its list stops
/// short of the kernel's, the rest are `unknown`).
fn protocol_name(protocol: u8) -> &'static str {
    match protocol {
        0 => "unspec",
        1 => "redirect",
        2 => "kernel",
        3 => "boot",
        4 => "static",
        8 => "gated",
        9 => "ra",
        10 => "mrt",
        11 => "zebra",
        12 => "bird",
        13 => "dnrouted",
        14 => "xorp",
        15 => "ntk",
        16 => "dhcp",
        17 => "mrouted",
        42 => "babel",
        186 => "bgp",
        187 => "isis",
        188 => "ospf",
        189 => "rip",
        192 => "eigrp",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtnetlink::{LinkProperties, NextHop};

    fn link(index: u32, name: &str) -> Link {
        Link {
            index,
            name: name.into(),
            stats: None,
            properties: LinkProperties::default(),
        }
    }

    fn routes() -> Vec<Route> {
        vec![
            // default via 192.0.2.1 dev eth0 proto dhcp metric 100
            Route {
                kind: 1,
                protocol: 16,
                table: 254,
                gateway: vec![192, 0, 2, 1],
                output_interface: 2,
                priority: 100,
                ..Route::default()
            },
            // 192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.7
            Route {
                kind: 1,
                protocol: 2,
                table: 254,
                destination: vec![192, 0, 2, 0],
                destination_length: 24,
                preferred_source: vec![192, 0, 2, 7],
                output_interface: 2,
                ..Route::default()
            },
            // local 192.0.2.7 dev eth0 table local: not unicast
            Route {
                kind: 2,
                protocol: 2,
                table: 255,
                destination: vec![192, 0, 2, 7],
                destination_length: 32,
                output_interface: 2,
                ..Route::default()
            },
            // 2001:db8::/32 proto bird metric 20
            //   nexthop via fd00::1 dev eth0 weight 1
            //   nexthop via fd00::2 dev wg0 weight 3
            Route {
                kind: 1,
                protocol: 12,
                table: 254,
                destination: "2001:db8::".parse::<Ipv6Addr>().unwrap().octets().to_vec(),
                destination_length: 32,
                priority: 20,
                next_hops: vec![
                    NextHop {
                        hops: 0,
                        interface_index: 2,
                        gateway: "fd00::1".parse::<Ipv6Addr>().unwrap().octets().to_vec(),
                    },
                    NextHop {
                        hops: 2,
                        interface_index: 9,
                        gateway: "fd00::2".parse::<Ipv6Addr>().unwrap().octets().to_vec(),
                    },
                ],
                ..Route::default()
            },
            // 198.51.100.0/24 dev eth0 proto 99 table 100, then its twin in table 101
            Route {
                kind: 1,
                protocol: 99,
                table: 100,
                destination: vec![198, 51, 100, 0],
                destination_length: 24,
                output_interface: 2,
                ..Route::default()
            },
            Route {
                kind: 1,
                protocol: 99,
                table: 101,
                destination: vec![198, 51, 100, 0],
                destination_length: 24,
                output_interface: 2,
                ..Route::default()
            },
            // unreachable 203.0.113.0/24 with no interface, as a unicast oddity: no device
            Route {
                kind: 1,
                protocol: 4,
                table: 254,
                destination: vec![203, 0, 113, 0],
                destination_length: 24,
                ..Route::default()
            },
        ]
    }

    #[test]
    fn records_every_unicast_route_and_next_hop() {
        let links = [link(1, "lo"), link(2, "eth0"), link(9, "wg0")];
        let mut out = MetricSet::new();
        record(&routes(), &links, &mut out);
        let info = out.get("node_network_route_info").unwrap();
        assert_eq!(info.help, "network routing table information");
        assert_eq!(info.kind, MetricKind::Gauge);
        let rendered: Vec<String> = info
            .rendered()
            .map(|(labels, value)| format!("{labels} {value}"))
            .collect();
        let row = |device, src, dest, gw, priority, proto, weight| {
            format!(
                "dest=\"{dest}\",device=\"{device}\",gw=\"{gw}\",priority=\"{priority}\",\
                 proto=\"{proto}\",src=\"{src}\",weight=\"{weight}\" 1"
            )
        };
        assert_eq!(
            rendered,
            vec![
                row("eth0", "192.0.2.7", "192.0.2.0/24", "", "0", "kernel", ""),
                row("eth0", "", "198.51.100.0/24", "", "0", "unknown", ""),
                row("eth0", "", "2001:db8::/32", "fd00::1", "20", "bird", "1"),
                row("wg0", "", "2001:db8::/32", "fd00::2", "20", "bird", "3"),
                row("", "", "203.0.113.0/24", "", "0", "static", ""),
                row("eth0", "", "default", "192.0.2.1", "100", "dhcp", ""),
            ]
        );
        let routes = out.get("node_network_routes").unwrap();
        assert_eq!(routes.help, "network routes by interface");
        assert_eq!(routes.kind, MetricKind::Gauge);
        let counts: Vec<(String, f64)> = routes
            .rendered()
            .map(|(labels, value)| (labels.to_string(), value))
            .collect();
        assert_eq!(
            counts,
            vec![
                ("device=\"\"".to_string(), 1.0),
                ("device=\"eth0\"".to_string(), 5.0),
                ("device=\"wg0\"".to_string(), 1.0),
            ]
        );
    }

    #[test]
    fn writes_addresses_and_prefixes_as_go_does() {
        assert_eq!(go_ip(&[]), "");
        assert_eq!(go_ip(&[10, 1, 2, 3]), "10.1.2.3");
        let mapped = Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped().octets();
        assert_eq!(go_ip(&mapped), "10.1.2.3");
        let v6: Ipv6Addr = "fe80::1:0:0:2".parse().unwrap();
        assert_eq!(go_ip(&v6.octets()), "fe80::1:0:0:2");
        assert_eq!(go_ip(&[1, 2]), "?0102");
        assert_eq!(go_prefix(&[], 0), "default");
        assert_eq!(go_prefix(&[10, 0, 0, 0], 8), "10.0.0.0/8");
        assert_eq!(go_prefix(&mapped, 24), "10.1.2.3/24");
        assert_eq!(go_prefix(&mapped, 120), "<nil>");
        assert_eq!(go_prefix(&v6.octets(), 64), "fe80::1:0:0:2/64");
        assert_eq!(go_prefix(&[1, 2], 8), "<nil>");
        assert_eq!(protocol_name(186), "bgp");
        assert_eq!(protocol_name(18), "unknown");
    }

    #[test]
    fn reports_this_hosts_default_route() {
        let mut sources = Sources::default();
        let mut out = MetricSet::new();
        NetworkRoute.update(&mut sources, &mut out).unwrap();
        let info = out.get("node_network_route_info").unwrap();
        assert!(info
            .rendered()
            .any(|(labels, _)| labels.contains("dest=\"default\"")));
        // Every series is counted once per device.
        let total: f64 = out
            .get("node_network_routes")
            .unwrap()
            .rendered()
            .map(|(_, v)| v)
            .sum();
        assert!(total >= info.len() as f64);
    }
}
