//! TLS from a web config, with certificates made by rcgen: curl over HTTPS,
//! client certificates (required and verified, allowed SANs), and a certificate
//! replaced on disk served to the next connection without a restart.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use edge_server::ServerOptions;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use support::{curl, replace_file, start, Ca, Server};

/// A server with `config` (relative file names next to it) and the CA in `dir`.
fn tls_server(dir: &Path, config: &str) -> Server {
    let path = replace_file(dir, "web.yml", config);
    edge_server::check_web_config(&path).unwrap();
    start(ServerOptions {
        web_config_file: Some(path),
        ..support::quick_options()
    })
}

/// Writes a CA and a server certificate signed by it; returns the CA.
fn server_files(dir: &Path) -> Ca {
    let ca = Ca::new("test CA");
    let server = ca.server("first");
    replace_file(dir, "ca.pem", &ca.pem);
    replace_file(dir, "cert.pem", &server.cert_pem);
    replace_file(dir, "key.pem", &server.key_pem);
    ca
}

/// curl over HTTPS, trusting `ca.pem` in `dir`; `extra` adds client cert flags.
fn curl_https(server: &Server, dir: &Path, extra: &[&str]) -> (bool, String, String) {
    let resolve = format!("localhost:{}:127.0.0.1", server.addr.port());
    let ca = dir.join("ca.pem");
    let mut args = vec![
        "--resolve",
        &resolve,
        "--cacert",
        ca.to_str().unwrap(),
        "--write-out",
        "%{http_code}",
        "--output",
        "/dev/null",
    ];
    args.extend_from_slice(extra);
    let url = server.https_url("/");
    args.push(&url);
    curl(&args)
}

#[test]
fn serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    server_files(dir.path());
    let server = tls_server(
        dir.path(),
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n",
    );
    let (ok, status, stderr) = curl_https(&server, dir.path(), &[]);
    assert!(ok, "{stderr}");
    assert_eq!(status, "200");

    // Plain HTTP to the TLS port is no request at all.
    let (ok, status, _) = curl(&["--write-out", "%{http_code}", &server.url("/")]);
    assert!(!ok || status != "200", "{status}");
}

#[test]
fn required_client_certificates_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let ca = server_files(dir.path());
    let good = ca.client("scraper.example");
    replace_file(dir.path(), "client.pem", &good.cert_pem);
    replace_file(dir.path(), "client-key.pem", &good.key_pem);
    let stranger = Ca::new("another CA").client("scraper.example");
    replace_file(dir.path(), "stranger.pem", &stranger.cert_pem);
    replace_file(dir.path(), "stranger-key.pem", &stranger.key_pem);
    let server = tls_server(
        dir.path(),
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n",
    );
    let with = |cert: &str, key: &str| {
        let cert = dir.path().join(cert);
        let key = dir.path().join(key);
        curl_https(
            &server,
            dir.path(),
            &[
                "--cert",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ],
        )
    };

    let (ok, status, _) = curl_https(&server, dir.path(), &[]);
    assert!(!ok && status != "200", "no certificate: {status}");
    let (ok, status, _) = with("stranger.pem", "stranger-key.pem");
    assert!(!ok && status != "200", "another CA's certificate: {status}");
    let (ok, status, stderr) = with("client.pem", "client-key.pem");
    assert!(ok, "{stderr}");
    assert_eq!(status, "200");
}

#[test]
fn client_allowed_sans_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let ca = server_files(dir.path());
    for (name, san) in [
        ("allowed", "scraper.example"),
        ("other", "intruder.example"),
    ] {
        let leaf = ca.client(san);
        replace_file(dir.path(), &format!("{name}.pem"), &leaf.cert_pem);
        replace_file(dir.path(), &format!("{name}-key.pem"), &leaf.key_pem);
    }
    let server = tls_server(
        dir.path(),
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  \
         client_allowed_sans: [scraper.example]\n",
    );
    let with = |name: &str| {
        let cert = dir.path().join(format!("{name}.pem"));
        let key = dir.path().join(format!("{name}-key.pem"));
        curl_https(
            &server,
            dir.path(),
            &[
                "--cert",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ],
        )
    };
    let (ok, status, stderr) = with("allowed");
    assert!(ok && status == "200", "{status} {stderr}");
    let (ok, status, _) = with("other");
    assert!(!ok && status != "200", "a SAN not in the list: {status}");
}

/// The certificate the server presents to a new connection.
fn presented_certificate(addr: SocketAddr, ca_pem: &str) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(ca.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut client =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let mut socket = TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    while client.is_handshaking() {
        client.complete_io(&mut socket).unwrap();
    }
    let presented = client.peer_certificates().unwrap()[0].to_vec();
    // And the connection serves: one request over it.
    let mut stream = rustls::Stream::new(&mut client, &mut socket);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut stream, &mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    presented
}

#[test]
fn a_certificate_replaced_on_disk_is_served_to_the_next_connection() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let first = ca.server("first");
    replace_file(dir.path(), "cert.pem", &first.cert_pem);
    replace_file(dir.path(), "key.pem", &first.key_pem);
    let server = tls_server(
        dir.path(),
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n",
    );
    assert_eq!(presented_certificate(server.addr, &ca.pem), first.der);

    // A renewal: new key and certificate, each replaced by rename; in between, the
    // pair does not match and the previous one stays in force.
    let second = ca.server("second");
    replace_file(dir.path(), "key.pem", &second.key_pem);
    assert_eq!(presented_certificate(server.addr, &ca.pem), first.der);
    replace_file(dir.path(), "cert.pem", &second.cert_pem);
    assert_eq!(presented_certificate(server.addr, &ca.pem), second.der);
}
