//! Watched directories: the web roots and upload folders of a unit's
//! servers, scanned as files land in them.
//!
//! The kernel tells us what changed (inotify, through the `notify` crate,
//! recursive: new subdirectories are watched as they appear). A file is
//! scanned once it has *settled* — no event for `settle` — so an upload in
//! progress is scanned whole, once, and not at every write. Events can be
//! lost (the kernel queue overflows under a burst, a directory is replaced
//! wholesale), so a periodic sweep walks the roots and scans every file
//! whose size or modification time changed since it was last scanned;
//! when the kernel reports an overflow the sweep runs at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use notify::{RecursiveMode, Watcher};

use super::files;
use super::service::{FileItem, ScanPool};

/// What to watch and how.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub roots: Vec<PathBuf>,
    /// Quiet time before a changed file is scanned.
    pub settle: Duration,
    /// Time between sweeps.
    pub sweep: Duration,
    /// Larger files are not scanned (counted as skipped).
    pub max_size: u64,
    /// Scan every file under the roots first; otherwise files present at
    /// the start are taken as already scanned.
    pub initial_scan: bool,
}

/// Errors that stop watching before it starts.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("{path}: cannot watch: {message}")]
    Watch { path: PathBuf, message: String },
}

/// Size and modification time: what a sweep compares.
type Stamp = (u64, Option<SystemTime>);

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::symlink_metadata(path).ok()?;
    m.is_file().then(|| (m.len(), m.modified().ok()))
}

/// The watcher's memory: files seen, files waiting to settle.
#[derive(Debug, Default)]
pub struct WatchState {
    scanned: HashMap<PathBuf, Stamp>,
    pending: HashMap<PathBuf, Instant>,
    pub skipped: u64,
    pub read_errors: u64,
}

impl WatchState {
    /// Records the files under the roots as already scanned (after an
    /// initial scan done by the caller).
    pub fn seed(&mut self, roots: &[PathBuf]) {
        let mut list = Vec::new();
        files::walk(roots, &mut list, &mut Vec::new());
        for p in list {
            if let Some(s) = stamp(&p) {
                self.scanned.insert(p, s);
            }
        }
    }

    /// A change the kernel reported.
    pub fn touched(&mut self, path: PathBuf, now: Instant) {
        self.pending.insert(path, now);
    }

    /// Every file under a directory (new, or moved in).
    pub fn touched_tree(&mut self, dir: &Path, now: Instant) {
        let mut list = Vec::new();
        files::walk(&[dir.to_path_buf()], &mut list, &mut Vec::new());
        for p in list {
            self.touched(p, now);
        }
    }

    /// A file that was removed.
    pub fn removed(&mut self, path: &Path) {
        self.scanned.remove(path);
        self.pending.remove(path);
    }

    /// Walks the roots; files new or changed since their last scan are
    /// queued as already settled when their modification time is older
    /// than `settle`, else as just touched.
    pub fn sweep(&mut self, roots: &[PathBuf], settle: Duration, now: Instant) {
        let mut list = Vec::new();
        let mut errors = Vec::new();
        files::walk(roots, &mut list, &mut errors);
        for e in errors {
            tracing::warn!(error = %e, "watch sweep");
        }
        let wall = SystemTime::now();
        for p in list {
            let Some(s) = stamp(&p) else { continue };
            if self.scanned.get(&p) == Some(&s) || self.pending.contains_key(&p) {
                continue;
            }
            let age =
                s.1.and_then(|m| wall.duration_since(m).ok())
                    .unwrap_or_default();
            let since = if age >= settle {
                now.checked_sub(settle).unwrap_or(now)
            } else {
                now
            };
            self.pending.insert(p, since);
        }
    }

    /// Files that have settled and changed since their last scan; they are
    /// marked scanned.
    pub fn settled(&mut self, settle: Duration, now: Instant) -> Vec<PathBuf> {
        let ready: Vec<PathBuf> = self
            .pending
            .iter()
            .filter(|(_, t)| now.saturating_duration_since(**t) >= settle)
            .map(|(p, _)| p.clone())
            .collect();
        let mut out = Vec::new();
        for p in ready {
            self.pending.remove(&p);
            // gone, a directory, or unchanged since its last scan
            let Some(s) = stamp(&p) else {
                self.scanned.remove(&p);
                continue;
            };
            if self.scanned.get(&p) == Some(&s) {
                continue;
            }
            self.scanned.insert(p.clone(), s);
            out.push(p);
        }
        out.sort();
        out
    }

    /// Files waiting to settle.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// What an event means for the files: `Some(true)` gone, `Some(false)`
/// written or moved in, `None` nothing (opens, reads, closes after reading
/// — our own reads among them — and metadata).
fn change(kind: &notify::EventKind) -> Option<bool> {
    use notify::EventKind as K;
    use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
    match kind {
        K::Remove(_) | K::Modify(ModifyKind::Name(RenameMode::From)) => Some(true),
        K::Create(_)
        | K::Any
        | K::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
        | K::Access(AccessKind::Close(AccessMode::Write)) => Some(false),
        _ => None,
    }
}

/// Watches until `stop` is set, queueing settled files on `pool` (waiting
/// for room: a watcher can wait, the files stay on disk). The kernel
/// watches are in place before the initial scan, so a file written while
/// it runs is not missed.
///
/// # Errors
/// A root that cannot be watched (missing, no permission, inotify limits).
pub fn run(cfg: &WatchConfig, pool: &ScanPool, stop: &AtomicBool) -> Result<(), WatchError> {
    let (tx, rx) = std::sync::mpsc::channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(tx).map_err(|e| WatchError::Watch {
        path: PathBuf::new(),
        message: e.to_string(),
    })?;
    for root in &cfg.roots {
        watcher
            .watch(root, RecursiveMode::Recursive)
            .map_err(|e| WatchError::Watch {
                path: root.clone(),
                message: e.to_string(),
            })?;
    }
    let mut state = WatchState::default();
    if cfg.initial_scan {
        state.sweep(&cfg.roots, cfg.settle, Instant::now());
    } else {
        state.seed(&cfg.roots);
    }
    let mut last_sweep = Instant::now();
    let tick = (cfg.settle / 4).clamp(Duration::from_millis(50), Duration::from_millis(500));
    while !stop.load(Ordering::Relaxed) {
        let mut rescan = false;
        match rx.recv_timeout(tick) {
            Ok(first) => {
                let now = Instant::now();
                for res in std::iter::once(first).chain(rx.try_iter()) {
                    match res {
                        Ok(ev) => {
                            rescan |= ev.need_rescan();
                            let Some(gone) = change(&ev.kind) else {
                                continue;
                            };
                            for p in ev.paths {
                                if gone {
                                    state.removed(&p);
                                } else if p.is_dir() {
                                    // a new directory: what was written into
                                    // it before its watch was in place has
                                    // no events of its own
                                    state.touched_tree(&p, now);
                                } else {
                                    state.touched(p, now);
                                }
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "watch: event error; sweeping");
                            rescan = true;
                        }
                    }
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let now = Instant::now();
        if rescan || now.duration_since(last_sweep) >= cfg.sweep {
            state.sweep(&cfg.roots, cfg.settle, now);
            last_sweep = now;
        }
        for path in state.settled(cfg.settle, now) {
            let ts = chrono::Utc::now().timestamp_micros();
            match files::read_limited(&path, cfg.max_size) {
                Ok(Some(data)) => {
                    pool.submit_wait(FileItem::from_path(&path, data, ts));
                }
                Ok(None) => {
                    state.skipped += 1;
                    tracing::info!(file = %path.display(), max = cfg.max_size, "watch: file over the size limit; not scanned");
                }
                Err(e) => {
                    state.read_errors += 1;
                    tracing::warn!(file = %path.display(), error = %e, "watch: cannot read");
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_scanned_once_settled_and_again_when_changed() {
        let d = tempfile::tempdir().unwrap();
        let roots = vec![d.path().to_path_buf()];
        let f = d.path().join("a.php");
        std::fs::write(&f, "one").unwrap();
        let mut st = WatchState::default();
        st.seed(&roots);
        let settle = Duration::from_secs(2);
        let t0 = Instant::now();
        // seeded files are not rescanned by a sweep
        st.sweep(&roots, settle, t0);
        assert_eq!(st.pending(), 0);

        std::fs::write(&f, "two, longer").unwrap();
        st.touched(f.clone(), t0);
        assert!(st.settled(settle, t0 + Duration::from_secs(1)).is_empty());
        // a new write pushes the deadline back
        st.touched(f.clone(), t0 + Duration::from_secs(1));
        assert!(st.settled(settle, t0 + Duration::from_secs(2)).is_empty());
        assert_eq!(
            st.settled(settle, t0 + Duration::from_secs(3)),
            vec![f.clone()]
        );
        // an event without a change (a read, a touch of the same size and
        // time) does not rescan
        st.touched(f.clone(), t0);
        assert!(st.settled(settle, t0 + Duration::from_secs(9)).is_empty());

        // the sweep finds a file the kernel never told us about
        let sub = d.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("b.jsp"), "x").unwrap();
        st.sweep(&roots, Duration::ZERO, t0);
        assert_eq!(st.settled(Duration::ZERO, t0), vec![sub.join("b.jsp")]);

        st.removed(&f);
        std::fs::remove_file(&f).unwrap();
        st.sweep(&roots, settle, t0);
        assert_eq!(st.pending(), 0);
    }
}
