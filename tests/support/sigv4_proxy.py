"""A proxy in front of moto that checks every request's AWS Signature V4 as R2 does (moto does not).

Written from the SigV4 specification, independently of the aws4 package the companion signs with and of
rclone's signer, so a disagreement on how a key with spaces, '+', parentheses or non-ASCII is
canonicalised shows up here instead of as R2's SignatureDoesNotMatch in production. Like R2 it refuses:
- a request whose signature does not match, including one whose signed headers (content-length,
  content-type) differ from what was signed, or that lacks a header the URL signed;
- a presigned URL past X-Amz-Date + X-Amz-Expires (checked when the request arrives), or whose
  X-Amz-Expires is outside 1 to 604800 seconds;
- a header-signed request whose X-Amz-Date is more than 15 minutes from the proxy's clock.
CORS preflights (OPTIONS) carry no signature and pass through, as R2 answers them from the bucket's rule.

`clock` (seconds since the epoch) stands in for R2's clock; tests advance it with the companion's own
(tests/support/node_clock.py). `fault(method, key)` may answer a request with an S3 error instead of
forwarding it: the injected failure of one object.

    with SigV4CheckingProxy(moto_endpoint, secret) as proxy:
        ...point the companion or rclone at proxy.url...
    assert proxy.failures == []
"""

from __future__ import annotations

import hashlib
import hmac
import time
from calendar import timegm
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx

from tests.support.servers import LocalServer

UNRESERVED = "-_.~"
MAX_SKEW_SECONDS = 15 * 60
MAX_EXPIRES_SECONDS = 7 * 24 * 3600
# (status, S3 error code) an injected fault answers with.
Fault = tuple[int, str]


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signature(secret: str, amz_date: str, scope: str, canonical_request: str) -> str:
    date, region, service, _ = scope.split("/")
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), date), region), service), "aws4_request")
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def canonical_request(
    method: str, raw_path: str, query: list[tuple[str, str]], headers: dict[str, str], signed: list[str], payload: str
) -> str:
    # S3: the path is decoded to the key, then encoded once ('/' kept); '+' in a path is a plus.
    uri = quote(unquote(raw_path), safe="/" + UNRESERVED)
    pairs = sorted((quote(k, safe=UNRESERVED), quote(v, safe=UNRESERVED)) for k, v in query)
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    canonical_headers = "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in signed)
    return "\n".join([method, uri, canonical_query, canonical_headers, ";".join(signed), payload])


def _amz_time(value: str) -> float:
    return float(timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")))


def check(
    method: str, target: str, headers: dict[str, str], body: bytes, secret: str, now: float | None = None
) -> str | None:
    """None when the request is signed right (and in time, when `now` is given), else what is wrong."""
    url = urlsplit(target)
    query = parse_qsl(url.query, keep_blank_values=True)
    params = dict(query)
    if "X-Amz-Signature" in params:
        credential = params["X-Amz-Credential"]
        scope = credential.split("/", 1)[1]
        signed = params["X-Amz-SignedHeaders"].split(";")
        missing = [name for name in signed if name not in headers]
        if missing:
            return f"presigned URL signs {', '.join(missing)}, which the request lacks"
        expires = int(params.get("X-Amz-Expires", "0"))
        if not 1 <= expires <= MAX_EXPIRES_SECONDS:
            return "presigned URL expiry out of range"
        if now is not None and now > _amz_time(params["X-Amz-Date"]) + expires:
            return "presigned URL expired"
        unsigned = [(k, v) for k, v in query if k != "X-Amz-Signature"]
        expected = signature(
            secret,
            params["X-Amz-Date"],
            scope,
            canonical_request(method, url.path, unsigned, headers, signed, "UNSIGNED-PAYLOAD"),
        )
        return None if hmac.compare_digest(expected, params["X-Amz-Signature"]) else "presigned URL signature mismatch"
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "not signed"
    fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 ") :].split(","))
    scope = fields["Credential"].split("/", 1)[1]
    signed = fields["SignedHeaders"].split(";")
    if any(name not in headers for name in signed) or "x-amz-date" not in headers:
        return "a signed header is missing"
    if now is not None and abs(now - _amz_time(headers["x-amz-date"])) > MAX_SKEW_SECONDS:
        return "request time too skewed"
    payload = headers.get("x-amz-content-sha256", "")
    if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
        return "payload hash mismatch"
    expected = signature(
        secret, headers["x-amz-date"], scope, canonical_request(method, url.path, query, headers, signed, payload)
    )
    return None if hmac.compare_digest(expected, fields["Signature"]) else f"signature mismatch on {method} {url.path}"


def _error_code(problem: str) -> str:
    if "expired" in problem:
        return "AccessDenied"
    if "skewed" in problem:
        return "RequestTimeTooSkewed"
    return "SignatureDoesNotMatch"


class SigV4CheckingProxy(LocalServer):
    """Forwards to `upstream` only what is signed right with `secret`; `failures` lists the rest."""

    def __init__(
        self,
        upstream: str,
        secret: str,
        *,
        clock: Callable[[], float] = time.time,
        fault: Callable[[str, str], Fault | None] | None = None,
    ) -> None:
        self.failures: list[str] = []
        self.checked = 0
        self.faults = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def answer_error(self, status: int, code: str, message: str) -> None:
                payload = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def handle_any(self) -> None:
                body = self.read_body()
                headers = {name.lower(): value for name, value in self.headers.items()}
                if self.command != "OPTIONS":
                    problem = check(self.command, self.path, headers, body, secret, clock())
                    outer.checked += 1
                    if problem:
                        outer.failures.append(problem)
                        self.answer_error(403, _error_code(problem), problem)
                        return
                    # /<bucket>/<key>: the key as S3 sees it.
                    key = unquote(urlsplit(self.path).path).split("/", 2)[2:]
                    injected = fault(self.command, key[0] if key else "") if fault else None
                    if injected:
                        outer.faults += 1
                        self.answer_error(injected[0], injected[1], "injected fault")
                        return
                self.forward(body)

            def forward(self, body: bytes) -> None:
                forward = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length", "transfer-encoding")
                }
                answer = httpx.request(self.command, upstream + self.path, headers=forward, content=body, timeout=60)
                self.send_response(answer.status_code)
                for name, value in answer.headers.multi_items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(name, value)
                content = b"" if self.command == "HEAD" else answer.content
                length = (
                    answer.headers.get("content-length", str(len(content)))
                    if self.command == "HEAD"
                    else str(len(content))
                )
                self.send_header("Content-Length", length)
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = handle_any

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.serve(Handler)
