//! The `[tls]` section both servers read from their config file (and
//! that `--listen-tls`, `--tls-cert` and `--tls-key` override), and its
//! validation: pure, no file is opened here (see `certs` for that).
//!
//! ```toml
//! [tls]
//! listen = "0.0.0.0:8443"          # the TLS listener; without it, no TLS
//! cert = "/etc/revalidate/fullchain.pem"   # the default certificate: PEM, leaf first, then its chain
//! key = "/etc/revalidate/privkey.pem"      # its key: PEM, PKCS#8, RSA (PKCS#1) or SEC1
//! handshake_timeout_ms = 10000     # the handshake must end within this of the accept (nginx ssl_handshake_timeout)
//! watch = true                     # reload when a file (or its directory) changes; SIGHUP reloads always
//!
//! [[tls.certificates]]             # more certificates, chosen by the client's SNI
//! cert = "/etc/revalidate/api.pem"
//! key = "/etc/revalidate/api.key"
//! server_names = ["api.example.com", "*.api.example.com"]   # default: the certificate's DNS names
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// The `[tls]` section: the TLS listener, its certificates and its
/// handshake bound.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// Where the TLS listener listens; `None`: no TLS listener.
    pub listen: Option<SocketAddr>,
    /// The default certificate chain (PEM, leaf first): for clients that
    /// send no server name (SNI) or one no entry of
    /// [`TlsSettings::certificates`] names.
    pub cert: Option<PathBuf>,
    /// The default certificate's private key (PEM: PKCS#8, RSA or SEC1).
    pub key: Option<PathBuf>,
    /// More certificates, chosen by the server name the client sends.
    pub certificates: Vec<CertificateSettings>,
    /// How long the TLS handshake may take, from the accept. The first
    /// request head must still arrive within
    /// [`header_timeout_ms`](crate::Limits::header_timeout_ms) of the
    /// accept, handshake included, so the bound in force is the shorter.
    pub handshake_timeout_ms: u64,
    /// Whether a change to a certificate or key file (or to its directory,
    /// as a symlink swap) reloads the certificates; `SIGHUP` reloads them
    /// either way.
    pub watch: bool,
}

/// One `[[tls.certificates]]` entry.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CertificateSettings {
    /// The certificate chain (PEM, leaf first).
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, RSA or SEC1).
    pub key: PathBuf,
    /// The server names it answers, exact (`api.example.com`) or one
    /// leading wildcard label (`*.example.com`); empty: the DNS names of
    /// the certificate's subjectAltName.
    #[serde(default)]
    pub server_names: Vec<String>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            listen: None,
            cert: None,
            key: None,
            certificates: Vec::new(),
            handshake_timeout_ms: 10_000,
            watch: true,
        }
    }
}

impl TlsSettings {
    /// The shortest handshake timeout.
    pub const MIN_HANDSHAKE_TIMEOUT_MS: u64 = 100;
    /// The longest handshake timeout: a minute, nginx's default.
    pub const MAX_HANDSHAKE_TIMEOUT_MS: u64 = 60_000;

    /// Whether a TLS listener is configured.
    pub fn enabled(&self) -> bool {
        self.listen.is_some()
    }

    /// Every (certificate, key) pair: the default first, if any.
    pub fn pairs(&self) -> impl Iterator<Item = (&PathBuf, &PathBuf)> {
        let default = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            _ => None,
        };
        default
            .into_iter()
            .chain(self.certificates.iter().map(|entry| (&entry.cert, &entry.key)))
    }

    /// Every file the certificates are read from.
    pub fn files(&self) -> Vec<PathBuf> {
        self.pairs()
            .flat_map(|(cert, key)| [cert.clone(), key.clone()])
            .collect()
    }

    /// Checks what TOML types alone cannot; the error is one line naming
    /// the key (`tls.cert …`). The files themselves are read (and their
    /// dates and keys checked) when the listener starts.
    pub fn validate(&self) -> Result<(), String> {
        if !(Self::MIN_HANDSHAKE_TIMEOUT_MS..=Self::MAX_HANDSHAKE_TIMEOUT_MS)
            .contains(&self.handshake_timeout_ms)
        {
            return Err(format!(
                "tls.handshake_timeout_ms must be between {} and {} ms, got {}",
                Self::MIN_HANDSHAKE_TIMEOUT_MS,
                Self::MAX_HANDSHAKE_TIMEOUT_MS,
                self.handshake_timeout_ms
            ));
        }
        match (&self.cert, &self.key) {
            (Some(_), None) => return Err("tls.cert (--tls-cert) is set without tls.key (--tls-key)".into()),
            (None, Some(_)) => return Err("tls.key (--tls-key) is set without tls.cert (--tls-cert)".into()),
            _ => {}
        }
        let has_certificates = self.pairs().next().is_some();
        if self.listen.is_none() {
            if has_certificates {
                return Err(
                    "a TLS certificate is configured without tls.listen (--listen-tls): where should TLS listen?"
                        .into(),
                );
            }
            return Ok(());
        }
        if !has_certificates {
            return Err(
                "tls.listen (--listen-tls) needs a certificate: tls.cert and tls.key (--tls-cert, --tls-key) or [[tls.certificates]]"
                    .into(),
            );
        }
        let mut seen: Vec<String> = Vec::new();
        for (index, entry) in self.certificates.iter().enumerate() {
            for name in &entry.server_names {
                let normalized = normalize_server_name(name)
                    .map_err(|why| format!("tls.certificates[{index}].server_names: {name:?} {why}"))?;
                if seen.contains(&normalized) {
                    return Err(format!(
                        "tls.certificates[{index}].server_names: {name:?} is listed for two certificates"
                    ));
                }
                seen.push(normalized);
            }
        }
        Ok(())
    }
}

/// A configured server name in the form SNI lookups use (lower case, no
/// trailing dot), or why it is not one: a DNS name of letters, digits,
/// hyphens and dots, optionally with one leading `*.` label.
pub(crate) fn normalize_server_name(name: &str) -> Result<String, &'static str> {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    let rest = lower.strip_prefix("*.").unwrap_or(&lower);
    if rest.is_empty() || rest.len() > 253 {
        return Err("is not a DNS name");
    }
    for label in rest.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err("is not a DNS name (a wildcard may only be a whole first label, `*.example.com`)");
        }
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_empty_section_is_no_tls_with_the_documented_defaults() {
        let settings: TlsSettings = toml::from_str("").unwrap();
        assert_eq!(settings, TlsSettings::default());
        assert!(!settings.enabled());
        assert_eq!(settings.handshake_timeout_ms, 10_000);
        assert!(settings.watch);
        settings.validate().unwrap();
    }

    #[test]
    fn a_full_section_parses_and_lists_its_files_default_first() {
        let text = r#"
            listen = "127.0.0.1:8443"
            cert = "a.pem"
            key = "a.key"
            handshake_timeout_ms = 2000
            watch = false
            [[certificates]]
            cert = "b.pem"
            key = "b.key"
            server_names = ["API.example.com.", "*.example.org"]
        "#;
        let settings: TlsSettings = toml::from_str(text).unwrap();
        settings.validate().unwrap();
        assert_eq!(
            settings.files(),
            ["a.pem", "a.key", "b.pem", "b.key"].map(PathBuf::from)
        );
        assert!(!settings.watch);
    }

    #[test]
    fn bad_sections_are_one_line_errors_naming_the_key() {
        let cases = [
            (
                "listen = \"127.0.0.1:1\"",
                "tls.listen (--listen-tls) needs a certificate",
            ),
            ("cert = \"a\"\nkey = \"b\"", "without tls.listen"),
            ("listen = \"127.0.0.1:1\"\ncert = \"a\"", "without tls.key"),
            ("listen = \"127.0.0.1:1\"\nkey = \"a\"", "without tls.cert"),
            (
                "listen = \"127.0.0.1:1\"\ncert = \"a\"\nkey = \"b\"\nhandshake_timeout_ms = 10",
                "tls.handshake_timeout_ms must be",
            ),
            (
                "listen = \"127.0.0.1:1\"\n[[certificates]]\ncert = \"a\"\nkey = \"b\"\nserver_names = [\"a.*.com\"]",
                "tls.certificates[0].server_names",
            ),
            (
                "listen = \"127.0.0.1:1\"\n[[certificates]]\ncert = \"a\"\nkey = \"b\"\nserver_names = [\"x.com\"]\n[[certificates]]\ncert = \"c\"\nkey = \"d\"\nserver_names = [\"X.com\"]",
                "listed for two certificates",
            ),
        ];
        for (text, message) in cases {
            let settings: TlsSettings = toml::from_str(text).unwrap();
            let error = settings.validate().unwrap_err();
            assert!(
                error.contains(message) && !error.contains('\n'),
                "{text}: {error}"
            );
        }
        assert!(
            toml::from_str::<TlsSettings>("certs = []").is_err(),
            "unknown key"
        );
    }

    #[test]
    fn server_names_are_normalized_or_refused() {
        assert_eq!(normalize_server_name("Example.COM.").unwrap(), "example.com");
        assert_eq!(normalize_server_name("*.example.com").unwrap(), "*.example.com");
        for bad in ["", "*", "*.", "a..b", "-a.com", "a_b.com", "*.*.a.com", "a.*.com"] {
            assert!(normalize_server_name(bad).is_err(), "{bad:?}");
        }
    }
}
