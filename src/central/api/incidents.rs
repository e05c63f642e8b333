//! The incident workflow over the API: status changes with reasons,
//! assignment and comments, for users of the incident's units who may act
//! (everyone but viewers). Each change goes on the incident's timeline and
//! into the audit trail.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::authenticate_user;
use crate::central::store::User;
use crate::central::store::incidents::WorkflowError;
use crate::central::{AppError, SharedState, auth, incident};

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
    let inc = incident::change_status(&state.store, &user, id, &b.status, &b.reason, "api").await?;
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
    let inc = incident::assign(&state.store, &user, id, b.assignee.as_deref(), "api").await?;
    Ok(Json(inc).into_response())
}

pub(super) async fn set_fields(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(b): Json<incident::FieldsChange>,
) -> Result<Response, AppError> {
    let user = actor(&state, &headers).await?;
    let inc = incident::set_fields(&state, &user, id, &b, "api").await?;
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
    let row = incident::comment(&state.store, &user, id, &b.text, "api").await?;
    Ok((axum::http::StatusCode::CREATED, Json(row)).into_response())
}
