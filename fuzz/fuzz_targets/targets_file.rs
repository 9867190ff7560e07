//! The master's targets file (`source::targets::parse_targets_file`: `NAME=URL` or
//! `URL` per line, `#` comments), which is re-read while the master runs.
//!
//! Never panics, and every target it accepts is a plain `http://` URL with a host and
//! a path, and a name that is not empty.
#![no_main]

use std::path::Path;

use edge_master::source::targets::parse_targets_file;
use edge_metrics_fuzz::text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = text(data) else {
        return;
    };
    let targets = match parse_targets_file(text, Path::new("targets")) {
        Ok(targets) => targets,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    for target in targets {
        let rest = target
            .url
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("{target:?}"));
        assert!(!rest.is_empty() && !rest.starts_with('/'), "{target:?}");
        assert!(rest.contains('/'), "{target:?}: no path");
        assert!(!target.url.contains(char::is_whitespace), "{target:?}");
        if let Some(name) = &target.name {
            assert!(!name.is_empty(), "{target:?}");
        }
    }
});
