//! Drill runs in the store: one row per scenario played for one unit, and
//! the run's own record (`drill_events`) of what central did and what the
//! team answered. Everything the team does in the console is already
//! recorded on the drill incident (timeline, playbook runs, tasks); the
//! score and the after-action report are built from both.

use serde::Serialize;

use super::{INCIDENT_COLUMNS, IncidentRow, Store, StoreError, now_micros};
use crate::event::Event;

/// A drill run.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DrillRunRow {
    pub id: i64,
    /// The scenario's file stem.
    pub scenario: String,
    pub title: String,
    pub unit: String,
    pub unit_title: String,
    pub unit_path: String,
    /// `sensor` or `tabletop`.
    pub mode: String,
    /// `scheduled`, `running`, `paused`, `finished`, `stopped`.
    pub status: String,
    pub start_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub paused_at: Option<i64>,
    /// Time spent paused so far (not counted in the scenario's clock).
    pub paused_micros: i64,
    pub created_by: String,
    pub created_at: i64,
    pub score: Option<i64>,
    pub score_max: Option<i64>,
    /// JSON: the score breakdown, kept when the run ends.
    pub breakdown: Option<String>,
}

impl DrillRunRow {
    /// The tag its events, alerts and incidents carry.
    pub fn tag(&self) -> String {
        self.id.to_string()
    }

    /// Microseconds of scenario time at `now` (pauses not counted).
    pub fn elapsed(&self, now: i64) -> i64 {
        let Some(start) = self.started_at else {
            return 0;
        };
        let until = self.ended_at.or(self.paused_at).unwrap_or(now);
        (until - start - self.paused_micros).max(0)
    }

    /// Whether the run is over.
    pub fn is_over(&self) -> bool {
        matches!(self.status.as_str(), "finished" | "stopped")
    }
}

/// One entry of a run's record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DrillEventRow {
    pub id: i64,
    pub run_id: i64,
    pub at: i64,
    /// `scheduled`, `start`, `inject`, `inject_failed`, `message`,
    /// `answer`, `action`, `pause`, `resume`, `stop`, `finish`.
    pub kind: String,
    /// The inject id, for injects and answers.
    pub inject: Option<String>,
    pub actor: String,
    /// JSON.
    pub detail: String,
}

impl DrillEventRow {
    /// The detail as JSON.
    pub fn detail_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.detail).unwrap_or(serde_json::Value::Null)
    }
}

const RUN_ROW: &str = "SELECT d.id, d.scenario, d.title, u.name AS unit, u.title AS unit_title, \
    u.path AS unit_path, d.mode, d.status, d.start_at, d.started_at, d.ended_at, d.paused_at, \
    d.paused_micros, d.created_by, d.created_at, d.score, d.score_max, d.breakdown \
    FROM drill_runs d JOIN units u ON u.id = d.unit_id";

impl Store {
    /// Schedules a run; returns its id.
    ///
    /// # Errors
    /// The database error.
    pub async fn add_drill_run(
        &self,
        scenario: &str,
        title: &str,
        unit_id: i64,
        mode: &str,
        start_at: i64,
        by: &str,
    ) -> Result<i64, StoreError> {
        let now = now_micros();
        let (id,): (i64,) = dispatch!(self, p => sqlx::query_as(
            "INSERT INTO drill_runs (scenario, title, unit_id, mode, status, start_at, created_by, created_at) \
             VALUES ($1, $2, $3, $4, 'scheduled', $5, $6, $7) RETURNING id")
            .bind(scenario).bind(title).bind(unit_id).bind(mode).bind(start_at).bind(by).bind(now)
            .fetch_one(p).await?);
        Ok(id)
    }

    /// A run.
    ///
    /// # Errors
    /// The database error.
    pub async fn drill_run(&self, id: i64) -> Result<Option<DrillRunRow>, StoreError> {
        let sql = format!("{RUN_ROW} WHERE d.id = $1");
        Ok(
            dispatch!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?),
        )
    }

    /// The runs of units under `scope_path`, newest first.
    ///
    /// # Errors
    /// The database error.
    pub async fn drill_runs(
        &self,
        scope_path: &str,
        limit: i64,
    ) -> Result<Vec<DrillRunRow>, StoreError> {
        let sql = format!("{RUN_ROW} WHERE u.path LIKE $1 ORDER BY d.id DESC LIMIT $2");
        Ok(
            dispatch!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(format!("{scope_path}%")).bind(limit).fetch_all(p).await?),
        )
    }

    /// Runs the drill clock must look at: running ones, and scheduled ones
    /// whose time has come.
    ///
    /// # Errors
    /// The database error.
    pub async fn live_drill_runs(&self, now: i64) -> Result<Vec<DrillRunRow>, StoreError> {
        let sql = format!(
            "{RUN_ROW} WHERE d.status = 'running' OR (d.status = 'scheduled' AND d.start_at <= $1) \
             ORDER BY d.id"
        );
        Ok(
            dispatch!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now).fetch_all(p).await?),
        )
    }

    /// Moves a run from one status to another (only from `from`, so two
    /// clicks or two ticks cannot both do it); returns whether it moved.
    /// `started` sets the start time, `paused` the pause time; leaving
    /// `paused` adds the pause to `paused_micros`.
    ///
    /// # Errors
    /// The database error.
    pub async fn move_drill_run(
        &self,
        id: i64,
        from: &[&str],
        to: &str,
    ) -> Result<bool, StoreError> {
        let Some(run) = self.drill_run(id).await? else {
            return Ok(false);
        };
        if !from.contains(&run.status.as_str()) {
            return Ok(false);
        }
        let now = now_micros();
        let started = run.started_at.or((to == "running").then_some(now));
        let paused_at = (to == "paused").then_some(now);
        let paused_micros = run.paused_micros + run.paused_at.map_or(0, |p| (now - p).max(0));
        let ended = matches!(to, "finished" | "stopped").then_some(now);
        let n = dispatch!(self, p => sqlx::query(
            "UPDATE drill_runs SET status = $1, started_at = $2, paused_at = $3, paused_micros = $4, \
             ended_at = COALESCE(ended_at, $5) WHERE id = $6 AND status = $7")
            .bind(to).bind(started).bind(paused_at).bind(paused_micros).bind(ended).bind(id).bind(&run.status)
            .execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Keeps a finished run's score.
    ///
    /// # Errors
    /// The database error.
    pub async fn set_drill_score(
        &self,
        id: i64,
        score: i64,
        max: i64,
        breakdown: &str,
    ) -> Result<(), StoreError> {
        dispatch!(self, p => { sqlx::query(
            "UPDATE drill_runs SET score = $1, score_max = $2, breakdown = $3 WHERE id = $4")
            .bind(score).bind(max).bind(breakdown).bind(id).execute(p).await?; });
        Ok(())
    }

    /// Adds to a run's record.
    ///
    /// # Errors
    /// The database error.
    pub async fn add_drill_event(
        &self,
        run_id: i64,
        kind: &str,
        inject: Option<&str>,
        actor: &str,
        detail: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let now = now_micros();
        let (id,): (i64,) = dispatch!(self, p => sqlx::query_as(
            "INSERT INTO drill_events (run_id, at, kind, inject, actor, detail) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
            .bind(run_id).bind(now).bind(kind).bind(inject).bind(actor).bind(detail.to_string())
            .fetch_one(p).await?);
        Ok(id)
    }

    /// A run's record, in order.
    ///
    /// # Errors
    /// The database error.
    pub async fn drill_events(&self, run_id: i64) -> Result<Vec<DrillEventRow>, StoreError> {
        Ok(dispatch!(self, p => sqlx::query_as(
            "SELECT id, run_id, at, kind, inject, actor, detail FROM drill_events \
             WHERE run_id = $1 ORDER BY at, id")
            .bind(run_id).fetch_all(p).await?))
    }

    /// The incidents a run opened, oldest first.
    ///
    /// # Errors
    /// The database error.
    pub async fn drill_incidents(&self, tag: &str) -> Result<Vec<IncidentRow>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents i JOIN units u ON u.id = i.unit_id \
             WHERE i.drill = $1 ORDER BY i.id"
        );
        Ok(
            dispatch!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tag).fetch_all(p).await?),
        )
    }

    /// The alerts a run produced, as the sensors sent them, oldest first.
    ///
    /// # Errors
    /// The database error.
    pub async fn drill_alerts(&self, tag: &str) -> Result<Vec<(i64, Event)>, StoreError> {
        let rows: Vec<(i64, String)> = dispatch!(self, p => sqlx::query_as(
            "SELECT a.ts, e.body FROM alerts a JOIN events e ON e.event_id = a.event_id \
             WHERE a.drill = $1 ORDER BY a.ts, a.event_id")
            .bind(tag).fetch_all(p).await?);
        Ok(rows
            .into_iter()
            .filter_map(|(ts, body)| serde_json::from_str(&body).ok().map(|e| (ts, e)))
            .collect())
    }
}
