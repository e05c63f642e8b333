//! The incident workflow over the API, on both backends: statuses with
//! reasons, the times each step was first reached, assignment within the
//! units a user may see, comments, the timeline and the audit trail; the
//! `open`/`closed` filters and grouping follow the workflow.

mod common;

use canhgac::central::store::Store;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn workflow(store: Store) {
    seed_org(&store).await;
    let sensor = enrolled_sensor(&store, "gw-1", "xa-my-yen").await;
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
        "xa-my-yen",
        "long password 2",
    )
    .await;
    let viewer = user_with_token(&store, "view", "viewer", "tay-ninh", "long password 3").await;
    user_with_token(
        &store,
        "ward",
        "unit_staff",
        "phuong-tan-an",
        "long password 4",
    )
    .await;
    let (base, _) = spawn_central(store.clone()).await;
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
    let post = |token: &str, path: String, body: Value| {
        http.post(format!("{base}/api/v1/incidents/{id}/{path}"))
            .header("authorization", format!("Bearer {token}"))
            .json(&body)
            .send()
    };
    // viewers look, they do not act
    let r = post(&viewer, "status".into(), json!({"status": "acknowledged"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // the commune's staff acknowledge
    let r = post(&staff, "status".into(), json!({"status": "acknowledged"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let inc: Value = r.json().await.unwrap();
    assert_eq!(inc["status"], "acknowledged");
    assert!(inc["acknowledged_at"].as_i64().is_some());
    assert!(inc["contained_at"].is_null());
    // resolving needs a reason; the refusal says so
    let r = post(&staff, "status".into(), json!({"status": "resolved"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("needs a reason"));
    let r = post(&staff, "status".into(), json!({"status": "finished"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // assignment: only to someone who can see the incident
    let r = post(&coord, "assign".into(), json!({"assignee": "ward"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("cannot see"));
    let r = post(&coord, "assign".into(), json!({"assignee": "staff"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["assignee"], "staff");
    // comments, in Vietnamese
    let r = post(
        &staff,
        "comments".into(),
        json!({"text": "Đã ngắt máy chủ khỏi mạng."}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = post(&staff, "comments".into(), json!({"text": "   "}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // contained, then resolved with a reason: the skipped times are kept
    post(&staff, "status".into(), json!({"status": "contained"}))
        .await
        .unwrap();
    let r = post(
        &staff,
        "status".into(),
        json!({"status": "resolved", "reason": "Đã vá lỗ hổng, đổi mật khẩu."}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let inc: Value = r.json().await.unwrap();
    assert!(inc["contained_at"].as_i64().unwrap() <= inc["resolved_at"].as_i64().unwrap());
    // a resolved incident no longer takes alerts: the next one opens a new incident
    http.post(format!("{base}/api/v1/events"))
        .header("authorization", format!("Bearer {sensor}"))
        .body(alert_line(100, "2026-11-20T08:05:00.000000+0000", 1))
        .send()
        .await
        .unwrap();
    let mut f = everything(10);
    f.status = Some("open".into());
    assert_eq!(store.incidents(&f).await.unwrap().total, 1);
    f.status = Some("closed".into());
    let closed = store.incidents(&f).await.unwrap();
    assert_eq!((closed.total, closed.items[0].id), (1, id));
    // reopening needs a reason
    let r = post(&coord, "status".into(), json!({"status": "acknowledged"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // the timeline tells the story, oldest first
    let r = http
        .get(format!("{base}/api/v1/incidents/{id}"))
        .header("authorization", format!("Bearer {viewer}"))
        .send()
        .await
        .unwrap();
    let detail: Value = r.json().await.unwrap();
    let kinds: Vec<(&str, &str)> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["kind"].as_str().unwrap(), t["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("opened", "system"),
            ("status", "staff"),
            ("assign", "coord"),
            ("comment", "staff"),
            ("status", "staff"),
            ("status", "staff"),
        ]
    );
    assert_eq!(
        detail["timeline"][5]["text"],
        "Đã vá lỗ hổng, đổi mật khẩu."
    );
    // observables taken from its alerts
    let obs: Vec<(String, String, i64)> = detail["observables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_string(),
                o["value"].as_str().unwrap().to_string(),
                o["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        obs,
        vec![
            ("ip".to_string(), "10.20.30.10".to_string(), 1),
            ("ip".to_string(), "203.0.113.66".to_string(), 1),
        ]
    );
    // response times: reached steps have their times, none is overdue yet
    let sla = &detail["sla"];
    assert!(sla["tta"].as_i64().unwrap() >= 0, "{sla}");
    assert!(sla["ttc"].as_i64().unwrap() >= sla["tta"].as_i64().unwrap());
    assert!(sla["ttr"].as_i64().unwrap() >= sla["ttc"].as_i64().unwrap());
    assert_eq!(sla["overdue"], json!([]));
    // severity 1: acknowledge within 30 minutes by default
    assert_eq!(
        sla["acknowledge_due"].as_i64().unwrap()
            - detail["incident"]["created_at"].as_i64().unwrap(),
        30 * 60 * 1_000_000
    );
    let r = http
        .get(format!("{base}/api/v1/response-times"))
        .header("authorization", format!("Bearer {viewer}"))
        .send()
        .await
        .unwrap();
    let rt: Value = r.json().await.unwrap();
    let unit = &rt["units"][0];
    assert_eq!(
        (unit["unit"].as_str(), unit["incidents"].as_i64()),
        (Some("xa-my-yen"), Some(2))
    );
    // one incident reached each step: the means are over that one
    assert!(unit["mtta"].as_f64().unwrap() >= 0.0, "{rt}");
    assert!(
        unit["mttr"].as_f64().unwrap() >= unit["mtta"].as_f64().unwrap(),
        "{rt}"
    );
    assert!(unit["mttd"].as_f64().is_some());
    // and the audit trail has every change, intact
    let audited = store.audit_of(&format!("incident:{id}"), 20).await.unwrap();
    assert_eq!(audited.len(), 5);
    assert!(store.audit_verify().await.unwrap().is_ok());
    // a user outside the incident's units does not find it
    let ward = user_with_token(
        &store,
        "ward2",
        "coordinator",
        "phuong-tan-an",
        "long password 5",
    )
    .await;
    let r = post(&ward, "comments".into(), json!({"text": "x"}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
on_both_backends!(incident_workflow, super::workflow);

async fn serious_systems(store: Store) {
    seed_org(&store).await;
    let sensor = enrolled_sensor(&store, "gw-1", "xa-my-yen").await;
    // the province's portal (level 4), reached from the commune's network
    store
        .add_asset(
            "cong-thong-tin",
            "tay-ninh",
            &["10.20.30.0/24".into()],
            "Văn phòng UBND tỉnh",
            4,
        )
        .await
        .unwrap();
    // a ward's system elsewhere does not apply to this commune
    store
        .add_asset(
            "ho-so-phuong",
            "phuong-tan-an",
            &["203.0.113.0/24".into()],
            "",
            5,
        )
        .await
        .unwrap();
    assert!(store.add_asset("x", "tay-ninh", &[], "", 6).await.is_err());
    assert!(
        store
            .add_asset("cong-thong-tin", "tay-ninh", &[], "", 3)
            .await
            .is_err()
    );
    let (base, _) = spawn_central(store.clone()).await;
    let http = reqwest::Client::new();
    let send = |line: String| {
        http.post(format!("{base}/api/v1/events"))
            .header("authorization", format!("Bearer {sensor}"))
            .body(line)
            .send()
    };
    // a low-severity rule against the portal: high and serious
    send(alert_line(500, "2026-11-20T08:00:00.000000+0000", 3))
        .await
        .unwrap();
    // the same rule against a host that is no registered system: as it is
    send(
        alert_line(600, "2026-11-20T08:00:00.000000+0000", 3).replace("10.20.30.10", "192.0.2.50"),
    )
    .await
    .unwrap();
    let all = store.incidents(&everything(10)).await.unwrap().items;
    let portal = all.iter().find(|i| i.signature_id == 500).unwrap();
    let other = all.iter().find(|i| i.signature_id == 600).unwrap();
    assert_eq!(
        (portal.severity, portal.serious, portal.asset.as_deref()),
        (1, 1, Some("cong-thong-tin"))
    );
    assert_eq!(
        (other.severity, other.serious, other.asset.as_deref()),
        (3, 0, None)
    );
    let timeline = store.incident_timeline(portal.id).await.unwrap();
    assert_eq!(
        timeline.iter().map(|t| t.kind.as_str()).collect::<Vec<_>>(),
        vec!["opened", "serious"]
    );
    // a second alert on it does not escalate twice
    send(alert_line(500, "2026-11-20T08:01:00.000000+0000", 3))
        .await
        .unwrap();
    assert_eq!(store.incident_timeline(portal.id).await.unwrap().len(), 2);
    assert_eq!(store.assets("").await.unwrap().len(), 2);
}
on_both_backends!(serious, super::serious_systems);

async fn assets_page(store: Store) {
    seed_org(&store).await;
    user_with_token(
        &store,
        "coord",
        "coordinator",
        "tay-ninh",
        "long password 1",
    )
    .await;
    let viewer = user_with_token(&store, "view", "viewer", "tay-ninh", "long password 2").await;
    user_with_token(
        &store,
        "ward",
        "coordinator",
        "phuong-tan-an",
        "long password 3",
    )
    .await;
    let session = |name: &'static str| console_session(&store, name);
    let (base, _) = spawn_central(store.clone()).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let add = |cookie: String, form: Vec<(&'static str, &'static str)>| {
        http.post(format!("{base}/assets"))
            .header("cookie", cookie)
            .form(&form)
            .send()
    };
    let good = vec![
        ("csrf", "the-csrf"),
        ("name", "cong-thong-tin"),
        ("unit", "xa-my-yen"),
        ("level", "4"),
        ("addresses", "10.20.30.0/24, 10.20.31.5"),
        ("owner", "UBND xã Mỹ Yên"),
    ];
    let coord = session("coord").await;
    let mut forged = good.clone();
    forged[0] = ("csrf", "forged");
    assert_eq!(
        add(coord.clone(), forged).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        add(session("view").await, good.clone())
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    // a unit outside the ward coordinator's own
    let r = add(session("ward").await, good.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("Không có đơn vị"));
    let mut bad = good.clone();
    bad[4] = ("addresses", "10.20.30.0/24, máy-chủ");
    let r = add(coord.clone(), bad).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("không phải địa chỉ IP"));
    assert_eq!(
        add(coord.clone(), good).await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let page = http
        .get(format!("{base}/assets"))
        .header("cookie", coord)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("cong-thong-tin") && page.contains("10.20.30.0/24,10.20.31.5"),
        "{page}"
    );
    let list: Value = http
        .get(format!("{base}/api/v1/assets"))
        .header("authorization", format!("Bearer {viewer}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["level"], 4);
    assert_eq!(
        store.audit_of("asset:cong-thong-tin", 5).await.unwrap()[0].actor,
        "coord"
    );
}
on_both_backends!(assets, super::assets_page);
