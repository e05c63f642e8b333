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

#[cfg(test)]
mod tests {
    use super::super::SigmaRuleSet;
    use super::*;
    use serde_json::{Map, Value, json};

    const RULE: &str = r#"
title: Fortigate admin login failed
logsource: {product: fortigate, service: event}
detection:
    sel:
        SourceIP|startswith: '203.0.113.'
        Action: login-failed
    condition: sel
"#;

    #[test]
    fn a_mapping_adds_log_sources_and_renames_fields() {
        let mut set = SigmaRuleSet::default();
        let mut d = Vec::new();
        set.add_text("f.yml", RULE, &mut d);
        set.finish(&mut d);
        assert!(d.is_empty());
        let mut f = Map::new();
        f.insert("srcip".into(), json!("203.0.113.4"));
        f.insert("action".into(), json!("login-failed"));
        assert!(
            set.matching("kv", &f, "").is_empty(),
            "no mapping: not for kv"
        );
        let m = Mapping::parse(
            "map.toml",
            "[[logsource]]\nparser = \"kv\"\nproduct = \"fortigate\"\nservice = \"event\"\n\n[fields]\nSourceIP = \"srcip\"\nAction = \"action\"\n",
        )
        .unwrap();
        set.apply_mapping(m);
        assert_eq!(set.matching("kv", &f, "").len(), 1);
        f.insert("srcip".into(), Value::String("198.51.100.1".into()));
        assert!(set.matching("kv", &f, "").is_empty());
        assert!(set.matching("access", &f, "").is_empty());
    }

    #[test]
    fn bad_mappings_say_where() {
        let e = Mapping::parse("map.toml", "[fields]\nA = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("map.toml:") && e.contains("line 2"), "{e}");
        let e = Mapping::parse("map.toml", "[[logsource]]\nparser = \"kv\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sets none of product"), "{e}");
        let e = Mapping::parse(
            "map.toml",
            "[[logsource]]\nparser = \"kv\"\nproduk = \"x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("produk"), "{e}");
    }
}
