//! The incident page's forms: change the status (with a reason), assign,
//! comment. CSRF-checked; viewers may not act; a refused change comes back
//! to the page with the reason.

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Tr, internal, session, show_time};
use crate::central::store::TimelineRow;
use crate::central::store::incidents::WorkflowError;
use crate::central::{SharedState, auth, incident};

pub(super) struct TimelineView {
    pub(super) time: String,
    pub(super) actor: String,
    pub(super) kind: String,
    pub(super) label: String,
    pub(super) text: String,
}

pub(super) fn timeline_view(t: &Tr<'_>, r: TimelineRow) -> TimelineView {
    let details: serde_json::Value = serde_json::from_str(&r.details).unwrap_or_default();
    let label = match r.kind.as_str() {
        "status" => format!(
            "{} → {}",
            t.get(&format!(
                "status-{}",
                details["from"].as_str().unwrap_or("new")
            )),
            t.get(&format!(
                "status-{}",
                details["to"].as_str().unwrap_or("new")
            ))
        ),
        "assign" if r.text.is_empty() => t.get("timeline-unassigned"),
        "assign" => t.get1("timeline-assigned", "user", &r.text),
        other => t.get(&format!("timeline-{other}")),
    };
    let text = if r.kind == "assign" {
        String::new()
    } else if let Some(msg) = details.get("msg").and_then(serde_json::Value::as_str) {
        // system entries name a Fluent message and its arguments
        let mut args = fluent_bundle::FluentArgs::new();
        if let Some(a) = details.get("args").and_then(serde_json::Value::as_object) {
            for (k, v) in a {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let v = match (k.as_str(), v.as_str()) {
                    ("role", role) => t.get(&format!("role-{role}")),
                    ("status", st) => t.get(&format!("run-{st}")),
                    _ => v,
                };
                args.set(k.clone(), v);
            }
        }
        t.i18n.get(t.lang, msg, Some(&args))
    } else {
        r.text
    };
    TimelineView {
        time: show_time(r.at),
        actor: r.actor,
        kind: r.kind,
        label,
        text,
    }
}

#[derive(Deserialize)]
pub(super) struct ActionForm {
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    text: String,
}

async fn act(
    state: &SharedState,
    headers: &HeaderMap,
    form_csrf: &str,
) -> Result<(crate::central::store::User, String), Response> {
    let Some((user, csrf)) = session(state, headers).await else {
        return Err(Redirect::to("/login").into_response());
    };
    if !auth::same_secret(&csrf, form_csrf) {
        return Err((StatusCode::FORBIDDEN, "CSRF token mismatch").into_response());
    }
    if !crate::central::api::incidents::can_act(&user) {
        return Err((StatusCode::FORBIDDEN, "viewers cannot change incidents").into_response());
    }
    Ok((user, csrf))
}

/// Back to the incident page: after a change, a redirect; after a refusal,
/// the page itself with the reason in the user's language.
async fn back(
    state: &SharedState,
    headers: &HeaderMap,
    who: (crate::central::store::User, String),
    id: i64,
    r: Result<(), WorkflowError>,
) -> Response {
    match r {
        Ok(()) => Redirect::to(&format!("/incidents/{id}")).into_response(),
        Err(WorkflowError::NotFound) => (StatusCode::NOT_FOUND, "not found").into_response(),
        Err(WorkflowError::Refused(refusal)) => {
            super::incident_page(
                state,
                headers,
                &who.0,
                who.1,
                &id.to_string(),
                Some(&refusal),
            )
            .await
        }
        Err(WorkflowError::Store(e)) => internal(e),
    }
}

pub(super) async fn to_incident(Path(id): Path<i64>) -> Response {
    Redirect::to(&format!("/incidents/{id}")).into_response()
}

pub(super) async fn status(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Response {
    let acting = match act(&state, &headers, &f.csrf).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let r = incident::change_status(&state.store, &acting.0, id, &f.status, &f.reason, "console")
        .await
        .map(|_| ());
    back(&state, &headers, acting, id, r).await
}

pub(super) async fn assign(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Response {
    let acting = match act(&state, &headers, &f.csrf).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let r = incident::assign(&state.store, &acting.0, id, Some(&f.assignee), "console")
        .await
        .map(|_| ());
    back(&state, &headers, acting, id, r).await
}

pub(super) async fn comment(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Response {
    let acting = match act(&state, &headers, &f.csrf).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let r = incident::comment(&state.store, &acting.0, id, &f.text, "console")
        .await
        .map(|_| ());
    back(&state, &headers, acting, id, r).await
}

#[derive(Deserialize)]
pub(super) struct FieldsForm {
    csrf: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    tlp: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    serious_reason: String,
    #[serde(default)]
    severity: String,
}

pub(super) async fn fields(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<FieldsForm>,
) -> Response {
    let acting = match act(&state, &headers, &f.csrf).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let change = incident::FieldsChange {
        category: Some(f.category),
        tlp: Some(f.tlp),
        tags: (!f.tags.trim().is_empty()).then(|| serde_json::Value::String(f.tags)),
        serious_reason: Some(f.serious_reason),
        // not a number: 0, which set_fields refuses with the range
        severity: (!f.severity.trim().is_empty()).then(|| f.severity.trim().parse().unwrap_or(0)),
    };
    match incident::set_fields(&state, &acting.0, id, &change, "console").await {
        Ok(_) => Redirect::to(&format!("/incidents/{id}")).into_response(),
        Err(incident::AttachError::NotFound) => {
            (StatusCode::NOT_FOUND, "not found").into_response()
        }
        Err(incident::AttachError::Refused(m)) => (StatusCode::BAD_REQUEST, m).into_response(),
        Err(incident::AttachError::Store(e)) => internal(e),
    }
}
