#!/usr/bin/env python3
"""Delivery benchmark: N sensors shipping to one central on this machine.

Two measurements, each on SQLite and on PostgreSQL:

1. Sustained ingest: every sensor replays a log file of --lines lines as
   fast as it can (`[logs] files`); the rate is events stored / time from
   the sensors' start until the last event is committed.
2. Delay at a given rate: every sensor follows a log file that this script
   appends to at --rate events/s in total (default: half the sustained rate
   just measured); the delay of an event is central's receive time minus its
   creation time at the sensor (events.received_at - events.ts), reported as
   the 50th, 99th and maximum.

Sensors and central run as real processes over HTTPS with central's own CA,
all on loopback. Usage:

    deploy/bench/delivery.py --bin target/release/canhgac [--sensors 15]
        [--lines 20000] [--postgres postgres://postgres@127.0.0.1:5432/test]
        [--follow-secs 30]

Prints one line per measurement and a JSON summary at the end.
"""
import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def psql(url, sql):
    out = subprocess.run(["psql", url, "-At", "-c", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


class Rig:
    def __init__(self, binary, root, postgres):
        self.bin = binary
        self.root = root
        self.port = free_port()
        self.central = None
        self.pg = None
        store = ""
        if postgres:
            schema = "bench_" + uuid.uuid4().hex[:12]
            psql(postgres, f"CREATE SCHEMA {schema}")
            sep = "&" if "?" in postgres else "?"
            self.pg = f"{postgres}{sep}options=-c%20search_path%3D{schema}"
            self.pg_psql = postgres
            self.schema = schema
            store = f'url = "{self.pg}"\n'
        self.cfg = os.path.join(root, "central.toml")
        with open(self.cfg, "w") as f:
            f.write(f'[server]\nlisten = "127.0.0.1:{self.port}"\n[store]\ndata_dir = "{root}/var"\n{store}')
        self.admin("unit", "add", "tinh", "--title", "Tỉnh", "--kind", "province")
        self.admin("unit", "add", "xa", "--title", "Xã", "--kind", "commune", "--parent", "tinh")

    def admin(self, *args):
        out = subprocess.run([self.bin, "admin", "-c", self.cfg, *args], check=True,
                             capture_output=True, text=True, env={**os.environ, "RUST_LOG": "warn"})
        return out.stdout

    def start(self):
        log = open(os.path.join(self.root, "central.log"), "a")
        self.central = subprocess.Popen([self.bin, "central", "-c", self.cfg], stdout=subprocess.DEVNULL,
                                        stderr=log, env={**os.environ, "RUST_LOG": "warn"})
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("central did not start")

    def stop(self):
        if self.central:
            self.central.terminate()
            self.central.wait()

    def sql(self, q_sqlite, q_pg):
        if self.pg:
            return psql(self.pg_psql, f"SET search_path TO {self.schema}; {q_pg}").splitlines()[-1]
        db = sqlite3.connect(f"file:{self.root}/var/canhgac.db?mode=ro", uri=True, timeout=30)
        try:
            r = db.execute(q_sqlite).fetchone()
            return "|".join("" if v is None else str(v) for v in r)
        finally:
            db.close()

    def count(self):
        return int(self.sql("SELECT COUNT(*) FROM events WHERE event_type = 'log'",
                            "SELECT COUNT(*) FROM events WHERE event_type = 'log'") or 0)

    def enrol(self, name):
        out = self.admin("sensor", "add", name, "--unit", "xa").splitlines()
        token = out[[i for i, l in enumerate(out) if "enrolment token" in l][0] + 1]
        fp = out[[i for i, l in enumerate(out) if "CA fingerprint" in l][0] + 1]
        state = os.path.join(self.root, name)
        subprocess.run([self.bin, "sensor", "enroll", "--central", f"https://127.0.0.1:{self.port}",
                        "--token", token, "--ca-sha256", fp, "--state-dir", state],
                       check=True, capture_output=True, env={**os.environ, "RUST_LOG": "warn"})
        return state

    def sensor_cfg(self, name, logs_section):
        path = os.path.join(self.root, f"{name}.toml")
        with open(path, "w") as f:
            f.write(f'[sensor]\nstate_dir = "{self.root}/{name}"\nheartbeat_secs = 5\n'
                    f'[central]\nurl = "https://127.0.0.1:{self.port}"\nbatch_max_events = 1000\n'
                    f'batch_max_ms = 200\nmax_backoff_secs = 2\n{logs_section}')
        return path


def line(tag, i):
    return (f"Nov 26 10:{(i // 60) % 60:02d}:{i % 60:02d} gw-{tag} sshd[{i}]: Failed password for invalid "
            f"user u{i} from 198.51.100.{i % 250} port {1024 + i % 60000} ssh2\n")


def sustained(binary, root, sensors, lines, postgres):
    rig = Rig(binary, root, postgres)
    rig.start()
    names = [f"gw-{i:02d}" for i in range(sensors)]
    cfgs = []
    for n in names:
        rig.enrol(n)
        log = os.path.join(root, f"{n}.log")
        with open(log, "w") as f:
            f.writelines(line(n, i) for i in range(lines))
        cfgs.append(rig.sensor_cfg(n, f'[logs]\nfiles = ["{log}"]\n'))
    total = sensors * lines
    t0 = time.monotonic()
    procs = [subprocess.Popen([binary, "sensor", "-c", c], stdout=subprocess.DEVNULL,
                              stderr=open(c + ".log", "w"), env={**os.environ, "RUST_LOG": "warn"})
             for c in cfgs]
    while rig.count() < total:
        if time.monotonic() - t0 > 1800:
            raise SystemExit("sustained run did not finish in 30 minutes")
        time.sleep(0.2)
    secs = time.monotonic() - t0
    for p in procs:
        p.wait()
    n = rig.count()
    rig.stop()
    return n, secs


def delay(binary, root, sensors, rate, secs, postgres):
    rig = Rig(binary, root, postgres)
    rig.start()
    names = [f"gw-{i:02d}" for i in range(sensors)]
    logs, procs = [], []
    for n in names:
        rig.enrol(n)
        log = os.path.join(root, f"{n}.follow.log")
        open(log, "w").close()
        logs.append(log)
        c = rig.sensor_cfg(n, f'[logs]\nfollow = ["{log}"]\n')
        procs.append(subprocess.Popen([binary, "sensor", "-c", c], stdout=subprocess.DEVNULL,
                                      stderr=open(c + ".log", "w"), env={**os.environ, "RUST_LOG": "warn"}))
    time.sleep(2)
    files = [open(l, "a") for l in logs]
    per_sensor = 0
    t0 = time.monotonic()
    while (elapsed := time.monotonic() - t0) < secs:
        k = int(rate * elapsed / sensors) - per_sensor
        if k > 0:
            for idx, f in enumerate(files):
                f.writelines(line(names[idx], per_sensor + j) for j in range(k))
                f.flush()
            per_sensor += k
        time.sleep(0.05)
    written = per_sensor * sensors
    for f in files:
        f.close()
    deadline = time.monotonic() + 120
    while rig.count() < written and time.monotonic() < deadline:
        time.sleep(0.2)
    stored = rig.count()
    q_lite = ("SELECT (received_at - ts) FROM events WHERE event_type = 'log' ORDER BY (received_at - ts)")
    if rig.pg:
        vals = [int(v) for v in psql(rig.pg_psql, f"SET search_path TO {rig.schema}; "
                                     "SELECT received_at - ts FROM events WHERE event_type = 'log' "
                                     "ORDER BY 1").splitlines()[1:] if v]
    else:
        db = sqlite3.connect(f"file:{root}/var/canhgac.db?mode=ro", uri=True, timeout=30)
        vals = [r[0] for r in db.execute(q_lite)]
        db.close()
    for p in procs:
        p.terminate()
        p.wait()
    rig.stop()
    vals.sort()
    pct = lambda q: vals[min(len(vals) - 1, int(q * len(vals)))] / 1000.0 if vals else float("nan")
    return written, stored, time.monotonic() - t0, pct(0.5), pct(0.99), (vals[-1] / 1000.0 if vals else float("nan"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--sensors", type=int, default=15)
    ap.add_argument("--lines", type=int, default=20000)
    ap.add_argument("--postgres", default=os.environ.get("CANHGAC_TEST_POSTGRES"))
    ap.add_argument("--follow-secs", type=int, default=30)
    ap.add_argument("--rate", type=float, default=None, help="events/s for the delay run (default: half the sustained rate)")
    ap.add_argument("--only", choices=["sqlite", "postgres"], default=None)
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    summary = {}
    backends = [b for b in ["sqlite", "postgres"] if a.only in (None, b)]
    for backend in backends:
        if backend == "postgres" and not a.postgres:
            print("postgres: skipped (no --postgres URL)")
            continue
        pg = a.postgres if backend == "postgres" else None
        root = tempfile.mkdtemp(prefix=f"canhgac-bench-{backend}-")
        n, secs = sustained(binary, root, a.sensors, a.lines, pg)
        rate = n / secs
        print(f"{backend}: sustained ingest {n} events from {a.sensors} sensors in {secs:.1f} s = {rate:,.0f} events/s")
        shutil.rmtree(root, ignore_errors=True)
        root = tempfile.mkdtemp(prefix=f"canhgac-bench-{backend}-delay-")
        target = a.rate or rate / 2
        written, stored, took, p50, p99, mx = delay(binary, root, a.sensors, target, a.follow_secs, pg)
        print(f"{backend}: at {written / a.follow_secs:,.0f} events/s for {a.follow_secs} s ({written} written, {stored} stored): "
              f"delay p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {mx:.0f} ms")
        shutil.rmtree(root, ignore_errors=True)
        summary[backend] = {"sustained_events_per_sec": round(rate), "events": n, "secs": round(secs, 1),
                            "delay_rate": round(written / a.follow_secs), "written": written, "stored": stored,
                            "p50_ms": round(p50), "p99_ms": round(p99), "max_ms": round(mx)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
