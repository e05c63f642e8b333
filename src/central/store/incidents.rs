//! The incident workflow in the store: status changes with reasons,
//! assignment, comments, and the timeline they write (see
//! [`crate::central::incident`] for the rules).

use serde::Serialize;

use super::{INCIDENT_COLUMNS, IncidentRow, Store, StoreError, now_micros};
use crate::central::incident::{Refusal, check_transition};

/// One entry of an incident's timeline.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TimelineRow {
    pub id: i64,
    pub at: i64,
    /// A user name or `system`.
    pub actor: String,
    /// `opened`, `status`, `assign`, `comment`.
    pub kind: String,
    pub text: String,
    /// JSON.
    pub details: String,
}

/// Why a workflow change was refused.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("no such incident in your units")]
    NotFound,
    #[error("{0}")]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for WorkflowError {
    fn from(e: sqlx::Error) -> Self {
        WorkflowError::Store(StoreError::Db(e))
    }
}

/// The longest comment, in characters.
pub const MAX_COMMENT: usize = 10_000;

impl Store {
    async fn scoped_incident(
        &self,
        id: i64,
        scope_path: &str,
    ) -> Result<IncidentRow, WorkflowError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents i JOIN units u ON u.id = i.unit_id \
             WHERE i.id = $1 AND u.path LIKE $2"
        );
        let row: Option<IncidentRow> = dispatch!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id).bind(format!("{scope_path}%")).fetch_optional(p).await?);
        row.ok_or(WorkflowError::NotFound)
    }

    /// Moves an incident to `to`, with a reason; the first time a step is
    /// reached its time is kept (for the response-time figures).
    ///
    /// # Errors
    /// [`WorkflowError::NotFound`] outside `scope_path`;
    /// [`WorkflowError::Refused`] for a change the workflow does not allow.
    pub async fn incident_status(
        &self,
        id: i64,
        scope_path: &str,
        to: &str,
        reason: &str,
        actor: &str,
    ) -> Result<IncidentRow, WorkflowError> {
        let inc = self.scoped_incident(id, scope_path).await?;
        check_transition(&inc.status, to, reason).map_err(WorkflowError::Refused)?;
        let now = now_micros();
        let to_rank = crate::central::incident::STATUSES
            .iter()
            .position(|s| *s == to)
            .unwrap_or(0);
        let details = serde_json::json!({ "from": inc.status, "to": to }).to_string();
        dispatch!(self, p => {
            let mut tx = p.begin().await?;
            // compare-and-set: two people changing it at once cannot both win
            let n = sqlx::query("UPDATE incidents SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4")
                .bind(to).bind(now).bind(id).bind(&inc.status)
                .execute(&mut *tx).await?.rows_affected();
            if n != 1 {
                return Err(WorkflowError::Refused(Refusal::Changed));
            }
            // every step up to `to` counts as reached now, if it was not
            // before (new → contained acknowledges too)
            for (i, c) in ["acknowledged_at", "contained_at", "resolved_at", "closed_at"].iter().enumerate() {
                if i < to_rank {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE incidents SET {c} = $1 WHERE id = $2 AND {c} IS NULL")))
                        .bind(now).bind(id).execute(&mut *tx).await?;
                }
            }
            sqlx::query("INSERT INTO incident_timeline (incident_id, at, actor, kind, text, details) \
                         VALUES ($1, $2, $3, 'status', $4, $5)")
                .bind(id).bind(now).bind(actor).bind(reason.trim()).bind(&details)
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        self.scoped_incident(id, scope_path).await
    }

    /// Assigns an incident to a user who can see it (`None`: unassigns).
    ///
    /// # Errors
    /// [`WorkflowError::NotFound`]; [`WorkflowError::Refused`] for an
    /// unknown user or one who cannot see the incident.
    pub async fn incident_assign(
        &self,
        id: i64,
        scope_path: &str,
        assignee: Option<&str>,
        actor: &str,
    ) -> Result<IncidentRow, WorkflowError> {
        let inc = self.scoped_incident(id, scope_path).await?;
        if let Some(name) = assignee {
            let Some(user) = self.user(name).await? else {
                return Err(WorkflowError::Refused(Refusal::NoUser(name.to_string())));
            };
            let unit = self.unit(&inc.unit).await?;
            if !unit.is_some_and(|u| u.path.starts_with(&user.unit_path)) {
                return Err(WorkflowError::Refused(Refusal::CannotSee(name.to_string())));
            }
        }
        let now = now_micros();
        let text = assignee.unwrap_or("").to_string();
        let details = serde_json::json!({ "from": inc.assignee, "to": assignee }).to_string();
        dispatch!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE incidents SET assignee = $1, updated_at = $2 WHERE id = $3")
                .bind(assignee).bind(now).bind(id).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO incident_timeline (incident_id, at, actor, kind, text, details) \
                         VALUES ($1, $2, $3, 'assign', $4, $5)")
                .bind(id).bind(now).bind(actor).bind(&text).bind(&details)
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        self.scoped_incident(id, scope_path).await
    }

    /// Adds a comment to an incident's timeline.
    ///
    /// # Errors
    /// [`WorkflowError::NotFound`]; [`WorkflowError::Refused`] for an empty
    /// or too long comment.
    pub async fn incident_comment(
        &self,
        id: i64,
        scope_path: &str,
        text: &str,
        actor: &str,
    ) -> Result<TimelineRow, WorkflowError> {
        self.scoped_incident(id, scope_path).await?;
        let text = text.trim();
        if text.is_empty() {
            return Err(WorkflowError::Refused(Refusal::EmptyComment));
        }
        if text.chars().count() > MAX_COMMENT {
            return Err(WorkflowError::Refused(Refusal::CommentTooLong(MAX_COMMENT)));
        }
        let now = now_micros();
        let (tid,): (i64,) = dispatch!(self, p => sqlx::query_as(
            "INSERT INTO incident_timeline (incident_id, at, actor, kind, text, details) \
             VALUES ($1, $2, $3, 'comment', $4, '{}') RETURNING id")
            .bind(id).bind(now).bind(actor).bind(text).fetch_one(p).await?);
        Ok(TimelineRow {
            id: tid,
            at: now,
            actor: actor.to_string(),
            kind: "comment".into(),
            text: text.to_string(),
            details: "{}".into(),
        })
    }

    /// An incident's timeline, oldest first.
    ///
    /// # Errors
    /// The database error.
    pub async fn incident_timeline(&self, id: i64) -> Result<Vec<TimelineRow>, StoreError> {
        Ok(dispatch!(self, p => sqlx::query_as::<_, TimelineRow>(
            "SELECT id, at, actor, kind, text, details FROM incident_timeline \
             WHERE incident_id = $1 ORDER BY id")
            .bind(id).fetch_all(p).await?))
    }
}

/// Mean response times of one unit's incidents (seconds).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct UnitResponse {
    pub unit: String,
    pub unit_title: String,
    pub incidents: i64,
    /// Mean time to detect: first alert → incident opened.
    pub mttd: Option<f64>,
    /// Mean times from opened to acknowledged, contained, resolved, over
    /// the incidents that reached the step.
    pub mtta: Option<f64>,
    pub mttc: Option<f64>,
    pub mttr: Option<f64>,
}

impl Store {
    /// Mean response times per unit over incidents opened since `since`
    /// (microseconds), within `scope_path`.
    ///
    /// # Errors
    /// The database error.
    pub async fn response_times(
        &self,
        scope_path: &str,
        since: i64,
    ) -> Result<Vec<UnitResponse>, StoreError> {
        // a step counts as reached when it or a later one was
        let mean = |first: &str| {
            format!(
                "CAST(AVG(CASE WHEN COALESCE({first}) IS NOT NULL \
                 THEN COALESCE({first}) - i.created_at END) / 1000000.0 AS DOUBLE PRECISION)"
            )
        };
        let sql = format!(
            "SELECT u.name AS unit, u.title AS unit_title, COUNT(*) AS incidents, \
             CAST(AVG(i.created_at - i.first_seen) / 1000000.0 AS DOUBLE PRECISION) AS mttd, \
             {} AS mtta, {} AS mttc, {} AS mttr \
             FROM incidents i JOIN units u ON u.id = i.unit_id \
             WHERE u.path LIKE $1 AND i.created_at >= $2 AND i.drill IS NULL \
             GROUP BY u.name, u.title ORDER BY u.name",
            mean("i.acknowledged_at, i.contained_at, i.resolved_at, i.closed_at"),
            mean("i.contained_at, i.resolved_at, i.closed_at"),
            mean("i.resolved_at, i.closed_at"),
        );
        Ok(
            dispatch!(self, p => sqlx::query_as::<_, UnitResponse>(sqlx::AssertSqlSafe(sql))
            .bind(format!("{scope_path}%")).bind(since).fetch_all(p).await?),
        )
    }
}

/// An observable of an incident.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ObservableRow {
    pub kind: String,
    pub value: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub count: i64,
}

impl Store {
    /// An incident's observables, by kind, most seen first.
    ///
    /// # Errors
    /// The database error.
    pub async fn incident_observables(&self, id: i64) -> Result<Vec<ObservableRow>, StoreError> {
        Ok(dispatch!(self, p => sqlx::query_as::<_, ObservableRow>(
            "SELECT kind, value, first_seen, last_seen, count FROM incident_observables \
             WHERE incident_id = $1 ORDER BY kind, count DESC, value LIMIT 500")
            .bind(id).fetch_all(p).await?))
    }
}

/// A registered information system.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AssetRow {
    pub name: String,
    pub unit: String,
    /// Addresses and CIDR blocks, comma-separated.
    pub addresses: String,
    pub owner: String,
    /// Information-system level, 1–5.
    pub level: i64,
}

impl Store {
    /// Registers an information system of `unit`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown unit, [`StoreError::Conflict`]
    /// for a taken name or a level outside 1–5.
    pub async fn add_asset(
        &self,
        name: &str,
        unit: &str,
        addresses: &[String],
        owner: &str,
        level: i64,
    ) -> Result<AssetRow, StoreError> {
        if !(1..=5).contains(&level) {
            return Err(StoreError::Conflict(format!(
                "level {level}: information-system levels are 1 to 5"
            )));
        }
        let u = self
            .unit(unit)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no unit `{unit}`")))?;
        let addrs = addresses
            .iter()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
            .collect::<Vec<_>>()
            .join(",");
        let taken: Option<(i64,)> = dispatch!(self, p => sqlx::query_as(
            "SELECT id FROM assets WHERE name = $1").bind(name).fetch_optional(p).await?);
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "asset `{name}` already exists"
            )));
        }
        dispatch!(self, p => {
            sqlx::query("INSERT INTO assets (unit_id, name, addresses, owner, level, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(u.id).bind(name).bind(&addrs).bind(owner).bind(level).bind(now_micros())
                .execute(p).await?;
        });
        Ok(AssetRow {
            name: name.to_string(),
            unit: u.name,
            addresses: addrs,
            owner: owner.to_string(),
            level,
        })
    }

    /// The assets in `scope_path`'s subtree.
    ///
    /// # Errors
    /// The database error.
    pub async fn assets(&self, scope_path: &str) -> Result<Vec<AssetRow>, StoreError> {
        Ok(dispatch!(self, p => sqlx::query_as::<_, AssetRow>(
            "SELECT a.name, u.name AS unit, a.addresses, a.owner, a.level FROM assets a \
             JOIN units u ON u.id = a.unit_id WHERE u.path LIKE $1 ORDER BY u.path, a.name")
            .bind(format!("{scope_path}%")).fetch_all(p).await?))
    }
}

/// An attachment's description (without its bytes).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AttachmentRow {
    pub id: i64,
    pub incident_id: i64,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    /// SHA-256, hex.
    pub sha256: String,
    pub added_by: String,
    pub added_at: i64,
}

impl Store {
    /// Stores a file with an incident and notes it on the timeline.
    ///
    /// # Errors
    /// The database error.
    pub async fn add_attachment(
        &self,
        incident_id: i64,
        name: &str,
        content_type: &str,
        data: &[u8],
        by: &str,
    ) -> Result<AttachmentRow, StoreError> {
        use sha2::Digest;
        let sha = hex::encode(sha2::Sha256::digest(data));
        let now = now_micros();
        let size = i64::try_from(data.len()).unwrap_or(i64::MAX);
        let details = serde_json::json!({ "name": name, "sha256": sha, "size": size }).to_string();
        let id: i64 = dispatch!(self, p => {
            let mut tx = p.begin().await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO attachments (incident_id, name, content_type, size, sha256, data, added_by, added_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
                .bind(incident_id).bind(name).bind(content_type).bind(size).bind(&sha).bind(data)
                .bind(by).bind(now).fetch_one(&mut *tx).await?;
            sqlx::query("INSERT INTO incident_timeline (incident_id, at, actor, kind, text, details) \
                         VALUES ($1, $2, $3, 'attachment', $4, $5)")
                .bind(incident_id).bind(now).bind(by).bind(name).bind(&details)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            id
        });
        Ok(AttachmentRow {
            id,
            incident_id,
            name: name.to_string(),
            content_type: content_type.to_string(),
            size,
            sha256: sha,
            added_by: by.to_string(),
            added_at: now,
        })
    }

    /// An incident's attachments, oldest first.
    ///
    /// # Errors
    /// The database error.
    pub async fn attachments(&self, incident_id: i64) -> Result<Vec<AttachmentRow>, StoreError> {
        Ok(dispatch!(self, p => sqlx::query_as(
            "SELECT id, incident_id, name, content_type, size, sha256, added_by, added_at \
             FROM attachments WHERE incident_id = $1 ORDER BY id")
            .bind(incident_id).fetch_all(p).await?))
    }

    /// One attachment with its bytes.
    ///
    /// # Errors
    /// The database error.
    pub async fn attachment(
        &self,
        id: i64,
    ) -> Result<Option<(AttachmentRow, Vec<u8>)>, StoreError> {
        let row: Option<AttachmentRow> = dispatch!(self, p => sqlx::query_as(
            "SELECT id, incident_id, name, content_type, size, sha256, added_by, added_at \
             FROM attachments WHERE id = $1").bind(id).fetch_optional(p).await?);
        let Some(row) = row else {
            return Ok(None);
        };
        let (data,): (Vec<u8>,) = dispatch!(self, p => sqlx::query_as(
            "SELECT data FROM attachments WHERE id = $1").bind(id).fetch_one(p).await?);
        Ok(Some((row, data)))
    }
}

/// The deepest unit path shared by all of `paths` (`/1/4/` of `/1/4/9/`
/// and `/1/4/12/`); the first path's root when they share nothing.
pub fn common_ancestor(paths: &[String]) -> String {
    let split = |p: &str| {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let Some(first) = paths.first() else {
        return "/".into();
    };
    let mut common = split(first);
    for p in &paths[1..] {
        let other = split(p);
        let n = common
            .iter()
            .zip(&other)
            .take_while(|(a, b)| a == b)
            .count();
        common.truncate(n);
    }
    if common.is_empty() {
        common = split(first).into_iter().take(1).collect();
    }
    format!("/{}/", common.join("/"))
}

impl Store {
    /// Opens or grows the campaign of outside address `addr`: when alerts
    /// naming it since `since` reach `min_units` units, one campaign
    /// incident at their common ancestor unit links their incidents.
    /// Returns (campaign id, newly opened, incidents linked now).
    ///
    /// # Errors
    /// The database error.
    pub async fn campaign(
        &self,
        addr: &str,
        since: i64,
        min_units: i64,
    ) -> Result<Option<(i64, bool, Vec<i64>)>, StoreError> {
        let units: Vec<(String,)> = dispatch!(self, p => sqlx::query_as(
            "SELECT DISTINCT u.path FROM alerts a JOIN incidents i ON i.id = a.incident_id \
             JOIN units u ON u.id = a.unit_id \
             WHERE (a.src_ip = $1 OR a.dest_ip = $1) AND a.ts >= $2 AND i.kind = 'unit' AND a.drill IS NULL")
            .bind(addr).bind(since).fetch_all(p).await?);
        if (units.len() as i64) < min_units {
            return Ok(None);
        }
        let key = format!("campaign={addr}");
        let now = now_micros();
        let linked: Vec<(i64, i64, i64, i64, i64, String)> = dispatch!(self, p => sqlx::query_as(
            "SELECT DISTINCT i.id, i.severity, i.first_seen, i.last_seen, i.alert_count, i.category \
             FROM alerts a JOIN incidents i ON i.id = a.incident_id \
             WHERE (a.src_ip = $1 OR a.dest_ip = $1) AND a.ts >= $2 AND i.kind = 'unit' AND i.campaign_id IS NULL \
             AND a.drill IS NULL")
            .bind(addr).bind(since).fetch_all(p).await?);
        let existing: Option<(i64,)> = dispatch!(self, p => sqlx::query_as(
            "SELECT id FROM incidents WHERE kind = 'campaign' AND group_key = $1 \
             AND status IN ('new', 'acknowledged', 'contained') ORDER BY id DESC LIMIT 1")
            .bind(&key).fetch_optional(p).await?);
        let paths: Vec<String> = units.into_iter().map(|u| u.0).collect();
        let n_units = paths.len();
        let (id, new) = match existing {
            Some((id,)) => (id, false),
            None => {
                let anc = common_ancestor(&paths);
                let unit_id: i64 = anc
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let severity = linked.iter().map(|l| l.1).min().unwrap_or(3);
                let first = linked.iter().map(|l| l.2).min().unwrap_or(now);
                let last = linked.iter().map(|l| l.3).max().unwrap_or(now);
                let count: i64 = linked.iter().map(|l| l.4).sum();
                let mut cats: Vec<&str> = linked.iter().map(|l| l.5.as_str()).collect();
                cats.sort_unstable();
                let category = cats
                    .chunk_by(|a, b| a == b)
                    .max_by_key(|c| c.len())
                    .and_then(|c| c.first().copied())
                    .unwrap_or("other")
                    .to_string();
                let title = format!("Campaign: {addr} against {n_units} units");
                let details = serde_json::json!({ "address": addr, "units": n_units }).to_string();
                let id: i64 = dispatch!(self, p => {
                    let mut tx = p.begin().await?;
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO incidents (unit_id, gid, signature_id, title, severity, status, first_seen, \
                         last_seen, alert_count, created_at, updated_at, serious, category, tags, group_key, kind) \
                         VALUES ($1, 0, 0, $2, $3, 'new', $4, $5, $6, $7, $7, 1, $8, '[]', $9, 'campaign') RETURNING id")
                        .bind(unit_id).bind(&title).bind(severity).bind(first).bind(last).bind(count)
                        .bind(now).bind(&category).bind(&key)
                        .fetch_one(&mut *tx).await?;
                    sqlx::query("INSERT INTO incident_timeline (incident_id, at, actor, kind, text, details) \
                                 VALUES ($1, $2, 'system', 'opened', $3, $4)")
                        .bind(id).bind(now).bind(&title).bind(&details).execute(&mut *tx).await?;
                    tx.commit().await?;
                    id
                });
                (id, true)
            }
        };
        let mut ids = Vec::new();
        for l in &linked {
            dispatch!(self, p => {
                let mut tx = p.begin().await?;
                let n = sqlx::query("UPDATE incidents SET campaign_id = $1 WHERE id = $2 AND campaign_id IS NULL")
                    .bind(id).bind(l.0).execute(&mut *tx).await?.rows_affected();
                if n == 1 {
                    sqlx::query("INSERT INTO incident_timeline (incident_id, at, actor, kind, text, details) \
                                 VALUES ($1, $2, 'system', 'campaign', $3, $4)")
                        .bind(l.0).bind(now).bind(format!("#{id}"))
                        .bind(serde_json::json!({ "campaign": id, "address": addr }).to_string())
                        .execute(&mut *tx).await?;
                }
                tx.commit().await?;
            });
            ids.push(l.0);
        }
        if !new && ids.is_empty() {
            return Ok(None);
        }
        Ok(Some((id, new, ids)))
    }

    /// The incidents a campaign links.
    ///
    /// # Errors
    /// The database error.
    pub async fn campaign_members(
        &self,
        id: i64,
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        Ok(dispatch!(self, p => sqlx::query_as(
            "SELECT i.id, i.title, u.title FROM incidents i JOIN units u ON u.id = i.unit_id \
             WHERE i.campaign_id = $1 ORDER BY i.id").bind(id).fetch_all(p).await?))
    }
}
