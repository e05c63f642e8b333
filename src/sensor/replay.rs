//! `canhgac replay`: pcap files through the sensor's detection path, EVE
//! JSON out — Suricata's offline command line (`-r`, `-S`, `-l`), so that
//! tools written for Suricata (suricata-verify among them) can drive it.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::capture::{self, CaptureError};
use crate::detect::signature::{
    Classifications, DEFAULT_CLASSIFICATION, Diagnostic, RuleSet, Vars, parse_classifications,
};

use super::pipeline::{Identity, Pipeline, PipelineStats};

/// What to replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    pub pcaps: Vec<PathBuf>,
    pub rule_files: Vec<PathBuf>,
    pub outdir: PathBuf,
    /// `--set key=value` overrides, as Suricata takes them.
    pub sets: Vec<(String, String)>,
    pub simulate_ips: bool,
}

/// Errors of a replay.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{}", render_diagnostics(.0))]
    Rules(Vec<Diagnostic>),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--set {0}: {1}")]
    Set(String, String),
}

/// Renders diagnostics one per line, then a count.
pub fn render_diagnostics(diags: &[Diagnostic]) -> String {
    let mut s = String::new();
    for d in diags {
        s.push_str(&d.to_string());
        s.push('\n');
    }
    s.push_str(&format!(
        "{} error{} in rule files",
        diags.len(),
        if diags.len() == 1 { "" } else { "s" }
    ));
    s
}

/// Rule variables and classifications after `--set` overrides.
///
/// # Errors
/// [`ReplayError::Set`] for an unreadable classification file.
pub fn settings(sets: &[(String, String)]) -> Result<(Vars, Classifications), ReplayError> {
    let mut vars = Vars::default();
    let mut classes = parse_classifications(DEFAULT_CLASSIFICATION);
    for (k, v) in sets {
        if k == "classification-file" {
            let text = std::fs::read_to_string(v)
                .map_err(|e| ReplayError::Set(format!("{k}={v}"), e.to_string()))?;
            classes = parse_classifications(&text);
        } else if let Some(name) = k.strip_prefix("vars.address-groups.") {
            set_var(&mut vars.address, name, v);
        } else if let Some(name) = k.strip_prefix("vars.port-groups.") {
            set_var(&mut vars.port, name, v);
        }
        // Other Suricata settings do not apply to canhgac; accepted so that
        // Suricata's command lines run unchanged.
    }
    Ok((vars, classes))
}

fn set_var(table: &mut Vec<(String, String)>, name: &str, value: &str) {
    match table.iter_mut().find(|(k, _)| k == name) {
        Some(entry) => entry.1 = value.to_string(),
        None => table.push((name.to_string(), value.to_string())),
    }
}

/// Runs the replay and writes `OUTDIR/eve.json`: alerts in packet order,
/// then one `stats` event.
///
/// # Errors
/// [`ReplayError`] for bad rules (all diagnostics), unreadable captures
/// or an unwritable output directory.
pub fn run(opts: &ReplayOptions) -> Result<PipelineStats, ReplayError> {
    let (vars, classes) = settings(&opts.sets)?;
    let files: Vec<&Path> = opts.rule_files.iter().map(PathBuf::as_path).collect();
    let rules = RuleSet::compile(&files, &vars, classes).map_err(ReplayError::Rules)?;
    std::fs::create_dir_all(&opts.outdir).map_err(|source| ReplayError::Io {
        path: opts.outdir.clone(),
        source,
    })?;
    let eve_path = opts.outdir.join("eve.json");
    let file = std::fs::File::create(&eve_path).map_err(|source| ReplayError::Io {
        path: eve_path.clone(),
        source,
    })?;
    let mut out = BufWriter::new(file);
    let mut pipeline = Pipeline::new(Arc::new(rules), Identity::default(), opts.simulate_ips);
    let mut events = Vec::new();
    let mut write_err: Option<std::io::Error> = None;
    let mut last_ts = 0i64;
    for pcap in &opts.pcaps {
        capture::read_file(pcap, |pkt| {
            last_ts = last_ts.max(pkt.ts_micros);
            pipeline.process(&pkt, &mut events);
            for ev in events.drain(..) {
                if write_err.is_none()
                    && let Err(e) = serde_json::to_writer(&mut out, &ev)
                        .map_err(std::io::Error::from)
                        .and_then(|()| out.write_all(b"\n"))
                {
                    write_err = Some(e);
                }
            }
        })?;
    }
    let stats = pipeline.stats_event(last_ts, None);
    let io = |source| ReplayError::Io {
        path: eve_path.clone(),
        source,
    };
    if let Some(e) = write_err {
        return Err(io(e));
    }
    serde_json::to_writer(&mut out, &stats).map_err(|e| io(e.into()))?;
    out.write_all(b"\n").map_err(io)?;
    out.flush().map_err(io)?;
    Ok(pipeline.stats)
}
