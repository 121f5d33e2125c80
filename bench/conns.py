#!/usr/bin/python3
"""Memory rounds of bench/harness: many client connections held open against one proxy, with the
proxy's resident memory (VmRSS of the given PIDs, summed: master and workers) sampled meanwhile.

  conns.py idle --target HOST:PORT --path /bucket/key --conns N --pid PID [--pid PID] [--hold S]
      N keep-alive connections each make one GET of a small object, read the whole response,
      then stay open and idle. Reports RSS before, with all N idle (peak over --hold seconds), and
      how many connections were still open at the end (an idle connection the proxy closed is a
      failure: the figure would be for fewer connections).
  conns.py slow --target HOST:PORT --path /bucket/key1,/bucket/key2 --conns N --pid PID
                [--rate BYTES_PER_S] [--hold S] [--rcvbuf BYTES]
      N connections each GET a large object and read it slowly (--rate bytes per second per
      connection, small receive buffers), so the proxy holds N responses in flight that the
      clients do not drain. Reports RSS before and the peak during --hold seconds, the bytes each
      connection got, and how many were cut off before the end of the hold.

Prints one JSON object on stdout; exits 1 when a connection failed (refused, closed early, bad
status), so a memory figure is never reported for fewer connections than asked.
"""
import argparse
import json
import resource
import socket
import sys
import time


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            return None
    return total


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n + 100))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < n + 20:
        sys.exit(f"conns.py: {n} connections need {n + 20} descriptors; the limit is {hard}")


def connect(host, port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect((host, port))
    return s


def request(host, path):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: s3lb-bench-conns\r\n\r\n".encode()


def read_head(s):
    """Reads up to the end of the response head: (status, content-length, body bytes read)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = s.recv(4096)
        if not data:
            raise ConnectionError("closed before the response head")
        buf += data
        if len(buf) > 65536:
            raise ConnectionError("response head too large")
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status, clen = int(lines[0].split()[1]), None
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            clen = int(v.strip())
    return status, clen, len(rest)


def still_open(s):
    """True when the proxy has not closed the idle connection (no EOF, no error pending)."""
    s.setblocking(False)
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def cmd_idle(a):
    host, port = a.target.rsplit(":", 1)
    raise_nofile(a.conns)
    before = rss_kib(a.pid)
    socks, t0 = [], time.monotonic()
    req = request(a.target, a.path)
    for i in range(a.conns):
        try:
            s = connect(host, int(port))
            s.sendall(req)
            status, clen, got = read_head(s)
            while clen is not None and got < clen:
                data = s.recv(min(65536, clen - got))
                if not data:
                    raise ConnectionError(f"closed after {got} of {clen} body bytes")
                got += len(data)
            if status != 200 or clen is None:
                raise ConnectionError(f"status {status}, content-length {clen}")
        except (OSError, ValueError, IndexError) as e:
            sys.exit(f"conns.py: connection {i} of {a.conns}: {e}")
        socks.append(s)
    setup_s = time.monotonic() - t0
    peak, t_end = 0, time.monotonic() + a.hold
    while True:
        r = rss_kib(a.pid)
        if r is None:
            sys.exit("conns.py: a watched process is gone")
        peak = max(peak, r)
        if time.monotonic() >= t_end:
            break
        time.sleep(0.2)
    open_n = sum(1 for s in socks if still_open(s))
    for s in socks:
        s.close()
    print(json.dumps({"mode": "idle", "conns": a.conns, "setup_s": round(setup_s, 2), "hold_s": a.hold,
                      "rss_before_kib": before, "rss_peak_kib": peak, "still_open": open_n}))
    if open_n != a.conns:
        sys.exit(f"conns.py: {a.conns - open_n} idle connections were closed by the proxy")


def cmd_slow(a):
    host, port = a.target.rsplit(":", 1)
    paths = a.path.split(",")
    raise_nofile(a.conns)
    before = rss_kib(a.pid)
    socks, got, clens, cut = [], [], [], []
    t0 = time.monotonic()
    for i in range(a.conns):
        try:
            s = connect(host, int(port), a.rcvbuf)
            s.sendall(request(a.target, paths[i % len(paths)]))
            status, clen, n = read_head(s)
            if status != 200 or clen is None:
                raise ConnectionError(f"status {status}, content-length {clen}")
        except (OSError, ValueError, IndexError) as e:
            sys.exit(f"conns.py: slow reader {i} of {a.conns}: {e}")
        s.setblocking(False)
        socks.append(s)
        got.append(n)
        clens.append(clen)
        cut.append(None)
    setup_s = time.monotonic() - t0
    # Every reader reads --rate bytes per second (in steps of 0.1 s) for ramp + hold seconds; the
    # proxy's RSS is sampled over the hold.
    peak, start, t_end = 0, time.monotonic(), time.monotonic() + a.ramp + a.hold
    while time.monotonic() < t_end:
        now = time.monotonic()
        for i, s in enumerate(socks):
            if cut[i]:
                continue
            allow = int(a.rate * (now - start)) - got[i]
            while allow > 0:
                try:
                    data = s.recv(min(allow, 65536))
                except BlockingIOError:
                    break
                except OSError as e:
                    cut[i] = str(e)
                    break
                if not data:
                    cut[i] = "closed"
                    break
                got[i] += len(data)
                allow -= len(data)
        if now >= start + a.ramp:
            r = rss_kib(a.pid)
            if r is None:
                sys.exit("conns.py: a watched process is gone")
            peak = max(peak, r)
        time.sleep(max(0.0, 0.1 - (time.monotonic() - now)))
    for s in socks:
        s.close()
    bad = [c for c in cut if c]
    srt = sorted(got)
    print(json.dumps({"mode": "slow", "conns": a.conns, "setup_s": round(setup_s, 2),
                      "rate_bytes_per_s": a.rate, "rcvbuf": a.rcvbuf, "ramp_s": a.ramp, "hold_s": a.hold,
                      "rss_before_kib": before, "rss_peak_kib": peak, "cut_off": len(bad),
                      "body_bytes_min": srt[0], "body_bytes_median": srt[len(srt) // 2],
                      "body_bytes_max": srt[-1], "object_bytes": max(clens)}))
    if bad:
        sys.exit(f"conns.py: {len(bad)} of {a.conns} slow readers were cut off (first: {bad[0]})")
    if srt[-1] >= max(clens):
        sys.exit("conns.py: a reader got the whole object: not a slow reader (use a larger object)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["idle", "slow"])
    p.add_argument("--target", required=True, help="HOST:PORT of the proxy")
    p.add_argument("--path", required=True, help="object path(s), comma-separated for slow")
    p.add_argument("--conns", type=int, required=True)
    p.add_argument("--pid", type=int, action="append", required=True, help="a process to measure")
    p.add_argument("--hold", type=float, default=5.0, help="seconds to sample the RSS")
    p.add_argument("--rate", type=int, default=16384, help="slow: bytes per second per connection")
    p.add_argument("--rcvbuf", type=int, default=8192, help="slow: SO_RCVBUF of each connection")
    p.add_argument("--ramp", type=float, default=3.0, help="slow: seconds before sampling")
    a = p.parse_args()
    (cmd_idle if a.mode == "idle" else cmd_slow)(a)


if __name__ == "__main__":
    main()
