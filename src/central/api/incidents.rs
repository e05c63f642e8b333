//! The incident workflow over the API: status changes with reasons,
//! assignment and comments, for users of the incident's units who may act
//! (everyone but viewers). Each change goes on the incident's timeline and
//! into the audit trail.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::authenticate_user;
use crate::central::store::User;
use crate::central::store::incidents::WorkflowError;
use crate::central::{AppError, SharedState, audit, auth};

impl From<WorkflowError> for AppError {
    fn from(e: WorkflowError) -> Self {
        match e {
            WorkflowError::NotFound => AppError::NotFound,
            WorkflowError::Refused(r) => AppError::BadRequest(r.to_string()),
            WorkflowError::Store(e) => e.into(),
        }
    }
}

/// Whether a user may change incidents (viewers only look).
pub fn can_act(user: &User) -> bool {
    !matches!(
        auth::Role::parse(&user.role),
        Some(auth::Role::Viewer) | None
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

#[derive(Deserialize)]
pub(super) struct StatusBody {
    status: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn set_status(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(b): Json<StatusBody>,
) -> Result<Response, AppError> {
    let user = actor(&state, &headers).await?;
    let inc = state
        .store
        .incident_status(
            id,
            &user.unit_path,
            b.status.trim(),
            &b.reason,
            &user.username,
        )
        .await?;
    audit::record(
        &state.store,
        &user.username,
        "incident.status",
        &format!("incident:{id}"),
        json!({ "to": inc.status, "reason": b.reason.trim() }),
    )
    .await;
    Ok(Json(inc).into_response())
}

#[derive(Deserialize)]
pub(super) struct AssignBody {
    assignee: Option<String>,
}

pub(super) async fn assign(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(b): Json<AssignBody>,
) -> Result<Response, AppError> {
    let user = actor(&state, &headers).await?;
    let who = b
        .assignee
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let inc = state
        .store
        .incident_assign(id, &user.unit_path, who, &user.username)
        .await?;
    audit::record(
        &state.store,
        &user.username,
        "incident.assign",
        &format!("incident:{id}"),
        json!({ "assignee": who }),
    )
    .await;
    Ok(Json(inc).into_response())
}

#[derive(Deserialize)]
pub(super) struct CommentBody {
    text: String,
}

pub(super) async fn comment(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(b): Json<CommentBody>,
) -> Result<Response, AppError> {
    let user = actor(&state, &headers).await?;
    let row = state
        .store
        .incident_comment(id, &user.unit_path, &b.text, &user.username)
        .await?;
    audit::record(
        &state.store,
        &user.username,
        "incident.comment",
        &format!("incident:{id}"),
        json!({ "timeline": row.id }),
    )
    .await;
    Ok((axum::http::StatusCode::CREATED, Json(row)).into_response())
}
