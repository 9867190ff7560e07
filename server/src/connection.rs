//! One connection, from accept to close, with a deadline in every phase:
//!
//! | phase         | from                                  | deadline            | then       |
//! |---------------|---------------------------------------|---------------------|------------|
//! | `ReadingHead` | accept (so the TLS handshake counts), or the first byte after `Idle` | header read | close |
//! | `Handling`    | end of the request head               | request (`access`)  | 408, close |
//! | `Responding`  | the handler's answer                  | request, again      | close      |
//! | `Idle`        | end of the response body              | idle                | close      |
//!
//! Deadlines count from the start of a phase, never from the last byte, so a
//! client that trickles bytes gains nothing. A watchdog beside hyper's connection
//! future closes the connection by dropping it when the phase's deadline passes.
//!
//! Not chosen: hyper's own `header_read_timeout`. It also runs while a keep-alive
//! connection waits for its next request, so it would cut idle connections at the
//! header timeout and leave no separate idle timeout.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::access::Access;

/// The largest request head (request line and headers) read; a larger one gets
/// 431. hyper's default (about 400 KiB) times the connection cap would let idle
/// clients pin ~100 MiB on a small board; a scrape's head is a few hundred bytes.
/// It also caps hyper's read and write buffers per connection.
pub(crate) const MAX_REQUEST_HEAD_BYTES: usize = 64 * 1024;

/// The three timeouts, from [`ServerOptions`](crate::ServerOptions).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub header_read: Duration,
    pub request: Duration,
    pub idle: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    ReadingHead,
    Handling,
    Responding,
    Idle,
}

/// The connection's phase and when it began, shared by the reader, the service,
/// the response body and the watchdog.
struct Clock {
    phase: watch::Sender<(Phase, Instant)>,
    timeouts: Timeouts,
}

impl Clock {
    fn new(timeouts: Timeouts, accepted: Instant) -> Clock {
        Clock {
            phase: watch::Sender::new((Phase::ReadingHead, accepted)),
            timeouts,
        }
    }

    fn enter(&self, phase: Phase) {
        self.phase.send_replace((phase, Instant::now()));
    }

    /// Bytes arrived: after an idle spell they start the next request head.
    fn bytes_read(&self) {
        if self.phase.borrow().0 == Phase::Idle {
            self.phase.send_if_modified(|current| {
                let idle = current.0 == Phase::Idle;
                if idle {
                    *current = (Phase::ReadingHead, Instant::now());
                }
                idle
            });
        }
    }

    /// Waiting for a client, not serving one: safe to close at shutdown.
    fn is_waiting(&self) -> bool {
        matches!(self.phase.borrow().0, Phase::ReadingHead | Phase::Idle)
    }

    fn deadline(&self, (phase, since): (Phase, Instant)) -> Option<(Instant, Duration)> {
        let timeout = match phase {
            Phase::ReadingHead => self.timeouts.header_read,
            // The handler runs under `access`'s timeout, which answers 408.
            Phase::Handling => return None,
            Phase::Responding => self.timeouts.request,
            Phase::Idle => self.timeouts.idle,
        };
        Some((since + timeout, timeout))
    }

    /// Resolves when the current phase outlives its deadline.
    async fn expired(&self) -> (Phase, Duration) {
        let mut changes = self.phase.subscribe();
        loop {
            let current = *changes.borrow_and_update();
            match self.deadline(current) {
                Some((at, timeout)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {
                            if !changes.has_changed().unwrap_or(false) {
                                return (current.0, timeout);
                            }
                        }
                        _ = changes.changed() => {}
                    }
                }
                None => {
                    // The sender lives in `self`, so this only returns on a change.
                    let _ = changes.changed().await;
                }
            }
        }
    }
}

/// Serves one accepted connection until it ends; the permit (its slot under the
/// connection cap) is released when this returns, however it ends.
pub(crate) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    access: Arc<Access>,
    timeouts: Timeouts,
    stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let accepted = Instant::now();
    let clock = Arc::new(Clock::new(timeouts, accepted));
    let Some(tls) = access.source().loaded().tls.clone() else {
        return drive(stream, peer, access, clock, stop).await;
    };
    // The handshake is part of reading the head: same deadline, from accept.
    let handshake = async {
        // A certificate replaced on disk is picked up here, for this connection.
        let tls = access.source().current().await.tls.clone().unwrap_or(tls);
        tokio_rustls::TlsAcceptor::from(tls).accept(stream).await
    };
    match tokio::time::timeout_at(accepted + timeouts.header_read, handshake).await {
        Ok(Ok(stream)) => drive(stream, peer, access, clock, stop).await,
        Ok(Err(error)) if error.kind() == io::ErrorKind::InvalidData => {
            tracing::info!(%peer, %error, "TLS handshake refused, connection closed");
        }
        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake ended"),
        Err(_) => tracing::info!(
            %peer,
            timeout = ?timeouts.header_read,
            "TLS handshake timed out, connection closed"
        ),
    }
}

async fn drive<S>(
    stream: S,
    peer: SocketAddr,
    access: Arc<Access>,
    clock: Arc<Clock>,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service_clock = clock.clone();
    let service = hyper::service::service_fn(move |request| {
        let access = access.clone();
        let clock = service_clock.clone();
        clock.enter(Phase::Handling);
        async move {
            let response = access.respond(request, peer).await;
            clock.enter(Phase::Responding);
            Ok::<_, std::convert::Infallible>(response.map(|body| PhaseBody::new(body, clock)))
        }
    });
    let io = TokioIo::new(ClockedStream {
        inner: stream,
        clock: clock.clone(),
    });
    let mut builder = http1::Builder::new();
    // Ours is the watchdog below (see the module doc).
    builder.header_read_timeout(None);
    builder.max_header_size(MAX_REQUEST_HEAD_BYTES);
    builder.max_buf_size(MAX_REQUEST_HEAD_BYTES);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            (phase, timeout) = clock.expired() => {
                match phase {
                    Phase::Idle => tracing::debug!(%peer, ?timeout, "idle connection closed"),
                    Phase::ReadingHead => tracing::info!(%peer, ?timeout, "request head not received in time, connection closed"),
                    _ => tracing::info!(%peer, ?timeout, "response not delivered in time, connection closed"),
                }
                return; // dropping the connection closes the socket
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                if clock.is_waiting() {
                    return;
                }
                // Finish the request under way, then close.
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The connection's stream, telling the clock when request bytes arrive. Below TLS
/// it would also count handshake and alert records; above it only request bytes.
struct ClockedStream<S> {
    inner: S,
    clock: Arc<Clock>,
}

impl<S: AsyncRead + Unpin> AsyncRead for ClockedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ClockedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body that moves the clock to `Idle` when it ends or is dropped.
struct PhaseBody {
    inner: Body,
    clock: Option<Arc<Clock>>,
}

impl PhaseBody {
    fn new(inner: Body, clock: Arc<Clock>) -> PhaseBody {
        PhaseBody {
            inner,
            clock: Some(clock),
        }
    }

    fn finish(&mut self) {
        if let Some(clock) = self.clock.take() {
            clock.enter(Phase::Idle);
        }
    }
}

impl Drop for PhaseBody {
    fn drop(&mut self) {
        self.finish();
    }
}

impl http_body::Body for PhaseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.finish();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
