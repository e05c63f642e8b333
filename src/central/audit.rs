//! The audit trail: who did what, when — every change to users, units,
//! sensors, commands and rule bundles, by a person or by the system.
//!
//! Records are append-only and hash-chained: each stores the SHA-256 of the
//! one before it and its own hash over that and its content, so editing,
//! deleting or inserting a record anywhere breaks the chain from there on.
//! `canhgac admin audit verify` walks the chain and names the first broken
//! link. (A chain proves integrity against edits of the database, not
//! against someone who rewrites the whole chain with the database's own
//! rights; exporting the last hash elsewhere — a report, a printout — pins
//! it.)
//!
//! Appends are serialised so that the chain never forks: the row is
//! inserted first (SQLite takes its write lock there; PostgreSQL locks the
//! table first), then linked to the row before it in the same transaction.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Appends to the audit trail; a failure is logged, not returned (the
/// change it records has already happened).
pub async fn record(
    store: &super::store::Store,
    actor: &str,
    action: &str,
    object: &str,
    details: serde_json::Value,
) {
    if let Err(e) = store.audit(actor, action, object, &details).await {
        tracing::error!(error = %e, %actor, %action, %object, "cannot append to the audit trail");
    }
}

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit record.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    /// Microseconds since the epoch.
    pub at: i64,
    /// A user name, `system`, `admin-cli` or `sensor:NAME`.
    pub actor: String,
    /// What was done, e.g. `sensor.revoke`.
    pub action: String,
    /// What it was done to, e.g. `sensor:gw-1`.
    pub object: String,
    /// JSON.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of a record: SHA-256 over the previous hash and the record's
/// fields, each followed by a newline (fields cannot contain a lone
/// newline ambiguity because their lengths are hashed too).
pub fn record_hash(
    prev: &str,
    id: i64,
    at: i64,
    actor: &str,
    action: &str,
    object: &str,
    details: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &id.to_string(),
        &at.to_string(),
        actor,
        action,
        object,
        details,
    ] {
        h.update(part.len().to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The first record that does not hold.
    pub id: i64,
    pub reason: String,
}

/// Checks records in id order from the start of the chain; returns how
/// many hold, or the first broken link.
///
/// # Errors
/// [`Broken`] naming the record and why.
pub fn verify<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> Result<usize, Broken> {
    verify_from(GENESIS, records).map(|(n, _)| n)
}

/// [`verify`] for a stretch of the chain whose record before has hash
/// `prev`; returns how many hold and the last hash.
///
/// # Errors
/// [`Broken`] naming the record and why.
pub fn verify_from<'a>(
    prev: &str,
    records: impl IntoIterator<Item = &'a AuditRecord>,
) -> Result<(usize, String), Broken> {
    let mut prev = prev.to_string();
    let mut n = 0;
    for r in records {
        if r.prev_hash != prev {
            return Err(Broken {
                id: r.id,
                reason: "its link to the record before does not match (a record was deleted, inserted or changed before it)".into(),
            });
        }
        let want = record_hash(
            &r.prev_hash,
            r.id,
            r.at,
            &r.actor,
            &r.action,
            &r.object,
            &r.details,
        );
        if r.hash != want {
            return Err(Broken {
                id: r.id,
                reason: "its content does not match its hash (the record was changed)".into(),
            });
        }
        prev = want;
        n += 1;
    }
    Ok((n, prev))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut out = Vec::new();
        let mut prev = GENESIS.to_string();
        for id in 1..=n {
            let hash = record_hash(
                &prev,
                id,
                1000 + id,
                "coord",
                "sensor.revoke",
                "sensor:gw",
                "{}",
            );
            out.push(AuditRecord {
                id,
                at: 1000 + id,
                actor: "coord".into(),
                action: "sensor.revoke".into(),
                object: "sensor:gw".into(),
                details: "{}".into(),
                prev_hash: prev.clone(),
                hash: hash.clone(),
            });
            prev = hash;
        }
        out
    }

    #[test]
    fn any_edit_deletion_or_insertion_is_found_where_it_is() {
        let good = chain(5);
        assert_eq!(verify(&good), Ok(5));
        let mut edited = good.clone();
        edited[2].actor = "someone-else".into();
        assert_eq!(verify(&edited).unwrap_err().id, 3);
        let mut deleted = good.clone();
        deleted.remove(1);
        assert_eq!(verify(&deleted).unwrap_err().id, 3);
        let mut rehashed = good.clone();
        rehashed[1].details = "{\"x\":1}".into();
        rehashed[1].hash = record_hash(
            &rehashed[1].prev_hash,
            2,
            rehashed[1].at,
            "coord",
            "sensor.revoke",
            "sensor:gw",
            "{\"x\":1}",
        );
        // the edited record itself now holds, the next one does not
        assert_eq!(verify(&rehashed).unwrap_err().id, 3);
        // field boundaries are part of the hash
        assert_ne!(
            record_hash(GENESIS, 1, 1, "ab", "c", "d", "{}"),
            record_hash(GENESIS, 1, 1, "a", "bc", "d", "{}")
        );
    }
}
