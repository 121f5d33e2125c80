#!/usr/bin/python3
"""Helpers of bench/fault-matrix (run inside its network namespace), one per subcommand:

  delay-proxy LISTEN TARGET CONTROL   a TCP relay LISTEN -> TARGET that holds every chunk, both
                                      ways, for the milliseconds written in the file CONTROL
                                      (re-read every 100 ms; 0 or missing: no delay), order kept:
                                      the link delay this kernel cannot add (no sch_netem)
  abort-clients ENDPOINT BUCKET SECONDS WORKERS
                                      clients that give up mid-request through s3lb: PUTs of 2 MiB
                                      that stop after part of the body, GETs of a 4 MiB object that
                                      stop after 64 KiB, half closing with FIN and half with RST
                                      (SO_LINGER 0); then checks that no aborted PUT left an
                                      object, and prints one JSON line of counts
  hog ENDPOINT N SECONDS              opens N connections to ENDPOINT, sends one request on each
                                      (an unsigned GET: any HTTP answer counts) and holds them open
                                      for SECONDS, then closes them: to run s3lb out of file
                                      descriptors. Prints the connections opened, answered, closed
                                      or reset without an answer, and still unanswered at the end

Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Bounded in time and count.
"""
import asyncio
import json
import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integ"))
import s3raw  # noqa: E402


def hostport(s):
    h, _, p = s.rpartition(":")
    return h, int(p)


# ---- delay-proxy ----------------------------------------------------------------------------------

def delay_proxy(listen, target, control):
    lh, lp = hostport(listen)
    th, tp = hostport(target)
    state = {"ms": 0}

    async def watch():
        while True:
            try:
                with open(control) as f:
                    state["ms"] = max(0, int(f.read().strip() or 0))
            except (OSError, ValueError):
                state["ms"] = 0
            await asyncio.sleep(0.1)

    async def pump(r, w):
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await r.read(256 * 1024)
                if not data:
                    break
                due = loop.time() + state["ms"] / 1000.0
                # Holding each chunk until its due time keeps the order: a link delay.
                await asyncio.sleep(max(0.0, due - loop.time()))
                w.write(data)
                await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                w.close()
            except OSError:
                pass

    async def handle(cr, cw):
        try:
            ur, uw = await asyncio.open_connection(th, tp)
        except OSError:
            cw.close()
            return
        await asyncio.gather(pump(cr, uw), pump(ur, cw))

    async def main():
        srv = await asyncio.start_server(handle, lh, lp, reuse_address=True)
        asyncio.create_task(watch())
        async with srv:
            await srv.serve_forever()

    asyncio.run(main())


# ---- abort-clients --------------------------------------------------------------------------------

def abort_clients(endpoint, bucket, seconds, workers):
    host, port = hostport(endpoint.split("://", 1)[-1])
    signer = s3raw.Signer(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    c = s3raw.Client(host, port, signer, timeout=30)
    big = os.urandom(4 * 1024 * 1024)
    if c.send("PUT", f"/{bucket}", body=b"").status not in (200, 409):
        print(json.dumps({"error": "cannot create the bucket"}))
        return 1
    r = c.send("PUT", f"/{bucket}/abort-src", body=big)
    if r.status != 200:
        print(json.dumps({"error": f"PUT abort-src: HTTP {r.status}"}))
        return 1
    counts = {"put_aborted": 0, "get_aborted": 0, "errors": 0}
    keys = []
    lock = threading.Lock()
    stop = time.time() + seconds

    def close(s, rst):
        if rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()

    def worker(wid):
        rnd = random.Random(wid)
        n = 0
        while time.time() < stop:
            n += 1
            rst = rnd.random() < 0.5
            try:
                s = socket.create_connection((host, port), timeout=10)
                if rnd.random() < 0.5:
                    key = f"aborted/{wid}-{n}"
                    total = 2 * 1024 * 1024
                    hs, _ = c.signed_headers("PUT", f"/{bucket}/{key}", "", f"{host}:{port}",
                                             [("Content-Length", str(total))], "UNSIGNED-PAYLOAD")
                    s.sendall(c.head_bytes("PUT", f"/{bucket}/{key}", hs))
                    s.sendall(big[:rnd.randrange(1, total - 1)])
                    with lock:
                        keys.append(key)
                        counts["put_aborted"] += 1
                else:
                    hs, _ = c.signed_headers("GET", f"/{bucket}/abort-src", "", f"{host}:{port}", [],
                                             "UNSIGNED-PAYLOAD")
                    s.sendall(c.head_bytes("GET", f"/{bucket}/abort-src", hs))
                    got = 0
                    while got < 65536:
                        d = s.recv(65536)
                        if not d:
                            break
                        got += len(d)
                    with lock:
                        counts["get_aborted"] += 1
                time.sleep(rnd.random() * 0.02)
                close(s, rst)
            except OSError:
                with lock:
                    counts["errors"] += 1
                time.sleep(0.05)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    time.sleep(1)  # let s3lb and the nodes finish with the cut requests
    # An aborted PUT must not leave an object (the node never got the whole body).
    left = [k for k in keys if c.send("HEAD", f"/{bucket}/{k}").status != 404]
    counts["objects_left_by_aborted_puts"] = len(left)
    counts["first_left"] = left[0] if left else ""
    for k in left:
        c.send("DELETE", f"/{bucket}/{k}")
    c.send("DELETE", f"/{bucket}/abort-src")
    print(json.dumps(counts))
    return 0


# ---- hog ------------------------------------------------------------------------------------------

def hog(endpoint, n, seconds):
    host, port = hostport(endpoint.split("://", 1)[-1])
    socks, res = [], {"opened": 0, "refused": 0, "answered": 0, "closed": 0, "unanswered": 0}
    req = f"GET /s3lb-fm-hog/x HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    for _ in range(n):
        try:
            s = socket.create_connection((host, port), timeout=2)
            s.sendall(req)
            s.setblocking(False)
            socks.append(s)
            res["opened"] += 1
        except OSError:
            res["refused"] += 1
    # A connection s3lb accepted answers; one it could not accept (no descriptor) either waits in
    # the listen queue or is closed at once (libuv's EMFILE handling accepts and drops it).
    pending = {s: b"" for s in socks}
    deadline = time.time() + seconds
    while pending and time.time() < deadline:
        for s in list(pending):
            try:
                d = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            if d:
                pending[s] += d
                if b"\r\n" in pending[s]:
                    res["answered"] += 1
                    del pending[s]
            else:
                res["closed"] += 1
                del pending[s]
        time.sleep(0.05)
    rest = deadline - time.time()
    if rest > 0:
        time.sleep(rest)
    res["unanswered"] = len(pending)
    for s in socks:
        s.close()
    print(json.dumps(res))
    return 0


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "delay-proxy" and len(argv) == 5:
        return delay_proxy(argv[2], argv[3], argv[4])
    if cmd == "abort-clients" and len(argv) == 6:
        return abort_clients(argv[2], argv[3], float(argv[4]), int(argv[5]))
    if cmd == "hog" and len(argv) == 5:
        return hog(argv[2], int(argv[3]), float(argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv) or 0)
