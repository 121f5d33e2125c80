#!/usr/bin/env python3
"""The s3lb command line around the daemon: a start that health refuses (a pool's tls.ca that
cannot be read) ends with the error and status 1, not a crash; --help lists every command;
`s3lb version`, /status and the `s3lb status` table report the same version; `--watch 1` prints
the table every second until Ctrl-C; an admin command's error names the method
it sent."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_protocol as tp  # noqa: E402

TMP = tp.TMP


def cli(*args, timeout=10):
    return subprocess.run([tp.BIN] + list(args), capture_output=True, text=True, timeout=timeout)


def main():
    port, admin = tp.free_port(), tp.free_port()
    n1 = tp.Node("127.0.0.71")
    base = tp.config(port, admin, [n1.addr])

    bad = os.path.join(TMP, "bad-ca.yaml")
    with open(bad, "w") as f:
        f.write(base.replace("    nodes:\n",
                             "    tls: { enabled: true, ca: /nonexistent/ca.pem }\n    nodes:\n", 1))
    err_log = os.path.join(TMP, "s3lb.log")
    out = cli("check", "-c", bad)
    tp.check("the config with a missing tls.ca passes s3lb check (the file is read at start)",
             out.returncode == 0, out.stderr)
    out = cli("run", "-c", bad)
    log = open(err_log).read() if os.path.exists(err_log) else ""
    tp.check("s3lb run: a CA file health cannot load ends with the error and exit status 1",
             out.returncode == 1 and "/nonexistent/ca.pem" in log + out.stderr and
             "Sanitizer" not in out.stderr, "rc %d: %s %s" % (out.returncode, out.stderr[-800:],
                                                              log[-400:]))

    out = cli("--help")
    tp.check("s3lb --help lists drain and undrain",
             out.returncode == 0 and "s3lb drain NODE" in out.stdout and
             "s3lb undrain NODE" in out.stdout, out.stdout)

    src = os.environ.get("S3LB_SRC") or os.path.join(os.path.dirname(__file__), "../..")
    defs = subprocess.run(["grep", "-rln", "--include=*.[ch]", "--exclude-dir=build*",
                           "define S3LB_VERSION", src],
                          capture_output=True, text=True).stdout.split()
    defs = [r for r in (os.path.relpath(d, src) for d in defs) if not r.startswith("build")]
    tp.check("the version is defined in one place (core/version.h)", defs == ["core/version.h"],
             repr(defs))

    lb = tp.S3lb(base)
    try:
        tp.wait_port(admin)
        version = cli("version").stdout.strip()
        st = json.loads(cli("status", "--json", "-a", "127.0.0.1:%d" % admin).stdout)
        tp.check("s3lb version and /status report the same version",
                 version == "s3lb " + st["version"], "%r vs %r" % (version, st["version"]))
        table = cli("status", "-a", "127.0.0.1:%d" % admin).stdout
        tp.check("s3lb status (the table) starts with the same version",
                 table.startswith(version + ", up "), table)
        w = subprocess.Popen([tp.BIN, "status", "--watch", "1", "-a", "127.0.0.1:%d" % admin],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.5)
        w.send_signal(signal.SIGINT)
        wout, werr = w.communicate(timeout=5)
        tp.check("s3lb status --watch 1 prints the table every second until Ctrl-C",
                 wout.count("every 1s: s3lb status 127.0.0.1:%d (" % admin) >= 2 and
                 wout.count(version + ", up ") >= 2 and w.returncode == -signal.SIGINT,
                 repr((w.returncode, wout[-400:], werr)))
        out = cli("status", "--watch", "0", "-a", "127.0.0.1:%d" % admin)
        tp.check("s3lb status --watch 0 is refused (seconds from 1)",
                 out.returncode == 2 and "--watch 0" in out.stderr, out.stderr)
        out = cli("drain", "n1", "-c", lb.cfg)
        tp.check("a refused drain's error names POST /drain",
                 out.returncode == 1 and "POST /drain?node=n1 to 127.0.0.1:%d: HTTP 403" % admin
                 in out.stderr, out.stderr)
    finally:
        lb.stop()
    print("%d failed" % len(tp.FAILED) if tp.FAILED else "all cli cases passed")
    if tp.FAILED:
        print("logs kept in " + TMP)
    return 1 if tp.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
