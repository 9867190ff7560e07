//! Softnet from `node_softnet_{dropped,times_squeezed}_total{cpu}`: per-second rates
//! over the window, summed over CPUs. atlhyper groups the per-CPU series by name only
//! and so takes its rate across different CPUs' counters; here each CPU's counter is
//! compared with its own previous value, then the rates are added.

use super::series::Window;
use crate::model::SoftnetMetrics;

pub(super) fn record(window: &Window) -> SoftnetMetrics {
    SoftnetMetrics {
        dropped_rate: window.summed_rate("node_softnet_dropped_total"),
        squeezed_rate: window.summed_rate("node_softnet_times_squeezed_total"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::*;

    #[test]
    fn rates_summed_over_cpus_on_the_edge_fixture() {
        let before = scrape(EDGE, 0);
        let mut text = EDGE.to_string();
        // Dropped: cpu0 16 → 18, cpu3 19 → 20; squeezed: cpu1 162 → 163, cpu2 163 → 0
        // (a reset: nothing).
        for (series, value) in [
            ("node_softnet_dropped_total{cpu=\"0\"}", 18.0),
            ("node_softnet_dropped_total{cpu=\"3\"}", 20.0),
            ("node_softnet_times_squeezed_total{cpu=\"1\"}", 163.0),
            ("node_softnet_times_squeezed_total{cpu=\"2\"}", 0.0),
        ] {
            text = with_value(&text, series, value);
        }
        let softnet = record(&Window::new(&scrape(&text, 10), Some(&before)));
        assert_close(softnet.dropped_rate, 0.3);
        assert_close(softnet.squeezed_rate, 0.1);
        assert_eq!(
            record(&Window::new(&before, None)),
            SoftnetMetrics::default()
        );
    }
}
