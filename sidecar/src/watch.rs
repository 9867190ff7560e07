//! Live reload of `nodes.conf`, with no restart.
//!
//! A ConfigMap volume makes every file a symlink through `..data`, and an update
//! swaps `..data` atomically: a watch on the file itself sees only IN_DELETE_SELF
//! and then nothing. So the config's directory is watched, any event is taken as
//! "maybe changed", events are debounced, the file is read again and compared; a
//! valid new configuration is applied at once, an invalid one is logged and the
//! last good one stays (reload success 0). A poll every `--reload-poll` covers
//! missed events. Scripts themselves are read on each run, so an edited script is
//! picked up on its next run without any of this.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use crate::config::{self, Source};
use crate::schedule::Scheduler;
use crate::source_states::SourceStates;

/// Events closer than this are one change (a ConfigMap swap is several events).
pub const DEBOUNCE: Duration = Duration::from_millis(200);

pub struct Reloader {
    pub config_path: PathBuf,
    pub default_interval: Duration,
    pub node_name: String,
    pub states: Arc<SourceStates>,
    pub scheduler: Scheduler,
}

impl Reloader {
    /// Reads the config and applies this node's sources if they changed. Returns the
    /// sources now running.
    pub fn reload(&mut self) -> &[Source] {
        match config::load(&self.config_path, self.default_interval) {
            Ok(conf) => {
                let sources = conf.sources_for(&self.node_name).to_vec();
                if sources != self.scheduler.sources() {
                    self.scheduler.apply(&sources);
                }
                self.states.record_reload_success();
            }
            Err(error) => {
                tracing::error!(%error, "nodes.conf not applied; the last good configuration stays");
                self.states.record_reload_failure();
            }
        }
        self.scheduler.sources()
    }

    /// Watches the config's directory and polls every `poll`; never returns.
    pub fn watch(mut self, poll: Duration) {
        let (events, changes) = mpsc::channel();
        let watcher = notify::recommended_watcher(move |event| {
            // The receiver lives as long as this loop: a send error cannot matter.
            let _ = events.send(event);
        });
        let directory = self
            .config_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), PathBuf::from);
        let _watcher = match watcher {
            Ok(mut watcher) => match watcher.watch(&directory, RecursiveMode::NonRecursive) {
                Ok(()) => Some(watcher),
                Err(error) => {
                    tracing::warn!(dir = %directory.display(), %error, "cannot watch the config directory; polling only");
                    None
                }
            },
            Err(error) => {
                tracing::warn!(%error, "no file watcher; polling only");
                None
            }
        };
        let mut next_poll = Instant::now() + poll;
        loop {
            let wait = next_poll.saturating_duration_since(Instant::now());
            match changes.recv_timeout(wait) {
                Ok(event) => {
                    if let Err(error) = event {
                        tracing::debug!(%error, "watch error");
                    }
                    // Let the burst of a swap settle, then read once.
                    let settle = Instant::now() + DEBOUNCE;
                    while let Ok(_more) =
                        changes.recv_timeout(settle.saturating_duration_since(Instant::now()))
                    {
                    }
                    self.reload();
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.reload();
                    next_poll = Instant::now() + poll;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(poll);
                    self.reload();
                }
            }
        }
    }
}
