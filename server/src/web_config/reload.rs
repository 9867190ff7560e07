//! The web config in force, re-read when its files change on disk.
//!
//! exporter-toolkit re-reads the file on every request and the certificate on every
//! handshake. Here every new connection and every request `stat`s the files the
//! config came from (the config, cert, key, CA: at most four) and reloads only when
//! one changed (identity, size or change time): the same effect, a replaced
//! certificate served from the next connection on, for a few `stat`s instead of a
//! parse and a key load each time. The `stat`s and the reload run on the blocking
//! pool, never on the runtime's threads.
//!
//! A reload that fails (a half-written file, a typo) is logged once per version of
//! the files and the previous config stays in force; the next change is tried again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::files::Stamps;
use super::{load, Loaded, WebConfig, WebConfigError};

pub(crate) struct ConfigSource {
    /// `None`: no `--web.config.file`, plain HTTP, nothing to watch.
    path: Option<PathBuf>,
    state: Mutex<State>,
    /// Held while one task reloads; the others keep serving the current config.
    reloading: tokio::sync::Mutex<()>,
}

struct State {
    config: Arc<WebConfig>,
    stamps: Stamps,
    /// The files' stamps when a reload last failed, so it is not retried (and
    /// logged) on every request until they change again.
    failed: Option<Stamps>,
}

impl ConfigSource {
    /// No web config: plain HTTP without authentication.
    pub(crate) fn none() -> ConfigSource {
        ConfigSource::with(None, Arc::new(WebConfig::default()), Stamps::default())
    }

    /// Loads the config at `path` (on the blocking pool), logging its warnings.
    pub(crate) async fn open(path: &Path) -> Result<ConfigSource, WebConfigError> {
        let owned = path.to_path_buf();
        let loaded = tokio::task::spawn_blocking(move || load(&owned))
            .await
            .unwrap_or_else(|join| {
                Err(WebConfigError::Syntax {
                    path: path.to_path_buf(),
                    message: format!("loading stopped: {join}"),
                })
            })?;
        log_warnings(path, &loaded.warnings);
        Ok(ConfigSource::with(
            Some(path.to_path_buf()),
            Arc::new(loaded.config),
            loaded.stamps,
        ))
    }

    fn with(path: Option<PathBuf>, config: Arc<WebConfig>, stamps: Stamps) -> ConfigSource {
        ConfigSource {
            path,
            state: Mutex::new(State {
                config,
                stamps,
                failed: None,
            }),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The config in force, as loaded at startup.
    pub(crate) fn loaded(&self) -> Arc<WebConfig> {
        self.state().config.clone()
    }

    /// The config in force now: reloaded first if one of its files changed.
    pub(crate) async fn current(&self) -> Arc<WebConfig> {
        let Some(path) = &self.path else {
            return self.loaded();
        };
        let (config, stamps) = {
            let state = self.state();
            (state.config.clone(), state.stamps.clone())
        };
        let previous = stamps.clone();
        let Ok(now) = tokio::task::spawn_blocking(move || stamps.retake()).await else {
            return config;
        };
        if now == previous || self.state().failed.as_ref() == Some(&now) {
            return config;
        }
        // One reload at a time; meanwhile the others serve with what is in force.
        let Ok(_reloading) = self.reloading.try_lock() else {
            return config;
        };
        if self.state().stamps != previous {
            return self.loaded(); // another task reloaded in between
        }
        let owned = path.clone();
        let result = match tokio::task::spawn_blocking(move || load(&owned)).await {
            Ok(result) => result,
            Err(_) => return config,
        };
        self.install(path, result, now)
    }

    fn install(
        &self,
        path: &Path,
        result: Result<Loaded, WebConfigError>,
        now: Stamps,
    ) -> Arc<WebConfig> {
        let mut state = self.state();
        let mut loaded = match result {
            Ok(loaded) if loaded.config.tls.is_some() != state.config.tls.is_some() => {
                tracing::error!(
                    file = %path.display(),
                    "web config reload refused: TLS cannot be switched on or off without a restart; keeping the previous config"
                );
                state.failed = Some(now);
                return state.config.clone();
            }
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!(%error, "web config reload failed; keeping the previous config");
                state.failed = Some(now);
                return state.config.clone();
            }
        };
        // The token bucket outlives a reload that leaves its settings alone.
        if let (Some(old), Some(new)) = (&state.config.rate_limit, &loaded.config.rate_limit) {
            if old.same_settings(new) {
                loaded.config.rate_limit = Some(old.clone());
            }
        }
        log_warnings(path, &loaded.warnings);
        tracing::info!(file = %path.display(), "web config reloaded");
        state.config = Arc::new(loaded.config);
        state.stamps = loaded.stamps;
        state.failed = None;
        state.config.clone()
    }
}

fn log_warnings(path: &Path, warnings: &[String]) {
    for warning in warnings {
        tracing::warn!(file = %path.display(), "web config: {warning}");
    }
}
