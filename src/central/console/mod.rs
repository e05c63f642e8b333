//! The web console: server-rendered HTML compiled into the binary (askama
//! templates in `templates/`, CSS in `static/`), Vietnamese by default and
//! English, every word from the Fluent files in `i18n/`.
//!
//! Security: login checks an argon2id hash; the session cookie is
//! `HttpOnly`, `SameSite=Strict` (and `Secure` when configured); every
//! POST carries a CSRF token — the session's for signed-in forms, a
//! double-submit cookie for the login form — compared in constant time.
//! Responses carry a strict Content-Security-Policy (no inline script, no
//! third-party origin). Users see only their own unit's subtree.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Router, middleware};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use serde::Deserialize;

use super::store::{AlertRow, IncidentRow, ListFilter, User};
use super::{SharedState, auth};
use crate::event::severity_name;

const VI_FTL: &str = include_str!("i18n/vi.ftl");
const EN_FTL: &str = include_str!("i18n/en.ftl");
const APP_CSS: &str = include_str!("static/app.css");
const SESSION_COOKIE: &str = "cg_session";
const LOGIN_CSRF_COOKIE: &str = "cg_login_csrf";
const LANG_COOKIE: &str = "cg_lang";
const PAGE_SIZE: i64 = 50;

/// Console languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Vi,
    En,
}

impl Lang {
    /// `vi` or `en`.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub(super) fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }
}

/// The message bundles, loaded once.
pub struct I18n {
    vi: FluentBundle<FluentResource>,
    en: FluentBundle<FluentResource>,
}

fn bundle(lang: &str, ftl: &str) -> FluentBundle<FluentResource> {
    let id: unic_langid::LanguageIdentifier = lang.parse().unwrap_or_default();
    let mut b = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks: the text goes into HTML, not mixed-direction UI.
    b.set_use_isolating(false);
    // The files are compiled in and checked by tests; a broken entry is
    // skipped rather than taking the console down.
    let res = match FluentResource::try_new(ftl.to_string()) {
        Ok(r) => r,
        Err((r, _)) => r,
    };
    let _ = b.add_resource(res);
    b
}

impl I18n {
    /// Loads the bundled Vietnamese and English messages.
    pub fn load() -> Self {
        I18n {
            vi: bundle("vi", VI_FTL),
            en: bundle("en", EN_FTL),
        }
    }

    /// A message in `lang`; the id itself when missing (visible, not fatal).
    pub fn get(&self, lang: Lang, id: &str, args: Option<&FluentArgs<'_>>) -> String {
        let b = match lang {
            Lang::Vi => &self.vi,
            Lang::En => &self.en,
        };
        let Some(pattern) = b.get_message(id).and_then(|m| m.value()) else {
            return id.to_string();
        };
        let mut errors = Vec::new();
        b.format_pattern(pattern, args, &mut errors).into_owned()
    }

    /// Whether `id` exists in both languages (used by tests).
    pub fn has(&self, id: &str) -> bool {
        self.vi.has_message(id) && self.en.has_message(id)
    }
}

/// A translator for one request.
pub struct Tr<'a> {
    i18n: &'a I18n,
    lang: Lang,
}

impl Tr<'_> {
    /// The message `id`.
    pub fn get(&self, id: &str) -> String {
        self.i18n.get(self.lang, id, None)
    }

    /// The message `id` with one argument.
    pub fn get1(&self, id: &str, key: &str, value: impl ToString) -> String {
        let mut args = FluentArgs::new();
        args.set(key.to_string(), value.to_string());
        self.i18n.get(self.lang, id, Some(&args))
    }
}

/// What every page's frame needs.
pub struct Chrome<'a> {
    pub t: Tr<'a>,
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub title: String,
    pub user: Option<String>,
    pub csrf: String,
}

struct AlertView {
    time: String,
    severity_class: &'static str,
    severity_label: String,
    signature: String,
    category: String,
    rule: String,
    src: String,
    dst: String,
    unit: String,
    sensor: String,
    incident_id: i64,
    drill: bool,
}

struct IncidentView {
    id: i64,
    title: String,
    unit_title: String,
    severity_class: &'static str,
    severity_label: String,
    status_label: String,
    rule: String,
    first_seen: String,
    last_seen: String,
    alert_count: i64,
    /// Steps past their due time (translated), empty when none.
    overdue: String,
    /// The registered system it touches, empty when none.
    asset: String,
    serious: bool,
    /// Response times and due times, for the incident page.
    times: Vec<(String, String)>,
    /// The drill run that opened it (a drill incident), empty otherwise.
    drill: String,
}

struct CountView {
    unit_title: String,
    high: i64,
    medium: i64,
    low: i64,
    info: i64,
    total: i64,
}

struct Pager {
    total_label: String,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    chrome: Chrome<'a>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage<'a> {
    chrome: Chrome<'a>,
    counts: Vec<CountView>,
    incidents: Vec<IncidentView>,
    /// Per unit, last 30 days: title, incidents, MTTD, MTTA, MTTC, MTTR.
    response: Vec<[String; 6]>,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage<'a> {
    chrome: Chrome<'a>,
    alerts: Vec<AlertView>,
    pager: Pager,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage<'a> {
    chrome: Chrome<'a>,
    incidents: Vec<IncidentView>,
    pager: Pager,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage<'a> {
    chrome: Chrome<'a>,
    heading: String,
    incident: IncidentView,
    alerts: Vec<AlertView>,
    assignee: String,
    timeline: Vec<incident_actions::TimelineView>,
    /// Kind, value, times seen.
    observables: Vec<(String, String, i64)>,
    /// (value, label) of the statuses it may move to.
    next_statuses: Vec<(String, String)>,
    can_act: bool,
    error: Option<String>,
    playbooks: playbooks::IncidentPlaybooks,
    /// (value, label) of categories, TLP labels, serious grounds.
    categories: Vec<(String, String)>,
    tlps: Vec<String>,
    serious_reasons: Vec<(String, String)>,
    /// The campaign it belongs to; for a campaign, the incidents it links.
    campaign: Option<i64>,
    members: Vec<(i64, String, String)>,
    /// Name, size, SHA-256, by, time, id.
    attachments: Vec<(String, i64, String, String, String, i64)>,
    /// Category, TLP, tags, for the facts.
    category: String,
    tlp: String,
    tags: String,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    chrome: Chrome<'a>,
    message: String,
}

/// Routes of the console.
pub fn routes(state: SharedState) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/alerts", get(alerts))
        .route("/incidents", get(incidents))
        .route("/incidents/{id}", get(incident))
        // a GET on an action (a language switch or a reload after a
        // refused change) goes back to the incident
        .route(
            "/incidents/{id}/status",
            get(incident_actions::to_incident).post(incident_actions::status),
        )
        .route(
            "/incidents/{id}/assign",
            get(incident_actions::to_incident).post(incident_actions::assign),
        )
        .route(
            "/incidents/{id}/comments",
            get(incident_actions::to_incident).post(incident_actions::comment),
        )
        .route("/assets", get(assets::list).post(assets::add))
        .route("/playbooks", get(playbooks::list).post(playbooks::import))
        .route("/playbooks/{id}", get(playbooks::view))
        .route("/playbooks/{id}/export", get(playbooks::export))
        .route("/incidents/{id}/playbooks", post(playbooks::start))
        .route("/incidents/{id}/fields", post(incident_actions::fields))
        .route("/incidents/{id}/report", get(playbooks::report))
        .route("/incidents/{id}/report.pdf", get(playbooks::report_pdf))
        .route("/incidents/{id}/attachments", post(playbooks::attach))
        .route("/attachments/{id}", get(playbooks::attachment))
        .route("/runs/{id}", get(playbooks::run))
        .route("/runs/{id}/abort", post(playbooks::abort))
        .route("/tasks", get(playbooks::tasks))
        .route(
            "/tasks/{id}",
            get(playbooks::task).post(playbooks::task_post),
        )
        .route("/sensors", get(sensors::list))
        .route("/sensors/{name}", get(sensors::page))
        .route("/sensors/{name}/commands", post(sensors::queue))
        .route("/sensors/{name}/revoke", post(sensors::revoke))
        .route("/drills", get(drills::list).post(drills::schedule))
        .route("/drills/leaderboard", get(drills::standings))
        .route("/drills/{id}", get(drills::page))
        .route("/drills/{id}/control", post(drills::control))
        .route("/drills/{id}/answer", post(drills::answer))
        .route("/drills/{id}/report", get(drills::report_html))
        .route("/drills/{id}/report.pdf", get(drills::report_pdf))
        .route("/lang/{lang}", get(set_lang))
        .route("/static/app.css", get(css))
        .layer(middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for v in headers.get_all(header::COOKIE) {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(';') {
            if let Some((k, v)) = part.trim().split_once('=') {
                out.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }
    out
}

fn lang_of(state: &SharedState, headers: &HeaderMap) -> Lang {
    cookies(headers)
        .get(LANG_COOKIE)
        .and_then(|l| Lang::parse(l))
        .or_else(|| Lang::parse(&state.config.console.default_language))
        .unwrap_or(Lang::Vi)
}

fn chrome<'a>(
    state: &'a SharedState,
    lang: Lang,
    title_id: &str,
    user: Option<&User>,
    csrf: String,
) -> Chrome<'a> {
    let t = Tr {
        i18n: &state.i18n,
        lang,
    };
    let title = t.get(title_id);
    let user = user.map(|u| signed_in_label(&t, u));
    Chrome {
        t,
        lang: lang.code(),
        other_lang: lang.other().code(),
        title,
        user,
        csrf,
    }
}

fn signed_in_label(t: &Tr<'_>, user: &User) -> String {
    let mut args = FluentArgs::new();
    args.set("user", user.username.clone());
    args.set("unit", user.unit_name.clone());
    t.i18n.get(t.lang, "signed-in-as", Some(&args))
}

fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => axum::response::Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

fn cookie(state: &SharedState, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.config.console.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let v = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The signed-in user and their session's CSRF token.
async fn session(state: &SharedState, headers: &HeaderMap) -> Option<(User, String)> {
    let token = cookies(headers).remove(SESSION_COOKIE)?;
    match state.store.session(&auth::token_hash(&token)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            None
        }
    }
}

/// Vietnam time (UTC+7, no daylight saving) for display.
fn tr_get(state: &SharedState, lang: Lang, id: &str) -> String {
    state.i18n.get(lang, id, None)
}

fn show_time(micros: i64) -> String {
    let offset = chrono::FixedOffset::east_opt(7 * 3600);
    match (chrono::DateTime::from_timestamp_micros(micros), offset) {
        (Some(dt), Some(off)) => dt
            .with_timezone(&off)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        _ => String::from("—"),
    }
}

fn severity_view(t: &Tr<'_>, severity: i64) -> (&'static str, String) {
    let name = severity_name(severity);
    (name, t.get(&format!("severity-{name}")))
}

fn endpoint(ip: &Option<String>, port: Option<i64>) -> String {
    match (ip, port) {
        (Some(ip), Some(p)) if ip.contains(':') => format!("[{ip}]:{p}"),
        (Some(ip), Some(p)) => format!("{ip}:{p}"),
        (Some(ip), None) => ip.clone(),
        (None, _) => "—".into(),
    }
}

fn alert_view(t: &Tr<'_>, a: AlertRow) -> AlertView {
    let (severity_class, severity_label) = severity_view(t, a.severity);
    AlertView {
        time: show_time(a.ts),
        severity_class,
        severity_label,
        rule: format!("{}:{}:{}", a.gid, a.signature_id, a.rev),
        signature: a.signature,
        category: a.category,
        src: endpoint(&a.src_ip, a.src_port),
        dst: endpoint(&a.dest_ip, a.dest_port),
        unit: a.unit,
        sensor: a.sensor,
        incident_id: a.incident_id,
        drill: a.drill.is_some(),
    }
}

/// A duration in microseconds, as people read it (`2 h 5 min`).
fn show_duration(micros: i64) -> String {
    let mins = micros.max(0) / 60_000_000;
    match (mins / 1440, (mins % 1440) / 60, mins % 60) {
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

fn incident_view(
    t: &Tr<'_>,
    cfg: &crate::central::incident::SlaConfig,
    i: IncidentRow,
) -> IncidentView {
    let (severity_class, severity_label) = severity_view(t, i.severity);
    let sla = crate::central::incident::sla(cfg, &i, chrono::Utc::now().timestamp_micros());
    let overdue = sla
        .overdue
        .iter()
        .map(|s| t.get(&format!("sla-{s}")))
        .collect::<Vec<_>>()
        .join(", ");
    let step = |took: Option<i64>, due: i64| match took {
        Some(d) => show_duration(d),
        None => t.get1("sla-due", "time", show_time(due)),
    };
    let mut times = vec![
        (t.get("sla-ttd"), show_duration(sla.ttd)),
        (t.get("sla-tta"), step(sla.tta, sla.acknowledge_due)),
        (t.get("sla-ttc"), step(sla.ttc, sla.contain_due)),
        (t.get("sla-ttr"), step(sla.ttr, sla.resolve_due)),
    ];
    if let Some(due) = sla.report_due {
        let filed = match i.reported_at {
            Some(at) => show_time(at),
            None => t.get1("sla-due", "time", show_time(due)),
        };
        times.push((t.get("sla-report"), filed));
    }
    IncidentView {
        overdue,
        times,
        drill: i.drill.clone().unwrap_or_default(),
        asset: i.asset.clone().unwrap_or_default(),
        serious: i.serious != 0,
        id: i.id,
        severity_class,
        severity_label,
        status_label: t.get(&format!("status-{}", i.status)),
        rule: format!("{}:{}", i.gid, i.signature_id),
        first_seen: show_time(i.first_seen),
        last_seen: show_time(i.last_seen),
        alert_count: i.alert_count,
        title: i.title,
        unit_title: i.unit_title,
    }
}

fn pager(t: &Tr<'_>, base: &str, page: i64, total: i64) -> Pager {
    let pages = (total + PAGE_SIZE - 1) / PAGE_SIZE;
    Pager {
        total_label: t.get1("total-items", "count", total),
        prev: (page > 1).then(|| format!("{base}?page={}", page - 1)),
        next: (page < pages).then(|| format!("{base}?page={}", page + 1)),
    }
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "console: store error");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

macro_rules! signed_in {
    ($state:expr, $headers:expr) => {
        match session(&$state, &$headers).await {
            Some(s) => s,
            None => return Redirect::to("/login").into_response(),
        }
    };
}

async fn login_form(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    login_page(&state, &headers, None, StatusCode::OK)
}

fn login_page(
    state: &SharedState,
    headers: &HeaderMap,
    error_id: Option<&str>,
    status: StatusCode,
) -> Response {
    let lang = lang_of(state, headers);
    let csrf = auth::new_token("");
    let c = chrome(state, lang, "login-title", None, csrf.clone());
    let error = error_id.map(|id| c.t.get(id));
    let mut res = render(&LoginPage { chrome: c, error });
    *res.status_mut() = status;
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie(state, LOGIN_CSRF_COOKIE, &csrf, 3600),
    );
    res
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    csrf: String,
}

async fn login(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookies(&headers)
        .remove(LOGIN_CSRF_COOKIE)
        .unwrap_or_default();
    if expected.is_empty() || !auth::same_secret(&expected, &form.csrf) {
        return login_page(&state, &headers, Some("error-csrf"), StatusCode::FORBIDDEN);
    }
    let user = match state.store.user(form.username.trim()).await {
        Ok(u) => u,
        Err(e) => return internal(e),
    };
    let ok = match &user {
        Some(u) => auth::verify_password(&form.password, &u.password_hash),
        None => {
            // Same work for unknown users, so timing does not tell names.
            let _ = auth::verify_password(&form.password, &DUMMY_HASH);
            false
        }
    };
    let Some(user) = user.filter(|_| ok) else {
        tracing::warn!(username = %form.username.trim(), "console login failed");
        return login_page(
            &state,
            &headers,
            Some("login-failed"),
            StatusCode::UNAUTHORIZED,
        );
    };
    let token = auth::new_token("");
    let csrf = auth::new_token("");
    let hours = state.config.console.session_hours;
    let max_age = i64::try_from(hours * 3600).unwrap_or(i64::MAX / 1_000_000);
    let expires = chrono::Utc::now().timestamp_micros() + max_age * 1_000_000;
    if let Err(e) = state
        .store
        .add_session(&auth::token_hash(&token), user.id, &csrf, expires)
        .await
    {
        return internal(e);
    }
    tracing::info!(username = %user.username, "console login");
    let mut res = Redirect::to("/").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie(&state, SESSION_COOKIE, &token, max_age),
    );
    res.headers_mut()
        .append(header::SET_COOKIE, cookie(&state, LOGIN_CSRF_COOKIE, "", 0));
    res
}

/// An argon2id hash of a random password, verified against when the user
/// does not exist, so that a login for an unknown name costs the same.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| auth::hash_password(&auth::new_password()).unwrap_or_default());

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (_, csrf) = signed_in!(state, headers);
    if !auth::same_secret(&csrf, &form.csrf) {
        return (StatusCode::FORBIDDEN, "CSRF token mismatch").into_response();
    }
    if let Some(token) = cookies(&headers).remove(SESSION_COOKIE)
        && let Err(e) = state.store.delete_session(&auth::token_hash(&token)).await
    {
        return internal(e);
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, cookie(&state, SESSION_COOKIE, "", 0));
    res
}

async fn overview(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    let lang = lang_of(&state, &headers);
    let counts = match state.store.alert_counts(&user.unit_path).await {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    let mut rows: Vec<CountView> = Vec::new();
    for c in counts {
        if rows.last().map(|r| &r.unit_title) != Some(&c.unit_title) {
            rows.push(CountView {
                unit_title: c.unit_title.clone(),
                high: 0,
                medium: 0,
                low: 0,
                info: 0,
                total: 0,
            });
        }
        if let Some(r) = rows.last_mut() {
            match severity_name(c.severity) {
                "high" => r.high += c.count,
                "medium" => r.medium += c.count,
                "low" => r.low += c.count,
                _ => r.info += c.count,
            }
            r.total += c.count;
        }
    }
    let f = ListFilter {
        scope_path: user.unit_path.clone(),
        limit: 10,
        ..ListFilter::default()
    };
    let incidents = match state.store.incidents(&f).await {
        Ok(p) => p.items,
        Err(e) => return internal(e),
    };
    let c = chrome(&state, lang, "overview-title", Some(&user), csrf);
    let incidents = incidents
        .into_iter()
        .map(|i| incident_view(&c.t, &state.config.incidents.sla, i))
        .collect();
    let since = chrono::Utc::now().timestamp_micros() - 30 * 86_400 * 1_000_000;
    let response = match state.store.response_times(&user.unit_path, since).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let mean =
        |v: Option<f64>| v.map_or_else(|| "—".to_string(), |s| show_duration((s * 1e6) as i64));
    let response = response
        .into_iter()
        .map(|r| {
            [
                r.unit_title,
                r.incidents.to_string(),
                mean(r.mttd),
                mean(r.mtta),
                mean(r.mttc),
                mean(r.mttr),
            ]
        })
        .collect();
    render(&OverviewPage {
        chrome: c,
        counts: rows,
        incidents,
        response,
    })
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<String>,
}

fn page_of(q: &PageQuery) -> i64 {
    q.page
        .as_deref()
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (1..=1_000_000).contains(p))
        .unwrap_or(1)
}

async fn alerts(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    let lang = lang_of(&state, &headers);
    let page = page_of(&q);
    let f = ListFilter {
        scope_path: user.unit_path.clone(),
        limit: PAGE_SIZE,
        offset: (page - 1) * PAGE_SIZE,
        ..ListFilter::default()
    };
    let res = match state.store.alerts(&f).await {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    let c = chrome(&state, lang, "alerts-title", Some(&user), csrf);
    let pager = pager(&c.t, "/alerts", page, res.total);
    let alerts = res.items.into_iter().map(|a| alert_view(&c.t, a)).collect();
    render(&AlertsPage {
        chrome: c,
        alerts,
        pager,
    })
}

async fn incidents(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    let lang = lang_of(&state, &headers);
    let page = page_of(&q);
    let f = ListFilter {
        scope_path: user.unit_path.clone(),
        limit: PAGE_SIZE,
        offset: (page - 1) * PAGE_SIZE,
        ..ListFilter::default()
    };
    let res = match state.store.incidents(&f).await {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    let c = chrome(&state, lang, "incidents-title", Some(&user), csrf);
    let pager = pager(&c.t, "/incidents", page, res.total);
    let incidents = res
        .items
        .into_iter()
        .map(|i| incident_view(&c.t, &state.config.incidents.sla, i))
        .collect();
    render(&IncidentsPage {
        chrome: c,
        incidents,
        pager,
    })
}

async fn incident(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (user, csrf) = signed_in!(state, headers);
    incident_page(&state, &headers, &user, csrf, &id, None).await
}

/// The incident page; `refusal` is a change just refused (shown, 400).
async fn incident_page(
    state: &SharedState,
    headers: &HeaderMap,
    user: &User,
    csrf: String,
    id: &str,
    refusal: Option<&crate::central::incident::Refusal>,
) -> Response {
    let lang = lang_of(state, headers);
    let found = match id.parse::<i64>() {
        Ok(id) => match state.store.incident(id, &user.unit_path, 200).await {
            Ok(f) => f,
            Err(e) => return internal(e),
        },
        Err(_) => None,
    };
    let mut c = chrome(state, lang, "nav-incidents", Some(user), csrf);
    let Some((inc, alerts)) = found else {
        let message = c.t.get("not-found");
        let mut res = render(&MessagePage { chrome: c, message });
        *res.status_mut() = StatusCode::NOT_FOUND;
        return res;
    };
    let heading = c.t.get1("incident-heading", "id", inc.id);
    c.title = heading.clone();
    let timeline = match state.store.incident_timeline(inc.id).await {
        Ok(t) => t,
        Err(e) => return internal(e),
    };
    let observables = match state.store.incident_observables(inc.id).await {
        Ok(o) => o
            .into_iter()
            .map(|o| (c.t.get(&format!("observable-{}", o.kind)), o.value, o.count))
            .collect(),
        Err(e) => return internal(e),
    };
    let status = inc.status.clone();
    let assignee = inc.assignee.clone().unwrap_or_default();
    let next_statuses = crate::central::incident::STATUSES
        .iter()
        .filter(|s| **s != status)
        .map(|s| (s.to_string(), c.t.get(&format!("status-{s}"))))
        .collect();
    let pbs = match playbooks::for_incident(state, &c.t, user, &inc).await {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    let campaign = inc.campaign_id;
    let members = if inc.kind == "campaign" {
        match state.store.campaign_members(inc.id).await {
            Ok(m) => m,
            Err(e) => return internal(e),
        }
    } else {
        Vec::new()
    };
    let attachments = match state.store.attachments(inc.id).await {
        Ok(a) => a
            .into_iter()
            .map(|a| {
                (
                    a.name,
                    a.size,
                    a.sha256,
                    a.added_by,
                    show_time(a.added_at),
                    a.id,
                )
            })
            .collect(),
        Err(e) => return internal(e),
    };
    let category = if inc.category.is_empty() {
        String::new()
    } else {
        c.t.get(&format!("category-{}", inc.category))
    };
    let tlp = inc.tlp.to_uppercase();
    let tags = serde_json::from_str::<Vec<String>>(&inc.tags)
        .unwrap_or_default()
        .join(", ");
    let incident = incident_view(&c.t, &state.config.incidents.sla, inc);
    let alerts = alerts.into_iter().map(|a| alert_view(&c.t, a)).collect();
    let timeline = timeline
        .into_iter()
        .map(|r| incident_actions::timeline_view(&c.t, r))
        .collect();
    let error = refusal.map(|r| {
        let (id, args) = r.message();
        let mut fa = FluentArgs::new();
        for (k, v) in args {
            fa.set(k, v);
        }
        c.t.i18n.get(c.t.lang, id, Some(&fa))
    });
    let refused = error.is_some();
    let mut res = render(&IncidentPage {
        playbooks: pbs,
        attachments,
        categories: crate::central::incident::CATEGORIES
            .iter()
            .map(|k| (k.to_string(), tr_get(state, lang, &format!("category-{k}"))))
            .collect(),
        tlps: crate::central::incident::TLPS
            .iter()
            .map(|t| t.to_string())
            .collect(),
        serious_reasons: crate::central::incident::SERIOUS_REASONS
            .iter()
            .map(|k| (k.to_string(), tr_get(state, lang, &format!("serious-{k}"))))
            .collect(),
        campaign,
        members,
        category,
        tlp,
        tags,
        can_act: crate::central::api::incidents::can_act(user),
        chrome: c,
        heading,
        incident,
        alerts,
        assignee,
        timeline,
        observables,
        next_statuses,
        error,
    });
    if refused {
        *res.status_mut() = StatusCode::BAD_REQUEST;
    }
    res
}

async fn set_lang(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(lang): Path<String>,
) -> Response {
    let Some(lang) = Lang::parse(&lang) else {
        return (StatusCode::NOT_FOUND, "unknown language").into_response();
    };
    // Back to the page the user was on, if it is ours.
    let back = headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| {
            let host = headers.get(header::HOST)?.to_str().ok()?;
            let rest = r
                .strip_prefix("http://")
                .or_else(|| r.strip_prefix("https://"))?;
            rest.strip_prefix(host).map(str::to_string)
        })
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or_else(|| "/".into());
    let mut res = Redirect::to(&back).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie(&state, LANG_COOKIE, lang.code(), 365 * 24 * 3600),
    );
    res
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        APP_CSS,
    )
        .into_response()
}

mod assets;
mod drills;
mod incident_actions;
mod playbooks;
mod sensors;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_exists_in_both_languages() {
        let i18n = I18n::load();
        for ftl in [VI_FTL, EN_FTL] {
            for line in ftl.lines() {
                if let Some((id, _)) = line.split_once(" = ")
                    && !id.starts_with('#')
                {
                    assert!(i18n.has(id.trim()), "message {id} missing in a language");
                }
            }
        }
        assert_eq!(i18n.get(Lang::Vi, "nav-incidents", None), "Sự cố");
        assert_eq!(i18n.get(Lang::En, "nav-incidents", None), "Incidents");
    }
}
