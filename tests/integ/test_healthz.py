#!/usr/bin/env python3
"""frontends[].healthz and timeouts.shutdown_delay: what an L4 tier in front of s3lb checks.

The path is answered by s3lb (never by a node): 200 ok while a pool the frontend routes to has a
node up, 503 "no node up" when every node is drained, 503 "stopping" from SIGTERM on; during
shutdown_delay every other request is still served and new connections are still accepted (on
every worker), then the listeners close and s3lb exits 0. Other methods and paths are routed as
usual. Run time: about 4 s.
"""
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_protocol as tp  # noqa: E402

check = tp.check
TOKEN = "healthz-test-token-0123456789"


def ask(port, req):
    out, _ = tp.exchange(port, req)
    return out


def healthz(port, method=b"GET", path=b"/healthz"):
    return ask(port, method + b" " + path + b" HTTP/1.1\r\nHost: s3.local\r\nConnection: close\r\n\r\n")


def admin_post(admin, what):
    return ask(admin, b"POST /" + what + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
               TOKEN.encode() + b"\r\nContent-Length: 0\r\n\r\n")


def main():
    if not os.path.exists(tp.BIN):
        print("FAIL: s3lb binary not found at " + tp.BIN)
        return 1
    n1, n2 = tp.Node("127.0.0.44"), tp.Node("127.0.0.45")
    port, admin = tp.free_port(), tp.free_port()
    token_file = os.path.join(tp.TMP, "healthz.token")
    with open(os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(TOKEN + "\n")
    cfg = tp.config(port, admin, [n1.addr, n2.addr], timeouts=", shutdown_delay: 2000ms",
                    fe_extra="    healthz: /healthz\n")
    cfg = cfg.replace("admin: { listen: 127.0.0.1:%d }" % admin,
                      "admin: { listen: 127.0.0.1:%d, token_file: %s }" % (admin, token_file))
    lb = tp.S3lb(cfg)
    try:
        tp.wait_port(port)
        before = len(n1.requests) + len(n2.requests)
        out = healthz(port)
        check("GET /healthz -> 200 ok", out.startswith(b"HTTP/1.1 200") and out.endswith(b"\r\n\r\nok\n"),
              repr(out[:200]))
        out = healthz(port, b"HEAD")
        check("HEAD /healthz -> 200, no body", out.startswith(b"HTTP/1.1 200") and
              out.endswith(b"\r\n\r\n") and b"Content-Length: 3" in out, repr(out[:200]))
        out = healthz(port, path=b"/healthz?probe=1")
        check("a query string is the same check", out.startswith(b"HTTP/1.1 200"), repr(out[:100]))
        check("no healthz request reached a node", len(n1.requests) + len(n2.requests) == before,
              "%d" % (len(n1.requests) + len(n2.requests) - before))
        out = healthz(port, path=b"/healthzx")
        check("another path is routed to the nodes",
              len(n1.requests) + len(n2.requests) == before + 1, repr(out[:100]))
        out = ask(port, b"PUT /healthz HTTP/1.1\r\nHost: s3.local\r\nContent-Length: 2\r\n"
                  b"Connection: close\r\n\r\nhi")
        check("another method is routed to the nodes",
              len(n1.requests) + len(n2.requests) == before + 2, repr(out[:100]))

        admin_post(admin, b"drain?node=p/n1")
        admin_post(admin, b"drain?node=p/n2")
        time.sleep(0.1)
        out = healthz(port)
        check("every node drained -> 503 no node up",
              out.startswith(b"HTTP/1.1 503") and out.endswith(b"no node up\n"), repr(out[:200]))
        admin_post(admin, b"undrain?node=p/n1")
        time.sleep(0.1)
        check("one node back -> 200", healthz(port).startswith(b"HTTP/1.1 200"))

        # SIGTERM: healthz 503 at once, everything else served until shutdown_delay is over
        keep = socket.create_connection(("127.0.0.1", port), 5)
        lb.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        outs = [healthz(port) for _ in range(8)]  # new connections: every worker
        check("SIGTERM: healthz says 503 stopping on every worker",
              all(o.startswith(b"HTTP/1.1 503") and o.endswith(b"stopping\n") for o in outs),
              repr([o[:20] for o in outs]))
        out = ask(port, b"GET /bkt/during HTTP/1.1\r\nHost: s3.local\r\nConnection: close\r\n\r\n")
        check("during shutdown_delay other requests are served", out.startswith(b"HTTP/1.1 200"),
              repr(out[:100]))
        # a connection kept alive from before: its request is served with Connection: close,
        # and s3lb closes it after the response (the client's next request goes on a new
        # connection, which an L4 tier sends to another gateway)
        keep.sendall(b"GET /bkt/kept HTTP/1.1\r\nHost: s3.local\r\n\r\n")
        keep.settimeout(1.0)
        got = b""
        try:
            while True:
                d = keep.recv(65536)
                if not d:
                    break
                got += d
            closed = True
        except socket.timeout:
            closed = False
        head = got.split(b"\r\n\r\n", 1)[0].lower()
        check("during shutdown_delay a kept-alive request is served with Connection: close",
              got.startswith(b"HTTP/1.1 200") and b"\r\nconnection: close" in head, repr(got[:200]))
        check("during shutdown_delay s3lb closes a kept-alive connection after its response",
              closed, repr(got[:200]))
        time.sleep(2.0)
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            refused = False
        except OSError:
            refused = True
        check("after shutdown_delay the listeners are closed", refused)
        keep.close()
        rc = lb.proc.wait(10)
        check("s3lb exits 0", rc == 0, "rc %s" % rc)
    finally:
        lb.stop()
        n1.close()
        n2.close()
    print("%d failed" % len(tp.FAILED) if tp.FAILED else "all healthz cases passed")
    if tp.FAILED:
        print("logs kept in " + tp.TMP)
    return 1 if tp.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
