//! The files a web config consists of: read with a size cap, and stamped (identity,
//! size, change times) so a change on disk can be seen with one `stat` per file.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The largest web config, certificate, key or CA file read: real ones are a few
/// KiB, and the cap keeps a wrong path (a log file, a disk image) from filling memory.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Reads a whole regular file of at most [`MAX_FILE_BYTES`]. Anything else (a FIFO
/// or device, which could block or never end) is refused before it is opened.
pub(crate) fn read_bounded(path: &Path) -> io::Result<Vec<u8>> {
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// What `stat` says of one file; equal stamps mean the same content for our use.
/// The inode and ctime catch a file replaced by rename with an older mtime.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        // Follows symlinks: a Kubernetes secret volume swaps a `..data` link.
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            device: m.dev(),
            inode: m.ino(),
            len: m.len(),
            modified: (m.mtime(), m.mtime_nsec()),
            changed: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// The stamps of every file a loaded config came from, each taken before the file
/// was read, so a change during the read shows as a difference next time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Stamps(Vec<(PathBuf, Option<FileStamp>)>);

impl Stamps {
    /// Stamps `path` (before reading it).
    pub(crate) fn add(&mut self, path: &Path) {
        self.0.push((path.to_path_buf(), FileStamp::of(path)));
    }

    /// The same files stamped again, now.
    pub(crate) fn retake(&self) -> Stamps {
        Stamps(
            self.0
                .iter()
                .map(|(path, _)| (path.clone(), FileStamp::of(path)))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_large_and_special_files() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert_eq!(
            read_bounded(&big).unwrap_err().to_string(),
            "larger than 1048576 bytes"
        );
        let exact = dir.path().join("exact");
        std::fs::write(&exact, vec![b'x'; MAX_FILE_BYTES as usize]).unwrap();
        assert_eq!(read_bounded(&exact).unwrap().len() as u64, MAX_FILE_BYTES);
        assert_eq!(
            read_bounded(Path::new("/dev/zero"))
                .unwrap_err()
                .to_string(),
            "not a regular file"
        );
    }

    #[test]
    fn stamps_see_a_replaced_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cert.pem");
        std::fs::write(&file, "one").unwrap();
        let mut stamps = Stamps::default();
        stamps.add(&file);
        assert_eq!(stamps.retake(), stamps);
        // Same size, replaced by rename: only the inode tells.
        let next = dir.path().join("next");
        std::fs::write(&next, "two").unwrap();
        std::fs::rename(&next, &file).unwrap();
        assert_ne!(stamps.retake(), stamps);
    }
}
