//! A playbook drawn as an SVG diagram, with a run's progress on it.
//!
//! Why server-side SVG: the console works offline with no script library,
//! and a coordinator needs to see at a glance where a run stands. The
//! layout is simple and predictable: steps in rows by their distance from
//! the start (breadth-first), branches side by side, edges as lines (a
//! loop back up is drawn as a dashed curve). Each step's box carries the
//! status of its latest execution in the run as a CSS class, so the
//! current step stands out.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::{Playbook, StepKind};

const BOX_W: i64 = 190;
const BOX_H: i64 = 46;
const GAP_X: i64 = 24;
const GAP_Y: i64 = 34;

/// Escapes text for SVG/XML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n.saturating_sub(1)).collect::<String>() + "…"
    }
}

/// The SVG of `pb`; `status` maps a step id to the status of its latest
/// execution (`succeeded`, `failed`, `waiting`, `running`, `ready`);
/// `vars`, a run's variables, fill the step names.
pub fn svg(
    pb: &Playbook,
    status: &HashMap<String, String>,
    vars: &serde_json::Map<String, serde_json::Value>,
) -> String {
    // rows by breadth-first distance from the start
    let mut level: BTreeMap<String, usize> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut q = VecDeque::new();
    q.push_back((pb.workflow_start.clone(), 0usize));
    while let Some((id, l)) = q.pop_front() {
        if level.contains_key(&id) || !pb.steps.contains_key(&id) {
            continue;
        }
        level.insert(id.clone(), l);
        order.push(id.clone());
        if let Some(s) = pb.steps.get(&id) {
            for (_, next) in s.references() {
                q.push_back((next.to_string(), l + 1));
            }
        }
    }
    // steps not reachable from the start go on rows of their own
    let mut extra = level.values().max().map(|m| m + 1).unwrap_or(0);
    for id in pb.steps.keys() {
        if !level.contains_key(id) {
            level.insert(id.clone(), extra);
            order.push(id.clone());
            extra += 1;
        }
    }
    let mut rows: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for id in &order {
        rows.entry(level[id]).or_default().push(id.clone());
    }
    let widest = rows.values().map(Vec::len).max().unwrap_or(1) as i64;
    let width = widest * (BOX_W + GAP_X) + GAP_X;
    let height = rows.len() as i64 * (BOX_H + GAP_Y) + GAP_Y;
    let mut pos: HashMap<String, (i64, i64)> = HashMap::new();
    for (r, ids) in &rows {
        let n = ids.len() as i64;
        let row_w = n * (BOX_W + GAP_X) - GAP_X;
        let x0 = (width - row_w) / 2;
        for (i, id) in ids.iter().enumerate() {
            let x = x0 + i as i64 * (BOX_W + GAP_X);
            let y = GAP_Y / 2 + *r as i64 * (BOX_H + GAP_Y);
            pos.insert(id.clone(), (x, y));
        }
    }
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"pb-diagram\" viewBox=\"0 0 {width} {height}\" \
         width=\"{width}\" height=\"{height}\" role=\"img\">\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"6\" \
         markerHeight=\"6\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\"/></marker></defs>"
    );
    // edges first, boxes over them
    for id in &order {
        let (Some(s), Some(&(x, y))) = (pb.steps.get(id), pos.get(id)) else {
            continue;
        };
        for (field, next) in s.references() {
            let Some(&(nx, ny)) = pos.get(next) else {
                continue;
            };
            let (x1, y1) = (x + BOX_W / 2, y + BOX_H);
            let (x2, y2) = (nx + BOX_W / 2, ny);
            let class = match field.as_str() {
                "on_failure" => "edge fail",
                "on_true" => "edge true",
                "on_false" => "edge false",
                _ => "edge",
            };
            if ny > y {
                out.push_str(&format!(
                    "<line class=\"{class}\" x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" marker-end=\"url(#arrow)\"/>"
                ));
            } else {
                // back to an earlier row (a loop): a dashed curve on the side
                let (sx, sy) = (x + BOX_W, y + BOX_H / 2);
                let (ex, ey) = (nx + BOX_W, ny + BOX_H / 2);
                let bulge = sx.max(ex) + GAP_X;
                out.push_str(&format!(
                    "<path class=\"{class} back\" d=\"M {sx} {sy} C {bulge} {sy}, {bulge} {ey}, {ex} {ey}\" \
                     fill=\"none\" marker-end=\"url(#arrow)\"/>"
                ));
            }
            let label = match field.as_str() {
                "on_true" => "✓",
                "on_false" => "✗",
                "on_failure" => "!",
                f if f.starts_with("cases.") => &f[6..],
                _ => "",
            };
            if !label.is_empty() && ny > y {
                out.push_str(&format!(
                    "<text class=\"edge-label\" x=\"{}\" y=\"{}\">{}</text>",
                    (x1 + x2) / 2 + 4,
                    (y1 + y2) / 2,
                    esc(&short(label, 14))
                ));
            }
        }
    }
    for id in &order {
        let (Some(s), Some(&(x, y))) = (pb.steps.get(id), pos.get(id)) else {
            continue;
        };
        let st = status.get(id).map(String::as_str).unwrap_or("none");
        let kind = s.kind.name();
        let shape = match s.kind {
            StepKind::Start | StepKind::End => "terminal",
            StepKind::If { .. } | StepKind::While { .. } | StepKind::Switch { .. } => "decision",
            _ if s.is_manual() => "manual",
            _ => "auto",
        };
        let label = match s.kind {
            StepKind::Start | StepKind::End => s.name.clone().unwrap_or_else(|| kind.to_string()),
            _ => super::engine::substitute(&s.label(), vars),
        };
        out.push_str(&format!(
            "<g class=\"step {shape} st-{st}\" data-step=\"{}\" data-status=\"{st}\">\
             <title>{}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"8\"/>\
             <text class=\"kind\" x=\"{}\" y=\"{}\">{}</text>\
             <text x=\"{}\" y=\"{}\">{}</text></g>",
            esc(id),
            esc(&label),
            x + 8,
            y + 15,
            esc(kind),
            x + 8,
            y + 34,
            esc(&short(&label, 28)),
        ));
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_is_drawn_with_its_status_and_labels_are_escaped() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/data/playbooks/all-steps.json"))
                .unwrap_or_default();
        let mut pb = super::super::build(&doc).expect("valid test playbook");
        let first = pb.workflow_start.clone();
        if let Some(s) = pb.steps.get_mut(&first) {
            s.name = Some("<script>&".into());
        }
        let mut st = HashMap::new();
        st.insert(first.clone(), "succeeded".to_string());
        let out = svg(&pb, &st, &serde_json::Map::new());
        assert_eq!(out.matches("<g class=\"step").count(), pb.steps.len());
        assert!(out.contains("st-succeeded"));
        assert!(out.contains("&lt;script&gt;&amp;") && !out.contains("<script>"));
        assert!(out.contains("class=\"edge true\""));
        assert!(out.contains("step decision st-none"));
    }
}
