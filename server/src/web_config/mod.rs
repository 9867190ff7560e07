//! The web config file, exporter-toolkit's `--web.config.file` format: parsed
//! strictly (an unknown key is an error naming it), checked, and turned into what
//! serving needs: a rustls config, the users, the headers, the rate limiter.
//! `load` is blocking file I/O; [`ConfigSource`] runs it off the async runtime.

mod files;
mod reload;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use edge_common::duration::parse_go_duration;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use crate::rate_limit::RateLimiter;
use crate::tls::{self, ClientAuth, CurveName, SuiteName, TlsSettings, TlsVersion};
pub use files::MAX_FILE_BYTES;
pub(crate) use reload::ConfigSource;

/// Why a web config cannot be used; the message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The config file itself cannot be read.
    #[error("web config {}: {error}", path.display())]
    Read { path: PathBuf, error: io::Error },
    /// Not YAML of the right shape: unknown keys, wrong types, duplicates.
    #[error("web config {}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    /// A key's value, or a file it names, is unusable.
    #[error("web config {}: {key}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

// The file's shape. Every key optional, as in exporter-toolkit; a key given as null
// means unset, as Go's YAML decoder has it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    tls_server_config: Option<TlsFormat>,
    http_server_config: Option<HttpFormat>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    rate_limit: Option<RateLimitFormat>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFormat {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFormat {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitFormat {
    interval: Option<GoDuration>,
    burst: Option<u32>,
}

/// Go's YAML decoder takes a `time.Duration` as text (`1s`) or as nanoseconds.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum GoDuration {
    Nanoseconds(u64),
    Text(String),
}

/// The headers exporter-toolkit lets a config add, with the values allowed where
/// the header has a fixed set.
const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// A checked web config, ready to serve with.
#[derive(Debug, Default)]
pub(crate) struct WebConfig {
    /// Present when the file configures TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// User name → bcrypt hash; empty means no authentication.
    pub users: BTreeMap<String, String>,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub rate_limit: Option<Arc<RateLimiter>>,
}

/// A config as loaded: what to serve with, the files it came from, and what it
/// asked for that is not done (one line each).
#[derive(Debug)]
pub(crate) struct Loaded {
    pub config: WebConfig,
    pub stamps: files::Stamps,
    pub warnings: Vec<String>,
}

/// Reads and checks the config at `path` and the files it names. Blocking.
pub(crate) fn load(path: &Path) -> Result<Loaded, WebConfigError> {
    let mut stamps = files::Stamps::default();
    stamps.add(path);
    let bytes = files::read_bounded(path).map_err(|error| WebConfigError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    // An empty file (or only comments) is an empty config, as in Go.
    let format: Option<FileFormat> =
        yaml_serde::from_slice(&bytes).map_err(|e| WebConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let format = format.unwrap_or_default();
    let mut loader = Loader {
        path,
        dir: path.parent().unwrap_or(Path::new(".")),
        stamps,
        warnings: Vec::new(),
    };
    let http = format.http_server_config.unwrap_or_default();
    if http.http2 == Some(true) {
        loader.warn("http_server_config.http2: HTTP/2 is not served; clients use HTTP/1.1");
    }
    let config = WebConfig {
        tls: loader.tls(format.tls_server_config.unwrap_or_default())?,
        users: loader.users(format.basic_auth_users.unwrap_or_default())?,
        headers: loader.headers(http.headers.unwrap_or_default())?,
        rate_limit: loader.rate_limit(format.rate_limit.unwrap_or_default())?,
    };
    Ok(Loaded {
        config,
        stamps: loader.stamps,
        warnings: loader.warnings,
    })
}

/// One load: where relative names start, the files read so far, the warnings.
struct Loader<'a> {
    path: &'a Path,
    dir: &'a Path,
    stamps: files::Stamps,
    warnings: Vec<String>,
}

impl Loader<'_> {
    fn invalid(&self, key: &str, message: impl ToString) -> WebConfigError {
        WebConfigError::Invalid {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            message: message.to_string(),
        }
    }

    fn warn(&mut self, message: impl ToString) {
        self.warnings.push(message.to_string());
    }

    /// The PEM text of `file_key` (a file name) or else `inline_key`; `None` if
    /// neither is set. Both set: the file wins, as in Go.
    fn pem(
        &mut self,
        file_key: &str,
        file: Option<String>,
        inline_key: &str,
        inline: Option<String>,
    ) -> Result<Option<(String, Vec<u8>)>, WebConfigError> {
        let file = file.filter(|f| !f.is_empty());
        let inline = inline.filter(|i| !i.is_empty());
        match (file, inline) {
            (Some(file), inline) => {
                if inline.is_some() {
                    self.warn(format!(
                        "tls_server_config: both {inline_key} and {file_key} are set; using {file_key}"
                    ));
                }
                let path = self.dir.join(file);
                self.stamps.add(&path);
                let bytes = files::read_bounded(&path).map_err(|e| {
                    self.invalid(
                        &format!("tls_server_config.{file_key}"),
                        format!("{}: {e}", path.display()),
                    )
                })?;
                Ok(Some((format!("tls_server_config.{file_key}"), bytes)))
            }
            (None, Some(inline)) => Ok(Some((
                format!("tls_server_config.{inline_key}"),
                inline.into_bytes(),
            ))),
            (None, None) => Ok(None),
        }
    }

    fn certificates(
        &self,
        key: &str,
        pem: &[u8],
    ) -> Result<Vec<CertificateDer<'static>>, WebConfigError> {
        let certificates = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.invalid(key, format!("bad PEM: {e}")))?;
        if certificates.is_empty() {
            return Err(self.invalid(key, "no CERTIFICATE block"));
        }
        Ok(certificates)
    }

    fn tls(
        &mut self,
        format: TlsFormat,
    ) -> Result<Option<Arc<rustls::ServerConfig>>, WebConfigError> {
        let cert = self.pem("cert_file", format.cert_file, "cert", format.cert)?;
        let key = self.pem("key_file", format.key_file, "key", format.key)?;
        let ca = self.pem(
            "client_ca_file",
            format.client_ca_file,
            "client_ca",
            format.client_ca,
        )?;
        let client_auth_name = format.client_auth_type.unwrap_or_default();
        // Go's TLSConfig.IsEnabled: any of these turns TLS on.
        if cert.is_none() && key.is_none() && ca.is_none() && client_auth_name.is_empty() {
            if format.min_version.is_some()
                || format.max_version.is_some()
                || format.cipher_suites.is_some()
                || format.curve_preferences.is_some()
                || format.client_allowed_sans.is_some()
            {
                self.warn("tls_server_config: no certificate given; TLS is off");
            }
            return Ok(None);
        }
        let (cert_key, cert) = cert
            .ok_or_else(|| self.invalid("tls_server_config", "missing one of cert or cert_file"))?;
        let (key_key, key) =
            key.ok_or_else(|| self.invalid("tls_server_config", "missing one of key or key_file"))?;
        let chain = self.certificates(&cert_key, &cert)?;
        let key = PrivateKeyDer::from_pem_slice(&key)
            .map_err(|e| self.invalid(&key_key, format!("no usable private key: {e}")))?;
        let client_cas = match &ca {
            Some((ca_key, pem)) => self.certificates(ca_key, pem)?,
            None => Vec::new(),
        };

        let client_auth = ClientAuth::from_go_name(&client_auth_name).ok_or_else(|| {
            self.invalid(
                "tls_server_config.client_auth_type",
                format!("invalid value {client_auth_name:?}"),
            )
        })?;
        if !client_cas.is_empty() && client_auth == ClientAuth::NoClientCert {
            return Err(self.invalid(
                "tls_server_config.client_auth_type",
                "client CA's have been configured without a client auth policy",
            ));
        }
        if client_auth.verifies() && client_cas.is_empty() {
            return Err(self.invalid(
                "tls_server_config.client_ca_file",
                format!("{client_auth_name} needs the CA that signs the client certificates"),
            ));
        }
        let allowed_sans = match format.client_allowed_sans {
            None => None,
            Some(sans) => {
                if !client_auth.requires_certificate() {
                    return Err(self.invalid(
                        "tls_server_config.client_allowed_sans",
                        "needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert",
                    ));
                }
                let sans = sans
                    .iter()
                    .map(|san| tls::AllowedSan::parse(san))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| self.invalid("tls_server_config.client_allowed_sans", e))?;
                Some(sans)
            }
        };

        let min = self.version("min_version", format.min_version, TlsVersion::Tls12)?;
        let max = self.version("max_version", format.max_version, TlsVersion::Tls13)?;
        if max < TlsVersion::Tls12 {
            return Err(self.invalid(
                "tls_server_config.max_version",
                "TLS 1.0 and 1.1 are not supported; use TLS12 or TLS13",
            ));
        }
        if min > max {
            return Err(self.invalid("tls_server_config.min_version", "is above max_version"));
        }
        if min < TlsVersion::Tls12 {
            self.warn("tls_server_config.min_version: TLS 1.0 and 1.1 are not supported; TLS12 is the minimum");
        }

        let cipher_suites = match format.cipher_suites {
            None => None,
            Some(names) => Some(self.cipher_suites(&names, max)?),
        };
        let kx_groups = match format.curve_preferences {
            None => None,
            Some(names) => Some(self.curves(&names)?),
        };

        let settings = TlsSettings {
            chain,
            key,
            client_auth,
            client_cas,
            allowed_sans,
            min_version: min,
            max_version: max,
            cipher_suites,
            kx_groups,
            prefer_server_order: format.prefer_server_cipher_suites.unwrap_or(true),
        };
        tls::server_config(settings)
            .map(Some)
            .map_err(|e| self.invalid("tls_server_config", e))
    }

    fn version(
        &self,
        key: &str,
        name: Option<String>,
        default: TlsVersion,
    ) -> Result<TlsVersion, WebConfigError> {
        match name.filter(|n| !n.is_empty()) {
            None => Ok(default),
            Some(name) => TlsVersion::from_go_name(&name).ok_or_else(|| {
                self.invalid(
                    &format!("tls_server_config.{key}"),
                    format!("unknown TLS version {name:?}"),
                )
            }),
        }
    }

    fn cipher_suites(
        &mut self,
        names: &[String],
        max: TlsVersion,
    ) -> Result<Vec<rustls::SupportedCipherSuite>, WebConfigError> {
        const KEY: &str = "tls_server_config.cipher_suites";
        let mut suites = Vec::new();
        for name in names {
            match tls::cipher_suite(name) {
                SuiteName::Tls12(suite) => suites.push(suite),
                // Go does not let a config choose TLS 1.3 suites either.
                SuiteName::Tls13 => {}
                SuiteName::NotInRustls => self.warn(format!(
                    "{KEY}: {name} is not implemented by rustls (CBC or RSA key exchange); skipped"
                )),
                SuiteName::Unknown => {
                    return Err(self.invalid(KEY, format!("unknown cipher suite {name:?}")))
                }
            }
        }
        if suites.is_empty() && max >= TlsVersion::Tls12 && !names.is_empty() {
            // TLS 1.3 still works; say that TLS 1.2 clients will not.
            self.warn(format!(
                "{KEY}: no TLS 1.2 suite left; only TLS 1.3 clients can connect"
            ));
        }
        Ok(suites)
    }

    fn curves(
        &mut self,
        names: &[String],
    ) -> Result<Vec<&'static dyn rustls::crypto::SupportedKxGroup>, WebConfigError> {
        const KEY: &str = "tls_server_config.curve_preferences";
        let mut groups = Vec::new();
        for name in names {
            match tls::curve(name) {
                CurveName::Group(group) => groups.push(group),
                CurveName::NotInRing => self.warn(format!(
                    "{KEY}: {name} is not implemented by the ring provider; skipped"
                )),
                CurveName::Unknown => {
                    return Err(self.invalid(KEY, format!("unknown curve {name:?}")))
                }
            }
        }
        if groups.is_empty() && !names.is_empty() {
            return Err(self.invalid(KEY, "none of the curves is supported"));
        }
        Ok(groups)
    }

    fn users(
        &self,
        users: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, WebConfigError> {
        for (user, hash) in &users {
            // The hash is a secret of sorts: the message names the user only.
            hash.parse::<bcrypt::HashParts>().map_err(|e| {
                self.invalid(
                    &format!("basic_auth_users.{user}"),
                    format!("not a bcrypt hash: {e}"),
                )
            })?;
        }
        Ok(users)
    }

    fn headers(
        &self,
        headers: BTreeMap<String, String>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, WebConfigError> {
        let mut out = Vec::new();
        for (name, value) in headers {
            let key = format!("http_server_config.headers.{name}");
            let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(known, _)| *known == name)
            else {
                return Err(self.invalid(&key, "this header can not be configured"));
            };
            // "Unset if blank."
            if value.is_empty() {
                continue;
            }
            if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
                return Err(self.invalid(
                    &key,
                    format!("invalid value {value:?}, expected one of {allowed:?}"),
                ));
            }
            let header_value = HeaderValue::from_str(&value).map_err(|e| self.invalid(&key, e))?;
            let header_name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|e| self.invalid(&key, e))?;
            out.push((header_name, header_value));
        }
        Ok(out)
    }

    fn rate_limit(
        &self,
        format: RateLimitFormat,
    ) -> Result<Option<Arc<RateLimiter>>, WebConfigError> {
        let interval = match format.interval {
            None => Duration::ZERO,
            Some(GoDuration::Nanoseconds(n)) => Duration::from_nanos(n),
            Some(GoDuration::Text(text)) => {
                parse_go_duration(&text).map_err(|e| self.invalid("rate_limit.interval", e))?
            }
        };
        // "set to 0 to disable rate limiter"
        if interval.is_zero() {
            return Ok(None);
        }
        let burst = format.burst.unwrap_or(0);
        if burst == 0 {
            return Err(self.invalid(
                "rate_limit.burst",
                "must be at least 1 when an interval is set (0 would refuse every request)",
            ));
        }
        Ok(Some(Arc::new(RateLimiter::new(interval, burst))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Loaded, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(&path, text).unwrap();
        load(&path).map_err(|e| {
            e.to_string()
                .replace(&dir.path().display().to_string(), "DIR")
        })
    }

    #[test]
    fn empty_and_null_configs_are_plain_http() {
        for text in ["", "# nothing\n", "tls_server_config:\nbasic_auth_users:\n"] {
            let loaded = load_text(text).unwrap();
            assert!(loaded.config.tls.is_none(), "{text:?}");
            assert!(loaded.config.users.is_empty());
            assert!(loaded.warnings.is_empty());
        }
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = load_text("basic_auth_user:\n  a: b\n").unwrap_err();
        assert!(e.contains("unknown field `basic_auth_user`"), "{e}");
        let e = load_text("tls_server_config:\n  certfile: x\n").unwrap_err();
        assert!(e.contains("unknown field `certfile`"), "{e}");
        let e = load_text("http_server_config:\n  header: {}\n").unwrap_err();
        assert!(e.contains("unknown field `header`"), "{e}");
    }

    #[test]
    fn checks_users_headers_and_rate_limit() {
        let e = load_text("basic_auth_users:\n  alice: plaintext\n").unwrap_err();
        assert!(
            e.starts_with("web config DIR/web.yml: basic_auth_users.alice: not a bcrypt hash"),
            "{e}"
        );
        assert!(!e.contains("plaintext"), "{e}");

        let e =
            load_text("http_server_config:\n  headers:\n    X-Frame-Options: allow\n").unwrap_err();
        assert!(
            e.contains("http_server_config.headers.X-Frame-Options: invalid value \"allow\""),
            "{e}"
        );
        let e = load_text("http_server_config:\n  headers:\n    Server: x\n").unwrap_err();
        assert!(
            e.contains("headers.Server: this header can not be configured"),
            "{e}"
        );
        let loaded = load_text(
            "http_server_config:\n  http2: true\n  headers:\n    X-Frame-Options: deny\n    Content-Security-Policy: \"\"\n",
        )
        .unwrap();
        assert_eq!(loaded.config.headers.len(), 1);
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);

        assert!(load_text("rate_limit:\n  interval: 1s\n  burst: 5\n")
            .unwrap()
            .config
            .rate_limit
            .is_some());
        assert!(load_text("rate_limit:\n  interval: 0\n  burst: 5\n")
            .unwrap()
            .config
            .rate_limit
            .is_none());
        let e = load_text("rate_limit:\n  interval: 1s\n").unwrap_err();
        assert!(e.contains("rate_limit.burst: must be at least 1"), "{e}");
        let e = load_text("rate_limit:\n  interval: 5\n  burst: 1\n");
        assert!(e.is_ok(), "nanoseconds, as Go reads an integer: {e:?}");
        let e = load_text("rate_limit:\n  interval: 5x\n  burst: 1\n").unwrap_err();
        assert!(e.contains("rate_limit.interval: unknown unit"), "{e}");
    }

    #[test]
    fn tls_needs_both_cert_and_key() {
        let e = load_text("tls_server_config:\n  cert_file: missing.pem\n").unwrap_err();
        assert!(
            e.starts_with("web config DIR/web.yml: tls_server_config.cert_file: DIR/missing.pem: No such file"),
            "{e}"
        );
        let e = load_text("tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n")
            .unwrap_err();
        assert!(
            e.contains("tls_server_config: missing one of cert or cert_file"),
            "{e}"
        );
        let loaded = load_text("tls_server_config:\n  min_version: TLS13\n").unwrap();
        assert!(loaded.config.tls.is_none());
        assert_eq!(
            loaded.warnings,
            ["tls_server_config: no certificate given; TLS is off"]
        );
    }

    /// A config with a real certificate and key (next to it) and `extra` lines
    /// under `tls_server_config`.
    fn load_tls(extra: &str) -> Result<Loaded, String> {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(
            &path,
            format!("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n{extra}"),
        )
        .unwrap();
        load(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn tls_settings_rustls_lacks_warn_or_refuse() {
        let loaded = load_tls("").unwrap();
        assert!(loaded.config.tls.is_some());
        assert!(loaded.warnings.is_empty());

        let loaded = load_tls(
            "  min_version: TLS10\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]\n  curve_preferences: [CurveP521, X25519]\n",
        )
        .unwrap();
        assert_eq!(loaded.warnings.len(), 3, "{:?}", loaded.warnings);

        let e = load_tls("  max_version: TLS11\n").unwrap_err();
        assert!(
            e.contains("tls_server_config.max_version: TLS 1.0 and 1.1"),
            "{e}"
        );
        let e = load_tls("  min_version: TLS13\n  max_version: TLS12\n").unwrap_err();
        assert!(
            e.contains("tls_server_config.min_version: is above max_version"),
            "{e}"
        );
        let e = load_tls("  min_version: SSL3\n").unwrap_err();
        assert!(e.contains("unknown TLS version \"SSL3\""), "{e}");
        let e = load_tls("  cipher_suites: [TLS_FANCY]\n").unwrap_err();
        assert!(e.contains("unknown cipher suite \"TLS_FANCY\""), "{e}");
        let e = load_tls("  curve_preferences: [CurveP521]\n").unwrap_err();
        assert!(e.contains("none of the curves is supported"), "{e}");
        // TLS 1.2 only, and no TLS 1.2 suite rustls has: nothing could connect.
        let e = load_tls("  max_version: TLS12\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n")
            .unwrap_err();
        assert!(e.contains("tls_server_config: "), "{e}");

        let e = load_tls("  client_auth_type: RequireAndVerifyClientCert\n").unwrap_err();
        assert!(
            e.contains("tls_server_config.client_ca_file: RequireAndVerifyClientCert needs"),
            "{e}"
        );
        let e = load_tls("  client_auth_type: Sometimes\n").unwrap_err();
        assert!(
            e.contains("tls_server_config.client_auth_type: invalid value \"Sometimes\""),
            "{e}"
        );
        let e = load_tls("  client_ca_file: cert.pem\n").unwrap_err();
        assert!(e.contains("without a client auth policy"), "{e}");
        let e = load_tls("  client_auth_type: RequestClientCert\n  client_allowed_sans: [a]\n")
            .unwrap_err();
        assert!(
            e.contains("client_allowed_sans: needs client_auth_type"),
            "{e}"
        );
        let e = load_tls(
            "  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [ops@example.com]\n",
        )
        .unwrap_err();
        assert!(e.contains("e-mail names are not supported"), "{e}");
        assert!(load_tls(
            "  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [a.example]\n"
        )
        .is_ok());
    }
}
