//! Pressure stall information from `node_pressure_*_seconds_total`: the share of the
//! window between two scrapes in which tasks stalled, as atlhyper derives it
//! (rate × 100, 0–100). atlhyper's window is 5 minutes; ours is the scrape interval,
//! so a short stall shows higher here and for less long.

use super::series::Window;
use crate::model::PsiMetrics;

pub(super) fn record(window: &Window) -> PsiMetrics {
    let share = |name: &str| (window.scalar_rate(name) * 100.0).clamp(0.0, 100.0);
    PsiMetrics {
        cpu_some_percent: share("node_pressure_cpu_waiting_seconds_total"),
        memory_some_percent: share("node_pressure_memory_waiting_seconds_total"),
        memory_full_percent: share("node_pressure_memory_stalled_seconds_total"),
        io_some_percent: share("node_pressure_io_waiting_seconds_total"),
        io_full_percent: share("node_pressure_io_stalled_seconds_total"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::*;

    #[test]
    fn shares_of_the_window_on_the_edge_fixture() {
        let before = scrape(EDGE, 0);
        // Over 10 s: CPU some +2.5 s, memory some +0.1 s and full +0.05 s, I/O some
        // +12 s (more than the window: clamped), I/O full unchanged; irq is not read.
        let mut text = EDGE.to_string();
        for (name, value) in [
            ("cpu_waiting", 184.726351 + 2.5),
            ("memory_waiting", 3.418275 + 0.1),
            ("memory_stalled", 2.209163 + 0.05),
            ("io_waiting", 92.817364 + 12.0),
            ("irq_stalled", 0.517342 + 5.0),
        ] {
            text = with_value(&text, &format!("node_pressure_{name}_seconds_total"), value);
        }
        let psi = record(&Window::new(&scrape(&text, 10), Some(&before)));
        assert_close(psi.cpu_some_percent, 25.0);
        assert_close(psi.memory_some_percent, 1.0);
        assert_close(psi.memory_full_percent, 0.5);
        assert_eq!(psi.io_some_percent, 100.0);
        assert_eq!(psi.io_full_percent, 0.0);
    }

    #[test]
    fn nothing_before_two_scrapes_or_without_psi() {
        let one = scrape(EDGE, 0);
        assert_eq!(record(&Window::new(&one, None)), PsiMetrics::default());
        let bare = scrape("node_load1 1\n", 0);
        let later = scrape("node_load1 1\n", 10);
        assert_eq!(
            record(&Window::new(&later, Some(&bare))),
            PsiMetrics::default()
        );
    }
}
