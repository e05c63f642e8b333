//! Playbooks, runs and tasks over the API: the library (list, import,
//! validate, export as CACAO JSON), starting and stopping runs for
//! incidents, and the tasks people do. Importing is for admins and
//! coordinators; everyone but viewers may start runs and do tasks of their
//! units (a task for coordinators needs a coordinator).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::authenticate_user;
use super::incidents::can_act;
use crate::central::playbook::engine::{self, EngineError, TaskDone};
use crate::central::playbook::{self, Problem};
use crate::central::store::User;
use crate::central::{AppError, SharedState, auth};

impl From<EngineError> for AppError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NoPlaybook(_) | EngineError::NoIncident | EngineError::NoTask => {
                AppError::NotFound
            }
            EngineError::Invalid(m) | EngineError::Refused(m) => AppError::BadRequest(m),
            EngineError::Store(e) => e.into(),
        }
    }
}

/// Whether a user may import playbooks.
pub fn can_import(user: &User) -> bool {
    matches!(
        auth::Role::parse(&user.role),
        Some(auth::Role::Admin | auth::Role::Coordinator)
    )
}

async fn actor(state: &SharedState, headers: &HeaderMap) -> Result<User, AppError> {
    let user = authenticate_user(state, headers).await?;
    if !can_act(&user) {
        return Err(AppError::Forbidden(
            "viewers cannot change incidents".into(),
        ));
    }
    Ok(user)
}

fn invalid(problems: &[Problem]) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({
            "error": format!("the playbook is not valid ({} problems)", problems.len()),
            "problems": problems,
        })),
    )
        .into_response()
}

/// The largest playbook accepted, bytes.
pub const MAX_PLAYBOOK: usize = 2 * 1024 * 1024;

fn read_doc(body: &Bytes) -> Result<Value, Box<Response>> {
    if body.len() > MAX_PLAYBOOK {
        let e = AppError::TooLarge(format!("a playbook is at most {MAX_PLAYBOOK} bytes"));
        return Err(Box::new(e.into_response()));
    }
    let text = std::str::from_utf8(body).map_err(|_| {
        Box::new(AppError::BadRequest("the playbook is not UTF-8 text".into()).into_response())
    })?;
    playbook::parse_text(text).map_err(|p| Box::new(invalid(&[p])))
}

pub(super) async fn list(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    authenticate_user(&state, &headers).await?;
    let rows = state.store.playbooks().await?;
    let out: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "cacao_id": r.cacao_id, "name": r.name, "description": r.description,
                "labels": r.label_list(), "source": r.source, "updated_at": r.updated_at,
            })
        })
        .collect();
    Ok(Json(out).into_response())
}

pub(super) async fn import(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    if !can_import(&user) {
        return Err(AppError::Forbidden(
            "only admins and coordinators import playbooks".into(),
        ));
    }
    let doc = match read_doc(&body) {
        Ok(d) => d,
        Err(r) => return Ok(*r),
    };
    match playbook::import(&state.store, &doc, "imported", &user.username).await {
        Err(problems) => Ok(invalid(&problems)),
        Ok((id, new, pb)) => {
            crate::central::audit::record(
                &state.store,
                &user.username,
                "playbook.import",
                &format!("playbook:{}", pb.id),
                json!({ "name": pb.name, "new": new, "via": "api" }),
            )
            .await;
            let code = if new {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((
                code,
                Json(json!({ "id": id, "cacao_id": pb.id, "name": pb.name, "new": new })),
            )
                .into_response())
        }
    }
}

pub(super) async fn validate(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    authenticate_user(&state, &headers).await?;
    let doc = match read_doc(&body) {
        Ok(d) => d,
        Err(r) => return Ok(*r),
    };
    let problems = playbook::validate(&doc);
    Ok(Json(json!({ "valid": problems.is_empty(), "problems": problems })).into_response())
}

pub(super) async fn export(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response, AppError> {
    authenticate_user(&state, &headers).await?;
    let row = state
        .store
        .playbook(&key)
        .await?
        .ok_or(AppError::NotFound)?;
    let file = format!("{}.json", row.cacao_id);
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        row.body,
    )
        .into_response())
}

pub(super) async fn incident_playbooks(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    let (inc, _) = state
        .store
        .incident(id, &user.unit_path, 0)
        .await?
        .ok_or(AppError::NotFound)?;
    let runs = state.store.runs_of(id).await?;
    let rows = state.store.playbooks().await?;
    let tags: Vec<String> = serde_json::from_str(&inc.tags).unwrap_or_default();
    let suggested: Vec<Value> = playbook::suggest(
        &rows,
        &inc.category,
        &tags,
        &state.config.console.default_language,
    )
    .into_iter()
    .map(|r| json!({ "id": r.id, "cacao_id": r.cacao_id, "name": r.name }))
    .collect();
    Ok(Json(json!({ "runs": runs, "suggested": suggested })).into_response())
}

#[derive(Deserialize)]
pub(super) struct StartBody {
    playbook: String,
}

pub(super) async fn start(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(b): Json<StartBody>,
) -> Result<Response, AppError> {
    let user = actor(&state, &headers).await?;
    let run = engine::start(&state, &user, &b.playbook, id, "api").await?;
    Ok((StatusCode::CREATED, Json(json!({ "run": run }))).into_response())
}

pub(super) async fn get_run(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    let run = state.store.run(id).await?.ok_or(AppError::NotFound)?;
    state
        .store
        .incident(run.incident_id, &user.unit_path, 0)
        .await?
        .ok_or(AppError::NotFound)?;
    let steps = state.store.run_steps(id).await?;
    let tasks = state
        .store
        .tasks(&user.unit_path, None, Some(run.incident_id), 500)
        .await?
        .into_iter()
        .filter(|t| t.run_id == id)
        .collect::<Vec<_>>();
    Ok(Json(json!({ "run": run, "steps": steps, "tasks": tasks })).into_response())
}

pub(super) async fn abort_run(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let user = actor(&state, &headers).await?;
    engine::abort(&state, &user, id, "api").await?;
    Ok(Json(json!({ "run": id, "status": "aborted" })).into_response())
}

#[derive(Deserialize)]
pub(super) struct TaskQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    incident: Option<i64>,
}

pub(super) async fn list_tasks(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<TaskQuery>,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    let tasks = state
        .store
        .tasks(&user.unit_path, q.status.as_deref(), q.incident, 500)
        .await?;
    Ok(Json(tasks).into_response())
}

pub(super) async fn get_task(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    let t = state
        .store
        .task(id)
        .await?
        .filter(|t| t.unit_path.starts_with(&user.unit_path))
        .ok_or(AppError::NotFound)?;
    Ok(Json(t).into_response())
}

pub(super) async fn task_done(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(b): Json<TaskDone>,
) -> Result<Response, AppError> {
    let user = actor(&state, &headers).await?;
    engine::complete_task(&state, &user, id, &b, "api").await?;
    let t = state.store.task(id).await?.ok_or(AppError::NotFound)?;
    Ok(Json(t).into_response())
}

pub(super) async fn task_save(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(b): Json<TaskDone>,
) -> Result<Response, AppError> {
    let user = actor(&state, &headers).await?;
    engine::save_task(&state, &user, id, &b).await?;
    let t = state.store.task(id).await?.ok_or(AppError::NotFound)?;
    Ok(Json(t).into_response())
}

impl From<crate::central::incident::AttachError> for AppError {
    fn from(e: crate::central::incident::AttachError) -> Self {
        use crate::central::incident::AttachError;
        match e {
            AttachError::NotFound => AppError::NotFound,
            AttachError::Refused(m) => AppError::BadRequest(m),
            AttachError::Store(e) => e.into(),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct AttachQuery {
    #[serde(default)]
    name: Option<String>,
}

pub(super) async fn attach(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<AttachQuery>,
    body: axum::body::Body,
) -> Result<Response, AppError> {
    let user = actor(&state, &headers).await?;
    let limit = state.config.incidents.max_attachment_bytes;
    let data = axum::body::to_bytes(body, limit.saturating_add(1))
        .await
        .map_err(|_| AppError::TooLarge(format!("an attachment is at most {limit} bytes")))?;
    if data.len() > limit {
        return Err(AppError::TooLarge(format!(
            "an attachment is at most {limit} bytes ([incidents] max_attachment_bytes)"
        )));
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    let name = q.name.unwrap_or_else(|| "evidence".into());
    let row = crate::central::incident::attach(
        &state.store,
        &state.config.incidents,
        &user,
        id,
        &name,
        ct,
        &data,
        "api",
    )
    .await?;
    Ok((StatusCode::CREATED, Json(row)).into_response())
}

pub(super) async fn list_attachments(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    state
        .store
        .incident(id, &user.unit_path, 0)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(state.store.attachments(id).await?).into_response())
}

/// An attachment's bytes, always as a download (never rendered by the
/// browser in the console's origin).
pub fn download(row: &crate::central::store::incidents::AttachmentRow, data: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}\"",
                    row.name.replace(['"', '\\'], "_")
                ),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CONTENT_SECURITY_POLICY, "sandbox".to_string()),
            (
                header::HeaderName::from_static("x-canhgac-sha256"),
                row.sha256.clone(),
            ),
        ],
        data,
    )
        .into_response()
}

pub(super) async fn get_attachment(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    let (row, data) = state
        .store
        .attachment(id)
        .await?
        .ok_or(AppError::NotFound)?;
    state
        .store
        .incident(row.incident_id, &user.unit_path, 0)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(download(&row, data))
}

#[derive(Deserialize)]
pub(super) struct ReportQuery {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    lang: Option<String>,
}

pub(super) async fn report(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    state
        .store
        .incident(id, &user.unit_path, 0)
        .await?
        .ok_or(AppError::NotFound)?;
    let lang = crate::central::console::Lang::parse(
        q.lang
            .as_deref()
            .unwrap_or(&state.config.console.default_language),
    )
    .ok_or_else(|| AppError::BadRequest("lang is vi or en".into()))?;
    let (_, doc) = crate::central::report::incident_report(&state, id, lang)
        .await?
        .ok_or(AppError::NotFound)?;
    match q.format.as_deref().unwrap_or("pdf") {
        "pdf" => Ok((
            [
                (header::CONTENT_TYPE, "application/pdf".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"incident-{id}-report.pdf\""),
                ),
            ],
            crate::central::report::pdf::render(&doc),
        )
            .into_response()),
        "html" => Ok(axum::response::Html(crate::central::report::html(
            &doc,
            lang,
            &format!("/api/v1/incidents/{id}/report?format=pdf"),
        ))
        .into_response()),
        other => Err(AppError::BadRequest(format!(
            "format {other:?}: pdf or html"
        ))),
    }
}
