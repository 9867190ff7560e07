//! The web config over plain HTTP: basic auth (curl and ureq as clients), the
//! security headers, the rate limit, a reload of the users, and the startup check's
//! messages for broken files.

mod support;

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use edge_server::ServerOptions;
use support::{curl, replace_file, start, Server};

fn server_with(dir: &Path, config: &str) -> Server {
    let path = replace_file(dir, "web.yml", config);
    start(ServerOptions {
        web_config_file: Some(path),
        ..support::quick_options()
    })
}

/// A bcrypt hash at the lowest cost, to keep the tests fast.
fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

fn users_config(user: &str, password: &str) -> String {
    format!("basic_auth_users:\n  {user}: {}\n", hash(password))
}

/// Status and `WWW-Authenticate` of a GET with curl, with `-u credentials`.
fn curl_get(server: &Server, credentials: Option<&str>) -> (String, bool) {
    let mut args = vec![
        "--include",
        "--output",
        "-",
        "--write-out",
        "\n%{http_code}",
    ];
    if let Some(credentials) = credentials {
        args.extend(["--user", credentials]);
    }
    let url = server.url("/");
    args.push(&url);
    let (_, out, _) = curl(&args);
    let status = out.lines().last().unwrap_or_default().to_string();
    let challenged = out.to_ascii_lowercase().contains("www-authenticate: basic");
    (status, challenged)
}

fn ureq_get(server: &Server, credentials: Option<&str>) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(server.url("/"));
    if let Some(credentials) = credentials {
        request = request.header(
            "Authorization",
            format!("Basic {}", STANDARD.encode(credentials)),
        );
    }
    request.call().unwrap().status().as_u16()
}

#[test]
fn basic_auth_admits_the_right_password_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), &users_config("alice", "secret"));

    assert_eq!(
        curl_get(&server, Some("alice:secret")),
        ("200".into(), false)
    );
    assert_eq!(curl_get(&server, Some("alice:wrong")), ("401".into(), true));
    assert_eq!(
        curl_get(&server, Some("mallory:secret")),
        ("401".into(), true)
    );
    assert_eq!(curl_get(&server, None), ("401".into(), true));

    assert_eq!(ureq_get(&server, Some("alice:secret")), 200);
    assert_eq!(ureq_get(&server, Some("alice:wrong")), 401);
    assert_eq!(ureq_get(&server, None), 401);
}

#[test]
fn a_changed_users_list_is_used_from_the_next_request_and_a_broken_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), &users_config("alice", "secret"));
    assert_eq!(ureq_get(&server, Some("alice:secret")), 200);

    replace_file(dir.path(), "web.yml", &users_config("alice", "rotated"));
    assert_eq!(ureq_get(&server, Some("alice:secret")), 401);
    assert_eq!(ureq_get(&server, Some("alice:rotated")), 200);

    // A typo after startup: logged, and the last good config stays in force.
    replace_file(
        dir.path(),
        "web.yml",
        "basic_auth_users:\n  alice: [not, a, hash]\n",
    );
    assert_eq!(ureq_get(&server, Some("alice:rotated")), 200);
    assert_eq!(ureq_get(&server, None), 401);
}

#[test]
fn configured_headers_go_on_every_response() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n",
        users_config("alice", "secret")
    );
    let server = server_with(dir.path(), &config);
    for credentials in ["alice:secret", "alice:wrong"] {
        let url = server.url("/");
        let (_, out, _) = curl(&["--include", "--user", credentials, &url]);
        let out = out.to_ascii_lowercase();
        assert!(out.contains("x-frame-options: deny"), "{out}");
        assert!(out.contains("x-content-type-options: nosniff"), "{out}");
    }
}

#[test]
fn the_rate_limit_answers_429_past_the_burst() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), "rate_limit:\n  interval: 1m\n  burst: 2\n");
    let statuses: Vec<u16> = (0..4).map(|_| ureq_get(&server, None)).collect();
    assert_eq!(statuses, [200, 200, 429, 429]);
}

/// The startup check's message for `config` (files named in it are under `dir`).
fn check_message(dir: &Path, config: &str) -> String {
    let path = replace_file(dir, "web.yml", config);
    let error = edge_server::check_web_config(&path)
        .unwrap_err()
        .to_string();
    error.replace(&dir.display().to_string(), "DIR")
}

#[test]
fn broken_configs_are_refused_naming_the_key_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    let message = check_message(
        dir,
        "tls_server_config:\n  cert_file: c.pem\n  keyfile: k.pem\n",
    );
    assert!(message.starts_with("web config DIR/web.yml: "), "{message}");
    assert!(message.contains("unknown field `keyfile`"), "{message}");

    let message = check_message(
        dir,
        "tls_server_config:\n  cert_file: missing.pem\n  key_file: k.pem\n",
    );
    assert!(
        message
            .starts_with("web config DIR/web.yml: tls_server_config.cert_file: DIR/missing.pem: "),
        "{message}"
    );

    let message = check_message(dir, "basic_auth_users:\n  alice: $2y$10$short\n");
    assert!(
        message.starts_with("web config DIR/web.yml: basic_auth_users.alice: not a bcrypt hash"),
        "{message}"
    );

    std::fs::write(dir.join("junk.pem"), "not a certificate").unwrap();
    let message = check_message(
        dir,
        "tls_server_config:\n  cert_file: junk.pem\n  key_file: junk.pem\n",
    );
    assert!(
        message.contains("tls_server_config.cert_file: no CERTIFICATE block"),
        "{message}"
    );

    let missing = dir.join("absent.yml");
    let message = edge_server::check_web_config(&missing)
        .unwrap_err()
        .to_string();
    assert!(message.contains("absent.yml: No such file"), "{message}");

    assert!(edge_server::check_web_config(&replace_file(dir, "web.yml", "")).is_ok());
}
