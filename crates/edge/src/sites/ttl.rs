//! A site's lifetime rules by path, as nginx's `proxy_cache_valid` and
//! Souin's `ttl`: the first rule whose `path` glob matches the request's
//! path gives the core a [`CacheConfig`] with its lifetimes. Pure.
//!
//! ```toml
//! [[sites.ttl]]                    # or [[ttl]] without [[sites]]
//! path = "/static/*"               # a glob on the path (`*` crosses '/')
//! default_ttl_s = 86400            # lifetime of responses without one (the §4.2.2 heuristic)
//! [[sites.ttl]]
//! path = "/api/feed"
//! override_ttl_s = 10              # DEVIATION(ttl-override): whatever the origin says
//! ```
//!
//! `default_ttl_s` is no deviation: RFC 9111 §4.2.2 lets a cache choose
//! its heuristic for responses without an explicit expiration time
//! ([`CacheConfig::heuristic_lifetime`]). `override_ttl_s` is one, marked
//! `DEVIATION(ttl-override)` in the core
//! ([`CacheConfig::lifetime_override`]): only the lifetime changes,
//! `no-store`, `private` and `no-cache` still hold.

use globset::{Glob, GlobSet, GlobSetBuilder};
use revalidate_core::cache::CacheConfig;
use serde::Deserialize;

/// One `[[sites.ttl]]` entry.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TtlRuleConfig {
    /// The paths it applies to, a glob (`/static/*`).
    pub path: String,
    /// The lifetime of responses without an explicit one, seconds.
    pub default_ttl_s: Option<u64>,
    /// The lifetime whatever the response says, seconds
    /// (`DEVIATION(ttl-override)`).
    pub override_ttl_s: Option<u64>,
}

/// The rules, compiled; empty by default.
#[derive(Clone, Debug, Default)]
pub struct TtlRules {
    paths: Option<GlobSet>,
    rules: Vec<TtlRuleConfig>,
}

impl TtlRules {
    /// The rules `configs` describe, checked; an error names the rule.
    pub fn new(configs: &[TtlRuleConfig]) -> Result<Self, String> {
        if configs.is_empty() {
            return Ok(Self::default());
        }
        let mut set = GlobSetBuilder::new();
        for rule in configs {
            if rule.default_ttl_s.is_none() && rule.override_ttl_s.is_none() {
                return Err(format!(
                    "ttl rule for {:?}: give default_ttl_s, override_ttl_s or both",
                    rule.path
                ));
            }
            if !rule.path.starts_with('/') {
                return Err(format!("ttl rule path {:?} must start with '/'", rule.path));
            }
            set.add(Glob::new(&rule.path).map_err(|e| format!("ttl rule path {:?}: {e}", rule.path))?);
        }
        Ok(Self {
            paths: Some(set.build().map_err(|e| format!("ttl rules: {e}"))?),
            rules: configs.to_vec(),
        })
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The cache configuration of each rule, in order: `base` with the
    /// rule's lifetimes.
    pub fn configs(&self, base: &CacheConfig) -> Vec<CacheConfig> {
        self.rules
            .iter()
            .map(|rule| CacheConfig {
                heuristic_lifetime: rule.default_ttl_s.or(base.heuristic_lifetime),
                lifetime_override: rule.override_ttl_s.or(base.lifetime_override),
                ..base.clone()
            })
            .collect()
    }

    /// The index of the first rule whose glob matches `path`.
    pub fn rule_for(&self, path: &str) -> Option<usize> {
        let paths = self.paths.as_ref()?;
        paths.matches(path).into_iter().min()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rule(path: &str, default: Option<u64>, over: Option<u64>) -> TtlRuleConfig {
        TtlRuleConfig {
            path: path.into(),
            default_ttl_s: default,
            override_ttl_s: over,
        }
    }

    #[test]
    fn the_first_matching_rule_gives_the_lifetimes() {
        let rules = TtlRules::new(&[
            rule("/static/*.css", None, Some(60)),
            rule("/static/*", Some(86_400), None),
            rule("/api/feed", Some(5), Some(10)),
        ])
        .unwrap();
        let cases = [
            ("/static/a/site.css", Some(0)),
            ("/static/img/logo.png", Some(1)),
            ("/static", None),
            ("/api/feed", Some(2)),
            ("/api/feed/1", None),
            ("/other", None),
        ];
        for (path, want) in cases {
            assert_eq!(rules.rule_for(path), want, "{path}");
        }
        let configs = rules.configs(&CacheConfig::shared());
        assert_eq!(
            configs
                .iter()
                .map(|c| (c.heuristic_lifetime, c.lifetime_override))
                .collect::<Vec<_>>(),
            [(None, Some(60)), (Some(86_400), None), (Some(5), Some(10))]
        );
        assert!(TtlRules::new(&[]).unwrap().rule_for("/x").is_none());
    }

    #[test]
    fn bad_rules_say_why() {
        for (rule, why) in [
            (rule("/x", None, None), "default_ttl_s, override_ttl_s"),
            (rule("x", Some(1), None), "start with '/'"),
            (rule("/x[", Some(1), None), "/x["),
        ] {
            let error = TtlRules::new(&[rule]).unwrap_err();
            assert!(error.contains(why), "{error}");
        }
    }
}
