//! Paging from `node_vmstat_{pgfault,pgmajfault,pswpin,pswpout}`: per-second rates over
//! the window, as atlhyper derives them. node_exporter types these untyped (they are
//! /proc/vmstat counters); they are read as counters all the same. atlhyper's window
//! is 5 minutes, ours the scrape interval.

use super::series::Window;
use crate::model::VmstatMetrics;

pub(super) fn record(window: &Window) -> VmstatMetrics {
    VmstatMetrics {
        pgfault_rate: window.scalar_rate("node_vmstat_pgfault"),
        pgmajfault_rate: window.scalar_rate("node_vmstat_pgmajfault"),
        pswpin_rate: window.scalar_rate("node_vmstat_pswpin"),
        pswpout_rate: window.scalar_rate("node_vmstat_pswpout"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::*;

    #[test]
    fn rates_on_the_edge_fixture() {
        let before = scrape(EDGE, 0);
        let mut text = EDGE.to_string();
        for (name, value) in [
            ("pgfault", 10339776.0 + 15204.0),
            ("pgmajfault", 10450489.0 + 2.0),
            ("pswpin", 8029125.0),
            // Went down: a reset, no rate.
            ("pswpout", 8138000.0),
        ] {
            text = with_value(&text, &format!("node_vmstat_{name}"), value);
        }
        let vmstat = record(&Window::new(&scrape(&text, 10), Some(&before)));
        assert_eq!(
            vmstat,
            VmstatMetrics {
                pgfault_rate: 1520.4,
                pgmajfault_rate: 0.2,
                pswpin_rate: 0.0,
                pswpout_rate: 0.0,
            }
        );
        // One scrape: no rates.
        assert_eq!(
            record(&Window::new(&before, None)),
            VmstatMetrics::default()
        );
    }
}
