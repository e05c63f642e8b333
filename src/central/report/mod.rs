//! Reports: the incident notification report the law asks for
//! (Circular 20/2017/TT-BTTTT's initial report; the recipients and the
//! deadline are configuration), filled from the incident, in Vietnamese or
//! English, as HTML to read and print and as a PDF to send and file.
//!
//! One [`pdf::Document`] is built from the incident and rendered both ways,
//! so the HTML and the PDF always say the same thing. Every label comes
//! from the console's Fluent files (`rpt-*`).

pub mod pdf;

use pdf::{Block, Document};

use super::SharedState;
use super::console::Lang;
use super::store::{IncidentRow, StoreError};

/// Builds the notification report of incident `id` (no unit scoping: the
/// caller checks the user may see it).
///
/// # Errors
/// The store's error; `None` for an unknown incident.
pub async fn incident_report(
    state: &SharedState,
    id: i64,
    lang: Lang,
) -> Result<Option<(IncidentRow, Document)>, StoreError> {
    let Some((inc, alerts)) = state.store.incident(id, "", 1).await? else {
        return Ok(None);
    };
    let observables = state.store.incident_observables(id).await?;
    let timeline = state.store.incident_timeline(id).await?;
    let runs = state.store.runs_of(id).await?;
    let tasks = state.store.tasks("", Some("done"), Some(id), 200).await?;
    let t = |k: &str| state.i18n.get(lang, k, None);
    let time = |micros: i64| {
        let offset = chrono::FixedOffset::east_opt(7 * 3600);
        match (chrono::DateTime::from_timestamp_micros(micros), offset) {
            (Some(dt), Some(off)) => dt
                .with_timezone(&off)
                .format("%Y-%m-%d %H:%M (UTC+7)")
                .to_string(),
            _ => String::new(),
        }
    };
    let cfg = &state.config.playbooks;
    let yes_no = |b: bool| if b { t("rpt-yes") } else { t("rpt-no") };
    let category = if inc.category.is_empty() {
        "—".to_string()
    } else {
        t(&format!("category-{}", inc.category))
    };
    let deadline = inc.created_at
        + i64::try_from(state.config.incidents.sla.report_hours)
            .unwrap_or(120)
            .saturating_mul(3_600_000_000);
    let mut blocks = vec![
        Block::Title(t("rpt-title")),
        Block::Paragraph(t("rpt-basis")),
        Block::Heading(t("rpt-section-org")),
        Block::Fields(vec![
            (t("rpt-org"), format!("{} ({})", inc.unit_title, inc.unit)),
            (
                t("rpt-contact"),
                if cfg.report_contact.is_empty() {
                    "—".into()
                } else {
                    cfg.report_contact.clone()
                },
            ),
        ]),
        Block::Heading(t("rpt-section-incident")),
        Block::Fields(vec![
            (t("rpt-incident"), format!("#{}", inc.id)),
            (t("rpt-name"), inc.title.clone()),
            (t("rpt-category"), category),
            (t("rpt-severity"), inc.severity.to_string()),
            (t("rpt-serious"), yes_no(inc.serious != 0)),
            (
                t("rpt-system"),
                inc.asset.clone().unwrap_or_else(|| "—".into()),
            ),
            (t("rpt-detected"), time(inc.first_seen)),
            (t("rpt-opened"), time(inc.created_at)),
            (t("rpt-status"), t(&format!("status-{}", inc.status))),
            (t("rpt-alerts"), inc.alert_count.to_string()),
            (
                t("rpt-addresses"),
                alerts
                    .first()
                    .map(|a| {
                        format!(
                            "{} → {}",
                            a.src_ip.clone().unwrap_or_default(),
                            a.dest_ip.clone().unwrap_or_default()
                        )
                    })
                    .unwrap_or_default(),
            ),
            ("TLP".into(), format!("TLP:{}", inc.tlp.to_uppercase())),
        ]),
    ];
    if !observables.is_empty() {
        blocks.push(Block::Heading(t("rpt-section-observables")));
        blocks.push(Block::Table {
            header: vec![t("col-kind"), t("col-value"), t("col-seen")],
            rows: observables
                .iter()
                .map(|o| {
                    vec![
                        t(&format!("observable-{}", o.kind)),
                        o.value.clone(),
                        o.count.to_string(),
                    ]
                })
                .collect(),
            widths: Some(vec![0.25, 0.6, 0.15]),
        });
    }
    blocks.push(Block::Heading(t("rpt-section-actions")));
    let actions: Vec<Vec<String>> = timeline
        .iter()
        .filter(|e| e.kind != "comment")
        .map(|e| vec![time(e.at), e.actor.clone(), e.text.clone()])
        .collect();
    if actions.is_empty() {
        blocks.push(Block::Paragraph("—".into()));
    } else {
        blocks.push(Block::Table {
            header: vec![t("col-time"), t("col-by"), t("col-event")],
            rows: actions,
            widths: Some(vec![0.27, 0.15, 0.58]),
        });
    }
    if !tasks.is_empty() {
        blocks.push(Block::Heading(t("rpt-section-tasks")));
        blocks.push(Block::Table {
            header: vec![
                t("col-task"),
                t("col-by"),
                t("task-answer"),
                t("task-evidence"),
            ],
            rows: tasks
                .iter()
                .map(|k| {
                    vec![
                        k.title.clone(),
                        k.done_by.clone().unwrap_or_default(),
                        k.answer.clone().unwrap_or_default(),
                        k.evidence.clone(),
                    ]
                })
                .collect(),
            widths: Some(vec![0.35, 0.13, 0.12, 0.4]),
        });
    }
    if !runs.is_empty() {
        blocks.push(Block::Heading(t("rpt-section-playbooks")));
        blocks.push(Block::Table {
            header: vec![t("col-name"), t("col-status"), t("run-started")],
            rows: runs
                .iter()
                .map(|r| {
                    vec![
                        r.playbook_name.clone(),
                        t(&format!("run-{}", r.status)),
                        time(r.started_at),
                    ]
                })
                .collect(),
            widths: Some(vec![0.55, 0.2, 0.25]),
        });
    }
    blocks.push(Block::Heading(t("rpt-section-filing")));
    blocks.push(Block::Fields(vec![
        (
            t("rpt-recipients"),
            if cfg.report_recipients.is_empty() {
                t("rpt-no-recipients")
            } else {
                cfg.report_recipients.join(", ")
            },
        ),
        (t("rpt-deadline"), time(deadline)),
        (
            t("rpt-filed"),
            inc.reported_at
                .map(time)
                .unwrap_or_else(|| t("rpt-not-filed")),
        ),
    ]));
    let now = chrono::Utc::now().timestamp_micros();
    let doc = Document {
        title: format!("{} #{}", t("rpt-title"), inc.id),
        header: format!(
            "canhgac · {} · TLP:{}",
            inc.unit_title,
            inc.tlp.to_uppercase()
        ),
        footer: format!("{} {}", t("rpt-generated"), time(now)),
        blocks,
    };
    Ok(Some((inc, doc)))
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The report as a printable HTML page (the console's stylesheet; no script).
pub fn html(doc: &Document, lang: Lang, pdf_link: &str) -> String {
    let code = if lang == Lang::En { "en" } else { "vi" };
    let mut out = format!(
        "<!doctype html><html lang=\"{code}\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <link rel=\"stylesheet\" href=\"/static/app.css\"></head><body class=\"report\"><main>\
         <p class=\"muted noprint\">{} · <a href=\"{}\" id=\"report-pdf\">PDF</a></p>",
        esc(&doc.title),
        esc(&doc.header),
        esc(pdf_link)
    );
    for b in &doc.blocks {
        match b {
            Block::Title(s) => out.push_str(&format!("<h1 id=\"report-title\">{}</h1>", esc(s))),
            Block::Heading(s) => out.push_str(&format!("<h2>{}</h2>", esc(s))),
            Block::Paragraph(s) => out.push_str(&format!("<p>{}</p>", esc(s))),
            Block::Fields(rows) => {
                out.push_str("<dl class=\"facts\">");
                for (k, v) in rows {
                    out.push_str(&format!("<dt>{}</dt><dd>{}</dd>", esc(k), esc(v)));
                }
                out.push_str("</dl>");
            }
            Block::Table { header, rows, .. } => {
                out.push_str("<table><thead><tr>");
                for h in header {
                    out.push_str(&format!("<th>{}</th>", esc(h)));
                }
                out.push_str("</tr></thead><tbody>");
                for r in rows {
                    out.push_str("<tr>");
                    for c in r {
                        out.push_str(&format!("<td>{}</td>", esc(c)));
                    }
                    out.push_str("</tr>");
                }
                out.push_str("</tbody></table>");
            }
            Block::Space(_) => {}
        }
    }
    out.push_str(&format!(
        "<p class=\"muted\">{}</p></main></body></html>",
        esc(&doc.footer)
    ));
    out
}
