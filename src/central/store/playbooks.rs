//! Playbooks, their runs and tasks in the store.
//!
//! A run is persisted step by step: every step execution is a `run_steps`
//! row whose status moves ready → running → waiting → succeeded/failed, and
//! a step and the step it leads to change in one transaction, so a central
//! killed at any point restarts with every run where it was (a step caught
//! `running` is run again: automated actions are at-least-once). Rows of a
//! branch (of a parallel, if, while or switch step) name the step waiting
//! for it in `parent`.

use serde::Serialize;

use super::{Store, StoreError, now_micros};

/// A stored playbook.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PlaybookRow {
    pub id: i64,
    /// `playbook--<uuid>`.
    pub cacao_id: String,
    pub name: String,
    pub description: String,
    /// JSON list.
    pub labels: String,
    /// `bundled` or `imported`.
    pub source: String,
    /// The CACAO JSON as imported.
    pub body: String,
    pub imported_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl PlaybookRow {
    /// The labels as a list.
    pub fn label_list(&self) -> Vec<String> {
        serde_json::from_str(&self.labels).unwrap_or_default()
    }
}

/// A run of a playbook for an incident.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub playbook_id: i64,
    pub playbook_name: String,
    pub cacao_id: String,
    pub incident_id: i64,
    /// The `playbook-action` step that started it, for a child run.
    pub parent_step: Option<i64>,
    /// `running`, `completed`, `failed`, `aborted`.
    pub status: String,
    /// JSON object: variable → value.
    pub variables: String,
    pub error: Option<String>,
    pub started_by: String,
    pub started_at: i64,
    pub updated_at: i64,
    pub ended_at: Option<i64>,
}

/// One execution of a step in a run.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RunStepRow {
    pub id: i64,
    pub run_id: i64,
    pub step_id: String,
    pub parent: Option<i64>,
    /// `ready`, `running`, `waiting`, `succeeded`, `failed`.
    pub status: String,
    pub not_before: i64,
    /// For a waiting step: when to look at it again (a task's due time, the
    /// next check of a sensor command).
    pub deadline: Option<i64>,
    pub iteration: i64,
    /// JSON: what a waiting step is waiting for.
    pub state: String,
    pub result: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
}

/// A task for people, from a manual step.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TaskRow {
    pub id: i64,
    pub run_step_id: i64,
    pub run_id: i64,
    pub incident_id: i64,
    pub incident_title: String,
    pub unit: String,
    pub unit_path: String,
    pub title: String,
    pub description: String,
    /// `coordinator`, `unit-staff`, `admin`.
    pub role: String,
    pub assignee: Option<String>,
    /// JSON list of `{ "text", "done" }`.
    pub checklist: String,
    /// The variable an answer fills, for an approval.
    pub answer_var: Option<String>,
    /// JSON list of suggested answers.
    pub answer_options: String,
    pub answer: Option<String>,
    pub evidence: String,
    /// `open`, `done`, `failed` (timed out), `cancelled`.
    pub status: String,
    pub due_at: Option<i64>,
    pub created_at: i64,
    pub done_at: Option<i64>,
    pub done_by: Option<String>,
}

/// A new task.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub title: String,
    pub description: String,
    pub role: String,
    pub checklist: String,
    pub answer_var: Option<String>,
    pub answer_options: String,
    pub due_at: Option<i64>,
}

const RUN_ROW: &str = "SELECT r.id, r.playbook_id, p.name AS playbook_name, p.cacao_id, r.incident_id, \
    r.parent_step, r.status, r.variables, r.error, r.started_by, r.started_at, r.updated_at, r.ended_at \
    FROM playbook_runs r JOIN playbooks p ON p.id = r.playbook_id";

const STEP_ROW: &str = "SELECT id, run_id, step_id, parent, status, not_before, deadline, iteration, \
    state, result, created_at, started_at, ended_at FROM run_steps";

const TASK_ROW: &str = "SELECT t.id, t.run_step_id, t.run_id, t.incident_id, i.title AS incident_title, \
    u.name AS unit, u.path AS unit_path, t.title, t.description, t.role, t.assignee, t.checklist, \
    t.answer_var, t.answer_options, t.answer, t.evidence, t.status, t.due_at, t.created_at, t.done_at, \
    t.done_by FROM tasks t JOIN incidents i ON i.id = t.incident_id JOIN units u ON u.id = t.unit_id";

const PLAYBOOK_ROW: &str = "SELECT id, cacao_id, name, description, labels, source, body, imported_by, \
    created_at, updated_at FROM playbooks";

impl Store {
    /// Stores a playbook, or replaces the one with the same CACAO id.
    /// Returns its row id and whether it was new.
    ///
    /// # Errors
    /// The database error.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_playbook(
        &self,
        cacao_id: &str,
        name: &str,
        description: &str,
        labels: &[String],
        source: &str,
        body: &str,
        by: &str,
    ) -> Result<(i64, bool), StoreError> {
        let now = now_micros();
        let labels = serde_json::to_string(labels).unwrap_or_else(|_| "[]".into());
        let existing: Option<(i64, String)> = dispatch!(self, p => sqlx::query_as(
            "SELECT id, body FROM playbooks WHERE cacao_id = $1").bind(cacao_id).fetch_optional(p).await?);
        if let Some((id, old)) = existing {
            if old != body {
                dispatch!(self, p => { sqlx::query(
                    "UPDATE playbooks SET name = $1, description = $2, labels = $3, source = $4, body = $5, \
                     imported_by = $6, updated_at = $7 WHERE id = $8")
                    .bind(name).bind(description).bind(&labels).bind(source).bind(body).bind(by).bind(now).bind(id)
                    .execute(p).await?; });
            }
            return Ok((id, false));
        }
        let (id,): (i64,) = dispatch!(self, p => sqlx::query_as(
            "INSERT INTO playbooks (cacao_id, name, description, labels, source, body, imported_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id")
            .bind(cacao_id).bind(name).bind(description).bind(&labels).bind(source).bind(body).bind(by).bind(now)
            .fetch_one(p).await?);
        Ok((id, true))
    }

    /// Every stored playbook, by name.
    ///
    /// # Errors
    /// The database error.
    pub async fn playbooks(&self) -> Result<Vec<PlaybookRow>, StoreError> {
        let sql = format!("{PLAYBOOK_ROW} ORDER BY name, id");
        Ok(dispatch!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?))
    }

    /// A playbook by row id or CACAO id.
    ///
    /// # Errors
    /// The database error.
    pub async fn playbook(&self, key: &str) -> Result<Option<PlaybookRow>, StoreError> {
        let id: i64 = key.parse().unwrap_or(-1);
        let sql = format!("{PLAYBOOK_ROW} WHERE id = $1 OR cacao_id = $2");
        Ok(
            dispatch!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).bind(key).fetch_optional(p).await?),
        )
    }

    /// Starts a run at `first_step`; returns the run id.
    ///
    /// # Errors
    /// The database error.
    #[allow(clippy::too_many_arguments)]
    pub async fn start_run(
        &self,
        playbook_id: i64,
        incident_id: i64,
        parent_step: Option<i64>,
        variables: &serde_json::Map<String, serde_json::Value>,
        by: &str,
        first_step: &str,
        not_before: i64,
    ) -> Result<i64, StoreError> {
        let now = now_micros();
        let vars = serde_json::Value::Object(variables.clone()).to_string();
        Ok(dispatch!(self, p => {
            let mut tx = p.begin().await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO playbook_runs (playbook_id, incident_id, parent_step, status, variables, started_by, started_at, updated_at) \
                 VALUES ($1, $2, $3, 'running', $4, $5, $6, $6) RETURNING id")
                .bind(playbook_id).bind(incident_id).bind(parent_step).bind(&vars).bind(by).bind(now)
                .fetch_one(&mut *tx).await?;
            sqlx::query("INSERT INTO run_steps (run_id, step_id, parent, status, not_before, created_at) \
                         VALUES ($1, $2, NULL, 'ready', $3, $4)")
                .bind(id).bind(first_step).bind(not_before).bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            id
        }))
    }

    /// A run.
    ///
    /// # Errors
    /// The database error.
    pub async fn run(&self, id: i64) -> Result<Option<RunRow>, StoreError> {
        let sql = format!("{RUN_ROW} WHERE r.id = $1");
        Ok(
            dispatch!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?),
        )
    }

    /// The runs for an incident, oldest first.
    ///
    /// # Errors
    /// The database error.
    pub async fn runs_of(&self, incident_id: i64) -> Result<Vec<RunRow>, StoreError> {
        let sql = format!("{RUN_ROW} WHERE r.incident_id = $1 ORDER BY r.id");
        Ok(
            dispatch!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(incident_id).fetch_all(p).await?),
        )
    }

    /// Every step execution of a run, in order.
    ///
    /// # Errors
    /// The database error.
    pub async fn run_steps(&self, run_id: i64) -> Result<Vec<RunStepRow>, StoreError> {
        let sql = format!("{STEP_ROW} WHERE run_id = $1 ORDER BY id");
        Ok(
            dispatch!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(run_id).fetch_all(p).await?),
        )
    }

    /// One step execution.
    ///
    /// # Errors
    /// The database error.
    pub async fn run_step(&self, id: i64) -> Result<Option<RunStepRow>, StoreError> {
        let sql = format!("{STEP_ROW} WHERE id = $1");
        Ok(
            dispatch!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?),
        )
    }

    /// Steps the engine should look at now: ready ones whose delay is over,
    /// waiting ones whose time to look again has come.
    ///
    /// # Errors
    /// The database error.
    pub async fn due_steps(&self, now: i64, limit: i64) -> Result<Vec<RunStepRow>, StoreError> {
        let sql = format!(
            "{STEP_ROW} WHERE (status = 'ready' AND not_before <= $1) \
             OR (status = 'waiting' AND deadline IS NOT NULL AND deadline <= $1) ORDER BY id LIMIT $2"
        );
        Ok(
            dispatch!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now).bind(limit).fetch_all(p).await?),
        )
    }

    /// Makes a step of the main line ready (a run's `workflow_exception`).
    ///
    /// # Errors
    /// The database error.
    pub async fn add_step(
        &self,
        run_id: i64,
        step_id: &str,
        not_before: i64,
    ) -> Result<(), StoreError> {
        dispatch!(self, p => { sqlx::query(
            "INSERT INTO run_steps (run_id, step_id, parent, status, not_before, created_at) \
             VALUES ($1, $2, NULL, 'ready', $3, $4)")
            .bind(run_id).bind(step_id).bind(not_before).bind(now_micros())
            .execute(p).await?; });
        Ok(())
    }

    /// After a restart: steps caught running go back to ready (run again).
    ///
    /// # Errors
    /// The database error.
    pub async fn requeue_running_steps(&self) -> Result<u64, StoreError> {
        Ok(
            dispatch!(self, p => sqlx::query("UPDATE run_steps SET status = 'ready' WHERE status = 'running'")
            .execute(p).await?.rows_affected()),
        )
    }

    /// Moves a step from `from` to `to` (compare-and-set); false when
    /// someone else moved it first.
    ///
    /// # Errors
    /// The database error.
    pub async fn move_step(
        &self,
        id: i64,
        from: &str,
        to: &str,
        deadline: Option<i64>,
        state: &str,
    ) -> Result<bool, StoreError> {
        let now = now_micros();
        Ok(dispatch!(self, p => sqlx::query(
            "UPDATE run_steps SET status = $1, deadline = $2, state = $3, \
             started_at = COALESCE(started_at, $4) WHERE id = $5 AND status = $6")
            .bind(to).bind(deadline).bind(state).bind(now).bind(id).bind(from)
            .execute(p).await?.rows_affected() == 1))
    }

    /// Puts a waiting (or running) step back to ready for another round
    /// (a while step re-evaluating its condition).
    ///
    /// # Errors
    /// The database error.
    pub async fn repeat_step(&self, id: i64, from: &str, state: &str) -> Result<bool, StoreError> {
        Ok(dispatch!(self, p => sqlx::query(
            "UPDATE run_steps SET status = 'ready', iteration = iteration + 1, state = $1, deadline = NULL \
             WHERE id = $2 AND status = $3")
            .bind(state).bind(id).bind(from).execute(p).await?.rows_affected() == 1))
    }

    /// Finishes a step (from `from`, compare-and-set) and, in the same
    /// transaction, makes the steps it leads to ready (`next`: step id and
    /// its `not_before`), as children of `parent`. False when someone else
    /// finished it first.
    ///
    /// # Errors
    /// The database error.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_step(
        &self,
        id: i64,
        from: &str,
        ok: bool,
        result: &str,
        run_id: i64,
        parent: Option<i64>,
        next: &[(String, i64)],
    ) -> Result<bool, StoreError> {
        let now = now_micros();
        let status = if ok { "succeeded" } else { "failed" };
        Ok(dispatch!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE run_steps SET status = $1, result = $2, ended_at = $3, deadline = NULL, \
                 started_at = COALESCE(started_at, $3) WHERE id = $4 AND status = $5")
                .bind(status).bind(result).bind(now).bind(id).bind(from)
                .execute(&mut *tx).await?.rows_affected();
            if n != 1 {
                return Ok(false);
            }
            for (step, not_before) in next {
                sqlx::query("INSERT INTO run_steps (run_id, step_id, parent, status, not_before, created_at) \
                             VALUES ($1, $2, $3, 'ready', $4, $5)")
                    .bind(run_id).bind(step).bind(parent).bind(not_before).bind(now)
                    .execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE playbook_runs SET updated_at = $1 WHERE id = $2")
                .bind(now).bind(run_id).execute(&mut *tx).await?;
            tx.commit().await?;
            true
        }))
    }

    /// Starts branches under a waiting `parent` step: the parent moves from
    /// `from` to waiting with `state`, and each branch's first step becomes
    /// ready, in one transaction. False when the parent had moved.
    ///
    /// # Errors
    /// The database error.
    pub async fn open_branches(
        &self,
        parent: &RunStepRow,
        from: &str,
        state: &str,
        branches: &[(String, i64)],
    ) -> Result<bool, StoreError> {
        let now = now_micros();
        Ok(dispatch!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE run_steps SET status = 'waiting', state = $1, deadline = NULL, \
                 started_at = COALESCE(started_at, $2) WHERE id = $3 AND status = $4")
                .bind(state).bind(now).bind(parent.id).bind(from)
                .execute(&mut *tx).await?.rows_affected();
            if n != 1 {
                return Ok(false);
            }
            for (step, not_before) in branches {
                sqlx::query("INSERT INTO run_steps (run_id, step_id, parent, status, not_before, created_at) \
                             VALUES ($1, $2, $3, 'ready', $4, $5)")
                    .bind(parent.run_id).bind(step).bind(parent.id).bind(not_before).bind(now)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            true
        }))
    }

    /// How many steps under `parent` are still ready, running or waiting.
    ///
    /// # Errors
    /// The database error.
    pub async fn active_children(&self, parent: i64) -> Result<i64, StoreError> {
        let (n,): (i64,) = dispatch!(self, p => sqlx::query_as(
            "SELECT COUNT(*) FROM run_steps WHERE parent = $1 AND status IN ('ready', 'running', 'waiting')")
            .bind(parent).fetch_one(p).await?);
        Ok(n)
    }

    /// Updates a waiting step's state (e.g. a branch failed) without moving it.
    ///
    /// # Errors
    /// The database error.
    pub async fn set_step_state(&self, id: i64, state: &str) -> Result<(), StoreError> {
        dispatch!(self, p => { sqlx::query("UPDATE run_steps SET state = $1 WHERE id = $2")
            .bind(state).bind(id).execute(p).await?; });
        Ok(())
    }

    /// Sets a run's variables.
    ///
    /// # Errors
    /// The database error.
    pub async fn set_run_variables(&self, run_id: i64, vars: &str) -> Result<(), StoreError> {
        dispatch!(self, p => { sqlx::query("UPDATE playbook_runs SET variables = $1, updated_at = $2 WHERE id = $3")
            .bind(vars).bind(now_micros()).bind(run_id).execute(p).await?; });
        Ok(())
    }

    /// Ends a running run (`completed`, `failed`, `aborted`): its
    /// unfinished steps fail and its open tasks are cancelled. False when
    /// it had already ended.
    ///
    /// # Errors
    /// The database error.
    pub async fn end_run(
        &self,
        run_id: i64,
        status: &str,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = now_micros();
        Ok(dispatch!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query("UPDATE playbook_runs SET status = $1, error = $2, ended_at = $3, updated_at = $3 \
                                 WHERE id = $4 AND status = 'running'")
                .bind(status).bind(error).bind(now).bind(run_id).execute(&mut *tx).await?.rows_affected();
            if n != 1 {
                return Ok(false);
            }
            sqlx::query("UPDATE run_steps SET status = 'failed', result = $1, ended_at = $2, deadline = NULL \
                         WHERE run_id = $3 AND status IN ('ready', 'running', 'waiting')")
                .bind(format!("run {status}")).bind(now).bind(run_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE tasks SET status = 'cancelled', done_at = $1 WHERE run_id = $2 AND status = 'open'")
                .bind(now).bind(run_id).execute(&mut *tx).await?;
            tx.commit().await?;
            true
        }))
    }

    /// Creates a step's task and moves the step to waiting (until
    /// `deadline`, its due time), in one transaction; returns the task id,
    /// or `None` when the step had moved.
    ///
    /// # Errors
    /// The database error.
    pub async fn open_task(
        &self,
        step: &RunStepRow,
        incident_id: i64,
        t: &NewTask,
    ) -> Result<Option<i64>, StoreError> {
        let now = now_micros();
        Ok(dispatch!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE run_steps SET status = 'waiting', deadline = $1, started_at = COALESCE(started_at, $2) \
                 WHERE id = $3 AND status = 'running'")
                .bind(t.due_at).bind(now).bind(step.id).execute(&mut *tx).await?.rows_affected();
            if n != 1 {
                return Ok(None);
            }
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO tasks (run_step_id, run_id, incident_id, unit_id, title, description, role, checklist, \
                 answer_var, answer_options, status, due_at, created_at) \
                 SELECT $1, $2, i.id, i.unit_id, $3, $4, $5, $6, $7, $8, 'open', $9, $10 FROM incidents i WHERE i.id = $11 \
                 RETURNING id")
                .bind(step.id).bind(step.run_id).bind(&t.title).bind(&t.description).bind(&t.role)
                .bind(&t.checklist).bind(&t.answer_var).bind(&t.answer_options).bind(t.due_at).bind(now)
                .bind(incident_id)
                .fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Some(id)
        }))
    }

    /// A task.
    ///
    /// # Errors
    /// The database error.
    pub async fn task(&self, id: i64) -> Result<Option<TaskRow>, StoreError> {
        let sql = format!("{TASK_ROW} WHERE t.id = $1");
        Ok(
            dispatch!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?),
        )
    }

    /// The task of a step execution.
    ///
    /// # Errors
    /// The database error.
    pub async fn task_of_step(&self, run_step_id: i64) -> Result<Option<TaskRow>, StoreError> {
        let sql = format!("{TASK_ROW} WHERE t.run_step_id = $1");
        Ok(
            dispatch!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(run_step_id).fetch_optional(p).await?),
        )
    }

    /// Tasks in `scope_path`'s units, open ones first (newest first
    /// within), at most `limit`; `status` filters when given.
    ///
    /// # Errors
    /// The database error.
    pub async fn tasks(
        &self,
        scope_path: &str,
        status: Option<&str>,
        incident: Option<i64>,
        limit: i64,
    ) -> Result<Vec<TaskRow>, StoreError> {
        let sql = format!(
            "{TASK_ROW} WHERE u.path LIKE $1 AND ($2 = '' OR t.status = $2) AND ($3 < 0 OR t.incident_id = $3) \
             ORDER BY CASE WHEN t.status = 'open' THEN 0 ELSE 1 END, t.due_at IS NULL, t.due_at, t.id DESC LIMIT $4"
        );
        Ok(
            dispatch!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(format!("{scope_path}%")).bind(status.unwrap_or("")).bind(incident.unwrap_or(-1)).bind(limit)
            .fetch_all(p).await?),
        )
    }

    /// Marks an open task done (compare-and-set); false when it was not open.
    ///
    /// # Errors
    /// The database error.
    pub async fn close_task(
        &self,
        id: i64,
        status: &str,
        answer: Option<&str>,
        evidence: &str,
        checklist: &str,
        by: &str,
    ) -> Result<bool, StoreError> {
        Ok(dispatch!(self, p => sqlx::query(
            "UPDATE tasks SET status = $1, answer = $2, evidence = $3, checklist = $4, done_by = $5, done_at = $6 \
             WHERE id = $7 AND status = 'open'")
            .bind(status).bind(answer).bind(evidence).bind(checklist).bind(by).bind(now_micros()).bind(id)
            .execute(p).await?.rows_affected() == 1))
    }

    /// Saves progress on an open task (checklist, evidence) without closing it.
    ///
    /// # Errors
    /// The database error.
    pub async fn update_task(
        &self,
        id: i64,
        evidence: &str,
        checklist: &str,
        assignee: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(dispatch!(self, p => sqlx::query(
            "UPDATE tasks SET evidence = $1, checklist = $2, assignee = COALESCE($3, assignee) WHERE id = $4 AND status = 'open'")
            .bind(evidence).bind(checklist).bind(assignee).bind(id)
            .execute(p).await?.rows_affected() == 1))
    }

    /// Whether an incident's timeline has an entry of `kind` with `text`.
    ///
    /// # Errors
    /// The database error.
    pub async fn has_timeline(
        &self,
        incident_id: i64,
        kind: &str,
        text: &str,
    ) -> Result<bool, StoreError> {
        let row: Option<(i64,)> = dispatch!(self, p => sqlx::query_as(
            "SELECT id FROM incident_timeline WHERE incident_id = $1 AND kind = $2 AND text = $3 LIMIT 1")
            .bind(incident_id).bind(kind).bind(text).fetch_optional(p).await?);
        Ok(row.is_some())
    }

    /// Adds an entry to an incident's timeline.
    ///
    /// # Errors
    /// The database error.
    pub async fn timeline_add(
        &self,
        incident_id: i64,
        actor: &str,
        kind: &str,
        text: &str,
        details: &serde_json::Value,
    ) -> Result<(), StoreError> {
        dispatch!(self, p => { sqlx::query(
            "INSERT INTO incident_timeline (incident_id, at, actor, kind, text, details) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(incident_id).bind(now_micros()).bind(actor).bind(kind).bind(text).bind(details.to_string())
            .execute(p).await?; });
        Ok(())
    }

    /// Sets incident fields a playbook or a person may change directly
    /// (category, TLP, tags, severity, serious, reported time); `None`
    /// leaves a field as it is.
    ///
    /// # Errors
    /// The database error.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_incident_fields(
        &self,
        id: i64,
        category: Option<&str>,
        tlp: Option<&str>,
        tags: Option<&str>,
        severity: Option<i64>,
        serious: Option<bool>,
        reported_at: Option<i64>,
    ) -> Result<(), StoreError> {
        dispatch!(self, p => { sqlx::query(
            "UPDATE incidents SET category = COALESCE($1, category), tlp = COALESCE($2, tlp), \
             tags = COALESCE($3, tags), severity = COALESCE($4, severity), serious = COALESCE($5, serious), \
             reported_at = COALESCE(reported_at, $6), updated_at = $7 WHERE id = $8")
            .bind(category).bind(tlp).bind(tags).bind(severity).bind(serious.map(i64::from)).bind(reported_at)
            .bind(now_micros()).bind(id)
            .execute(p).await?; });
        Ok(())
    }
}
