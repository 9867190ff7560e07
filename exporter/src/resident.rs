//! Keeps the resident size to what serving needs. Startup touches much code that
//! never runs again (clap checking several hundred flags, building ~60 collectors),
//! and the kernel maps program text in 64 kB batches around each fault, so the
//! binary's text would stay resident many times over what a scrape executes.
//! [`release_startup_pages`] tells the kernel to fault the text page by page
//! (`MADV_RANDOM`) and drops the text pages mapped so far (`MADV_DONTNEED`): a page a
//! scrape needs comes back on its first use from the page cache (a minor fault),
//! the rest stay out. Only read-execute mappings of this executable are touched:
//! they are never written, so dropping them loses nothing (writable or relocated
//! data is left alone). Then `malloc_trim` returns the heap startup freed.

use std::fs;

/// Drops startup-only pages of this executable's text and the heap freed at
/// startup. Best effort: a failure leaves the process as it was.
pub fn release_startup_pages() {
    let Ok(exe) = fs::read_link("/proc/self/exe") else {
        return;
    };
    let Ok(maps) = fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for (start, end) in text_mappings(&maps, &exe.to_string_lossy()) {
        let length = end - start;
        // SAFETY: the range is a read-execute, private, file-backed mapping of our own
        // executable, read from /proc/self/maps: never written, so its pages can be
        // dropped and faulted in again from the file unchanged.
        unsafe {
            libc::madvise(start as *mut libc::c_void, length, libc::MADV_RANDOM);
            libc::madvise(start as *mut libc::c_void, length, libc::MADV_DONTNEED);
        }
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The `r-xp` mappings of `exe` in a `/proc/self/maps` text.
pub fn text_mappings(maps: &str, exe: &str) -> Vec<(usize, usize)> {
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let range = fields.next()?;
            let perms = fields.next()?;
            let path = fields.nth(3)?;
            if perms != "r-xp" || path != exe {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            (end > start).then_some((start, end))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_executables_text_is_chosen() {
        let maps = "\
55d0a0000000-55d0a0100000 r--p 00000000 fd:01 123 /usr/bin/edge-exporter
55d0a0100000-55d0a0500000 r-xp 00100000 fd:01 123 /usr/bin/edge-exporter
55d0a0500000-55d0a0600000 r--p 00500000 fd:01 123 /usr/bin/edge-exporter
55d0a0600000-55d0a0610000 rw-p 00600000 fd:01 123 /usr/bin/edge-exporter
7f0000000000-7f0000100000 r-xp 00000000 fd:01 456 /usr/lib/libc.so.6
7f0000200000-7f0000300000 r-xp 00000000 00:00 0
";
        assert_eq!(
            text_mappings(maps, "/usr/bin/edge-exporter"),
            vec![(0x55d0a0100000, 0x55d0a0500000)]
        );
    }

    #[test]
    fn dropping_text_pages_keeps_the_process_running() {
        release_startup_pages();
        // Code runs again after its pages were dropped (faulted back from the file).
        assert_eq!(text_mappings("", "x"), Vec::new());
        let maps = fs::read_to_string("/proc/self/maps").unwrap();
        assert!(maps.contains("r-xp"));
    }
}
