//! The sensor fleet: heartbeats and the silent-sensor alert, the command
//! channel over the API (long poll, results, redelivery, expiry) on both
//! backends, and commands run by a real sensor process behind its long poll.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use canhgac::central::store::Store;
use canhgac::central::{AppState, CentralConfig, fleet};
use common::*;
use serde_json::{Value, json};

async fn central_with(store: Store, cfg: CentralConfig) -> (String, canhgac::central::SharedState) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(store, cfg);
    let s = Arc::clone(&state);
    tokio::spawn(async move {
        canhgac::central::serve(s, listener, std::future::pending())
            .await
            .unwrap();
    });
    (format!("http://{addr}"), state)
}

async fn silent_sensor_raises_one_alert(store: Store) {
    seed_org(&store).await;
    let bearer = enrolled_sensor(&store, "gw-1", "xa-my-yen").await;
    let mut cfg = CentralConfig::default();
    cfg.sensors.late_secs = 1;
    cfg.sensors.offline_secs = 2;
    let (url, state) = central_with(store.clone(), cfg).await;
    let http = reqwest::Client::new();
    let hb = json!({"version": "t", "spool": {"bytes": 1234, "dropped": {"flow": 7}}, "events_per_sec": 10.5});
    let r = http
        .post(format!("{url}/api/v1/heartbeat"))
        .header("authorization", format!("Bearer {bearer}"))
        .json(&hb)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ans: Value = r.json().await.unwrap();
    assert!(ans["secret_expires_at"].as_i64().unwrap() > chrono::Utc::now().timestamp_micros());
    let row = store.sensor_row("gw-1").await.unwrap().unwrap();
    assert_eq!(row.state, "ok");
    let health: Value = serde_json::from_str(row.health.as_deref().unwrap()).unwrap();
    assert_eq!(health["spool"]["dropped"]["flow"], 7);

    // a heartbeat that is not an object, and one without credentials
    let r = http
        .post(format!("{url}/api/v1/heartbeat"))
        .header("authorization", format!("Bearer {bearer}"))
        .json(&json!([1, 2]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(format!("{url}/api/v1/heartbeat"))
        .json(&hb)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    tokio::time::sleep(Duration::from_millis(1200)).await;
    fleet::watch_once(&state).await.unwrap();
    assert_eq!(
        store.sensor_row("gw-1").await.unwrap().unwrap().state,
        "late"
    );
    // central's own watch runs too (every second here): whichever pass
    // sees the change acts on it, once
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let gone = fleet::watch_once(&state).await.unwrap();
    assert!(gone.is_empty() || gone == vec!["gw-1"], "{gone:?}");
    assert_eq!(
        store.sensor_row("gw-1").await.unwrap().unwrap().state,
        "offline"
    );
    // once: the next passes raise nothing more
    assert!(fleet::watch_once(&state).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let alerts = store.alerts(&everything(50)).await.unwrap();
    let silent: Vec<_> = alerts.items.iter().filter(|a| a.gid == 9).collect();
    assert_eq!(silent.len(), 1, "{:?}", alerts.items);
    assert!(silent[0].signature.contains("gw-1"));
    assert_eq!(silent[0].unit, "xa-my-yen");
    // back: a heartbeat makes it ok again
    http.post(format!("{url}/api/v1/heartbeat"))
        .header("authorization", format!("Bearer {bearer}"))
        .json(&hb)
        .send()
        .await
        .unwrap();
    assert_eq!(store.sensor_row("gw-1").await.unwrap().unwrap().state, "ok");
}
on_both_backends!(silent_sensor, super::silent_sensor_raises_one_alert);

async fn command_channel(store: Store) {
    seed_org(&store).await;
    let bearer = enrolled_sensor(&store, "gw-1", "xa-my-yen").await;
    let other = enrolled_sensor(&store, "gw-2", "phuong-tan-an").await;
    let admin = user_with_token(
        &store,
        "coord",
        "coordinator",
        "tay-ninh",
        "long password 1",
    )
    .await;
    let viewer = user_with_token(&store, "view", "viewer", "tay-ninh", "long password 2").await;
    let (url, _state) = central_with(store.clone(), CentralConfig::default()).await;
    let http = reqwest::Client::new();
    let poll = |b: String| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let r = http
                .get(format!("{url}/api/v1/commands?wait=10"))
                .header("authorization", format!("Bearer {b}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["commands"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    // a long poll that a queued command answers at once
    let started = Instant::now();
    let waiting = tokio::spawn(poll(bearer.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let queue = |token: &str, body: Value| {
        http.post(format!("{url}/api/v1/sensors/gw-1/commands"))
            .header("authorization", format!("Bearer {token}"))
            .json(&body)
            .send()
    };
    let r = queue(
        &viewer,
        json!({"kind": "block", "args": {"address": "198.51.100.7"}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403, "viewers cannot command sensors");
    let r = queue(
        &admin,
        json!({"kind": "block", "args": {"address": "not-an-ip"}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not an IP address"));
    let r = queue(&admin, json!({"kind": "format_disk"})).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = queue(
        &admin,
        json!({"kind": "block", "args": {"address": "198.51.100.7"}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let got = waiting.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the poll was woken"
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["id"], id);
    assert_eq!(got[0]["kind"], "block");
    assert_eq!(got[0]["args"]["address"], "198.51.100.7");
    // another sensor never sees it
    let r = http
        .get(format!("{url}/api/v1/commands?wait=0"))
        .header("authorization", format!("Bearer {other}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["commands"], json!([]));
    // not reported yet: delivered again
    assert_eq!(poll(bearer.clone()).await.len(), 1);
    // another sensor cannot report on it
    let r = http
        .post(format!("{url}/api/v1/commands/{id}/result"))
        .header("authorization", format!("Bearer {other}"))
        .json(&json!({"ok": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .post(format!("{url}/api/v1/commands/{id}/result"))
        .header("authorization", format!("Bearer {bearer}"))
        .json(&json!({"ok": true, "result": {"dry_run": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let c = store.command(id).await.unwrap().unwrap();
    assert_eq!(c.status, "done");
    assert!(c.result.unwrap().contains("dry_run"));
    assert_eq!(c.created_by, "coord");
    // done: not delivered again
    let r = http
        .get(format!("{url}/api/v1/commands?wait=0"))
        .header("authorization", format!("Bearer {bearer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["commands"], json!([]));
    // an expired command is never handed out
    let late = store
        .add_command("gw-1", "reload_rules", &json!({}), "coord", 1)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let r = http
        .get(format!("{url}/api/v1/commands?wait=0"))
        .header("authorization", format!("Bearer {bearer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["commands"], json!([]));
    assert_eq!(
        store.command(late).await.unwrap().unwrap().status,
        "expired"
    );
    // the sensor list, scoped to the user's units
    let r = http
        .get(format!("{url}/api/v1/sensors"))
        .header("authorization", format!("Bearer {viewer}"))
        .send()
        .await
        .unwrap();
    let list: Value = r.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    // revoke: refused at once
    let r = http
        .post(format!("{url}/api/v1/sensors/gw-1/revoke"))
        .header("authorization", format!("Bearer {admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{url}/api/v1/commands?wait=0"))
        .header("authorization", format!("Bearer {bearer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
on_both_backends!(commands_over_the_api, super::command_channel);

// ------------------------------------------------ a real sensor process

const BIN: &str = env!("CARGO_BIN_EXE_canhgac");

fn admin(cfg: &Path, args: &[&str]) -> String {
    admin_cli(cfg, args)
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_command(db: &Path, id: &str, limit: Duration) -> (String, Value) {
    let deadline = Instant::now() + limit;
    loop {
        let row = rt().block_on(async {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
                .await
                .unwrap();
            let r: (String, Option<String>) =
                sqlx::query_as("SELECT status, result FROM commands WHERE id = $1")
                    .bind(id.parse::<i64>().unwrap())
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            pool.close().await;
            r
        });
        if row.0 != "pending" && row.0 != "delivered" {
            return (
                row.0,
                row.1
                    .and_then(|r| serde_json::from_str(&r).ok())
                    .unwrap_or_default(),
            );
        }
        assert!(Instant::now() < deadline, "command {id} still {}", row.0);
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sql(db: &Path, q: &str) -> i64 {
    rt().block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let r: (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(q.to_string()))
            .fetch_one(&pool)
            .await
            .unwrap_or((0,));
        pool.close().await;
        r.0
    })
}

fn queued_id(out: &str) -> String {
    out.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn a_sensor_behind_nat_runs_commands_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = d("central.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\ndata_dir = \"{}\"\n",
            d("var").display()
        ),
    )
    .unwrap();
    let db = d("var").join("canhgac.db");
    admin(
        &cfg,
        &["unit", "add", "xa", "--title", "Xã", "--kind", "commune"],
    );
    let out = admin(&cfg, &["sensor", "add", "gw-n", "--unit", "xa"]);
    let token = line_after(&out, "enrolment token");
    let token = token.as_str();
    let fp = line_after(&out, "CA fingerprint");
    let fp = fp.as_str();
    let _central = Killed(
        Command::new(BIN)
            .args(["central", "-c"])
            .arg(&cfg)
            .stderr(std::fs::File::create(d("central.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    // the sensor follows a log (it never ends) and has one signature
    let rules = d("local.rules");
    std::fs::write(
        &rules,
        "alert tcp any any -> any 22 (msg:\"ssh\"; sid:1; rev:1;)\n",
    )
    .unwrap();
    std::fs::write(d("follow.log"), "").unwrap();
    let state = d("gw-n");
    let sensor_cfg = d("sensor.toml");
    std::fs::write(
        &sensor_cfg,
        format!(
            "[sensor]\nstate_dir = \"{}\"\nheartbeat_secs = 1\n\
             [central]\nurl = \"https://127.0.0.1:{port}\"\nenrolment_token = \"{token}\"\nca_sha256 = \"{fp}\"\n\
             [rules]\nfiles = [\"{}\"]\n\
             [logs]\nfollow = [\"{}\"]\nsigma = [\"{}\"]\n\
             [actions]\nblock_command = [\"nft\", \"add\", \"element\", \"inet\", \"filter\", \"blocklist\", \"{{ {{address}} }}\"]\n",
            state.display(),
            rules.display(),
            d("follow.log").display(),
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("rules/sigma/canhgac/ssh.yml")
                .display()
        ),
    )
    .unwrap();
    let _sensor = Killed(
        Command::new(BIN)
            .args(["sensor", "-c"])
            .arg(&sensor_cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d("sensor.log")).unwrap())
            .spawn()
            .unwrap(),
    );

    // block: dry-run by default, says what would run
    let id = queued_id(&admin(
        &cfg,
        &[
            "sensor",
            "command",
            "gw-n",
            "block",
            "--args",
            r#"{"address":"198.51.100.7"}"#,
        ],
    ));
    let (status, result) = wait_command(&db, &id, Duration::from_secs(60));
    assert_eq!(status, "done", "{result}");
    assert_eq!(result["dry_run"], true);
    assert_eq!(result["would_run"][6], "{ 198.51.100.7 }");

    // a drill inject goes through the sensor's own Sigma rules, tagged
    let lines: Vec<String> = (0..12)
        .map(|i| format!("Nov 26 10:00:{i:02} mail sshd[9{i}]: Failed password for root from 203.0.113.9 port 5{i}000 ssh2"))
        .collect();
    let args = json!({"drill": "drill-42", "log_lines": lines}).to_string();
    let id = queued_id(&admin(
        &cfg,
        &["sensor", "command", "gw-n", "drill_inject", "--args", &args],
    ));
    let (status, result) = wait_command(&db, &id, Duration::from_secs(60));
    assert_eq!(status, "done", "{result}");
    assert_eq!(result["lines"], 12);
    let deadline = Instant::now() + Duration::from_secs(30);
    let drill_logs = "SELECT COUNT(*) FROM events WHERE event_type = 'log' AND json_extract(body, '$.drill') = 'drill-42'";
    while sql(&db, drill_logs) < 12 {
        assert!(Instant::now() < deadline, "drill events not stored");
        std::thread::sleep(Duration::from_millis(200));
    }
    // redelivered (central lost the report): answered from the sensor's
    // record, not run again
    sql(
        &db,
        &format!(
            "UPDATE commands SET status = 'delivered', result = NULL WHERE id = {id} RETURNING id"
        ),
    );
    let (status, again) = wait_command(&db, &id, Duration::from_secs(60));
    assert_eq!(status, "done");
    assert_eq!(again, result);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sql(&db, drill_logs), 12, "the inject ran once");

    // a versioned rule bundle, pulled and loaded
    let bundle = d("bundle");
    std::fs::create_dir_all(bundle.join("et")).unwrap();
    std::fs::write(
        bundle.join("et/a.rules"),
        "alert tcp any any -> any 80 (msg:\"a\"; sid:10; rev:1;)\nalert tcp any any -> any 81 (msg:\"b\"; sid:11; rev:1;)\n",
    )
    .unwrap();
    let out = admin(
        &cfg,
        &["bundle", "publish", "sigs", bundle.to_str().unwrap()],
    );
    assert!(out.contains("version 1"), "{out}");
    let id = queued_id(&admin(
        &cfg,
        &[
            "sensor",
            "command",
            "gw-n",
            "update_rules",
            "--args",
            r#"{"bundle":"sigs","version":1}"#,
        ],
    ));
    let (status, result) = wait_command(&db, &id, Duration::from_secs(60));
    assert_eq!(status, "done", "{result}");
    assert_eq!(result["files"], 1);
    assert!(state.join("bundles/sigs/current/et/a.rules").exists());
    // the sensor's rules are its config's: one signature, reloaded
    assert_eq!(result["reload"]["signatures"], 1);
    // the next heartbeat names the bundle version in use
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h = rt().block_on(async {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
                .await
                .unwrap();
            let r: (Option<String>,) =
                sqlx::query_as("SELECT health FROM sensors WHERE name = 'gw-n'")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            r.0.and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .unwrap_or_default()
        });
        if h["rules"]["bundles"]["sigs"] == "v1" {
            assert!(h["rules"]["signatures_generation"].as_u64().unwrap() >= 1);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "heartbeat without the bundle: {h}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // an unknown bundle is refused before it is queued
    let out = Command::new(BIN)
        .args(["admin", "-c"])
        .arg(&cfg)
        .args([
            "sensor",
            "command",
            "gw-n",
            "update_rules",
            "--args",
            r#"{"bundle":"sigs","version":9}"#,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rule bundle"));

    // heartbeats carry the figures the console shows
    let health = admin(&cfg, &["sensor", "list"]);
    assert!(
        health.contains("gw-n") && health.contains(" ok "),
        "{health}"
    );
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(d("follow.log"))
        .unwrap();
    writeln!(
        f,
        "Nov 26 10:01:00 gw sshd[1]: Accepted password for admin from 192.0.2.5 port 4000 ssh2"
    )
    .unwrap();
}

/// The console's sensor forms: CSRF, roles and unit scope are enforced.
async fn console_forms_are_guarded(store: Store) {
    seed_org(&store).await;
    enrolled_sensor(&store, "gw-1", "xa-my-yen").await;
    user_with_token(
        &store,
        "coord",
        "coordinator",
        "tay-ninh",
        "long password 1",
    )
    .await;
    user_with_token(&store, "view", "viewer", "tay-ninh", "long password 2").await;
    user_with_token(
        &store,
        "ward",
        "coordinator",
        "phuong-tan-an",
        "long password 3",
    )
    .await;
    let session = |name: &'static str| console_session(&store, name);
    let (url, _state) = central_with(store.clone(), CentralConfig::default()).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post =
        |cookie: Option<String>, path: &'static str, form: Vec<(&'static str, &'static str)>| {
            let mut r = http.post(format!("{url}{path}")).form(&form);
            if let Some(c) = cookie {
                r = r.header("cookie", c);
            }
            r.send()
        };
    let revoke = vec![("csrf", "the-csrf"), ("confirm", "yes")];
    // no session: to the login page
    let r = post(None, "/sensors/gw-1/revoke", revoke.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // a forged CSRF token
    let coord = session("coord").await;
    let r = post(
        Some(coord.clone()),
        "/sensors/gw-1/revoke",
        vec![("csrf", "forged"), ("confirm", "yes")],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    // a viewer may look, not act
    let r = post(
        Some(session("view").await),
        "/sensors/gw-1/revoke",
        revoke.clone(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    // another ward's coordinator does not see this sensor at all
    let ward = session("ward").await;
    let r = post(Some(ward.clone()), "/sensors/gw-1/revoke", revoke.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .get(format!("{url}/sensors/gw-1"))
        .header("cookie", ward)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        store
            .sensor("gw-1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    // the sensor's page shows what its spool dropped, by kind
    let hb = json!({"version": "0.1.0", "spool": {"bytes": 1048576, "pending": 3,
        "dropped": {"flow": 1234, "dns": 56}, "corrupt_bytes": 900, "corrupt_records": 1, "torn_records": 4}});
    let bearer = enrolled_sensor(&store, "gw-2", "xa-my-yen").await;
    let r = http
        .post(format!("{url}/api/v1/heartbeat"))
        .header("authorization", format!("Bearer {bearer}"))
        .json(&hb)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = http
        .get(format!("{url}/sensors/gw-2"))
        .header("cookie", coord.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"sensor-drops\""), "{page}");
    assert!(
        page.contains("<code>flow</code></td><td class=\"num\">1234"),
        "{page}"
    );
    assert!(
        page.contains("<code>dns</code></td><td class=\"num\">56"),
        "{page}"
    );
    assert!(page.contains("id=\"sensor-damage\""), "{page}");
    let list = http
        .get(format!("{url}/sensors"))
        .header("cookie", coord.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("1290"), "total dropped in the list: {list}");
    // a bad command is refused with the reason
    let r = post(
        Some(coord.clone()),
        "/sensors/gw-1/commands",
        vec![("csrf", "the-csrf"), ("kind", "block"), ("address", "x")],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert!(store.commands_of("gw-1", 10).await.unwrap().is_empty());
    // the coordinator of the province does both
    let r = post(
        Some(coord.clone()),
        "/sensors/gw-1/commands",
        vec![
            ("csrf", "the-csrf"),
            ("kind", "block"),
            ("address", "198.51.100.9"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(store.commands_of("gw-1", 10).await.unwrap().len(), 1);
    let r = post(Some(coord.clone()), "/sensors/gw-1/revoke", revoke)
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        store
            .sensor("gw-1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    let page = http
        .get(format!("{url}/sensors"))
        .header("cookie", coord)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("state-revoked"), "{page}");
}
on_both_backends!(console_forms, super::console_forms_are_guarded);
