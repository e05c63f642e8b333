//! Central's telemetry, defined in one place and exported at `/metrics` in
//! the Prometheus text format.
//!
//! Hand-rolled atomics rather than a global recorder: every test builds its
//! own app with its own counters, and the handful of series here needs no
//! more. Label values are bounded (a fixed set of reasons).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the ingest-latency histogram.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// Why a batch was rejected.
#[derive(Debug, Clone, Copy)]
pub enum RejectReason {
    Malformed,
    Unauthorized,
    TooLarge,
    /// Central was saturated and answered 503 with `Retry-After`.
    Busy,
}

/// Central's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    pub events_ingested: AtomicU64,
    pub events_duplicate: AtomicU64,
    pub batches_accepted: AtomicU64,
    rejected_malformed: AtomicU64,
    rejected_unauthorized: AtomicU64,
    rejected_too_large: AtomicU64,
    rejected_busy: AtomicU64,
    pub store_errors: AtomicU64,
    pub incidents_opened: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    /// Counts a rejected batch.
    pub fn reject(&self, reason: RejectReason) {
        let c = match reason {
            RejectReason::Malformed => &self.rejected_malformed,
            RejectReason::Unauthorized => &self.rejected_unauthorized,
            RejectReason::TooLarge => &self.rejected_too_large,
            RejectReason::Busy => &self.rejected_busy,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long one ingest request took.
    pub fn observe_ingest(&self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::new();
        let mut counter = |name: &str, help: &str, lines: &[(&str, u64)]| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in lines {
                let _ = writeln!(s, "{name}{labels} {v}");
            }
        };
        counter(
            "canhgac_events_ingested_total",
            "Events stored for the first time.",
            &[("", g(&self.events_ingested))],
        );
        counter(
            "canhgac_events_duplicate_total",
            "Events received again and not stored twice.",
            &[("", g(&self.events_duplicate))],
        );
        counter(
            "canhgac_batches_accepted_total",
            "Batches committed.",
            &[("", g(&self.batches_accepted))],
        );
        counter(
            "canhgac_batches_rejected_total",
            "Batches refused, by reason.",
            &[
                ("{reason=\"malformed\"}", g(&self.rejected_malformed)),
                ("{reason=\"unauthorized\"}", g(&self.rejected_unauthorized)),
                ("{reason=\"too_large\"}", g(&self.rejected_too_large)),
                ("{reason=\"busy\"}", g(&self.rejected_busy)),
            ],
        );
        counter(
            "canhgac_store_errors_total",
            "Database errors.",
            &[("", g(&self.store_errors))],
        );
        counter(
            "canhgac_incidents_opened_total",
            "Incidents opened by ingest.",
            &[("", g(&self.incidents_opened))],
        );
        let name = "canhgac_ingest_duration_seconds";
        let _ = writeln!(
            s,
            "# HELP {name} Time to validate and commit one batch.\n# TYPE {name} histogram"
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                s,
                "{name}_bucket{{le=\"{b}\"}} {}",
                g(&self.latency_buckets[i])
            );
        }
        let count = g(&self.latency_count);
        let _ = writeln!(s, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(s, "{name}_sum {}", g(&self.latency_sum_micros) as f64 / 1e6);
        let _ = writeln!(s, "{name}_count {count}");
        s
    }
}
