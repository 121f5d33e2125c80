#!/usr/bin/env python3
"""A drain survives a restart of s3lb (issue 13: a drained node came back undrained): s3lb drains
a node, is stopped and started again, and the node is still draining, gets no request, and the
drain_state file names it; undrained, then restarted, it is up and served again. A drain state
file naming a node no longer configured is skipped with a warning; one that cannot be read leaves
s3lb running, with the reason logged. ~6 s."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_admin as ta  # noqa: E402
import test_protocol as tp  # noqa: E402

TMP = tp.TMP


def served_by(port, n, nodes):
    """The nodes that got a request of n GETs through s3lb (by name: n1, n2), and any error."""
    before = [len(x.requests) for x in nodes]
    seen = set()
    for i in range(n):
        r = tp.responses(tp.exchange(port, b"GET /b/k%d HTTP/1.1\r\nHost: x\r\n"
                                     b"Connection: close\r\n\r\n" % i)[0])
        if not r or r[0][0] != 200:
            seen.add("error %r" % (r[0][0] if r else None))
    for i, x in enumerate(nodes):
        if len(x.requests) > before[i]:
            seen.add("n%d" % (i + 1))
    return seen


def main():
    n1, n2 = tp.Node("127.0.0.61"), tp.Node("127.0.0.62")
    nodes = [n1, n2]
    port, admin = tp.free_port(), tp.free_port()
    token_file = os.path.join(TMP, "admin.token")
    ta.write_token(token_file, 0o600)
    state_file = os.path.join(TMP, "state", "drained")  # its directory is made by s3lb
    cfg = tp.config(port, admin, [n1.addr, n2.addr]).replace(
        "admin: { listen: 127.0.0.1:%d }" % admin,
        "admin: { listen: 127.0.0.1:%d, token_file: %s }" % (admin, token_file))
    cfg += "drain_state: %s\n" % state_file
    auth = b"Authorization: Bearer " + ta.TOKEN.encode() + b"\r\n"

    lb = tp.S3lb(cfg)
    try:
        tp.wait_port(port)
        tp.check("both nodes serve at first", len(served_by(port, 20, nodes)) == 2)
        st, _, body = ta.ask(admin, "POST", "/drain?node=n1", auth)
        tp.check("n1 drained", st == 200 and ta.state(admin, "n1") == "draining", repr(body))
        with open(state_file) as f:
            lines = [x.strip() for x in f if x.strip() and not x.startswith("#")]
        tp.check("the drain state file names p/n1", lines == ["p/n1"], repr(lines))

        lb.stop()
        lb = tp.S3lb(cfg)
        tp.wait_port(port)
        tp.check("after a restart n1 is still draining", ta.state(admin, "n1") == "draining")
        got = served_by(port, 20, nodes)
        tp.check("... and gets no request", got == {"n2"}, repr(got))

        st, _, _ = ta.ask(admin, "POST", "/undrain?node=n1", auth)
        tp.check("n1 undrained", st == 200 and ta.state(admin, "n1") == "up")
        lb.stop()
        lb = tp.S3lb(cfg)
        tp.wait_port(port)
        tp.check("after another restart n1 is up", ta.state(admin, "n1") == "up")
        tp.check("... and served again", len(served_by(port, 20, nodes)) == 2)

        # a file naming a node the config no longer has, and a line that is not pool/node
        lb.stop()
        with open(state_file, "w") as f:
            f.write("# by hand\np/gone\nnonsense\np/n2\n")
        lb = tp.S3lb(cfg)
        tp.wait_port(port)
        time.sleep(0.2)
        with open(os.path.join(TMP, "s3lb.log"), errors="replace") as f:
            log = f.read()
        tp.check("unknown names are skipped with a warning, known ones drained",
                 ta.state(admin, "n2") == "draining" and ta.state(admin, "n1") == "up" and
                 "p/gone" in log and "not pool/node: 'nonsense'" in log, log[-600:])

        # a drain state that cannot be read: s3lb runs, says why
        lb.stop()
        os.unlink(state_file)
        os.mkdir(state_file)
        lb = tp.S3lb(cfg)
        tp.wait_port(port)
        time.sleep(0.2)
        with open(os.path.join(TMP, "s3lb.log"), errors="replace") as f:
            log = f.read()
        tp.check("an unreadable drain state is logged, s3lb serves",
                 "drains from before the restart are lost" in log and
                 len(served_by(port, 10, nodes)) == 2 and lb.proc.poll() is None, log[-400:])
    finally:
        lb.stop()
    print("%d failed" % len(tp.FAILED) if tp.FAILED else "all drain-restart cases passed")
    if tp.FAILED:
        print("logs kept in " + TMP)
    return 1 if tp.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
