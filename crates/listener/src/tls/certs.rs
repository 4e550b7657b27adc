//! Reading one certificate chain and its key from PEM files, and
//! checking them before they are used: the files can be read and hold
//! what they should, every certificate of the chain is valid now (not
//! expired, not yet valid), and the key is the one the leaf certificate
//! certifies. Every refusal is one line ([`CertError`]), the start-up
//! error of a server or the warning of a reload that keeps the
//! certificates in force.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::aws_lc_rs::sign::any_supported_type;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::time::ASN1Time;

/// Why a certificate or its key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read.
    #[error("cannot read {path}: {why}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (in the message, not a source: the error stays one line
        /// when printed with its chain).
        why: std::io::Error,
    },
    /// The certificate file holds no PEM certificate, or a broken one.
    #[error("{path} holds no usable PEM certificate: {why}")]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        why: String,
    },
    /// The key file holds no PEM private key of a known form.
    #[error("{path} holds no PEM private key (PKCS#8, RSA or SEC1): {why}")]
    NoKey {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        why: String,
    },
    /// The key is of a type no signature scheme supports.
    #[error("the key in {path} cannot be used: {why}")]
    UnusableKey {
        /// The key file.
        path: PathBuf,
        /// What rustls said.
        why: String,
    },
    /// The key is not the one the certificate certifies.
    #[error("the key in {key} does not match the certificate in {cert}")]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// A certificate of the chain has expired.
    #[error("the certificate in {path} ({which}) expired on {not_after}")]
    Expired {
        /// The certificate file.
        path: PathBuf,
        /// `leaf` or `chain certificate N`.
        which: String,
        /// Its notAfter date.
        not_after: String,
    },
    /// A certificate of the chain is not valid yet.
    #[error("the certificate in {path} ({which}) is not valid before {not_before}")]
    NotYetValid {
        /// The certificate file.
        path: PathBuf,
        /// `leaf` or `chain certificate N`.
        which: String,
        /// Its notBefore date.
        not_before: String,
    },
}

/// A checked certificate chain with its signing key, and the DNS names
/// of its leaf's subjectAltName (for SNI when no names are configured).
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) key: Arc<CertifiedKey>,
    pub(crate) dns_names: Vec<String>,
    /// The bytes of both files, to tell a reload that changes nothing.
    pub(crate) source: Vec<u8>,
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|why| CertError::Read {
        path: path.into(),
        why,
    })
}

/// Reads and checks the chain in `cert` and the key in `key` at the time
/// `now`.
pub(crate) fn load(cert: &Path, key: &Path, now: ASN1Time) -> Result<Loaded, CertError> {
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::NoCertificate {
            path: cert.into(),
            why: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(CertError::NoCertificate {
            path: cert.into(),
            why: "no CERTIFICATE section".into(),
        });
    }
    let mut dns_names = Vec::new();
    for (index, der) in chain.iter().enumerate() {
        let which = if index == 0 {
            "leaf".to_owned()
        } else {
            format!("chain certificate {index}")
        };
        let (_, parsed) = X509Certificate::from_der(der).map_err(|e| CertError::NoCertificate {
            path: cert.into(),
            why: format!("{which}: {e}"),
        })?;
        let validity = parsed.validity();
        if now < validity.not_before {
            return Err(CertError::NotYetValid {
                path: cert.into(),
                which,
                not_before: date(validity.not_before),
            });
        }
        if now > validity.not_after {
            return Err(CertError::Expired {
                path: cert.into(),
                which,
                not_after: date(validity.not_after),
            });
        }
        if index == 0
            && let Ok(Some(san)) = parsed.subject_alternative_name()
        {
            dns_names.extend(san.value.general_names.iter().filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(dns.trim_end_matches('.').to_ascii_lowercase()),
                _ => None,
            }));
        }
    }
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| CertError::NoKey {
        path: key.into(),
        why: e.to_string(),
    })?;
    let signing_key = any_supported_type(&private_key).map_err(|e| CertError::UnusableKey {
        path: key.into(),
        why: e.to_string(),
    })?;
    let certified = CertifiedKey::new(chain, signing_key);
    // Comparing the key's SubjectPublicKeyInfo with the leaf's; every key
    // type the provider loads can give its public key, so "unknown" is a
    // refusal too.
    certified.keys_match().map_err(|_| CertError::KeyMismatch {
        cert: cert.into(),
        key: key.into(),
    })?;
    let mut source = cert_pem;
    source.extend_from_slice(&key_pem);
    Ok(Loaded {
        key: Arc::new(certified),
        dns_names,
        source,
    })
}

fn date(time: ASN1Time) -> String {
    time.to_rfc2822().unwrap_or_else(|_| time.to_string())
}
