//! A synchronous rtnetlink client for the dumps the exporter needs: every link
//! (`RTM_GETLINK`, with its `rtnl_link_stats64`), every address (`RTM_GETADDR`),
//! the IPv4 neighbour table (`RTM_GETNEIGH`, for arp), every route of every table
//! (`RTM_GETROUTE`, for network_route) and every queueing discipline
//! (`RTM_GETQDISC`, for qdisc).
//!
//! Routes and qdiscs are decoded here from the raw attributes, not through the
//! crate's `RouteMessage` / `TcMessage`: the collectors need a handful of fields, and
//! addresses are kept as the kernel's bytes so they can be printed the way Go's
//! `net.IP` prints them (see `collectors::network_route`).
//!
//! Replies are decoded with netlink-packet-route, but of a link only the attributes
//! used here (name, counters, and what netclass reports) are: the crate's full
//! `LinkMessage` parse decodes
//! every nested attribute and formats each counter block with `Debug` on the way,
//! which cost about 20 µs per link, ten times what the kernel spends on the dump.
//!
//! The socket is kept between scrapes; a caller drops it after any error, so a dump
//! cut short never leaves stale replies for the next one.

use std::io;

use netlink_packet_core::{
    DecodeError, ErrorBuffer, ErrorMessage, NetlinkBuffer, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, NlaBuffer, NlasIterator, Parseable, ParseableParametrized, NLMSG_DONE,
    NLMSG_ERROR, NLMSG_OVERRUN, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressMessage, AddressMessageBuffer};
use netlink_packet_route::link::{
    LinkAttribute, LinkHeader, LinkMessage, LinkMessageBuffer, Stats, Stats64, Stats64Buffer,
};
use netlink_packet_route::neighbour::{NeighbourMessage, NeighbourMessageBuffer};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::tc::TcMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// The kernel sizes dump datagrams to the reader's buffer, capped at 32 KiB unless a
/// single message needs more; twice that leaves room, and truncation is detected.
const RECEIVE_BUFFER_BYTES: usize = 64 << 10;
/// The most entries one dump may return (links, addresses, neighbours, routes,
/// qdiscs): a host with more (a full BGP table, say) gets an error naming the bound,
/// not a scrape that grows without one. The socket is dropped with the error, so the
/// rest of the dump is never read.
pub const MAX_DUMP_ENTRIES: usize = 65_536;
/// `MSG_TRUNC`: make recv(2) return a datagram's real length even when it did not fit.
const MSG_TRUNC: i32 = nix::sys::socket::MsgFlags::MSG_TRUNC.bits();
/// Netlink messages are padded to four bytes.
const NLMSG_ALIGN: usize = 4;
/// The message types and link attributes of `linux/rtnetlink.h` and `linux/if_link.h`
/// this module dispatches on (the crate keeps its own copies private).
const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWNEIGH: u16 = 28;
const RTM_NEWROUTE: u16 = 24;
const RTM_NEWQDISC: u16 = 36;
const AF_INET: u8 = 2;
const IFLA_ADDRESS: u16 = 1;
const IFLA_BROADCAST: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_STATS: u16 = 7;
const IFLA_TXQLEN: u16 = 13;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKMODE: u16 = 17;
const IFLA_IFALIAS: u16 = 20;
const IFLA_STATS64: u16 = 23;
const IFLA_GROUP: u16 = 27;
const IFLA_CARRIER: u16 = 33;
const IFLA_CARRIER_CHANGES: u16 = 35;
const IFLA_CARRIER_UP_COUNT: u16 = 47;
const IFLA_CARRIER_DOWN_COUNT: u16 = 48;
/// `struct rtnl_link_stats64` since Linux 5.19 (older kernels send less).
const STATS64_LEN: usize = 200;
/// `struct rtmsg`, `struct rtnexthop` and the route attributes of `linux/rtnetlink.h`.
const RTMSG_LEN: usize = 12;
const RTNEXTHOP_LEN: usize = 8;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_MULTIPATH: u16 = 9;
/// `struct tcmsg` and the attributes of `linux/rtnetlink.h` and `linux/gen_stats.h`.
const TCMSG_LEN: usize = 20;
const TCA_KIND: u16 = 1;
const TCA_STATS: u16 = 3;
const TCA_STATS2: u16 = 7;
const TCA_STATS_BASIC: u16 = 1;
const TCA_STATS_QUEUE: u16 = 3;
/// `struct tc_stats` without its tail padding, `struct gnet_stats_basic` likewise,
/// and `struct gnet_stats_queue`.
const TC_STATS_LEN: usize = 36;
const GNET_STATS_BASIC_LEN: usize = 12;
const GNET_STATS_QUEUE_LEN: usize = 20;

/// What the exporter reads of one link.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `IFLA_STATS64`, else the 32-bit `IFLA_STATS` widened; `None` if neither was sent.
    pub stats: Option<Stats64>,
    pub properties: LinkProperties,
}

/// The link's properties that `/sys/class/net/<link>/` also shows; `None` where the
/// kernel did not send the attribute.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkProperties {
    /// `ifi_flags`: the device flags plus the kernel's RUNNING, LOWER_UP and DORMANT.
    pub flags: u32,
    /// `ifi_type` (ARPHRD_*).
    pub link_type: u16,
    pub address: Option<Vec<u8>>,
    pub broadcast: Option<Vec<u8>>,
    pub mtu: Option<u32>,
    /// IFLA_LINK: sent only when it differs from the link's own index.
    pub link: Option<u32>,
    pub tx_queue_len: Option<u32>,
    pub operstate: Option<u8>,
    pub link_mode: Option<u8>,
    pub ifalias: Option<String>,
    pub group: Option<u32>,
    pub carrier: Option<u8>,
    pub carrier_changes: Option<u32>,
    pub carrier_up_count: Option<u32>,
    pub carrier_down_count: Option<u32>,
}

/// One entry of the IPv4 neighbour (ARP) table: only the header is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbour {
    pub ifindex: u32,
    /// `ndm_state`: the NUD_* bits of `linux/neighbour.h`.
    pub state: u16,
}

/// One route of an `RTM_NEWROUTE` reply. Addresses are the kernel's bytes (4 for
/// IPv4, 16 for IPv6), empty where the attribute was not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// `rtm_type` (RTN_UNICAST, RTN_LOCAL, ...).
    pub kind: u8,
    /// `rtm_protocol` (RTPROT_KERNEL, RTPROT_BOOT, ...).
    pub protocol: u8,
    /// `rtm_table`: the table's id, or RT_TABLE_COMPAT for ids above 255.
    pub table: u8,
    pub destination: Vec<u8>,
    pub destination_length: u8,
    /// RTA_PREFSRC.
    pub preferred_source: Vec<u8>,
    pub gateway: Vec<u8>,
    /// RTA_OIF; 0 when not sent.
    pub output_interface: u32,
    /// RTA_PRIORITY (the metric); 0 when not sent.
    pub priority: u32,
    /// RTA_MULTIPATH: empty for a route with a single next hop.
    pub next_hops: Vec<NextHop>,
}

/// One `struct rtnexthop` of RTA_MULTIPATH.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NextHop {
    /// `rtnh_hops`: the weight minus one.
    pub hops: u8,
    pub interface_index: u32,
    pub gateway: Vec<u8>,
}

/// One queueing discipline of an `RTM_NEWQDISC` reply with its counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Qdisc {
    pub ifindex: u32,
    pub handle: u32,
    /// `tcm_parent`; TC_H_ROOT (`0xffffffff`) for a root qdisc.
    pub parent: u32,
    pub kind: String,
    pub bytes: u64,
    /// 32 bits, as `gnet_stats_basic` and `tc_stats` carry it.
    pub packets: u32,
    pub drops: u32,
    pub requeues: u32,
    pub overlimits: u32,
    pub qlen: u32,
    pub backlog: u32,
}

pub struct RouteSocket {
    socket: Socket,
    sequence: u32,
    buffer: Vec<u8>,
}

impl RouteSocket {
    pub fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(RouteSocket {
            socket,
            sequence: 0,
            buffer: vec![0; RECEIVE_BUFFER_BYTES],
        })
    }

    /// Every link with a name, in the kernel's (ifindex) order.
    pub fn dump_links(&mut self) -> io::Result<Vec<Link>> {
        let mut links = Vec::new();
        self.dump(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            |message_type, payload| {
                if message_type == RTM_NEWLINK {
                    links.extend(parse_link(payload)?);
                }
                Ok(())
            },
        )?;
        Ok(links)
    }

    /// Every address of every family.
    pub fn dump_addresses(&mut self) -> io::Result<Vec<AddressMessage>> {
        let mut addresses = Vec::new();
        self.dump(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            |message_type, payload| {
                if message_type == RTM_NEWADDR {
                    addresses.push(AddressMessage::parse(&AddressMessageBuffer::new_checked(
                        &payload,
                    )?)?);
                }
                Ok(())
            },
        )?;
        Ok(addresses)
    }

    /// The IPv4 neighbour table (what `/proc/net/arp` shows, NOARP entries included).
    pub fn dump_ipv4_neighbours(&mut self) -> io::Result<Vec<Neighbour>> {
        let mut request = NeighbourMessage::default();
        request.header.family = AddressFamily::Inet;
        let mut neighbours = Vec::new();
        self.dump(
            RouteNetlinkMessage::GetNeighbour(request),
            |message_type, payload| {
                if message_type == RTM_NEWNEIGH {
                    let header = NeighbourMessageBuffer::new_checked(&payload)?;
                    // The kernel dumps only the family asked for; checked all the same.
                    if header.family() == AF_INET {
                        neighbours.push(Neighbour {
                            ifindex: header.ifindex(),
                            state: header.state(),
                        });
                    }
                }
                Ok(())
            },
        )?;
        Ok(neighbours)
    }

    /// Every route of every table and family.
    pub fn dump_routes(&mut self) -> io::Result<Vec<Route>> {
        let mut routes = Vec::new();
        self.dump(
            RouteNetlinkMessage::GetRoute(RouteMessage::default()),
            |message_type, payload| {
                if message_type == RTM_NEWROUTE {
                    routes.push(parse_route(payload)?);
                }
                Ok(())
            },
        )?;
        Ok(routes)
    }

    /// Every queueing discipline of every link (what `tc qdisc show` lists).
    pub fn dump_qdiscs(&mut self) -> io::Result<Vec<Qdisc>> {
        let mut qdiscs = Vec::new();
        self.dump(
            RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()),
            |message_type, payload| {
                if message_type == RTM_NEWQDISC {
                    qdiscs.push(parse_qdisc(payload)?);
                }
                Ok(())
            },
        )?;
        Ok(qdiscs)
    }

    /// Sends one dump request and hands the type and payload of each reply to `each`
    /// until `NLMSG_DONE`.
    fn dump(
        &mut self,
        request: RouteNetlinkMessage,
        mut each: impl FnMut(u16, &[u8]) -> Result<(), DecodeError>,
    ) -> io::Result<()> {
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        let mut packet =
            NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(request));
        packet.header.flags = NLM_F_DUMP | NLM_F_REQUEST;
        packet.header.sequence_number = sequence;
        packet.finalize();
        let mut request_bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut request_bytes);
        self.socket.send(&request_bytes, 0)?;

        let mut entries = 0usize;
        loop {
            let mut free = &mut self.buffer[..];
            let received = self.socket.recv(&mut free, MSG_TRUNC)?;
            if received > self.buffer.len() {
                return Err(invalid(format!(
                    "reply of {received} bytes does not fit the {} byte buffer",
                    self.buffer.len()
                )));
            }
            let mut datagram = &self.buffer[..received];
            while !datagram.is_empty() {
                let message = NetlinkBuffer::new_checked(datagram).map_err(undecodable)?;
                let next = align(message.length() as usize);
                let (message_type, payload) = (message.message_type(), message.payload());
                // Replies to an earlier request cannot arrive (the socket is dropped
                // after an error), but a reply that is not ours is skipped, not trusted.
                if message.sequence_number() == sequence {
                    match message_type {
                        NLMSG_DONE => return Ok(()),
                        NLMSG_ERROR => {
                            let error = ErrorBuffer::new_checked(&payload)
                                .and_then(|buffer| ErrorMessage::parse(&buffer))
                                .map_err(undecodable)?;
                            if error.code.is_some() {
                                return Err(error.to_io());
                            }
                        }
                        NLMSG_OVERRUN => return Err(invalid("overrun".to_string())),
                        _ => {
                            entries += 1;
                            if entries > MAX_DUMP_ENTRIES {
                                return Err(invalid(format!(
                                    "more than {MAX_DUMP_ENTRIES} entries in one dump"
                                )));
                            }
                            each(message_type, payload).map_err(undecodable)?
                        }
                    }
                }
                datagram = datagram.get(next..).unwrap_or_default();
            }
        }
    }
}

/// The index, name and counters of an `RTM_NEWLINK` payload; `None` for a link
/// without a name.
pub fn parse_link(payload: &[u8]) -> Result<Option<Link>, DecodeError> {
    let buffer = LinkMessageBuffer::new_checked(&payload)?;
    let header = LinkHeader::parse(&buffer)?;
    let mut name = None;
    let mut stats64 = None;
    let mut stats32: Option<NlaBuffer<&[u8]>> = None;
    let mut properties = LinkProperties {
        flags: buffer.flags(),
        link_type: buffer.link_layer_type(),
        ..LinkProperties::default()
    };
    for attribute in buffer.attributes() {
        let attribute = attribute?;
        let kind = attribute.kind();
        if matches!(
            kind,
            IFLA_ADDRESS
                | IFLA_BROADCAST
                | IFLA_MTU
                | IFLA_LINK
                | IFLA_TXQLEN
                | IFLA_OPERSTATE
                | IFLA_LINKMODE
                | IFLA_IFALIAS
                | IFLA_GROUP
                | IFLA_CARRIER
                | IFLA_CARRIER_CHANGES
                | IFLA_CARRIER_UP_COUNT
                | IFLA_CARRIER_DOWN_COUNT
        ) {
            let p = &mut properties;
            match LinkAttribute::parse_with_param(&attribute, header.interface_family)? {
                LinkAttribute::Address(bytes) => p.address = Some(bytes),
                LinkAttribute::Broadcast(bytes) => p.broadcast = Some(bytes),
                LinkAttribute::Mtu(value) => p.mtu = Some(value),
                LinkAttribute::Link(value) => p.link = Some(value),
                LinkAttribute::TxQueueLen(value) => p.tx_queue_len = Some(value),
                LinkAttribute::OperState(state) => p.operstate = Some(state.into()),
                LinkAttribute::Mode(mode) => p.link_mode = Some(mode.into()),
                LinkAttribute::IfAlias(alias) => p.ifalias = Some(alias),
                LinkAttribute::Group(value) => p.group = Some(value),
                LinkAttribute::Carrier(value) => p.carrier = Some(value),
                LinkAttribute::CarrierChanges(value) => p.carrier_changes = Some(value),
                LinkAttribute::CarrierUpCount(value) => p.carrier_up_count = Some(value),
                LinkAttribute::CarrierDownCount(value) => p.carrier_down_count = Some(value),
                _ => {}
            }
            continue;
        }
        match kind {
            IFLA_IFNAME => {
                if let LinkAttribute::IfName(text) =
                    LinkAttribute::parse_with_param(&attribute, header.interface_family)?
                {
                    name = Some(text);
                }
            }
            IFLA_STATS64 if attribute.value().len() >= STATS64_LEN => {
                stats64 = Some(Stats64::parse(&Stats64Buffer::new(attribute.value()))?);
            }
            // A shorter block from an older kernel: the crate pads it.
            IFLA_STATS64 => {
                if let LinkAttribute::Stats64(stats) =
                    LinkAttribute::parse_with_param(&attribute, header.interface_family)?
                {
                    stats64 = Some(stats);
                }
            }
            IFLA_STATS => stats32 = Some(attribute),
            _ => {}
        }
    }
    let Some(name) = name else { return Ok(None) };
    if stats64.is_none() {
        if let Some(attribute) = stats32 {
            if let LinkAttribute::Stats(stats) =
                LinkAttribute::parse_with_param(&attribute, header.interface_family)?
            {
                stats64 = Some(widen(&stats));
            }
        }
    }
    Ok(Some(Link {
        index: header.index,
        name,
        stats: stats64,
        properties,
    }))
}

/// The fields of an `RTM_NEWROUTE` payload the exporter reports.
pub fn parse_route(payload: &[u8]) -> Result<Route, DecodeError> {
    let header = payload
        .get(..RTMSG_LEN)
        .ok_or_else(|| short("rtmsg", payload.len()))?;
    let mut route = Route {
        destination_length: header[1],
        table: header[4],
        protocol: header[5],
        kind: header[7],
        ..Route::default()
    };
    for attribute in NlasIterator::new(&payload[RTMSG_LEN..]) {
        let attribute = attribute?;
        let value = attribute.value();
        match attribute.kind() {
            RTA_DST => route.destination = value.to_vec(),
            RTA_PREFSRC => route.preferred_source = value.to_vec(),
            RTA_GATEWAY => route.gateway = value.to_vec(),
            RTA_OIF => route.output_interface = u32_of("RTA_OIF", value)?,
            RTA_PRIORITY => route.priority = u32_of("RTA_PRIORITY", value)?,
            RTA_MULTIPATH => route.next_hops = parse_next_hops(value)?,
            _ => {}
        }
    }
    Ok(route)
}

/// The `struct rtnexthop` list of RTA_MULTIPATH, each followed by its attributes.
fn parse_next_hops(mut value: &[u8]) -> Result<Vec<NextHop>, DecodeError> {
    let mut hops = Vec::new();
    while !value.is_empty() {
        let header = value
            .get(..RTNEXTHOP_LEN)
            .ok_or_else(|| short("rtnexthop", value.len()))?;
        let length = usize::from(u16::from_ne_bytes([header[0], header[1]]));
        let body = value
            .get(RTNEXTHOP_LEN..length)
            .ok_or_else(|| short("rtnexthop", value.len()))?;
        let mut hop = NextHop {
            hops: header[3],
            interface_index: u32_of("rtnh_ifindex", &header[4..8])?,
            gateway: Vec::new(),
        };
        for attribute in NlasIterator::new(body) {
            let attribute = attribute?;
            if attribute.kind() == RTA_GATEWAY {
                hop.gateway = attribute.value().to_vec();
            }
        }
        hops.push(hop);
        value = value.get(align(length)..).unwrap_or_default();
    }
    Ok(hops)
}

/// The header, kind and counters of an `RTM_NEWQDISC` payload. The counters come
/// from TCA_STATS2 and the legacy TCA_STATS, whichever the kernel sent last
/// (it sends both, with the same values; only TCA_STATS2 has requeues).
pub fn parse_qdisc(payload: &[u8]) -> Result<Qdisc, DecodeError> {
    let header = payload
        .get(..TCMSG_LEN)
        .ok_or_else(|| short("tcmsg", payload.len()))?;
    let mut qdisc = Qdisc {
        ifindex: u32_of("tcm_ifindex", &header[4..8])?,
        handle: u32_of("tcm_handle", &header[8..12])?,
        parent: u32_of("tcm_parent", &header[12..16])?,
        ..Qdisc::default()
    };
    for attribute in NlasIterator::new(&payload[TCMSG_LEN..]) {
        let attribute = attribute?;
        let value = attribute.value();
        match attribute.kind() {
            TCA_KIND => {
                let name = value.split(|&b| b == 0).next().unwrap_or_default();
                qdisc.kind = String::from_utf8_lossy(name).into_owned();
            }
            TCA_STATS => {
                let s = value
                    .get(..TC_STATS_LEN)
                    .ok_or_else(|| short("TCA_STATS", value.len()))?;
                qdisc.bytes = u64_of(&s[0..8]);
                qdisc.packets = u32_of("tc_stats", &s[8..12])?;
                qdisc.drops = u32_of("tc_stats", &s[12..16])?;
                qdisc.overlimits = u32_of("tc_stats", &s[16..20])?;
                qdisc.qlen = u32_of("tc_stats", &s[28..32])?;
                qdisc.backlog = u32_of("tc_stats", &s[32..36])?;
            }
            TCA_STATS2 => {
                for nested in NlasIterator::new(value) {
                    let nested = nested?;
                    let value = nested.value();
                    match nested.kind() {
                        TCA_STATS_BASIC => {
                            let s = value
                                .get(..GNET_STATS_BASIC_LEN)
                                .ok_or_else(|| short("TCA_STATS_BASIC", value.len()))?;
                            qdisc.bytes = u64_of(&s[0..8]);
                            qdisc.packets = u32_of("gnet_stats_basic", &s[8..12])?;
                        }
                        TCA_STATS_QUEUE => {
                            let s = value
                                .get(..GNET_STATS_QUEUE_LEN)
                                .ok_or_else(|| short("TCA_STATS_QUEUE", value.len()))?;
                            qdisc.qlen = u32_of("gnet_stats_queue", &s[0..4])?;
                            qdisc.backlog = u32_of("gnet_stats_queue", &s[4..8])?;
                            qdisc.drops = u32_of("gnet_stats_queue", &s[8..12])?;
                            qdisc.requeues = u32_of("gnet_stats_queue", &s[12..16])?;
                            qdisc.overlimits = u32_of("gnet_stats_queue", &s[16..20])?;
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(qdisc)
}

/// A native-endian u32 attribute or field of exactly four bytes.
fn u32_of(what: &str, bytes: &[u8]) -> Result<u32, DecodeError> {
    let bytes: [u8; 4] = bytes
        .try_into()
        .map_err(|_| DecodeError::from(format!("{what}: {} bytes, not 4", bytes.len())))?;
    Ok(u32::from_ne_bytes(bytes))
}

/// A native-endian u64 of a slice the caller cut to eight bytes.
fn u64_of(bytes: &[u8]) -> u64 {
    let mut wide = [0; 8];
    wide.copy_from_slice(&bytes[..8]);
    u64::from_ne_bytes(wide)
}

fn short(what: &str, length: usize) -> DecodeError {
    DecodeError::from(format!("{what} cut short: {length} bytes"))
}

/// The 32-bit `rtnl_link_stats` of a driver without 64-bit counters.
fn widen(s: &Stats) -> Stats64 {
    let mut wide = Stats64::default();
    wide.rx_packets = s.rx_packets.into();
    wide.tx_packets = s.tx_packets.into();
    wide.rx_bytes = s.rx_bytes.into();
    wide.tx_bytes = s.tx_bytes.into();
    wide.rx_errors = s.rx_errors.into();
    wide.tx_errors = s.tx_errors.into();
    wide.rx_dropped = s.rx_dropped.into();
    wide.tx_dropped = s.tx_dropped.into();
    wide.multicast = s.multicast.into();
    wide.collisions = s.collisions.into();
    wide.rx_length_errors = s.rx_length_errors.into();
    wide.rx_over_errors = s.rx_over_errors.into();
    wide.rx_crc_errors = s.rx_crc_errors.into();
    wide.rx_frame_errors = s.rx_frame_errors.into();
    wide.rx_fifo_errors = s.rx_fifo_errors.into();
    wide.rx_missed_errors = s.rx_missed_errors.into();
    wide.tx_aborted_errors = s.tx_aborted_errors.into();
    wide.tx_carrier_errors = s.tx_carrier_errors.into();
    wide.tx_fifo_errors = s.tx_fifo_errors.into();
    wide.tx_heartbeat_errors = s.tx_heartbeat_errors.into();
    wide.tx_window_errors = s.tx_window_errors.into();
    wide.rx_compressed = s.rx_compressed.into();
    wide.tx_compressed = s.tx_compressed.into();
    wide.rx_nohandler = s.rx_nohandler.into();
    wide
}

fn align(length: usize) -> usize {
    (length + NLMSG_ALIGN - 1) & !(NLMSG_ALIGN - 1)
}

fn undecodable(error: DecodeError) -> io::Error {
    invalid(format!("undecodable reply: {error}"))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    /// An `RTM_NEWLINK` payload built by the crate's own serializer: an Ethernet link,
    /// up and running, index 7.
    fn link_payload(attributes: Vec<LinkAttribute>) -> Vec<u8> {
        use netlink_packet_route::link::{LinkFlags, LinkLayerType};
        let mut message = LinkMessage::default();
        message.header.index = 7;
        message.header.link_layer_type = LinkLayerType::Ether;
        message.header.flags = LinkFlags::Up | LinkFlags::Running;
        message.attributes = attributes;
        let mut bytes = vec![0; message.buffer_len()];
        message.emit(&mut bytes);
        bytes
    }

    #[test]
    fn parses_name_and_the_widest_counters() {
        let mut wide = Stats64::default();
        wide.rx_bytes = 1 << 40;
        wide.rx_otherhost_dropped = 3;
        let mut narrow = Stats::default();
        narrow.rx_bytes = 5;
        narrow.rx_nohandler = 6;
        let link = parse_link(&link_payload(vec![
            LinkAttribute::Stats(narrow),
            LinkAttribute::IfName("eth7".into()),
            LinkAttribute::Stats64(wide),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(link.index, 7);
        assert_eq!(link.name, "eth7");
        assert_eq!(link.stats, Some(wide));
        assert_eq!(
            link.properties,
            LinkProperties {
                flags: 0x41, // IFF_UP | IFF_RUNNING
                link_type: 1,
                ..LinkProperties::default()
            }
        );

        let link = parse_link(&link_payload(vec![
            LinkAttribute::IfName("eth8".into()),
            LinkAttribute::Address(vec![2, 0xfc, 0, 0, 0, 1]),
            LinkAttribute::Broadcast(vec![0xff; 6]),
            LinkAttribute::Mtu(1400),
            LinkAttribute::Link(3),
            LinkAttribute::TxQueueLen(1000),
            LinkAttribute::OperState(netlink_packet_route::link::State::Up),
            LinkAttribute::Mode(netlink_packet_route::link::LinkMode::Dormant),
            LinkAttribute::IfAlias("uplink".into()),
            LinkAttribute::Group(4),
            LinkAttribute::Carrier(1),
            LinkAttribute::CarrierChanges(5),
            LinkAttribute::CarrierUpCount(3),
            LinkAttribute::CarrierDownCount(2),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            link.properties,
            LinkProperties {
                flags: 0x41,
                link_type: 1,
                address: Some(vec![2, 0xfc, 0, 0, 0, 1]),
                broadcast: Some(vec![0xff; 6]),
                mtu: Some(1400),
                link: Some(3),
                tx_queue_len: Some(1000),
                operstate: Some(6),
                link_mode: Some(1),
                ifalias: Some("uplink".into()),
                group: Some(4),
                carrier: Some(1),
                carrier_changes: Some(5),
                carrier_up_count: Some(3),
                carrier_down_count: Some(2),
            }
        );

        let link = parse_link(&link_payload(vec![
            LinkAttribute::IfName("slip0".into()),
            LinkAttribute::Stats(narrow),
        ]))
        .unwrap()
        .unwrap();
        let stats = link.stats.unwrap();
        assert_eq!((stats.rx_bytes, stats.rx_nohandler), (5, 6));

        let link = parse_link(&link_payload(vec![LinkAttribute::IfName("x".into())]));
        assert_eq!(link.unwrap().unwrap().stats, None);
        assert_eq!(parse_link(&link_payload(vec![])).unwrap(), None);
    }

    #[test]
    fn pads_the_shorter_counters_of_older_kernels() {
        let mut wide = Stats64::default();
        wide.rx_bytes = 9;
        wide.rx_nohandler = 4;
        let mut payload = link_payload(vec![
            LinkAttribute::IfName("eth0".into()),
            LinkAttribute::Stats64(wide),
        ]);
        // Cut rx_otherhost_dropped off, as Linux before 5.19 sends it: 192 bytes.
        let at = payload.len() - STATS64_LEN - 4;
        payload.truncate(payload.len() - 8);
        payload[at..at + 2].copy_from_slice(&(4 + 192u16).to_ne_bytes());
        let stats = parse_link(&payload).unwrap().unwrap().stats.unwrap();
        assert_eq!((stats.rx_bytes, stats.rx_nohandler), (9, 4));
    }

    #[test]
    fn rejects_a_truncated_message() {
        let payload = link_payload(vec![LinkAttribute::IfName("eth0".into())]);
        // The name attribute ends in three bytes of padding: cut into its value.
        assert!(parse_link(&payload[..payload.len() - 5]).is_err());
        assert!(parse_link(&payload[..10]).is_err());
    }

    #[test]
    fn dumps_links_and_addresses_of_this_host_twice_on_one_socket() {
        let mut socket = RouteSocket::open().unwrap();
        for _ in 0..2 {
            let links = socket.dump_links().unwrap();
            let lo = links.iter().find(|l| l.name == "lo").unwrap();
            assert_eq!(lo.index, 1);
            assert!(lo.stats.is_some());
            assert!(!socket.dump_addresses().unwrap().is_empty());
            // Every neighbour sits on a link of the dump (the table may be empty).
            for neighbour in socket.dump_ipv4_neighbours().unwrap() {
                assert!(links.iter().any(|l| l.index == neighbour.ifindex));
            }
        }
    }

    /// An `RTM_NEWROUTE` payload built by the crate's own serializer.
    fn route_payload(edit: impl FnOnce(&mut RouteMessage)) -> Vec<u8> {
        let mut message = RouteMessage::default();
        edit(&mut message);
        let mut bytes = vec![0; message.buffer_len()];
        message.emit(&mut bytes);
        bytes
    }

    #[test]
    fn parses_a_route_and_its_next_hops() {
        use netlink_packet_route::route::{
            RouteAddress, RouteAttribute, RouteNextHop, RouteProtocol, RouteType,
        };
        use std::net::{Ipv4Addr, Ipv6Addr};
        let payload = route_payload(|m| {
            m.header.address_family = AddressFamily::Inet;
            m.header.destination_prefix_length = 24;
            m.header.table = 254;
            m.header.protocol = RouteProtocol::Kernel;
            m.header.kind = RouteType::Unicast;
            m.attributes = vec![
                RouteAttribute::Table(254),
                RouteAttribute::Destination(RouteAddress::Inet(Ipv4Addr::new(192, 0, 2, 0))),
                RouteAttribute::PrefSource(RouteAddress::Inet(Ipv4Addr::new(192, 0, 2, 9))),
                RouteAttribute::Oif(4),
                RouteAttribute::Priority(600),
            ];
        });
        assert_eq!(
            parse_route(&payload).unwrap(),
            Route {
                kind: 1,
                protocol: 2,
                table: 254,
                destination: vec![192, 0, 2, 0],
                destination_length: 24,
                preferred_source: vec![192, 0, 2, 9],
                gateway: vec![],
                output_interface: 4,
                priority: 600,
                next_hops: vec![],
            }
        );

        let gateway = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x11);
        let payload = route_payload(|m| {
            m.header.address_family = AddressFamily::Inet6;
            m.header.protocol = RouteProtocol::Static;
            m.header.kind = RouteType::Unicast;
            let hop = |hops, interface_index, attributes| {
                let mut hop = RouteNextHop::default();
                hop.hops = hops;
                hop.interface_index = interface_index;
                hop.attributes = attributes;
                hop
            };
            m.attributes = vec![RouteAttribute::MultiPath(vec![
                hop(
                    0,
                    4,
                    vec![RouteAttribute::Gateway(RouteAddress::Inet6(gateway))],
                ),
                hop(2, 7, vec![]),
            ])];
        });
        let route = parse_route(&payload).unwrap();
        assert_eq!(
            (route.kind, route.protocol, route.destination_length),
            (1, 4, 0)
        );
        assert_eq!(
            route.next_hops,
            vec![
                NextHop {
                    hops: 0,
                    interface_index: 4,
                    gateway: gateway.octets().to_vec(),
                },
                NextHop {
                    hops: 2,
                    interface_index: 7,
                    gateway: vec![],
                },
            ]
        );
    }

    #[test]
    fn rejects_a_cut_route() {
        let payload = route_payload(|m| {
            m.attributes = vec![netlink_packet_route::route::RouteAttribute::Oif(4)];
        });
        assert!(parse_route(&payload[..RTMSG_LEN - 1]).is_err());
        assert!(parse_route(&payload[..payload.len() - 2]).is_err());
        // An RTA_OIF of two bytes.
        let mut odd = payload[..RTMSG_LEN].to_vec();
        odd.extend_from_slice(&[6, 0, 4, 0, 1, 0, 0, 0]);
        let error = parse_route(&odd).unwrap_err().to_string();
        assert!(error.contains("RTA_OIF: 2 bytes"), "{error}");
    }

    /// An `RTM_NEWQDISC` payload: the root pfifo_fast of link 4, with both counter
    /// blocks in the kernel's order (TCA_STATS2 first).
    fn qdisc_payload(legacy_bytes: u64) -> Vec<u8> {
        use netlink_packet_route::tc::{
            TcAttribute, TcStats, TcStats2, TcStatsBasic, TcStatsQueue,
        };
        let mut basic = TcStatsBasic::default();
        basic.bytes = 1 << 33;
        basic.packets = 5;
        let mut queue = TcStatsQueue::default();
        (queue.qlen, queue.backlog, queue.drops) = (6, 7, 8);
        (queue.requeues, queue.overlimits) = (9, 10);
        let mut legacy = TcStats::default();
        (legacy.bytes, legacy.packets, legacy.drops) = (legacy_bytes, 5, 8);
        (legacy.overlimits, legacy.bps, legacy.pps) = (10, 11, 12);
        (legacy.qlen, legacy.backlog) = (6, 7);
        let mut message = TcMessage::default();
        message.header.index = 4;
        message.header.parent = u32::MAX.into();
        message.attributes = vec![
            TcAttribute::Kind("pfifo_fast".into()),
            TcAttribute::Stats2(vec![TcStats2::Basic(basic), TcStats2::Queue(queue)]),
            TcAttribute::Stats(legacy),
        ];
        let mut bytes = vec![0; message.buffer_len()];
        message.emit(&mut bytes);
        bytes
    }

    #[test]
    fn parses_a_qdisc_and_its_counters() {
        let expected = Qdisc {
            ifindex: 4,
            handle: 0,
            parent: u32::MAX,
            kind: "pfifo_fast".into(),
            bytes: 1 << 33,
            packets: 5,
            drops: 8,
            requeues: 9,
            overlimits: 10,
            qlen: 6,
            backlog: 7,
        };
        assert_eq!(parse_qdisc(&qdisc_payload(1 << 33)).unwrap(), expected);
        // The legacy block comes last and wins, as in node_exporter's qdisc library.
        assert_eq!(parse_qdisc(&qdisc_payload(3)).unwrap().bytes, 3);
        let payload = qdisc_payload(3);
        assert!(parse_qdisc(&payload[..TCMSG_LEN - 1]).is_err());
        assert!(parse_qdisc(&payload[..payload.len() - 4]).is_err());
    }

    #[test]
    fn dumps_routes_and_qdiscs_of_this_host() {
        let mut socket = RouteSocket::open().unwrap();
        let links = socket.dump_links().unwrap();
        let routes = socket.dump_routes().unwrap();
        // This host has a default route (main table, unicast) through a known link.
        let default = routes
            .iter()
            .find(|r| r.kind == 1 && r.table == 254 && r.destination_length == 0)
            .unwrap();
        assert!(links.iter().any(|l| l.index == default.output_interface));
        let qdiscs = socket.dump_qdiscs().unwrap();
        let lo = qdiscs.iter().find(|q| q.ifindex == 1).unwrap();
        assert_eq!((lo.kind.as_str(), lo.parent), ("noqueue", u32::MAX));
        // The socket is still in step for the next dump.
        assert!(!socket.dump_links().unwrap().is_empty());
    }

    #[test]
    fn aligns_to_four_bytes() {
        assert_eq!(align(16), 16);
        assert_eq!(align(17), 20);
        assert_eq!(align(1000), 1000);
    }
}
