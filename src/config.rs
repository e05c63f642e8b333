//! Loading TOML configuration files with errors that name the key.
//!
//! Every config struct denies unknown keys, so a typo (`listne = …`) is an
//! error that names the key and its line, never a silently ignored setting.
//! After parsing, each role's `validate` checks meaning (an address that
//! parses, a directory that exists) and names the key too.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A configuration error: the file and what is wrong, key included.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// Reads and parses a TOML file into `T`.
///
/// # Errors
/// [`ConfigError::Read`] or [`ConfigError::Parse`] (with line, column and
/// key from the TOML parser).
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses TOML text into `T`; `path` is only used in messages.
///
/// # Errors
/// [`ConfigError::Parse`].
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().replace('\n', "\n    "),
    })
}

/// Builds an [`ConfigError::Invalid`].
pub fn invalid(path: &Path, key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        key: key.to_string(),
        message: message.into(),
    }
}
