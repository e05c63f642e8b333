//! Drills over the API: the scenarios on offer, scheduling runs for units,
//! the coordinator's controls (pause, resume, stop, inject, message), the
//! team's answers, the score breakdown, the leaderboard and the
//! after-action report. Scheduling and controls are for admins and
//! coordinators; anyone who may act on incidents answers questions; all of
//! it is scoped to the user's units.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::authenticate_user;
use super::incidents::can_act;
use super::playbooks::can_import as can_coordinate;
use crate::central::console::Lang;
use crate::central::drill::run::{self, DrillError};
use crate::central::drill::scenario::{Payload, Scenario, When};
use crate::central::drill::{aar, score};
use crate::central::store::drills::DrillRunRow;
use crate::central::{AppError, SharedState};

impl From<DrillError> for AppError {
    fn from(e: DrillError) -> Self {
        match e {
            DrillError::NotFound => AppError::NotFound,
            DrillError::Refused(m) => AppError::BadRequest(m),
            DrillError::Store(e) => e.into(),
        }
    }
}

/// A scenario as JSON (what the console and API show of it).
pub fn scenario_json(sc: &Scenario) -> Value {
    json!({
        "name": sc.name,
        "title": { "vi": sc.title.vi, "en": sc.title.en },
        "briefing": { "vi": sc.briefing.vi, "en": sc.briefing.en },
        "units": sc.units,
        "mode": if sc.tabletop { "tabletop" } else { "sensor" },
        "difficulty": sc.difficulty,
        "duration_mins": sc.duration_mins,
        "injects": sc.injects.iter().map(|i| json!({
            "id": i.id,
            "when": match &i.when {
                When::At(s) => json!({ "at_secs": s }),
                When::Acknowledged => json!({ "after": "acknowledged" }),
                When::Contained => json!({ "after": "contained" }),
                When::AfterInject(o) => json!({ "after": format!("inject:{o}") }),
            },
            "kind": match &i.payload {
                Payload::Logs { .. } => "logs",
                Payload::Pcap { .. } => "pcap",
                Payload::Message(_) => "message",
                Payload::Conditions(_) => "conditions",
            },
            "question": i.question.is_some(),
        })).collect::<Vec<_>>(),
        "expected": {
            "detections": sc.expected.detections,
            "category": sc.expected.category,
            "severity_max": sc.expected.severity_max,
            "playbook": sc.expected.playbook,
            "key_steps": sc.expected.key_steps,
        },
        "deadlines": sc.deadlines.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
    })
}

fn run_json(r: &DrillRunRow) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("breakdown");
        o.remove("unit_path");
        o.insert("drill_tag".into(), json!(r.tag()));
    }
    v
}

pub(super) async fn scenarios(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    authenticate_user(&state, &headers).await?;
    let list: Vec<Value> = state.drills.all().map(scenario_json).collect();
    Ok(Json(json!({ "scenarios": list, "problems": state.drills.problems })).into_response())
}

pub(super) async fn list(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    let runs = state.store.drill_runs(&user.unit_path, 500).await?;
    Ok(Json(runs.iter().map(run_json).collect::<Vec<_>>()).into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct ScheduleBody {
    scenario: String,
    units: Vec<String>,
    /// RFC 3339; now when absent.
    #[serde(default)]
    start_at: Option<String>,
}

/// Parses an RFC 3339 time, or a `YYYY-MM-DDTHH:MM` local time (UTC+7,
/// what a browser's datetime-local field sends).
pub fn parse_start(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_micros());
    }
    let local = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .map_err(|_| format!("start time {s:?}: RFC 3339 or YYYY-MM-DDTHH:MM (UTC+7)"))?;
    Ok(local.and_utc().timestamp_micros() - 7 * 3_600_000_000)
}

pub(super) async fn schedule(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Json(b): Json<ScheduleBody>,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    if !can_coordinate(&user) {
        return Err(AppError::Forbidden(
            "only coordinators and admins schedule drills".into(),
        ));
    }
    let at = b
        .start_at
        .as_deref()
        .map(parse_start)
        .transpose()
        .map_err(AppError::BadRequest)?;
    let ids = run::schedule(
        &state,
        &b.scenario,
        &b.units,
        at,
        &user.username,
        &user.unit_path,
    )
    .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({ "runs": ids })),
    )
        .into_response())
}

pub(super) async fn get(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    let (r, sc) = run::visible(&state, id, &user.unit_path).await?;
    let events = state.store.drill_events(id).await?;
    let incidents: Vec<i64> = state
        .store
        .drill_incidents(&r.tag())
        .await?
        .iter()
        .map(|i| i.id)
        .collect();
    let s = score::current(&state, &r, sc.as_ref()).await?;
    Ok(Json(json!({
        "run": run_json(&r),
        "scenario": sc.as_ref().map(scenario_json),
        "elapsed_secs": r.elapsed(chrono::Utc::now().timestamp_micros()) / 1_000_000,
        "incidents": incidents,
        "events": events.iter().map(|e| json!({
            "at": e.at, "kind": e.kind, "inject": e.inject, "actor": e.actor, "detail": e.detail_json(),
        })).collect::<Vec<_>>(),
        "score": s,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct ControlBody {
    /// `pause`, `resume`, `stop`, `inject`, `message`.
    action: String,
    /// The inject id, or the message text.
    #[serde(default)]
    arg: String,
}

pub(super) async fn control(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(b): Json<ControlBody>,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    if !can_coordinate(&user) {
        return Err(AppError::Forbidden(
            "only coordinators and admins control drills".into(),
        ));
    }
    run::control(
        &state,
        id,
        &user.unit_path,
        &b.action,
        &b.arg,
        &user.username,
    )
    .await?;
    let r = state.store.drill_run(id).await?.ok_or(AppError::NotFound)?;
    Ok(Json(run_json(&r)).into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct AnswerBody {
    inject: String,
    /// The chosen answer, from 1.
    choice: usize,
}

pub(super) async fn answer(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(b): Json<AnswerBody>,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    if !can_act(&user) {
        return Err(AppError::Forbidden("viewers cannot answer".into()));
    }
    let choice = b
        .choice
        .checked_sub(1)
        .ok_or_else(|| AppError::BadRequest("choice counts from 1".into()))?;
    run::answer(
        &state,
        id,
        &user.unit_path,
        &b.inject,
        choice,
        &user.username,
    )
    .await?;
    Ok(Json(json!({ "ok": true })).into_response())
}

/// One unit's line of the leaderboard.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Standing {
    pub unit: String,
    pub unit_title: String,
    pub runs: usize,
    /// Percent of the last ended run.
    pub last_percent: i64,
    /// Last minus the one before, in points of percent (none with one run).
    pub trend: Option<i64>,
    /// Means over the scored runs, seconds.
    pub mean_ack_secs: Option<i64>,
    pub mean_contain_secs: Option<i64>,
    pub last_run: i64,
}

/// The leaderboard: units by their last drill score.
///
/// # Errors
/// The store's error.
pub async fn leaderboard(
    state: &SharedState,
    scope_path: &str,
) -> Result<Vec<Standing>, crate::central::store::StoreError> {
    let mut runs = state.store.drill_runs(scope_path, 5000).await?;
    runs.retain(|r| r.is_over() && r.breakdown.is_some());
    runs.sort_by_key(|r| (r.ended_at.unwrap_or(0), r.id));
    let mut by_unit: std::collections::BTreeMap<String, Vec<(DrillRunRow, score::Score)>> =
        Default::default();
    for r in runs {
        let Some(s) = r
            .breakdown
            .as_deref()
            .and_then(|b| serde_json::from_str::<score::Score>(b).ok())
        else {
            continue;
        };
        by_unit.entry(r.unit.clone()).or_default().push((r, s));
    }
    let mean = |v: Vec<i64>| {
        (!v.is_empty()).then(|| v.iter().sum::<i64>() / i64::try_from(v.len()).unwrap_or(1))
    };
    let mut out: Vec<Standing> = by_unit
        .into_values()
        .filter_map(|list| {
            let (last, ls) = list.last()?;
            let prev = list.len().checked_sub(2).and_then(|i| list.get(i));
            Some(Standing {
                unit: last.unit.clone(),
                unit_title: last.unit_title.clone(),
                runs: list.len(),
                last_percent: ls.percent(),
                trend: prev.map(|(_, p)| ls.percent() - p.percent()),
                mean_ack_secs: mean(list.iter().filter_map(|(_, s)| s.ack_secs).collect()),
                mean_contain_secs: mean(list.iter().filter_map(|(_, s)| s.contain_secs).collect()),
                last_run: last.id,
            })
        })
        .collect();
    out.sort_by_key(|s| (std::cmp::Reverse(s.last_percent), s.unit.clone()));
    Ok(out)
}

pub(super) async fn standings(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    Ok(Json(leaderboard(&state, &user.unit_path).await?).into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct ReportQuery {
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

/// The after-action report as a response: `pdf` or `html`.
///
/// # Errors
/// [`AppError`] for a run outside the user's units or a bad query.
pub async fn report_response(
    state: &SharedState,
    id: i64,
    scope_path: &str,
    lang: Option<&str>,
    format: Option<&str>,
    pdf_link: &str,
) -> Result<Response, AppError> {
    let (r, sc) = run::visible(state, id, scope_path).await?;
    let lang = Lang::parse(lang.unwrap_or(&state.config.console.default_language))
        .ok_or_else(|| AppError::BadRequest("lang is vi or en".into()))?;
    let s = score::current(state, &r, sc.as_ref()).await?;
    let doc = aar::build(state, &r, sc.as_ref(), s.as_ref(), lang).await?;
    match format.unwrap_or("pdf") {
        "pdf" => Ok((
            [
                (header::CONTENT_TYPE, "application/pdf".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "inline; filename=\"drill-{id}-after-action-{}.pdf\"",
                        if lang == Lang::En { "en" } else { "vi" }
                    ),
                ),
            ],
            crate::central::report::pdf::render(&doc),
        )
            .into_response()),
        "html" => Ok(
            axum::response::Html(crate::central::report::html(&doc, lang, pdf_link))
                .into_response(),
        ),
        other => Err(AppError::BadRequest(format!(
            "format {other:?}: pdf or html"
        ))),
    }
}

pub(super) async fn report(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    let lang = q.lang.as_deref().unwrap_or("vi");
    report_response(
        &state,
        id,
        &user.unit_path,
        q.lang.as_deref(),
        q.format.as_deref(),
        &format!("/api/v1/drills/{id}/report?format=pdf&lang={lang}"),
    )
    .await
}
