//! The certificates in force ([`CertStore`]): chosen per handshake by the
//! server name the client sends (SNI, [RFC 6066 §3]), replaced whole by a
//! reload. A handshake reads the current set under a read lock held for
//! an `Arc` clone; a reload builds the new set aside (every file read and
//! checked) and swaps it in only if all of it is good, so a broken file
//! keeps the old certificates and connections already open are never
//! touched (their keys were agreed at their handshake).
//!
//! [RFC 6066 §3]: https://www.rfc-editor.org/rfc/rfc6066#section-3

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use x509_parser::time::ASN1Time;

use super::certs::{self, CertError};
use super::settings::{TlsSettings, normalize_server_name};

/// One loaded set of certificates, looked up by server name.
#[derive(Debug, Default)]
struct CertSet {
    /// For clients without SNI or with a name no entry has.
    default: Option<Arc<CertifiedKey>>,
    /// Exact names, lower case.
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` entries, keyed by `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    /// The bytes every file held, to tell a reload that changes nothing.
    source: Vec<u8>,
}

impl CertSet {
    /// Reads and checks every pair `settings` lists, at `now`.
    fn load(settings: &TlsSettings, now: ASN1Time) -> Result<Self, CertError> {
        let mut set = Self::default();
        if let (Some(cert), Some(key)) = (&settings.cert, &settings.key) {
            let loaded = certs::load(cert, key, now)?;
            set.source.extend_from_slice(&loaded.source);
            set.default = Some(loaded.key);
        }
        for entry in &settings.certificates {
            let loaded = certs::load(&entry.cert, &entry.key, now)?;
            set.source.extend_from_slice(&loaded.source);
            let names: Vec<String> = if entry.server_names.is_empty() {
                loaded.dns_names.clone()
            } else {
                // Validated with the configuration.
                entry
                    .server_names
                    .iter()
                    .filter_map(|name| normalize_server_name(name).ok())
                    .collect()
            };
            for name in names {
                let (map, key) = match name.strip_prefix("*.") {
                    Some(parent) => (&mut set.wildcard, parent.to_owned()),
                    None => (&mut set.exact, name),
                };
                // The first entry naming a name keeps it.
                map.entry(key).or_insert_with(|| Arc::clone(&loaded.key));
            }
        }
        Ok(set)
    }

    /// The certificate for a client that asked for `name` (or none).
    fn lookup(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = name else {
            return self.default.clone();
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(key) = self.exact.get(&name) {
            return Some(Arc::clone(key));
        }
        // A wildcard covers exactly one label (RFC 6125 §6.4.3).
        if let Some((_, parent)) = name.split_once('.')
            && let Some(key) = self.wildcard.get(parent)
        {
            return Some(Arc::clone(key));
        }
        self.default.clone()
    }
}

/// What a reload did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// New certificates are in force for new handshakes.
    Changed,
    /// The files held what was already in force.
    Unchanged,
}

/// The certificates of one TLS listener: rustls asks it for one per
/// handshake ([`ResolvesServerCert`]); [`CertStore::reload`] replaces
/// them.
#[derive(Debug)]
pub struct CertStore {
    settings: TlsSettings,
    current: RwLock<Arc<CertSet>>,
}

impl CertStore {
    /// Reads and checks every certificate and key `settings` lists.
    ///
    /// # Errors
    ///
    /// The first file that cannot be read or used, as one line.
    pub fn load(settings: &TlsSettings) -> Result<Self, CertError> {
        let set = CertSet::load(settings, ASN1Time::now())?;
        Ok(Self {
            settings: settings.clone(),
            current: RwLock::new(Arc::new(set)),
        })
    }

    /// Reads the files again; if every one is good and something changed,
    /// new handshakes use the new certificates (open connections keep
    /// theirs).
    ///
    /// # Errors
    ///
    /// A file that cannot be read or used: the certificates in force stay.
    pub fn reload(&self) -> Result<Reloaded, CertError> {
        let set = CertSet::load(&self.settings, ASN1Time::now())?;
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if current.source == set.source {
            return Ok(Reloaded::Unchanged);
        }
        *current = Arc::new(set);
        Ok(Reloaded::Changed)
    }

    /// The settings the certificates come from.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    fn current(&self) -> Arc<CertSet> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // `None` makes rustls refuse the handshake (unrecognized_name).
        self.current().lookup(client_hello.server_name())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn lookup_prefers_an_exact_name_then_a_one_label_wildcard_then_the_default() {
        let key = |_: u8| {
            // Distinct Arcs stand for distinct certificates; the lookup
            // never looks inside them.
            let der = rcgen::KeyPair::generate().unwrap().serialize_der();
            let der = rustls_pki_types::PrivateKeyDer::Pkcs8(der.into());
            let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&der).unwrap();
            Arc::new(CertifiedKey::new(Vec::new(), signing))
        };
        let (default, exact, wild) = (key(0), key(1), key(2));
        let set = CertSet {
            default: Some(Arc::clone(&default)),
            exact: HashMap::from([("api.example.com".to_owned(), Arc::clone(&exact))]),
            wildcard: HashMap::from([("example.com".to_owned(), Arc::clone(&wild))]),
            source: Vec::new(),
        };
        let is = |got: Option<Arc<CertifiedKey>>, want: &Arc<CertifiedKey>| Arc::ptr_eq(&got.unwrap(), want);
        assert!(is(set.lookup(Some("API.example.com.")), &exact));
        assert!(is(set.lookup(Some("www.example.com")), &wild));
        assert!(
            is(set.lookup(Some("a.b.example.com")), &default),
            "one label only"
        );
        assert!(is(set.lookup(Some("example.com")), &default));
        assert!(is(set.lookup(None), &default));
        let without_default = CertSet { default: None, ..set };
        assert!(without_default.lookup(Some("other.org")).is_none());
    }
}
