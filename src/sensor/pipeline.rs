//! The detection path shared by `canhgac replay` and `canhgac sensor`:
//! raw packet → decode → flow → TCP reassembly → application layer →
//! signatures → EVE events.
//!
//! One [`Pipeline`] per worker thread; it owns its flow table, so nothing
//! here locks. Events come out in the order Suricata writes them for the
//! same packet: alerts first, then the protocol records the packet
//! completed (http, dns, tls, …); flow records when flows end.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::applayer::{AppConfig, AppEvent, AppTx, mime};
use crate::capture::RawPacket;
use crate::decode::{DecodeOutcome, Proto, decode};
use crate::detect::signature::engine::{Engine, Hit, PacketInfo, Transport, TxView};
use crate::detect::signature::threshold::ThresholdConfig;
use crate::detect::signature::{Action, RuleSet};
use crate::detect::yara::service::FileItem;
use crate::event::{Alert, Event, format_timestamp};
use crate::flow::{Flow, FlowConfig, FlowTable};

/// Acknowledged raw-stream bytes that trigger inspection without an
/// application-layer event (Suricata's default chunk size).
const RAW_CHUNK: u64 = 2560;

/// Feeds both directions' acknowledged bytes to the application layer
/// (requests first) and queues the transactions they touched.
fn feed_acked(flow: &mut Flow, cfg: &AppConfig) {
    let server_port = flow.server.1;
    for dir in 0..2 {
        let Some(tcp) = flow.tcp.as_mut() else { return };
        let data = tcp.streams[dir].take_app();
        if data.is_empty() {
            continue;
        }
        flow.app.feed_tcp(cfg, dir == 0, &data, server_port);
        if flow.app.reversed {
            flow.app.reversed = false;
            flow.reverse();
            collect_app(flow, dir != 0);
        } else {
            collect_app(flow, dir == 0);
        }
    }
}

/// Moves what the last app-layer call touched into the per-direction
/// queues, and raw-stream triggers for completed messages.
fn collect_app(flow: &mut Flow, to_server: bool) {
    let dir = usize::from(!to_server);
    let touched = std::mem::take(&mut flow.app.touched);
    for t in touched {
        if !flow.pending_txs[dir].contains(&t) {
            flow.pending_txs[dir].push(t);
        }
    }
    for (d, done) in flow.app.completed.iter().enumerate() {
        if *done {
            flow.raw_trigger[d] = true;
        }
    }
}

/// Counters of the packet path, reported in `stats` events.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PipelineStats {
    pub packets: u64,
    pub bytes: u64,
    pub ipv4_or_ipv6: u64,
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
    pub not_ip: u64,
    pub invalid: u64,
    pub unsupported_link: u64,
    pub fragments: u64,
    pub alerts: u64,
    pub drops: u64,
    pub app_events: u64,
    pub stream_events: u64,
}

/// Who the events are from; stamped on every event.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub sensor_id: Option<String>,
    pub unit: Option<String>,
}

/// Settings of the packet path.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    pub flow: FlowConfig,
    pub app: AppConfig,
    pub thresholds: ThresholdConfig,
    /// Whether alerts of `drop` rules say `blocked` (`--simulate-ips`).
    pub simulate_ips: bool,
    /// Files carried in traffic (HTTP bodies, multipart uploads, mail
    /// attachments) are handed over in [`Pipeline::extracted`] for scanning
    /// instead of being logged here; `0` turns extraction off, otherwise it
    /// is the largest file kept, in bytes (HTTP body limits are raised to
    /// it).
    pub extract_files: usize,
}

/// One detection pipeline (one per worker thread).
pub struct Pipeline {
    engine: Engine,
    identity: Identity,
    config: PipelineConfig,
    flows: FlowTable,
    /// Added to every packet timestamp (the demo replays "now").
    pub time_shift_micros: i64,
    pub stats: PipelineStats,
    hits: Vec<Hit>,
    ended: Vec<Flow>,
    defrag: crate::decode::defrag::Defrag,
    last_ts: i64,
    /// Files pulled out of traffic, waiting to be scanned (when
    /// `extract_files` is on); the caller drains them after each packet.
    pub extracted: Vec<FileItem>,
    /// Counters of the scanners fed by [`Pipeline::extracted`], reported in
    /// `stats` (set by whoever runs them).
    pub scan_counters: Option<Arc<crate::detect::yara::service::ScanCounters>>,
}

/// Suricata writes IPv6 addresses in full (`fe80:0000:…`).
pub fn eve_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6
            .segments()
            .iter()
            .map(|s| format!("{s:04x}"))
            .collect::<Vec<_>>()
            .join(":"),
    }
}

impl Pipeline {
    pub fn new(rules: Arc<RuleSet>, identity: Identity, simulate_ips: bool) -> Self {
        Self::with_config(
            rules,
            identity,
            PipelineConfig {
                simulate_ips,
                ..PipelineConfig::default()
            },
        )
    }

    pub fn with_config(
        rules: Arc<RuleSet>,
        identity: Identity,
        mut config: PipelineConfig,
    ) -> Self {
        if config.extract_files > 0 {
            let http = &mut config.app.http;
            http.request_body_limit = http.request_body_limit.max(config.extract_files);
            http.response_body_limit = http.response_body_limit.max(config.extract_files);
        }
        Pipeline {
            extracted: Vec::new(),
            scan_counters: None,
            engine: Engine::new(rules, config.thresholds.clone()),
            identity,
            flows: FlowTable::new(config.flow),
            config,
            time_shift_micros: 0,
            stats: PipelineStats::default(),
            hits: Vec::new(),
            ended: Vec::new(),
            defrag: crate::decode::defrag::Defrag::default(),
            last_ts: 0,
        }
    }

    /// Runs one packet; appends the events it produced to `out`.
    pub fn process(&mut self, pkt: &RawPacket<'_>, out: &mut Vec<Event>) {
        self.stats.packets += 1;
        self.stats.bytes += pkt.data.len() as u64;
        let pcap_cnt = self.stats.packets;
        let ts = pkt.ts_micros;
        self.last_ts = self.last_ts.max(ts);
        let d = match decode(pkt) {
            Ok(d) => d,
            Err(DecodeOutcome::NotIp) => {
                self.stats.not_ip += 1;
                return;
            }
            Err(DecodeOutcome::UnsupportedLink(_)) => {
                self.stats.unsupported_link += 1;
                return;
            }
            Err(DecodeOutcome::Invalid(why)) => {
                self.stats.invalid += 1;
                let mut ev = self.event("anomaly", ts);
                ev.extra.insert("pcap_cnt".into(), json!(pcap_cnt));
                ev.extra.insert(
                    "anomaly".into(),
                    json!({ "type": "decode", "event": "INVALID_PACKET", "message": why }),
                );
                out.push(ev);
                return;
            }
        };
        self.stats.ipv4_or_ipv6 += 1;
        if d.fragment {
            self.stats.fragments += 1;
            if d.ip_packet.is_empty() {
                return;
            }
            // IPv4 fragments are reassembled; the datagram then takes the
            // normal path (with the frame length of the last fragment).
            if let Some(whole) = self.defrag.add(ts, d.ip_packet) {
                let raw = RawPacket {
                    ts_micros: ts,
                    link: crate::capture::LinkType::Raw,
                    data: &whole,
                };
                if let Ok(d2) = decode(&raw)
                    && !d2.fragment
                {
                    self.process_decoded(&d2, pkt.data.len(), ts, pcap_cnt, out);
                }
            }
            return;
        }
        self.process_decoded(&d, pkt.data.len(), ts, pcap_cnt, out);
    }

    fn process_decoded(
        &mut self,
        d: &crate::decode::Decoded<'_>,
        frame_len: usize,
        ts: i64,
        pcap_cnt: u64,
        out: &mut Vec<Event>,
    ) {
        let d = *d;
        let transport = match d.proto {
            Proto::Tcp => {
                self.stats.tcp += 1;
                Transport::Tcp
            }
            Proto::Udp => {
                self.stats.udp += 1;
                Transport::Udp
            }
            Proto::Icmp | Proto::Icmpv6 => {
                self.stats.icmp += 1;
                Transport::Icmp
            }
            Proto::Other(_) => Transport::Other,
        };

        let key = self.flows.get_or_create(&d, ts, &mut self.ended);
        let flow_cfg = self.flows.config;
        let mut fstats = self.flows.stats;
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        let mut to_server = flow.to_server(d.src, d.sport);
        let mut dir = usize::from(!to_server);
        let first_in_direction = flow.pkts[dir] == 0;
        flow.pkts[dir] += 1;
        flow.bytes[dir] += frame_len as u64;
        flow.last_ts = ts;
        flow.tcp_flags[dir] |= d.tcp_flags.bits;

        let mut raw: Option<(usize, usize, usize)> = None;
        let mut handshake_ack = false;
        let mut stream_payload_ok = true;
        let mut touched: Vec<u64> = Vec::new();
        let mut events: Vec<&'static str> = Vec::new();
        if transport == Transport::Tcp {
            let up = FlowTable::track_tcp(&flow_cfg, flow, &d, &mut fstats);
            handshake_ack = up.completed_handshake;
            events.clone_from(&up.events);
            self.stats.stream_events += up.events.len() as u64;
            for e in &up.events {
                let mut ev = Event::new("anomaly", ts + self.time_shift_micros);
                ev.sensor_id = self.identity.sensor_id.clone();
                ev.unit = self.identity.unit.clone();
                ev.flow_id = Some(flow.id);
                ev.extra.insert("pcap_cnt".into(), json!(pcap_cnt));
                ev.src_ip = Some(eve_ip(d.src));
                ev.dest_ip = Some(eve_ip(d.dst));
                ev.src_port = Some(d.sport);
                ev.dest_port = Some(d.dport);
                ev.proto = Some(d.proto.eve_name());
                ev.extra.insert(
                    "anomaly".into(),
                    json!({ "type": "stream", "event": e.to_ascii_uppercase() }),
                );
                out.push(ev);
            }
            stream_payload_ok = !up.added_to_stream;
            // IDS mode, as Suricata: the application layer reads what the
            // receiver acknowledged; a RST or FIN flushes the sender's side.
            if up.was_established || up.rst || up.fin {
                feed_acked(flow, &self.config.app);
                // detection may have found the flow backwards
                to_server = flow.to_server(d.src, d.sport);
                dir = usize::from(!to_server);
            }
            if up.fin {
                flow.app.close(to_server);
                collect_app(flow, to_server);
            }
            touched = std::mem::take(&mut flow.pending_txs[dir]);
            if let Some(t) = flow.tcp.as_mut() {
                let st = &mut t.streams[dir];
                let pending = st.raw_pending();
                if pending > 0
                    && (flow.raw_trigger[dir] || pending >= RAW_CHUNK || up.rst || up.fin)
                {
                    raw = st.take_raw();
                    flow.raw_trigger[dir] = false;
                }
            }
        } else if transport == Transport::Udp {
            flow.app
                .feed_udp(&self.config.app, to_server, d.payload, d.sport, d.dport);
            touched = std::mem::take(&mut flow.app.touched);
        }
        let stream = match (&flow.tcp, raw) {
            (Some(t), Some((s, e, new_from))) => {
                t.streams[dir].buf().get(s..e).map(|w| (w, new_from))
            }
            _ => None,
        };
        let info = PacketInfo {
            ts_micros: ts,
            src: d.src,
            dst: d.dst,
            sport: d.sport,
            dport: d.dport,
            transport,
            ip_proto: d.ip_proto,
            ttl: d.ttl,
            payload: d.payload,
            tcp_flags: d.tcp_flags.bits,
            icmp: d.icmp.map(|i| (i.icmp_type, i.code, i.id, i.seq)),
            flow_id: flow.id,
            to_server,
            established: flow.established() && !handshake_ack,
            first_in_direction,
            app_proto: flow.app.proto,
            app_proto_failed: flow.app.failed,
            stream,
            stream_payload_ok,
            pseudo: false,
            events: &events,
        };
        let views: Vec<AppTx<'_>> = flow.app.views(&touched);
        let dyn_views: Vec<&dyn TxView> = views.iter().map(|v| v as &dyn TxView).collect();
        self.hits.clear();
        self.engine
            .run(&info, Some(&mut flow.detect), &dyn_views, &mut self.hits);
        drop(dyn_views);
        drop(views);

        let at = AlertAt {
            src: d.src,
            dst: d.dst,
            sport: d.sport,
            dport: d.dport,
            proto: d.proto,
            vlan: d.vlan_ids().to_vec(),
            to_server,
            pcap_cnt: Some(pcap_cnt),
            ts,
        };
        let n = emit_alerts(
            &self.hits,
            self.engine.rules(),
            flow,
            &at,
            &touched,
            &self.identity,
            self.time_shift_micros,
            self.config.simulate_ips,
            out,
        );
        self.stats.alerts += n;
        if self.config.simulate_ips
            && let Some(hit) = self.hits.iter().find(|h| h.drop)
        {
            let mut ev = Event::new("drop", ts + self.time_shift_micros);
            ev.sensor_id = self.identity.sensor_id.clone();
            ev.unit = self.identity.unit.clone();
            ev.flow_id = Some(flow.id);
            ev.extra.insert("pcap_cnt".into(), json!(pcap_cnt));
            ev.src_ip = Some(eve_ip(d.src));
            ev.dest_ip = Some(eve_ip(d.dst));
            if matches!(transport, Transport::Tcp | Transport::Udp) {
                ev.src_port = Some(d.sport);
                ev.dest_port = Some(d.dport);
            }
            ev.proto = Some(d.proto.eve_name());
            ev.extra.insert(
                "direction".into(),
                json!(if to_server { "to_server" } else { "to_client" }),
            );
            let b = d.tcp_flags.bits;
            let mut drop = json!({
                "len": d.ip_len, "tos": d.tos, "ttl": d.ttl, "ipid": d.ip_id,
            });
            if transport == Transport::Tcp
                && let Value::Object(m) = &mut drop
            {
                for (k, v) in [
                    ("tcpseq", json!(d.tcp_seq)),
                    ("tcpack", json!(d.tcp_ack)),
                    ("tcpwin", json!(d.tcp_window)),
                    ("syn", json!(b & 0x02 != 0)),
                    ("ack", json!(b & 0x10 != 0)),
                    ("psh", json!(b & 0x08 != 0)),
                    ("rst", json!(b & 0x04 != 0)),
                    ("urg", json!(b & 0x20 != 0)),
                    ("fin", json!(b & 0x01 != 0)),
                ] {
                    m.insert(k.into(), v);
                }
            }
            if let Value::Object(m) = &mut drop {
                m.insert("reason".into(), json!("rules"));
            }
            ev.extra.insert("drop".into(), drop);
            if let Some(rule) = self.engine.rules().rules().get(hit.rule as usize) {
                ev.alert = Some(rule_alert(self.engine.rules(), rule, "blocked"));
            }
            self.stats.drops += 1;
            out.push(ev);
        }
        let events = std::mem::take(&mut flow.app.events);
        self.flows.stats = fstats;
        if !events.is_empty() {
            let this = &*self;
            let mut carried = Vec::new();
            if let Some(flow) = this.flows.get(&key) {
                for ae in &events {
                    if let AppEvent::Smtp(id) = ae {
                        this.smtp_events(flow, *id, ts, Some(pcap_cnt), out, &mut carried);
                        continue;
                    }
                    if this.carried_files(flow, ae, ts, Some(pcap_cnt), &mut carried) {
                        continue;
                    }
                    if let Some(ev) = this.app_event(flow, ae, ts, Some(pcap_cnt)) {
                        out.push(ev);
                    }
                }
            }
            self.extracted.append(&mut carried);
            self.stats.app_events += events.len() as u64;
        }
        self.flows.expire(ts, &mut self.ended);
        self.flush_ended(out);
    }

    /// Ends every flow (end of input) and logs them.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        let mut all = self.flows.drain();
        self.ended.append(&mut all);
        self.flush_ended(out);
    }

    /// Stream end of a flow, as Suricata's pseudo packets: acknowledged or
    /// not, the remaining data is parsed and inspected, once per direction.
    fn end_of_streams(&mut self, flow: &mut Flow, out: &mut Vec<Event>) {
        let established = flow.tcp.as_ref().is_some_and(|t| t.established_once);
        if !established {
            return;
        }
        if let Some(t) = flow.tcp.as_mut() {
            t.streams[0].ack_all();
            t.streams[1].ack_all();
        }
        feed_acked(flow, &self.config.app);
        for to_server in [true, false] {
            flow.app.close(to_server);
            collect_app(flow, to_server);
        }
        for to_server in [true, false] {
            let dir = usize::from(!to_server);
            let touched = std::mem::take(&mut flow.pending_txs[dir]);
            let raw = flow.tcp.as_mut().and_then(|t| t.streams[dir].take_raw());
            if touched.is_empty() && raw.is_none() {
                continue;
            }
            let (src, dst) = if to_server {
                (flow.client, flow.server)
            } else {
                (flow.server, flow.client)
            };
            let stream = match (&flow.tcp, raw) {
                (Some(t), Some((s, e, n))) => t.streams[dir].buf().get(s..e).map(|w| (w, n)),
                _ => None,
            };
            let info = PacketInfo {
                ts_micros: flow.last_ts,
                src: src.0,
                dst: dst.0,
                sport: src.1,
                dport: dst.1,
                transport: Transport::Tcp,
                ip_proto: 6,
                ttl: 0,
                payload: &[],
                tcp_flags: 0,
                icmp: None,
                flow_id: flow.id,
                to_server,
                established: flow.established(),
                first_in_direction: false,
                app_proto: flow.app.proto,
                app_proto_failed: flow.app.failed,
                stream,
                stream_payload_ok: false,
                pseudo: true,
                events: &[],
            };
            let views: Vec<AppTx<'_>> = flow.app.views(&touched);
            let dyn_views: Vec<&dyn TxView> = views.iter().map(|v| v as &dyn TxView).collect();
            self.hits.clear();
            self.engine
                .run(&info, Some(&mut flow.detect), &dyn_views, &mut self.hits);
            drop(dyn_views);
            drop(views);
            let at = AlertAt {
                src: src.0,
                dst: dst.0,
                sport: src.1,
                dport: dst.1,
                proto: Proto::Tcp,
                vlan: flow.vlan.clone(),
                to_server,
                pcap_cnt: None,
                ts: flow.last_ts,
            };
            let n = emit_alerts(
                &self.hits,
                self.engine.rules(),
                flow,
                &at,
                &touched,
                &self.identity,
                self.time_shift_micros,
                self.config.simulate_ips,
                out,
            );
            self.stats.alerts += n;
        }
    }

    fn flush_ended(&mut self, out: &mut Vec<Event>) {
        let ended = std::mem::take(&mut self.ended);
        for mut flow in ended {
            self.end_of_streams(&mut flow, out);
            flow.app.finish();
            let events = std::mem::take(&mut flow.app.events);
            self.stats.app_events += events.len() as u64;
            let mut carried = Vec::new();
            for ae in &events {
                if let AppEvent::Smtp(id) = ae {
                    self.smtp_events(&flow, *id, flow.last_ts, None, out, &mut carried);
                    continue;
                }
                if self.carried_files(&flow, ae, flow.last_ts, None, &mut carried) {
                    continue;
                }
                if let Some(ev) = self.app_event(&flow, ae, flow.last_ts, None) {
                    out.push(ev);
                }
            }
            self.extracted.append(&mut carried);
            out.push(self.flow_event(&flow));
        }
    }

    fn base_event(&self, kind: &str, flow: &Flow, ts: i64, to_server: bool) -> Event {
        let mut ev = Event::new(kind, ts + self.time_shift_micros);
        ev.sensor_id = self.identity.sensor_id.clone();
        ev.unit = self.identity.unit.clone();
        ev.flow_id = Some(flow.id);
        let (s, d) = if to_server {
            (flow.client, flow.server)
        } else {
            (flow.server, flow.client)
        };
        ev.src_ip = Some(eve_ip(s.0));
        ev.dest_ip = Some(eve_ip(d.0));
        if matches!(flow.proto, Proto::Tcp | Proto::Udp) {
            ev.src_port = Some(s.1);
            ev.dest_port = Some(d.1);
        }
        ev.proto = Some(flow.proto.eve_name());
        if !flow.vlan.is_empty() {
            ev.extra.insert("vlan".into(), json!(flow.vlan));
        }
        ev
    }

    fn app_event(
        &self,
        flow: &Flow,
        ae: &AppEvent,
        ts: i64,
        pcap_cnt: Option<u64>,
    ) -> Option<Event> {
        let mut ev = match ae {
            // logged with its message by `smtp_events`
            AppEvent::Smtp(_) => return None,
            AppEvent::File(id, to_server) => {
                let t = flow.app.http_tx(*id)?;
                let mut ev = self.base_event("fileinfo", flow, ts, *to_server);
                ev.extra.insert("http".into(), crate::applayer::http_eve(t));
                ev.app_proto = Some("http".into());
                ev.fileinfo = serde_json::from_value(crate::applayer::file_eve(t, *to_server)).ok();
                ev
            }
            AppEvent::Anomaly(id, name) => {
                let mut ev = self.base_event("anomaly", flow, ts, true);
                ev.extra.insert("tx_id".into(), json!(id));
                ev.extra.insert(
                    "anomaly".into(),
                    json!({
                        "app_proto": flow.app.eve_name().unwrap_or("unknown"),
                        "type": "applayer",
                        "event": name.to_ascii_uppercase(),
                        "layer": "proto_parser",
                    }),
                );
                ev
            }
            AppEvent::Http(id) => {
                let t = flow.app.http_tx(*id)?;
                let mut ev = self.base_event("http", flow, ts, true);
                ev.extra.insert("tx_id".into(), json!(id));
                ev.http = serde_json::from_value(crate::applayer::http_eve(t)).ok();
                ev
            }
            AppEvent::Dns(obj, id, query) => {
                let mut ev = self.base_event("dns", flow, ts, *query);
                let _ = id;
                ev.dns = serde_json::from_value(obj.clone()).ok();
                ev
            }
            AppEvent::Tls => {
                let mut ev = self.base_event("tls", flow, ts, true);
                ev.tls = serde_json::from_value(flow.app.tls_eve()?).ok();
                ev
            }
            AppEvent::Ssh => {
                let mut ev = self.base_event("ssh", flow, ts, true);
                ev.extra.insert("ssh".into(), flow.app.ssh_eve()?);
                ev
            }
        };
        if let Some(c) = pcap_cnt {
            ev.extra.insert("pcap_cnt".into(), json!(c));
        }
        Some(ev)
    }

    /// The files an app event carries, as scan items, when extraction is
    /// on; `true` when the event was a file (its `fileinfo` record then
    /// comes from the scan, with hashes and type).
    fn carried_files(
        &self,
        flow: &Flow,
        ae: &AppEvent,
        ts: i64,
        pcap_cnt: Option<u64>,
        out: &mut Vec<FileItem>,
    ) -> bool {
        if self.config.extract_files == 0 {
            return false;
        }
        let AppEvent::File(id, upload) = ae else {
            return false;
        };
        let Some(t) = flow.app.http_tx(*id) else {
            return false;
        };
        let Some(mut template) = self.app_event(flow, ae, ts, pcap_cnt) else {
            return false;
        };
        let body = if *upload {
            &t.request_body
        } else {
            &t.response_body
        };
        let name = template
            .fileinfo
            .as_ref()
            .and_then(|f| f.filename.clone())
            .unwrap_or_default();
        if *upload
            && let Some(ct) = t.request_header(b"content-type")
            && ct.len() >= 19
            && ct[..19].eq_ignore_ascii_case(b"multipart/form-data")
        {
            let msg = mime::parse_multipart(&ct, body, &self.mime_limits());
            let mut any = false;
            for part in msg.parts {
                let Some(fname) = part.filename.filter(|f| !f.is_empty()) else {
                    continue;
                };
                any = true;
                let mut tp = template.derive("fileinfo");
                if let Some(fi) = tp.fileinfo.as_mut() {
                    fi.filename = Some(fname.clone());
                }
                out.push(FileItem::carried(&fname, part.data, tp));
            }
            if any {
                return true;
            }
        }
        template.event_type = "fileinfo".into();
        out.push(FileItem::carried(&name, body.clone(), template));
        true
    }

    /// The `smtp` record of a mail transaction (envelope and the parsed
    /// message's `email` summary), and its attachments: as scan items when
    /// extraction is on, else as `fileinfo` records.
    fn smtp_events(
        &self,
        flow: &Flow,
        id: u64,
        ts: i64,
        pcap_cnt: Option<u64>,
        out: &mut Vec<Event>,
        files: &mut Vec<FileItem>,
    ) {
        let Some(tx) = flow.app.smtp_tx(id) else {
            return;
        };
        let msg = mime::parse_message(&tx.message, &self.mime_limits());
        let mut ev = self.base_event("smtp", flow, ts, true);
        ev.app_proto = Some("smtp".into());
        ev.extra.insert("tx_id".into(), json!(id));
        ev.extra
            .insert("smtp".into(), crate::applayer::smtp::smtp_eve(tx));
        ev.extra
            .insert("email".into(), crate::applayer::smtp::email_eve(&msg, tx));
        if let Some(c) = pcap_cnt {
            ev.extra.insert("pcap_cnt".into(), json!(c));
        }
        for part in msg.parts.into_iter().filter(|p| p.attachment) {
            let name = part.filename.clone().unwrap_or_default();
            let mut fe = ev.derive("fileinfo");
            fe.fileinfo = Some(crate::event::FileInfo {
                filename: Some(name.clone()),
                size: Some(part.data.len() as u64),
                state: Some(
                    if part.truncated {
                        "TRUNCATED"
                    } else {
                        "CLOSED"
                    }
                    .into(),
                ),
                stored: Some(false),
                ..Default::default()
            });
            if let Some(fi) = fe.fileinfo.as_mut() {
                fi.extra.insert("tx_id".into(), json!(id));
                fi.extra.insert("gaps".into(), json!(false));
            }
            if self.config.extract_files > 0 {
                files.push(FileItem::carried(&name, part.data, fe));
            } else {
                out.push(fe);
            }
        }
        out.push(ev);
    }

    fn mime_limits(&self) -> mime::MimeLimits {
        let mut limits = mime::MimeLimits::default();
        if self.config.extract_files > 0 {
            limits.max_part_size = self.config.extract_files;
        }
        limits
    }

    fn flow_event(&self, flow: &Flow) -> Event {
        let mut ev = self.base_event("flow", flow, flow.last_ts, true);
        if let Some(name) = flow.app.eve_name() {
            ev.app_proto = Some(name.into());
        }
        let shift = self.time_shift_micros;
        let f = json!({
            "pkts_toserver": flow.pkts[0],
            "pkts_toclient": flow.pkts[1],
            "bytes_toserver": flow.bytes[0],
            "bytes_toclient": flow.bytes[1],
            "start": format_timestamp(flow.start_ts + shift),
            "end": format_timestamp(flow.last_ts + shift),
            "age": (flow.last_ts - flow.start_ts) / 1_000_000,
            "state": flow.eve_state(),
            "reason": flow.end_reason.map(|r| r.eve_name()).unwrap_or("shutdown"),
            "alerted": flow.alerted,
        });
        ev.flow = serde_json::from_value(f).ok();
        if flow.proto == Proto::Tcp {
            let all = flow.tcp_flags[0] | flow.tcp_flags[1];
            let mut tcp = Map::new();
            tcp.insert("tcp_flags".into(), json!(format!("{all:02x}")));
            tcp.insert(
                "tcp_flags_ts".into(),
                json!(format!("{:02x}", flow.tcp_flags[0])),
            );
            tcp.insert(
                "tcp_flags_tc".into(),
                json!(format!("{:02x}", flow.tcp_flags[1])),
            );
            for (bit, name) in [
                (0x01, "fin"),
                (0x02, "syn"),
                (0x04, "rst"),
                (0x08, "psh"),
                (0x10, "ack"),
                (0x20, "urg"),
                (0x40, "ecn"),
                (0x80, "cwr"),
            ] {
                if all & bit != 0 {
                    tcp.insert(name.into(), json!(true));
                }
            }
            if let Some(t) = &flow.tcp {
                tcp.insert("state".into(), json!(t.state.eve_name()));
            }
            ev.extra.insert("tcp".into(), Value::Object(tcp));
        }
        ev
    }

    /// A new event stamped with this pipeline's identity.
    /// Who this pipeline's events are from.
    /// Swaps in another rule set (a reload from the command channel).
    pub fn set_rules(&mut self, rules: Arc<RuleSet>) {
        self.engine.set_rules(rules);
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn event(&self, event_type: &str, ts_micros: i64) -> Event {
        let mut ev = Event::new(event_type, ts_micros + self.time_shift_micros);
        ev.sensor_id = self.identity.sensor_id.clone();
        ev.unit = self.identity.unit.clone();
        ev
    }

    /// A `stats` event with the counters so far, in Suricata's layout
    /// (`decoder.pkts`, `capture.kernel_drops`, `detect.alert`, …).
    pub fn stats_event(&self, ts_micros: i64, kernel: Option<(u64, u64)>) -> Event {
        let s = &self.stats;
        let f = &self.flows.stats;
        let mut stats = Map::new();
        stats.insert(
            "decoder".into(),
            json!({
                "pkts": s.packets, "bytes": s.bytes, "ipv4_or_ipv6": s.ipv4_or_ipv6,
                "tcp": s.tcp, "udp": s.udp, "icmp": s.icmp, "not_ip": s.not_ip,
                "invalid": s.invalid, "unsupported_link": s.unsupported_link,
                "fragments": s.fragments,
            }),
        );
        stats.insert(
            "flow".into(),
            json!({
                "total": f.created, "timeout": f.timed_out, "evicted": f.evicted,
                "active": self.flows.len(), "tcp_sessions": f.tcp_sessions,
                "midstream_pickups": f.midstream_pickups,
            }),
        );
        stats.insert(
            "detect".into(),
            json!({
                "alert": s.alerts,
                "candidates": self.engine.stats.candidates,
                "matches": self.engine.stats.matches,
                "suppressed": self.engine.stats.suppressed,
                "threshold_evictions": self.engine.threshold_evictions(),
            }),
        );
        stats.insert("app_layer".into(), json!({ "events": s.app_events }));
        let df = &self.defrag.stats;
        stats.insert(
            "defrag".into(),
            json!({
                "fragments": df.fragments, "reassembled": df.reassembled,
                "timeouts": df.timeouts, "overlaps": df.overlaps, "dropped": df.dropped,
            }),
        );
        stats.insert("stream".into(), json!({ "events": s.stream_events }));
        if let Some(c) = &self.scan_counters {
            stats.insert("files".into(), c.to_json());
        }
        if let Some((received, dropped)) = kernel {
            stats.insert(
                "capture".into(),
                json!({ "kernel_packets": received, "kernel_drops": dropped }),
            );
        }
        let mut ev = Event::new("stats", ts_micros);
        ev.sensor_id = self.identity.sensor_id.clone();
        ev.unit = self.identity.unit.clone();
        ev.stats = Some(stats);
        ev
    }

    /// Timestamp of the newest packet seen.
    pub fn last_ts(&self) -> i64 {
        self.last_ts
    }
}

/// The EVE `alert` object of a signature: ids, message, category,
/// severity and the rule's metadata.
fn rule_alert(rules: &RuleSet, rule: &crate::detect::signature::Rule, action: &str) -> Alert {
    let mut metadata = Map::new();
    for (k, v) in &rule.metadata {
        let entry = metadata
            .entry(k.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = entry {
            a.push(Value::String(v.clone()));
        }
    }
    Alert {
        action: action.into(),
        gid: rule.gid,
        signature_id: rule.sid,
        rev: rule.rev,
        signature: rule.msg.clone(),
        category: rules
            .classtype(rule)
            .map(|c| c.description.clone())
            .unwrap_or_default(),
        severity: rules.severity(rule),
        metadata: (!metadata.is_empty()).then_some(metadata),
        extra: Map::new(),
    }
}

/// Where an alert happened: the packet (or pseudo packet) it fired on.
struct AlertAt {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    proto: Proto,
    vlan: Vec<u16>,
    to_server: bool,
    /// `None` for the pseudo packets of a flow's end.
    pcap_cnt: Option<u64>,
    ts: i64,
}

/// Turns engine hits into EVE alerts; returns how many were written.
#[allow(clippy::too_many_arguments)]
fn emit_alerts(
    hits: &[Hit],
    rules: &RuleSet,
    flow: &mut Flow,
    at: &AlertAt,
    touched: &[u64],
    identity: &Identity,
    shift: i64,
    simulate_ips: bool,
    out: &mut Vec<Event>,
) -> u64 {
    let mut n = 0;
    for hit in hits {
        if !hit.alert {
            continue;
        }
        let Some(rule) = rules.rules().get(hit.rule as usize) else {
            continue;
        };
        flow.alerted = true;
        let mut ev = Event::new("alert", at.ts + shift);
        ev.sensor_id = identity.sensor_id.clone();
        ev.unit = identity.unit.clone();
        ev.flow_id = Some(flow.id);
        if let Some(c) = at.pcap_cnt {
            ev.extra.insert("pcap_cnt".into(), json!(c));
        }
        ev.src_ip = Some(eve_ip(at.src));
        ev.dest_ip = Some(eve_ip(at.dst));
        if matches!(at.proto, Proto::Tcp | Proto::Udp) {
            ev.src_port = Some(at.sport);
            ev.dest_port = Some(at.dport);
        }
        ev.proto = Some(at.proto.eve_name());
        if !at.vlan.is_empty() {
            ev.extra.insert("vlan".into(), json!(at.vlan));
        }
        let tx = hit.tx_id.or_else(|| {
            if flow.app.proto.is_some() {
                touched.last().copied().or(flow.app.last_tx())
            } else {
                None
            }
        });
        if let Some(t) = tx {
            ev.extra.insert("tx_id".into(), json!(t));
        }
        let blocked = simulate_ips && matches!(hit.action, Action::Drop | Action::Reject);
        ev.alert = Some(rule_alert(
            rules,
            rule,
            if blocked { "blocked" } else { "allowed" },
        ));
        if let Some((k, v)) = flow.app.alert_object(tx) {
            ev.extra.insert(k.into(), v);
        }
        if let Some(name) = flow.app.eve_name() {
            ev.app_proto = Some(name.into());
        }
        ev.extra.insert(
            "direction".into(),
            json!(if at.to_server {
                "to_server"
            } else {
                "to_client"
            }),
        );
        ev.flow = serde_json::from_value(alert_flow(flow, shift)).ok();
        n += 1;
        out.push(ev);
    }
    n
}

fn alert_flow(flow: &Flow, shift: i64) -> Value {
    json!({
        "pkts_toserver": flow.pkts[0],
        "pkts_toclient": flow.pkts[1],
        "bytes_toserver": flow.bytes[0],
        "bytes_toclient": flow.bytes[1],
        "start": format_timestamp(flow.start_ts + shift),
        "src_ip": eve_ip(flow.client.0),
        "dest_ip": eve_ip(flow.server.0),
        "src_port": flow.client.1,
        "dest_port": flow.server.1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LinkType;
    use crate::detect::signature::{DEFAULT_CLASSIFICATION, Vars, parse_classifications};

    /// A UDP datagram split into two IPv4 fragments, the signature across
    /// the cut: only reassembly finds it.
    #[test]
    fn fragmented_datagram_is_reassembled_before_detection() {
        let rules = RuleSet::compile_str(
            "t.rules",
            r#"alert udp any any -> any any (msg:"split"; content:"EVILPAYLOAD"; sid:1;)"#,
            &Vars::default(),
            parse_classifications(DEFAULT_CLASSIFICATION),
        )
        .unwrap();
        let mut whole = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(4000, 5000)
            .write(&mut whole, b"xxxxxxxEVILPAYLOADxxxxxxxxx")
            .unwrap();
        // fragment the IP payload (UDP header + data) at 16 bytes
        let (hdr, body) = whole.split_at(20);
        let mk = |off: usize, more: bool, part: &[u8]| {
            let mut p = hdr.to_vec();
            p[2..4].copy_from_slice(&((20 + part.len()) as u16).to_be_bytes());
            p[4..6].copy_from_slice(&77u16.to_be_bytes());
            let fo = (off / 8) as u16 | if more { 0x2000 } else { 0 };
            p[6..8].copy_from_slice(&fo.to_be_bytes());
            p.extend_from_slice(part);
            p
        };
        let f1 = mk(0, true, &body[..16]);
        let f2 = mk(16, false, &body[16..]);
        let mut p = Pipeline::new(Arc::new(rules), Identity::default(), false);
        let mut out = Vec::new();
        for (i, f) in [f2, f1].iter().enumerate() {
            p.process(
                &RawPacket {
                    ts_micros: i as i64,
                    link: LinkType::Raw,
                    data: f,
                },
                &mut out,
            );
        }
        let alerts = out.iter().filter(|e| e.event_type == "alert").count();
        assert_eq!(alerts, 1, "{out:?}");
        let stats = p.stats_event(0, None).stats.unwrap();
        assert_eq!(stats["defrag"]["reassembled"], 1);
        assert_eq!(stats["decoder"]["fragments"], 2);
    }

    #[test]
    fn malformed_packets_are_counted_and_logged_as_anomalies() {
        let rules = RuleSet::compile_str(
            "t.rules",
            "",
            &Vars::default(),
            parse_classifications(DEFAULT_CLASSIFICATION),
        )
        .unwrap();
        let mut p = Pipeline::new(Arc::new(rules), Identity::default(), false);
        let mut out = Vec::new();
        // an IPv4 header that claims more bytes than there are
        let bad = [
            0x45u8, 0, 0x05, 0xdc, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0,
        ];
        p.process(
            &RawPacket {
                ts_micros: 1,
                link: LinkType::Raw,
                data: &bad,
            },
            &mut out,
        );
        assert_eq!(p.stats.invalid, 1);
        let a = out.iter().find(|e| e.event_type == "anomaly").unwrap();
        assert_eq!(a.extra["anomaly"]["type"], "decode");
    }
}
