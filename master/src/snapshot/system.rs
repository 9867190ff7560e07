//! Kernel tables: conntrack (`node_nf_conntrack_entries{,_limit}`), file handles
//! (`node_filefd_{allocated,maximum}`) and entropy (`node_entropy_available_bits`).

use super::series::Series;
use crate::model::SystemMetrics;

pub(super) fn record(series: &Series) -> SystemMetrics {
    // `as` saturates: an unlimited fs.file-max (2^63, past i64) stays 2^63 in a u64,
    // where atlhyper's int64 conversion is undefined.
    let count = |name: &str| series.scalar(name).map_or(0, |v| v as u64);
    SystemMetrics {
        conntrack_entries: count("node_nf_conntrack_entries"),
        conntrack_limit: count("node_nf_conntrack_entries_limit"),
        filefd_allocated: count("node_filefd_allocated"),
        filefd_max: count("node_filefd_maximum"),
        entropy_bits: count("node_entropy_available_bits"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::*;

    fn system(text: &str) -> SystemMetrics {
        let scrape = scrape(text, 0);
        record(&Series::new(&scrape.families))
    }

    #[test]
    fn from_the_edge_fixture() {
        assert_eq!(
            system(EDGE),
            SystemMetrics {
                conntrack_entries: 1234,
                conntrack_limit: 262144,
                filefd_allocated: 5312,
                // node_filefd_maximum 9.223372036854776e18: exactly 2^63.
                filefd_max: 1 << 63,
                entropy_bits: 3591,
            }
        );
        assert_eq!(
            system(EDGE).filefd_max as f64,
            9.223372036854776e18,
            "the value node_exporter wrote"
        );
    }

    #[test]
    fn without_conntrack() {
        // No nf_conntrack module loaded: no conntrack families.
        let metrics = system("node_filefd_allocated 10\nnode_filefd_maximum 100\n");
        assert_eq!(
            metrics,
            SystemMetrics {
                filefd_allocated: 10,
                filefd_max: 100,
                ..SystemMetrics::default()
            }
        );
    }
}
