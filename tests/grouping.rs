//! How alerts become incidents, on both backends: grouping by configured
//! keys, a campaign when one outside address hits several units, the
//! configurable seriousness rule, and overdue steps noted once.

mod common;

use canhgac::central::CentralConfig;
use canhgac::central::store::Store;
use common::*;
use reqwest::StatusCode;
use serde_json::json;

fn alert(sid: u64, src: &str, dst: &str, sig: &str) -> String {
    json!({
        "timestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string(),
        "flow_id": 1, "event_type": "alert",
        "src_ip": src, "src_port": 40000, "dest_ip": dst, "dest_port": 22, "proto": "TCP",
        "alert": {"action": "allowed", "gid": 1, "signature_id": sid, "rev": 1,
                  "signature": sig, "category": "Attempted Administrator Privilege Gain", "severity": 2},
        "event_id": uuid::Uuid::now_v7(),
    })
    .to_string()
}

async fn send(base: &str, sensor: &str, lines: &[String]) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/events"))
        .header("authorization", format!("Bearer {sensor}"))
        .body(lines.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn grouping_and_campaigns(store: Store) {
    seed_org(&store).await;
    let a = enrolled_sensor(&store, "gw-a", "xa-my-yen").await;
    let b = enrolled_sensor(&store, "gw-b", "phuong-tan-an").await;
    let mut cfg = CentralConfig::default();
    cfg.playbooks.load_bundled = false;
    cfg.incidents.group_by = vec!["rule".into(), "src_ip".into()];
    cfg.incidents.campaign.units = 2;
    cfg.incidents.serious.categories = vec!["brute-force".into()];
    let (base, state) = spawn_central_with(store.clone(), cfg).await;
    // one rule, two sources: two incidents (grouped by rule and source)
    send(
        &base,
        &a,
        &[
            alert(7, "203.0.113.5", "10.1.1.1", "SSH brute force attempt"),
            alert(7, "203.0.113.5", "10.1.1.1", "SSH brute force attempt"),
            alert(7, "198.51.100.9", "10.1.1.1", "SSH brute force attempt"),
        ],
    )
    .await;
    let incs = store.incidents(&everything(50)).await.unwrap().items;
    assert_eq!(incs.len(), 2, "{incs:#?}");
    assert!(
        incs.iter()
            .all(|i| i.category == "brute-force" && i.serious == 1),
        "the category makes them serious"
    );
    let tl = store.incident_timeline(incs[0].id).await.unwrap();
    assert!(
        tl.iter()
            .any(|t| t.kind == "serious" && t.text.contains("category brute-force"))
    );
    // the same outside address against a second unit: a campaign
    send(
        &base,
        &b,
        &[alert(
            7,
            "203.0.113.5",
            "10.2.2.2",
            "SSH brute force attempt",
        )],
    )
    .await;
    let incs = store.incidents(&everything(50)).await.unwrap().items;
    let camp = incs
        .iter()
        .find(|i| i.kind == "campaign")
        .expect("a campaign incident");
    assert!(
        camp.title.contains("203.0.113.5") && camp.title.contains("2 units"),
        "{}",
        camp.title
    );
    assert_eq!(camp.unit, "tay-ninh", "at the units' common ancestor");
    let members = store.campaign_members(camp.id).await.unwrap();
    assert_eq!(members.len(), 2, "{members:?}");
    // the other source stays out of it
    let other = incs
        .iter()
        .find(|i| i.kind == "unit" && i.campaign_id.is_none())
        .expect("198.51.100.9's incident");
    assert_eq!(other.alert_count, 1);
    // a third alert from the same source grows nothing new
    send(
        &base,
        &b,
        &[alert(
            7,
            "203.0.113.5",
            "10.2.2.2",
            "SSH brute force attempt",
        )],
    )
    .await;
    let n = store
        .incidents(&everything(50))
        .await
        .unwrap()
        .items
        .iter()
        .filter(|i| i.kind == "campaign")
        .count();
    assert_eq!(n, 1);
    // overdue: with no time allowed, every open incident is overdue once
    let mut cfg = state.config.clone();
    cfg.incidents.sla.high.acknowledge_mins = 0;
    cfg.incidents.sla.medium.acknowledge_mins = 0;
    let st2 = canhgac::central::AppState::new(store.clone(), cfg);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let fresh = canhgac::central::incident::overdue_once(&st2)
        .await
        .unwrap();
    assert!(fresh.iter().any(|(_, s)| *s == "acknowledge"), "{fresh:?}");
    let again = canhgac::central::incident::overdue_once(&st2)
        .await
        .unwrap();
    assert!(again.is_empty(), "noted once: {again:?}");
}
on_both_backends!(grouping, super::grouping_and_campaigns);

#[test]
fn common_ancestor_of_unit_paths() {
    use canhgac::central::store::incidents::common_ancestor;
    assert_eq!(
        common_ancestor(&["/1/4/9/".into(), "/1/4/12/".into()]),
        "/1/4/"
    );
    assert_eq!(common_ancestor(&["/1/4/9/".into(), "/1/5/".into()]), "/1/");
    assert_eq!(common_ancestor(&["/1/4/".into(), "/2/".into()]), "/1/");
    assert_eq!(common_ancestor(&[]), "/");
}

async fn fields_by_hand(store: Store) {
    seed_org(&store).await;
    let s = enrolled_sensor(&store, "gw-a", "xa-my-yen").await;
    let staff = user_with_token(
        &store,
        "staff",
        "unit_staff",
        "xa-my-yen",
        "long password 2",
    )
    .await;
    let viewer = user_with_token(&store, "view", "viewer", "tay-ninh", "long password 3").await;
    let mut cfg = CentralConfig::default();
    cfg.playbooks.load_bundled = false;
    let (base, _) = spawn_central_with(store.clone(), cfg).await;
    send(
        &base,
        &s,
        &[alert(9, "203.0.113.5", "10.1.1.1", "Something odd")],
    )
    .await;
    let id = store.incidents(&everything(5)).await.unwrap().items[0].id;
    let post = |token: &str, body: serde_json::Value| {
        reqwest::Client::new()
            .post(format!("{base}/api/v1/incidents/{id}/fields"))
            .header("authorization", format!("Bearer {token}"))
            .json(&body)
            .send()
    };
    assert_eq!(
        post(&viewer, json!({"tlp": "red"})).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let r = post(&staff, json!({"category": "nonsense"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text().await.unwrap().contains("ransomware"),
        "the refusal lists the categories"
    );
    let r = post(
        &staff,
        json!({"category": "data-leak", "tlp": "AMBER+STRICT", "tags": "attack.t1048, x"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let inc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(inc["category"], "data-leak");
    assert_eq!(inc["tlp"], "amber+strict");
    assert_eq!(inc["serious"], 0);
    let r = post(&staff, json!({"serious_reason": "outage"}))
        .await
        .unwrap();
    let inc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(inc["serious"], 1);
    let tl = store.incident_timeline(id).await.unwrap();
    assert!(
        tl.iter()
            .any(|t| t.kind == "serious" && t.text == "outage" && t.actor == "staff")
    );
    assert!(
        tl.iter()
            .any(|t| t.kind == "fields" && t.text.contains("TLP:AMBER+STRICT"))
    );
}
on_both_backends!(fields, super::fields_by_hand);
