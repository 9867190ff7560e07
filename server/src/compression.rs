//! gzip for answers the client asked to have compressed (`Accept-Encoding: gzip`), as
//! client_golang's promhttp does for node_exporter: Prometheus asks for it on every
//! scrape. Only gzip: promhttp offers nothing else by default, and identity is always
//! acceptable, so a client that asks for anything else gets the plain body.

use std::io::{self, Write};

use flate2::write::GzEncoder;
use flate2::Compression;

/// Whether an `Accept-Encoding` header accepts gzip: `gzip` (or `x-gzip`, or `*`) with
/// a quality above zero.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(header) = accept_encoding else {
        return false;
    };
    header.split(',').any(|coding| {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        let named = ["gzip", "x-gzip", "*"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n));
        let quality = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1.0), |(_, v)| v.trim().parse::<f32>().ok());
        named && quality.is_some_and(|q| q > 0.0)
    })
}

/// Compresses `body` with gzip at the fastest level: a scrape body is text that
/// compresses ~10× even so, and the exporter runs on small boards where CPU is the
/// scarce thing, not the bytes of a LAN.
pub fn gzip(body: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 8 + 64), Compression::fast());
    encoder.write_all(body)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn gzip_is_accepted_only_with_a_positive_quality() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(Some("br, *")));
        assert!(accepts_gzip(Some("x-gzip")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("gzip;q=0.0, identity")));
        assert!(!accepts_gzip(Some("gzip;q=x")));
        assert!(!accepts_gzip(Some("deflate, br")));
        assert!(!accepts_gzip(Some("")));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn gzip_round_trips() {
        let body = "node_load1 0.25\n".repeat(1000);
        let packed = gzip(body.as_bytes()).unwrap();
        assert!(packed.len() < body.len() / 10, "{} bytes", packed.len());
        let mut unpacked = String::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_string(&mut unpacked)
            .unwrap();
        assert_eq!(unpacked, body);
    }
}
