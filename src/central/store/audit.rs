//! The audit trail in the store (see [`crate::central::audit`] for the
//! chain and why appends are serialised).

use super::{Store, StoreError, now_micros};
use crate::central::audit::{AuditRecord, Broken, GENESIS, record_hash, verify_from};

impl Store {
    /// Appends a record to the audit trail; returns it.
    ///
    /// # Errors
    /// The database error; then nothing is appended.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        object: &str,
        details: &serde_json::Value,
    ) -> Result<AuditRecord, StoreError> {
        let at = now_micros();
        let details = details.to_string();
        let postgres = matches!(self, Store::Postgres(_));
        let (id, prev, hash) = dispatch!(self, p => {
            let mut tx = p.begin().await?;
            if postgres {
                // ids must follow commit order, or two appends could link
                // to the same record
                sqlx::query("LOCK TABLE audit IN EXCLUSIVE MODE").execute(&mut *tx).await?;
            }
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO audit (at, actor, action, object, details, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, '', '') RETURNING id")
                .bind(at).bind(actor).bind(action).bind(object).bind(&details)
                .fetch_one(&mut *tx).await?;
            let prev: Option<(String,)> = sqlx::query_as(
                "SELECT hash FROM audit WHERE id < $1 ORDER BY id DESC LIMIT 1")
                .bind(id).fetch_optional(&mut *tx).await?;
            let prev = prev.map_or_else(|| GENESIS.to_string(), |p| p.0);
            let hash = record_hash(&prev, id, at, actor, action, object, &details);
            sqlx::query("UPDATE audit SET prev_hash = $1, hash = $2 WHERE id = $3")
                .bind(&prev).bind(&hash).bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            (id, prev, hash)
        });
        Ok(AuditRecord {
            id,
            at,
            actor: actor.to_string(),
            action: action.to_string(),
            object: object.to_string(),
            details,
            prev_hash: prev,
            hash,
        })
    }

    /// Records with an id above `after`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// The database error.
    pub async fn audit_records(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(dispatch!(self, p => sqlx::query_as::<_, AuditRecord>(
            "SELECT id, at, actor, action, object, details, prev_hash, hash FROM audit \
             WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after).bind(limit).fetch_all(p).await?))
    }

    /// The newest records, newest first.
    ///
    /// # Errors
    /// The database error.
    pub async fn audit_latest(&self, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(dispatch!(self, p => sqlx::query_as::<_, AuditRecord>(
            "SELECT id, at, actor, action, object, details, prev_hash, hash FROM audit \
             ORDER BY id DESC LIMIT $1")
            .bind(limit).fetch_all(p).await?))
    }

    /// The newest records about `object`, newest first.
    ///
    /// # Errors
    /// The database error.
    pub async fn audit_of(&self, object: &str, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(dispatch!(self, p => sqlx::query_as::<_, AuditRecord>(
            "SELECT id, at, actor, action, object, details, prev_hash, hash FROM audit \
             WHERE object = $1 ORDER BY id DESC LIMIT $2")
            .bind(object).bind(limit).fetch_all(p).await?))
    }

    /// Walks the whole chain, a page at a time: `Ok((records, last hash))`
    /// when it holds, or the first broken link.
    ///
    /// # Errors
    /// The database error.
    pub async fn audit_verify(&self) -> Result<Result<(usize, String), Broken>, StoreError> {
        let (mut after, mut prev, mut total) = (0, GENESIS.to_string(), 0);
        loop {
            let page = self.audit_records(after, 5000).await?;
            let Some(last) = page.last() else {
                return Ok(Ok((total, prev)));
            };
            after = last.id;
            match verify_from(&prev, &page) {
                Ok((n, hash)) => {
                    total += n;
                    prev = hash;
                }
                Err(b) => return Ok(Err(b)),
            }
        }
    }
}
