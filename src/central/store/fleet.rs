//! The sensor fleet in the store: credential expiry and renewal, health
//! from heartbeats, the command channel and versioned rule bundles.
//!
//! Commands are rows with a status: `pending` → `delivered` (handed to the
//! sensor's long poll) → `done` or `failed` (the sensor's report), or
//! `expired` when nobody took or finished them in time. A delivered command
//! that was not reported is handed out again on the next poll until it
//! expires: the sensor remembers the commands it ran and answers a repeat
//! with the stored result, so a command runs at most once.

use serde::Serialize;

use super::{Store, StoreError, now_micros};

/// One sensor as the console lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SensorRow {
    pub name: String,
    pub unit: String,
    pub unit_path: String,
    pub state: String,
    pub created_at: i64,
    pub enrolled_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_seen: Option<i64>,
    pub last_heartbeat: Option<i64>,
    pub secret_expires_at: Option<i64>,
    /// The last heartbeat, JSON.
    pub health: Option<String>,
}

/// A command to a sensor.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CommandRow {
    pub id: i64,
    pub sensor: String,
    pub kind: String,
    /// JSON.
    pub args: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub delivered_at: Option<i64>,
    pub done_at: Option<i64>,
    pub status: String,
    /// JSON.
    pub result: Option<String>,
}

const SENSOR_ROW: &str = "SELECT s.name, u.name AS unit, u.path AS unit_path, s.state, s.created_at, \
    s.enrolled_at, s.revoked_at, s.last_seen, s.last_heartbeat, s.secret_expires_at, s.health \
    FROM sensors s JOIN units u ON u.id = s.unit_id";

const COMMAND_ROW: &str = "SELECT c.id, s.name AS sensor, c.kind, c.args, c.created_by, c.created_at, \
    c.expires_at, c.delivered_at, c.done_at, c.status, c.result \
    FROM commands c JOIN sensors s ON s.id = c.sensor_id";

impl Store {
    /// Sets when a sensor's enrolment token stops working (for
    /// `admin sensor add --valid-hours`).
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; the database error.
    pub async fn set_enrol_expiry(&self, name: &str, at: i64) -> Result<(), StoreError> {
        let n = dispatch!(self, p => sqlx::query(
            "UPDATE sensors SET enrol_expires_at = $1 WHERE name = $2")
            .bind(at).bind(name).execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound(format!("no sensor `{name}`")));
        }
        Ok(())
    }

    /// Sets when a sensor's secret stops working.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; the database error.
    pub async fn set_secret_expiry(&self, name: &str, at: i64) -> Result<(), StoreError> {
        let n = dispatch!(self, p => sqlx::query(
            "UPDATE sensors SET secret_expires_at = $1 WHERE name = $2")
            .bind(at).bind(name).execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound(format!("no sensor `{name}`")));
        }
        Ok(())
    }

    /// Replaces an authenticated sensor's secret (renewal): the old one
    /// stops working at once.
    ///
    /// # Errors
    /// The database error.
    pub async fn renew_sensor(
        &self,
        sensor_id: i64,
        secret_hash: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        dispatch!(self, p => {
            sqlx::query("UPDATE sensors SET secret_hash = $1, secret_expires_at = $2 \
                         WHERE id = $3 AND revoked_at IS NULL")
                .bind(secret_hash).bind(expires_at).bind(sensor_id).execute(p).await?;
        });
        Ok(())
    }

    /// Records a heartbeat: its figures (JSON) and the time; the sensor is
    /// `ok` again. Returns the state it had before.
    ///
    /// # Errors
    /// The database error.
    pub async fn heartbeat(&self, sensor_id: i64, health: &str) -> Result<String, StoreError> {
        let now = now_micros();
        let before: Option<(String,)> = dispatch!(self, p => sqlx::query_as(
            "SELECT state FROM sensors WHERE id = $1").bind(sensor_id).fetch_optional(p).await?);
        dispatch!(self, p => {
            sqlx::query("UPDATE sensors SET last_heartbeat = $1, last_seen = $1, health = $2, \
                         state = 'ok' WHERE id = $3 AND revoked_at IS NULL")
                .bind(now).bind(health).bind(sensor_id).execute(p).await?;
        });
        Ok(before.map(|b| b.0).unwrap_or_default())
    }

    /// Moves a sensor from state `from` to `to` (`ok`, `late`,
    /// `offline`); returns whether it was still in `from` (so that two
    /// watchers never both act on one change).
    ///
    /// # Errors
    /// The database error.
    pub async fn set_sensor_state(
        &self,
        name: &str,
        from: &str,
        to: &str,
    ) -> Result<bool, StoreError> {
        let n = dispatch!(self, p => sqlx::query(
            "UPDATE sensors SET state = $1 WHERE name = $2 AND state = $3 AND revoked_at IS NULL")
            .bind(to).bind(name).bind(from).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// The sensors in `scope_path`'s subtree (all real sensors, enrolled or
    /// not; not central's own pseudo-sensor), by unit and name.
    ///
    /// # Errors
    /// The database error.
    pub async fn sensor_rows(&self, scope_path: &str) -> Result<Vec<SensorRow>, StoreError> {
        let sql =
            format!("{SENSOR_ROW} WHERE u.path LIKE $1 AND s.name <> $2 ORDER BY u.path, s.name");
        Ok(
            dispatch!(self, p => sqlx::query_as::<_, SensorRow>(sqlx::AssertSqlSafe(sql))
            .bind(format!("{scope_path}%")).bind(super::CENTRAL_SENSOR).fetch_all(p).await?),
        )
    }

    /// One sensor's row.
    ///
    /// # Errors
    /// The database error.
    pub async fn sensor_row(&self, name: &str) -> Result<Option<SensorRow>, StoreError> {
        let sql = format!("{SENSOR_ROW} WHERE s.name = $1");
        Ok(
            dispatch!(self, p => sqlx::query_as::<_, SensorRow>(sqlx::AssertSqlSafe(sql))
            .bind(name).fetch_optional(p).await?),
        )
    }

    // ------------------------------------------------------------- commands

    /// Queues a command for a sensor; returns its id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown sensor; the database error.
    pub async fn add_command(
        &self,
        sensor: &str,
        kind: &str,
        args: &serde_json::Value,
        created_by: &str,
        ttl_micros: i64,
    ) -> Result<i64, StoreError> {
        let s = self
            .sensor(sensor)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no sensor `{sensor}`")))?;
        let now = now_micros();
        let args = args.to_string();
        let (id,): (i64,) = dispatch!(self, p => sqlx::query_as(
            "INSERT INTO commands (sensor_id, kind, args, created_by, created_at, expires_at, status) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending') RETURNING id")
            .bind(s.id).bind(kind).bind(&args).bind(created_by).bind(now).bind(now + ttl_micros)
            .fetch_one(p).await?);
        Ok(id)
    }

    /// The commands a sensor should run now: pending ones, and delivered
    /// ones not reported yet (redelivery; see the module doc). Marks them
    /// delivered and expires the stale ones first.
    ///
    /// # Errors
    /// The database error.
    pub async fn take_commands(&self, sensor_id: i64) -> Result<Vec<CommandRow>, StoreError> {
        let now = now_micros();
        let sql = format!(
            "{COMMAND_ROW} WHERE c.sensor_id = $1 AND c.status IN ('pending', 'delivered') \
             AND c.expires_at > $2 ORDER BY c.id"
        );
        dispatch!(self, p => {
            sqlx::query("UPDATE commands SET status = 'expired' \
                         WHERE sensor_id = $1 AND status IN ('pending', 'delivered') AND expires_at <= $2")
                .bind(sensor_id).bind(now).execute(p).await?;
            sqlx::query("UPDATE commands SET status = 'delivered', delivered_at = $2 \
                         WHERE sensor_id = $1 AND status = 'pending' AND expires_at > $2")
                .bind(sensor_id).bind(now).execute(p).await?;
        });
        Ok(
            dispatch!(self, p => sqlx::query_as::<_, CommandRow>(sqlx::AssertSqlSafe(sql))
            .bind(sensor_id).bind(now).fetch_all(p).await?),
        )
    }

    /// Records a sensor's report on one of its commands. A report on a
    /// command already finished changes nothing (the sensor resent it).
    /// Returns whether the command belongs to the sensor.
    ///
    /// # Errors
    /// The database error.
    pub async fn finish_command(
        &self,
        sensor_id: i64,
        id: i64,
        ok: bool,
        result: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        let now = now_micros();
        let status = if ok { "done" } else { "failed" };
        let owned: Option<(i64,)> = dispatch!(self, p => sqlx::query_as(
            "SELECT id FROM commands WHERE id = $1 AND sensor_id = $2")
            .bind(id).bind(sensor_id).fetch_optional(p).await?);
        if owned.is_none() {
            return Ok(false);
        }
        dispatch!(self, p => {
            sqlx::query("UPDATE commands SET status = $1, result = $2, done_at = $3 \
                         WHERE id = $4 AND status IN ('pending', 'delivered', 'expired')")
                .bind(status).bind(result.to_string()).bind(now).bind(id).execute(p).await?;
        });
        Ok(true)
    }

    /// A sensor's latest commands, newest first.
    ///
    /// # Errors
    /// The database error.
    pub async fn commands_of(
        &self,
        sensor: &str,
        limit: i64,
    ) -> Result<Vec<CommandRow>, StoreError> {
        let sql = format!("{COMMAND_ROW} WHERE s.name = $1 ORDER BY c.id DESC LIMIT $2");
        Ok(
            dispatch!(self, p => sqlx::query_as::<_, CommandRow>(sqlx::AssertSqlSafe(sql))
            .bind(sensor).bind(limit).fetch_all(p).await?),
        )
    }

    /// One command.
    ///
    /// # Errors
    /// The database error.
    pub async fn command(&self, id: i64) -> Result<Option<CommandRow>, StoreError> {
        let sql = format!("{COMMAND_ROW} WHERE c.id = $1");
        Ok(
            dispatch!(self, p => sqlx::query_as::<_, CommandRow>(sqlx::AssertSqlSafe(sql))
            .bind(id).fetch_optional(p).await?),
        )
    }

    // --------------------------------------------------------- rule bundles

    /// Stores a new version of the rule bundle `name` (files as a JSON
    /// object of relative path → text); returns the version.
    ///
    /// # Errors
    /// The database error.
    pub async fn add_bundle(
        &self,
        name: &str,
        files: &serde_json::Value,
        sha256: &str,
        created_by: &str,
    ) -> Result<i64, StoreError> {
        let now = now_micros();
        let files = files.to_string();
        let (last,): (Option<i64>,) = dispatch!(self, p => sqlx::query_as(
            "SELECT MAX(version) FROM rule_bundles WHERE name = $1").bind(name).fetch_one(p).await?);
        let version = last.unwrap_or(0) + 1;
        dispatch!(self, p => {
            sqlx::query("INSERT INTO rule_bundles (name, version, sha256, files, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(name).bind(version).bind(sha256).bind(&files).bind(created_by).bind(now)
                .execute(p).await?;
        });
        Ok(version)
    }

    /// A bundle version: `(sha256, files JSON)`.
    ///
    /// # Errors
    /// The database error.
    pub async fn bundle(
        &self,
        name: &str,
        version: i64,
    ) -> Result<Option<(String, String)>, StoreError> {
        Ok(dispatch!(self, p => sqlx::query_as(
            "SELECT sha256, files FROM rule_bundles WHERE name = $1 AND version = $2")
            .bind(name).bind(version).fetch_optional(p).await?))
    }
}
