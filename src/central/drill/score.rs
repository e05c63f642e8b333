//! Scoring a drill from the times the platform recorded: when each
//! expected detection fired, when the team acknowledged and contained the
//! incident, which category it gave, whether it ran the expected playbook
//! and its key steps, whether it filed the report before the deadline, and
//! what it answered. Every line of the breakdown says why its points were
//! given or lost (a Fluent message id with its arguments, so it reads in
//! either console language).
//!
//! [`compute`] is a pure function of the scenario and the [`Facts`], so
//! the rules are tested without a database.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::scenario::Scenario;
use crate::central::SharedState;
use crate::central::store::drills::{DrillEventRow, DrillRunRow};
use crate::central::store::{IncidentRow, StoreError};
use crate::event::Event;

/// One line of the breakdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The scoring item (`detected`, `acknowledged`, …).
    pub item: String,
    pub points: i64,
    /// The most this line could give (0 for a penalty).
    pub max: i64,
    /// The Fluent message that says why.
    pub key: String,
    pub args: BTreeMap<String, String>,
}

/// A run's score.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    pub total: i64,
    pub max: i64,
    pub lines: Vec<Line>,
    /// Seconds from the drill's start to the first expected detection.
    pub detect_secs: Option<i64>,
    /// Seconds from the first detection (or the start) to acknowledgement.
    pub ack_secs: Option<i64>,
    /// … to containment.
    pub contain_secs: Option<i64>,
    /// … to the report.
    pub report_secs: Option<i64>,
}

impl Score {
    /// The score as a percentage of the most it could be (0–100).
    pub fn percent(&self) -> i64 {
        if self.max <= 0 {
            0
        } else {
            (self.total.max(0) * 100 / self.max).min(100)
        }
    }
}

/// What happened in a run.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub started_at: i64,
    /// (time, alert event) of the run's alerts.
    pub alerts: Vec<(i64, Event)>,
    /// The run's incidents, oldest first.
    pub incidents: Vec<IncidentRow>,
    /// (CACAO id, name, started) of the playbook runs on those incidents.
    pub playbook_runs: Vec<(String, String, i64)>,
    /// The run's own record.
    pub events: Vec<DrillEventRow>,
    /// The CACAO ids the expected playbook stands for (a bundled one has a
    /// Vietnamese and an English version).
    pub playbook_ids: Vec<String>,
}

fn mins(micros: i64) -> String {
    format!("{:.1}", micros as f64 / 60_000_000.0)
}

fn line(item: &str, points: i64, max: i64, key: &str, args: &[(&str, String)]) -> Line {
    Line {
        item: item.into(),
        points,
        max,
        key: key.into(),
        args: args
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect(),
    }
}

/// A timed item: full points by the deadline, half after it, none if it
/// never happened.
fn timed(item: &str, w: i64, at: Option<i64>, t0: i64, deadline_mins: u64) -> Line {
    let d = mins(i64::try_from(deadline_mins).unwrap_or(0) * 60_000_000);
    match at {
        Some(at) if at - t0 <= i64::try_from(deadline_mins).unwrap_or(0) * 60_000_000 => line(
            item,
            w,
            w,
            "dsc-on-time",
            &[
                ("item", item.into()),
                ("mins", mins(at - t0)),
                ("deadline", d),
            ],
        ),
        Some(at) => line(
            item,
            w / 2,
            w,
            "dsc-late",
            &[
                ("item", item.into()),
                ("mins", mins(at - t0)),
                ("deadline", d),
            ],
        ),
        None => line(item, 0, w, "dsc-never", &[("item", item.into())]),
    }
}

/// Scores a run.
pub fn compute(sc: &Scenario, f: &Facts) -> Score {
    let w = |k: &str| {
        sc.scoring
            .iter()
            .find(|(n, _)| n == k)
            .map_or(0, |(_, v)| *v)
    };
    let deadline = |k: &str, default: u64| {
        sc.deadlines
            .iter()
            .find(|(n, _)| n == k)
            .map_or(default, |(_, v)| *v)
    };
    let mut lines = Vec::new();
    let mut score = Score::default();
    // detections
    let mut first_detection: Option<i64> = None;
    for d in &sc.expected.detections {
        let hit = f
            .alerts
            .iter()
            .find(|(_, e)| super::detection_key(e).as_deref() == Some(d.as_str()));
        match hit {
            Some((ts, _)) => {
                first_detection = Some(first_detection.map_or(*ts, |f| f.min(*ts)));
                lines.push(line(
                    "detected",
                    w("detected"),
                    w("detected"),
                    "dsc-detected",
                    &[("rule", d.clone()), ("mins", mins(ts - f.started_at))],
                ));
            }
            None => lines.push(line(
                "detected",
                0,
                w("detected"),
                "dsc-not-detected",
                &[("rule", d.clone())],
            )),
        }
    }
    score.detect_secs = first_detection.map(|t| (t - f.started_at) / 1_000_000);
    // deadlines count from the first detection (the start for a tabletop)
    let t0 = first_detection.unwrap_or(f.started_at);
    let Some(inc) = f.incidents.first() else {
        for item in [
            "acknowledged",
            "category",
            "playbook",
            "contained",
            "report",
        ] {
            lines.push(line(item, 0, w(item), "dsc-no-incident", &[]));
        }
        return finish(score, lines);
    };
    let ack = f.incidents.iter().filter_map(|i| i.acknowledged_at).min();
    let contained = f.incidents.iter().filter_map(|i| i.contained_at).min();
    let reported = f.incidents.iter().filter_map(|i| i.reported_at).min();
    score.ack_secs = ack.map(|a| (a - t0) / 1_000_000);
    score.contain_secs = contained.map(|a| (a - t0) / 1_000_000);
    score.report_secs = reported.map(|a| (a - t0) / 1_000_000);
    lines.push(timed(
        "acknowledged",
        w("acknowledged"),
        ack,
        t0,
        deadline("acknowledge", 15),
    ));
    if inc.category == sc.expected.category {
        lines.push(line(
            "category",
            w("category"),
            w("category"),
            "dsc-category-ok",
            &[("category", inc.category.clone())],
        ));
    } else {
        let got = if inc.category.is_empty() {
            "—".to_string()
        } else {
            inc.category.clone()
        };
        lines.push(line(
            "category",
            0,
            w("category"),
            "dsc-category-wrong",
            &[("got", got), ("want", sc.expected.category.clone())],
        ));
    }
    {
        // the severity as it stands: the rules' judgement, or the team's
        // if they changed it (a tabletop incident starts at 4, info)
        let sev = f.incidents.iter().map(|i| i.severity).min().unwrap_or(4);
        let (p, key) = if sev <= sc.expected.severity_max {
            (w("severity"), "dsc-severity-ok")
        } else {
            (0, "dsc-severity-low")
        };
        lines.push(line(
            "severity",
            p,
            w("severity"),
            key,
            &[
                ("got", sev.to_string()),
                ("want", sc.expected.severity_max.to_string()),
            ],
        ));
    }
    match f
        .playbook_runs
        .iter()
        .find(|(id, _, _)| f.playbook_ids.contains(id))
    {
        Some((_, name, at)) => lines.push(line(
            "playbook",
            w("playbook"),
            w("playbook"),
            "dsc-playbook-ok",
            &[("name", name.clone()), ("mins", mins(at - t0))],
        )),
        None => lines.push(line(
            "playbook",
            0,
            w("playbook"),
            "dsc-playbook-none",
            &[("want", sc.expected.playbook.clone())],
        )),
    }
    let actions: Vec<(i64, String, Option<String>)> = f
        .events
        .iter()
        .filter(|e| e.kind == "action")
        .map(|e| {
            let d = e.detail_json();
            (
                e.at,
                d.get("action")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string(),
                d.get("address")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
            )
        })
        .collect();
    for step in &sc.expected.key_steps {
        match actions.iter().find(|(_, a, _)| a == step) {
            Some((at, _, _)) => lines.push(line(
                "key_step",
                w("key_step"),
                w("key_step"),
                "dsc-step-done",
                &[("step", step.clone()), ("mins", mins(at - t0))],
            )),
            None => lines.push(line(
                "missed_step",
                w("missed_step"),
                w("key_step"),
                "dsc-step-missed",
                &[("step", step.clone())],
            )),
        }
    }
    lines.push(timed(
        "contained",
        w("contained"),
        contained,
        t0,
        deadline("contain", 60),
    ));
    lines.push(timed(
        "report",
        w("report"),
        reported,
        t0,
        deadline("report", 120),
    ));
    // blocks of an address the scenario did not attack from
    let mut attackers: Vec<String> = sc.expected.attackers.clone();
    attackers.extend(f.alerts.iter().filter_map(|(_, e)| e.src_ip.clone()));
    for (_, a, addr) in &actions {
        if a != "block" {
            continue;
        }
        if let Some(addr) = addr
            && !attackers.is_empty()
            && !attackers.contains(addr)
        {
            lines.push(line(
                "wrong_target",
                w("wrong_target"),
                0,
                "dsc-wrong-target",
                &[("address", addr.clone())],
            ));
        }
    }
    // answers to the questions asked (an inject never sent asks nothing):
    // the last one counts
    for inj in &sc.injects {
        let Some(q) = &inj.question else {
            continue;
        };
        let asked = f
            .events
            .iter()
            .any(|e| e.kind == "inject" && e.inject.as_deref() == Some(inj.id.as_str()));
        if !asked {
            continue;
        }
        let last = f
            .events
            .iter()
            .filter(|e| e.kind == "answer" && e.inject.as_deref() == Some(inj.id.as_str()))
            .filter_map(|e| e.detail_json().get("choice").and_then(|c| c.as_u64()))
            .next_back();
        let right = (q.answer + 1).to_string();
        match last {
            Some(c) if usize::try_from(c).ok() == Some(q.answer) => lines.push(line(
                "answer",
                w("answer"),
                w("answer"),
                "dsc-answer-ok",
                &[("inject", inj.id.clone())],
            )),
            Some(c) => lines.push(line(
                "answer",
                0,
                w("answer"),
                "dsc-answer-wrong",
                &[
                    ("inject", inj.id.clone()),
                    ("chosen", (c + 1).to_string()),
                    ("right", right),
                ],
            )),
            None => lines.push(line(
                "answer",
                0,
                w("answer"),
                "dsc-answer-none",
                &[("inject", inj.id.clone())],
            )),
        }
    }
    finish(score, lines)
}

fn finish(mut score: Score, lines: Vec<Line>) -> Score {
    score.total = lines.iter().map(|l| l.points).sum();
    score.max = lines.iter().map(|l| l.max.max(0)).sum();
    score.lines = lines;
    score
}

/// The CACAO ids of a scenario's expected playbook: both versions of a
/// bundled one, or the id itself.
pub fn playbook_ids(name: &str) -> Vec<String> {
    if name.starts_with("playbook--") {
        return vec![name.to_string()];
    }
    crate::central::playbook::BUNDLED
        .iter()
        .filter(|(f, _)| f.rsplit('/').next().and_then(|n| n.strip_suffix(".json")) == Some(name))
        .filter_map(|(_, text)| {
            serde_json::from_str::<serde_json::Value>(text)
                .ok()?
                .get("id")?
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// Gathers a run's facts from the store.
///
/// # Errors
/// The store's error.
pub async fn facts(
    state: &SharedState,
    run: &DrillRunRow,
    sc: &Scenario,
) -> Result<Facts, StoreError> {
    let tag = run.tag();
    let incidents = state.store.drill_incidents(&tag).await?;
    let mut playbook_runs = Vec::new();
    for i in &incidents {
        for r in state.store.runs_of(i.id).await? {
            playbook_runs.push((r.cacao_id, r.playbook_name, r.started_at));
        }
    }
    Ok(Facts {
        started_at: run.started_at.unwrap_or(run.start_at),
        alerts: state.store.drill_alerts(&tag).await?,
        incidents,
        playbook_runs,
        events: state.store.drill_events(run.id).await?,
        playbook_ids: playbook_ids(&sc.expected.playbook),
    })
}

/// The score of a run as it stands (the kept one once it has ended).
///
/// # Errors
/// The store's error.
pub async fn of_run(
    state: &SharedState,
    run: &DrillRunRow,
    sc: &Scenario,
) -> Result<Score, StoreError> {
    Ok(compute(sc, &facts(state, run, sc).await?))
}

/// The kept score of an ended run, else the score as it stands.
///
/// # Errors
/// The store's error.
pub async fn current(
    state: &SharedState,
    run: &DrillRunRow,
    sc: Option<&Scenario>,
) -> Result<Option<Score>, StoreError> {
    if let Some(b) = &run.breakdown
        && let Ok(s) = serde_json::from_str::<Score>(b)
    {
        return Ok(Some(s));
    }
    match (sc, run.started_at) {
        (Some(sc), Some(_)) => Ok(Some(of_run(state, run, sc).await?)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::central::drill::scenario;

    const SC: &str = r#"title: {vi: 'Thử', en: 'Test'}
briefing: {vi: 'Tóm tắt', en: 'Brief'}
injects:
  - id: a
    at: 0m
    kind: logs
    lines: ['x']
  - id: q
    after: inject:a
    kind: message
    text: {vi: 'Hỏi', en: 'Ask'}
    question: {vi: 'Chặn gì?', en: 'Block what?'}
    choices:
      - {vi: 'Máy chủ', en: 'The server'}
      - {vi: 'Địa chỉ tấn công', en: 'The attacking address'}
    answer: 2
expected:
  detections: ['sid:7']
  category: brute-force
  severity_max: 2
  playbook: brute-force
  key_steps: [block, report]
  attackers: [203.0.113.66]
deadlines:
  acknowledge_mins: 10
"#;

    fn no_files(rel: &str) -> Result<Vec<u8>, String> {
        Err(rel.to_string())
    }

    fn incident(ack: Option<i64>, contained: Option<i64>) -> IncidentRow {
        IncidentRow {
            id: 1,
            unit: "u".into(),
            unit_title: "U".into(),
            gid: 1,
            signature_id: 7,
            title: "t".into(),
            severity: 2,
            status: "new".into(),
            first_seen: 0,
            last_seen: 0,
            alert_count: 1,
            assignee: None,
            created_at: 0,
            asset: None,
            serious: 0,
            acknowledged_at: ack,
            contained_at: contained,
            resolved_at: None,
            closed_at: None,
            category: "brute-force".into(),
            tlp: "amber".into(),
            tags: "[]".into(),
            reported_at: None,
            kind: "unit".into(),
            campaign_id: None,
            drill: Some("1".into()),
        }
    }

    fn event(
        kind: &str,
        at: i64,
        inject: Option<&str>,
        detail: serde_json::Value,
    ) -> DrillEventRow {
        DrillEventRow {
            id: 0,
            run_id: 1,
            at,
            kind: kind.into(),
            inject: inject.map(str::to_string),
            actor: "x".into(),
            detail: detail.to_string(),
        }
    }

    fn alert(ts: i64) -> (i64, Event) {
        let mut e = Event::new("alert", ts);
        e.alert = Some(crate::event::Alert {
            action: "allowed".into(),
            gid: 1,
            signature_id: 7,
            rev: 1,
            signature: "s".into(),
            category: "c".into(),
            severity: 2,
            metadata: None,
            extra: Default::default(),
        });
        (ts, e)
    }

    const MIN: i64 = 60_000_000;

    #[test]
    fn each_point_says_why() {
        let sc = scenario::parse("t", SC, &no_files, None).expect("valid");
        let f = Facts {
            started_at: 0,
            alerts: vec![alert(MIN)],
            // acknowledged 5 minutes after the detection: on time (10)
            incidents: vec![incident(Some(6 * MIN), None)],
            playbook_runs: vec![("playbook--x".into(), "Brute force".into(), 7 * MIN)],
            events: vec![
                event(
                    "inject",
                    2 * MIN,
                    Some("q"),
                    serde_json::json!({ "kind": "message" }),
                ),
                event(
                    "action",
                    8 * MIN,
                    None,
                    serde_json::json!({ "action": "block", "address": "192.0.2.1" }),
                ),
                event(
                    "answer",
                    9 * MIN,
                    Some("q"),
                    serde_json::json!({ "choice": 0 }),
                ),
                event(
                    "answer",
                    9 * MIN,
                    Some("q"),
                    serde_json::json!({ "choice": 1 }),
                ),
            ],
            playbook_ids: vec!["playbook--x".into()],
        };
        let s = compute(&sc, &f);
        let of = |key: &str| s.lines.iter().filter(|l| l.key == key).count();
        assert_eq!(of("dsc-detected"), 1);
        assert_eq!(of("dsc-on-time"), 1, "{:?}", s.lines);
        assert_eq!(of("dsc-category-ok"), 1);
        assert_eq!(of("dsc-severity-ok"), 1);
        assert_eq!(of("dsc-playbook-ok"), 1);
        // the block was of the wrong address: the step counts as done
        // (a block happened) but the address costs points
        assert_eq!(of("dsc-step-done"), 1);
        assert_eq!(of("dsc-step-missed"), 1); // no report
        assert_eq!(of("dsc-wrong-target"), 1);
        assert_eq!(of("dsc-never"), 2); // not contained, no report
        assert_eq!(of("dsc-answer-ok"), 1, "the last answer counts");
        // 10 detect + 10 ack + 10 category + 5 severity + 10 playbook
        // + 10 block - 5 missed report - 10 wrong target + 10 answer
        assert_eq!(s.total, 50);
        assert_eq!(s.max, 10 + 10 + 10 + 5 + 10 + 10 + 10 + 15 + 15 + 10);
        assert_eq!(s.detect_secs, Some(60));
        assert_eq!(s.ack_secs, Some(300));
    }

    #[test]
    fn late_is_half_and_nothing_is_nothing() {
        let sc = scenario::parse("t", SC, &no_files, None).expect("valid");
        let late = Facts {
            started_at: 0,
            alerts: vec![alert(0)],
            incidents: vec![incident(Some(30 * MIN), None)],
            ..Facts::default()
        };
        let s = compute(&sc, &late);
        let ack = s
            .lines
            .iter()
            .find(|l| l.item == "acknowledged")
            .expect("ack line");
        assert_eq!((ack.points, ack.key.as_str()), (5, "dsc-late"));
        // a question never asked is not scored
        assert!(!s.lines.iter().any(|l| l.item == "answer"), "{:?}", s.lines);
        let nothing = compute(&sc, &Facts::default());
        assert!(nothing.lines.iter().any(|l| l.key == "dsc-not-detected"));
        assert!(nothing.lines.iter().any(|l| l.key == "dsc-no-incident"));
        assert_eq!(nothing.total, 0);
    }
}
