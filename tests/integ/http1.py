"""A strict HTTP/1.1 message parser written from the grammar of RFC 9112 and RFC 9110.

It is the independent parser of the invariant test (tests/integ/test_invariant.py): what a client
sent and what a node received are both parsed here and compared, so it shares nothing with
s3lb's llhttp and is deliberately not http.client (which accepts bare LF, obs-fold, junk in
Content-Length and more). Strict by default; each leniency the RFCs allow a recipient is a named
option (Opts), so a test says which reading of a message it means.

parse_message() parses one message at a position of a byte stream and returns it with its end, or
raises Incomplete (more bytes could still make it valid) or ParseError (the first byte that no
valid message can have there). parse_stream() splits a whole stream.

Grammar (RFC 9112 unless marked):
  HTTP-message   = start-line CRLF *( field-line CRLF ) CRLF [ message-body ]
  request-line   = method SP request-target SP HTTP-version
  status-line    = HTTP-version SP status-code SP [ reason-phrase ]
  HTTP-version   = "HTTP" "/" DIGIT "." DIGIT
  field-line     = field-name ":" OWS field-value OWS
  field-value    = *field-content                                 (9110 5.5)
  field-content  = field-vchar [ 1*( SP / HTAB / field-vchar ) field-vchar ]
  field-vchar    = VCHAR / obs-text
  chunked-body   = *chunk last-chunk trailer-section CRLF
  chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
  chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
  chunk-ext-val  = token / quoted-string
  token          = 1*tchar                                        (9110 5.6.2)
"""
import re

TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789"
                  b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
HEX = frozenset(b"0123456789abcdefABCDEF")
DIGIT = frozenset(b"0123456789")
WS = frozenset(b" \t")
# field-vchar, SP and HTAB: what a field value may hold
VALUE_OK = frozenset(range(0x21, 0x7F)) | frozenset(range(0x80, 0x100)) | WS
# RFC 3986 characters of a request-target (pct-encoding checked apart)
URI_OK = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                   b"-._~!$&'()*+,;=:@/?%")
LAX_TARGET_OK = frozenset(range(0x21, 0x7F)) | frozenset(range(0x80, 0x100))
QDTEXT = frozenset(b"\t \x21") | frozenset(range(0x23, 0x5C)) | frozenset(range(0x5D, 0x7F)) | \
    frozenset(range(0x80, 0x100))
MAX_LENGTH = (1 << 63) - 1  # Content-Length and chunk sizes beyond it: an error, not a wrap
HOP_BY_HOP = (b"connection", b"keep-alive", b"proxy-connection", b"te", b"upgrade")


class ParseError(Exception):
    def __init__(self, pos, reason, in_body=False):
        super().__init__("%s at byte %d" % (reason, pos))
        self.pos = pos
        self.reason = reason
        self.in_body = in_body


class Incomplete(Exception):
    """More bytes are needed. head: the parsed head (a Message without body) once it is complete."""

    def __init__(self, head=None):
        super().__init__("incomplete")
        self.head = head


class Opts:
    """Leniencies a recipient is allowed (each names the RFC sentence). All off: strict."""
    __slots__ = ("bare_lf", "obs_fold", "nul_sp", "ctl_value", "lax_target", "ws_line",
                 "dup_cl", "te_over_cl", "ws_first_line", "te_http10")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, False)
        for k, v in kw.items():
            setattr(self, k, v)  # an unknown name raises AttributeError: a typo is loud
    # bare_lf:       a line ends at LF, a CR before it ignored (9112 2.2 MAY)
    # obs_fold:      obs-fold replaced by SP (9112 5.2)
    # nul_sp:        NUL and bare CR in a field value or start line replaced by SP
    #                (9110 5.5, 9112 2.2)
    # ctl_value:     other CTLs kept in field values (9110 5.5 MAY retain)
    # lax_target:    a request-target is any run of VCHAR / obs-text, no URI grammar
    # ws_line:       request-line words split on runs of SP HTAB VT FF (9112 3 MAY)
    # dup_cl:        a Content-Length list of identical values is that value (9110 8.6 MAY)
    # te_over_cl:    Transfer-Encoding with Content-Length: CL ignored (9112 6.3 item 3)
    # ws_first_line: whitespace-led lines after the start line dropped (9112 2.2)
    # te_http10:     Transfer-Encoding in HTTP/1.0 read as in 1.1


STRICT = Opts()


class Field:
    __slots__ = ("name", "value", "line")

    def __init__(self, name, value, line):
        self.name = name    # as sent
        self.value = value  # OWS trimmed (and unfolded / replaced as the options say)
        self.line = line    # the raw field line(s), without the final CRLF

    @property
    def lname(self):
        return self.name.lower()

    def __repr__(self):
        return "%r: %r" % (self.name, self.value)

    def __eq__(self, o):
        return isinstance(o, Field) and (self.name, self.value) == (o.name, o.value)


class Message:
    def __init__(self, kind):
        self.kind = kind  # "request" or "response"
        self.start = self.method = self.target = self.version = self.reason = None
        self.status = None
        self.fields = []
        self.framing = None  # "none", "length", "chunked" or "eof"
        self.length = None
        self.chunks = []     # [(size, raw chunk-ext)]
        self.trailers = []
        self.body = b""      # decoded
        self.body_raw = b""  # as on the wire, framing included
        self.head_raw = b""
        self.leading = b""   # empty lines before a request line
        self.begin = self.end = 0

    @property
    def interim(self):
        return self.kind == "response" and 100 <= self.status < 200

    @property
    def minor(self):
        return self.version[-1] - 0x30

    def get(self, name):
        """Every value of the fields named `name` (str or bytes, case-insensitive), in order."""
        name = (name.encode() if isinstance(name, str) else name).lower()
        return [f.value for f in self.fields if f.lname == name]

    def tokens(self, name):
        """The comma-separated elements of every `name` field, lowercased, empty ones dropped."""
        out = []
        for v in self.get(name):
            out += [t.strip(b" \t").lower() for t in v.split(b",") if t.strip(b" \t")]
        return out

    def keep_alive(self):
        c = self.tokens("connection")
        if b"close" in c:
            return False
        return self.minor >= 1 or b"keep-alive" in c

    def summary(self):
        line = self.start if self.start is not None else b"?"
        return "%r %s %r trailers=%r" % (line, self.fields, self.body, self.trailers)


def _line(buf, p, opts, limit):
    """The line at p: (content without the terminator, position after it). Raises Incomplete when
    no terminator arrived yet, ParseError for a bare LF (unless opts.bare_lf)."""
    nl = buf.find(b"\n", p, limit)
    if nl < 0:
        raise Incomplete()
    if nl > p and buf[nl - 1] == 0x0D:
        return buf[p:nl - 1], nl + 1
    if opts.bare_lf:
        return buf[p:nl], nl + 1
    raise ParseError(nl, "bare LF")


def _check_partial_field(buf, p, end, opts):
    """Bytes of an unterminated field line so far: raises ParseError at the first one that no field
    line can have, so a stream cut there is known invalid rather than merely incomplete."""
    seg = buf[p:end]
    if seg.endswith(b"\r"):
        seg = seg[:-1]
    if not seg or seg[0] in WS:
        return
    colon = seg.find(b":")
    name = seg if colon < 0 else seg[:colon]
    for i, b in enumerate(name):
        if b not in TCHAR:
            raise ParseError(p + i, "whitespace before colon" if b in WS else
                             "bad byte in field name")
    if colon >= 0:
        _value(seg[colon + 1:], p + colon + 1, opts)


def _value(raw, pos, opts):
    """Validates and trims a field value; returns the value as a recipient understands it."""
    out = bytearray()
    for i, b in enumerate(raw):
        if b in VALUE_OK:
            out.append(b)
        elif b in (0, 0x0D):
            if not opts.nul_sp:
                raise ParseError(pos + i, "NUL in field value" if b == 0 else "bare CR")
            out.append(0x20)
        elif opts.ctl_value and b != 0x0A:
            out.append(b)
        else:
            raise ParseError(pos + i, "control byte 0x%02x in field value" % b)
    return bytes(out).strip(b" \t")


def _fields(buf, p, opts, limit, first_after_start):
    """Field lines up to and including the empty line. Returns (fields, position after)."""
    fields = []
    first = first_after_start
    while True:
        try:
            line, nxt = _line(buf, p, opts, limit)
        except Incomplete:
            _check_partial_field(buf, p, limit, opts)
            raise
        if line == b"":
            return fields, nxt
        if line[0] in WS:
            if first and opts.ws_first_line:
                p = nxt
                continue
            if first:
                raise ParseError(p, "whitespace before the first field line")
            if not opts.obs_fold or not fields:
                raise ParseError(p, "obs-fold")
            f = fields[-1]
            extra = _value(line, p, opts)
            f.value = (f.value + b" " + extra) if extra else f.value
            f.line = f.line + b" " + line.strip(b" \t")
            p = nxt
            continue
        first = False
        colon = line.find(b":")
        name = line if colon < 0 else line[:colon]
        if not name:
            raise ParseError(p, "empty field name")
        for i, b in enumerate(name):
            if b not in TCHAR:
                raise ParseError(p + i, "whitespace before colon" if b in WS else
                                 "bad byte 0x%02x in field name" % b)
        if colon < 0:
            raise ParseError(p + len(line), "field line without colon")
        fields.append(Field(name, _value(line[colon + 1:], p + colon + 1, opts), line))
        p = nxt


def _target_ok(t, method, opts):
    allowed = LAX_TARGET_OK if opts.lax_target else URI_OK
    if any(b not in allowed for b in t):
        return False
    if not opts.lax_target:
        for m in re.finditer(rb"%", t):
            if not re.match(rb"%[0-9A-Fa-f]{2}", t[m.start():m.start() + 3]):
                return False
    if t.startswith(b"/"):
        return True
    if t == b"*":
        return method == b"OPTIONS"
    if re.match(rb"[A-Za-z][A-Za-z0-9+.-]*://", t):
        return True
    if method == b"CONNECT":
        return re.fullmatch(rb"[^/?#@]+:[0-9]+", t) is not None
    return opts.lax_target


def _start_line(m, line, pos, opts):
    if b"\r" in line:
        if not opts.nul_sp:
            raise ParseError(pos + line.index(b"\r"), "bare CR")
        line = line.replace(b"\r", b" ")
    m.start = line
    if m.kind == "request":
        if opts.ws_line:
            parts = re.split(rb"[ \t\x0b\x0c]+", line.strip(b" \t\x0b\x0c"))
        else:
            parts = line.split(b" ")
        if len(parts) != 3 or not all(parts):
            raise ParseError(pos, "request-line is not method SP target SP version")
        m.method, m.target, m.version = parts
        if any(b not in TCHAR for b in m.method):
            raise ParseError(pos, "method is not a token")
        if not _target_ok(m.target, m.method, opts):
            raise ParseError(pos + len(m.method) + 1, "invalid request-target")
    else:
        mm = re.fullmatch(rb"(HTTP/[0-9]\.[0-9]) ([0-9]{3}) ([\t \x21-\x7e\x80-\xff]*)", line)
        if not mm:
            raise ParseError(pos, "invalid status-line")
        m.version, m.status, m.reason = mm.group(1), int(mm.group(2)), mm.group(3)
    if not re.fullmatch(rb"HTTP/1\.[0-9]", m.version):
        raise ParseError(pos, "unsupported HTTP version %r" % m.version)


def _framing(m, opts, method, pos):
    te = [f for f in m.fields if f.lname == b"transfer-encoding"]
    cl = [f for f in m.fields if f.lname == b"content-length"]
    if m.kind == "response":
        if method == b"HEAD" or m.status < 200 or m.status in (204, 304):
            m.framing = "none"
            return
    if te:
        if m.minor == 0 and not opts.te_http10:
            raise ParseError(pos, "Transfer-Encoding in an HTTP/1.0 message")
        if cl and not opts.te_over_cl:
            raise ParseError(pos, "both Transfer-Encoding and Content-Length")
        codings = []
        for f in te:
            for el in f.value.split(b","):
                el = el.strip(b" \t")
                if not el:  # 9110 5.6.1: a recipient MUST ignore empty list elements
                    continue
                name = el.split(b";")[0].strip(b" \t").lower()
                if not name or any(b not in TCHAR for b in name):
                    raise ParseError(pos, "invalid transfer-coding %r" % el)
                codings.append(name)
        if not codings:
            raise ParseError(pos, "empty Transfer-Encoding")
        if b"chunked" in codings[:-1]:
            raise ParseError(pos, "chunked is not the final transfer coding")
        if codings[-1] == b"chunked":
            m.framing = "chunked"
        elif m.kind == "request":
            raise ParseError(pos, "request with a final transfer coding other than chunked")
        else:
            m.framing = "eof"
        return
    if cl:
        vals = []
        for f in cl:
            vals += [v.strip(b" \t") for v in f.value.split(b",")]
        if any(not v or any(b not in DIGIT for b in v) for v in vals):
            raise ParseError(pos, "invalid Content-Length %r" % [f.value for f in cl])
        if len(vals) > 1 and not (opts.dup_cl and len(set(int(v) for v in vals)) == 1):
            raise ParseError(pos, "more than one Content-Length")
        n = int(vals[0])
        if n > MAX_LENGTH:
            raise ParseError(pos, "Content-Length too large")
        m.framing, m.length = "length", n
        return
    m.framing = "none" if m.kind == "request" else "eof"


def _chunk_line(buf, p, limit):
    """One chunk-size [chunk-ext] CRLF line: (size, raw ext, position after). Validates bytes as
    they come, so a cut stream is Incomplete only while it can still become a valid line."""
    i = p
    end = limit
    while i < end and buf[i] in HEX:
        i += 1
    if i == end:
        raise Incomplete()
    if i == p:
        raise ParseError(i, "chunk size is not hex")
    size = int(buf[p:i], 16)
    if size > MAX_LENGTH:
        raise ParseError(i - 1, "chunk size too large")
    ext_start = i
    # chunk-ext = *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
    state = "after"  # after: size or a complete ext; semi: after ";"; name; eq: after "="; q; qp
    while True:
        if i == end:
            raise Incomplete()
        b = buf[i]
        if state == "after":
            if b in WS:
                state = "bws"
            elif b == 0x3B:
                state = "semi"
            elif b == 0x0D:
                state = "cr"
            else:
                raise ParseError(i, "bad byte in chunk extension")
        elif state == "bws":  # BWS is allowed only before ";" (or "=" after a name)
            if b in WS:
                pass
            elif b == 0x3B:
                state = "semi"
            else:
                raise ParseError(i, "whitespace not followed by a chunk extension")
        elif state == "semi":
            if b in WS:
                pass
            elif b in TCHAR:
                state = "name"
            else:
                raise ParseError(i, "chunk extension without a name")
        elif state == "name":
            if b in TCHAR:
                pass
            elif b in WS:
                state = "name_ws"
            elif b == 0x3D:
                state = "eq"
            elif b == 0x3B:
                state = "semi"
            elif b == 0x0D:
                state = "cr"
            else:
                raise ParseError(i, "bad byte in chunk extension name")
        elif state == "name_ws":
            if b in WS:
                pass
            elif b == 0x3D:
                state = "eq"
            elif b == 0x3B:
                state = "semi"
            else:
                raise ParseError(i, "bad byte after chunk extension name")
        elif state == "eq":
            if b in WS:
                pass
            elif b in TCHAR:
                state = "val"
            elif b == 0x22:
                state = "q"
            else:
                raise ParseError(i, "bad chunk extension value")
        elif state == "val":
            if b in TCHAR:
                pass
            elif b in WS:
                state = "bws"
            elif b == 0x3B:
                state = "semi"
            elif b == 0x0D:
                state = "cr"
            else:
                raise ParseError(i, "bad byte in chunk extension value")
        elif state == "q":
            if b == 0x22:
                state = "after"
            elif b == 0x5C:
                state = "qp"
            elif b not in QDTEXT:
                raise ParseError(i, "bad byte in quoted chunk extension value")
        elif state == "qp":
            if b in VALUE_OK:
                state = "q"
            else:
                raise ParseError(i, "bad quoted-pair in chunk extension")
        elif state == "cr":
            if b != 0x0A:
                raise ParseError(i, "bare CR in chunk line")
            return size, buf[ext_start:i - 1], i + 1
        i += 1


def _chunked(m, buf, p, opts, limit):
    body = bytearray()
    while True:
        size, ext, p = _chunk_line(buf, p, limit)
        m.chunks.append((size, ext))
        if size == 0:
            break
        if limit - p < size:
            raise Incomplete(m)
        body += buf[p:p + size]
        p += size
        for k, want in enumerate(b"\r\n"):
            if p + k >= limit:
                raise Incomplete(m)
            if buf[p + k] != want:
                raise ParseError(p + k, "chunk data not followed by CRLF")
        p += 2
    try:
        m.trailers, p = _fields(buf, p, opts, limit, False)
    except ParseError as e:
        e.in_body = True
        raise
    m.body = bytes(body)
    return p


def parse_message(buf, pos=0, kind="request", opts=STRICT, method=None, eof=False):
    """Parses the message at buf[pos:]. method: the request's method (responses: HEAD has no
    body). eof: the stream ends at len(buf) (a response may then end at EOF). Returns (Message,
    end position); raises Incomplete or ParseError."""
    limit = len(buf)
    m = Message(kind)
    p = pos
    if kind == "request":  # 9112 2.2: at least one empty line before a request line is ignored
        while True:
            if buf.startswith(b"\r\n", p):
                p += 2
            elif opts.bare_lf and buf.startswith(b"\n", p):
                p += 1
            elif p < limit and buf[p] == 0x0D and p + 1 == limit:
                raise Incomplete()
            else:
                break
        m.leading = buf[pos:p]
    m.begin = p
    try:
        line, q = _line(buf, p, opts, limit)
    except Incomplete:
        if b"\r" in buf[p:limit].rstrip(b"\r"):
            raise ParseError(p + buf[p:limit].index(b"\r"), "bare CR")
        raise
    _start_line(m, line, p, opts)
    m.fields, q = _fields(buf, q, opts, limit, True)
    m.head_raw = buf[p:q]
    _framing(m, opts, method, p)
    body_start = q
    if m.framing == "none":
        end = q
    elif m.framing == "length":
        if limit - q < m.length:
            raise Incomplete(m)
        m.body = buf[q:q + m.length]
        end = q + m.length
    elif m.framing == "chunked":
        try:
            end = _chunked(m, buf, q, opts, limit)
        except ParseError as e:
            e.in_body = True
            raise
        except Incomplete:
            raise Incomplete(m)
    else:
        if not eof:
            raise Incomplete(m)
        m.body = buf[q:limit]
        end = limit
    m.body_raw = buf[body_start:end]
    m.end = end
    return m, end


def parse_stream(buf, kind="request", opts=STRICT, methods=None, eof=True):
    """Every message of a stream. methods: for responses, the request method of each final
    response in order (1xx responses do not use one up). Returns (messages, problem, position):
    problem is None (the stream ended cleanly), an Incomplete or a ParseError; position is where
    the unparsed rest begins."""
    out = []
    p = 0
    k = 0
    while p < len(buf):
        method = methods[k] if methods and k < len(methods) else None
        try:
            m, p2 = parse_message(buf, p, kind, opts, method, eof)
        except (Incomplete, ParseError) as e:
            return out, e, p
        out.append(m)
        p = p2
        if kind == "response" and not m.interim:
            k += 1
        if m.framing == "eof":
            break
    if kind == "request" and p < len(buf) and buf[p:].strip(b"\r\n") == b"":
        return out, Incomplete(), p
    return out, None, p


def connection_names(m):
    """The names a Connection field makes hop-by-hop, with the fixed ones (9110 7.6.1)."""
    return set(HOP_BY_HOP) | set(m.tokens("connection"))


# ---- self-test -----------------------------------------------------------------------------------

def self_test():
    """A table of inputs and what this parser must make of them. Returns the failures."""
    lax = Opts(obs_fold=True, bare_lf=True, dup_cl=True)
    cases = [
        # (input, kind, opts, method, expected: "ok:<n messages>" / "err:<reason part>" / "inc")
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "request", STRICT, None, "ok:1"),
        (b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "request", STRICT, None, "ok:1"),
        (b"GET / HTTP/1.1\nHost: a\r\n\r\n", "request", STRICT, None, "err:bare LF"),
        (b"GET / HTTP/1.1\nHost: a\n\n", "request", lax, None, "ok:1"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", "request", STRICT, None, "err:obs-fold"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", "request", lax, None, "ok:1"),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", "request", STRICT, None, "err:before colon"),
        (b"GET / HTTP/1.1\r\nX-A:\r\nHost:\t a \t\r\n\r\n", "request", STRICT, None, "ok:1"),
        (b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", "request", STRICT, None, "err:NUL"),
        (b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", "request", STRICT, None, "err:control"),
        (b"GET / HTTP/1.1\r\nX: \xff\xfe\r\n\r\n", "request", STRICT, None, "ok:1"),
        (b"GET  / HTTP/1.1\r\n\r\n", "request", STRICT, None, "err:request-line"),
        (b"GET /a b HTTP/1.1\r\n\r\n", "request", STRICT, None, "err:request-line"),
        (b"GET /%zz HTTP/1.1\r\n\r\n", "request", STRICT, None, "err:request-target"),
        (b"GET / HTTP/2.0\r\n\r\n", "request", STRICT, None, "err:version"),
        (b"PUT / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET", "request", STRICT, None, "inc"),
        (b"PUT / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", "request", STRICT, None, "ok:1"),
        (b"PUT / HTTP/1.1\r\nContent-Length: 003\r\n\r\nabc", "request", STRICT, None, "ok:1"),
        (b"PUT / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", "request", STRICT, None,
         "err:Content-Length"),
        (b"PUT / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "request",
         STRICT, None, "err:more than one"),
        (b"PUT / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc", "request", lax, None, "ok:1"),
        (b"PUT / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         "request", STRICT, None, "err:both"),
        (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "request", STRICT,
         None, "err:final"),
        (b"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "request", STRICT, None,
         "err:other than chunked"),
        (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"5;a=b;c=\"q\\\"x\"\r\nhello\r\n0\r\nX-T: v\r\n\r\n", "request", STRICT, None, "ok:1"),
        (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "request", STRICT,
         None, "err:not hex"),
        (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX", "request", STRICT,
         None, "err:CRLF"),
        (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "request", STRICT,
         None, "inc"),
        (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 17 + b"\r\n",
         "request", STRICT, None, "err:too large"),
        (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\n", "request", STRICT,
         None, "err:chunk extension"),
        (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\n", "request", STRICT,
         None, "err:whitespace not followed"),
        (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"5 ; a = b ;c\r\nhello\r\n0\r\n\r\n", "request", STRICT, None, "ok:1"),
        (b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", "request", STRICT, None,
         "ok:2"),
        (b"GET / HTTP/1.1\r\nX-A\r\n\r\n", "request", STRICT, None, "err:without colon"),
        (b"GET / HTTP/1.1\r\nX-A: 1\r", "request", STRICT, None, "inc"),
        (b"GET / HTTP/1.1\r\nX A", "request", STRICT, None, "err:before colon"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", "response", STRICT, b"GET", "ok:1"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", "response", STRICT, b"HEAD", "ok:1"),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 \r\n\r\n", "response", STRICT, b"GET",
         "ok:2"),
        (b"HTTP/1.1 200 OK\r\n\r\nto the end", "response", STRICT, b"GET", "ok:1"),
        (b"HTTP/1.1 200\r\n\r\n", "response", STRICT, b"GET", "err:status-line"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
         "response", STRICT, b"GET", "ok:1"),
    ]
    bad = []
    for data, kind, opts, method, want in cases:
        msgs, prob, _ = parse_stream(data, kind, opts, [method] * 4 if method else None)
        if isinstance(prob, ParseError):
            got = "err:" + prob.reason
            ok = want.startswith("err:") and want[4:] in prob.reason
        elif isinstance(prob, Incomplete):
            got, ok = "inc", want == "inc"
        else:
            got = "ok:%d" % len(msgs)
            ok = got == want
        if not ok:
            bad.append("http1 self-test: %r -> %s, want %s" % (data, got, want))
    # decoded values: trimming, unfolding, chunked decoding, the body to EOF
    m, _ = parse_message(b"GET / HTTP/1.1\r\nA:\t x  y \t\r\n\r\n")
    if m.fields[0].value != b"x  y":
        bad.append("http1 self-test: OWS trim gave %r" % m.fields[0].value)
    m, _ = parse_message(b"PUT / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
                         b"3;x\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n")
    if m.body != b"abcde" or [(t.name, t.value) for t in m.trailers] != [(b"T", b"1")]:
        bad.append("http1 self-test: chunked decode gave %r %r" % (m.body, m.trailers))
    m, _ = parse_message(b"GET / HTTP/1.1\r\nHost: a\r\nconnection: X, Close\r\n\r\n")
    if m.get("host") != [b"a"] or m.tokens(b"Connection") != [b"x", b"close"] or m.keep_alive():
        bad.append("http1 self-test: get/tokens/keep_alive gave %r %r" % (m.get("host"),
                                                                        m.tokens("connection")))
    m, _ = parse_message(b"HTTP/1.0 200 OK\r\n\r\nabc", kind="response", method=b"GET", eof=True)
    if m.body != b"abc" or m.framing != "eof":
        bad.append("http1 self-test: body to EOF gave %r" % m.body)
    return bad


if __name__ == "__main__":
    import sys
    problems = self_test()
    for p in problems:
        print(p)
    print("http1 self-test: %s" % ("FAIL" if problems else "ok"))
    sys.exit(1 if problems else 0)
