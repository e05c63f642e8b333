//! YARA: files carried in traffic and files on the units' servers.
//!
//! The scanner sits behind one small interface ([`YaraRules`]:
//! compile once, `scan(bytes, externals)`) so that libyara (the `yara`
//! crate, vendored libyara 4.5) can later be swapped for `yara-x` without
//! touching callers. Compiled rules are immutable and shared by worker
//! threads behind an `Arc`; a reload builds a new set and swaps the `Arc`.
//!
//! Public rule sets expect the externals `filename`, `filepath`,
//! `extension`, `filetype` and `owner`; they are declared (empty) at
//! compile time and set per file at scan time. [`ScanCache`] keys results
//! by the content's SHA-256 (plus the externals when the rules use them),
//! so a file seen twice — the same attachment sent to ten people, a web
//! root swept every hour — is scanned once. Each scan has a time limit.

pub mod decode;
pub mod files;
pub mod service;
pub mod watch;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

/// The bundled rule set (`rules/yara/canhgac.yar`).
pub const BUNDLED_RULES: &str = include_str!("../../../rules/yara/canhgac.yar");

/// Externals set per file, as public rule sets expect them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Externals {
    pub filename: String,
    pub filepath: String,
    pub extension: String,
    pub filetype: String,
    pub owner: String,
}

const EXTERNALS: [&str; 5] = ["filename", "filepath", "extension", "filetype", "owner"];

/// One rule that matched.
#[derive(Debug, Clone, PartialEq)]
pub struct YaraMatch {
    pub rule: String,
    pub namespace: String,
    pub tags: Vec<String>,
    /// The rule's meta, in order (`author`, `reference`, `description`, …).
    pub meta: Vec<(String, Value)>,
}

impl YaraMatch {
    /// A meta value as text.
    pub fn meta_str(&self, key: &str) -> Option<String> {
        self.meta
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
    }
}

/// A rule-file error, with file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YaraDiagnostic {
    pub file: String,
    pub line: usize,
    pub message: String,
    pub warning: bool,
}

impl std::fmt::Display for YaraDiagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = if self.warning { "warning" } else { "error" };
        write!(f, "{}:{}: {level}: {}", self.file, self.line, self.message)
    }
}

/// Errors of the YARA room.
#[derive(Debug, thiserror::Error)]
pub enum YaraError {
    #[error("{}", render(.0))]
    Compile(Vec<YaraDiagnostic>),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("yara: {0}")]
    Engine(String),
    #[error("scan timed out after {0} s")]
    Timeout(i32),
}

fn render(d: &[YaraDiagnostic]) -> String {
    d.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Compiled YARA rules.
pub struct YaraRules {
    rules: yara::Rules,
    /// Whether any rule mentions an external (then the cache keys on them).
    uses_externals: bool,
    count: usize,
}

impl std::fmt::Debug for YaraRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "YaraRules({} rules)", self.count)
    }
}

fn compiler() -> Result<yara::Compiler, YaraError> {
    let mut c = yara::Compiler::new().map_err(|e| YaraError::Engine(e.to_string()))?;
    for name in EXTERNALS {
        c.define_variable(name, "")
            .map_err(|e| YaraError::Engine(e.to_string()))?;
    }
    Ok(c)
}

fn compile_error(e: yara::Error, default_file: &str) -> YaraError {
    match e {
        yara::Error::Compile(errs) => YaraError::Compile(
            errs.iter()
                .map(|c| YaraDiagnostic {
                    file: c
                        .filename
                        .clone()
                        .unwrap_or_else(|| default_file.to_string()),
                    line: c.line,
                    message: c.message.clone(),
                    warning: c.level != yara::CompileErrorLevel::Error,
                })
                .collect(),
        ),
        other => YaraError::Engine(other.to_string()),
    }
}

/// A compile failure as diagnostics (an engine failure becomes one).
fn diagnostics(e: yara::Error, file: &str) -> Vec<YaraDiagnostic> {
    match compile_error(e, file) {
        YaraError::Compile(d) => d,
        other => vec![YaraDiagnostic {
            file: file.to_string(),
            line: 0,
            message: other.to_string(),
            warning: false,
        }],
    }
}

/// The rule files a file stands for: itself, or the files its `include`
/// lines name (relative to it), recursively.
fn expand_includes(path: &Path, depth: u8, out: &mut Vec<PathBuf>) -> Result<(), YaraError> {
    let text = std::fs::read_to_string(path).map_err(|e| YaraError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let includes: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("include")?.trim();
            rest.strip_prefix('"')?.split('"').next()
        })
        .collect();
    let has_rules = text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("rule ")
            || l.starts_with("private rule")
            || l.starts_with("global rule")
            || l.starts_with("import ")
    });
    if includes.is_empty() || has_rules || depth > 8 {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let base = path.parent().unwrap_or(Path::new("."));
    for inc in includes {
        expand_includes(&base.join(inc), depth + 1, out)?;
    }
    Ok(())
}

fn mentions_externals(text: &str) -> bool {
    EXTERNALS.iter().any(|name| {
        text.match_indices(name).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + name.len()..].chars().next();
            let ident =
                |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
            !ident(before) && !ident(after)
        })
    })
}

impl YaraRules {
    /// Compiles rule files (each in its own namespace, named after the file).
    ///
    /// # Errors
    /// Every compile error with file and line; unreadable files.
    pub fn compile_files(paths: &[&Path]) -> Result<YaraRules, YaraError> {
        let (rules, skipped) = Self::load_files(paths)?;
        if !skipped.is_empty() {
            return Err(YaraError::Compile(skipped));
        }
        Ok(rules)
    }

    /// Loads rule files leniently: `include` directives are followed, and
    /// each included file is compiled on its own first, so that one file a
    /// build of libyara cannot compile (a missing module, a syntax error) is
    /// skipped with its diagnostics instead of failing the whole set.
    ///
    /// # Errors
    /// Only unreadable top-level files or an engine failure.
    pub fn load_files(paths: &[&Path]) -> Result<(YaraRules, Vec<YaraDiagnostic>), YaraError> {
        Self::load(paths, false)
    }

    /// [`YaraRules::load_files`], plus the bundled set (namespace
    /// `canhgac`) when `bundled` is set.
    ///
    /// # Errors
    /// Only unreadable top-level files or an engine failure.
    pub fn load(
        paths: &[&Path],
        bundled: bool,
    ) -> Result<(YaraRules, Vec<YaraDiagnostic>), YaraError> {
        let mut leaves = Vec::new();
        for p in paths {
            expand_includes(p, 0, &mut leaves)?;
        }
        // Compile everything together; libyara's compiler is unusable after
        // an error, so when a file fails, note its errors and start again
        // without it. A set with many broken files would restart often:
        // from the fifth attempt on, each file is first tried alone.
        let mut excluded = vec![false; leaves.len()];
        let mut skipped = Vec::new();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut c = Some(Self::base_compiler(bundled)?);
            let mut uses = bundled && mentions_externals(BUNDLED_RULES);
            let mut failed = None;
            for (i, p) in leaves.iter().enumerate() {
                if excluded[i] {
                    continue;
                }
                let shown = p.display().to_string();
                let text = match std::fs::read_to_string(p) {
                    Ok(t) => t,
                    Err(e) => {
                        skipped.push(YaraDiagnostic {
                            file: shown,
                            line: 0,
                            message: format!("cannot read: {e}"),
                            warning: false,
                        });
                        excluded[i] = true;
                        continue;
                    }
                };
                let ns = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "default".into());
                if attempt > 4
                    && let Err(e) = compiler()?.add_rules_file_with_namespace(p, &ns)
                {
                    skipped.extend(diagnostics(e, &shown));
                    excluded[i] = true;
                    continue;
                }
                uses |= mentions_externals(&text);
                let Some(cur) = c.take() else { break };
                match cur.add_rules_file_with_namespace(p, &ns) {
                    Ok(next) => c = Some(next),
                    Err(e) => {
                        failed = Some((i, e));
                        break;
                    }
                }
            }
            // each round either finishes or drops one more file
            match (failed, c) {
                (Some((i, e)), _) => {
                    skipped.extend(diagnostics(e, &leaves[i].display().to_string()));
                    excluded[i] = true;
                }
                (None, Some(c)) => return Ok((Self::finish(c, uses)?, skipped)),
                (None, None) => return Err(YaraError::Engine("compiler lost".into())),
            }
        }
    }

    /// A compiler with the externals declared, and the bundled set in it
    /// when asked.
    fn base_compiler(bundled: bool) -> Result<yara::Compiler, YaraError> {
        let c = compiler()?;
        if bundled {
            return c
                .add_rules_str_with_namespace(BUNDLED_RULES, "canhgac")
                .map_err(|e| compile_error(e, "canhgac"));
        }
        Ok(c)
    }

    /// Compiles rules from text (the bundled set, tests).
    ///
    /// # Errors
    /// Every compile error, with `name` as the file.
    pub fn compile_str(name: &str, text: &str) -> Result<YaraRules, YaraError> {
        let c = compiler()?
            .add_rules_str_with_namespace(text, name)
            .map_err(|e| compile_error(e, name))?;
        Self::finish(c, mentions_externals(text))
    }

    /// The bundled rule set.
    ///
    /// # Errors
    /// Only if the bundled file is broken (a test guards against it).
    pub fn bundled() -> Result<YaraRules, YaraError> {
        Self::compile_str("canhgac", BUNDLED_RULES)
    }

    fn finish(c: yara::Compiler, uses_externals: bool) -> Result<YaraRules, YaraError> {
        let rules = c
            .compile_rules()
            .map_err(|e| YaraError::Engine(e.to_string()))?;
        let count = rules.get_rules().len();
        Ok(YaraRules {
            rules,
            uses_externals,
            count,
        })
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether results depend on the externals.
    pub fn uses_externals(&self) -> bool {
        self.uses_externals
    }

    /// Scans bytes with the given externals and a time limit (a one-off
    /// scanner; use [`FileScanner`] for many files).
    ///
    /// # Errors
    /// [`YaraError::Timeout`] when the limit is hit, or an engine error.
    pub fn scan(
        &self,
        data: &[u8],
        ext: &Externals,
        timeout_secs: i32,
    ) -> Result<Vec<YaraMatch>, YaraError> {
        FileScanner::new(self, timeout_secs)?.scan(data, ext)
    }
}

/// A scanner reused across files: libyara's per-scan setup grows with the
/// number of rules, so one scanner per worker thread, not per file.
pub struct FileScanner<'r> {
    rules: &'r YaraRules,
    scanner: yara::Scanner<'r>,
    timeout_secs: i32,
}

impl<'r> FileScanner<'r> {
    /// A scanner over `rules` with a per-file time limit.
    ///
    /// # Errors
    /// An engine error.
    pub fn new(rules: &'r YaraRules, timeout_secs: i32) -> Result<Self, YaraError> {
        let mut scanner = rules
            .rules
            .scanner()
            .map_err(|e| YaraError::Engine(e.to_string()))?;
        scanner.set_timeout(timeout_secs);
        // report matching rules only: without this flag libyara calls back
        // once per rule that did not match, per file
        scanner.set_flags(yara::ScanFlags::REPORT_RULES_MATCHING);
        Ok(FileScanner {
            rules,
            scanner,
            timeout_secs,
        })
    }

    /// The rules this scanner runs.
    pub fn rules(&self) -> &YaraRules {
        self.rules
    }

    /// Scans one file's bytes with its externals.
    ///
    /// # Errors
    /// [`YaraError::Timeout`] when the limit is hit, or an engine error.
    pub fn scan(&mut self, data: &[u8], ext: &Externals) -> Result<Vec<YaraMatch>, YaraError> {
        let timeout_secs = self.timeout_secs;
        let scanner = &mut self.scanner;
        for (name, value) in [
            ("filename", &ext.filename),
            ("filepath", &ext.filepath),
            ("extension", &ext.extension),
            ("filetype", &ext.filetype),
            ("owner", &ext.owner),
        ] {
            scanner
                .define_variable(name, value.as_str())
                .map_err(|e| YaraError::Engine(e.to_string()))?;
        }
        let found = scanner.scan_mem(data).map_err(|e| {
            if e.kind == yara::YaraErrorKind::ScanTimeout {
                YaraError::Timeout(timeout_secs)
            } else {
                YaraError::Engine(e.to_string())
            }
        })?;
        Ok(found
            .into_iter()
            .map(|r| YaraMatch {
                rule: r.identifier.to_string(),
                namespace: r.namespace.to_string(),
                tags: r.tags.iter().map(|t| (*t).to_string()).collect(),
                meta: r
                    .metadatas
                    .iter()
                    .map(|m| {
                        let v = match m.value {
                            yara::MetadataValue::Integer(i) => Value::from(i),
                            yara::MetadataValue::String(s) => Value::from(s),
                            yara::MetadataValue::Boolean(b) => Value::from(b),
                        };
                        (m.identifier.to_string(), v)
                    })
                    .collect(),
            })
            .collect())
    }
}

/// Rule generation and content hash, plus the externals when the rules
/// read them.
pub type CacheKey = (u64, [u8; 32], Option<Externals>);

/// Results by content hash, bounded (oldest out first), with hit counts.
#[derive(Debug)]
pub struct ScanCache {
    map: HashMap<CacheKey, Arc<Vec<YaraMatch>>>,
    order: VecDeque<CacheKey>,
    capacity: usize,
    pub hits: u64,
    pub misses: u64,
}

impl ScanCache {
    pub fn new(capacity: usize) -> Self {
        ScanCache {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            hits: 0,
            misses: 0,
        }
    }

    /// The key of a content scanned with `rules` of `generation`.
    pub fn key(generation: u64, sha256: [u8; 32], rules: &YaraRules, ext: &Externals) -> CacheKey {
        (
            generation,
            sha256,
            rules.uses_externals().then(|| ext.clone()),
        )
    }

    /// A cached result (counted as a hit or a miss).
    pub fn get(&mut self, key: &CacheKey) -> Option<Arc<Vec<YaraMatch>>> {
        let found = self.map.get(key).cloned();
        if found.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        found
    }

    /// Keeps a result, evicting the oldest when full.
    pub fn insert(&mut self, key: CacheKey, matches: Arc<Vec<YaraMatch>>) {
        if self.map.contains_key(&key) {
            return;
        }
        if self.map.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.map.remove(&old);
        }
        self.order.push_back(key.clone());
        self.map.insert(key, matches);
    }
}

/// The EVE `metadata` of a YARA alert: rule, namespace, tags and the
/// rule's own meta (author and reference kept, as the DRL licence asks).
pub fn alert_metadata(m: &YaraMatch) -> Map<String, Value> {
    let mut md = Map::new();
    md.insert("yara_rule".into(), Value::from(vec![m.rule.clone()]));
    md.insert(
        "yara_namespace".into(),
        Value::from(vec![m.namespace.clone()]),
    );
    if !m.tags.is_empty() {
        md.insert("tags".into(), Value::from(m.tags.clone()));
    }
    for (k, v) in &m.meta {
        let s = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let entry = md
            .entry(k.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = entry {
            a.push(Value::String(s));
        }
    }
    md
}

/// A stable signature id for a YARA rule (EVE alerts need one): FNV-1a of
/// `namespace:rule`, in 1..2^31.
pub fn signature_id(m: &YaraMatch) -> u64 {
    super::stable_sid(format!("{}:{}", m.namespace, m.rule).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"
rule test_marker : demo {
    meta:
        author = "canhgac tests"
        reference = "https://example.invalid/ref"
        score = 7
    strings:
        $a = "canhgac-marker"
    condition:
        $a
}
rule by_name {
    condition:
        filename == "x.php"
}
"#;

    #[test]
    fn scans_with_meta_tags_and_externals() {
        let r = YaraRules::compile_str("t", RULES).unwrap();
        assert_eq!(r.len(), 2);
        assert!(r.uses_externals());
        let m = r
            .scan(b"... canhgac-marker ...", &Externals::default(), 5)
            .unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].rule, "test_marker");
        assert_eq!(m[0].tags, vec!["demo"]);
        assert_eq!(m[0].meta_str("author").as_deref(), Some("canhgac tests"));
        assert_eq!(m[0].meta_str("score").as_deref(), Some("7"));
        let ext = Externals {
            filename: "x.php".into(),
            ..Default::default()
        };
        let m = r.scan(b"nothing", &ext, 5).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].rule, "by_name");
        let md = alert_metadata(&m[0]);
        assert_eq!(md["yara_rule"][0], "by_name");
    }

    #[test]
    fn compile_errors_name_file_and_line() {
        let err = YaraRules::compile_str("bad", "rule a {\n condition:\n  $x\n}\n").unwrap_err();
        let YaraError::Compile(d) = err else {
            panic!("{err}");
        };
        assert_eq!(d[0].file, "bad");
        // libyara reports an undefined string where the condition ends
        assert!((3..=4).contains(&d[0].line), "{:?}", d[0]);
        assert!(d[0].message.contains("$x"), "{:?}", d[0]);
        assert!(!d[0].warning);
    }

    #[test]
    fn cache_keys_on_content_generation_and_used_externals() {
        let r =
            YaraRules::compile_str("t", "rule m { strings: $a = \"abc\" condition: $a }").unwrap();
        assert!(!r.uses_externals());
        let mut c = ScanCache::new(2);
        let h = [1u8; 32];
        let e1 = Externals {
            filename: "a".into(),
            ..Default::default()
        };
        let e2 = Externals {
            filename: "b".into(),
            ..Default::default()
        };
        // externals the rules never read do not split the cache
        assert_eq!(ScanCache::key(1, h, &r, &e1), ScanCache::key(1, h, &r, &e2));
        assert_ne!(ScanCache::key(1, h, &r, &e1), ScanCache::key(2, h, &r, &e1));
        assert!(c.get(&ScanCache::key(1, h, &r, &e1)).is_none());
        c.insert(ScanCache::key(1, h, &r, &e1), Arc::new(Vec::new()));
        assert!(c.get(&ScanCache::key(1, h, &r, &e2)).is_some());
        assert_eq!((c.hits, c.misses), (1, 1));
        // bounded: the oldest goes first
        c.insert(ScanCache::key(1, [2; 32], &r, &e1), Arc::new(Vec::new()));
        c.insert(ScanCache::key(1, [3; 32], &r, &e1), Arc::new(Vec::new()));
        assert!(c.get(&ScanCache::key(1, h, &r, &e1)).is_none());
    }

    #[test]
    fn lenient_load_skips_broken_files_and_keeps_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for i in 0..9 {
            let p = d.path().join(format!("f{i}.yar"));
            // files 1..=6 are broken, each in its own way of failing
            let text = if (1..=6).contains(&i) {
                format!("import \"nosuchmodule{i}\"\nrule r{i} {{ condition: true }}\n")
            } else {
                format!("rule r{i} {{ strings: $a = \"m{i}\" condition: $a }}\n")
            };
            std::fs::write(&p, text).unwrap();
            paths.push(p);
        }
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        let (rules, skipped) = YaraRules::load(&refs, true).unwrap();
        // 3 good files and the bundled set
        let bundled = YaraRules::bundled().unwrap().len();
        assert_eq!(rules.len(), 3 + bundled);
        let mut bad: Vec<String> = skipped.iter().map(|d| d.file.clone()).collect();
        bad.dedup();
        assert_eq!(bad.len(), 6, "{skipped:?}");
        assert!(
            bad[0].ends_with("f1.yar") && skipped[0].line == 1,
            "{skipped:?}"
        );
        let m = rules.scan(b"xx m8 xx", &Externals::default(), 5).unwrap();
        assert_eq!(m[0].rule, "r8");
        assert_eq!(m[0].namespace, "f8");
    }

    #[test]
    fn bundled_rules_compile() {
        let r = YaraRules::bundled().unwrap();
        assert!(r.len() >= 20, "{} rules", r.len());
        let eicar = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
        let m = r.scan(eicar, &Externals::default(), 5).unwrap();
        assert!(m.iter().any(|m| m.rule.contains("EICAR")), "{m:?}");
        assert!(m.iter().all(|m| m.meta_str("author").is_some()));
    }

    #[test]
    fn signature_ids_are_stable_and_distinct() {
        let a = YaraMatch {
            rule: "a".into(),
            namespace: "n".into(),
            tags: vec![],
            meta: vec![],
        };
        let mut b = a.clone();
        b.rule = "b".into();
        assert_eq!(signature_id(&a), signature_id(&a.clone()));
        assert_ne!(signature_id(&a), signature_id(&b));
    }
}
