#!/usr/bin/env python3
"""The differential invariant of issue 9, against a real s3lb process and scripted nodes.

Requests: for every request that s3lb relays, what a node receives parses (tests/integ/http1.py,
strict RFC 9112, nothing shared with llhttp) to the same method, target (absolute-form becomes
origin-form), version, field list (minus the hop-by-hop fields; s3lb appends X-Forwarded-For
and X-Real-IP and drops the client's X-Real-IP, docs/config.md), framing, body and trailers as
the client's request; for every request it refuses, no byte of it reaches a node (a request
refused for its body may have its head at the node, but the node connection is then cut before
the request completes), and the client gets an S3 XML error or a closed connection. A request
that the strict parse accepts must be relayed unless s3lb documents its refusal (gateway/head.h,
docs/architecture.md); one that only a lenient reading accepts (an RFC "MAY") may be relayed,
and must then match that reading.
Responses: every valid response a node sends (Content-Length, chunked with trailers, until
EOF, 1xx, HEAD / 204 / 304) reaches the client with the same status line, fields minus
hop-by-hop, body and trailers; an invalid one gives the client a 502 S3 error or an aborted
connection, never a complete response.

The corpus is generated: the header-level edge cases of issue 9 and the grammar's edges, with a
few bodies. Each case runs whole and cut in two: at the bytes next to CR, LF, ':', ';' or SP (at
most 3 x INVARIANT_SPLITS of them, sampled) and at a seeded sample of the other positions
(INVARIANT_SPLITS per case, default 16; "all" for every position; no new exchange starts
after INVARIANT_BUDGET seconds, default 75), each on its own client connection,
INVARIANT_CONNS (default 16) at once with their pieces sent in alternation, so that s3lb parses
other connections between the two reads of one (INVARIANT_CASES=REGEX: only the cases whose
name matches). Each request carries a unique id in its target, by which the node's messages are
matched to what the client sent. Prints the failures (grouped per case, at most 60 lines), the
counts, and exits 1 on any failure.
"""
import os
import random
import re
import selectors
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http1  # noqa: E402
import test_protocol as tp  # noqa: E402  (BIN, TMP, free_port, wait_port, S3lb)

STRICT = http1.STRICT
# what an RFC lets a recipient accept; a relayed request read only this way must match it
LAX = http1.Opts(bare_lf=True, obs_fold=True, nul_sp=True, lax_target=True, ws_line=True,
                 dup_cl=True, ws_first_line=True)
# the node's reading: strict, but the request-target is relayed as the client wrote it (s3lb
# does not normalise targets: signatures cover them), so only its bytes are checked
NODE = http1.Opts(lax_target=True)
MAX_HEADER_SIZE = 4096
MAX_HEADERS = 30
MAX_INTERIM = 16  # docs/architecture.md: at most 16 1xx per request, then the connection aborts
PH = b"@@@@@@@@@@"  # where an id goes: as long as one (zq + 7 digits + a letter)
PH_RE = re.compile(rb"@{10}")
ID_RE = re.compile(rb"zq(\d{7})([a-z])")
SPLITS = os.environ.get("INVARIANT_SPLITS", "16")
# the exchanges stop starting after this many seconds (0: no bound); the run says so
BUDGET = float(os.environ.get("INVARIANT_BUDGET", "75"))
CASES = re.compile(os.environ.get("INVARIANT_CASES", ""))  # only the cases whose name matches
CONNS = int(os.environ.get("INVARIANT_CONNS", "16"))
GAP = 0.002  # seconds between the pieces of one exchange
READ_TIMEOUT = 10.0  # only a divergence waits this long; s3lb's own timers are shorter
FAILS = []
INFO = {"lenient": 0, "cut": 0, "lenient_cases": set()}


def fail(msg):
    FAILS.append(msg)


# ---- the request corpus -------------------------------------------------------------------------

def req(method=b"GET", target=b"/bkt/@@@@@@@@@@", version=b"HTTP/1.1", fields=(b"Host: s3.local",),
        body=b"", lead=b""):
    head = lead + method + b" " + target + b" " + version + b"\r\n"
    return head + b"".join(f + b"\r\n" for f in fields) + b"\r\n" + body


HOST = b"Host: s3.local"
VICTIM = req()  # a plain request after the edge case on the same connection
CL_BODY = b"hello world"
CHUNKED = b"5;e=1\r\nhello\r\n6\r\n world\r\n0\r\nx-t: v\r\n\r\n"
BAIT = b"GET /bkt/@@@@@@@@@@ HTTP/1.1\r\nHost: s3.local\r\n\r\n"  # a body that looks like a request


def with_body(kind, fields):
    """fields plus the framing of one of the bodies, as (fields, body)."""
    if kind == "none":
        return list(fields), b""
    if kind == "cl":
        return list(fields) + [b"Content-Length: %d" % len(CL_BODY)], CL_BODY
    if kind == "bait":
        return list(fields) + [b"Content-Length: %d" % len(BAIT)], BAIT
    return list(fields) + [b"Transfer-Encoding: chunked"], CHUNKED


# Field-level edge cases: (name, field lines after Host). Each runs with every body kind.
FIELD_EDGES = [
    ("plain", []),
    ("empty value", [b"X-A:"]),
    ("empty value, then more", [b"X-A:", b"X-B: 1"]),
    ("space-only value", [b"X-A: "]),
    ("whitespace-only value", [b"X-A: \t \t"]),
    ("empty x-amz-meta", [b"x-amz-meta-e:"]),
    ("OWS around value", [b"X-A: \t v  w \t"]),
    ("no OWS", [b"X-A:v"]),
    ("every tchar in a name", [b"!#$%&'*+-.^_`|~09azAZ: 1"]),
    ("every vchar in a value", [b"X-V: " + bytes(range(0x21, 0x7F))]),
    ("obs-text in a value", [b"x-amz-meta-u: caf\xc3\xa9 \x80\xff"]),
    ("HTAB inside a value", [b"X-A: a\tb"]),
    ("Connection: close", [b"Connection: close"]),
    ("Connection: keep-alive", [b"Connection: keep-alive"]),
    ("Connection names a field", [b"Connection: X-Drop", b"X-Drop: 1", b"X-Keep: 2"]),
    ("Connection list with empties", [b"Connection: , X-Drop ,,", b"X-Drop: 1"]),
    ("hop-by-hop set", [b"Keep-Alive: 5", b"TE: trailers", b"Upgrade: h2c",
                        b"Proxy-Connection: keep-alive"]),
    ("Connection names Content-Length", [b"Connection: Content-Length"]),
    ("Connection names Transfer-Encoding", [b"Connection: transfer-encoding"]),
    ("Connection names Host", [b"Connection: Host"]),
    ("Connection names Host among others", [b"Connection: keep-alive, HOST"]),
    ("client X-Real-IP replaced", [b"X-Real-IP: 6.6.6.6"]),
    ("client X-Forwarded-For kept", [b"X-Forwarded-For: 10.0.0.1"]),
    ("obs-fold", [b"X-A: a", b" b"]),
    ("obs-fold with HTAB", [b"X-A: a", b"\tb"]),
    ("space before colon", [b"X-A : 1"]),
    ("empty name", [b": 1"]),
    ("no colon", [b"X-A"]),
    ("bad byte in name (\")", [b"X\"A: 1"]),
    ("bad byte in name (/)", [b"X/A: 1"]),
    ("obs-text in name", [b"X\x80A: 1"]),
    ("NUL in value", [b"X-A: a\x00b"]),
    ("NUL in name", [b"X-\x00: 1"]),
    ("bare CR in value", [b"X-A: a\rb"]),
    ("bare CR before CRLF", [b"X-A: a\r"]),
    ("control 0x01 in value", [b"X-A: a\x01b"]),
    ("control 0x0b in value", [b"X-A: a\x0bb"]),
    ("DEL in value", [b"X-A: a\x7fb"]),
    ("ESC in value", [b"X-A: \x1b[0m"]),
    ("bare LF in a field line", [b"X-A: 1\nX-B: 2"]),
    ("bare LF ends the head", [b"X-A: 1\n"]),
    ("long value under the limit", [b"X-L: " + b"v" * 3000]),
    ("value over the header limit", [b"X-L: " + b"v" * 5000]),
    ("too many fields", [b"X-N%d: %d" % (i, i) for i in range(MAX_HEADERS + 2)]),
]

# Whole requests: (name, bytes). PH (ten @) is replaced by the exchange's ids.
WHOLE = [
    ("leading CRLF", req(b"DELETE", lead=b"\r\n")),
    ("two leading CRLF", req(b"DELETE", lead=b"\r\n\r\n")),
    ("leading bare LF", req(b"DELETE", lead=b"\n")),
    ("leading bare CR", req(lead=b"\r")),
    ("leading space", req(lead=b" ")),
    ("bare LF after the request line", req().replace(b"HTTP/1.1\r\n", b"HTTP/1.1\n", 1)),
    ("all bare LF", req(fields=(HOST, b"X-A: 1")).replace(b"\r\n", b"\n")),
    ("bare CR after the request line", req().replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r", 1)),
    ("obs-fold as the first line", req(fields=(b" X-A: 1", HOST))),
    ("HEAD", req(b"HEAD")),
    ("DELETE", req(b"DELETE")),
    ("OPTIONS", req(b"OPTIONS")),
    ("POST with CL 0", req(b"POST", b"/bkt/@@@@@@@@@@?uploads",
                           fields=(HOST, b"Content-Length: 0"))),
    ("lowercase method", req(b"get")),
    ("unknown method", req(b"FROB")),
    ("method with tchar", req(b"M-SEARCH")),
    ("CONNECT", req(b"CONNECT", b"s3.local:443", fields=(HOST, b"X-Id: @@@@@@@@@@"))),
    ("OPTIONS *", req(b"OPTIONS", b"*", fields=(HOST, b"X-Id: @@@@@@@@@@"))),
    ("double space in request line", req(target=b" /bkt/@@@@@@@@@@")),
    ("HTAB in request line", req().replace(b"GET ", b"GET\t", 1)),
    ("space in target", req(target=b"/bkt/@@@@@@@@@@ x")),
    ("NUL in target", req(target=b"/bkt/@@@@@@@@@@\x00")),
    ("fragment in target", req(target=b"/bkt/@@@@@@@@@@#frag")),
    ("bad percent-encoding", req(target=b"/bkt/@@@@@@@@@@%zz")),
    ("target over the header limit", req(target=b"/bkt/@@@@@@@@@@/" + b"k" * 5000)),
    ("percent-encoded key", req(target=b"/bkt/@@@@@@@@@@/a%2Fb%20c?x-id=GetObject&versionId=null")),
    ("query with every allowed byte", req(target=b"/bkt/@@@@@@@@@@?a=b&c=!$&'()*+,;=:@/?%41~")),
    ("obs-text in target", req(target=b"/bkt/@@@@@@@@@@/caf\xc3\xa9")),
    ("absolute-form", req(target=b"http://s3.local/bkt/@@@@@@@@@@?x=%2F")),
    ("absolute-form https", req(target=b"https://s3.local/bkt/@@@@@@@@@@")),
    ("absolute-form with port", req(target=b"http://s3.local:80/bkt/@@@@@@@@@@",
                                    fields=(b"Host: s3.local:80",))),
    ("absolute-form, case of host", req(target=b"http://S3.LOCAL/bkt/@@@@@@@@@@")),
    ("absolute-form, other Host", req(target=b"http://s3.local/bkt/@@@@@@@@@@",
                                      fields=(b"Host: bkt.s3.local",))),
    ("absolute-form, foreign", req(target=b"http://example.com/bkt/@@@@@@@@@@",
                                   fields=(b"Host: example.com",))),
    ("absolute-form without path", req(target=b"http://s3.local?@@@@@@@@@@")),
    ("absolute-form, ftp", req(target=b"ftp://s3.local/bkt/@@@@@@@@@@")),
    ("HTTP/1.0", req(version=b"HTTP/1.0")),
    ("HTTP/1.0 keep-alive, pipelined", req(version=b"HTTP/1.0",
                                            fields=(HOST, b"Connection: keep-alive")) + VICTIM),
    ("HTTP/1.0 without keep-alive, pipelined", req(version=b"HTTP/1.0") + VICTIM),
    ("HTTP/1.0 without Host", req(version=b"HTTP/1.0", fields=())),
    ("HTTP/1.0 with CL", req(b"PUT", version=b"HTTP/1.0",
                             fields=(HOST, b"Content-Length: 11"), body=CL_BODY)),
    ("HTTP/1.0 chunked", req(b"PUT", version=b"HTTP/1.0",
                             fields=(HOST, b"Transfer-Encoding: chunked"), body=CHUNKED)),
    ("HTTP/1.2", req(version=b"HTTP/1.2")),
    ("HTTP/2.0", req(version=b"HTTP/2.0")),
    ("HTTP/0.9 style", b"GET /bkt/@@@@@@@@@@\r\n\r\n"),
    ("lowercase version", req(version=b"http/1.1")),
    ("version with trailing space", req(version=b"HTTP/1.1 ")),
    ("no Host", req(fields=())),
    ("empty Host", req(fields=(b"Host:",))),
    ("whitespace-only Host", req(fields=(b"Host:  \t",))),
    ("two Host fields", req(fields=(HOST, HOST))),
    ("Host list", req(fields=(b"Host: s3.local, s3.local",))),
    ("Host with port", req(fields=(b"Host: s3.local:8080",))),
    ("Host with empty port", req(fields=(b"Host: s3.local:",))),
    ("Host with bad port", req(fields=(b"Host: s3.local:8x",))),
    ("Host with userinfo", req(fields=(b"Host: u@s3.local",))),
    ("Host with a space", req(fields=(b"Host: s3 .local",))),
    ("Host lowercase name, OWS", req(fields=(b"host:\t s3.local \t",))),
    ("Host virtual-hosted", req(target=b"/@@@@@@@@@@", fields=(b"Host: bkt.s3.local",))),
    ("Host IPv4", req(fields=(b"Host: 127.0.0.1",))),
    ("Host IPv6", req(fields=(b"Host: [::1]:80",))),
    ("Host unclosed IPv6", req(fields=(b"Host: [::1",))),
    ("Host foreign", req(fields=(b"Host: example.com",))),
    # Content-Length
    ("CL leading zeros", req(b"PUT", fields=(HOST, b"Content-Length: 0011"), body=CL_BODY)),
    ("CL two equal fields", req(b"PUT", fields=(HOST, b"Content-Length: 11",
                                                b"Content-Length: 11"), body=CL_BODY)),
    ("CL equal list", req(b"PUT", fields=(HOST, b"Content-Length: 11, 11"), body=CL_BODY)),
    ("CL two different", req(b"PUT", fields=(HOST, b"Content-Length: 11",
                                             b"Content-Length: 5"), body=CL_BODY)),
    ("CL different list", req(b"PUT", fields=(HOST, b"Content-Length: 5, 11"), body=CL_BODY)),
    ("CL plus sign", req(b"PUT", fields=(HOST, b"Content-Length: +11"), body=CL_BODY)),
    ("CL negative", req(b"PUT", fields=(HOST, b"Content-Length: -1"), body=CL_BODY)),
    ("CL hex", req(b"PUT", fields=(HOST, b"Content-Length: 0xb"), body=CL_BODY)),
    ("CL empty", req(b"PUT", fields=(HOST, b"Content-Length:"), body=CL_BODY)),
    ("CL with inner space", req(b"PUT", fields=(HOST, b"Content-Length: 1 1"), body=CL_BODY)),
    ("CL overflow", req(b"PUT", fields=(HOST, b"Content-Length: 99999999999999999999"),
                        body=CL_BODY)),
    ("CL short body then victim", req(b"PUT", fields=(HOST, b"Content-Length: 3"),
                                      body=b"abc") + VICTIM),
    # Transfer-Encoding with Content-Length
    ("CL then TE", req(b"PUT", fields=(HOST, b"Content-Length: 3",
                                       b"Transfer-Encoding: chunked"), body=CHUNKED)),
    ("TE then CL", req(b"PUT", fields=(HOST, b"Transfer-Encoding: chunked",
                                       b"Content-Length: 3"), body=CHUNKED)),
    ("TE with CL 0", req(b"PUT", fields=(HOST, b"Transfer-Encoding: chunked",
                                         b"Content-Length: 0"), body=CHUNKED)),
    # Transfer-Encoding variants
    ("TE Chunked", req(b"PUT", fields=(HOST, b"Transfer-Encoding: Chunked"), body=CHUNKED)),
    ("TE with OWS", req(b"PUT", fields=(HOST, b"Transfer-Encoding:  chunked \t"), body=CHUNKED)),
    ("TE chunked twice", req(b"PUT", fields=(HOST, b"Transfer-Encoding: chunked, chunked"),
                             body=CHUNKED)),
    ("TE two fields chunked", req(b"PUT", fields=(HOST, b"Transfer-Encoding: chunked",
                                                  b"Transfer-Encoding: chunked"), body=CHUNKED)),
    ("TE gzip, chunked", req(b"PUT", fields=(HOST, b"Transfer-Encoding: gzip, chunked"),
                             body=CHUNKED)),
    ("TE chunked, gzip", req(b"PUT", fields=(HOST, b"Transfer-Encoding: chunked, gzip"),
                             body=CHUNKED)),
    ("TE gzip", req(b"PUT", fields=(HOST, b"Transfer-Encoding: gzip"), body=CHUNKED)),
    ("TE identity", req(b"PUT", fields=(HOST, b"Transfer-Encoding: identity"), body=CHUNKED)),
    ("TE xchunked", req(b"PUT", fields=(HOST, b"Transfer-Encoding: xchunked"), body=CHUNKED)),
    ("TE chunked with empty element", req(b"PUT", fields=(HOST, b"Transfer-Encoding: , chunked"),
                                          body=CHUNKED)),
    ("TE empty", req(b"PUT", fields=(HOST, b"Transfer-Encoding:"), body=CHUNKED)),
    ("TE obs-fold", req(b"PUT", fields=(HOST, b"Transfer-Encoding:", b" chunked"), body=CHUNKED)),
    ("TE with a space before colon", req(b"PUT", fields=(HOST, b"Transfer-Encoding : chunked"),
                                         body=CHUNKED)),
]

CHUNK_EDGES = [
    ("chunk size leading zeros", b"0005\r\nhello\r\n0\r\n\r\n"),
    ("chunk size uppercase hex", b"B\r\nhello world\r\n0\r\n\r\n"),
    ("chunk ext token", b"5;a=b\r\nhello\r\n0;z\r\n\r\n"),
    ("chunk ext quoted", b"5;a=\"q \\\" ;x\"\r\nhello\r\n0\r\n\r\n"),
    ("chunk ext BWS", b"5 ; a = b\r\nhello\r\n0\r\n\r\n"),
    ("chunk ext several", b"5;a;b=c;d=\"e\"\r\nhello\r\n0\r\n\r\n"),
    ("chunk ext bad byte", b"5;a@b\r\nhello\r\n0\r\n\r\n"),
    ("chunk ext without name", b"5;=b\r\nhello\r\n0\r\n\r\n"),
    ("chunk ext with an empty value", b"5;a=\r\nhello\r\n0\r\n\r\n"),
    ("chunk ext with an empty quoted value", b"5;a=\"\"\r\nhello\r\n0\r\n\r\n"),
    ("chunk size with trailing space", b"5 \r\nhello\r\n0\r\n\r\n"),
    ("chunk size 0x", b"0x5\r\nhello\r\n0\r\n\r\n"),
    ("chunk size negative", b"-5\r\nhello\r\n0\r\n\r\n"),
    ("chunk size empty", b"\r\nhello\r\n0\r\n\r\n"),
    ("chunk size overflow", b"10000000000000005\r\nhello\r\n0\r\n\r\n"),
    ("chunk data without CRLF", b"5\r\nhelloX\r\n0\r\n\r\n"),
    ("chunk data longer than size", b"3\r\nhello\r\n0\r\n\r\n"),
    ("chunk line bare LF", b"5\nhello\r\n0\r\n\r\n"),
    ("chunk data bare LF", b"5\r\nhello\n0\r\n\r\n"),
    ("last chunk bare LF", b"5\r\nhello\r\n0\n\n"),
    ("chunk size bare CR", b"5\rhello\r\n0\r\n\r\n"),
    ("many small chunks", b"".join(b"1\r\n%c\r\n" % c for c in b"abcdefghij") + b"0\r\n\r\n"),
    ("empty chunked body", b"0\r\n\r\n"),
    ("trailers", b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32: AAAA\r\nX-T2: b\r\n\r\n"),
    ("trailer with empty value", b"5\r\nhello\r\n0\r\nx-t:\r\nx-u: \r\n\r\n"),
    ("trailer Content-Length", b"5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n"),
    ("trailer obs-fold", b"5\r\nhello\r\n0\r\nx-t: a\r\n b\r\n\r\n"),
    ("trailer without colon", b"5\r\nhello\r\n0\r\nx-t\r\n\r\n"),
    ("trailer NUL", b"5\r\nhello\r\n0\r\nx-t: a\x00\r\n\r\n"),
    ("trailer bare LF", b"5\r\nhello\r\n0\r\nx-t: a\n\r\n"),
    ("long chunk extension", b"5;" + b"e" * 5000 + b"=v\r\nhello\r\n0\r\n\r\n"),
    ("big trailer", b"5\r\nhello\r\n0\r\nx-t: " + b"t" * 3000 + b"\r\n\r\n"),
    ("chunked body with a request inside", b"%x\r\n" % len(BAIT) + BAIT + b"\r\n0\r\n\r\n"),
]


def request_corpus():
    out = []
    for name, fields in FIELD_EDGES:
        for kind in ("none", "cl", "chunked", "bait"):
            if kind == "bait" and name not in ("plain", "empty value", "space-only value",
                                                "Connection names Content-Length",
                                                "Connection names Host", "obs-fold",
                                                "bare LF in a field line"):
                continue
            f, body = with_body(kind, [HOST] + fields)
            method = b"GET" if kind == "none" else b"PUT"
            raw = req(method, fields=f, body=body)
            # a body-less request is followed by a plain one on the same connection
            if kind == "none" and b"Connection: close" not in raw:
                raw += VICTIM
            out.append(("%s [%s]" % (name, kind), raw))
    for name, raw in WHOLE:
        out.append((name, raw))
    for name, body in CHUNK_EDGES:
        out.append((name, req(b"PUT", fields=(HOST, b"Transfer-Encoding: chunked"), body=body)
                    + VICTIM))
    return out


# ---- the response corpus ------------------------------------------------------------------------

def resp(status=b"200 OK", fields=(), body=b"", version=b"HTTP/1.1"):
    return version + b" " + status + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + \
        b"\r\n" + body


RCHUNKED = b"5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32: AAAA\r\nx-e:\r\n\r\n"
# (name, client method, client version, raw response, node closes after it)
RESPONSES = [
    ("CL", b"GET", b"1.1", resp(fields=(b"Content-Length: 5",), body=b"hello"), False),
    ("CL 0", b"GET", b"1.1", resp(fields=(b"Content-Length: 0",)), False),
    ("CL with leading zeros", b"GET", b"1.1", resp(fields=(b"Content-Length: 005",),
                                                   body=b"hello"), False),
    ("chunked with trailers", b"GET", b"1.1", resp(fields=(b"Transfer-Encoding: chunked",),
                                                    body=RCHUNKED), False),
    ("chunked, empty", b"GET", b"1.1", resp(fields=(b"Transfer-Encoding: chunked",),
                                             body=b"0\r\n\r\n"), False),
    ("until EOF", b"GET", b"1.1", resp(body=b"to the end\r\n\r\nof it"), True),
    ("until EOF, TE gzip", b"GET", b"1.1", resp(fields=(b"Transfer-Encoding: gzip",),
                                                 body=b"\x1f\x8b zipped"), True),
    ("HTTP/1.0 response", b"GET", b"1.1", resp(version=b"HTTP/1.0",
                                                fields=(b"Content-Length: 5",), body=b"hello"),
     True),
    ("100 then 200", b"GET", b"1.1", resp(b"100 Continue") + resp(
        fields=(b"Content-Length: 2",), body=b"ok"), False),
    ("three 102 then 200", b"GET", b"1.1", resp(b"102 Processing") * 3 + resp(
        fields=(b"Content-Length: 2",), body=b"ok"), False),
    ("103 with fields", b"GET", b"1.1", resp(b"103 Early Hints", (b"Link: </a>; rel=preload",))
     + resp(fields=(b"Content-Length: 2",), body=b"ok"), False),
    ("1xx to an HTTP/1.0 client", b"GET", b"1.0", resp(b"102 Processing") + resp(
        fields=(b"Content-Length: 2",), body=b"ok"), False),
    ("17 1xx", b"GET", b"1.1", resp(b"102 Processing") * (MAX_INTERIM + 1) + resp(
        fields=(b"Content-Length: 2",), body=b"ok"), False),
    ("HEAD", b"HEAD", b"1.1", resp(fields=(b"Content-Length: 1234", b"ETag: \"e\"")), False),
    ("HEAD chunked", b"HEAD", b"1.1", resp(fields=(b"Transfer-Encoding: chunked",)), False),
    ("204", b"DELETE", b"1.1", resp(b"204 No Content", (b"x-amz-id-2: x",)), False),
    ("304 with CL", b"GET", b"1.1", resp(b"304 Not Modified", (b"Content-Length: 10",
                                                               b"ETag: \"e\"")), False),
    ("empty reason", b"GET", b"1.1", resp(b"200 ", (b"Content-Length: 2",), b"ok"), False),
    ("reason with obs-text", b"GET", b"1.1", resp(b"200 \xc3\xa9 ok\t!", (b"Content-Length: 2",),
                                                   b"ok"), False),
    ("404 XML", b"GET", b"1.1", resp(b"404 Not Found", (b"Content-Type: application/xml",
                                                         b"Content-Length: 39"),
                                      b"<Error><Code>NoSuchKey</Code></Error>\r\n"), False),
    ("empty and whitespace-only values", b"GET", b"1.1", resp(fields=(
        b"x-amz-meta-a:", b"x-amz-meta-b: \t ", b"ETag: \"e\"", b"Content-Length: 3"),
        body=b"bar"), False),
    ("every vchar, obs-text", b"GET", b"1.1", resp(fields=(
        b"X-V: " + bytes(range(0x21, 0x7F)), b"X-O: \x80\xff", b"Content-Length: 3"),
        body=b"bar"), False),
    ("hop-by-hop fields", b"GET", b"1.1", resp(fields=(
        b"Connection: X-Hop", b"X-Hop: 1", b"Keep-Alive: timeout=5", b"X-Keep: 2",
        b"Content-Length: 3"), body=b"bar"), False),
    ("Connection names Content-Length", b"GET", b"1.1", resp(fields=(
        b"Connection: Content-Length", b"Content-Length: 3"), body=b"bar"), False),
    ("chunked to an HTTP/1.0 client", b"GET", b"1.0", resp(fields=(
        b"Transfer-Encoding: chunked",), body=RCHUNKED), False),
    ("keep-alive to an HTTP/1.0 client", b"GET", b"1.0", resp(fields=(
        b"Content-Length: 5",), body=b"hello"), False),
    # invalid: a 502 or an aborted connection, never a complete response
    ("bare LF", b"GET", b"1.1", resp(fields=(b"Content-Length: 2",), body=b"ok").replace(
        b"\r\n", b"\n"), True),
    ("two CL", b"GET", b"1.1", resp(fields=(b"Content-Length: 2", b"Content-Length: 3"),
                                    body=b"okk"), True),
    ("CL list", b"GET", b"1.1", resp(fields=(b"Content-Length: 2, 2",), body=b"ok"), True),
    ("CL + TE", b"GET", b"1.1", resp(fields=(b"Content-Length: 2", b"Transfer-Encoding: chunked"),
                                     body=b"0\r\n\r\n"), True),
    ("CL junk", b"GET", b"1.1", resp(fields=(b"Content-Length: 2x",), body=b"ok"), True),
    ("status 600", b"GET", b"1.1", resp(b"600 Odd", (b"Content-Length: 2",), b"ok"), True),
    ("status 99", b"GET", b"1.1", resp(b"099 Odd", (b"Content-Length: 2",), b"ok"), True),
    ("two-digit status", b"GET", b"1.1", resp(b"20 OK", (b"Content-Length: 2",), b"ok"), True),
    ("HTTP/2.0 status line", b"GET", b"1.1", resp(version=b"HTTP/2.0",
                                                  fields=(b"Content-Length: 2",), body=b"ok"),
     True),
    ("NUL in a value", b"GET", b"1.1", resp(fields=(b"X-A: a\x00b", b"Content-Length: 2"),
                                            body=b"ok"), True),
    ("obs-fold", b"GET", b"1.1", resp(fields=(b"X-A: a", b" b", b"Content-Length: 2"),
                                      body=b"ok"), True),
    ("space before colon", b"GET", b"1.1", resp(fields=(b"X-A : 1", b"Content-Length: 2"),
                                                body=b"ok"), True),
    ("bad chunk size", b"GET", b"1.1", resp(fields=(b"Transfer-Encoding: chunked",),
                                            body=b"5\r\nhello\r\nzz\r\n\r\n"), True),
    ("truncated CL body", b"GET", b"1.1", resp(fields=(b"Content-Length: 10",), body=b"hello"),
     True),
    ("truncated chunked body", b"GET", b"1.1", resp(fields=(b"Transfer-Encoding: chunked",),
                                                    body=b"5\r\nhel"), True),
]


# ---- the scripted node --------------------------------------------------------------------------

class Node:
    """A node that parses what it receives with http1 (strictly), keeps every byte and every
    complete request per connection, and answers each request: by default 200 with X-Id and the
    id as body; a target /r<k>s<n>/ID gets RESPONSES[k] in two writes cut at n."""

    def __init__(self, host):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(256)
        self.addr = "%s:%d" % self.sock.getsockname()
        self.lock = threading.Lock()
        self.conns = []  # dicts: raw, msgs, error, end, leftover
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rec = {"raw": bytearray(), "msgs": [], "error": None, "end": None, "leftover": b"",
                   "body_error": None, "end_t": None}
            with self.lock:
                self.conns.append(rec)
            threading.Thread(target=self.serve, args=(c, rec), daemon=True).start()

    def serve(self, c, rec):
        buf = b""  # not parsed yet (rec["raw"] keeps everything)
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    rec["end"] = "eof"
                    break
                rec["raw"] += d
                buf += d
                while buf and not rec["body_error"]:
                    try:
                        m, end = http1.parse_message(buf, 0, "request", NODE)
                    except http1.Incomplete:
                        break
                    except http1.ParseError as e:
                        ids = [b"zq%s%s" % i for i in ID_RE.findall(buf)]
                        what = "%s: %r" % (e, buf[max(0, e.pos - 40):e.pos + 20])
                        if e.in_body:
                            # s3lb may have sent body bytes before it parsed them: it must now
                            # cut this connection (we wait for that), the request incomplete
                            rec["body_error"] = (what, ids[:1])
                            break
                        rec["error"], rec["error_ids"] = what, ids
                        rec["end"] = "error"
                        return
                    buf = buf[end:]
                    with self.lock:
                        rec["msgs"].append(m)
                    if not self.respond(c, m):
                        rec["end"] = "closed by node"
                        return
        except ConnectionResetError:
            rec["end"] = "reset"
        except OSError as e:
            rec["end"] = "error %s" % e
        finally:
            rec["leftover"] = buf
            rec["end_t"] = time.time()
            c.close()

    def respond(self, c, m):
        ids = ID_RE.findall(m.head_raw)
        rid = b"zq%s%s" % ids[0] if ids else b"none"
        k = re.search(rb"/r(\d+)s(\d+)/", m.target)
        if k:
            raw = RESPONSES[int(k.group(1))][3]
            n = int(k.group(2))
            if n:
                c.sendall(raw[:n])
                time.sleep(GAP)
            c.sendall(raw[n:])
            return not RESPONSES[int(k.group(1))][4]
        if m.minor == 0:
            c.sendall(b"HTTP/1.0 200 OK\r\nX-Id: %s\r\nContent-Length: %d\r\n\r\n%s" % (
                rid, len(rid), b"" if m.method == b"HEAD" else rid))
            return False
        c.sendall(b"HTTP/1.1 200 OK\r\nX-Id: %s\r\nContent-Length: %d\r\n\r\n%s" % (
            rid, len(rid), b"" if m.method == b"HEAD" else rid))
        return True

    def records(self):
        with self.lock:
            return list(self.conns)


# ---- exchanges ----------------------------------------------------------------------------------

class Exchange:
    seq = 0

    def __init__(self, kind, ci, raw, split, src):
        Exchange.seq += 1
        self.kind, self.ci, self.split, self.src = kind, ci, split, src
        self.prefix = b"zq%07d" % Exchange.seq
        k = [0]

        def sub(_):
            k[0] += 1
            return self.prefix + bytes([0x60 + k[0]])
        self.raw = PH_RE.sub(sub, raw)
        self.pieces = [self.raw] if not split else [self.raw[:split], self.raw[split:]]
        self.out = b""
        self.how = None  # "eof", "reset", "timeout", "done"
        self.sock = None
        self.next_at = 0.0
        self.deadline = 0.0
        self.want = 0  # final responses after which the exchange is complete


def split_points(raw, rnd, limit):
    """Every position next to CR, LF, ':', ';' or SP (capped), and a sample of the others."""
    n = len(raw)
    if limit == "all":
        return list(range(1, n))
    limit = int(limit)
    special = sorted({p for i, b in enumerate(raw) if b in b"\r\n:; " for p in (i, i + 1)
                      if 0 < p < n})
    if len(special) > 3 * limit:
        special = sorted(rnd.sample(special, 3 * limit))
    others = [p for p in range(1, n) if p not in set(special)]
    return special + sorted(rnd.sample(others, min(limit, len(others))))


def ids_of(m):
    return [b"zq%s%s" % x for x in ID_RE.findall(m.head_raw)]


def absolute_authority(target):
    mm = re.match(rb"(?i)(https?)://([^/?#]*)(.*)", target)
    return mm


def valid_host(v):
    """RFC 3986 host [ ":" port ]: reg-name (unreserved / pct-encoded / sub-delims) or an
    IP-literal in brackets."""
    return re.fullmatch(rb"(\[[0-9A-Fa-f:.vV]+\]|([A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})+)"
                        rb"(:[0-9]*)?", v) is not None


def documented_refusal(m):
    """Why s3lb refuses a request the RFC allows (gateway/head.h, docs/architecture.md,
    docs/config.md), or None."""
    if m.minor > 1:
        return "HTTP version above 1.1 (505)"
    if len(m.head_raw) > MAX_HEADER_SIZE or len(m.fields) > MAX_HEADERS:
        return "over the header limits (431)"
    hosts = m.get("host")
    if len(hosts) != 1 or not valid_host(hosts[0]):
        return "not exactly one valid Host"
    if {b"content-length", b"transfer-encoding", b"host"} & set(m.tokens("connection")):
        return "Connection names a framing field or Host"
    if m.get("transfer-encoding") and any(t != b"chunked" for t in m.tokens("transfer-encoding")):
        return "a transfer coding other than chunked (501)"
    if m.method == b"CONNECT":
        return "CONNECT"
    if not m.target.startswith(b"/"):
        a = absolute_authority(m.target)
        if not a or a.group(2).lower() != hosts[0].lower() or not a.group(3).startswith(b"/"):
            return "a target other than origin-form or absolute-form for its own Host"
    return None


def allowed_refusal(m):
    """Why s3lb may refuse this valid request (it need not): what the RFCs let a recipient refuse,
    and llhttp's known strictness beyond the RFC (s3lb answers 400; seen in this test), or None."""
    if {b"content-length", b"transfer-encoding", b"host"} & {t.lname for t in m.trailers}:
        return "trailers: a framing field or Host (RFC 9110 6.5.1)"
    if any(f.lname == b"transfer-encoding" and re.search(rb"\t[ \t]*$", f.line)
           for f in m.fields):
        return "llhttp: HTAB after a Transfer-Encoding value"
    if any(re.search(rb"[ \t]", re.sub(rb'"(\\.|[^"\\])*"', b"", ext)) for _, ext in m.chunks):
        return "chunk: BWS in a chunk extension (llhttp)"
    if m.method not in (b"GET", b"HEAD", b"PUT", b"POST", b"DELETE", b"OPTIONS", b"PATCH"):
        return "llhttp: a method outside its table"
    return None


def relayed_form(m, client_ip):
    """What the node must parse for a client's request m: (method, target, version, fields,
    framing, length, body, trailers)."""
    target = m.target
    if not target.startswith(b"/"):
        target = absolute_authority(target).group(3)
    conn = set(m.tokens("connection")) - {b"content-length", b"transfer-encoding", b"host"}
    drop = set(http1.HOP_BY_HOP) | conn | {b"x-real-ip"}
    fields = [(f.name, f.value) for f in m.fields if f.lname not in drop]
    fields += [(b"X-Forwarded-For", client_ip), (b"X-Real-IP", client_ip)]
    return (m.method, target, m.version, fields, m.framing, m.length, m.body,
            [(t.name, t.value) for t in m.trailers])


def node_form(m):
    return (m.method, m.target, m.version, [(f.name, f.value) for f in m.fields], m.framing,
            m.length, m.body, [(t.name, t.value) for t in m.trailers])


def expectations(raw):
    """The client's stream read strictly and leniently: (must, may, parsed), must: ids that s3lb
    has to relay, in order, with their message; may: ids it may relay (lenient reading or a
    documented refusal that is not certain), with their message."""
    must, may = [], {}
    for opts, into in ((STRICT, "must"), (LAX, "may")):
        msgs, prob, _ = http1.parse_stream(raw, "request", opts, eof=False)
        for m in msgs:
            # after a request s3lb may refuse (and then close), the next ones are uncertain too
            into = "may" if may and into == "must" else into
            ids = ids_of(m)
            if not ids:
                break
            if documented_refusal(m):
                break
            if into == "must" and not allowed_refusal(m):
                must.append((ids[0], m))
            else:
                may.setdefault(ids[0], m)
            if not m.keep_alive():
                break
    return must, may


def body_refused(raw):
    """{id: n} for a request whose head is valid (in some reading) and whose body is not, or may
    be refused: s3lb may have sent its head and up to n body bytes before it saw the fault, but
    never the line that holds it whole (n ends before that line's LF)."""
    out = {}
    for opts in (STRICT, LAX):
        msgs, prob, pos = http1.parse_stream(raw, "request", opts, eof=False)
        for m in msgs:  # refusals allowed for what comes in the body: never all of it
            if (allowed_refusal(m) or "").startswith(("trailers:", "chunk:")):
                for i in ids_of(m)[:1]:
                    out[i] = min(out.get(i, 1 << 62), len(m.body_raw) - 1)
        if isinstance(prob, http1.ParseError) and prob.in_body:
            body = raw.find(b"\r\n\r\n", pos) + 4
            lf = raw.find(b"\n", prob.pos)
            n = (lf if lf >= 0 else len(raw)) - body
            for i in ID_RE.findall(raw[pos:body]):
                i = b"zq%s%s" % i
                out[i] = min(out.get(i, 1 << 62), n)
    return out


def cut_in_time(x, i, rec, run_end):
    """A node connection holding the head of x's request i refused for its body: cut by s3lb
    before the run ended, with no more of the body than allowed."""
    if i not in x.body_refused or rec is None or rec["end_t"] is None or rec["end_t"] >= run_end:
        return False
    left = rec["leftover"]
    at = left.find(i)
    head_end = left.find(b"\r\n\r\n", at)
    return at >= 0 and head_end >= 0 and len(left) - head_end - 4 <= x.body_refused[i]


def src_ip(i):
    return "127.0.2.%d" % (1 + i % 200)


class Driver:
    """Runs exchanges CONNS at a time on one selector, pieces of different exchanges sent in
    alternation."""

    def __init__(self, port):
        self.port = port
        self.sel = selectors.DefaultSelector()
        self.skipped = 0

    def start(self, x):
        s = socket.socket()
        s.bind((x.src, 0))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(2)
        s.connect(("127.0.0.1", self.port))
        s.setblocking(False)
        x.sock = s
        x.next_at = time.time()
        x.deadline = time.time() + READ_TIMEOUT + GAP * len(x.pieces)
        self.sel.register(s, selectors.EVENT_READ, x)

    def finish(self, x, how):
        x.how = how
        self.sel.unregister(x.sock)
        try:
            # a reset, not TIME_WAIT: ~15k connections in a minute would use up the ports
            x.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01" + b"\x00" * 7)
        except OSError:
            pass
        x.sock.close()

    def complete(self, x):
        """The client has what it waits for: every final response it expects."""
        if x.pieces or x.want == 0:
            return False
        if x.kind == "resp":
            msgs, prob, _ = http1.parse_stream(x.out, "response", STRICT, x.methods, eof=False)
            return prob is None and len([m for m in msgs if not m.interim]) >= x.want
        methods = x.methods
        msgs, prob, _ = http1.parse_stream(x.out, "response", STRICT, methods, eof=False)
        finals = [m for m in msgs if not m.interim]
        # after an error response the client waits for the close
        return prob is None and len(finals) >= x.want and all(m.status < 400 for m in finals)

    def run(self, exchanges, on_done):
        queue = list(exchanges)
        queue.reverse()
        active = []
        t_end = time.time() + BUDGET if BUDGET else None
        while queue or active:
            if t_end and time.time() > t_end and queue:
                self.skipped = len(queue)
                queue = []
            while queue and len(active) < CONNS:
                x = queue.pop()
                try:
                    self.start(x)
                except OSError as e:
                    x.how = "connect failed: %s" % e
                    on_done(x)
                    continue
                active.append(x)
            now = time.time()
            for x in active:
                if x.pieces and now >= x.next_at:
                    try:
                        x.sock.send(x.pieces[0])  # small pieces: a loopback send takes all
                    except OSError:
                        x.pieces = []
                        continue
                    x.pieces.pop(0)
                    x.next_at = now + GAP
            for key, _ in self.sel.select(GAP / 2):
                x = key.data
                try:
                    d = x.sock.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    self.finish(x, "reset")
                    continue
                except BlockingIOError:
                    continue
                if not d:
                    self.finish(x, "eof")
                    continue
                x.out += d
                if self.complete(x):
                    self.finish(x, "done")
            now = time.time()
            for x in list(active):
                if x.how is None and now > x.deadline:
                    self.finish(x, "timeout")
                if x.how is not None:
                    active.remove(x)
                    on_done(x)


# ---- checks -------------------------------------------------------------------------------------

def check_request(x, node_by_id, raw_ids, conn_of_id, body_ids, run_end):
    """The invariant for one request exchange; returns the failures."""
    out = []
    must, may = x.must, x.may
    got = {i: node_by_id[i] for i in x.ids if i in node_by_id}
    ip = x.src.encode()
    # every request the node completed is one the client sent, in the form it sent it
    for i, ms in got.items():
        if len(ms) > 1:
            out.append("%s completed %d times at the nodes" % (i.decode(), len(ms)))
        ref = dict(must).get(i) or may.get(i)
        if ref is None:
            out.append("%s completed at a node but the client never sent it as a valid request "
                       "(smuggled or refused-but-relayed): node got %r" % (
                           i.decode(), ms[0].head_raw[:200]))
            continue
        if i not in dict(must):
            INFO["lenient"] += 1
            INFO["lenient_cases"].add(x.name)
        want, have = relayed_form(ref, ip), node_form(ms[0])
        if want != have:
            diff = [n for n, a, b in zip(("method", "target", "version", "fields", "framing",
                                          "length", "body", "trailers"), want, have) if a != b]
            out.append("%s relayed differently (%s): client %r / node %r" % (
                i.decode(), ",".join(diff), [want[k] for k in range(8) if want[k] != have[k]],
                [have[k] for k in range(8) if want[k] != have[k]]))
    # every request the client validly sent (and s3lb does not document refusing) is relayed
    for n, (i, _) in enumerate(must):
        if i not in got:
            # after a valid request that s3lb refused, the rest of the connection is gone anyway
            if all(j in got for j, _ in must[:n]):
                out.append("%s is a valid request s3lb did not relay (client got %r, %s)" % (
                    i.decode(), x.out[:120], x.how))
            break
    # nothing of a refused request reaches a node, except the head of one refused for its body,
    # whose node connection then ends without the request complete
    for i in x.ids:
        if i in got or i not in raw_ids or i in body_ids:
            continue
        rec = conn_of_id.get(i)
        # only the head of a request refused for its body, and its node connection then cut
        if not cut_in_time(x, i, rec, run_end):
            out.append("bytes of refused request %s reached a node" % i.decode())
    # the client: a response for each relayed request in order (by X-Id), then at most one S3
    # error, then the connection closed
    methods = [m.method for _, m in must] + [m.method for m in may.values()] + [b"GET"] * 4
    msgs, prob, pos = http1.parse_stream(x.out, "response", STRICT, methods,
                                         eof=x.how in ("eof", "reset"))
    if isinstance(prob, http1.ParseError):
        out.append("s3lb sent the client an invalid response (%s): %r" % (prob, x.out[:300]))
        return out
    finals = [m for m in msgs if not m.interim]
    relayed = [i for i in x.ids if i in got]
    for k, i in enumerate(relayed):
        if k >= len(finals):
            if x.how not in ("eof", "reset"):
                out.append("no response for relayed %s (%s): %r" % (i.decode(), x.how,
                                                                   x.out[:200]))
            break
        if finals[k].get("x-id") != [i] or finals[k].status != 200:
            out.append("response %d of %s carries %r, status %s: another request's answer" % (
                k, x.prefix.decode(), finals[k].get("x-id"), finals[k].status))
    extra = finals[len(relayed):]
    if extra:
        e = extra[0]
        if e.status < 400 or b"<Error><Code>" not in e.body or len(extra) > 1:
            out.append("after the relayed requests the client got %r" % [
                (m.status, m.body[:80]) for m in extra])
        elif x.how not in ("eof", "reset"):
            out.append("the connection stays open after an error (%s)" % x.how)
    if x.how == "timeout" and len(relayed) < len(x.ids) and not extra and \
            len(relayed) == len(must):
        # s3lb waits for bytes the client will never send: its reading differs from ours
        out.append("the client's request stalled at s3lb (%d relayed): %r" % (len(relayed),
                                                                            x.out[:120]))
    return out


def response_ref(ci, version):
    """The node's response read strictly: (interims, final, valid)."""
    name, method, cver, raw, closes = RESPONSES[ci]
    msgs, prob, _ = http1.parse_stream(raw, "response", STRICT, [method], eof=closes)
    finals = [m for m in msgs if not m.interim]
    valid = prob is None and len(finals) == 1 and 100 <= finals[0].status <= 599
    if valid and len(msgs) - 1 > MAX_INTERIM and cver == b"1.1":
        valid = None  # documented: more than 16 1xx abort the connection
    return [m for m in msgs if m.interim], (finals[0] if finals else None), valid


def resp_form(m, sent=False):
    """The parts of response m that the client must get as the node sent them. sent: m is what
    the node sent, whose version the client gets as s3lb's own, HTTP/1.1 (a proxy sends its
    own: RFC 9110 6.2)."""
    conn = set(m.tokens("connection")) - {b"content-length", b"transfer-encoding", b"host"}
    drop = set(http1.HOP_BY_HOP) | conn
    return (b"HTTP/1.1" if sent else m.version, m.status, m.reason,
            [(f.name, f.value) for f in m.fields if f.lname not in drop], m.body,
            [(t.name, t.value) for t in m.trailers])


def check_response(x, node_got):
    out = []
    name, method, cver, raw, closes = RESPONSES[x.ci]
    interims, final, valid = response_ref(x.ci, cver)
    tag = "response %r cut at %d" % (name, x.split)
    if x.ids[0] not in node_got:
        return ["%s: the request never reached the node (%s %r)" % (tag, x.how, x.out[:100])]
    msgs, prob, _ = http1.parse_stream(x.out, "response", STRICT, [method] * 2,
                                       eof=x.how in ("eof", "reset"))
    if isinstance(prob, http1.ParseError):
        return ["%s: the client got an invalid response (%s): %r" % (tag, prob, x.out[:300])]
    finals = [m for m in msgs if not m.interim]
    got_interims = [m for m in msgs if m.interim]
    if valid:
        want = ([] if cver == b"1.0" else interims)
        if not finals:
            return ["%s: no complete response at the client (%s): %r" % (tag, x.how,
                                                                        x.out[:200])]
        if [resp_form(m) for m in got_interims] != [resp_form(m, True) for m in want]:
            out.append("%s: 1xx relayed as %r, node sent %r" % (
                tag, [m.status for m in got_interims], [m.status for m in want]))
        expect = resp_form(final, True)
        if cver == b"1.0" and final.framing == "chunked":
            # an HTTP/1.0 client cannot take chunks (RFC 9112 6.1): the same body decoded,
            # without Transfer-Encoding and trailers, ended by the close
            v, st, reason, fields, body, _ = expect
            expect = (v, st, reason, [f for f in fields if f[0].lower() != b"transfer-encoding"],
                      body, [])
        if resp_form(finals[0]) != expect:
            out.append("%s: relayed as %r, node sent %r" % (tag, resp_form(finals[0]), expect))
        if cver == b"1.0" and finals[0].framing == "chunked":
            out.append("%s: a chunked response to an HTTP/1.0 client (RFC 9112 6.1)" % tag)
    elif valid is None:
        if finals and finals[0].status != final.status:
            out.append("%s: got %r" % (tag, [m.status for m in finals]))
    else:
        # invalid: at most a 502 S3 error; never the node's response complete
        if finals and not (finals[0].status == 502 and b"<Error><Code>" in finals[0].body):
            out.append("%s: invalid node response relayed to the client as %r" % (
                tag, [(m.status, m.body[:60]) for m in finals]))
        if prob is None and not finals and x.how == "done":
            out.append("%s: nothing and no close" % tag)
    return out


# ---- main ---------------------------------------------------------------------------------------

def config(port, admin, nodes):
    n = "".join("      - { name: n%d, addr: %s }\n" % (i + 1, a) for i, a in enumerate(nodes))
    return (f"admin: {{ listen: 127.0.0.1:{admin} }}\n"
            f"log: {{ level: warn, access: {tp.TMP}/access.log, error: {tp.TMP}/s3lb.log }}\n"
            f"limits: {{ max_header_size: {MAX_HEADER_SIZE}, max_headers: {MAX_HEADERS}, "
            f"buffer_size: 64KiB }}\n"
            f"timeouts: {{ client_header: 5s, client_body: 5s, upstream_connect: 2s, "
            f"upstream_header: 5s }}\n"
            f"pools:\n  - name: p\n    balance: round-robin\n"
            f"    health: {{ kind: none, passive: {{ failures: 0 }} }}\n"
            f"    max_conns_per_node: 256\n    max_idle_per_node: 8\n    nodes:\n{n}"
            f"frontends:\n  - name: s3\n    listen: [127.0.0.1:{port}]\n    domains: [s3.local]\n"
            f"    x_forwarded_for: true\n    x_real_ip: true\n"
            f"    routes:\n      - {{ pool: p }}\n")


def main():
    bad = http1.self_test()
    if bad:
        for b in bad:
            print(b)
        return 1
    if not os.path.exists(tp.BIN):
        print("FAIL: s3lb binary not found at " + tp.BIN)
        return 1
    t0 = time.time()
    nodes = [Node("127.0.0.35"), Node("127.0.0.36")]
    port, admin = tp.free_port(), tp.free_port()
    lb = tp.S3lb(config(port, admin, [n.addr for n in nodes]))
    rnd = random.Random(9)
    exchanges = []
    corpus = request_corpus()
    for ci, (name, raw) in enumerate(corpus):
        if not CASES.search(name):
            continue
        probe = PH_RE.sub(b"zq0000000a", raw)  # same length as the real ids
        for split in [0] + split_points(probe, rnd, SPLITS):
            x = Exchange("req", ci, raw, split, src_ip(len(exchanges)))
            x.name = name
            x.ids = [x.prefix + bytes([0x61 + k]) for k in range(raw.count(PH))]
            x.must, x.may = expectations(x.raw)
            x.body_refused = body_refused(x.raw)
            x.methods = [m.method for _, m in x.must] + [b"GET"] * 4
            x.want = len(x.must) + len([i for i in x.may if i not in dict(x.must)])
            exchanges.append(x)
    n_req = len(exchanges)
    for ci, (name, method, cver, raw, closes) in enumerate(RESPONSES):
        if not CASES.search(name):
            continue
        pts = [0] + split_points(raw, rnd, SPLITS)
        for split in pts:
            r = req(method, b"/r%ds%d/@@@@@@@@@@" % (ci, split), b"HTTP/" + cver)
            x = Exchange("resp", ci, r, 0, src_ip(len(exchanges)))
            x.split = split
            x.name = name
            x.ids = [x.prefix + b"a"]
            x.must, x.may = [(x.ids[0], None)], {}
            x.methods = [method] * 2
            x.want = 1
            exchanges.append(x)
    # interleave request and response exchanges and the cases among themselves
    rnd.shuffle(exchanges)
    done = []
    restarts = []
    drv = Driver(port)
    try:
        tp.wait_port(port)

        def on_done(x):
            done.append(x)
            if lb.proc.poll() is not None:
                restarts.append((x.name, x.split, lb.proc.returncode))
                lb.proc = tp.S3lb(config(port, admin, [n.addr for n in nodes])).proc
                tp.wait_port(port)
        drv.run(exchanges, on_done)
        time.sleep(0.3)  # let the last node writes land
        run_end = time.time()  # a node connection s3lb had to cut ended before this
    finally:
        lb.stop()
    rc = lb.proc.returncode
    # what the nodes received
    node_by_id, conn_of_id, raw_ids, body_ids = {}, {}, set(), set()
    by_prefix = {x.prefix: x for x in done}
    node_errors = []
    for n in nodes:
        for rec in n.records():
            if rec["body_error"]:
                what, ids = rec["body_error"]
                x = by_prefix.get(ids[0][:9]) if ids else None
                if x and cut_in_time(x, ids[0], rec, run_end):
                    INFO["cut"] += 1
                else:
                    rec["error"] = what + " (in the body; the node holds %d bytes, " \
                        "connection %s)" % (len(rec["leftover"]), rec["end"])
                    rec["error_ids"] = ids
            if rec["error"]:
                whose = [by_prefix.get(i[:9]) for i in rec["error_ids"]]
                node_errors.append("%s, from %s" % (rec["error"], ", ".join(
                    "%r cut at %d" % (w.name, w.split) for w in whose if w) or "?"))
            for m in rec["msgs"]:
                for i in ids_of(m)[:1]:
                    node_by_id.setdefault(i, []).append(m)
                body_ids.update(mm.group(0) for mm in ID_RE.finditer(m.body_raw))
            for mm in ID_RE.finditer(bytes(rec["raw"])):
                i = mm.group(0)
                raw_ids.add(i)
                conn_of_id[i] = rec
    by_reason = {}
    for e in node_errors:
        by_reason.setdefault(e.split(" at byte")[0], []).append(e)
    for reason, es in sorted(by_reason.items()):
        fail("a node received bytes that are not HTTP/1.1 (strict), %d node connections: %s" % (
            len(es), es[0]))
    if restarts:
        fail("s3lb died %d times (exits %s), restarted each time; first around: %s" % (
            len(restarts), sorted({c for _, _, c in restarts}),
            "; ".join("%r cut at %d" % (n, k) for n, k, _ in restarts[:5])))
    per_case = {}
    for x in done:
        if x.kind == "req":
            f = check_request(x, node_by_id, raw_ids, conn_of_id, body_ids, run_end)
        else:
            f = check_response(x, node_by_id)
        for msg in f:
            per_case.setdefault((x.kind, x.name), []).append("%s (cut at %d): %s" % (
                x.name, x.split, msg))
    for (kind, name), msgs in sorted(per_case.items()):
        for m in msgs[:2]:
            fail("%s %s" % (kind, m))
        if len(msgs) > 2:
            fail("%s %s: %d more runs of this case failed" % (kind, name, len(msgs) - 2))
    if rc not in (0, None, -15):
        fail("s3lb exited %s on SIGTERM" % rc)
    n_runs = len(done)
    ends = {}
    for x in done:
        ends[x.kind + " " + x.how] = ends.get(x.kind + " " + x.how, 0) + 1
    slow = {}
    for x in done:
        if x.how == "timeout":
            slow[x.name] = slow.get(x.name, 0) + 1
    print("exchange ends: %r; timeouts by case: %r" % (ends, sorted(slow.items())[:20]))
    print("relayed though s3lb could refuse them, in: %s" % "; ".join(
        sorted(INFO["lenient_cases"])))
    failed_runs = sum(len(v) for v in per_case.values())
    for f in FAILS[:60]:
        print("FAIL " + f)
    if len(FAILS) > 60:
        print("... %d more failure lines" % (len(FAILS) - 60))
    print("invariant: %d request cases, %d response cases; %d runs (%d request, %d response; "
          "splits per case: %s, %d connections at once); %d relayed that s3lb could refuse; "
          "%d node connections cut mid-body as they must be; "
          "%d failed runs in %d cases, %d s3lb deaths; %.1f s" % (
              len(corpus), len(RESPONSES), n_runs, n_req, n_runs - n_req, SPLITS, CONNS,
              INFO["lenient"], INFO["cut"], failed_runs, len(per_case), len(restarts),
              time.time() - t0))
    if drv.skipped:
        print("time bound (INVARIANT_BUDGET=%gs) reached: %d runs not started" % (BUDGET,
                                                                            drv.skipped))
    if FAILS:
        print("logs kept in " + tp.TMP)
        return 1
    print("the invariant holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
