//! A configurable logsource and field mapping, for rules written for
//! someone else's logs.
//!
//! Built in, canhgac's parsers stand for the Sigma log sources of
//! [`super::logsources_of`] and name fields as Sigma's web, firewall and
//! Linux rules do. A province whose rules say `product: fortigate` or
//! `ClientIP` can say what those mean here, in a TOML file:
//!
//! ```toml
//! # a parser's events also stand for these log sources
//! [[logsource]]
//! parser = "kv"
//! product = "fortigate"
//! service = "event"
//!
//! # a rule's field name = the event's field name
//! [fields]
//! ClientIP = "c-ip"
//! DestinationHostname = "cs-host"
//! ```
//!
//! Field names are rewritten in the rules when they load (so matching
//! costs nothing more); log sources are added to the parser's own.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::rule::LogSource;

/// The mapping file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Extra log sources per parser.
    #[serde(default)]
    pub logsource: Vec<LogSourceEntry>,
    /// Rule field name → event field name.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// One `[[logsource]]` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogSourceEntry {
    /// A parser name (`access`, `kv`, `sshd`, … as `log.parser` shows).
    pub parser: String,
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
}

impl LogSourceEntry {
    pub fn logsource(&self) -> LogSource {
        LogSource {
            product: self.product.clone(),
            category: self.category.clone(),
            service: self.service.clone(),
        }
    }
}

/// A mapping file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Toml { path: String, message: String },
    #[error("{path}: [[logsource]] for parser `{parser}` sets none of product, category, service")]
    Empty { path: String, parser: String },
}

impl Mapping {
    /// Reads a mapping file; errors name the file (and TOML's line and
    /// column).
    ///
    /// # Errors
    /// [`MappingError`].
    pub fn load(path: &Path) -> Result<Mapping, MappingError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| MappingError::Io {
            path: shown.clone(),
            source,
        })?;
        Mapping::parse(&shown, &text)
    }

    /// Parses a mapping's text; `path` is for messages.
    ///
    /// # Errors
    /// [`MappingError`].
    pub fn parse(path: &str, text: &str) -> Result<Mapping, MappingError> {
        let m: Mapping = toml::from_str(text).map_err(|e| MappingError::Toml {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        if let Some(e) = m
            .logsource
            .iter()
            .find(|e| e.product.is_none() && e.category.is_none() && e.service.is_none())
        {
            return Err(MappingError::Empty {
                path: path.to_string(),
                parser: e.parser.clone(),
            });
        }
        Ok(m)
    }

    /// The extra log sources of `parser`.
    pub fn sources_of(&self, parser: &str) -> impl Iterator<Item = LogSource> + '_ {
        let parser = parser.to_string();
        self.logsource
            .iter()
            .filter(move |e| e.parser == parser)
            .map(LogSourceEntry::logsource)
    }

    /// The event field a rule's field name stands for.
    pub fn field<'a>(&'a self, name: &'a str) -> &'a str {
        self.fields.get(name).map_or(name, String::as_str)
    }
}
