//! The after-action report of a drill, built from the record: the
//! scenario, a timeline of what the team did against what was expected,
//! what went well, the gaps and a recommendation for each gap. One
//! [`Document`] rendered as HTML and as PDF, in Vietnamese or English
//! (every label from the Fluent files, `aar-*`, `dsc-*`, `dsi-*`).

use fluent_bundle::FluentArgs;

use super::scenario::Scenario;
use super::score::{Line, Score};
use crate::central::SharedState;
use crate::central::console::{I18n, Lang};
use crate::central::report::pdf::{Block, Document};
use crate::central::store::StoreError;
use crate::central::store::drills::{DrillEventRow, DrillRunRow};

/// A score line in words.
pub fn explain(i18n: &I18n, lang: Lang, l: &Line) -> String {
    let mut args = FluentArgs::new();
    for (k, v) in &l.args {
        // ids in words: scoring items, categories, severities, actions
        let label = match (l.item.as_str(), k.as_str()) {
            (_, "item") => Some(format!("dsi-{v}")),
            ("category", "category" | "got" | "want") if v != "—" => {
                Some(format!("category-{v}"))
            }
            ("severity", "got" | "want") => match v.as_str() {
                "1" => Some("severity-high".into()),
                "2" => Some("severity-medium".into()),
                "3" => Some("severity-low".into()),
                "4" => Some("severity-info".into()),
                _ => None,
            },
            (_, "step") => Some(format!("dsa-{v}")),
            _ => None,
        };
        let v = label.map_or_else(|| v.clone(), |id| i18n.get(lang, &id, None));
        args.set(k.clone(), v);
    }
    i18n.get(lang, &l.key, Some(&args))
}

/// A record entry in words.
pub fn describe(i18n: &I18n, lang: Lang, e: &DrillEventRow, sc: Option<&Scenario>) -> String {
    let d = e.detail_json();
    let s = |k: &str| {
        d.get(k)
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    let mut args = FluentArgs::new();
    args.set("inject", e.inject.clone().unwrap_or_default());
    args.set("actor", e.actor.clone());
    let key = match e.kind.as_str() {
        "inject" => match s("kind").as_str() {
            "message" | "conditions" => {
                let text = if lang == Lang::En { s("en") } else { s("vi") };
                args.set("text", text);
                "drev-message"
            }
            "pcap" => {
                args.set("sensor", s("sensor"));
                args.set("file", s("file"));
                "drev-pcap"
            }
            _ => {
                args.set("sensor", s("sensor"));
                args.set("lines", s("lines"));
                "drev-logs"
            }
        },
        "inject_failed" => {
            args.set("error", s("error"));
            "drev-failed"
        }
        "message" => {
            args.set("text", s("text"));
            "drev-own-message"
        }
        "answer" => {
            let choice = d.get("choice").and_then(|c| c.as_u64()).unwrap_or(0);
            let q = sc.and_then(|sc| {
                sc.injects
                    .iter()
                    .find(|i| Some(&i.id) == e.inject.as_ref())
                    .and_then(|i| i.question.as_ref())
            });
            let text = q
                .and_then(|q| q.choices.get(usize::try_from(choice).unwrap_or(usize::MAX)))
                .map(|c| {
                    if lang == Lang::En {
                        c.en.clone()
                    } else {
                        c.vi.clone()
                    }
                })
                .unwrap_or_default();
            args.set("choice", (choice + 1).to_string());
            args.set("text", text);
            "drev-answer"
        }
        "action" => {
            args.set("summary", s("summary"));
            "drev-action"
        }
        "scheduled" => "drev-scheduled",
        "start" => "drev-start",
        "pause" => "drev-pause",
        "resume" => "drev-resume",
        "stop" => {
            args.set("reason", s("reason"));
            "drev-stop"
        }
        "finish" => "drev-finish",
        _ => "drev-other",
    };
    i18n.get(lang, key, Some(&args))
}

/// `T+mm:ss` from the drill's start.
pub fn offset(start: i64, at: i64) -> String {
    let s = (at - start) / 1_000_000;
    let sign = if s < 0 { "-" } else { "+" };
    let s = s.abs();
    format!("T{sign}{:02}:{:02}", s / 60, s % 60)
}

/// Builds the after-action report of a run.
///
/// # Errors
/// The store's error.
pub async fn build(
    state: &SharedState,
    run: &DrillRunRow,
    sc: Option<&Scenario>,
    score: Option<&Score>,
    lang: Lang,
) -> Result<Document, StoreError> {
    let i18n = &state.i18n;
    let t = |k: &str| i18n.get(lang, k, None);
    let time = |micros: i64| {
        let offset = chrono::FixedOffset::east_opt(7 * 3600);
        match (chrono::DateTime::from_timestamp_micros(micros), offset) {
            (Some(dt), Some(off)) => dt
                .with_timezone(&off)
                .format("%Y-%m-%d %H:%M:%S (UTC+7)")
                .to_string(),
            _ => String::new(),
        }
    };
    let pick = |vi: &str, en: &str| {
        if lang == Lang::En {
            en.to_string()
        } else {
            vi.to_string()
        }
    };
    let start = run.started_at.unwrap_or(run.start_at);
    let title = sc.map_or(run.title.clone(), |s| pick(&s.title.vi, &s.title.en));
    let mut blocks = vec![
        Block::Title(format!("{} #{}", t("aar-title"), run.id)),
        Block::Fields(vec![
            (t("aar-scenario"), title),
            (t("aar-unit"), format!("{} ({})", run.unit_title, run.unit)),
            (t("aar-mode"), t(&format!("drill-mode-{}", run.mode))),
            (
                t("aar-difficulty"),
                sc.map(|s| t(&format!("drill-difficulty-{}", s.difficulty)))
                    .unwrap_or_default(),
            ),
            (t("aar-status"), t(&format!("drill-status-{}", run.status))),
            (
                t("aar-started"),
                run.started_at.map(time).unwrap_or_default(),
            ),
            (t("aar-ended"), run.ended_at.map(time).unwrap_or_default()),
            (t("aar-scheduled-by"), run.created_by.clone()),
            (
                t("aar-score"),
                score.map_or_else(
                    || "—".to_string(),
                    |s| format!("{} / {} ({}%)", s.total, s.max, s.percent()),
                ),
            ),
        ]),
    ];
    if let Some(sc) = sc {
        blocks.push(Block::Heading(t("aar-section-scenario")));
        blocks.push(Block::Paragraph(pick(&sc.briefing.vi, &sc.briefing.en)));
        let mut expected = vec![(
            t("aar-expected-category"),
            t(&format!("category-{}", sc.expected.category)),
        )];
        if !sc.expected.detections.is_empty() {
            expected.push((
                t("aar-expected-detections"),
                sc.expected.detections.join(", "),
            ));
        }
        expected.push((t("aar-expected-playbook"), sc.expected.playbook.clone()));
        if !sc.expected.key_steps.is_empty() {
            expected.push((t("aar-expected-steps"), sc.expected.key_steps.join(", ")));
        }
        blocks.push(Block::Fields(expected));
    }
    // the timeline: the drill's record, the alerts, the incident's timeline
    let mut rows: Vec<(i64, String, String, String)> = Vec::new();
    for e in state.store.drill_events(run.id).await? {
        rows.push((
            e.at,
            offset(start, e.at),
            e.actor.clone(),
            describe(i18n, lang, &e, sc),
        ));
    }
    let tag = run.tag();
    let mut seen = std::collections::BTreeSet::new();
    for (ts, ev) in state.store.drill_alerts(&tag).await? {
        let Some(a) = &ev.alert else { continue };
        if !seen.insert(a.signature.clone()) {
            continue;
        }
        let mut args = FluentArgs::new();
        args.set("signature", a.signature.clone());
        args.set(
            "rule",
            super::detection_key(&ev).unwrap_or_else(|| format!("{}:{}", a.gid, a.signature_id)),
        );
        rows.push((
            ts,
            offset(start, ts),
            ev.sensor_id.clone().unwrap_or_default(),
            i18n.get(lang, "drev-alert", Some(&args)),
        ));
    }
    for inc in state.store.drill_incidents(&tag).await? {
        for e in state.store.incident_timeline(inc.id).await? {
            rows.push((
                e.at,
                offset(start, e.at),
                e.actor.clone(),
                format!("#{} · {}", inc.id, e.text),
            ));
        }
    }
    rows.sort_by_key(|r| r.0);
    blocks.push(Block::Heading(t("aar-section-timeline")));
    blocks.push(Block::Table {
        header: vec![t("aar-col-when"), t("aar-col-who"), t("aar-col-what")],
        rows: rows.into_iter().map(|(_, a, b, c)| vec![a, b, c]).collect(),
        widths: Some(vec![0.14, 0.2, 0.66]),
    });
    if let Some(score) = score {
        blocks.push(Block::Heading(t("aar-section-score")));
        blocks.push(Block::Table {
            header: vec![t("aar-col-item"), t("aar-col-points"), t("aar-col-why")],
            rows: score
                .lines
                .iter()
                .map(|l| {
                    vec![
                        t(&format!("dsi-{}", l.item)),
                        if l.max > 0 {
                            format!("{} / {}", l.points, l.max)
                        } else {
                            l.points.to_string()
                        },
                        explain(i18n, lang, l),
                    ]
                })
                .collect(),
            widths: Some(vec![0.22, 0.12, 0.66]),
        });
        let good: Vec<&Line> = score
            .lines
            .iter()
            .filter(|l| l.max > 0 && l.points == l.max)
            .collect();
        let gaps: Vec<&Line> = score
            .lines
            .iter()
            .filter(|l| l.points < l.max || l.points < 0)
            .collect();
        blocks.push(Block::Heading(t("aar-section-well")));
        if good.is_empty() {
            blocks.push(Block::Paragraph(t("aar-none")));
        }
        for l in &good {
            blocks.push(Block::Paragraph(format!("• {}", explain(i18n, lang, l))));
        }
        blocks.push(Block::Heading(t("aar-section-gaps")));
        if gaps.is_empty() {
            blocks.push(Block::Paragraph(t("aar-no-gaps")));
        }
        for l in &gaps {
            blocks.push(Block::Paragraph(format!("• {}", explain(i18n, lang, l))));
        }
        blocks.push(Block::Heading(t("aar-section-recommendations")));
        let mut recs: Vec<String> = Vec::new();
        for l in &gaps {
            let r = t(&format!("aar-rec-{}", l.item));
            if !recs.contains(&r) {
                recs.push(r);
            }
        }
        if recs.is_empty() {
            recs.push(t("aar-rec-none"));
        }
        for r in recs {
            blocks.push(Block::Paragraph(format!("• {r}")));
        }
    }
    let now = chrono::Utc::now().timestamp_micros();
    Ok(Document {
        title: format!("{} #{}", t("aar-title"), run.id),
        header: format!("canhgac · {} · {}", t("drill-banner"), run.unit_title),
        footer: format!("{} {}", t("rpt-generated"), time(now)),
        blocks,
    })
}
