//! Log sources end to end: a sensor follows a log file and receives syslog
//! over UDP and TCP; central stores each line once, parsed; a restarted
//! sensor resumes the file where it stopped — across a rotation while it
//! was down — without repeating a line.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use canhgac::central::auth;
use canhgac::detect::signature::RuleSet;
use canhgac::sensor::{self, SensorConfig, SensorCounters};
use serde_json::Value;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn append(path: &std::path::Path, s: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

async fn logs(db: &std::path::Path) -> Vec<Value> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT body FROM events WHERE event_type = 'log' ORDER BY ts, event_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| serde_json::from_str(&r.0).unwrap())
        .collect()
}

async fn wait_for(db: &std::path::Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = logs(db).await;
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn followed_files_and_syslog_reach_central_once_and_parsed() {
    let (store, guard) = common::sqlite_store().await;
    let db = guard.path().join("t.db");
    common::seed_org(&store).await;
    let token = auth::new_token("cge_");
    store
        .add_sensor("gw-my-yen", "xa-my-yen", &auth::token_hash(&token))
        .await
        .unwrap();
    let (base, state) = common::spawn_central(store).await;

    let dir = tempfile::tempdir().unwrap();
    let auth_log = dir.path().join("auth.log");
    append(
        &auth_log,
        "Nov 26 10:00:01 gw sshd[101]: Failed password for invalid user admin from 198.51.100.7 port 40001 ssh2\n",
    );
    let (udp, tcp) = (free_port(), free_port());
    let cfg_text = format!(
        "[sensor]\nstate_dir = {:?}\n[central]\nurl = {base:?}\nenrolment_token = {token:?}\n\
         batch_max_events = 10\nbatch_max_ms = 100\n\
         [logs]\nfollow = [{:?}]\nsyslog_udp = \"127.0.0.1:{udp}\"\nsyslog_tcp = \"127.0.0.1:{tcp}\"\nsigma = [{:?}]\n",
        dir.path().join("state").display().to_string(),
        format!("{}/*.log", dir.path().display()),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/conformance/sigma/web"
        ),
    );
    let start = |text: String| {
        let cfg: SensorConfig =
            canhgac::config::parse(std::path::Path::new("sensor.toml"), &text).unwrap();
        cfg.validate(std::path::Path::new("sensor.toml")).unwrap();
        let rules =
            RuleSet::compile_str("none", "", &Default::default(), Default::default()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(sensor::run(
            cfg,
            Arc::new(rules),
            Arc::clone(&stop),
            Arc::new(SensorCounters::default()),
        ));
        (stop, task)
    };
    let (stop, task) = start(cfg_text.clone());
    tokio::time::sleep(Duration::from_millis(700)).await;
    append(
        &auth_log,
        "Nov 26 10:00:02 gw sshd[101]: Accepted password for bob from 198.51.100.8 port 40002 ssh2\n",
    );
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.send_to(
        b"<86>Nov 26 10:00:03 mail dovecot: auth: passwd-file(lan@xa.example,203.0.113.5): unknown user",
        ("127.0.0.1", udp),
    )
    .unwrap();
    let mut t = std::net::TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    t.write_all(b"<30>1 2026-11-26T10:00:04Z portal nginx - - - 203.0.113.9 - - [26/Nov/2026:10:00:04 +0700] \"GET /static/../../../../etc/passwd HTTP/1.1\" 400 0 \"-\" \"curl/8\"\n")
        .unwrap();
    drop(t);
    let got = wait_for(&db, 4).await;
    stop.store(true, Ordering::Relaxed);
    task.await.unwrap().unwrap();
    assert_eq!(got.len(), 4, "{got:#?}");
    let by_parser = |p: &str| {
        got.iter()
            .filter(|e| e["log"]["parser"] == p)
            .cloned()
            .collect::<Vec<_>>()
    };
    let ssh = by_parser("sshd");
    assert_eq!(ssh.len(), 2);
    assert!(ssh.iter().any(|e| e["log"]["fields"]["user"] == "admin"
        && e["log"]["fields"]["src_ip"] == "198.51.100.7"
        && e["log"]["fields"]["outcome"] == "failure"));
    let web = by_parser("access");
    assert_eq!(web.len(), 1, "{got:#?}");
    assert_eq!(
        web[0]["log"]["fields"]["cs-uri-stem"],
        "/static/../../../../etc/passwd"
    );
    assert!(
        web[0]["log"]["source"]
            .as_str()
            .unwrap()
            .starts_with("tcp:")
    );
    assert!(got.iter().all(|e| e["unit"] == "xa-my-yen"));
    // the traversal request is a Sigma alert, stored as an alert (gid 4)
    let root = state.store.unit("tay-ninh").await.unwrap().unwrap();
    let filter = canhgac::central::store::ListFilter {
        scope_path: root.path.clone(),
        limit: 100,
        ..Default::default()
    };
    let mut alerts = state.store.alerts(&filter).await.unwrap();
    for _ in 0..50 {
        if !alerts.items.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        alerts = state.store.alerts(&filter).await.unwrap();
    }
    assert!(
        alerts
            .items
            .iter()
            .any(|a| a.gid == 4 && a.signature == "SIGMA Path Traversal Exploitation Attempts"),
        "{:?}",
        alerts
            .items
            .iter()
            .map(|a| &a.signature)
            .collect::<Vec<_>>()
    );

    // down: one more line, then logrotate; up again: the rest of the old
    // file, then the new one, and nothing twice
    append(
        &auth_log,
        "Nov 26 10:00:05 gw sshd[102]: Invalid user test from 198.51.100.9\n",
    );
    std::fs::rename(&auth_log, dir.path().join("auth.log.1")).unwrap();
    append(
        &auth_log,
        "Nov 26 10:00:06 gw sudo: bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/id\n",
    );
    let (stop, task) = start(cfg_text);
    let got = wait_for(&db, 6).await;
    stop.store(true, Ordering::Relaxed);
    task.await.unwrap().unwrap();
    let lines: Vec<&str> = got
        .iter()
        .map(|e| e["log"]["line"].as_str().unwrap())
        .collect();
    assert_eq!(got.len(), 6, "{lines:#?}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("Invalid user test"))
            .count(),
        1
    );
    assert_eq!(by_parser_count(&got, "sudo"), 1);
}

fn by_parser_count(got: &[Value], p: &str) -> usize {
    got.iter().filter(|e| e["log"]["parser"] == p).count()
}
