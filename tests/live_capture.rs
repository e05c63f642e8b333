//! Live capture on the loopback interface with a BPF filter: packets sent
//! through the kernel are captured, decoded and matched, and the kernel's
//! counters are read. Needs CAP_NET_RAW (root), as the sensor does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use canhgac::capture::{LiveCapture, LiveOptions};
use canhgac::detect::signature::{DEFAULT_CLASSIFICATION, RuleSet, Vars, parse_classifications};
use canhgac::sensor::pipeline::{Identity, Pipeline};

#[test]
fn loopback_capture_with_bpf_alerts_on_matching_datagram() {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let mut cap = LiveCapture::open(&LiveOptions {
        interface: "lo".into(),
        bpf: format!("udp and dst port {port}"),
        snaplen: 65_535,
        promiscuous: false,
    })
    .expect("live capture on lo (run as root or with CAP_NET_RAW)");
    let rules = RuleSet::compile_str(
        "live.rules",
        &format!("alert udp any any -> any {port} (msg:\"live test\"; content:\"canh-gac-live\"; nocase; sid:77; rev:1;)\n"),
        &Vars::default(),
        parse_classifications(DEFAULT_CLASSIFICATION),
    )
    .unwrap();
    let mut pipeline = Pipeline::new(Arc::new(rules), Identity::default(), false);
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Traffic the filter must keep out: another port.
    let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..3 {
        sender
            .send_to(b"CANH-GAC-LIVE payload", ("127.0.0.1", port))
            .unwrap();
        sender
            .send_to(b"canh-gac-live elsewhere", other.local_addr().unwrap())
            .unwrap();
        sender
            .send_to(b"nothing to see", ("127.0.0.1", port))
            .unwrap();
    }
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pipeline.stats.packets < 6 && Instant::now() < deadline {
        if cap.poll(64, |p| pipeline.process(&p, &mut events)).unwrap() == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    assert_eq!(
        pipeline.stats.packets, 6,
        "the BPF filter keeps exactly our 6 datagrams"
    );
    assert_eq!(events.len(), 3);
    assert!(
        events
            .iter()
            .all(|e| e.alert.as_ref().unwrap().signature_id == 77)
    );
    assert_eq!(events[0].dest_port, Some(port));
    let k = cap.stats();
    assert!(k.received >= 6, "kernel counters: {k:?}");
    assert_eq!(k.dropped, 0);
}

#[test]
fn missing_interface_is_a_clear_error() {
    let err = LiveCapture::open(&LiveOptions {
        interface: "no-such-if0".into(),
        bpf: String::new(),
        snaplen: 65_535,
        promiscuous: true,
    })
    .err()
    .expect("no such interface");
    assert!(err.to_string().contains("no-such-if0"), "{err}");
}
