//! `canhgac up`: central and a sensor in one process — for a small site, or
//! with `--demo` for a newcomer's first look.
//!
//! The demo keeps everything under `./var/`: the SQLite database, the
//! sensor's credentials and the bundled capture and log sample (compiled into
//! the binary, written out on start). On the first start it creates the
//! organisation tree of a Tây Ninh ward, an `admin` user whose password is
//! printed once, and an enrolled sensor; then the sensor replays the demo
//! capture with its times shifted to "now", so alerts and incidents appear
//! within seconds at <http://127.0.0.1:8080>.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::central::store::{Store, StoreError};
use crate::central::{AppState, CentralConfig, auth};
use crate::detect::signature::{DEFAULT_CLASSIFICATION, RuleSet, Vars, parse_classifications};
use crate::sensor::{self, CentralLink, SensorConfig, SensorCounters};

/// The bundled demo capture (made by `deploy/demo/gen_demo.py`).
pub const DEMO_PCAP: &[u8] = include_bytes!("../deploy/demo/demo.pcap");
/// The bundled demo log sample.
pub const DEMO_LOG: &str = include_str!("../deploy/demo/demo.log");
/// The bundled demo rules.
pub const DEMO_RULES: &str = include_str!("../rules/demo.rules");

/// Errors of `canhgac up`.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("demo rules: {0}")]
    Rules(String),
    #[error(transparent)]
    Sensor(#[from] sensor::SensorError),
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM (what systemd sends on stop).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            () = term => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// What the first demo start created, to print once.
#[derive(Debug, Clone)]
pub struct DemoSetup {
    pub admin_password: Option<String>,
}

const PROVINCE: (&str, &str) = ("tay-ninh", "Tỉnh Tây Ninh");
const WARD: (&str, &str) = ("phuong-tan-an", "Phường Tân An");
const SITE: (&str, &str) = ("ubnd-phuong-tan-an", "UBND phường Tân An — trụ sở");
const DEMO_SENSOR: &str = "gw-tan-an-01";

/// Creates the demo organisation and admin if the store is empty, and the
/// demo sensor with a fresh enrolment token unless it has credentials.
///
/// # Errors
/// [`UpError`] on store or file errors.
pub async fn prepare_demo(
    store: &Store,
    state_dir: &Path,
) -> Result<(DemoSetup, Option<String>), UpError> {
    let mut setup = DemoSetup {
        admin_password: None,
    };
    if store.unit(PROVINCE.0).await?.is_none() {
        store
            .add_unit(PROVINCE.0, PROVINCE.1, "province", None)
            .await?;
        store
            .add_unit(WARD.0, WARD.1, "ward", Some(PROVINCE.0))
            .await?;
        store.add_unit(SITE.0, SITE.1, "site", Some(WARD.0)).await?;
    }
    if store.user_count().await? == 0 {
        let password = auth::new_password();
        let hash = auth::hash_password(&password)
            .map_err(|e| UpError::Rules(format!("password hashing: {e}")))?;
        store.add_user("admin", &hash, "admin", PROVINCE.0).await?;
        setup.admin_password = Some(password);
    }
    let creds = state_dir.join("credentials.json");
    let mut token = None;
    if !creds.exists() {
        // A sensor without local credentials (first start, or state wiped):
        // register it anew under a fresh name if the old one is taken.
        let mut name = DEMO_SENSOR.to_string();
        let mut n = 1;
        while store.sensor(&name).await?.is_some() {
            n += 1;
            name = format!("{DEMO_SENSOR}-{n}");
        }
        let t = auth::new_token("cge_");
        store
            .add_sensor(&name, SITE.0, &auth::token_hash(&t))
            .await?;
        token = Some(t);
    }
    Ok((setup, token))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), UpError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| UpError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, bytes).map_err(|source| UpError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Runs `canhgac up --demo` until Ctrl-C.
///
/// # Errors
/// [`UpError`] when the store cannot be opened or the address is taken.
pub async fn run_demo(listen: &str, data_dir: &Path) -> Result<(), UpError> {
    let mut cfg = CentralConfig::default();
    cfg.server.listen = listen.to_string();
    cfg.store.data_dir = data_dir.to_path_buf();
    let store = cfg.open_store().await?;
    let state_dir = data_dir.join("sensor");
    let (setup, token) = prepare_demo(&store, &state_dir).await?;

    let demo_dir = data_dir.join("demo");
    let pcap = demo_dir.join("demo.pcap");
    let log = demo_dir.join("demo.log");
    let rules_path = demo_dir.join("demo.rules");
    write(&pcap, DEMO_PCAP)?;
    write(&log, DEMO_LOG.as_bytes())?;
    write(&rules_path, DEMO_RULES.as_bytes())?;
    // the Sigma rules drills are detected with: the sensor runs them over
    // logs (and drill injects), central correlates their matches
    let sigma_dir = demo_dir.join("sigma");
    for (name, text) in crate::central::drill::library::DRILL_SIGMA {
        write(&sigma_dir.join(name), text.as_bytes())?;
    }
    cfg.correlation.rules = vec![sigma_dir.clone()];

    let addr: SocketAddr = listen.parse().map_err(|_| UpError::Listen {
        addr: listen.to_string(),
        source: std::io::Error::other("not an address:port"),
    })?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| UpError::Listen {
            addr: listen.to_string(),
            source,
        })?;
    let state = AppState::new(store, cfg);
    let server = tokio::spawn(crate::central::serve(state, listener, shutdown_signal()));

    println!();
    println!("  canhgac demo — console: http://{addr}");
    match &setup.admin_password {
        Some(p) => {
            println!("  user: admin   password: {p}");
            println!("  (shown once; it is stored only as an argon2id hash)");
        }
        None => println!("  sign in with the admin password printed on the first start"),
    }
    println!("  data: {}   stop: Ctrl-C", data_dir.display());
    println!();

    let sensor_cfg = SensorConfig {
        sensor: sensor::SensorSection {
            state_dir,
            // stays to answer commands (playbook blocks, dry-run)
            linger: true,
            ..Default::default()
        },
        central: CentralLink {
            url: format!("http://{addr}"),
            enrolment_token: token.unwrap_or_default(),
            ca_sha256: None,
            batch_max_events: 500,
            batch_max_bytes: 4 << 20,
            batch_max_ms: 500,
            max_backoff_secs: 5,
        },
        capture: sensor::CaptureSection {
            files: vec![pcap],
            shift_to_now: true,
            ..Default::default()
        },
        rules: sensor::RulesSection {
            files: vec![rules_path.clone()],
            ..Default::default()
        },
        logs: sensor::LogsSection {
            files: vec![log],
            sigma: vec![sigma_dir],
            ..Default::default()
        },
        // files carried in the demo traffic are scanned with the bundled set
        files: sensor::FilesSection {
            yara: vec!["bundled".into()],
            ..Default::default()
        },
        spool: sensor::spool::SpoolConfig::default(),
        actions: sensor::command::ActionsConfig::default(),
    };
    let rules = RuleSet::compile_str(
        "demo.rules",
        DEMO_RULES,
        &Vars::default(),
        parse_classifications(DEFAULT_CLASSIFICATION),
    )
    .map_err(|d| UpError::Rules(sensor::replay::render_diagnostics(&d)))?;
    let counters = Arc::new(SensorCounters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = Arc::clone(&stop);
    tokio::spawn(async move {
        shutdown_signal().await;
        on_signal.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    match sensor::run(sensor_cfg, Arc::new(rules), stop, Arc::clone(&counters)).await {
        Ok(()) => {
            let shipped = counters
                .events_shipped
                .load(std::sync::atomic::Ordering::Relaxed);
            println!(
                "  demo sensor: replayed the demo capture and log sample, {shipped} events shipped"
            );
            println!("  open http://{addr}/incidents to see them");
        }
        Err(e) => eprintln!("  demo sensor failed: {e}"),
    }
    match server.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(UpError::Listen {
            addr: listen.to_string(),
            source,
        }),
        Err(e) => Err(UpError::Io {
            path: data_dir.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        }),
    }
}
