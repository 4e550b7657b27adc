//! Certificates made by a test (feature `testing`): a certificate
//! authority of its own ([`TestCa`]), leaf certificates it signs for
//! given names and dates ([`TestCert`]), written as PEM files, and rustls
//! client settings that trust that authority only.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use time::{Duration, OffsetDateTime};

/// A certificate authority made for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate and its key, as PEM.
#[derive(Clone, Debug)]
pub struct TestCert {
    /// The leaf, then the authority's certificate (a full chain).
    pub chain_pem: String,
    /// The leaf's private key (PKCS#8).
    pub key_pem: String,
    /// The leaf in DER, to recognize it on the wire.
    pub der: Vec<u8>,
}

/// `days` from now (negative: in the past).
pub fn days_from_now(days: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::days(days)
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "revalidate test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        params.not_before = days_from_now(-2);
        params.not_after = days_from_now(365);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    /// The authority's certificate, PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `names`, valid from yesterday for a year.
    pub fn issue(&self, names: &[&str]) -> TestCert {
        self.issue_valid(names, days_from_now(-1), days_from_now(365))
    }

    /// A leaf for `names`, valid between the two dates.
    pub fn issue_valid(
        &self,
        names: &[&str],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> TestCert {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.not_before = not_before;
        params.not_after = not_after;
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        TestCert {
            chain_pem: format!("{}{}", cert.pem(), self.pem()),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// rustls client settings trusting this authority only, offering
    /// `alpn` (empty: no ALPN extension).
    pub fn client_config(&self, alpn: &[&[u8]]) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }
}

impl TestCert {
    /// Writes `DIR/STEM.pem` (the chain) and `DIR/STEM.key`; returns
    /// their paths.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{stem}.pem"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&cert, &self.chain_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }

    /// Writes the chain and key over the files at `cert` and `key` by
    /// renaming a complete copy over each, as certificate tools do (a
    /// reader never sees half a file).
    pub fn replace(&self, cert: &Path, key: &Path) {
        for (path, text) in [(cert, &self.chain_pem), (key, &self.key_pem)] {
            let temporary = path.with_extension("new");
            std::fs::write(&temporary, text).unwrap();
            std::fs::rename(&temporary, path).unwrap();
        }
    }
}

/// The names of `headers`, lower case, without `date` (which differs
/// from one response to the next): what must be the same over HTTP/1.1
/// and HTTP/2.
pub fn field_names_but_date(headers: &http::HeaderMap) -> std::collections::BTreeSet<String> {
    headers
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name != "date")
        .collect()
}

/// The connection-specific fields of `headers`, which an HTTP/2 message
/// must not carry (RFC 9113 §8.2.2).
pub fn connection_specific_fields(headers: &http::HeaderMap) -> Vec<String> {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
    ]
    .into_iter()
    .filter(|name| headers.contains_key(*name))
    .map(str::to_owned)
    .collect()
}
