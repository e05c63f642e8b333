//! The audit trail: appends from many tasks at once form one chain, the
//! changes people and sensors make are recorded, and an edited, deleted or
//! inserted record is found — by the store and by `canhgac admin audit
//! verify`, which names the first broken record.

mod common;

use std::process::Command;

use canhgac::central::store::Store;
use common::*;
use serde_json::json;

async fn exec(store: &Store, sql: &str) {
    match store {
        Store::Sqlite(p) => {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(p)
                .await
                .unwrap();
        }
        Store::Postgres(p) => {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(p)
                .await
                .unwrap();
        }
    }
}

async fn chain_holds_and_breaks_where_touched(store: Store) {
    assert_eq!(
        store.audit_verify().await.unwrap(),
        Ok((0, canhgac::central::audit::GENESIS.to_string()))
    );
    // many appenders at once: still one chain
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.audit(
                &format!("user{}", i % 4),
                "test.append",
                &format!("thing:{i}"),
                &json!({"i": i}),
            )
            .await
            .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (n, last) = store.audit_verify().await.unwrap().unwrap();
    assert_eq!(n, 40);
    assert_eq!(last.len(), 64);
    let latest = store.audit_latest(1).await.unwrap();
    assert_eq!(latest[0].hash, last);
    assert_eq!(store.audit_of("thing:7", 10).await.unwrap().len(), 1);

    // an edit is found at the edited record
    let victim = store.audit_records(0, 100).await.unwrap()[10].clone();
    exec(
        &store,
        &format!(
            "UPDATE audit SET actor = 'mallory' WHERE id = {}",
            victim.id
        ),
    )
    .await;
    let broken = store.audit_verify().await.unwrap().unwrap_err();
    assert_eq!(broken.id, victim.id);
    assert!(broken.reason.contains("changed"), "{}", broken.reason);
    exec(
        &store,
        &format!(
            "UPDATE audit SET actor = '{}' WHERE id = {}",
            victim.actor, victim.id
        ),
    )
    .await;
    assert!(store.audit_verify().await.unwrap().is_ok());

    // a deletion is found at the record after it
    let rows = store.audit_records(0, 100).await.unwrap();
    exec(
        &store,
        &format!("DELETE FROM audit WHERE id = {}", rows[20].id),
    )
    .await;
    let broken = store.audit_verify().await.unwrap().unwrap_err();
    assert_eq!(broken.id, rows[21].id);
    assert!(broken.reason.contains("link"), "{}", broken.reason);
}
on_both_backends!(chain, super::chain_holds_and_breaks_where_touched);

async fn fleet_changes_are_recorded(store: Store) {
    seed_org(&store).await;
    let bearer = enrolled_sensor(&store, "gw-1", "xa-my-yen").await;
    let coord = user_with_token(
        &store,
        "coord",
        "coordinator",
        "tay-ninh",
        "long password 1",
    )
    .await;
    let (url, _state) = spawn_central(store.clone()).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{url}/api/v1/sensors/gw-1/commands"))
        .header("authorization", format!("Bearer {coord}"))
        .json(&json!({"kind": "block", "args": {"address": "198.51.100.7"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    http.post(format!("{url}/api/v1/commands/{id}/result"))
        .header("authorization", format!("Bearer {bearer}"))
        .json(&json!({"ok": true, "result": {"dry_run": true}}))
        .send()
        .await
        .unwrap();
    http.post(format!("{url}/api/v1/sensors/gw-1/revoke"))
        .header("authorization", format!("Bearer {coord}"))
        .send()
        .await
        .unwrap();
    let on_sensor = store.audit_of("sensor:gw-1", 10).await.unwrap();
    let actions: Vec<(&str, &str)> = on_sensor
        .iter()
        .map(|r| (r.actor.as_str(), r.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![("coord", "sensor.revoke"), ("coord", "command.queue")]
    );
    let result = store.audit_of(&format!("command:{id}"), 10).await.unwrap();
    assert_eq!(result[0].actor, "sensor:gw-1");
    assert!(result[0].details.contains("dry_run"));
    assert_eq!(store.audit_verify().await.unwrap().unwrap().0, 3);
}
on_both_backends!(fleet, super::fleet_changes_are_recorded);

#[test]
fn admin_audit_verify_names_the_broken_record() {
    let bin = env!("CARGO_BIN_EXE_canhgac");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("central.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\ntls = \"off\"\n[store]\ndata_dir = \"{}\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let admin = |args: &[&str]| {
        Command::new(bin)
            .arg("admin")
            .arg("-c")
            .arg(&cfg)
            .args(args)
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    };
    assert!(
        admin(&[
            "unit", "add", "tinh", "--title", "Tỉnh", "--kind", "province"
        ])
        .status
        .success()
    );
    assert!(
        admin(&["sensor", "add", "gw-1", "--unit", "tinh"])
            .status
            .success()
    );
    assert!(admin(&["sensor", "revoke", "gw-1"]).status.success());
    let ok = admin(&["audit", "verify"]);
    assert!(ok.status.success());
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.contains("intact: 3 record(s)"), "{text}");
    let list = String::from_utf8_lossy(&admin(&["audit", "list"]).stdout).into_owned();
    assert!(
        list.contains("sensor.revoke") && list.contains("unit.add") && list.contains("admin-cli:"),
        "{list}"
    );
    // someone edits the database behind central's back
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!(
            "sqlite://{}",
            dir.path().join("canhgac.db").display()
        ))
        .await
        .unwrap();
        sqlx::query("UPDATE audit SET details = '{}' WHERE id = 2")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let bad = admin(&["audit", "verify"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("broken at record 2"), "{err}");
}
