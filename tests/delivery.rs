//! Delivery from sensors to central as a user runs it: real `canhgac
//! central` and `canhgac sensor` processes over HTTPS with central's own CA,
//! killed with SIGKILL mid-stream, restarted, kept from each other, fed a
//! damaged spool and bad credentials. Every event must be stored exactly
//! once: the test counts the stored log events and their distinct lines.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{admin_cli, line_after, rt};

const BIN: &str = env!("CARGO_BIN_EXE_canhgac");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where central keeps its data.
#[derive(Clone)]
enum Db {
    Sqlite(PathBuf),
    /// URL with a private schema in `options`.
    Postgres(String),
}

/// A central, its configuration and the processes of one test.
struct Rig {
    dir: tempfile::TempDir,
    port: u16,
    db: Db,
    cfg: PathBuf,
    central: Option<Child>,
    restarts: u32,
}

impl Rig {
    fn new(postgres: bool, server_extra: &str) -> Option<Rig> {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let db = if postgres {
            let url = match std::env::var("CANHGAC_TEST_POSTGRES") {
                Ok(u) => u,
                Err(_) => {
                    assert!(
                        std::env::var("CI").is_err(),
                        "CI must set CANHGAC_TEST_POSTGRES"
                    );
                    eprintln!("CANHGAC_TEST_POSTGRES not set: PostgreSQL half not run");
                    return None;
                }
            };
            let schema = format!("d_{}", uuid::Uuid::now_v7().simple());
            rt().block_on(async {
                let admin = sqlx::PgPool::connect(&url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
            });
            let sep = if url.contains('?') { '&' } else { '?' };
            Db::Postgres(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
        } else {
            Db::Sqlite(dir.path().join("var").join("canhgac.db"))
        };
        let store_url = match &db {
            Db::Postgres(u) => format!("url = \"{u}\"\n"),
            Db::Sqlite(_) => String::new(),
        };
        let cfg = dir.path().join("central.toml");
        std::fs::write(
            &cfg,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n{server_extra}\n\
                 [store]\ndata_dir = \"{}\"\n{store_url}",
                dir.path().join("var").display()
            ),
        )
        .unwrap();
        let rig = Rig {
            dir,
            port,
            db,
            cfg,
            central: None,
            restarts: 0,
        };
        rig.admin(&[
            "unit",
            "add",
            "tay-ninh",
            "--title",
            "Tỉnh Tây Ninh",
            "--kind",
            "province",
        ]);
        rig.admin(&[
            "unit",
            "add",
            "xa-my-yen",
            "--title",
            "Xã Mỹ Yên",
            "--kind",
            "commune",
            "--parent",
            "tay-ninh",
        ]);
        Some(rig)
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn admin(&self, args: &[&str]) -> String {
        admin_cli(&self.cfg, args)
    }

    fn start_central(&mut self) {
        let log =
            std::fs::File::create(self.path(&format!("central-{}.log", self.restarts))).unwrap();
        self.restarts += 1;
        let child = Command::new(BIN)
            .args(["central", "-c"])
            .arg(&self.cfg)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.central = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "central did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no shutdown, no flush.
    fn kill_central(&mut self) {
        if let Some(mut c) = self.central.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Adds a sensor and enrols it as its operator would; returns its
    /// state directory.
    fn enrol(&self, name: &str) -> PathBuf {
        let out = self.admin(&["sensor", "add", name, "--unit", "xa-my-yen"]);
        let token = line_after(&out, "enrolment token");
        let token = token.as_str();
        let fp = line_after(&out, "CA fingerprint");
        let fp = fp.as_str();
        let state = self.path(name);
        let out = Command::new(BIN)
            .args([
                "sensor",
                "enroll",
                "--central",
                &self.url(),
                "--token",
                token,
            ])
            .args(["--ca-sha256", fp, "--state-dir"])
            .arg(&state)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "enroll: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        state
    }

    /// A sensor config reading `log` once, shipping in batches of `batch`.
    fn sensor_cfg(&self, name: &str, log: &Path, batch: usize) -> PathBuf {
        let p = self.path(&format!("{name}.toml"));
        std::fs::write(
            &p,
            format!(
                "[sensor]\nstate_dir = \"{}\"\nheartbeat_secs = 1\n\
                 [central]\nurl = \"{}\"\nbatch_max_events = {batch}\nbatch_max_ms = 200\nmax_backoff_secs = 1\n\
                 [logs]\nfiles = [\"{}\"]\n",
                self.path(name).display(),
                self.url(),
                log.display()
            ),
        )
        .unwrap();
        p
    }

    fn start_sensor(&self, name: &str, run: u32) -> Child {
        let log = std::fs::File::create(self.path(&format!("{name}-{run}.log"))).unwrap();
        Command::new(BIN)
            .args(["sensor", "-c"])
            .arg(self.path(&format!("{name}.toml")))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    fn sensor_log(&self, name: &str, run: u32) -> String {
        std::fs::read_to_string(self.path(&format!("{name}-{run}.log"))).unwrap_or_default()
    }

    /// (log events stored, distinct log lines among them).
    fn counts(&self) -> (i64, i64) {
        rt().block_on(async {
            match &self.db {
                Db::Sqlite(p) => {
                    if !p.exists() {
                        return (0, 0);
                    }
                    let pool =
                        sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", p.display()))
                            .await
                            .unwrap();
                    let r: (i64, i64) = sqlx::query_as(
                        "SELECT COUNT(*), COUNT(DISTINCT json_extract(body, '$.log.line')) \
                         FROM events WHERE event_type = 'log'",
                    )
                    .fetch_one(&pool)
                    .await
                    .unwrap_or((0, 0));
                    pool.close().await;
                    r
                }
                Db::Postgres(u) => {
                    let pool = sqlx::PgPool::connect(u).await.unwrap();
                    let r: (i64, i64) = sqlx::query_as(
                        "SELECT COUNT(*), COUNT(DISTINCT (body::jsonb)->'log'->>'line') \
                         FROM events WHERE event_type = 'log'",
                    )
                    .fetch_one(&pool)
                    .await
                    .unwrap_or((0, 0));
                    pool.close().await;
                    r
                }
            }
        })
    }

    fn wait_count(&self, at_least: i64, limit: Duration) -> i64 {
        let deadline = Instant::now() + limit;
        loop {
            let (n, _) = self.counts();
            if n >= at_least || Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The sensor's last heartbeat as central stored it.
    fn health(&self, name: &str) -> serde_json::Value {
        let out = self.admin(&["sensor", "list"]);
        assert!(out.contains(name), "{out}");
        rt().block_on(async {
            let text: Option<(Option<String>,)> = match &self.db {
                Db::Sqlite(p) => {
                    let pool =
                        sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", p.display()))
                            .await
                            .unwrap();
                    sqlx::query_as("SELECT health FROM sensors WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&pool)
                        .await
                        .unwrap()
                }
                Db::Postgres(u) => {
                    let pool = sqlx::PgPool::connect(u).await.unwrap();
                    sqlx::query_as("SELECT health FROM sensors WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&pool)
                        .await
                        .unwrap()
                }
            };
            text.and_then(|t| t.0)
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default()
        })
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.kill_central();
    }
}

/// A log file of `n` distinct sshd lines.
fn log_file(path: &Path, tag: &str, n: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..n {
        writeln!(
            f,
            "Nov 26 10:{:02}:{:02} gw-{tag} sshd[{i}]: Failed password for invalid user u{i} from 198.51.100.{} port {} ssh2",
            (i / 60) % 60,
            i % 60,
            i % 250,
            1024 + i % 60000
        )
        .unwrap();
    }
}

fn wait_exit(c: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = c.kill();
            panic!("process did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn kill_central_mid_stream(postgres: bool) {
    const SENSORS: usize = 3;
    const LINES: usize = 35_000;
    let Some(mut rig) = Rig::new(postgres, "") else {
        return;
    };
    rig.start_central();
    let names: Vec<String> = (0..SENSORS).map(|i| format!("gw-{i}")).collect();
    for n in &names {
        rig.enrol(n);
        let log = rig.path(&format!("{n}.log"));
        log_file(&log, n, LINES);
        rig.sensor_cfg(n, &log, 500);
    }
    let mut sensors: Vec<Child> = names.iter().map(|n| rig.start_sensor(n, 0)).collect();
    let total = (SENSORS * LINES) as i64;
    let before = rig.wait_count(total / 4, Duration::from_secs(120));
    assert!(
        before < total,
        "the stream ended before central could be killed"
    );
    rig.kill_central();
    let at_kill = rig.counts().0;
    std::thread::sleep(Duration::from_millis(1500));
    rig.start_central();
    for s in &mut sensors {
        assert!(wait_exit(s, Duration::from_secs(300)).success());
    }
    let (n, distinct) = rig.counts();
    eprintln!(
        "central killed at {at_kill} of {total} events; after restart: {n} stored, {distinct} distinct"
    );
    assert_eq!(n, total, "every event stored");
    assert_eq!(distinct, total, "none stored twice");
}

#[test]
fn central_killed_mid_stream_stores_every_event_once_sqlite() {
    kill_central_mid_stream(false);
}

#[test]
fn central_killed_mid_stream_stores_every_event_once_postgres() {
    kill_central_mid_stream(true);
}

#[test]
fn sensor_killed_mid_batch_and_restarted_ships_every_event_once() {
    const LINES: usize = 40_000;
    let mut rig = Rig::new(false, "").unwrap();
    rig.start_central();
    rig.enrol("gw-k");
    let log = rig.path("gw-k.log");
    log_file(&log, "k", LINES);
    rig.sensor_cfg("gw-k", &log, 200);
    let mut kills = Vec::new();
    for (run, at) in [(0u32, 5_000i64), (1, 15_000), (2, 25_000)] {
        let mut s = rig.start_sensor("gw-k", run);
        let n = rig.wait_count(at, Duration::from_secs(120));
        s.kill().unwrap();
        s.wait().unwrap();
        kills.push(n);
    }
    let mut s = rig.start_sensor("gw-k", 3);
    assert!(wait_exit(&mut s, Duration::from_secs(300)).success());
    let (n, distinct) = rig.counts();
    eprintln!("sensor killed at {kills:?}; after restart: {n} stored, {distinct} distinct");
    assert!(
        kills.iter().all(|k| *k < LINES as i64),
        "kills happened mid-stream"
    );
    assert_eq!(n, LINES as i64);
    assert_eq!(distinct, LINES as i64);
}

/// Sum of the spool's segment files.
fn spool_bytes(state: &Path) -> u64 {
    std::fs::read_dir(state.join("spool"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn spool_grows_while_central_is_away_then_drains() {
    const LINES: usize = 20_000;
    let mut rig = Rig::new(false, "").unwrap();
    rig.start_central();
    let state = rig.enrol("gw-u");
    let log = rig.path("gw-u.log");
    log_file(&log, "u", LINES);
    rig.sensor_cfg("gw-u", &log, 500);
    rig.kill_central();
    // central is down: its port refuses connections
    let mut s = rig.start_sensor("gw-u", 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut grown = 0;
    while Instant::now() < deadline {
        grown = spool_bytes(&state);
        if grown > 5_000_000 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        s.try_wait().unwrap().is_none(),
        "the sensor waits for central"
    );
    assert_eq!(rig.counts().0, 0);
    rig.start_central();
    assert!(wait_exit(&mut s, Duration::from_secs(120)).success());
    let (n, distinct) = rig.counts();
    let log = rig.sensor_log("gw-u", 0);
    eprintln!("spool grew to {grown} bytes while central was down; {n} stored");
    assert!(
        grown > 5_000_000,
        "the spool held the events ({grown} bytes)"
    );
    assert_eq!(spool_bytes(&state), 0, "and drained");
    assert!(log.contains("cannot reach central"), "{log}");
    assert_eq!((n, distinct), (LINES as i64, LINES as i64));
}

#[test]
fn damaged_spool_tail_is_counted_and_the_rest_shipped() {
    const LINES: usize = 10_000;
    let mut rig = Rig::new(false, "").unwrap();
    rig.start_central();
    let state = rig.enrol("gw-c");
    let log = rig.path("gw-c.log");
    log_file(&log, "c", LINES);
    rig.sensor_cfg("gw-c", &log, 500);
    rig.kill_central();
    // spool everything while central is away, then pull the plug
    let mut s = rig.start_sensor("gw-c", 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = 0;
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = spool_bytes(&state);
        if now > 0 && now == last {
            break;
        }
        assert!(Instant::now() < deadline);
        last = now;
    }
    s.kill().unwrap();
    s.wait().unwrap();
    // a torn write at the end of the last segment, then garbage
    let mut segs: Vec<PathBuf> = std::fs::read_dir(state.join("spool"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    let seg = segs.pop().unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 777).unwrap();
    drop(f);
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&[0xA5; 300]).unwrap();
    drop(f);
    rig.start_central();
    let mut s = rig.start_sensor("gw-c", 1);
    assert!(wait_exit(&mut s, Duration::from_secs(120)).success());
    let (n, distinct) = rig.counts();
    let health = rig.health("gw-c");
    eprintln!(
        "after a damaged tail: {n} stored; spool figures {}",
        health["spool"]
    );
    assert!(
        health["spool"]["corrupt_bytes"].as_u64().unwrap() >= 300,
        "{health}"
    );
    assert!(
        health["spool"]["torn_records"].as_u64().unwrap() >= 1,
        "{health}"
    );
    // the torn append's lines were read again from the file: nothing lost,
    // nothing doubled
    assert_eq!((n, distinct), (LINES as i64, LINES as i64));
}

#[test]
fn saturated_central_answers_503_and_loses_nothing() {
    const SENSORS: usize = 4;
    const LINES: usize = 5_000;
    let mut rig = Rig::new(false, "ingest_concurrency = 1\ningest_wait_ms = 1").unwrap();
    rig.start_central();
    let names: Vec<String> = (0..SENSORS).map(|i| format!("gw-b{i}")).collect();
    for n in &names {
        rig.enrol(n);
        let log = rig.path(&format!("{n}.log"));
        log_file(&log, n, LINES);
        rig.sensor_cfg(n, &log, 100);
    }
    let mut sensors: Vec<Child> = names.iter().map(|n| rig.start_sensor(n, 0)).collect();
    for s in &mut sensors {
        assert!(wait_exit(s, Duration::from_secs(300)).success());
    }
    let busy: Vec<bool> = names
        .iter()
        .map(|n| rig.sensor_log(n, 0).contains("central busy"))
        .collect();
    let metrics = rt().block_on(async {
        let ca = std::fs::read(rig.path("gw-b0").join("central-ca.pem")).unwrap();
        let c = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .build()
            .unwrap();
        c.get(format!("{}/metrics", rig.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    let rejected = metrics
        .lines()
        .find(|l| l.starts_with("canhgac_batches_rejected_total{reason=\"busy\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    eprintln!("503 answers: {rejected}; sensors that backed off: {busy:?}");
    assert!(rejected > 0, "central never said it was busy");
    assert!(busy.iter().any(|b| *b));
    let total = (SENSORS * LINES) as i64;
    assert_eq!(rig.counts(), (total, total));
}

#[test]
fn wrong_expired_or_revoked_credentials_get_nothing_in() {
    let mut rig = Rig::new(false, "").unwrap();
    rig.start_central();
    let log = rig.path("x.log");
    log_file(&log, "x", 100);

    // a CA fingerprint that is not central's: enrolment refuses to talk
    let out = rig.admin(&["sensor", "add", "gw-w", "--unit", "xa-my-yen"]);
    let token = line_after(&out, "enrolment token");
    let token = token.as_str();
    let bad = Command::new(BIN)
        .args([
            "sensor",
            "enroll",
            "--central",
            &rig.url(),
            "--token",
            token,
        ])
        .args(["--ca-sha256", &"ab".repeat(32), "--state-dir"])
        .arg(rig.path("gw-w"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not the expected"));
    assert!(!rig.path("gw-w").join("credentials.json").exists());

    // a wrong secret
    let state = rig.enrol("gw-r");
    rig.sensor_cfg("gw-r", &log, 50);
    let creds_path = state.join("credentials.json");
    let good = std::fs::read_to_string(&creds_path).unwrap();
    let mut forged: serde_json::Value = serde_json::from_str(&good).unwrap();
    forged["secret"] = serde_json::json!("0".repeat(64));
    std::fs::write(&creds_path, forged.to_string()).unwrap();
    let mut s = rig.start_sensor("gw-r", 0);
    assert!(!wait_exit(&mut s, Duration::from_secs(60)).success());
    assert!(
        rig.sensor_log("gw-r", 0)
            .contains("rejected the sensor's credentials")
    );
    assert_eq!(rig.counts().0, 0);

    // an expired secret
    std::fs::write(&creds_path, &good).unwrap();
    std::fs::remove_dir_all(state.join("spool")).unwrap();
    let db = match &rig.db {
        Db::Sqlite(p) => p.clone(),
        Db::Postgres(_) => unreachable!(),
    };
    rt().block_on(async {
        let store = canhgac::central::store::Store::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        store.set_secret_expiry("gw-r", 1).await.unwrap();
    });
    let mut s = rig.start_sensor("gw-r", 1);
    assert!(!wait_exit(&mut s, Duration::from_secs(60)).success());
    assert!(rig.sensor_log("gw-r", 1).contains("expired"));
    assert_eq!(rig.counts().0, 0);

    // revoked (after the expiry is lifted): refused at once
    rt().block_on(async {
        let store = canhgac::central::store::Store::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        store.set_secret_expiry("gw-r", i64::MAX).await.unwrap();
    });
    rig.admin(&["sensor", "revoke", "gw-r"]);
    std::fs::remove_dir_all(state.join("spool")).unwrap();
    let mut s = rig.start_sensor("gw-r", 2);
    assert!(!wait_exit(&mut s, Duration::from_secs(60)).success());
    assert!(rig.sensor_log("gw-r", 2).contains("revoked"));
    assert_eq!(rig.counts().0, 0);

    // an expired enrolment token
    let out = rig.admin(&[
        "sensor",
        "add",
        "gw-e",
        "--unit",
        "xa-my-yen",
        "--valid-hours",
        "1",
    ]);
    let token = line_after(&out, "enrolment token");
    let token = token.as_str();
    rt().block_on(async {
        let store = canhgac::central::store::Store::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        store.set_enrol_expiry("gw-e", 1).await.unwrap();
    });
    let late = Command::new(BIN)
        .args([
            "sensor",
            "enroll",
            "--central",
            &rig.url(),
            "--token",
            token,
            "--state-dir",
        ])
        .arg(rig.path("gw-e"))
        .output()
        .unwrap();
    assert!(!late.status.success());
    assert!(String::from_utf8_lossy(&late.stderr).contains("401"));

    // plain HTTP to the TLS port gets no answer it could use
    let plain = rt().block_on(async {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/api/v1/events", rig.port))
            .body("{}")
            .send()
            .await
    });
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
}
