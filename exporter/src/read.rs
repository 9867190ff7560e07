//! Bounded reads of procfs and sysfs files and the small parsing helpers every
//! collector shares. Nothing here panics on what it reads.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::error::CollectError;

/// The most a procfs table is allowed to be; a larger file is refused, not truncated.
pub const MAX_TABLE_BYTES: u64 = 16 << 20;
/// The first read of a procfs table: most are smaller (see [`read_table_string`]).
const TABLE_READ_BYTES: usize = 16 << 10;
/// sysfs attributes are at most one page.
const ATTRIBUTE_BYTES: usize = 4096;

/// Reads a whole procfs table (`/proc/stat`, `/proc/diskstats`, …); a file larger
/// than [`MAX_TABLE_BYTES`] is refused, not truncated.
pub fn read_table_string(path: &Path) -> Result<String, CollectError> {
    // procfs reports a size of 0, so a plain read_to_string starts with 32-byte reads
    // and doubles: /proc/stat took 8 read(2) calls, and a seq_file table such as
    // /proc/net/udp is walked again from its start on each one. One buffer of
    // TABLE_READ_BYTES reads most tables in one call (and one more to see the end).
    let mut buf = Vec::with_capacity(TABLE_READ_BYTES);
    let file = File::open(path).map_err(|e| CollectError::read(path, e))?;
    let read = file
        .take(MAX_TABLE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| CollectError::read(path, e))?;
    if read as u64 > MAX_TABLE_BYTES {
        return Err(CollectError::parse(
            path,
            0,
            format!("larger than {MAX_TABLE_BYTES} bytes"),
        ));
    }
    String::from_utf8(buf)
        .map_err(|e| CollectError::read(path, io::Error::new(io::ErrorKind::InvalidData, e)))
}

/// Reads one sysfs attribute with a single bounded read, trimmed of surrounding
/// white space. The io::Error is returned as is: many attributes legitimately fail
/// (EINVAL for the speed of a down link) and callers decide what that means.
pub fn read_attribute(path: &Path) -> io::Result<String> {
    read_open_attribute(File::open(path)?)
}

fn read_open_attribute(mut file: File) -> io::Result<String> {
    let mut buf = [0u8; ATTRIBUTE_BYTES];
    // sysfs hands over a whole attribute in the first read, so a short read is the end:
    // no second read(2) to see EOF. A full buffer would mean a larger file: refused.
    let len = file.read(&mut buf)?;
    if len == buf.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {ATTRIBUTE_BYTES} bytes"),
        ));
    }
    let text = std::str::from_utf8(&buf[..len])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(text.trim().to_string())
}

/// A sysfs directory kept open so its attributes are read with openat(2): each read
/// skips the walk of a path such as `/sys/class/net/eth0/mtu` (through a symlink),
/// which costs as much as the read itself.
#[derive(Debug)]
pub struct AttributeDir {
    fd: std::os::fd::OwnedFd,
    path: std::path::PathBuf,
}

impl AttributeDir {
    pub fn open(path: &Path) -> io::Result<Self> {
        use nix::fcntl::{open, OFlag};
        let fd = open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        Ok(AttributeDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Reads attribute `name` of this directory, as [`read_attribute`] does.
    pub fn read(&self, name: &str) -> io::Result<String> {
        use nix::fcntl::{openat, OFlag};
        let fd = openat(
            &self.fd,
            name,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        read_open_attribute(File::from(fd))
    }

    /// Reads attribute `name` as procfs's `util.SysReadFile` does, which node_exporter's
    /// sysfs collectors (power_supply, watchdog, dmi) go through: one read(2) of at most
    /// [`GO_SYS_READ_BYTES`] bytes (a longer value is cut there, not refused), trimmed
    /// of surrounding ASCII white space, bytes as read (not checked for UTF-8).
    pub fn read_sys_file(&self, name: &str) -> io::Result<Vec<u8>> {
        use nix::fcntl::{openat, OFlag};
        let fd = openat(
            &self.fd,
            name,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        let mut buf = [0u8; GO_SYS_READ_BYTES];
        let len = File::from(fd).read(&mut buf)?;
        Ok(buf[..len].trim_ascii().to_vec())
    }

    /// The path of attribute `name`, for messages.
    pub fn path_of(&self, name: &str) -> std::path::PathBuf {
        self.path.join(name)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What procfs's `util.SysReadFile` reads of a sysfs file at most.
pub const GO_SYS_READ_BYTES: usize = 128;

/// Go's `strings.ToValidUTF8(text, "\u{FFFD}")`, which node_exporter applies to label
/// values read from sysfs: each run of invalid bytes becomes one replacement character
/// (`String::from_utf8_lossy` would write one per invalid sequence).
pub fn go_valid_utf8(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut in_invalid_run = false;
    for chunk in bytes.utf8_chunks() {
        if !chunk.valid().is_empty() {
            out.push_str(chunk.valid());
            in_invalid_run = false;
        }
        if !chunk.invalid().is_empty() && !in_invalid_run {
            out.push(char::REPLACEMENT_CHARACTER);
            in_invalid_run = true;
        }
    }
    out
}

/// Go's `strconv.ParseInt(text, 0, 64)`, procfs's reading of numeric sysfs values: an
/// optional sign, then `0x`/`0X` hex, `0b`/`0B` binary, `0o`/`0O` or a leading `0`
/// octal, else decimal. (Go also takes `_` between digits with base 0; no sysfs
/// attribute writes one, and it is refused here.)
pub fn parse_go_int(text: &str) -> Option<i64> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = parse_prefixed_u64(unsigned)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Reads an attribute that holds one unsigned integer.
pub fn read_u64_attribute(path: &Path) -> io::Result<u64> {
    let text = read_attribute(path)?;
    text.parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not an unsigned integer: {text:?}"),
        )
    })
}

/// Reads an attribute that holds one signed integer.
pub fn read_i64_attribute(path: &Path) -> io::Result<i64> {
    let text = read_attribute(path)?;
    text.parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not an integer: {text:?}"),
        )
    })
}

/// Parses an unsigned integer the way Go's `strconv.ParseUint(text, 0, 64)` does, as
/// procfs reads sysfs counters: `0x`/`0o`/`0b` prefixes, and a leading `0` for octal.
/// sysfs classes (fc_host, infiniband) write some counters in hexadecimal.
pub fn parse_prefixed_u64(text: &str) -> Option<u64> {
    let (digits, radix) = match text.get(..2) {
        Some("0x" | "0X") => (&text[2..], 16),
        Some("0o" | "0O") => (&text[2..], 8),
        Some("0b" | "0B") => (&text[2..], 2),
        _ if text.len() > 1 && text.starts_with('0') => (&text[1..], 8),
        _ => (text, 10),
    };
    // from_str_radix takes a sign; Go's ParseUint does not.
    if digits.is_empty() || digits.starts_with('+') {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Parses field `what` of line `line` of `path` as a number.
pub fn parse_field<T: std::str::FromStr>(
    text: Option<&str>,
    path: &Path,
    line: usize,
    what: &str,
) -> Result<T, CollectError> {
    let text = text.ok_or_else(|| CollectError::parse(path, line, format!("missing {what}")))?;
    text.parse()
        .map_err(|_| CollectError::parse(path, line, format!("{what}: not a number: {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_is_trimmed_and_numbers_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mtu");
        std::fs::write(&path, "1500\n").unwrap();
        assert_eq!(read_attribute(&path).unwrap(), "1500");
        assert_eq!(read_u64_attribute(&path).unwrap(), 1500);
        std::fs::write(&path, "-1\n").unwrap();
        assert_eq!(read_i64_attribute(&path).unwrap(), -1);
        assert!(read_u64_attribute(&path).is_err());
        assert!(read_attribute(&dir.path().join("missing")).is_err());
        std::fs::write(&path, vec![b'1'; 5000]).unwrap();
        assert!(
            read_attribute(&path).is_err(),
            "an oversized attribute is refused"
        );
    }

    #[test]
    fn attribute_dir_reads_relative_to_the_open_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("operstate"), "up\n").unwrap();
        let attributes = AttributeDir::open(dir.path()).unwrap();
        assert_eq!(attributes.read("operstate").unwrap(), "up");
        // The open directory follows a rename: no path walk from the name.
        let moved = dir.path().with_extension("moved");
        std::fs::rename(dir.path(), &moved).unwrap();
        std::fs::write(moved.join("mtu"), "9000\n").unwrap();
        assert_eq!(attributes.read("mtu").unwrap(), "9000");
        assert_eq!(
            attributes.read("missing").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        std::fs::rename(&moved, dir.path()).unwrap();
        assert!(AttributeDir::open(&dir.path().join("operstate")).is_err());
    }

    #[test]
    fn prefixed_numbers_parse_as_go_does() {
        assert_eq!(parse_prefixed_u64("0x1f"), Some(31));
        assert_eq!(parse_prefixed_u64("0X1F"), Some(31));
        assert_eq!(parse_prefixed_u64("017"), Some(15));
        assert_eq!(parse_prefixed_u64("0o17"), Some(15));
        assert_eq!(parse_prefixed_u64("0b101"), Some(5));
        assert_eq!(parse_prefixed_u64("0"), Some(0));
        assert_eq!(parse_prefixed_u64("1234"), Some(1234));
        assert_eq!(parse_prefixed_u64("0xffffffffffffffff"), Some(u64::MAX));
        for bad in ["", "0x", "+1", "0x+1", "-1", "08", "N/A (no PMA)", "1.5"] {
            assert_eq!(parse_prefixed_u64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn go_helpers_read_as_procfs_does() {
        assert_eq!(parse_go_int("42"), Some(42));
        assert_eq!(parse_go_int("-7"), Some(-7));
        assert_eq!(parse_go_int("+7"), Some(7));
        assert_eq!(parse_go_int("0x1f"), Some(31));
        assert_eq!(parse_go_int("010"), Some(8));
        assert_eq!(parse_go_int("0b101"), Some(5));
        assert_eq!(parse_go_int("0o17"), Some(15));
        assert_eq!(parse_go_int("0"), Some(0));
        assert_eq!(parse_go_int("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_go_int("9223372036854775808"), None);
        for bad in ["", "-", "0x", "08", "1.5", "12 ", "Full", "1_000"] {
            assert_eq!(parse_go_int(bad), None, "{bad:?}");
        }
        assert_eq!(go_valid_utf8(b"ok"), "ok");
        assert_eq!(go_valid_utf8(b"a\xff\xfeb\xffc"), "a\u{FFFD}b\u{FFFD}c");
        assert_eq!(go_valid_utf8("héllo".as_bytes()), "héllo");

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model_name"), "  5B10W13930 \n").unwrap();
        std::fs::write(dir.path().join("long"), vec![b'x'; 300]).unwrap();
        let attributes = AttributeDir::open(dir.path()).unwrap();
        assert_eq!(
            attributes.read_sys_file("model_name").unwrap(),
            b"5B10W13930"
        );
        assert_eq!(
            attributes.read_sys_file("long").unwrap().len(),
            GO_SYS_READ_BYTES
        );
        assert_eq!(
            attributes.read_sys_file("missing").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn parse_field_names_the_place() {
        let path = Path::new("/proc/stat");
        let err = parse_field::<u64>(Some("x1"), path, 3, "ctxt").unwrap_err();
        assert_eq!(err.to_string(), "/proc/stat:3: ctxt: not a number: \"x1\"");
        let err = parse_field::<u64>(None, path, 4, "btime").unwrap_err();
        assert_eq!(err.to_string(), "/proc/stat:4: missing btime");
    }
}
