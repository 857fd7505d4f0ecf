#!/usr/bin/env python3
"""dashboard.py: the dashboard in a real browser (ctest browser.dashboard).

Starts a flaky_service and three real medic nodes on loopback, drives headless Chromium (Debian's
chromium + chromium-driver through python3-selenium) against node n1's page, and checks that it
  - renders every node and every service,
  - shows outside text literally (a pause reason with HTML in it stays text),
  - turns the service DOWN within 2 s of the cluster verdict (both times printed),
  - shows the incident, its restart step and who took it, and its resolution,
  - logs no console error,
  - keeps the node's open API connections bounded while it polls,
  - keeps working on n1 when n3 is killed, while a second tab on n3 shows "Lost contact",
and saves screenshots at 390x844 and 1440x900 under --out. Exits 77 (skipped) with the reason when
the browser, its driver or selenium is missing.

Usage: dashboard.py --medic PATH --flaky PATH --out DIR
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

TOKEN = "browser-dashboard-admin-token-01"
SECRET = "browser-dashboard-secret-0123456"
IDS = ["n1", "n2", "n3"]
HOSTILE = '<img src=x id=pwned onerror="window.pwned=1">&amp;"'


def skip(why):
    print("SKIP: " + why, flush=True)
    sys.exit(77)


def now_ms():
    return int(time.time() * 1000)


def free_port():
    # Below the kernel's range for outgoing source ports (as md_free_port does): a port from inside
    # it can become some connection's source port before the node binds it.
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        lo = 32768
    for _ in range(64 if lo > 11000 else 0):
        port = random.randint(10000, lo - 1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, method="GET", headers=None, timeout=3):
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def get_json(port, path):
    try:
        code, body = http("http://127.0.0.1:%d%s" % (port, path))
        return json.loads(body) if code == 200 else None
    except (OSError, ValueError):
        return None


def wait_for(what, fn, timeout_s, step_s=0.05, detail=None):
    """Polls fn until it returns something truthy; fails with what (and detail()) after timeout_s."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step_s)
    raise AssertionError("timed out after %.0f s waiting for %s%s" % (timeout_s, what, ": " + detail() if detail else ""))


def api_connections(port):
    """Sockets of the API's port that a process holds (not LISTEN, not TIME_WAIT), from /proc/net/tcp."""
    n = 0
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(f).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state = parts[1], parts[3]
            if int(local.rsplit(":", 1)[1], 16) == port and state not in ("0A", "06"):
                n += 1
    return n


def fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def heap(driver):
    """The page's JS heap after a full collection (chromium runs with --expose-gc), -1 if unknown."""
    return driver.execute_script("if (window.gc) window.gc(); return performance.memory ? performance.memory.usedJSHeapSize : -1")


class Cluster:
    def __init__(self, medic, flaky):
        self.medic, self.flaky_bin = medic, flaky
        self.dir = tempfile.mkdtemp(prefix="medic-browser-")
        self.procs = {}
        self.flaky = None

    def start(self):
        self.flaky = subprocess.Popen([self.flaky_bin, "--port", "0", "--control-port", "0"],
                                      stdout=subprocess.PIPE, text=True)
        ready = self.flaky.stdout.readline().split()
        kv = dict(x.split("=", 1) for x in ready[1:])
        self.svc_port, self.control_port = int(kv["port"]), int(kv["control"])
        self.cluster_ports = [free_port() for _ in IDS]
        self.api_ports = [free_port() for _ in IDS]
        peers = [{"id": i, "address": "tcp://127.0.0.1:%d" % p} for i, p in zip(IDS, self.cluster_ports)]
        # The restart takes a few seconds (as a real one would), so the page has time to show DOWN.
        heal = ["sh", "-c", "sleep 3; curl -sS -X POST http://127.0.0.1:%d/mode/healthy" % self.control_port]
        for k, nid in enumerate(IDS):
            d = os.path.join(self.dir, nid)
            os.makedirs(d)
            cfg = {
                "node": {"id": nid, "region": ["eu-west", "us-east", "ap-south"][k], "data_dir": d + "/data"},
                "api": {"listen": "127.0.0.1:%d" % self.api_ports[k]},
                "status_print_interval_ms": 0,
                "cluster": {"name": "browser", "secret": SECRET, "peers": peers, "gossip_interval_ms": 100,
                            "heartbeat_ms": 50, "election_timeout_ms": 500},
                "remediation": {"admin_token": TOKEN},
                "services": [
                    {"name": "web", "url": "http://127.0.0.1:%d/health" % self.svc_port, "interval_ms": 300,
                     "timeout_ms": 200, "restart_interval_ms": 600, "verify_after_ms": 300,
                     "exec": {"restart": heal, "redeploy": ["true"], "rollback": ["true"], "timeout_ms": 8000}},
                    # with a backup endpoint (n2's API), so the page shows the failover columns
                    {"name": "n1-api", "endpoints": ["http://127.0.0.1:%d/v1/health" % self.api_ports[0],
                                                     "http://127.0.0.1:%d/v1/health" % self.api_ports[1]],
                     "interval_ms": 500, "timeout_ms": 400},
                ],
            }
            path = os.path.join(d, "medic.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            log = open(os.path.join(d, "node.log"), "w")
            self.procs[nid] = subprocess.Popen([self.medic, "node", "--config", path], stdout=log, stderr=log)
        for k in range(3):
            wait_for("n%d's API" % (k + 1), lambda: get_json(self.api_ports[k], "/v1/health"), 10)

    def kill(self, nid):
        p = self.procs[nid]
        p.send_signal(signal.SIGKILL)
        p.wait(10)

    def stop(self, keep_logs_on_failure):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self.flaky:
            self.flaky.terminate()
            self.flaky.wait(10)
        if keep_logs_on_failure:
            for nid in IDS:
                path = os.path.join(self.dir, nid, "node.log")
                if os.path.exists(path):
                    print("---- %s log (tail) ----" % nid)
                    print("".join(open(path).readlines()[-30:]))
        shutil.rmtree(self.dir, ignore_errors=True)

    def service(self, k, name):
        doc = get_json(self.api_ports[k], "/v1/status")
        for s in (doc or {}).get("services", []):
            if s["name"] == name:
                return s
        return None


def browser_errors(driver, allow_port=None):
    """SEVERE console entries since the last call; those about allow_port (a killed node) are allowed."""
    bad = []
    for e in driver.get_log("browser"):
        if e.get("level") != "SEVERE":
            continue
        if allow_port and (":%d/" % allow_port) in e.get("message", ""):
            continue
        bad.append(e["message"])
    return bad


def click(driver, css, what, timeout_s=5):
    """Clicks the element css finds. The page rebuilds its rows on every poll, so a button found a
    moment ago may be gone (a stale element): find it again and retry, within timeout_s."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def attempt():
        found = driver.find_elements(By.CSS_SELECTOR, css)
        if not found:
            return False
        try:
            found[0].click()
            return True
        except StaleElementReferenceException:
            return False
    wait_for(what, attempt, timeout_s)


def page_verdict(driver, svc):
    return driver.execute_script(
        "var r = document.querySelector('tr[data-service=\"' + arguments[0] + '\"] [data-verdict]');"
        "return r ? r.getAttribute('data-verdict') : null;", svc)


def text_of(driver, css):
    return driver.execute_script("var e = document.querySelector(arguments[0]); return e ? e.textContent : '';", css)


def run(args):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:
        skip("python3-selenium is not installed (%s); scripts/bootstrap installs it" % e)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_bin = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
    if not chromium or not driver_bin:
        skip("no chromium or chromedriver (Debian: chromium chromium-driver; scripts/bootstrap installs them)")
    os.makedirs(args.out, exist_ok=True)

    cluster = Cluster(args.medic, args.flaky)
    driver = None
    ok = False
    try:
        cluster.start()
        n1, n3 = cluster.api_ports[0], cluster.api_ports[2]
        wait_for("the verdict UP on every node",
                 lambda: all((cluster.service(k, "web") or {}).get("verdict", {}).get("state") == "UP" for k in range(3)), 15)
        wait_for("a leader", lambda: ((get_json(n1, "/v1/cluster") or {}).get("cluster", {}).get("consensus") or {}).get("leader"), 10)

        opts = Options()
        opts.binary_location = chromium
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--no-first-run", "--disable-extensions", "--window-size=1440,900", "--js-flags=--expose-gc"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        try:
            driver = webdriver.Chrome(service=Service(driver_bin), options=opts)
        except Exception as e:  # a browser that cannot start here (no display libs, sandbox) is a skip
            skip("chromium would not start: %s" % str(e).splitlines()[0])
        driver.set_window_size(1440, 900)

        # A pause whose reason is hostile HTML: the page must show it as text.
        code, body = http("http://127.0.0.1:%d/v1/services/web/pause?reason=%s" % (n1, urllib.request.quote(HOSTILE)),
                          method="POST", headers={"Authorization": "Bearer " + TOKEN})
        print("pause: %d %s" % (code, body.strip()))
        leader_port = None
        if code not in (200, 202):  # only the leader takes actions: ask it
            lead = (get_json(n1, "/v1/cluster") or {})["cluster"]["consensus"]["leader"]
            leader_port = cluster.api_ports[IDS.index(lead)]
            code, body = http("http://127.0.0.1:%d/v1/services/web/pause?reason=%s" % (leader_port, urllib.request.quote(HOSTILE)),
                              method="POST", headers={"Authorization": "Bearer " + TOKEN})
            print("pause via leader: %d %s" % (code, body.strip()))
        assert code in (200, 202), "pause refused: %d %s" % (code, body)

        fds_before = fds(cluster.procs["n1"].pid)
        driver.get("http://127.0.0.1:%d/" % n1)
        tab_n1 = driver.current_window_handle
        t_open = time.time()
        # every node and every service
        wait_for("three node rows", lambda: text_of(driver, "#nodes-wrap").count("(this node)") == 1 and
                 all(i in text_of(driver, "#nodes-wrap") for i in IDS), 10)
        wait_for("both services", lambda: page_verdict(driver, "web") == "UP" and page_verdict(driver, "n1-api") == "UP", 10)
        wait_for("the paused reason", lambda: HOSTILE in text_of(driver, "#grid-wrap"), 10,
                 detail=lambda: "page: %r; ledger: %s" % (text_of(driver, "tr[data-service='web']"),
                                                          (get_json(n1, "/v1/incidents") or {}).get("services")))
        assert driver.execute_script("return document.getElementById('pwned') === null && !window.pwned"), \
            "outside text became markup"
        grid = text_of(driver, "#grid-wrap")
        for nid in IDS:
            assert nid in grid, "no column for " + nid
        # the failover columns: n1-api's active endpoint is its primary, both breakers closed
        primary = "http://127.0.0.1:%d/v1/health" % cluster.api_ports[0]
        wait_for("the active endpoint", lambda: primary + " (active)" in text_of(driver, "tr[data-service='n1-api']") and
                 text_of(driver, "tr[data-service='n1-api']").count("closed") == 2, 10,
                 detail=lambda: "row: %r" % text_of(driver, "tr[data-service='n1-api']"))
        print("rendered: 3 nodes, 2 services, hostile text shown literally (%.1f s after load)" % (time.time() - t_open))
        wait_for("sparklines", lambda: driver.execute_script("return document.querySelectorAll('svg.spark polyline').length") >= 2, 12)
        code, _ = http("http://127.0.0.1:%d/v1/services/web/resume" % (leader_port or n1), method="POST",
                       headers={"Authorization": "Bearer " + TOKEN})
        assert code in (200, 202), "resume refused: %d" % code
        wait_for("resume on the page", lambda: "paused" not in text_of(driver, "tr[data-service='web']"), 10)

        # The admin token: typed in, used from a header by the buttons, never in a URL.
        from selenium.webdriver.common.by import By
        assert not driver.find_elements(By.CSS_SELECTOR, "#grid-wrap button"), "action buttons without a token"
        driver.find_element(By.ID, "token").send_keys(TOKEN)
        driver.find_element(By.ID, "token-use").click()
        click(driver, "button[data-focus='pause:n1-api']", "the pause button")
        wait_for("the pause accepted", lambda: "HTTP 202" in text_of(driver, "#action-result"), 5,
                 detail=lambda: text_of(driver, "#action-result"))
        wait_for("n1-api paused on the page", lambda: driver.find_elements(By.CSS_SELECTOR, "button[data-focus='resume:n1-api']"), 10)
        click(driver, "button[data-focus='resume:n1-api']", "the resume button")
        wait_for("n1-api resumed on the page", lambda: driver.find_elements(By.CSS_SELECTOR, "button[data-focus='pause:n1-api']"), 10)
        assert TOKEN not in driver.current_url and driver.execute_script("return location.search") == ""
        driver.find_element(By.ID, "token-forget").click()
        wait_for("the buttons gone", lambda: not driver.find_elements(By.CSS_SELECTOR, "#grid-wrap button"), 5)
        print("admin token: pause and resume from the page's buttons (header only), then forgotten")
        driver.save_screenshot(os.path.join(args.out, "dashboard-desktop-up.png"))
        heap_start = heap(driver)
        errs = browser_errors(driver)
        assert not errs, "console errors: %s" % errs

        # A second tab on n3, to be killed later.
        driver.switch_to.new_window("tab")
        driver.get("http://127.0.0.1:%d/" % n3)
        tab_n3 = driver.current_window_handle
        wait_for("n3's page", lambda: page_verdict(driver, "web") == "UP", 10)
        driver.switch_to.window(tab_n1)

        # DOWN: the page must follow the cluster verdict within 2 s.
        conns = [api_connections(n1)]
        t_down = json.loads(http("http://127.0.0.1:%d/mode/down" % cluster.control_port, method="POST")[1])["changed_at_ms"]
        seen_page = None
        since = None
        deadline = time.time() + 15
        while time.time() < deadline and seen_page is None:
            if since is None:
                v = (cluster.service(0, "web") or {}).get("verdict", {})
                if v.get("state") == "DOWN":
                    since = v["since_ms"]
            if page_verdict(driver, "web") == "DOWN":
                seen_page = now_ms()
            time.sleep(0.02)
        assert seen_page is not None, "the page never showed web DOWN"
        if since is None:  # seen on the page before our API poll caught it: read the time now
            since = cluster.service(0, "web")["verdict"]["since_ms"]
        lag = seen_page - since
        print("DOWN: service down at %d, cluster verdict DOWN at +%d ms, on the page at +%d ms: %d ms after the verdict"
              % (t_down, since - t_down, seen_page - t_down, lag))
        assert lag <= 2000, "the page showed DOWN %d ms after the verdict (limit 2000)" % lag
        badge = driver.execute_script("return document.querySelector('tr[data-service=\"web\"] [data-verdict] .badge').textContent")
        assert badge == "DOWN", "verdict label is %r" % badge
        conns.append(api_connections(n1))

        # The incident, its restart and who took it.
        wait_for("an open incident with its restart step",
                 lambda: "restart #1" in text_of(driver, "#incidents") and "web" in text_of(driver, "#incidents .incident.open h3"), 15)
        driver.save_screenshot(os.path.join(args.out, "dashboard-desktop-incident.png"))
        driver.set_window_size(390, 844)
        driver.execute_script("document.getElementById('services').scrollIntoView()")
        time.sleep(0.3)  # a relayout, not a wait for data
        driver.save_screenshot(os.path.join(args.out, "dashboard-phone-incident.png"))
        driver.execute_script("window.scrollTo(0, 0)")
        driver.set_window_size(1440, 900)
        inc = wait_for("the incident resolved", lambda: next((i for i in (get_json(n1, "/v1/incidents") or {}).get("closed", [])
                                                             if i["service"] == "web" and i["opened_at_ms"] >= t_down), None), 30)
        wait_for("the resolved incident on the page",
                 lambda: "resolved" in text_of(driver, "#incidents") and page_verdict(driver, "web") == "UP", 10)
        step = inc["steps"][0]
        txt = text_of(driver, "#incidents")
        for want in ("restart #1", step["proposed_by"], "ok"):
            assert want in txt, "incident text lacks %r: %s" % (want, txt[:400])
        print("incident #%d: %s, restart by %s took %d ms, closed by %s after %d ms; all on the page"
              % (inc["id"], inc["state"], step["proposed_by"], step["duration_ms"], inc["closed_by"], inc["duration_ms"]))
        conns.append(api_connections(n1))
        errs = browser_errors(driver)
        assert not errs, "console errors: %s" % errs

        # Many polls later, the node holds no more connections than at the start (plus in-flight ones).
        for _ in range(20):
            conns.append(api_connections(n1))
            time.sleep(0.25)
        fds_after = fds(cluster.procs["n1"].pid)
        polls = driver.execute_script("return performance.getEntriesByType('resource').length")
        print("n1 API connections while polling (samples): %s; n1's descriptors %d before the page, %d after %.0f s "
              "of polling; JS heap %d -> %d bytes; resource timing entries held %d"
              % (conns, fds_before, fds_after, time.time() - t_open, heap_start, heap(driver), polls))
        assert max(conns) <= 8, "the node held %d API connections" % max(conns)
        assert fds_after - fds_before <= 4, "n1's descriptors grew from %d to %d" % (fds_before, fds_after)
        assert polls < 50, "the page keeps %d resource timing entries" % polls

        driver.set_window_size(390, 844)
        time.sleep(0.3)
        driver.save_screenshot(os.path.join(args.out, "dashboard-phone.png"))
        width = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], "the page is %d px wide on a %d px phone" % tuple(width)
        driver.execute_script("document.getElementById('incidents').scrollIntoView()")
        time.sleep(0.3)
        driver.save_screenshot(os.path.join(args.out, "dashboard-phone-incidents.png"))
        driver.execute_script("window.scrollTo(0, 0)")
        driver.set_window_size(1440, 900)
        time.sleep(0.3)
        driver.save_screenshot(os.path.join(args.out, "dashboard-desktop.png"))
        driver.set_window_size(1440, 1300)  # taller, with the incident, for docs/img/dashboard.png
        time.sleep(0.3)
        driver.save_screenshot(os.path.join(args.out, "dashboard-desktop-tall.png"))
        driver.set_window_size(1440, 900)
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                               {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        time.sleep(0.3)
        driver.save_screenshot(os.path.join(args.out, "dashboard-desktop-dark.png"))
        driver.set_window_size(390, 844)
        time.sleep(0.3)
        driver.save_screenshot(os.path.join(args.out, "dashboard-phone-dark.png"))
        driver.set_window_size(1440, 900)
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})

        # Kill n3: n1's page goes on (and shows n3 dead), n3's tab says it lost contact.
        t_kill = now_ms()
        cluster.kill("n3")
        wait_for("n3 not alive on n1's page", lambda: driver.execute_script(
            "var rows = document.querySelectorAll('#nodes-wrap tbody tr'); for (var r of rows)"
            " if (r.querySelector('th').textContent.indexOf('n3') === 0) return r.textContent; return '';").find("alive") < 0
            and "n3" in text_of(driver, "#nodes-wrap"), 15)
        before = text_of(driver, "#asof")
        wait_for("n1's page still updating", lambda: text_of(driver, "#asof") != before, 5)
        assert "Lost contact" not in text_of(driver, "#banners"), "n1's page lost contact"
        print("n3 killed: n1's page marks it within %d ms and keeps updating" % (now_ms() - t_kill))
        driver.switch_to.window(tab_n3)
        wait_for("the lost-contact banner on n3's tab", lambda: "Lost contact" in text_of(driver, "#banners"), 10)
        print("n3's tab: %s" % text_of(driver, "#banners").strip())
        driver.save_screenshot(os.path.join(args.out, "dashboard-lost-contact.png"))
        driver.switch_to.window(tab_n1)
        errs = browser_errors(driver, allow_port=n3)
        assert not errs, "console errors: %s" % errs
        print("screenshots in %s" % args.out)
        print("dashboard browser test: ok")
        ok = True
    finally:
        if driver is not None:
            driver.quit()
        cluster.stop(keep_logs_on_failure=not ok)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--medic", required=True)
    ap.add_argument("--flaky", required=True)
    ap.add_argument("--out", required=True)
    return run(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
