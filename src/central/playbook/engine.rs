//! The engine: runs playbooks for incidents, one persisted step at a time.
//!
//! Why a database-driven loop rather than tasks in memory: a run lasts
//! hours or days (people do the manual steps), central restarts in
//! between, and two coordinators may act at once. So the only state is in
//! the store (see [`crate::central::store::playbooks`]); the loop here
//! ([`start_runner`]) picks the steps that are due, moves each with a
//! compare-and-set, and a step and the steps it leads to change in one
//! transaction. Killing central mid-run loses nothing: on start, steps
//! caught running are run again and everything else continues where it
//! was.
//!
//! A branch (of parallel, if, while, switch) is a chain of step rows whose
//! `parent` is the branching step; the branching step waits until none of
//! its children is active, then continues (a while step re-evaluates).
//! Conditions that cannot be evaluated fail their step with the reason.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{Playbook, Step, StepKind};
use crate::central::SharedState;
use crate::central::store::playbooks::{NewTask, RunRow, RunStepRow};
use crate::central::store::{IncidentRow, StoreError, User, now_micros};

/// Holds why a run failed while its `workflow_exception` path runs.
pub const EXCEPTION_VAR: &str = "__canhgac_exception__";

/// Most rounds of a while step.
pub const MAX_ITERATIONS: i64 = 100;

/// Why a playbook could not be started or a task not completed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no such playbook {0}")]
    NoPlaybook(String),
    #[error("no such incident in your units")]
    NoIncident,
    #[error("no such task in your units")]
    NoTask,
    #[error("the playbook is not valid: {0}")]
    Invalid(String),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The engine's shared parts: parsed playbooks and the runner's wake-up.
#[derive(Default)]
pub struct Engine {
    cache: Mutex<HashMap<i64, (i64, Arc<Playbook>)>>,
    wake: tokio::sync::Notify,
}

impl Engine {
    /// Wakes the runner (a task was done, a run started).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

async fn playbook_of(state: &SharedState, playbook_id: i64) -> Result<Arc<Playbook>, String> {
    let row = state
        .store
        .playbook(&playbook_id.to_string())
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("playbook {playbook_id} was deleted"))?;
    {
        let cache = lock(&state.engine.cache);
        if let Some((at, p)) = cache.get(&playbook_id)
            && *at == row.updated_at
        {
            return Ok(Arc::clone(p));
        }
    }
    let doc: Value = serde_json::from_str(&row.body).map_err(|e| e.to_string())?;
    let pb = Arc::new(super::build(&doc).map_err(|errs| {
        errs.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?);
    lock(&state.engine.cache).insert(playbook_id, (row.updated_at, Arc::clone(&pb)));
    Ok(pb)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// The variables canhgac fills for a run on `inc`.
pub fn incident_variables(
    state: &SharedState,
    inc: &IncidentRow,
    src_ip: Option<&str>,
    dest_ip: Option<&str>,
) -> Map<String, Value> {
    let cfg = &state.config.playbooks;
    let mut m = Map::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), Value::String(v));
    };
    put("__incident_id__", inc.id.to_string());
    put("__incident_title__", inc.title.clone());
    put("__unit__", inc.unit.clone());
    put("__unit_title__", inc.unit_title.clone());
    put("__severity__", inc.severity.to_string());
    put("__serious__", (inc.serious != 0).to_string());
    put("__category__", inc.category.clone());
    put("__src_ip__", src_ip.unwrap_or_default().to_string());
    put("__dest_ip__", dest_ip.unwrap_or_default().to_string());
    let (outside, inside) = attacker_and_internal(src_ip, dest_ip);
    put("__attacker_ip__", outside);
    put("__internal_ip__", inside);
    put("__asset__", inc.asset.clone().unwrap_or_default());
    put("__report_recipients__", cfg.report_recipients.join(", "));
    put(
        "__report_deadline_hours__",
        state.config.incidents.sla.report_hours.to_string(),
    );
    m
}

fn is_internal(ip: &str) -> bool {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => a.is_private() || a.is_loopback() || a.is_link_local(),
        Ok(std::net::IpAddr::V6(a)) => {
            a.is_loopback() || a.is_unique_local() || a.is_unicast_link_local()
        }
        Err(_) => false,
    }
}

/// The alert's outside end (the attacker, or the server a beacon calls)
/// and its inside end: the source is the attacker unless it is an
/// internal address and the destination is not.
pub fn attacker_and_internal(src: Option<&str>, dest: Option<&str>) -> (String, String) {
    let (s, d) = (src.unwrap_or_default(), dest.unwrap_or_default());
    if !s.is_empty() && is_internal(s) && !d.is_empty() && !is_internal(d) {
        (d.to_string(), s.to_string())
    } else {
        (s.to_string(), d.to_string())
    }
}

/// Starts playbook `key` (row id or CACAO id) for incident `incident_id`
/// as `user`; returns the run id.
///
/// # Errors
/// [`EngineError`]: unknown playbook or incident (outside the user's
/// units), a playbook that does not validate, the store.
pub async fn start(
    state: &SharedState,
    user: &User,
    key: &str,
    incident_id: i64,
    via: &str,
) -> Result<i64, EngineError> {
    let row = state
        .store
        .playbook(key.trim())
        .await?
        .ok_or_else(|| EngineError::NoPlaybook(key.to_string()))?;
    let (inc, alerts) = state
        .store
        .incident(incident_id, &user.unit_path, 1)
        .await?
        .ok_or(EngineError::NoIncident)?;
    let first = alerts.last();
    let run = start_for(
        state,
        row.id,
        &inc,
        first.and_then(|a| a.src_ip.as_deref()),
        first.and_then(|a| a.dest_ip.as_deref()),
        None,
        &user.username,
    )
    .await?;
    crate::central::audit::record(
        &state.store,
        &user.username,
        "playbook.start",
        &format!("incident:{incident_id}"),
        json!({ "playbook": row.cacao_id, "name": row.name, "run": run, "via": via }),
    )
    .await;
    Ok(run)
}

/// Starts the best suggested playbook for a new incident, as `system`
/// (`[playbooks] auto_start`); does nothing when none suits it.
pub async fn auto_start(state: &SharedState, incident_id: i64) {
    let found = match state.store.incident(incident_id, "", 1).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, incident = incident_id, "cannot start a playbook");
            return;
        }
    };
    let Some((inc, alerts)) = found else {
        return;
    };
    let rows = match state.store.playbooks().await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot list playbooks");
            return;
        }
    };
    let tags: Vec<String> = serde_json::from_str(&inc.tags).unwrap_or_default();
    let lang = &state.config.console.default_language;
    let Some(pb) = super::suggest(&rows, &inc.category, &tags, lang)
        .into_iter()
        .next()
    else {
        return;
    };
    let first = alerts.last();
    match start_for(
        state,
        pb.id,
        &inc,
        first.and_then(|a| a.src_ip.as_deref()),
        first.and_then(|a| a.dest_ip.as_deref()),
        None,
        "system",
    )
    .await
    {
        Ok(run) => {
            crate::central::audit::record(
                &state.store,
                "system",
                "playbook.start",
                &format!("incident:{incident_id}"),
                json!({ "playbook": pb.cacao_id, "name": pb.name, "run": run, "via": "auto_start" }),
            )
            .await;
        }
        Err(e) => tracing::error!(error = %e, incident = incident_id, "cannot start a playbook"),
    }
}

async fn start_for(
    state: &SharedState,
    playbook_id: i64,
    inc: &IncidentRow,
    src_ip: Option<&str>,
    dest_ip: Option<&str>,
    parent_step: Option<i64>,
    by: &str,
) -> Result<i64, EngineError> {
    let pb = playbook_of(state, playbook_id)
        .await
        .map_err(EngineError::Invalid)?;
    let known = incident_variables(state, inc, src_ip, dest_ip);
    let mut vars = Map::new();
    for (name, v) in &pb.variables {
        let value = match (v.external, known.get(name)) {
            (true, Some(k)) => k.clone(),
            _ => v.value.clone().map(Value::String).unwrap_or(Value::Null),
        };
        vars.insert(name.clone(), value);
    }
    for (k, v) in known {
        vars.entry(k).or_insert(v);
    }
    let delay = pb
        .steps
        .get(&pb.workflow_start)
        .map(|s| s.delay_ms)
        .unwrap_or(0);
    let run = state
        .store
        .start_run(
            playbook_id,
            inc.id,
            parent_step,
            &vars,
            by,
            &pb.workflow_start,
            now_micros() + ms_to_micros(delay),
        )
        .await?;
    let _ = state
        .store
        .timeline_add(
            inc.id,
            by,
            "playbook",
            &format!("playbook started: {}", pb.name),
            &json!({ "run": run, "playbook": pb.id,
                     "msg": "tl-playbook-started", "args": { "name": pb.name } }),
        )
        .await;
    state.engine.wake();
    Ok(run)
}

fn ms_to_micros(ms: u64) -> i64 {
    i64::try_from(ms.saturating_mul(1000)).unwrap_or(i64::MAX / 2)
}

/// Replaces every `__name__` in `text` with its value.
pub fn substitute(text: &str, vars: &Map<String, Value>) -> String {
    if !text.contains("__") {
        return text.to_string();
    }
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let mut out = text.to_string();
    for n in names {
        if out.contains(n.as_str()) {
            let v = match &vars[n] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            out = out.replace(n.as_str(), &v);
        }
    }
    out
}

/// Substitutes variables in every string inside `v`.
pub fn substitute_json(v: &Value, vars: &Map<String, Value>) -> Value {
    match v {
        Value::String(s) => Value::String(substitute(s, vars)),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute_json(x, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute_json(x, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn run_vars(run: &RunRow, step: &Step) -> Map<String, Value> {
    let mut vars: Map<String, Value> = serde_json::from_str(&run.variables).unwrap_or_default();
    for (k, v) in &step.variables {
        vars.insert(
            k.clone(),
            v.value.clone().map(Value::String).unwrap_or(Value::Null),
        );
    }
    vars
}

/// Runs the engine until `shutdown`: due steps every `tick_ms`, or at once
/// when woken. Steps caught running by a previous stop run again.
pub fn start_runner(state: SharedState) {
    tokio::spawn(async move {
        match state.store.requeue_running_steps().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(steps = n, "playbook steps interrupted by a stop run again"),
            Err(e) => tracing::error!(error = %e, "cannot resume playbook runs"),
        }
        let tick = Duration::from_millis(state.config.playbooks.tick_ms.max(50));
        loop {
            match tick_once(&state).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "playbook engine"),
            }
            let _ = tokio::time::timeout(tick, state.engine.wake.notified()).await;
        }
    });
}

/// Advances every due step once; returns how many were looked at.
///
/// # Errors
/// The store's error.
pub async fn tick_once(state: &SharedState) -> Result<usize, StoreError> {
    let due = state.store.due_steps(now_micros(), 200).await?;
    let n = due.len();
    for rs in due {
        if let Err(e) = advance(state, rs).await {
            tracing::error!(error = %e, "playbook step");
        }
    }
    Ok(n)
}

async fn advance(state: &SharedState, rs: RunStepRow) -> Result<(), StoreError> {
    let Some(run) = state.store.run(rs.run_id).await? else {
        return Ok(());
    };
    if run.status != "running" {
        return Ok(());
    }
    let pb = match playbook_of(state, run.playbook_id).await {
        Ok(p) => p,
        Err(e) => {
            end_run(state, &run, "failed", Some(&e)).await?;
            return Ok(());
        }
    };
    let Some(step) = pb.steps.get(&rs.step_id).cloned() else {
        let e = format!("step {} is not in the playbook any more", rs.step_id);
        end_run(state, &run, "failed", Some(&e)).await?;
        return Ok(());
    };
    let ctx = Ctx {
        state,
        run: &run,
        pb: &pb,
        step: &step,
        rs: &rs,
    };
    match rs.status.as_str() {
        "ready" => {
            if !state
                .store
                .move_step(rs.id, "ready", "running", None, &rs.state)
                .await?
            {
                return Ok(());
            }
            ctx.execute().await
        }
        "waiting" => ctx.recheck().await,
        _ => Ok(()),
    }
}

struct Ctx<'a> {
    state: &'a SharedState,
    run: &'a RunRow,
    pb: &'a Playbook,
    step: &'a Step,
    rs: &'a RunStepRow,
}

/// What a branching step remembers while its branches run.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct BranchState {
    #[serde(default)]
    failed: bool,
    #[serde(default)]
    reason: String,
}

impl Ctx<'_> {
    fn vars(&self) -> Map<String, Value> {
        run_vars(self.run, self.step)
    }

    fn delay_of(&self, step_id: &str) -> i64 {
        let d = self.pb.steps.get(step_id).map(|s| s.delay_ms).unwrap_or(0);
        now_micros() + ms_to_micros(d)
    }

    async fn execute(&self) -> Result<(), StoreError> {
        match &self.step.kind {
            StepKind::Start | StepKind::End => self.finish("running", true, "").await,
            StepKind::Action { .. } if self.step.is_manual() => self.open_task().await,
            StepKind::Action { .. } => self.run_commands(0, json!({})).await,
            StepKind::PlaybookAction { playbook_id } => self.child_run(playbook_id).await,
            StepKind::Parallel { next_steps } => {
                let branches: Vec<(String, i64)> = next_steps
                    .iter()
                    .map(|s| (s.clone(), self.delay_of(s)))
                    .collect();
                self.branch("running", branches).await
            }
            StepKind::If {
                condition,
                on_true,
                on_false,
            } => {
                let vars = self.vars();
                match condition.eval(&|n| lookup(&vars, n)) {
                    Err(e) => {
                        let why = format!("condition cannot be evaluated: {e}");
                        self.finish("running", false, &why).await
                    }
                    Ok(v) => {
                        let branch = if v { on_true } else { on_false };
                        let note = format!("condition is {v}");
                        match branch {
                            Some(b) => {
                                let state = json!({ "note": note }).to_string();
                                self.branch_with(
                                    "running",
                                    &state,
                                    vec![(b.clone(), self.delay_of(b))],
                                )
                                .await
                            }
                            None => self.finish("running", true, &note).await,
                        }
                    }
                }
            }
            StepKind::While { condition, on_true } => {
                if self.rs.iteration >= MAX_ITERATIONS {
                    let why = format!("stopped after {MAX_ITERATIONS} rounds");
                    return self.finish("running", false, &why).await;
                }
                let vars = self.vars();
                match condition.eval(&|n| lookup(&vars, n)) {
                    Err(e) => {
                        let why = format!("condition cannot be evaluated: {e}");
                        self.finish("running", false, &why).await
                    }
                    Ok(true) if on_true.is_some() => {
                        let b = on_true.clone().unwrap_or_default();
                        let d = self.delay_of(&b);
                        self.branch("running", vec![(b, d)]).await
                    }
                    Ok(_) => {
                        let note = format!("condition is false after {} rounds", self.rs.iteration);
                        self.finish("running", true, &note).await
                    }
                }
            }
            StepKind::Switch { switch, cases } => {
                let vars = self.vars();
                let Some(value) = lookup(&vars, switch) else {
                    let why = format!("switch variable {switch} is not set");
                    return self.finish("running", false, &why).await;
                };
                let case = cases
                    .iter()
                    .find(|(k, _)| *k == value)
                    .or_else(|| cases.iter().find(|(k, _)| k == "default"));
                match case {
                    Some((k, b)) => {
                        let state = json!({ "note": format!("case {k}") }).to_string();
                        self.branch_with("running", &state, vec![(b.clone(), self.delay_of(b))])
                            .await
                    }
                    None => {
                        let note = format!("no case for {value:?}");
                        self.finish("running", true, &note).await
                    }
                }
            }
        }
    }

    async fn branch(&self, from: &str, branches: Vec<(String, i64)>) -> Result<(), StoreError> {
        self.branch_with(from, "{}", branches).await
    }

    async fn branch_with(
        &self,
        from: &str,
        state: &str,
        branches: Vec<(String, i64)>,
    ) -> Result<(), StoreError> {
        if self
            .state
            .store
            .open_branches(self.rs, from, state, &branches)
            .await?
        {
            self.state.engine.wake();
        }
        Ok(())
    }

    async fn recheck(&self) -> Result<(), StoreError> {
        match &self.step.kind {
            StepKind::Action { .. } if self.step.is_manual() => {
                let Some(task) = self.state.store.task_of_step(self.rs.id).await? else {
                    return Ok(());
                };
                if task.status == "open"
                    && task.due_at.is_some_and(|d| d <= now_micros())
                    && self
                        .state
                        .store
                        .close_task(
                            task.id,
                            "failed",
                            None,
                            &task.evidence,
                            &task.checklist,
                            "system",
                        )
                        .await?
                {
                    let why = format!(
                        "timeout: task “{}” was not done by its due time",
                        task.title
                    );
                    self.note(&why, json!({ "task": task.id })).await;
                    return self.finish("waiting", false, &why).await;
                }
                Ok(())
            }
            StepKind::Action { .. } => {
                let st: Value = serde_json::from_str(&self.rs.state).unwrap_or_default();
                let index = st.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                let pending: Vec<i64> = st
                    .get("pending")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_i64).collect())
                    .unwrap_or_default();
                match super::actions::check_commands(self.state, &pending).await? {
                    super::actions::Check::Pending => {
                        let give_up = st.get("give_up").and_then(Value::as_i64).unwrap_or(0);
                        let attempt = st.get("attempt").and_then(Value::as_i64).unwrap_or(1);
                        let now = now_micros();
                        if now < give_up {
                            self.state
                                .store
                                .move_step(
                                    self.rs.id,
                                    "waiting",
                                    "waiting",
                                    Some(now + 1_000_000),
                                    &self.rs.state,
                                )
                                .await?;
                            return Ok(());
                        }
                        let attempts = self.state.config.playbooks.action_attempts.max(1);
                        if attempt >= attempts {
                            let sensors =
                                super::actions::pending_sensors(self.state, &pending).await?;
                            let why = format!(
                                "no answer from sensor {} after {attempt} attempts (offline?)",
                                sensors.join(", ")
                            );
                            self.note(&why, json!({ "commands": pending })).await;
                            return self.finish("waiting", false, &why).await;
                        }
                        // try again: the same command, queued anew
                        let mut st = st.clone();
                        st["attempt"] = json!(attempt + 1);
                        st["retry"] = json!(true);
                        self.note(
                            &format!(
                                "sensor has not answered; attempt {} of {attempts}",
                                attempt + 1
                            ),
                            json!({ "commands": pending }),
                        )
                        .await;
                        if self
                            .state
                            .store
                            .move_step(self.rs.id, "waiting", "running", None, &st.to_string())
                            .await?
                        {
                            self.run_commands(index, st).await?;
                        }
                        Ok(())
                    }
                    super::actions::Check::Done { ok, summary } => {
                        let mut results = st.get("results").cloned().unwrap_or_else(|| json!([]));
                        if let Some(a) = results.as_array_mut() {
                            a.push(json!(summary));
                        }
                        self.note(&summary, json!({ "commands": pending, "ok": ok }))
                            .await;
                        if !ok {
                            return self.finish("waiting", false, &summary).await;
                        }
                        let st = json!({ "results": results });
                        if self
                            .state
                            .store
                            .move_step(self.rs.id, "waiting", "running", None, &st.to_string())
                            .await?
                        {
                            self.run_commands(index + 1, st).await?;
                        }
                        Ok(())
                    }
                }
            }
            _ => Ok(()),
        }
    }

    /// Runs the step's canhgac commands from `index` on; the step is
    /// `running`. A command that waits for sensors parks the step.
    async fn run_commands(&self, index: usize, mut st: Value) -> Result<(), StoreError> {
        let StepKind::Action { commands } = &self.step.kind else {
            return Ok(());
        };
        let vars = self.vars();
        let Some(inc) = self.incident().await? else {
            return self.finish("running", false, "the incident is gone").await;
        };
        for (i, cmd) in commands.iter().enumerate().skip(index) {
            let cmd = substitute_json(cmd, &vars);
            let attempt = st.get("attempt").and_then(Value::as_i64).unwrap_or(1);
            let out = super::actions::run(self.state, &inc, self.pb, self.step, &cmd).await;
            match out {
                super::actions::Outcome::Done(Ok(summary)) => {
                    self.note(&summary, json!({ "command": cmd, "ok": true }))
                        .await;
                    if let Some(a) = st.get_mut("results").and_then(Value::as_array_mut) {
                        a.push(json!(summary));
                    } else {
                        st["results"] = json!([summary]);
                    }
                }
                super::actions::Outcome::Done(Err(why)) => {
                    self.note(&why, json!({ "command": cmd, "ok": false }))
                        .await;
                    return self.finish("running", false, &why).await;
                }
                super::actions::Outcome::Wait { commands, summary } => {
                    if st.get("retry").is_none() {
                        self.note(&summary, json!({ "command": cmd, "queued": commands }))
                            .await;
                    }
                    let wait = i64::try_from(self.state.config.playbooks.action_wait_secs.max(1))
                        .unwrap_or(60)
                        * 1_000_000;
                    let now = now_micros();
                    let parked = json!({
                        "index": i, "pending": commands, "attempt": attempt,
                        "give_up": now + wait, "results": st.get("results").cloned().unwrap_or(json!([])),
                    });
                    self.state
                        .store
                        .move_step(
                            self.rs.id,
                            "running",
                            "waiting",
                            Some(now + 1_000_000),
                            &parked.to_string(),
                        )
                        .await?;
                    return Ok(());
                }
            }
        }
        let summary = st
            .get("results")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        self.finish("running", true, &summary).await
    }

    async fn incident(&self) -> Result<Option<IncidentRow>, StoreError> {
        Ok(self
            .state
            .store
            .incident(self.run.incident_id, "", 0)
            .await?
            .map(|(i, _)| i))
    }

    async fn note(&self, text: &str, details: Value) {
        let step = substitute(&self.step.label(), &self.vars());
        let mut details = details;
        details["run"] = json!(self.run.id);
        details["step"] = json!(self.step.id);
        // shown through Fluent (`tl-*`) when the details name a message
        if details.get("msg").is_none() {
            details["msg"] = json!("tl-step");
            details["args"] = json!({ "step": step, "text": text });
        } else if let Some(a) = details.get_mut("args").and_then(Value::as_object_mut) {
            a.insert("step".into(), json!(step));
        }
        let text = format!("{step}: {text}");
        if let Err(e) = self
            .state
            .store
            .timeline_add(self.run.incident_id, "system", "playbook", &text, &details)
            .await
        {
            tracing::error!(error = %e, "cannot write the incident timeline");
        }
        crate::central::audit::record(
            &self.state.store,
            "system",
            "playbook.step",
            &format!("incident:{}", self.run.incident_id),
            json!({ "run": self.run.id, "step": self.step.id, "text": text }),
        )
        .await;
    }

    async fn open_task(&self) -> Result<(), StoreError> {
        let vars = self.vars();
        let StepKind::Action { commands } = &self.step.kind else {
            return Ok(());
        };
        let checklist: Vec<Value> = commands
            .iter()
            .filter_map(command_text)
            .map(|t| json!({ "text": substitute(&t, &vars), "done": false }))
            .collect();
        let answer_var = self.step.out_args.first().cloned();
        let options = if answer_var.is_some() {
            self.answer_options()
        } else {
            Vec::new()
        };
        let role = match self.step.agent.as_deref() {
            Some("coordinator") => "coordinator",
            Some("admin") => "admin",
            _ => "unit-staff",
        };
        let due_at = self.step.timeout_ms.map(|t| now_micros() + ms_to_micros(t));
        let task = NewTask {
            title: substitute(&self.step.label(), &vars),
            description: substitute(self.step.description.as_deref().unwrap_or(""), &vars),
            role: role.to_string(),
            checklist: Value::Array(checklist).to_string(),
            answer_var,
            answer_options: json!(options).to_string(),
            due_at,
        };
        if let Some(id) = self
            .state
            .store
            .open_task(self.rs, self.run.incident_id, &task)
            .await?
        {
            self.note(
                &format!("task for {role} opened"),
                json!({ "task": id, "due_at": due_at,
                        "msg": "tl-task-opened", "args": { "role": role } }),
            )
            .await;
        }
        Ok(())
    }

    /// The answers to offer for an approval: the cases of the switch on
    /// the answer's variable, or yes/no.
    fn answer_options(&self) -> Vec<String> {
        let var = self.step.out_args.first().map(String::as_str).unwrap_or("");
        for s in self.pb.steps.values() {
            if let StepKind::Switch { switch, cases } = &s.kind
                && switch == var
            {
                return cases
                    .iter()
                    .map(|(k, _)| k.clone())
                    .filter(|k| k != "default")
                    .collect();
            }
        }
        vec!["yes".into(), "no".into()]
    }

    async fn child_run(&self, playbook_id: &str) -> Result<(), StoreError> {
        let Some(row) = self.state.store.playbook(playbook_id).await? else {
            let why = format!("playbook {playbook_id} is not imported in canhgac");
            return self.finish("running", false, &why).await;
        };
        let Some(inc) = self.incident().await? else {
            return self.finish("running", false, "the incident is gone").await;
        };
        if !self
            .state
            .store
            .move_step(self.rs.id, "running", "waiting", None, "{}")
            .await?
        {
            return Ok(());
        }
        let vars = self.vars();
        let src = lookup(&vars, "__src_ip__");
        let dst = lookup(&vars, "__dest_ip__");
        match start_for(
            self.state,
            row.id,
            &inc,
            src.as_deref(),
            dst.as_deref(),
            Some(self.rs.id),
            "system",
        )
        .await
        {
            Ok(_) => Ok(()),
            Err(e) => self.finish("waiting", false, &e.to_string()).await,
        }
    }

    /// Finishes this step (from status `from`) and moves on.
    async fn finish(&self, from: &str, ok: bool, result: &str) -> Result<(), StoreError> {
        let next = if ok {
            self.step
                .on_success
                .as_ref()
                .or(self.step.on_completion.as_ref())
        } else {
            self.step
                .on_failure
                .as_ref()
                .or(self.step.on_completion.as_ref())
        };
        let next_rows: Vec<(String, i64)> = match (&self.step.kind, next) {
            (StepKind::End, _) | (_, None) => Vec::new(),
            (_, Some(n)) => vec![(n.clone(), self.delay_of(n))],
        };
        if !self
            .state
            .store
            .finish_step(
                self.rs.id,
                from,
                ok,
                result,
                self.run.id,
                self.rs.parent,
                &next_rows,
            )
            .await?
        {
            return Ok(());
        }
        if !next_rows.is_empty() {
            self.state.engine.wake();
            return Ok(());
        }
        // the end of a branch, or of the run
        let branch_ok = ok || next.is_some();
        branch_ended(self.state, self.run, self.rs.parent, branch_ok, result).await
    }
}

/// A branch (or the run's main line) reached its end.
async fn branch_ended(
    state: &SharedState,
    run: &RunRow,
    parent: Option<i64>,
    ok: bool,
    result: &str,
) -> Result<(), StoreError> {
    let Some(parent) = parent else {
        // the main line ended; a failure first runs `workflow_exception`,
        // once, with the reason in `__canhgac_exception__`
        let mut vars: Map<String, Value> = serde_json::from_str(&run.variables).unwrap_or_default();
        if let Some(first) = vars.get(EXCEPTION_VAR).and_then(Value::as_str) {
            let first = first.to_string();
            return end_run(state, run, "failed", Some(&first)).await;
        }
        if ok {
            return end_run(state, run, "completed", None).await;
        }
        if let Ok(pb) = playbook_of(state, run.playbook_id).await
            && let Some(e) = &pb.workflow_exception
        {
            vars.insert(EXCEPTION_VAR.into(), Value::String(result.to_string()));
            state
                .store
                .set_run_variables(run.id, &Value::Object(vars).to_string())
                .await?;
            let delay = pb.steps.get(e).map(|s| s.delay_ms).unwrap_or(0);
            state
                .store
                .add_step(run.id, e, now_micros() + ms_to_micros(delay))
                .await?;
            let _ = state
                .store
                .timeline_add(
                    run.incident_id,
                    "system",
                    "playbook",
                    &format!("workflow_exception after: {result}"),
                    &json!({ "run": run.id, "msg": "tl-exception", "args": { "reason": result } }),
                )
                .await;
            state.engine.wake();
            return Ok(());
        }
        return end_run(state, run, "failed", Some(result)).await;
    };
    let Some(prow) = state.store.run_step(parent).await? else {
        return Ok(());
    };
    let mut bs: BranchState = serde_json::from_str(&prow.state).unwrap_or_default();
    if !ok {
        bs.failed = true;
        bs.reason = result.to_string();
        state
            .store
            .set_step_state(parent, &serde_json::to_string(&bs).unwrap_or_default())
            .await?;
    }
    if state.store.active_children(parent).await? > 0 {
        return Ok(());
    }
    let pb = match playbook_of(state, run.playbook_id).await {
        Ok(p) => p,
        Err(e) => return end_run(state, run, "failed", Some(&e)).await,
    };
    let Some(step) = pb.steps.get(&prow.step_id).cloned() else {
        return Ok(());
    };
    let ctx = Ctx {
        state,
        run,
        pb: &pb,
        step: &step,
        rs: &prow,
    };
    if matches!(step.kind, StepKind::While { .. }) && !bs.failed {
        if state.store.repeat_step(parent, "waiting", "{}").await? {
            state.engine.wake();
        }
        return Ok(());
    }
    let note = serde_json::from_str::<Value>(&prow.state)
        .ok()
        .and_then(|v| v.get("note").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    let why = if bs.failed { bs.reason.clone() } else { note };
    Box::pin(ctx.finish("waiting", !bs.failed, &why)).await
}

async fn end_run(
    state: &SharedState,
    run: &RunRow,
    status: &str,
    error: Option<&str>,
) -> Result<(), StoreError> {
    if !state.store.end_run(run.id, status, error).await? {
        return Ok(());
    }
    let text = match error {
        Some(e) => format!("playbook {status}: {} — {e}", run.playbook_name),
        None => format!("playbook {status}: {}", run.playbook_name),
    };
    let _ = state
        .store
        .timeline_add(
            run.incident_id,
            "system",
            "playbook",
            &text,
            &json!({ "run": run.id, "status": status, "msg": "tl-playbook-ended",
                     "args": { "name": run.playbook_name, "status": status, "error": error.unwrap_or("") } }),
        )
        .await;
    crate::central::audit::record(
        &state.store,
        "system",
        "playbook.end",
        &format!("incident:{}", run.incident_id),
        json!({ "run": run.id, "status": status, "error": error }),
    )
    .await;
    // a child run finishes the playbook-action step that started it
    if let Some(parent_step) = run.parent_step
        && let Some(prow) = state.store.run_step(parent_step).await?
        && let Some(prun) = state.store.run(prow.run_id).await?
        && prun.status == "running"
        && let Ok(pb) = playbook_of(state, prun.playbook_id).await
        && let Some(step) = pb.steps.get(&prow.step_id).cloned()
    {
        let ctx = Ctx {
            state,
            run: &prun,
            pb: &pb,
            step: &step,
            rs: &prow,
        };
        let why = format!("playbook {} {status}", run.playbook_name);
        Box::pin(ctx.finish("waiting", status == "completed", &why)).await?;
    }
    Ok(())
}

/// Stops a run by hand.
///
/// # Errors
/// [`EngineError`].
pub async fn abort(
    state: &SharedState,
    user: &User,
    run_id: i64,
    via: &str,
) -> Result<(), EngineError> {
    let run = state
        .store
        .run(run_id)
        .await?
        .ok_or(EngineError::NoIncident)?;
    state
        .store
        .incident(run.incident_id, &user.unit_path, 0)
        .await?
        .ok_or(EngineError::NoIncident)?;
    if run.status != "running" {
        return Err(EngineError::Refused(format!(
            "the run is already {}",
            run.status
        )));
    }
    end_run(
        state,
        &run,
        "aborted",
        Some(&format!("stopped by {}", user.username)),
    )
    .await?;
    crate::central::audit::record(
        &state.store,
        &user.username,
        "playbook.abort",
        &format!("incident:{}", run.incident_id),
        json!({ "run": run_id, "via": via }),
    )
    .await;
    Ok(())
}

/// The text of a command for a checklist: `command`, else its base64
/// form decoded, else its description.
fn command_text(c: &Value) -> Option<String> {
    if let Some(t) = c.get("command").and_then(Value::as_str) {
        return Some(t.to_string());
    }
    if let Some(b) = c.get("command_b64").and_then(Value::as_str) {
        use base64::Engine as _;
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b.trim()) {
            return Some(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    c.get("description")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn lookup(vars: &Map<String, Value>, name: &str) -> Option<String> {
    match vars.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// What a person sends to complete a task.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TaskDone {
    #[serde(default)]
    pub answer: Option<String>,
    #[serde(default)]
    pub evidence: Option<String>,
    /// Indexes of the checklist items done.
    #[serde(default)]
    pub checked: Option<Vec<usize>>,
}

/// Whether `user` may work on a task for `role` (coordinators and admins
/// may do any; staff only their unit's).
pub fn may_do(user: &User, role: &str) -> bool {
    match user.role.as_str() {
        "admin" | "coordinator" => true,
        "unit_staff" => role == "unit-staff",
        _ => false,
    }
}

/// Completes a task as `user`: saves the answer, evidence and checklist,
/// fills the answer's variable, and moves the run on.
///
/// # Errors
/// [`EngineError`]: not in the user's units, not the user's role, already
/// done, an approval without an answer.
pub async fn complete_task(
    state: &SharedState,
    user: &User,
    task_id: i64,
    done: &TaskDone,
    via: &str,
) -> Result<(), EngineError> {
    let task = state
        .store
        .task(task_id)
        .await?
        .filter(|t| t.unit_path.starts_with(&user.unit_path))
        .ok_or(EngineError::NoTask)?;
    if !may_do(user, &task.role) {
        return Err(EngineError::Refused(format!(
            "this task is for the {} role",
            task.role
        )));
    }
    if task.status != "open" {
        return Err(EngineError::Refused(format!(
            "the task is already {}",
            task.status
        )));
    }
    let answer = done
        .answer
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    if task.answer_var.is_some() && answer.is_none() {
        return Err(EngineError::Refused(
            "this task needs an answer (it decides what happens next)".into(),
        ));
    }
    if answer.is_some_and(|a| a.chars().count() > 500) {
        return Err(EngineError::Refused(
            "the answer is longer than 500 characters".into(),
        ));
    }
    let evidence = done.evidence.clone().unwrap_or(task.evidence.clone());
    if evidence.chars().count() > 20_000 {
        return Err(EngineError::Refused(
            "the evidence is longer than 20000 characters".into(),
        ));
    }
    let checklist = apply_checks(&task.checklist, done.checked.as_deref());
    if !state
        .store
        .close_task(
            task_id,
            "done",
            answer,
            &evidence,
            &checklist,
            &user.username,
        )
        .await?
    {
        return Err(EngineError::Refused("the task was closed meanwhile".into()));
    }
    let Some(run) = state.store.run(task.run_id).await? else {
        return Ok(());
    };
    if let (Some(var), Some(a)) = (&task.answer_var, answer) {
        let mut vars: Map<String, Value> = serde_json::from_str(&run.variables).unwrap_or_default();
        vars.insert(var.clone(), Value::String(a.to_string()));
        state
            .store
            .set_run_variables(run.id, &Value::Object(vars).to_string())
            .await?;
    }
    let text = match answer {
        Some(a) => format!("task done: {} — answer: {a}", task.title),
        None => format!("task done: {}", task.title),
    };
    state
        .store
        .timeline_add(
            task.incident_id,
            &user.username,
            "task",
            &text,
            &json!({ "task": task_id, "run": run.id, "msg": if answer.is_some() { "tl-task-answered" } else { "tl-task-done" },
                     "args": { "title": task.title, "answer": answer.unwrap_or("") } }),
        )
        .await?;
    crate::central::audit::record(
        &state.store,
        &user.username,
        "task.done",
        &format!("task:{task_id}"),
        json!({ "incident": task.incident_id, "answer": answer, "via": via }),
    )
    .await;
    // move the run on from the task's step
    let Some(run) = state.store.run(task.run_id).await? else {
        return Ok(());
    };
    let Some(rs) = state.store.run_step(task.run_step_id).await? else {
        return Ok(());
    };
    if run.status == "running" {
        let pb = playbook_of(state, run.playbook_id)
            .await
            .map_err(EngineError::Invalid)?;
        if let Some(step) = pb.steps.get(&rs.step_id).cloned() {
            let ctx = Ctx {
                state,
                run: &run,
                pb: &pb,
                step: &step,
                rs: &rs,
            };
            let result = format!("done by {}", user.username);
            ctx.finish("waiting", true, &result).await?;
        }
    }
    Ok(())
}

/// Marks checklist items done by index; other items keep their state.
fn apply_checks(checklist: &str, checked: Option<&[usize]>) -> String {
    let mut items: Vec<Value> = serde_json::from_str(checklist).unwrap_or_default();
    if let Some(c) = checked {
        for (i, it) in items.iter_mut().enumerate() {
            it["done"] = json!(c.contains(&i));
        }
    }
    Value::Array(items).to_string()
}

/// Saves progress on a task without completing it.
///
/// # Errors
/// [`EngineError`].
pub async fn save_task(
    state: &SharedState,
    user: &User,
    task_id: i64,
    done: &TaskDone,
) -> Result<(), EngineError> {
    let task = state
        .store
        .task(task_id)
        .await?
        .filter(|t| t.unit_path.starts_with(&user.unit_path))
        .ok_or(EngineError::NoTask)?;
    if !may_do(user, &task.role) {
        return Err(EngineError::Refused(format!(
            "this task is for the {} role",
            task.role
        )));
    }
    let evidence = done.evidence.clone().unwrap_or(task.evidence.clone());
    let checklist = apply_checks(&task.checklist, done.checked.as_deref());
    if !state
        .store
        .update_task(task_id, &evidence, &checklist, None)
        .await?
    {
        return Err(EngineError::Refused(format!(
            "the task is already {}",
            task.status
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attacker_is_the_outside_end() {
        let ai = |s, d| attacker_and_internal(Some(s), Some(d));
        assert_eq!(
            ai("203.0.113.9", "10.0.0.5"),
            ("203.0.113.9".into(), "10.0.0.5".into())
        );
        assert_eq!(
            ai("10.0.0.5", "198.51.100.7"),
            ("198.51.100.7".into(), "10.0.0.5".into())
        );
        assert_eq!(
            ai("10.0.0.5", "10.0.0.6"),
            ("10.0.0.5".into(), "10.0.0.6".into())
        );
        assert_eq!(
            attacker_and_internal(None, None),
            (String::new(), String::new())
        );
    }

    #[test]
    fn substitution_prefers_the_longest_name() {
        let mut m = Map::new();
        m.insert("__ip__".into(), json!("1.2.3.4"));
        m.insert("__ip_list__".into(), json!("a,b"));
        assert_eq!(
            substitute("block __ip__ and __ip_list__", &m),
            "block 1.2.3.4 and a,b"
        );
        assert_eq!(substitute("no vars", &m), "no vars");
    }

    #[test]
    fn checklist_marks_by_index() {
        let c = r#"[{"text":"a","done":false},{"text":"b","done":false}]"#;
        let out: Vec<Value> =
            serde_json::from_str(&apply_checks(c, Some(&[1]))).unwrap_or_default();
        assert_eq!(out[0]["done"], json!(false));
        assert_eq!(out[1]["done"], json!(true));
    }
}
