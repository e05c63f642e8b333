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

use super::pipeline::{Identity, Pipeline, PipelineConfig, PipelineStats};
use crate::detect::signature::threshold::parse_threshold_config;
use crate::detect::yara::service::{ScanCounters, ScanSettings, SharedCache, scan_item};
use crate::detect::yara::{FileScanner, YaraRules};

/// What to replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    pub pcaps: Vec<PathBuf>,
    pub rule_files: Vec<PathBuf>,
    pub outdir: PathBuf,
    /// `--set key=value` overrides, as Suricata takes them.
    pub sets: Vec<(String, String)>,
    pub simulate_ips: bool,
    /// Fail on any rule error instead of skipping the rule.
    pub init_errors_fatal: bool,
    /// YARA rule files for files carried in the traffic (HTTP bodies);
    /// `bundled` stands for canhgac's own set. Empty: no YARA.
    pub yara: Vec<PathBuf>,
    /// `[KIND:]PATH` log inputs (`-` is standard input).
    pub logs: Vec<String>,
    /// Sigma rule files or directories run over the log input.
    pub sigma: Vec<PathBuf>,
    /// A logsource and field mapping for the Sigma rules.
    pub sigma_mapping: Option<PathBuf>,
    /// Write only alerts (and the final stats event) to eve.json.
    pub alerts_only: bool,
}

/// Kinds a `--log` input may name (the part before `:`).
pub const LOG_KINDS: &[&str] = &[
    "auto",
    "syslog",
    "sshd",
    "auth",
    "sudo",
    "pam",
    "nginx",
    "apache",
    "access",
    "iis",
    "web",
    "firewall",
    "fortigate",
    "kv",
    "iptables",
    "pf",
    "cisco",
    "squid",
    "dns",
    "named",
    "unbound",
    "postfix",
    "dovecot",
    "mail",
];

/// Splits `KIND:PATH` (a known kind only; otherwise the whole is a path).
pub fn log_input(spec: &str) -> (Option<&str>, &str) {
    match spec.split_once(':') {
        Some((k, p)) if LOG_KINDS.contains(&k) => (Some(k), p),
        _ => (None, spec),
    }
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
    #[error("{0}")]
    Threshold(String),
    #[error("--sigma-mapping {0}")]
    Mapping(String),
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

/// Settings of the packet path from Suricata-style `--set` keys.
///
/// Known keys: `stream.midstream`, `threshold-file`,
/// `app-layer.protocols.http.libhtp.default-config.{request,response}-body-limit`,
/// `…response-body-decompress-layer-limit`,
/// `app-layer.protocols.dns.detection-ports.dp`, `vlan.use-for-tracking`.
/// Keys that only tune Suricata internals are accepted silently; any other
/// key is returned as a warning.
///
/// # Errors
/// A value that does not parse, or an unreadable threshold file.
pub fn pipeline_settings(
    sets: &[(String, String)],
    vars: &Vars,
) -> Result<(PipelineConfig, Vec<String>), ReplayError> {
    let mut cfg = PipelineConfig::default();
    let mut warnings = Vec::new();
    let bad = |k: &str, v: &str, why: &str| ReplayError::Set(format!("{k}={v}"), why.to_string());
    for (k, v) in sets {
        match k.as_str() {
            "stream.midstream" => {
                cfg.flow.midstream =
                    parse_bool(v).ok_or_else(|| bad(k, v, "expected true or false"))?
            }
            "vlan.use-for-tracking" => {
                cfg.flow.vlan_tracking =
                    parse_bool(v).ok_or_else(|| bad(k, v, "expected true or false"))?
            }
            "stream.reassembly.depth" => {
                cfg.flow.stream.depth =
                    parse_size(v).ok_or_else(|| bad(k, v, "expected a size like 1mb"))?
            }
            "app-layer.protocols.http.libhtp.default-config.request-body-limit" => {
                cfg.app.http.request_body_limit =
                    parse_size(v).ok_or_else(|| bad(k, v, "expected a size like 100kb"))? as usize
            }
            "app-layer.protocols.http.libhtp.default-config.response-body-limit" => {
                cfg.app.http.response_body_limit =
                    parse_size(v).ok_or_else(|| bad(k, v, "expected a size like 100kb"))? as usize
            }
            "app-layer.protocols.http.libhtp.default-config.response-body-decompress-layer-limit" => {
                cfg.app.http.decompress_layer_limit = v
                    .trim()
                    .parse()
                    .map_err(|_| bad(k, v, "expected a number"))?
            }
            "app-layer.protocols.dns.detection-ports.dp"
            | "app-layer.protocols.dns.udp.detection-ports.dp" => {
                let mut ports = Vec::new();
                for p in v.trim_matches(|c| c == '[' || c == ']').split(',') {
                    ports.push(
                        p.trim()
                            .parse::<u16>()
                            .map_err(|_| bad(k, v, "expected a port list"))?,
                    );
                }
                cfg.app.dns_udp_ports = ports.clone();
                cfg.app.dns_tcp_ports = ports;
            }
            "threshold-file" => {
                let text = std::fs::read_to_string(v).map_err(|e| bad(k, v, &e.to_string()))?;
                let resolve =
                    |name: &str| -> Option<Vec<crate::detect::signature::threshold::IpNet>> {
                        let val = vars.address.iter().find(|(n, _)| n == name)?.1.clone();
                        let mut out = Vec::new();
                        for item in val.trim_matches(|c| c == '[' || c == ']').split(',') {
                            out.push(
                                crate::detect::signature::threshold::IpNet::parse(item.trim())
                                    .ok()?,
                            );
                        }
                        Some(out)
                    };
                let (tc, diags) = parse_threshold_config(&text, &resolve);
                if !diags.is_empty() {
                    let msgs: Vec<String> = diags
                        .iter()
                        .map(|d| format!("{v}:{}:{}: error: {}", d.line, d.column, d.message))
                        .collect();
                    return Err(ReplayError::Threshold(msgs.join("\n")));
                }
                cfg.thresholds = tc;
            }
            "classification-file"
            | "reference-config-file"
            | "mpm-algo"
            | "spm-algo"
            | "runmode"
            | "default-log-dir" => {}
            k if k.starts_with("vars.")
                || k.starts_with("stats.")
                || k.starts_with("outputs.")
                || k.starts_with("logging.")
                || k.starts_with("detect.") => {}
            other => warnings.push(format!("--set {other}: not used by canhgac; ignored")),
        }
    }
    Ok((cfg, warnings))
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// `100kb`, `1mb`, `2gb`, `4096`.
pub fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = v.strip_suffix("kb").or_else(|| v.strip_suffix("kib")) {
        (n, 1024)
    } else if let Some(n) = v.strip_suffix("mb").or_else(|| v.strip_suffix("mib")) {
        (n, 1024 * 1024)
    } else if let Some(n) = v.strip_suffix("gb").or_else(|| v.strip_suffix("gib")) {
        (n, 1024 * 1024 * 1024)
    } else {
        (v.as_str(), 1)
    };
    num.trim().parse::<u64>().ok().map(|n| n * mult)
}

/// Runs the replay and writes `OUTDIR/eve.json`: events in packet order,
/// flow records as flows end, then one `stats` event.
///
/// # Errors
/// [`ReplayError`] for bad rules (with `--init-errors-fatal`), unreadable
/// captures or an unwritable output directory.
/// The parser names, for counting.
const PARSERS: &[&str] = &[
    "access",
    "kv",
    "nginx_error",
    "apache_error",
    "cisco_asa",
    "squid",
    "iis",
    "pf",
    "sshd",
    "sudo",
    "pam",
    "iptables",
    "dns",
    "mail_auth",
    "syslog",
    "raw",
];

/// What a replay did, for its summary line.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplaySummary {
    /// The packet path's counters (`alerts` counts signature alerts).
    pub packets: PipelineStats,
    /// YARA alerts on files carried in the traffic.
    pub yara_alerts: u64,
    pub log_lines: u64,
    /// Sigma alerts on the log lines (matches of rules that stand alone).
    pub sigma_alerts: u64,
    /// Sigma matches of rules that only feed correlations.
    pub sigma_quiet: u64,
    /// Results of Sigma correlation rules over the log input.
    pub correlation_alerts: u64,
}

/// Largest file pulled out of traffic for scanning, by default.
pub const DEFAULT_MAX_FILE: usize = 16 << 20;

/// YARA rules from `--yara` arguments: `bundled` and/or rule files (a file
/// that does not compile is skipped with its diagnostics).
///
/// # Errors
/// Unreadable files, or the bundled set broken.
pub fn load_yara(args: &[PathBuf]) -> Result<YaraRules, crate::detect::yara::YaraError> {
    let files: Vec<&Path> = args
        .iter()
        .filter(|p| p.as_os_str() != "bundled")
        .map(PathBuf::as_path)
        .collect();
    if files.is_empty() {
        return YaraRules::bundled();
    }
    let bundled = args.iter().any(|p| p.as_os_str() == "bundled");
    let (rules, skipped) = YaraRules::load(&files, bundled)?;
    for d in skipped {
        eprintln!("{d} (file skipped)");
    }
    Ok(rules)
}

pub fn run(opts: &ReplayOptions) -> Result<ReplaySummary, ReplayError> {
    let (vars, classes) = settings(&opts.sets)?;
    let (mut pcfg, warnings) = pipeline_settings(&opts.sets, &vars)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    pcfg.simulate_ips = opts.simulate_ips;
    let yara = if opts.yara.is_empty() {
        None
    } else {
        pcfg.extract_files = pcfg.extract_files.max(DEFAULT_MAX_FILE);
        Some(load_yara(&opts.yara).map_err(|e| ReplayError::Threshold(format!("yara: {e}")))?)
    };
    let files: Vec<&Path> = opts.rule_files.iter().map(PathBuf::as_path).collect();
    let (rules, report) = RuleSet::load(&files, &vars, classes);
    for w in &report.warnings {
        eprintln!("{w}");
    }
    if !report.diagnostics.is_empty() {
        if opts.init_errors_fatal {
            return Err(ReplayError::Rules(report.diagnostics));
        }
        for d in &report.diagnostics {
            eprintln!("{d} (rule skipped)");
        }
    }
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
    let mut pipeline = Pipeline::with_config(Arc::new(rules), Identity::default(), pcfg);
    let mut events = Vec::new();
    // files carried in the traffic are scanned in line, so the output is
    // the same from run to run
    let mut scanner = match &yara {
        Some(r) => Some(
            FileScanner::new(r, 10).map_err(|e| ReplayError::Threshold(format!("yara: {e}")))?,
        ),
        None => None,
    };
    let cache = SharedCache::new(4096);
    let counters = Arc::new(ScanCounters::default());
    if yara.is_some() {
        pipeline.scan_counters = Some(Arc::clone(&counters));
    }
    let settings = ScanSettings::default();
    let mut scan = |pipeline: &mut Pipeline, events: &mut Vec<crate::event::Event>| {
        for item in pipeline.extracted.drain(..) {
            if let Some(sc) = scanner.as_mut() {
                events.extend(scan_item(sc, 1, &cache, &settings, &counters, &item));
            }
        }
    };
    let mut write_err: Option<std::io::Error> = None;
    let alerts_only = opts.alerts_only;
    let mut write = |out: &mut BufWriter<std::fs::File>, events: &mut Vec<crate::event::Event>| {
        for ev in events.drain(..) {
            if alerts_only && ev.event_type != "alert" {
                continue;
            }
            if write_err.is_none()
                && let Err(e) = serde_json::to_writer(&mut *out, &ev)
                    .map_err(std::io::Error::from)
                    .and_then(|()| out.write_all(b"\n"))
            {
                write_err = Some(e);
            }
        }
    };
    for pcap in &opts.pcaps {
        capture::read_file(pcap, |pkt| {
            pipeline.process(&pkt, &mut events);
            scan(&mut pipeline, &mut events);
            write(&mut out, &mut events);
        })?;
    }
    pipeline.finish(&mut events);
    scan(&mut pipeline, &mut events);
    write(&mut out, &mut events);
    // Sigma rules for the logs: a rule with a problem is skipped and
    // reported at file:line:column
    let sigma_paths: Vec<&Path> = opts.sigma.iter().map(PathBuf::as_path).collect();
    let (mut sigma, sigma_report) = crate::detect::sigma::SigmaRuleSet::load(&sigma_paths);
    for d in &sigma_report.diagnostics {
        eprintln!("{d} (rule skipped)");
    }
    if let Some(m) = &opts.sigma_mapping {
        let mapping = crate::detect::sigma::mapping::Mapping::load(m)
            .map_err(|e| ReplayError::Mapping(e.to_string()))?;
        sigma.apply_mapping(mapping);
    }
    let mut sigma_matches = 0u64;
    let mut sigma_quiet = 0u64;
    let mut correlation_alerts = 0u64;
    let mut correlator = sigma.correlator(100_000);
    // logs: one `log` event per line, at the time the line says
    let mut log_stats = crate::logs::ReadStats::default();
    let mut parsers: std::collections::BTreeMap<&'static str, u64> = Default::default();
    let now = chrono::Utc::now().timestamp_micros();
    for spec in &opts.logs {
        let (kind, path) = log_input(spec);
        let reader: Box<dyn std::io::BufRead> = if path == "-" {
            Box::new(std::io::BufReader::new(std::io::stdin()))
        } else {
            Box::new(std::io::BufReader::new(std::fs::File::open(path).map_err(
                |source| ReplayError::Io {
                    path: PathBuf::from(path),
                    source,
                },
            )?))
        };
        let source = if path == "-" { "stdin" } else { path };
        let st = crate::logs::read_lines(reader, 64 * 1024, |n, text, cut| {
            let rec = super::log_record(source.to_string(), Some(n), text, cut);
            let parser = rec
                .extra
                .get("parser")
                .and_then(|v| v.as_str())
                .and_then(|p| PARSERS.iter().find(|x| **x == p).copied())
                .unwrap_or("raw");
            *parsers.entry(parser).or_default() += 1;
            let ts = rec
                .fields
                .as_ref()
                .and_then(|f| crate::logs::parse::event_time(f, now))
                .unwrap_or(now);
            let mut ev = pipeline.event("log", ts);
            let mut rec = rec;
            if let Some(k) = kind {
                rec.extra.insert("kind".into(), serde_json::json!(k));
            }
            ev.log = Some(rec);
            let alerts = sigma.alerts(&ev);
            sigma_matches += alerts.len() as u64;
            events.push(ev);
            for a in alerts {
                if a.alert.is_none() {
                    sigma_quiet += 1;
                }
                let results = correlation_results(&sigma, &mut correlator, &a);
                correlation_alerts += results.len() as u64;
                events.push(a);
                events.extend(results);
            }
            write(&mut out, &mut events);
        })
        .map_err(|source| ReplayError::Io {
            path: PathBuf::from(path),
            source,
        })?;
        log_stats.lines += st.lines;
        log_stats.truncated += st.truncated;
        log_stats.invalid_utf8 += st.invalid_utf8;
    }
    // windows judged at close end with the input
    for hit in correlator.flush(i64::MAX) {
        if let Some(c) = sigma.correlations.get(hit.correlation) {
            events.push(crate::detect::sigma::correlation_event(c, &hit));
            correlation_alerts += 1;
        }
    }
    write(&mut out, &mut events);
    let stats_ts = if opts.logs.is_empty() {
        pipeline.last_ts()
    } else {
        pipeline.last_ts().max(now)
    };
    let mut stats = pipeline.stats_event(stats_ts, None);
    if !opts.logs.is_empty()
        && let Some(s) = stats.stats.as_mut()
    {
        s.insert(
            "logs".into(),
            serde_json::json!({
                "lines": log_stats.lines,
                "truncated": log_stats.truncated,
                "invalid_utf8": log_stats.invalid_utf8,
                "parsers": parsers,
                "sigma_rules": sigma.rules.len(),
                "sigma_matches": sigma_matches,
                "sigma_prefiltered_rules": parsers.keys().map(|p| {
                    let (f, n) = sigma.prefiltered(p, None);
                    (p.to_string(), format!("{f}/{n}"))
                }).collect::<std::collections::BTreeMap<_, _>>(),
                "sigma_correlations": sigma.correlations.len(),
                "correlation_results": correlation_alerts,
                "correlation_groups_evicted": correlator.stats.groups_evicted,
            }),
        );
    }
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
    Ok(ReplaySummary {
        packets: pipeline.stats,
        yara_alerts: counters.alerts.load(std::sync::atomic::Ordering::Relaxed),
        log_lines: log_stats.lines,
        sigma_alerts: sigma_matches - sigma_quiet,
        sigma_quiet,
        correlation_alerts,
    })
}

/// The correlation results a Sigma match gives, as alert events.
fn correlation_results(
    set: &crate::detect::sigma::SigmaRuleSet,
    correlator: &mut crate::detect::sigma::Correlator,
    ev: &crate::event::Event,
) -> Vec<crate::event::Event> {
    if set.correlations.is_empty() {
        return Vec::new();
    }
    crate::detect::sigma::correlate(set, correlator, ev)
        .iter()
        .filter_map(|h| {
            set.correlations
                .get(h.correlation)
                .map(|c| crate::detect::sigma::correlation_event(c, h))
        })
        .collect()
}
