//! `[[sites]]`: the sites of one edge in its configuration file, and the
//! table built from them.
//!
//! ```toml
//! purge_token = "…"                # with sites: the token that purges every site
//!
//! [[sites]]
//! name = "www.example.com"         # the cache key's host part and the metrics' `site` label
//! hosts = ["www.example.com", "example.com"]   # exact, "*.example.com", or "*" (every other host)
//! origin = "http://10.0.0.5:8080"
//! purge_token = "…"                # optional: purges this site only
//! [sites.cache_key]                # optional: see revalidate_edge::sites::key
//! query = "sort"
//! drop = ["utm_*"]
//! [[sites.ttl]]                    # optional, repeatable: see revalidate_edge::sites::ttl
//! path = "/static/*"
//! default_ttl_s = 86400
//!
//! [[sites]]
//! name = "static"
//! hosts = ["static.example.com", "*.cdn.example.com"]
//! origins = ["https://10.0.0.6", "https://10.0.0.7"]   # a pool: the pool keys of revalidate_edge::config::PoolConfig
//! origin_ca = "/etc/revalidate/origin-ca.pem"
//! [sites.health]
//! path = "/healthz"
//! ```
//!
//! Without `[[sites]]` the edge is one site, `default`, answering every
//! host with the top-level `origin`, `purge_token`, `[cache_key]` and
//! `[[ttl]]`.
//! With them, the top-level `origin` must be empty (a catch-all site is
//! a site with `hosts = ["*"]`), and every other top-level key applies to
//! every site.

use std::sync::Arc;

use serde::Deserialize;

use super::key::{KeyConfig, KeyRules};
use super::table::{HostPattern, SiteTable};
use super::ttl::{TtlRuleConfig, TtlRules};
use super::{SiteEdges, Sites};
use crate::clock::Clock;
use crate::config::{ConfigError, EdgeConfig, EjectionConfig, HealthConfig, PoolConfig};
use crate::entry::DecodedEntry;
use crate::metrics::MetricsRegistry;
use crate::pool::{Balance, OriginProtocol};
use crate::proxy::{DEFAULT_SITE, Edge, EdgeSettings, PurgeAll};
use crate::storage::AnyStorage;

/// One `[[sites]]` entry.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SiteConfig {
    /// The site's name: the host part of its cache keys and its `site`
    /// label; a host-name-like word, unique among the sites.
    pub name: String,
    /// The host names it answers ([`HostPattern`]).
    pub hosts: Vec<String>,
    /// Its origin, `http://host:port` or `https://host:port` (or
    /// `origins`, a pool; the pool keys are those of [`PoolConfig`]).
    pub origin: Option<String>,
    /// Its origins, a pool (instead of `origin`).
    pub origins: Vec<String>,
    /// Its shield edges, instead of origins ([`PoolConfig::shields`]).
    pub shields: Vec<String>,
    /// A PEM file of the authorities its `https` origins are verified
    /// against (default: the system's roots).
    pub origin_ca: Option<std::path::PathBuf>,
    /// How requests are spread over its origins.
    pub balance: Balance,
    /// HTTP/1.1 or HTTP/2 to its origins.
    pub origin_protocol: OriginProtocol,
    /// `[sites.health]`: active health checks of its origins.
    pub health: HealthConfig,
    /// `[sites.ejection]`: passive ejection of its origins.
    pub ejection: EjectionConfig,
    /// The token of its own purges; `None`: only the top-level token
    /// purges it.
    pub purge_token: Option<String>,
    /// What its cache key keeps of the query.
    pub cache_key: KeyConfig,
    /// `[[sites.ttl]]`: lifetimes by path ([`crate::sites::ttl`]).
    pub ttl: Vec<TtlRuleConfig>,
}

/// A site as the table is built from it, read from either form.
struct SiteSpec<'a> {
    name: &'a str,
    hosts: Vec<HostPattern>,
    pool: PoolConfig,
    purge_token: Option<&'a str>,
    cache_key: &'a KeyConfig,
    ttl: &'a [TtlRuleConfig],
}

fn invalid(site: &str, why: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid(format!("site {site:?}: {why}"))
}

/// [`invalid`] for an error of a part's own check, without its prefix.
fn invalid_part(site: &str, error: ConfigError) -> ConfigError {
    match error {
        ConfigError::Invalid(why) => invalid(site, why),
        other => invalid(site, other),
    }
}

/// The sites `config` describes, checked: names, hosts, origins, tokens,
/// key rules; a host claimed by two sites is an error.
fn specs(config: &EdgeConfig) -> Result<Vec<SiteSpec<'_>>, ConfigError> {
    if config.sites.is_empty() {
        return Ok(vec![SiteSpec {
            name: DEFAULT_SITE,
            hosts: vec![HostPattern::Any],
            pool: config.pool(),
            purge_token: config.purge_token.as_deref(),
            cache_key: &config.cache_key,
            ttl: &config.ttl,
        }]);
    }
    if config.pool() != EdgeConfig::default().pool() {
        return Err(ConfigError::Invalid(
            "origin (and the other pool keys) and [[sites]] exclude each other: give each site its origin (a site with hosts = [\"*\"] answers every other host)".into(),
        ));
    }
    if config.cache_key != KeyConfig::default() {
        return Err(ConfigError::Invalid(
            "[cache_key] is for an edge without [[sites]]: give each site its [sites.cache_key]".into(),
        ));
    }
    if !config.ttl.is_empty() {
        return Err(ConfigError::Invalid(
            "[[ttl]] is for an edge without [[sites]]: give each site its [[sites.ttl]]".into(),
        ));
    }
    let mut specs = Vec::with_capacity(config.sites.len());
    for site in &config.sites {
        let name = site.name.as_str();
        let valid_name = !name.is_empty()
            && name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_'));
        if !valid_name {
            return Err(ConfigError::Invalid(format!(
                "site name {name:?} must be lowercase letters, digits, '.', '-' or '_' (it is the host part of the site's cache keys)"
            )));
        }
        if specs.iter().any(|spec: &SiteSpec<'_>| spec.name == name) {
            return Err(ConfigError::Invalid(format!("two sites are named {name:?}")));
        }
        if site.hosts.is_empty() {
            return Err(invalid(
                name,
                "hosts must name at least one host (\"*\" for every host)",
            ));
        }
        let hosts = site
            .hosts
            .iter()
            .map(|host| HostPattern::parse(host).map_err(|e| invalid(name, e)))
            .collect::<Result<Vec<_>, _>>()?;
        specs.push(SiteSpec {
            name,
            hosts,
            pool: PoolConfig {
                origin: site.origin.clone(),
                origins: site.origins.clone(),
                shields: site.shields.clone(),
                origin_ca: site.origin_ca.clone(),
                balance: site.balance,
                origin_protocol: site.origin_protocol,
                health: site.health.clone(),
                ejection: site.ejection,
            },
            purge_token: site.purge_token.as_deref(),
            cache_key: &site.cache_key,
            ttl: &site.ttl,
        });
    }
    Ok(specs)
}

/// Checks the sites of `config` as [`build`] would use them.
pub fn validate(config: &EdgeConfig) -> Result<(), ConfigError> {
    let specs = specs(config)?;
    for spec in &specs {
        spec.pool.settings().map_err(|e| invalid_part(spec.name, e))?;
        if spec.purge_token.is_some_and(|token| token.len() < 16) {
            return Err(invalid(spec.name, "purge_token must be at least 16 characters"));
        }
        KeyRules::new(spec.cache_key).map_err(|e| invalid(spec.name, e))?;
        TtlRules::new(spec.ttl).map_err(|e| invalid(spec.name, e))?;
    }
    SiteTable::new(
        specs
            .into_iter()
            .map(|spec| ((), spec.name.to_owned(), spec.hosts))
            .collect(),
    )
    .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    Ok(())
}

/// The table of `config`'s sites, each an [`Edge`] over `storage`,
/// counting into `registry`.
pub fn build(
    config: &EdgeConfig,
    storage: &AnyStorage<DecodedEntry>,
    clock: &Arc<dyn Clock>,
    registry: &MetricsRegistry,
) -> Result<SiteTable<SiteEdges>, ConfigError> {
    validate(config)?;
    let specs = specs(config)?;
    let base = config.edge_settings_without_origin()?;
    let purge_all = match (&config.purge_token, config.sites.is_empty()) {
        (Some(token), false) => Some(PurgeAll {
            token: token.clone(),
            sites: specs.iter().map(|spec| spec.name.to_owned()).collect(),
        }),
        _ => None,
    };
    let mut sites = Vec::with_capacity(specs.len());
    for spec in specs {
        let settings = EdgeSettings {
            pool: spec.pool.settings().map_err(|e| invalid_part(spec.name, e))?,
            site: spec.name.to_owned(),
            purge_token: spec.purge_token.map(str::to_owned),
            cache_key: KeyRules::new(spec.cache_key).map_err(|e| invalid(spec.name, e))?,
            ttl: TtlRules::new(spec.ttl).map_err(|e| invalid(spec.name, e))?,
            purge_all: purge_all.clone(),
            ..base.clone()
        };
        let edge = Edge::in_registry(settings, storage.clone(), Arc::clone(clock), registry);
        sites.push((SiteEdges::new(edge), spec.name.to_owned(), spec.hosts));
    }
    SiteTable::new(sites).map_err(|e| ConfigError::Invalid(e.to_string()))
}

/// [`build`] into a new [`Sites`].
pub fn open(
    config: &EdgeConfig,
    storage: AnyStorage<DecodedEntry>,
    clock: Arc<dyn Clock>,
) -> Result<Sites, ConfigError> {
    let registry = MetricsRegistry::new();
    let table = build(config, &storage, &clock, &registry)?;
    Ok(Sites::new(table, storage, registry))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SITE: &str = "[[sites]]\nname = \"a\"\nhosts = [\"a.test\"]\norigin = \"http://127.0.0.1:1\"\n";

    #[test]
    fn sites_parse_and_validate() {
        let text = format!(
            "purge_token = \"0123456789abcdef\"\n{SITE}purge_token = \"fedcba9876543210\"\n[sites.cache_key]\nquery = \"ignore\"\n\
             [[sites]]\nname = \"b.example\"\nhosts = [\"*.b.test\", \"*\"]\norigin = \"http://127.0.0.1:2\"\n"
        );
        let config: EdgeConfig = toml::from_str(&text).unwrap();
        config.validate().unwrap();
        assert_eq!(config.sites.len(), 2);
        assert_eq!(config.sites[0].cache_key.query, crate::sites::QueryMode::Ignore);
        // Without [[sites]]: one site, `default`, every host.
        let config: EdgeConfig = toml::from_str("origin = \"http://127.0.0.1:1\"").unwrap();
        let specs = specs(&config).unwrap();
        assert_eq!(
            (specs[0].name, &specs[0].hosts[..]),
            (DEFAULT_SITE, &[HostPattern::Any][..])
        );
    }

    #[test]
    fn bad_sites_are_one_line_errors_that_say_why() {
        let cases = [
            (
                format!("origin = \"http://127.0.0.1:1\"\n{SITE}"),
                "exclude each other",
            ),
            (
                format!("[cache_key]\nquery = \"sort\"\n{SITE}"),
                "[sites.cache_key]",
            ),
            (SITE.replace("name = \"a\"", "name = \"A b\""), "site name"),
            (SITE.replace("name = \"a\"\n", ""), "site name"),
            (
                format!("{SITE}{}", SITE.replace("a.test", "c.test")),
                "two sites are named",
            ),
            (
                format!(
                    "{SITE}{}",
                    SITE.replace("\"a\"", "\"b\"").replace("a.test", "A.test")
                ),
                "claimed by sites \"a\" and \"b\"",
            ),
            (SITE.replace("[\"a.test\"]", "[]"), "at least one host"),
            (SITE.replace("a.test", "a.test:8080"), "not a host name"),
            (SITE.replace("http://127.0.0.1:1", "ftp://x"), "http://host:port"),
            (
                SITE.replace("origin = \"http://127.0.0.1:1\"\n", ""),
                "site \"a\": an origin is required",
            ),
            (format!("{SITE}purge_token = \"short\"\n"), "at least 16"),
            (format!("{SITE}[sites.cache_key]\ndrop = [\"utm_[\"]\n"), "utm_["),
            (
                format!("[[ttl]]\npath = \"/\"\ndefault_ttl_s = 1\n{SITE}"),
                "[[sites.ttl]]",
            ),
            (format!("{SITE}[[sites.ttl]]\npath = \"/x\"\n"), "default_ttl_s"),
        ];
        for (text, why) in cases {
            let config: EdgeConfig = toml::from_str(&text).unwrap();
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(why), "{text}\n→ {error}\n(wanted {why:?})");
            assert!(!error.contains('\n'), "{error}");
        }
        assert!(toml::from_str::<EdgeConfig>(&format!("{SITE}hots = []\n")).is_err());
        assert!(
            toml::from_str::<EdgeConfig>(&format!("{SITE}[sites.cache_key]\nquery = \"shuffle\"\n")).is_err()
        );
    }
}
