//! TLS to the query API (`--source.tls-*`, named after Prometheus' `tls_config`): a CA
//! bundle trusted instead of Mozilla's roots (in-cluster backends have private CAs), a
//! client certificate for a backend that requires one, or no verification (tests).
//!
//! The files are read once, at start-up, bounded by [`MAX_PEM_FILE_BYTES`], and checked
//! there with rustls and ring, the provider ureq connects with: ureq itself skips a root
//! it cannot parse and panics on a client key that does not fit its certificate, which
//! would cost every round instead of failing the start. A rotated certificate needs a
//! restart (unlike the bearer token, re-read every round).

use std::fmt;
use std::io::Read;
use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

/// The largest PEM file read (a CA bundle: Mozilla's whole set is about 220 KiB).
pub const MAX_PEM_FILE_BYTES: u64 = 1 << 20;

/// How the backend's certificate is checked and what we show it of ours.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackendTls {
    /// `--source.tls-ca-file`: trusted instead of Mozilla's roots; `None`: those.
    pub ca: Option<CaBundle>,
    /// `--source.tls-cert-file` and `--source.tls-key-file`.
    pub client: Option<ClientIdentity>,
    /// `--source.tls-insecure-skip-verify`: any certificate is taken (tests only).
    pub insecure_skip_verify: bool,
}

impl BackendTls {
    /// ureq's settings for an https backend.
    pub fn tls_config(&self) -> TlsConfig {
        let mut config = TlsConfig::builder().disable_verification(self.insecure_skip_verify);
        if let Some(ca) = &self.ca {
            config = config.root_certs(RootCerts::from(
                ca.certificates
                    .iter()
                    .map(|der| Certificate::from_der(der.as_ref()).to_owned()),
            ));
        }
        if let Some(client) = &self.client {
            config = config.client_cert(Some(client.0.clone()));
        }
        config.build()
    }
}

/// The certificates of a CA file, each one parsed by rustls as a trust anchor.
#[derive(Clone, PartialEq, Eq)]
pub struct CaBundle {
    certificates: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaBundle({} certificates)", self.certificates.len())
    }
}

impl CaBundle {
    /// The CA certificates in the PEM file at `path`: at least one, every one usable.
    pub fn read(path: &Path) -> Result<CaBundle, PemFileError> {
        let certificates = certificates(path, &read_bounded(path)?)?;
        let mut store = rustls::RootCertStore::empty();
        for (index, certificate) in certificates.iter().enumerate() {
            store
                .add(certificate.clone())
                .map_err(|error| PemFileError::BadCertificate {
                    path: path.display().to_string(),
                    number: index + 1,
                    error,
                })?;
        }
        Ok(CaBundle { certificates })
    }

    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }
}

/// A client certificate (with the chain up to its CA, as in the file) and its key, as
/// ureq takes them (its `Debug` leaves the key out).
#[derive(Debug, Clone)]
pub struct ClientIdentity(ClientCert);

impl PartialEq for ClientIdentity {
    fn eq(&self, other: &Self) -> bool {
        let ders = |client: &ClientCert| -> Vec<Vec<u8>> {
            client.certs().iter().map(|c| c.der().to_vec()).collect()
        };
        ders(&self.0) == ders(&other.0) && self.0.private_key().der() == other.0.private_key().der()
    }
}

impl Eq for ClientIdentity {}

impl ClientIdentity {
    /// The certificate chain at `cert_path` and the private key at `key_path`, checked
    /// to belong together.
    pub fn read(cert_path: &Path, key_path: &Path) -> Result<ClientIdentity, ClientIdentityError> {
        let chain = certificates(cert_path, &read_bounded(cert_path)?)?;
        let key_text = read_bounded(key_path).map_err(ClientIdentityError::Key)?;
        let key = PrivateKeyDer::from_pem_slice(&key_text).map_err(|error| {
            ClientIdentityError::Key(match error {
                rustls::pki_types::pem::Error::NoItemsFound => PemFileError::Empty {
                    path: key_path.display().to_string(),
                    what: "PRIVATE KEY",
                },
                error => PemFileError::Pem {
                    path: key_path.display().to_string(),
                    error,
                },
            })
        })?;
        rustls::sign::CertifiedKey::from_der(
            chain.clone(),
            key.clone_key(),
            &rustls::crypto::ring::default_provider(),
        )
        .map_err(|error| ClientIdentityError::Mismatch {
            key_path: key_path.display().to_string(),
            error,
        })?;
        // ureq takes a key only from PEM or with a kind it does not export: the file
        // again, parsed by the same pki-types code as above.
        let key =
            PrivateKey::from_pem(&key_text).map_err(|error| ClientIdentityError::Mismatch {
                key_path: key_path.display().to_string(),
                error: rustls::Error::General(error.to_string()),
            })?;
        let chain: Vec<Certificate<'static>> = chain
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned())
            .collect();
        Ok(ClientIdentity(ClientCert::new_with_certs(&chain, key)))
    }
}

/// Why a PEM file cannot be used; every one names the file.
#[derive(Debug, thiserror::Error)]
pub enum PemFileError {
    #[error("{path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: larger than {limit} bytes")]
    TooLarge { path: String, limit: u64 },
    #[error("{path}: not PEM: {error}")]
    Pem {
        path: String,
        error: rustls::pki_types::pem::Error,
    },
    #[error("{path}: no {what} in it")]
    Empty { path: String, what: &'static str },
    #[error("{path}: certificate {number}: {error}")]
    BadCertificate {
        path: String,
        number: usize,
        error: rustls::Error,
    },
}

/// Why a client certificate and key cannot be used: the certificate file's fault, the
/// key file's, or the two do not belong together.
#[derive(Debug, thiserror::Error)]
pub enum ClientIdentityError {
    #[error(transparent)]
    Certificate(#[from] PemFileError),
    #[error(transparent)]
    Key(PemFileError),
    #[error("{key_path}: not a usable key for the certificate: {error}")]
    Mismatch {
        key_path: String,
        error: rustls::Error,
    },
}

/// The file at `path`, refused when larger than [`MAX_PEM_FILE_BYTES`] (cut, it would be
/// a broken PEM with a misleading error).
fn read_bounded(path: &Path) -> Result<Vec<u8>, PemFileError> {
    let shown = || path.display().to_string();
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_PEM_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|error| PemFileError::Read {
            path: shown(),
            error,
        })?;
    if bytes.len() as u64 > MAX_PEM_FILE_BYTES {
        return Err(PemFileError::TooLarge {
            path: shown(),
            limit: MAX_PEM_FILE_BYTES,
        });
    }
    Ok(bytes)
}

/// The `CERTIFICATE` sections of `pem` (other sections are passed over), at least one.
fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, PemFileError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| PemFileError::Pem {
            path: path.display().to_string(),
            error,
        })?;
    if certificates.is_empty() {
        return Err(PemFileError::Empty {
            path: path.display().to_string(),
            what: "CERTIFICATE",
        });
    }
    Ok(certificates)
}
