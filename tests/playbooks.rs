//! CACAO playbooks end to end over the API, on both backends: import and
//! validation with step-and-field errors, a run through every step type
//! (parallel, switch, if, while, playbook-action, delay) driven by tasks
//! people complete, conditions that cannot be evaluated failing their step
//! with the reason, a block through a sensor that answers and through one
//! that stays offline (retried, then failed, visibly), and mail, webhook
//! and the notification report going out to real servers on loopback.

mod common;

use std::time::Duration;

use canhgac::central::CentralConfig;
use canhgac::central::store::Store;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("tests/data/playbooks/{name}")).unwrap()
}

fn fast_config() -> CentralConfig {
    let mut cfg = CentralConfig::default();
    cfg.playbooks.tick_ms = 100;
    cfg.playbooks.load_bundled = false;
    cfg.playbooks.action_wait_secs = 1;
    cfg.playbooks.action_attempts = 2;
    cfg
}

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

    async fn import(&self, text: String) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/api/v1/playbooks", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .body(text)
            .send()
            .await
            .unwrap();
        let code = r.status();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    /// Waits until the run reaches `status`, or until a task of it is open
    /// whose title contains `task` (returns that task).
    async fn wait_run(&self, run: i64, status: &str) -> Value {
        for _ in 0..150 {
            let r = self.get(&format!("/api/v1/runs/{run}")).await;
            if r["run"]["status"] == status {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "run {run} did not become {status}: {:#}",
            self.get(&format!("/api/v1/runs/{run}")).await
        );
    }

    async fn wait_task(&self, run: i64, title: &str) -> Value {
        for _ in 0..150 {
            let r = self.get(&format!("/api/v1/runs/{run}")).await;
            if let Some(t) = r["tasks"].as_array().and_then(|ts| {
                ts.iter().find(|t| {
                    t["status"] == "open" && t["title"].as_str().unwrap_or("").contains(title)
                })
            }) {
                return t.clone();
            }
            assert_eq!(r["run"]["status"], "running", "run ended early: {r:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no open task {title:?} in run {run}");
    }
}

async fn setup(store: &Store, cfg: CentralConfig) -> (Api, Api, String, i64) {
    seed_org(store).await;
    let sensor = enrolled_sensor(store, "gw-1", "xa-my-yen").await;
    let coord = user_with_token(store, "coord", "coordinator", "tay-ninh", "long password 1").await;
    let staff = user_with_token(store, "staff", "unit_staff", "xa-my-yen", "long password 2").await;
    let (base, _) = spawn_central_with(store.clone(), cfg).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/api/v1/events"))
        .header("authorization", format!("Bearer {sensor}"))
        .body(alert_line(100, "2026-11-20T08:00:00.000000+0000", 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id = store.incidents(&everything(10)).await.unwrap().items[0].id;
    let c = Api {
        base: base.clone(),
        token: coord,
        http: http.clone(),
    };
    let s = Api {
        base,
        token: staff,
        http,
    };
    (c, s, sensor, id)
}

async fn every_step_type(store: Store) {
    let (coord, staff, _, id) = setup(&store, fast_config()).await;
    // staff do not import; coordinators do
    let (code, _) = staff.import(data("child.json")).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, _) = coord.import(data("child.json")).await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, all) = coord.import(data("all-steps.json")).await;
    assert_eq!(code, StatusCode::CREATED, "{all}");
    let list = coord.get("/api/v1/playbooks").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    // export gives back the document as imported
    let exported = coord
        .get(&format!(
            "/api/v1/playbooks/{}",
            all["cacao_id"].as_str().unwrap()
        ))
        .await;
    let original: Value = serde_json::from_str(&data("all-steps.json")).unwrap();
    assert_eq!(exported, original);

    let (code, started) = staff
        .post(
            &format!("/api/v1/incidents/{id}/playbooks"),
            json!({"playbook": all["cacao_id"]}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{started}");
    let run = started["run"].as_i64().unwrap();

    // the parallel branch's task: for the coordinator, with variables filled
    let decide = coord.wait_task(run, "Decide for xa-my-yen").await;
    assert_eq!(decide["role"], "coordinator");
    assert!(
        decide["description"]
            .as_str()
            .unwrap()
            .contains("203.0.113.66"),
        "{decide}"
    );
    let options: Vec<String> =
        serde_json::from_str(decide["answer_options"].as_str().unwrap()).unwrap();
    assert_eq!(options, vec!["contain".to_string()]);
    let tid = decide["id"].as_i64().unwrap();
    // staff may not do a coordinator's task; an approval needs an answer
    let (code, _) = staff
        .post(
            &format!("/api/v1/tasks/{tid}/done"),
            json!({"answer": "contain"}),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, body) = coord
        .post(&format!("/api/v1/tasks/{tid}/done"), json!({}))
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("needs an answer"),
        "{body}"
    );
    let (code, done) = coord
        .post(
            &format!("/api/v1/tasks/{tid}/done"),
            json!({"answer": "contain", "evidence": "looked at the logs", "checked": [0, 1]}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "done");
    assert!(
        done["checklist"]
            .as_str()
            .unwrap()
            .contains("\"done\":true")
    );

    // the while loop: one round per task until the answer is not yes
    let round = staff.wait_task(run, "One more round").await;
    staff
        .post(
            &format!("/api/v1/tasks/{}/done", round["id"]),
            json!({"answer": "yes"}),
        )
        .await;
    // a second round must be a new task, not the same one
    let mut second = staff.wait_task(run, "One more round").await;
    for _ in 0..50 {
        if second["id"] != round["id"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        second = staff.wait_task(run, "One more round").await;
    }
    assert_ne!(second["id"], round["id"]);
    let (code, _) = staff
        .post(
            &format!("/api/v1/tasks/{}/done", second["id"]),
            json!({"answer": "no"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);

    let r = coord.wait_run(run, "completed").await;
    let inc = coord.get(&format!("/api/v1/incidents/{id}")).await;
    let inc = if inc.get("incident").is_some() {
        inc["incident"].clone()
    } else {
        inc
    };
    assert_eq!(inc["category"], "ransomware", "{inc}");
    assert_eq!(inc["severity"], 1, "the if took the high path: {inc}");
    assert_eq!(inc["tlp"], "red", "the child playbook ran: {inc}");
    assert_eq!(inc["status"], "contained");
    assert!(inc["tags"].as_str().unwrap().contains("attack.t1486"));
    // every step that ran is recorded; the delayed step waited
    let steps = r["steps"].as_array().unwrap();
    assert!(
        steps.iter().all(|s| s["status"] == "succeeded"),
        "{steps:#?}"
    );
    let late = steps
        .iter()
        .find(|s| {
            s["result"]
                .as_str()
                .unwrap_or("")
                .contains("status contained")
        })
        .unwrap();
    assert!(
        late["started_at"].as_i64().unwrap() - late["created_at"].as_i64().unwrap() >= 1_400_000
    );
    // the child run is linked to its playbook-action step
    let runs = coord
        .get(&format!("/api/v1/incidents/{id}/playbooks"))
        .await;
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(
        runs.iter()
            .any(|r| r["parent_step"].is_i64() && r["status"] == "completed")
    );
    // the timeline tells the story
    let tl = store.incident_timeline(id).await.unwrap();
    let text: Vec<String> = tl.iter().map(|t| t.text.clone()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("playbook started: Every step type")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("task done") && t.contains("answer: contain")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("playbook completed: Every step type")),
        "{text:#?}"
    );
    assert!(
        store
            .audit_of(&format!("incident:{id}"), 100)
            .await
            .unwrap()
            .iter()
            .any(|a| a.action == "playbook.start")
    );
}
on_both_backends!(every_step, super::every_step_type);

async fn bad_conditions(store: Store) {
    let (coord, _, _, id) = setup(&store, fast_config()).await;
    // a playbook with a dangling reference is refused, naming step and field
    let mut doc: Value = serde_json::from_str(&data("bad-condition.json")).unwrap();
    let broken = doc.clone();
    let start = doc["workflow_start"].as_str().unwrap().to_string();
    doc["workflow"][&start]["on_completion"] = json!("end--00000000-0000-4000-8000-000000000000");
    let (code, body) = coord.import(doc.to_string()).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let problems = body["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["path"] == format!("workflow.{start}.on_completion")
                && p["message"].as_str().unwrap().contains("no step end--0000")),
        "{body:#}"
    );
    let (code, v) = coord
        .post("/api/v1/playbooks/validate", broken.clone())
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["valid"], true, "{v}");

    let (code, pb) = coord.import(broken.to_string()).await;
    assert_eq!(code, StatusCode::CREATED);
    let (_, started) = coord
        .post(
            &format!("/api/v1/incidents/{id}/playbooks"),
            json!({"playbook": pb["id"].to_string()}),
        )
        .await;
    let run = started["run"].as_i64().unwrap();
    let r = coord.wait_run(run, "failed").await;
    let steps = r["steps"].as_array().unwrap();
    // the first condition failed with its reason and the run took on_failure
    assert!(
        steps.iter().any(|s| s["status"] == "failed"
            && s["result"]
                .as_str()
                .unwrap()
                .contains("unknown variable __nope__")),
        "{steps:#?}"
    );
    assert!(steps.iter().any(|s| {
        s["result"]
            .as_str()
            .unwrap_or("")
            .contains("TLP amber+strict")
    }));
    // the second has no failure path: the run fails, saying why
    assert!(
        r["run"]["error"].as_str().unwrap().contains("as numbers"),
        "{:#}",
        r["run"]
    );
}
on_both_backends!(bad_condition, super::bad_conditions);

async fn blocks(store: Store) {
    let (coord, staff, sensor, id) = setup(&store, fast_config()).await;
    let (_, pb) = coord.import(data("block.json")).await;
    let key = pb["cacao_id"].as_str().unwrap().to_string();

    // a sensor that answers: the block goes through with its expiry
    let (_, started) = coord
        .post(
            &format!("/api/v1/incidents/{id}/playbooks"),
            json!({"playbook": key}),
        )
        .await;
    let run = started["run"].as_i64().unwrap();
    let http = reqwest::Client::new();
    let mut cmds = Vec::new();
    for _ in 0..50 {
        let a: Value = http
            .get(format!("{}/api/v1/commands?wait=1", coord.base))
            .header("authorization", format!("Bearer {sensor}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        cmds = a["commands"].as_array().cloned().unwrap_or_default();
        if !cmds.is_empty() {
            break;
        }
    }
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert_eq!(cmds[0]["kind"], "block");
    assert_eq!(cmds[0]["args"]["address"], "203.0.113.66");
    assert_eq!(cmds[0]["args"]["duration_secs"], 7200);
    let r = http
        .post(format!(
            "{}/api/v1/commands/{}/result",
            coord.base, cmds[0]["id"]
        ))
        .header("authorization", format!("Bearer {sensor}"))
        .json(&json!({"ok": true, "result": {"dry_run": true, "address": "203.0.113.66"}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let done = coord.wait_run(run, "completed").await;
    assert!(
        done["steps"].as_array().unwrap().iter().any(|s| s["result"]
            .as_str()
            .unwrap_or("")
            .contains("gw-1: done (dry-run")),
        "{done:#}"
    );

    // a sensor that stays offline: retried, then failed, then the hand task
    let (_, started) = coord
        .post(
            &format!("/api/v1/incidents/{id}/playbooks"),
            json!({"playbook": key}),
        )
        .await;
    let run = started["run"].as_i64().unwrap();
    let hand = staff.wait_task(run, "Block by hand").await;
    assert!(hand["checklist"].as_str().unwrap().contains("203.0.113.66"));
    let tl = store.incident_timeline(id).await.unwrap();
    assert!(
        tl.iter().any(|t| t
            .text
            .contains("no answer from sensor gw-1 after 2 attempts")),
        "{:#?}",
        tl.iter().map(|t| &t.text).collect::<Vec<_>>()
    );
    assert!(tl.iter().any(|t| t.text.contains("attempt 2 of 2")));
    staff
        .post(&format!("/api/v1/tasks/{}/done", hand["id"]), json!({}))
        .await;
    coord.wait_run(run, "completed").await;
}
on_both_backends!(block, super::blocks);

/// A real SMTP server (aiosmtpd, from PyPI) on loopback, printing what it
/// receives; `None` when Python has no aiosmtpd (the CI installs it).
fn smtp_server() -> Option<(std::process::Child, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = std::process::Command::new("python3")
        .args([
            "-u",
            "-m",
            "aiosmtpd",
            "-n",
            "-d",
            "-l",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((child, port));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

async fn notifications(store: Store) {
    let (mut smtp, port) =
        smtp_server().expect("python3 -m aiosmtpd (pip install aiosmtpd; .ci/run does)");
    // a webhook receiver
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(v);
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, hook).await.unwrap() });

    let mut cfg = fast_config();
    cfg.notify.smtp = Some(canhgac::central::notify::SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: "none".into(),
        from: "canhgac <soc@example.gov.vn>".into(),
        username: None,
        password_file: None,
        timeout_secs: 10,
    });
    cfg.notify.webhook_url = Some(format!("http://{hook_addr}/hook?token=secret"));
    cfg.playbooks.report_recipients = vec!["authority@example.gov.vn".into()];
    let (coord, _, _, id) = setup(&store, cfg).await;
    let (_, pb) = coord.import(data("notify.json")).await;
    let (_, started) = coord
        .post(
            &format!("/api/v1/incidents/{id}/playbooks"),
            json!({"playbook": pb["cacao_id"]}),
        )
        .await;
    let run = started["run"].as_i64().unwrap();
    let r = coord.wait_run(run, "completed").await;
    let step = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["result"].as_str().unwrap_or("").contains("mail sent"))
        .cloned();
    let result = step.expect("the mail step")["result"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        result.contains("soc@example.gov.vn, lead@example.gov.vn"),
        "{result}"
    );
    assert!(result.contains("answered 200"), "{result}");
    assert!(
        !result.contains("secret"),
        "the webhook's query string is not logged: {result}"
    );
    assert!(
        result.contains("sent to authority@example.gov.vn"),
        "{result}"
    );
    let hooked = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hooked["incident"]["incident"], id);
    assert_eq!(hooked["playbook"], "Notify");
    // the report was filed
    let inc = store.incident(id, "/", 0).await.unwrap().unwrap().0;
    assert!(inc.reported_at.is_some());
    // the SMTP server got both mails
    smtp.kill().ok();
    let out = smtp.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("Subject: Incident {id} at xa-my-yen")),
        "{text}"
    );
    assert!(text.contains("Source 203.0.113.66"), "{text}");
    assert!(text.contains("authority@example.gov.vn"), "{text}");
}
on_both_backends!(notify, super::notifications);

/// The CACAO examples of OASIS and SOARCA (tests/data/cacao): which import,
/// why the others do not (each problem names the step and field), and the
/// ones that import run to the end — their ssh/http/OpenC2 commands become
/// tasks that a person carries out and ticks off.
async fn cacao_examples(store: Store) {
    let (coord, _, _, id) = setup(&store, fast_config()).await;
    let valid = [
        "basic-example-1.json",
        "spec-3.1-example.json",
        "soarca-http-playbook.json",
        "soarca-manual-playbook.json",
        "soarca-openc2-playbook.json",
        "soarca-ssh-playbook.json",
    ];
    let invalid = [
        (
            "locky-bart-mbc-examples.json",
            "is not in target_definitions",
        ),
        (
            "layout-ext-playbook--aa1898b6.json",
            "an action step needs at least one command",
        ),
        ("soarca-fin-playbook.json", "agent_definitions"),
        (
            "soarca-powershell-playbook.json",
            "authentication_info_definitions",
        ),
        (
            "soarca-test-playbook.json",
            "is a action step, not a start step",
        ),
    ];
    let read = |f: &str| std::fs::read_to_string(format!("tests/data/cacao/{f}")).unwrap();
    for (f, why) in invalid {
        let (code, body) = coord.import(read(f)).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{f}");
        assert!(body.to_string().contains(why), "{f}: {body:#}");
    }
    for f in valid {
        let (code, pb) = coord.import(read(f)).await;
        // SOARCA's openc2 and ssh examples share one playbook id: the
        // second replaces the first (200, not 201)
        assert!(
            code == StatusCode::CREATED || code == StatusCode::OK,
            "{f}: {pb:#}"
        );
        let (code, started) = coord
            .post(
                &format!("/api/v1/incidents/{id}/playbooks"),
                json!({"playbook": pb["cacao_id"]}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{f}");
        let run = started["run"].as_i64().unwrap();
        // do every task the run gives, until it ends
        for _ in 0..20 {
            let r = coord.get(&format!("/api/v1/runs/{run}")).await;
            if r["run"]["status"] != "running" {
                assert_eq!(r["run"]["status"], "completed", "{f}: {r:#}");
                break;
            }
            if let Some(t) = r["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["status"] == "open")
            {
                let answer =
                    serde_json::from_str::<Vec<String>>(t["answer_options"].as_str().unwrap())
                        .unwrap()
                        .first()
                        .cloned();
                let body =
                    json!({"answer": answer.unwrap_or_default(), "evidence": "done by hand"});
                let (code, _) = coord
                    .post(&format!("/api/v1/tasks/{}/done", t["id"]), body)
                    .await;
                assert_eq!(code, StatusCode::OK, "{f}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        coord.wait_run(run, "completed").await;
    }
}
on_both_backends!(cacao, super::cacao_examples);

/// Central killed (SIGKILL) in the middle of a run starts again with the
/// run where it was: the task people were given is still theirs, and the
/// run goes on to the end after it is done.
#[test]
fn run_survives_a_kill() {
    use std::process::{Command, Stdio};
    const BIN: &str = env!("CARGO_BIN_EXE_canhgac");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("central.db");
    let rt = rt();
    let (sensor, coord) = rt.block_on(async {
        let store = Store::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        seed_org(&store).await;
        let s = enrolled_sensor(&store, "gw-1", "xa-my-yen").await;
        let c = user_with_token(
            &store,
            "coord",
            "coordinator",
            "tay-ninh",
            "long password 1",
        )
        .await;
        (s, c)
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.path().join("central.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ntls = \"off\"\n[store]\nurl = \"sqlite://{}\"\n\
             [playbooks]\ntick_ms = 100\nload_bundled = false\n",
            db.display()
        ),
    )
    .unwrap();
    let start = |n: u32| {
        let log = std::fs::File::create(dir.path().join(format!("central-{n}.log"))).unwrap();
        let child = Command::new(BIN)
            .args(["central", "-c"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut child = child;
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return child;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill().ok();
        child.wait().ok();
        panic!("central did not start");
    };
    let api = Api {
        base: format!("http://127.0.0.1:{port}"),
        token: coord,
        http: reqwest::Client::new(),
    };
    let mut central = start(0);
    let (run, id) = rt.block_on(async {
        let r = api
            .http
            .post(format!("{}/api/v1/events", api.base))
            .header("authorization", format!("Bearer {sensor}"))
            .body(alert_line(100, "2026-11-20T08:00:00.000000+0000", 1))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let incs = api.get("/api/v1/incidents").await;
        let id = incs["items"][0]["id"].as_i64().unwrap();
        api.import(data("child.json")).await;
        let (_, pb) = api.import(data("all-steps.json")).await;
        let (_, started) = api
            .post(
                &format!("/api/v1/incidents/{id}/playbooks"),
                json!({"playbook": pb["cacao_id"]}),
            )
            .await;
        let run = started["run"].as_i64().unwrap();
        let t = api.wait_task(run, "Decide").await;
        api.post(
            &format!("/api/v1/tasks/{}/done", t["id"]),
            json!({"answer": "contain"}),
        )
        .await;
        api.wait_task(run, "One more round").await;
        (run, id)
    });
    central.kill().unwrap();
    central.wait().unwrap();
    let mut central = start(1);
    // a new client: the old one's pooled connection died with central
    let api = Api {
        http: reqwest::Client::new(),
        ..api
    };
    rt.block_on(async {
        let r = api.get(&format!("/api/v1/runs/{run}")).await;
        assert_eq!(r["run"]["status"], "running");
        let round = api.wait_task(run, "One more round").await;
        let (code, _) = api
            .post(
                &format!("/api/v1/tasks/{}/done", round["id"]),
                json!({"answer": "no"}),
            )
            .await;
        assert_eq!(code, StatusCode::OK);
        let r = api.wait_run(run, "completed").await;
        let tasks = r["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 2, "no task was given twice: {tasks:#?}");
        let inc = api.get(&format!("/api/v1/incidents/{id}")).await;
        assert!(inc.to_string().contains("\"tlp\":\"red\""), "{inc}");
    });
    central.kill().unwrap();
    central.wait().unwrap();
}

/// Evidence files: size-limited, hashed, scoped, downloaded as files; the
/// notification report as HTML and as a PDF whose text reads back in
/// Vietnamese (pdftotext, from poppler-utils, which dev-setup installs).
async fn evidence_and_report(store: Store) {
    let mut cfg = fast_config();
    cfg.incidents.max_attachment_bytes = 1000;
    let (coord, staff, _, id) = setup(&store, cfg).await;
    let viewer = user_with_token(&store, "view", "viewer", "tay-ninh", "long password 3").await;
    let up = |token: String, name: &str, body: Vec<u8>| {
        coord
            .http
            .post(format!(
                "{}/api/v1/incidents/{id}/attachments?name={name}",
                coord.base
            ))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "text/plain")
            .body(body)
            .send()
    };
    let r = up(
        staff.token.clone(),
        "../../etc/auth.log",
        b"Failed password for root".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let row: Value = r.json().await.unwrap();
    assert_eq!(row["name"], "auth.log", "path parts are dropped");
    assert_eq!(row["sha256"], hex_sha256(b"Failed password for root"));
    let r = up(staff.token.clone(), "big.bin", vec![0u8; 1001])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = up(viewer, "x.txt", b"x".to_vec()).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let list = coord
        .get(&format!("/api/v1/incidents/{id}/attachments"))
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let r = coord
        .http
        .get(format!("{}/api/v1/attachments/{}", coord.base, row["id"]))
        .header("authorization", format!("Bearer {}", coord.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment; filename=\"auth.log\"")
    );
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        b"Failed password for root"
    );
    assert!(
        store
            .incident_timeline(id)
            .await
            .unwrap()
            .iter()
            .any(|t| t.kind == "attachment")
    );

    // the report, HTML and PDF, in both languages
    let html = coord
        .http
        .get(format!(
            "{}/api/v1/incidents/{id}/report?format=html&lang=vi",
            coord.base
        ))
        .header("authorization", format!("Bearer {}", coord.token))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Báo cáo ban đầu sự cố an toàn thông tin mạng"),
        "{html}"
    );
    assert!(html.contains("Xã Mỹ Yên") && html.contains("203.0.113.66"));
    for (lang, title) in [
        ("vi", "Báo cáo ban đầu sự cố an toàn thông tin mạng"),
        ("en", "Initial cybersecurity incident notification report"),
    ] {
        let pdf = coord
            .http
            .get(format!(
                "{}/api/v1/incidents/{id}/report?format=pdf&lang={lang}",
                coord.base
            ))
            .header("authorization", format!("Bearer {}", coord.token))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(pdf.starts_with(b"%PDF-1."));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.pdf");
        std::fs::write(&p, &pdf).unwrap();
        let out = std::process::Command::new("pdftotext")
            .arg(&p)
            .arg("-")
            .output()
            .expect("pdftotext (poppler-utils; deploy/dev-setup.sh installs it)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(title), "{lang}: {text}");
        assert!(text.contains("Xã Mỹ Yên"), "{text}");
        assert!(
            text.contains("auth.log"),
            "the attachment is among what was done: {text}"
        );
    }
}
on_both_backends!(evidence, super::evidence_and_report);

fn hex_sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// A drill's alert opens its own incident (never merged with a real one),
/// and the playbook's block on it is simulated: no command reaches a sensor.
async fn drill_actions_are_simulated(store: Store) {
    let (coord, _, sensor, real) = setup(&store, fast_config()).await;
    let mut ev: Value =
        serde_json::from_str(&alert_line(100, "2026-11-20T08:00:05.000000+0000", 1)).unwrap();
    ev["drill"] = json!("drill-7");
    let r = coord
        .http
        .post(format!("{}/api/v1/events", coord.base))
        .header("authorization", format!("Bearer {sensor}"))
        .body(ev.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let incs = store.incidents(&everything(10)).await.unwrap().items;
    assert_eq!(
        incs.len(),
        2,
        "the drill alert did not join the real incident"
    );
    let drill = incs
        .iter()
        .find(|i| i.drill.as_deref() == Some("drill-7"))
        .expect("drill incident");
    assert_ne!(drill.id, real);
    // kept out of the real statistics
    let counts = store.alert_counts("/").await.unwrap();
    assert_eq!(counts.iter().map(|c| c.count).sum::<i64>(), 1, "{counts:?}");
    let (_, pb) = coord.import(data("block.json")).await;
    let (_, started) = coord
        .post(
            &format!("/api/v1/incidents/{}/playbooks", drill.id),
            json!({"playbook": pb["cacao_id"]}),
        )
        .await;
    let run = started["run"].as_i64().unwrap();
    let r = coord.wait_run(run, "completed").await;
    assert!(
        r["steps"]
            .to_string()
            .contains("DRILL drill-7: simulated, not done: block 203.0.113.66"),
        "{r:#}"
    );
    assert!(
        store.commands_of("gw-1", 10).await.unwrap().is_empty(),
        "no command was queued"
    );
}
on_both_backends!(drill_simulated, super::drill_actions_are_simulated);

/// A run that fails runs its `workflow_exception` steps once, with the
/// reason in `__canhgac_exception__`, and then ends as failed.
async fn exception_path(store: Store) {
    let (coord, _, _, id) = setup(&store, fast_config()).await;
    let mut doc: Value = serde_json::from_str(&data("bad-condition.json")).unwrap();
    let coordinator = doc["agent_definitions"]
        .as_object()
        .unwrap()
        .keys()
        .find(|k| k.starts_with("individual--"))
        .cloned()
        .unwrap();
    let exc = "action--0e0e0e0e-0000-4000-8000-000000000001";
    doc["id"] = json!("playbook--0e0e0e0e-0000-4000-8000-0000000000ff");
    doc["workflow_exception"] = json!(exc);
    doc["workflow"][exc] = json!({
        "type": "action", "name": "Handle the failure", "agent": coordinator,
        "description": "Why: __canhgac_exception__",
        "commands": [{"type": "manual", "command": "Tell the coordinator"}],
        "on_completion": doc["workflow"].as_object().unwrap().keys().find(|k| k.starts_with("end--")).cloned().unwrap()
    });
    let (code, pb) = coord.import(doc.to_string()).await;
    assert_eq!(code, StatusCode::CREATED, "{pb:#}");
    let (_, started) = coord
        .post(
            &format!("/api/v1/incidents/{id}/playbooks"),
            json!({"playbook": pb["cacao_id"]}),
        )
        .await;
    let run = started["run"].as_i64().unwrap();
    let task = coord.wait_task(run, "Handle the failure").await;
    assert!(
        task["description"].as_str().unwrap().contains("as numbers"),
        "{task}"
    );
    coord
        .post(&format!("/api/v1/tasks/{}/done", task["id"]), json!({}))
        .await;
    let r = coord.wait_run(run, "failed").await;
    assert!(
        r["run"]["error"].as_str().unwrap().contains("as numbers"),
        "{:#}",
        r["run"]
    );
}
on_both_backends!(exception, super::exception_path);
