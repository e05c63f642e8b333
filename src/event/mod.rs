//! The one event model shared by sensor and central.
//!
//! Events are **EVE JSON** — Suricata's output format — so that everything
//! that reads Suricata's `eve.json` reads ours, and so that a real Suricata
//! EVE line parses into [`Event`] and serialises back to the same JSON
//! (`tests/event_roundtrip.rs` checks this on lines Suricata 7.0.10 wrote).
//!
//! Every typed part keeps the fields it does not know in an `extra` map
//! (`#[serde(flatten)]`), so nothing is lost on the way through canhgac even
//! when Suricata grows a field.
//!
//! canhgac adds four fields of its own:
//! * `event_id` — a UUIDv7 made once, at the sensor, when the event is
//!   created. It is the idempotency key: central stores an event once however
//!   often a batch is resent.
//! * `sensor_id`, `unit` — who saw it; central overwrites both with what it
//!   knows of the authenticated sensor, so a sensor cannot speak for another.
//! * `drill` — the drill run id when the event came from a drill inject.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Fields not modelled by a typed struct, kept verbatim.
pub type Extra = Map<String, Value>;

/// One EVE event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `YYYY-MM-DDTHH:MM:SS.ffffff+0000`, as Suricata writes it.
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_iface: Option<String>,
    /// `alert`, `flow`, `http`, `dns`, `tls`, `fileinfo`, `stats`, `log`,
    /// `sigma`, … Kept as a string: unknown types are carried, not rejected.
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_proto: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<Alert>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<Flow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<Http>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Dns>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fileinfo: Option<FileInfo>,
    /// Counters, nested as Suricata nests them (`decoder.pkts`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Extra>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma: Option<SigmaMatch>,
    /// canhgac: the idempotency key, a UUIDv7 made at the sensor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
    /// canhgac: the sensor that saw the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensor_id: Option<String>,
    /// canhgac: the unit (organisation-tree node) the sensor belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// canhgac: drill run id when the event came from a drill inject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `alert` object of an alert event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `allowed` or `blocked`.
    pub action: String,
    pub gid: u32,
    pub signature_id: u64,
    pub rev: u32,
    pub signature: String,
    pub category: String,
    /// 1 is the most severe, as in Suricata.
    pub severity: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `flow` object of flow and alert events.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Flow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkts_toserver: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkts_toclient: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_toserver: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_toclient: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerted: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `http` object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Http {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `dns` object (EVE DNS formats v2 and v3 both fit: the rest is in `extra`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Dns {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrtype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcode: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `tls` object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Tls {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuerdn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notbefore: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notafter: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `fileinfo` object (YARA hits are fileinfo events with an alert).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FileInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// canhgac: `log` object of a `log` event — one raw log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Where it came from: a file path or a syslog listener.
    pub source: String,
    /// 1-based line number within a file source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_no: Option<u64>,
    pub line: String,
    /// Normalised fields (Sigma's names) once a parser has run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// canhgac: `sigma` object of a `sigma` event — a Sigma rule that matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigmaMatch {
    pub rule_id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The timestamp layout Suricata writes: microseconds and a `+0000` offset.
pub const EVE_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f%z";

/// Formats microseconds since the Unix epoch as an EVE timestamp (UTC).
pub fn format_timestamp(micros: i64) -> String {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    let dt = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(micros)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH);
    // written by hand: chrono's `format` parses the pattern on every call,
    // and every event gets a timestamp
    let mut s = String::with_capacity(31);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+0000",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.timestamp_subsec_micros().min(999_999)
    );
    s
}

/// Parses an EVE timestamp (or RFC 3339) to microseconds since the epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_str(s, EVE_TIME_FORMAT)
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|dt| dt.timestamp_micros())
}

impl Event {
    /// A copy of this event as a new event of `event_type`: same fields,
    /// a fresh `event_id` (a copy must never share its id, or central
    /// would take it for a redelivery and drop it).
    pub fn derive(&self, event_type: &str) -> Event {
        let mut ev = self.clone();
        ev.event_type = event_type.to_string();
        ev.event_id = Some(Uuid::now_v7());
        ev
    }

    /// A new event of `event_type` at `micros`, with a fresh `event_id`.
    pub fn new(event_type: &str, micros: i64) -> Self {
        Event {
            timestamp: format_timestamp(micros),
            flow_id: None,
            in_iface: None,
            event_type: event_type.to_string(),
            src_ip: None,
            src_port: None,
            dest_ip: None,
            dest_port: None,
            proto: None,
            app_proto: None,
            alert: None,
            flow: None,
            http: None,
            dns: None,
            tls: None,
            fileinfo: None,
            stats: None,
            log: None,
            sigma: None,
            event_id: Some(Uuid::now_v7()),
            sensor_id: None,
            unit: None,
            drill: None,
            extra: Extra::new(),
        }
    }

    /// The event time in microseconds since the epoch, if it parses.
    pub fn time_micros(&self) -> Option<i64> {
        parse_timestamp(&self.timestamp)
    }
}

/// Severity names used by the console and the API (`1` is the worst).
pub fn severity_name(severity: i64) -> &'static str {
    match severity {
        i64::MIN..=1 => "high",
        2 => "medium",
        3 => "low",
        _ => "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_in_suricata_layout() {
        let s = "2017-01-19T16:56:56.862574+0000";
        let micros = parse_timestamp(s).unwrap();
        assert_eq!(format_timestamp(micros), s);
    }

    #[test]
    fn hand_written_timestamps_equal_chrono_format() {
        let mut x: i64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // 1970 … 2200
            let micros = x.rem_euclid(7_258_118_400_000_000);
            let dt = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(micros).unwrap();
            assert_eq!(
                format_timestamp(micros),
                dt.format(EVE_TIME_FORMAT).to_string()
            );
        }
    }

    #[test]
    fn new_events_get_distinct_v7_ids() {
        let a = Event::new("alert", 0);
        let b = Event::new("alert", 0);
        assert_ne!(a.event_id, b.event_id);
        let c = a.derive("alert");
        assert_ne!(a.event_id, c.event_id);
        assert_eq!(
            (c.event_type.as_str(), &c.timestamp),
            ("alert", &a.timestamp)
        );
        assert_eq!(a.event_id.unwrap().get_version_num(), 7);
    }

    #[test]
    fn unknown_fields_are_kept() {
        let line = r#"{"timestamp":"2017-01-19T16:56:56.862574+0000","event_type":"anomaly","anomaly":{"type":"decode"},"pcap_cnt":3}"#;
        let ev: Event = serde_json::from_str(line).unwrap();
        assert_eq!(ev.extra.len(), 2);
        let back: Value = serde_json::to_value(&ev).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(line).unwrap());
    }
}
