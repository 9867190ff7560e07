//! The bounds of the contract: how many entries each array of a snapshot may have, how
//! long each string may be, and what a node name is. A snapshot is stored and served
//! only within them (`admission` checks pushes against them and fits scrapes into
//! them), so one node can never cost the master more than a bounded amount of memory.
//!
//! The arrays are also bounded while JSON is read ([`bounded_list`]): a 1 MiB body of
//! `{}` entries would otherwise become hundreds of thousands of default-filled structs
//! before anything could count them.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};

/// `processes`: edge-exporter reports the top `--collector.top_processes.top` (default 10)
/// by CPU and by memory, at most twice that; this leaves room for a top of 32.
pub const MAX_PROCESSES: usize = 64;
/// `disks`: filesystems on real block devices.
pub const MAX_DISKS: usize = 32;
/// `networks`: physical-ish interfaces.
pub const MAX_NETWORKS: usize = 32;
/// `temperature.sensors`.
pub const MAX_SENSORS: usize = 64;
/// `cpu.per_core`, and the largest `cpu.cores` and `cpu.threads`.
pub const MAX_CPUS: usize = 1024;

/// `node_name` and `hostname`: a DNS name (a Kubernetes node name is a DNS subdomain).
pub const MAX_NODE_NAME_BYTES: usize = 253;
/// One label of a node name, as DNS allows.
pub const MAX_NODE_NAME_LABEL_BYTES: usize = 63;
/// `processes[].cmdline` (edge-exporter cuts it at 256).
pub const MAX_CMDLINE_BYTES: usize = 512;
/// `disks[].device` and `disks[].mount_point`.
pub const MAX_PATH_BYTES: usize = 512;
/// `os`, `kernel`, `cpu.model`.
pub const MAX_TEXT_BYTES: usize = 256;
/// Every other string: names, users, states, addresses, sensor chips and labels.
pub const MAX_SHORT_TEXT_BYTES: usize = 64;

/// Whether `name` can name a node: 1 to [`MAX_NODE_NAME_BYTES`] bytes of dot-separated
/// labels, each 1 to 63 ASCII letters, digits and `-`, starting and ending with a letter
/// or a digit. Kubernetes node names (lowercase DNS subdomains) and hostnames are such
/// names; a path, a URL or anything with spaces or control characters is not.
pub fn is_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NODE_NAME_BYTES
        && name.split('.').all(|label| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= MAX_NODE_NAME_LABEL_BYTES
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
                && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
                && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        })
}

/// Reads a JSON array of at most `MAX` entries (`#[serde(deserialize_with)]`), and
/// stops at the first entry over: the entries past the limit are never built.
pub fn bounded_list<'de, D, T, const MAX: usize>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Bounded<T, const MAX: usize>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for Bounded<T, MAX> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "an array of at most {MAX} entries")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX));
            while let Some(entry) = seq.next_element()? {
                if out.len() == MAX {
                    return Err(serde::de::Error::custom(format_args!(
                        "more than {MAX} entries"
                    )));
                }
                out.push(entry);
            }
            Ok(out)
        }
    }

    deserializer.deserialize_seq(Bounded::<T, MAX>(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_dns_names() {
        for good in [
            "n1",
            "edge-a",
            "k8s-pi-1.cluster.local",
            "PI4",
            &"a".repeat(63),
            &["a".repeat(63).as_str(); 4].join(".")[..253],
        ] {
            assert!(is_node_name(good), "{good:?}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a b",
            "a_b",
            "a/b",
            "a\nb",
            "ünï",
            &"a".repeat(64),
            &["a".repeat(63).as_str(); 5].join("."),
        ] {
            assert!(!is_node_name(bad), "{bad:?}");
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Two {
        #[serde(deserialize_with = "bounded_list::<_, _, 2>")]
        list: Vec<serde_json::Value>,
    }

    #[test]
    fn lists_stop_at_their_bound() {
        let two: Two = serde_json::from_str(r#"{"list":[{},{}]}"#).unwrap();
        assert_eq!(two.list.len(), 2);
        let error = serde_json::from_str::<Two>(r#"{"list":[{},{},{}]}"#)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("more than 2 entries"), "{error}");
        let error = serde_json::from_str::<Two>(r#"{"list":{}}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("an array of at most 2 entries"), "{error}");
    }
}
