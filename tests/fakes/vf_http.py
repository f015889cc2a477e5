"""HTTP/1.1 request reading and response writing for the vendor fake (stdlib asyncio streams).

Only what a client library such as libcurl sends is accepted: origin-form targets, HTTP/1.0 and
1.1, Content-Length or chunked bodies, Expect: 100-continue. Everything else is a 4xx/5xx with
the connection closed, because after a framing error the byte stream cannot be trusted.
"""

import asyncio
import http
import json
import re
from urllib.parse import parse_qs, unquote

MAX_HEAD = 64 * 1024
MAX_HEADERS = 100
MAX_BODY = 8 * 1024 * 1024
MAX_CHUNK_LINE = 1024

_REASONS = {s.value: s.phrase for s in http.HTTPStatus}
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_HEX_RE = re.compile(rb"[0-9a-fA-F]{1,8}\Z")


class HttpError(Exception):
    """A request that cannot be framed: answered with `status` and the connection closed."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class Request:
    __slots__ = ("method", "target", "path", "query_string", "version", "headers", "header_list",
                 "body", "keep_alive", "_query", "_json")

    def __init__(self, method, target, version, header_list, headers):
        self.method = method
        self.target = target
        path, _, qs = target.partition("?")
        self.path = path
        self.query_string = qs
        self.version = version
        self.header_list = header_list
        self.headers = headers
        self.body = b""
        conn = headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            self.keep_alive = "close" not in conn
        else:
            self.keep_alive = "keep-alive" in conn
        self._query = None
        self._json = None

    @property
    def query(self):
        """Query parameters as {name: [values]} (blank values kept)."""
        if self._query is None:
            self._query = parse_qs(self.query_string, keep_blank_values=True)
        return self._query

    def query1(self, name, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    def segments(self):
        """Decoded path segments (empty ones dropped)."""
        return [unquote(s) for s in self.path.split("/") if s]

    def json(self):
        """The body parsed as JSON; raises ValueError when it is not JSON."""
        if self._json is None:
            self._json = (json.loads(self.body.decode("utf-8")),)
        return self._json[0]

    def bearer(self):
        auth = self.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None


class Response:
    __slots__ = ("status", "body", "content_type", "headers")

    def __init__(self, status, body=b"", content_type="application/json; charset=UTF-8",
                 headers=None):
        self.status = status
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body, separators=(",", ":")).encode("utf-8")
        self.body = body
        self.content_type = content_type
        self.headers = headers

    def encode(self, keep_alive):
        parts = ["HTTP/1.1 %d %s\r\n" % (self.status, _REASONS.get(self.status, "Status"))]
        if self.status != 204 and self.status != 304:
            if self.body:
                parts.append("Content-Type: %s\r\n" % self.content_type)
            parts.append("Content-Length: %d\r\n" % len(self.body))
        if self.headers:
            for k, v in self.headers.items():
                parts.append("%s: %s\r\n" % (k, v))
        if not keep_alive:
            parts.append("Connection: close\r\n")
        parts.append("\r\n")
        head = "".join(parts).encode("latin-1")
        if self.status == 204 or self.status == 304:
            return head
        return head + self.body


def json_response(status, obj, headers=None):
    return Response(status, obj, headers=headers)


def text_response(status, text, headers=None):
    return Response(status, text, content_type="text/plain; charset=utf-8", headers=headers)


def _parse_head(head):
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if not _TOKEN_RE.match(method):
        raise HttpError(400, "malformed method")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(505, "unsupported HTTP version")
    if not target.startswith("/"):
        raise HttpError(400, "only origin-form request targets are accepted")
    header_list = []
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":
            raise HttpError(400, "obsolete header folding")
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(400, "malformed header line")
        if len(header_list) >= MAX_HEADERS:
            raise HttpError(431, "too many headers")
        value = value.strip(" \t")
        header_list.append((name, value))
        low = name.lower()
        if low in headers:
            if low in ("content-length", "host"):
                raise HttpError(400, "duplicate %s" % low)
            headers[low] = headers[low] + ", " + value
        else:
            headers[low] = value
    return Request(method, target, version, header_list, headers)


async def _read_chunked(reader):
    body = bytearray()
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError:
            raise HttpError(400, "chunk size line too long")
        if len(line) > MAX_CHUNK_LINE:
            raise HttpError(400, "chunk size line too long")
        size_txt = line[:-2].split(b";", 1)[0].strip()
        if not _HEX_RE.match(size_txt):
            raise HttpError(400, "malformed chunk size")
        size = int(size_txt, 16)
        if size == 0:
            # trailers, ignored, up to the empty line
            trailer_bytes = 0
            while True:
                t = await reader.readuntil(b"\r\n")
                trailer_bytes += len(t)
                if trailer_bytes > MAX_HEAD:
                    raise HttpError(431, "trailers too large")
                if t == b"\r\n":
                    return bytes(body)
        if len(body) + size > MAX_BODY:
            raise HttpError(413, "body too large")
        data = await reader.readexactly(size + 2)
        if data[-2:] != b"\r\n":
            raise HttpError(400, "chunk not terminated by CRLF")
        body += data[:-2]


async def read_request(reader, writer):
    """Reads one request; None on a clean EOF between requests. Raises HttpError on bad
    framing and asyncio.IncompleteReadError when the peer goes away mid-request."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            if e.partial.strip(b"\r\n"):
                raise
            return None
        except asyncio.LimitOverrunError:
            raise HttpError(431, "request head too large")
        # RFC 9112 2.2: empty lines before a request line are ignored
        head = head.lstrip(b"\r\n")
        if head:
            break
    req = _parse_head(head[:-4])
    te = req.headers.get("transfer-encoding")
    cl = req.headers.get("content-length")
    if te is not None:
        if cl is not None:
            raise HttpError(400, "both Transfer-Encoding and Content-Length")
        if te.lower().replace(" ", "") != "chunked":
            raise HttpError(501, "unsupported transfer coding")
        _maybe_continue(req, writer)
        req.body = await _read_chunked(reader)
    elif cl is not None:
        if not cl.isdigit() or len(cl) > 12:
            raise HttpError(400, "malformed Content-Length")
        n = int(cl)
        if n > MAX_BODY:
            raise HttpError(413, "body too large")
        if n:
            _maybe_continue(req, writer)
            req.body = await reader.readexactly(n)
    return req


def _maybe_continue(req, writer):
    # libcurl waits (1 s by default) for this before sending bodies over 1 KiB
    if req.version == "HTTP/1.1" and req.headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
