#!/usr/bin/python3
"""The status page (GET / on the admin listener) in a real browser: Debian's chromium, headless,
driven over the DevTools protocol (python3-websocket). s3lb runs in front of three scripted nodes
(test_protocol.Node) with http probes; the page must show them, load nothing but itself and
/status, throw no error, and show a node that fails its probes as down within one refresh
interval of /status saying so. A screenshot of the page (one node up, one down, one draining,
with traffic) is saved in the build directory (status-page.png); S3LB_UPDATE_DOCS=1 also writes it
to docs/images/status-page.png, which docs/operations.md shows."""
import base64
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_protocol as tp  # noqa: E402

TMP = tp.TMP
TOKEN = "status-page-token-%d-0123456789" % os.getpid()
REFRESH = 2.0  # the page's default interval (admin/page.html)
SLACK = 1.0    # a fetch and a redraw, on a loaded machine under ASan
SRC = os.environ.get("S3LB_SRC") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "../..")
SHOT = os.path.join(SRC, "docs/images/status-page.png")


def skip(why):
    print("SKIPPED: " + why)
    sys.exit(77)


class Cdp:
    """One DevTools websocket: commands answered in order, events kept for later checks."""

    def __init__(self, url):
        import websocket
        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError("%s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def close(self):
        self.ws.close()


def start_chromium(profile):
    """chromium headless on a random DevTools port; returns (process, port)."""
    os.makedirs(profile)
    proc = subprocess.Popen(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + profile,
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         "--no-first-run", "--no-default-browser-check", "--disable-extensions",
         "--disable-background-networking", "--disable-component-update", "--mute-audio",
         "--window-size=1280,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(TMP, "chromium.log"), "ab"),
        start_new_session=True)
    port_file = os.path.join(profile, "DevToolsActivePort")
    t0 = time.time()
    while time.time() - t0 < 60 and proc.poll() is None:
        try:
            with open(port_file) as f:
                line = f.readline().strip()
            if line:
                return proc, int(line)
        except OSError:
            pass
        time.sleep(0.1)
    stop_chromium(proc)
    raise RuntimeError("chromium did not open its DevTools port (see %s/chromium.log)" % TMP)


def stop_chromium(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the browser and its children
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def status(admin):
    out, _ = tp.exchange(admin, b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return json.loads(out[out.find(b"\r\n\r\n") + 4:])


def node_state(admin, name):
    for p in status(admin)["pools"]:
        for n in p["nodes"]:
            if n["name"] == name:
                return n["state"]
    return None


ROWS = ("JSON.stringify(Array.from(document.querySelectorAll('tr[data-node]')).map("
        "r => [r.dataset.node, r.dataset.state, r.querySelector('.pill').textContent,"
        " r.cells[4].textContent]))")


def rows(cdp):
    return {r[0]: r[1:] for r in json.loads(cdp.eval(ROWS) or "[]")}


def wait_for(what, limit):
    t0 = time.time()
    while time.time() - t0 < limit:
        v = what()
        if v:
            return v
        time.sleep(0.05)
    return None


def traffic(port, stop):
    """A few requests a second through the gateway, so that the rates are not all zero."""
    while not stop.is_set():
        try:
            tp.exchange(port, b"GET /bucket/key HTTP/1.1\r\nHost: s3.local\r\n"
                        b"Connection: close\r\n\r\n", timeout=2)
        except OSError:
            pass
        stop.wait(0.1)


def main():
    if not shutil.which("chromium"):
        skip("chromium not installed (Debian's chromium package; scripts/install-deps)")
    try:
        import websocket  # noqa: F401
    except ImportError:
        skip("python3-websocket not installed (scripts/install-deps)")
    net = "127.0.%d" % random.randrange(100, 200)
    n1, n2, n3 = tp.Node(net + ".1"), tp.Node(net + ".2"), tp.Node(net + ".3")
    port, admin = tp.free_port(), tp.free_port()
    token_file = os.path.join(TMP, "admin.token")
    with open(os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(TOKEN + "\n")
    cfg = (f"admin: {{ listen: 127.0.0.1:{admin}, token_file: {token_file} }}\n"
           f"log: {{ level: info, access: {TMP}/access.log, error: {TMP}/s3lb.log }}\n"
           f"pools:\n  - name: ceph-a\n    balance: least-requests\n"
           f"    health: {{ interval: 500ms, timeout: 250ms, rise: 2, fall: 2, "
           f"http: {{ path: /health }} }}\n"
           f"    nodes:\n      - {{ name: rgw1, addr: {n1.addr} }}\n"
           f"      - {{ name: rgw2, addr: {n2.addr} }}\n"
           f"      - {{ name: rgw3, addr: {n3.addr} }}\n"
           f"frontends:\n  - name: s3\n    listen: [127.0.0.1:{port}]\n    domains: [s3.local]\n"
           f"    routes:\n      - {{ pool: ceph-a }}\n"
           f"workers: {tp.WORKERS}\n")
    lb = tp.S3lb(cfg)
    chrome = None
    stop = threading.Event()
    try:
        tp.wait_port(admin)
        tp.wait_port(port)
        threading.Thread(target=traffic, args=(port, stop), daemon=True).start()
        chrome, dport = start_chromium(os.path.join(TMP, "profile"))
        run(admin, dport, n2)
    finally:
        stop.set()
        if chrome:
            stop_chromium(chrome)
        lb.stop()
    print("%d failed" % len(tp.FAILED) if tp.FAILED else "all status page cases passed")
    if tp.FAILED:
        print("logs kept in " + TMP)
    return 1 if tp.FAILED else 0


def run(admin, dport, n2):
    with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % dport, timeout=10) as r:
        targets = json.load(r)
    page = [t for t in targets if t.get("type") == "page"][0]
    cdp = Cdp(page["webSocketDebuggerUrl"])
    try:
        cdp.call("Network.enable")
        cdp.call("Runtime.enable")
        cdp.call("Log.enable")
        url = "http://127.0.0.1:%d/" % admin
        cdp.call("Page.navigate", url=url)

        got = wait_for(lambda: (lambda r: r if len(r) == 3 else None)(rows(cdp)), 10)
        tp.check("the page shows the pool's three nodes, up",
                 got and all(got.get("ceph-a/rgw%d" % i, [None])[0] == "up" for i in (1, 2, 3)),
                 repr(got))
        tp.check("the page read /status at least once",
                 (cdp.eval("window.s3lb.updates") or 0) >= 1 and
                 cdp.eval("window.s3lb.failures") == 0,
                 repr(cdp.eval("JSON.stringify(window.s3lb)")))

        # drain rgw3 (the token, as `s3lb drain` sends it): the page shows draining
        out, _ = tp.exchange(admin, b"POST /drain?node=rgw3 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
                             b"Content-Length: 0\r\n\r\n")
        tp.check("rgw3 drained", b" 200 " in out.split(b"\r\n")[0], repr(out[:200]))
        got = wait_for(lambda: rows(cdp).get("ceph-a/rgw3", [None])[0] == "draining",
                       REFRESH + SLACK + 0.5)
        tp.check("a drained node shows as draining within one refresh", got, repr(rows(cdp)))

        # rgw2 fails its probes (its port closed): down in /status, then on the page
        n2.close()
        down = wait_for(lambda: node_state(admin, "rgw2") == "down", 10)
        t_down = time.time()
        tp.check("health marks rgw2 down", down, repr(status(admin)))
        shown = wait_for(lambda: rows(cdp).get("ceph-a/rgw2", [None])[0] == "down",
                         REFRESH + SLACK)
        took = time.time() - t_down
        r = rows(cdp).get("ceph-a/rgw2", [None, None, ""])
        # the reason: its probes, or passive health when the traffic's requests failed first
        tp.check("the page shows rgw2 down within one refresh interval (%.1f s after /status, "
                 "interval %.0f s)" % (took, REFRESH),
                 shown and r[1] == "down" and ("probe" in r[2] or "passive" in r[2]), repr(r))
        js = "document.getElementById('errors').textContent"
        errors = wait_for(lambda: (lambda t: t if "ceph-a/rgw2probe: " in t else None)(
            cdp.eval(js)), 2 * REFRESH + SLACK)
        tp.check("recent errors show rgw2's failed probe", errors, cdp.eval(js))
        trans = cdp.eval("document.querySelector('#transitions tbody tr').textContent")
        tp.check("the last transition listed first is rgw2's", "ceph-a/rgw2" in trans and
                 "down" in trans, trans)

        # a few seconds more of traffic for the rates, then the screenshot for the docs
        time.sleep(3)
        rate = cdp.eval("document.querySelector('section[data-pool] h2').textContent")
        tp.check("the pool's request rate is shown", "req/s" in rate and
                 " 0.00 req/s" not in rate, rate)
        height = cdp.eval("Math.ceil(document.querySelector('main').getBoundingClientRect()"
                          ".bottom)")
        cdp.call("Emulation.setDeviceMetricsOverride", width=1280, height=int(height),
                 deviceScaleFactor=1, mobile=False)
        time.sleep(0.3)
        shot = cdp.call("Page.captureScreenshot", format="png")["data"]
        png = base64.b64decode(shot)
        out = os.path.join(os.environ.get("S3LB_BUILD", TMP), "status-page.png")
        targets = [out] + ([SHOT] if os.environ.get("S3LB_UPDATE_DOCS") == "1" else [])
        for t in targets:
            os.makedirs(os.path.dirname(t), exist_ok=True)
            with open(t, "wb") as f:
                f.write(png)
        tp.check("screenshot saved to %s (%d bytes)" % (" and ".join(targets), len(png)),
                 png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000)

        # what the page loaded and what it said: itself and /status only, no error
        cdp.call("Runtime.evaluate", expression="1")  # collect the events sent meanwhile
        urls = {e["params"]["request"]["url"] for e in cdp.events
                if e["method"] == "Network.requestWillBeSent"}
        others = {u for u in urls if u not in (url, url + "status") and not u.startswith("data:")}
        tp.check("the page loads nothing but itself and /status (no external assets)",
                 url in urls and url + "status" in urls and not others, repr(urls))
        bad = [e["params"] for e in cdp.events
               if e["method"] == "Runtime.exceptionThrown" or
               (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error") or
               (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")]
        tp.check("no script error, console error or CSP violation", not bad, repr(bad)[:2000])
    finally:
        cdp.close()


if __name__ == "__main__":
    sys.exit(main())
