//! The pool's part of a configuration file: [`PoolConfig`] (one `origin`
//! or several `origins`, or `shields`, and how they are balanced, checked
//! and ejected), validated into the pool's [`PoolSettings`]. The top level
//! of the edge's configuration and each site embed it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use serde::Deserialize;

use super::{Balance, EjectionSettings, HealthSettings, MAX_MEMBERS, OriginProtocol, PoolSettings};
use crate::config::ConfigError;

/// An origin pool: one `origin` or several `origins`, and how the edge
/// treats them. The top level of [`EdgeConfig`](crate::config::EdgeConfig) has these keys; another
/// part of a configuration can embed the same struct.
///
/// ```toml
/// origins = ["http://10.0.0.1:8080", "https://app.internal:443"]
/// origin_ca = "/etc/revalidate/origin-ca.pem"  # default: the system's roots
/// balance = "round_robin"          # or "least_connections"
/// origin_protocol = "http1"        # or "http2" (ALPN h2 over https, h2c over http)
/// [health]                         # active checks; off without a path
/// path = "/healthz"
/// interval_ms = 5000
/// timeout_ms = 2000
/// healthy_threshold = 2
/// unhealthy_threshold = 3
/// [ejection]                       # passive (nginx max_fails / fail_timeout)
/// consecutive_failures = 3         # connect errors, timeouts, broken heads, 5xx; 0: off
/// cool_down_ms = 10000
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// The one origin, `http://host:port` or `https://host:port`.
    pub origin: Option<String>,
    /// Several origins (instead of `origin`).
    pub origins: Vec<String>,
    /// Shield edges: other `revalidate edge` instances, a parent tier,
    /// to send misses and revalidations to instead of the origin
    /// (`http://host:port` or `https://host:port`, balanced, checked and
    /// ejected like origins). Each request keeps its `Host`, so that the
    /// shield routes it to the same site; a shield collapses the misses of
    /// all its leaves and answers their conditional requests from its own
    /// store. Instead of `origin` and `origins`.
    pub shields: Vec<String>,
    /// A PEM file of the authorities `https` origins are verified against.
    pub origin_ca: Option<PathBuf>,
    /// How requests are spread.
    pub balance: Balance,
    /// HTTP/1.1 or HTTP/2 to the origins.
    pub origin_protocol: OriginProtocol,
    /// Active health checks.
    pub health: HealthConfig,
    /// Passive ejection.
    pub ejection: EjectionConfig,
}

/// `[health]`: active health checks, off while `path` is unset.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// The path probed with `GET` (a `2xx` or `3xx` is healthy).
    pub path: Option<String>,
    /// Time between two rounds of probes.
    pub interval_ms: u64,
    /// The longest a probe waits for a response head.
    pub timeout_ms: u64,
    /// Successes in a row that mark a member up.
    pub healthy_threshold: u32,
    /// Failures in a row that mark a member down.
    pub unhealthy_threshold: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            path: None,
            interval_ms: 5_000,
            timeout_ms: 2_000,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        }
    }
}

/// `[ejection]`: passive ejection on the answers of real requests.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct EjectionConfig {
    /// Failures in a row that eject a member; 0 turns ejection off.
    pub consecutive_failures: u32,
    /// How long an ejected member is left out.
    pub cool_down_ms: u64,
}

impl Default for EjectionConfig {
    fn default() -> Self {
        let defaults = EjectionSettings::default();
        Self {
            consecutive_failures: defaults.consecutive_failures,
            cool_down_ms: u64::try_from(defaults.cool_down.as_millis()).unwrap_or(10_000),
        }
    }
}

/// The longest interval, timeout or cool-down a pool accepts: an hour.
const POOL_MAX_MS: u64 = 3_600_000;
/// The largest threshold a pool accepts.
const POOL_MAX_THRESHOLD: u32 = 1_000;

impl PoolConfig {
    /// The members as written, for logs.
    pub fn members(&self) -> Vec<&str> {
        self.origin
            .iter()
            .chain(&self.origins)
            .chain(&self.shields)
            .map(String::as_str)
            .collect()
    }

    /// The validated pool: members parsed, the CA file read, the numbers
    /// in range; every error one line.
    pub fn settings(&self) -> Result<PoolSettings, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid(message);
        let members = match (&self.origin, self.origins.is_empty()) {
            _ if !self.shields.is_empty() => {
                if self.origin.is_some() || !self.origins.is_empty() {
                    return Err(invalid(
                        "shields and origin(s) are both set; a shielded edge fetches only from its shields"
                            .into(),
                    ));
                }
                self.shields
                    .iter()
                    .enumerate()
                    .map(|(i, text)| member_uri(&format!("shields[{i}]"), text))
                    .collect::<Result<Vec<_>, _>>()?
            }
            (Some(_), false) => {
                return Err(invalid("origin and origins are both set; use one of them".into()));
            }
            (None, true) => {
                return Err(invalid(
                    "an origin is required: origin = \"http://host:port\" or origins = [...]".into(),
                ));
            }
            (Some(origin), true) => vec![member_uri("origin", origin)?],
            (None, false) => self
                .origins
                .iter()
                .enumerate()
                .map(|(i, text)| member_uri(&format!("origins[{i}]"), text))
                .collect::<Result<Vec<_>, _>>()?,
        };
        if members.len() > MAX_MEMBERS {
            return Err(invalid(format!(
                "origins has {} members; at most {MAX_MEMBERS}",
                members.len()
            )));
        }
        for (i, uri) in members.iter().enumerate() {
            if members[..i].contains(uri) {
                return Err(invalid(format!("origins lists {uri} twice")));
            }
        }
        let mut settings = PoolSettings::of(members);
        settings.balance = self.balance;
        settings.protocol = self.origin_protocol;
        settings.pass_host = !self.shields.is_empty();
        settings.health = self.health.settings()?;
        settings.ejection = self.ejection.settings()?;
        settings.origin_ca = match &self.origin_ca {
            Some(path) => {
                if !settings.uses_tls() {
                    return Err(invalid(format!(
                        "origin_ca {} is set but no origin is https://",
                        path.display()
                    )));
                }
                Some(Arc::new(read_ca_file(path)?))
            }
            None => None,
        };
        if let Some(roots) = &settings.origin_ca {
            crate::pool::tls_client_config(Arc::clone(roots))
                .map_err(|e| invalid(format!("TLS to the origins: {e}")))?;
        }
        Ok(settings)
    }
}

/// One member's URL: `http` or `https`, an authority, no path or query.
fn member_uri(name: &str, text: &str) -> Result<Uri, ConfigError> {
    let uri: Uri = text
        .parse()
        .map_err(|e| ConfigError::Invalid(format!("{name} {text:?} is not a URL: {e}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(ConfigError::Invalid(format!(
            "{name} must be an http://host:port or https://host:port URL, got {text:?}"
        )));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(ConfigError::Invalid(format!(
            "{name} must not have a path or query, got {text:?}"
        )));
    }
    Ok(uri)
}

/// The certificates of a PEM file, as the roots to verify origins against.
fn read_ca_file(path: &Path) -> Result<rustls::RootCertStore, ConfigError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let invalid = |why: String| ConfigError::Invalid(format!("origin_ca {}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| invalid(format!("cannot read it: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| invalid(format!("not PEM certificates: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| invalid(format!("a certificate rustls cannot use: {e}")))?;
    }
    if roots.is_empty() {
        return Err(invalid("holds no certificate".into()));
    }
    Ok(roots)
}

/// `value` in `low..=high`, or a one-line error naming `name`.
fn in_range<T: PartialOrd + std::fmt::Display>(
    name: &str,
    value: T,
    low: T,
    high: T,
) -> Result<T, ConfigError> {
    if value < low || value > high {
        return Err(ConfigError::Invalid(format!(
            "{name} must be between {low} and {high}, got {value}"
        )));
    }
    Ok(value)
}

impl HealthConfig {
    /// The validated checks; `None` without a `path`.
    pub fn settings(&self) -> Result<Option<HealthSettings>, ConfigError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let parsed = path
            .starts_with('/')
            .then(|| path.parse::<http::uri::PathAndQuery>().ok())
            .flatten()
            .ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "health.path must be a path such as \"/healthz\", got {path:?}"
                ))
            })?;
        Ok(Some(HealthSettings {
            path: parsed,
            interval: Duration::from_millis(in_range(
                "health.interval_ms",
                self.interval_ms,
                10,
                POOL_MAX_MS,
            )?),
            timeout: Duration::from_millis(in_range("health.timeout_ms", self.timeout_ms, 1, POOL_MAX_MS)?),
            healthy_threshold: in_range(
                "health.healthy_threshold",
                self.healthy_threshold,
                1,
                POOL_MAX_THRESHOLD,
            )?,
            unhealthy_threshold: in_range(
                "health.unhealthy_threshold",
                self.unhealthy_threshold,
                1,
                POOL_MAX_THRESHOLD,
            )?,
        }))
    }
}

impl EjectionConfig {
    /// The validated ejection settings.
    pub fn settings(&self) -> Result<EjectionSettings, ConfigError> {
        Ok(EjectionSettings {
            consecutive_failures: in_range(
                "ejection.consecutive_failures",
                self.consecutive_failures,
                0,
                POOL_MAX_THRESHOLD,
            )?,
            cool_down: Duration::from_millis(in_range(
                "ejection.cool_down_ms",
                self.cool_down_ms,
                1,
                POOL_MAX_MS,
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_pool_config_embeds_on_its_own() {
        let pool: PoolConfig =
            toml::from_str("origin = \"https://a.example:443\"\n[health]\npath = \"/up\"").unwrap();
        let settings = pool.settings().unwrap();
        assert!(settings.uses_tls());
        assert_eq!(settings.health.unwrap().path.as_str(), "/up");
        assert!(toml::from_str::<PoolConfig>("origin = \"http://a:1\"\nbalanse = \"round_robin\"").is_err());
    }
}
