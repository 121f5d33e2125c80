#!/usr/bin/env python3
"""Who may use the admin listener, end to end: s3lb in front of one scripted node, asked the way a
web page in an operator's browser would (a cross-origin POST), through DNS rebinding (a foreign
Host), without a token, with a wrong one and with the right one, by raw requests and by
`s3lb drain -c FILE`; a config without admin.token_file refuses every state change, and a token
file others can read is refused at load with FILE:LINE."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_protocol as tp  # noqa: E402

TMP = tp.TMP
TOKEN = "admin-test-token-%d-0123456789" % os.getpid()


def ask(admin, method, path, headers=b"", host=b"127.0.0.1"):
    req = (method.encode() + b" " + path.encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\n" +
           headers + b"Content-Length: 0\r\n\r\n")
    out, _ = tp.exchange(admin, req)
    r = tp.responses(out)
    if not r:
        return None, {}, {}
    status, hdrs, body = r[0]
    try:
        body = json.loads(body)
    except ValueError:
        body = {"raw": body}
    return status, hdrs, body


def state(admin, node):
    _, _, st = ask(admin, "GET", "/status")
    return [n["state"] for p in st["pools"] for n in p["nodes"] if n["name"] == node][0]


def write_token(path, mode):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(path, mode)


def main():
    n1 = tp.Node("127.0.0.61")
    port, admin = tp.free_port(), tp.free_port()
    token_file = os.path.join(TMP, "admin.token")
    write_token(token_file, 0o640)
    base = tp.config(port, admin, [n1.addr])
    with_token = base.replace("admin: { listen: 127.0.0.1:%d }" % admin,
                              "admin: { listen: 127.0.0.1:%d, token_file: %s }" % (admin, token_file))
    assert with_token != base
    lb = tp.S3lb(with_token)
    try:
        tp.wait_port(admin)
        run(lb, admin, base, with_token, token_file, n1)
    finally:
        lb.stop()
    print("%d failed" % len(tp.FAILED) if tp.FAILED else "all admin cases passed")
    if tp.FAILED:
        print("logs kept in " + TMP)
    return 1 if tp.FAILED else 0


def cli(*args):
    return subprocess.run([tp.BIN] + list(args), capture_output=True, text=True, timeout=10)


def run(lb, admin, base, with_token, token_file, n1):
    auth = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
    cross = b"Origin: http://evil.example\r\nContent-Type: text/plain\r\n"

    st, _, body = ask(admin, "POST", "/drain?node=n1", cross + auth)
    tp.check("a cross-origin POST /drain is refused (403), even with the token",
             st == 403 and "Origin" in body.get("message", "") and state(admin, "n1") == "up",
             repr((st, body)))
    st, _, body = ask(admin, "GET", "/status", host=b"rebind.example:%d" % admin)
    tp.check("GET /status with a rebinding Host is refused (403)",
             st == 403 and "Host 'rebind.example" in body.get("message", ""), repr((st, body)))
    st, _, body = ask(admin, "POST", "/drain?node=n1", auth, host=b"rebind.example")
    tp.check("POST /drain with a rebinding Host is refused (403)",
             st == 403 and state(admin, "n1") == "up", repr((st, body)))
    st, hdrs, body = ask(admin, "POST", "/drain?node=n1")
    tp.check("POST /drain without a token: 401 with WWW-Authenticate",
             st == 401 and hdrs.get("www-authenticate") == 'Bearer realm="s3lb-admin"' and
             state(admin, "n1") == "up", repr((st, hdrs, body)))
    st, _, body = ask(admin, "POST", "/drain?node=n1", b"Authorization: Bearer " +
                      TOKEN.encode()[:-1] + b"x\r\n")
    tp.check("POST /drain with a wrong token: 401", st == 401 and state(admin, "n1") == "up",
             repr((st, body)))
    st, _, body = ask(admin, "POST", "/drain?node=n1", auth, host=b"localhost:%d" % admin)
    tp.check("POST /drain with the right token drains",
             st == 200 and body == {"node": "n1", "state": "draining"} and
             state(admin, "n1") == "draining", repr((st, body)))
    out = cli("undrain", "n1", "-c", lb.cfg)
    tp.check("s3lb undrain n1 -c FILE finds the listener and the token",
             out.returncode == 0 and '"undrained"' in out.stdout and state(admin, "n1") == "up",
             out.stdout + out.stderr)
    out = cli("drain", "n1", "-a", "127.0.0.1:%d" % admin, "-c", "/nonexistent.yaml")
    tp.check("s3lb drain with a config that does not load fails and says why",
             out.returncode == 1 and "/nonexistent.yaml" in out.stderr, out.stderr)

    # no token configured: every state change is refused, reads still work
    lb.rewrite(base)
    r0 = ask(admin, "GET", "/status")[2].get("reloads", 0)
    lb.proc.send_signal(signal.SIGHUP)
    t0 = time.time()
    # wait for the reload itself: a drain asked before it would still be allowed (token)
    while time.time() - t0 < 5 and ask(admin, "GET", "/status")[2].get("reloads", 0) == r0:
        time.sleep(0.05)
    st, _, body = ask(admin, "POST", "/drain?node=n1", auth)
    tp.check("without admin.token_file POST /drain is refused (403) with what to set",
             st == 403 and "set admin.token_file" in body.get("message", "") and
             state(admin, "n1") == "up", repr((st, body)))
    out = cli("drain", "n1", "-c", lb.cfg)
    tp.check("s3lb drain then fails naming admin.token_file",
             out.returncode == 1 and "HTTP 403" in out.stderr and "admin.token_file" in out.stderr,
             out.stderr)
    out = cli("status", "--json", "-c", lb.cfg)
    tp.check("s3lb status --json -c FILE still works", out.returncode == 0 and
             json.loads(out.stdout)["pools"][0]["nodes"][0]["name"] == "n1", out.stderr)
    out = cli("status", "-c", lb.cfg)
    rows = [l.split() for l in out.stdout.splitlines()]
    tp.check("s3lb status -c FILE prints the table, n1 up in pool p",
             out.returncode == 0 and ["p", "n1", n1.addr, "up"] in [r[:4] for r in rows],
             out.stdout + out.stderr)

    # a token file others can read is refused at load, with FILE:LINE
    os.chmod(token_file, 0o644)
    bad = os.path.join(TMP, "bad.yaml")
    with open(bad, "w") as f:
        f.write(with_token)
    out = cli("check", "-c", bad)
    tp.check("s3lb check refuses a world-readable token file with FILE:LINE",
             out.returncode == 1 and out.stderr.startswith(bad + ":1: admin.token_file: ") and
             "readable or writable by others (mode 0644)" in out.stderr, out.stderr)
    out = cli("run", "-c", bad)
    tp.check("s3lb run refuses to start with it", out.returncode == 1 and
             "admin.token_file" in out.stderr, out.stderr)


if __name__ == "__main__":
    sys.exit(main())
