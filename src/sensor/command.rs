//! The sensor's side of the command channel: it long-polls central for
//! commands, runs each once, and reports the result.
//!
//! Once: the ids of finished commands and their results are kept in
//! `state_dir/commands-done.json` (written before the report is sent); a
//! command delivered again — central did not get the report, or the sensor
//! restarted — is answered from there, not run again. A command past its
//! expiry is refused, never run late.
//!
//! What a command may do at the gateway is this sensor's configuration
//! (`[actions]`): blocking is `dry-run` by default (the result says what
//! would have run), `off` refuses, and `on` runs the configured program —
//! never a shell; the address is checked as an IP address before it is put
//! in the program's arguments.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::link::Link;
use super::pipeline::{Identity, Pipeline};
use super::spool::{Full, Spool};
use super::{SensorConfig, SigmaSwap, Swap};
use crate::central::fleet::WireCommand;
use crate::detect::signature::RuleSet;
use crate::detect::yara::service::RulesHandle;
use crate::event::Event;

/// `[actions]` in `sensor.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsConfig {
    /// `off`, `dry-run` (default) or `on`.
    #[serde(default = "default_mode")]
    pub block: BlockMode,
    /// Program and arguments that block an address; `{address}` is
    /// replaced. Example: `["nft", "add", "element", "inet", "filter",
    /// "blocklist", "{ {address} }"]`.
    #[serde(default)]
    pub block_command: Vec<String>,
    /// Program and arguments that unblock an address.
    #[serde(default)]
    pub unblock_command: Vec<String>,
    /// Longest a block or unblock program may run, seconds.
    #[serde(default = "default_action_timeout")]
    pub timeout_secs: u64,
}

/// Whether blocking commands run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockMode {
    Off,
    DryRun,
    On,
}

fn default_mode() -> BlockMode {
    BlockMode::DryRun
}
fn default_action_timeout() -> u64 {
    30
}

impl Default for ActionsConfig {
    fn default() -> Self {
        ActionsConfig {
            block: default_mode(),
            block_command: Vec::new(),
            unblock_command: Vec::new(),
            timeout_secs: default_action_timeout(),
        }
    }
}

/// What commands act on.
pub struct Runner {
    pub cfg: SensorConfig,
    pub signatures: Arc<Swap<RuleSet>>,
    pub sigma: Arc<SigmaSwap>,
    pub yara: Option<Arc<RulesHandle>>,
    pub spool: Arc<Spool>,
    pub identity: Identity,
}

/// A finished command, remembered so that a repeat is not run again.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Done {
    ok: bool,
    result: Value,
    expires_at: i64,
}

const DONE_FILE: &str = "commands-done.json";

fn load_done(state_dir: &Path) -> BTreeMap<i64, Done> {
    std::fs::read(state_dir.join(DONE_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save_done(state_dir: &Path, done: &mut BTreeMap<i64, Done>) {
    // forget what central can no longer deliver (a day past expiry)
    let horizon = chrono::Utc::now().timestamp_micros() - 86_400 * 1_000_000;
    done.retain(|_, d| d.expires_at > horizon);
    let path = state_dir.join(DONE_FILE);
    let tmp = path.with_extension("tmp");
    let ok = serde_json::to_vec(done)
        .ok()
        .and_then(|b| std::fs::write(&tmp, b).ok())
        .and_then(|()| std::fs::rename(&tmp, &path).ok());
    if ok.is_none() {
        tracing::error!(path = %path.display(), "cannot record finished commands");
    }
}

/// Polls for commands until `stop`; runs and reports each.
pub async fn poll(link: Link, runner: Runner, stop: Arc<AtomicBool>) {
    let runner = Arc::new(runner);
    let state_dir = runner.cfg.sensor.state_dir.clone();
    tokio::spawn(expire_blocks(Arc::clone(&runner), Arc::clone(&stop)));
    let mut done = load_done(&state_dir);
    let mut backoff = Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) {
        let res = link
            .client
            .get(link.url("/api/v1/commands?wait=25"))
            .header("authorization", link.creds.bearer())
            .send()
            .await;
        let cmds = match res {
            Ok(r) if r.status().is_success() => {
                #[derive(Deserialize)]
                struct Answer {
                    commands: Vec<WireCommand>,
                }
                match r.json::<Answer>().await {
                    Ok(a) => a.commands,
                    Err(e) => {
                        tracing::warn!(error = %e, "unreadable command list");
                        Vec::new()
                    }
                }
            }
            Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => {
                tracing::error!("central refused the sensor's credentials; command poll stops");
                return;
            }
            Ok(r) => {
                tracing::debug!(status = %r.status(), "command poll failed");
                sleep_backoff(&mut backoff).await;
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "command poll failed");
                sleep_backoff(&mut backoff).await;
                continue;
            }
        };
        backoff = Duration::from_secs(1);
        for c in cmds {
            let (ok, result) = match done.get(&c.id) {
                Some(d) => (d.ok, d.result.clone()),
                None => {
                    let (ok, result) = run_one(&link, &runner, &c).await;
                    done.insert(
                        c.id,
                        Done {
                            ok,
                            result: result.clone(),
                            expires_at: c.expires_at,
                        },
                    );
                    save_done(&state_dir, &mut done);
                    (ok, result)
                }
            };
            report(&link, c.id, ok, &result).await;
        }
    }
}

const BLOCKS_FILE: &str = "blocks.json";

/// Blocks with an expiry: address → when to lift it (µs). Kept in the
/// state directory so a restarted sensor still lifts them.
fn load_blocks(state_dir: &Path) -> BTreeMap<String, i64> {
    std::fs::read(state_dir.join(BLOCKS_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save_blocks(state_dir: &Path, blocks: &BTreeMap<String, i64>) {
    let path = state_dir.join(BLOCKS_FILE);
    let tmp = path.with_extension("tmp");
    let ok = serde_json::to_vec(blocks)
        .ok()
        .and_then(|b| std::fs::write(&tmp, b).ok())
        .and_then(|()| std::fs::rename(&tmp, &path).ok());
    if ok.is_none() {
        tracing::error!(path = %path.display(), "cannot record block expiries");
    }
}

/// Lifts blocks whose time is up, every few seconds, until `stop` — on
/// the sensor itself, so a block expires even if central is unreachable.
async fn expire_blocks(runner: Arc<Runner>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let dir = runner.cfg.sensor.state_dir.clone();
        let now = chrono::Utc::now().timestamp_micros();
        let due: Vec<String> = load_blocks(&dir)
            .into_iter()
            .filter(|(_, at)| *at <= now)
            .map(|(a, _)| a)
            .collect();
        for address in due {
            let r = Arc::clone(&runner);
            let a = address.clone();
            let res = blocking(move || r.block("unblock", &json!({ "address": a }))).await;
            match res {
                Ok(v) => tracing::info!(%address, result = %v, "block expired and lifted"),
                Err(e) => {
                    tracing::error!(%address, error = %e, "block expired but could not be lifted")
                }
            }
        }
    }
}

async fn sleep_backoff(backoff: &mut Duration) {
    tokio::time::sleep(*backoff).await;
    *backoff = (*backoff * 2).min(Duration::from_secs(30));
}

async fn report(link: &Link, id: i64, ok: bool, result: &Value) {
    let res = link
        .client
        .post(link.url(&format!("/api/v1/commands/{id}/result")))
        .header("authorization", link.creds.bearer())
        .json(&json!({ "ok": ok, "result": result }))
        .send()
        .await;
    match res {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => {
            tracing::warn!(command = id, status = %r.status(), "result not recorded; sent again on redelivery")
        }
        Err(e) => {
            tracing::warn!(command = id, error = %e, "result not delivered; sent again on redelivery")
        }
    }
}

async fn run_one(link: &Link, runner: &Arc<Runner>, c: &WireCommand) -> (bool, Value) {
    if c.expires_at <= chrono::Utc::now().timestamp_micros() {
        return (false, json!({ "error": "expired before it could run" }));
    }
    tracing::info!(command = c.id, kind = %c.kind, "running command");
    let r = match c.kind.as_str() {
        "reload_rules" => {
            let r = Arc::clone(runner);
            blocking(move || r.reload()).await
        }
        "update_rules" => update_rules(link, runner, &c.args).await,
        "block" | "unblock" => {
            let (r, kind, args) = (Arc::clone(runner), c.kind.clone(), c.args.clone());
            blocking(move || r.block(&kind, &args)).await
        }
        "drill_inject" => {
            let (r, args) = (Arc::clone(runner), c.args.clone());
            blocking(move || r.drill_inject(&args)).await
        }
        other => Err(format!("this sensor does not know the command {other:?}")),
    };
    match r {
        Ok(v) => (true, v),
        Err(e) => {
            tracing::warn!(command = c.id, error = %e, "command failed");
            (false, json!({ "error": e }))
        }
    }
}

async fn blocking<F>(f: F) -> Result<Value, String>
where
    F: FnOnce() -> Result<Value, String> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(format!("command task failed: {e}")))
}

/// A relative path with no `..`, no root: safe to join under a directory.
fn safe_relative(p: &str) -> Option<PathBuf> {
    let path = Path::new(p);
    let ok = !p.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    ok.then(|| path.to_path_buf())
}

async fn update_rules(link: &Link, runner: &Arc<Runner>, args: &Value) -> Result<Value, String> {
    let name = args
        .get("bundle")
        .and_then(Value::as_str)
        .ok_or("missing `bundle`")?
        .to_string();
    let version = args
        .get("version")
        .and_then(Value::as_i64)
        .ok_or("missing `version`")?;
    if safe_relative(&name).is_none() || name.contains('/') {
        return Err(format!("bundle name {name:?} is not a plain name"));
    }
    let url = link.url(&format!("/api/v1/bundles/{name}/{version}"));
    let r = link
        .client
        .get(&url)
        .header("authorization", link.creds.bearer())
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("{url}: central answered {}", r.status()));
    }
    let body: Value = r.json().await.map_err(|e| format!("{url}: {e}"))?;
    let files = body
        .get("files")
        .and_then(Value::as_object)
        .ok_or("the bundle has no files")?
        .clone();
    let want = body
        .get("sha256")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let got = crate::central::fleet::bundle_digest(&files);
    if got != want {
        return Err(format!(
            "bundle {name} v{version}: content digest {got} is not the announced {want}"
        ));
    }
    let r = Arc::clone(runner);
    blocking(move || {
        let root = r.cfg.sensor.state_dir.join("bundles").join(&name);
        let dir = root.join(format!("v{version}"));
        let tmp = root.join(format!(".v{version}.tmp"));
        let _ = std::fs::remove_dir_all(&tmp);
        for (rel, text) in &files {
            let rel = safe_relative(rel).ok_or(format!("bundle path {rel:?} is not relative"))?;
            let path = tmp.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            std::fs::write(&path, text.as_str().unwrap_or_default())
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&tmp, &dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // `current` points at the new version (a symlink swapped by rename)
        let link = root.join("current");
        let link_tmp = root.join(".current.tmp");
        let _ = std::fs::remove_file(&link_tmp);
        std::os::unix::fs::symlink(format!("v{version}"), &link_tmp)
            .and_then(|()| std::fs::rename(&link_tmp, &link))
            .map_err(|e| format!("{}: {e}", link.display()))?;
        let reload = r.reload()?;
        Ok(json!({
            "bundle": name, "version": version, "files": files.len(),
            "path": link.display().to_string(), "reload": reload,
        }))
    })
    .await
}

impl Runner {
    /// Reloads every rule set from the configured files; a set that fails
    /// keeps running as it was and the command fails with the reason.
    fn reload(&self) -> Result<Value, String> {
        let sigs = super::load_signatures(&self.cfg.rules).map_err(|e| e.to_string())?;
        let sigma = super::load_sigma(&self.cfg.logs).map_err(|e| e.to_string())?;
        let yara = match &self.yara {
            Some(h) => {
                let rules = self.cfg.files.load_rules()?;
                let n = rules.len();
                h.replace(rules);
                Some(n)
            }
            None => None,
        };
        let (n_sigs, n_sigma) = (sigs.len(), sigma.rules.len());
        self.signatures.store(Arc::new(sigs));
        self.sigma.store(Arc::new(sigma));
        tracing::info!(
            signatures = n_sigs,
            sigma = n_sigma,
            ?yara,
            "rules reloaded"
        );
        Ok(json!({ "signatures": n_sigs, "sigma": n_sigma, "yara": yara }))
    }

    fn block(&self, kind: &str, args: &Value) -> Result<Value, String> {
        let a = &self.cfg.actions;
        let address: std::net::IpAddr = args
            .get("address")
            .and_then(Value::as_str)
            .and_then(|s| s.trim().parse().ok())
            .ok_or("`address` is not an IP address")?;
        let template = if kind == "block" {
            &a.block_command
        } else {
            &a.unblock_command
        };
        let argv: Vec<String> = template
            .iter()
            .map(|t| t.replace("{address}", &address.to_string()))
            .collect();
        // remember (or forget) when the block lifts itself
        let dir = &self.cfg.sensor.state_dir;
        let mut blocks = load_blocks(dir);
        let before = blocks.clone();
        if kind == "block" {
            if let Some(secs) = args.get("duration_secs").and_then(Value::as_i64) {
                let until =
                    chrono::Utc::now().timestamp_micros() + secs.clamp(1, 365 * 86_400) * 1_000_000;
                blocks.insert(address.to_string(), until);
            }
        } else {
            blocks.remove(&address.to_string());
        }
        if blocks != before && a.block != BlockMode::Off {
            save_blocks(dir, &blocks);
        }
        match a.block {
            BlockMode::Off => Err(format!(
                "{kind} is off on this sensor ([actions] block = \"off\")"
            )),
            BlockMode::DryRun => Ok(json!({
                "dry_run": true, "address": address.to_string(), "would_run": argv,
            })),
            BlockMode::On => {
                let Some((prog, rest)) = argv.split_first() else {
                    return Err(format!("[actions] {kind}_command is empty"));
                };
                let out = run_with_timeout(prog, rest, Duration::from_secs(a.timeout_secs.max(1)))?;
                if out.0 == Some(0) {
                    Ok(json!({ "ran": argv, "status": 0, "output": out.1 }))
                } else {
                    Err(format!("{prog} exited with {:?}: {}", out.0, out.1))
                }
            }
        }
    }

    /// Feeds a drill's log lines or capture through this sensor's own
    /// detection, tagged with the drill run id (never onto the network).
    fn drill_inject(&self, args: &Value) -> Result<Value, String> {
        let drill = args
            .get("drill")
            .and_then(Value::as_str)
            .ok_or("missing `drill`")?
            .to_string();
        if let Some(b64) = args.get("pcap_b64").and_then(Value::as_str) {
            return self.drill_pcap(&drill, b64);
        }
        let lines = args
            .get("log_lines")
            .and_then(Value::as_array)
            .ok_or("missing `log_lines`")?;
        let sigma = self.sigma.load();
        let now = chrono::Utc::now().timestamp_micros();
        let mut events: Vec<Event> = Vec::new();
        let mut alerts = 0;
        for l in lines.iter().filter_map(Value::as_str) {
            let mut ev = Event::new("log", now);
            ev.sensor_id = self.identity.sensor_id.clone();
            ev.unit = self.identity.unit.clone();
            ev.drill = Some(drill.clone());
            ev.log = Some(super::log_record(
                format!("drill:{drill}"),
                None,
                l.to_string(),
                false,
            ));
            let found = sigma.alerts(&ev);
            alerts += found.iter().filter(|e| e.event_type == "alert").count();
            events.push(ev);
            events.extend(found);
        }
        if !self.spool.append_at(&events, None, Full::Wait) {
            return Err("the spool could not take the drill's events".into());
        }
        Ok(json!({ "drill": drill, "lines": lines.len(), "alerts": alerts }))
    }

    /// Replays a drill's capture through a pipeline of its own with this
    /// sensor's signatures and YARA rules, packet times moved to now (so
    /// the drill's clock and the alerts agree), every event tagged.
    fn drill_pcap(&self, drill: &str, b64: &str) -> Result<Value, String> {
        use crate::detect::yara::FileScanner;
        use crate::detect::yara::service::{ScanCounters, SharedCache, scan_item};
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("`pcap_b64` is not base64: {e}"))?;
        if data.len() > crate::central::fleet::MAX_DRILL_PCAP {
            return Err(format!("the capture is {} bytes; too large", data.len()));
        }
        let path = self.cfg.sensor.state_dir.join(format!(
            "drill-{}-{}.pcap",
            drill
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>(),
            chrono::Utc::now().timestamp_micros()
        ));
        std::fs::write(&path, &data).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut pcfg = self.cfg.rules.pipeline_config()?;
        let yara = self.yara.as_ref().map(|h| h.current());
        if yara.is_some() {
            pcfg.extract_files = pcfg
                .extract_files
                .max(usize::try_from(self.cfg.files.extract_max_size).unwrap_or(usize::MAX));
        }
        let mut pipeline =
            Pipeline::with_config(self.signatures.load(), self.identity.clone(), pcfg);
        let mut scanner = match &yara {
            Some((_, rules)) => Some(FileScanner::new(rules, 10).map_err(|e| e.to_string())?),
            None => None,
        };
        let generation = yara.as_ref().map_or(0, |(g, _)| *g);
        let cache = SharedCache::new(64);
        let counters = ScanCounters::default();
        let settings = self.cfg.files.settings();
        let now = chrono::Utc::now().timestamp_micros();
        let mut shift: Option<i64> = None;
        let mut events: Vec<Event> = Vec::new();
        let mut scan = |pipeline: &mut Pipeline, events: &mut Vec<Event>| {
            for item in pipeline.extracted.drain(..) {
                if let Some(sc) = scanner.as_mut() {
                    events.extend(scan_item(
                        sc, generation, &cache, &settings, &counters, &item,
                    ));
                }
            }
        };
        let read = crate::capture::read_file(&path, |pkt| {
            let d = *shift.get_or_insert(now - pkt.ts_micros);
            let moved = crate::capture::RawPacket {
                ts_micros: pkt.ts_micros + d,
                ..pkt
            };
            pipeline.process(&moved, &mut events);
            scan(&mut pipeline, &mut events);
        });
        let _ = std::fs::remove_file(&path);
        let stats = read.map_err(|e| format!("the drill's capture: {e}"))?;
        pipeline.finish(&mut events);
        scan(&mut pipeline, &mut events);
        let mut alerts = 0;
        for ev in &mut events {
            ev.drill = Some(drill.to_string());
            if ev.sensor_id.is_none() {
                ev.sensor_id = self.identity.sensor_id.clone();
                ev.unit = self.identity.unit.clone();
            }
            if ev.event_type == "alert" {
                alerts += 1;
            }
        }
        if !self.spool.append_at(&events, None, Full::Wait) {
            return Err("the spool could not take the drill's events".into());
        }
        Ok(
            json!({ "drill": drill, "packets": stats.packets, "events": events.len(), "alerts": alerts }),
        )
    }
}

/// Runs a program (no shell) for at most `limit`; returns its exit code
/// and the first 2 KiB of its output.
fn run_with_timeout(
    prog: &str,
    args: &[String],
    limit: Duration,
) -> Result<(Option<i32>, String), String> {
    use std::process::{Command, Stdio};
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {prog}: {e}"))?;
    let start = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{prog} did not finish within {}s", limit.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("{prog}: {e}")),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{prog}: {e}"))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text.truncate(text.floor_char_boundary(2048));
    Ok((out.status.code(), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_paths_stay_inside() {
        assert!(safe_relative("et/emerging.rules").is_some());
        assert!(safe_relative("../etc/passwd").is_none());
        assert!(safe_relative("/etc/passwd").is_none());
        assert!(safe_relative("a/../../b").is_none());
        assert!(safe_relative("").is_none());
    }

    #[test]
    fn programs_run_without_a_shell_and_time_out() {
        let (code, out) = run_with_timeout(
            "echo",
            &["1.2.3.4;".into(), "rm".into()],
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(code, Some(0));
        assert_eq!(out.trim(), "1.2.3.4; rm");
        let e = run_with_timeout("sleep", &["5".into()], Duration::from_millis(200)).unwrap_err();
        assert!(e.contains("did not finish"), "{e}");
        assert!(run_with_timeout("/no/such/program", &[], Duration::from_secs(1)).is_err());
    }
}
