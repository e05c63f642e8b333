//! Shared test helpers: stores on both backends, a running central, users,
//! sensors and tokens.
#![allow(dead_code)]

use std::str::FromStr;
use std::sync::Arc;

use canhgac::central::store::Store;
use canhgac::central::{AppState, CentralConfig, SharedState, auth};
use sqlx::postgres::PgConnectOptions;

/// A store on SQLite in a temporary directory (kept alive by the guard).
pub async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (Store::open(&url).await.unwrap(), dir)
}

/// A store on PostgreSQL in a private, fresh schema, when
/// `CANHGAC_TEST_POSTGRES` holds a URL. In CI (`CI` set) a missing URL is a
/// failure, not a skip.
pub async fn postgres_store() -> Option<Store> {
    let Ok(url) = std::env::var("CANHGAC_TEST_POSTGRES") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must set CANHGAC_TEST_POSTGRES so that the PostgreSQL suite runs"
        );
        eprintln!("CANHGAC_TEST_POSTGRES not set: PostgreSQL half of this test not run");
        return None;
    };
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let opts = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    Some(Store::open_postgres(opts).await.unwrap())
}

/// The organisation every test uses: a province with two wards.
pub async fn seed_org(store: &Store) {
    store
        .add_unit("tay-ninh", "Tỉnh Tây Ninh", "province", None)
        .await
        .unwrap();
    store
        .add_unit("phuong-tan-an", "Phường Tân An", "ward", Some("tay-ninh"))
        .await
        .unwrap();
    store
        .add_unit("xa-my-yen", "Xã Mỹ Yên", "commune", Some("tay-ninh"))
        .await
        .unwrap();
}

/// Adds and enrols a sensor; returns its bearer credentials.
pub async fn enrolled_sensor(store: &Store, name: &str, unit: &str) -> String {
    let token = auth::new_token("cge_");
    store
        .add_sensor(name, unit, &auth::token_hash(&token))
        .await
        .unwrap();
    let secret = auth::new_token("");
    store
        .enrol_sensor(&auth::token_hash(&token), &auth::token_hash(&secret))
        .await
        .unwrap()
        .unwrap();
    format!("{name}.{secret}")
}

/// Adds a user with `password` and returns an API token for them.
pub async fn user_with_token(
    store: &Store,
    name: &str,
    role: &str,
    unit: &str,
    password: &str,
) -> String {
    let hash = auth::hash_password(password).unwrap();
    let u = store.add_user(name, &hash, role, unit).await.unwrap();
    let token = auth::new_token("cgk_");
    store
        .add_api_token(u.id, &auth::token_hash(&token))
        .await
        .unwrap();
    token
}

/// Central on an ephemeral port; returns its base URL and state.
pub async fn spawn_central(store: Store) -> (String, SharedState) {
    spawn_central_with(store, CentralConfig::default()).await
}

/// Central with `config` on an ephemeral port.
pub async fn spawn_central_with(store: Store, config: CentralConfig) -> (String, SharedState) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(store, config);
    let s = Arc::clone(&state);
    tokio::spawn(async move {
        canhgac::central::serve(s, listener, std::future::pending())
            .await
            .unwrap();
    });
    (format!("http://{addr}"), state)
}

/// An alert EVE line with a fresh event id.
pub fn alert_line(sid: u64, ts: &str, severity: u8) -> String {
    serde_json::json!({
        "timestamp": ts, "flow_id": 1, "event_type": "alert",
        "src_ip": "203.0.113.66", "src_port": 40000, "dest_ip": "10.20.30.10", "dest_port": 80,
        "proto": "TCP",
        "alert": {"action": "allowed", "gid": 1, "signature_id": sid, "rev": 1,
                  "signature": format!("TEST rule {sid}"), "category": "Web Application Attack",
                  "severity": severity},
        "event_id": uuid::Uuid::now_v7(),
    })
    .to_string()
}

/// Runs one async test body against SQLite and, when configured, PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let (store, _dir) = super::sqlite_store().await;
                $body(store).await;
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(store) = super::postgres_store().await {
                    $body(store).await;
                }
            }
        }
    };
}

/// A store filter over every unit, first `limit` rows.
pub fn everything(limit: i64) -> canhgac::central::store::ListFilter {
    canhgac::central::store::ListFilter {
        scope_path: "/".into(),
        unit_path: None,
        since: None,
        until: None,
        severity_max: None,
        status: None,
        limit,
        offset: 0,
    }
}

/// A console session for user `name` (CSRF token `the-csrf`); returns the
/// `Cookie` header value.
pub async fn console_session(store: &Store, name: &str) -> String {
    let u = store.user(name).await.unwrap().unwrap();
    let token = auth::new_token("");
    let expires = chrono::Utc::now().timestamp_micros() + 3_600_000_000;
    store
        .add_session(&auth::token_hash(&token), u.id, "the-csrf", expires)
        .await
        .unwrap();
    format!("cg_session={token}")
}

/// A small runtime for synchronous tests that drive real processes.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `canhgac admin -c CFG ARGS…` and returns what it printed; fails
/// the test if it fails.
pub fn admin_cli(cfg: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_canhgac"))
        .arg("admin")
        .arg("-c")
        .arg(cfg)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The line after the one mentioning `label` in `admin sensor add`'s
/// output: the enrolment token, the CA fingerprint.
pub fn line_after(out: &str, label: &str) -> String {
    let lines: Vec<&str> = out.lines().collect();
    let i = lines.iter().position(|l| l.contains(label)).unwrap();
    lines[i + 1].to_string()
}
