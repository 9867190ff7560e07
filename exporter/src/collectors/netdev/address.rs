//! `node_network_address_info`: the addresses of every interface, rendered as
//! node_exporter renders them through Go's `net` package — the address as `IP.String()`,
//! the prefix length as the netmask, and Go's notion of the address's scope.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_route::address::{AddressAttribute, AddressMessage};

/// One sample of `node_network_address_info`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AddressInfo {
    // Field order is label order, so the derived ordering is node_exporter's sample order.
    pub address: String,
    pub device: String,
    pub netmask: String,
    pub scope: &'static str,
}

/// The address Go reports for one `RTM_NEWADDR` message: `IFA_LOCAL` when present
/// (IPv4, and point-to-point IPv6, where `IFA_ADDRESS` is the peer), else `IFA_ADDRESS`.
pub fn interface_address(message: &AddressMessage) -> Option<IpAddr> {
    let mut address = None;
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(ip) => return Some(*ip),
            AddressAttribute::Address(ip) if address.is_none() => address = Some(*ip),
            _ => {}
        }
    }
    address
}

/// Address, netmask and scope labels of `ip/prefix_len`, as node_exporter computes them.
pub fn address_labels(ip: IpAddr, prefix_len: u8) -> (String, String, &'static str) {
    match ip {
        IpAddr::V4(v4) => (v4.to_string(), prefix_len.to_string(), scope_v4(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            // Go prints a v4-mapped address as IPv4 and keeps only the last 32 bits of
            // its mask.
            Some(v4) => (
                v4.to_string(),
                prefix_len.saturating_sub(96).to_string(),
                scope_v4(v4),
            ),
            None => (v6.to_string(), prefix_len.to_string(), scope_v6(v6)),
        },
    }
}

/// Go's `IsLoopback || IsLinkLocalUnicast || IsLinkLocalMulticast` → "link-local",
/// `IsGlobalUnicast` → "global" (private ranges included), anything else → "".
fn scope_v4(ip: Ipv4Addr) -> &'static str {
    let [a, b, c, _] = ip.octets();
    if a == 127 || (a == 169 && b == 254) || (a == 224 && b == 0 && c == 0) {
        "link-local"
    } else if ip.is_broadcast() || ip.is_unspecified() || ip.is_multicast() {
        ""
    } else {
        "global"
    }
}

fn scope_v6(ip: Ipv6Addr) -> &'static str {
    let [first, second, ..] = ip.octets();
    let multicast = first == 0xff;
    let link_local_unicast = first == 0xfe && second & 0xc0 == 0x80;
    if ip.is_loopback() || link_local_unicast || (multicast && second & 0x0f == 0x02) {
        "link-local"
    } else if multicast && second & 0x0f == 0x01 {
        "interface-local"
    } else if ip.is_unspecified() || multicast {
        ""
    } else {
        "global"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str, prefix: u8) -> (String, String, &'static str) {
        address_labels(text.parse().unwrap(), prefix)
    }

    #[test]
    fn scopes_follow_go() {
        assert_eq!(
            labels("127.0.0.1", 8),
            ("127.0.0.1".into(), "8".into(), "link-local")
        );
        assert_eq!(labels("169.254.3.4", 16).2, "link-local");
        assert_eq!(labels("224.0.0.251", 32).2, "link-local");
        assert_eq!(
            labels("192.168.1.5", 24),
            ("192.168.1.5".into(), "24".into(), "global")
        );
        assert_eq!(labels("10.0.0.1", 8).2, "global");
        assert_eq!(labels("239.1.1.1", 32).2, "");
        assert_eq!(labels("0.0.0.0", 0).2, "");
        assert_eq!(
            labels("::1", 128),
            ("::1".into(), "128".into(), "link-local")
        );
        assert_eq!(labels("fe80::fc:ff:fe00:1", 64).2, "link-local");
        assert_eq!(labels("ff02::1", 128).2, "link-local");
        assert_eq!(labels("ff01::1", 128).2, "interface-local");
        assert_eq!(labels("ff05::1", 128).2, "");
        assert_eq!(
            labels("fd00::2", 64),
            ("fd00::2".into(), "64".into(), "global")
        );
        assert_eq!(labels("2001:db8:0:0:1:0:0:1", 64).0, "2001:db8::1:0:0:1");
    }

    #[test]
    fn v4_mapped_addresses_print_as_ipv4() {
        assert_eq!(
            labels("::ffff:192.0.2.1", 120),
            ("192.0.2.1".into(), "24".into(), "global")
        );
        assert_eq!(
            labels("::ffff:127.0.0.1", 64),
            ("127.0.0.1".into(), "0".into(), "link-local")
        );
    }

    #[test]
    fn local_wins_over_peer_address() {
        let mut message = AddressMessage::default();
        message.attributes = vec![
            AddressAttribute::Address("10.0.0.2".parse().unwrap()),
            AddressAttribute::Local("10.0.0.1".parse().unwrap()),
        ];
        assert_eq!(
            interface_address(&message),
            Some("10.0.0.1".parse().unwrap())
        );
        message.attributes.remove(1);
        assert_eq!(
            interface_address(&message),
            Some("10.0.0.2".parse().unwrap())
        );
        message.attributes.clear();
        assert_eq!(interface_address(&message), None);
    }
}
