//! `node_uname_info` from the uname system call. The values are this process's UTS
//! namespace; the DaemonSet runs with `hostNetwork`, which shares the host's.

use crate::collector::{Collector, CollectorSpec};
use crate::error::CollectError;
use crate::sources::Sources;
use edge_common::exposition::MetricSet;

pub const SPEC: CollectorSpec = CollectorSpec {
    name: "uname",
    enabled_by_default: true,
    args: super::no_args,
    build: |_| Ok(Box::new(Uname)),
};

pub struct Uname;

impl Collector for Uname {
    fn update(&mut self, _: &mut Sources, out: &mut MetricSet) -> Result<(), CollectError> {
        let uts = nix::sys::utsname::uname().map_err(|e| CollectError::System {
            context: "uname".into(),
            source: e.into(),
        })?;
        let text = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
        out.gauge(
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
            &[
                ("domainname", &text(uts.domainname())),
                ("machine", &text(uts.machine())),
                ("nodename", &text(uts.nodename())),
                ("release", &text(uts.release())),
                ("sysname", &text(uts.sysname())),
                ("version", &text(uts.version())),
            ],
            1.0,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_this_kernel() {
        let mut out = MetricSet::new();
        Uname.update(&mut Sources::default(), &mut out).unwrap();
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(
            out.value(
                "node_uname_info",
                &[("sysname", "Linux"), ("release", release.trim())]
            ),
            Some(1.0)
        );
    }
}
