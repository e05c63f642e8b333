//! Following log files: new lines as they are written, through rotation,
//! across restarts.
//!
//! A file is known by its device and inode, not its name. At each poll the
//! patterns (globs allowed: `/var/log/nginx/*.log`) are expanded and each
//! path is compared with what was read before:
//!
//! - **same inode, grown**: read the new bytes;
//! - **same inode, shorter** than the offset (`copytruncate`): start again at 0;
//! - **another inode** (rotated by rename, `logrotate`'s default): the old file
//!   is still open, so its last lines are read to its end first, then the new
//!   file from its start.
//!
//! Offsets are kept in a small JSON file (written to a temporary name and
//! renamed, so a crash leaves the old or the new state, never half of one).
//! On start a file whose inode is unchanged resumes at its saved offset; if
//! it was rotated while the sensor was down, the old inode is looked for
//! beside it (`access.log.1`) and read from the saved offset first. Only
//! whole lines are taken: a line still being written waits for its newline,
//! so a restart neither loses nor repeats a line. A line longer than the
//! limit is cut, flagged and kept; the rest of it, up to its newline, is
//! skipped and counted.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A line taken from a followed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailLine {
    pub path: PathBuf,
    pub text: String,
    /// The line was longer than the limit and was cut there.
    pub truncated: bool,
}

/// Where each file was read to, as saved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Saved {
    dev: u64,
    ino: u64,
    offset: u64,
}

/// How many bytes before the offset are kept to recognise the file.
const CHECK: usize = 64;

struct Open {
    file: File,
    dev: u64,
    ino: u64,
    /// Bytes consumed as whole lines.
    offset: u64,
    /// Bytes after `offset` read but not yet ended by a newline.
    partial: Vec<u8>,
    /// Inside an over-long line: skip to its newline.
    skipping: bool,
    /// The last bytes consumed (up to [`CHECK`]): if the file no longer
    /// has them just before the offset, it was truncated and written again
    /// between two polls, and is read from its start.
    check: Vec<u8>,
}

/// Counters of following.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TailStats {
    pub lines: u64,
    pub truncated_lines: u64,
    pub rotations: u64,
    pub truncations: u64,
    pub errors: u64,
}

/// Follows the files matching some patterns.
pub struct Tailer {
    patterns: Vec<String>,
    state_path: Option<PathBuf>,
    max_line: usize,
    open: HashMap<PathBuf, Open>,
    saved: BTreeMap<PathBuf, Saved>,
    pub stats: TailStats,
}

fn io_err(path: &Path, e: &std::io::Error) -> String {
    format!("{}: {e}", path.display())
}

impl Tailer {
    /// Follows `patterns`, keeping offsets in `state_path` (none: start at
    /// the end of each file, as a fresh `tail -F` would, minus nothing:
    /// files are read from their start the first time they are seen).
    pub fn new(patterns: Vec<String>, state_path: Option<PathBuf>, max_line: usize) -> Tailer {
        let saved = state_path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Tailer {
            patterns,
            state_path,
            max_line: max_line.max(64),
            open: HashMap::new(),
            saved,
            stats: TailStats::default(),
        }
    }

    /// The paths the patterns match now.
    fn paths(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for p in &self.patterns {
            if p.contains(['*', '?', '[']) {
                out.extend(glob(p));
            } else {
                out.push(PathBuf::from(p));
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Reads what is new; appends whole lines to `out`. Errors (a file that
    /// cannot be read) are counted and returned as text; the other files
    /// are still read.
    pub fn poll(&mut self, out: &mut Vec<TailLine>) -> Vec<String> {
        let mut errors = Vec::new();
        for path in self.paths() {
            if let Err(e) = self.poll_one(&path, out) {
                self.stats.errors += 1;
                errors.push(e);
            }
        }
        errors
    }

    fn poll_one(&mut self, path: &Path, out: &mut Vec<TailLine>) -> Result<(), String> {
        let meta = match std::fs::metadata(path) {
            Ok(m) if m.is_file() => m,
            // not there (yet, or between rename and create): keep the old
            // handle; its rest is read when the new file appears
            Ok(_) | Err(_) => return Ok(()),
        };
        let (dev, ino) = (meta.dev(), meta.ino());
        if let Some(o) = self.open.get(path)
            && (o.dev, o.ino) != (dev, ino)
        {
            // rotated by rename: finish the old file first
            if let Some(mut old) = self.open.remove(path) {
                self.read_new(path, &mut old, out, true)?;
            }
            // the old file is done: the new one starts at 0
            self.saved.remove(path);
            self.stats.rotations += 1;
        }
        if !self.open.contains_key(path) {
            let file = File::open(path).map_err(|e| io_err(path, &e))?;
            let mut offset = 0;
            if let Some(s) = self.saved.get(path).copied() {
                if (s.dev, s.ino) == (dev, ino) {
                    offset = s.offset;
                } else if let Some(mut old) = find_inode(path, s) {
                    // rotated while we were down
                    self.read_new(path, &mut old, out, true)?;
                    self.stats.rotations += 1;
                }
            }
            self.open.insert(
                path.to_path_buf(),
                Open {
                    file,
                    dev,
                    ino,
                    offset,
                    partial: Vec::new(),
                    skipping: false,
                    check: Vec::new(),
                },
            );
        }
        let Some(mut o) = self.open.remove(path) else {
            return Ok(());
        };
        if meta.len() < o.offset + o.partial.len() as u64 || !still_there(&mut o) {
            // truncated in place
            o.offset = 0;
            o.partial.clear();
            o.check.clear();
            o.skipping = false;
            self.stats.truncations += 1;
        }
        let r = self.read_new(path, &mut o, out, false);
        self.saved.insert(
            path.to_path_buf(),
            Saved {
                dev: o.dev,
                ino: o.ino,
                offset: o.offset,
            },
        );
        self.open.insert(path.to_path_buf(), o);
        r
    }

    /// Reads from the file's offset to its end; whole lines go to `out`. At
    /// the end of a rotated-away file, a last line without a newline is
    /// taken too (nothing will complete it).
    fn read_new(
        &mut self,
        path: &Path,
        o: &mut Open,
        out: &mut Vec<TailLine>,
        last: bool,
    ) -> Result<(), String> {
        let start = o.offset + o.partial.len() as u64;
        o.file
            .seek(SeekFrom::Start(start))
            .map_err(|e| io_err(path, &e))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = o.file.read(&mut buf).map_err(|e| io_err(path, &e))?;
            if n == 0 {
                break;
            }
            for &b in &buf[..n] {
                if b == b'\n' {
                    let taken = o.partial.len() as u64 + 1;
                    if o.skipping {
                        o.skipping = false;
                    } else {
                        self.emit(path, &o.partial, false, out);
                    }
                    o.partial.push(b'\n');
                    let keep = o.partial.len().min(CHECK);
                    o.check = o.partial[o.partial.len() - keep..].to_vec();
                    o.partial.clear();
                    o.offset += taken;
                } else if o.skipping {
                    o.offset += 1;
                } else {
                    o.partial.push(b);
                    if o.partial.len() >= self.max_line {
                        self.emit(path, &o.partial, true, out);
                        o.offset += o.partial.len() as u64;
                        o.partial.clear();
                        o.skipping = true;
                    }
                }
            }
        }
        if last && !o.partial.is_empty() {
            self.emit(path, &o.partial, false, out);
            o.offset += o.partial.len() as u64;
            o.partial.clear();
        }
        Ok(())
    }

    fn emit(&mut self, path: &Path, bytes: &[u8], truncated: bool, out: &mut Vec<TailLine>) {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.is_empty() {
            return;
        }
        self.stats.lines += 1;
        self.stats.truncated_lines += u64::from(truncated);
        out.push(TailLine {
            path: path.to_path_buf(),
            text: String::from_utf8_lossy(bytes).into_owned(),
            truncated,
        });
    }

    /// The offsets of the lines taken so far, as JSON (what [`Self::save`]
    /// writes): the sensor keeps it as a checkpoint in its spool, in the
    /// same write as the lines' events.
    pub fn position(&self) -> serde_json::Value {
        serde_json::to_value(&self.saved).unwrap_or_default()
    }

    /// Resumes from a [`Self::position`]; an unreadable one is ignored.
    pub fn restore(&mut self, position: serde_json::Value) {
        if let Ok(saved) = serde_json::from_value(position) {
            self.saved = saved;
            self.open.clear();
        }
    }

    /// Saves the offsets of the lines taken so far (call once they are
    /// handed on).
    ///
    /// # Errors
    /// The state file cannot be written.
    pub fn save(&self) -> Result<(), String> {
        let Some(path) = &self.state_path else {
            return Ok(());
        };
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec_pretty(&self.saved).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, bytes).map_err(|e| io_err(&tmp, &e))?;
        std::fs::rename(&tmp, path).map_err(|e| io_err(path, &e))
    }
}

/// Whether the bytes last consumed are still just before the offset.
fn still_there(o: &mut Open) -> bool {
    if o.check.is_empty() {
        return true;
    }
    let at = o.offset.saturating_sub(o.check.len() as u64);
    let mut now = vec![0u8; o.check.len()];
    o.file.seek(SeekFrom::Start(at)).is_ok()
        && o.file.read_exact(&mut now).is_ok()
        && now == o.check
}

/// The file beside `path` (same directory, name starting with its name)
/// with the saved inode, opened at the saved offset's position.
fn find_inode(path: &Path, s: Saved) -> Option<Open> {
    let dir = path.parent()?;
    let stem = path.file_name()?.to_string_lossy().into_owned();
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&stem) {
            continue;
        }
        let Ok(m) = e.metadata() else { continue };
        if (m.dev(), m.ino()) == (s.dev, s.ino) {
            let file = File::open(e.path()).ok()?;
            return Some(Open {
                file,
                dev: s.dev,
                ino: s.ino,
                offset: s.offset.min(m.len()),
                partial: Vec::new(),
                skipping: false,
                check: Vec::new(),
            });
        }
    }
    None
}

/// Paths matching a glob whose wildcards are in the file name only
/// (`/var/log/nginx/*.log`): `*`, `?` and `[abc]`.
fn glob(pattern: &str) -> Vec<PathBuf> {
    let p = Path::new(pattern);
    let (Some(dir), Some(name)) = (p.parent(), p.file_name()) else {
        return Vec::new();
    };
    let name = name.to_string_lossy();
    let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| wildcard(name.as_bytes(), e.file_name().to_string_lossy().as_bytes()))
        .map(|e| dir.join(e.file_name()))
        .collect()
}

fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&p[1..], s) || (!s.is_empty() && wildcard(p, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&p[1..], &s[1..]),
        (Some(b'['), Some(c)) => match p.iter().position(|&b| b == b']') {
            Some(end) if end > 1 => in_class(&p[1..end], *c) && wildcard(&p[end + 1..], &s[1..]),
            _ => false,
        },
        (Some(a), Some(b)) if a == b => wildcard(&p[1..], &s[1..]),
        _ => false,
    }
}

/// `abc` or ranges such as `0-9`.
fn in_class(class: &[u8], c: u8) -> bool {
    let mut i = 0;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == b'-' {
            if (class[i]..=class[i + 2]).contains(&c) {
                return true;
            }
            i += 3;
        } else {
            if class[i] == c {
                return true;
            }
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn texts(v: &[TailLine]) -> Vec<&str> {
        v.iter().map(|l| l.text.as_str()).collect()
    }

    fn append(path: &Path, s: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(s.as_bytes()).unwrap();
    }

    #[test]
    fn follows_partial_lines_rename_rotation_and_truncation() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("auth.log");
        let state = d.path().join("offsets.json");
        append(&log, "one\ntw");
        let mut t = Tailer::new(vec![log.display().to_string()], Some(state.clone()), 1024);
        let mut out = Vec::new();
        t.poll(&mut out);
        assert_eq!(texts(&out), ["one"]);
        append(&log, "o\r\nthree\n");
        out.clear();
        t.poll(&mut out);
        assert_eq!(texts(&out), ["two", "three"]);

        // logrotate: rename, a late write to the old file, a new file
        std::fs::rename(&log, d.path().join("auth.log.1")).unwrap();
        append(&d.path().join("auth.log.1"), "late\n");
        append(&log, "fresh\n");
        out.clear();
        t.poll(&mut out);
        assert_eq!(texts(&out), ["late", "fresh"]);

        // copytruncate
        std::fs::write(&log, "").unwrap();
        append(&log, "after truncate\n");
        out.clear();
        t.poll(&mut out);
        assert_eq!(texts(&out), ["after truncate"]);
        assert_eq!((t.stats.rotations, t.stats.truncations), (1, 1));
        t.save().unwrap();

        // a restart resumes where it was: nothing lost, nothing repeated,
        // even across a rotation while it was down
        append(&log, "while down\n");
        std::fs::rename(&log, d.path().join("auth.log.2")).unwrap();
        append(&log, "new file\n");
        let mut t = Tailer::new(vec![log.display().to_string()], Some(state), 1024);
        out.clear();
        t.poll(&mut out);
        assert_eq!(texts(&out), ["while down", "new file"]);
    }

    #[test]
    fn long_lines_are_cut_and_flagged_and_globs_match() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a.log");
        append(&a, &format!("{}\nshort\n", "x".repeat(300)));
        append(&d.path().join("b.log"), "b\n");
        append(&d.path().join("c.txt"), "c\n");
        let mut t = Tailer::new(vec![format!("{}/*.log", d.path().display())], None, 100);
        let mut out = Vec::new();
        t.poll(&mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].text.len(), 100);
        assert!(out[0].truncated);
        assert_eq!(texts(&out)[1..], ["short", "b"]);
        assert_eq!(t.stats.truncated_lines, 1);
        assert!(!wildcard(b"x[0-9]?.log", b"x-1.log"));
        assert!(wildcard(b"x[0-9]?.log", b"x71.log"));
        assert!(wildcard(b"access.log.[12]", b"access.log.2"));
    }
}
