//! Certificates made with rcgen for the TLS tests: a CA, a server certificate for
//! 127.0.0.1 and localhost, and client certificates, written as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

/// A CA that signs certificates; its certificate is written to `ca.pem` in the folder.
pub struct Ca {
    pub pem_file: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate file and its key file.
pub struct Leaf {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Ca {
    /// A new CA named `name`, its certificate in `dir/{name}.pem`.
    pub fn new(dir: &Path, name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        let pem_file = dir.join(format!("{name}.pem"));
        std::fs::write(&pem_file, cert.pem()).unwrap();
        Ca {
            pem_file,
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost, in `dir/{name}.pem` and
    /// `dir/{name}-key.pem`.
    pub fn server(&self, dir: &Path, name: &str) -> Leaf {
        self.leaf(
            dir,
            name,
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate for the DNS name `name`.
    pub fn client(&self, dir: &Path, name: &str) -> Leaf {
        self.leaf(dir, name, &[name], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn leaf(&self, dir: &Path, name: &str, sans: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let leaf = Leaf {
            cert_file: dir.join(format!("{name}.pem")),
            key_file: dir.join(format!("{name}-key.pem")),
        };
        std::fs::write(&leaf.cert_file, cert.pem()).unwrap();
        std::fs::write(&leaf.key_file, key.serialize_pem()).unwrap();
        leaf
    }
}
