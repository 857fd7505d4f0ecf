#!/usr/bin/env python3
"""bench/failover_proxy.py: medic's failover proxy against HAProxy with a backup server, on loopback.

Two flaky_service backends (primary, backup); in front of them either `medic node` with the
primary and the backup as `endpoints` and `proxy.listen`, or haproxy (tcp mode, the backup as a
`backup` server, HTTP checks every 100 ms, fall 2 rise 2, with and without `option redispatch`).
The same client for all: a new connection per request, `GET / HTTP/1.0`, one request started every
10 ms (each on its own, so a held request does not delay the next) for --trial-s seconds; the
primary gets SIGKILL at a random moment in the middle half of the trial, and is started again on
the same port between trials. Then, with everything healthy: added latency (p50, p99 of the same
client, sequential, minus the direct figures) and wrk throughput and latency through each.
Everything it starts it stops. Prints a table and, with --write, replaces its section of
bench/RESULTS.md. Usage: see bench/README.md."""
import argparse, asyncio, os, random, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

CHECK_MS = 100


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


class Flaky:
    def __init__(self, binary, port=0):
        self.binary, self.port, self.proc = binary, port, None

    def start(self):
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--control-port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"ready port=(\d+) control=(\d+)", line)
        if not m:
            raise RuntimeError("flaky_service did not start: %r" % line)
        self.port = int(m.group(1))

    def kill(self):
        """SIGKILL without waiting: the trial's client runs on the same event loop, and waiting here
        for the kernel to tear the process down (which takes long on a loaded machine) froze the
        client and added that time to every request in flight: the bench measured itself. The
        process is reaped after the trial (reap)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def reap(self):
        if self.proc:
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Medic:
    name = "medic"

    def __init__(self, binary, workdir, primary, backup):
        self.port = free_port()
        self.api = free_port()
        cfg = ('{"api":{"listen":"127.0.0.1:%d"},"status_print_interval_ms":0,"log":{"level":"warn"},'
               '"services":[{"name":"web","interval_ms":%d,"timeout_ms":%d,"trend_horizon_ms":0,'
               '"endpoints":["http://127.0.0.1:%d/health","http://127.0.0.1:%d/health"],'
               '"breaker":{"failures":2,"successes":2,"open_ms":1000},"failback_after_ms":5000,'
               '"proxy":{"listen":"127.0.0.1:%d","connect_timeout_ms":1000}}]}'
               % (self.api, CHECK_MS, CHECK_MS - 20, primary, backup, self.port))
        self.cfg = os.path.join(workdir, "medic.json")
        with open(self.cfg, "w") as f:
            f.write(cfg)
        self.log = open(os.path.join(workdir, "medic.log"), "w")
        self.proc = subprocess.Popen([binary, "node", "--config", self.cfg], stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        if not wait_port(self.port):
            raise RuntimeError("medic did not start (see %s)" % self.log.name)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


class Haproxy:
    def __init__(self, binary, workdir, primary, backup, redispatch, threads=0):
        self.name = "haproxy (redispatch)" if redispatch else "haproxy"
        if threads:
            self.name += " (nbthread %d)" % threads
        self.port = free_port()
        cfg = f"""global
  maxconn 4096
{"  nbthread %d" % threads if threads else ""}
defaults
  mode tcp
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  retries 3
{"  option redispatch" if redispatch else ""}
listen web
  bind 127.0.0.1:{self.port}
  option httpchk GET /health
  server primary 127.0.0.1:{primary} check inter {CHECK_MS} fall 2 rise 2
  server backup 127.0.0.1:{backup} check inter {CHECK_MS} fall 2 rise 2 backup
"""
        self.cfg = os.path.join(workdir, "haproxy%d%d.cfg" % (redispatch, threads))
        with open(self.cfg, "w") as f:
            f.write(cfg)
        self.proc = subprocess.Popen([binary, "-db", "-f", self.cfg], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if not wait_port(self.port):
            raise RuntimeError("haproxy did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


REQ = b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n"


async def one_request(port, timeout):
    """(start, end, ok, why): why names a failure for the trial's printout ("" when ok)."""
    t0 = time.monotonic()
    why = ""
    try:
        async def go():
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(REQ)
            data = await r.read()
            w.close()
            if data.startswith(b"HTTP/1.1 200") or data.startswith(b"HTTP/1.0 200"):
                return ""
            return "empty answer" if not data else "answer " + data[:12].decode("latin-1", "replace")
        why = await asyncio.wait_for(go(), timeout)
    except asyncio.TimeoutError:
        why = "timeout"
    except (OSError, ConnectionError) as e:
        why = type(e).__name__
    return t0, time.monotonic(), not why, why


async def trial(port, seconds, kill_cb, rng, timeout=5.0):
    """One request every 10 ms for seconds; kill_cb() at a random moment in the middle half."""
    n = int(seconds * 100)
    kill_at = rng.uniform(seconds * 0.25, seconds * 0.75)
    start = time.monotonic()
    tasks, killed = [], None
    for k in range(n):
        slot = start + k * 0.01
        if killed is None and slot - start >= kill_at:
            delay = start + kill_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            killed = time.monotonic()
            kill_cb()
        delay = slot - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one_request(port, timeout)))
    results = await asyncio.gather(*tasks)
    failed = [r for r in results if not r[2]]
    after = [r for r in results if r[0] >= killed]
    last_fail = max((r[0] for r in failed if r[0] >= killed - 0.5), default=None)
    first_ok = next((r for r in after if r[2] and (last_fail is None or r[0] > last_fail)), None)
    recovery = (first_ok[1] - killed) if first_ok else float("nan")
    longest = max(r[1] - r[0] for r in results)
    near = max((r[1] - r[0] for r in results if killed - 0.5 <= r[0] <= killed + 2.0), default=0.0)
    # Around the kill, split: requests in flight when the signal was sent (they may have reached the
    # primary: they wait for the kernel to close its sockets) and those started after it.
    inflight = max((r[1] - r[0] for r in results if r[0] < killed <= r[1]), default=0.0)
    after2 = max((r[1] - r[0] for r in results if killed <= r[0] <= killed + 2.0), default=0.0)
    # The longest request far from the kill (more than 2 s away): the machine's own noise.
    calm = max((r[1] - r[0] for r in results if r[0] < killed - 2.0 or r[0] > killed + 2.0), default=0.0)
    kinds = {}
    for r in failed:
        kinds[r[3]] = kinds.get(r[3], 0) + 1
    when = ", ".join("%+.2f s" % (r[0] - killed) for r in failed[:12])
    return {"failed": len(failed), "why": kinds, "when": when, "recovery_ms": recovery * 1000, "held_ms": longest * 1000,
            "near_ms": near * 1000, "inflight_ms": inflight * 1000, "after_ms": after2 * 1000,
            "calm_ms": calm * 1000, "n": len(results)}


def seq_latency(port, n):
    lat = []
    for _ in range(n):
        t0, t1, ok, _ = asyncio.run(one_request(port, 5.0))
        if ok:
            lat.append((t1 - t0) * 1000)
    srt = sorted(lat)
    return srt[len(srt) // 2], srt[int(len(srt) * 0.99) - 1], lat


def wrk(port, seconds):
    out = subprocess.run(["wrk", "-t1", "-c16", "-d%ds" % seconds, "--latency", "http://127.0.0.1:%d/" % port],
                         capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label):
        m = re.search(r"\s%s\s+([\d.]+)(us|ms|s)" % label, out)
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return rps, ms("50%"), ms("99%"), (errors.group(1) if errors else "0") + (" (socket errors: " + sock.group(1) + ")" if sock else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--medic", required=True)
    ap.add_argument("--flaky", required=True)
    ap.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--trial-s", type=float, default=20)
    ap.add_argument("--latency-n", type=int, default=2000)
    ap.add_argument("--wrk-s", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--write", help="RESULTS.md to update")
    ap.add_argument("--command", default="bench/failover_proxy")
    ap.add_argument("--only", help="run only the trials of this proxy (medic, haproxy, ...), print only")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="medic-fo-bench-")
    load0 = os.getloadavg()
    t_start = time.time()
    primary, backup = Flaky(a.flaky), Flaky(a.flaky)
    primary.start()
    backup.start()
    rows, steady = [], []
    med = statistics.median
    makers = [("medic", lambda: Medic(a.medic, work, primary.port, backup.port)),
              ("haproxy", lambda: Haproxy(a.haproxy, work, primary.port, backup.port, False)),
              ("haproxy (redispatch)", lambda: Haproxy(a.haproxy, work, primary.port, backup.port, True))]
    if a.only:
        makers = [m for m in makers if m[0] == a.only]
        a.write = None
    try:
        for name, make in makers:
            per = []
            for t in range(a.trials):
                if primary.proc.poll() is not None:
                    primary.start()  # same port
                px = make()
                time.sleep(1.0)  # checks settle: both endpoints up
                r = asyncio.run(trial(px.port, a.trial_s, primary.kill, rng))
                primary.reap()
                px.stop()
                per.append(r)
                print("%-22s trial %d: failed %d of %d, recovered in %.1f ms, longest held %.1f ms (%.1f ms around "
                      "the kill: %.1f in flight at it, %.1f started after it; %.1f more than 2 s from it)"
                      % (name, t + 1, r["failed"], r["n"], r["recovery_ms"], r["held_ms"], r["near_ms"],
                         r["inflight_ms"], r["after_ms"], r["calm_ms"]), flush=True)
                if r["failed"]:
                    print("%-22s   failures (start relative to the kill): %s; %s" % ("", r["when"], r["why"]))
                    if isinstance(px, Medic):
                        with open(px.log.name) as f:
                            for line in f.readlines()[-10:]:
                                print("%-22s   medic: %s" % ("", line.rstrip()[:200]))
            rows.append((name, per))
        if a.only:
            return
        if primary.proc.poll() is not None:
            primary.start()
        # Steady state: medic and haproxy both up; rounds interleave the three paths so that the
        # machine's drift (other work) falls on all of them alike.
        pxs = [make() for _, make in makers[:2]]
        pxs.append(Haproxy(a.haproxy, work, primary.port, backup.port, False, threads=1))
        time.sleep(1.0)
        paths = [("direct to the primary", primary.port)] + [(p.name, p.port) for p in pxs]
        lat = {n: [] for n, _ in paths}
        p50s = {n: [] for n, _ in paths}
        wrks = {n: [] for n, _ in paths}
        for _ in range(a.rounds):
            for n, port in paths:
                l50, _, samples = seq_latency(port, a.latency_n // a.rounds)
                p50s[n].append(l50)
                lat[n].extend(samples)
                wrks[n].append(wrk(port, max(1, a.wrk_s // a.rounds)))
        for p in pxs:
            p.stop()
        for n, _ in paths:
            allv = sorted(lat[n])
            p99 = allv[int(len(allv) * 0.99) - 1]
            w = wrks[n]
            steady.append([n, med(p50s[n]), p99, med([x[0] for x in w]), med([x[1] for x in w]),
                           med([x[2] for x in w]), sum(int(x[3].split()[0]) for x in w)])
        d = steady[0]
        steady = [(n, p50, p99, p50 - d[1], p99 - d[2], rps, w50, w99, err) for n, p50, p99, rps, w50, w99, err in steady]
    finally:
        primary.stop()
        backup.stop()
        shutil.rmtree(work, ignore_errors=True)
    load1 = os.getloadavg()
    lines = []
    lines.append("<!-- bench/failover_proxy: begin (generated; text outside these markers is kept) -->")
    lines.append("# bench/failover_proxy results\n")
    lines.append("Command: `%s` (from the repository root; it took %.0f s)\n" % (a.command, time.time() - t_start))
    lines.append("- date: %s UTC; %d CPUs; load average before %.2f %.2f %.2f, after %.2f %.2f %.2f%s"
                 % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()), os.cpu_count(), *load0, *load1,
                    " (other builds were running on this shared machine: the figures include their noise)"
                    if load0[0] > 1.0 else ""))
    hv = subprocess.run([a.haproxy, "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    lines.append("- %s (its default threads: one per CPU, here 2); medic %s (one loop thread); the client: Python "
                 "asyncio, a new connection per request, GET / HTTP/1.0" % (hv, a.medic))
    lines.append("- checks every %d ms on both (medic: breaker failures 2, successes 2; haproxy: `option httpchk GET "
                 "/health`, `fall 2 rise 2`, `retries 3`, `timeout connect 1s`, tcp mode)" % CHECK_MS)
    lines.append("- %d trials of %.0f s each: a request every 10 ms, SIGKILL of the primary at a random moment in the "
                 "middle half (seed %d)\n" % (a.trials, a.trial_s, a.seed))
    lines.append("Recovery: from the kill to the end of the first request that succeeded, started after the last "
                 "failed one (or after the kill when none failed). Held: the longest any request took, among those "
                 "started from 0.5 s before the kill to 2 s after it, split into those in flight when the signal "
                 "was sent and those started after it; and, for the machine's own noise, among those more than 2 s "
                 "from the kill. The client does not wait for the killed process (it is reaped after the trial). Medians over the trials, max in brackets.\n")
    lines.append("| proxy | requests failed per trial | recovery ms | longest held around the kill, ms | of which in flight at the kill | started after the kill | longest held more than 2 s from the kill, ms |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for name, per in rows:
        f = [r["failed"] for r in per]
        rec = [r["recovery_ms"] for r in per]
        near = [r["near_ms"] for r in per]
        infl = [r["inflight_ms"] for r in per]
        aft = [r["after_ms"] for r in per]
        calm = [r["calm_ms"] for r in per]
        lines.append("| %s | %g [%d] | %.1f [%.1f] | %.1f [%.1f] | %.1f [%.1f] | %.1f [%.1f] | %.1f [%.1f] |" % (
            name, med(f), max(f), med(rec), max(rec), med(near), max(near), med(infl), max(infl), med(aft),
            max(aft), med(calm), max(calm)))
    lines.append("\nSteady state (everything healthy, medic and haproxy both running): %d rounds, each measuring the "
                 "three paths in turn: the same client sequentially, %d requests per path per round (p50: median of "
                 "the rounds' p50; p99: over all %d; \"added\" is minus the direct figure), then `wrk -t1 -c16 "
                 "-d%ds --latency` (keep-alive; medians of the rounds)\n"
                 % (a.rounds, a.latency_n // a.rounds, a.latency_n, max(1, a.wrk_s // a.rounds)))
    lines.append("| path | p50 ms | p99 ms | added p50 ms | added p99 ms | wrk req/s | wrk p50 ms | wrk p99 ms | wrk errors |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for s in steady:
        lines.append("| %s | %.3f | %.3f | %.3f | %.3f | %.0f | %.3f | %.3f | %s |" % s)
    med_add = [s for s in steady if s[0] == "medic"][0]
    ha_add = [s for s in steady if s[0] == "haproxy"][0]
    dw50 = steady[0][6]
    ratio = med_add[3] / ha_add[3] if ha_add[3] > 0 else float("nan")
    wratio = (med_add[6] - dw50) / (ha_add[6] - dw50) if ha_add[6] > dw50 else float("nan")
    lines.append("\nAdded latency, medic / haproxy: p50 of the sequential client %.2fx, wrk p50 %.2fx (target: within "
                 "1.5x); wrk req/s, medic / haproxy: %.2fx" % (ratio, wratio, med_add[5] / ha_add[5]))
    lines.append("<!-- bench/failover_proxy: end -->")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.write:
        old = open(a.write).read() if os.path.exists(a.write) else ""
        m = re.search(r"<!-- bench/failover_proxy: begin.*?<!-- bench/failover_proxy: end -->\n?", old, re.S)
        new = old[:m.start()] + text + old[m.end():] if m else old.rstrip("\n") + "\n\n" + text
        with open(a.write, "w") as f:
            f.write(new)


if __name__ == "__main__":
    main()
