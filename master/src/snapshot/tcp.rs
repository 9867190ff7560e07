//! TCP connections and sockets: `node_netstat_Tcp_CurrEstab` and the
//! `node_sockstat_*` gauges, as atlhyper reads them (latest values).

use super::series::Series;
use crate::model::TcpMetrics;

pub(super) fn record(series: &Series) -> TcpMetrics {
    let count = |name: &str| series.scalar(name).map_or(0, |v| v as u64);
    TcpMetrics {
        curr_estab: count("node_netstat_Tcp_CurrEstab"),
        alloc: count("node_sockstat_TCP_alloc"),
        in_use: count("node_sockstat_TCP_inuse"),
        time_wait: count("node_sockstat_TCP_tw"),
        sockets_used: count("node_sockstat_sockets_used"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::*;

    fn tcp(text: &str) -> TcpMetrics {
        let scrape = scrape(text, 0);
        record(&Series::new(&scrape.families))
    }

    #[test]
    fn from_the_edge_fixture() {
        assert_eq!(
            tcp(EDGE),
            TcpMetrics {
                curr_estab: 3106,
                alloc: 53,
                in_use: 31,
                time_wait: 12,
                sockets_used: 301,
            }
        );
    }

    #[test]
    fn missing_or_negative_is_zero() {
        let metrics = tcp("node_sockstat_TCP_tw -3\nnode_sockstat_TCP_alloc 7\n");
        assert_eq!(
            metrics,
            TcpMetrics {
                alloc: 7,
                ..TcpMetrics::default()
            }
        );
    }
}
