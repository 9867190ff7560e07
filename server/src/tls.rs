//! TLS: a checked `tls_server_config` as a rustls server config on the *ring*
//! provider (pure Rust and C built by `cc`: no cmake or system library needed).
//!
//! Go's names for cipher suites, curves, versions and client auth types are mapped
//! here. Two client-certificate policies Go has and rustls lacks are small verifiers
//! below: asking for (or requiring) a certificate without checking who signed it,
//! and `client_allowed_sans` on top of either check.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{ring, CryptoProvider, SupportedKxGroup, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
    SupportedCipherSuite,
};

/// Go's `tls.ClientAuthType`, by the names exporter-toolkit accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    pub(crate) fn from_go_name(name: &str) -> Option<ClientAuth> {
        Some(match name {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            // The old name, still accepted by exporter-toolkit.
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
    }

    /// Checks a given certificate against the client CA.
    pub(crate) fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }

    /// Refuses a client without a certificate.
    pub(crate) fn requires_certificate(self) -> bool {
        matches!(
            self,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// Go's `tls.VersionTLS1x`, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TlsVersion {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    pub(crate) fn from_go_name(name: &str) -> Option<TlsVersion> {
        Some(match name {
            "TLS10" => TlsVersion::Tls10,
            "TLS11" => TlsVersion::Tls11,
            "TLS12" => TlsVersion::Tls12,
            "TLS13" => TlsVersion::Tls13,
            _ => return None,
        })
    }
}

/// What a Go cipher suite name is here.
pub(crate) enum SuiteName {
    Tls12(SupportedCipherSuite),
    /// A TLS 1.3 suite: Go ignores these in a config, and so do we.
    Tls13,
    /// In Go's list (`tls.CipherSuites()`), not in rustls: CBC or RSA key exchange.
    NotInRustls,
    Unknown,
}

pub(crate) fn cipher_suite(name: &str) -> SuiteName {
    use ring::cipher_suite as s;
    SuiteName::Tls12(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => s::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => s::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            s::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => s::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => s::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            s::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_AES_128_GCM_SHA256" | "TLS_AES_256_GCM_SHA384" | "TLS_CHACHA20_POLY1305_SHA256" => {
            return SuiteName::Tls13
        }
        "TLS_RSA_WITH_AES_128_CBC_SHA"
        | "TLS_RSA_WITH_AES_256_CBC_SHA"
        | "TLS_RSA_WITH_AES_128_GCM_SHA256"
        | "TLS_RSA_WITH_AES_256_GCM_SHA384"
        | "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
        | "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA" => return SuiteName::NotInRustls,
        _ => return SuiteName::Unknown,
    })
}

/// What a Go curve name (exporter-toolkit's four) is here.
pub(crate) enum CurveName {
    Group(&'static dyn SupportedKxGroup),
    NotInRing,
    Unknown,
}

pub(crate) fn curve(name: &str) -> CurveName {
    match name {
        "CurveP256" => CurveName::Group(ring::kx_group::SECP256R1),
        "CurveP384" => CurveName::Group(ring::kx_group::SECP384R1),
        "X25519" => CurveName::Group(ring::kx_group::X25519),
        "CurveP521" => CurveName::NotInRing,
        _ => CurveName::Unknown,
    }
}

/// One `client_allowed_sans` entry, by the kind of name it can match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AllowedSan {
    Dns(String),
    Ip(IpAddr),
    Uri(String),
}

impl AllowedSan {
    /// An IP address, a URI (has a scheme), or a DNS name; e-mail is not supported.
    pub(crate) fn parse(text: &str) -> Result<AllowedSan, String> {
        if let Ok(ip) = text.parse::<IpAddr>() {
            Ok(AllowedSan::Ip(ip))
        } else if text.contains(':') {
            Ok(AllowedSan::Uri(text.to_string()))
        } else if text.contains('@') {
            Err(format!("{text:?}: e-mail names are not supported"))
        } else {
            Ok(AllowedSan::Dns(text.to_string()))
        }
    }

    /// Whether the certificate has this name among its SANs, compared exactly.
    fn is_in(&self, cert: &webpki::EndEntityCert<'_>) -> bool {
        match self {
            AllowedSan::Dns(name) => cert.valid_dns_names().any(|san| san == name),
            AllowedSan::Uri(uri) => cert.valid_uri_names().any(|san| san == uri),
            AllowedSan::Ip(ip) => cert
                .verify_is_valid_for_subject_name(&ServerName::IpAddress((*ip).into()))
                .is_ok(),
        }
    }
}

/// A `tls_server_config` with every name resolved and every file read.
pub(crate) struct TlsSettings {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub client_auth: ClientAuth,
    pub client_cas: Vec<CertificateDer<'static>>,
    pub allowed_sans: Option<Vec<AllowedSan>>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    /// TLS 1.2 suites in preference order; `None` for the provider's.
    pub cipher_suites: Option<Vec<SupportedCipherSuite>>,
    pub kx_groups: Option<Vec<&'static dyn SupportedKxGroup>>,
    pub prefer_server_order: bool,
}

/// The rustls config for `settings`; the error says what rustls refused.
pub(crate) fn server_config(settings: TlsSettings) -> Result<Arc<ServerConfig>, String> {
    let mut provider = ring::default_provider();
    if let Some(tls12) = settings.cipher_suites {
        let mut suites: Vec<SupportedCipherSuite> = provider
            .cipher_suites
            .iter()
            .copied()
            .filter(|suite| suite.tls13().is_some())
            .collect();
        suites.extend(tls12);
        provider.cipher_suites = suites;
    }
    if let Some(groups) = settings.kx_groups {
        provider.kx_groups = groups;
    }
    let provider = Arc::new(provider);

    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(version, _)| (settings.min_version..=settings.max_version).contains(version))
    .map(|(_, version)| version)
    .collect();

    let verifier = client_verifier(
        settings.client_auth,
        settings.client_cas,
        settings.allowed_sans,
        &provider,
    )?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(settings.chain, settings.key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    config.ignore_client_order = settings.prefer_server_order;
    // HTTP/1.1 only (see the crate doc); a client offering h2 and http/1.1 gets the latter.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn client_verifier(
    client_auth: ClientAuth,
    client_cas: Vec<CertificateDer<'static>>,
    allowed_sans: Option<Vec<AllowedSan>>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ClientCertVerifier> = match client_auth {
        ClientAuth::NoClientCert => return Ok(WebPkiClientVerifier::no_client_auth()),
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Arc::new(UncheckedClientCert {
                mandatory: client_auth.requires_certificate(),
                algorithms,
            })
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let mut roots = RootCertStore::empty();
            for ca in client_cas {
                roots
                    .add(ca)
                    .map_err(|e| format!("client CA certificate: {e}"))?;
            }
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let builder = if client_auth.requires_certificate() {
                builder
            } else {
                builder.allow_unauthenticated()
            };
            builder.build().map_err(|e| format!("client CA: {e}"))?
        }
    };
    Ok(match allowed_sans {
        Some(allowed) => Arc::new(AllowedSansCheck {
            inner: verifier,
            allowed,
        }),
        None => verifier,
    })
}

/// Go's RequestClientCert and RequireAnyClientCert: a certificate is asked for
/// (required when `mandatory`), its handshake signature checked, its issuer not.
struct UncheckedClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for UncheckedClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UncheckedClientCert")
            .field("mandatory", &self.mandatory)
            .finish()
    }
}

impl ClientCertVerifier for UncheckedClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Parsed, as Go parses it, but trusted whoever signed it.
        webpki::EndEntityCert::try_from(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `client_allowed_sans`: the inner policy, then at least one allowed SAN.
#[derive(Debug)]
struct AllowedSansCheck {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<AllowedSan>,
}

impl ClientCertVerifier for AllowedSansCheck {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        if self.allowed.iter().any(|san| san.is_in(&cert)) {
            Ok(verified)
        } else {
            Err(rustls::Error::General(
                "client certificate has none of client_allowed_sans".to_string(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_names() {
        assert!(matches!(
            cipher_suite("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"),
            SuiteName::Tls12(_)
        ));
        assert!(matches!(
            cipher_suite("TLS_AES_128_GCM_SHA256"),
            SuiteName::Tls13
        ));
        assert!(matches!(
            cipher_suite("TLS_RSA_WITH_AES_128_CBC_SHA"),
            SuiteName::NotInRustls
        ));
        assert!(matches!(cipher_suite("TLS_RC4"), SuiteName::Unknown));
        assert!(matches!(curve("X25519"), CurveName::Group(_)));
        assert!(matches!(curve("CurveP521"), CurveName::NotInRing));
        assert!(matches!(curve("P256"), CurveName::Unknown));
        assert_eq!(
            ClientAuth::from_go_name("RequireClientCert"),
            Some(ClientAuth::RequireAnyClientCert)
        );
        assert_eq!(ClientAuth::from_go_name("requireandverifyclientcert"), None);
        assert!(TlsVersion::from_go_name("TLS11") < TlsVersion::from_go_name("TLS12"));
    }

    #[test]
    fn allowed_san_kinds() {
        assert_eq!(
            AllowedSan::parse("10.0.0.1"),
            Ok(AllowedSan::Ip("10.0.0.1".parse().unwrap()))
        );
        assert_eq!(
            AllowedSan::parse("spiffe://cluster/ns/x"),
            Ok(AllowedSan::Uri("spiffe://cluster/ns/x".into()))
        );
        assert_eq!(
            AllowedSan::parse("scraper.example"),
            Ok(AllowedSan::Dns("scraper.example".into()))
        );
        assert!(AllowedSan::parse("ops@example.com").is_err());
    }
}
