//! `node_tcp_connection_states{state}` (off by default): the number of TCP sockets in
//! each state, and the bytes in all their receive and send queues
//! (`state="rx_queued_bytes"`, `"tx_queued_bytes"`), over IPv4 and IPv6.
//!
//! Like node_exporter since 1.4, the sockets come from a `SOCK_DIAG_BY_FAMILY` dump over
//! netlink (sock_diag), not from `/proc/net/tcp{,6}`: the kernel hands over 72 binary
//! bytes per socket instead of formatting a ~150-byte text line, which matters on a
//! board with thousands of connections. Consequences kept from node_exporter:
//! - the dump sees the exporter's own network namespace, whatever `--path.procfs` says;
//! - IPv6 sockets are dumped only when `<procfs>/net/tcp6` exists (IPv6 enabled);
//! - only states that have sockets are exported, and the two queue series only when
//!   there is at least one socket; the series are written sorted by state name.
//!
//! Unlike node_exporter we do not ask for `INET_DIAG_INFO` (a `tcp_info` per socket
//! that it never reads), and the socket is kept open between scrapes (dropped after an
//! error, so a dump cut short never leaves replies for the next one).

use std::io;
use std::path::PathBuf;

use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr};

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::paths::Paths;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "tcpstat",
    enabled_by_default: false,
    args: super::no_args,
    build: |ctx| Ok(Box::new(TcpStat::new(ctx.paths))),
};

pub struct TcpStat {
    tcp6: PathBuf,
    socket: Option<DiagSocket>,
}

impl TcpStat {
    pub fn new(paths: &Paths) -> Self {
        TcpStat {
            tcp6: paths.proc("net/tcp6"),
            socket: None,
        }
    }
}

/// `linux/netlink.h`, `linux/sock_diag.h`, `linux/inet_diag.h`.
const NLMSG_HEADER_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const IPPROTO_TCP: u8 = 6;
/// `struct inet_diag_req_v2`: family, protocol, ext, pad, states, 48-byte socket id.
const REQUEST_LEN: usize = 56;
/// `struct inet_diag_msg`: 4 bytes, the 48-byte id, expires, rqueue, wqueue, uid, inode.
const DIAG_MSG_LEN: usize = 72;
const RQUEUE_OFFSET: usize = 56;
const WQUEUE_OFFSET: usize = 60;
/// Every state of `TCP_ESTABLISHED` (1) … `TCP_CLOSING` (11), node_exporter's `TCPFAll`.
const ALL_STATES: u32 = 0xFFF;
const RECEIVE_BUFFER_BYTES: usize = 64 << 10;
/// `MSG_TRUNC`: make recv(2) return a datagram's real length even when it did not fit.
const MSG_TRUNC: i32 = nix::sys::socket::MsgFlags::MSG_TRUNC.bits();

/// Index of the queue totals in [`Tally::counts`], after the kernel's states 0–11
/// (node_exporter gives them the numbers 12 and 13, `TCP_RX_BUFFER` and `TCP_TX_BUFFER`).
const RX_QUEUED: usize = 12;
const TX_QUEUED: usize = 13;
const UNKNOWN: usize = 14;

/// Label of each [`Tally`] slot; slot 0 (no such TCP state) counts as unknown.
const LABELS: [&str; 15] = [
    "unknown",
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
    "rx_queued_bytes",
    "tx_queued_bytes",
    "unknown",
];

/// Sockets per state and the queue totals; `None` where node_exporter has no entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub counts: [Option<f64>; 15],
}

impl Tally {
    fn add(&mut self, slot: usize, value: f64) {
        let entry = &mut self.counts[slot];
        *entry = Some(entry.unwrap_or(0.0) + value);
    }

    /// Counts one `inet_diag_msg` payload.
    pub fn count(&mut self, payload: &[u8]) -> io::Result<()> {
        if payload.len() < DIAG_MSG_LEN {
            return Err(invalid(format!(
                "inet_diag_msg of {} bytes, {DIAG_MSG_LEN} expected",
                payload.len()
            )));
        }
        let state = usize::from(payload[1]);
        let queue = |offset: usize| {
            let mut bytes = [0u8; 4];
            bytes.copy_from_slice(&payload[offset..offset + 4]);
            f64::from(u32::from_ne_bytes(bytes))
        };
        self.add(TX_QUEUED, queue(WQUEUE_OFFSET));
        self.add(RX_QUEUED, queue(RQUEUE_OFFSET));
        let slot = match state {
            1..=11 => state,
            _ => UNKNOWN,
        };
        self.add(slot, 1.0);
        Ok(())
    }
}

pub fn record(tally: &Tally, out: &mut MetricSet) {
    let mut present: Vec<(&str, f64)> = Vec::with_capacity(LABELS.len());
    let mut unknown = None;
    for (slot, count) in tally.counts.iter().enumerate() {
        if let Some(count) = count {
            if slot == 0 || slot == UNKNOWN {
                unknown = Some(unknown.unwrap_or(0.0) + count);
            } else {
                present.push((LABELS[slot], *count));
            }
        }
    }
    if let Some(unknown) = unknown {
        present.push(("unknown", unknown));
    }
    present.sort_by(|a, b| a.0.cmp(b.0));
    let family = out.family(
        "node_tcp_connection_states",
        "Number of connection states.",
        MetricKind::Gauge,
    );
    for (state, count) in present {
        family.push(&[("state", state)], count);
    }
}

/// A sock_diag socket, kept between scrapes.
struct DiagSocket {
    socket: Socket,
    sequence: u32,
    buffer: Vec<u8>,
}

impl DiagSocket {
    fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(DiagSocket {
            socket,
            sequence: 0,
            buffer: vec![0; RECEIVE_BUFFER_BYTES],
        })
    }

    /// Dumps every TCP socket of `family` (`AF_INET`, `AF_INET6`) into `tally`.
    fn dump_tcp(&mut self, family: u8, tally: &mut Tally) -> io::Result<()> {
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        self.socket.send(&request(family, sequence), 0)?;
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
                let (message_type, message_sequence, payload, next) = split_message(datagram)?;
                if message_sequence == sequence {
                    match message_type {
                        NLMSG_DONE => return Ok(()),
                        NLMSG_ERROR => {
                            let code = payload
                                .get(..4)
                                .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                                .ok_or_else(|| invalid("short NLMSG_ERROR".to_string()))?;
                            if code != 0 {
                                return Err(io::Error::from_raw_os_error(-code));
                            }
                        }
                        NLMSG_OVERRUN => return Err(invalid("overrun".to_string())),
                        SOCK_DIAG_BY_FAMILY => tally.count(payload)?,
                        _ => {}
                    }
                }
                datagram = datagram.get(next..).unwrap_or_default();
            }
        }
    }
}

/// A `SOCK_DIAG_BY_FAMILY` dump request for TCP sockets of `family` in every state.
fn request(family: u8, sequence: u32) -> [u8; NLMSG_HEADER_LEN + REQUEST_LEN] {
    let mut bytes = [0u8; NLMSG_HEADER_LEN + REQUEST_LEN];
    bytes[0..4].copy_from_slice(&((NLMSG_HEADER_LEN + REQUEST_LEN) as u32).to_ne_bytes());
    bytes[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    bytes[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    bytes[8..12].copy_from_slice(&sequence.to_ne_bytes());
    // Port id 0: the kernel. Then inet_diag_req_v2.
    bytes[16] = family;
    bytes[17] = IPPROTO_TCP;
    bytes[20..24].copy_from_slice(&ALL_STATES.to_ne_bytes());
    bytes
}

/// The type, sequence number and payload of the first netlink message of `datagram`,
/// and where the next one starts.
fn split_message(datagram: &[u8]) -> io::Result<(u16, u32, &[u8], usize)> {
    let header = datagram
        .get(..NLMSG_HEADER_LEN)
        .ok_or_else(|| invalid(format!("{} bytes left, no netlink header", datagram.len())))?;
    let length = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let message_type = u16::from_ne_bytes([header[4], header[5]]);
    let sequence = u32::from_ne_bytes([header[8], header[9], header[10], header[11]]);
    if length < NLMSG_HEADER_LEN || length > datagram.len() {
        return Err(invalid(format!(
            "netlink message of length {length} in {} bytes",
            datagram.len()
        )));
    }
    let next = (length + 3) & !3;
    Ok((
        message_type,
        sequence,
        &datagram[NLMSG_HEADER_LEN..length],
        next,
    ))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

impl TcpStat {
    fn tally(&mut self) -> io::Result<Tally> {
        let socket = match &mut self.socket {
            Some(socket) => socket,
            None => self.socket.insert(DiagSocket::open()?),
        };
        let mut tally = Tally::default();
        socket.dump_tcp(libc::AF_INET as u8, &mut tally)?;
        if self.tcp6.exists() {
            socket.dump_tcp(libc::AF_INET6 as u8, &mut tally)?;
        }
        Ok(tally)
    }
}

impl Collector for TcpStat {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let tally = self.tally().map_err(|source| {
            self.socket = None;
            CollectError::System {
                context: "sock_diag dump of TCP sockets".to_string(),
                source,
            }
        })?;
        record(&tally, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_paths, rendered, Line};

    fn diag_msg(state: u8, rqueue: u32, wqueue: u32) -> Vec<u8> {
        let mut payload = vec![0u8; DIAG_MSG_LEN];
        payload[0] = libc::AF_INET as u8;
        payload[1] = state;
        payload[RQUEUE_OFFSET..RQUEUE_OFFSET + 4].copy_from_slice(&rqueue.to_ne_bytes());
        payload[WQUEUE_OFFSET..WQUEUE_OFFSET + 4].copy_from_slice(&wqueue.to_ne_bytes());
        payload
    }

    fn sample(state: &str, value: f64) -> Line {
        Line::Sample(
            "node_tcp_connection_states".into(),
            vec![("state".into(), state.into())],
            value,
        )
    }

    #[test]
    fn counts_states_and_queues_sorted_by_state() {
        let mut tally = Tally::default();
        for (state, rq, wq) in [(1, 10, 200), (1, 0, 0), (10, 0, 0), (6, 0, 0), (8, 5, 7)] {
            tally.count(&diag_msg(state, rq, wq)).unwrap();
        }
        tally.count(&diag_msg(0, 0, 0)).unwrap();
        tally.count(&diag_msg(99, 0, 0)).unwrap();
        let mut out = MetricSet::new();
        record(&tally, &mut out);
        let expected = vec![
            Line::Help(
                "node_tcp_connection_states".into(),
                "Number of connection states.".into(),
            ),
            Line::Type("node_tcp_connection_states".into(), "gauge".into()),
            sample("close_wait", 1.0),
            sample("established", 2.0),
            sample("listen", 1.0),
            sample("rx_queued_bytes", 15.0),
            sample("time_wait", 1.0),
            sample("tx_queued_bytes", 207.0),
            sample("unknown", 2.0),
        ];
        assert_eq!(rendered(&out, |_| true), expected);
    }

    #[test]
    fn no_sockets_no_series() {
        let mut out = MetricSet::new();
        record(&Tally::default(), &mut out);
        assert!(out
            .get("node_tcp_connection_states")
            .is_none_or(|f| f.is_empty()));
    }

    #[test]
    fn malformed_replies_are_errors() {
        let err = Tally::default().count(&[0u8; 10]).unwrap_err();
        assert_eq!(err.to_string(), "inet_diag_msg of 10 bytes, 72 expected");
        let err = split_message(&[0u8; 8]).unwrap_err();
        assert_eq!(err.to_string(), "8 bytes left, no netlink header");
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&40u32.to_ne_bytes());
        let err = split_message(&header).unwrap_err();
        assert_eq!(err.to_string(), "netlink message of length 40 in 16 bytes");
    }

    #[test]
    fn request_layout() {
        let bytes = request(libc::AF_INET6 as u8, 7);
        assert_eq!(u32::from_ne_bytes(bytes[0..4].try_into().unwrap()), 72);
        assert_eq!(u16::from_ne_bytes(bytes[4..6].try_into().unwrap()), 20);
        assert_eq!(u16::from_ne_bytes(bytes[6..8].try_into().unwrap()), 0x301);
        assert_eq!(u32::from_ne_bytes(bytes[8..12].try_into().unwrap()), 7);
        assert_eq!((bytes[16], bytes[17], bytes[18]), (10, 6, 0));
        assert_eq!(u32::from_ne_bytes(bytes[20..24].try_into().unwrap()), 0xFFF);
    }

    #[test]
    fn dumps_this_hosts_sockets_twice_on_one_socket() {
        // A listening socket of our own makes the dump non-empty.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut collector = TcpStat::new(&fixture_paths());
        for _ in 0..2 {
            let mut out = MetricSet::new();
            collector.update(&mut Sources::default(), &mut out).unwrap();
            let listen = out
                .value("node_tcp_connection_states", &[("state", "listen")])
                .unwrap();
            assert!(listen >= 1.0, "{listen}");
            assert!(out
                .value(
                    "node_tcp_connection_states",
                    &[("state", "rx_queued_bytes")]
                )
                .is_some());
        }
        assert!(collector.socket.is_some(), "kept between scrapes");
        drop(listener);
    }
}
