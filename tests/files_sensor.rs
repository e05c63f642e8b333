//! Watched directories end to end: a sensor with `[files]` watching a web
//! root scans what is there at start, then a web shell dropped into a new
//! subdirectory (inotify), and central stores the YARA alerts; and
//! `canhgac scan --watch`, as an operator runs it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use canhgac::central::auth;
use canhgac::central::store::ListFilter;
use canhgac::detect::signature::RuleSet;
use canhgac::sensor::{self, SensorConfig, SensorCounters};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/yara/samples");

#[tokio::test]
async fn sensor_scans_a_watched_web_root_and_central_stores_the_alerts() {
    let (store, _guard) = common::sqlite_store().await;
    common::seed_org(&store).await;
    let token = auth::new_token("cge_");
    store
        .add_sensor("gw-tan-an", "phuong-tan-an", &auth::token_hash(&token))
        .await
        .unwrap();
    let (base, state) = common::spawn_central(store).await;

    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    // there before the sensor starts: found by the scan at start
    std::fs::copy(format!("{SAMPLES}/eicar.com"), www.join("old.com")).unwrap();
    std::fs::write(www.join("index.html"), "<h1>Cổng dịch vụ công</h1>").unwrap();
    let cfg: SensorConfig = canhgac::config::parse(
        std::path::Path::new("sensor.toml"),
        &format!(
            "[sensor]\nstate_dir = {:?}\n[central]\nurl = {base:?}\nenrolment_token = {token:?}\n\
             batch_max_events = 10\nbatch_max_ms = 100\n\
             [files]\nyara = [\"bundled\"]\nwatch = [{:?}]\nsettle_secs = 1\n",
            dir.path().join("state").display().to_string(),
            www.display().to_string(),
        ),
    )
    .unwrap();
    cfg.validate(std::path::Path::new("sensor.toml")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(SensorCounters::default());
    let rules = RuleSet::compile_str("none", "", &Default::default(), Default::default()).unwrap();
    let run = tokio::spawn(sensor::run(
        cfg,
        Arc::new(rules),
        Arc::clone(&stop),
        Arc::clone(&counters),
    ));

    tokio::time::sleep(Duration::from_millis(1500)).await;
    // written after the start, in a directory that did not exist: inotify
    let up = www.join("uploads/2026");
    std::fs::create_dir_all(&up).unwrap();
    std::fs::copy(
        format!("{SAMPLES}/webshell_php_system.php"),
        up.join("avatar.php"),
    )
    .unwrap();

    let root = state.store.unit("tay-ninh").await.unwrap().unwrap();
    let filter = ListFilter {
        scope_path: root.path.clone(),
        limit: 100,
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut signatures = Vec::new();
    while Instant::now() < deadline {
        let alerts = state.store.alerts(&filter).await.unwrap();
        signatures = alerts
            .items
            .iter()
            .map(|a| (a.gid, a.signature.clone(), a.unit.clone()))
            .collect();
        if signatures.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    run.await.unwrap().unwrap();
    signatures.sort();
    assert_eq!(signatures.len(), 2, "{signatures:?}");
    assert!(
        signatures
            .iter()
            .all(|s| s.0 == 3 && s.2 == "phuong-tan-an")
    );
    assert!(
        signatures[0].1.contains("CANHGAC_EICAR_Test_File"),
        "{signatures:?}"
    );
    assert!(
        signatures[1]
            .1
            .contains("CANHGAC_Webshell_PHP_Exec_Request"),
        "{signatures:?}"
    );
    assert_eq!(counters.dropped_events.load(Ordering::Relaxed), 0);
}

/// Kills the child if the test fails before it ends it.
struct Reap(Option<std::process::Child>);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn scan_watch_reports_files_as_they_settle() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_canhgac"))
        .args(["scan", "--watch", "--settle", "1", "--json"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut child = Reap(Some(child));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(800));
    let sub = dir.path().join("a/b");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(
        format!("{SAMPLES}/webshell_jsp_exec.jsp"),
        sub.join("x.jsp"),
    )
    .unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let ev: serde_json::Value = serde_json::from_str(&line).unwrap();
            let done = ev["event_type"] == "alert";
            got.push(ev);
            if done {
                break;
            }
        }
    }
    // SIGINT, as Ctrl-C: the scan ends cleanly with its summary
    let child = child.0.take().unwrap();
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let fileinfo = got.iter().find(|e| e["event_type"] == "fileinfo").unwrap();
    assert!(
        fileinfo["fileinfo"]["filename"]
            .as_str()
            .unwrap()
            .ends_with("a/b/x.jsp")
    );
    assert_eq!(fileinfo["fileinfo"]["magic"], "text");
    assert_eq!(fileinfo["fileinfo"]["md5"].as_str().unwrap().len(), 32);
    let alert = got.iter().find(|e| e["event_type"] == "alert").unwrap();
    assert_eq!(alert["yara"], "CANHGAC_Webshell_JSP_Runtime_Exec");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("scan: 1 files"), "{stderr}");
}
