//! The file-scanning service: one way to scan a file, whoever found it.
//!
//! Files come from three places — bodies and attachments pulled out of
//! reassembled traffic, the directories an operator watches, and
//! `canhgac scan` — and all of them become a [`FileItem`]: the bytes, the
//! externals the rules expect, and a template event that says where the
//! file came from (a flow with its addresses and transaction, or a path).
//! [`scan_item`] turns an item into EVE records: a `fileinfo` record per
//! file (and per unwrapped archive member), and an `alert` per rule that
//! matched, built on the template so an alert on an attachment carries the
//! flow and the mail it came in.
//!
//! [`ScanPool`] runs [`scan_item`] on worker threads. The compiled rules
//! live in a [`RulesHandle`]: readers take an `Arc` of the current set, a
//! reload builds the new set off to the side and swaps it in one step, so a
//! scan never sees half a rule set and a failed reload leaves the old one
//! running. Each worker keeps one libyara scanner per rule generation (its
//! setup grows with the rule count) and the workers share one
//! [`ScanCache`] keyed by SHA-256, so the same attachment sent to ten people
//! is scanned once. The queue in front of the workers is bounded: a live
//! sensor cannot wait, so a file that finds the queue full is dropped and
//! counted (`dropped`), never silently.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use serde_json::{Value, json};

use super::decode::{DecodeLimits, DecodeStats, derive};
use super::files::{Hashes, magic};
use super::{Externals, FileScanner, ScanCache, YaraError, YaraMatch, YaraRules};
use super::{alert_metadata, signature_id};
use crate::event::{Alert, Event, FileInfo};

/// The current compiled rules, swapped atomically on reload.
#[derive(Debug)]
pub struct RulesHandle {
    slot: RwLock<(u64, Arc<YaraRules>)>,
}

impl RulesHandle {
    pub fn new(rules: YaraRules) -> Self {
        RulesHandle {
            slot: RwLock::new((1, Arc::new(rules))),
        }
    }

    /// The current generation and rules.
    pub fn current(&self) -> (u64, Arc<YaraRules>) {
        match self.slot.read() {
            Ok(g) => (g.0, Arc::clone(&g.1)),
            Err(p) => {
                let g = p.into_inner();
                (g.0, Arc::clone(&g.1))
            }
        }
    }

    pub fn generation(&self) -> u64 {
        self.current().0
    }

    /// Puts a new rule set in place; returns its generation. Scans already
    /// running finish with the old set.
    pub fn replace(&self, rules: YaraRules) -> u64 {
        let mut g = match self.slot.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.0 += 1;
        g.1 = Arc::new(rules);
        g.0
    }
}

/// How files are scanned.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    /// Per-file (and per-layer) time limit, seconds.
    pub timeout_secs: i32,
    /// Unwrapping of archives and encodings; `None` scans raw bytes only.
    pub decode: Option<DecodeLimits>,
    /// MD5 and SHA-1 too (for `fileinfo`); SHA-256 is always computed.
    pub full_hashes: bool,
    /// Emit `fileinfo` records (not only alerts).
    pub fileinfo: bool,
}

impl Default for ScanSettings {
    fn default() -> Self {
        ScanSettings {
            timeout_secs: 10,
            decode: Some(DecodeLimits::default()),
            full_hashes: true,
            fileinfo: true,
        }
    }
}

/// One file to scan.
#[derive(Debug, Clone)]
pub struct FileItem {
    /// The file's name as shown (`/srv/www/a.php`, `report.docm`).
    pub name: String,
    pub data: Vec<u8>,
    pub externals: Externals,
    /// Where the file came from: a `fileinfo` event carrying the flow's
    /// addresses, the app-layer object (`http`, `smtp`, `email`) and any
    /// `fileinfo` fields already known (`tx_id`, `state`, `gaps`).
    pub template: Event,
    /// The content's hashes, when the producer already made them (a reader
    /// thread hashing while the workers scan); else the worker does.
    pub hashes: Option<Hashes>,
}

impl FileItem {
    /// A file on disk (or read from one): externals from its path.
    pub fn from_path(path: &std::path::Path, data: Vec<u8>, ts: i64) -> FileItem {
        let externals = super::files::externals_for(path, &data);
        let mut template = Event::new("fileinfo", ts);
        template.fileinfo = Some(FileInfo {
            filename: Some(path.display().to_string()),
            state: Some("CLOSED".into()),
            stored: Some(false),
            ..Default::default()
        });
        FileItem {
            name: path.display().to_string(),
            data,
            externals,
            template,
            hashes: None,
        }
    }

    /// A file carried in traffic: externals from its name alone.
    pub fn carried(name: &str, data: Vec<u8>, template: Event) -> FileItem {
        let externals = externals_for_name(name, &data);
        FileItem {
            name: name.to_string(),
            data,
            externals,
            template,
            hashes: None,
        }
    }
}

/// Externals of a file known only by name (an attachment, an upload, an
/// archive member): no directory, no owner.
pub fn externals_for_name(name: &str, data: &[u8]) -> Externals {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    Externals {
        filename: base.to_string(),
        filepath: String::new(),
        extension: base
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default(),
        filetype: magic(data).to_string(),
        owner: String::new(),
    }
}

/// Counters of scanning, shared by the workers and read by `stats`.
#[derive(Debug, Default)]
pub struct ScanCounters {
    pub files: AtomicU64,
    pub bytes: AtomicU64,
    pub matched: AtomicU64,
    pub alerts: AtomicU64,
    pub errors: AtomicU64,
    pub timeouts: AtomicU64,
    pub cache_hits: AtomicU64,
    pub layers: AtomicU64,
    /// Bytes of the unwrapped layers (scanned on top of `bytes`).
    pub layer_bytes: AtomicU64,
    pub bombs: AtomicU64,
    pub decode_errors: AtomicU64,
    /// Files that found the queue full (live sources cannot wait).
    pub dropped: AtomicU64,
}

impl ScanCounters {
    /// As a JSON object for the sensor's `stats` event.
    pub fn to_json(&self) -> Value {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "files": g(&self.files),
            "bytes": g(&self.bytes),
            "matched": g(&self.matched),
            "alerts": g(&self.alerts),
            "errors": g(&self.errors),
            "timeouts": g(&self.timeouts),
            "cache_hits": g(&self.cache_hits),
            "decoded_layers": g(&self.layers),
            "decoded_bytes": g(&self.layer_bytes),
            "bombs": g(&self.bombs),
            "decode_errors": g(&self.decode_errors),
            "dropped": g(&self.dropped),
        })
    }
}

/// The result cache shared by workers; its keys include the rule
/// generation, so a reload never serves the old set's answers.
#[derive(Debug)]
pub struct SharedCache(Mutex<ScanCache>);

impl SharedCache {
    pub fn new(capacity: usize) -> Self {
        SharedCache(Mutex::new(ScanCache::new(capacity)))
    }

    fn with<T>(&self, f: impl FnOnce(&mut ScanCache) -> T) -> T {
        match self.0.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Hits and misses so far.
    pub fn hits_misses(&self) -> (u64, u64) {
        self.with(|c| (c.hits, c.misses))
    }

    fn scan(
        &self,
        scanner: &mut FileScanner<'_>,
        generation: u64,
        sha256: [u8; 32],
        data: &[u8],
        ext: &Externals,
    ) -> Result<(Arc<Vec<YaraMatch>>, bool), YaraError> {
        let key = ScanCache::key(generation, sha256, scanner.rules(), ext);
        if let Some(hit) = self.with(|c| c.get(&key)) {
            return Ok((hit, true));
        }
        let found = Arc::new(scanner.scan(data, ext)?);
        self.with(|c| c.insert(key, Arc::clone(&found)));
        Ok((found, false))
    }
}

/// Scans one item (and its unwrapped layers) and returns its records:
/// `fileinfo` first (when enabled), then one `alert` per match.
pub fn scan_item(
    scanner: &mut FileScanner<'_>,
    generation: u64,
    cache: &SharedCache,
    settings: &ScanSettings,
    counters: &ScanCounters,
    item: &FileItem,
) -> Vec<Event> {
    let mut out = Vec::new();
    let mut dstats = DecodeStats::default();
    let mut layers = Vec::new();
    if let Some(limits) = &settings.decode {
        derive(&item.data, &item.name, limits, &mut layers, &mut dstats);
    }
    counters.files.fetch_add(1, Ordering::Relaxed);
    counters
        .bytes
        .fetch_add(item.data.len() as u64, Ordering::Relaxed);
    counters.layers.fetch_add(dstats.layers, Ordering::Relaxed);
    counters.layer_bytes.fetch_add(
        layers.iter().map(|l| l.data.len() as u64).sum(),
        Ordering::Relaxed,
    );
    counters.bombs.fetch_add(dstats.bombs, Ordering::Relaxed);
    counters
        .decode_errors
        .fetch_add(dstats.errors, Ordering::Relaxed);

    let mut any = false;
    let mut alerted: HashSet<(String, String)> = HashSet::new();
    let top = std::iter::once((item.name.as_str(), &item.data[..], None::<&'static str>));
    let inner = layers
        .iter()
        .map(|l| (l.name.as_str(), &l.data[..], Some(l.how)));
    for (name, data, how) in top.chain(inner) {
        let hashes = match (&item.hashes, how) {
            (Some(h), None) if !settings.full_hashes || !h.md5.is_empty() => h.clone(),
            _ if settings.full_hashes => Hashes::of(data),
            _ => Hashes::sha256_only(data),
        };
        let ext = if how.is_none() {
            item.externals.clone()
        } else {
            let mut e = externals_for_name(name.rsplit('!').next().unwrap_or(name), data);
            e.filepath.clone_from(&item.externals.filepath);
            e.owner.clone_from(&item.externals.owner);
            e
        };
        let (found, error) = match cache.scan(scanner, generation, hashes.sha256, data, &ext) {
            Ok((m, hit)) => {
                if hit {
                    counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                }
                (m, None)
            }
            Err(e) => {
                if matches!(e, YaraError::Timeout(_)) {
                    counters.timeouts.fetch_add(1, Ordering::Relaxed);
                }
                counters.errors.fetch_add(1, Ordering::Relaxed);
                (Arc::new(Vec::new()), Some(e.to_string()))
            }
        };
        // fileinfo for the file and its real members; a base64 run inside a
        // text is shown only when it matched
        let shown = how.is_none_or(|h| h != "base64") || !found.is_empty();
        if settings.fileinfo && shown {
            out.push(fileinfo_record(item, name, data, &hashes, how, error));
        } else if let Some(e) = error {
            tracing::debug!(file = %name, error = %e, "scan failed");
        }
        for m in found.iter() {
            // a rule that matched the container is not raised again for
            // what is inside it
            if alerted.insert((m.namespace.clone(), m.rule.clone())) || how.is_none() {
                any = true;
                out.push(alert_record(item, name, &hashes, m));
            }
        }
    }
    if any {
        counters.matched.fetch_add(1, Ordering::Relaxed);
    }
    counters.alerts.fetch_add(
        out.iter().filter(|e| e.event_type == "alert").count() as u64,
        Ordering::Relaxed,
    );
    out
}

fn fileinfo_record(
    item: &FileItem,
    name: &str,
    data: &[u8],
    h: &Hashes,
    how: Option<&str>,
    error: Option<String>,
) -> Event {
    let mut ev = item.template.derive("fileinfo");
    let fi = ev.fileinfo.get_or_insert_with(FileInfo::default);
    fi.filename = Some(name.to_string());
    fi.size = Some(data.len() as u64);
    fi.sha256 = Some(h.sha256_hex());
    fi.state.get_or_insert_with(|| "CLOSED".into());
    fi.stored.get_or_insert(false);
    fi.extra.insert("magic".into(), json!(magic(data)));
    if !h.md5.is_empty() {
        fi.extra.insert("md5".into(), json!(h.md5));
        fi.extra.insert("sha1".into(), json!(h.sha1));
    }
    if let Some(how) = how {
        fi.extra.insert("decoded".into(), json!(how));
        fi.extra.insert("container".into(), json!(item.name));
    }
    if let Some(e) = error {
        fi.extra.insert("scan_error".into(), json!(e));
    }
    ev
}

fn alert_record(item: &FileItem, name: &str, h: &Hashes, m: &YaraMatch) -> Event {
    let mut ev = item.template.derive("alert");
    let description = m.meta_str("description").unwrap_or_default();
    let severity = match m.meta_str("severity").as_deref() {
        Some("high" | "critical") => 1,
        Some("medium") => 2,
        _ => 3,
    };
    ev.alert = Some(Alert {
        action: "allowed".into(),
        gid: 3,
        signature_id: signature_id(m),
        rev: 1,
        signature: if description.is_empty() {
            format!("YARA {}", m.rule)
        } else {
            format!("YARA {}: {description}", m.rule)
        },
        category: "A file matched a YARA rule".into(),
        severity,
        metadata: Some(alert_metadata(m)),
        extra: Default::default(),
    });
    // the alert names the file (and the member) it matched
    let mut fi = ev.fileinfo.take().unwrap_or_default();
    fi.filename = Some(name.to_string());
    fi.sha256 = Some(h.sha256_hex());
    ev.extra.insert(
        "fileinfo".into(),
        serde_json::to_value(&fi).unwrap_or(Value::Null),
    );
    ev.extra.insert("yara".into(), Value::from(m.rule.clone()));
    ev
}

/// What the workers do with the records of a scanned file.
pub type Sink = Arc<dyn Fn(Vec<Event>) + Send + Sync>;

/// Worker threads that scan queued files with the current rules.
pub struct ScanPool {
    tx: Option<SyncSender<FileItem>>,
    workers: Vec<JoinHandle<()>>,
    pub counters: Arc<ScanCounters>,
    pub rules: Arc<RulesHandle>,
    pub cache: Arc<SharedCache>,
}

impl ScanPool {
    /// Starts `workers` threads (at least one) behind a queue of
    /// `queue` files; each scanned file's records go to `sink`.
    pub fn start(
        rules: Arc<RulesHandle>,
        settings: ScanSettings,
        workers: usize,
        queue: usize,
        sink: Sink,
    ) -> ScanPool {
        let (tx, rx) = sync_channel::<FileItem>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let counters = Arc::new(ScanCounters::default());
        let cache = Arc::new(SharedCache::new(65_536));
        let workers = (0..workers.max(1))
            .map(|i| {
                let (rx, rules, settings, sink, counters, cache) = (
                    Arc::clone(&rx),
                    Arc::clone(&rules),
                    settings.clone(),
                    Arc::clone(&sink),
                    Arc::clone(&counters),
                    Arc::clone(&cache),
                );
                std::thread::Builder::new()
                    .name(format!("yara-{i}"))
                    .spawn(move || work(&rx, &rules, &settings, &sink, &counters, &cache))
            })
            .filter_map(|r| match r {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start a scan worker");
                    None
                }
            })
            .collect();
        ScanPool {
            tx: Some(tx),
            workers,
            counters,
            rules,
            cache,
        }
    }

    /// Queues a file, waiting for room (files read from disk can wait).
    pub fn submit_wait(&self, item: FileItem) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(item).is_ok())
    }

    /// Queues a file if there is room; otherwise drops and counts it.
    pub fn submit(&self, item: FileItem) -> bool {
        let Some(tx) = &self.tx else { return false };
        match tx.try_send(item) {
            Ok(()) => true,
            Err(TrySendError::Full(item)) => {
                let n = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(
                        dropped = n,
                        file = %item.name,
                        "scan queue full: file not scanned"
                    );
                }
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Scans what is queued, then stops the workers.
    pub fn finish(mut self) {
        self.tx = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn work(
    rx: &Mutex<Receiver<FileItem>>,
    rules: &RulesHandle,
    settings: &ScanSettings,
    sink: &Sink,
    counters: &ScanCounters,
    cache: &SharedCache,
) {
    let next = || match rx.lock() {
        Ok(r) => r.recv().ok(),
        Err(_) => None,
    };
    let mut pending = next();
    while pending.is_some() {
        let (generation, current) = rules.current();
        let mut scanner = match FileScanner::new(&current, settings.timeout_secs) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot create a YARA scanner");
                counters.errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        // keep this scanner until the rules change
        while let Some(item) = pending.take() {
            if rules.generation() != generation {
                pending = Some(item);
                break;
            }
            sink(scan_item(
                &mut scanner,
                generation,
                cache,
                settings,
                counters,
                &item,
            ));
            pending = next();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(marker: &str) -> YaraRules {
        YaraRules::compile_str(
            "t",
            &format!("rule m {{ meta: author = \"t\" strings: $a = \"{marker}\" condition: $a }}"),
        )
        .unwrap()
    }

    #[test]
    fn records_for_a_file_and_its_zip_member() {
        let r = rules("canhgac-marker");
        let mut sc = FileScanner::new(&r, 5).unwrap();
        let cache = SharedCache::new(16);
        let counters = ScanCounters::default();
        // a stored ZIP with one member
        let body = b"x canhgac-marker x";
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        zip.extend_from_slice(&(body.len() as u32).to_le_bytes());
        zip.extend_from_slice(&(body.len() as u32).to_le_bytes());
        zip.extend_from_slice(&5u16.to_le_bytes());
        zip.extend_from_slice(&0u16.to_le_bytes());
        zip.extend_from_slice(b"a.php");
        zip.extend_from_slice(body);
        let mut t = Event::new("fileinfo", 0);
        t.src_ip = Some("192.0.2.1".into());
        let item = FileItem::carried("up.zip", zip, t);
        let evs = scan_item(
            &mut sc,
            1,
            &cache,
            &ScanSettings::default(),
            &counters,
            &item,
        );
        let kinds: Vec<&str> = evs.iter().map(|e| e.event_type.as_str()).collect();
        // the stored member is visible in the archive too: one alert, on
        // the archive, not a second one on the member
        assert_eq!(kinds, ["fileinfo", "alert", "fileinfo"]);
        let member = evs[2].fileinfo.as_ref().unwrap();
        assert_eq!(member.filename.as_deref(), Some("up.zip!a.php"));
        assert_eq!(member.extra["decoded"], "zip");
        assert_eq!(evs[1].src_ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(evs[1].extra["fileinfo"]["filename"], "up.zip");
        assert_eq!(counters.matched.load(Ordering::Relaxed), 1);

        // compressed, only the unwrapped layer matches, and the alert names it
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(body).unwrap();
        let gz = FileItem::carried("up.gz", gz.finish().unwrap(), Event::new("fileinfo", 0));
        let evs = scan_item(&mut sc, 1, &cache, &ScanSettings::default(), &counters, &gz);
        let kinds: Vec<&str> = evs.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(kinds, ["fileinfo", "fileinfo", "alert"]);
        assert_eq!(evs[2].extra["fileinfo"]["filename"], "up.gz!gunzip");
        assert_eq!(
            evs[1].fileinfo.as_ref().unwrap().extra["container"],
            "up.gz"
        );
        // the same content again comes from the cache
        scan_item(
            &mut sc,
            1,
            &cache,
            &ScanSettings::default(),
            &counters,
            &item,
        );
        // the gunzipped layer has the ZIP member's content: a hit too
        assert_eq!(counters.cache_hits.load(Ordering::Relaxed), 3);
        assert_eq!(counters.matched.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn pool_scans_queued_files_and_reload_takes_effect() {
        let handle = Arc::new(RulesHandle::new(rules("first-marker")));
        let seen = Arc::new(Mutex::new(Vec::<Event>::new()));
        let sink_seen = Arc::clone(&seen);
        let settings = ScanSettings {
            fileinfo: false,
            ..Default::default()
        };
        let pool = ScanPool::start(
            Arc::clone(&handle),
            settings.clone(),
            2,
            8,
            Arc::new(move |evs| sink_seen.lock().unwrap().extend(evs)),
        );
        let item = |s: &str| FileItem::carried("f.txt", s.as_bytes().to_vec(), Event::new("x", 0));
        assert!(pool.submit_wait(item("a first-marker b")));
        assert!(pool.submit_wait(item("a second-marker b")));
        pool.finish();
        assert_eq!(seen.lock().unwrap().len(), 1);

        // after a reload the same content is scanned again, with the new rules
        assert_eq!(handle.replace(rules("second-marker")), 2);
        let sink_seen = Arc::clone(&seen);
        let pool = ScanPool::start(
            Arc::clone(&handle),
            settings,
            1,
            8,
            Arc::new(move |evs| sink_seen.lock().unwrap().extend(evs)),
        );
        assert!(pool.submit_wait(item("a second-marker b")));
        pool.finish();
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_full_queue_counts_what_it_drops() {
        let handle = Arc::new(RulesHandle::new(rules("m")));
        let gate = Arc::new(Mutex::new(()));
        let hold = gate.lock().unwrap();
        let g2 = Arc::clone(&gate);
        let pool = ScanPool::start(
            handle,
            ScanSettings::default(),
            1,
            1,
            Arc::new(move |_| drop(g2.lock())),
        );
        let item = || FileItem::carried("f", b"m".to_vec(), Event::new("x", 0));
        let mut accepted = 0;
        for _ in 0..10 {
            accepted += usize::from(pool.submit(item()));
        }
        assert!(accepted <= 3, "{accepted}");
        assert_eq!(
            pool.counters.dropped.load(Ordering::Relaxed),
            10 - accepted as u64
        );
        drop(hold);
        pool.finish();
    }
}
