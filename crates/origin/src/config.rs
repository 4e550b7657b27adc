//! Configuration of `revalidate serve`: a TOML file whose every key has a
//! default, overridden by command-line flags.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! root = "public"                 # the static tree
//! data = "data"                   # embedded database and the ETag index
//! database = "sqlite://data/revalidate.db"   # or postgres://…
//! metrics_listen = "127.0.0.1:9090"          # optional; default: /metrics on `listen`
//!
//! [api]
//! prefix = "/api/"
//! body_limit = 1048576
//! require_preconditions = ["orders"]          # collections whose writes need If-Match (428)
//!
//! [static]
//! directory_listing = false
//! follow_symlinks = false
//! [[static.cache_control]]
//! pattern = "**/*.pdf"
//! value = "public, max-age=600"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything `revalidate serve` needs to start.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct OriginConfig {
    /// Address of the HTTP listener.
    pub listen: SocketAddr,
    /// Root of the static tree.
    pub root: PathBuf,
    /// Directory for the embedded database and the static ETag index.
    pub data: PathBuf,
    /// `sqlite://…` or `postgres://…`; `None` means `sqlite://<data>/revalidate.db`.
    pub database: Option<String>,
    /// Where `/metrics` is served: `None` puts it on the main listener.
    pub metrics_listen: Option<SocketAddr>,
    /// The JSON resource API.
    pub api: ApiConfig,
    /// The static files.
    #[serde(rename = "static")]
    pub static_files: StaticSection,
}

/// The `[api]` section.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Path prefix of the API, with leading and trailing `/`.
    pub prefix: String,
    /// Largest accepted request body, in bytes (larger gets 413).
    pub body_limit: usize,
    /// Collections whose unsafe methods must carry a precondition, or get
    /// `428 Precondition Required` ([RFC 6585 §3]). `"*"` means all.
    ///
    /// [RFC 6585 §3]: https://www.rfc-editor.org/rfc/rfc6585#section-3
    pub require_preconditions: Vec<String>,
}

/// The `[static]` section.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct StaticSection {
    /// Serve an HTML listing for directories without `index.html`.
    pub directory_listing: bool,
    /// Follow symbolic links that lead outside the root.
    pub follow_symlinks: bool,
    /// `Cache-Control` by path pattern, first match wins, before the defaults.
    pub cache_control: Vec<CacheControlRule>,
}

/// One `[[static.cache_control]]` rule.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CacheControlRule {
    /// A glob over the path relative to the root, e.g. `assets/**/*.js`.
    pub pattern: String,
    /// The `Cache-Control` field value to send.
    pub value: String,
}

impl Default for OriginConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            root: PathBuf::from("public"),
            data: PathBuf::from("data"),
            database: None,
            metrics_listen: None,
            api: ApiConfig::default(),
            static_files: StaticSection::default(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            prefix: "/api/".into(),
            body_limit: 1024 * 1024,
            require_preconditions: Vec::new(),
        }
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is out of its domain.
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl OriginConfig {
    /// Reads a TOML file; missing keys keep their defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let config: Self = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The database URL: the configured one, or SQLite inside `data`.
    pub fn database_url(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data.join("revalidate.db").display()))
    }

    /// Checks values that TOML types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let prefix = &self.api.prefix;
        if !(prefix.starts_with('/') && prefix.ends_with('/') && prefix.len() > 1) {
            return Err(ConfigError::Invalid(format!(
                "api.prefix must start and end with '/' and not be '/', got {prefix:?}"
            )));
        }
        if self.api.body_limit == 0 {
            return Err(ConfigError::Invalid(
                "api.body_limit must be at least 1 byte".into(),
            ));
        }
        if let Some(db) = &self.database
            && !(db.starts_with("sqlite:")
                || db.starts_with("postgres://")
                || db.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid(format!(
                "database must be a sqlite:// or postgres:// URL, got {db:?}"
            )));
        }
        Ok(())
    }

    /// Whether writes to `collection` must carry a precondition.
    pub fn requires_preconditions(&self, collection: &str) -> bool {
        self.api
            .require_preconditions
            .iter()
            .any(|c| c == "*" || c == collection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let config: OriginConfig = toml::from_str("").unwrap();
        assert_eq!(config, OriginConfig::default());
        assert!(config.database_url().starts_with("sqlite://data/"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        assert!(toml::from_str::<OriginConfig>("lisen = \"127.0.0.1:1\"").is_err());
        let bad: OriginConfig = toml::from_str("[api]\nprefix = \"api\"").unwrap();
        assert!(bad.validate().is_err());
        let bad: OriginConfig = toml::from_str("database = \"mysql://x\"").unwrap();
        assert!(bad.validate().is_err());
    }

    #[test]
    fn full_file_parses() {
        let text = r#"
            listen = "127.0.0.1:9999"
            root = "site"
            database = "postgres://u@127.0.0.1/db"
            [api]
            prefix = "/v1/"
            require_preconditions = ["orders"]
            [static]
            directory_listing = true
            [[static.cache_control]]
            pattern = "**/*.pdf"
            value = "public, max-age=600"
        "#;
        let config: OriginConfig = toml::from_str(text).unwrap();
        config.validate().unwrap();
        assert!(config.requires_preconditions("orders") && !config.requires_preconditions("notes"));
        assert_eq!(config.static_files.cache_control[0].value, "public, max-age=600");
    }
}
