//! Directory listings as node_exporter's libraries see them: Go's `filepath.Glob` and
//! `os.ReadDir` both return names sorted bytewise, and the storage collectors
//! (bcache, bcachefs, btrfs, mdadm, dmmultipath, xfs) walk `/sys` in that order.

use std::io;
use std::path::Path;

/// The names in `dir`, sorted bytewise (as Go's `os.ReadDir` and `filepath.Glob`);
/// names that are not UTF-8 are skipped (a sysfs name never is).
pub fn sorted_names(dir: &Path) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    names.sort_unstable();
    Ok(names)
}

/// [`sorted_names`] of the subdirectories of `dir` (following symlinks, as a glob
/// does), for `filepath.Glob` patterns such as `fs/bcache/*-*`. A missing `dir`
/// matches nothing, as a glob does.
pub fn glob_dirs(dir: &Path, matches: impl Fn(&str) -> bool) -> Vec<String> {
    match sorted_names(dir) {
        Ok(names) => names
            .into_iter()
            .filter(|name| matches(name) && dir.join(name).is_dir())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// `os.ReadDir`'s `IsDir()`: true for a real directory only, not for a symlink to one.
pub fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Go's `filepath.Match` of a pattern `<prefix>*<suffix>` such as `*-*` or `dm-*`.
pub fn has_parts(name: &str, prefix: &str, middle: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| middle.is_empty() || rest.contains(middle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_sorted_and_globs_directories() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b-2", "a-1", "plain"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("c-3"), "").unwrap();
        assert_eq!(
            sorted_names(dir.path()).unwrap(),
            ["a-1", "b-2", "c-3", "plain"]
        );
        assert_eq!(
            glob_dirs(dir.path(), |n| has_parts(n, "", "-")),
            ["a-1", "b-2"]
        );
        assert!(glob_dirs(&dir.path().join("missing"), |_| true).is_empty());
        std::os::unix::fs::symlink("a-1", dir.path().join("link")).unwrap();
        assert!(!is_real_dir(&dir.path().join("link")));
        assert!(is_real_dir(&dir.path().join("a-1")));
        assert!(has_parts("dm-0", "dm-", ""));
        assert!(!has_parts("sda", "dm-", ""));
    }
}
