//! Console pages for drills: the scenarios and runs (scheduling for
//! coordinators), the drill-control page (timeline, injects sent, the
//! team's progress, the score as it stands, pause/resume/stop, manual
//! injects and messages; the team sees the messages and answers the
//! questions there), the leaderboard, and the after-action report. Every
//! form is CSRF-checked; roles and units are enforced by the same
//! functions the API uses.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Chrome, Lang, Tr, chrome, internal, lang_of, render, session, show_time};
use crate::central::api::drills::{leaderboard, parse_start, report_response};
use crate::central::api::incidents::can_act;
use crate::central::api::playbooks::can_import as can_coordinate;
use crate::central::drill::run::{self, DrillError};
use crate::central::drill::scenario::{Payload, Scenario, When};
use crate::central::drill::{aar, score};
use crate::central::store::drills::DrillRunRow;
use crate::central::{SharedState, auth};

macro_rules! signed_in {
    ($state:expr, $headers:expr) => {
        match session(&$state, &$headers).await {
            Some(s) => s,
            None => return Redirect::to("/login").into_response(),
        }
    };
}

pub(super) struct ScenarioView {
    name: String,
    title: String,
    briefing: String,
    mode_label: String,
    difficulty_label: String,
    duration_mins: u64,
    injects: usize,
}

pub(super) struct RunView {
    id: i64,
    title: String,
    unit_title: String,
    status: String,
    status_label: String,
    start: String,
    score: String,
}

#[derive(Template)]
#[template(path = "drills.html")]
struct DrillsPage<'a> {
    chrome: Chrome<'a>,
    scenarios: Vec<ScenarioView>,
    runs: Vec<RunView>,
    units: Vec<(String, String)>,
    can_schedule: bool,
    error: Option<String>,
    problems: Vec<String>,
}

pub(super) struct InjectView {
    id: String,
    kind_label: String,
    when: String,
    sent: String,
    failed: String,
}

pub(super) struct MessageView {
    at: String,
    text: String,
    inject: String,
    question: String,
    /// (number from 1, text).
    choices: Vec<(usize, String)>,
    answered: String,
}

#[derive(Template)]
#[template(path = "drill.html")]
struct DrillPage<'a> {
    chrome: Chrome<'a>,
    run: RunView,
    mode: String,
    briefing: String,
    elapsed: String,
    duration: String,
    can_control: bool,
    can_answer: bool,
    live: bool,
    paused: bool,
    injects: Vec<InjectView>,
    messages: Vec<MessageView>,
    record: Vec<(String, String, String)>,
    incidents: Vec<(i64, String, String)>,
    progress: Vec<(String, String)>,
    score_total: String,
    /// (item, points, why, lost).
    lines: Vec<(String, String, String, bool)>,
    error: Option<String>,
}

pub(super) struct StandingView {
    unit_title: String,
    runs: usize,
    last: String,
    trend: String,
    ack: String,
    contain: String,
    last_run: i64,
}

#[derive(Template)]
#[template(path = "leaderboard.html")]
struct LeaderboardPage<'a> {
    chrome: Chrome<'a>,
    rows: Vec<StandingView>,
}

fn pick(lang: Lang, vi: &str, en: &str) -> String {
    if lang == Lang::En {
        en.to_string()
    } else {
        vi.to_string()
    }
}

fn run_view(t: &Tr<'_>, r: &DrillRunRow, lang: Lang, sc: Option<&Scenario>) -> RunView {
    RunView {
        id: r.id,
        title: sc.map_or(r.title.clone(), |s| pick(lang, &s.title.vi, &s.title.en)),
        unit_title: r.unit_title.clone(),
        status: r.status.clone(),
        status_label: t.get(&format!("drill-status-{}", r.status)),
        start: show_time(r.started_at.unwrap_or(r.start_at)),
        score: match (r.score, r.score_max) {
            (Some(s), Some(m)) if m > 0 => format!("{s} / {m} ({}%)", s.max(0) * 100 / m),
            _ => "—".into(),
        },
    }
}

fn mins_secs(secs: i64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

async fn list_page(
    state: &SharedState,
    headers: &HeaderMap,
    user: &crate::central::store::User,
    csrf: String,
    error: Option<String>,
) -> Response {
    let lang = lang_of(state, headers);
    let c = chrome(state, lang, "drills-title", Some(user), csrf);
    let t = &c.t;
    let scenarios = state
        .drills
        .all()
        .map(|s| ScenarioView {
            name: s.name.clone(),
            title: pick(lang, &s.title.vi, &s.title.en),
            briefing: pick(lang, &s.briefing.vi, &s.briefing.en),
            mode_label: t.get(if s.tabletop {
                "drill-mode-tabletop"
            } else {
                "drill-mode-sensor"
            }),
            difficulty_label: t.get(&format!("drill-difficulty-{}", s.difficulty)),
            duration_mins: s.duration_mins,
            injects: s.injects.len(),
        })
        .collect();
    let runs = match state.store.drill_runs(&user.unit_path, 200).await {
        Ok(r) => r
            .iter()
            .map(|r| run_view(t, r, lang, state.drills.get(&r.scenario)))
            .collect(),
        Err(e) => return internal(e),
    };
    let units = match state.store.units().await {
        Ok(u) => u
            .into_iter()
            .filter(|u| u.path.starts_with(&user.unit_path))
            .map(|u| (u.name, u.title))
            .collect(),
        Err(e) => return internal(e),
    };
    let code = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = DrillsPage {
        can_schedule: can_coordinate(user),
        problems: state.drills.problems.clone(),
        chrome: c,
        scenarios,
        runs,
        units,
        error,
    };
    (code, render(&page)).into_response()
}

pub(super) async fn list(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    list_page(&state, &headers, &user, csrf, None).await
}

pub(super) async fn schedule(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    // `units` repeats (a multiple select): read the pairs by hand
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (form_csrf, scenario, start_at) = (get("csrf"), get("scenario"), get("start_at"));
    let units: Vec<String> = pairs
        .iter()
        .filter(|(n, _)| n == "units")
        .map(|(_, v)| v.clone())
        .collect();
    if !auth::same_secret(&csrf, &form_csrf) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    if !can_coordinate(&user) {
        return (
            StatusCode::FORBIDDEN,
            "only coordinators and admins schedule drills",
        )
            .into_response();
    }
    let at = if start_at.trim().is_empty() {
        None
    } else {
        match parse_start(&start_at) {
            Ok(a) => Some(a),
            Err(e) => return list_page(&state, &headers, &user, csrf, Some(e)).await,
        }
    };
    match run::schedule(
        &state,
        &scenario,
        &units,
        at,
        &user.username,
        &user.unit_path,
    )
    .await
    {
        Ok(ids) if ids.len() == 1 => Redirect::to(&format!("/drills/{}", ids[0])).into_response(),
        Ok(_) => Redirect::to("/drills").into_response(),
        Err(DrillError::Store(e)) => internal(e),
        Err(e) => list_page(&state, &headers, &user, csrf, Some(e.to_string())).await,
    }
}

fn when_label(t: &Tr<'_>, w: &When) -> String {
    match w {
        When::At(s) => format!("T+{}", mins_secs(i64::try_from(*s).unwrap_or(0))),
        When::Acknowledged => t.get("drill-after-acknowledged"),
        When::Contained => t.get("drill-after-contained"),
        When::AfterInject(o) => t.get1("drill-after-inject", "inject", o),
    }
}

async fn drill_page(
    state: &SharedState,
    headers: &HeaderMap,
    user: &crate::central::store::User,
    csrf: String,
    id: i64,
    error: Option<String>,
) -> Response {
    let lang = lang_of(state, headers);
    let (r, sc) = match run::visible(state, id, &user.unit_path).await {
        Ok(x) => x,
        Err(DrillError::Store(e)) => return internal(e),
        Err(_) => {
            return (StatusCode::NOT_FOUND, "no such drill run in your units").into_response();
        }
    };
    let mut c = chrome(state, lang, "drills-title", Some(user), csrf);
    let t = &c.t;
    let events = match state.store.drill_events(id).await {
        Ok(e) => e,
        Err(e) => return internal(e),
    };
    let incidents = match state.store.drill_incidents(&r.tag()).await {
        Ok(i) => i,
        Err(e) => return internal(e),
    };
    let s = match score::current(state, &r, sc.as_ref()).await {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let start = r.started_at.unwrap_or(r.start_at);
    let now = chrono::Utc::now().timestamp_micros();
    let mut injects = Vec::new();
    let mut messages = Vec::new();
    if let Some(sc) = &sc {
        for i in &sc.injects {
            let sent = events
                .iter()
                .filter(|e| e.kind == "inject" && e.inject.as_deref() == Some(i.id.as_str()))
                .map(|e| aar::offset(start, e.at))
                .collect::<Vec<_>>()
                .join(", ");
            let failed = events
                .iter()
                .rfind(|e| e.kind == "inject_failed" && e.inject.as_deref() == Some(i.id.as_str()))
                .map(|e| aar::describe(&state.i18n, lang, e, Some(sc)))
                .unwrap_or_default();
            injects.push(InjectView {
                id: i.id.clone(),
                kind_label: t.get(&format!(
                    "drill-kind-{}",
                    match i.payload {
                        Payload::Logs { .. } => "logs",
                        Payload::Pcap { .. } => "pcap",
                        Payload::Message(_) => "message",
                        Payload::Conditions(_) => "conditions",
                    }
                )),
                when: when_label(t, &i.when),
                sent,
                failed,
            });
        }
    }
    for e in &events {
        let d = e.detail_json();
        let text = match (e.kind.as_str(), d.get("kind").and_then(|k| k.as_str())) {
            ("inject", Some("message" | "conditions")) => d
                .get(if lang == Lang::En { "en" } else { "vi" })
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            ("message", _) => d
                .get("text")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            _ => continue,
        };
        let inject = e.inject.clone().unwrap_or_default();
        let q = sc.as_ref().and_then(|sc| {
            sc.injects
                .iter()
                .find(|i| i.id == inject)
                .and_then(|i| i.question.clone())
        });
        let answered = events
            .iter()
            .rfind(|a| a.kind == "answer" && a.inject.as_deref() == Some(inject.as_str()))
            .map(|a| aar::describe(&state.i18n, lang, a, sc.as_ref()))
            .unwrap_or_default();
        messages.push(MessageView {
            at: aar::offset(start, e.at),
            text,
            inject,
            question: q
                .as_ref()
                .map(|q| pick(lang, &q.text.vi, &q.text.en))
                .unwrap_or_default(),
            choices: q
                .map(|q| {
                    q.choices
                        .iter()
                        .enumerate()
                        .map(|(n, c)| (n + 1, pick(lang, &c.vi, &c.en)))
                        .collect()
                })
                .unwrap_or_default(),
            answered,
        });
    }
    let record = events
        .iter()
        .map(|e| {
            (
                aar::offset(start, e.at),
                e.actor.clone(),
                aar::describe(&state.i18n, lang, e, sc.as_ref()),
            )
        })
        .collect();
    let first = incidents.first();
    let yes_no = |b: bool| t.get(if b { "rpt-yes" } else { "rpt-no" });
    let mut progress = vec![(
        t.get("drill-progress-alerts"),
        s.as_ref()
            .map(|s| {
                s.lines
                    .iter()
                    .filter(|l| l.key == "dsc-detected")
                    .count()
                    .to_string()
            })
            .unwrap_or_default(),
    )];
    progress.push((
        t.get("drill-progress-acknowledged"),
        first
            .and_then(|i| i.acknowledged_at)
            .map_or_else(|| yes_no(false), |a| aar::offset(start, a)),
    ));
    progress.push((
        t.get("drill-progress-category"),
        first
            .map(|i| {
                if i.category.is_empty() {
                    "—".into()
                } else {
                    t.get(&format!("category-{}", i.category))
                }
            })
            .unwrap_or_default(),
    ));
    progress.push((
        t.get("drill-progress-contained"),
        first
            .and_then(|i| i.contained_at)
            .map_or_else(|| yes_no(false), |a| aar::offset(start, a)),
    ));
    progress.push((
        t.get("drill-progress-report"),
        first
            .and_then(|i| i.reported_at)
            .map_or_else(|| yes_no(false), |a| aar::offset(start, a)),
    ));
    let (score_total, lines) = match &s {
        Some(s) => (
            format!("{} / {} ({}%)", s.total, s.max, s.percent()),
            s.lines
                .iter()
                .map(|l| {
                    (
                        t.get(&format!("dsi-{}", l.item)),
                        if l.max > 0 {
                            format!("{} / {}", l.points, l.max)
                        } else {
                            l.points.to_string()
                        },
                        aar::explain(&state.i18n, lang, l),
                        l.points < l.max || l.points < 0,
                    )
                })
                .collect(),
        ),
        None => ("—".into(), Vec::new()),
    };
    let duration = sc
        .as_ref()
        .map(|s| format!("{} min", s.duration_mins))
        .unwrap_or_default();
    let briefing = sc
        .as_ref()
        .map(|s| pick(lang, &s.briefing.vi, &s.briefing.en))
        .unwrap_or_default();
    let incidents = incidents
        .iter()
        .map(|i| {
            (
                i.id,
                i.title.clone(),
                t.get(&format!("status-{}", i.status)),
            )
        })
        .collect();
    let mode = t.get(&format!("drill-mode-{}", r.mode));
    let run = run_view(t, &r, lang, sc.as_ref());
    c.title = format!("{} #{} · {}", t.get("drill-banner"), r.id, run.title);
    let page = DrillPage {
        mode,
        briefing,
        elapsed: mins_secs(r.elapsed(now) / 1_000_000),
        duration,
        can_control: can_coordinate(user),
        can_answer: can_act(user) && r.status == "running",
        live: !r.is_over(),
        paused: r.status == "paused",
        injects,
        messages,
        record,
        incidents,
        progress,
        score_total,
        lines,
        error,
        run,
        chrome: c,
    };
    render(&page)
}

pub(super) async fn page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    drill_page(&state, &headers, &user, csrf, id, None).await
}

#[derive(Debug, Deserialize)]
pub(super) struct ControlForm {
    csrf: String,
    action: String,
    #[serde(default)]
    arg: String,
}

pub(super) async fn control(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    axum::extract::Form(f): axum::extract::Form<ControlForm>,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    if !auth::same_secret(&csrf, &f.csrf) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    if !can_coordinate(&user) {
        return (
            StatusCode::FORBIDDEN,
            "only coordinators and admins control drills",
        )
            .into_response();
    }
    match run::control(
        &state,
        id,
        &user.unit_path,
        &f.action,
        &f.arg,
        &user.username,
    )
    .await
    {
        Ok(()) => Redirect::to(&format!("/drills/{id}")).into_response(),
        Err(DrillError::Store(e)) => internal(e),
        Err(e) => {
            let page = drill_page(&state, &headers, &user, csrf, id, Some(e.to_string())).await;
            (StatusCode::BAD_REQUEST, page).into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct AnswerForm {
    csrf: String,
    inject: String,
    choice: usize,
}

pub(super) async fn answer(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    axum::extract::Form(f): axum::extract::Form<AnswerForm>,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    if !auth::same_secret(&csrf, &f.csrf) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    if !can_act(&user) {
        return (StatusCode::FORBIDDEN, "viewers cannot answer").into_response();
    }
    let choice = f.choice.saturating_sub(1);
    match run::answer(
        &state,
        id,
        &user.unit_path,
        &f.inject,
        choice,
        &user.username,
    )
    .await
    {
        Ok(()) => Redirect::to(&format!("/drills/{id}")).into_response(),
        Err(DrillError::Store(e)) => internal(e),
        Err(e) => {
            let page = drill_page(&state, &headers, &user, csrf, id, Some(e.to_string())).await;
            (StatusCode::BAD_REQUEST, page).into_response()
        }
    }
}

pub(super) async fn standings(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    let lang = lang_of(&state, &headers);
    let c = chrome(&state, lang, "leaderboard-title", Some(&user), csrf);
    let rows = match leaderboard(&state, &user.unit_path).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let secs = |s: Option<i64>| s.map_or_else(|| "—".to_string(), |s| mins_secs(s.max(0)));
    let rows = rows
        .into_iter()
        .map(|s| StandingView {
            unit_title: s.unit_title,
            runs: s.runs,
            last: format!("{}%", s.last_percent),
            trend: match s.trend {
                Some(d) if d > 0 => format!("▲ +{d}"),
                Some(d) if d < 0 => format!("▼ {d}"),
                Some(_) => "=".into(),
                None => "—".into(),
            },
            ack: secs(s.mean_ack_secs),
            contain: secs(s.mean_contain_secs),
            last_run: s.last_run,
        })
        .collect();
    render(&LeaderboardPage { chrome: c, rows })
}

#[derive(Debug, Deserialize)]
pub(super) struct ReportQuery {
    #[serde(default)]
    lang: Option<String>,
}

async fn report(
    state: SharedState,
    headers: HeaderMap,
    id: i64,
    q: ReportQuery,
    format: &str,
) -> Response {
    let (user, _) = signed_in!(state, headers);
    let lang = q
        .lang
        .unwrap_or_else(|| lang_of(&state, &headers).code().to_string());
    let link = format!("/drills/{id}/report.pdf?lang={lang}");
    report_response(
        &state,
        id,
        &user.unit_path,
        Some(&lang),
        Some(format),
        &link,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn report_html(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<ReportQuery>,
) -> Response {
    report(state, headers, id, q, "html").await
}

pub(super) async fn report_pdf(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<ReportQuery>,
) -> Response {
    report(state, headers, id, q, "pdf").await
}
