//! The demo path end to end: the demo organisation and sensor, the sensor
//! enrolling and shipping the bundled capture and log sample over HTTP to a
//! real central, and a real headless Chromium signing in to the console and
//! opening the demo incident.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use canhgac::central::SharedState;
use canhgac::central::store::ListFilter;
use canhgac::detect::signature::{DEFAULT_CLASSIFICATION, RuleSet, Vars, parse_classifications};
use canhgac::sensor::{self, SensorConfig, SensorCounters};
use serde_json::{Value, json};

/// Central with the demo organisation, and the demo sensor's run finished.
async fn demo_central(dir: &std::path::Path) -> (String, SharedState, String, Arc<SensorCounters>) {
    let (store, _) = (
        canhgac::central::store::Store::open(&format!("sqlite://{}", dir.join("c.db").display()))
            .await
            .unwrap(),
        (),
    );
    let state_dir = dir.join("sensor");
    let (setup, token) = canhgac::up::prepare_demo(&store, &state_dir).await.unwrap();
    let password = setup.admin_password.expect("first start creates the admin");
    let (base, state) = common::spawn_central(store).await;
    let cfg: SensorConfig = canhgac::config::parse(
        std::path::Path::new("test"),
        &format!(
            "[sensor]\nstate_dir = {:?}\n[central]\nurl = {base:?}\nenrolment_token = {:?}\n\
             batch_max_events = 40\nbatch_max_ms = 100\n\
             [capture]\nfiles = [\"deploy/demo/demo.pcap\"]\n[rules]\nfiles = [\"rules/demo.rules\"]\n\
             [logs]\nfiles = [\"deploy/demo/demo.log\"]\n",
            state_dir.display().to_string(),
            token.unwrap()
        ),
    )
    .unwrap();
    cfg.validate(std::path::Path::new("test")).unwrap();
    let rules = RuleSet::compile(
        &[std::path::Path::new("rules/demo.rules")],
        &Vars::default(),
        parse_classifications(DEFAULT_CLASSIFICATION),
    )
    .unwrap();
    let counters = Arc::new(SensorCounters::default());
    sensor::run(
        cfg,
        Arc::new(rules),
        Arc::new(AtomicBool::new(false)),
        Arc::clone(&counters),
    )
    .await
    .unwrap();
    (base, state, password, counters)
}

#[tokio::test]
async fn sensor_enrols_ships_and_central_opens_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let (_base, state, _pw, counters) = demo_central(dir.path()).await;
    let log_lines = std::fs::read_to_string("deploy/demo/demo.log")
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .count() as u64;
    // Every event the replay of the demo capture writes (alerts, protocol
    // records, flows, the stats event) plus every log line.
    let out = tempfile::tempdir().unwrap();
    canhgac::sensor::replay::run(&canhgac::sensor::replay::ReplayOptions {
        pcaps: vec!["deploy/demo/demo.pcap".into()],
        rule_files: vec!["rules/demo.rules".into()],
        outdir: out.path().to_path_buf(),
        ..Default::default()
    })
    .unwrap();
    let eve = std::fs::read_to_string(out.path().join("eve.json")).unwrap();
    let alerts = eve
        .lines()
        .filter(|l| l.contains("\"event_type\":\"alert\""))
        .count();
    assert_eq!(alerts, 35, "the demo capture gives Suricata's 35 alerts");
    let expected = eve.lines().count() as u64 + log_lines;
    assert_eq!(counters.events_shipped.load(Ordering::Relaxed), expected);
    assert_eq!(counters.dropped_events.load(Ordering::Relaxed), 0);
    assert_eq!(state.store.event_count().await.unwrap() as u64, expected);
    let root = state.store.unit("tay-ninh").await.unwrap().unwrap();
    let f = ListFilter {
        scope_path: root.path.clone(),
        limit: 100,
        ..Default::default()
    };
    let incidents = state.store.incidents(&f).await.unwrap();
    // The capture spans 11 minutes: one incident per demo rule.
    assert_eq!(incidents.total, 10);
    assert_eq!(
        incidents.items.iter().map(|i| i.alert_count).sum::<i64>(),
        35
    );
    assert!(
        incidents
            .items
            .iter()
            .all(|i| i.unit == "ubnd-phuong-tan-an")
    );
    // Credentials were kept; the one-time token is spent.
    assert!(dir.path().join("sensor/credentials.json").exists());
}

struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver must be installed (deploy/dev-setup.sh installs chromium-driver)",
            );
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap().keep();
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", profile.display())]}}}});
        let v: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        Driver {
            child,
            base,
            session,
            http,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if !body.is_null() {
            req = req.json(&body);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({"url": url}))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{e}/value"),
            json!({"text": text}),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{e}/click"),
            json!({}),
        )
        .await;
    }

    /// The page source once it contains `needle` (the browser may still be
    /// following a redirect right after a click), or after 10 s as it is.
    async fn wait_source(&self, needle: &str) -> String {
        let mut src = self.source().await;
        for _ in 0..100 {
            if src.contains(needle) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            src = self.source().await;
        }
        src
    }

    async fn source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn text_of(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{e}/text"),
            Value::Null,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn chromium_logs_in_and_opens_the_demo_incident() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _state, password, _) = demo_central(dir.path()).await;
    let d = Driver::start().await;

    // Not signed in: the console sends the browser to the login page.
    d.goto(&format!("{base}/incidents")).await;
    let page = d.source().await;
    assert!(page.contains("id=\"login-submit\""), "{page}");

    // A wrong password is refused, in Vietnamese.
    d.type_into("#username", "admin").await;
    d.type_into("#password", "sai-mat-khau").await;
    d.click("#login-submit").await;
    d.wait_source("login-error").await;
    let err = d.text_of("#login-error").await;
    assert!(err.contains("không đúng"), "{err} / {}", d.source().await);

    d.type_into("#username", "admin").await;
    d.type_into("#password", &password).await;
    d.click("#login-submit").await;
    // the browser follows the redirect after the POST: wait for the page
    let mut overview = d.source().await;
    for _ in 0..50 {
        if overview.contains("Sự cố mới nhất") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        overview = d.source().await;
    }
    assert!(
        overview.contains("Sự cố mới nhất"),
        "overview in Vietnamese: {overview}"
    );
    assert!(overview.contains("UBND phường Tân An"));

    // Open the demo incident of the SQL-injection rule.
    d.goto(&format!("{base}/incidents")).await;
    let list = d.source().await;
    assert!(list.contains("CANHGAC DEMO SQL injection"));
    let link = d
        .find("#incidents tbody tr:nth-child(1) a.incident-link")
        .await;
    d.cmd(
        reqwest::Method::POST,
        &format!("/element/{link}/click"),
        json!({}),
    )
    .await;
    let heading = d.text_of("#incident-heading").await;
    assert!(heading.starts_with("Sự cố #"), "{heading}");
    assert!(
        d.text_of("#incident-title")
            .await
            .starts_with("CANHGAC DEMO")
    );
    let count: i64 = d.text_of("#incident-count").await.trim().parse().unwrap();
    assert!(count >= 1);
    assert!(d.source().await.contains("id=\"alerts\""));

    // The workflow: acknowledge, note, and a refused resolve without reason.
    assert!(
        d.source().await.contains("Mở sự cố"),
        "timeline shows the opening"
    );
    d.click("#status-to option[value=acknowledged]").await;
    d.click("#status-submit").await;
    // (the status names are also in the form: wait for the timeline row)
    let page = d.wait_source("tl-status").await;
    assert!(page.contains("Mới → Đã tiếp nhận"), "{page}");
    assert!(
        page.contains("Thời gian tiếp nhận"),
        "response times shown: {page}"
    );
    d.type_into("#comment-text", "Đã chặn địa chỉ nguồn tại tường lửa.")
        .await;
    d.click("#comment-submit").await;
    let page = d.wait_source("tl-comment").await;
    let note = page
        .split("tl-comment")
        .nth(1)
        .unwrap_or_default()
        .split("</tr>")
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(note.contains("tường lửa"), "the note as typed: {note}");
    d.click("#status-to option[value=resolved]").await;
    d.click("#status-submit").await;
    d.wait_source("incident-error").await;
    let refusal = d.text_of("#incident-error").await;
    assert!(
        refusal.contains("ghi lý do"),
        "refusal in Vietnamese: {refusal}"
    );

    // A playbook from the incident page: the run page draws it with the
    // current step, the task is done from "Tasks", and the run moves on.
    let incident_url = d.source().await;
    assert!(
        incident_url.contains("id=\"playbook-start-form\""),
        "{incident_url}"
    );
    d.click("#playbook-choice optgroup:last-child option:first-child")
        .await;
    d.click("#playbook-start").await;
    let mut page = d.wait_source("run-diagram").await;
    // the engine takes the first steps within a tick: look again until the
    // first task waits
    for _ in 0..50 {
        if page.contains("data-status=\"waiting\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        d.goto(&format!("{base}/runs/1")).await;
        page = d.wait_source("run-diagram").await;
    }
    assert!(
        page.contains("<svg") && page.contains("data-status=\"waiting\""),
        "{page}"
    );
    d.click("#nav-tasks").await;
    d.wait_source("tasks-open").await;
    d.click("#tasks-open tbody tr:nth-child(1) a").await;
    d.wait_source("task-form").await;
    d.click("#check-0").await;
    d.type_into(
        "#task-evidence",
        "Đã kiểm tra nhật ký, không thấy đăng nhập lạ.",
    )
    .await;
    d.click("#task-done").await;
    let page = d.wait_source("data-status=\"done\"").await;
    assert!(page.contains("task-status"), "{page}");
    assert!(
        page.contains("checked"),
        "the ticked item stays ticked: {page}"
    );
    // the run page now shows the task's step done and the next one waiting
    let mut page = String::new();
    for _ in 0..50 {
        d.goto(&format!("{base}/runs/1")).await;
        page = d.wait_source("run-diagram").await;
        if page.matches("data-status=\"succeeded\"").count() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // start, the triage task and the seriousness check are done
    assert!(
        page.matches("data-status=\"succeeded\"").count() >= 3,
        "{page}"
    );
    // back to the incident: its timeline tells the playbook's story in Vietnamese
    d.click("dl.facts a[href^='/incidents/']").await;
    let page = d.wait_source("incident-heading").await;
    assert!(
        page.contains("Bắt đầu kịch bản") && page.contains("giao việc cho"),
        "{page}"
    );

    // English on request, and it sticks.
    d.click("#lang-switch").await;
    d.wait_source("lang=\"en\"").await;
    assert!(
        d.text_of("#incident-heading")
            .await
            .starts_with("Incident #")
    );
    d.click("#nav-alerts").await;
    assert!(d.wait_source("Signature").await.contains("Signature"));

    // The sensors page: the demo sensor with its last heartbeat's figures.
    d.click("#nav-sensors").await;
    let page = d.wait_source("id=\"sensors\"").await;
    assert!(page.contains("Disk spool"), "{page}");
    d.click("#sensors tbody tr:nth-child(1) a.sensor-link")
        .await;
    d.wait_source("sensor-heading").await;
    assert_eq!(d.text_of("#sensor-state").await.trim(), "Up");
    assert!(d.source().await.contains("Nothing dropped."));
    // a coordinator queues a block (a dry run on the sensor)
    d.click("#cmd-kind option[value=block]").await;
    d.type_into("#cmd-address", "198.51.100.7").await;
    d.click("#cmd-submit").await;
    let page = d.wait_source("sensor-commands").await;
    assert!(
        page.contains("198.51.100.7") && page.contains("Pending"),
        "{page}"
    );
    // and revokes the sensor
    d.click("#revoke-confirm").await;
    d.click("#revoke-submit").await;
    d.wait_source("state-revoked").await;
    assert_eq!(d.text_of("#sensor-state").await.trim(), "Revoked");
    assert!(!d.source().await.contains("id=\"revoke-form\""));

    // A tabletop drill from the console: schedule it, the first message
    // arrives with its question, the team answers, the coordinator stops
    // it, the breakdown says why, the after-action report opens.
    d.click("#nav-drills").await;
    d.wait_source("drills-heading").await;
    d.click("#scenario-tabletop-ransomware option[value='ubnd-phuong-tan-an']")
        .await;
    d.click("#schedule-tabletop-ransomware").await;
    d.wait_source("drill-heading").await;
    let mut page = String::new();
    for _ in 0..50 {
        page = d.wait_source("drill-heading").await;
        if page.contains("id=\"msg-screens\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        d.goto(&format!("{base}/drills/1")).await;
    }
    assert!(
        page.contains("id=\"drill-banner\"") && page.contains("two PCs at the one-stop desk"),
        "{page}"
    );
    d.click("#msg-screens input[value='1']").await;
    d.click("#answer-screens").await;
    let page = d.wait_source("class=\"muted answered\"").await;
    assert!(page.contains("Answer to screens: 1."), "{page}");
    d.click("#drill-stop").await;
    let page = d.wait_source("data-status=\"stopped\"").await;
    assert!(
        page.contains("id=\"drill-breakdown\"") && page.contains("Right answer to screens."),
        "{page}"
    );
    d.click("#aar-html").await;
    let page = d.wait_source("report-title").await;
    assert!(
        page.contains("After-action report #1") && page.contains("Recommendations"),
        "{page}"
    );

    // The overview has the units' mean response times.
    d.goto(&format!("{base}/")).await;
    let page = d.wait_source("response-times").await;
    assert!(
        page.contains("Mean response times by unit") && page.contains("MTTA"),
        "{page}"
    );

    // Signing out ends the session.
    d.click("#logout").await;
    d.wait_source("login-submit").await;
    d.goto(&format!("{base}/")).await;
    assert!(
        d.wait_source("id=\"login-submit\"")
            .await
            .contains("id=\"login-submit\"")
    );
}

#[tokio::test]
async fn console_refuses_login_without_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _guard) = common::sqlite_store().await;
    common::seed_org(&store).await;
    common::user_with_token(
        &store,
        "coord",
        "coordinator",
        "tay-ninh",
        "mật-khẩu-dài-12",
    )
    .await;
    let (base, _) = common::spawn_central(store).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Right password, but no CSRF cookie/token pair: refused, no session cookie.
    let r = client
        .post(format!("{base}/login"))
        .form(&[
            ("username", "coord"),
            ("password", "mật-khẩu-dài-12"),
            ("csrf", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::FORBIDDEN);
    assert!(
        !r.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap_or("").starts_with("cg_session="))
    );
    // Pages carry a strict CSP.
    let r = client.get(format!("{base}/login")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    drop(dir);
}
