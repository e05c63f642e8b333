//! Bad configuration files get errors that name the file and the key, and
//! the samples in deploy/ load.

use std::process::Command;

use canhgac::central::CentralConfig;
use canhgac::sensor::SensorConfig;

fn run(args: &[&str], config: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_canhgac"))
        .args(args)
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a bad config must fail: {config}");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        err.contains(&path.display().to_string()),
        "names the file: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn central_config_errors_name_the_key() {
    let args = ["central", "--config"];
    let err = run(&args, "[server]\nlistne = \"127.0.0.1:1\"\n");
    assert!(err.contains("unknown field `listne`"), "{err}");
    let err = run(&args, "[server]\nlisten = \"everywhere\"\n");
    assert!(err.contains("key `server.listen`"), "{err}");
    let err = run(&args, "[store]\nurl = \"mysql://x\"\n");
    assert!(err.contains("key `store.url`"), "{err}");
    let err = run(&args, "[console]\ndefault_language = \"fr\"\n");
    assert!(err.contains("key `console.default_language`"), "{err}");
    let err = run(&args, "[incidents]\nwindow_secs = \"an hour\"\n");
    assert!(
        err.contains("window_secs") && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn sensor_config_errors_name_the_key() {
    let args = ["sensor", "--config"];
    let err = run(&args, "[capture]\ninterface = \"eth1\"\n");
    assert!(err.contains("missing field `central`"), "{err}");
    let err = run(
        &args,
        "[central]\nurl = \"soc.example\"\n[capture]\ninterface = \"eth1\"\n",
    );
    assert!(err.contains("key `central.url`"), "{err}");
    let err = run(
        &args,
        "[central]\nurl = \"http://x\"\n[capture]\ninterface = \"eth1\"\nfiles = [\"a.pcap\"]\n",
    );
    assert!(err.contains("key `capture.interface`"), "{err}");
    let err = run(
        &args,
        "[central]\nurl = \"http://x\"\n[capture]\ninterface = \"eth1\"\nsnaplen = 10\n",
    );
    assert!(err.contains("key `capture.snaplen`"), "{err}");
}

#[test]
fn deploy_samples_load() {
    CentralConfig::load(std::path::Path::new("deploy/central.toml")).unwrap();
    SensorConfig::load(std::path::Path::new("deploy/sensor.toml")).unwrap();
}
