//! The accept loop: the connection cap, refusals beyond it, and shutdown.
//!
//! Each connection holds a permit of one semaphore for as long as its task runs,
//! and gives it back when the task ends, whichever way (answered, timed out,
//! reset). At the cap a new connection is accepted and closed at once, after a 503
//! written without waiting when it is plain HTTP. Not chosen: leaving it in the
//! kernel's backlog until a slot frees, where a client waits without an answer for
//! up to a timeout and the backlog fills for everyone.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::access::Access;
use crate::connection::{self, Timeouts};
use crate::web_config::ConfigSource;
use crate::{ServeError, ServerOptions};

/// A pause after an accept error that is not one connection's (out of file
/// descriptors, say), so the loop does not spin while it lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);
/// Refusals at the cap are logged once per interval, with a count, so a flood of
/// connections does not become a flood of log lines.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// What a plain-HTTP connection beyond the cap is told before it is closed.
const SERVICE_UNAVAILABLE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
    Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 21\r\n\r\n\
    too many connections\n";

pub(crate) async fn serve(
    listeners: Vec<TcpListener>,
    router: axum::Router,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    options.check()?;
    let source = match &options.web_config_file {
        Some(path) => ConfigSource::open(path).await?,
        None => ConfigSource::none(),
    };
    let tls = source.loaded().tls.is_some();
    let access = Arc::new(Access::new(
        router,
        Arc::new(source),
        options.request_timeout,
    ));
    let timeouts = Timeouts {
        header_read: options.header_read_timeout,
        request: options.request_timeout,
        idle: options.idle_timeout,
    };
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let (stop, stopped) = watch::channel(false);
    let mut refusals = Refusals::default();
    tracing::info!(
        addresses = ?listeners.iter().filter_map(|l| l.local_addr().ok()).collect::<Vec<_>>(),
        tls,
        max_connections = options.max_connections,
        header_read_timeout = ?options.header_read_timeout,
        request_timeout = ?options.request_timeout,
        idle_timeout = ?options.idle_timeout,
        "serving HTTP"
    );

    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept_any(&listeners) => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) if is_one_connections(&error) => continue,
            Err(error) => {
                tracing::warn!(%error, pause = ?ACCEPT_ERROR_PAUSE, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                tokio::spawn(connection::run(
                    stream,
                    peer,
                    access.clone(),
                    timeouts,
                    stopped.clone(),
                    slot,
                ));
            }
            Err(_) => refusals.refuse(stream, peer, tls, options.max_connections),
        }
    }

    // Stop accepting, close what waits for a client, let requests under way finish.
    drop(listeners);
    stop.send_replace(true);
    let every_slot = u32::try_from(options.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(options.request_timeout, slots.acquire_many(every_slot))
        .await
        .is_err()
    {
        tracing::warn!(
            open = options.max_connections - slots.available_permits(),
            "connections still open at shutdown, dropped"
        );
    }
    Ok(())
}

/// The next connection on any of the listeners (the first ready one in order).
async fn accept_any(listeners: &[TcpListener]) -> io::Result<(TcpStream, SocketAddr)> {
    std::future::poll_fn(|cx| {
        for listener in listeners {
            if let std::task::Poll::Ready(accepted) = listener.poll_accept(cx) {
                return std::task::Poll::Ready(accepted);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// An accept error about the one connection, not the listener.
fn is_one_connections(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    )
}

/// Connections refused at the cap, counted and logged at most once per interval.
#[derive(Default)]
struct Refusals {
    total: u64,
    unlogged: u64,
    last_logged: Option<Instant>,
}

impl Refusals {
    fn refuse(&mut self, stream: TcpStream, peer: SocketAddr, tls: bool, cap: usize) {
        if !tls {
            // A new socket's send buffer is empty: this never waits.
            let _ = stream.try_write(SERVICE_UNAVAILABLE);
        }
        drop(stream);
        self.total += 1;
        self.unlogged += 1;
        let now = Instant::now();
        if self
            .last_logged
            .is_none_or(|last| now.duration_since(last) >= REFUSAL_LOG_INTERVAL)
        {
            tracing::warn!(
                %peer,
                max_connections = cap,
                refused = self.unlogged,
                refused_total = self.total,
                "connection refused: at --web.max-connections"
            );
            self.unlogged = 0;
            self.last_logged = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_503_is_well_formed() {
        let text = std::str::from_utf8(SERVICE_UNAVAILABLE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }
}
