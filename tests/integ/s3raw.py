"""Byte-exact S3 requests for the integration tests: a SigV4 signer (header, presigned, and the
aws-chunked streaming variants) and a client that writes the request head and body exactly as
given, one connection per request, so tests can send what libraries refuse to (an empty header
value as `name:` with nothing after the colon, a trailer after a large chunk in one write).

Only the standard library: the tests that import it already run under /usr/bin/python3.
"""
import base64
import binascii
import hashlib
import hmac
import http.client
import socket
import time
import urllib.parse

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
REGION = "us-east-1"


def uri_encode(s, keep_slash=True):
    """S3's UriEncode: every byte but the unreserved ones is %XX; '/' kept in paths."""
    return urllib.parse.quote(s, safe="/~" if keep_slash else "~")


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class Signer:
    def __init__(self, access, secret, region=REGION):
        self.access, self.secret, self.region = access, secret, region

    def key(self, day):
        k = _hmac(("AWS4" + self.secret).encode(), day)
        k = _hmac(k, self.region)
        k = _hmac(k, "s3")
        return _hmac(k, "aws4_request")

    def scope(self, day):
        return f"{day}/{self.region}/s3/aws4_request"

    @staticmethod
    def canonical_query(query):
        pairs = []
        for part in query.split("&") if query else []:
            k, _, v = part.partition("=")
            pairs.append((uri_encode(urllib.parse.unquote(k), False),
                          uri_encode(urllib.parse.unquote(v), False)))
        return "&".join(f"{k}={v}" for k, v in sorted(pairs))

    def signature(self, method, path, query, headers, payload_hash, amz_date):
        """headers: (name, value) pairs, all of them signed. Returns (signed_headers, sig)."""
        canon = {}
        for k, v in headers:
            canon.setdefault(k.lower(), []).append(" ".join(v.split()))
        names = sorted(canon)
        creq = "\n".join([method, path, self.canonical_query(query),
                          "".join(f"{n}:{','.join(canon[n])}\n" for n in names),
                          ";".join(names), payload_hash])
        day = amz_date[:8]
        sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, self.scope(day),
                         hashlib.sha256(creq.encode()).hexdigest()])
        return ";".join(names), hmac.new(self.key(day), sts.encode(), hashlib.sha256).hexdigest()

    def authorization(self, signed, sig, amz_date):
        return (f"AWS4-HMAC-SHA256 Credential={self.access}/{self.scope(amz_date[:8])}, "
                f"SignedHeaders={signed}, Signature={sig}")

    def presign(self, method, host, path, expires=600, amz_date=None):
        """The query string of a presigned URL for host + path (UNSIGNED-PAYLOAD)."""
        amz_date = amz_date or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        q = (f"X-Amz-Algorithm=AWS4-HMAC-SHA256"
             f"&X-Amz-Credential={uri_encode(self.access + '/' + self.scope(amz_date[:8]), False)}"
             f"&X-Amz-Date={amz_date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host")
        _, sig = self.signature(method, path, q, [("host", host)], "UNSIGNED-PAYLOAD", amz_date)
        return q + "&X-Amz-Signature=" + sig

    def chunk_signatures(self, seed, amz_date, chunks):
        """STREAMING-AWS4-HMAC-SHA256-PAYLOAD: the signature of each chunk (the last is b"")."""
        day = amz_date[:8]
        prev, out = seed, []
        for c in chunks:
            sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, self.scope(day), prev,
                             EMPTY_SHA256, hashlib.sha256(c).hexdigest()])
            prev = hmac.new(self.key(day), sts.encode(), hashlib.sha256).hexdigest()
            out.append(prev)
        return out


def crc32_b64(data):
    return base64.b64encode((binascii.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")).decode()


class Response:
    def __init__(self, status, headers, body):
        self.status, self.body = status, body
        self.headers = [(k.lower(), v) for k, v in headers]

    def header(self, name, default=None):
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def all(self, name):
        return [v for k, v in self.headers if k == name]


class Client:
    """One endpoint (where to connect) and credentials. Every request is signed unless
    auth=False; header values are sent as given, an empty one as `name:`."""

    def __init__(self, host, port, signer, timeout=120):
        self.host, self.port, self.signer, self.timeout = host, port, signer, timeout

    def head_bytes(self, method, target, headers):
        lines = [f"{method} {target} HTTP/1.1"]
        for k, v in headers:
            lines.append(f"{k}:" if v == "" else f"{k}: {v}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    def signed_headers(self, method, path, query, host, headers, payload_hash, amz_date=None):
        amz_date = amz_date or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        hs = [("Host", host)] + list(headers) + [("x-amz-date", amz_date),
                                                 ("x-amz-content-sha256", payload_hash)]
        signed, sig = self.signer.signature(method, path, query, hs, payload_hash, amz_date)
        return hs + [("Authorization", self.signer.authorization(signed, sig, amz_date))], sig

    def send(self, method, path, query="", headers=(), body=b"", host=None,
             payload_hash="UNSIGNED-PAYLOAD", auth=True, framing=None, raw_body=None,
             amz_date=None):
        """path: already encoded. framing: None (Content-Length of body, for bodies and
        methods that carry one), or a list of extra framing headers when raw_body (bytes
        sent after the head as they are) carries its own framing."""
        host = host or f"{self.host}:{self.port}"
        hs = list(headers)
        if raw_body is None and (body or method in ("PUT", "POST")):
            hs.append(("Content-Length", str(len(body))))
        if framing:
            hs.extend(framing)
        if auth:
            hs, _ = self.signed_headers(method, path, query, host, hs, payload_hash, amz_date)
        else:
            hs = [("Host", host)] + hs
        target = path + ("?" + query if query else "")
        data = self.head_bytes(method, target, hs) + (raw_body if raw_body is not None else body)
        return self.exchange(method, data)

    def exchange(self, method, data):
        s = socket.create_connection((self.host, self.port), timeout=self.timeout)
        try:
            s.sendall(data)
            r = http.client.HTTPResponse(s, method=method)
            r.begin()
            body = r.read()
            return Response(r.status, r.getheaders(), body)
        finally:
            s.close()

    def streaming_put(self, path, data, chunk_size, host=None, headers=()):
        """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD PUT (aws-chunked with chunk signatures),
        framed by Content-Length, the way the AWS SDKs send it."""
        host = host or f"{self.host}:{self.port}"
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
        enc_len = sum(len(f"{len(c):x};chunk-signature=".encode()) + 64 + 2 + len(c) + 2
                      for c in chunks)
        hs = list(headers) + [("Content-Encoding", "aws-chunked"),
                              ("x-amz-decoded-content-length", str(len(data))),
                              ("Content-Length", str(enc_len))]
        hs, seed = self.signed_headers("PUT", path, "", host, hs,
                                       "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", amz_date)
        sigs = self.signer.chunk_signatures(seed, amz_date, chunks)
        body = b"".join(f"{len(c):x};chunk-signature={s}\r\n".encode() + c + b"\r\n"
                        for c, s in zip(chunks, sigs))
        assert len(body) == enc_len
        return self.exchange("PUT", self.head_bytes("PUT", path, hs) + body)

    def unsigned_trailer_put(self, path, data, chunk_size, host=None, http_chunked=False):
        """STREAMING-UNSIGNED-PAYLOAD-TRAILER: aws-chunked data chunks, then the
        x-amz-checksum-crc32 trailer. Framed by Content-Length (as the AWS SDKs do), or with
        http_chunked by Transfer-Encoding: chunked, the whole aws-chunked body as one chunk."""
        host = host or f"{self.host}:{self.port}"
        chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]
        enc = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks)
        enc += b"0\r\nx-amz-checksum-crc32:" + crc32_b64(data).encode() + b"\r\n\r\n"
        hs = [("Content-Encoding", "aws-chunked"), ("x-amz-decoded-content-length", str(len(data))),
              ("x-amz-trailer", "x-amz-checksum-crc32")]
        if http_chunked:
            hs.append(("Transfer-Encoding", "chunked"))
            raw = f"{len(enc):x}\r\n".encode() + enc + b"\r\n0\r\n\r\n"
        else:
            hs.append(("Content-Length", str(len(enc))))
            raw = enc
        hs, _ = self.signed_headers("PUT", path, "", host, hs, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        return self.exchange("PUT", self.head_bytes("PUT", path, hs) + raw)

    def chunked_put_with_trailer(self, path, data, trailers=(("x-amz-meta-trailer", "t"),), host=None):
        """An HTTP/1.1 chunked PUT (UNSIGNED-PAYLOAD) whose body is one chunk followed by HTTP
        trailer fields, all in one write."""
        host = host or f"{self.host}:{self.port}"
        hs = [("Transfer-Encoding", "chunked"), ("x-amz-decoded-content-length", str(len(data)))]
        hs, _ = self.signed_headers("PUT", path, "", host, hs, "UNSIGNED-PAYLOAD")
        raw = (f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n" +
               "".join(f"{k}: {v}\r\n" for k, v in trailers).encode() + b"\r\n")
        return self.exchange("PUT", self.head_bytes("PUT", path, hs) + raw)
