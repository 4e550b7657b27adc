//! The TOML configuration file of `revalidate serve` and `revalidate
//! edge`: reading it into a server's config type, and why a configuration
//! cannot be used ([`ConfigError`]). Both servers share it, as they share
//! the `[connections]` section ([`crate::Limits`]).

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

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

/// Reads the TOML file at `path` as a `T`; keys the file leaves out keep
/// the defaults `T`'s `Deserialize` gives them, and unknown keys are
/// refused when `T` says so (`deny_unknown_fields`). Values that TOML types
/// alone cannot check are the caller's to validate.
pub fn read_config_file<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[serde(default)]
        port: u16,
    }

    #[test]
    fn a_missing_file_a_bad_key_and_a_good_file() {
        let dir = std::env::temp_dir().join(format!("revalidate-config-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.toml");
        let err = read_config_file::<Sample>(&missing).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
        assert!(err.to_string().starts_with("cannot read config file "), "{err}");

        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "prot = 1\n").unwrap();
        let err = read_config_file::<Sample>(&bad).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
        assert!(
            err.to_string().contains("prot"),
            "the message names the key: {err}"
        );

        let good = dir.join("good.toml");
        std::fs::write(&good, "port = 8080\n").unwrap();
        assert_eq!(read_config_file::<Sample>(&good).unwrap().port, 8080);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
