//! The assets page: the units' information systems with their levels, and
//! for admins and coordinators a form to register one.

use askama::Template;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::{Chrome, chrome, internal, lang_of, render, session};
use crate::central::store::incidents::AssetRow;
use crate::central::{SharedState, audit, auth, fleet};

#[derive(Template)]
#[template(path = "assets.html")]
pub(super) struct AssetsPage<'a> {
    chrome: Chrome<'a>,
    assets: Vec<AssetRow>,
    can_manage: bool,
    error: Option<String>,
}

async fn page(
    state: &SharedState,
    headers: &HeaderMap,
    user: &crate::central::store::User,
    csrf: String,
    error: Option<String>,
) -> Response {
    let lang = lang_of(state, headers);
    let assets = match state.store.assets(&user.unit_path).await {
        Ok(a) => a,
        Err(e) => return internal(e),
    };
    let c = chrome(state, lang, "assets-title", Some(user), csrf);
    let bad = error.is_some();
    let mut res = render(&AssetsPage {
        chrome: c,
        assets,
        can_manage: fleet::can_manage(user),
        error,
    });
    if bad {
        *res.status_mut() = StatusCode::BAD_REQUEST;
    }
    res
}

pub(super) async fn list(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let Some((user, csrf)) = session(&state, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    page(&state, &headers, &user, csrf, None).await
}

#[derive(Deserialize)]
pub(super) struct AssetForm {
    csrf: String,
    name: String,
    unit: String,
    level: String,
    #[serde(default)]
    addresses: String,
    #[serde(default)]
    owner: String,
}

pub(super) async fn add(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(f): Form<AssetForm>,
) -> Response {
    let Some((user, csrf)) = session(&state, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    if !auth::same_secret(&csrf, &f.csrf) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    if !fleet::can_manage(&user) {
        return (
            StatusCode::FORBIDDEN,
            "only admins and coordinators register assets",
        )
            .into_response();
    }
    let t = super::Tr {
        i18n: &state.i18n,
        lang: lang_of(&state, &headers),
    };
    let name = f.name.trim();
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid_name {
        return page(&state, &headers, &user, csrf, Some(t.get("asset-bad-name"))).await;
    }
    let Ok(level) = f.level.trim().parse::<i64>() else {
        return page(
            &state,
            &headers,
            &user,
            csrf,
            Some(t.get("asset-bad-level")),
        )
        .await;
    };
    let addresses: Vec<String> = f
        .addresses
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(bad) = addresses.iter().find(|a| {
        a.split('/')
            .next()
            .unwrap_or_default()
            .parse::<std::net::IpAddr>()
            .is_err()
    }) {
        return page(
            &state,
            &headers,
            &user,
            csrf,
            Some(t.get1("asset-bad-address", "address", bad)),
        )
        .await;
    }
    // only within the user's own units
    match state.store.unit(f.unit.trim()).await {
        Ok(Some(u)) if u.path.starts_with(&user.unit_path) => {}
        Ok(_) => {
            return page(
                &state,
                &headers,
                &user,
                csrf,
                Some(t.get1("asset-bad-unit", "unit", f.unit.trim())),
            )
            .await;
        }
        Err(e) => return internal(e),
    }
    match state
        .store
        .add_asset(name, f.unit.trim(), &addresses, f.owner.trim(), level)
        .await
    {
        Ok(row) => {
            audit::record(
                &state.store,
                &user.username,
                "asset.add",
                &format!("asset:{name}"),
                json!({ "unit": row.unit, "level": level, "addresses": row.addresses, "via": "console" }),
            )
            .await;
            Redirect::to("/assets").into_response()
        }
        Err(e) => page(&state, &headers, &user, csrf, Some(e.to_string())).await,
    }
}
