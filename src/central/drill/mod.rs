//! Drills: scored incident-response exercises played through the real
//! sensors.
//!
//! A coordinator schedules a scenario ([`scenario`], offered by the
//! [`library`]) for a unit. At its time the drill clock ([`run`]) sends
//! the scenario's injects: logs and captures go to the unit's own sensor
//! over the command channel (`drill_inject`), which feeds them through its
//! detection — never onto the network — tagged with the run id; messages
//! are shown to the team in the console. Everything that follows carries
//! the tag: alerts, the incident (kept apart from real ones and out of the
//! statistics), its playbook runs and tasks, whose outside actions are
//! simulated. When the scenario's time is up (or the coordinator stops
//! it) the run is scored ([`score`]) from the times the platform already
//! records, and the after-action report ([`aar`]) is built from the same
//! record.

pub mod aar;
pub mod library;
pub mod run;
pub mod scenario;
pub mod score;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::SharedState;

/// `[drills]` in `central.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillsConfig {
    /// A folder of extra scenarios (same format as `playbooks/drills/`); a
    /// scenario there replaces a bundled one of the same name.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// How often the drill clock looks at running drills, milliseconds.
    #[serde(default = "default_tick")]
    pub tick_ms: u64,
}

fn default_tick() -> u64 {
    1000
}

impl Default for DrillsConfig {
    fn default() -> Self {
        DrillsConfig {
            dir: None,
            tick_ms: default_tick(),
        }
    }
}

/// Records a playbook action of a drill incident on its run, for the
/// score (key steps done, blocks of the wrong address). `drill` is the
/// incident's drill tag.
pub async fn note_action(
    state: &SharedState,
    drill: &str,
    action: &str,
    address: Option<&str>,
    summary: &str,
) {
    let Ok(run_id) = drill.parse::<i64>() else {
        return;
    };
    let detail = json!({ "action": action, "address": address, "summary": summary });
    if let Err(e) = state
        .store
        .add_drill_event(run_id, "action", None, "playbook", &detail)
        .await
    {
        tracing::error!(error = %e, drill, "cannot record a drill action");
    }
}

/// The id a scenario names a detection by (`sigma:<id>`, `sid:<n>`,
/// `yara:<rule>`), for an alert event.
pub fn detection_key(ev: &crate::event::Event) -> Option<String> {
    let a = ev.alert.as_ref()?;
    match a.gid {
        4 => ev.sigma.as_ref().map(|s| format!("sigma:{}", s.rule_id)),
        3 => ev
            .extra
            .get("yara")
            .and_then(|v| v.as_str())
            .map(|r| format!("yara:{r}")),
        1 => Some(format!("sid:{}", a.signature_id)),
        _ => None,
    }
}
