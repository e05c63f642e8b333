//! Drills end to end, through a real central and a real sensor (both in
//! this process, talking HTTP): a coordinator schedules each bundled
//! scenario for a ward, central sends the injects over the command channel,
//! the sensor feeds them through its own detection (logs through its Sigma
//! rules, captures through its signatures and YARA), central correlates and
//! opens the drill incident, and the run is scored. One scenario is then
//! played to the end the way a unit's staff would: acknowledge, classify,
//! run the playbook, answer the question, and the coordinator stops it; the
//! score breakdown, the leaderboard and the after-action report (HTML, PDF
//! in both languages) are checked.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use canhgac::central::CentralConfig;
use canhgac::central::auth;
use canhgac::central::store::Store;
use canhgac::detect::signature::RuleSet;
use canhgac::sensor::{self, SensorConfig, SensorCounters};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn bytes(&self, path: &str) -> (StatusCode, String, Vec<u8>) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .send()
            .await
            .unwrap();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("").to_string())
            .unwrap_or_default();
        (r.status(), ct, r.bytes().await.unwrap().to_vec())
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .json(&body)
            .send()
            .await
            .unwrap();
        let code = r.status();
        (code, r.json().await.unwrap_or(Value::Null))
    }
}

struct Rig {
    coord: Api,
    staff: Api,
    stop: Arc<AtomicBool>,
    _dir: tempfile::TempDir,
}

/// Central (bundled playbooks, correlation over the shipped Sigma rules, a
/// fast drill clock) and an enrolled sensor of `phuong-tan-an` that runs
/// the shipped Sigma rules and the bundled YARA set and stays to take
/// commands.
async fn rig(store: Store) -> Rig {
    seed_org(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let enrol = auth::new_token("cge_");
    store
        .add_sensor("gw-tan-an", "phuong-tan-an", &auth::token_hash(&enrol))
        .await
        .unwrap();
    let coord = user_with_token(
        &store,
        "coord",
        "coordinator",
        "tay-ninh",
        "long password 1",
    )
    .await;
    let staff = user_with_token(
        &store,
        "staff",
        "unit_staff",
        "phuong-tan-an",
        "long password 2",
    )
    .await;
    let mut cfg = CentralConfig::default();
    cfg.correlation.rules = vec!["rules/sigma".into()];
    cfg.drills.tick_ms = 100;
    cfg.playbooks.tick_ms = 100;
    let (base, _state) = spawn_central_with(store.clone(), cfg).await;
    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, "").unwrap();
    let text = format!(
        "[sensor]\nstate_dir = {:?}\nlinger = true\n\
         [central]\nurl = {base:?}\nenrolment_token = {enrol:?}\nbatch_max_ms = 100\n\
         [logs]\nfiles = [{:?}]\nsigma = [\"rules/sigma\"]\n\
         [files]\nyara = [\"bundled\"]\n",
        dir.path().join("state").display().to_string(),
        empty.display().to_string(),
    );
    let cfg: SensorConfig =
        canhgac::config::parse(std::path::Path::new("sensor.toml"), &text).unwrap();
    cfg.validate(std::path::Path::new("sensor.toml")).unwrap();
    let rules = RuleSet::compile(
        &[std::path::Path::new("rules/demo.rules")],
        &Default::default(),
        canhgac::detect::signature::parse_classifications(
            canhgac::detect::signature::DEFAULT_CLASSIFICATION,
        ),
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    tokio::spawn(sensor::run(
        cfg,
        Arc::new(rules),
        Arc::clone(&stop),
        Arc::new(SensorCounters::default()),
    ));
    // enrolled and heard from
    for _ in 0..100 {
        let rows = store.sensor_rows("/").await.unwrap();
        if rows
            .iter()
            .any(|s| s.name == "gw-tan-an" && s.enrolled_at.is_some())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let http = reqwest::Client::new();
    Rig {
        coord: Api {
            base: base.clone(),
            token: coord,
            http: http.clone(),
        },
        staff: Api {
            base,
            token: staff,
            http,
        },
        stop,
        _dir: dir,
    }
}

/// Schedules `scenario` now; sends its log and capture injects at once
/// (the coordinator's "send now", instead of waiting for their offsets);
/// waits until every expected detection has fired. Returns the run id and
/// the last view of it.
async fn play(c: &Api, scenario: &str) -> (i64, Value) {
    let (code, body) = c
        .post(
            "/api/v1/drills",
            json!({ "scenario": scenario, "units": ["phuong-tan-an"] }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let id = body["runs"][0].as_i64().unwrap();
    let mut view = Value::Null;
    let mut sent = false;
    for _ in 0..300 {
        view = c.get(&format!("/api/v1/drills/{id}")).await;
        if view["run"]["status"] == "running" && !sent {
            for i in view["scenario"]["injects"].as_array().unwrap() {
                let kind = i["kind"].as_str().unwrap();
                let at = i["when"]["at_secs"].as_u64();
                // offset-0 injects go by themselves; the rest by hand
                if (kind == "logs" || kind == "pcap") && at != Some(0) {
                    let (code, b) = c
                        .post(
                            &format!("/api/v1/drills/{id}/control"),
                            json!({ "action": "inject", "arg": i["id"] }),
                        )
                        .await;
                    assert_eq!(code, StatusCode::OK, "{b}");
                }
            }
            sent = true;
        }
        let expected = view["scenario"]["expected"]["detections"]
            .as_array()
            .unwrap()
            .len();
        let seen = view["score"]["lines"]
            .as_array()
            .map(|l| l.iter().filter(|l| l["key"] == "dsc-detected").count())
            .unwrap_or(0);
        if sent && seen == expected && !view["incidents"].as_array().unwrap().is_empty() {
            return (id, view);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{scenario}: the expected detections did not all fire: {view:#}");
}

async fn every_scenario(store: Store) {
    let r = rig(store).await;
    let scenarios = r.coord.get("/api/v1/drills/scenarios").await;
    let names: Vec<String> = scenarios["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["mode"] == "sensor")
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.len() >= 5, "{names:?}");
    for name in &names {
        let (id, view) = play(&r.coord, name).await;
        // every event of it carries the tag; its incident is a drill one
        let inc = view["incidents"][0].as_i64().unwrap();
        let i = r.coord.get(&format!("/api/v1/incidents/{inc}")).await;
        assert_eq!(i["incident"]["drill"], id.to_string(), "{name}: {i:#}");
        let (code, _) = r
            .coord
            .post(
                &format!("/api/v1/drills/{id}/control"),
                json!({ "action": "stop" }),
            )
            .await;
        assert_eq!(code, StatusCode::OK);
        let after = r.coord.get(&format!("/api/v1/drills/{id}")).await;
        assert_eq!(after["run"]["status"], "stopped");
        println!(
            "{name}: drill {id}: {} of {} detections, score {}/{}",
            view["scenario"]["expected"]["detections"]
                .as_array()
                .unwrap()
                .len(),
            view["scenario"]["expected"]["detections"]
                .as_array()
                .unwrap()
                .len(),
            after["score"]["total"],
            after["score"]["max"]
        );
    }
    r.stop.store(true, Ordering::Relaxed);
}

on_both_backends!(every_bundled_scenario, super::every_scenario);

/// Answers every open task of an incident's runs (checklists ticked,
/// approvals "yes") until its playbook runs end.
async fn work_the_playbook(staff: &Api, coord: &Api, run: i64) {
    for _ in 0..600 {
        let r = coord.get(&format!("/api/v1/runs/{run}")).await;
        if r["run"]["status"] != "running" {
            assert_eq!(r["run"]["status"], "completed", "{r:#}");
            return;
        }
        for t in r["tasks"].as_array().unwrap() {
            if t["status"] != "open" {
                continue;
            }
            let n = serde_json::from_str::<Vec<Value>>(t["checklist"].as_str().unwrap_or("[]"))
                .map(|c| c.len())
                .unwrap_or(0);
            let who = if t["role"] == "unit-staff" {
                staff
            } else {
                coord
            };
            let (code, b) = who
                .post(
                    &format!("/api/v1/tasks/{}/done", t["id"]),
                    json!({ "answer": "yes", "evidence": "done in the drill", "checked": (0..n).collect::<Vec<_>>() }),
                )
                .await;
            assert!(code.is_success() || code == StatusCode::BAD_REQUEST, "{b}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("run {run} did not end");
}

async fn staff_and_coordinator(store: Store) {
    let r = rig(store).await;
    let (id, view) = play(&r.coord, "mail-bruteforce").await;
    let inc = view["incidents"][0].as_i64().unwrap();
    // the unit's staff take the incident: the triggered message arrives
    let (code, b) = r
        .staff
        .post(
            &format!("/api/v1/incidents/{inc}/status"),
            json!({ "status": "acknowledged", "reason": "drill: taken" }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{b}");
    let mut asked = false;
    for _ in 0..100 {
        let v = r.staff.get(&format!("/api/v1/drills/{id}")).await;
        asked = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "inject" && e["inject"] == "accountant-calls");
        if asked {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(asked, "the message after acknowledgement was not sent");
    // a wrong answer, then the right one: the last counts
    for choice in [1, 2] {
        let (code, b) = r
            .staff
            .post(
                &format!("/api/v1/drills/{id}/answers"),
                json!({ "inject": "accountant-calls", "choice": choice }),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{b}");
    }
    let (code, _) = r
        .staff
        .post(
            &format!("/api/v1/drills/{id}/answers"),
            json!({ "inject": "accountant-calls", "choice": 9 }),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    // staff may not control the drill
    let (code, _) = r
        .staff
        .post(
            &format!("/api/v1/drills/{id}/control"),
            json!({ "action": "stop" }),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    // classify and run the bundled brute-force playbook (Vietnamese)
    let (code, b) = r
        .staff
        .post(
            &format!("/api/v1/incidents/{inc}/fields"),
            json!({ "category": "brute-force" }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{b}");
    let pbs = r
        .staff
        .get(&format!("/api/v1/incidents/{inc}/playbooks"))
        .await;
    let pb = pbs["suggested"][0].clone();
    assert!(pb["id"].is_i64(), "no playbook suggested: {pbs:#}");
    let (code, b) = r
        .staff
        .post(
            &format!("/api/v1/incidents/{inc}/playbooks"),
            json!({ "playbook": pb["cacao_id"] }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{b}");
    let run = b["run"].as_i64().or_else(|| b["id"].as_i64()).unwrap();
    work_the_playbook(&r.staff, &r.coord, run).await;
    // the coordinator pauses, resumes and stops it
    for action in ["pause", "resume", "stop"] {
        let (code, b) = r
            .coord
            .post(
                &format!("/api/v1/drills/{id}/control"),
                json!({ "action": action }),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{action}: {b}");
    }
    let v = r.coord.get(&format!("/api/v1/drills/{id}")).await;
    let lines = v["score"]["lines"].as_array().unwrap();
    let keys: Vec<&str> = lines.iter().map(|l| l["key"].as_str().unwrap()).collect();
    for want in [
        "dsc-detected",
        "dsc-category-ok",
        "dsc-playbook-ok",
        "dsc-step-done",
        "dsc-answer-ok",
    ] {
        assert!(keys.contains(&want), "{want} missing: {v:#}");
    }
    // acknowledged within the deadline; the playbook blocked the attacker
    // (simulated) and filed the report
    assert!(!keys.contains(&"dsc-wrong-target"), "{v:#}");
    assert!(!keys.contains(&"dsc-step-missed"), "{v:#}");
    let total = v["score"]["total"].as_i64().unwrap();
    let max = v["score"]["max"].as_i64().unwrap();
    println!("mail-bruteforce played by staff: score {total}/{max}");
    for l in lines {
        println!("  {} {}/{} {}", l["item"], l["points"], l["max"], l["key"]);
    }
    assert!(total > max / 2, "{v:#}");
    // the leaderboard shows the ward
    let lb = r.coord.get("/api/v1/drills/leaderboard").await;
    assert_eq!(lb[0]["unit"], "phuong-tan-an", "{lb:#}");
    assert_eq!(lb[0]["runs"], 1);
    assert!(lb[0]["mean_ack_secs"].is_i64(), "{lb:#}");
    // the after-action report, in both languages
    let (code, ct, html) = r
        .coord
        .bytes(&format!("/api/v1/drills/{id}/report?format=html&lang=vi"))
        .await;
    assert_eq!(code, StatusCode::OK);
    assert!(ct.starts_with("text/html"));
    let html = String::from_utf8(html).unwrap();
    for want in [
        "Báo cáo sau diễn tập",
        "Điểm làm tốt",
        "Khuyến nghị",
        "accountant-calls",
    ] {
        assert!(html.contains(want), "{want}");
    }
    for lang in ["vi", "en"] {
        let (code, ct, pdf) = r
            .coord
            .bytes(&format!(
                "/api/v1/drills/{id}/report?format=pdf&lang={lang}"
            ))
            .await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(ct, "application/pdf");
        assert!(pdf.starts_with(b"%PDF-"));
        let out = std::env::temp_dir().join(format!("canhgac-drill-{id}-{lang}.pdf"));
        std::fs::write(&out, &pdf).unwrap();
        if let Ok(o) = std::process::Command::new("pdftotext")
            .arg(&out)
            .arg("-")
            .output()
        {
            let text = String::from_utf8_lossy(&o.stdout).to_string();
            let want = if lang == "vi" {
                "Báo cáo sau diễn tập"
            } else {
                "After-action report"
            };
            assert!(text.contains(want), "{lang}: {text}");
        }
    }
    r.stop.store(true, Ordering::Relaxed);
}

on_both_backends!(played_by_staff, super::staff_and_coordinator);

/// A tabletop drill: no sensor; central opens the incident; the team is
/// scored on its answers and times.
async fn tabletop(store: Store) {
    let r = rig(store).await;
    let (code, b) = r
        .coord
        .post(
            "/api/v1/drills",
            json!({ "scenario": "tabletop-ransomware", "units": ["xa-my-yen"] }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{b}");
    let id = b["runs"][0].as_i64().unwrap();
    let mut v = Value::Null;
    for _ in 0..100 {
        v = r.coord.get(&format!("/api/v1/drills/{id}")).await;
        if !v["incidents"].as_array().unwrap().is_empty()
            && v["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["inject"] == "screens")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(v["run"]["mode"], "tabletop");
    let (code, _) = r
        .coord
        .post(
            &format!("/api/v1/drills/{id}/answers"),
            json!({ "inject": "screens", "choice": 1 }),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    // a question not asked yet is refused
    let (code, _) = r
        .coord
        .post(
            &format!("/api/v1/drills/{id}/answers"),
            json!({ "inject": "backup", "choice": 2 }),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    // the team judges the incident: category and severity (1..4 only)
    let inc = v["incidents"][0].as_i64().unwrap();
    let (code, b) = r
        .coord
        .post(
            &format!("/api/v1/incidents/{inc}/fields"),
            json!({ "category": "ransomware", "severity": 1 }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{b}");
    assert_eq!(b["severity"], 1, "{b}");
    let (code, b) = r
        .coord
        .post(
            &format!("/api/v1/incidents/{inc}/fields"),
            json!({ "severity": 7 }),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{b}");
    // acknowledging asks the backup question, which stays unanswered
    let (code, b) = r
        .coord
        .post(
            &format!("/api/v1/incidents/{inc}/status"),
            json!({ "status": "acknowledged", "reason": "tabletop" }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{b}");
    let mut asked = false;
    for _ in 0..100 {
        let v = r.coord.get(&format!("/api/v1/drills/{id}")).await;
        asked = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "inject" && e["inject"] == "backup");
        if asked {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(asked, "the backup question was not asked");
    // a sensor scenario cannot go to a unit with no sensor
    let (code, b) = r
        .coord
        .post(
            "/api/v1/drills",
            json!({ "scenario": "mail-bruteforce", "units": ["xa-my-yen"] }),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(b["error"].to_string().contains("tabletop"), "{b}");
    let (code, _) = r
        .coord
        .post(
            &format!("/api/v1/drills/{id}/control"),
            json!({ "action": "stop" }),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let v = r.coord.get(&format!("/api/v1/drills/{id}")).await;
    let keys: Vec<&str> = v["score"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"dsc-answer-ok"), "{v:#}");
    assert!(keys.contains(&"dsc-answer-none"), "{v:#}");
    assert!(!keys.contains(&"dsc-detected"), "{v:#}");
    assert!(keys.contains(&"dsc-severity-ok"), "{v:#}");
    assert!(keys.contains(&"dsc-category-ok"), "{v:#}");
    // the reasons read in words, not ids
    let (_, _, html) = r
        .coord
        .bytes(&format!("/api/v1/drills/{id}/report?format=html&lang=en"))
        .await;
    let html = String::from_utf8(html).unwrap();
    assert!(
        html.contains("Severity High (expected High or more severe)"),
        "{html}"
    );
    r.stop.store(true, Ordering::Relaxed);
}

on_both_backends!(tabletop_drill, super::tabletop);
