//! canhgac actions: what an automated playbook step does (`{"type":
//! "canhgac", "command": …}`, see `docs/playbooks.md`).
//!
//! Blocking goes through the unit's own sensors over the command channel
//! (central never touches a gateway itself), so a step that blocks waits
//! for the sensors' results; a sensor that does not answer is retried and
//! then the step fails, visibly, with the sensor's name. The sensor removes
//! a block when it expires, even if central is unreachable by then.
//! Email and webhooks go out from central ([`crate::central::notify`]).

use serde_json::{Value, json};

use super::{Playbook, Step};
use crate::central::SharedState;
use crate::central::store::{IncidentRow, StoreError, now_micros};

/// What running one action gave.
#[derive(Debug)]
pub enum Outcome {
    /// Finished: a summary for the timeline, or why it failed.
    Done(Result<String, String>),
    /// Queued sensor commands to wait for.
    Wait { commands: Vec<i64>, summary: String },
}

/// Parses `30s`, `30m`, `24h`, `7d` (or plain seconds) into seconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    let secs = n.checked_mul(mult)?;
    (secs > 0 && secs <= 365 * 86_400).then_some(secs)
}

fn field<'a>(cmd: &'a Value, key: &str) -> Option<&'a str> {
    cmd.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A list of addresses from a string (comma/semicolon separated) or a JSON list.
pub fn recipients(v: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        for p in s.split([',', ';']) {
            let p = p.trim();
            if !p.is_empty() && !out.iter().any(|x| x == p) {
                out.push(p.to_string());
            }
        }
    };
    match v {
        Some(Value::String(s)) => push(s),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).for_each(&mut push),
        _ => {}
    }
    out
}

/// Runs one canhgac command (variables already substituted) for `inc`.
pub async fn run(
    state: &SharedState,
    inc: &IncidentRow,
    pb: &Playbook,
    step: &Step,
    cmd: &Value,
) -> Outcome {
    let action = field(cmd, "command").unwrap_or_default();
    // a drill acts on nothing outside canhgac: what would happen is shown
    if let Some(drill) = &inc.drill {
        let r = if action == "report" {
            // the report is filed in canhgac (it is part of the exercise)
            // but sent to nobody
            report(state, inc, cmd, false)
                .await
                .map(|s| format!("DRILL {drill}: {s}; simulated, not sent"))
        } else if matches!(
            action,
            "block" | "unblock" | "email" | "webhook" | "escalate"
        ) {
            let what = match action {
                "block" | "unblock" => {
                    format!("{action} {}", field(cmd, "address").unwrap_or("?"))
                }
                "email" => format!("mail to {}", recipients(cmd.get("to")).join(", ")),
                other => other.to_string(),
            };
            Ok(format!("DRILL {drill}: simulated, not done: {what}"))
        } else {
            match action {
                "set" => set(state, inc, cmd).await,
                other => Err(format!("unknown canhgac action {other:?}")),
            }
        };
        if let Ok(summary) = &r {
            crate::central::drill::note_action(
                state,
                drill,
                action,
                field(cmd, "address"),
                summary,
            )
            .await;
        }
        return Outcome::Done(r);
    }
    let r = match action {
        "block" | "unblock" => return sensor_action(state, inc, action, cmd).await,
        "email" => email(state, cmd).await,
        "webhook" => webhook(state, inc, pb, step, cmd).await,
        "report" => report(state, inc, cmd, true).await,
        "set" => set(state, inc, cmd).await,
        "escalate" => escalate(state, inc, cmd).await,
        other => Err(format!("unknown canhgac action {other:?}")),
    };
    Outcome::Done(r)
}

async fn sensor_action(
    state: &SharedState,
    inc: &IncidentRow,
    action: &str,
    cmd: &Value,
) -> Outcome {
    let Some(address) = field(cmd, "address") else {
        return Outcome::Done(Err(format!("{action}: no address (is the variable set?)")));
    };
    if address.parse::<std::net::IpAddr>().is_err() {
        return Outcome::Done(Err(format!("{action}: {address:?} is not an IP address")));
    }
    let mut args = json!({ "address": address });
    let mut how_long = String::new();
    if action == "block" {
        let d = field(cmd, "duration").unwrap_or("24h");
        let Some(secs) = parse_duration(d) else {
            return Outcome::Done(Err(format!(
                "block: {d:?} is not a duration like 30m, 24h or 7d"
            )));
        };
        args["duration_secs"] = json!(secs);
        how_long = format!(" for {d}");
    }
    let unit = match state.store.unit(&inc.unit).await {
        Ok(Some(u)) => u,
        Ok(None) => return Outcome::Done(Err(format!("unit {} is gone", inc.unit))),
        Err(e) => return Outcome::Done(Err(e.to_string())),
    };
    let sensors: Vec<String> = match state.store.sensor_rows(&unit.path).await {
        Ok(rows) => rows
            .into_iter()
            .filter(|s| s.unit == inc.unit && s.revoked_at.is_none())
            .map(|s| s.name)
            .collect(),
        Err(e) => return Outcome::Done(Err(e.to_string())),
    };
    if sensors.is_empty() {
        return Outcome::Done(Err(format!(
            "{action} {address}: unit {} has no sensor to do it",
            inc.unit
        )));
    }
    let ttl = state.config.playbooks.action_wait_secs.max(1);
    let mut ids = Vec::new();
    for s in &sensors {
        match crate::central::fleet::queue(state, s, action, &args, "playbook", Some(ttl)).await {
            Ok(id) => ids.push(id),
            Err(e) => return Outcome::Done(Err(format!("{action} on {s}: {e:?}"))),
        }
    }
    Outcome::Wait {
        commands: ids,
        summary: format!(
            "{action} {address}{how_long} queued to sensor {}",
            sensors.join(", ")
        ),
    }
}

/// Where the sensor commands of a waiting step stand.
#[derive(Debug)]
pub enum Check {
    Pending,
    Done { ok: bool, summary: String },
}

/// Looks at queued sensor commands: all answered (and how), or not yet.
///
/// # Errors
/// The store's error.
pub async fn check_commands(state: &SharedState, ids: &[i64]) -> Result<Check, StoreError> {
    let mut parts = Vec::new();
    let mut ok = true;
    for id in ids {
        let Some(c) = state.store.command(*id).await? else {
            continue;
        };
        match c.status.as_str() {
            "done" | "failed" => {
                let result: Value = c
                    .result
                    .as_deref()
                    .and_then(|r| serde_json::from_str(r).ok())
                    .unwrap_or(Value::Null);
                let dry = result
                    .get("dry_run")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if c.status == "failed" {
                    ok = false;
                    let why = result
                        .get("error")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| result.to_string());
                    parts.push(format!("{}: failed — {why}", c.sensor));
                } else if dry {
                    parts.push(format!(
                        "{}: done (dry-run: the sensor's [actions] block is not \"on\")",
                        c.sensor
                    ));
                } else {
                    parts.push(format!("{}: done", c.sensor));
                }
            }
            _ => return Ok(Check::Pending),
        }
    }
    Ok(Check::Done {
        ok,
        summary: parts.join("; "),
    })
}

/// The sensors whose commands among `ids` are still unanswered.
///
/// # Errors
/// The store's error.
pub async fn pending_sensors(state: &SharedState, ids: &[i64]) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for id in ids {
        if let Some(c) = state.store.command(*id).await?
            && !matches!(c.status.as_str(), "done" | "failed")
            && !out.contains(&c.sensor)
        {
            out.push(c.sensor);
        }
    }
    Ok(out)
}

async fn email(state: &SharedState, cmd: &Value) -> Result<String, String> {
    let to = recipients(cmd.get("to"));
    if to.is_empty() {
        return Err("email: no recipients (is the variable set?)".into());
    }
    let subject = field(cmd, "subject").unwrap_or("canhgac");
    let body = cmd.get("body").and_then(Value::as_str).unwrap_or("");
    crate::central::notify::send_email(&state.config.notify, &to, subject, body).await?;
    Ok(format!("mail sent to {}", to.join(", ")))
}

/// The incident summary webhooks and mails carry.
pub fn incident_summary(inc: &IncidentRow) -> Value {
    json!({
        "incident": inc.id, "title": inc.title, "unit": inc.unit, "unit_title": inc.unit_title,
        "severity": inc.severity, "serious": inc.serious != 0, "status": inc.status,
        "category": inc.category, "tlp": inc.tlp, "asset": inc.asset,
        "first_seen": inc.first_seen, "last_seen": inc.last_seen, "alerts": inc.alert_count,
    })
}

async fn webhook(
    state: &SharedState,
    inc: &IncidentRow,
    pb: &Playbook,
    step: &Step,
    cmd: &Value,
) -> Result<String, String> {
    let url = field(cmd, "url")
        .map(str::to_string)
        .or_else(|| state.config.notify.webhook_url.clone())
        .ok_or("webhook: no url, and no [notify] webhook_url")?;
    let body = match cmd.get("body") {
        Some(b) if !b.is_null() => b.clone(),
        _ => json!({
            "source": "canhgac", "playbook": pb.name, "step": step.label(),
            "incident": incident_summary(inc),
        }),
    };
    crate::central::notify::post_webhook(&url, &body).await
}

async fn report(
    state: &SharedState,
    inc: &IncidentRow,
    cmd: &Value,
    send: bool,
) -> Result<String, String> {
    let cfg = &state.config.playbooks;
    let mut to = recipients(cmd.get("to"));
    if to.is_empty() {
        to = cfg.report_recipients.clone();
    }
    if !send {
        to.clear();
    }
    let now = now_micros();
    state
        .store
        .set_incident_fields(inc.id, None, None, None, None, None, Some(now))
        .await
        .map_err(|e| e.to_string())?;
    let lang = crate::central::console::Lang::parse(&state.config.console.default_language)
        .unwrap_or(crate::central::console::Lang::Vi);
    let (inc, doc) = crate::central::report::incident_report(state, inc.id, lang)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the incident is gone")?;
    let pdf = crate::central::report::pdf::render(&doc);
    let name = format!("incident-{}-report.pdf", inc.id);
    let row = state
        .store
        .add_attachment(inc.id, &name, "application/pdf", &pdf, "playbook")
        .await
        .map_err(|e| e.to_string())?;
    let deadline = inc.created_at
        + i64::try_from(state.config.incidents.sla.report_hours).unwrap_or(120) * 3_600_000_000;
    let late = if now > deadline {
        " (after the deadline)"
    } else {
        ""
    };
    if !send {
        return Ok(format!(
            "notification report filed in canhgac as {name} (sha256 {}){late}",
            &row.sha256[..16.min(row.sha256.len())]
        ));
    }
    if to.is_empty() {
        return Ok(format!(
            "notification report filed in canhgac as {name} (sha256 {}){late}; no recipients set ([playbooks] report_recipients), nothing sent",
            &row.sha256[..16.min(row.sha256.len())]
        ));
    }
    let body = format!(
        "{}\n\n#{} {}\n{}\n",
        doc.title, inc.id, inc.title, inc.unit_title
    );
    crate::central::notify::send_email_with(
        &state.config.notify,
        &to,
        &doc.title,
        &body,
        Some((&name, "application/pdf", &pdf)),
    )
    .await?;
    Ok(format!(
        "notification report filed and sent to {}{late}",
        to.join(", ")
    ))
}

async fn set(state: &SharedState, inc: &IncidentRow, cmd: &Value) -> Result<String, String> {
    let mut done = Vec::new();
    if let Some(c) = field(cmd, "category") {
        if !crate::central::incident::CATEGORIES.contains(&c) {
            return Err(format!("set: unknown category {c:?}"));
        }
        done.push(format!("category {c}"));
    }
    if let Some(t) = field(cmd, "tlp") {
        if !crate::central::incident::TLPS.contains(&t) {
            return Err(format!("set: unknown TLP {t:?}"));
        }
        done.push(format!("TLP {t}"));
    }
    let severity = cmd.get("severity").and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    });
    if let Some(s) = severity {
        if !(1..=4).contains(&s) {
            return Err(format!("set: severity {s} is not 1-4"));
        }
        done.push(format!("severity {s}"));
    }
    let serious = cmd.get("serious").and_then(|v| {
        v.as_bool()
            .or_else(|| v.as_str().map(|s| s.trim() == "true"))
    });
    if let Some(s) = serious {
        done.push(format!("serious {s}"));
    }
    let tags = cmd
        .get("tags")
        .map(|t| json!(recipients(Some(t))).to_string());
    if tags.is_some() {
        done.push("tags".into());
    }
    state
        .store
        .set_incident_fields(
            inc.id,
            field(cmd, "category"),
            field(cmd, "tlp"),
            tags.as_deref(),
            severity,
            serious,
            None,
        )
        .await
        .map_err(|e| e.to_string())?;
    if let Some(a) = field(cmd, "assignee") {
        state
            .store
            .incident_assign(inc.id, "", Some(a), "playbook")
            .await
            .map_err(|e| format!("set assignee: {e}"))?;
        done.push(format!("assignee {a}"));
    }
    if let Some(to) = field(cmd, "status") {
        let reason = field(cmd, "reason").unwrap_or("by playbook");
        if inc.status != to {
            state
                .store
                .incident_status(inc.id, "", to, reason, "playbook")
                .await
                .map_err(|e| format!("set status {to}: {e}"))?;
        }
        done.push(format!("status {to}"));
    }
    if done.is_empty() {
        return Err("set: nothing to set".into());
    }
    Ok(format!("incident set: {}", done.join(", ")))
}

async fn escalate(state: &SharedState, inc: &IncidentRow, cmd: &Value) -> Result<String, String> {
    let reason = field(cmd, "reason").unwrap_or("serious incident");
    state
        .store
        .set_incident_fields(inc.id, None, None, None, None, Some(true), None)
        .await
        .map_err(|e| e.to_string())?;
    let to = state.config.notify.escalation_to.clone();
    if to.is_empty() {
        return Ok(format!(
            "escalated ({reason}); no [notify] escalation_to set, nobody mailed"
        ));
    }
    let subject = format!("[canhgac] SERIOUS incident #{}: {}", inc.id, inc.title);
    let body = format!(
        "Incident #{} ({}) at {} was escalated: {reason}.\n\n{}",
        inc.id,
        inc.title,
        inc.unit_title,
        serde_json::to_string_pretty(&incident_summary(inc)).unwrap_or_default()
    );
    crate::central::notify::send_email(&state.config.notify, &to, &subject, &body).await?;
    Ok(format!("escalated ({reason}); mailed {}", to.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Some(1800));
        assert_eq!(parse_duration("24h"), Some(86_400));
        assert_eq!(parse_duration("7d"), Some(604_800));
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration("0h"), None);
        assert_eq!(parse_duration("2w"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("999999999999999999d"), None);
    }

    #[test]
    fn recipients_split_and_dedupe() {
        assert_eq!(
            recipients(Some(&json!("a@x, b@x; a@x"))),
            vec!["a@x".to_string(), "b@x".to_string()]
        );
        assert_eq!(
            recipients(Some(&json!(["c@x", " "]))),
            vec!["c@x".to_string()]
        );
        assert!(recipients(None).is_empty());
    }
}
