//! What the integration tests share: a server on a loopback port in a thread of its
//! own (a current-thread runtime, as edge-exporter runs), raw-socket helpers, and
//! certificates made with rcgen.
#![allow(dead_code)] // each test file uses a part

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::routing::{get, post};
use axum::Router;
use edge_server::ServerOptions;
use http_body::Frame;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

pub struct Server {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn https_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The routes the tests ask for.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "ok\n" }))
        .route("/echo", post(|body: String| async move { body }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late\n"
            }),
        )
        .route("/endless", get(|| async { Body::new(Endless) }))
}

/// A response body that never ends.
struct Endless;

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; 64 * 1024])))))
    }
}

/// Starts `edge_server::serve` on 127.0.0.1 and a free port.
pub fn start(options: ServerOptions) -> Server {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready, started) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = ready.send(());
            let result = edge_server::serve(listener, router(), options, async {
                let _ = stopped.await;
            })
            .await;
            if let Err(error) = result {
                panic!("serve: {error}");
            }
        });
    });
    started.recv().unwrap();
    Server {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// Short timeouts, so the tests take well under a second each.
pub fn quick_options() -> ServerOptions {
    ServerOptions {
        max_connections: 64,
        header_read_timeout: Duration::from_millis(400),
        request_timeout: Duration::from_millis(800),
        idle_timeout: Duration::from_millis(1000),
        web_config_file: None,
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// How a read of a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The server closed it (EOF or reset).
    Closed,
    /// Still open when the test stopped waiting.
    StillOpen,
}

/// Reads until the server closes the connection or `limit` passes; returns what
/// was read, how it ended, and when.
pub fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, End, Duration) {
    let start = Instant::now();
    let mut read = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let left = limit.saturating_sub(start.elapsed());
        if left.is_zero() {
            return (read, End::StillOpen, start.elapsed());
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return (read, End::Closed, start.elapsed()),
            Ok(n) => read.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (read, End::StillOpen, start.elapsed())
            }
            Err(_) => return (read, End::Closed, start.elapsed()),
        }
    }
}

/// Reads one response with a Content-Length body: (status, head, body).
pub fn read_response(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut data = Vec::new();
    let mut byte = [0u8; 1];
    while !data.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).unwrap();
        assert!(
            n > 0,
            "closed inside a response head: {:?}",
            String::from_utf8_lossy(&data)
        );
        data.push(byte[0]);
    }
    let head = String::from_utf8(data).unwrap();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (status, head, body)
}

pub fn get_on(stream: &mut TcpStream, path: &str) -> u16 {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    read_response(stream).0
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Writes `text` to `dir/name` by rename, as a deployment tool replaces a file.
pub fn replace_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let temporary = dir.join(format!(".{name}.new"));
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, &path).unwrap();
    path
}

/// A CA that signs certificates for the tests.
pub struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its key, in PEM, and the certificate's DER.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for localhost and 127.0.0.1, named `common_name`.
    pub fn server(&self, common_name: &str) -> Leaf {
        self.leaf(
            &["localhost", "127.0.0.1"],
            common_name,
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate with the DNS name `san`.
    pub fn client(&self, san: &str) -> Leaf {
        self.leaf(&[san], san, ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn leaf(&self, sans: &[&str], common_name: &str, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

/// Runs curl with `args`; returns (success, stdout, stderr).
pub fn curl(args: &[&str]) -> (bool, String, String) {
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "5"])
        .args(args)
        .output()
        .expect("curl is installed");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
