//! The HTTP API: sensor ingest and enrolment, the REST API for users'
//! tokens, the OpenAPI document, health and metrics.
//!
//! Ingest (`POST /api/v1/events`) takes NDJSON — one EVE event per line,
//! plain or with `Content-Encoding: zstd` — from an authenticated sensor.
//! The whole batch is parsed and checked before anything is stored; one bad
//! line rejects the batch with a 400 that names the line and column, so a
//! batch is stored entirely or not at all. The answer carries `acked`, the
//! last spool sequence number of the batch (`X-Canhgac-Batch: FIRST-LAST`),
//! sent only after the commit: the sensor frees its spool on it. At most
//! `server.ingest_concurrency` batches commit at once; one that waits longer
//! than `server.ingest_wait_ms` for its turn gets 503 with `Retry-After`.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::metrics::RejectReason;
use super::store::{ListFilter, Sensor, User};
use super::{AppError, SharedState, auth};
use crate::event::{Event, parse_timestamp};

pub mod drills;
pub mod incidents;
pub mod playbooks;

/// The OpenAPI 3.1 document, served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Routes of the API.
pub fn routes(state: SharedState) -> Router {
    Router::new()
        .route("/api/v1/events", post(ingest))
        .route("/api/v1/enroll", post(enroll))
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/incidents", get(list_incidents))
        .route("/api/v1/incidents/{id}", get(get_incident))
        .route("/api/v1/incidents/{id}/status", post(incidents::set_status))
        .route("/api/v1/incidents/{id}/assign", post(incidents::assign))
        .route("/api/v1/incidents/{id}/comments", post(incidents::comment))
        .route("/api/v1/incidents/{id}/fields", post(incidents::set_fields))
        .route(
            "/api/v1/incidents/{id}/playbooks",
            get(playbooks::incident_playbooks).post(playbooks::start),
        )
        .route(
            "/api/v1/playbooks",
            get(playbooks::list).post(playbooks::import),
        )
        .route(
            "/api/v1/incidents/{id}/attachments",
            get(playbooks::list_attachments).post(playbooks::attach),
        )
        .route("/api/v1/attachments/{id}", get(playbooks::get_attachment))
        .route("/api/v1/incidents/{id}/report", get(playbooks::report))
        .route("/api/v1/playbooks/validate", post(playbooks::validate))
        .route("/api/v1/playbooks/{key}", get(playbooks::export))
        .route("/api/v1/drills", get(drills::list).post(drills::schedule))
        .route("/api/v1/drills/scenarios", get(drills::scenarios))
        .route("/api/v1/drills/leaderboard", get(drills::standings))
        .route("/api/v1/drills/{id}", get(drills::get))
        .route("/api/v1/drills/{id}/control", post(drills::control))
        .route("/api/v1/drills/{id}/answers", post(drills::answer))
        .route("/api/v1/drills/{id}/report", get(drills::report))
        .route("/api/v1/runs/{id}", get(playbooks::get_run))
        .route("/api/v1/runs/{id}/abort", post(playbooks::abort_run))
        .route("/api/v1/tasks", get(playbooks::list_tasks))
        .route(
            "/api/v1/tasks/{id}",
            get(playbooks::get_task).post(playbooks::task_save),
        )
        .route("/api/v1/tasks/{id}/done", post(playbooks::task_done))
        .route("/api/v1/response-times", get(response_times))
        .route("/api/v1/assets", get(list_assets))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/ca.pem", get(ca_pem))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

pub(crate) async fn authenticate_sensor(
    state: &SharedState,
    headers: &HeaderMap,
) -> Result<Sensor, AppError> {
    let unauthorized = |m: &str| AppError::Unauthorized(m.to_string());
    let Some(token) = bearer(headers) else {
        return Err(unauthorized(
            "missing `Authorization: Bearer SENSOR.SECRET` header",
        ));
    };
    let Some((name, secret)) = token.split_once('.') else {
        return Err(unauthorized("malformed sensor credentials"));
    };
    state
        .store
        .authenticate_sensor(name, &auth::token_hash(secret))
        .await?
        .ok_or_else(|| unauthorized("unknown, revoked or expired sensor credentials"))
}

/// Parses an NDJSON (or JSON array) batch; errors name the line and column.
///
/// # Errors
/// A message for the client saying what is wrong and where.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Event>, String> {
    let text = std::str::from_utf8(body).map_err(|e| {
        format!(
            "body is not UTF-8 (first bad byte at offset {})",
            e.valid_up_to()
        )
    })?;
    if text.trim_start().starts_with('[') {
        let events: Vec<Event> = serde_json::from_str(text)
            .map_err(|e| format!("line {}, column {}: {e}", e.line(), e.column()))?;
        for (i, ev) in events.iter().enumerate() {
            check_event(ev).map_err(|m| format!("event {}: {m}", i + 1))?;
        }
        return Ok(events);
    }
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let ev: Event = serde_json::from_str(line)
            .map_err(|e| format!("line {}, column {}: {e}", i + 1, e.column()))?;
        check_event(&ev).map_err(|m| format!("line {}: {m}", i + 1))?;
        events.push(ev);
    }
    if events.is_empty() {
        return Err("empty batch: expected one EVE JSON event per line".into());
    }
    Ok(events)
}

fn check_event(ev: &Event) -> Result<(), String> {
    if ev.event_id.is_none() {
        return Err("missing `event_id` (the UUIDv7 the sensor gives every event)".into());
    }
    if ev.event_type.trim().is_empty() {
        return Err("empty `event_type`".into());
    }
    if parse_timestamp(&ev.timestamp).is_none() {
        return Err(format!(
            "`timestamp` {:?} is not YYYY-MM-DDTHH:MM:SS.ffffff+0000",
            ev.timestamp
        ));
    }
    Ok(())
}

async fn ingest(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let started = Instant::now();
    let m = &state.metrics;
    let sensor = match authenticate_sensor(&state, &headers).await {
        Ok(s) => s,
        Err(e) => {
            m.reject(RejectReason::Unauthorized);
            return Err(e);
        }
    };
    let acked = match batch_range(&headers) {
        Ok(r) => r.map(|(_, last)| last),
        Err(msg) => {
            m.reject(RejectReason::Malformed);
            return Err(AppError::BadRequest(msg));
        }
    };
    let limit = state.config.server.max_batch_bytes;
    let too_large = || {
        AppError::TooLarge(format!(
            "batch larger than server.max_batch_bytes ({limit} bytes)"
        ))
    };
    let raw = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            m.reject(RejectReason::TooLarge);
            return Err(too_large());
        }
    };
    let bytes = match content_encoding(&headers) {
        Encoding::Identity => raw.to_vec(),
        Encoding::Zstd => match unzstd(&raw, limit) {
            Ok(b) => b,
            Err(Unzstd::TooLarge) => {
                m.reject(RejectReason::TooLarge);
                return Err(too_large());
            }
            Err(Unzstd::Bad(e)) => {
                m.reject(RejectReason::Malformed);
                return Err(AppError::BadRequest(format!(
                    "malformed batch, nothing stored: body is not valid zstd: {e}"
                )));
            }
        },
        Encoding::Other(enc) => {
            m.reject(RejectReason::Malformed);
            return Err(AppError::BadRequest(format!(
                "Content-Encoding {enc:?} is not supported (use zstd or none)"
            )));
        }
    };
    let mut events = match parse_batch(&bytes) {
        Ok(ev) => ev,
        Err(msg) => {
            m.reject(RejectReason::Malformed);
            tracing::warn!(sensor = %sensor.name, reason = %msg, "malformed batch rejected");
            return Err(AppError::BadRequest(format!(
                "malformed batch, nothing stored: {msg}"
            )));
        }
    };
    let wait = std::time::Duration::from_millis(state.config.server.ingest_wait_ms);
    let Ok(Ok(_slot)) = tokio::time::timeout(wait, state.ingest_slots.acquire()).await else {
        m.reject(RejectReason::Busy);
        return Err(AppError::Busy(2));
    };
    let (outcome, fresh) = match state
        .store
        .ingest_new(&sensor, &mut events, &state.config.incidents.rules())
        .await
    {
        Ok(o) => o,
        Err(e) => {
            m.store_errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(e.into());
        }
    };
    use std::sync::atomic::Ordering::Relaxed;
    m.events_ingested.fetch_add(outcome.accepted, Relaxed);
    m.events_duplicate.fetch_add(outcome.duplicates, Relaxed);
    m.incidents_opened
        .fetch_add(outcome.incidents_opened, Relaxed);
    m.batches_accepted.fetch_add(1, Relaxed);
    m.observe_ingest(started.elapsed().as_secs_f64());
    for id in &outcome.escalated {
        super::incident::escalate_notice(&state, *id).await;
    }
    super::incident::campaigns_after_ingest(&state, &events).await;
    if state.config.playbooks.auto_start {
        for id in &outcome.opened {
            super::playbook::engine::auto_start(&state, *id).await;
        }
    }
    if state.correlation.is_some() {
        let new: Vec<Event> = fresh
            .into_iter()
            .filter_map(|i| events.get(i))
            .filter(|e| e.sigma.is_some())
            .cloned()
            .collect();
        super::correlate::after_ingest(&state, &new).await;
    }
    Ok(Json(json!({
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
        "incidents_opened": outcome.incidents_opened,
        "acked": acked,
    }))
    .into_response())
}

/// `X-Canhgac-Batch: FIRST-LAST`, when present.
fn batch_range(headers: &HeaderMap) -> Result<Option<(u64, u64)>, String> {
    let Some(v) = headers.get("x-canhgac-batch") else {
        return Ok(None);
    };
    let bad = || "X-Canhgac-Batch must be FIRST-LAST (spool sequence numbers)".to_string();
    let v = v.to_str().map_err(|_| bad())?;
    let (a, b) = v.trim().split_once('-').ok_or_else(bad)?;
    let (a, b) = (
        a.parse::<u64>().map_err(|_| bad())?,
        b.parse::<u64>().map_err(|_| bad())?,
    );
    if a > b {
        return Err(bad());
    }
    Ok(Some((a, b)))
}

enum Encoding {
    Identity,
    Zstd,
    Other(String),
}

fn content_encoding(headers: &HeaderMap) -> Encoding {
    match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => Encoding::Identity,
        Some(v) if v.is_empty() || v == "identity" => Encoding::Identity,
        Some(v) if v == "zstd" => Encoding::Zstd,
        Some(v) => Encoding::Other(v),
    }
}

enum Unzstd {
    TooLarge,
    Bad(std::io::Error),
}

/// Decompresses at most `limit` bytes (a small body must not expand
/// without bound).
fn unzstd(raw: &[u8], limit: usize) -> Result<Vec<u8>, Unzstd> {
    use std::io::Read;
    let dec = zstd::stream::read::Decoder::new(raw).map_err(Unzstd::Bad)?;
    let mut out = Vec::new();
    dec.take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(Unzstd::Bad)?;
    if out.len() > limit {
        return Err(Unzstd::TooLarge);
    }
    Ok(out)
}

#[derive(Deserialize)]
struct EnrollRequest {
    token: String,
}

async fn enroll(
    State(state): State<SharedState>,
    Json(req): Json<EnrollRequest>,
) -> Result<Response, AppError> {
    let secret = auth::new_token("");
    let sensor = state
        .store
        .enrol_sensor(
            &auth::token_hash(req.token.trim()),
            &auth::token_hash(&secret),
        )
        .await?
        .ok_or_else(|| {
            AppError::Unauthorized("unknown, already used or revoked enrolment token".into())
        })?;
    tracing::info!(sensor = %sensor.name, unit = %sensor.unit_name, "sensor enrolled");
    super::audit::record(
        &state.store,
        &format!("sensor:{}", sensor.name),
        "sensor.enrol",
        &format!("sensor:{}", sensor.name),
        json!({ "unit": sensor.unit_name }),
    )
    .await;
    Ok(Json(json!({
        "sensor_id": sensor.name,
        "unit": sensor.unit_name,
        "secret": secret,
    }))
    .into_response())
}

pub(crate) async fn authenticate_user(
    state: &SharedState,
    headers: &HeaderMap,
) -> Result<User, AppError> {
    let Some(token) = bearer(headers) else {
        return Err(AppError::Unauthorized(
            "missing `Authorization: Bearer TOKEN` (create one with `canhgac admin token create --user NAME`)".into(),
        ));
    };
    state
        .store
        .user_by_token(&auth::token_hash(token))
        .await?
        .ok_or_else(|| AppError::Unauthorized("unknown or revoked API token".into()))
}

/// Query parameters of the list endpoints.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Unit name: that unit's subtree only.
    pub unit: Option<String>,
    /// RFC 3339 or EVE timestamp, inclusive.
    pub since: Option<String>,
    /// RFC 3339 or EVE timestamp, exclusive.
    pub until: Option<String>,
    /// `high`, `medium`, `low`, `info` (or 1–4): that severity and worse.
    pub severity: Option<String>,
    /// Incidents only: `open` or `closed`.
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Turns query parameters into a store filter scoped to `user`'s subtree.
///
/// # Errors
/// [`AppError::BadRequest`] naming the bad parameter; [`AppError::Forbidden`]
/// for a unit outside the user's subtree.
pub async fn filter_for(
    state: &SharedState,
    user: &User,
    q: &ListQuery,
) -> Result<ListFilter, AppError> {
    let time = |name: &str, v: &Option<String>| -> Result<Option<i64>, AppError> {
        match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => parse_timestamp(s).map(Some).ok_or_else(|| {
                AppError::BadRequest(format!(
                    "`{name}`: {s:?} is not an RFC 3339 time such as 2026-11-20T08:00:00Z"
                ))
            }),
        }
    };
    let severity_max = match q
        .severity
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some("high" | "1") => Some(1),
        Some("medium" | "2") => Some(2),
        Some("low" | "3") => Some(3),
        Some("info" | "4") => Some(255),
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "`severity`: {other:?} is not one of high, medium, low, info"
            )));
        }
    };
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s @ ("open" | "closed" | "new" | "acknowledged" | "contained" | "resolved")) => {
            Some(s.to_string())
        }
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "`status`: {other:?} is not one of open, closed, new, acknowledged, contained, resolved"
            )));
        }
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::BadRequest(
            "`limit` must be between 1 and 500".into(),
        ));
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(AppError::BadRequest("`offset` must not be negative".into()));
    }
    let unit_path = match q.unit.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => {
            let unit =
                state.store.unit(name).await?.ok_or_else(|| {
                    AppError::BadRequest(format!("`unit`: no unit named {name:?}"))
                })?;
            if !unit.path.starts_with(&user.unit_path) {
                return Err(AppError::Forbidden(format!(
                    "unit {name:?} is outside your unit"
                )));
            }
            Some(unit.path)
        }
    };
    Ok(ListFilter {
        scope_path: user.unit_path.clone(),
        unit_path,
        since: time("since", &q.since)?,
        until: time("until", &q.until)?,
        severity_max,
        status,
        limit,
        offset,
    })
}

async fn list_alerts(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    let f = filter_for(&state, &user, &q).await?;
    if f.status.is_some() {
        return Err(AppError::BadRequest(
            "`status` applies to incidents, not alerts".into(),
        ));
    }
    Ok(Json(state.store.alerts(&f).await?).into_response())
}

async fn list_incidents(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    let f = filter_for(&state, &user, &q).await?;
    Ok(Json(state.store.incidents(&f).await?).into_response())
}

async fn get_incident(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    let id: i64 = id
        .parse()
        .map_err(|_| AppError::BadRequest(format!("incident id {id:?} is not a number")))?;
    let (incident, alerts) = state
        .store
        .incident(id, &user.unit_path, 200)
        .await?
        .ok_or(AppError::NotFound)?;
    let timeline = state.store.incident_timeline(id).await?;
    let sla = super::incident::sla(
        &state.config.incidents.sla,
        &incident,
        chrono::Utc::now().timestamp_micros(),
    );
    let observables = state.store.incident_observables(id).await?;
    Ok(Json(json!({
        "incident": incident, "alerts": alerts, "timeline": timeline, "sla": sla,
        "observables": observables,
    }))
    .into_response())
}

/// The CA certificate sensors pin (public; a sensor checks its fingerprint
/// against the one the administrator gave it).
async fn ca_pem(State(state): State<SharedState>) -> Result<Response, AppError> {
    let pem = state.tls_ca.get().ok_or(AppError::NotFound)?;
    Ok((
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        pem.clone(),
    )
        .into_response())
}

/// The information systems of the caller's units.
async fn list_assets(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    Ok(Json(state.store.assets(&user.unit_path).await?).into_response())
}

#[derive(Deserialize)]
struct SinceQuery {
    since: Option<String>,
}

/// Mean times to detect, acknowledge, contain and resolve per unit, over
/// incidents opened since `since` (default: 30 days).
async fn response_times(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<SinceQuery>,
) -> Result<Response, AppError> {
    let user = authenticate_user(&state, &headers).await?;
    let since = match q.since.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => parse_timestamp(s).ok_or_else(|| {
            AppError::BadRequest(format!(
                "`since`: {s:?} is not an RFC 3339 time such as 2026-11-01T00:00:00Z"
            ))
        })?,
        None => chrono::Utc::now().timestamp_micros() - 30 * 86_400 * 1_000_000,
    };
    let rows = state.store.response_times(&user.unit_path, since).await?;
    Ok(Json(json!({ "since": since, "units": rows })).into_response())
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn healthz(State(state): State<SharedState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({ "status": "ok", "store": state.store.backend() })).into_response(),
        Err(e) => {
            state
                .metrics
                .store_errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(error = %e, "health check: store unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "store": state.store.backend() })),
            )
                .into_response()
        }
    }
}

async fn metrics(State(state): State<SharedState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render() + &correlation_metrics(&state),
    )
        .into_response()
}

/// The correlation engine's counters in the Prometheus text format.
fn correlation_metrics(state: &SharedState) -> String {
    use std::fmt::Write;
    let Some(c) = state.correlation.as_ref() else {
        return String::new();
    };
    let (st, groups) = c.stats();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let mut s = String::new();
    for (name, kind, help, v) in [
        (
            "canhgac_correlation_inputs_total",
            "counter",
            "Sigma matches fed to correlation.",
            st.inputs,
        ),
        (
            "canhgac_correlation_results_total",
            "counter",
            "Correlation results stored.",
            load(&c.counters.results),
        ),
        (
            "canhgac_correlation_groups_evicted_total",
            "counter",
            "Correlation groups dropped to stay within correlation.max_groups.",
            st.groups_evicted,
        ),
        (
            "canhgac_correlation_late_total",
            "counter",
            "Matches older than their group's window.",
            st.late,
        ),
        (
            "canhgac_correlation_store_errors_total",
            "counter",
            "Correlation results that could not be stored.",
            load(&c.counters.store_errors),
        ),
        (
            "canhgac_correlation_groups",
            "gauge",
            "Correlation groups held.",
            groups as u64,
        ),
    ] {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
    }
    s
}
