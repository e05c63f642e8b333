//! Console pages for playbooks: the library (view, import, validate,
//! export), runs drawn as a diagram with the current step, starting a
//! playbook on an incident, and the tasks people do (my tasks, one task
//! with its checklist, evidence and answer). Every form is CSRF-checked;
//! roles and units are enforced by the same functions the API uses.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use super::{Chrome, MessagePage, Tr, chrome, internal, lang_of, render, session, show_time};
use crate::central::playbook::engine::{self, EngineError, TaskDone};
use crate::central::playbook::{self, diagram};
use crate::central::store::User;
use crate::central::store::playbooks::{RunRow, TaskRow};
use crate::central::{SharedState, auth};

macro_rules! signed_in {
    ($state:expr, $headers:expr) => {
        match session(&$state, &$headers).await {
            Some(s) => s,
            None => return Redirect::to("/login").into_response(),
        }
    };
}

pub(super) struct PlaybookView {
    id: i64,
    name: String,
    description: String,
    labels: String,
    source: String,
    lang: String,
}

#[derive(Template)]
#[template(path = "playbooks.html")]
struct LibraryPage<'a> {
    chrome: Chrome<'a>,
    playbooks: Vec<PlaybookView>,
    can_import: bool,
    /// The outcome of an import or validation: (ok, lines).
    outcome: Option<(bool, Vec<String>)>,
    text: String,
}

pub(super) struct StepView {
    id: String,
    kind: String,
    name: String,
    agent: String,
    detail: String,
    status: String,
    status_label: String,
    result: String,
}

#[derive(Template)]
#[template(path = "playbook.html")]
struct PlaybookPage<'a> {
    chrome: Chrome<'a>,
    id: i64,
    name: String,
    description: String,
    labels: String,
    svg: String,
    steps: Vec<StepView>,
}

pub(super) struct TaskView {
    pub(super) id: i64,
    pub(super) title: String,
    pub(super) incident_id: i64,
    pub(super) incident_title: String,
    pub(super) unit: String,
    pub(super) role: String,
    pub(super) status: String,
    pub(super) status_label: String,
    pub(super) due: String,
    pub(super) overdue: bool,
    pub(super) done_by: String,
    pub(super) answer: String,
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage<'a> {
    chrome: Chrome<'a>,
    run: RunRow,
    status_label: String,
    started: String,
    svg: String,
    steps: Vec<StepView>,
    tasks: Vec<TaskView>,
    can_act: bool,
}

#[derive(Template)]
#[template(path = "tasks.html")]
struct TasksPage<'a> {
    chrome: Chrome<'a>,
    open: Vec<TaskView>,
    done: Vec<TaskView>,
}

#[derive(Template)]
#[template(path = "task.html")]
struct TaskPage<'a> {
    chrome: Chrome<'a>,
    task: TaskView,
    description: String,
    /// (index, text, done).
    checklist: Vec<(usize, String, bool)>,
    evidence: String,
    options: Vec<String>,
    needs_answer: bool,
    can_do: bool,
    error: Option<String>,
}

fn role_label(t: &Tr<'_>, role: &str) -> String {
    match role {
        "coordinator" | "unit-staff" | "admin" | "canhgac" => t.get(&format!("role-{role}")),
        other => other.to_string(),
    }
}

fn task_view(t: &Tr<'_>, r: &TaskRow) -> TaskView {
    let now = chrono::Utc::now().timestamp_micros();
    TaskView {
        id: r.id,
        title: r.title.clone(),
        incident_id: r.incident_id,
        incident_title: r.incident_title.clone(),
        unit: r.unit.clone(),
        role: role_label(t, &r.role),
        status: r.status.clone(),
        status_label: t.get(&format!("task-{}", r.status)),
        due: r.due_at.map(show_time).unwrap_or_default(),
        overdue: r.status == "open" && r.due_at.is_some_and(|d| d < now),
        done_by: r.done_by.clone().unwrap_or_default(),
        answer: r.answer.clone().unwrap_or_default(),
    }
}

fn step_views(
    t: &Tr<'_>,
    pb: &playbook::Playbook,
    latest: &HashMap<String, (String, String)>,
    vars: &serde_json::Map<String, Value>,
) -> Vec<StepView> {
    let sub = |s: &str| engine::substitute(s, vars);
    // in the order a reader follows: breadth-first from the start
    let mut seen = std::collections::HashSet::new();
    let mut order = Vec::new();
    let mut q = std::collections::VecDeque::from([pb.workflow_start.clone()]);
    while let Some(id) = q.pop_front() {
        if !seen.insert(id.clone()) {
            continue;
        }
        if let Some(s) = pb.steps.get(&id) {
            order.push(s);
            for (_, n) in s.references() {
                q.push_back(n.to_string());
            }
        }
    }
    order
        .into_iter()
        .map(|s| {
            let detail = match &s.kind {
                playbook::StepKind::Action { commands } => commands
                    .iter()
                    .map(|c| {
                        let ty = c.get("type").and_then(Value::as_str).unwrap_or("");
                        let cmd = c
                            .get("command")
                            .and_then(Value::as_str)
                            .or_else(|| c.get("description").and_then(Value::as_str))
                            .unwrap_or("");
                        format!("[{ty}] {}", sub(cmd))
                    })
                    .collect::<Vec<_>>()
                    .join(" · "),
                playbook::StepKind::If { .. } | playbook::StepKind::While { .. } => pb
                    .raw
                    .pointer(&format!(
                        "/workflow/{}/condition",
                        s.id.replace('~', "~0").replace('/', "~1")
                    ))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                playbook::StepKind::Switch { switch, cases } => format!(
                    "{switch}: {}",
                    cases
                        .iter()
                        .map(|(k, _)| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                playbook::StepKind::PlaybookAction { playbook_id } => playbook_id.clone(),
                _ => String::new(),
            };
            let (status, result) = latest.get(&s.id).cloned().unwrap_or_default();
            let status = if status.is_empty() {
                "none".to_string()
            } else {
                status
            };
            StepView {
                status_label: t.get(&format!("step-{status}")),
                id: s.id.clone(),
                kind: s.kind.name().to_string(),
                name: sub(&s.label()),
                agent: s
                    .agent
                    .clone()
                    .map(|a| role_label(t, &a))
                    .unwrap_or_default(),
                detail,
                status,
                result,
            }
        })
        .collect()
}

async fn library(
    state: &SharedState,
    headers: &HeaderMap,
    user: &User,
    csrf: String,
    outcome: Option<(bool, Vec<String>)>,
    text: String,
) -> Response {
    let lang = lang_of(state, headers);
    let rows = match state.store.playbooks().await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let playbooks = rows
        .iter()
        .map(|r| {
            let labels = r.label_list();
            PlaybookView {
                id: r.id,
                name: r.name.clone(),
                description: r.description.clone(),
                lang: labels
                    .iter()
                    .find_map(|l| l.strip_prefix("lang:"))
                    .unwrap_or("")
                    .to_string(),
                labels: labels
                    .iter()
                    .filter(|l| !l.starts_with("lang:"))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                source: r.source.clone(),
            }
        })
        .collect();
    let bad = outcome.as_ref().is_some_and(|(ok, _)| !ok);
    let mut res = render(&LibraryPage {
        chrome: chrome(state, lang, "playbooks-title", Some(user), csrf),
        playbooks,
        can_import: crate::central::api::playbooks::can_import(user),
        outcome,
        text,
    });
    if bad {
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    res
}

pub(super) async fn list(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    library(&state, &headers, &user, csrf, None, String::new()).await
}

#[derive(Deserialize)]
pub(super) struct ImportForm {
    csrf: String,
    text: String,
    #[serde(default)]
    validate_only: Option<String>,
}

pub(super) async fn import(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(f): Form<ImportForm>,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    if !auth::same_secret(&csrf, &f.csrf) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    let t = Tr {
        i18n: &state.i18n,
        lang: lang_of(&state, &headers),
    };
    if f.text.len() > crate::central::api::playbooks::MAX_PLAYBOOK {
        let lines = vec![t.get("playbook-too-large")];
        return library(
            &state,
            &headers,
            &user,
            csrf,
            Some((false, lines)),
            String::new(),
        )
        .await;
    }
    let doc = match playbook::parse_text(&f.text) {
        Ok(d) => d,
        Err(p) => {
            return library(
                &state,
                &headers,
                &user,
                csrf,
                Some((false, vec![p.to_string()])),
                f.text,
            )
            .await;
        }
    };
    if f.validate_only.is_some() {
        let problems = playbook::validate(&doc);
        let ok = problems.is_empty();
        let lines = if ok {
            vec![t.get("playbook-valid")]
        } else {
            problems.iter().map(ToString::to_string).collect()
        };
        return library(&state, &headers, &user, csrf, Some((ok, lines)), f.text).await;
    }
    if !crate::central::api::playbooks::can_import(&user) {
        return (
            StatusCode::FORBIDDEN,
            "only admins and coordinators import playbooks",
        )
            .into_response();
    }
    match playbook::import(&state.store, &doc, "imported", &user.username).await {
        Err(problems) => {
            let lines = problems.iter().map(ToString::to_string).collect();
            library(&state, &headers, &user, csrf, Some((false, lines)), f.text).await
        }
        Ok((id, new, pb)) => {
            crate::central::audit::record(
                &state.store,
                &user.username,
                "playbook.import",
                &format!("playbook:{}", pb.id),
                serde_json::json!({ "name": pb.name, "new": new, "via": "console" }),
            )
            .await;
            Redirect::to(&format!("/playbooks/{id}")).into_response()
        }
    }
}

pub(super) async fn view(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    let lang = lang_of(&state, &headers);
    let row = match state.store.playbook(&id).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let mut c = chrome(&state, lang, "playbooks-title", Some(&user), csrf);
    let Some(row) = row else {
        return not_found(c);
    };
    let pb = match serde_json::from_str::<Value>(&row.body)
        .ok()
        .and_then(|d| playbook::load(&d).ok())
    {
        Some(p) => p,
        None => return not_found(c),
    };
    c.title = pb.name.clone();
    let none = serde_json::Map::new();
    let steps = step_views(&c.t, &pb, &HashMap::new(), &none);
    render(&PlaybookPage {
        id: row.id,
        name: pb.name.clone(),
        description: pb.description.clone(),
        labels: pb.labels.join(", "),
        svg: diagram::svg(&pb, &HashMap::new(), &none),
        steps,
        chrome: c,
    })
}

fn not_found(c: Chrome<'_>) -> Response {
    let message = c.t.get("not-found");
    let mut res = render(&MessagePage { chrome: c, message });
    *res.status_mut() = StatusCode::NOT_FOUND;
    res
}

pub(super) async fn export(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let _ = signed_in!(state, headers);
    match state.store.playbook(&id).await {
        Ok(Some(row)) => (
            [
                (header::CONTENT_TYPE, "application/json".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}.json\"", row.cacao_id),
                ),
            ],
            row.body,
        )
            .into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such playbook").into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub(super) struct StartForm {
    csrf: String,
    playbook: String,
}

pub(super) async fn start(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<StartForm>,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    if !auth::same_secret(&csrf, &f.csrf) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    if !crate::central::api::incidents::can_act(&user) {
        return (StatusCode::FORBIDDEN, "viewers cannot change incidents").into_response();
    }
    match engine::start(&state, &user, &f.playbook, id, "console").await {
        Ok(run) => Redirect::to(&format!("/runs/{run}")).into_response(),
        Err(e) => engine_error(&state, &headers, &user, csrf, e),
    }
}

fn engine_error(
    state: &SharedState,
    headers: &HeaderMap,
    user: &User,
    csrf: String,
    e: EngineError,
) -> Response {
    let lang = lang_of(state, headers);
    let c = chrome(state, lang, "nav-incidents", Some(user), csrf);
    let (code, message) = match &e {
        EngineError::NoPlaybook(_) | EngineError::NoIncident | EngineError::NoTask => {
            (StatusCode::NOT_FOUND, c.t.get("not-found"))
        }
        EngineError::Invalid(m) | EngineError::Refused(m) => (StatusCode::BAD_REQUEST, m.clone()),
        EngineError::Store(e) => return internal(e),
    };
    let mut res = render(&MessagePage { chrome: c, message });
    *res.status_mut() = code;
    res
}

/// The latest status and result of each step of a run.
fn latest(
    steps: &[crate::central::store::playbooks::RunStepRow],
) -> HashMap<String, (String, String)> {
    let mut m = HashMap::new();
    for s in steps {
        m.insert(
            s.step_id.clone(),
            (s.status.clone(), s.result.clone().unwrap_or_default()),
        );
    }
    m
}

pub(super) async fn run(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    let lang = lang_of(&state, &headers);
    let mut c = chrome(&state, lang, "nav-incidents", Some(&user), csrf);
    let run = match state.store.run(id).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(c),
        Err(e) => return internal(e),
    };
    match state
        .store
        .incident(run.incident_id, &user.unit_path, 0)
        .await
    {
        Ok(Some(_)) => {}
        Ok(None) => return not_found(c),
        Err(e) => return internal(e),
    }
    let steps = match state.store.run_steps(id).await {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let row = match state.store.playbook(&run.playbook_id.to_string()).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(c),
        Err(e) => return internal(e),
    };
    let Some(pb) = serde_json::from_str::<Value>(&row.body)
        .ok()
        .and_then(|d| playbook::load(&d).ok())
    else {
        return not_found(c);
    };
    let latest = latest(&steps);
    let vars: serde_json::Map<String, Value> =
        serde_json::from_str(&run.variables).unwrap_or_default();
    let status: HashMap<String, String> = latest
        .iter()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    let tasks = match state
        .store
        .tasks(&user.unit_path, None, Some(run.incident_id), 500)
        .await
    {
        Ok(t) => t
            .into_iter()
            .filter(|t| t.run_id == id)
            .map(|t| task_view(&c.t, &t))
            .collect(),
        Err(e) => return internal(e),
    };
    c.title = c.t.get1("run-heading", "name", &run.playbook_name);
    render(&RunPage {
        status_label: c.t.get(&format!("run-{}", run.status)),
        started: show_time(run.started_at),
        svg: diagram::svg(&pb, &status, &vars),
        steps: step_views(&c.t, &pb, &latest, &vars),
        tasks,
        can_act: crate::central::api::incidents::can_act(&user),
        run,
        chrome: c,
    })
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    csrf: String,
}

pub(super) async fn abort(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    if !auth::same_secret(&csrf, &f.csrf) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    if !crate::central::api::incidents::can_act(&user) {
        return (StatusCode::FORBIDDEN, "viewers cannot change incidents").into_response();
    }
    match engine::abort(&state, &user, id, "console").await {
        Ok(()) => Redirect::to(&format!("/runs/{id}")).into_response(),
        Err(e) => engine_error(&state, &headers, &user, csrf, e),
    }
}

pub(super) async fn tasks(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    let lang = lang_of(&state, &headers);
    let c = chrome(&state, lang, "tasks-title", Some(&user), csrf);
    let rows = match state.store.tasks(&user.unit_path, None, None, 300).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let (open, done): (Vec<_>, Vec<_>) = rows.iter().partition(|t| t.status == "open");
    let open = open
        .into_iter()
        .filter(|t| engine::may_do(&user, &t.role))
        .map(|t| task_view(&c.t, t))
        .collect();
    let done = done
        .into_iter()
        .take(50)
        .map(|t| task_view(&c.t, t))
        .collect();
    render(&TasksPage {
        chrome: c,
        open,
        done,
    })
}

async fn task_page(
    state: &SharedState,
    headers: &HeaderMap,
    user: &User,
    csrf: String,
    id: i64,
    error: Option<String>,
) -> Response {
    let lang = lang_of(state, headers);
    let mut c = chrome(state, lang, "tasks-title", Some(user), csrf);
    let t = match state.store.task(id).await {
        Ok(Some(t)) if t.unit_path.starts_with(&user.unit_path) => t,
        Ok(_) => return not_found(c),
        Err(e) => return internal(e),
    };
    c.title = t.title.clone();
    let checklist: Vec<Value> = serde_json::from_str(&t.checklist).unwrap_or_default();
    let checklist = checklist
        .iter()
        .enumerate()
        .map(|(i, it)| {
            (
                i,
                it.get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                it.get("done").and_then(Value::as_bool).unwrap_or(false),
            )
        })
        .collect();
    let options: Vec<String> = serde_json::from_str(&t.answer_options).unwrap_or_default();
    let bad = error.is_some();
    let mut res = render(&TaskPage {
        task: task_view(&c.t, &t),
        description: t.description.clone(),
        checklist,
        evidence: t.evidence.clone(),
        options,
        needs_answer: t.answer_var.is_some(),
        can_do: t.status == "open" && engine::may_do(user, &t.role),
        error,
        chrome: c,
    });
    if bad {
        *res.status_mut() = StatusCode::BAD_REQUEST;
    }
    res
}

pub(super) async fn task(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    task_page(&state, &headers, &user, csrf, id, None).await
}

pub(super) async fn task_post(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if !auth::same_secret(&csrf, &get("csrf").unwrap_or_default()) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    if !crate::central::api::incidents::can_act(&user) {
        return (StatusCode::FORBIDDEN, "viewers cannot change incidents").into_response();
    }
    let checked: Vec<usize> = pairs
        .iter()
        .filter(|(n, _)| n == "check")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    let done = TaskDone {
        answer: get("answer"),
        evidence: get("evidence"),
        checked: Some(checked),
    };
    let finish = get("action").as_deref() == Some("done");
    let r = if finish {
        engine::complete_task(&state, &user, id, &done, "console").await
    } else {
        engine::save_task(&state, &user, id, &done).await
    };
    match r {
        Ok(()) => Redirect::to(&format!("/tasks/{id}")).into_response(),
        Err(EngineError::Refused(m)) => task_page(&state, &headers, &user, csrf, id, Some(m)).await,
        Err(e) => engine_error(&state, &headers, &user, csrf, e),
    }
}

/// What the incident page shows about playbooks: its runs, the playbooks
/// suggested for it and all others, and its tasks.
pub(super) struct IncidentPlaybooks {
    pub(super) runs: Vec<(i64, String, String, String)>,
    pub(super) suggested: Vec<(i64, String)>,
    pub(super) others: Vec<(i64, String)>,
    pub(super) tasks: Vec<TaskView>,
}

pub(super) async fn for_incident(
    state: &SharedState,
    t: &Tr<'_>,
    user: &User,
    inc: &crate::central::store::IncidentRow,
) -> Result<IncidentPlaybooks, crate::central::store::StoreError> {
    let runs = state
        .store
        .runs_of(inc.id)
        .await?
        .into_iter()
        .map(|r| {
            (
                r.id,
                r.playbook_name,
                t.get(&format!("run-{}", r.status)),
                show_time(r.started_at),
            )
        })
        .collect();
    let rows = state.store.playbooks().await?;
    let tags: Vec<String> = serde_json::from_str(&inc.tags).unwrap_or_default();
    let lang = if t.lang == super::Lang::En {
        "en"
    } else {
        "vi"
    };
    let suggested: Vec<(i64, String)> = playbook::suggest(&rows, &inc.category, &tags, lang)
        .into_iter()
        .map(|r| (r.id, r.name.clone()))
        .collect();
    let others = rows
        .iter()
        .filter(|r| !suggested.iter().any(|(id, _)| *id == r.id))
        .map(|r| (r.id, r.name.clone()))
        .collect();
    let tasks = state
        .store
        .tasks(&user.unit_path, None, Some(inc.id), 200)
        .await?
        .iter()
        .map(|r| task_view(t, r))
        .collect();
    Ok(IncidentPlaybooks {
        runs,
        suggested,
        others,
        tasks,
    })
}

/// The incident's notification report, as a printable page.
pub(super) async fn report(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    let lang = lang_of(&state, &headers);
    match state.store.incident(id, &user.unit_path, 0).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_found(chrome(&state, lang, "nav-incidents", Some(&user), csrf)),
        Err(e) => return internal(e),
    }
    match crate::central::report::incident_report(&state, id, lang).await {
        Ok(Some((_, doc))) => axum::response::Html(crate::central::report::html(
            &doc,
            lang,
            &format!("/incidents/{id}/report.pdf"),
        ))
        .into_response(),
        Ok(None) => not_found(chrome(&state, lang, "nav-incidents", Some(&user), csrf)),
        Err(e) => internal(e),
    }
}

/// The incident's notification report as PDF.
pub(super) async fn report_pdf(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let (user, _) = signed_in!(state, headers);
    let lang = lang_of(&state, &headers);
    match state.store.incident(id, &user.unit_path, 0).await {
        Ok(Some(_)) => {}
        Ok(None) => return (StatusCode::NOT_FOUND, "no such incident").into_response(),
        Err(e) => return internal(e),
    }
    match crate::central::report::incident_report(&state, id, lang).await {
        Ok(Some((_, doc))) => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"incident-{id}-report.pdf\""),
                ),
            ],
            crate::central::report::pdf::render(&doc),
        )
            .into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such incident").into_response(),
        Err(e) => internal(e),
    }
}

/// Uploads evidence (multipart: `csrf`, then `file`).
pub(super) async fn attach(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    mut form: axum::extract::Multipart,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    if !crate::central::api::incidents::can_act(&user) {
        return (StatusCode::FORBIDDEN, "viewers cannot change incidents").into_response();
    }
    let limit = state.config.incidents.max_attachment_bytes;
    let mut sent_csrf = String::new();
    let mut file: Option<(String, String, Vec<u8>)> = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return (StatusCode::BAD_REQUEST, format!("bad upload: {e}")).into_response(),
        };
        match field.name().unwrap_or_default() {
            "csrf" => sent_csrf = field.text().await.unwrap_or_default(),
            "file" => {
                if !auth::same_secret(&csrf, &sent_csrf) {
                    return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
                }
                let name = field.file_name().unwrap_or("evidence").to_string();
                let ct = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_string();
                let mut data = Vec::new();
                let mut field = field;
                loop {
                    match field.chunk().await {
                        Ok(Some(c)) => {
                            if data.len() + c.len() > limit {
                                let t = Tr {
                                    i18n: &state.i18n,
                                    lang: lang_of(&state, &headers),
                                };
                                let msg = t.get1("attachment-too-large", "max", limit);
                                return (StatusCode::PAYLOAD_TOO_LARGE, msg).into_response();
                            }
                            data.extend_from_slice(&c);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            return (StatusCode::BAD_REQUEST, format!("bad upload: {e}"))
                                .into_response();
                        }
                    }
                }
                file = Some((name, ct, data));
            }
            _ => {}
        }
    }
    if !auth::same_secret(&csrf, &sent_csrf) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    let Some((name, ct, data)) = file else {
        return (StatusCode::BAD_REQUEST, "no file").into_response();
    };
    match crate::central::incident::attach(
        &state.store,
        &state.config.incidents,
        &user,
        id,
        &name,
        &ct,
        &data,
        "console",
    )
    .await
    {
        Ok(_) => Redirect::to(&format!("/incidents/{id}")).into_response(),
        Err(crate::central::incident::AttachError::NotFound) => {
            (StatusCode::NOT_FOUND, "no such incident").into_response()
        }
        Err(crate::central::incident::AttachError::Refused(m)) => {
            (StatusCode::BAD_REQUEST, m).into_response()
        }
        Err(crate::central::incident::AttachError::Store(e)) => internal(e),
    }
}

/// Downloads an attachment.
pub(super) async fn attachment(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let (user, _) = signed_in!(state, headers);
    let (row, data) = match state.store.attachment(id).await {
        Ok(Some(x)) => x,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such file").into_response(),
        Err(e) => return internal(e),
    };
    match state
        .store
        .incident(row.incident_id, &user.unit_path, 0)
        .await
    {
        Ok(Some(_)) => crate::central::api::playbooks::download(&row, data),
        Ok(None) => (StatusCode::NOT_FOUND, "no such file").into_response(),
        Err(e) => internal(e),
    }
}
