//! `node_timex_*` from adjtimex(2), called read-only (`modes = 0`).
//!
//! [`TimexReading::record`] does node_exporter's conversions on plain numbers, so they
//! are tested on values built by hand: `offset` and the PPS jitter are in nanoseconds
//! when the kernel's status has STA_NANO and in microseconds otherwise; maxerror,
//! esterror and tick are always microseconds; freq, ppsfreq and stabil are in "scaled
//! ppm" (ppm × 2^16, see NOTES in adjtimex(2)). A clock state of TIME_ERROR (5) means
//! "not synchronised". EPERM (seccomp in a container) is "no data", as in node_exporter.

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::sources::Sources;
use edge_common::exposition::{MetricKind, MetricSet};

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "timex",
    enabled_by_default: true,
    args: super::no_args,
    build: |_| Ok(Box::new(Timex)),
};

/// adjtimex's return value when the clock is not synchronised.
const TIME_ERROR: i32 = 5;
/// The status bit saying offsets are in nanoseconds.
const STA_NANO: i64 = 0x2000;
const NANOSECONDS: f64 = 1_000_000_000.0;
const MICROSECONDS: f64 = 1_000_000.0;
/// One ppm in the kernel's 16.16 fixed point.
const PPM16FRAC: f64 = 1_000_000.0 * 65536.0;

pub struct Timex;

/// The fields of `struct timex` node_exporter reads, widened to i64 (they are `long`,
/// 32 bits on 32-bit ARM), plus the clock state adjtimex returned.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimexReading {
    pub state: i32,
    pub offset: i64,
    pub freq: i64,
    pub maxerror: i64,
    pub esterror: i64,
    pub status: i64,
    pub constant: i64,
    pub tick: i64,
    pub ppsfreq: i64,
    pub jitter: i64,
    pub shift: i64,
    pub stabil: i64,
    pub jitcnt: i64,
    pub calcnt: i64,
    pub errcnt: i64,
    pub stbcnt: i64,
    pub tai: i64,
}

impl TimexReading {
    /// Calls adjtimex(2) without changing anything.
    pub fn read() -> std::io::Result<Self> {
        // SAFETY: a zeroed timex with modes 0 asks only for the current values; the
        // kernel writes into the struct we own and nothing else.
        let mut t: libc::timex = unsafe { std::mem::zeroed() };
        let state = unsafe { libc::adjtimex(&mut t) };
        if state < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // `long` is i64 on 64-bit targets, where these conversions are no-ops.
        #[allow(clippy::useless_conversion)]
        Ok(TimexReading {
            state,
            offset: i64::from(t.offset),
            freq: i64::from(t.freq),
            maxerror: i64::from(t.maxerror),
            esterror: i64::from(t.esterror),
            status: i64::from(t.status),
            constant: i64::from(t.constant),
            tick: i64::from(t.tick),
            ppsfreq: i64::from(t.ppsfreq),
            jitter: i64::from(t.jitter),
            shift: i64::from(t.shift),
            stabil: i64::from(t.stabil),
            jitcnt: i64::from(t.jitcnt),
            calcnt: i64::from(t.calcnt),
            errcnt: i64::from(t.errcnt),
            stbcnt: i64::from(t.stbcnt),
            tai: i64::from(t.tai),
        })
    }

    /// node_exporter's families and conversions.
    pub fn record(&self, out: &mut MetricSet) {
        let divisor = if self.status & STA_NANO != 0 {
            NANOSECONDS
        } else {
            MICROSECONDS
        };
        let synced = if self.state == TIME_ERROR { 0.0 } else { 1.0 };
        let mut put = |name: &'static str, help: &'static str, kind, value: f64| {
            out.family(name, help, kind).push(&[], value);
        };
        use MetricKind::{Counter, Gauge};
        put(
            "node_timex_sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            Gauge,
            synced,
        );
        put(
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            Gauge,
            self.offset as f64 / divisor,
        );
        put(
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            Gauge,
            1.0 + self.freq as f64 / PPM16FRAC,
        );
        put(
            "node_timex_maxerror_seconds",
            "Maximum error in seconds.",
            Gauge,
            self.maxerror as f64 / MICROSECONDS,
        );
        put(
            "node_timex_estimated_error_seconds",
            "Estimated error in seconds.",
            Gauge,
            self.esterror as f64 / MICROSECONDS,
        );
        put(
            "node_timex_status",
            "Value of the status array bits.",
            Gauge,
            self.status as f64,
        );
        put(
            "node_timex_loop_time_constant",
            "Phase-locked loop time constant.",
            Gauge,
            self.constant as f64,
        );
        put(
            "node_timex_tick_seconds",
            "Seconds between clock ticks.",
            Gauge,
            self.tick as f64 / MICROSECONDS,
        );
        put(
            "node_timex_pps_frequency_hertz",
            "Pulse per second frequency.",
            Gauge,
            self.ppsfreq as f64 / PPM16FRAC,
        );
        put(
            "node_timex_pps_jitter_seconds",
            "Pulse per second jitter.",
            Gauge,
            self.jitter as f64 / divisor,
        );
        put(
            "node_timex_pps_shift_seconds",
            "Pulse per second interval duration.",
            Gauge,
            self.shift as f64,
        );
        put(
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            Gauge,
            self.stabil as f64 / PPM16FRAC,
        );
        put(
            "node_timex_pps_jitter_total",
            "Pulse per second count of jitter limit exceeded events.",
            Counter,
            self.jitcnt as f64,
        );
        put(
            "node_timex_pps_calibration_total",
            "Pulse per second count of calibration intervals.",
            Counter,
            self.calcnt as f64,
        );
        put(
            "node_timex_pps_error_total",
            "Pulse per second count of calibration errors.",
            Counter,
            self.errcnt as f64,
        );
        put(
            "node_timex_pps_stability_exceeded_total",
            "Pulse per second count of stability limit exceeded events.",
            Counter,
            self.stbcnt as f64,
        );
        put(
            "node_timex_tai_offset_seconds",
            "International Atomic Time (TAI) offset.",
            Gauge,
            self.tai as f64,
        );
    }
}

impl Collector for Timex {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        match TimexReading::read() {
            Ok(reading) => {
                reading.record(out);
                Ok(())
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) => {
                Err(CollectError::NoData(format!("adjtimex: {e}")))
            }
            Err(source) => Err(CollectError::System {
                context: "adjtimex".into(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{rendered, Line};

    fn recorded(reading: TimexReading) -> MetricSet {
        let mut out = MetricSet::new();
        reading.record(&mut out);
        out
    }

    /// Distinct values in every field, each chosen so its conversion is exact.
    fn sample(status: i64, state: i32) -> TimexReading {
        TimexReading {
            state,
            offset: -250_000,
            freq: 655_360 * 3, // 30 ppm
            maxerror: 16_000_000,
            esterror: 1_500,
            status,
            constant: 7,
            tick: 10_000,
            ppsfreq: -(65_536 * 2), // -2 ppm
            jitter: 125_000,
            shift: 4,
            stabil: 65_536 * 5,
            jitcnt: 11,
            calcnt: 12,
            errcnt: 13,
            stbcnt: 14,
            tai: 37,
        }
    }

    #[test]
    fn microsecond_mode() {
        // STA_PLL | STA_UNSYNC, no STA_NANO; the kernel says TIME_ERROR.
        let out = recorded(sample(0x0041, TIME_ERROR));
        let v = |name| out.value(name, &[]).unwrap();
        assert_eq!(v("node_timex_sync_status"), 0.0);
        assert_eq!(v("node_timex_offset_seconds"), -0.25);
        assert_eq!(v("node_timex_pps_jitter_seconds"), 0.125);
        assert_eq!(v("node_timex_frequency_adjustment_ratio"), 1.00003);
        assert_eq!(v("node_timex_maxerror_seconds"), 16.0);
        assert_eq!(v("node_timex_estimated_error_seconds"), 0.0015);
        assert_eq!(v("node_timex_status"), 65.0);
        assert_eq!(v("node_timex_loop_time_constant"), 7.0);
        assert_eq!(v("node_timex_tick_seconds"), 0.01);
        assert_eq!(v("node_timex_pps_frequency_hertz"), -0.000002);
        assert_eq!(v("node_timex_pps_shift_seconds"), 4.0);
        assert_eq!(v("node_timex_pps_stability_hertz"), 0.000005);
        assert_eq!(v("node_timex_pps_jitter_total"), 11.0);
        assert_eq!(v("node_timex_pps_calibration_total"), 12.0);
        assert_eq!(v("node_timex_pps_error_total"), 13.0);
        assert_eq!(v("node_timex_pps_stability_exceeded_total"), 14.0);
        assert_eq!(v("node_timex_tai_offset_seconds"), 37.0);
        assert_eq!(out.families().len(), 17);
    }

    #[test]
    fn nanosecond_mode_scales_offset_and_jitter_only() {
        // STA_PLL | STA_NANO, clock synchronised (TIME_OK).
        let out = recorded(sample(0x2001, 0));
        let v = |name| out.value(name, &[]).unwrap();
        assert_eq!(v("node_timex_sync_status"), 1.0);
        assert_eq!(v("node_timex_offset_seconds"), -0.00025);
        assert_eq!(v("node_timex_pps_jitter_seconds"), 0.000125);
        // Always microseconds, whatever STA_NANO says.
        assert_eq!(v("node_timex_maxerror_seconds"), 16.0);
        assert_eq!(v("node_timex_tick_seconds"), 0.01);
        assert_eq!(v("node_timex_status"), 8193.0);
        // Any state but TIME_ERROR counts as synchronised (TIME_INS, TIME_WAIT, ...).
        let out = recorded(sample(0x2001, 4));
        assert_eq!(out.value("node_timex_sync_status", &[]), Some(1.0));
    }

    #[test]
    fn help_and_types_as_node_exporter() {
        let out = recorded(sample(0, 0));
        let lines = rendered(&out, |name| {
            name == "node_timex_pps_error_total" || name == "node_timex_tick_seconds"
        });
        let mut lines: Vec<Line> = lines
            .into_iter()
            .filter(|l| !matches!(l, Line::Sample(..)))
            .collect();
        lines.sort_by_key(|l| format!("{l:?}"));
        let mut expected = vec![
            Line::Help(
                "node_timex_pps_error_total".into(),
                "Pulse per second count of calibration errors.".into(),
            ),
            Line::Type("node_timex_pps_error_total".into(), "counter".into()),
            Line::Help(
                "node_timex_tick_seconds".into(),
                "Seconds between clock ticks.".into(),
            ),
            Line::Type("node_timex_tick_seconds".into(), "gauge".into()),
        ];
        expected.sort_by_key(|l| format!("{l:?}"));
        assert_eq!(lines, expected);
    }

    #[test]
    fn live_adjtimex_on_this_machine() {
        let mut out = MetricSet::new();
        match Timex.update(&mut Sources::default(), &mut out) {
            Ok(()) => {
                assert_eq!(out.families().len(), 17);
                let tick = out.value("node_timex_tick_seconds", &[]).unwrap();
                // USER_HZ ticks: 10 ms at HZ=100, within a few percent of it.
                assert!(tick > 0.009 && tick < 0.011, "tick {tick}");
                let sync = out.value("node_timex_sync_status", &[]).unwrap();
                assert!(sync == 0.0 || sync == 1.0);
                let ratio = out
                    .value("node_timex_frequency_adjustment_ratio", &[])
                    .unwrap();
                // The kernel caps freq at ±500 ppm.
                assert!((ratio - 1.0).abs() <= 0.0005, "ratio {ratio}");
            }
            // A sandbox that forbids adjtimex: node_exporter's "no data".
            Err(CollectError::NoData(_)) => {}
            Err(e) => panic!("adjtimex failed: {e}"),
        }
    }
}
