//! The drill clock and the coordinator's controls.
//!
//! The clock looks at live runs every `[drills] tick_ms`: it starts
//! scheduled runs whose time has come, sends each inject whose offset has
//! passed (scenario time, pauses not counted) or whose trigger happened
//! (the team acknowledged or contained the drill incident, another inject
//! went out), and ends the run when the scenario's duration is over. All
//! of it is in the store, so a restarted central carries on where it was;
//! an inject is recorded when it is handed to the sensor's command queue,
//! so it is never sent twice by the clock (a coordinator may send it again
//! by hand).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value, json};

use super::scenario::{Inject, Payload, Scenario, When};
use crate::central::SharedState;
use crate::central::store::drills::DrillRunRow;
use crate::central::store::{StoreError, now_micros};
use crate::event::{Alert, Event};

/// Why a control was refused.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("no such drill run in your units")]
    NotFound,
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Starts the clock; it runs until the process ends.
pub fn start(state: SharedState) {
    for p in &state.drills.problems {
        tracing::warn!(problem = %p, "drill scenario not offered");
    }
    tokio::spawn(async move {
        let every = std::time::Duration::from_millis(state.config.drills.tick_ms.max(50));
        loop {
            if let Err(e) = tick_once(&state).await {
                tracing::error!(error = %e, "drill clock");
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// One look at every live run.
///
/// # Errors
/// The store's error.
pub async fn tick_once(state: &SharedState) -> Result<(), StoreError> {
    for run in state.store.live_drill_runs(now_micros()).await? {
        if let Err(e) = advance(state, run).await {
            tracing::error!(error = %e, "drill run");
        }
    }
    Ok(())
}

async fn advance(state: &SharedState, mut run: DrillRunRow) -> Result<(), DrillError> {
    let Some(sc) = state.drills.get(&run.scenario).cloned() else {
        let why = format!("scenario {} is no longer offered", run.scenario);
        state
            .store
            .add_drill_event(run.id, "stop", None, "system", &json!({ "reason": why }))
            .await?;
        state
            .store
            .move_drill_run(run.id, &["scheduled", "running"], "stopped")
            .await?;
        return Ok(());
    };
    if run.status == "scheduled" {
        if !state
            .store
            .move_drill_run(run.id, &["scheduled"], "running")
            .await?
        {
            return Ok(());
        }
        state
            .store
            .add_drill_event(run.id, "start", None, "system", &json!({}))
            .await?;
        tracing::info!(drill = run.id, scenario = %run.scenario, unit = %run.unit, "drill started");
        if sc.tabletop {
            open_tabletop_incident(state, &run, &sc).await?;
        }
        run = state
            .store
            .drill_run(run.id)
            .await?
            .ok_or(DrillError::NotFound)?;
    }
    let now = now_micros();
    let events = state.store.drill_events(run.id).await?;
    let mut sent: BTreeMap<String, i64> = events
        .iter()
        .filter(|e| e.kind == "inject" || e.kind == "inject_failed")
        .filter_map(|e| e.inject.clone().map(|i| (i, e.at)))
        .collect();
    let incidents = state.store.drill_incidents(&run.tag()).await?;
    let elapsed = run.elapsed(now);
    for inj in &sc.injects {
        if sent.contains_key(&inj.id) {
            continue;
        }
        let due = match &inj.when {
            When::At(secs) => elapsed >= i64::try_from(*secs).unwrap_or(i64::MAX) * 1_000_000,
            When::Acknowledged => incidents.iter().any(|i| i.acknowledged_at.is_some()),
            When::Contained => incidents.iter().any(|i| i.contained_at.is_some()),
            When::AfterInject(other) => sent.contains_key(other),
        };
        if due {
            send(state, &run, inj, "system").await?;
            sent.insert(inj.id.clone(), now);
        }
    }
    let duration = i64::try_from(sc.duration_mins).unwrap_or(i64::MAX / 60_000_000) * 60_000_000;
    if elapsed >= duration {
        finish(state, &run, &sc, "finished", "system").await?;
    }
    Ok(())
}

/// A tabletop drill has no sensor: central opens its incident itself, so
/// the team works it in the console like any other.
async fn open_tabletop_incident(
    state: &SharedState,
    run: &DrillRunRow,
    sc: &Scenario,
) -> Result<(), StoreError> {
    let lang = crate::central::console::Lang::parse(&state.config.console.default_language)
        .unwrap_or(crate::central::console::Lang::Vi);
    let title = if lang == crate::central::console::Lang::En {
        &sc.title.en
    } else {
        &sc.title.vi
    };
    let mut ev = Event::new("alert", now_micros());
    ev.alert = Some(Alert {
        action: "allowed".into(),
        gid: 9,
        signature_id: 2,
        rev: 1,
        signature: format!("DRILL {}: {title}", run.id),
        category: "Tabletop drill".into(),
        // the team judges it: the incident starts at info
        severity: 4,
        metadata: None,
        extra: Default::default(),
    });
    ev.unit = Some(run.unit.clone());
    ev.drill = Some(run.tag());
    state
        .store
        .ingest_central(
            &run.unit,
            std::slice::from_mut(&mut ev),
            &state.config.incidents.rules(),
        )
        .await?;
    Ok(())
}

/// Sends one inject now: logs and captures to the unit's sensor, messages
/// to the team's console. Recorded either way (a failure too, with why).
///
/// # Errors
/// The store's error.
pub async fn send(
    state: &SharedState,
    run: &DrillRunRow,
    inj: &Inject,
    actor: &str,
) -> Result<(), StoreError> {
    let tag = run.tag();
    let (args, detail) = match &inj.payload {
        Payload::Message(t) | Payload::Conditions(t) => {
            let kind = if matches!(inj.payload, Payload::Message(_)) {
                "message"
            } else {
                "conditions"
            };
            state
                .store
                .add_drill_event(
                    run.id,
                    "inject",
                    Some(&inj.id),
                    actor,
                    &json!({ "kind": kind, "vi": t.vi, "en": t.en }),
                )
                .await?;
            return Ok(());
        }
        Payload::Logs { lines, .. } => (
            json!({ "drill": tag, "log_lines": lines }),
            json!({ "kind": "logs", "lines": lines.len() }),
        ),
        Payload::Pcap { file, data } => (
            json!({
                "drill": tag,
                "pcap_b64": base64::engine::general_purpose::STANDARD.encode(data),
            }),
            json!({ "kind": "pcap", "file": file.display().to_string(), "bytes": data.len() }),
        ),
    };
    let (kind, detail) = match to_sensor(state, run, &args, actor).await? {
        Ok((sensor, command)) => {
            let mut d = detail;
            d["sensor"] = json!(sensor);
            d["command"] = json!(command);
            ("inject", d)
        }
        Err(why) => {
            let mut d = detail;
            d["error"] = json!(why);
            tracing::warn!(drill = run.id, inject = %inj.id, error = %why, "drill inject not sent");
            ("inject_failed", d)
        }
    };
    state
        .store
        .add_drill_event(run.id, kind, Some(&inj.id), actor, &detail)
        .await?;
    Ok(())
}

/// Queues a `drill_inject` to the unit's sensor that was heard from last.
async fn to_sensor(
    state: &SharedState,
    run: &DrillRunRow,
    args: &Value,
    actor: &str,
) -> Result<Result<(String, i64), String>, StoreError> {
    let mut sensors: Vec<_> = state
        .store
        .sensor_rows(&run.unit_path)
        .await?
        .into_iter()
        .filter(|s| s.unit == run.unit && s.revoked_at.is_none() && s.enrolled_at.is_some())
        .collect();
    sensors.sort_by_key(|s| std::cmp::Reverse(s.last_seen.unwrap_or(0)));
    let Some(s) = sensors.first() else {
        return Ok(Err(format!("unit {} has no enrolled sensor", run.unit)));
    };
    let by = format!("{actor} (drill {})", run.id);
    match crate::central::fleet::queue(state, &s.name, "drill_inject", args, &by, None).await {
        Ok(id) => Ok(Ok((s.name.clone(), id))),
        Err(e) => Ok(Err(format!("{}: {e:?}", s.name))),
    }
}

/// Ends a run (`finished` when its time is up, `stopped` by a coordinator)
/// and keeps its score. Returns `false` when it had already ended.
///
/// # Errors
/// The store's error.
pub async fn finish(
    state: &SharedState,
    run: &DrillRunRow,
    sc: &Scenario,
    to: &str,
    actor: &str,
) -> Result<bool, StoreError> {
    if !state
        .store
        .move_drill_run(run.id, &["scheduled", "running", "paused"], to)
        .await?
    {
        return Ok(false);
    }
    let kind = if to == "finished" { "finish" } else { "stop" };
    state
        .store
        .add_drill_event(run.id, kind, None, actor, &json!({}))
        .await?;
    let Some(run) = state.store.drill_run(run.id).await? else {
        return Ok(true);
    };
    if run.started_at.is_some() {
        let s = super::score::of_run(state, &run, sc).await?;
        let text = serde_json::to_string(&s).unwrap_or_else(|_| "{}".into());
        state
            .store
            .set_drill_score(run.id, s.total, s.max, &text)
            .await?;
        tracing::info!(drill = run.id, score = s.total, max = s.max, "drill ended");
    }
    Ok(true)
}

/// A run the user may see (unit scoping), with its scenario.
///
/// # Errors
/// [`DrillError::NotFound`] outside the user's units.
pub async fn visible(
    state: &SharedState,
    id: i64,
    scope_path: &str,
) -> Result<(DrillRunRow, Option<Scenario>), DrillError> {
    let run = state
        .store
        .drill_run(id)
        .await?
        .filter(|r| r.unit_path.starts_with(scope_path))
        .ok_or(DrillError::NotFound)?;
    let sc = state.drills.get(&run.scenario).cloned();
    Ok((run, sc))
}

/// Schedules `scenario` for each of `units` at `start_at` (now when
/// `None`); returns the run ids.
///
/// # Errors
/// [`DrillError::Refused`] for an unknown scenario or unit, a unit outside
/// the user's, a sensor scenario for a unit with no sensor.
pub async fn schedule(
    state: &SharedState,
    scenario: &str,
    units: &[String],
    start_at: Option<i64>,
    by: &str,
    scope_path: &str,
) -> Result<Vec<i64>, DrillError> {
    let sc = state
        .drills
        .get(scenario)
        .ok_or_else(|| DrillError::Refused(format!("no scenario `{scenario}`")))?;
    if units.is_empty() {
        return Err(DrillError::Refused("choose at least one unit".into()));
    }
    let mut plan = Vec::new();
    for name in units {
        let u = state
            .store
            .unit(name)
            .await?
            .filter(|u| u.path.starts_with(scope_path))
            .ok_or_else(|| DrillError::Refused(format!("no unit `{name}` in your units")))?;
        if !sc.tabletop {
            let has = state
                .store
                .sensor_rows(&u.path)
                .await?
                .iter()
                .any(|s| s.unit == u.name && s.revoked_at.is_none() && s.enrolled_at.is_some());
            if !has {
                return Err(DrillError::Refused(format!(
                    "unit `{name}` has no enrolled sensor: choose a tabletop scenario for it"
                )));
            }
        }
        plan.push(u);
    }
    let at = start_at.unwrap_or_else(now_micros);
    let title = format!("{} / {}", sc.title.vi, sc.title.en);
    let mode = if sc.tabletop { "tabletop" } else { "sensor" };
    let mut ids = Vec::new();
    for u in plan {
        let id = state
            .store
            .add_drill_run(scenario, &title, u.id, mode, at, by)
            .await?;
        state
            .store
            .add_drill_event(
                id,
                "scheduled",
                None,
                by,
                &json!({ "start_at": at, "unit": u.name }),
            )
            .await?;
        crate::central::audit::record(
            &state.store,
            by,
            "drill.schedule",
            &format!("drill:{id}"),
            json!({ "scenario": scenario, "unit": u.name, "start_at": at }),
        )
        .await;
        ids.push(id);
    }
    Ok(ids)
}

/// A coordinator's control: `pause`, `resume`, `stop`, `inject` (an
/// inject of the scenario, now), `message` (a message of their own).
///
/// # Errors
/// [`DrillError`] saying why it cannot be done now.
pub async fn control(
    state: &SharedState,
    id: i64,
    scope_path: &str,
    action: &str,
    arg: &str,
    by: &str,
) -> Result<(), DrillError> {
    let (run, sc) = visible(state, id, scope_path).await?;
    let refused = |s: &str| DrillError::Refused(s.to_string());
    match action {
        "pause" => {
            if !state
                .store
                .move_drill_run(id, &["running"], "paused")
                .await?
            {
                return Err(refused("only a running drill can be paused"));
            }
            state
                .store
                .add_drill_event(id, "pause", None, by, &json!({}))
                .await?;
        }
        "resume" => {
            if !state
                .store
                .move_drill_run(id, &["paused"], "running")
                .await?
            {
                return Err(refused("only a paused drill can be resumed"));
            }
            state
                .store
                .add_drill_event(id, "resume", None, by, &json!({}))
                .await?;
        }
        "stop" => {
            let sc = sc.ok_or_else(|| refused("the scenario is no longer offered"))?;
            if !finish(state, &run, &sc, "stopped", by).await? {
                return Err(refused("the drill has already ended"));
            }
        }
        "inject" => {
            let sc = sc.ok_or_else(|| refused("the scenario is no longer offered"))?;
            if !matches!(run.status.as_str(), "running" | "paused") {
                return Err(refused("injects go to a running or paused drill"));
            }
            let inj =
                sc.injects.iter().find(|i| i.id == arg).ok_or_else(|| {
                    DrillError::Refused(format!("no inject `{arg}` in the scenario"))
                })?;
            send(state, &run, inj, by).await?;
        }
        "message" => {
            let text = arg.trim();
            if text.is_empty() || text.chars().count() > 2000 {
                return Err(refused("a message is 1 to 2000 characters"));
            }
            if run.is_over() {
                return Err(refused("the drill has already ended"));
            }
            state
                .store
                .add_drill_event(id, "message", None, by, &json!({ "text": text }))
                .await?;
        }
        other => {
            return Err(DrillError::Refused(format!(
                "unknown control `{other}`: pause, resume, stop, inject, message"
            )));
        }
    }
    crate::central::audit::record(
        &state.store,
        by,
        &format!("drill.{action}"),
        &format!("drill:{id}"),
        json!({ "arg": arg }),
    )
    .await;
    Ok(())
}

/// The team's answer to an inject's question (the last answer counts).
///
/// # Errors
/// [`DrillError`] for an unknown question or choice, or an ended drill.
pub async fn answer(
    state: &SharedState,
    id: i64,
    scope_path: &str,
    inject: &str,
    choice: usize,
    by: &str,
) -> Result<(), DrillError> {
    let (run, sc) = visible(state, id, scope_path).await?;
    let sc = sc.ok_or_else(|| DrillError::Refused("the scenario is no longer offered".into()))?;
    if run.status != "running" {
        return Err(DrillError::Refused(
            "answers are taken while the drill runs".into(),
        ));
    }
    let q = sc
        .injects
        .iter()
        .find(|i| i.id == inject)
        .and_then(|i| i.question.as_ref())
        .ok_or_else(|| DrillError::Refused(format!("inject `{inject}` asks no question")))?;
    if choice >= q.choices.len() {
        return Err(DrillError::Refused(format!(
            "choice {} of {}",
            choice + 1,
            q.choices.len()
        )));
    }
    let shown = state
        .store
        .drill_events(id)
        .await?
        .iter()
        .any(|e| e.kind == "inject" && e.inject.as_deref() == Some(inject));
    if !shown {
        return Err(DrillError::Refused(
            "this question has not been asked yet".into(),
        ));
    }
    state
        .store
        .add_drill_event(id, "answer", Some(inject), by, &json!({ "choice": choice }))
        .await?;
    Ok(())
}
