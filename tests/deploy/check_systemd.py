#!/usr/bin/python3
"""check_systemd.py: deploy/systemd/: the unit passes `systemd-analyze verify` without a single
warning and keeps its hardening; the three example configs pass `medic check-config` and make a
three-region cluster with mutual TLS.

Usage: check_systemd.py REPO_DIR MEDIC_BIN

systemd-analyze verify needs no running systemd (it works in a container whose PID 1 is not
systemd), but it checks that ExecStart's program exists, so it runs on a copy of the unit with
/usr/bin/medic replaced by MEDIC_BIN. It exits 0 on unknown keys and unparsable values (it only
warns), so any output counts as a failure. Exits 77 without systemd-analyze.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

problems = []


def bad(where, what):
    problems.append(f"{where}: {what}")


REQUIRED = [
    (r"^(User=medic|DynamicUser=yes)$", "a medic user (User=medic) or DynamicUser=yes"),
    (r"^ProtectSystem=strict$", "ProtectSystem=strict"),
    (r"^StateDirectory=medic$", "StateDirectory=medic (the data dir, /var/lib/medic)"),
    (r"^NoNewPrivileges=yes$", "NoNewPrivileges=yes"),
    (r"^Restart=on-failure$", "Restart=on-failure"),
    (r"^ExecStart=/usr/bin/medic node --config \S+$", "ExecStart=/usr/bin/medic node --config FILE"),
]


def check_unit(sysd, medic_bin):
    unit = os.path.join(sysd, "medic.service")
    with open(unit) as f:
        text = f.read()
    lines = [l.strip() for l in text.splitlines()]
    for pattern, what in REQUIRED:
        if not any(re.match(pattern, l) for l in lines):
            bad("medic.service", f"needs {what}")
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("SKIPPED: systemd-analyze is not installed (scripts/bootstrap installs systemd)")
        sys.exit(77)
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "medic.service")
        with open(copy, "w") as f:
            f.write(text.replace("/usr/bin/medic", os.path.abspath(medic_bin)))
        r = subprocess.run([analyze, "verify", copy], capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0 or out:
        bad("medic.service", f"systemd-analyze verify (exit {r.returncode}): {out}")


def check_configs(sysd, medic_bin):
    env = dict(os.environ, MEDIC_CLUSTER_SECRET="x" * 32, MEDIC_ADMIN_TOKEN="y" * 32)
    regions, ids = set(), set()
    for i in (1, 2, 3):
        name = f"n{i}.json"
        path = os.path.join(sysd, name)
        r = subprocess.run([medic_bin, "check-config", path], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            bad(name, f"medic check-config: {r.stderr.strip()}")
            continue
        with open(path) as f:
            cfg = json.load(f)
        node, cluster = cfg.get("node", {}), cfg.get("cluster", {})
        regions.add(node.get("region"))
        ids.add(node.get("id"))
        if node.get("id") != f"n{i}":
            bad(name, f"node.id must be n{i}")
        if not str(node.get("data_dir", "")).startswith("/var/lib/medic"):
            bad(name, "node.data_dir must be under /var/lib/medic (the unit's StateDirectory)")
        peers = cluster.get("peers", [])
        if len(peers) != 3 or any(not p.get("address", "").startswith("tls+tcp://") for p in peers):
            bad(name, "three peers, every one at a tls+tcp:// address")
        tls = cluster.get("tls", {})
        want = {"cert_file": f"n{i}.pem", "key_file": f"n{i}.key", "ca_file": "ca.pem"}
        for k, v in want.items():
            if os.path.basename(tls.get(k, "")) != v:
                bad(name, f"cluster.tls.{k} must be the gen-certs file {v}")
        if "${" not in cluster.get("secret", ""):
            bad(name, "cluster.secret must come from the environment (${MEDIC_CLUSTER_SECRET})")
    if len(regions) != 3 or len(ids) != 3:
        bad("n1-3.json", f"three nodes in three regions, not ids {ids} regions {regions}")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check_systemd.py REPO_DIR MEDIC_BIN")
    sysd = os.path.join(sys.argv[1], "deploy", "systemd")
    check_unit(sysd, sys.argv[2])
    check_configs(sysd, sys.argv[2])
    for p in problems:
        print(p)
    print(f"check_systemd: {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
