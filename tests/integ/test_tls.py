#!/usr/bin/env python3
"""TLS: termination at the frontend (TLS 1.2+, ALPN http/1.1, certificate reload on SIGHUP) and
TLS towards nodes with CA verification, against scripted nodes (see test_protocol.py)."""
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_protocol as tp  # noqa: E402

TMP = tp.TMP


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_ca(name):
    key, crt = os.path.join(TMP, name + ".key"), os.path.join(TMP, name + ".crt")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
            "-days", "2", "-subj", "/CN=" + name)
    return key, crt


def make_cert(name, ca, sans):
    key, csr, crt = (os.path.join(TMP, name + x) for x in (".key", ".csr", ".crt"))
    ext = os.path.join(TMP, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join(sans) + "\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj",
            "/CN=" + name)
    openssl("x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-CAcreateserial",
            "-out", crt, "-days", "2", "-extfile", ext)
    return key, crt


class TlsNode(tp.Node):
    """A scripted node behind TLS."""

    def __init__(self, host, cert):
        super().__init__(host)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert[1], cert[0])

    def serve(self, c):
        try:
            c = self.ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError):
            c.close()
            return
        super().serve(c)


def tls_get(port, ca, path="/bkt/k", alpn=("h2", "http/1.1"), server_hostname="s3.local",
            minv=None, maxv=None):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(list(alpn))
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # so that the client itself would speak it
    s = socket.create_connection(("127.0.0.1", port), 5)
    s = ctx.wrap_socket(s, server_hostname=server_hostname)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: s3.local\r\nConnection: close\r\n\r\n" % path.encode())
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    info = (s.version(), s.selected_alpn_protocol(), s.getpeercert()["serialNumber"])
    s.close()
    return out, info


def main():
    ca = make_ca("ca")
    other_ca = make_ca("otherca")
    fe1 = make_cert("frontend1", ca, ["DNS:s3.local", "IP:127.0.0.1"])
    fe2 = make_cert("frontend2", ca, ["DNS:s3.local", "IP:127.0.0.1"])
    node_cert = make_cert("node", ca, ["IP:127.0.0.41"])
    live_key, live_crt = os.path.join(TMP, "live.key"), os.path.join(TMP, "live.crt")
    for src, dst in ((fe1[0], live_key), (fe1[1], live_crt)):
        with open(src, "rb") as a, open(dst, "wb") as b:
            b.write(a.read())

    plain = tp.Node("127.0.0.42")
    tnode = TlsNode("127.0.0.41", node_cert)
    port, admin = tp.free_port(), tp.free_port()

    def cfg(node_ca):
        return (f"admin: {{ listen: 127.0.0.1:{admin} }}\n"
                f"log: {{ level: info, access: {TMP}/access.log, error: {TMP}/s3lb.log }}\n"
                f"pools:\n"
                f"  - name: plain\n    nodes:\n      - {{ name: p1, addr: {plain.addr} }}\n"
                f"  - name: secure\n    tls: {{ enabled: true, ca: {node_ca} }}\n"
                f"    nodes:\n      - {{ name: t1, addr: {tnode.addr} }}\n"
                f"frontends:\n  - name: s3\n    listen: [127.0.0.1:{port}]\n"
                f"    tls: {{ cert: {live_crt}, key: {live_key} }}\n"
                f"    domains: [s3.local]\n    routes:\n"
                f"      - {{ bucket: \"secure-*\", pool: secure }}\n"
                f"      - {{ pool: plain }}\n"
                f"workers: {tp.WORKERS}\n")

    lb = tp.S3lb(cfg(ca[1]))
    try:
        tp.wait_port(port)
        out, (ver, alpn, serial1) = tls_get(port, ca[1])
        tp.check("TLS frontend serves a request", out.startswith(b"HTTP/1.1 200"), repr(out[:200]))
        tp.check("ALPN picks http/1.1 when the client also offers h2", alpn == "http/1.1", alpn)
        tp.check("TLS 1.2 or newer negotiated", ver in ("TLSv1.2", "TLSv1.3"), ver)
        try:
            import warnings
            warnings.simplefilter("ignore", DeprecationWarning)
            tls_get(port, ca[1], maxv=ssl.TLSVersion.TLSv1_1, minv=ssl.TLSVersion.TLSv1)
            old_ok = True
        except (ssl.SSLError, OSError):
            old_ok = False
        tp.check("TLS 1.1 refused", not old_ok)
        out, _ = tls_get(port, ca[1], alpn=("http/1.1",))
        tp.check("plain HTTP to a TLS listener is refused, TLS still served",
                 tp.exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")[0][:9] != b"HTTP/1.1 "
                 and out.startswith(b"HTTP/1.1 200"))

        # a long-lived connection opened before the reload keeps working
        ctx = ssl.create_default_context(cafile=ca[1])
        keep = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 5),
                               server_hostname="s3.local")
        keep.sendall(b"GET /bkt/before HTTP/1.1\r\nHost: s3.local\r\n\r\n")
        first = b""
        while b"/bkt/before" not in first:
            d = keep.recv(65536)
            if not d:
                break
            first += d

        # certificate reload on SIGHUP
        for src, dst in ((fe2[0], live_key), (fe2[1], live_crt)):
            with open(src, "rb") as a, open(dst + ".tmp", "wb") as b:
                b.write(a.read())
            os.rename(dst + ".tmp", dst)
        lb.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        out, (_, _, serial2) = tls_get(port, ca[1])
        tp.check("SIGHUP reloads the certificate for new connections",
                 out.startswith(b"HTTP/1.1 200") and serial1 != serial2, "%s -> %s" % (serial1, serial2))
        keep.sendall(b"GET /bkt/after HTTP/1.1\r\nHost: s3.local\r\n\r\n")
        second = b""
        keep.settimeout(5)
        try:
            while b"/bkt/after" not in second:
                d = keep.recv(65536)
                if not d:
                    break
                second += d
        except OSError:
            pass
        keep.close()
        tp.check("a connection from before the reload finishes its requests",
                 first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200"),
                 repr((first[:60], second[:60])))

        # TLS towards a node, verified against the configured CA
        out, _ = tls_get(port, ca[1], path="/secure-b/k")
        tp.check("TLS to the node with CA verification",
                 out.startswith(b"HTTP/1.1 200") and b"127.0.0.41" in out, repr(out[:300]))
        # a node whose certificate the configured CA did not sign -> 503, nothing relayed
        lb.rewrite(cfg(other_ca[1]))
        lb.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        out, _ = tls_get(port, ca[1], path="/secure-b/k")
        tp.check("node certificate not trusted -> 503 ServiceUnavailable",
                 out.startswith(b"HTTP/1.1 503") and b"ServiceUnavailable" in out, repr(out[:300]))
        # a reload naming a missing certificate fails and keeps the running config
        bad = cfg(ca[1]).replace(live_crt, os.path.join(TMP, "missing.crt"))
        lb.rewrite(bad)
        lb.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        out, _ = tls_get(port, ca[1])
        with open(os.path.join(TMP, "s3lb.log")) as f:
            log = f.read()
        tp.check("a reload with a missing certificate is refused, the old config keeps serving",
                 out.startswith(b"HTTP/1.1 200") and "reload failed" in log and "missing.crt" in log,
                 log[-300:])
    finally:
        lb.stop()
    print("%d failed" % len(tp.FAILED) if tp.FAILED else "all TLS cases passed")
    return 1 if tp.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
