//! The `canhgac` command: one binary, every role (see `docs/architecture.md`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use canhgac::central::{AppState, CentralConfig, auth};
use canhgac::detect::signature::RuleSet;
use canhgac::sensor::{self, SensorConfig, SensorCounters, replay};

#[derive(Parser)]
#[command(
    name = "canhgac",
    version,
    about = "canhgac — information-security incident detection and response for government networks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a sensor at a gateway: capture, detect, spool, ship events to
    /// central (`sensor -c FILE`); or enrol it (`sensor enroll …`).
    Sensor {
        #[arg(long, short = 'c', value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: Option<SensorRunCommand>,
    },
    /// Run central at the province: ingest, store, incidents, console, API.
    Central {
        #[arg(long, short = 'c', value_name = "FILE")]
        config: Option<PathBuf>,
        /// Address of the console and API (overrides server.listen).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Central and a sensor in one process (`--demo`: the bundled demo).
    Up {
        /// Run the demo: SQLite under ./var, a sensor replaying the bundled capture.
        #[arg(long)]
        demo: bool,
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Where the demo keeps its state.
        #[arg(long, value_name = "DIR", default_value = "./var")]
        data_dir: PathBuf,
    },
    /// Offline: pcap files through the detection path, EVE JSON out
    /// (Suricata's command line: -r, -S, -l).
    #[command(args_override_self = true)]
    Replay(ReplayArgs),
    /// Scan files and directories with YARA (the bundled rules unless
    /// --rules is given); one line per match and a summary, or EVE JSON.
    Scan(ScanArgs),
    /// Check rule files and report every error with file:line:column.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Administration: units, sensors, users, API tokens, migrations.
    Admin {
        /// central.toml (default: built-in defaults, SQLite under ./var).
        #[arg(long, short = 'c', value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Args)]
struct ScanArgs {
    /// Files and directories (walked recursively; symbolic links are not
    /// followed).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// YARA rule file, or `bundled`; repeat for several. Default: canhgac's
    /// bundled set.
    #[arg(long = "rules", short = 'r', value_name = "YAR")]
    rules: Vec<PathBuf>,
    /// Print EVE JSON (a `fileinfo` per file, an `alert` per match).
    #[arg(long)]
    json: bool,
    /// Skip files larger than this many bytes.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    max_size: u64,
    /// Time limit per file, in seconds.
    #[arg(long, default_value_t = 10)]
    timeout: i32,
    /// Scan files as they are, without unwrapping gzip, ZIP and base64.
    #[arg(long)]
    no_decode: bool,
    /// Scanning threads (default: one per core).
    #[arg(long, short = 'p')]
    threads: Option<usize>,
    /// Keep running: watch the directories and scan files as they are
    /// written (inotify, plus a periodic sweep), until interrupted.
    #[arg(long)]
    watch: bool,
    /// With --watch: seconds a file must stay unchanged before it is scanned.
    #[arg(long, default_value_t = 2)]
    settle: u64,
    /// With --watch: seconds between full sweeps (the safety net for
    /// events the kernel dropped).
    #[arg(long, default_value_t = 600)]
    sweep: u64,
}

#[derive(Args)]
struct ReplayArgs {
    /// Capture file (pcap or pcapng); repeat for several.
    #[arg(short = 'r', value_name = "PCAP", required_unless_present = "logs")]
    pcap: Vec<PathBuf>,
    /// Log file to run through the log path (`-` for standard input),
    /// optionally prefixed with its kind (`syslog:`, `nginx:`, …; kept on
    /// the events; lines are parsed by their content); repeat for several.
    #[arg(long = "log", value_name = "[KIND:]PATH")]
    logs: Vec<String>,
    /// Sigma rule file or directory for the `--log` input; repeat for
    /// several. Each match is a `sigma` event.
    #[arg(long = "sigma", value_name = "YML")]
    sigma: Vec<PathBuf>,
    /// Logsource and field mapping (TOML) for the Sigma rules.
    #[arg(long = "sigma-mapping", value_name = "TOML")]
    sigma_mapping: Option<PathBuf>,
    /// Rule file; repeat for several.
    #[arg(short = 'S', value_name = "RULES")]
    rules: Vec<PathBuf>,
    /// Output directory for eve.json.
    #[arg(short = 'l', value_name = "DIR", default_value = ".")]
    outdir: PathBuf,
    /// Suricata-style `key=value` settings (classification-file,
    /// vars.address-groups.NAME, vars.port-groups.NAME; others ignored).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Alerts of drop/reject rules say `blocked`.
    #[arg(long)]
    simulate_ips: bool,
    /// Write only alerts (and the final stats event) to eve.json: for
    /// large log replays and benchmarks.
    #[arg(long)]
    alerts_only: bool,
    /// Stop on the first bad rule instead of skipping it with a diagnostic.
    #[arg(long)]
    init_errors_fatal: bool,
    /// Scan files carried in the traffic (HTTP bodies) with YARA: a rule
    /// file, or `bundled` for canhgac's own set; repeat for several.
    #[arg(long = "yara", value_name = "YAR")]
    yara: Vec<PathBuf>,
    /// Accepted for Suricata compatibility (a suricata.yaml); not read.
    #[arg(short = 'c', value_name = "YAML")]
    suricata_yaml: Option<PathBuf>,
    /// Accepted for Suricata compatibility (checksum mode); ignored.
    #[arg(short = 'k', value_name = "MODE")]
    checksum: Option<String>,
    /// Accepted for Suricata compatibility; ignored.
    #[arg(long)]
    runmode: Option<String>,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Compile rule files (Suricata-style rules; Sigma `.yml` files or
    /// directories of them); print every error, or a summary.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SensorRunCommand {
    /// Trade a one-time enrolment token for this sensor's credentials and
    /// pin central's CA certificate.
    Enroll {
        /// Central's base URL, e.g. https://soc.tayninh.example:8443
        #[arg(long, value_name = "URL")]
        central: String,
        /// The token `canhgac admin sensor add` printed.
        #[arg(long, value_name = "TOKEN")]
        token: String,
        /// The CA fingerprint `canhgac admin sensor add` printed; without
        /// it the CA is trusted on first use.
        #[arg(long, value_name = "HEX")]
        ca_sha256: Option<String>,
        /// Where to keep the credentials (default: the config's
        /// sensor.state_dir, or /var/lib/canhgac/sensor).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Run the database migrations (central also runs them at start).
    Migrate,
    /// Units of the organisation tree.
    Unit {
        #[command(subcommand)]
        command: UnitCommand,
    },
    /// Sensors and their enrolment.
    Sensor {
        #[command(subcommand)]
        command: SensorCommand,
    },
    /// Users of the console and API.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Versioned rule bundles for sensors.
    Bundle {
        #[command(subcommand)]
        command: BundleCommand,
    },
    /// The units' information systems (assets) and their levels.
    Asset {
        #[command(subcommand)]
        command: AssetCommand,
    },
    /// The hash-chained audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AssetCommand {
    /// Register an information system: incidents touching its addresses
    /// name it, and a level 4–5 system makes them serious.
    Add {
        name: String,
        #[arg(long)]
        unit: String,
        /// Information-system level, 1–5 (Decree 85/2016/NĐ-CP).
        #[arg(long)]
        level: i64,
        /// Addresses or CIDR blocks, comma-separated.
        #[arg(long, value_delimiter = ',')]
        addresses: Vec<String>,
        /// Who runs it.
        #[arg(long, default_value = "")]
        owner: String,
    },
    /// List the registered systems.
    List,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the whole chain; exits non-zero and names the first broken
    /// record if it does not hold.
    Verify,
    /// The latest records, newest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Subcommand)]
enum UnitCommand {
    /// Add a unit: `admin unit add xa-tan-lap --title "Xã Tân Lập" --kind commune --parent tay-ninh`.
    Add {
        /// Short name (letters, digits, `-`), used in commands and the API.
        name: String,
        /// Display name, e.g. "Phường Tân An".
        #[arg(long)]
        title: String,
        /// province, commune, ward, agency, site, … (free text).
        #[arg(long, default_value = "agency")]
        kind: String,
        /// Parent unit; none for a root.
        #[arg(long)]
        parent: Option<String>,
    },
    /// List units as a tree.
    List,
}

#[derive(Subcommand)]
enum SensorCommand {
    /// Add a sensor to a unit; prints its one-time enrolment token and the
    /// CA fingerprint the sensor pins.
    Add {
        name: String,
        #[arg(long)]
        unit: String,
        /// How long the token works, hours.
        #[arg(long, default_value_t = 168)]
        valid_hours: u64,
    },
    /// Revoke a sensor: central refuses it from now on.
    Revoke { name: String },
    /// List sensors with their state and last heartbeat figures.
    List,
    /// Queue a command for a sensor (reload_rules, update_rules, block,
    /// unblock, drill_inject).
    Command {
        name: String,
        kind: String,
        /// Arguments as JSON, e.g. '{"address":"198.51.100.7"}'.
        #[arg(long, default_value = "{}")]
        args: String,
        /// How long the command stays valid, seconds.
        #[arg(long)]
        ttl_secs: Option<u64>,
    },
}

#[derive(Subcommand)]
enum BundleCommand {
    /// Publish the rule files under DIR as the next version of bundle NAME;
    /// sensors fetch it on an `update_rules` command.
    Publish { name: String, dir: PathBuf },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; prints a generated password unless --password-stdin.
    Add {
        name: String,
        #[arg(long)]
        unit: String,
        /// admin, coordinator, unit_staff or viewer.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token for a user; printed once.
    Create {
        #[arg(long)]
        user: String,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Replay(a) => cmd_replay(a),
        Command::Scan(a) => cmd_scan(a),
        Command::Rules {
            command: RulesCommand::Check { files },
        } => cmd_rules_check(&files),
        Command::Sensor {
            config,
            command: None,
        } => match config {
            Some(c) => runtime()?.block_on(cmd_sensor(&c)),
            None => bail!("give the sensor's configuration: canhgac sensor -c sensor.toml"),
        },
        Command::Sensor {
            config,
            command:
                Some(SensorRunCommand::Enroll {
                    central,
                    token,
                    ca_sha256,
                    state_dir,
                }),
        } => runtime()?.block_on(cmd_enroll(config, central, token, ca_sha256, state_dir)),
        Command::Central { config, listen } => runtime()?.block_on(cmd_central(config, listen)),
        Command::Up {
            demo,
            listen,
            data_dir,
        } => {
            if !demo {
                bail!(
                    "`canhgac up` runs the demo for now: use `canhgac up --demo`, or run \
                     `canhgac central` and `canhgac sensor` with their config files"
                );
            }
            runtime()?.block_on(canhgac::up::run_demo(&listen, &data_dir))?;
            Ok(())
        }
        Command::Admin { config, command } => runtime()?.block_on(cmd_admin(config, command)),
    }
}

fn cmd_replay(a: ReplayArgs) -> Result<()> {
    let mut sets = Vec::new();
    for s in &a.set {
        let Some((k, v)) = s.split_once('=') else {
            bail!("--set {s}: expected KEY=VALUE");
        };
        sets.push((k.trim().to_string(), v.trim().to_string()));
    }
    let _ = (&a.suricata_yaml, &a.checksum, &a.runmode);
    let opts = replay::ReplayOptions {
        pcaps: a.pcap,
        rule_files: a.rules,
        outdir: a.outdir,
        sets,
        simulate_ips: a.simulate_ips,
        init_errors_fatal: a.init_errors_fatal,
        yara: a.yara,
        logs: a.logs,
        sigma: a.sigma,
        sigma_mapping: a.sigma_mapping,
        alerts_only: a.alerts_only,
    };
    let s = replay::run(&opts)?;
    eprintln!(
        "replay: {} packets, {} alerts, {} YARA alerts, {} log lines, {} Sigma alerts ({} more matches for correlation), {} correlation alerts → {}",
        s.packets.packets,
        s.packets.alerts,
        s.yara_alerts,
        s.log_lines,
        s.sigma_alerts,
        s.sigma_quiet,
        s.correlation_alerts,
        opts.outdir.join("eve.json").display()
    );
    Ok(())
}

fn cmd_scan(a: ScanArgs) -> Result<()> {
    use canhgac::detect::yara::service::{FileItem, RulesHandle, ScanPool, ScanSettings};
    use canhgac::detect::yara::{decode::DecodeLimits, files};
    use std::io::Write as _;
    use std::sync::atomic::Ordering;
    let rules = replay::load_yara(&a.rules)?;
    let rule_count = rules.len();
    let settings = ScanSettings {
        timeout_secs: a.timeout,
        decode: (!a.no_decode).then(DecodeLimits::default),
        // MD5/SHA-1 only when they are printed
        full_hashes: a.json,
        fileinfo: a.json,
    };
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::BufWriter::new(
        std::io::stdout(),
    )));
    let sink_out = std::sync::Arc::clone(&out);
    let json = a.json;
    // output closed (`| head`): stop watching
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sink_stop = std::sync::Arc::clone(&stop);
    let sink = std::sync::Arc::new(move |events: Vec<canhgac::event::Event>| {
        let Ok(mut o) = sink_out.lock() else { return };
        for ev in events {
            let written = if json {
                serde_json::to_writer(&mut *o, &ev).map_err(std::io::Error::from)
            } else {
                let Some(alert) = &ev.alert else { continue };
                let md = alert.metadata.as_ref();
                let tags = md
                    .and_then(|m| m.get("tags"))
                    .and_then(|t| t.as_array())
                    .map(|t| {
                        let t: Vec<&str> = t.iter().filter_map(|v| v.as_str()).collect();
                        format!(" [{}]", t.join(","))
                    })
                    .unwrap_or_default();
                let rule = ev.extra.get("yara").and_then(|v| v.as_str()).unwrap_or("");
                let name = ev.extra["fileinfo"]["filename"].as_str().unwrap_or("");
                write!(o, "{rule}{tags} {name}")
            };
            if written.and_then(|()| writeln!(o)).is_err() {
                sink_stop.store(true, Ordering::Relaxed);
                return;
            }
        }
        if json && o.flush().is_err() {
            sink_stop.store(true, Ordering::Relaxed);
        }
    });
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let handle = std::sync::Arc::new(RulesHandle::new(rules));
    let pool = ScanPool::start(handle, settings, threads, threads * 4, sink);
    let counters = std::sync::Arc::clone(&pool.counters);
    let cache = std::sync::Arc::clone(&pool.cache);

    let started = std::time::Instant::now();
    let mut list = Vec::new();
    let mut errors = Vec::new();
    let mut skipped = 0u64;
    // with --watch the watcher makes the first pass itself, after its
    // kernel watches are in place
    if !a.watch {
        files::walk(&a.paths, &mut list, &mut errors);
    }
    let now = chrono::Utc::now().timestamp_micros();
    for path in &list {
        match files::read_limited(path, a.max_size) {
            Ok(Some(data)) => {
                // hashed here, while the workers scan
                let hashes = if a.json {
                    files::Hashes::of(&data)
                } else {
                    files::Hashes::sha256_only(&data)
                };
                let mut item = FileItem::from_path(path, data, now);
                item.hashes = Some(hashes);
                pool.submit_wait(item);
            }
            Ok(None) => {
                skipped += 1;
                errors.push(format!(
                    "{}: over --max-size ({} bytes); skipped",
                    path.display(),
                    a.max_size
                ));
            }
            Err(e) => errors.push(format!("{}: {e}", path.display())),
        }
    }
    if a.watch {
        ctrlc_flag(std::sync::Arc::clone(&stop));
        let watch = canhgac::detect::yara::watch::WatchConfig {
            roots: a.paths.clone(),
            settle: std::time::Duration::from_secs(a.settle),
            sweep: std::time::Duration::from_secs(a.sweep.max(1)),
            max_size: a.max_size,
            initial_scan: true,
        };
        eprintln!(
            "scan: watching {} (settle {} s, sweep every {} s); Ctrl-C stops",
            a.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            a.settle,
            a.sweep
        );
        canhgac::detect::yara::watch::run(&watch, &pool, &stop)?;
    }
    pool.finish();
    if let Ok(mut o) = out.lock() {
        o.flush()?;
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    for e in &errors {
        eprintln!("error: {e}");
    }
    let g = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let (scanned, bytes) = (g(&counters.files), g(&counters.bytes));
    let scan_errors = g(&counters.errors);
    eprintln!(
        "scan: {scanned} files, {:.1} MiB in {secs:.2} s ({:.1} MiB/s, {:.0} files/s, {threads} threads), {} matched, {skipped} skipped, {} errors, {rule_count} rules, cache {} hits, {} decoded layers ({:.1} MiB), {} bombs stopped",
        bytes as f64 / 1_048_576.0,
        bytes as f64 / 1_048_576.0 / secs,
        scanned as f64 / secs,
        g(&counters.matched),
        errors.len() as u64 + scan_errors,
        cache.hits_misses().0,
        g(&counters.layers),
        g(&counters.layer_bytes) as f64 / 1_048_576.0,
        g(&counters.bombs)
    );
    if scanned == 0 && !errors.is_empty() {
        bail!("nothing could be scanned");
    }
    Ok(())
}

/// Sets `flag` on Ctrl-C or SIGTERM.
fn ctrlc_flag(flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(canhgac::up::shutdown_signal());
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
}

/// Checks Sigma rule files and directories: every rule that does not load,
/// at file:line:column, and a count per file.
fn check_sigma(paths: &[&Path]) -> Result<()> {
    let (set, report) = canhgac::detect::sigma::SigmaRuleSet::load(paths);
    for d in &report.diagnostics {
        println!("{d}");
    }
    for (file, loaded, skipped) in &report.files {
        if *skipped > 0 || report.files.len() <= 20 {
            println!("{file}: {loaded} loaded, {skipped} skipped");
        }
    }
    let skipped: usize = report.files.iter().map(|f| f.2).sum();
    println!(
        "sigma: {} file(s), {} rule(s) and {} correlation(s) loaded, {skipped} skipped, {} filter document(s) not used",
        report.files.len(),
        set.rules.len(),
        set.correlations.len(),
        set.other.len()
    );
    if set.rules.is_empty() && skipped > 0 {
        bail!("no Sigma rule could be loaded");
    }
    Ok(())
}

/// Whether a file is a CACAO playbook: JSON, or YAML that says
/// `spec_version: cacao-…`.
fn is_playbook_file(p: &Path) -> bool {
    match p.extension().and_then(|x| x.to_str()) {
        Some("json") => true,
        Some("yml" | "yaml") => std::fs::read_to_string(p)
            .map(|t| t.contains("spec_version: cacao") || t.contains("spec_version: \"cacao"))
            .unwrap_or(false),
        _ => false,
    }
}

/// Whether a file is a drill scenario: YAML with a top-level `injects:`.
fn is_scenario_file(p: &Path) -> bool {
    matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml"))
        && std::fs::read_to_string(p)
            .map(|t| t.starts_with("injects:") || t.contains("\ninjects:"))
            .unwrap_or(false)
}

/// Validates drill scenarios; prints one line per file and per problem
/// (file:line:col). Expected detections are checked against the `rules/`
/// folder found above the scenario.
fn check_scenarios(files: &[PathBuf]) -> Result<()> {
    use canhgac::central::drill::scenario;
    let mut bad = 0;
    for f in files {
        let rules = f
            .canonicalize()
            .ok()
            .and_then(|abs| {
                abs.ancestors()
                    .map(|a| a.join("rules"))
                    .find(|r| r.is_dir())
            })
            .map(|r| scenario::KnownRules::scan(&r));
        match scenario::load(f, rules.as_ref()) {
            Ok(s) => println!(
                "{}: ok — {} ({} injects{})",
                f.display(),
                s.title.en,
                s.injects.len(),
                if s.tabletop { ", tabletop" } else { "" }
            ),
            Err(diags) => {
                bad += 1;
                for d in diags {
                    println!("{}:{d}", f.display());
                }
            }
        }
    }
    println!("scenarios: {} valid, {bad} invalid", files.len() - bad);
    if bad > 0 {
        bail!("{bad} scenario(s) are not valid");
    }
    Ok(())
}

fn playbook_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            // the embedded schemas are not playbooks
            if p.file_name().is_some_and(|n| n != "cacao-schemas") {
                playbook_files(&p, out);
            }
        } else if is_playbook_file(&p) || is_scenario_file(&p) {
            out.push(p);
        }
    }
}

/// Validates playbooks; prints one line per file and per problem.
fn check_playbooks(files: &[PathBuf]) -> Result<()> {
    let mut bad = 0;
    for f in files {
        let text = std::fs::read_to_string(f).with_context(|| format!("{}", f.display()))?;
        let problems = match canhgac::central::playbook::parse_text(&text) {
            Err(p) => vec![p],
            Ok(doc) => match canhgac::central::playbook::load(&doc) {
                Ok(pb) => {
                    println!(
                        "{}: ok — {} ({} steps)",
                        f.display(),
                        pb.name,
                        pb.steps.len()
                    );
                    continue;
                }
                Err(problems) => problems,
            },
        };
        bad += 1;
        for p in problems {
            println!("{}: {p}", f.display());
        }
    }
    println!("playbooks: {} valid, {bad} invalid", files.len() - bad);
    if bad > 0 {
        bail!("{bad} playbook(s) are not valid");
    }
    Ok(())
}

fn cmd_rules_check(files: &[PathBuf]) -> Result<()> {
    // CACAO playbooks (JSON, YAML saying spec_version: cacao, directories
    // holding them) apart from rules
    let mut playbooks = Vec::new();
    let mut scenarios = Vec::new();
    let mut rest = Vec::new();
    for f in files {
        if f.is_dir() {
            let mut found = Vec::new();
            playbook_files(f, &mut found);
            if found.is_empty() {
                rest.push(f.clone());
            }
            for p in found {
                if is_scenario_file(&p) {
                    scenarios.push(p);
                } else {
                    playbooks.push(p);
                }
            }
        } else if is_scenario_file(f) {
            scenarios.push(f.clone());
        } else if is_playbook_file(f) {
            playbooks.push(f.clone());
        } else {
            rest.push(f.clone());
        }
    }
    let files = &rest;
    let pb = if playbooks.is_empty() {
        Ok(())
    } else {
        check_playbooks(&playbooks)
    };
    let sc = if scenarios.is_empty() {
        Ok(())
    } else {
        check_scenarios(&scenarios)
    };
    pb?;
    sc?;
    // Sigma files (`.yml`, `.yaml`, or directories of them) apart from
    // signature rule files
    let is_sigma =
        |p: &PathBuf| p.is_dir() || p.extension().is_some_and(|x| x == "yml" || x == "yaml");
    let sigma: Vec<&Path> = files
        .iter()
        .filter(|p| is_sigma(p))
        .map(PathBuf::as_path)
        .collect();
    if !sigma.is_empty() {
        check_sigma(&sigma)?;
    }
    let files: Vec<PathBuf> = files.iter().filter(|p| !is_sigma(p)).cloned().collect();
    if files.is_empty() {
        return Ok(());
    }
    let (vars, classes) = replay::settings(&[])?;
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (rules, report) = RuleSet::load(&paths, &vars, classes);
    for d in &report.diagnostics {
        println!("{d}");
    }
    for d in &report.warnings {
        println!("{d}");
    }
    for f in &report.files {
        println!("{}: {} loaded, {} skipped", f.path, f.loaded, f.skipped);
    }
    // The most common reasons, so an operator sees at a glance what a rule
    // set needs that canhgac lacks.
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    for d in &report.diagnostics {
        let key = match d.message.find("` cannot be compiled") {
            Some(_) => "`pcre` cannot be compiled".to_string(),
            None => d.message.clone(),
        };
        *reasons.entry(key).or_default() += 1;
    }
    let mut top: Vec<(String, usize)> = reasons.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if !top.is_empty() {
        println!("top skip reasons:");
        for (reason, n) in top.iter().take(15) {
            println!("  {n:>6}  {reason}");
        }
    }
    let always = rules.prefilter().always_count();
    println!(
        "total: {} loaded, {} skipped; {} rule(s) without a fast pattern (checked on every packet of their protocol)",
        report.loaded(),
        report.skipped(),
        always
    );
    if report.loaded() == 0 && report.skipped() > 0 {
        bail!("no rule could be loaded");
    }
    Ok(())
}

async fn cmd_enroll(
    config: Option<PathBuf>,
    central: String,
    token: String,
    ca_sha256: Option<String>,
    state_dir: Option<PathBuf>,
) -> Result<()> {
    let dir = match (state_dir, config) {
        (Some(d), _) => d,
        (None, Some(c)) => SensorConfig::load(&c)?.sensor.state_dir,
        (None, None) => PathBuf::from("/var/lib/canhgac/sensor"),
    };
    if dir.join("credentials.json").exists() {
        bail!(
            "{} already holds credentials; to enrol again, revoke the old sensor at central and remove that file",
            dir.join("credentials.json").display()
        );
    }
    let creds = sensor::link::enrol(&central, &token, ca_sha256.as_deref(), &dir).await?;
    println!(
        "enrolled as sensor {} of unit {}; credentials in {}",
        creds.sensor_id,
        creds.unit,
        dir.join("credentials.json").display()
    );
    if central.starts_with("https://") {
        println!(
            "central's CA pinned in {}",
            dir.join("central-ca.pem").display()
        );
    }
    Ok(())
}

async fn cmd_sensor(config: &Path) -> Result<()> {
    let cfg = SensorConfig::load(config)?;
    let rules = sensor::load_signatures(&cfg.rules)?;
    tracing::info!(rules = rules.len(), "rules loaded");
    let stop = Arc::new(AtomicBool::new(false));
    let stop_signal = Arc::clone(&stop);
    tokio::spawn(async move {
        canhgac::up::shutdown_signal().await;
        tracing::info!("stopping");
        stop_signal.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let counters = Arc::new(SensorCounters::default());
    sensor::run(cfg, Arc::new(rules), stop, Arc::clone(&counters)).await?;
    let c = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "sensor: {} events shipped in {} batches, {} rejected by central, {} retries",
        c(&counters.events_shipped),
        c(&counters.batches_shipped),
        c(&counters.dropped_events),
        c(&counters.ship_retries)
    );
    Ok(())
}

fn central_config(path: Option<PathBuf>) -> Result<CentralConfig> {
    match path {
        Some(p) => Ok(CentralConfig::load(&p)?),
        None => Ok(CentralConfig::default()),
    }
}

async fn cmd_central(config: Option<PathBuf>, listen: Option<String>) -> Result<()> {
    let mut cfg = central_config(config)?;
    if let Some(l) = listen {
        cfg.server.listen = l;
        cfg.validate(Path::new("--listen"))?;
    }
    let store = cfg.open_store().await?;
    let tls = cfg
        .tls_material()
        .context("central's TLS certificate (server.tls)")?;
    let listener = std::net::TcpListener::bind(&cfg.server.listen)
        .with_context(|| format!("cannot listen on {}", cfg.server.listen))?;
    let listen = cfg.server.listen.clone();
    let state = AppState::new(store, cfg);
    match tls {
        Some(m) => {
            tracing::info!(%listen, store = state.store.backend(), ca_sha256 = %m.ca_sha256,
                "central started (HTTPS; sensors pin this CA fingerprint)");
            canhgac::central::serve_tls(state, listener, &m, canhgac::up::shutdown_signal())
                .await?;
        }
        None => {
            tracing::info!(%listen, store = state.store.backend(), "central started (plain HTTP: server.tls = \"off\")");
            listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(listener)?;
            canhgac::central::serve(state, listener, canhgac::up::shutdown_signal()).await?;
        }
    }
    Ok(())
}

/// The text files under `dir`, by path relative to it.
fn read_bundle(dir: &Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut out = serde_json::Map::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("{}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .into_owned();
                let text = std::fs::read_to_string(&p)
                    .with_context(|| format!("{}: bundles hold text rule files", p.display()))?;
                out.insert(rel, serde_json::Value::String(text));
            }
        }
    }
    if out.is_empty() {
        bail!("{}: no files", dir.display());
    }
    Ok(out)
}

fn valid_name(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!("{kind} name `{name}`: use 1-64 lower-case letters, digits, `-` or `_`");
    }
    Ok(())
}

/// Who runs an admin command, for the audit trail.
fn cli_actor() -> String {
    let who = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("admin-cli:{who}")
}

async fn cmd_admin(config: Option<PathBuf>, command: AdminCommand) -> Result<()> {
    let cfg = central_config(config)?;
    let store = cfg.open_store().await?;
    let actor = cli_actor();
    let audit = |action: &'static str, object: String, details: serde_json::Value| {
        let (store, actor) = (store.clone(), actor.clone());
        async move { canhgac::central::audit::record(&store, &actor, action, &object, details).await }
    };
    match command {
        AdminCommand::Asset {
            command:
                AssetCommand::Add {
                    name,
                    unit,
                    level,
                    addresses,
                    owner,
                },
        } => {
            for a in &addresses {
                let ip = a.split('/').next().unwrap_or_default();
                if ip.trim().parse::<std::net::IpAddr>().is_err() {
                    bail!("--addresses: `{a}` is not an address or CIDR block");
                }
            }
            let row = store
                .add_asset(&name, &unit, &addresses, owner.trim(), level)
                .await?;
            audit(
                "asset.add",
                format!("asset:{name}"),
                serde_json::json!({"unit": row.unit, "level": level, "addresses": row.addresses}),
            )
            .await;
            println!(
                "asset {} added to unit {} (level {}, {})",
                row.name, row.unit, row.level, row.addresses
            );
        }
        AdminCommand::Asset {
            command: AssetCommand::List,
        } => {
            for a in store.assets("").await? {
                println!(
                    "{:<28} {:<20} level {}  {}  {}",
                    a.name, a.unit, a.level, a.addresses, a.owner
                );
            }
        }
        AdminCommand::Audit {
            command: AuditCommand::Verify,
        } => match store.audit_verify().await? {
            Ok((n, last)) => {
                println!("audit trail intact: {n} record(s); last hash {last}");
            }
            Err(b) => {
                bail!("audit trail broken at record {}: {}", b.id, b.reason);
            }
        },
        AdminCommand::Audit {
            command: AuditCommand::List { limit },
        } => {
            let rows = store.audit_latest(limit.clamp(1, 100_000)).await?;
            for r in rows {
                let t = chrono::DateTime::from_timestamp_micros(r.at)
                    .map_or(String::new(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string());
                println!(
                    "#{:<6} {t} UTC  {:<22} {:<16} {:<24} {}",
                    r.id, r.actor, r.action, r.object, r.details
                );
            }
        }
        AdminCommand::Migrate => println!("migrations up to date ({})", store.backend()),
        AdminCommand::Unit {
            command:
                UnitCommand::Add {
                    name,
                    title,
                    kind,
                    parent,
                },
        } => {
            valid_name("unit", &name)?;
            let u = store
                .add_unit(&name, title.trim(), kind.trim(), parent.as_deref())
                .await?;
            audit(
                "unit.add",
                format!("unit:{}", u.name),
                serde_json::json!({"title": u.title, "kind": kind.trim(), "parent": parent}),
            )
            .await;
            println!("unit {} added ({})", u.name, u.path);
        }
        AdminCommand::Unit {
            command: UnitCommand::List,
        } => {
            for u in store.units().await? {
                let depth = u.path.matches('/').count().saturating_sub(2);
                println!(
                    "{}{}  {}  [{}]",
                    "  ".repeat(depth),
                    u.name,
                    u.title,
                    u.kind
                );
            }
        }
        AdminCommand::Sensor {
            command:
                SensorCommand::Add {
                    name,
                    unit,
                    valid_hours,
                },
        } => {
            valid_name("sensor", &name)?;
            let token = auth::new_token("cge_");
            let s = store
                .add_sensor(&name, &unit, &auth::token_hash(&token))
                .await?;
            let until = chrono::Utc::now()
                + chrono::Duration::hours(i64::try_from(valid_hours.max(1)).unwrap_or(168));
            store
                .set_enrol_expiry(&name, until.timestamp_micros())
                .await?;
            audit(
                "sensor.add",
                format!("sensor:{name}"),
                serde_json::json!({"unit": s.unit_name, "token_valid_until": until.to_rfc3339()}),
            )
            .await;
            println!("sensor {} added to unit {}", s.name, s.unit_name);
            println!(
                "one-time enrolment token, valid until {} UTC:",
                until.format("%Y-%m-%d %H:%M")
            );
            println!("{token}");
            let tls = cfg
                .tls_material()
                .context("central's TLS certificate (server.tls)")?;
            match tls {
                Some(m) => {
                    println!("central's CA fingerprint (the sensor pins it):");
                    println!("{}", m.ca_sha256);
                    println!("on the sensor:");
                    println!(
                        "  canhgac sensor enroll -c /etc/canhgac/sensor.toml --central https://CENTRAL:PORT --token {token} --ca-sha256 {}",
                        m.ca_sha256
                    );
                }
                None => {
                    println!("on the sensor (central serves plain HTTP: server.tls = \"off\"):");
                    println!(
                        "  canhgac sensor enroll -c /etc/canhgac/sensor.toml --central http://CENTRAL:PORT --token {token}"
                    );
                }
            }
        }
        AdminCommand::Sensor {
            command: SensorCommand::List,
        } => {
            for r in store.sensor_rows("").await? {
                let h: serde_json::Value = r
                    .health
                    .as_deref()
                    .and_then(|h| serde_json::from_str(h).ok())
                    .unwrap_or_default();
                let last = r
                    .last_heartbeat
                    .or(r.last_seen)
                    .and_then(chrono::DateTime::from_timestamp_micros)
                    .map_or("never".to_string(), |t| {
                        t.format("%Y-%m-%d %H:%M:%S").to_string()
                    });
                println!(
                    "{:<24} {:<20} {:<8} last {}  spool {} B  pending {}  dropped {}  ev/s {}",
                    r.name,
                    r.unit,
                    if r.revoked_at.is_some() {
                        "revoked"
                    } else {
                        r.state.as_str()
                    },
                    last,
                    h["spool"]["bytes"],
                    h["spool"]["pending"],
                    h["spool"]["dropped"].as_object().map_or(0, |m| m
                        .values()
                        .filter_map(serde_json::Value::as_u64)
                        .sum::<u64>()),
                    h["events_per_sec"],
                );
            }
        }
        AdminCommand::Sensor {
            command:
                SensorCommand::Command {
                    name,
                    kind,
                    args,
                    ttl_secs,
                },
        } => {
            let args: serde_json::Value =
                serde_json::from_str(&args).context("--args is not JSON")?;
            if let Err(e) = canhgac::central::fleet::check_command(&store, &kind, &args).await {
                bail!("{e}");
            }
            let ttl = ttl_secs
                .unwrap_or(cfg.sensors.command_ttl_secs)
                .clamp(1, 7 * 86_400);
            let id = store
                .add_command(
                    &name,
                    &kind,
                    &args,
                    "admin-cli",
                    i64::try_from(ttl * 1_000_000).unwrap_or(i64::MAX),
                )
                .await?;
            audit(
                "command.queue",
                format!("sensor:{name}"),
                serde_json::json!({"command": id, "kind": kind, "args": args}),
            )
            .await;
            println!("command {id} queued for {name}; the sensor takes it on its next poll");
        }
        AdminCommand::Bundle {
            command: BundleCommand::Publish { name, dir },
        } => {
            valid_name("bundle", &name)?;
            let files = read_bundle(&dir)?;
            let n = files.len();
            let digest = canhgac::central::fleet::bundle_digest(&files);
            let v = store
                .add_bundle(
                    &name,
                    &serde_json::Value::Object(files),
                    &digest,
                    "admin-cli",
                )
                .await?;
            audit(
                "bundle.publish",
                format!("bundle:{name}"),
                serde_json::json!({"version": v, "files": n, "sha256": digest}),
            )
            .await;
            println!("bundle {name} version {v}: {n} file(s), sha256 {digest}");
            println!(
                "send it: canhgac admin sensor command SENSOR update_rules --args '{{\"bundle\":\"{name}\",\"version\":{v}}}'"
            );
        }
        AdminCommand::Sensor {
            command: SensorCommand::Revoke { name },
        } => {
            canhgac::central::fleet::revoke_sensor(&store, &actor, &name, "admin-cli").await?;
            println!("sensor {name} revoked");
        }
        AdminCommand::User {
            command:
                UserCommand::Add {
                    name,
                    unit,
                    role,
                    password_stdin,
                },
        } => {
            valid_name("user", &name)?;
            let Some(role) = auth::Role::parse(&role) else {
                bail!("role `{role}`: expected one of {}", auth::Role::NAMES);
            };
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                let p = line.trim_end_matches(['\r', '\n']).to_string();
                if p.chars().count() < 12 {
                    bail!("password: use at least 12 characters");
                }
                (p, false)
            } else {
                (auth::new_password(), true)
            };
            let hash = auth::hash_password(&password)
                .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
            let u = store.add_user(&name, &hash, role.as_str(), &unit).await?;
            audit(
                "user.add",
                format!("user:{}", u.username),
                serde_json::json!({"role": u.role, "unit": u.unit_name}),
            )
            .await;
            println!(
                "user {} ({}) added to unit {}",
                u.username, u.role, u.unit_name
            );
            if generated {
                println!("password (shown once): {password}");
            }
        }
        AdminCommand::Token {
            command: TokenCommand::Create { user },
        } => {
            let Some(u) = store.user(&user).await? else {
                bail!("no user `{user}`");
            };
            let token = auth::new_token("cgk_");
            store.add_api_token(u.id, &auth::token_hash(&token)).await?;
            audit(
                "token.create",
                format!("user:{}", u.username),
                serde_json::json!({}),
            )
            .await;
            println!("{token}");
        }
    }
    Ok(())
}
