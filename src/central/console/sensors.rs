//! Console pages for the sensor fleet: the list with each sensor's health
//! figures, and a sensor's page with what its spool dropped (by kind), the
//! damage it found, its commands, and — for admins and coordinators — the
//! forms to queue a command or revoke it.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Chrome, MessagePage, Tr, chrome, internal, lang_of, render, session, show_time};
use crate::central::store::{CommandRow, SensorRow};
use crate::central::{SharedState, auth, fleet};

pub(super) struct SensorView {
    name: String,
    unit: String,
    state_class: String,
    state_label: String,
    last_heartbeat: String,
    version: String,
    events_per_sec: String,
    spool: String,
    pending: String,
    dropped: u64,
    capture_drops: String,
    parse_errors: String,
}

pub(super) struct CommandView {
    id: i64,
    kind: String,
    args: String,
    status: String,
    status_class: String,
    by: String,
    created: String,
    result: String,
}

#[derive(Template)]
#[template(path = "sensors.html")]
pub(super) struct SensorsPage<'a> {
    chrome: Chrome<'a>,
    sensors: Vec<SensorView>,
}

#[derive(Template)]
#[template(path = "sensor.html")]
pub(super) struct SensorPage<'a> {
    chrome: Chrome<'a>,
    heading: String,
    sensor: SensorView,
    revoked: bool,
    credential_expires: String,
    drops: Vec<(String, u64)>,
    corrupt_bytes: u64,
    corrupt_records: u64,
    torn_records: u64,
    commands: Vec<CommandView>,
    can_manage: bool,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn num(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        _ => "—".into(),
    }
}

fn health_of(r: &SensorRow) -> Value {
    r.health
        .as_deref()
        .and_then(|h| serde_json::from_str(h).ok())
        .unwrap_or(Value::Null)
}

fn sensor_view(t: &Tr<'_>, r: &SensorRow) -> SensorView {
    let h = health_of(r);
    let state = if r.revoked_at.is_some() {
        "revoked"
    } else if r.enrolled_at.is_none() {
        "new"
    } else {
        r.state.as_str()
    };
    let dropped = h["spool"]["dropped"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    SensorView {
        name: r.name.clone(),
        unit: r.unit.clone(),
        state_class: state.to_string(),
        state_label: t.get(&format!("sensor-state-{state}")),
        last_heartbeat: r
            .last_heartbeat
            .or(r.last_seen)
            .map_or_else(|| t.get("never"), show_time),
        version: h["version"].as_str().unwrap_or("—").to_string(),
        events_per_sec: num(&h["events_per_sec"]),
        spool: h["spool"]["bytes"].as_u64().map_or_else(|| "—".into(), mib),
        pending: num(&h["spool"]["pending"]),
        dropped,
        capture_drops: num(&h["capture"]["dropped"]),
        parse_errors: num(&h["parse_errors"]),
    }
}

fn command_view(t: &Tr<'_>, c: CommandRow) -> CommandView {
    let mut result = c.result.unwrap_or_default();
    if result.len() > 300 {
        result.truncate(result.floor_char_boundary(300));
        result.push('…');
    }
    CommandView {
        id: c.id,
        kind: c.kind,
        args: c.args,
        status: t.get(&format!("cmd-status-{}", c.status)),
        status_class: c.status,
        by: c.created_by,
        created: show_time(c.created_at),
        result,
    }
}

macro_rules! signed_in {
    ($state:expr, $headers:expr) => {
        match session(&$state, &$headers).await {
            Some(s) => s,
            None => return Redirect::to("/login").into_response(),
        }
    };
}

pub(super) async fn list(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    let lang = lang_of(&state, &headers);
    let rows = match state.store.sensor_rows(&user.unit_path).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let c = chrome(&state, lang, "sensors-title", Some(&user), csrf);
    let sensors = rows.iter().map(|r| sensor_view(&c.t, r)).collect();
    render(&SensorsPage { chrome: c, sensors })
}

/// The sensor `name` if it is in `unit_path`'s subtree.
async fn visible(
    state: &SharedState,
    name: &str,
    unit_path: &str,
) -> Result<Option<SensorRow>, Response> {
    match state.store.sensor_row(name).await {
        Ok(Some(r)) if r.unit_path.starts_with(unit_path) => Ok(Some(r)),
        Ok(_) => Ok(None),
        Err(e) => Err(internal(e)),
    }
}

fn not_found(c: Chrome<'_>) -> Response {
    let message = c.t.get("not-found");
    let mut res = render(&MessagePage { chrome: c, message });
    *res.status_mut() = StatusCode::NOT_FOUND;
    res
}

pub(super) async fn page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    let lang = lang_of(&state, &headers);
    let mut c = chrome(&state, lang, "sensors-title", Some(&user), csrf);
    let row = match visible(&state, &name, &user.unit_path).await {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(c),
        Err(res) => return res,
    };
    let commands = match state.store.commands_of(&name, 50).await {
        Ok(cs) => cs,
        Err(e) => return internal(e),
    };
    let h = health_of(&row);
    let mut drops: Vec<(String, u64)> = h["spool"]["dropped"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_u64().map(|n| (k.clone(), n)))
                .collect()
        })
        .unwrap_or_default();
    drops.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let heading = c.t.get1("sensor-heading", "name", &row.name);
    c.title = heading.clone();
    let sensor = sensor_view(&c.t, &row);
    let commands = commands
        .into_iter()
        .map(|x| command_view(&c.t, x))
        .collect();
    render(&SensorPage {
        heading,
        sensor,
        revoked: row.revoked_at.is_some(),
        credential_expires: row.secret_expires_at.map_or_else(|| "—".into(), show_time),
        drops,
        corrupt_bytes: h["spool"]["corrupt_bytes"].as_u64().unwrap_or(0),
        corrupt_records: h["spool"]["corrupt_records"].as_u64().unwrap_or(0),
        torn_records: h["spool"]["torn_records"].as_u64().unwrap_or(0),
        commands,
        can_manage: fleet::can_manage(&user),
        chrome: c,
    })
}

#[derive(Deserialize)]
pub(super) struct CommandForm {
    csrf: String,
    kind: String,
    #[serde(default)]
    address: String,
}

/// Checks the form's CSRF token and the user's right to manage the sensor.
async fn managed(
    state: &SharedState,
    headers: &HeaderMap,
    name: &str,
    form_csrf: &str,
) -> Result<crate::central::store::User, Response> {
    let Some((user, csrf)) = session(state, headers).await else {
        return Err(Redirect::to("/login").into_response());
    };
    if !auth::same_secret(&csrf, form_csrf) {
        return Err((StatusCode::FORBIDDEN, "CSRF token mismatch").into_response());
    }
    if !fleet::can_manage(&user) {
        return Err((
            StatusCode::FORBIDDEN,
            "only admins and coordinators manage sensors",
        )
            .into_response());
    }
    match visible(state, name, &user.unit_path).await {
        Ok(Some(_)) => Ok(user),
        Ok(None) => Err((StatusCode::NOT_FOUND, "not found").into_response()),
        Err(r) => Err(r),
    }
}

pub(super) async fn queue(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<CommandForm>,
) -> Response {
    let user = match managed(&state, &headers, &name, &form.csrf).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let args = match form.kind.as_str() {
        "block" | "unblock" => json!({ "address": form.address.trim() }),
        _ => json!({}),
    };
    match fleet::queue(&state, &name, &form.kind, &args, &user.username, None).await {
        Ok(_) => Redirect::to(&format!("/sensors/{name}")).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct RevokeForm {
    csrf: String,
    #[serde(default)]
    confirm: String,
}

pub(super) async fn revoke(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Response {
    let user = match managed(&state, &headers, &name, &form.csrf).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if form.confirm != "yes" {
        return (
            StatusCode::BAD_REQUEST,
            "tick the confirmation box to revoke",
        )
            .into_response();
    }
    if let Err(e) = fleet::revoke_sensor(&state.store, &user.username, &name, "console").await {
        return internal(e);
    }
    Redirect::to(&format!("/sensors/{name}")).into_response()
}
