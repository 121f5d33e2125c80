#!/usr/bin/python3
"""A 5 GiB object streamed through s3lb to Ceph RGW and back, in bounded memory.

One PUT of exactly 5 GiB (S3's largest single PUT; UNSIGNED-PAYLOAD, Content-Length framing)
and one GET of it, both through s3lb; the bytes are made on the fly (1 MiB blocks, each stamped
with its index, so a lost, repeated or reordered block shows) and hashed as they go: the ETag
must be the MD5 of what was sent and the GET must return the same SHA-256. s3lb's resident
memory is sampled every 0.25 s during both and must stay within S3LB_BIG_RSS_MIB (default 64)
MiB of what it was before: a 5 GiB body must stream, not pile up. Deleted at the end (memstore
keeps objects in RAM; radosgw's GC frees the tail within a few minutes). Direct to RGW is not
repeated here (it would need a second 5 GiB in the 8 GiB memstore); the ground truth is what
the client sent. S3LB_BIG_SIZE (bytes) runs a smaller object, for trying the test out.

Prints the figures (MB/s, RSS before/peak/after) and "N passed, N failed".
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyharness  # noqa: E402

pyharness.under_lib_sh(__file__, "/usr/bin/python3")

import hashlib  # noqa: E402
import http.client  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import s3raw  # noqa: E402

NAME = os.environ.get("S3LB_INTEG_NAME", "test_big_object.py")
SIZE = int(os.environ.get("S3LB_BIG_SIZE", str(5 * 1024 ** 3)))
RSS_LIMIT_MIB = int(os.environ.get("S3LB_BIG_RSS_MIB", "64"))
PID = os.environ.get("S3LB_PID", "")
BLOCK = 1024 * 1024

signer = s3raw.Signer(os.environ["S3LB_ACCESS_KEY"], os.environ["S3LB_SECRET_KEY"])
LB = s3raw.Client(os.environ["S3LB_HOST"], int(os.environ["S3LB_PORT"]), signer, timeout=300)
PATTERN = os.urandom(BLOCK)
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {what}", flush=True)
    else:
        failed += 1
        print(f"FAIL {NAME}: {what}", flush=True)


def block(i, n):
    return (i.to_bytes(8, "big") + PATTERN[8:])[:n]


def rss_kib():
    try:
        with open(f"/proc/{PID}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """s3lb's VmRSS every 0.25 s while it runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.samples, self.stop = 0, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            r = rss_kib()
            self.peak = max(self.peak, r)
            self.samples += 1
            self.stop.wait(0.25)


def put(path):
    amz = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    hs, _ = LB.signed_headers("PUT", path, "", f"{LB.host}:{LB.port}",
                              [("Content-Length", str(SIZE))], "UNSIGNED-PAYLOAD", amz)
    md5, sha = hashlib.md5(), hashlib.sha256()
    s = socket.create_connection((LB.host, LB.port), timeout=300)
    try:
        s.sendall(LB.head_bytes("PUT", path, hs))
        for i in range((SIZE + BLOCK - 1) // BLOCK):
            b = block(i, min(BLOCK, SIZE - i * BLOCK))
            md5.update(b)
            sha.update(b)
            s.sendall(b)
        r = http.client.HTTPResponse(s, method="PUT")
        r.begin()
        body = r.read()
        return r.status, r.getheader("ETag", ""), body, md5.hexdigest(), sha.hexdigest()
    finally:
        s.close()


def get(path):
    amz = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    hs, _ = LB.signed_headers("GET", path, "", f"{LB.host}:{LB.port}", [], "UNSIGNED-PAYLOAD", amz)
    sha, n, first_bad = hashlib.sha256(), 0, -1
    s = socket.create_connection((LB.host, LB.port), timeout=300)
    try:
        s.sendall(LB.head_bytes("GET", path, hs))
        r = http.client.HTTPResponse(s, method="GET")
        r.begin()
        buf = b""
        while True:
            chunk = r.read(BLOCK)
            if not chunk:
                break
            sha.update(chunk)
            buf += chunk
            while len(buf) >= BLOCK or (buf and n + len(buf) == SIZE):
                blk, buf = buf[:BLOCK], buf[BLOCK:]
                if first_bad < 0 and blk != block(n // BLOCK, len(blk)):
                    first_bad = n // BLOCK
                n += len(blk)
        n += len(buf)
        return r.status, n, sha.hexdigest(), first_bad
    finally:
        s.close()


def main():
    if not PID:
        print("SKIPPED: S3LB_PID unset (s3lb not started by this test: S3LB_DIRECT/S3LB_ENDPOINT)")
        sys.exit(77)
    bucket = f"big-{time.strftime('%Y%m%d%H%M%S')}-{os.getpid()}"
    path = f"/{bucket}/five-gib.bin"
    gib = SIZE / 1024 ** 3
    r = LB.send("PUT", "/" + bucket, body=b"")
    check(r.status == 200, f"create bucket {bucket}: HTTP {r.status}")
    rss0 = rss_kib()
    try:
        sm = Sampler()
        sm.start()
        t0 = time.time()
        status, etag, body, md5, sha_sent = put(path)
        dt = time.time() - t0
        check(status == 200, f"PUT {gib:.2f} GiB: HTTP {status} in {dt:.1f}s "
              f"({SIZE / dt / 1e6:.0f} MB/s) {body[:200]!r}")
        check(etag.strip('"') == md5, f"PUT ETag {etag} is the MD5 of the bytes sent ({md5})")
        put_peak = sm.peak
        sm.peak = 0
        t0 = time.time()
        gstatus, n, sha_got, bad = get(path)
        dt = time.time() - t0
        sm.stop.set()
        sm.join()
        check(gstatus == 200 and n == SIZE,
              f"GET: HTTP {gstatus}, {n} of {SIZE} bytes in {dt:.1f}s ({n / dt / 1e6:.0f} MB/s)")
        check(sha_got == sha_sent and bad < 0,
              f"GET body sha256 {sha_got[:16]}... equals the PUT's {sha_sent[:16]}..."
              + (f" (first wrong block {bad})" if bad >= 0 else ""))
        rss1 = rss_kib()
        peak = max(put_peak, sm.peak)
        print(f"     s3lb RSS: before {rss0 / 1024:.1f} MiB, peak during PUT {put_peak / 1024:.1f} MiB, "
              f"during GET {sm.peak / 1024:.1f} MiB, after {rss1 / 1024:.1f} MiB ({sm.samples} samples)")
        check(peak - rss0 <= RSS_LIMIT_MIB * 1024,
              f"s3lb RSS grew by {(peak - rss0) / 1024:.1f} MiB at most (limit {RSS_LIMIT_MIB} MiB)")
    finally:
        LB.send("DELETE", path)
        LB.send("DELETE", "/" + bucket)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
