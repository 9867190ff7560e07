//! edge-server: how edge-exporter, edge-sidecar and edge-master serve HTTP, so that no
//! client can exhaust, hang or read them without permission. Each program builds its
//! `axum::Router`, binds its listener, and hands both to [`serve`].
//!
//! What it adds around the router:
//! - **Limits** ([`ServerOptions`], flags `--web.*`): a cap on open connections
//!   (refused at once beyond it), a deadline for the request head (and the TLS
//!   handshake), one for the request (body read and handler: 408 after it, and the
//!   same again to send the answer), and one for idle keep-alive connections; a
//!   request head of at most 64 KiB (431 beyond). See `connection` for the phases.
//! - **TLS and basic auth** from `--web.config.file`, exporter-toolkit's web config
//!   format, so node_exporter's file works unchanged; the file (and the certificate,
//!   key and CA files it names) is re-read when it changes on disk.
//!
//! Not for: routing, handlers, request-body size limits (axum's extractors have
//! their own), or per-client fairness (one cap for everyone, as a proxy would add).
//!
//! ```no_run
//! # async fn shutdown_signal() {} // the program's own: SIGTERM or Ctrl-C
//! # async fn run(router: axum::Router, matches: clap::ArgMatches) -> Result<(), Box<dyn std::error::Error>> {
//! // Startup: flags → options; a broken web config is a one-line error, exit code 2.
//! let options = edge_server::ServerOptions::from_matches(&matches)?;
//! if let Some(path) = &options.web_config_file {
//!     edge_server::check_web_config(path)?;
//! }
//! let listener = tokio::net::TcpListener::bind("[::]:9100").await?;
//! edge_server::serve(listener, router, options, shutdown_signal()).await?;
//! # Ok(()) }
//! ```
//! (`Command::new(..).args(edge_server::ServerOptions::args())` adds the flags.)
//!
//! ## The web config file, against exporter-toolkit's
//! Read strictly: an unknown key is an error naming it, as exporter-toolkit's strict
//! YAML does. Relative file names are relative to the config file's directory.
//! - `tls_server_config`: `cert_file`/`key_file` or inline `cert`/`key`;
//!   `client_auth_type` (all five, plus the old `RequireClientCert`); `client_ca_file`
//!   or inline `client_ca`; `client_allowed_sans`; `min_version`/`max_version`;
//!   `cipher_suites`; `curve_preferences`; `prefer_server_cipher_suites`.
//! - `http_server_config.headers` (the same five headers and allowed values),
//!   `basic_auth_users` (bcrypt), `rate_limit` (`interval`, `burst`: one token bucket
//!   for all clients, 429 when empty).
//!
//! Differences, each a one-line warning when harmless, an error otherwise:
//! - HTTP/2 is not served: ALPN offers `http/1.1` only, and `http2: true` warns.
//! - rustls has no CBC or RSA-key-exchange cipher suites and *ring* no P-521: such
//!   names in `cipher_suites`/`curve_preferences` warn and are skipped. No curve
//!   left is an error; no TLS 1.2 suite left warns (TLS 1.3 only), or is an error
//!   with `max_version: TLS12`. TLS 1.3 suite names are accepted and ignored, as
//!   in Go (TLS 1.3 suites are not configurable).
//! - TLS 1.0 and 1.1 do not exist in rustls: `min_version: TLS10|TLS11` warns and
//!   means TLS12; `max_version: TLS10|TLS11` is an error.
//! - `client_auth_type` VerifyClientCertIfGiven or RequireAndVerifyClientCert need a
//!   `client_ca_file` (or `client_ca`); Go would fall back to the system roots.
//! - `client_allowed_sans` matches DNS, IP and URI names exactly, as Go does; e-mail
//!   entries are an error (rustls' certificate parser does not expose them).
//! - `rate_limit` with an `interval` but `burst: 0` is an error (Go would refuse
//!   every request).
//! - Both `cert` and `cert_file` (or `key`/`key_file`, `client_ca`/`client_ca_file`)
//!   warn and use the file, as Go does.
//! - A file that breaks after startup is logged and the previous one kept (Go answers
//!   500 until it is fixed); switching TLS on or off needs a restart, as in Go.
//! - Every file is capped at [`MAX_FILE_BYTES`].

mod accept;
mod access;
mod basic_auth;
pub mod compression;
mod connection;
mod options;
mod rate_limit;
mod tls;
mod web_config;

use std::future::Future;
use std::path::Path;

pub use options::{
    ServerOptions, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_REQUEST_TIMEOUT, HEADER_READ_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS,
    MAX_CONNECTIONS_LIMIT, REQUEST_TIMEOUT, WEB_CONFIG_FILE,
};
pub use web_config::{WebConfigError, MAX_FILE_BYTES};

/// Why [`serve`] could not start. Once serving, failures are per connection: logged,
/// never fatal.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Options(#[from] edge_common::flags::FlagError),
    #[error(transparent)]
    WebConfig(#[from] WebConfigError),
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting,
/// closes idle connections, and gives requests under way up to `request_timeout` to
/// finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    accept::serve(vec![listener], router, options, shutdown).await
}

/// [`serve`] on several listeners at once (node_exporter's repeated
/// `--web.listen-address`): one router, one connection cap and one shutdown for all.
pub async fn serve_many(
    listeners: Vec<tokio::net::TcpListener>,
    router: axum::Router,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    accept::serve(listeners, router, options, shutdown).await
}

/// Resolves at the first SIGTERM (what Kubernetes and systemd send) or Ctrl-C: the
/// `shutdown` every program passes to [`serve`].
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate => {},
    }
}

/// Reads and validates a web config file and every file it names, as [`serve`]
/// would. For startup (it reads files, blocking): a program prints the error on
/// one line and exits with 2. Warnings about unsupported settings are logged by
/// [`serve`] when it loads the file.
pub fn check_web_config(path: &Path) -> Result<(), WebConfigError> {
    web_config::load(path).map(|_| ())
}
