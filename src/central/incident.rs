//! Incidents: alerts of the same unit and signature (`gid:sid`) within a
//! configurable window join one open incident; an alert outside every open
//! incident's window opens a new one. People then move an incident through
//! its workflow — new → acknowledged → contained → resolved → closed — with
//! reasons, assign it, and comment on it; everything lands on the
//! incident's timeline and in the audit trail.
//!
//! The grouping runs inside the ingest transaction ([`super::store::Store::ingest`]),
//! so an alert and its incident are stored together or not at all. An
//! incident's severity is its most severe alert's; its first and last seen
//! times span its alerts' times (the sensor's clock, not arrival time, so a
//! batch delayed by an outage still groups correctly).

use serde::{Deserialize, Serialize};

use super::store::incidents::WorkflowError;
use super::store::{IncidentRow, Store, TimelineRow, User};

/// `[incidents]` in `central.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentConfig {
    /// Alerts within this many seconds of an open incident join it.
    #[serde(default = "default_window")]
    pub window_secs: u64,
    /// Due times per severity.
    #[serde(default)]
    pub sla: SlaConfig,
    /// What alerts of one unit are grouped by into one incident: any of
    /// `rule`, `src_ip`, `dest_ip` (default: the rule).
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
    /// `[incidents.serious]`: what makes an incident serious.
    #[serde(default)]
    pub serious: SeriousConfig,
    /// `[incidents.campaign]`: one source against several units.
    #[serde(default)]
    pub campaign: CampaignConfig,
    /// The largest attachment (evidence file) accepted, bytes.
    #[serde(default = "default_attachment_bytes")]
    pub max_attachment_bytes: usize,
}

fn default_group_by() -> Vec<String> {
    vec!["rule".into()]
}

/// `[incidents.serious]`: the rule that marks an incident serious and
/// escalates it. The default follows Decision 05/2017/QĐ-TTg: a level
/// 4–5 information system affected; coordinators also mark an incident
/// serious by hand for the decision's other grounds (service outage,
/// secret data leaked, loss of control, spread to other systems).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriousConfig {
    /// Information-system levels from this one up (1–5; 6 turns it off).
    #[serde(default = "default_serious_level")]
    pub min_level: i64,
    /// Incident categories that are always serious (e.g. `ransomware`).
    #[serde(default)]
    pub categories: Vec<String>,
}

fn default_serious_level() -> i64 {
    4
}

impl Default for SeriousConfig {
    fn default() -> Self {
        SeriousConfig {
            min_level: default_serious_level(),
            categories: Vec::new(),
        }
    }
}

/// `[incidents.campaign]`: a source seen against this many units within
/// the window opens one province-level campaign incident linking theirs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignConfig {
    /// Distinct units (0 turns campaigns off).
    #[serde(default = "default_campaign_units")]
    pub units: i64,
    #[serde(default = "default_campaign_window")]
    pub window_secs: u64,
}

fn default_campaign_units() -> i64 {
    3
}
fn default_campaign_window() -> u64 {
    24 * 3600
}

impl Default for CampaignConfig {
    fn default() -> Self {
        CampaignConfig {
            units: default_campaign_units(),
            window_secs: default_campaign_window(),
        }
    }
}

fn default_attachment_bytes() -> usize {
    10 * 1024 * 1024
}

/// `[incidents.sla]`: how long each step may take, per severity, counted
/// from when central opened the incident.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    #[serde(default = "due_high")]
    pub high: Due,
    #[serde(default = "due_medium")]
    pub medium: Due,
    #[serde(default = "due_low")]
    pub low: Due,
    #[serde(default = "due_info")]
    pub info: Due,
    /// Hours from the incident's opening to file the notification report,
    /// for serious and severity-1 incidents (default 120: the 5 days of
    /// Circular 20/2017/TT-BTTTT).
    #[serde(default = "report_hours")]
    pub report_hours: u64,
}

fn report_hours() -> u64 {
    120
}

/// Minutes allowed to acknowledge, contain and resolve.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Due {
    pub acknowledge_mins: u64,
    pub contain_mins: u64,
    pub resolve_mins: u64,
}

fn due_high() -> Due {
    Due {
        acknowledge_mins: 30,
        contain_mins: 4 * 60,
        resolve_mins: 24 * 60,
    }
}
fn due_medium() -> Due {
    Due {
        acknowledge_mins: 2 * 60,
        contain_mins: 24 * 60,
        resolve_mins: 3 * 24 * 60,
    }
}
fn due_low() -> Due {
    Due {
        acknowledge_mins: 8 * 60,
        contain_mins: 3 * 24 * 60,
        resolve_mins: 7 * 24 * 60,
    }
}
fn due_info() -> Due {
    Due {
        acknowledge_mins: 24 * 60,
        contain_mins: 7 * 24 * 60,
        resolve_mins: 14 * 24 * 60,
    }
}

impl Default for SlaConfig {
    fn default() -> Self {
        SlaConfig {
            high: due_high(),
            medium: due_medium(),
            low: due_low(),
            info: due_info(),
            report_hours: report_hours(),
        }
    }
}

impl SlaConfig {
    /// The due times for a severity (1 high … 4+ info).
    pub fn for_severity(&self, severity: i64) -> Due {
        match severity {
            i64::MIN..=1 => self.high,
            2 => self.medium,
            3 => self.low,
            _ => self.info,
        }
    }
}

/// An incident's response times and deadlines (microseconds).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Sla {
    /// First alert → incident opened at central (time to detect).
    pub ttd: i64,
    /// Opened → acknowledged / contained / resolved, once reached.
    pub tta: Option<i64>,
    pub ttc: Option<i64>,
    pub ttr: Option<i64>,
    pub acknowledge_due: i64,
    pub contain_due: i64,
    pub resolve_due: i64,
    /// When the notification report is due (serious or severity-1
    /// incidents), and when it was filed.
    pub report_due: Option<i64>,
    /// Steps not reached by their due time (`acknowledge`, `contain`,
    /// `resolve`, `report`).
    pub overdue: Vec<&'static str>,
}

/// The response times and deadlines of an incident as of `now`.
pub fn sla(cfg: &SlaConfig, i: &IncidentRow, now: i64) -> Sla {
    let due = cfg.for_severity(i.severity);
    let at = |mins: u64| {
        i.created_at.saturating_add(
            i64::try_from(mins)
                .unwrap_or(i64::MAX / 60_000_000)
                .saturating_mul(60_000_000),
        )
    };
    let (ad, cd, rd) = (
        at(due.acknowledge_mins),
        at(due.contain_mins),
        at(due.resolve_mins),
    );
    // a step is done when it, or a later one, was reached
    let acked = i
        .acknowledged_at
        .or(i.contained_at)
        .or(i.resolved_at)
        .or(i.closed_at);
    let contained = i.contained_at.or(i.resolved_at).or(i.closed_at);
    let resolved = i.resolved_at.or(i.closed_at);
    let mut overdue = Vec::new();
    for (name, reached, due) in [
        ("acknowledge", acked, ad),
        ("contain", contained, cd),
        ("resolve", resolved, rd),
    ] {
        if reached.unwrap_or(now) > due {
            overdue.push(name);
        }
    }
    let report_due = (i.serious != 0 || i.severity <= 1).then(|| {
        i.created_at.saturating_add(
            i64::try_from(cfg.report_hours)
                .unwrap_or(i64::MAX / 3_600_000_000)
                .saturating_mul(3_600_000_000),
        )
    });
    if let Some(d) = report_due
        && i.reported_at.unwrap_or(now) > d
    {
        overdue.push("report");
    }
    Sla {
        ttd: (i.created_at - i.first_seen).max(0),
        tta: acked.map(|t| t - i.created_at),
        ttc: contained.map(|t| t - i.created_at),
        ttr: resolved.map(|t| t - i.created_at),
        acknowledge_due: ad,
        contain_due: cd,
        resolve_due: rd,
        report_due,
        overdue,
    }
}

fn default_window() -> u64 {
    3600
}

impl Default for IncidentConfig {
    fn default() -> Self {
        IncidentConfig {
            window_secs: default_window(),
            sla: SlaConfig::default(),
            max_attachment_bytes: default_attachment_bytes(),
            group_by: default_group_by(),
            serious: SeriousConfig::default(),
            campaign: CampaignConfig::default(),
        }
    }
}

impl IncidentConfig {
    /// How the store turns alerts into incidents.
    pub fn rules(&self) -> super::store::IngestRules {
        super::store::IngestRules {
            window_micros: self.window_micros(),
            group_by: self.group_by.clone(),
            serious_min_level: self.serious.min_level,
            serious_categories: self.serious.categories.clone(),
        }
    }

    /// Checks the values serde cannot.
    ///
    /// # Errors
    /// (key, message).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(k) = self
            .group_by
            .iter()
            .find(|k| !matches!(k.as_str(), "rule" | "src_ip" | "dest_ip"))
        {
            return Err((
                "incidents.group_by",
                format!("{k:?}: expected rule, src_ip or dest_ip"),
            ));
        }
        if self.group_by.is_empty() {
            return Err((
                "incidents.group_by",
                "give at least one of rule, src_ip, dest_ip".into(),
            ));
        }
        if let Some(c) = self
            .serious
            .categories
            .iter()
            .find(|c| !CATEGORIES.contains(&c.as_str()))
        {
            return Err((
                "incidents.serious.categories",
                format!("{c:?}: expected one of {}", CATEGORIES.join(", ")),
            ));
        }
        if !(1..=6).contains(&self.serious.min_level) {
            return Err((
                "incidents.serious.min_level",
                "1 to 5 (6: never by level)".into(),
            ));
        }
        Ok(())
    }

    /// The window in microseconds, as the store wants it.
    pub fn window_micros(&self) -> i64 {
        i64::try_from(self.window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
    }
}

/// The observables an alert carries: (kind, value), kinds `ip`, `domain`,
/// `url`, `hash`, `account`. Values are trimmed, domains lower-cased
/// without the final dot, and everything bounded in length.
pub fn observables(ev: &crate::event::Event) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut put = |kind: &'static str, v: &str| {
        let v = v.trim();
        if v.is_empty() || v.len() > 2048 {
            return;
        }
        let v = if kind == "domain" {
            v.trim_end_matches('.').to_ascii_lowercase()
        } else {
            v.to_string()
        };
        if !out.iter().any(|(k, x)| *k == kind && *x == v) {
            out.push((kind, v));
        }
    };
    for ip in [&ev.src_ip, &ev.dest_ip].into_iter().flatten() {
        put("ip", ip);
    }
    if let Some(host) = ev.http.as_ref().and_then(|h| h.hostname.as_ref()) {
        put("domain", host);
        if let Some(url) = ev.http.as_ref().and_then(|h| h.url.as_ref()) {
            put("url", &format!("http://{}{}", host.trim(), url.trim()));
        }
    }

    if let Some(name) = ev.dns.as_ref().and_then(|d| d.rrname.as_ref()) {
        put("domain", name);
    }
    if let Some(sni) = ev.tls.as_ref().and_then(|t| t.sni.as_ref()) {
        put("domain", sni);
    }
    if let Some(h) = ev.fileinfo.as_ref().and_then(|f| f.sha256.as_ref()) {
        put("hash", h);
    }
    if let Some(fields) = ev.log.as_ref().and_then(|l| l.fields.as_ref()) {
        for key in ["user", "cs-username", "c-username", "TargetUserName"] {
            if let Some(v) = fields.get(key).and_then(serde_json::Value::as_str)
                && v != "-"
            {
                put("account", v);
            }
        }
        for key in ["src_ip", "c-ip", "srcip", "rhost"] {
            if let Some(v) = fields.get(key).and_then(serde_json::Value::as_str)
                && v.parse::<std::net::IpAddr>().is_ok()
            {
                put("ip", v);
            }
        }
    }
    out
}

/// Whether `ip` is `spec`: one address, or inside a CIDR block
/// (`10.20.0.0/16`, `2001:db8::/32`).
pub fn address_matches(spec: &str, ip: &str) -> bool {
    let Ok(ip) = ip.trim().parse::<std::net::IpAddr>() else {
        return false;
    };
    let spec = spec.trim();
    let (net, bits) = match spec.split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (spec, None),
    };
    let Ok(net) = net.parse::<std::net::IpAddr>() else {
        return false;
    };
    match (net, ip) {
        (std::net::IpAddr::V4(n), std::net::IpAddr::V4(i)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (std::net::IpAddr::V6(n), std::net::IpAddr::V6(i)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// An incident's severity from its rule's and the level (1–5) of the
/// information system it touches: level 4–5 make it high, level 3 raises
/// it one step.
pub fn combined_severity(rule: i64, level: i64) -> i64 {
    match level {
        4.. => 1,
        3 => (rule - 1).max(1),
        _ => rule,
    }
}

/// Whether an incident on a system of this level is serious — the
/// default rule, after Decision 05/2017/QĐ-TTg: a level 4–5 system is
/// affected.
pub fn serious_level(level: i64) -> bool {
    level >= 4
}

/// Moves an incident as `user` would and records it in the audit trail;
/// the one path for the API and the console (`via` says which).
///
/// # Errors
/// [`WorkflowError`]: not in the user's units, refused, or the store.
pub async fn change_status(
    store: &Store,
    user: &User,
    id: i64,
    to: &str,
    reason: &str,
    via: &str,
) -> Result<IncidentRow, WorkflowError> {
    let inc = store
        .incident_status(id, &user.unit_path, to.trim(), reason, &user.username)
        .await?;
    let details = serde_json::json!({ "to": inc.status, "reason": reason.trim(), "via": via });
    super::audit::record(
        store,
        &user.username,
        "incident.status",
        &format!("incident:{id}"),
        details,
    )
    .await;
    Ok(inc)
}

/// Assigns an incident (`None` unassigns) and records it in the audit trail.
///
/// # Errors
/// [`WorkflowError`].
pub async fn assign(
    store: &Store,
    user: &User,
    id: i64,
    assignee: Option<&str>,
    via: &str,
) -> Result<IncidentRow, WorkflowError> {
    let who = assignee.map(str::trim).filter(|s| !s.is_empty());
    let inc = store
        .incident_assign(id, &user.unit_path, who, &user.username)
        .await?;
    let details = serde_json::json!({ "assignee": who, "via": via });
    super::audit::record(
        store,
        &user.username,
        "incident.assign",
        &format!("incident:{id}"),
        details,
    )
    .await;
    Ok(inc)
}

/// Adds a note to an incident and records it in the audit trail.
///
/// # Errors
/// [`WorkflowError`].
pub async fn comment(
    store: &Store,
    user: &User,
    id: i64,
    text: &str,
    via: &str,
) -> Result<TimelineRow, WorkflowError> {
    let row = store
        .incident_comment(id, &user.unit_path, text, &user.username)
        .await?;
    let details = serde_json::json!({ "timeline": row.id, "via": via });
    super::audit::record(
        store,
        &user.username,
        "incident.comment",
        &format!("incident:{id}"),
        details,
    )
    .await;
    Ok(row)
}

/// Incident categories (the bundled playbooks' `category:` labels).
pub const CATEGORIES: [&str; 11] = [
    "ransomware",
    "phishing",
    "defacement",
    "webshell",
    "brute-force",
    "c2",
    "ddos",
    "data-leak",
    "scan",
    "malware",
    "other",
];

/// The category and ATT&CK tags of an alert, for a new incident: from
/// ATT&CK technique ids in the rule's metadata (`mitre_technique_id`,
/// `attack.tNNNN` tags) first, then words of its message and class.
/// `other` when nothing says.
pub fn classify(alert: &crate::event::Alert) -> (&'static str, Vec<String>) {
    let mut tags: Vec<String> = Vec::new();
    if let Some(m) = &alert.metadata {
        for (k, v) in m {
            let values: Vec<String> = match v {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                serde_json::Value::String(s) => vec![s.clone()],
                _ => Vec::new(),
            };
            for v in values {
                let v = v.trim().to_ascii_lowercase();
                let tag = if k.contains("mitre_technique") || k.contains("attack_id") {
                    format!("attack.{v}")
                } else if v.starts_with("attack.t") {
                    v
                } else {
                    continue;
                };
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
        }
    }
    const BY_TECHNIQUE: [(&str, &str); 16] = [
        ("attack.t1486", "ransomware"),
        ("attack.t1566", "phishing"),
        ("attack.t1491", "defacement"),
        ("attack.t1505", "webshell"),
        ("attack.t1110", "brute-force"),
        ("attack.t1071", "c2"),
        ("attack.t1568", "c2"),
        ("attack.t1573", "c2"),
        ("attack.t1498", "ddos"),
        ("attack.t1499", "ddos"),
        ("attack.t1041", "data-leak"),
        ("attack.t1048", "data-leak"),
        ("attack.t1567", "data-leak"),
        ("attack.t1595", "scan"),
        ("attack.t1046", "scan"),
        ("attack.t1204", "malware"),
    ];
    for t in &tags {
        if let Some((_, c)) = BY_TECHNIQUE.iter().find(|(p, _)| t.starts_with(p)) {
            return (c, tags);
        }
    }
    let text = format!("{} {}", alert.signature, alert.category).to_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty())
        .collect();
    let has = |w: &str| words.contains(&w);
    let phrase = |p: &str| text.contains(p);
    let category = if phrase("ransom") {
        "ransomware"
    } else if phrase("phish") {
        "phishing"
    } else if phrase("deface") {
        "defacement"
    } else if phrase("webshell") || phrase("web shell") {
        "webshell"
    } else if phrase("brute")
        || phrase("auth failure")
        || phrase("login failure")
        || phrase("failed password")
        || phrase("password guess")
    {
        "brute-force"
    } else if has("c2")
        || has("cnc")
        || phrase("beacon")
        || phrase("command and control")
        || phrase("trojan was detected")
        || phrase("trojan-activity")
    {
        "c2"
    } else if has("ddos") || phrase("flood") || phrase("denial of service") {
        "ddos"
    } else if phrase("exfil") || phrase("leak") || phrase("data loss") {
        "data-leak"
    } else if phrase("scan") || phrase("probe") || phrase("recon") {
        "scan"
    } else if phrase("malware") || phrase("trojan") || phrase("virus") {
        "malware"
    } else {
        "other"
    };
    (category, tags)
}

/// Traffic Light Protocol 2.0 labels.
pub const TLPS: [&str; 5] = ["clear", "green", "amber", "amber+strict", "red"];

/// Looks at every open incident once: each step past its due time
/// (acknowledge, contain, resolve, report) gets one `overdue` entry on
/// the timeline, and the whole list goes by mail to `[notify]
/// escalation_to`. Returns the new (incident, step) pairs.
///
/// # Errors
/// The store's error.
pub async fn overdue_once(
    state: &super::SharedState,
) -> Result<Vec<(i64, &'static str)>, super::store::StoreError> {
    let now = chrono::Utc::now().timestamp_micros();
    let mut fresh = Vec::new();
    let mut lines = Vec::new();
    for status in OPEN {
        let f = super::store::ListFilter {
            scope_path: String::new(),
            unit_path: None,
            since: None,
            until: None,
            severity_max: None,
            status: Some(status.to_string()),
            limit: 1000,
            offset: 0,
        };
        for inc in state.store.incidents(&f).await?.items {
            let s = sla(&state.config.incidents.sla, &inc, now);
            for step in s.overdue {
                if state.store.has_timeline(inc.id, "overdue", step).await? {
                    continue;
                }
                state
                    .store
                    .timeline_add(
                        inc.id,
                        "system",
                        "overdue",
                        step,
                        &serde_json::json!({ "step": step }),
                    )
                    .await?;
                fresh.push((inc.id, step));
                if inc.drill.is_some() {
                    // noted on the drill's timeline; nobody outside is mailed
                    continue;
                }
                lines.push(format!(
                    "#{} {} ({}): {step}",
                    inc.id, inc.title, inc.unit_title
                ));
            }
        }
    }
    let to = &state.config.notify.escalation_to;
    if !lines.is_empty() && !to.is_empty() {
        let body = format!(
            "Overdue in canhgac / Quá hạn trong canhgac:\n\n{}\n",
            lines.join("\n")
        );
        let subject = format!("[canhgac] {} overdue", lines.len());
        if let Err(e) = super::notify::send_email(&state.config.notify, to, &subject, &body).await {
            tracing::error!(error = %e, "cannot mail the overdue notice");
        }
    }
    Ok(fresh)
}

/// Runs [`overdue_once`] every minute.
pub fn start_overdue_watch(state: super::SharedState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = overdue_once(&state).await {
                tracing::error!(error = %e, "overdue watch");
            }
        }
    });
}

/// Mails `[notify] escalation_to` that an incident became serious (once,
/// when it does); a failure is logged and noted on the timeline.
pub async fn escalate_notice(state: &super::SharedState, id: i64) {
    let to = &state.config.notify.escalation_to;
    if to.is_empty() {
        return;
    }
    let Ok(Some((inc, _))) = state.store.incident(id, "", 0).await else {
        return;
    };
    if let Some(d) = &inc.drill {
        let _ = state
            .store
            .timeline_add(
                id,
                "system",
                "escalated",
                &format!(
                    "DRILL {d}: escalation mail to {} simulated, not sent",
                    to.join(", ")
                ),
                &serde_json::json!({ "to": to, "drill": d }),
            )
            .await;
        return;
    }
    let subject = format!(
        "[canhgac] SERIOUS / NGHIÊM TRỌNG #{}: {}",
        inc.id, inc.title
    );
    let body = format!(
        "Incident #{} at {} is serious (Decision 05/2017/QĐ-TTg).\nSự cố #{} tại {} là sự cố nghiêm trọng.\n\n{}\n",
        inc.id,
        inc.unit_title,
        inc.id,
        inc.unit_title,
        serde_json::to_string_pretty(&super::playbook::actions::incident_summary(&inc))
            .unwrap_or_default()
    );
    let text = match super::notify::send_email(&state.config.notify, to, &subject, &body).await {
        Ok(()) => format!("escalation mailed to {}", to.join(", ")),
        Err(e) => format!("escalation mail failed: {e}"),
    };
    let _ = state
        .store
        .timeline_add(
            id,
            "system",
            "escalated",
            &text,
            &serde_json::json!({ "to": to }),
        )
        .await;
}

/// After a batch: each outside address its alerts name that has now been
/// seen against `[incidents.campaign] units` units within the window opens
/// (or grows) a campaign incident linking the units' incidents.
pub async fn campaigns_after_ingest(state: &super::SharedState, events: &[crate::event::Event]) {
    let cfg = &state.config.incidents.campaign;
    if cfg.units < 2 {
        return;
    }
    let mut addrs: Vec<String> = Vec::new();
    for ev in events.iter().filter(|e| e.alert.is_some()) {
        let (outside, _) = super::playbook::engine::attacker_and_internal(
            ev.src_ip.as_deref(),
            ev.dest_ip.as_deref(),
        );
        if !outside.is_empty() && !addrs.contains(&outside) {
            addrs.push(outside);
        }
    }
    let since = chrono::Utc::now().timestamp_micros()
        - i64::try_from(cfg.window_secs)
            .unwrap_or(86_400)
            .saturating_mul(1_000_000);
    for a in addrs {
        match state.store.campaign(&a, since, cfg.units).await {
            Ok(Some((id, true, linked))) => {
                tracing::info!(address = %a, campaign = id, incidents = linked.len(), "campaign opened");
                super::audit::record(
                    &state.store,
                    "system",
                    "campaign.open",
                    &format!("incident:{id}"),
                    serde_json::json!({ "address": a, "incidents": linked }),
                )
                .await;
                escalate_notice(state, id).await;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, address = %a, "campaign check"),
        }
    }
}

/// The grounds of Decision 05/2017/QĐ-TTg a person may give for marking
/// an incident serious by hand.
pub const SERIOUS_REASONS: [&str; 4] = ["outage", "secret-leak", "loss-of-control", "spread"];

/// A change of an incident's classification by a person.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FieldsChange {
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub tlp: Option<String>,
    /// Comma-separated or a list.
    #[serde(default)]
    pub tags: Option<serde_json::Value>,
    /// Mark serious, for one of [`SERIOUS_REASONS`].
    #[serde(default)]
    pub serious_reason: Option<String>,
    /// 1 (high) to 4 (info), as people judge it.
    #[serde(default)]
    pub severity: Option<i64>,
}

/// Changes category, TLP, tags, or marks the incident serious (then
/// escalates it), as `user`; on the timeline and in the audit trail.
///
/// # Errors
/// [`AttachError::NotFound`] outside the user's units,
/// [`AttachError::Refused`] for a value not allowed.
pub async fn set_fields(
    state: &super::SharedState,
    user: &User,
    id: i64,
    change: &FieldsChange,
    via: &str,
) -> Result<IncidentRow, AttachError> {
    let store = &state.store;
    let (inc, _) = store
        .incident(id, &user.unit_path, 0)
        .await?
        .ok_or(AttachError::NotFound)?;
    let pick = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let category = pick(&change.category);
    if let Some(c) = &category
        && !CATEGORIES.contains(&c.as_str())
    {
        return Err(AttachError::Refused(format!(
            "category {c:?}: one of {}",
            CATEGORIES.join(", ")
        )));
    }
    let tlp = pick(&change.tlp).map(|t| t.to_lowercase());
    if let Some(t) = &tlp
        && !TLPS.contains(&t.as_str())
    {
        return Err(AttachError::Refused(format!(
            "TLP {t:?}: one of {}",
            TLPS.join(", ")
        )));
    }
    let tags = change.tags.as_ref().map(|t| {
        let list = super::playbook::actions::recipients(Some(t));
        serde_json::json!(list).to_string()
    });
    let reason = pick(&change.serious_reason);
    if let Some(r) = &reason
        && !SERIOUS_REASONS.contains(&r.as_str())
    {
        return Err(AttachError::Refused(format!(
            "serious_reason {r:?}: one of {}",
            SERIOUS_REASONS.join(", ")
        )));
    }
    if let Some(v) = change.severity
        && !(1..=4).contains(&v)
    {
        return Err(AttachError::Refused(format!(
            "severity {v}: 1 (high), 2 (medium), 3 (low) or 4 (info)"
        )));
    }
    let severity = change.severity.filter(|v| *v != inc.severity);
    if category.is_none()
        && tlp.is_none()
        && tags.is_none()
        && reason.is_none()
        && severity.is_none()
    {
        return Err(AttachError::Refused("nothing to change".into()));
    }
    let becomes_serious = reason.is_some() && inc.serious == 0;
    store
        .set_incident_fields(
            id,
            category.as_deref(),
            tlp.as_deref(),
            tags.as_deref(),
            severity,
            reason.as_ref().map(|_| true),
            None,
        )
        .await?;
    let details = serde_json::json!({ "category": category, "tlp": tlp, "tags": tags, "severity": severity, "serious_reason": reason, "via": via });
    let mut what = Vec::new();
    if let Some(c) = &category {
        what.push(format!("category {c}"));
    }
    if let Some(t) = &tlp {
        what.push(format!("TLP:{}", t.to_uppercase()));
    }
    if tags.is_some() {
        what.push("tags".to_string());
    }
    if let Some(v) = severity {
        what.push(format!("severity {} → {v}", inc.severity));
    }
    if !what.is_empty() {
        store
            .timeline_add(id, &user.username, "fields", &what.join(", "), &details)
            .await?;
    }
    if let Some(r) = &reason
        && becomes_serious
    {
        store
            .timeline_add(id, &user.username, "serious", r, &details)
            .await?;
    }
    super::audit::record(
        store,
        &user.username,
        "incident.fields",
        &format!("incident:{id}"),
        details,
    )
    .await;
    if becomes_serious {
        escalate_notice(state, id).await;
    }
    store
        .incident(id, &user.unit_path, 0)
        .await?
        .map(|(i, _)| i)
        .ok_or(AttachError::NotFound)
}

/// Why an attachment was refused.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("no such incident in your units")]
    NotFound,
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
}

/// A file name safe to store and to offer back for download: its last
/// path component, without control characters or quotes, at most 200
/// characters.
pub fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\'' | '`'))
        .take(200)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "file".into()
    } else {
        cleaned
    }
}

#[allow(clippy::too_many_arguments)]
/// Attaches a file to an incident as `user` (size-limited, hashed, on the
/// timeline and in the audit trail); the one path for the API and the
/// console.
///
/// # Errors
/// [`AttachError`].
pub async fn attach(
    store: &Store,
    cfg: &IncidentConfig,
    user: &User,
    id: i64,
    name: &str,
    content_type: &str,
    data: &[u8],
    via: &str,
) -> Result<super::store::incidents::AttachmentRow, AttachError> {
    if store.incident(id, &user.unit_path, 0).await?.is_none() {
        return Err(AttachError::NotFound);
    }
    if data.is_empty() {
        return Err(AttachError::Refused("the file is empty".into()));
    }
    if data.len() > cfg.max_attachment_bytes {
        return Err(AttachError::Refused(format!(
            "the file is larger than {} bytes ([incidents] max_attachment_bytes)",
            cfg.max_attachment_bytes
        )));
    }
    let name = clean_file_name(name);
    let ct = if content_type.trim().is_empty() || content_type.len() > 100 {
        "application/octet-stream"
    } else {
        content_type.trim()
    };
    let row = store
        .add_attachment(id, &name, ct, data, &user.username)
        .await?;
    super::audit::record(
        store,
        &user.username,
        "incident.attach",
        &format!("incident:{id}"),
        serde_json::json!({ "attachment": row.id, "name": name, "sha256": row.sha256, "size": row.size, "via": via }),
    )
    .await;
    Ok(row)
}

/// The workflow, in order.
pub const STATUSES: [&str; 5] = ["new", "acknowledged", "contained", "resolved", "closed"];

/// Statuses in which an incident still takes new alerts ("open").
pub const OPEN: [&str; 3] = ["new", "acknowledged", "contained"];

fn rank(status: &str) -> Option<usize> {
    STATUSES.iter().position(|s| *s == status)
}

/// Why a workflow change was refused; shown in English by the API and
/// through the console's Fluent messages (`refuse-*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    UnknownStatus(String),
    Already(String),
    BackNeedsReason { from: String, to: String },
    NeedsReason(String),
    Changed,
    NoUser(String),
    CannotSee(String),
    EmptyComment,
    CommentTooLong(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::UnknownStatus(s) => write!(
                f,
                "unknown status {s:?}; expected one of {}",
                STATUSES.join(", ")
            ),
            Refusal::Already(s) => write!(f, "the incident is already {s}"),
            Refusal::BackNeedsReason { from, to } => {
                write!(
                    f,
                    "moving an incident back from {from} to {to} needs a reason"
                )
            }
            Refusal::NeedsReason(s) => write!(f, "marking an incident {s} needs a reason"),
            Refusal::Changed => write!(f, "the incident changed meanwhile; reload and try again"),
            Refusal::NoUser(u) => write!(f, "no user {u:?}"),
            Refusal::CannotSee(u) => {
                write!(f, "{u} cannot see this incident (it is outside their unit)")
            }
            Refusal::EmptyComment => write!(f, "the comment is empty"),
            Refusal::CommentTooLong(n) => write!(f, "the comment is longer than {n} characters"),
        }
    }
}

impl Refusal {
    /// The console message id and its arguments.
    pub fn message(&self) -> (&'static str, Vec<(&'static str, String)>) {
        match self {
            Refusal::UnknownStatus(s) => ("refuse-unknown-status", vec![("status", s.clone())]),
            Refusal::Already(s) => ("refuse-already", vec![("status", s.clone())]),
            Refusal::BackNeedsReason { from, to } => (
                "refuse-back-needs-reason",
                vec![("from", from.clone()), ("to", to.clone())],
            ),
            Refusal::NeedsReason(s) => ("refuse-needs-reason", vec![("status", s.clone())]),
            Refusal::Changed => ("refuse-changed", vec![]),
            Refusal::NoUser(u) => ("refuse-no-user", vec![("user", u.clone())]),
            Refusal::CannotSee(u) => ("refuse-cannot-see", vec![("user", u.clone())]),
            Refusal::EmptyComment => ("refuse-empty-comment", vec![]),
            Refusal::CommentTooLong(n) => ("refuse-comment-too-long", vec![("max", n.to_string())]),
        }
    }
}

/// Checks a status change: forward steps may skip (a false positive goes
/// from new to closed), and need a reason when they resolve or close; a
/// step back (reopening) always needs a reason.
///
/// # Errors
/// The [`Refusal`].
pub fn check_transition(from: &str, to: &str, reason: &str) -> Result<(), Refusal> {
    let (Some(a), Some(b)) = (rank(from), rank(to)) else {
        return Err(Refusal::UnknownStatus(to.to_string()));
    };
    if a == b {
        return Err(Refusal::Already(to.to_string()));
    }
    let reason = reason.trim();
    if b < a && reason.is_empty() {
        return Err(Refusal::BackNeedsReason {
            from: from.to_string(),
            to: to.to_string(),
        });
    }
    if (to == "resolved" || to == "closed") && reason.is_empty() {
        return Err(Refusal::NeedsReason(to.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_classified_by_technique_then_words() {
        let mut a = crate::event::Alert {
            action: "allowed".into(),
            gid: 1,
            signature_id: 1,
            rev: 1,
            signature: "CANHGAC DEMO SMTP AUTH failure sent to external client".into(),
            category: "Potentially Bad Traffic".into(),
            severity: 2,
            metadata: None,
            extra: Default::default(),
        };
        assert_eq!(classify(&a).0, "brute-force");
        a.signature = "ET MALWARE Beacon check-in".into();
        assert_eq!(classify(&a).0, "c2");
        a.signature = "Something".into();
        a.category = "Misc activity".into();
        assert_eq!(classify(&a).0, "other");
        a.metadata = Some(
            serde_json::json!({"mitre_technique_id": ["T1486"], "x": "attack.t1490"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        let (c, tags) = classify(&a);
        assert_eq!(c, "ransomware");
        assert_eq!(
            tags,
            vec!["attack.t1486".to_string(), "attack.t1490".to_string()]
        );
        // "c2" only as a word
        a.metadata = None;
        a.signature = "Request for abc2def".into();
        assert_eq!(classify(&a).0, "other");
    }

    #[test]
    fn observables_from_network_file_and_log_alerts() {
        let ev: crate::event::Event = serde_json::from_value(serde_json::json!({
            "timestamp": "2026-11-20T08:00:00.000000+0000", "event_type": "alert",
            "src_ip": "203.0.113.9", "dest_ip": "10.0.0.5",
            "http": {"hostname": "Portal.Example.", "url": "/shell.php?cmd=id"},
            "dns": {"rrname": "c2.example.net."},
            "tls": {"sni": "c2.example.net"},
            "fileinfo": {"sha256": "ab12"},
            "log": {"source": "auth.log", "line": "x", "fields": {"user": "root", "rhost": "203.0.113.9", "cs-username": "-"}}
        }))
        .unwrap();
        let o = observables(&ev);
        assert_eq!(
            o,
            vec![
                ("ip", "203.0.113.9".to_string()),
                ("ip", "10.0.0.5".to_string()),
                ("domain", "portal.example".to_string()),
                ("url", "http://Portal.Example./shell.php?cmd=id".to_string()),
                ("domain", "c2.example.net".to_string()),
                ("hash", "ab12".to_string()),
                ("account", "root".to_string()),
            ]
        );
    }

    #[test]
    fn addresses_and_levels() {
        assert!(address_matches("10.20.30.10", "10.20.30.10"));
        assert!(address_matches("10.20.0.0/16", "10.20.30.10"));
        assert!(!address_matches("10.21.0.0/16", "10.20.30.10"));
        assert!(address_matches("2001:db8::/32", "2001:db8::7"));
        assert!(!address_matches("2001:db8::/32", "10.20.30.10"));
        assert!(!address_matches("not an address", "10.0.0.1"));
        assert!(!address_matches("10.0.0.0/8", "nonsense"));
        assert_eq!(combined_severity(3, 5), 1);
        assert_eq!(combined_severity(3, 3), 2);
        assert_eq!(combined_severity(1, 3), 1);
        assert_eq!(combined_severity(3, 2), 3);
        assert!(serious_level(4) && !serious_level(3));
    }

    #[test]
    fn workflow_steps_and_reasons() {
        let msg = |r: Result<(), Refusal>| r.unwrap_err().to_string();
        assert!(check_transition("new", "acknowledged", "").is_ok());
        assert!(check_transition("new", "contained", "").is_ok());
        assert!(check_transition("new", "closed", "false positive: scanner of our own").is_ok());
        assert!(msg(check_transition("new", "closed", " ")).contains("needs a reason"));
        assert_eq!(
            check_transition("contained", "resolved", ""),
            Err(Refusal::NeedsReason("resolved".into()))
        );
        assert!(msg(check_transition("closed", "acknowledged", "")).contains("back"));
        assert!(check_transition("closed", "acknowledged", "it came back").is_ok());
        assert_eq!(
            check_transition("new", "new", "x"),
            Err(Refusal::Already("new".into()))
        );
        assert!(msg(check_transition("new", "done", "x")).contains("unknown status"));
        // deadlines from the severity; a step reached late stays overdue
        let mut row = crate::central::store::IncidentRow {
            id: 1,
            unit: "u".into(),
            unit_title: "U".into(),
            gid: 1,
            signature_id: 1,
            title: "t".into(),
            severity: 2,
            status: "acknowledged".into(),
            first_seen: 0,
            last_seen: 0,
            alert_count: 1,
            assignee: None,
            created_at: 60_000_000,
            asset: None,
            serious: 0,
            acknowledged_at: Some(60_000_000 + 3 * 3_600_000_000),
            contained_at: None,
            resolved_at: None,
            closed_at: None,
            category: String::new(),
            tlp: "amber".into(),
            tags: "[]".into(),
            reported_at: None,
            kind: "unit".into(),
            campaign_id: None,
            drill: None,
        };
        let min = 60_000_000;
        let s = sla(&SlaConfig::default(), &row, 60_000_000 + 5 * 3_600_000_000);
        assert_eq!(s.ttd, 60_000_000);
        assert_eq!(s.acknowledge_due, 60_000_000 + 120 * min);
        assert_eq!(s.tta, Some(3 * 3_600_000_000));
        assert_eq!(s.overdue, vec!["acknowledge"]);
        row.resolved_at = Some(60_000_000 + 3_600_000_000 * 25);
        let s = sla(&SlaConfig::default(), &row, i64::MAX);
        // contained counts as reached when it was resolved (skipped step)
        assert_eq!(s.ttc, s.ttr);
        assert_eq!(s.overdue, vec!["acknowledge", "contain"]);
        // every refusal has a console message
        let i18n = crate::central::console::I18n::load();
        for r in [
            Refusal::UnknownStatus("x".into()),
            Refusal::Already("new".into()),
            Refusal::BackNeedsReason {
                from: "closed".into(),
                to: "new".into(),
            },
            Refusal::NeedsReason("closed".into()),
            Refusal::Changed,
            Refusal::NoUser("u".into()),
            Refusal::CannotSee("u".into()),
            Refusal::EmptyComment,
            Refusal::CommentTooLong(10),
        ] {
            assert!(i18n.has(r.message().0), "{:?}", r);
        }
    }
}
