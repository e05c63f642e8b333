//! The sensor fleet at central: heartbeats and health, credential renewal,
//! the command channel (long poll), rule bundles, and the watch that raises
//! an alert when a sensor goes silent.
//!
//! Sensors sit behind NAT at communes, so central never calls them: a
//! sensor holds `GET /api/v1/commands?wait=N` open and central answers as
//! soon as a command is queued for it (or with an empty list after `N`
//! seconds). Commands travel inside the sensor's authenticated TLS
//! connection; each has an id (the sensor runs an id once and answers a
//! repeat with its stored result) and an expiry (a command nobody ran in
//! time is `expired`, never run late). What a command may do at the
//! gateway is the sensor's own configuration (`[actions]`), off or dry-run
//! by default: central can ask, only the sensor's owner can allow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::store::{SECRET_VALID_MICROS, SensorRow, Store};
use super::{AppError, SharedState, auth};
use crate::event::{Alert, Event};

/// `[sensors]` in `central.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// A sensor silent this long is `late`, seconds.
    #[serde(default = "default_late")]
    pub late_secs: u64,
    /// A sensor silent this long is `offline` and an alert is raised,
    /// seconds.
    #[serde(default = "default_offline")]
    pub offline_secs: u64,
    /// How long a queued command stays valid, seconds.
    #[serde(default = "default_command_ttl")]
    pub command_ttl_secs: u64,
}

fn default_late() -> u64 {
    120
}
fn default_offline() -> u64 {
    600
}
fn default_command_ttl() -> u64 {
    3600
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            late_secs: default_late(),
            offline_secs: default_offline(),
            command_ttl_secs: default_command_ttl(),
        }
    }
}

/// Wakes the long polls of sensors that have a new command.
#[derive(Debug, Default)]
pub struct Waiters {
    by_sensor: Mutex<HashMap<i64, Arc<tokio::sync::Notify>>>,
}

impl Waiters {
    fn of(&self, sensor_id: i64) -> Arc<tokio::sync::Notify> {
        let mut m = match self.by_sensor.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        Arc::clone(m.entry(sensor_id).or_default())
    }

    /// Wakes the sensor's poll, if one is waiting.
    pub fn wake(&self, sensor_id: i64) {
        self.of(sensor_id).notify_waiters();
    }
}

/// The kinds of command a sensor understands, with their arguments.
pub const KINDS: &[&str] = &[
    "reload_rules",
    "update_rules",
    "block",
    "unblock",
    "drill_inject",
];

/// The largest capture a drill inject may carry (it travels in the
/// command's JSON).
pub const MAX_DRILL_PCAP: usize = 8 * 1024 * 1024;

/// Checks a command's arguments before it is queued.
///
/// # Errors
/// A message naming the kind or the argument that is wrong.
pub async fn check_command(store: &Store, kind: &str, args: &Value) -> Result<(), String> {
    let s = |k: &str| args.get(k).and_then(Value::as_str).map(str::trim);
    match kind {
        "reload_rules" => Ok(()),
        "update_rules" => {
            let name = s("bundle").ok_or("update_rules needs `bundle` (a bundle name)")?;
            let version = args
                .get("version")
                .and_then(Value::as_i64)
                .ok_or("update_rules needs `version` (a number)")?;
            match store.bundle(name, version).await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(format!("no rule bundle {name} version {version}")),
                Err(e) => Err(e.to_string()),
            }
        }
        "block" | "unblock" => {
            let a = s("address").ok_or("block/unblock needs `address`")?;
            a.parse::<std::net::IpAddr>()
                .map(|_| ())
                .map_err(|_| format!("`address`: {a:?} is not an IP address"))
        }
        "drill_inject" => {
            s("drill").ok_or("drill_inject needs `drill` (the drill run id)")?;
            match (args.get("log_lines"), s("pcap_b64")) {
                (Some(lines), None) => {
                    let lines = lines
                        .as_array()
                        .ok_or("`log_lines` is a list of log lines")?;
                    if lines.iter().any(|l| !l.is_string()) {
                        return Err("`log_lines` must hold strings".into());
                    }
                    Ok(())
                }
                (None, Some(b64)) => {
                    use base64::Engine as _;
                    let data = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|e| format!("`pcap_b64` is not base64: {e}"))?;
                    if data.len() > MAX_DRILL_PCAP {
                        return Err(format!(
                            "`pcap_b64`: the capture is {} bytes; at most {MAX_DRILL_PCAP}",
                            data.len()
                        ));
                    }
                    Ok(())
                }
                _ => Err(
                    "drill_inject needs either `log_lines` (a list of log lines) or `pcap_b64` (a capture)"
                        .into(),
                ),
            }
        }
        other => Err(format!(
            "unknown command kind {other:?}; expected one of {}",
            KINDS.join(", ")
        )),
    }
}

/// Routes of the fleet API.
pub fn routes(state: SharedState) -> Router {
    Router::new()
        .route("/api/v1/heartbeat", post(heartbeat))
        .route("/api/v1/renew", post(renew))
        .route("/api/v1/commands", get(poll_commands))
        .route("/api/v1/commands/{id}/result", post(command_result))
        .route("/api/v1/bundles/{name}/{version}", get(get_bundle))
        .route("/api/v1/sensors", get(list_sensors))
        .route(
            "/api/v1/sensors/{name}/commands",
            post(queue_command).get(sensor_commands),
        )
        .route("/api/v1/sensors/{name}/revoke", post(revoke))
        .with_state(state)
}

async fn heartbeat(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Json(health): Json<Value>,
) -> Result<Response, AppError> {
    let sensor = super::api::authenticate_sensor(&state, &headers).await?;
    if !health.is_object() {
        return Err(AppError::BadRequest(
            "heartbeat must be a JSON object".into(),
        ));
    }
    let before = state
        .store
        .heartbeat(sensor.id, &health.to_string())
        .await?;
    if before == "offline" || before == "late" {
        tracing::info!(sensor = %sensor.name, was = %before, "sensor is back");
    }
    Ok(Json(json!({
        "secret_expires_at": sensor.secret_expires_at,
    }))
    .into_response())
}

async fn renew(State(state): State<SharedState>, headers: HeaderMap) -> Result<Response, AppError> {
    let sensor = super::api::authenticate_sensor(&state, &headers).await?;
    let secret = auth::new_token("");
    let expires = chrono::Utc::now().timestamp_micros() + SECRET_VALID_MICROS;
    state
        .store
        .renew_sensor(sensor.id, &auth::token_hash(&secret), expires)
        .await?;
    tracing::info!(sensor = %sensor.name, "sensor credentials renewed");
    super::audit::record(
        &state.store,
        &format!("sensor:{}", sensor.name),
        "sensor.renew",
        &format!("sensor:{}", sensor.name),
        json!({ "secret_expires_at": expires }),
    )
    .await;
    Ok(Json(json!({
        "sensor_id": sensor.name,
        "unit": sensor.unit_name,
        "secret": secret,
        "secret_expires_at": expires,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct PollQuery {
    wait: Option<u64>,
}

/// A command as the sensor receives it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireCommand {
    pub id: i64,
    pub kind: String,
    pub args: Value,
    /// Microseconds since the epoch; the sensor does not run it after.
    pub expires_at: i64,
}

async fn poll_commands(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<PollQuery>,
) -> Result<Response, AppError> {
    let sensor = super::api::authenticate_sensor(&state, &headers).await?;
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(60));
    let deadline = tokio::time::Instant::now() + wait;
    let notify = state.waiters.of(sensor.id);
    loop {
        // register before looking, so a command queued in between wakes us
        let woken = notify.notified();
        let rows = state.store.take_commands(sensor.id).await?;
        if !rows.is_empty() || tokio::time::Instant::now() >= deadline {
            let cmds: Vec<WireCommand> = rows
                .into_iter()
                .map(|r| WireCommand {
                    id: r.id,
                    kind: r.kind,
                    args: serde_json::from_str(&r.args).unwrap_or(Value::Null),
                    expires_at: r.expires_at,
                })
                .collect();
            return Ok(Json(json!({ "commands": cmds })).into_response());
        }
        // woken by a command queued here, or look again in a moment for
        // one queued by another process (`canhgac admin sensor command`)
        let next = deadline.min(tokio::time::Instant::now() + Duration::from_secs(2));
        let _ = tokio::time::timeout_at(next, woken).await;
    }
}

#[derive(Deserialize)]
struct ResultBody {
    ok: bool,
    #[serde(default)]
    result: Value,
}

async fn command_result(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(body): Json<ResultBody>,
) -> Result<Response, AppError> {
    let sensor = super::api::authenticate_sensor(&state, &headers).await?;
    if !state
        .store
        .finish_command(sensor.id, id, body.ok, &body.result)
        .await?
    {
        return Err(AppError::NotFound);
    }
    tracing::info!(sensor = %sensor.name, command = id, ok = body.ok, "command result");
    super::audit::record(
        &state.store,
        &format!("sensor:{}", sensor.name),
        "command.result",
        &format!("command:{id}"),
        json!({ "ok": body.ok, "result": body.result }),
    )
    .await;
    Ok(Json(json!({ "recorded": id })).into_response())
}

async fn get_bundle(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((name, version)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    super::api::authenticate_sensor(&state, &headers).await?;
    let (sha256, files) = state
        .store
        .bundle(&name, version)
        .await?
        .ok_or(AppError::NotFound)?;
    let files: Value = serde_json::from_str(&files).unwrap_or(Value::Null);
    Ok(Json(json!({
        "name": name,
        "version": version,
        "sha256": sha256,
        "files": files,
    }))
    .into_response())
}

/// SHA-256 over a bundle's files, in path order: `path\0text\0…`.
pub fn bundle_digest(files: &serde_json::Map<String, Value>) -> String {
    use sha2::{Digest, Sha256};
    let mut keys: Vec<&String> = files.keys().collect();
    keys.sort();
    let mut h = Sha256::new();
    for k in keys {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(files[k].as_str().unwrap_or_default().as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

async fn user_for_sensor(
    state: &SharedState,
    headers: &HeaderMap,
    name: &str,
    manage: bool,
) -> Result<(super::store::User, SensorRow), AppError> {
    let user = super::api::authenticate_user(state, headers).await?;
    let row = state
        .store
        .sensor_row(name)
        .await?
        .ok_or(AppError::NotFound)?;
    if !row.unit_path.starts_with(&user.unit_path) {
        return Err(AppError::NotFound);
    }
    if manage && !can_manage(&user) {
        return Err(AppError::Forbidden(
            "only admins and coordinators manage sensors".into(),
        ));
    }
    Ok((user, row))
}

/// Whether a user may command or revoke sensors in their subtree.
pub fn can_manage(user: &super::store::User) -> bool {
    matches!(
        auth::Role::parse(&user.role),
        Some(auth::Role::Admin | auth::Role::Coordinator)
    )
}

async fn list_sensors(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let user = super::api::authenticate_user(&state, &headers).await?;
    let rows = state.store.sensor_rows(&user.unit_path).await?;
    let out: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let health: Value = r
                .health
                .as_deref()
                .and_then(|h| serde_json::from_str(h).ok())
                .unwrap_or(Value::Null);
            json!({
                "name": r.name, "unit": r.unit, "state": r.state,
                "enrolled_at": r.enrolled_at, "revoked_at": r.revoked_at,
                "last_seen": r.last_seen, "last_heartbeat": r.last_heartbeat,
                "secret_expires_at": r.secret_expires_at, "health": health,
            })
        })
        .collect();
    Ok(Json(out).into_response())
}

#[derive(Deserialize)]
struct QueueBody {
    kind: String,
    #[serde(default)]
    args: Value,
    ttl_secs: Option<u64>,
}

/// Queues a command after checking it; wakes the sensor's poll.
///
/// # Errors
/// [`AppError::BadRequest`] for a bad command.
pub async fn queue(
    state: &SharedState,
    sensor: &str,
    kind: &str,
    args: &Value,
    by: &str,
    ttl_secs: Option<u64>,
) -> Result<i64, AppError> {
    check_command(&state.store, kind, args)
        .await
        .map_err(AppError::BadRequest)?;
    let ttl = ttl_secs
        .unwrap_or(state.config.sensors.command_ttl_secs)
        .clamp(1, 7 * 86_400);
    let id = state
        .store
        .add_command(
            sensor,
            kind,
            args,
            by,
            i64::try_from(ttl * 1_000_000).unwrap_or(i64::MAX),
        )
        .await?;
    if let Some(s) = state.store.sensor(sensor).await? {
        state.waiters.wake(s.id);
    }
    tracing::info!(%sensor, %kind, command = id, by = %by, "command queued");
    super::audit::record(
        &state.store,
        by,
        "command.queue",
        &format!("sensor:{sensor}"),
        json!({ "command": id, "kind": kind, "args": args }),
    )
    .await;
    Ok(id)
}

async fn queue_command(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<QueueBody>,
) -> Result<Response, AppError> {
    let (user, _) = user_for_sensor(&state, &headers, &name, true).await?;
    let args = if body.args.is_null() {
        json!({})
    } else {
        body.args
    };
    let id = queue(
        &state,
        &name,
        &body.kind,
        &args,
        &user.username,
        body.ttl_secs,
    )
    .await?;
    Ok((axum::http::StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

async fn sensor_commands(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    user_for_sensor(&state, &headers, &name, false).await?;
    Ok(Json(state.store.commands_of(&name, 100).await?).into_response())
}

async fn revoke(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    let (user, _) = user_for_sensor(&state, &headers, &name, true).await?;
    revoke_sensor(&state.store, &user.username, &name, "api").await?;
    Ok(Json(json!({ "revoked": name })).into_response())
}

/// Revokes a sensor (refused at once from now on) and records who did it;
/// the one path for the API, the console and the admin command.
///
/// # Errors
/// [`StoreError::NotFound`](super::store::StoreError::NotFound) for an
/// unknown sensor; the database error.
pub async fn revoke_sensor(
    store: &Store,
    actor: &str,
    name: &str,
    via: &str,
) -> Result<(), super::store::StoreError> {
    store.revoke_sensor(name).await?;
    tracing::warn!(sensor = %name, by = %actor, %via, "sensor revoked");
    super::audit::record(
        store,
        actor,
        "sensor.revoke",
        &format!("sensor:{name}"),
        json!({ "via": via }),
    )
    .await;
    Ok(())
}

/// The alert raised when a sensor goes silent (gid 9: canhgac's own
/// health alerts).
pub fn silent_alert(sensor: &str, unit: &str, silent_secs: i64) -> Event {
    let now = chrono::Utc::now().timestamp_micros();
    let mut ev = Event::new("alert", now);
    ev.alert = Some(Alert {
        action: "allowed".into(),
        gid: 9,
        signature_id: 1,
        rev: 1,
        signature: format!("canhgac: sensor {sensor} went silent"),
        category: "Sensor health".into(),
        severity: 2,
        metadata: None,
        extra: Default::default(),
    });
    ev.unit = Some(unit.to_string());
    let mut extra = crate::event::Extra::default();
    extra.insert("sensor".into(), json!(sensor));
    extra.insert("silent_secs".into(), json!(silent_secs));
    ev.extra = extra;
    ev
}

/// One pass of the watch: marks sensors `late` or `offline` by the age of
/// their last word, and raises an alert for each that just went offline.
/// Returns the sensors that went offline.
///
/// # Errors
/// The database error.
pub async fn watch_once(state: &SharedState) -> Result<Vec<String>, super::store::StoreError> {
    let cfg = &state.config.sensors;
    let now = chrono::Utc::now().timestamp_micros();
    let mut gone = Vec::new();
    for r in state.store.sensor_rows("").await? {
        if r.revoked_at.is_some() || r.enrolled_at.is_none() {
            continue;
        }
        let last = r
            .last_heartbeat
            .max(r.last_seen)
            .or(r.enrolled_at)
            .unwrap_or(now);
        let age = (now - last) / 1_000_000;
        let state_now = if age >= i64::try_from(cfg.offline_secs).unwrap_or(i64::MAX) {
            "offline"
        } else if age >= i64::try_from(cfg.late_secs).unwrap_or(i64::MAX) {
            "late"
        } else {
            "ok"
        };
        if state_now == r.state || (r.state == "new" && state_now == "ok") {
            continue;
        }
        if !state
            .store
            .set_sensor_state(&r.name, &r.state, state_now)
            .await?
        {
            continue; // another pass got there first
        }
        if state_now == "offline" {
            tracing::warn!(sensor = %r.name, silent_secs = age, "sensor went silent");
            super::audit::record(
                &state.store,
                "system",
                "sensor.offline",
                &format!("sensor:{}", r.name),
                json!({ "silent_secs": age }),
            )
            .await;
            let mut evs = vec![silent_alert(&r.name, &r.unit, age)];
            state
                .store
                .ingest_central(&r.unit, &mut evs, &state.config.incidents.rules())
                .await?;
            gone.push(r.name.clone());
        } else if state_now == "late" {
            tracing::info!(sensor = %r.name, silent_secs = age, "sensor is late");
        }
    }
    Ok(gone)
}

/// Runs [`watch_once`] every 10 seconds (a fifth of `late_secs` when that
/// is shorter).
pub fn start_watch(state: SharedState) {
    let every = Duration::from_secs((state.config.sensors.late_secs / 5).clamp(1, 10));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = watch_once(&state).await {
                tracing::error!(error = %e, "sensor watch failed");
            }
        }
    });
}
