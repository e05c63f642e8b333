//! Central over real HTTP, on SQLite always and on PostgreSQL when
//! `CANHGAC_TEST_POSTGRES` is set: ingest (idempotent, all-or-nothing,
//! authenticated), incidents, the REST API with unit scoping, metrics.

mod common;

use canhgac::central::store::Store;
use common::*;
use reqwest::StatusCode;
use serde_json::Value;

async fn post_batch(base: &str, creds: &str, body: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/api/v1/events"))
        .header("authorization", format!("Bearer {creds}"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn get_json(base: &str, token: &str, path: &str) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn ingest_is_idempotent(store: Store) {
    seed_org(&store).await;
    let creds = enrolled_sensor(&store, "gw-1", "phuong-tan-an").await;
    let (base, _) = spawn_central(store.clone()).await;
    let batch = [
        alert_line(100, "2026-11-20T08:00:00.000000+0000", 1),
        alert_line(100, "2026-11-20T08:10:00.000000+0000", 2),
        alert_line(200, "2026-11-20T08:11:00.000000+0000", 3),
    ]
    .join("\n");
    let r = post_batch(&base, &creds, batch.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicates"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(v["incidents_opened"], 2);
    // The same batch again: stored once.
    let v: Value = post_batch(&base, &creds, batch).await.json().await.unwrap();
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicates"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(store.event_count().await.unwrap(), 3);
    // One event twice in a batch, beside a new one: stored once, counted as
    // one duplicate; a batch larger than one multi-row insert works too.
    let twice = alert_line(300, "2026-11-20T08:12:00.000000+0000", 2);
    let mut lines = vec![twice.clone(), twice];
    for i in 0..1200 {
        lines.push(alert_line(
            400 + i % 3,
            "2026-11-20T08:13:00.000000+0000",
            3,
        ));
    }
    let v: Value = post_batch(&base, &creds, lines.join("\n"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicates"].as_u64()),
        (Some(1201), Some(1))
    );
    assert_eq!(store.event_count().await.unwrap(), 1204);
}
on_both_backends!(ingest_idempotent, super::ingest_is_idempotent);

async fn malformed_batch_stores_nothing(store: Store) {
    seed_org(&store).await;
    let creds = enrolled_sensor(&store, "gw-1", "phuong-tan-an").await;
    let (base, state) = spawn_central(store.clone()).await;
    let good = alert_line(1, "2026-11-20T08:00:00.000000+0000", 1);
    let cases = [
        (format!("{good}\n{{\"timestamp\": 5"), "line 2, column"),
        (
            format!("{good}\n{}", good.replace("\"event_id\"", "\"x\"")),
            "line 2: missing `event_id`",
        ),
        (
            format!(
                "{good}\n{}",
                good.replace("2026-11-20T08:00:00.000000+0000", "yesterday")
            ),
            "line 2: `timestamp` \"yesterday\"",
        ),
        (String::new(), "empty batch"),
    ];
    for (body, expect) in cases {
        let r = post_batch(&base, &creds, body).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let v: Value = r.json().await.unwrap();
        let msg = v["error"].as_str().unwrap();
        assert!(
            msg.contains(expect) && msg.contains("nothing stored"),
            "{msg}"
        );
    }
    assert_eq!(store.event_count().await.unwrap(), 0);
    let metrics = state.metrics.render();
    assert!(
        metrics.contains("canhgac_batches_rejected_total{reason=\"malformed\"} 4"),
        "{metrics}"
    );
}
on_both_backends!(malformed_batch, super::malformed_batch_stores_nothing);

async fn unknown_and_revoked_sensors_get_401(store: Store) {
    seed_org(&store).await;
    let creds = enrolled_sensor(&store, "gw-1", "phuong-tan-an").await;
    let (base, _) = spawn_central(store.clone()).await;
    let line = alert_line(1, "2026-11-20T08:00:00.000000+0000", 1);
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/events"))
        .body(line.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = post_batch(&base, "gw-1.0000", line.clone()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = post_batch(&base, "gw-9.abcd", line.clone()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        post_batch(&base, &creds, line.clone()).await.status(),
        StatusCode::OK
    );
    store.revoke_sensor("gw-1").await.unwrap();
    let r = post_batch(
        &base,
        &creds,
        alert_line(2, "2026-11-20T08:00:00.000000+0000", 1),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("revoked"));
    assert_eq!(store.event_count().await.unwrap(), 1);
}
on_both_backends!(sensor_auth, super::unknown_and_revoked_sensors_get_401);

async fn enrolment_token_works_once(store: Store) {
    seed_org(&store).await;
    let token = canhgac::central::auth::new_token("cge_");
    store
        .add_sensor(
            "gw-2",
            "xa-my-yen",
            &canhgac::central::auth::token_hash(&token),
        )
        .await
        .unwrap();
    let (base, _) = spawn_central(store).await;
    let client = reqwest::Client::new();
    let enroll = || {
        client
            .post(format!("{base}/api/v1/enroll"))
            .json(&serde_json::json!({ "token": token }))
            .send()
    };
    let r = enroll().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["sensor_id"], "gw-2");
    assert_eq!(v["unit"], "xa-my-yen");
    let creds = format!("gw-2.{}", v["secret"].as_str().unwrap());
    assert_eq!(enroll().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let r = post_batch(
        &base,
        &creds,
        alert_line(7, "2026-11-20T08:00:00.000000+0000", 2),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}
on_both_backends!(enrolment, super::enrolment_token_works_once);

async fn api_filters_paginates_and_scopes(store: Store) {
    seed_org(&store).await;
    let ward = enrolled_sensor(&store, "gw-ward", "phuong-tan-an").await;
    let commune = enrolled_sensor(&store, "gw-commune", "xa-my-yen").await;
    let coord = user_with_token(
        &store,
        "coord",
        "coordinator",
        "tay-ninh",
        "mật-khẩu-dài-12",
    )
    .await;
    let staff = user_with_token(
        &store,
        "staff",
        "unit_staff",
        "xa-my-yen",
        "mật-khẩu-dài-12",
    )
    .await;
    let (base, _) = spawn_central(store.clone()).await;
    // Ward: sid 1 three times in 20 min (one incident), then 3 h later (a second).
    let ward_batch = [
        alert_line(1, "2026-11-20T08:00:00.000000+0000", 1),
        alert_line(1, "2026-11-20T08:10:00.000000+0000", 1),
        alert_line(1, "2026-11-20T08:20:00.000000+0000", 1),
        alert_line(1, "2026-11-20T11:20:00.000000+0000", 1),
    ];
    assert_eq!(
        post_batch(&base, &ward, ward_batch.join("\n"))
            .await
            .status(),
        StatusCode::OK
    );
    let commune_batch = [
        alert_line(2, "2026-11-20T09:00:00.000000+0000", 3),
        alert_line(2, "2026-11-20T09:01:00.000000+0000", 3),
    ];
    assert_eq!(
        post_batch(&base, &commune, commune_batch.join("\n"))
            .await
            .status(),
        StatusCode::OK
    );

    let (s, v) = get_json(&base, &coord, "/api/v1/incidents").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["total"], 3);
    let counts: Vec<i64> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["alert_count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<i64>(), 6);
    assert!(counts.contains(&3) && counts.contains(&2) && counts.contains(&1));

    let (_, v) = get_json(
        &base,
        &coord,
        "/api/v1/alerts?unit=phuong-tan-an&limit=2&offset=1",
    )
    .await;
    assert_eq!(
        (v["total"].as_i64(), v["items"].as_array().unwrap().len()),
        (Some(4), 2)
    );
    let (_, v) = get_json(&base, &coord, "/api/v1/alerts?severity=high").await;
    assert_eq!(v["total"], 4);
    let (_, v) = get_json(
        &base,
        &coord,
        "/api/v1/alerts?since=2026-11-20T08:05:00Z&until=2026-11-20T09:00:30Z",
    )
    .await;
    assert_eq!(v["total"], 3);
    let (_, v) = get_json(&base, &coord, "/api/v1/incidents?status=open&severity=low").await;
    assert_eq!(v["total"], 3);

    // Unit staff see only their commune.
    let (_, v) = get_json(&base, &staff, "/api/v1/alerts").await;
    assert_eq!(v["total"], 2);
    assert!(
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["unit"] == "xa-my-yen")
    );
    let (s, _) = get_json(&base, &staff, "/api/v1/alerts?unit=phuong-tan-an").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, v) = get_json(
        &base,
        &coord,
        "/api/v1/incidents?unit=phuong-tan-an&limit=1",
    )
    .await;
    let ward_incident = v["items"][0]["id"].as_i64().unwrap();
    let (s, _) = get_json(&base, &staff, &format!("/api/v1/incidents/{ward_incident}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = get_json(&base, &coord, &format!("/api/v1/incidents/{ward_incident}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["incident"]["unit"], "phuong-tan-an");
    assert!(!v["alerts"].as_array().unwrap().is_empty());

    // Bad parameters say which.
    for (q, word) in [
        ("severity=urgent", "severity"),
        ("since=today", "since"),
        ("limit=0", "limit"),
        ("unit=nowhere", "unit"),
    ] {
        let (s, v) = get_json(&base, &coord, &format!("/api/v1/alerts?{q}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}");
        assert!(v["error"].as_str().unwrap().contains(word), "{q}: {v}");
    }
    let (s, _) = get_json(&base, "cgk_wrong", "/api/v1/alerts").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
on_both_backends!(api_queries, super::api_filters_paginates_and_scopes);

async fn health_metrics_and_openapi(store: Store) {
    let backend = store.backend();
    let (base, _) = spawn_central(store).await;
    let v: Value = reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["store"], backend);
    let m = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "canhgac_events_ingested_total 0",
        "canhgac_batches_rejected_total{reason=\"unauthorized\"} 0",
        "canhgac_ingest_duration_seconds_count 0",
        "canhgac_store_errors_total 0",
    ] {
        assert!(m.contains(series), "{series} missing from\n{m}");
    }
    let doc: Value = reqwest::get(format!("{base}/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    // Every documented path is served (not 404/405).
    let client = reqwest::Client::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let url = format!("{base}{}", path.replace("{id}", "1"));
        for method in item.as_object().unwrap().keys() {
            let r = match method.as_str() {
                "get" => client.get(&url).send().await.unwrap(),
                "post" => client.post(&url).send().await.unwrap(),
                _ => continue,
            };
            assert!(
                ![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&r.status())
                    || path.contains('{')
                    // this central serves plain HTTP: it has no CA to give
                    || path == "/api/v1/ca.pem",
                "{method} {path} → {}",
                r.status()
            );
        }
    }
}
on_both_backends!(health, super::health_metrics_and_openapi);

async fn org_tree_and_users(store: Store) {
    seed_org(&store).await;
    store
        .add_unit("ubnd-my-yen", "UBND xã Mỹ Yên", "site", Some("xa-my-yen"))
        .await
        .unwrap();
    let units = store.units().await.unwrap();
    assert_eq!(units.len(), 4);
    let site = store.unit("ubnd-my-yen").await.unwrap().unwrap();
    let commune = store.unit("xa-my-yen").await.unwrap().unwrap();
    assert!(site.path.starts_with(&commune.path));
    assert!(
        store
            .add_unit("xa-my-yen", "again", "commune", None)
            .await
            .is_err()
    );
    assert!(
        store
            .add_unit("x", "x", "site", Some("no-such-unit"))
            .await
            .is_err()
    );
    assert!(
        store
            .add_user("u1", "h", "viewer", "no-such-unit")
            .await
            .is_err()
    );
    assert!(store.add_sensor("s1", "no-such-unit", "h").await.is_err());
}
on_both_backends!(org_tree, super::org_tree_and_users);
