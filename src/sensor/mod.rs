//! The sensor runtime: capture → detect → spool → ship to central.
//!
//! One blocking capture thread runs the [`pipeline::Pipeline`]; it and the
//! other sources (followed logs, syslog listeners, YARA scanners) append
//! every event to the on-disk [`spool::Spool`] before anything else. The
//! [`ship`] task reads batches from the spool and sends them to central;
//! only central's acknowledgement frees them. A killed sensor resumes from
//! its spool; an unreachable central makes the spool grow, then drain.
//!
//! When the spool reaches its byte limit: sources that can wait (capture
//! files, log files, followed logs — the input keeps) wait for room; live
//! sources cannot, so the spool drops its oldest protocol metadata first
//! and alerts last, counting each drop by event type (reported to central
//! in the heartbeat and shown on the sensor's console page).
//!
//! Enrolment: the operator gives the sensor the one-time token printed by
//! `canhgac admin sensor add`; on first start the sensor exchanges it at
//! `POST /api/v1/enroll` for its id and secret and keeps them in
//! `state_dir/credentials.json` (mode 0600).

pub mod command;
pub mod link;
pub mod pipeline;
pub mod replay;
pub mod ship;
pub mod spool;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::capture::{self, LiveCapture, LiveOptions};
use crate::config::{self, ConfigError};
use crate::detect::signature::RuleSet;
use crate::detect::yara::service::{RulesHandle, ScanPool, Sink};
use crate::event::Event;
use pipeline::{Identity, Pipeline};

/// `sensor.toml`. See `deploy/sensor.toml` for a commented sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorConfig {
    #[serde(default)]
    pub sensor: SensorSection,
    pub central: CentralLink,
    #[serde(default)]
    pub capture: CaptureSection,
    #[serde(default)]
    pub rules: RulesSection,
    #[serde(default)]
    pub logs: LogsSection,
    #[serde(default)]
    pub files: FilesSection,
    #[serde(default)]
    pub spool: spool::SpoolConfig,
    #[serde(default)]
    pub actions: command::ActionsConfig,
}

/// `[files]`: YARA over files carried in traffic and files in watched
/// directories.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSection {
    /// YARA rule files (index files with `include` are followed), and/or
    /// `bundled` for canhgac's own set. Empty: no file scanning.
    #[serde(default)]
    pub yara: Vec<PathBuf>,
    /// Pull files out of traffic (HTTP bodies and uploads, mail
    /// attachments) and scan them.
    #[serde(default = "default_true")]
    pub extract: bool,
    /// Directories watched recursively; files are scanned when they settle.
    #[serde(default)]
    pub watch: Vec<PathBuf>,
    /// Scan the watched directories in full at start.
    #[serde(default = "default_true")]
    pub scan_at_start: bool,
    /// Seconds a file must stay unchanged before it is scanned.
    #[serde(default = "default_settle")]
    pub settle_secs: u64,
    /// Seconds between full sweeps of the watched directories.
    #[serde(default = "default_sweep")]
    pub sweep_secs: u64,
    /// Largest file scanned in the watched directories, bytes.
    #[serde(default = "default_max_file")]
    pub max_size: u64,
    /// Largest HTTP body kept from traffic for scanning, bytes. Each HTTP
    /// transfer in progress may hold this much in memory, so it is kept
    /// smaller than `max_size`; mail messages are kept whole up to 16 MiB.
    #[serde(default = "default_extract_max")]
    pub extract_max_size: u64,
    /// Scanning threads.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Files waiting for a scanning thread; beyond, files from traffic are
    /// dropped and counted.
    #[serde(default = "default_file_queue")]
    pub queue: usize,
    /// Time limit per file, seconds.
    #[serde(default = "default_file_timeout")]
    pub timeout_secs: i32,
    /// Unwrap gzip, ZIP members and base64 and scan each layer.
    #[serde(default = "default_true")]
    pub decode: bool,
}

impl Default for FilesSection {
    fn default() -> Self {
        FilesSection {
            yara: Vec::new(),
            extract: true,
            watch: Vec::new(),
            scan_at_start: true,
            settle_secs: default_settle(),
            sweep_secs: default_sweep(),
            max_size: default_max_file(),
            extract_max_size: default_extract_max(),
            workers: default_workers(),
            queue: default_file_queue(),
            timeout_secs: default_file_timeout(),
            decode: true,
        }
    }
}

fn default_settle() -> u64 {
    2
}
fn default_sweep() -> u64 {
    600
}
fn default_max_file() -> u64 {
    replay::DEFAULT_MAX_FILE as u64
}
fn default_extract_max() -> u64 {
    4 << 20
}
fn default_workers() -> usize {
    2
}
fn default_file_queue() -> usize {
    256
}
fn default_file_timeout() -> i32 {
    10
}

impl FilesSection {
    /// Whether any file scanning is configured.
    pub fn enabled(&self) -> bool {
        !self.yara.is_empty()
    }

    /// Compiles the YARA rules this section names.
    ///
    /// # Errors
    /// An unreadable rule file, or a set where nothing compiled.
    pub fn load_rules(&self) -> Result<crate::detect::yara::YaraRules, String> {
        replay::load_yara(&self.yara).map_err(|e| format!("files.yara: {e}"))
    }

    /// How files are scanned.
    pub fn settings(&self) -> crate::detect::yara::service::ScanSettings {
        crate::detect::yara::service::ScanSettings {
            timeout_secs: self.timeout_secs.max(1),
            decode: self
                .decode
                .then(crate::detect::yara::decode::DecodeLimits::default),
            full_hashes: true,
            fileinfo: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorSection {
    /// Where credentials, the spool and other state are kept.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Seconds between `stats` events in live capture.
    #[serde(default = "default_stats_interval")]
    pub stats_interval_secs: u64,
    /// Seconds between heartbeats to central (health figures).
    #[serde(default = "default_heartbeat")]
    pub heartbeat_secs: u64,
    /// After capture and log files are replayed, keep sending heartbeats
    /// and running commands (blocks, drill injects) until stopped — for
    /// the demo and lab sensors fed from files.
    #[serde(default)]
    pub linger: bool,
}

fn default_heartbeat() -> u64 {
    30
}

impl Default for SensorSection {
    fn default() -> Self {
        SensorSection {
            state_dir: default_state_dir(),
            stats_interval_secs: default_stats_interval(),
            heartbeat_secs: default_heartbeat(),
            linger: false,
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/canhgac/sensor")
}
fn default_stats_interval() -> u64 {
    60
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentralLink {
    /// Base URL of central, e.g. `https://soc.example.gov.vn:8443`.
    pub url: String,
    /// One-time enrolment token from `canhgac admin sensor add`; used only
    /// while `state_dir/credentials.json` does not exist.
    #[serde(default)]
    pub enrolment_token: String,
    /// SHA-256 fingerprint of central's CA (printed by `canhgac admin
    /// sensor add`), checked at enrolment; the CA is then pinned.
    #[serde(default)]
    pub ca_sha256: Option<String>,
    /// Most events in one batch.
    #[serde(default = "default_batch")]
    pub batch_max_events: usize,
    /// Largest batch before compression, bytes (about).
    #[serde(default = "default_batch_bytes")]
    pub batch_max_bytes: usize,
    /// Longest an event waits for its batch to fill, in milliseconds.
    #[serde(default = "default_batch_ms")]
    pub batch_max_ms: u64,
    /// Longest wait between tries when central cannot be reached, seconds.
    #[serde(default = "default_max_backoff")]
    pub max_backoff_secs: u64,
}

fn default_batch_bytes() -> usize {
    4 << 20
}
fn default_max_backoff() -> u64 {
    60
}

fn default_batch() -> usize {
    1000
}
fn default_batch_ms() -> u64 {
    1000
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSection {
    /// Live interface to capture on (mirror port / TAP).
    #[serde(default)]
    pub interface: Option<String>,
    /// Or capture files to read once (pcap / pcapng).
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// BPF filter expression.
    #[serde(default)]
    pub bpf: String,
    #[serde(default = "default_snaplen")]
    pub snaplen: i32,
    #[serde(default = "default_true")]
    pub promiscuous: bool,
    /// Shift packet times so the last packet of the files is "now" (demo).
    #[serde(default)]
    pub shift_to_now: bool,
}

impl Default for CaptureSection {
    fn default() -> Self {
        CaptureSection {
            interface: None,
            files: Vec::new(),
            bpf: String::new(),
            snaplen: default_snaplen(),
            promiscuous: true,
            shift_to_now: false,
        }
    }
}

fn default_snaplen() -> i32 {
    65_535
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSection {
    /// Suricata-syntax rule files.
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// Address variables (`HOME_NET = "[10.20.0.0/16]"`) over Suricata's
    /// defaults.
    #[serde(default)]
    pub address_vars: std::collections::BTreeMap<String, String>,
    /// Port variables (`HTTP_PORTS = "[80,8080]"`).
    #[serde(default)]
    pub port_vars: std::collections::BTreeMap<String, String>,
    /// A Suricata `threshold.config` (suppress, threshold, rate_filter).
    #[serde(default)]
    pub threshold_file: Option<PathBuf>,
    /// Pick up TCP sessions whose handshake was not seen (off by default,
    /// as in Suricata).
    #[serde(default)]
    pub midstream: bool,
}

impl RulesSection {
    /// Rule variables: Suricata's defaults with this section's overrides.
    pub fn vars(&self) -> crate::detect::signature::Vars {
        let mut sets = Vec::new();
        for (k, v) in &self.address_vars {
            sets.push((format!("vars.address-groups.{k}"), v.clone()));
        }
        for (k, v) in &self.port_vars {
            sets.push((format!("vars.port-groups.{k}"), v.clone()));
        }
        match replay::settings(&sets) {
            Ok((vars, _)) => vars,
            Err(_) => crate::detect::signature::Vars::default(),
        }
    }

    /// The packet-path settings this section implies.
    ///
    /// # Errors
    /// An unreadable or invalid threshold file, with file:line:column.
    pub fn pipeline_config(&self) -> Result<pipeline::PipelineConfig, String> {
        let mut sets = vec![("stream.midstream".to_string(), self.midstream.to_string())];
        if let Some(t) = &self.threshold_file {
            sets.push(("threshold-file".to_string(), t.display().to_string()));
        }
        replay::pipeline_settings(&sets, &self.vars())
            .map(|(c, _)| c)
            .map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsSection {
    /// Log files read once, from the start; how far each was read is a
    /// checkpoint in the spool, so a restart neither repeats nor skips.
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// Log files followed as they grow (globs in the file name allowed),
    /// through rotation; offsets kept as checkpoints in the spool (and in
    /// `state_dir/log-offsets.json`).
    #[serde(default)]
    pub follow: Vec<String>,
    /// Address to receive syslog over UDP (`0.0.0.0:514`).
    #[serde(default)]
    pub syslog_udp: Option<std::net::SocketAddr>,
    /// Address to receive syslog over TCP (octet-counted or newline framing).
    #[serde(default)]
    pub syslog_tcp: Option<std::net::SocketAddr>,
    /// Longest line kept; longer lines are cut there and flagged.
    #[serde(default = "default_max_line")]
    pub max_line: usize,
    /// Sigma rule files or directories run over every log line; a match is
    /// an alert (gid 4).
    #[serde(default)]
    pub sigma: Vec<PathBuf>,
    /// A logsource and field mapping file for rules written for other
    /// logs (see `docs/sigma.md`).
    #[serde(default)]
    pub sigma_mapping: Option<PathBuf>,
}

impl Default for LogsSection {
    fn default() -> Self {
        LogsSection {
            files: Vec::new(),
            follow: Vec::new(),
            syslog_udp: None,
            syslog_tcp: None,
            max_line: default_max_line(),
            sigma: Vec::new(),
            sigma_mapping: None,
        }
    }
}

fn default_max_line() -> usize {
    64 * 1024
}

impl LogsSection {
    /// Whether anything is followed or listened to (sources that never end).
    pub fn live(&self) -> bool {
        !self.follow.is_empty() || self.syslog_udp.is_some() || self.syslog_tcp.is_some()
    }
}

impl SensorConfig {
    /// Loads and validates a sensor config file.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and key.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let cfg: SensorConfig = config::load(path)?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Checks meaning; `path` is used in messages.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the key.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let url = self.central.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(config::invalid(
                path,
                "central.url",
                format!("`{url}` must start with http:// or https://"),
            ));
        }
        if self.central.batch_max_events == 0 {
            return Err(config::invalid(
                path,
                "central.batch_max_events",
                "must be at least 1",
            ));
        }
        match (&self.capture.interface, self.capture.files.is_empty()) {
            (Some(_), false) => {
                return Err(config::invalid(
                    path,
                    "capture.interface",
                    "set either capture.interface or capture.files, not both",
                ));
            }
            (None, true)
                if self.logs.files.is_empty()
                    && !self.logs.live()
                    && self.files.watch.is_empty() =>
            {
                return Err(config::invalid(
                    path,
                    "capture",
                    "nothing to watch: set capture.interface, capture.files, logs.files, logs.follow, logs.syslog_udp, logs.syslog_tcp or files.watch",
                ));
            }
            _ => {}
        }
        if !(64..=262_144).contains(&self.capture.snaplen) {
            return Err(config::invalid(
                path,
                "capture.snaplen",
                "must be between 64 and 262144",
            ));
        }
        if !self.files.watch.is_empty() && self.files.yara.is_empty() {
            return Err(config::invalid(
                path,
                "files.watch",
                "watched directories need YARA rules: set files.yara (for example [\"bundled\"])",
            ));
        }
        for dir in &self.files.watch {
            if !dir.is_dir() {
                return Err(config::invalid(
                    path,
                    "files.watch",
                    format!("{} is not a directory", dir.display()),
                ));
            }
        }
        if self.files.workers == 0
            || self.files.queue == 0
            || self.files.max_size == 0
            || self.files.extract_max_size == 0
        {
            return Err(config::invalid(
                path,
                "files",
                "workers, queue, max_size and extract_max_size must be at least 1",
            ));
        }
        if self.spool.segment_bytes < 4096 {
            return Err(config::invalid(
                path,
                "spool.segment_bytes",
                "must be at least 4096",
            ));
        }
        if self.spool.max_bytes < 2 * self.spool.segment_bytes {
            return Err(config::invalid(
                path,
                "spool.max_bytes",
                "must be at least twice spool.segment_bytes",
            ));
        }
        if self.central.batch_max_bytes < 1024 {
            return Err(config::invalid(
                path,
                "central.batch_max_bytes",
                "must be at least 1024",
            ));
        }
        Ok(())
    }
}

/// A value replaced as a whole while readers keep using the one they
/// took (rule sets reloaded by a command).
#[derive(Debug)]
pub struct Swap<T> {
    inner: std::sync::RwLock<(u64, Arc<T>)>,
}

impl<T> Swap<T> {
    pub fn new(v: Arc<T>) -> Self {
        Swap {
            inner: std::sync::RwLock::new((0, v)),
        }
    }

    /// The current value.
    pub fn load(&self) -> Arc<T> {
        match self.inner.read() {
            Ok(g) => Arc::clone(&g.1),
            Err(p) => Arc::clone(&p.into_inner().1),
        }
    }

    /// How many times the value was replaced.
    pub fn generation(&self) -> u64 {
        match self.inner.read() {
            Ok(g) => g.0,
            Err(p) => p.into_inner().0,
        }
    }

    /// Replaces the value.
    pub fn store(&self, v: Arc<T>) {
        let mut g = match self.inner.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.0 += 1;
        g.1 = v;
    }
}

/// Sigma rules that a reload can replace.
pub type SigmaSwap = Swap<crate::detect::sigma::SigmaRuleSet>;

/// Loads the `[rules]` signature files with the section's variables; rules
/// with problems are logged and skipped.
///
/// # Errors
/// [`SensorError::Rules`] when rules were named and none loaded.
pub fn load_signatures(rules: &RulesSection) -> Result<RuleSet, SensorError> {
    let classes = crate::detect::signature::parse_classifications(
        crate::detect::signature::DEFAULT_CLASSIFICATION,
    );
    let paths: Vec<&Path> = rules.files.iter().map(PathBuf::as_path).collect();
    let (set, report) = RuleSet::load(&paths, &rules.vars(), classes);
    for d in &report.diagnostics {
        tracing::warn!(%d, "rule skipped");
    }
    if set.is_empty() && report.skipped() > 0 {
        return Err(SensorError::Rules(report.diagnostics));
    }
    Ok(set)
}

/// The sensor's credentials at central.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub sensor_id: String,
    pub unit: String,
    pub secret: String,
    /// When central stops taking the secret (microseconds); the sensor
    /// renews it well before.
    #[serde(default)]
    pub secret_expires_at: Option<i64>,
}

impl Credentials {
    /// The `Authorization` header value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}.{}", self.sensor_id, self.secret)
    }
}

/// Errors of the sensor runtime.
#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    #[error("rules: {0}")]
    Config(String),
    #[error("{}", replay::render_diagnostics(.0))]
    Rules(Vec<crate::detect::signature::Diagnostic>),
    #[error("enrolment: {0}")]
    Enrol(String),
    #[error("central rejected the sensor's credentials (HTTP 401): was it revoked? {0}")]
    Unauthorized(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Capture(#[from] capture::CaptureError),
    #[error("http client: {0}")]
    Http(String),
    #[error("{0}")]
    Spool(String),
}

/// Counters of one sensor run.
#[derive(Debug, Default)]
pub struct SensorCounters {
    /// Packets the capture saw, and those the kernel or interface dropped.
    pub capture_received: AtomicU64,
    pub capture_dropped: AtomicU64,
    /// Packets that could not be decoded.
    pub invalid_packets: AtomicU64,
    pub events_shipped: AtomicU64,
    pub batches_shipped: AtomicU64,
    pub dropped_events: AtomicU64,
    pub batches_rejected: AtomicU64,
    pub ship_retries: AtomicU64,
}

/// Runs a sensor until its sources are done (files) or `stop` is set (live).
///
/// # Errors
/// [`SensorError`] for bad rules, failed enrolment, revoked credentials or
/// a capture that cannot be opened.
pub async fn run(
    cfg: SensorConfig,
    rules: Arc<RuleSet>,
    stop: Arc<AtomicBool>,
    counters: Arc<SensorCounters>,
) -> Result<(), SensorError> {
    let creds = link::credentials(&cfg).await?;
    let client = link::client(&cfg.sensor.state_dir, &cfg.central.url)?;
    let identity = Identity {
        sensor_id: Some(creds.sensor_id.clone()),
        unit: Some(creds.unit.clone()),
    };
    let spool = Arc::new(
        spool::Spool::open(&cfg.sensor.state_dir.join("spool"), cfg.spool.clone())
            .map_err(|e| SensorError::Spool(e.to_string()))?,
    );
    {
        let st = spool.stats();
        if st.pending > 0 || st.corrupt_bytes > 0 {
            tracing::info!(
                pending = st.pending,
                bytes = st.bytes,
                corrupt_bytes = st.corrupt_bytes,
                "spool opened with events from before; shipping them first"
            );
        }
    }
    let yara = if cfg.files.enabled() {
        let rules = cfg.files.load_rules().map_err(SensorError::Config)?;
        tracing::info!(rules = rules.len(), "YARA rules loaded");
        Some(Arc::new(RulesHandle::new(rules)))
    } else {
        None
    };
    let reload = yara
        .as_ref()
        .map(|h| tokio::spawn(reload_on_hangup(cfg.files.clone(), Arc::clone(h))));
    let sigma = Arc::new(Swap::new(Arc::new(load_sigma(&cfg.logs)?)));
    let signatures = Arc::new(Swap::new(rules));
    let syslog = start_syslog(&cfg.logs, &identity, Arc::clone(&spool), Arc::clone(&sigma)).await?;

    let capture_cfg = cfg.clone();
    let capture_stop = Arc::clone(&stop);
    let capture_counters = Arc::clone(&counters);
    let capture_spool = Arc::clone(&spool);
    let runner = command::Runner {
        cfg: cfg.clone(),
        signatures: Arc::clone(&signatures),
        sigma: Arc::clone(&sigma),
        yara: yara.clone(),
        spool: Arc::clone(&spool),
        identity: identity.clone(),
    };
    let (capture_sigma, capture_signatures) = (Arc::clone(&sigma), Arc::clone(&signatures));
    let capture = tokio::task::spawn_blocking(move || {
        produce(
            &capture_cfg,
            capture_signatures,
            yara,
            capture_sigma,
            identity,
            &capture_spool,
            &capture_stop,
            &capture_counters,
        )
    });
    let creds = Arc::new(link::CredStore::new(&cfg.sensor.state_dir, creds));
    let link = link::Link {
        client: client.clone(),
        state_dir: cfg.sensor.state_dir.clone(),
        base: cfg.central.url.trim_end_matches('/').to_string(),
        creds: Arc::clone(&creds),
    };
    let background = [
        tokio::spawn(link::heartbeats(
            link.clone(),
            Duration::from_secs(cfg.sensor.heartbeat_secs.max(1)),
            Arc::clone(&spool),
            Arc::clone(&counters),
            Arc::clone(&signatures),
            Arc::clone(&sigma),
        )),
        tokio::spawn(command::poll(link.clone(), runner, Arc::clone(&stop))),
    ];
    let settings = ship::ShipSettings {
        url: format!("{}/api/v1/events", cfg.central.url.trim_end_matches('/')),
        max_events: cfg.central.batch_max_events,
        max_bytes: cfg.central.batch_max_bytes,
        max_wait: Duration::from_millis(cfg.central.batch_max_ms),
        level: 3,
        max_backoff: Duration::from_secs(cfg.central.max_backoff_secs.max(1)),
    };
    let shipper = tokio::spawn(ship::run(
        Arc::clone(&spool),
        client.clone(),
        Arc::clone(&creds),
        settings,
        Arc::clone(&counters),
        Arc::clone(&stop),
    ));
    // when capture ends, the listeners stop too and the spool's input
    // closes, so that the shipper can drain and end; when the shipper ends
    // first (central refused the credentials), capture stops
    let mut capture = capture;
    let mut shipper = shipper;
    let (cap_res, ship_res) = tokio::select! {
        c = &mut capture => {
            for t in &syslog {
                t.abort();
            }
            if cfg.sensor.linger {
                // the shipper keeps going: commands (drill injects) add
                // events after the files are done
                tracing::info!(
                    "files replayed; still answering central until stopped ([sensor] linger)"
                );
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            spool.close_input();
            (c, shipper.await)
        }
        r = &mut shipper => {
            stop.store(true, Ordering::Relaxed);
            for t in &syslog {
                t.abort();
            }
            spool.close_input();
            (capture.await, r)
        }
    };
    spool.sync();
    // a last heartbeat, so central's figures include the end of the run
    link::heartbeat_once(&link, &spool, &counters, &signatures, &sigma).await;
    for t in background {
        t.abort();
    }
    if let Some(r) = reload {
        r.abort();
    }
    match ship_res {
        Ok(r) => r?,
        Err(e) => return Err(SensorError::Http(format!("shipper task failed: {e}"))),
    }
    match cap_res {
        Ok(r) => r,
        Err(e) => Err(SensorError::Http(format!("capture task failed: {e}"))),
    }
}

/// Loads the `[logs] sigma` rules; a rule with a problem is skipped and
/// logged at file:line:column.
///
/// # Errors
/// Rules were named and none could be loaded.
pub(crate) fn load_sigma(
    logs: &LogsSection,
) -> Result<crate::detect::sigma::SigmaRuleSet, SensorError> {
    let paths: Vec<&Path> = logs.sigma.iter().map(PathBuf::as_path).collect();
    let (mut set, report) = crate::detect::sigma::SigmaRuleSet::load(&paths);
    for d in &report.diagnostics {
        tracing::warn!(%d, "Sigma rule skipped");
    }
    if let Some(m) = &logs.sigma_mapping {
        let mapping = crate::detect::sigma::mapping::Mapping::load(m)
            .map_err(|e| SensorError::Config(format!("logs.sigma_mapping: {e}")))?;
        set.apply_mapping(mapping);
    }
    if !paths.is_empty() && set.rules.is_empty() {
        return Err(SensorError::Config(
            "logs.sigma: no Sigma rule could be loaded".into(),
        ));
    }
    if !set.rules.is_empty() {
        tracing::info!(rules = set.rules.len(), "Sigma rules loaded");
    }
    Ok(set)
}

/// Starts the syslog listeners of `[logs]`; each message becomes a `log`
/// event. Returns the tasks (aborted when the sensor stops).
///
/// # Errors
/// An address that cannot be bound.
async fn start_syslog(
    logs: &LogsSection,
    identity: &Identity,
    spool: Arc<spool::Spool>,
    sigma: Arc<SigmaSwap>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, SensorError> {
    use crate::logs::syslog;
    if logs.syslog_udp.is_none() && logs.syslog_tcp.is_none() {
        return Ok(Vec::new());
    }
    let (udp, tcp) = syslog::bind(logs.syslog_udp, logs.syslog_tcp)
        .await
        .map_err(|e| SensorError::Config(format!("logs.syslog_udp/syslog_tcp: {e}")))?;
    let (mtx, mut mrx) = mpsc::channel::<syslog::SyslogMessage>(4096);
    let counters = Arc::new(syslog::SyslogCounters::default());
    let mut tasks = Vec::new();
    if let Some(u) = udp {
        tracing::info!(addr = ?u.local_addr().ok(), "syslog over UDP");
        tasks.push(tokio::spawn(syslog::serve_udp(
            u,
            logs.max_line,
            mtx.clone(),
            Arc::clone(&counters),
        )));
    }
    if let Some(t) = tcp {
        tracing::info!(addr = ?t.local_addr().ok(), "syslog over TCP");
        tasks.push(tokio::spawn(syslog::serve_tcp(
            t,
            logs.max_line,
            mtx,
            Arc::clone(&counters),
        )));
    }
    let identity = identity.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(m) = mrx.recv().await {
            let mut ev = Event::new("log", chrono::Utc::now().timestamp_micros());
            ev.sensor_id = identity.sensor_id.clone();
            ev.unit = identity.unit.clone();
            ev.log = Some(log_record(m.source, None, m.text, m.truncated));
            let mut batch = sigma.load().alerts(&ev);
            batch.insert(0, ev);
            // a live source: when the spool is full it evicts, never waits
            spool.append(&batch, spool::Full::Evict);
        }
    }));
    Ok(tasks)
}

/// Reloads the YARA rules on SIGHUP: the new set is compiled beside the
/// running one and swapped in at once; if it does not compile, the old set
/// keeps running and the error is logged.
async fn reload_on_hangup(files: FilesSection, handle: Arc<RulesHandle>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        let f = files.clone();
        match tokio::task::spawn_blocking(move || f.load_rules()).await {
            Ok(Ok(rules)) => {
                let n = rules.len();
                let generation = handle.replace(rules);
                tracing::info!(rules = n, generation, "YARA rules reloaded");
            }
            Ok(Err(e)) => tracing::error!(error = %e, "YARA reload failed; the old rules stay"),
            Err(e) => tracing::error!(error = %e, "YARA reload failed; the old rules stay"),
        }
    }
}

/// The capture side: reads sources, runs detection, queues events; and,
/// when YARA is configured, the scanning threads and the directory
/// watcher beside it.
#[allow(clippy::too_many_arguments)]
fn produce(
    cfg: &SensorConfig,
    signatures: Arc<Swap<RuleSet>>,
    yara: Option<Arc<RulesHandle>>,
    sigma: Arc<SigmaSwap>,
    identity: Identity,
    spool: &Arc<spool::Spool>,
    stop: &AtomicBool,
    counters: &SensorCounters,
) -> Result<(), SensorError> {
    let mut pcfg = cfg.rules.pipeline_config().map_err(SensorError::Config)?;
    let pool = yara.map(|handle| {
        if cfg.files.extract {
            pcfg.extract_files = usize::try_from(cfg.files.extract_max_size).unwrap_or(usize::MAX);
        }
        let sink_spool = Arc::clone(spool);
        let sink: Sink = Arc::new(move |events: Vec<Event>| {
            sink_spool.append(&events, spool::Full::Evict);
        });
        ScanPool::start(
            handle,
            cfg.files.settings(),
            cfg.files.workers,
            cfg.files.queue,
            sink,
        )
    });
    let mut pipeline = Pipeline::with_config(signatures.load(), identity, pcfg);
    pipeline.scan_counters = pool.as_ref().map(|p| Arc::clone(&p.counters));
    let watching = pool.is_some() && !cfg.files.watch.is_empty();
    let following = !cfg.logs.follow.is_empty();
    let identity = pipeline.identity().clone();
    let result = std::thread::scope(|scope| {
        if let Some(pool) = pool.as_ref().filter(|_| watching) {
            scope.spawn(move || watch_dirs(&cfg.files, pool, stop));
        }
        if following {
            let (identity, sigma) = (&identity, &sigma);
            scope.spawn(move || {
                follow_logs(
                    &cfg.logs,
                    &cfg.sensor.state_dir,
                    identity,
                    sigma,
                    spool,
                    stop,
                )
            });
        }
        let r = capture_sources(
            cfg,
            &mut pipeline,
            pool.as_ref(),
            &sigma,
            &signatures,
            spool,
            stop,
            counters,
        );
        // watched directories and followed logs never end by themselves
        if r.is_ok() && (watching || cfg.logs.live()) {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        r
    });
    if let Some(pool) = pool {
        pool.finish();
    }
    result
}

/// A `log` record: the line and the fields its parser found.
pub fn log_record(
    source: String,
    line_no: Option<u64>,
    text: String,
    truncated: bool,
) -> crate::event::LogRecord {
    let parsed = crate::logs::parse::parse(&text);
    let mut extra = crate::event::Extra::default();
    extra.insert("parser".into(), serde_json::json!(parsed.parser));
    if truncated {
        extra.insert("truncated".into(), serde_json::json!(true));
    }
    crate::event::LogRecord {
        source,
        line_no,
        line: text,
        fields: (!parsed.fields.is_empty()).then_some(parsed.fields),
        extra,
    }
}

/// Follows the `[logs] follow` files until `stop`, spooling a `log` event
/// per new line (waiting for room: the lines stay in the file) and saving
/// the offsets once the lines are spooled.
fn follow_logs(
    logs: &LogsSection,
    state_dir: &Path,
    identity: &Identity,
    sigma: &SigmaSwap,
    spool: &spool::Spool,
    stop: &AtomicBool,
) {
    let mut tailer = crate::logs::tail::Tailer::new(
        logs.follow.clone(),
        Some(state_dir.join("log-offsets.json")),
        logs.max_line,
    );
    // the spool's checkpoint is written with the events, so it is never
    // behind them (the offsets file may be, after a kill)
    if let Some(p) = spool.checkpoint("follow") {
        tailer.restore(p);
    }
    let mut lines = Vec::new();
    let mut warned = std::collections::HashSet::new();
    while !stop.load(Ordering::Relaxed) {
        for e in tailer.poll(&mut lines) {
            if warned.insert(e.clone()) {
                tracing::warn!(error = %e, "cannot follow a log file");
            }
        }
        let now = chrono::Utc::now().timestamp_micros();
        let mut batch = Vec::new();
        let sigma = sigma.load();
        for l in lines.drain(..) {
            let mut ev = Event::new("log", now);
            ev.sensor_id = identity.sensor_id.clone();
            ev.unit = identity.unit.clone();
            ev.log = Some(log_record(
                l.path.display().to_string(),
                None,
                l.text,
                l.truncated,
            ));
            let alerts = sigma.alerts(&ev);
            batch.push(ev);
            batch.extend(alerts);
        }
        spool.append_at(
            &batch,
            Some(("follow", tailer.position())),
            spool::Full::Wait,
        );
        if let Err(e) = tailer.save() {
            tracing::warn!(error = %e, "cannot save log offsets");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Scans the watched directories (in full first, when configured), then
/// watches them until `stop`.
fn watch_dirs(files: &FilesSection, pool: &ScanPool, stop: &AtomicBool) {
    let wcfg = crate::detect::yara::watch::WatchConfig {
        roots: files.watch.clone(),
        settle: Duration::from_secs(files.settle_secs),
        sweep: Duration::from_secs(files.sweep_secs.max(1)),
        max_size: files.max_size,
        initial_scan: files.scan_at_start,
    };
    tracing::info!(dirs = ?files.watch, "watching directories");
    if let Err(e) = crate::detect::yara::watch::run(&wcfg, pool, stop) {
        tracing::error!(error = %e, "cannot watch directories");
    }
}

/// Hands the files the pipeline pulled out of traffic to the scanners:
/// waiting for room when reading files, dropping (counted) when live.
fn hand_over(pipeline: &mut Pipeline, pool: Option<&ScanPool>, wait: bool) {
    for item in pipeline.extracted.drain(..) {
        if let Some(pool) = pool {
            if wait {
                pool.submit_wait(item);
            } else {
                pool.submit(item);
            }
        }
    }
}

/// Reads the packet and log sources through the pipeline.
#[allow(clippy::too_many_arguments)]
fn capture_sources(
    cfg: &SensorConfig,
    pipeline: &mut Pipeline,
    pool: Option<&ScanPool>,
    sigma: &SigmaSwap,
    signatures: &Swap<RuleSet>,
    spool: &spool::Spool,
    stop: &AtomicBool,
    counters: &SensorCounters,
) -> Result<(), SensorError> {
    let mut rules_generation = signatures.generation();
    let mut reload = |pipeline: &mut Pipeline| {
        let g = signatures.generation();
        if g != rules_generation {
            rules_generation = g;
            pipeline.set_rules(signatures.load());
        }
    };
    let mut events = Vec::new();
    // Files wait for room in the spool; live capture cannot, so it evicts.
    let send_wait = |evs: &mut Vec<Event>| {
        spool.append(evs, spool::Full::Wait);
        evs.clear();
    };

    for path in &cfg.logs.files {
        let lines = crate::logs::read_log_file(path).map_err(|source| SensorError::Io {
            path: path.clone(),
            source,
        })?;
        // lines already spooled before a restart are not read again
        let key = format!("file:{}", path.display());
        let done = spool
            .checkpoint(&key)
            .and_then(|v| v.get("line").and_then(serde_json::Value::as_u64))
            .unwrap_or(0);
        let mut last = done;
        let now = chrono::Utc::now().timestamp_micros();
        let sigma = sigma.load();
        for line in lines {
            if line.line_no <= done {
                continue;
            }
            last = line.line_no;
            let mut ev = pipeline.event("log", now);
            ev.log = Some(log_record(
                line.source,
                Some(line.line_no),
                line.text,
                false,
            ));
            let alerts = sigma.alerts(&ev);
            events.push(ev);
            events.extend(alerts);
            if events.len() >= 256 {
                spool.append_at(
                    &events,
                    Some((&key, serde_json::json!({ "line": last }))),
                    spool::Full::Wait,
                );
                events.clear();
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        if last > done || !events.is_empty() {
            spool.append_at(
                &events,
                Some((&key, serde_json::json!({ "line": last }))),
                spool::Full::Wait,
            );
            events.clear();
        }
    }

    if !cfg.capture.files.is_empty() {
        let mut last_ts = 0;
        for path in &cfg.capture.files {
            if cfg.capture.shift_to_now {
                let mut max_ts = 0;
                capture::read_file(path, |p| max_ts = max_ts.max(p.ts_micros))?;
                pipeline.time_shift_micros = chrono::Utc::now().timestamp_micros() - max_ts;
            }
            capture::read_file(path, |pkt| {
                last_ts = pkt.ts_micros + pipeline.time_shift_micros;
                pipeline.process(&pkt, &mut events);
                hand_over(pipeline, pool, true);
                if events.len() >= 256 {
                    send_wait(&mut events);
                }
            })?;
        }
        pipeline.finish(&mut events);
        hand_over(pipeline, pool, true);
        events.push(pipeline.stats_event(last_ts, None));
        counters
            .capture_received
            .store(pipeline.stats.packets, Ordering::Relaxed);
        counters
            .invalid_packets
            .store(pipeline.stats.invalid, Ordering::Relaxed);
        send_wait(&mut events);
        tracing::info!(
            packets = pipeline.stats.packets,
            alerts = pipeline.stats.alerts,
            "capture files done"
        );
        return Ok(());
    }

    let Some(iface) = &cfg.capture.interface else {
        return Ok(());
    };
    let mut live = LiveCapture::open(&LiveOptions {
        interface: iface.clone(),
        bpf: cfg.capture.bpf.clone(),
        snaplen: cfg.capture.snaplen,
        promiscuous: cfg.capture.promiscuous,
    })?;
    tracing::info!(interface = %iface, bpf = %cfg.capture.bpf, "live capture started");
    let stats_every = Duration::from_secs(cfg.sensor.stats_interval_secs.max(1));
    let mut last_stats = std::time::Instant::now();
    let try_send = |evs: &mut Vec<Event>| {
        spool.append(evs, spool::Full::Evict);
        evs.clear();
    };
    while !stop.load(Ordering::Relaxed) {
        reload(pipeline);
        let n = live.poll(256, |pkt| {
            pipeline.process(&pkt, &mut events);
        })?;
        hand_over(pipeline, pool, false);
        try_send(&mut events);
        if last_stats.elapsed() >= stats_every {
            last_stats = std::time::Instant::now();
            let k = live.stats();
            counters
                .capture_received
                .store(k.received, Ordering::Relaxed);
            counters
                .capture_dropped
                .store(k.dropped + k.if_dropped, Ordering::Relaxed);
            counters
                .invalid_packets
                .store(pipeline.stats.invalid, Ordering::Relaxed);
            let mut ev = pipeline.stats_event(
                chrono::Utc::now().timestamp_micros(),
                Some((k.received, k.dropped + k.if_dropped)),
            );
            if let Some(s) = ev.stats.as_mut() {
                let sp = spool.stats();
                s.insert(
                    "sensor".into(),
                    serde_json::json!({
                        "spool_bytes": sp.bytes,
                        "spool_pending": sp.pending,
                        "spool_dropped": sp.dropped.values().sum::<u64>(),
                        "rejected": counters.dropped_events.load(Ordering::Relaxed),
                    }),
                );
            }
            events.push(ev);
            try_send(&mut events);
        }
        if n == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    pipeline.finish(&mut events);
    hand_over(pipeline, pool, false);
    try_send(&mut events);
    let k = live.stats();
    tracing::info!(
        kernel_received = k.received,
        kernel_dropped = k.dropped,
        if_dropped = k.if_dropped,
        "live capture stopped"
    );
    Ok(())
}
