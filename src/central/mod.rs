//! Central: the province's service — ingest from sensors, the store,
//! incidents, the REST API and the web console, one axum [`app`].
//!
//! `app(state)` is separate from [`serve`] so tests drive the router
//! directly or on an ephemeral port. Handlers share one [`AppError`]: bad
//! input gets a precise 4xx; an internal failure gets a generic 500 while
//! the detail goes to the log, never to the client.

pub mod api;
pub mod audit;
pub mod auth;
pub mod console;
pub mod correlate;
pub mod drill;
pub mod fleet;
pub mod incident;
pub mod metrics;
pub mod notify;
pub mod playbook;
pub mod report;
pub mod store;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::config::{self, ConfigError};
use incident::IncidentConfig;
use metrics::Metrics;
use store::{Store, StoreError};

/// `central.toml`. See `deploy/central.toml` for a commented sample.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentralConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub incidents: IncidentConfig,
    #[serde(default)]
    pub correlation: correlate::CorrelationConfig,
    #[serde(default)]
    pub console: ConsoleSection,
    #[serde(default)]
    pub sensors: fleet::FleetConfig,
    #[serde(default)]
    pub playbooks: playbook::PlaybooksConfig,
    #[serde(default)]
    pub notify: notify::NotifyConfig,
    #[serde(default)]
    pub drills: drill::DrillsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Address of the console and API.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Largest accepted event batch, in bytes (after decompression).
    #[serde(default = "default_max_batch")]
    pub max_batch_bytes: usize,
    /// Batches committed at the same time; more wait for a slot.
    #[serde(default = "default_ingest_concurrency")]
    pub ingest_concurrency: usize,
    /// How long a batch waits for a slot before central answers 503 with
    /// `Retry-After`, milliseconds.
    #[serde(default = "default_ingest_wait")]
    pub ingest_wait_ms: u64,
    /// `auto`: HTTPS with central's own CA (see [`tls`]); `files`: HTTPS
    /// with `tls_cert` and `tls_key`; `off`: plain HTTP (behind a TLS
    /// proxy, or on loopback).
    #[serde(default)]
    pub tls: TlsMode,
    /// PEM certificate chain, server certificate first (`tls = "files"`).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (`tls = "files"`).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Names and addresses sensors use to reach central, for the
    /// certificate `auto` makes (localhost, loopback and the host name are
    /// always in).
    #[serde(default)]
    pub tls_names: Vec<String>,
}

/// How central speaks TLS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    #[default]
    Auto,
    Files,
    Off,
}

fn default_ingest_concurrency() -> usize {
    4
}
fn default_ingest_wait() -> u64 {
    2000
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: default_listen(),
            max_batch_bytes: default_max_batch(),
            ingest_concurrency: default_ingest_concurrency(),
            ingest_wait_ms: default_ingest_wait(),
            tls: TlsMode::Auto,
            tls_cert: None,
            tls_key: None,
            tls_names: Vec::new(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_max_batch() -> usize {
    16 * 1024 * 1024
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// Directory for the SQLite database and other state.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; empty for SQLite in `data_dir`.
    #[serde(default)]
    pub url: String,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            data_dir: default_data_dir(),
            url: String::new(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./var")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSection {
    /// `vi` or `en`.
    #[serde(default = "default_lang")]
    pub default_language: String,
    /// Lifetime of a login.
    #[serde(default = "default_session_hours")]
    pub session_hours: u64,
    /// Mark cookies `Secure` (set when the console is served over HTTPS).
    #[serde(default)]
    pub secure_cookies: bool,
}

impl Default for ConsoleSection {
    fn default() -> Self {
        ConsoleSection {
            default_language: default_lang(),
            session_hours: default_session_hours(),
            secure_cookies: false,
        }
    }
}

fn default_lang() -> String {
    "vi".into()
}
fn default_session_hours() -> u64 {
    12
}

impl CentralConfig {
    /// Loads and validates `central.toml`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and the key.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let cfg: CentralConfig = config::load(path)?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Checks meaning; `path` is used in messages.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the key.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        if self.server.listen.parse::<SocketAddr>().is_err() {
            return Err(config::invalid(
                path,
                "server.listen",
                format!(
                    "`{}` is not an address:port such as 127.0.0.1:8080",
                    self.server.listen
                ),
            ));
        }
        let url = self.store.url.trim();
        let known_scheme = url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite:");
        if !url.is_empty() && !known_scheme {
            return Err(config::invalid(
                path,
                "store.url",
                "expected postgres://… or sqlite://PATH (or leave empty for SQLite in store.data_dir)",
            ));
        }
        self.incidents
            .check()
            .map_err(|(k, m)| config::invalid(path, k, m))?;
        if let Some(smtp) = &self.notify.smtp {
            smtp.check()
                .map_err(|e| config::invalid(path, "notify.smtp", e))?;
        }
        for r in &self.playbooks.report_recipients {
            if r.parse::<lettre::message::Mailbox>().is_err() {
                return Err(config::invalid(
                    path,
                    "playbooks.report_recipients",
                    format!("{r:?} is not a mail address"),
                ));
            }
        }
        if console::Lang::parse(&self.console.default_language).is_none() {
            return Err(config::invalid(
                path,
                "console.default_language",
                "expected `vi` or `en`",
            ));
        }
        if self.console.session_hours == 0 {
            return Err(config::invalid(
                path,
                "console.session_hours",
                "must be at least 1",
            ));
        }
        for p in &self.correlation.rules {
            if !p.exists() {
                return Err(config::invalid(
                    path,
                    "correlation.rules",
                    format!("{} does not exist", p.display()),
                ));
            }
        }
        if self.server.tls == TlsMode::Files
            && (self.server.tls_cert.is_none() || self.server.tls_key.is_none())
        {
            return Err(config::invalid(
                path,
                "server.tls",
                "`files` needs server.tls_cert and server.tls_key",
            ));
        }
        if self.sensors.late_secs == 0 || self.sensors.offline_secs <= self.sensors.late_secs {
            return Err(config::invalid(
                path,
                "sensors.offline_secs",
                "must be greater than sensors.late_secs, which must be at least 1",
            ));
        }
        if self.server.ingest_concurrency == 0 {
            return Err(config::invalid(
                path,
                "server.ingest_concurrency",
                "must be at least 1",
            ));
        }
        if self.correlation.max_groups == 0 {
            return Err(config::invalid(
                path,
                "correlation.max_groups",
                "must be at least 1",
            ));
        }
        if self.incidents.window_secs == 0 {
            return Err(config::invalid(
                path,
                "incidents.window_secs",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The database URL: `store.url`, or SQLite under `store.data_dir`.
    pub fn database_url(&self) -> String {
        let url = self.store.url.trim();
        if url.is_empty() {
            format!(
                "sqlite://{}",
                self.store.data_dir.join("canhgac.db").display()
            )
        } else {
            url.to_string()
        }
    }

    /// Opens the store (creating the data directory for SQLite).
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn open_store(&self) -> Result<Store, StoreError> {
        if self.store.url.trim().is_empty() {
            std::fs::create_dir_all(&self.store.data_dir).map_err(|e| {
                StoreError::Conflict(format!(
                    "cannot create data directory {}: {e}",
                    self.store.data_dir.display()
                ))
            })?;
        }
        Store::open(&self.database_url()).await
    }
}

/// What every handler shares.
pub struct AppState {
    pub store: Store,
    pub config: CentralConfig,
    pub metrics: Metrics,
    pub i18n: console::I18n,
    /// Sigma correlation, when `[correlation] rules` has correlations.
    pub correlation: Option<correlate::Correlation>,
    /// Slots for committing batches (`server.ingest_concurrency`).
    pub ingest_slots: tokio::sync::Semaphore,
    /// The CA certificate sensors pin, when central serves TLS.
    pub tls_ca: std::sync::OnceLock<String>,
    /// Long polls waiting for commands.
    pub waiters: fleet::Waiters,
    /// The playbook engine's parsed playbooks and wake-up.
    pub engine: playbook::engine::Engine,
    /// The drill scenarios on offer.
    pub drills: drill::library::Library,
}

/// Shared state handle.
pub type SharedState = Arc<AppState>;

impl AppState {
    /// State for `config` over `store`.
    pub fn new(store: Store, config: CentralConfig) -> SharedState {
        let correlation = correlate::Correlation::load(&config.correlation);
        Arc::new(AppState {
            store,
            ingest_slots: tokio::sync::Semaphore::new(config.server.ingest_concurrency.max(1)),
            tls_ca: std::sync::OnceLock::new(),
            waiters: fleet::Waiters::default(),
            engine: playbook::engine::Engine::default(),
            drills: drill::library::Library::load(config.drills.dir.as_deref()),
            config,
            metrics: Metrics::default(),
            i18n: console::I18n::load(),
            correlation,
        })
    }
}

/// The whole HTTP surface: API, console, health and metrics.
pub fn app(state: SharedState) -> Router {
    Router::new()
        .merge(api::routes(state.clone()))
        .merge(fleet::routes(state.clone()))
        .merge(console::routes(state.clone()))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// Serves `app` on `listen` until `shutdown` resolves.
///
/// # Errors
/// The bind or serve I/O error.
pub async fn serve(
    state: SharedState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    correlate::start(state.clone()).await;
    fleet::start_watch(state.clone());
    playbook::start(state.clone()).await;
    drill::run::start(state.clone());
    incident::start_overdue_watch(state.clone());
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

impl CentralConfig {
    /// The TLS material `server.tls` asks for (`None` for `off`), made on
    /// first use for `auto`.
    ///
    /// # Errors
    /// Certificate files that cannot be made or read.
    pub fn tls_material(&self) -> Result<Option<tls::TlsMaterial>, tls::TlsError> {
        match self.server.tls {
            TlsMode::Off => Ok(None),
            TlsMode::Auto => {
                let mut extra = self.server.tls_names.clone();
                if let Ok(addr) = self.server.listen.parse::<SocketAddr>()
                    && !addr.ip().is_unspecified()
                {
                    extra.push(addr.ip().to_string());
                }
                tls::ensure_own(
                    &self.store.data_dir.join("tls"),
                    &tls::default_names(&extra),
                )
                .map(Some)
            }
            TlsMode::Files => match (&self.server.tls_cert, &self.server.tls_key) {
                (Some(c), Some(k)) => tls::from_files(c, k).map(Some),
                _ => Err(tls::TlsError::Cert(
                    "server.tls = \"files\" needs server.tls_cert and server.tls_key".into(),
                )),
            },
        }
    }
}

/// Serves `app` over HTTPS on `listener` until `shutdown` resolves.
///
/// # Errors
/// The TLS configuration or serve I/O error.
pub async fn serve_tls(
    state: SharedState,
    listener: std::net::TcpListener,
    material: &tls::TlsMaterial,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = tls::server_config(material).await?;
    let _ = state.tls_ca.set(material.ca_pem.clone());
    correlate::start(state.clone()).await;
    fleet::start_watch(state.clone());
    playbook::start(state.clone()).await;
    drill::run::start(state.clone());
    incident::start_overdue_watch(state.clone());
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    listener.set_nonblocking(true)?;
    axum_server::from_tcp_rustls(listener, config)?
        .handle(handle)
        .serve(app(state).into_make_service_with_connect_info::<SocketAddr>())
        .await
}

/// The one error type of handlers.
#[derive(Debug)]
pub enum AppError {
    /// 400 with a message for the client.
    BadRequest(String),
    /// 401 with a message.
    Unauthorized(String),
    /// 403.
    Forbidden(String),
    /// 404.
    NotFound,
    /// 413.
    TooLarge(String),
    /// 503 with `Retry-After` (seconds).
    Busy(u64),
    /// 500; the detail is logged, not sent.
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, msg) = match self {
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            AppError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m),
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            AppError::NotFound => (StatusCode::NOT_FOUND, "not found".into()),
            AppError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
            AppError::Busy(secs) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(axum::http::header::RETRY_AFTER, secs.to_string())],
                    axum::Json(serde_json::json!({
                        "error": "central is busy; retry after the given seconds"
                    })),
                )
                    .into_response();
            }
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see the central log".into(),
                )
            }
        };
        (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
    }
}
