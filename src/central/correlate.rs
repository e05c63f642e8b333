//! Sigma correlation across all sensors.
//!
//! Sensors match Sigma rules line by line; what no single sensor can see —
//! a hundred failed logins spread over an hour, one address scanning the
//! portals of five communes, a login that follows a burst of failures —
//! is found here, over every sensor's matches, by the engine of
//! [`crate::detect::sigma::correlation`].
//!
//! After a batch is committed, its new Sigma matches (alerts and quiet
//! `sigma` events) go through the correlator, under a lock held only for
//! that in-memory step. A result is an alert, stored through the same
//! idempotent ingest as a sensor's, from the pseudo-sensor `@central` and
//! in the unit of its events (the nearest common parent unit when they
//! came from several units: a province-level alert), so it opens an
//! incident like any alert. Storing a result can fail without failing the
//! sensor's batch, which is already committed: it is logged and counted.
//!
//! State lives in memory, bounded by `correlation.max_groups` per rule.
//! At start it is rebuilt from the store: the matches of the last longest
//! timespan are fed through again in time order. Results have ids derived
//! from what they are made of, so a result found again is stored once.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

use super::SharedState;
use super::store::{Store, StoreError};
use crate::detect::sigma::{self, Correlator, SigmaRuleSet};
use crate::event::Event;

/// `[correlation]` in `central.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrelationConfig {
    /// Sigma rule files or directories holding correlation rules and the
    /// rules they refer to (the same set the sensors run).
    #[serde(default)]
    pub rules: Vec<PathBuf>,
    /// Most groups (distinct `group-by` values) kept per correlation rule.
    #[serde(default = "default_max_groups")]
    pub max_groups: usize,
}

fn default_max_groups() -> usize {
    100_000
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        CorrelationConfig {
            rules: Vec::new(),
            max_groups: default_max_groups(),
        }
    }
}

/// Counters, shown on `/metrics`.
#[derive(Debug, Default)]
pub struct CorrelationCounters {
    pub results: AtomicU64,
    pub store_errors: AtomicU64,
}

/// The loaded correlation rules and their engine.
pub struct Correlation {
    pub set: SigmaRuleSet,
    engine: Mutex<Correlator>,
    pub counters: CorrelationCounters,
}

impl std::fmt::Debug for Correlation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Correlation")
            .field("correlations", &self.set.correlations.len())
            .finish()
    }
}

impl Correlation {
    /// Loads the configured rules; `None` when none are configured or no
    /// correlation rule loaded. Rules with problems are logged and skipped.
    pub fn load(cfg: &CorrelationConfig) -> Option<Correlation> {
        if cfg.rules.is_empty() {
            return None;
        }
        let paths: Vec<&std::path::Path> = cfg.rules.iter().map(PathBuf::as_path).collect();
        let (set, report) = SigmaRuleSet::load(&paths);
        for d in &report.diagnostics {
            tracing::warn!(%d, "Sigma rule skipped");
        }
        if set.correlations.is_empty() {
            tracing::warn!("correlation.rules: no correlation rule loaded; correlation is off");
            return None;
        }
        tracing::info!(
            correlations = set.correlations.len(),
            rules = set.rules.len(),
            "Sigma correlation rules loaded"
        );
        Some(Correlation::new(set, cfg.max_groups))
    }

    /// An engine over an already loaded set.
    pub fn new(set: SigmaRuleSet, max_groups: usize) -> Correlation {
        let engine = Mutex::new(set.correlator(max_groups));
        Correlation {
            set,
            engine,
            counters: CorrelationCounters::default(),
        }
    }

    /// The result alerts of `events` (Sigma matches among them; others are
    /// ignored).
    pub fn observe(&self, events: &[Event]) -> Vec<Event> {
        let Ok(mut engine) = self.engine.lock() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for ev in events {
            for hit in sigma::correlate(&self.set, &mut engine, ev) {
                if let Some(c) = engine.correlations().get(hit.correlation) {
                    out.push(sigma::correlation_event(c, &hit));
                }
            }
        }
        out
    }

    /// Results of windows that have closed by `now`.
    pub fn flush(&self, now: i64) -> Vec<Event> {
        let Ok(mut engine) = self.engine.lock() else {
            return Vec::new();
        };
        let hits = engine.flush(now);
        hits.iter()
            .filter_map(|h| {
                engine
                    .correlations()
                    .get(h.correlation)
                    .map(|c| sigma::correlation_event(c, h))
            })
            .collect()
    }

    /// The engine's counters and how many groups it holds.
    pub fn stats(&self) -> (sigma::correlation::CorrelatorStats, usize) {
        match self.engine.lock() {
            Ok(e) => (e.stats, e.group_count()),
            Err(_) => Default::default(),
        }
    }

    fn max_timespan(&self) -> i64 {
        self.engine.lock().map(|e| e.max_timespan()).unwrap_or(0)
    }
}

/// Stores correlation results, each in its unit (see the module doc).
/// Returns how many were new.
///
/// # Errors
/// The database error.
pub async fn store_results(
    store: &Store,
    events: Vec<Event>,
    rules: &crate::central::store::IngestRules,
) -> Result<u64, StoreError> {
    if events.is_empty() {
        return Ok(0);
    }
    let units = store.units().await?;
    let mut stored = 0;
    for mut ev in events {
        let names: Vec<String> = match &ev.unit {
            Some(u) => vec![u.clone()],
            None => ev
                .sigma
                .as_ref()
                .and_then(|s| s.extra.get("units"))
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default(),
        };
        let paths: Vec<&str> = names
            .iter()
            .filter_map(|n| units.iter().find(|u| &u.name == n))
            .map(|u| u.path.as_str())
            .collect();
        let Some(first) = paths.first() else {
            tracing::warn!(signature = ?ev.alert.as_ref().map(|a| &a.signature), "correlation result without a known unit; not stored");
            continue;
        };
        // the nearest common parent: the longest common prefix of paths,
        // cut at a `/`
        let mut common: &str = first;
        for p in &paths[1..] {
            let n = common
                .bytes()
                .zip(p.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            common = &common[..n];
        }
        let cut = common.rfind('/').map_or(0, |i| i + 1);
        let common = &common[..cut];
        let Some(unit) = units.iter().find(|u| u.path == common) else {
            tracing::warn!(
                units = ?names,
                "correlation result over units with no common parent; not stored"
            );
            continue;
        };
        ev.unit = Some(unit.name.clone());
        let out = store
            .ingest_central(&unit.name, std::slice::from_mut(&mut ev), rules)
            .await?;
        stored += out.accepted;
    }
    Ok(stored)
}

/// After a committed batch: correlates its new events and stores the
/// results. Never fails the batch.
pub async fn after_ingest(state: &SharedState, events: &[Event]) {
    let Some(c) = state.correlation.as_ref() else {
        return;
    };
    let results = c.observe(events);
    store(state, c, results).await;
}

async fn store(state: &SharedState, c: &Correlation, results: Vec<Event>) {
    if results.is_empty() {
        return;
    }
    let n = results.len() as u64;
    match store_results(&state.store, results, &state.config.incidents.rules()).await {
        Ok(stored) => {
            c.counters.results.fetch_add(stored, Relaxed);
            tracing::info!(results = n, stored, "Sigma correlation results");
        }
        Err(e) => {
            c.counters.store_errors.fetch_add(1, Relaxed);
            tracing::error!(error = %e, "storing correlation results failed");
        }
    }
}

/// Rebuilds the state from the store, then judges closing windows every
/// 30 seconds until the process ends. Returns the number of stored matches
/// fed back.
pub async fn start(state: SharedState) -> usize {
    let Some(c) = state.correlation.as_ref() else {
        return 0;
    };
    let fed = match rebuild(&state, c).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "rebuilding correlation state from the store failed");
            0
        }
    };
    let st = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
        loop {
            tick.tick().await;
            let Some(c) = st.correlation.as_ref() else {
                return;
            };
            let results = c.flush(chrono::Utc::now().timestamp_micros());
            store(&st, c, results).await;
        }
    });
    fed
}

/// Feeds the stored Sigma matches of the last longest timespan back
/// through the engine, in time order; stores what they give (results
/// already stored are recognised by id).
///
/// # Errors
/// The database error.
pub async fn rebuild(state: &SharedState, c: &Correlation) -> Result<usize, StoreError> {
    let span = c.max_timespan();
    let events = state.store.recent_sigma_matches(span).await?;
    let n = events.len();
    let results = c.observe(&events);
    store(state, c, results).await;
    tracing::info!(matches = n, "correlation state rebuilt from the store");
    Ok(n)
}
