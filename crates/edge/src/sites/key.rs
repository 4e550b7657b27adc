//! A site's cache-key rules: what of a request target's query the cache
//! key keeps. Pure. The proxy rewrites the target to the normalised one
//! before anything else, so the origin is asked for exactly what the key
//! names and a stored response always answers its own key (as Varnish's
//! `std.querysort` and the usual `utm_` stripping rewrite `req.url`, rather
//! than keying on one target and fetching another).
//!
//! ```toml
//! [sites.cache_key]
//! query = "sort"                    # "keep" (default), "sort" or "ignore"
//! drop = ["utm_*", "fbclid", "gclid"]   # parameters removed, by name (glob)
//! ```

use std::borrow::Cow;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

/// What the key keeps of the query.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum QueryMode {
    /// The query as sent (the default: RFC 9111 §2 keys on the target URI).
    #[default]
    Keep,
    /// The parameters sorted by name (parameters of one name keep their
    /// order, which may matter to the origin), so `?b=1&a=2` and `?a=2&b=1`
    /// share one entry.
    Sort,
    /// No query at all: every query string of a path shares one entry.
    Ignore,
}

/// The `[sites.cache_key]` table as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct KeyConfig {
    /// What the key keeps of the query.
    pub query: QueryMode,
    /// Parameter names (globs: `utm_*`) removed from the query.
    pub drop: Vec<String>,
}

/// The rules, ready to apply.
#[derive(Clone, Debug, Default)]
pub struct KeyRules {
    query: QueryMode,
    drop: Option<GlobSet>,
}

impl KeyRules {
    /// The rules `config` describes; a bad glob is an error naming it.
    pub fn new(config: &KeyConfig) -> Result<Self, String> {
        let drop = if config.drop.is_empty() {
            None
        } else {
            let mut set = GlobSetBuilder::new();
            for pattern in &config.drop {
                if pattern.is_empty() {
                    return Err("cache_key.drop: an empty parameter name".to_owned());
                }
                set.add(Glob::new(pattern).map_err(|e| format!("cache_key.drop: {pattern:?}: {e}"))?);
            }
            Some(set.build().map_err(|e| format!("cache_key.drop: {e}"))?)
        };
        Ok(Self {
            query: config.query,
            drop,
        })
    }

    /// Whether the rules change no target (then the proxy skips them).
    pub fn is_identity(&self) -> bool {
        self.query == QueryMode::Keep && self.drop.is_none()
    }

    /// The normalised form of a path and query (`/a?b=1`). Idempotent:
    /// normalising a normalised target changes nothing.
    pub fn normalise<'a>(&self, path_and_query: &'a str) -> Cow<'a, str> {
        let Some((path, query)) = path_and_query.split_once('?') else {
            return Cow::Borrowed(path_and_query);
        };
        if self.query == QueryMode::Ignore {
            return Cow::Borrowed(path);
        }
        let mut params: Vec<&str> = query
            .split('&')
            .filter(|param| !param.is_empty())
            .filter(|param| {
                let name = param.split_once('=').map_or(*param, |(name, _)| name);
                !self.drop.as_ref().is_some_and(|drop| drop.is_match(name))
            })
            .collect();
        if self.query == QueryMode::Sort {
            // Stable: parameters of one name keep their order.
            params.sort_by_key(|param| param.split_once('=').map_or(*param, |(name, _)| name));
        }
        let rebuilt = if params.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", params.join("&"))
        };
        if rebuilt == path_and_query {
            Cow::Borrowed(path_and_query)
        } else {
            Cow::Owned(rebuilt)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rules(query: QueryMode, drop: &[&str]) -> KeyRules {
        KeyRules::new(&KeyConfig {
            query,
            drop: drop.iter().map(|d| (*d).to_owned()).collect(),
        })
        .unwrap()
    }

    #[test]
    fn targets_normalise_by_the_site_rules() {
        use QueryMode::*;
        let cases: &[(QueryMode, &[&str], &str, &str)] = &[
            (Keep, &[], "/a?b=1&a=2", "/a?b=1&a=2"),
            (Keep, &[], "/a", "/a"),
            (Sort, &[], "/a?b=1&a=2", "/a?a=2&b=1"),
            (Sort, &[], "/a?b=1&a=2&b=0", "/a?a=2&b=1&b=0"),
            (Sort, &[], "/a?b&a", "/a?a&b"),
            (Sort, &[], "/a?", "/a"),
            (Sort, &[], "/a?&&b=1&", "/a?b=1"),
            (Ignore, &[], "/a?b=1", "/a"),
            (Ignore, &["utm_*"], "/a", "/a"),
            (
                Keep,
                &["utm_*", "fbclid"],
                "/a?utm_source=x&id=3&fbclid=9",
                "/a?id=3",
            ),
            (Keep, &["utm_*"], "/a?utm_source=x&utm_medium=y", "/a"),
            (Keep, &["utm_*"], "/a?xutm_source=1", "/a?xutm_source=1"),
            (Sort, &["utm_*"], "/a?z=1&utm_id=2&b=3", "/a?b=3&z=1"),
            // The path is never touched.
            (Sort, &[], "/b/../a?x=1", "/b/../a?x=1"),
        ];
        for (query, drop, input, want) in cases {
            assert_eq!(
                rules(*query, drop).normalise(input),
                *want,
                "{query:?} {drop:?} {input}"
            );
        }
        assert!(rules(Keep, &[]).is_identity());
        assert!(!rules(Keep, &["x"]).is_identity());
        assert!(!rules(Sort, &[]).is_identity());
    }

    #[test]
    fn bad_globs_are_errors_naming_them() {
        let error = KeyRules::new(&KeyConfig {
            query: QueryMode::Keep,
            drop: vec!["utm_[".into()],
        })
        .unwrap_err();
        assert!(error.contains("utm_["), "{error}");
        assert!(
            KeyRules::new(&KeyConfig {
                query: QueryMode::Keep,
                drop: vec![String::new()]
            })
            .is_err()
        );
    }

    fn target() -> impl Strategy<Value = String> {
        let param = prop::sample::select(vec!["a=1", "b=2", "a=3", "utm_x=1", "c", "", "b=1"]);
        (
            prop::sample::select(vec!["/", "/p", "/p/q"]),
            prop::option::of(prop::collection::vec(param, 0..6)),
        )
            .prop_map(|(path, query)| match query {
                None => path.to_owned(),
                Some(params) => format!("{path}?{}", params.join("&")),
            })
    }

    fn mode() -> impl Strategy<Value = QueryMode> {
        prop_oneof![
            Just(QueryMode::Keep),
            Just(QueryMode::Sort),
            Just(QueryMode::Ignore)
        ]
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent_and_keeps_the_path(query in mode(), drop in any::<bool>(), input in target()) {
            let rules = rules(query, if drop { &["utm_*"] } else { &[] });
            let once = rules.normalise(&input).into_owned();
            prop_assert_eq!(rules.normalise(&once).into_owned(), once.clone());
            prop_assert_eq!(once.split('?').next(), input.split('?').next());
        }

        #[test]
        fn sorting_makes_the_order_of_distinct_names_irrelevant(mut names in prop::collection::btree_set("[a-d]{1,2}", 1..5), seed in any::<u64>()) {
            let rules = rules(QueryMode::Sort, &[]);
            let sorted: Vec<String> = std::mem::take(&mut names).into_iter().map(|n| format!("{n}=v")).collect();
            let mut shuffled = sorted.clone();
            // A deterministic shuffle from the seed.
            let len = shuffled.len();
            for i in 0..len {
                shuffled.swap(i, (seed as usize).wrapping_add(i * 7) % len);
            }
            prop_assert_eq!(
                rules.normalise(&format!("/p?{}", shuffled.join("&"))).into_owned(),
                format!("/p?{}", sorted.join("&"))
            );
        }
    }
}
