//! The store: one interface, two backends — SQLite (WAL, the embedded
//! default) and PostgreSQL (chosen by a `postgres://` URL).
//!
//! [`Store`] is an enum over the two pools and every method is written once:
//! the `dispatch!` macro expands the same body for each backend, so the SQL
//! is shared and only the migrations differ (`migrations/sqlite`,
//! `migrations/postgres`; they run at start). Queries are runtime-checked
//! (`sqlx::query_as`), so building needs no database.
//!
//! Times are `i64` microseconds since the epoch and booleans 0/1 in both
//! backends: the same Rust types decode from either, and nothing depends on
//! a backend's timestamp type.
//!
//! Ingest ([`Store::ingest`]) commits a batch in one transaction: events are
//! inserted with `ON CONFLICT (event_id) DO NOTHING`, so a resent batch is
//! stored once; alerts of newly stored events join or open incidents in the
//! same transaction.
//!
//! The few dynamically assembled queries (list filters) are built only from
//! fixed SQL fragments and numbered placeholders; every value is bound, so
//! `AssertSqlSafe` marks them as audited.

use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, PgPool, SqlitePool};

use crate::event::Event;

/// Store errors. The text of a database error is for the log, never for a
/// client: handlers map it to a generic 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("bad database URL `{0}`: expected sqlite://PATH or postgres://…")]
    Url(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
}

/// The store, on one of its backends.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the backend's pool.
macro_rules! dispatch {
    ($self:expr, $p:ident => $body:expr) => {
        match $self {
            Store::Sqlite($p) => $body,
            Store::Postgres($p) => $body,
        }
    };
}

/// A bind parameter of a dynamically built query.
#[derive(Debug, Clone)]
enum Param {
    I(i64),
    S(String),
}

macro_rules! bind_all {
    ($q:expr, $params:expr) => {{
        let mut q = $q;
        for p in $params {
            q = match p {
                Param::I(v) => q.bind(*v),
                Param::S(s) => q.bind(s.clone()),
            };
        }
        q
    }};
}

/// A unit of the organisation tree.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct Unit {
    pub id: i64,
    pub name: String,
    pub title: String,
    pub kind: String,
    pub parent_id: Option<i64>,
    /// `/1/4/9/`: ids from the root, for subtree scoping.
    pub path: String,
}

/// A user of the console and API.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: String,
    pub unit_id: i64,
    pub unit_path: String,
    pub unit_name: String,
}

/// A sensor as central knows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Sensor {
    pub id: i64,
    pub name: String,
    pub unit_id: i64,
    pub unit_name: String,
    pub revoked_at: Option<i64>,
    pub last_seen: Option<i64>,
    /// When the sensor's secret stops working.
    pub secret_expires_at: Option<i64>,
}

/// An alert row.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AlertRow {
    pub event_id: String,
    pub ts: i64,
    pub unit: String,
    pub sensor: String,
    pub gid: i64,
    pub signature_id: i64,
    pub rev: i64,
    pub signature: String,
    pub category: String,
    pub severity: i64,
    pub src_ip: Option<String>,
    pub src_port: Option<i64>,
    pub dest_ip: Option<String>,
    pub dest_port: Option<i64>,
    pub proto: Option<String>,
    pub drill: Option<String>,
    pub incident_id: i64,
}

/// An incident row.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct IncidentRow {
    pub id: i64,
    pub unit: String,
    pub unit_title: String,
    pub gid: i64,
    pub signature_id: i64,
    pub title: String,
    pub severity: i64,
    pub status: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub alert_count: i64,
    /// The user working on it.
    pub assignee: Option<String>,
    /// When central opened it.
    pub created_at: i64,
    /// The information system it touches, if one is registered.
    pub asset: Option<String>,
    /// Serious (a level 4–5 system): escalated.
    pub serious: i64,
    /// When each step was first reached.
    pub acknowledged_at: Option<i64>,
    pub contained_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// `ransomware`, `phishing`, … (see `incident::CATEGORIES`); empty
    /// until known.
    pub category: String,
    /// Traffic Light Protocol: `clear`, `green`, `amber`, `amber+strict`, `red`.
    pub tlp: String,
    /// JSON list (ATT&CK technique ids and free tags).
    pub tags: String,
    /// When the notification report was filed.
    pub reported_at: Option<i64>,
    /// `unit`, or `campaign` (one source against several units).
    pub kind: String,
    /// The campaign this incident belongs to.
    pub campaign_id: Option<i64>,
    /// The drill run that opened it (a drill incident), if any.
    pub drill: Option<String>,
}

/// Counts for the overview: alerts per unit and severity.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct UnitSeverityCount {
    pub unit: String,
    pub unit_title: String,
    pub severity: i64,
    pub count: i64,
}

/// Filters of alert and incident lists.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Subtree path the caller may see (`/1/`); always applied.
    pub scope_path: String,
    /// Narrower unit subtree asked for.
    pub unit_path: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Most severe severity number to include (1 = high only).
    pub severity_max: Option<i64>,
    pub status: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// A page of results.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// Result of ingesting one batch.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Events stored for the first time.
    pub accepted: u64,
    /// Events already stored (a resent batch).
    pub duplicates: u64,
    /// Alerts that opened a new incident.
    pub incidents_opened: u64,
    /// The incidents opened, for playbooks that start on their own.
    pub opened: Vec<i64>,
    /// The incidents that became serious (to escalate).
    pub escalated: Vec<i64>,
}

/// How alerts become incidents (from `[incidents]`).
#[derive(Debug, Clone)]
pub struct IngestRules {
    /// An alert joins an open incident seen within this window.
    pub window_micros: i64,
    /// What an incident groups by besides its unit: `rule`, `src_ip`,
    /// `dest_ip`.
    pub group_by: Vec<String>,
    /// Information-system levels from this one up make an incident serious.
    pub serious_min_level: i64,
    /// Categories that are serious whatever the system.
    pub serious_categories: Vec<String>,
}

impl Default for IngestRules {
    fn default() -> Self {
        IngestRules {
            window_micros: 3_600_000_000,
            group_by: vec!["rule".into()],
            serious_min_level: 4,
            serious_categories: Vec::new(),
        }
    }
}

impl IngestRules {
    /// The group key of an alert: the configured parts joined by `|`.
    pub fn group_key(&self, gid: i64, sid: i64, src: Option<&str>, dest: Option<&str>) -> String {
        let mut parts = Vec::new();
        for k in &self.group_by {
            match k.as_str() {
                "rule" => parts.push(format!("rule={gid}:{sid}")),
                "src_ip" => parts.push(format!("src={}", src.unwrap_or_default())),
                "dest_ip" => parts.push(format!("dst={}", dest.unwrap_or_default())),
                _ => {}
            }
        }
        if parts.is_empty() {
            parts.push(format!("rule={gid}:{sid}"));
        }
        parts.join("|")
    }
}

/// Events per multi-row INSERT (7 parameters each: within SQLite's and
/// PostgreSQL's limits).
const INSERT_CHUNK: usize = 500;

/// How long an enrolment token works: 7 days.
pub const ENROL_VALID_MICROS: i64 = 7 * 86_400 * 1_000_000;
/// How long a sensor's secret works before it must be renewed: 365 days.
pub const SECRET_VALID_MICROS: i64 = 365 * 86_400 * 1_000_000;

/// The pseudo-sensor central's own events (correlation results) come from;
/// `@` keeps it apart from the names an administrator can give.
pub const CENTRAL_SENSOR: &str = "@central";

pub(crate) fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

const ALERT_COLUMNS: &str = "a.event_id, a.ts, u.name AS unit, s.name AS sensor, a.gid, \
    a.signature_id, a.rev, a.signature, a.category, a.severity, a.src_ip, a.src_port, \
    a.dest_ip, a.dest_port, a.proto, a.drill, a.incident_id";
pub(crate) const INCIDENT_COLUMNS: &str = "i.id, u.name AS unit, u.title AS unit_title, i.gid, \
    i.signature_id, i.title, i.severity, i.status, i.first_seen, i.last_seen, i.alert_count, \
    i.assignee, i.created_at, i.asset, i.serious, i.acknowledged_at, i.contained_at, \
    i.resolved_at, i.closed_at, i.category, i.tlp, i.tags, i.reported_at, i.kind, i.campaign_id, i.drill";

impl Store {
    /// Opens the store at `url` and runs the migrations.
    ///
    /// `sqlite://PATH` (created if missing, WAL) or `postgres://…`.
    ///
    /// # Errors
    /// [`StoreError`] when the URL is bad, the database is unreachable or a
    /// migration fails.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let store = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|_| StoreError::Url(url.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(opts)
                .await?;
            sqlx::migrate!("src/central/store/migrations/sqlite")
                .run(&pool)
                .await?;
            Store::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts =
                PgConnectOptions::from_str(url).map_err(|_| StoreError::Url(url.to_string()))?;
            Self::open_postgres(opts).await?
        } else {
            return Err(StoreError::Url(url.to_string()));
        };
        Ok(store)
    }

    /// Opens PostgreSQL with explicit options (tests use a private schema
    /// through `search_path`) and runs the migrations.
    ///
    /// # Errors
    /// [`StoreError`] when unreachable or a migration fails.
    pub async fn open_postgres(opts: PgConnectOptions) -> Result<Store, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        sqlx::migrate!("src/central/store/migrations/postgres")
            .run(&pool)
            .await?;
        Ok(Store::Postgres(pool))
    }

    /// Which backend this is: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Cheap liveness check for `/healthz`.
    ///
    /// # Errors
    /// The database error.
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, p => { sqlx::query("SELECT 1").execute(p).await?; });
        Ok(())
    }

    // ---------------------------------------------------------------- units

    /// Adds a unit under `parent` (a root when `None`).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the name is taken, [`StoreError::NotFound`]
    /// if the parent does not exist.
    pub async fn add_unit(
        &self,
        name: &str,
        title: &str,
        kind: &str,
        parent: Option<&str>,
    ) -> Result<Unit, StoreError> {
        if self.unit(name).await?.is_some() {
            return Err(StoreError::Conflict(format!(
                "unit `{name}` already exists"
            )));
        }
        let parent = match parent {
            Some(p) => Some(
                self.unit(p)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("no unit `{p}`")))?,
            ),
            None => None,
        };
        let parent_id = parent.as_ref().map(|p| p.id);
        let parent_path = parent.map(|p| p.path).unwrap_or_else(|| "/".into());
        let now = now_micros();
        dispatch!(self, p => {
            let mut tx = p.begin().await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO units (name, title, kind, parent_id, path, created_at) \
                 VALUES ($1, $2, $3, $4, '', $5) RETURNING id")
                .bind(name).bind(title).bind(kind).bind(parent_id).bind(now)
                .fetch_one(&mut *tx).await?;
            let path = format!("{parent_path}{id}/");
            sqlx::query("UPDATE units SET path = $1 WHERE id = $2")
                .bind(&path).bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        self.unit(name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no unit `{name}`")))
    }

    /// A unit by name.
    ///
    /// # Errors
    /// The database error.
    pub async fn unit(&self, name: &str) -> Result<Option<Unit>, StoreError> {
        Ok(dispatch!(self, p => sqlx::query_as::<_, Unit>(
            "SELECT id, name, title, kind, parent_id, path FROM units WHERE name = $1")
            .bind(name).fetch_optional(p).await?))
    }

    /// All units, in tree order.
    ///
    /// # Errors
    /// The database error.
    pub async fn units(&self) -> Result<Vec<Unit>, StoreError> {
        Ok(dispatch!(self, p => sqlx::query_as::<_, Unit>(
            "SELECT id, name, title, kind, parent_id, path FROM units ORDER BY path")
            .fetch_all(p).await?))
    }

    // ---------------------------------------------------------------- users

    /// Adds a user with an already hashed password.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the name is taken, [`StoreError::NotFound`]
    /// for an unknown unit.
    pub async fn add_user(
        &self,
        username: &str,
        password_hash: &str,
        role: &str,
        unit: &str,
    ) -> Result<User, StoreError> {
        let unit = self
            .unit(unit)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no unit `{unit}`")))?;
        if self.user(username).await?.is_some() {
            return Err(StoreError::Conflict(format!(
                "user `{username}` already exists"
            )));
        }
        let now = now_micros();
        dispatch!(self, p => {
            sqlx::query("INSERT INTO users (username, password_hash, role, unit_id, created_at) \
                         VALUES ($1, $2, $3, $4, $5)")
                .bind(username).bind(password_hash).bind(role).bind(unit.id).bind(now)
                .execute(p).await?;
        });
        self.user(username)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no user `{username}`")))
    }

    /// A user by name.
    ///
    /// # Errors
    /// The database error.
    pub async fn user(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(dispatch!(self, p => sqlx::query_as::<_, User>(
            "SELECT us.id, us.username, us.password_hash, us.role, us.unit_id, \
             u.path AS unit_path, u.name AS unit_name \
             FROM users us JOIN units u ON u.id = us.unit_id WHERE us.username = $1")
            .bind(username).fetch_optional(p).await?))
    }

    /// How many users exist (the demo creates its admin when there are none).
    ///
    /// # Errors
    /// The database error.
    pub async fn user_count(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) =
            dispatch!(self, p => sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(p).await?);
        Ok(n)
    }

    /// Stores the hash of a new API token for `user_id`.
    ///
    /// # Errors
    /// The database error.
    pub async fn add_api_token(&self, user_id: i64, token_hash: &str) -> Result<(), StoreError> {
        let now = now_micros();
        dispatch!(self, p => {
            sqlx::query("INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES ($1, $2, $3)")
                .bind(user_id).bind(token_hash).bind(now).execute(p).await?;
        });
        Ok(())
    }

    /// The user owning a live API token.
    ///
    /// # Errors
    /// The database error.
    pub async fn user_by_token(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
        Ok(dispatch!(self, p => sqlx::query_as::<_, User>(
            "SELECT us.id, us.username, us.password_hash, us.role, us.unit_id, \
             u.path AS unit_path, u.name AS unit_name \
             FROM api_tokens t JOIN users us ON us.id = t.user_id JOIN units u ON u.id = us.unit_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL")
            .bind(token_hash).fetch_optional(p).await?))
    }

    // ------------------------------------------------------------- sessions

    /// Creates a console session.
    ///
    /// # Errors
    /// The database error.
    pub async fn add_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let now = now_micros();
        dispatch!(self, p => {
            sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(now).execute(p).await?;
            sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5)")
                .bind(token_hash).bind(user_id).bind(csrf).bind(now).bind(expires_at)
                .execute(p).await?;
        });
        Ok(())
    }

    /// The user and CSRF token of a live session.
    ///
    /// # Errors
    /// The database error.
    pub async fn session(&self, token_hash: &str) -> Result<Option<(User, String)>, StoreError> {
        let now = now_micros();
        let row: Option<(String, String)> = dispatch!(self, p => sqlx::query_as(
            "SELECT us.username, s.csrf FROM sessions s JOIN users us ON us.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2")
            .bind(token_hash).bind(now).fetch_optional(p).await?);
        let Some((username, csrf)) = row else {
            return Ok(None);
        };
        Ok(self.user(&username).await?.map(|u| (u, csrf)))
    }

    /// Ends a session.
    ///
    /// # Errors
    /// The database error.
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        dispatch!(self, p => {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(p).await?;
        });
        Ok(())
    }

    // -------------------------------------------------------------- sensors

    /// Adds a sensor to a unit with the hash of its one-time enrolment token.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] / [`StoreError::NotFound`] as for units.
    pub async fn add_sensor(
        &self,
        name: &str,
        unit: &str,
        enrol_hash: &str,
    ) -> Result<Sensor, StoreError> {
        let unit = self
            .unit(unit)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no unit `{unit}`")))?;
        if self.sensor(name).await?.is_some() {
            return Err(StoreError::Conflict(format!(
                "sensor `{name}` already exists"
            )));
        }
        let now = now_micros();
        let expires = now + ENROL_VALID_MICROS;
        dispatch!(self, p => {
            sqlx::query("INSERT INTO sensors (name, unit_id, enrol_hash, created_at, enrol_expires_at) \
                         VALUES ($1, $2, $3, $4, $5)")
                .bind(name).bind(unit.id).bind(enrol_hash).bind(now).bind(expires).execute(p).await?;
        });
        self.sensor(name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no sensor `{name}`")))
    }

    /// A sensor by name.
    ///
    /// # Errors
    /// The database error.
    pub async fn sensor(&self, name: &str) -> Result<Option<Sensor>, StoreError> {
        Ok(dispatch!(self, p => sqlx::query_as::<_, Sensor>(
            "SELECT s.id, s.name, s.unit_id, u.name AS unit_name, s.revoked_at, s.last_seen, s.secret_expires_at \
             FROM sensors s JOIN units u ON u.id = s.unit_id WHERE s.name = $1")
            .bind(name).fetch_optional(p).await?))
    }

    /// Exchanges a one-time enrolment token for the sensor's secret: the
    /// token is cleared so that it works once, and the secret is valid for
    /// [`SECRET_VALID_MICROS`] (the sensor renews it before then). Returns
    /// the sensor, or `None` for an unknown, used, expired or revoked token.
    ///
    /// # Errors
    /// The database error.
    pub async fn enrol_sensor(
        &self,
        enrol_hash: &str,
        secret_hash: &str,
    ) -> Result<Option<Sensor>, StoreError> {
        let now = now_micros();
        let name: Option<(String,)> = dispatch!(self, p => sqlx::query_as(
            "UPDATE sensors SET enrol_hash = NULL, secret_hash = $1, enrolled_at = $2, \
             secret_expires_at = $4 \
             WHERE enrol_hash = $3 AND revoked_at IS NULL \
             AND (enrol_expires_at IS NULL OR enrol_expires_at > $2) RETURNING name")
            .bind(secret_hash).bind(now).bind(enrol_hash).bind(now + SECRET_VALID_MICROS)
            .fetch_optional(p).await?);
        match name {
            Some((n,)) => self.sensor(&n).await,
            None => Ok(None),
        }
    }

    /// The sensor that owns `secret_hash`, if not revoked or expired.
    ///
    /// # Errors
    /// The database error.
    pub async fn authenticate_sensor(
        &self,
        name: &str,
        secret_hash: &str,
    ) -> Result<Option<Sensor>, StoreError> {
        Ok(dispatch!(self, p => sqlx::query_as::<_, Sensor>(
            "SELECT s.id, s.name, s.unit_id, u.name AS unit_name, s.revoked_at, s.last_seen, s.secret_expires_at \
             FROM sensors s JOIN units u ON u.id = s.unit_id \
             WHERE s.name = $1 AND s.secret_hash = $2 AND s.revoked_at IS NULL \
             AND (s.secret_expires_at IS NULL OR s.secret_expires_at > $3)")
            .bind(name).bind(secret_hash).bind(now_micros()).fetch_optional(p).await?))
    }

    /// Revokes a sensor: its credentials stop working at once.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown sensor.
    pub async fn revoke_sensor(&self, name: &str) -> Result<(), StoreError> {
        let now = now_micros();
        let n = dispatch!(self, p => sqlx::query(
            "UPDATE sensors SET revoked_at = $1, enrol_hash = NULL, state = 'revoked' WHERE name = $2")
            .bind(now).bind(name).execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound(format!("no sensor `{name}`")));
        }
        Ok(())
    }

    // --------------------------------------------------------------- ingest

    /// Stores a batch from `sensor` in one transaction; see the module doc.
    /// Each event's `sensor_id` and `unit` are set from `sensor`.
    ///
    /// # Errors
    /// The database error; then nothing of the batch is stored.
    pub async fn ingest(
        &self,
        sensor: &Sensor,
        events: &mut [Event],
        rules: &IngestRules,
    ) -> Result<IngestOutcome, StoreError> {
        Ok(self.ingest_new(sensor, events, rules).await?.0)
    }

    /// [`Self::ingest`], also returning the indexes of the events stored
    /// for the first time (what correlation must see, once).
    ///
    /// # Errors
    /// The database error; then nothing of the batch is stored.
    pub async fn ingest_new(
        &self,
        sensor: &Sensor,
        events: &mut [Event],
        rules: &IngestRules,
    ) -> Result<(IngestOutcome, Vec<usize>), StoreError> {
        let now = now_micros();
        let mut out = IngestOutcome::default();
        let mut fresh = Vec::new();
        // Rows are prepared first, then inserted many per statement (one
        // round trip per chunk instead of per event); RETURNING says which
        // ids were new, so duplicates are told apart without a lookup.
        let mut rows: Vec<(usize, String, i64, String)> = Vec::with_capacity(events.len());
        for (index, ev) in events.iter_mut().enumerate() {
            ev.sensor_id = Some(sensor.name.clone());
            ev.unit = Some(sensor.unit_name.clone());
            let Some(event_id) = ev.event_id else {
                continue;
            };
            let ts = ev.time_micros().unwrap_or(now);
            let body = serde_json::to_string(&*ev).unwrap_or_default();
            rows.push((index, event_id.to_string(), ts, body));
        }
        dispatch!(self, p => {
            let mut tx = p.begin().await?;
            let mut new_ids: std::collections::HashSet<String> = std::collections::HashSet::new();
            let mut assets: Option<Vec<(String, String, i64)>> = None;
            for chunk in rows.chunks(INSERT_CHUNK) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO events (event_id, sensor_id, unit_id, event_type, ts, received_at, body) ");
                qb.push_values(chunk, |mut b, (index, id, ts, body)| {
                    b.push_bind(id.as_str()).push_bind(sensor.id).push_bind(sensor.unit_id)
                        .push_bind(events[*index].event_type.as_str()).push_bind(*ts).push_bind(now)
                        .push_bind(body.as_str());
                });
                qb.push(" ON CONFLICT (event_id) DO NOTHING RETURNING event_id");
                let inserted: Vec<(String,)> = qb.build_query_as().fetch_all(&mut *tx).await?;
                new_ids.extend(inserted.into_iter().map(|r| r.0));
            }
            for (index, event_id, ts, _) in &rows {
                let (index, ts) = (*index, *ts);
                // a second copy of an id within the batch is a duplicate
                if !new_ids.remove(event_id) {
                    out.duplicates += 1;
                    continue;
                }
                out.accepted += 1;
                fresh.push(index);
                let ev = &events[index];
                let Some(alert) = ev.alert.as_ref() else { continue };
                let gid = i64::from(alert.gid);
                let sid = i64::try_from(alert.signature_id).unwrap_or(i64::MAX);
                let severity = i64::from(alert.severity);
                // the registered system it touches, highest level first
                if assets.is_none() {
                    // once per batch: all its events are from one sensor's unit
                    let rows: Vec<(String, String, i64)> = sqlx::query_as(
                        "SELECT a.name, a.addresses, a.level FROM assets a JOIN units u ON u.id = a.unit_id \
                         WHERE (SELECT path FROM units WHERE id = $1) LIKE u.path || '%' \
                         ORDER BY a.level DESC, a.name")
                        .bind(sensor.unit_id).fetch_all(&mut *tx).await?;
                    assets = Some(rows);
                }
                let assets = assets.as_deref().unwrap_or_default();
                let touched = assets.iter().find(|(_, addrs, _)| {
                    addrs.split(',').any(|spec| {
                        [&ev.src_ip, &ev.dest_ip].into_iter().flatten()
                            .any(|ip| crate::central::incident::address_matches(spec, ip))
                    })
                });
                let (asset, level) = touched.map_or((None, 0), |(n, _, l)| (Some(n.clone()), *l));
                let inc_severity = crate::central::incident::combined_severity(severity, level);
                let (category, tags) = crate::central::incident::classify(alert);
                let serious = i64::from(
                    level >= rules.serious_min_level
                        || rules.serious_categories.iter().any(|c| c == category),
                );
                let mut group_key = rules.group_key(gid, sid, ev.src_ip.as_deref(), ev.dest_ip.as_deref());
                // a drill's alerts never join a real incident, nor the reverse
                if let Some(d) = &ev.drill {
                    group_key.push_str(&format!("|drill={d}"));
                }
                let open: Option<(i64,)> = sqlx::query_as(
                    "SELECT id FROM incidents WHERE unit_id = $1 AND group_key = $2 AND kind = 'unit' \
                     AND status IN ('new', 'acknowledged', 'contained') \
                     AND last_seen >= $3 AND first_seen <= $4 \
                     ORDER BY last_seen DESC LIMIT 1")
                    .bind(sensor.unit_id).bind(&group_key)
                    .bind(ts - rules.window_micros).bind(ts + rules.window_micros)
                    .fetch_optional(&mut *tx).await?;
                let (incident_id, was_serious) = match open {
                    Some((id,)) => {
                        let (before,): (i64,) = sqlx::query_as("SELECT serious FROM incidents WHERE id = $1")
                            .bind(id).fetch_one(&mut *tx).await?;
                        sqlx::query(
                            "UPDATE incidents SET alert_count = alert_count + 1, \
                             first_seen = CASE WHEN $1 < first_seen THEN $1 ELSE first_seen END, \
                             last_seen = CASE WHEN $1 > last_seen THEN $1 ELSE last_seen END, \
                             severity = CASE WHEN $2 < severity THEN $2 ELSE severity END, \
                             asset = COALESCE(asset, $5), \
                             serious = CASE WHEN $6 > serious THEN $6 ELSE serious END, \
                             updated_at = $3 WHERE id = $4")
                            .bind(ts).bind(inc_severity).bind(now).bind(id).bind(&asset).bind(serious)
                            .execute(&mut *tx).await?;
                        (id, before)
                    }
                    None => {
                        out.incidents_opened += 1;
                        let (id,): (i64,) = sqlx::query_as(
                            "INSERT INTO incidents (unit_id, gid, signature_id, title, severity, status, \
                             first_seen, last_seen, alert_count, created_at, updated_at, asset, serious, category, tags, group_key, drill) \
                             VALUES ($1, $2, $3, $4, $5, 'new', $6, $6, 1, $7, $7, $8, 0, $9, $10, $11, $12) RETURNING id")
                            .bind(sensor.unit_id).bind(gid).bind(sid).bind(&alert.signature)
                            .bind(inc_severity).bind(ts).bind(now).bind(&asset)
                            .bind(category).bind(serde_json::json!(tags).to_string()).bind(&group_key).bind(&ev.drill)
                            .fetch_one(&mut *tx).await?;
                        out.opened.push(id);
                        sqlx::query(
                            "INSERT INTO incident_timeline (incident_id, at, actor, kind, text, details) \
                             VALUES ($1, $2, 'system', 'opened', $3, $4)")
                            .bind(id).bind(now).bind(&alert.signature)
                            .bind(serde_json::json!({"sensor": sensor.name, "event_id": event_id}).to_string())
                            .execute(&mut *tx).await?;
                        (id, 0)
                    }
                };
                if serious == 1 && was_serious == 0 {
                    out.escalated.push(incident_id);
                    // escalated: the serious mark and why, on the timeline
                    sqlx::query("UPDATE incidents SET serious = 1 WHERE id = $1")
                        .bind(incident_id).execute(&mut *tx).await?;
                    sqlx::query(
                        "INSERT INTO incident_timeline (incident_id, at, actor, kind, text, details) \
                         VALUES ($1, $2, 'system', 'serious', $3, $4)")
                        .bind(incident_id).bind(now)
                        .bind(asset.clone().unwrap_or_else(|| format!("category {category}")))
                        .bind(serde_json::json!({"asset": asset, "level": level}).to_string())
                        .execute(&mut *tx).await?;
                }
                sqlx::query(
                    "INSERT INTO alerts (event_id, unit_id, sensor_id, ts, gid, signature_id, rev, \
                     signature, category, severity, src_ip, src_port, dest_ip, dest_port, proto, drill, incident_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)")
                    .bind(event_id).bind(sensor.unit_id).bind(sensor.id).bind(ts)
                    .bind(gid).bind(sid).bind(i64::from(alert.rev))
                    .bind(&alert.signature).bind(&alert.category).bind(severity)
                    .bind(ev.src_ip.clone()).bind(ev.src_port.map(i64::from))
                    .bind(ev.dest_ip.clone()).bind(ev.dest_port.map(i64::from))
                    .bind(ev.proto.clone()).bind(ev.drill.clone()).bind(incident_id)
                    .execute(&mut *tx).await?;
                for (kind, value) in crate::central::incident::observables(ev) {
                    sqlx::query(
                        "INSERT INTO incident_observables (incident_id, kind, value, first_seen, last_seen, count) \
                         VALUES ($1, $2, $3, $4, $4, 1) ON CONFLICT (incident_id, kind, value) DO UPDATE SET \
                         count = incident_observables.count + 1, \
                         first_seen = CASE WHEN $4 < incident_observables.first_seen THEN $4 ELSE incident_observables.first_seen END, \
                         last_seen = CASE WHEN $4 > incident_observables.last_seen THEN $4 ELSE incident_observables.last_seen END")
                        .bind(incident_id).bind(kind).bind(&value).bind(ts)
                        .execute(&mut *tx).await?;
                }
            }
            sqlx::query("UPDATE sensors SET last_seen = $1 WHERE id = $2")
                .bind(now).bind(sensor.id).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok((out, fresh))
    }

    /// Stores events central made itself (correlation results) in `unit`,
    /// from the pseudo-sensor `@central` (created on first use; it has no
    /// credential, so nothing can sign in as it).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown unit; the database error.
    pub async fn ingest_central(
        &self,
        unit: &str,
        events: &mut [Event],
        rules: &IngestRules,
    ) -> Result<IngestOutcome, StoreError> {
        let u = self
            .unit(unit)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no unit `{unit}`")))?;
        let central = match self.sensor(CENTRAL_SENSOR).await? {
            Some(s) => s,
            None => {
                let now = now_micros();
                dispatch!(self, p => {
                    sqlx::query("INSERT INTO sensors (name, unit_id, created_at) VALUES ($1, $2, $3) \
                                 ON CONFLICT (name) DO NOTHING")
                        .bind(CENTRAL_SENSOR).bind(u.id).bind(now).execute(p).await?;
                });
                self.sensor(CENTRAL_SENSOR)
                    .await?
                    .ok_or_else(|| StoreError::NotFound("no sensor `@central`".into()))?
            }
        };
        let as_unit = Sensor {
            unit_id: u.id,
            unit_name: u.name,
            ..central
        };
        self.ingest(&as_unit, events, rules).await
    }

    /// The stored Sigma matches (alerts of gid 4 and quiet `sigma` events)
    /// of the last `span_micros` before the newest stored event, oldest
    /// first: what correlation state is rebuilt from.
    ///
    /// # Errors
    /// The database error.
    pub async fn recent_sigma_matches(&self, span_micros: i64) -> Result<Vec<Event>, StoreError> {
        let newest: Option<(Option<i64>,)> = dispatch!(self, p =>
            sqlx::query_as("SELECT MAX(ts) FROM events WHERE event_type IN ('sigma', 'alert')")
                .fetch_optional(p).await?);
        let Some(newest) = newest.and_then(|(t,)| t) else {
            return Ok(Vec::new());
        };
        let rows: Vec<(String,)> = dispatch!(self, p => sqlx::query_as(
            "SELECT body FROM events WHERE event_type IN ('sigma', 'alert') AND ts >= $1 ORDER BY ts, event_id")
            .bind(newest.saturating_sub(span_micros)).fetch_all(p).await?);
        let mut unreadable = 0usize;
        let events: Vec<Event> = rows
            .into_iter()
            .filter_map(|(body,)| match serde_json::from_str::<Event>(&body) {
                Ok(e) => Some(e),
                Err(_) => {
                    unreadable += 1;
                    None
                }
            })
            .filter(|e| e.sigma.is_some())
            .collect();
        if unreadable > 0 {
            tracing::warn!(
                unreadable,
                "stored events that no longer read as events were left out of the correlation rebuild"
            );
        }
        Ok(events)
    }

    /// Number of stored events (all types).
    ///
    /// # Errors
    /// The database error.
    pub async fn event_count(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = dispatch!(self, p =>
            sqlx::query_as("SELECT COUNT(*) FROM events").fetch_one(p).await?);
        Ok(n)
    }

    // -------------------------------------------------------------- queries

    fn where_clause(
        f: &ListFilter,
        alias: &str,
        time_col: &str,
        with_status: bool,
    ) -> (String, Vec<Param>) {
        let mut sql = String::from(" WHERE u.path LIKE $1");
        let mut params = vec![Param::S(format!("{}%", f.scope_path))];
        let push = |cond: String, p: Param, sql: &mut String, params: &mut Vec<Param>| {
            params.push(p);
            sql.push_str(&format!(" AND {cond}${}", params.len()));
        };
        if let Some(up) = &f.unit_path {
            push(
                "u.path LIKE ".into(),
                Param::S(format!("{up}%")),
                &mut sql,
                &mut params,
            );
        }
        if let Some(s) = f.since {
            push(
                format!("{alias}.{time_col} >= "),
                Param::I(s),
                &mut sql,
                &mut params,
            );
        }
        if let Some(u) = f.until {
            push(
                format!("{alias}.{time_col} < "),
                Param::I(u),
                &mut sql,
                &mut params,
            );
        }
        if let Some(sev) = f.severity_max {
            push(
                format!("{alias}.severity <= "),
                Param::I(sev),
                &mut sql,
                &mut params,
            );
        }
        if with_status && let Some(st) = &f.status {
            match st.as_str() {
                "open" => sql.push_str(&format!(
                    " AND {alias}.status IN ('new', 'acknowledged', 'contained')"
                )),
                "closed" => sql.push_str(&format!(" AND {alias}.status IN ('resolved', 'closed')")),
                _ => push(
                    format!("{alias}.status = "),
                    Param::S(st.clone()),
                    &mut sql,
                    &mut params,
                ),
            }
        }
        (sql, params)
    }

    /// A page of alerts, newest first.
    ///
    /// # Errors
    /// The database error.
    pub async fn alerts(&self, f: &ListFilter) -> Result<Page<AlertRow>, StoreError> {
        let (cond, params) = Self::where_clause(f, "a", "ts", false);
        let from =
            "FROM alerts a JOIN units u ON u.id = a.unit_id JOIN sensors s ON s.id = a.sensor_id";
        let count_sql = format!("SELECT COUNT(*) {from}{cond}");
        let n = params.len();
        let list_sql = format!(
            "SELECT {ALERT_COLUMNS} {from}{cond} ORDER BY a.ts DESC, a.event_id LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut all = params.clone();
        all.push(Param::I(f.limit));
        all.push(Param::I(f.offset));
        let (total, items) = dispatch!(self, p => {
            let (total,): (i64,) = bind_all!(sqlx::query_as(AssertSqlSafe(count_sql.clone())), &params).fetch_one(p).await?;
            let items: Vec<AlertRow> = bind_all!(sqlx::query_as(AssertSqlSafe(list_sql.clone())), &all).fetch_all(p).await?;
            (total, items)
        });
        Ok(Page {
            items,
            total,
            limit: f.limit,
            offset: f.offset,
        })
    }

    /// A page of incidents, most recently active first.
    ///
    /// # Errors
    /// The database error.
    pub async fn incidents(&self, f: &ListFilter) -> Result<Page<IncidentRow>, StoreError> {
        let (cond, params) = Self::where_clause(f, "i", "last_seen", true);
        let from = "FROM incidents i JOIN units u ON u.id = i.unit_id";
        let count_sql = format!("SELECT COUNT(*) {from}{cond}");
        let n = params.len();
        let list_sql = format!(
            "SELECT {INCIDENT_COLUMNS} {from}{cond} ORDER BY i.last_seen DESC, i.id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut all = params.clone();
        all.push(Param::I(f.limit));
        all.push(Param::I(f.offset));
        let (total, items) = dispatch!(self, p => {
            let (total,): (i64,) = bind_all!(sqlx::query_as(AssertSqlSafe(count_sql.clone())), &params).fetch_one(p).await?;
            let items: Vec<IncidentRow> = bind_all!(sqlx::query_as(AssertSqlSafe(list_sql.clone())), &all).fetch_all(p).await?;
            (total, items)
        });
        Ok(Page {
            items,
            total,
            limit: f.limit,
            offset: f.offset,
        })
    }

    /// One incident within `scope_path`, with its latest `alert_limit` alerts.
    ///
    /// # Errors
    /// The database error.
    pub async fn incident(
        &self,
        id: i64,
        scope_path: &str,
        alert_limit: i64,
    ) -> Result<Option<(IncidentRow, Vec<AlertRow>)>, StoreError> {
        let scope = format!("{scope_path}%");
        let inc_sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents i JOIN units u ON u.id = i.unit_id \
             WHERE i.id = $1 AND u.path LIKE $2"
        );
        let alerts_sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a JOIN units u ON u.id = a.unit_id \
             JOIN sensors s ON s.id = a.sensor_id WHERE a.incident_id = $1 \
             ORDER BY a.ts DESC, a.event_id LIMIT $2"
        );
        let res = dispatch!(self, p => {
            let inc: Option<IncidentRow> = sqlx::query_as(AssertSqlSafe(inc_sql.clone()))
                .bind(id).bind(&scope).fetch_optional(p).await?;
            match inc {
                Some(inc) => {
                    let alerts: Vec<AlertRow> = sqlx::query_as(AssertSqlSafe(alerts_sql.clone()))
                        .bind(id).bind(alert_limit).fetch_all(p).await?;
                    Some((inc, alerts))
                }
                None => None,
            }
        });
        Ok(res)
    }

    /// Alert counts per unit and severity within `scope_path`.
    ///
    /// # Errors
    /// The database error.
    pub async fn alert_counts(
        &self,
        scope_path: &str,
    ) -> Result<Vec<UnitSeverityCount>, StoreError> {
        let scope = format!("{scope_path}%");
        Ok(dispatch!(self, p => sqlx::query_as::<_, UnitSeverityCount>(
            "SELECT u.name AS unit, u.title AS unit_title, a.severity, COUNT(*) AS count \
             FROM alerts a JOIN units u ON u.id = a.unit_id WHERE u.path LIKE $1 AND a.drill IS NULL \
             GROUP BY u.name, u.title, a.severity ORDER BY u.name, a.severity")
            .bind(&scope).fetch_all(p).await?))
    }
}

mod audit;
pub mod drills;
mod fleet;
pub mod incidents;
pub mod playbooks;
pub use fleet::{CommandRow, SensorRow};
pub use incidents::TimelineRow;
