//! Memory and swap from `node_memory_*_bytes` (the fields of /proc/meminfo).

use super::series::Series;
use crate::model::MemoryMetrics;

pub(super) fn record(series: &Series) -> MemoryMetrics {
    let field = |name: &str| series.scalar(&format!("node_memory_{name}_bytes"));
    let bytes = |name: &str| field(name).map_or(0, |v| v as u64);
    let total = bytes("MemTotal");
    let free = bytes("MemFree");
    let cached = bytes("Cached");
    let buffers = bytes("Buffers");
    // MemAvailable exists since Linux 3.14; before it, free + buffers + page cache is
    // the usual estimate.
    let available = field("MemAvailable").map_or(free + buffers + cached, |v| v as u64);
    let used = total.saturating_sub(available);
    let swap_total = bytes("SwapTotal");
    let swap_free = bytes("SwapFree");
    let swap_used = swap_total.saturating_sub(swap_free);
    MemoryMetrics {
        total,
        used,
        available,
        free,
        usage_percent: percent(used, total),
        cached,
        buffers,
        swap_total,
        swap_used,
        swap_free,
        swap_percent: percent(swap_used, swap_total),
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64 * 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::*;

    #[test]
    fn from_the_edge_fixture() {
        let scrape = scrape(EDGE, 0);
        let memory = record(&Series::new(&scrape.families));
        assert_eq!(
            memory,
            MemoryMetrics {
                total: 16653041664,
                used: 16653041664 - 12641974272,
                available: 12641974272,
                free: 8318418944,
                usage_percent: 4011067392.0 / 16653041664.0 * 100.0,
                cached: 3539751936,
                buffers: 240196608,
                swap_total: 2147479552,
                swap_used: 2147479552 - 2048000000,
                swap_free: 2048000000,
                swap_percent: 99479552.0 / 2147479552.0 * 100.0,
            }
        );
        // node_exporter writes the same numbers in exponent form.
        let plain = super::super::testdata::scrape(NODE_EXPORTER, 0);
        assert_eq!(record(&Series::new(&plain.families)), memory);
    }

    #[test]
    fn old_kernels_and_no_swap() {
        let text = "node_memory_MemTotal_bytes 1000
node_memory_MemFree_bytes 100
node_memory_Buffers_bytes 50
node_memory_Cached_bytes 250
node_memory_SwapTotal_bytes 0
node_memory_SwapFree_bytes 0
";
        let scrape = scrape(text, 0);
        let memory = record(&Series::new(&scrape.families));
        assert_eq!((memory.available, memory.used), (400, 600));
        assert_eq!(memory.usage_percent, 60.0);
        assert_eq!((memory.swap_used, memory.swap_percent), (0, 0.0));
        let empty = super::super::testdata::scrape("x 1\n", 0);
        assert_eq!(
            record(&Series::new(&empty.families)),
            MemoryMetrics::default()
        );
    }
}
