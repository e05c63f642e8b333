//! The sensor's link to central: enrolment with certificate pinning, the
//! credentials (renewed before they expire), and heartbeats.
//!
//! Enrolment (`canhgac sensor enroll --central URL --token T --ca-sha256
//! F`, or the first start with `central.enrolment_token`) fetches central's
//! CA certificate from `/api/v1/ca.pem` over a connection that is not yet
//! trusted, checks its SHA-256 against `F` (the fingerprint `canhgac admin
//! sensor add` printed), stores it as `state_dir/central-ca.pem`, and from
//! then on trusts that CA and nothing else — so a machine in the middle,
//! even one with a publicly trusted certificate, is refused. Without `F`
//! the CA is trusted on first use and its fingerprint logged for the
//! operator to compare. The one-time token is then exchanged, over the
//! pinned connection, for the sensor's id and secret
//! (`state_dir/credentials.json`, mode 0600).
//!
//! The secret expires (central's `SECRET_VALID_MICROS`); the heartbeat
//! answer says when, and the sensor renews it at `/api/v1/renew` once less
//! than a third of a year is left.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::json;

use super::spool::Spool;
use super::{Credentials, SensorConfig, SensorCounters, SensorError, SigmaSwap, Swap};
use crate::detect::signature::RuleSet;

const CA_FILE: &str = "central-ca.pem";
const CREDS_FILE: &str = "credentials.json";
/// Renew when less than this is left: 120 days.
const RENEW_BEFORE_MICROS: i64 = 120 * 86_400 * 1_000_000;

/// An HTTP client for central: trusting only the pinned CA when there is
/// one, the usual roots otherwise.
///
/// # Errors
/// An unreadable pinned certificate.
pub fn client(state_dir: &Path, url: &str) -> Result<reqwest::Client, SensorError> {
    let ca = state_dir.join(CA_FILE);
    let mut b = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(10));
    if ca.exists() {
        let pem = std::fs::read(&ca).map_err(|source| SensorError::Io {
            path: ca.clone(),
            source,
        })?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| SensorError::Enrol(format!("{}: {e}", ca.display())))?;
        b = b.tls_built_in_root_certs(false).add_root_certificate(cert);
    } else if url.starts_with("https://") {
        tracing::warn!(
            "no pinned CA in {}: central's certificate is checked against the public roots",
            state_dir.display()
        );
    }
    b.build().map_err(|e| SensorError::Http(e.to_string()))
}

/// A fingerprint as the operator may type it: hex, any case, `:` allowed.
pub fn normalise_fingerprint(f: &str) -> String {
    f.trim()
        .trim_start_matches("sha256:")
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Enrols with central (see the module doc) and stores the credentials.
///
/// # Errors
/// [`SensorError::Enrol`] naming what failed: central unreachable, a CA
/// whose fingerprint differs, a token central refuses.
pub async fn enrol(
    url: &str,
    token: &str,
    ca_sha256: Option<&str>,
    state_dir: &Path,
) -> Result<Credentials, SensorError> {
    let base = url.trim_end_matches('/');
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SensorError::Io { path, source }
    };
    std::fs::create_dir_all(state_dir).map_err(io(state_dir))?;
    if base.starts_with("https://") {
        let probe = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| SensorError::Http(e.to_string()))?;
        let ca_url = format!("{base}/api/v1/ca.pem");
        let resp = probe
            .get(&ca_url)
            .send()
            .await
            .map_err(|e| SensorError::Enrol(format!("{ca_url}: {e}")))?;
        if !resp.status().is_success() {
            return Err(SensorError::Enrol(format!(
                "{ca_url}: central answered {}; is it a canhgac central with TLS?",
                resp.status()
            )));
        }
        let pem = resp
            .text()
            .await
            .map_err(|e| SensorError::Enrol(format!("{ca_url}: {e}")))?;
        let got = crate::central::tls::fingerprint(&pem).ok_or_else(|| {
            SensorError::Enrol(format!("{ca_url}: the answer holds no certificate"))
        })?;
        match ca_sha256.map(normalise_fingerprint) {
            Some(want) if want != got => {
                return Err(SensorError::Enrol(format!(
                    "central's CA has fingerprint {got}, not the expected {want}: \
                     wrong address, or something in the middle; nothing was sent"
                )));
            }
            Some(_) => {
                tracing::info!(ca_sha256 = %got, "central's CA matches the expected fingerprint")
            }
            None => tracing::warn!(
                ca_sha256 = %got,
                "no --ca-sha256 given: trusting central's CA on first use; compare this \
                 fingerprint with the one `canhgac admin sensor add` printed"
            ),
        }
        let path = state_dir.join(CA_FILE);
        std::fs::write(&path, &pem).map_err(io(&path))?;
    } else {
        tracing::warn!("central is reached over plain HTTP: no TLS, no pinning");
    }
    let client = client(state_dir, base)?;
    let url = format!("{base}/api/v1/enroll");
    let resp = client
        .post(&url)
        .json(&json!({ "token": token.trim() }))
        .send()
        .await
        .map_err(|e| SensorError::Enrol(format!("{url}: {e}")))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(SensorError::Enrol(format!(
            "central answered {status}: {body}"
        )));
    }
    let creds: Credentials = resp
        .json()
        .await
        .map_err(|e| SensorError::Enrol(format!("bad answer from central: {e}")))?;
    save(&state_dir.join(CREDS_FILE), &creds)?;
    tracing::info!(sensor = %creds.sensor_id, unit = %creds.unit, "enrolled with central");
    Ok(creds)
}

fn save(path: &Path, creds: &Credentials) -> Result<(), SensorError> {
    use std::io::Write;
    let io = |source| SensorError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let bytes = serde_json::to_vec_pretty(creds).map_err(|e| SensorError::Enrol(e.to_string()))?;
    let mut f = opts.open(&tmp).map_err(io)?;
    f.write_all(&bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The stored credentials; enrols first when there are none and the
/// config has a token.
///
/// # Errors
/// [`SensorError::Enrol`] when there are no credentials and no token, or
/// enrolment fails.
pub async fn credentials(cfg: &SensorConfig) -> Result<Credentials, SensorError> {
    let path = cfg.sensor.state_dir.join(CREDS_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return serde_json::from_str(&text)
            .map_err(|e| SensorError::Enrol(format!("{}: {e}", path.display())));
    }
    let token = cfg.central.enrolment_token.trim();
    if token.is_empty() {
        return Err(SensorError::Enrol(format!(
            "no credentials at {}: run `canhgac sensor enroll --central URL --token TOKEN` \
             or set central.enrolment_token",
            path.display()
        )));
    }
    enrol(
        &cfg.central.url,
        token,
        cfg.central.ca_sha256.as_deref(),
        &cfg.sensor.state_dir,
    )
    .await
}

/// The credentials in use, replaced on renewal.
#[derive(Debug)]
pub struct CredStore {
    path: PathBuf,
    inner: RwLock<Credentials>,
}

impl CredStore {
    pub fn new(state_dir: &Path, creds: Credentials) -> Self {
        CredStore {
            path: state_dir.join(CREDS_FILE),
            inner: RwLock::new(creds),
        }
    }

    /// The current credentials.
    pub fn get(&self) -> Credentials {
        match self.inner.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The `Authorization` header value.
    pub fn bearer(&self) -> String {
        self.get().bearer()
    }

    /// Stores renewed credentials on disk, then uses them.
    ///
    /// # Errors
    /// The file cannot be written; the old credentials stay in use.
    pub fn replace(&self, creds: Credentials) -> Result<(), SensorError> {
        save(&self.path, &creds)?;
        match self.inner.write() {
            Ok(mut g) => *g = creds,
            Err(p) => *p.into_inner() = creds,
        }
        Ok(())
    }
}

/// What the heartbeat, the command poll and the shipper share.
#[derive(Debug, Clone)]
pub struct Link {
    pub client: reqwest::Client,
    /// The sensor's state directory (rule bundles are under it).
    pub state_dir: PathBuf,
    /// Central's base URL, no trailing `/`.
    pub base: String,
    pub creds: Arc<CredStore>,
}

impl Link {
    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The heartbeat's figures.
pub fn health(
    state_dir: &Path,
    spool: &Spool,
    counters: &SensorCounters,
    signatures: &Swap<RuleSet>,
    sigma: &SigmaSwap,
    events_per_sec: f64,
) -> serde_json::Value {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let sp = spool.stats();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "rules": {
            "signatures": signatures.load().len(),
            "signatures_generation": signatures.generation(),
            "sigma": sigma.load().rules.len(),
            "sigma_generation": sigma.generation(),
            "bundles": bundle_versions(state_dir),
        },
        "events_per_sec": (events_per_sec * 10.0).round() / 10.0,
        "spool": sp,
        "capture": {
            "received": load(&counters.capture_received),
            "dropped": load(&counters.capture_dropped),
        },
        "parse_errors": load(&counters.invalid_packets),
        "shipped": load(&counters.events_shipped),
        "rejected": load(&counters.dropped_events),
        "retries": load(&counters.ship_retries),
    })
}

/// The rule bundles in use: name → the version `current` points at.
fn bundle_versions(state_dir: &Path) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let Ok(dir) = std::fs::read_dir(state_dir.join("bundles")) else {
        return out;
    };
    for e in dir.flatten() {
        if let Ok(target) = std::fs::read_link(e.path().join("current")) {
            out.insert(
                e.file_name().to_string_lossy().into_owned(),
                json!(target.to_string_lossy()),
            );
        }
    }
    out
}

/// Sends one heartbeat; renews the credentials when central says they end
/// soon. Errors are logged (the next beat tries again).
pub async fn heartbeat_once(
    link: &Link,
    spool: &Spool,
    counters: &SensorCounters,
    signatures: &Swap<RuleSet>,
    sigma: &SigmaSwap,
) {
    beat(link, spool, counters, signatures, sigma, 0.0).await;
}

async fn beat(
    link: &Link,
    spool: &Spool,
    counters: &SensorCounters,
    signatures: &Swap<RuleSet>,
    sigma: &SigmaSwap,
    rate: f64,
) {
    let body = health(&link.state_dir, spool, counters, signatures, sigma, rate);
    let res = link
        .client
        .post(link.url("/api/v1/heartbeat"))
        .header("authorization", link.creds.bearer())
        .json(&body)
        .send()
        .await;
    let r = match res {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            tracing::warn!(status = %r.status(), "heartbeat refused");
            return;
        }
        Err(e) => {
            tracing::debug!(error = %e, "heartbeat not delivered");
            return;
        }
    };
    #[derive(serde::Deserialize)]
    struct Answer {
        secret_expires_at: Option<i64>,
    }
    let Ok(a) = r.json::<Answer>().await else {
        return;
    };
    let now = chrono::Utc::now().timestamp_micros();
    if let Some(exp) = a.secret_expires_at
        && exp - now < RENEW_BEFORE_MICROS
    {
        renew(link).await;
    }
}

async fn renew(link: &Link) {
    let res = link
        .client
        .post(link.url("/api/v1/renew"))
        .header("authorization", link.creds.bearer())
        .send()
        .await;
    match res {
        Ok(r) if r.status().is_success() => match r.json::<Credentials>().await {
            Ok(c) => match link.creds.replace(c) {
                Ok(()) => tracing::info!("sensor credentials renewed"),
                Err(e) => tracing::error!(error = %e, "cannot store renewed credentials"),
            },
            Err(e) => tracing::warn!(error = %e, "bad renewal answer"),
        },
        Ok(r) => tracing::warn!(status = %r.status(), "renewal refused"),
        Err(e) => tracing::warn!(error = %e, "renewal failed"),
    }
}

/// Sends a heartbeat every `every` until aborted.
pub async fn heartbeats(
    link: Link,
    every: Duration,
    spool: Arc<Spool>,
    counters: Arc<SensorCounters>,
    signatures: Arc<Swap<RuleSet>>,
    sigma: Arc<SigmaSwap>,
) {
    let mut tick = tokio::time::interval(every);
    let mut last = (std::time::Instant::now(), spool.stats().next_seq);
    loop {
        tick.tick().await;
        let seq = spool.stats().next_seq;
        let secs = last.0.elapsed().as_secs_f64().max(0.001);
        let rate = seq.saturating_sub(last.1) as f64 / secs;
        last = (std::time::Instant::now(), seq);
        beat(&link, &spool, &counters, &signatures, &sigma, rate).await;
    }
}
