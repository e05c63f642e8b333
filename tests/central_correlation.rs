//! Sigma correlation at central, over real HTTP, on SQLite and (when
//! `CANHGAC_TEST_POSTGRES` is set) PostgreSQL: matches from several sensors
//! and units correlate; a resent batch counts once; after a restart the
//! state is rebuilt from the store and nothing is stored twice.

mod common;

use std::sync::Arc;

use canhgac::central::store::Store;
use canhgac::central::{AppState, CentralConfig, SharedState};
use canhgac::detect::sigma::SigmaRuleSet;
use canhgac::event::Event;
use common::*;

/// Central with the bundled rules for correlation.
async fn spawn(store: Store) -> (String, SharedState) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = CentralConfig::default();
    cfg.correlation.rules = vec!["rules/sigma".into()];
    let state = AppState::new(store, cfg);
    assert!(state.correlation.is_some());
    let s = Arc::clone(&state);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _ = ready_tx.send(());
        canhgac::central::serve(s, listener, std::future::pending())
            .await
            .unwrap();
    });
    ready_rx.await.unwrap();
    // serve() rebuilds before it accepts; wait until it answers
    for _ in 0..100 {
        if reqwest::get(format!("http://{addr}/healthz")).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (format!("http://{addr}"), state)
}

/// What a sensor ships for `line` at `micros`: the log event and its
/// Sigma matches (alerts, or quiet `sigma` events).
fn sensor_events(set: &SigmaRuleSet, line: &str, micros: i64) -> Vec<Event> {
    let mut ev = Event::new("log", micros);
    ev.log = Some(canhgac::sensor::log_record(
        "/var/log/test".into(),
        None,
        line.to_string(),
        false,
    ));
    let mut out = set.alerts(&ev);
    out.insert(0, ev);
    out
}

async fn post(base: &str, creds: &str, events: &[Event]) {
    let body: String = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/events"))
        .header("authorization", format!("Bearer {creds}"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

/// (unit, signature) of every stored alert whose signature has `needle`.
async fn alerts(store: &Store, needle: &str) -> Vec<(String, String, Option<String>)> {
    let page = store.alerts(&everything(1000)).await.unwrap();
    page.items
        .into_iter()
        .filter(|a| a.signature.contains(needle))
        .map(|a| (a.unit, a.sensor, a.src_ip))
        .collect()
}

fn rules() -> SigmaRuleSet {
    let (set, report) = SigmaRuleSet::load(&[std::path::Path::new("rules/sigma")]);
    assert!(report.diagnostics.is_empty());
    set
}

fn sshd_failure(i: usize, src: &str) -> String {
    format!(
        "Nov 26 10:00:00 db01 sshd[300]: Failed password for invalid user u{i} from {src} port 4{i}00 ssh2"
    )
}

async fn correlates_across_sensors_and_units(store: Store) {
    seed_org(&store).await;
    store
        .add_unit("xa-binh-minh", "Xã Bình Minh", "commune", Some("tay-ninh"))
        .await
        .unwrap();
    let s1 = enrolled_sensor(&store, "s-tan-an", "phuong-tan-an").await;
    let s1b = enrolled_sensor(&store, "s-tan-an-2", "phuong-tan-an").await;
    let s2 = enrolled_sensor(&store, "s-my-yen", "xa-my-yen").await;
    let s3 = enrolled_sensor(&store, "s-binh-minh", "xa-binh-minh").await;
    let (base, _state) = spawn(store.clone()).await;
    let set = rules();
    let now = chrono::Utc::now().timestamp_micros();
    let sec = 1_000_000;

    // SSH brute force, its failures split over two sensors of one unit
    let mut a = Vec::new();
    let mut b = Vec::new();
    for i in 0..12 {
        let evs = sensor_events(&set, &sshd_failure(i, "203.0.113.50"), now + i as i64 * sec);
        if i % 2 == 0 {
            a.extend(evs)
        } else {
            b.extend(evs)
        }
    }
    post(&base, &s1, &a).await;
    assert!(
        alerts(&store, "SSH brute force").await.is_empty(),
        "six failures are not ten"
    );
    post(&base, &s1b, &b).await;
    let brute = alerts(&store, "SSH brute force").await;
    assert_eq!(brute.len(), 1, "{brute:?}");
    assert_eq!(brute[0].0, "phuong-tan-an");
    assert_eq!(brute[0].1, "@central");
    assert_eq!(brute[0].2.as_deref(), Some("203.0.113.50"));
    // the failures themselves are no alerts
    assert!(
        alerts(&store, "SSH authentication failure")
            .await
            .is_empty()
    );
    // a resent batch is stored once and counted once
    post(&base, &s1b, &b).await;
    assert_eq!(alerts(&store, "SSH brute force").await.len(), 1);

    // one address attacks the portals of three units
    let sqli = |i: usize| {
        format!(
            "198.51.100.77 - - [26/Nov/2026:10:00:0{i} +0700] \"GET /motcua/tra-cuu?ma=1%27%20or%201=1-- HTTP/1.1\" 200 10 \"-\" \"Mozilla/5.0\""
        )
    };
    post(&base, &s1, &sensor_events(&set, &sqli(1), now + 20 * sec)).await;
    post(&base, &s2, &sensor_events(&set, &sqli(2), now + 21 * sec)).await;
    assert!(
        alerts(&store, "several units").await.is_empty(),
        "two units are not three"
    );
    post(&base, &s3, &sensor_events(&set, &sqli(3), now + 22 * sec)).await;
    let campaign = alerts(&store, "One address attacking several units").await;
    assert_eq!(campaign.len(), 1, "{campaign:?}");
    assert_eq!(campaign[0].0, "tay-ninh", "a province-level alert");
    assert_eq!(campaign[0].2.as_deref(), Some("198.51.100.77"));
    // and it opened an incident of its own
    let (page,) = (store.incidents(&everything(100)).await.unwrap(),);
    assert!(
        page.items
            .iter()
            .any(|i| i.title.contains("several units") && i.unit == "tay-ninh")
    );
}
on_both_backends!(
    across_sensors_and_units,
    super::correlates_across_sensors_and_units
);

async fn state_survives_a_restart(store: Store) {
    seed_org(&store).await;
    let s1 = enrolled_sensor(&store, "s-tan-an", "phuong-tan-an").await;
    let set = rules();
    let now = chrono::Utc::now().timestamp_micros();
    let sec = 1_000_000;
    let failures = |range: std::ops::Range<usize>| -> Vec<Event> {
        range
            .flat_map(|i| sensor_events(&set, &sshd_failure(i, "192.0.2.44"), now + i as i64 * sec))
            .collect()
    };
    {
        let (base, _state) = spawn(store.clone()).await;
        post(&base, &s1, &failures(0..6)).await;
        assert!(alerts(&store, "SSH brute force").await.is_empty());
    }
    // a new central on the same store (the old one's state is gone)
    let (base, state) = spawn(store.clone()).await;
    let (stats, groups) = state.correlation.as_ref().unwrap().stats();
    assert!(
        stats.inputs >= 6,
        "rebuilt from the stored matches: {stats:?}"
    );
    assert!(groups >= 1);
    post(&base, &s1, &failures(6..10)).await;
    let brute = alerts(&store, "SSH brute force").await;
    assert_eq!(
        brute.len(),
        1,
        "six before the restart and four after make ten: {brute:?}"
    );
    // a third start finds the same result again and stores it once
    let (_base, _state) = spawn(store.clone()).await;
    assert_eq!(alerts(&store, "SSH brute force").await.len(), 1);
}
on_both_backends!(restart, super::state_survives_a_restart);
